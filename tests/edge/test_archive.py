"""Waveforms kept for central's classifier: the ring (fixed memory, gaps forget), and the ``snippet``
message the EEW processor sends for a located event (its channels, span and samples)."""
from __future__ import annotations

import numpy as np
import pytest

from edge.archive import ArchiveConfig, WaveformArchive, kept_channels
from edge.channels import ChannelGeometry
from edge.config import EdgeConfig
from edge.exceptions import ConfigError
from edge.pipeline import build_chain
from edge.wire import decode_message, encode_message

from .conftest import simulate


def test_kept_channels_and_config():
    assert kept_channels(np.arange(0, 5.01, 0.1), 1.0).tolist() == [0, 10, 20, 30, 40, 50]
    assert kept_channels(np.array([0.0, 0.5, 1.2, 1.3, 2.2]), 1.0).tolist() == [0, 2, 4]
    with pytest.raises(ConfigError):
        ArchiveConfig(seconds=10.0)
    assert EdgeConfig.from_dict({"archive": {"seconds": 0}}).archive.seconds == 0


def test_ring_keeps_the_latest_samples_and_forgets_on_restart():
    a = WaveformArchive(np.array([1, 3]), 100)
    rows = np.arange(250 * 4, dtype=np.float32).reshape(250, 4)
    for s in range(0, 250, 30):                                    # uneven blocks, wrapping around
        a.add(rows[s:s + 30], s)
    assert a.span == (150, 250)
    assert np.array_equal(a.window(160, 50), rows[160:210][:, [1, 3]].T)
    assert a.window(149, 10) is None and a.window(245, 10) is None
    a.add(rows[:10], 0)                                            # numbering restarted (a gap)
    assert a.span == (0, 10) and a.window(160, 5) is None


def test_a_located_event_sends_one_snippet_with_its_p_waves():
    rec = simulate(magnitude=4.0, length_km=30.0, duration_s=90.0, origin_after_s=20.0, seed=21)
    layout = rec.scene.layout
    config = EdgeConfig.from_dict({"archive": {"seconds": 90.0, "spacing_km": 1.0, "snippet_channels": 8}})
    msgs: list[dict] = []
    chain = build_chain(config, ChannelGeometry(layout.lat, layout.lon, layout.elev_m), fs_hz=rec.fs, ch0=500,
                        emit=msgs.append)
    for i in range(0, rec.data.shape[0], 50):
        chain.detector.process(rec.data[i:i + 50], rec.t0 + i / rec.fs)
    snippets = [m for m in msgs if m["type"] == "snippet"]
    locations = [m for m in msgs if m["type"] == "location"]
    assert locations and len(snippets) == 1
    s = snippets[0]
    assert s["event"] == locations[0]["event"] and s["fs"] == 100.0
    assert s["data"].shape == (8, s["n_t"]) and s["n_t"] >= 5000
    ch = s["channel"] - 500                                        # record channel numbers
    assert np.all(np.diff(ch) >= 9)                                # 1 km apart at 100 m
    # 5 s before the earliest true P of its channels, 45 s after the latest (within a sample or two)
    p = rec.p_time[ch]
    assert s["t0"] == pytest.approx(p.min() - 5.0, abs=0.3)
    assert s["t0"] + s["n_t"] / s["fs"] == pytest.approx(p.max() + 45.0, abs=0.3)
    # the samples are the record's (anti-aliased, not band-passed): quiet before P, the event after
    k = int(np.argmin(p))
    i_p = int(round((p[k] - s["t0"]) * s["fs"]))
    x = s["data"][k]
    assert np.abs(x[i_p:i_p + 300]).max() > 10 * np.sqrt(np.mean(x[:i_p - 50] ** 2))
    raw = rec.data[int(round((s["t0"] - rec.t0) * rec.fs)):, ch[k]][:s["n_t"]]
    assert np.corrcoef(x, raw)[0, 1] > 0.99
    # it travels: the wire codec takes it as it is
    back = decode_message(encode_message({**s, "type": "snippet"}))
    assert np.array_equal(back["data"], s["data"].astype(np.float32))


def test_a_snippet_is_sent_even_when_the_next_event_came_first():
    """The daemon keeps one open event; a second event 35 s after the first must not cancel the
    first one's snippet, due 45 s after its P."""
    rec = simulate(magnitude=4.0, length_km=30.0, duration_s=40.0, origin_after_s=20.0, seed=21)
    layout = rec.scene.layout
    piece = rec.data[:int(35 * rec.fs)]
    data = np.concatenate([piece] * 4)                    # the event at 20 s, 55 s, 90 s, 125 s of data
    msgs: list[dict] = []
    chain = build_chain(EdgeConfig(), ChannelGeometry(layout.lat, layout.lon, layout.elev_m), fs_hz=rec.fs, ch0=0,
                        emit=msgs.append)
    for i in range(0, data.shape[0], 100):
        chain.detector.process(data[i:i + 100], rec.t0 + i / rec.fs)
    events = list(dict.fromkeys(m["event"] for m in msgs if m["type"] == "location"))
    snippets = [m["event"] for m in msgs if m["type"] == "snippet"]
    assert len(events) >= 2 and snippets[:2] == events[:2]
