"""``python -m bench.forecast_skill [--seeds 0,1,2]``: SafeNet against its baselines, several regions.

For each seed a synthetic region and its 60-year ETAS catalog (``python -m sim catalog --seed S
--region-seed S``), then the pseudo-prospective evaluation of ``python -m models safenet evaluate``
(train on target years to 2004, choose epochs and decision weights on 2005-2009, forecast 2010-2019
one year at a time): macro F1 and F1 of "largest M >= 5" per method and seed, their means, and the
gap between SafeNet and the generating model (``etas_true``, the best any method can do on average).
With ``--other-areas N`` SafeNet also trains on the whole histories of N more synthetic regions
(region seeds 100, 101, ...; never a test region), as it would be pretrained on other areas before it
serves a new one; the baselines see only the test region. Last line: one JSON object. Takes ~5 min a
seed on 2 cores, plus ~1.5 min a seed for every other area.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.forecast_skill", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", default="0,1,2", help="catalog and region seeds")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patch", type=int, default=16)
    p.add_argument("--other-areas", type=int, default=0, help="more synthetic regions SafeNet also trains on")
    args = p.parse_args(argv)
    from models.safenet.dataset import load_dataset
    from models.safenet.evaluate import METHODS, EvaluationConfig, evaluate
    from sim.catalogs import write_synthetic_dataset
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = {}
    others = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.other_areas):
            out = Path(tmp) / f"area{100 + k}"
            write_synthetic_dataset(out, seed=100 + k, region_seed=100 + k)
            others.append(load_dataset(out, mc=3.2, patch=args.patch))
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"region{seed}"
            write_synthetic_dataset(out, seed=seed, region_seed=seed)
            ds = load_dataset(out, mc=3.2, patch=args.patch)
            cfg = EvaluationConfig(epochs=args.epochs, seed=seed, other_areas=tuple(others))
            result = evaluate(ds, cfg, dataset_path=str(out), progress=False,
                              log=lambda *a: print(f"  seed {seed}:", *a, file=sys.stderr, flush=True))
        rows[seed] = {m: result.scores[m] for m in result.scores}
        counts = dict(zip(result.class_names, result.base_rate))
        print(f"seed {seed}: test region-years per class {counts}")
        for m in METHODS:
            if m in rows[seed]:
                sc = rows[seed][m]
                # per class: a forecast of a class that never occurs counts in the macro F1 with F1 0
                per_class = "  ".join(f"{name} P {_pct(sc['precision'].get(name))} R {_pct(sc['recall'].get(name))}"
                                      for name in result.class_names)
                print(f"  {m:<12} macro F1 {sc['macro_f1']:.3f}   F1(M>=5) {sc['f1_m5']:.3f}   {per_class}")
    print(f"mean over seeds {seeds}:")
    summary = {}
    for m in METHODS:
        macro = [rows[s][m]["macro_f1"] for s in seeds if m in rows[s]]
        f1 = [rows[s][m]["f1_m5"] for s in seeds if m in rows[s]]
        if macro:
            summary[m] = {"macro_f1": round(float(np.mean(macro)), 4), "f1_m5": round(float(np.mean(f1)), 4),
                          "macro_f1_by_seed": macro}
            print(f"  {m:<12} macro F1 {np.mean(macro):.3f} (min {min(macro):.3f}, max {max(macro):.3f})   "
                  f"F1(M>=5) {np.mean(f1):.3f}")
    wins = {m: sum(rows[s]["safenet"]["macro_f1"] > rows[s][m]["macro_f1"] for s in seeds)
            for m in ("etas_fit", "poisson", "persistence")}
    gap = summary["etas_true"]["macro_f1"] - summary["safenet"]["macro_f1"]
    print(f"  SafeNet's macro F1 above the baseline in how many seeds: {wins}; gap to the generating model "
          f"{gap:+.3f}")
    print(json.dumps({"seeds": seeds, "other_areas": args.other_areas, "methods": summary, "safenet_wins": wins, "gap_to_etas_true": round(gap, 4)}))
    return 0


def _pct(x) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{100 * x:.0f}%"


if __name__ == "__main__":
    raise SystemExit(main())
