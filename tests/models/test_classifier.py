"""The event classifier: measurement files, the event-level product rule, training that learns,
label cleaning that finds wrong labels, ONNX equal to PyTorch within 1e-4, the CLI, and a run time
without PyTorch."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from models.classifier.data import (
    CLASSES,
    WINDOW,
    MeasurementError,
    Measurements,
    class_weights,
    event_probabilities,
    load_measurements,
)
from models.classifier.evaluate import cleaning_scores, scores, suspect_labels


def toy_set(n_events: int = 36, per_event: int = 3, channels: int = 3, seed: int = 0, wrong: int = 0):
    """A separable toy set with the file's units: class 0 a down-then-up pulse, 1 a long negative
    pulse, 2 a sharp positive one, at 5 s, in noise, ~1e-6 m/s."""
    rng = np.random.default_rng(seed)
    t = np.arange(WINDOW) / 100.0 - 5.0
    shapes = [np.sin(2 * np.pi * 2 * t) * np.exp(-(t / 0.5) ** 2),
              -np.exp(-((t - 0.5) / 1.0) ** 2),
              np.exp(-(t / 0.1) ** 2)]
    truth = np.arange(n_events) % 3
    data, event, label, true = [], [], [], []
    for e in range(n_events):
        for _ in range(per_event):
            x = rng.normal(0, 0.05, (channels, WINDOW)) + shapes[truth[e]] * rng.uniform(0.5, 2.0, (channels, 1))
            data.append((x * 1e-6).astype(np.float32))
            event.append(e)
            true.append(truth[e])
    label = np.array(true)
    flipped = rng.choice(n_events, wrong, replace=False) if wrong else np.array([], int)
    for e in flipped:
        label[np.array(event) == e] = (truth[e] + 1) % 3
    return Measurements(np.stack(data), np.array(event), label, np.array(true), np.full(len(event), 3.0)), flipped


def _save(path, m: Measurements):
    np.savez(path, data=m.data, fs=100.0, event=m.event, label=m.label, truth_label=m.truth_label,
             magnitude=m.magnitude)
    return path


def test_bad_measurement_files_are_named(tmp_path):
    good, _ = toy_set(3, 1)
    cases = {
        "shape": dict(data=good.data[:, :, :100], event=good.event),
        "dtype": dict(data=good.data.astype(np.float64), event=good.event),
        "nan": dict(data=np.where(np.isfinite(good.data), np.nan, 0).astype(np.float32), event=good.event),
        "event": dict(data=good.data, event=good.event[:1]),
        "label": dict(data=good.data, event=good.event, label=good.event + 5),
        "fs": dict(data=good.data, event=good.event, fs=50.0),
        "missing": dict(event=good.event),
    }
    for name, arrays in cases.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
        with pytest.raises(MeasurementError):
            load_measurements(tmp_path / f"{name}.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(MeasurementError, match="readable"):
        load_measurements(tmp_path / "junk.npz")
    with pytest.raises(MeasurementError, match="label"):
        np.savez(tmp_path / "nolabel.npz", data=good.data, event=good.event)
        load_measurements(tmp_path / "nolabel.npz", need_labels=True)


def test_event_probability_is_the_normalised_product():
    prob = np.array([[0.9, 0.05, 0.05], [0.6, 0.2, 0.2], [0.1, 0.1, 0.8]])
    ids, p, n = event_probabilities(prob, np.array([7, 7, 3]))
    assert ids.tolist() == [3, 7] and n.tolist() == [1, 2]
    expect = np.sqrt(prob[0] * prob[1])
    assert p[1] == pytest.approx(expect / expect.sum())
    assert p[0] == pytest.approx(prob[2])
    assert class_weights(np.array([0, 0, 0, 1])) == pytest.approx([4 / 9, 4 / 3, 0.0])
    # three DAS channels of event 7 are one look beside one seismometer of it
    from models.classifier.data import look_weights
    w = np.r_[look_weights(np.array([7, 7, 7]), 1), look_weights(np.array([7]), 3)]
    das, seis = np.array([0.2, 0.4, 0.4]), np.array([0.9, 0.05, 0.05])
    _, p, n = event_probabilities(np.array([das, das, das, seis]), np.array([7, 7, 7, 7]), w)
    expect = np.sqrt(das * seis)
    assert n.tolist() == [4] and p[0] == pytest.approx(expect / expect.sum())


def test_scores_and_cleaning_scores():
    s = scores(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), np.array([3.0, 3.0, 1.0, 3.0]), np.array([25, 25, 3, 30]))
    assert s["accuracy"] == 0.75 and s["recall"]["earthquake"] == 0.5 and s["precision"]["collapse"] == 0.5
    assert s["accuracy_m25_n20"] == pytest.approx(2 / 3, abs=1e-4) and s["confusion"][0] == [1, 1, 0]
    c = cleaning_scores(np.array([1, 2, 3]), np.array([2, 3, 9, 10]))
    assert c["cleaning_recall"] == 0.5 and c["cleaning_precision"] == pytest.approx(0.6667, abs=1e-4)


def test_suspect_labels_need_a_confident_contradiction():
    prob = np.array([[0.10, 0.05, 0.85],     # labelled earthquake, called explosion with confidence: flagged
                     [0.40, 0.10, 0.50],     # labelled earthquake, a coin toss: left alone at 0.25
                     [0.20, 0.70, 0.10],     # labelled collapse and called so: never flagged
                     [0.24, 0.70, 0.06]])    # labelled earthquake, p(label) just below 0.25: flagged
    label = np.array([0, 0, 1, 0])
    assert suspect_labels(prob, label).tolist() == [True, False, False, True]
    assert suspect_labels(prob, label, 1.0).tolist() == [True, True, False, True]   # any disagreement
    assert suspect_labels(prob, label, 0.2).tolist() == [True, False, False, False]


torch = pytest.importorskip("torch", reason="the train extra (torch) is not installed")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from models.classifier.train import TrainConfig, export_onnx, train
    m, _ = toy_set(36, 3)
    model = train(m, TrainConfig(epochs=10, seed=1, per_event=3))
    out = tmp_path_factory.mktemp("model")
    card = export_onnx(model, out / "classifier-seismometer.onnx")
    return model, out, card


def test_training_learns_and_onnx_matches_pytorch(trained):
    from models.classifier.runtime import ClassifierSession
    from models.classifier.train import predict_torch
    model, out, card = trained
    test, _ = toy_set(30, 2, seed=9)
    p_torch = predict_torch(model.net, test.data)
    assert np.mean(np.argmax(p_torch, axis=1) == test.label) >= 0.9
    session = ClassifierSession(out / "classifier-seismometer.onnx")
    for n in (1, 2, 7):                                    # the batch dimension is dynamic
        assert np.abs(session.probabilities(test.data[:n]) - p_torch[:n]).max() < 1e-4
    assert card["classes"] == list(CLASSES) and card["input"]["shape"][1:] == [3, WINDOW]
    assert card["input"]["fs_hz"] == 100.0 and card["training"]["seed"] == 1
    assert 250_000 < card["parameters"] < 350_000       # the paper's size (~300k)
    with pytest.raises(MeasurementError, match="takes"):
        session.probabilities(test.data[:, :1])


def test_cross_validation_flags_wrong_labels():
    from models.classifier.train import TrainConfig, cross_validate
    m, flipped = toy_set(45, 3, seed=3, wrong=5)
    cv = cross_validate(m, TrainConfig(epochs=8, seed=2, per_event=3), folds=3)
    s = cleaning_scores(cv["flagged"], flipped)
    assert s["cleaning_recall"] >= 0.8 and s["cleaning_precision"] >= 0.5, s


def test_cli_clean_then_review(tmp_path):
    """clean writes every event's out-of-fold probabilities and the flagged ones, most clearly
    contradicted first; central review reads that file and writes decisions train can apply."""
    m, flipped = toy_set(30, 2, seed=4, wrong=4)
    data = _save(tmp_path / "seismometer.npz", m)
    r = subprocess.run([sys.executable, "-m", "models", "classifier", "clean", "--data", str(data), "--out",
                        str(tmp_path / "flagged.json"), "--folds", "2", "--epochs", "6", "--per-event", "2"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[-1])
    out = json.loads((tmp_path / "flagged.json").read_text())
    assert len(out["out_of_fold"]) == 30 and out["max_label_prob"] == 0.25 and out["folds"] == 2
    given = [row[row["label"]] for row in out["flagged"]]
    assert given == sorted(given) and all(g < 0.25 for g in given)
    assert summary["flagged"] == len(out["flagged"]) <= summary["disagreements"]
    assert summary["wrong"] == len(flipped)
    csv = tmp_path / "decisions.csv"
    csv.write_text("".join(f"{row['event']},{row['predicted']}\n" for row in out["flagged"]))
    r = subprocess.run([sys.executable, "-m", "central", "review", str(tmp_path / "flagged.json"), "--out",
                        str(tmp_path / "decisions.json"), "--from", str(csv)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    decisions = json.loads((tmp_path / "decisions.json").read_text())["decisions"]
    assert set(decisions) == {str(row["event"]) for row in out["flagged"]}


def test_tune_prior_trades_surplus_recall():
    """Earthquakes under-called (their probability shrunk): the prior lifts them until the smallest
    recall is as high as it can get, without giving up the other classes."""
    from models.classifier.evaluate import tune_prior
    rng = np.random.default_rng(0)
    truth = np.repeat([0, 1, 2], 100)
    prob = rng.dirichlet(np.ones(3), size=300) * 0.5
    prob[np.arange(300), truth] += 0.5
    prob[truth == 0] *= [0.3, 1, 1]                     # a model that under-calls earthquakes
    prob /= prob.sum(axis=1, keepdims=True)
    recall = lambda w: [np.mean(np.argmax(prob * w, 1)[truth == k] == k) for k in range(3)]
    before = recall(np.ones(3))
    w = tune_prior(prob, truth)
    after = recall(w)
    assert before[0] < 0.8 and min(after) > min(before) + 0.1 and w[1] < 1 and w[2] < 1


def test_bad_decision_file(tmp_path):
    from models.classifier.runtime import load_prior
    assert load_prior(tmp_path) is None
    (tmp_path / "classifier-decision.json").write_text('{"prior": {"earthquake": 1, "collapse": -1, "explosion": 1}}')
    with pytest.raises(MeasurementError, match="positive"):
        load_prior(tmp_path)
    (tmp_path / "classifier-decision.json").write_text('{"weights": []}')
    with pytest.raises(MeasurementError, match="not a decision file"):
        load_prior(tmp_path)


def test_cli_train_predict_evaluate(tmp_path):
    m, _ = toy_set(30, 2)
    data = tmp_path / "set"
    data.mkdir()
    _save(data / "seismometer.npz", m)
    run = lambda *a: subprocess.run([sys.executable, "-m", "models", "classifier", *a], capture_output=True,
                                    text=True, timeout=300)
    r = run("train", "--data", str(data), "--out", str(tmp_path / "m"), "--epochs", "6", "--per-event", "2")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m" / "classifier-seismometer.onnx").exists()
    r = run("predict", str(data / "seismometer.npz"), "--models", str(tmp_path / "m"), "--json")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(rows) == 30 and set(rows[0]) == {"event", *CLASSES, "n"}
    assert all(abs(sum(r[c] for c in CLASSES) - 1) < 1e-4 for r in rows)
    r = run("evaluate", "--data", str(data), "--models", str(tmp_path / "m"), "--json", "--png", str(tmp_path / "cm.png"))
    last = json.loads(r.stdout.splitlines()[-1])
    assert {"accuracy", "recall", "accuracy_m25_n20", "cleaning_recall", "cleaning_precision"} <= set(last)
    assert set(last["recall"]) == set(CLASSES)
    from matplotlib.image import imread
    png = imread(tmp_path / "cm.png")
    assert png.shape[1] > 1.8 * png.shape[0]          # confusion matrix plus the two Fig. 4 panels
    r = run("calibrate", "--data", str(data), "--models", str(tmp_path / "m"))
    assert r.returncode == 0, r.stderr
    decision = json.loads((tmp_path / "m" / "classifier-decision.json").read_text())
    assert set(decision["prior"]) == set(CLASSES) and decision["prior"]["earthquake"] == 1.0
    r = run("evaluate", "--data", str(data), "--models", str(tmp_path / "m"))
    assert "decision prior (calibrate)" in r.stdout and "without it" in r.stdout
    r = run("predict", str(tmp_path / "missing.npz"))
    assert r.returncode == 2 and "error" in r.stderr


def test_run_time_needs_no_torch(trained):
    """Central's side: onnxruntime only (torch blocked from importing)."""
    _, out, _ = trained
    m, _ = toy_set(6, 2)
    np.save(out / "x.npy", m.data)
    code = ("import sys; sys.modules['torch'] = None\n"
            "import numpy as np\n"
            "from models.classifier.runtime import ClassifierSession, classify\n"
            f"s = ClassifierSession({str(out / 'classifier-seismometer.onnx')!r})\n"
            f"r = classify([(np.load({str(out / 'x.npy')!r}), np.repeat(np.arange(6), 2))], {{3: s}})\n"
            "print(len(r), sorted(r[0]))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "6"
