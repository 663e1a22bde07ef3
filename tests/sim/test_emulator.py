"""The interrogator stream over real ZeroMQ sockets on loopback."""
from __future__ import annotations

import time

import numpy as np
import pytest
import zmq

from sim.emulator import StreamConfig, decode_frame, encode_frame, stream_scene
from sim.scene import Scene

T0 = 1.7e9


@pytest.fixture()
def pubsub():
    ctx = zmq.Context()
    pub = ctx.socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    sub.setsockopt(zmq.SUBSCRIBE, b"das")
    sub.connect(f"tcp://127.0.0.1:{port}")
    yield pub, sub
    pub.close()
    sub.close()
    ctx.term()


def _wait_connected(pub, sub):
    """PUB drops messages until the subscription has propagated: probe until one arrives."""
    for _ in range(200):
        pub.send_multipart(encode_frame(np.zeros((1, 1), np.float32), seq=-1, t0=0, fs=1, ch0=0))
        if sub.poll(20):
            while sub.poll(50):
                sub.recv_multipart()
            return
    raise AssertionError("subscriber never connected")


def _receive(sub, n_expected, timeout_ms=5000):
    frames = []
    while sub.poll(timeout_ms):
        frames.append(decode_frame(sub.recv_multipart()))
        if len(frames) >= n_expected:
            break
    return frames


class TestStream:
    def test_frames_equal_scene(self, pubsub, short_layout):
        """Frames arrive in order with consecutive seq, contiguous t0, and the scene's samples."""
        pub, sub = pubsub
        _wait_connected(pub, sub)
        scene = Scene(layout=short_layout, t0=T0, duration_s=3.0, seed=1)
        ref = Scene(layout=short_layout, t0=T0, duration_s=3.0, seed=1).to_record().strain_rate
        stats = stream_scene(scene, pub, StreamConfig(frame_s=0.25, speed=0))
        frames = _receive(sub, stats.frames_sent)
        assert stats.frames_sent == 12 and len(frames) == 12
        assert [h["seq"] for h, _ in frames] == list(range(12))
        assert np.diff([h["t0"] for h, _ in frames]) == pytest.approx(0.25, abs=1e-5)
        data = np.concatenate([d for _, d in frames])
        assert np.array_equal(data, ref)
        h = frames[0][0]
        assert (h["v"], h["fs"], h["n_ch"], h["dtype"]) == (1, 100.0, short_layout.n_channels, "<f4")

    def test_gaps_are_visible_as_seq_jumps(self, pubsub, short_layout):
        """Dropped frames (GPS-time gaps) show as seq jumps with matching t0 jumps."""
        pub, sub = pubsub
        _wait_connected(pub, sub)
        scene = Scene(layout=short_layout, t0=T0, duration_s=20.0, seed=1)
        stats = stream_scene(scene, pub, StreamConfig(frame_s=0.1, speed=0, gap_probability=0.1), seed=3)
        frames = _receive(sub, stats.frames_sent)
        seq = np.array([h["seq"] for h, _ in frames])
        t0 = np.array([h["t0"] for h, _ in frames])
        gaps = np.diff(seq) - 1
        assert stats.frames_dropped > 5
        assert gaps.sum() == stats.frames_dropped
        assert np.diff(t0) == pytest.approx(0.1 * np.diff(seq), abs=1e-5)

    def test_int16_payload(self, pubsub, short_layout):
        """The '<i2' payload decodes to the samples within half a count."""
        pub, sub = pubsub
        _wait_connected(pub, sub)
        scene = Scene(layout=short_layout, t0=T0, duration_s=1.0, seed=1)
        ref = Scene(layout=short_layout, t0=T0, duration_s=1.0, seed=1).to_record().strain_rate
        stats = stream_scene(scene, pub, StreamConfig(frame_s=0.5, speed=0, dtype="<i2", scale=1e-11))
        frames = _receive(sub, stats.frames_sent)
        data = np.concatenate([d for _, d in frames])
        assert np.abs(data - ref).max() <= 0.5e-11 * 1.001

    def test_pacing(self, pubsub, short_layout):
        """At speed 4, 2 s of data take about 0.5 s of wall time."""
        pub, sub = pubsub
        _wait_connected(pub, sub)
        scene = Scene(layout=short_layout, t0=T0, duration_s=2.0, seed=1)
        stats = stream_scene(scene, pub, StreamConfig(frame_s=0.1, speed=4.0))
        assert 0.45 < stats.wall_s < 1.5


class _SlowScene:
    """A scene whose frame 5 takes 0.3 s to compute (a train passing) and, optionally, whose
    generation fails after 8 frames."""

    def __init__(self, scene: Scene, fail: bool = False):
        self.scene, self.fail = scene, fail
        self.layout, self.t0, self.fs_hz = scene.layout, scene.t0, scene.fs_hz

    def iter_chunks(self, n_t):
        for k, item in enumerate(self.scene.iter_chunks(n_t)):
            if k == 5:
                time.sleep(0.3)
            if self.fail and k == 8:
                raise RuntimeError("generator broke")
            yield item


@pytest.mark.parametrize("ahead_s, steady", [(2.0, True), (0.0, False)])
def test_frames_are_computed_ahead_and_leave_on_time(pubsub, short_layout, ahead_s, steady):
    """A frame that is slow to compute delays nothing when frames are computed ahead; without
    read-ahead the same frame makes the stream late by its extra time."""
    pub, sub = pubsub
    _wait_connected(pub, sub)
    scene = _SlowScene(Scene(layout=short_layout, t0=T0, duration_s=2.0, seed=1))
    stats = stream_scene(scene, pub, StreamConfig(frame_s=0.1, speed=1.0), ahead_s=ahead_s)
    assert stats.frames_sent == 20 and len(_receive(sub, 20)) == 20
    assert (stats.max_lag_s < 0.1) if steady else (stats.max_lag_s > 0.15)


def test_a_failing_generator_is_not_hidden(pubsub, short_layout):
    pub, _ = pubsub
    scene = _SlowScene(Scene(layout=short_layout, t0=T0, duration_s=2.0, seed=1), fail=True)
    with pytest.raises(RuntimeError, match="generator broke"):
        stream_scene(scene, pub, StreamConfig(frame_s=0.1, speed=0))


def test_malformed_frames_are_rejected():
    """The reference decoder names what is wrong instead of crashing."""
    from edge.exceptions import DecodeError
    good = encode_frame(np.zeros((2, 3), np.float32), seq=0, t0=0, fs=100, ch0=0)
    with pytest.raises(DecodeError, match="payload"):
        decode_frame([good[0], good[1], good[2][:-1]])
    with pytest.raises(DecodeError, match="msgpack|map"):
        decode_frame([good[0], b"\xc1garbage", good[2]])
    with pytest.raises(DecodeError, match="3 parts"):
        decode_frame(good[:2])
