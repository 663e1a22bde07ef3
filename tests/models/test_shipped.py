"""The shipped classifier models: they load without PyTorch, their cards say what they take and what
they scored, and they classify freshly simulated events of every class (a small sanity check; the
held-out figures come from ``python -m models classifier evaluate``)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.classifier.runtime import SHIPPED, classify, shipped_session

pytestmark = pytest.mark.skipif(not all(p.exists() for p in SHIPPED.values()), reason="no shipped models")


def test_cards_describe_the_models():
    for channels, path in SHIPPED.items():
        card = json.loads(path.with_suffix(".card.json").read_text())
        assert card["classes"] == ["earthquake", "collapse", "explosion"]
        assert card["input"]["shape"] == ["batch", channels, 5000] and card["input"]["fs_hz"] == 100.0
        m = card["metrics"]["event_level_with_both_models"]
        assert set(m["recall"]) == {"earthquake", "collapse", "explosion"} and 0 < m["accuracy"] <= 1
        assert shipped_session(channels).channels == channels


def test_shipped_models_classify_simulated_events(tmp_path):
    from sim.event_classes import ClassSetConfig, generate
    generate(ClassSetConfig(n_events=6, mix=(1, 1, 1), seed=77, sites_seed=5, stations_per_event=8,
                            das_channels=6, label_noise=0.0), tmp_path)
    groups, truth = [], {}
    for name in ("seismometer.npz", "das.npz"):
        f = np.load(tmp_path / name)
        groups.append((f["data"], f["event"]))
        truth.update(zip(f["event"].tolist(), f["truth_label"].tolist()))
    result = classify(groups)
    assert set(result) == set(truth)
    classes = ("earthquake", "collapse", "explosion")
    for e, r in result.items():
        assert sum(r[c] for c in classes) == pytest.approx(1.0, abs=1e-5)
    right = sum(max(classes, key=result[e].get) == classes[t] for e, t in truth.items())
    assert right >= 4, {e: (classes[t], max(classes, key=result[e].get)) for e, t in truth.items()}
