"""``python -m models safenet train|evaluate|export``.

DATA is a synthetic region directory (``python -m sim catalog``) or any catalog CSV (then a grid of
``--cell-deg`` cells is laid over it). ``train`` writes a PyTorch checkpoint (.pt) with everything the
model card needs; ``export`` turns it into the .onnx and .card.json central runs; ``evaluate`` runs
the pseudo-prospective comparison with the baselines (``--json``: a last line with ``macro_f1`` and
``f1_m5`` per method) and, with ``--transfer-from``, the transfer experiment.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

from models.safenet.catalog import MagnitudeClasses


def _dataset(args):
    from models.safenet.dataset import load_dataset
    truth_mc = None
    p = Path(args.data)
    if p.is_dir() and (p / "truth.json").exists():
        truth_mc = json.loads((p / "truth.json").read_text()).get("etas", {}).get("mc")
    return load_dataset(args.data, classes=MagnitudeClasses.parse(args.classes), cell_deg=args.cell_deg,
                        min_events=args.min_events, mc=args.mc if args.mc is not None else truth_mc,
                        patch=args.patch, first_year=args.first_year)


def _other_areas(args) -> tuple:
    """The datasets of ``--other-areas`` (read with the same options as ``--data``)."""
    dirs = [d for d in (args.other_areas or "").split(",") if d]
    return tuple(_dataset(replace_namespace(args, data=d, mc=None)) for d in dirs)


def _config(args):
    from models.safenet.evaluate import EvaluationConfig
    return EvaluationConfig(test_years=args.test_years, val_years=args.val_years, seq_len=args.seq_len,
                            epochs=args.epochs, lr=args.lr, seed=args.seed,
                            baseline_mc=getattr(args, "baseline_mc", 4.0),
                            poisson_bandwidth_km=getattr(args, "poisson_bandwidth_km", 50.0),
                            other_areas=_other_areas(args))


def forecast_spec(ds) -> dict:
    """What central needs, beside the network, to rebuild the inputs (the card's "forecast" section)."""
    return {"grid": json.loads(ds.grid.to_json()), "map_layers": list(ds.layers.names),
            "pixels_per_degree": float(ds.layers.pixels_per_degree), "mc": ds.mc,
            "catalog": (f"python -m sim catalog --seed {ds.truth['seed']} --region-seed {ds.truth['region_seed']} "
                        f"--years {ds.truth['years']} --start-year {ds.truth['start_year']}") if ds.truth
            else ds.catalog.source, "years": [ds.years[0], ds.years[-1]]}


def cmd_train(args) -> int:
    import torch

    from models.safenet.evaluate import labels_for, train_safenet
    from models.safenet.metrics import class_scores
    from models.safenet.train import predict_probabilities
    ds = _dataset(args)
    cfg = replace(_config(args), test_years=0)
    targets = [t for t in ds.target_years() if t - cfg.seq_len >= ds.years[0]]
    if args.through:
        targets = [t for t in targets if t <= args.through]
    if len(targets) < cfg.val_years + 3:
        print(f"error: {len(targets)} target years with {cfg.seq_len} years of history", file=sys.stderr)
        return 2
    train_t, val_t = targets[:-cfg.val_years], targets[-cfg.val_years:]
    trained, scaler, data = train_safenet(ds, cfg, train_t, val_t, progress=not args.quiet)
    val_p = predict_probabilities(trained, data, [t - 1 for t in val_t])
    scores = class_scores(labels_for(ds, val_t), val_p.argmax(-1), ds.classes.n).as_dict(ds.classes.names)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state": trained.net.state_dict(), "config": asdict(trained.config),
                "settings": asdict(trained.settings), "train_years": trained.train_years,
                "val_years": trained.val_years, "data_source": trained.data_source, "seconds": trained.seconds,
                "best_epoch": trained.best_epoch, "history": trained.history, "scaler": scaler.to_dict(),
                "class_edges": list(ds.classes.edges), "forecast": forecast_spec(ds),
                "metrics": {"validation_targets": val_t, **scores}}, out)
    print(json.dumps({"checkpoint": str(out), "best_epoch": trained.best_epoch, "seconds": round(trained.seconds, 1),
                      "validation_macro_f1": scores["macro_f1"], "validation_f1_m5": scores["f1_m5"]}))
    return 0


def cmd_export(args) -> int:
    import torch

    from models.safenet.net import SafeNet, SafeNetConfig
    from models.safenet.train import TrainedSafeNet, TrainSettings, export_onnx
    ck = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    config = SafeNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in ck["config"].items()})
    net = SafeNet(config)
    net.load_state_dict(ck["state"])
    settings = TrainSettings(**{k: tuple(v) if isinstance(v, list) else v for k, v in ck["settings"].items()})
    trained = TrainedSafeNet(net.eval(), config, settings, ck["train_years"], ck["val_years"], ck["data_source"],
                             ck["seconds"], ck["best_epoch"], ck["history"])
    card = export_onnx(trained, args.out, scaler_dict=ck["scaler"], classes_edges=ck["class_edges"],
                       metrics=ck["metrics"], extra_card={"forecast": ck["forecast"]})
    print(json.dumps({"onnx": args.out, "parameters": card["architecture"]["parameters"]}))
    return 0


def _print_table(summary: dict, methods) -> None:
    names = summary["class_names"]
    print(f"{summary['dataset']}: test years {summary['test_years'][0]}-{summary['test_years'][-1]}, "
          f"region-years per class {dict(zip(names, summary['test_class_counts']))}")
    print(f"  {'method':<12} {'macro F1':>8} {'F1 M>=' + names[1].split('-')[0]:>9}   recall per class")
    for m in methods:
        if m not in summary:
            continue
        s = summary[m]
        rec = " ".join("-" if v is None else f"{v:.2f}" for v in s["recall"].values())
        csep = s.get("csep")
        extra = (f"   N-test {csep['n_test_pass']}, L-test {csep['l_test_pass']}, forecast/observed "
                 f"{csep['forecast_over_observed']}") if csep else ""
        print(f"  {m:<12} {s['macro_f1']:>8} {s['f1_m5']:>9}   {rec}{extra}")


def cmd_evaluate(args) -> int:
    from models.safenet.evaluate import METHODS, evaluate
    ds = _dataset(args)
    methods = tuple(args.methods.split(",")) if args.methods else METHODS
    cfg = replace(_config(args), methods=methods)
    log = (lambda *a, **k: print(*a, file=sys.stderr, **k))
    result = evaluate(ds, cfg, dataset_path=args.data if Path(args.data).is_dir() else None,
                      progress=not args.quiet, log=log)
    summary = result.summary()
    if args.transfer_from:
        from models.safenet.transfer import transfer_experiment
        source = _dataset(replace_namespace(args, data=args.transfer_from))
        summary["transfer"] = transfer_experiment(source, ds, cfg, years=args.transfer_years,
                                                  progress=not args.quiet, log=log)
    _print_table(summary, methods)
    if "transfer" in summary:
        t = summary["transfer"]
        print(f"  transfer ({t['source']} -> {t['target']}, {t['years']} target years of the new region): "
              + ", ".join(f"{k} macro F1 {v['macro_f1']} / F1 {v['f1_m5']}" for k, v in t["methods"].items()))
    if args.json:
        print(json.dumps(summary))
    return 0


def replace_namespace(ns, **changes):
    import argparse
    return argparse.Namespace(**{**vars(ns), **changes})


def add_parser(top) -> None:
    sn = top.add_parser("safenet", help="the SafeNet yearly forecast (largest magnitude per region and year)")
    sub = sn.add_subparsers(dest="command", required=True)

    def data_options(p):
        p.add_argument("--data", required=True, help="synthetic region directory or a catalog CSV")
        p.add_argument("--classes", default="5,6,7", help="magnitude class edges (default 5,6,7)")
        p.add_argument("--cell-deg", type=float, default=4.0, help="region size for a CSV without grid (deg)")
        p.add_argument("--min-events", type=int, default=1, help="regions of a CSV grid need this many events")
        p.add_argument("--mc", type=float, help="completeness magnitude (default: truth.json's, else estimated)")
        p.add_argument("--first-year", type=int, help="ignore the catalog before this year")
        p.add_argument("--patch", type=int, default=16, help="map patch size (pixels)")
        p.add_argument("--seq-len", type=int, default=10, help="years of inputs per forecast")
        p.add_argument("--epochs", type=int, default=40)
        p.add_argument("--lr", type=float, default=1e-3)
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--val-years", type=int, default=5, help="target years choosing the epoch and weights")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--other-areas", help="comma-separated region directories (same grid size) whose whole "
                       "histories SafeNet also trains on (pretraining on other areas; the baselines ignore them)")

    p = sub.add_parser("train", help="train on every year (the last --val-years choose the epoch); write a .pt")
    data_options(p)
    p.add_argument("--through", type=int, help="last target year used (default: all)")
    p.add_argument("--out", required=True, help="checkpoint to write (.pt)")
    p.set_defaults(func=cmd_train, test_years=0)
    p = sub.add_parser("export", help="ONNX and model card from a checkpoint")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True, help=".onnx to write (the .card.json goes beside it)")
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("evaluate", help="pseudo-prospective test of SafeNet and the baselines")
    data_options(p)
    p.add_argument("--test-years", type=int, default=10)
    p.add_argument("--methods", help="comma-separated subset of safenet,etas_true,etas_fit,poisson,persistence")
    p.add_argument("--baseline-mc", type=float, default=4.0,
                   help="lower magnitude of the ETAS fit and the smoothed seismicity (default 4.0)")
    p.add_argument("--poisson-bandwidth-km", type=float, default=50.0, help="smoothed seismicity kernel (km)")
    p.add_argument("--transfer-from", help="also pretrain on this region and fine-tune on --data")
    p.add_argument("--transfer-years", type=int, default=10, help="target years of the new region to fine-tune on")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
