"""Scores of class forecasts: confusion matrix, per-class precision / recall / F1, macro F1, and the F1
of "the largest magnitude reaches the first class edge" (``f1_m5`` with the paper's edges 5, 6, 7).

Macro F1 averages the per-class F1 over the classes present in the truth or in the forecast (as
scikit-learn does with ``labels=None``); a class nobody saw or forecast would otherwise add an
arbitrary 0 or 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClassScores:
    """Scores of one method over a set of region-years."""

    confusion: np.ndarray          # (K, K): rows = true class, columns = forecast class
    precision: np.ndarray          # (K,), NaN where the class was never forecast
    recall: np.ndarray             # (K,), NaN where the class never occurred
    f1: np.ndarray                 # (K,), NaN where the class neither occurred nor was forecast
    macro_f1: float
    f1_m5: float                   # binary F1 of class >= 1 (largest M >= the first edge)
    accuracy: float
    n: int

    def as_dict(self, names: list[str]) -> dict:
        def clean(x):
            return None if not np.isfinite(x) else round(float(x), 4)
        return {"macro_f1": clean(self.macro_f1), "f1_m5": clean(self.f1_m5), "accuracy": clean(self.accuracy),
                "n": self.n,
                "precision": {k: clean(v) for k, v in zip(names, self.precision)},
                "recall": {k: clean(v) for k, v in zip(names, self.recall)},
                "confusion": self.confusion.tolist()}


def confusion_matrix(truth: np.ndarray, forecast: np.ndarray, n_classes: int) -> np.ndarray:
    truth = np.asarray(truth, np.int64).ravel()
    forecast = np.asarray(forecast, np.int64).ravel()
    keep = truth >= 0                       # -1 marks region-years without a label
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (truth[keep], forecast[keep]), 1)
    return cm


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.maximum(den, 1), np.nan)


def binary_f1(truth: np.ndarray, forecast: np.ndarray) -> float:
    """F1 of boolean forecasts (NaN when there is neither a positive truth nor a positive forecast)."""
    truth, forecast = np.asarray(truth, bool), np.asarray(forecast, bool)
    tp = np.sum(truth & forecast)
    den = 2 * tp + np.sum(truth & ~forecast) + np.sum(~truth & forecast)
    return float(2 * tp / den) if den else float("nan")


def macro_f1(truth: np.ndarray, forecast: np.ndarray, n_classes: int | None = None) -> float:
    """Mean F1 over the classes present in the truth or the forecast (region-years with truth -1
    ignored; only classes below ``n_classes`` when given); 0.0 when there is nothing to score. The
    score training and decision tuning maximise."""
    truth, forecast = np.ravel(truth), np.ravel(forecast)
    keep = truth >= 0
    truth, forecast = truth[keep], forecast[keep]
    classes = np.union1d(truth, forecast)
    if n_classes is not None:
        classes = classes[classes < n_classes]
    scores = [2.0 * np.sum((truth == k) & (forecast == k)) / (np.sum(truth == k) + np.sum(forecast == k))
              for k in classes]
    return float(np.mean(scores)) if scores else 0.0


def class_scores(truth: np.ndarray, forecast: np.ndarray, n_classes: int) -> ClassScores:
    """Scores of class forecasts against the true classes (arrays of any equal shape; truth -1 skipped)."""
    cm = confusion_matrix(truth, forecast, n_classes)
    tp = np.diag(cm).astype(float)
    precision = _ratio(tp, cm.sum(axis=0))
    recall = _ratio(tp, cm.sum(axis=1))
    seen = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    f1 = _ratio(2 * tp, cm.sum(axis=0) + cm.sum(axis=1))
    macro = float(np.mean(f1[seen])) if seen.any() else float("nan")
    t = np.asarray(truth).ravel()
    keep = t >= 0
    f = np.asarray(forecast).ravel()
    n = int(keep.sum())
    return ClassScores(cm, precision, recall, np.where(seen, f1, np.nan), macro,
                       binary_f1(t[keep] >= 1, f[keep] >= 1), float(tp.sum() / n) if n else float("nan"), n)
