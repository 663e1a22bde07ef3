"""Classifying events at central from the boxes' ``snippet`` messages (onnxruntime, no PyTorch).

A snippet holds the waveforms of a box's channels nearest a located event. For each channel with a
stored P pick of that box event, the classifier's window is cut (5,000 samples at 100 Hz from 5 s
before the pick: DESIGN.md's measurement) and run through the shipped DAS model in a worker thread
(inference never holds up the intake). Each result is combined with what the event had (the
normalised product over its snippets, each one look) and stored as a new classification.
"""
from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from central.store import EventStore
from edge.exceptions import ConfigError, DasEewError

log = logging.getLogger("central.classification")
CLASSES = ("earthquake", "collapse", "explosion")
FS_HZ, WINDOW, PRE_P_S = 100.0, 5000, 5.0


@dataclass(frozen=True)
class ClassifierSettings:
    """``model``: a DAS (1-channel) ONNX classifier; "" is the shipped one. ``enabled`` false skips
    classification (snippets are then only counted)."""

    enabled: bool = True
    model: str = ""
    threads: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= 64:
            raise ConfigError(f"classifier.threads must be 1..64, got {self.threads}")


def snippet_windows(store: EventStore, msg: dict) -> np.ndarray:
    """The measurements (n, 1, 5000) float32 a snippet gives: one per channel with a P pick of its
    box event, whole and finite, at 100 Hz. Empty (0, 1, 5000) when none qualifies."""
    if float(msg["fs"]) != FS_HZ:
        return np.zeros((0, 1, WINDOW), np.float32)
    rows = store.db.execute("SELECT channel, MIN(time) FROM picks WHERE box=? AND edge_event=? GROUP BY channel",
                            (msg["box"], msg["event"])).fetchall()
    p_time = {int(c): float(t) for c, t in rows}
    out = []
    for k, ch in enumerate(np.asarray(msg["channel"]).tolist()):
        if ch not in p_time:
            continue
        i0 = int(round((p_time[ch] - PRE_P_S - float(msg["t0"])) * FS_HZ))
        x = msg["data"][k, i0:i0 + WINDOW] if i0 >= 0 else np.zeros(0)
        if x.size == WINDOW and np.all(np.isfinite(x)):
            out.append(x.astype(np.float32))
    return np.stack(out)[:, None, :] if out else np.zeros((0, 1, WINDOW), np.float32)


def combine(previous: dict | None, prob: np.ndarray) -> dict:
    """The event's probabilities after a snippet's windows ``prob`` (n, 3) joined the earlier
    ``previous`` (class probabilities, ``looks``, ``n_measurements``). One snippet is one look at the
    source (its channels, 1 km apart on one fiber, see it from nearly the same place: their mean
    log-probability); looks multiply (the same rule as ``models.classifier.data.look_weights``)."""
    look = np.log(np.clip(prob, 1e-6, 1.0)).mean(axis=0)
    looks, n = 1, prob.shape[0]
    if previous:
        old = int(previous.get("looks") or 1)
        look = look + old * np.log(np.clip([previous[c] for c in CLASSES], 1e-6, 1.0))
        looks += old
        n += int(previous.get("n_measurements") or 0)
    mean = look / looks
    p = np.exp(mean - mean.max())
    p /= p.sum()
    return {"probabilities": {**{c: round(float(p[i]), 6) for i, c in enumerate(CLASSES)}, "looks": looks}, "n": n}


class SnippetClassifier:
    """The model in a worker thread: :meth:`submit` measurements of an event, :meth:`finished` the results."""

    def __init__(self, settings: ClassifierSettings):
        from models.classifier.runtime import ClassifierSession, shipped_session
        self.settings = settings
        self.session = ClassifierSession(settings.model, threads=settings.threads) if settings.model \
            else shipped_session(1)
        if self.session.channels != 1:
            raise DasEewError(f"{self.session.path}: central classifies DAS snippets; the model takes "
                              f"{self.session.channels} channels")
        self.name = self.session.path.name
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="classifier")
        self._pending: list[tuple[int, Future]] = []

    def submit(self, event_id: int, data: np.ndarray) -> None:
        self._pending.append((event_id, self._pool.submit(self.session.probabilities, data)))

    def finished(self) -> list[tuple[int, np.ndarray | Exception]]:
        done = [(e, f) for e, f in self._pending if f.done()]
        self._pending = [(e, f) for e, f in self._pending if not f.done()]
        return [(e, f.exception() or f.result()) for e, f in done]

    @property
    def busy(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
