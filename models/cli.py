"""``python -m models classifier train|clean|calibrate|evaluate|export|predict`` and ``python -m models safenet ...``.

A data directory holds ``seismometer.npz`` (C = 3) and/or ``das.npz`` (C = 1), the measurement files
of DESIGN.md with ``label`` (as ``python -m sim classes`` writes them). One model per kind; the
event-level decision combines every measurement of an event, of both kinds.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from edge.exceptions import DasEewError
from models.classifier.data import (
    CLASSES,
    Measurements,
    event_probabilities,
    event_values,
    load_measurements,
)
from models.classifier.evaluate import MAX_LABEL_PROB

KINDS = {"seismometer.npz": "seismometer", "das.npz": "das"}


def _data_files(path: str) -> dict[str, Measurements]:
    p = Path(path)
    if p.is_file():
        m = load_measurements(p)
        return {"seismometer" if m.channels == 3 else "das": m}
    found = {kind: load_measurements(p / name) for name, kind in KINDS.items() if (p / name).exists()}
    if not found:
        raise DasEewError(f"{path}: no seismometer.npz or das.npz")
    return {k: m for k, m in found.items() if len(m.event)}


def _apply_decisions(m: Measurements, decisions: dict) -> Measurements:
    """A reviewer's decisions ``{event: "keep" | "drop" | class name}`` applied to the labels."""
    label = m.label.copy()
    keep = np.ones(label.size, bool)
    for ev, what in decisions.items():
        sel = m.event == int(ev)
        if what == "drop":
            keep &= ~sel
        elif what in CLASSES:
            label[sel] = CLASSES.index(what)
        elif what != "keep":
            raise DasEewError(f"decision for event {ev} must be keep, drop or a class name, got {what!r}")
    m = Measurements(m.data, m.event, label, m.truth_label, m.magnitude, m.path)
    return m.subset(keep)


def cmd_train(args) -> int:
    from models.classifier.train import TrainConfig, export_onnx, train
    decisions = json.loads(Path(args.decisions).read_text())["decisions"] if args.decisions else {}
    cfg = TrainConfig(epochs=args.epochs, per_event=args.per_event, seed=args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for kind, m in _data_files(args.data).items():
        if m.label is None:
            raise DasEewError(f"{m.path}: training needs labels")
        m = _apply_decisions(m, decisions)
        model = train(m, cfg, progress=lambda e, n, loss, kind=kind: print(
            f"  {kind}: epoch {e}/{n} loss {loss:.4f}", file=sys.stderr, flush=True))
        path = out / f"classifier-{kind}.onnx"
        import torch
        torch.save(model.net.state_dict(), path.with_suffix(".pt"))
        card = export_onnx(model, path, extra_card={"cleaning": {"decisions": args.decisions,
                                                                 "applied": len(decisions)}})
        print(json.dumps({"kind": kind, "onnx": str(path), "events": card["training"]["events"],
                          "measurements": card["training"]["measurements"],
                          "seconds": card["training"]["seconds"]}))
    return 0


def cmd_clean(args) -> int:
    from models.classifier.evaluate import cleaning_scores, suspect_labels
    from models.classifier.train import TrainConfig, cross_validate
    cfg = TrainConfig(epochs=args.epochs, per_event=args.per_event, seed=args.seed)
    files = _data_files(args.data)
    parts = []
    for kind, m in files.items():
        cv = cross_validate(m, cfg, folds=args.folds, progress=lambda k, n, kind=kind: print(
            f"  {kind}: fold {k}/{n}", file=sys.stderr, flush=True))
        parts.append(cv)
    # one event-level verdict from both kinds: the product of their out-of-fold probabilities
    events = np.concatenate([cv["event"] for cv in parts])
    ids, p, _ = event_probabilities(np.concatenate([cv["prob"] for cv in parts]), events)
    given, truth = {}, {}
    for m in files.values():
        given.update(zip(m.event.tolist(), m.label.tolist()))
        if m.truth_label is not None:
            truth.update(zip(m.event.tolist(), m.truth_label.tolist()))
    label = np.array([given[e] for e in ids.tolist()])
    suspect = suspect_labels(p, label, args.max_label_prob)
    given_prob = p[np.arange(label.size), label]
    row = lambda i: {"event": int(ids[i]), "label": CLASSES[label[i]], "predicted": CLASSES[int(np.argmax(p[i]))],
                     **{c: round(float(p[i, k]), 4) for k, c in enumerate(CLASSES)}}
    # the most clearly contradicted labels first: the order a reviewer should see them in
    order = np.flatnonzero(suspect)[np.argsort(given_prob[suspect], kind="stable")]
    result = {"data": args.data, "folds": args.folds, "epochs": args.epochs, "max_label_prob": args.max_label_prob,
              "disagreements": int(np.sum(np.argmax(p, axis=1) != label)),
              "flagged": [row(i) for i in order],
              "out_of_fold": [row(i) for i in range(ids.size)]}
    if truth:
        wrong = np.array(sorted(e for e, t in truth.items() if t != given[e]))
        result["scores"] = cleaning_scores(ids[suspect], wrong)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(json.dumps({"flagged": len(result["flagged"]), "disagreements": result["disagreements"],
                      **result.get("scores", {}), "out": args.out}))
    return 0


def _predict_events(files: dict[str, Measurements], model_dir: str | None, *, prior: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event ids, probabilities and measurement counts; with ``prior`` the decision weights stored
    beside the models (``calibrate``) are applied."""
    from models.classifier.runtime import ClassifierSession, classify, load_prior
    sessions = None
    if model_dir:
        sessions = {3 if kind == "seismometer" else 1: ClassifierSession(Path(model_dir) / f"classifier-{kind}.onnx")
                    for kind in files}
    result = classify([(m.data, m.event) for m in files.values()], sessions,
                      load_prior(model_dir) if prior else None)
    ids = np.array(sorted(result))
    p = np.array([[result[e][c] for c in CLASSES] for e in ids.tolist()])
    n = np.array([result[e]["n"] for e in ids.tolist()])
    return ids, p, n


def cmd_evaluate(args) -> int:
    from models.classifier.evaluate import confusion_png, scores
    files = _data_files(args.data)
    event = np.concatenate([m.event for m in files.values()])
    truth_src = [m.truth_label if m.truth_label is not None else m.label for m in files.values()]
    if any(t is None for t in truth_src):
        raise DasEewError("evaluation needs labels (truth_label or label) in the measurement files")
    truth_all = np.concatenate(truth_src)
    mag_all = np.concatenate([m.magnitude if m.magnitude is not None else np.full(m.event.size, np.nan)
                              for m in files.values()])
    report = {}
    from models.classifier.runtime import load_prior
    prior = None if args.no_prior else load_prior(args.models)
    runs = (("after", args.models, True), ("before", args.before, True), ("no_prior", args.models, False))
    for name, model_dir, with_prior in runs:
        if (name == "before" and not model_dir) or (name == "no_prior" and prior is None):
            continue
        ids, p, n = _predict_events(files, model_dir, prior=with_prior and not args.no_prior)
        truth = event_values(truth_all, event, ids)
        report[name] = scores(truth, np.argmax(p, axis=1), event_values(mag_all, event, ids), n)
    main = report["after"]
    if prior is not None:
        print("decision prior (calibrate): " + ", ".join(f"{c} {w:.3g}" for c, w in zip(CLASSES, prior)))
        print(f"  without it: accuracy {report['no_prior']['accuracy']}, recall {report['no_prior']['recall']}")
    if args.png:
        confusion_png(main["confusion"], args.png, "event classifier, held-out set",
                      main.get("accuracy_by_magnitude"), main.get("accuracy_by_measurements"))
    print(f"events {main['events']}, accuracy {main['accuracy']}")
    for c in CLASSES:
        print(f"  {c:<11} precision {main['precision'][c]}  recall {main['recall'][c]}")
    print("  confusion (rows true, columns predicted):", main["confusion"])
    for row in main.get("accuracy_by_magnitude", []):
        print(f"  M {row['from']}-{row['to']}: {row['events']} events, accuracy {row['accuracy']}")
    for row in main.get("accuracy_by_measurements", []):
        print(f"  {row['from']}-{row['to'] - 1} measurements: {row['events']} events, accuracy {row['accuracy']}")
    print(f"  M >= 2.5 with >= 20 measurements: {main.get('events_m25_n20')} events, accuracy "
          f"{main.get('accuracy_m25_n20')}")
    if "before" in report:
        print(f"  before cleaning: accuracy {report['before']['accuracy']}, recall {report['before']['recall']}")
    if args.json:
        clean = json.loads(Path(args.cleaning).read_text()).get("scores", {}) if args.cleaning else {}
        print(json.dumps({"accuracy": main["accuracy"], "recall": main["recall"], "precision": main["precision"],
                          "accuracy_m25_n20": main.get("accuracy_m25_n20"),
                          "cleaning_recall": clean.get("cleaning_recall"),
                          "cleaning_precision": clean.get("cleaning_precision"),
                          "before_cleaning": report.get("before"), "after_cleaning": main}))
    return 0


def cmd_calibrate(args) -> int:
    """Event-level decision weights tuned on a validation set (another seed and other sites than both
    the training and the test sets), written beside the models."""
    from models.classifier.evaluate import scores, tune_prior
    from models.classifier.runtime import DECISION_FILE, MODEL_DIR
    files = _data_files(args.data)
    event = np.concatenate([m.event for m in files.values()])
    truth_all = np.concatenate([m.truth_label if m.truth_label is not None else m.label for m in files.values()])
    ids, p, n = _predict_events(files, args.models, prior=False)
    truth = event_values(truth_all, event, ids)
    prior = tune_prior(p, truth)
    before = scores(truth, np.argmax(p, axis=1))
    after = scores(truth, np.argmax(p * prior, axis=1))
    out = Path(args.out or Path(args.models or MODEL_DIR) / DECISION_FILE)
    out.write_text(json.dumps({"prior": dict(zip(CLASSES, [round(float(w), 5) for w in prior])),
                               "tuned_on": args.data, "events": int(ids.size),
                               "rule": "argmax of event probabilities x prior; prior maximises the smallest "
                                       "per-class recall on the tuning set, then the accuracy",
                               "recall_without": before["recall"], "recall_with": after["recall"]}, indent=1))
    print(json.dumps({"out": str(out), "prior": prior.round(4).tolist(), "recall_without": before["recall"],
                      "recall_with": after["recall"], "accuracy_without": before["accuracy"],
                      "accuracy_with": after["accuracy"]}))
    return 0


def cmd_export(args) -> int:
    import torch

    from models.classifier.net import EventClassifierNet
    from models.classifier.train import TrainConfig, TrainedModel, export_onnx
    state = torch.load(args.checkpoint, map_location="cpu")
    channels = int(state["features.1.weight"].shape[1])
    net = EventClassifierNet(channels)
    net.load_state_dict(state)
    card = export_onnx(TrainedModel(net.eval(), TrainConfig(), args.checkpoint, 0, 0, 0.0), args.out)
    print(json.dumps({"onnx": args.out, "parameters": card["parameters"]}))
    return 0


def cmd_predict(args) -> int:
    m = load_measurements(args.file)
    kind = "seismometer" if m.channels == 3 else "das"
    ids, p, n = _predict_events({kind: m}, args.models)
    for i, e in enumerate(ids.tolist()):
        row = {"event": int(e), **{c: round(float(p[i, k]), 6) for k, c in enumerate(CLASSES)}, "n": int(n[i])}
        print(json.dumps(row) if args.json else f"event {e}: " + ", ".join(f"{c} {row[c]:.3f}" for c in CLASSES))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__.split("\n\n")[0])
    top = parser.add_subparsers(dest="model", required=True)
    cls = top.add_parser("classifier", help="the event classifier (earthquake / collapse / explosion)")
    sub = cls.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train and export one ONNX model per measurement kind")
    p.add_argument("--data", required=True, help="class-set directory (or one measurement file)")
    p.add_argument("--out", default="models/data", help="where the .onnx, .card.json and .pt go")
    p.add_argument("--epochs", type=int, default=32)
    p.add_argument("--per-event", type=int, default=4, help="measurements drawn per event per epoch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--decisions", help="a reviewer's decisions file (python -m central review) to apply first")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("clean", help="k-fold cross-validation: flag events whose label the out-of-fold models confidently contradict")
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True, help="the flagged events (JSON), input of python -m central review")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=8, help="epochs of every fold model")
    p.add_argument("--per-event", type=int, default=4, help="measurements drawn per event per epoch (as train)")
    p.add_argument("--max-label-prob", type=float, default=MAX_LABEL_PROB,
                   help="flag only when the out-of-fold probability of the given label is below this (1: any disagreement)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_clean)
    p = sub.add_parser("evaluate", help="held-out scores (event level), with --json a last JSON line")
    p.add_argument("--data", required=True, help="a held-out class-set directory")
    p.add_argument("--models", help="directory of the models to score (default: the shipped ones)")
    p.add_argument("--before", help="directory of models trained before cleaning, scored beside them")
    p.add_argument("--cleaning", help="the clean command's output, for its recall and precision")
    p.add_argument("--png", help="write the confusion matrix here")
    p.add_argument("--no-prior", action="store_true", help="ignore the decision prior beside the models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)
    p = sub.add_parser("calibrate", help="event-level decision weights tuned on a validation set")
    p.add_argument("--data", required=True, help="a validation class-set (not the training or test set)")
    p.add_argument("--models", help="directory of the models (default: the shipped ones)")
    p.add_argument("--out", help="decision file to write (default: classifier-decision.json beside the models)")
    p.set_defaults(func=cmd_calibrate)
    p = sub.add_parser("export", help="ONNX (and model card) from a saved PyTorch state (.pt)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("predict", help="per-event probabilities of a measurement file")
    p.add_argument("file")
    p.add_argument("--models", help="model directory (default: the shipped models)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_predict)
    from models.safenet.cli import add_parser as add_safenet
    add_safenet(top)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DasEewError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
