"""Central classifies events from the boxes' snippets with a real onnxruntime session: windows cut at
each channel's P pick, the product rule across snippets, the result stored and served (API, QuakeML);
without a model snippets are counted, never fatal."""
from __future__ import annotations

import json
import time

import numpy as np
import pytest

from central.classification import ClassifierSettings, combine, snippet_windows
from central.store import EventStore
from edge.wire import decode_message, encode_message, message

from .test_node import Box, get, node  # noqa: F401 - the fixture
from .test_store import T0, location

CH = np.arange(100, 110)


def snippet(box: str, seq: int, event: str, p_first: float, *, fs: float = 100.0, n_t: int = 6000) -> dict:
    t0 = p_first - 5.0
    t = np.arange(n_t) / fs
    data = np.array([1e-7 * np.exp(-((t - 5.0 - 0.1 * k) / 0.2) ** 2) for k in range(CH.size)], np.float32)
    m = message("snippet", box, seq, event=event, t0=t0, fs=fs, channel=CH.astype("<i4"), n_t=n_t, data=data)
    return decode_message(encode_message(m))


def picks(box: str, seq: int, event: str, p_first: float) -> dict:
    n = CH.size - 2                                          # two channels without a pick
    m = message("picks", box, seq, event=event, t_ref=p_first, channel=CH[:n].astype("<i4"),
                dt=(0.1 * np.arange(n)).astype("<f4"), snr=np.full(n, 9.0, "<f4"), amp=np.full(n, 1e-7, "<f4"))
    return decode_message(encode_message(m))


def test_windows_start_5_s_before_each_pick():
    store = EventStore(":memory:")
    store.add_location(location("a", 1, "a-1"))
    store.add_picks(picks("a", 2, "a-1", T0 + 3.0))
    w = snippet_windows(store, snippet("a", 3, "a-1", T0 + 3.0))
    assert w.shape == (8, 1, 5000) and w.dtype == np.float32
    assert np.all(np.argmax(w[:, 0], axis=1) == 500)        # every pulse at its pick, 5 s in
    assert len(snippet_windows(store, snippet("a", 4, "a-1", T0 + 3.0, fs=50.0))) == 0
    assert len(snippet_windows(store, snippet("a", 5, "a-1", T0 + 3.0, n_t=4000))) == 0   # too short


def test_product_rule_across_snippets():
    """A snippet's channels are one look (their mean log-probability); snippets multiply."""
    first = combine(None, np.array([[0.8, 0.1, 0.1], [0.8, 0.1, 0.1]]))
    assert first["n"] == 2 and first["probabilities"]["looks"] == 1
    assert first["probabilities"]["earthquake"] == pytest.approx(0.8)
    both = combine({**first["probabilities"], "n_measurements": 2}, np.array([[0.5, 0.25, 0.25]]))
    p = np.sqrt(np.array([0.8, 0.1, 0.1]) * np.array([0.5, 0.25, 0.25]))
    assert both["n"] == 3 and both["probabilities"]["looks"] == 2
    assert both["probabilities"]["earthquake"] == pytest.approx(p[0] / p.sum(), abs=1e-5)


@pytest.fixture(scope="module")
def das_model(tmp_path_factory):
    pytest.importorskip("torch", reason="the train extra builds the test model")
    from models.classifier.net import EventClassifierNet
    from models.classifier.train import TrainConfig, TrainedModel, export_onnx
    path = tmp_path_factory.mktemp("model") / "classifier-das.onnx"
    export_onnx(TrainedModel(EventClassifierNet(1).eval(), TrainConfig(), "untrained", 0, 0, 0.0), path)
    return path


def test_node_classifies_snippets_and_serves_the_result(node, das_model):  # noqa: F811
    cfg, start = node
    n = start(classifier=ClassifierSettings(model=str(das_model)))
    a = Box(cfg.collector.endpoint, "box-a")
    try:
        a.send(encode_message(location("box-a", 1, "a-1")))
        a.send(encode_message(picks("box-a", 2, "a-1", T0 + 3.0)))
        a.send(encode_message(snippet("box-a", 3, "a-1", T0 + 3.0)))
        a.send(encode_message(snippet("box-a", 4, "a-9", T0 + 3.0)))   # an event central never heard of
        assert a.acked() == {1, 2}                  # an event's picks are acked (journaled); snippets are lossy
        end = time.monotonic() + 10
        while (n.counts["snippets"]["classified"] < 1 or n.counts["snippets"]["no_event"] < 1) \
                and time.monotonic() < end:
            time.sleep(0.05)
        assert n.counts["snippets"]["classified"] == 1 and n.counts["snippets"]["no_event"] == 1
        events = json.loads(get(n.status_url + "api/events")[2])
        c = events[0]["classification"]
        assert c["n_measurements"] == 8 and c["model"] == "classifier-das.onnx"
        assert sum(c[k] for k in ("earthquake", "collapse", "explosion")) == pytest.approx(1.0, abs=1e-4)
        _, _, qml = get(n.status_url + "api/export?format=quakeml")
        assert "<type>" in qml
        _, _, page = get(n.status_url)
        best = max(("earthquake", "collapse", "explosion"), key=c.get)
        assert f"{best} {c[best]:.2f} (8 measurements)" in page
    finally:
        a.close()


def test_without_a_model_snippets_are_counted(node, tmp_path):  # noqa: F811
    cfg, start = node
    n = start(classifier=ClassifierSettings(model=str(tmp_path / "missing.onnx")))
    a = Box(cfg.collector.endpoint, "box-a")
    try:
        a.send(encode_message(location("box-a", 1, "a-1")))
        a.send(encode_message(snippet("box-a", 2, "a-1", T0 + 3.0)))
        assert a.acked() == {1}
        end = time.monotonic() + 5
        while n.counts["snippets"]["no_model"] < 1 and time.monotonic() < end:
            time.sleep(0.05)
        assert n.counts["snippets"]["no_model"] == 1 and n.classifier is None
    finally:
        a.close()
