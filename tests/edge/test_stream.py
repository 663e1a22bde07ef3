"""Interrogator stream: frames decode exactly as the emulator encodes them, every malformed frame is a
DecodeError, and the sequencer tells gaps, duplicates, restarts and foreign frames apart."""
from __future__ import annotations

import sys
import traceback

import msgpack
import numpy as np
import pytest
import zmq

from edge.exceptions import DecodeError
from edge.stream import StreamFrame, StreamSequencer, decode_stream_frame
from sim.emulator import decode_frame, encode_frame

T0 = 1_667_260_800.0
FS = 500.0


def block(n_t=50, n_ch=8, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n_t, n_ch)) * 1e-7).astype(np.float32)


def header(**over) -> dict:
    h = {"v": 1, "seq": 3, "t0": T0, "fs": FS, "ch0": 0, "n_ch": 4, "n_t": 2, "dtype": "<f4", "scale": 1.0}
    h.update(over)
    return h


def parts(h: dict | None = None, payload: bytes | None = None) -> list[bytes]:
    h = header() if h is None else h
    if payload is None:
        payload = bytes(h["n_t"] * h["n_ch"] * 4)
    return [b"das", msgpack.packb(h), payload]


class TestDecode:
    def test_float32_frames_match_the_emulator(self):
        x = block()
        frame = decode_stream_frame(encode_frame(x, seq=9, t0=T0, fs=FS, ch0=100))
        assert (frame.seq, frame.t0, frame.fs, frame.ch0, frame.n_ch, frame.n_t) == (9, T0, FS, 100, 8, 50)
        assert frame.data.dtype == np.float32 and frame.data.flags.c_contiguous
        np.testing.assert_array_equal(frame.data, x)

    def test_int16_frames_are_scaled_like_the_reference_decoder(self):
        x = block()
        p = encode_frame(x, seq=1, t0=T0, fs=FS, ch0=0, dtype="<i2", scale=1e-10)
        frame = decode_stream_frame(p)
        _, ref = decode_frame(p)
        np.testing.assert_array_equal(frame.data, ref)
        np.testing.assert_allclose(frame.data, x, atol=0.6e-10)

    def test_nonfinite_samples_pass_through(self):
        x = block(4, 3)
        x[1, 2], x[2, 0], x[3, 1] = np.nan, np.inf, -np.inf
        frame = decode_stream_frame(encode_frame(x, seq=0, t0=T0, fs=FS, ch0=0))
        np.testing.assert_array_equal(np.isnan(frame.data), np.isnan(x))
        assert np.isinf(frame.data).sum() == 2

    def test_data_is_not_a_view_of_the_buffer(self):
        """A reused receive buffer (bytearray here) cannot change a decoded frame."""
        p = encode_frame(block(), seq=0, t0=T0, fs=FS, ch0=0)
        buf = bytearray(p[2])
        frame = decode_stream_frame([p[0], p[1], buf])
        before = frame.data.copy()
        buf[:] = bytes(len(buf))
        np.testing.assert_array_equal(frame.data, before)
        assert frame.data.flags.owndata or frame.data.base is not None and frame.data.base.flags.owndata

    def test_zero_copy_zmq_frames(self):
        """Frames received with copy=False decode, and outlive the socket and its context."""
        ctx = zmq.Context()
        pull, push = ctx.socket(zmq.PULL), ctx.socket(zmq.PUSH)
        for s in (pull, push):
            s.setsockopt(zmq.LINGER, 0)
        pull.bind("inproc://stream")
        push.connect("inproc://stream")
        x = block(200, 64)
        push.send_multipart(encode_frame(x, seq=5, t0=T0, fs=FS, ch0=0))
        assert pull.poll(2000)
        frame = decode_stream_frame(pull.recv_multipart(copy=False))
        push.close()
        pull.close()
        ctx.term()
        np.testing.assert_array_equal(frame.data, x)

    def test_int_and_float_header_numbers(self):
        """msgpack may carry t0/fs/scale as ints; they are numbers all the same."""
        frame = decode_stream_frame(parts(header(t0=1_667_260_800, fs=500, scale=1)))
        assert frame.t0 == T0 and frame.fs == FS

    @pytest.mark.parametrize("bad, why", [
        (lambda: parts()[:2], "3 parts"),
        (lambda: parts() + [b""], "3 parts"),
        (lambda: "das", "3 parts"),
        (lambda: [b"dat"] + parts()[1:], "topic"),
        (lambda: [b"das" * 1000] + parts()[1:], "topic"),
        (lambda: [b"das", None, b""], "header must be bytes"),
        (lambda: [b"das", b"\xc1", b""], "msgpack"),
        (lambda: [b"das", msgpack.packb(header()) + b"\x00", bytes(32)], "msgpack"),
        (lambda: [b"das", msgpack.packb(msgpack.ExtType(1, b"x")), b""], "msgpack"),
        (lambda: [b"das", b"\x81\xa1v\xd6\xff" + bytes(4), b""], "msgpack"),       # timestamp ext
        (lambda: [b"das", msgpack.packb([1, 2]), b""], "map"),
        (lambda: [b"das", msgpack.packb(header()) + bytes(2000), b""], "exceeds"),
        (lambda: parts({k: v for k, v in header().items() if k != "scale"}), "missing"),
        (lambda: parts(header(extra=1)), "unknown"),
        (lambda: parts(header(v=2)), "version"),
        (lambda: parts(header(v=True)), "version"),
        (lambda: parts(header(seq=True)), "seq"),
        (lambda: parts(header(seq=-1)), "seq"),
        (lambda: parts(header(seq=1.0)), "seq"),
        (lambda: parts(header(ch0=-1)), "ch0"),
        (lambda: parts(header(ch0=2**31 - 2)), "ch0"),
        (lambda: parts(header(n_ch=0), b""), "n_ch"),
        (lambda: parts(header(n_t=0), b""), "n_t"),
        (lambda: parts(header(n_ch=200_001, n_t=1), b""), "n_ch"),
        (lambda: parts(header(n_t=100_001, n_ch=1), b""), "n_t"),
        (lambda: parts(header(n_t=100_000, n_ch=200_000), b""), "exceeds"),
        (lambda: parts(header(fs=0.0)), "fs"),
        (lambda: parts(header(fs=-500.0)), "fs"),
        (lambda: parts(header(fs=100_001.0)), "fs"),
        (lambda: parts(header(fs=float("nan"))), "fs"),
        (lambda: parts(header(t0=float("inf"))), "t0"),
        (lambda: parts(header(t0="now")), "t0"),
        (lambda: parts(header(scale=0.0)), "scale"),
        (lambda: parts(header(scale=-1.0)), "scale"),
        (lambda: parts(header(scale=float("nan"))), "scale"),
        (lambda: parts(header(dtype="<f8")), "dtype"),
        (lambda: parts(header(dtype=b"<f4")), "header"),            # bin is not allowed in a header
        (lambda: parts(header(), bytes(31)), "payload"),
        (lambda: parts(header(), bytes(33)), "payload"),
        (lambda: parts(header(dtype="<i2"), bytes(32)), "payload"),
    ])
    def test_malformed(self, bad, why):
        with pytest.raises(DecodeError, match=why):
            decode_stream_frame(bad())

    def test_deep_header_value_does_not_recurse(self):
        """A 900-deep list as a header value (fits in 1024 bytes): rejected without Python recursion,
        even from a caller that has little stack left."""
        deep = b"\x89" + b"".join(msgpack.packb(k) + (b"\x91" * 900 + b"\xc0" if k == "seq" else msgpack.packb(v))
                                  for k, v in header().items())
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(len(traceback.extract_stack()) + 80)
        try:
            with pytest.raises(DecodeError, match="seq"):
                decode_stream_frame([b"das", deep, b""])
        finally:
            sys.setrecursionlimit(limit)

    def test_bounds_are_keywords(self):
        with pytest.raises(DecodeError, match="n_ch"):
            decode_stream_frame(parts(), max_channels=3)
        with pytest.raises(DecodeError, match="exceeds"):
            decode_stream_frame(parts(), max_bytes=31)


def frame(seq: int, t0: float, *, n_t: int = 50, fs: float = FS, ch0: int = 0, n_ch: int = 8) -> StreamFrame:
    return StreamFrame(seq=seq, t0=t0, fs=fs, ch0=ch0, n_ch=n_ch, n_t=n_t, data=np.zeros((n_t, n_ch), np.float32))


def run(seq_t0: list[tuple[int, float]], seqr: StreamSequencer | None = None) -> tuple[list[str], StreamSequencer]:
    seqr = seqr or StreamSequencer(fs=FS, ch0=0, n_ch=8)
    return [seqr.accept(frame(s, t)) for s, t in seq_t0], seqr


DT = 50 / FS    # one frame of 50 samples


class TestSequencer:
    def test_consecutive_frames(self):
        verdicts, s = run([(k, T0 + k * DT) for k in range(10)])
        assert verdicts == ["ok"] * 10 and s.stats()["ok"] == 10

    def test_varying_frame_lengths_are_fine(self):
        s = StreamSequencer(fs=FS, ch0=0, n_ch=8)
        t, out = T0, []
        for k, n in enumerate([50, 10, 99, 1]):
            out.append(s.accept(frame(k, t, n_t=n)))
            t += n / FS
        assert out == ["ok"] * 4

    def test_lost_frames_are_a_counted_gap(self):
        verdicts, s = run([(0, T0), (1, T0 + DT), (4, T0 + 4 * DT), (5, T0 + 5 * DT)])
        assert verdicts == ["ok", "ok", "gap", "ok"]
        assert s.stats()["missing_frames"] == 2 and s.stats()["missing_samples"] == 100

    def test_time_jump_with_consecutive_seq_is_a_gap(self):
        verdicts, s = run([(0, T0), (1, T0 + DT + 1.0), (2, T0 + 2 * DT + 1.0)])
        assert verdicts == ["ok", "gap", "ok"]
        assert s.stats()["missing_samples"] == 500 and s.stats()["missing_frames"] == 0

    def test_clock_step_back_with_next_seq_is_a_gap(self):
        verdicts, s = run([(0, T0), (1, T0 - 10.0), (2, T0 - 10.0 + DT)])
        assert verdicts == ["ok", "gap", "ok"] and s.stats()["time_steps_back"] == 1

    def test_sub_sample_jitter_is_not_a_gap(self):
        verdicts, _ = run([(0, T0), (1, T0 + DT + 0.2 / FS), (2, T0 + 2 * DT - 0.2 / FS)])
        assert verdicts == ["ok", "ok", "ok"]

    def test_duplicates_and_old_frames_are_dropped(self):
        verdicts, s = run([(0, T0), (1, T0 + DT), (1, T0 + DT), (0, T0), (2, T0 + 2 * DT)])
        assert verdicts == ["ok", "ok", "duplicate", "old", "ok"]
        assert (s.stats()["duplicate"], s.stats()["old"]) == (1, 1)

    def test_restart_with_time_moving_on(self):
        """An interrogator restarted: seq back to 0, time forward. A gap, then normal again."""
        before = [(k, T0 + k * DT) for k in range(100, 105)]
        after = [(k, T0 + 60.0 + k * DT) for k in range(5)]
        verdicts, s = run(before + after)
        assert verdicts == ["ok"] * 5 + ["gap"] + ["ok"] * 4
        assert s.stats()["restarts"] == 1

    def test_restart_straight_after_the_last_frame(self):
        verdicts, _ = run([(7, T0), (8, T0 + DT), (0, T0 + 2 * DT), (1, T0 + 3 * DT)])
        assert verdicts == ["ok", "ok", "gap", "ok"]

    def test_restart_with_the_clock_behind_is_adopted_after_resync_s(self):
        """Restarted with its clock 1 h behind: dropped as old at first, never for good."""
        s = StreamSequencer(fs=FS, ch0=0, n_ch=8, resync_s=0.5)
        before = [(k, T0 + k * DT) for k in range(100, 103)]
        after = [(k, T0 - 3600.0 + k * DT) for k in range(10)]
        verdicts, _ = run(before + after, s)
        assert verdicts == ["ok"] * 3 + ["old"] * 4 + ["gap"] + ["ok"] * 5
        assert s.stats()["resyncs"] == 1

    def test_a_duplicated_stream_never_resyncs(self):
        """Every frame twice (two publishers): the copies are dropped, the filters never reset."""
        s = StreamSequencer(fs=FS, ch0=0, n_ch=8, resync_s=0.3)
        seq_t0 = [x for k in range(50) for x in [(k, T0 + k * DT)] * 2]
        verdicts, _ = run(seq_t0, s)
        assert verdicts == ["ok", "duplicate"] * 50
        assert s.stats()["gap"] == 0 and s.stats()["resyncs"] == 0

    def test_a_late_copy_of_old_frames_never_resyncs_while_live_frames_arrive(self):
        s = StreamSequencer(fs=FS, ch0=0, n_ch=8, resync_s=0.3)
        seq_t0 = []
        for k in range(20, 60):
            seq_t0 += [(k, T0 + k * DT), (k - 20, T0 + (k - 20) * DT)]     # live, then a replay 20 frames behind
        verdicts, _ = run(seq_t0, s)
        assert verdicts == ["ok", "old"] * 40

    @pytest.mark.parametrize("other", [dict(fs=250.0), dict(ch0=8), dict(n_ch=9)])
    def test_mismatch_is_dropped_without_touching_the_state(self, other):
        s = StreamSequencer(fs=FS, ch0=0, n_ch=8)
        assert s.accept(frame(0, T0)) == "ok"
        assert s.accept(frame(1, T0 + DT, **other)) == "mismatch"
        assert s.accept(frame(1, T0 + DT)) == "ok"
        assert s.stats()["mismatch"] == 1

    def test_first_frame_is_ok_whatever_its_seq(self):
        verdicts, _ = run([(123456, T0)])
        assert verdicts == ["ok"]

    def test_random_streams_never_raise_and_account_for_every_frame(self):
        rng = np.random.default_rng(7)
        s = StreamSequencer(fs=FS, ch0=0, n_ch=8)
        n = 2000
        for _ in range(n):
            verdict = s.accept(frame(int(rng.integers(0, 50)), T0 + float(rng.integers(0, 50)) * DT,
                                     n_ch=int(rng.choice([8, 8, 8, 7]))))
            assert verdict in ("ok", "gap", "duplicate", "old", "mismatch")
        st = s.stats()
        assert sum(st[k] for k in ("ok", "gap", "duplicate", "old", "mismatch")) == n
