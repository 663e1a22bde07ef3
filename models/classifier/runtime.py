"""The shipped classifier at run time: onnxruntime only, no PyTorch (what central runs).

``models/data/classifier-seismometer.onnx`` (C = 3) and ``models/data/classifier-das.onnx`` (C = 1),
each with its ``.card.json``. :func:`classify` gives per-event probabilities from any mix of
measurements: each kind through its model, then the event-level product of all of them.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from models.classifier.data import (
    CLASSES,
    WINDOW,
    MeasurementError,
    event_probabilities,
    look_weights,
)

MODEL_DIR = Path(__file__).resolve().parents[1] / "data"
SHIPPED = {3: MODEL_DIR / "classifier-seismometer.onnx", 1: MODEL_DIR / "classifier-das.onnx"}
DECISION_FILE = "classifier-decision.json"    # event-level prior of `python -m models classifier calibrate`


def load_prior(model_dir: str | Path | None = None) -> np.ndarray | None:
    """The event-level decision weights stored beside the models (None if there are none)."""
    path = Path(model_dir or MODEL_DIR) / DECISION_FILE
    if not path.exists():
        return None
    try:
        prior = json.loads(path.read_text())["prior"]
        w = np.array([float(prior[c]) for c in CLASSES])
    except (ValueError, KeyError, TypeError) as exc:
        raise MeasurementError(f"{path}: not a decision file: {exc!r}") from None
    if not np.all(np.isfinite(w) & (w > 0)):
        raise MeasurementError(f"{path}: decision weights must be positive numbers, got {w.tolist()}")
    return w


class ClassifierSession:
    """One ONNX classifier: ``probabilities(data (n, C, 5000)) -> (n, 3)``."""

    def __init__(self, path: str | Path, *, threads: int = 1):
        import onnxruntime as ort
        self.path = Path(path)
        if not self.path.is_file():
            raise MeasurementError(f"no classifier model at {self.path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        shape = self.session.get_inputs()[0].shape
        self.channels = int(shape[1])
        card = self.path.with_suffix(".card.json")
        self.card = json.loads(card.read_text()) if card.exists() else {}
        if tuple(self.card.get("classes", CLASSES)) != CLASSES:
            raise MeasurementError(f"{card}: classes {self.card.get('classes')} are not {CLASSES}")

    def probabilities(self, data: np.ndarray, batch: int = 64) -> np.ndarray:
        data = np.asarray(data, dtype=np.float32)
        if data.ndim != 3 or data.shape[1] != self.channels or data.shape[2] != WINDOW:
            raise MeasurementError(f"{self.path.name} takes (n, {self.channels}, {WINDOW}), got {data.shape}")
        out = [self.session.run(None, {"waveforms": data[b:b + batch]})[0] for b in range(0, len(data), batch)]
        return np.concatenate(out) if out else np.zeros((0, len(CLASSES)), np.float32)


@lru_cache(maxsize=4)
def shipped_session(channels: int) -> ClassifierSession:
    """The shipped model for 3-component (3) or DAS (1) measurements."""
    path = SHIPPED.get(channels)
    if path is None or not path.exists():
        raise MeasurementError(f"no shipped classifier for {channels}-channel measurements ({path})")
    return ClassifierSession(path)


def classify(groups: list[tuple[np.ndarray, np.ndarray]], sessions: dict[int, ClassifierSession] | None = None,
             prior: np.ndarray | None = None) -> dict[int, dict]:
    """Per-event probabilities from measurement groups ``[(data (n, C, 5000), event (n,)), ...]``
    (any C per group), times the event-level ``prior`` (renormalised) when given. Returns
    ``{event: {"earthquake": p, "collapse": p, "explosion": p, "n": count}}``."""
    probs, events, weights = [], [], []
    for data, event in groups:
        if len(data) == 0:
            continue
        c = int(data.shape[1])
        session = (sessions or {}).get(c) or shipped_session(c)
        probs.append(session.probabilities(data))
        events.append(np.asarray(event, np.int64))
        weights.append(look_weights(events[-1], c))
    if not probs:
        return {}
    ids, p, counts = event_probabilities(np.concatenate(probs), np.concatenate(events), np.concatenate(weights))
    if prior is not None:
        p = p * np.asarray(prior, float)[None, :]
        p /= p.sum(axis=1, keepdims=True)
    return {int(e): {**{name: float(p[i, k]) for k, name in enumerate(CLASSES)}, "n": int(counts[i])}
            for i, e in enumerate(ids.tolist())}
