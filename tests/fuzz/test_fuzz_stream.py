"""Fuzzing edge.stream.decode_stream_frame: any multipart message decodes to a sound frame or raises
DecodeError; nothing else escapes and nothing is allocated beyond what the payload holds. The
sequencer classifies any frame sequence without raising.

Inputs: headers with random keys and values, valid frames with one header field replaced, payloads
of the wrong length, byte mutations of valid frames, random part lists. ``FUZZ_EXAMPLES`` sets the
examples per test (default 2000).
"""
from __future__ import annotations

import math
import tracemalloc

import msgpack
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.exceptions import DecodeError
from edge.stream import HEADER_KEYS, StreamFrame, StreamSequencer, decode_stream_frame
from sim.emulator import encode_frame

from .conftest import FUZZ, N, count

NAME = "stream.decode_stream_frame"
VERDICTS = ("ok", "gap", "duplicate", "old", "mismatch")




def decode(parts) -> StreamFrame | None:
    """The property: DecodeError, or a frame whose every field is within the contract."""
    try:
        f = decode_stream_frame(parts, max_channels=5000, max_samples=5000, max_bytes=2**20)
    except DecodeError as exc:
        assert str(exc)
        count(NAME, False)
        return None
    assert f.data.shape == (f.n_t, f.n_ch) and f.data.dtype == np.float32
    assert 1 <= f.n_ch <= 5000 and 1 <= f.n_t <= 5000 and f.ch0 >= 0 and f.seq >= 0
    assert 0 < f.fs <= 1e5 and math.isfinite(f.t0)
    count(NAME, True)
    return f


VALID = [encode_frame(np.random.default_rng(i).standard_normal((n_t, n_ch)).astype(np.float32) * 1e-7,
                      seq=i, t0=1.6e9 + i, fs=fs, ch0=ch0, dtype=dtype, scale=1e-10 if dtype == "<i2" else 1.0)
         for i, (n_t, n_ch, fs, ch0, dtype) in enumerate([(4, 3, 500.0, 0, "<f4"), (1, 1, 1.0, 7, "<i2"),
                                                          (10, 20, 2000.0, 100, "<f4"), (3, 5, 100.0, 0, "<i2")])]
ANY = (st.none() | st.booleans() | st.integers(-2**64, 2**64 - 1) | st.floats() | st.text(max_size=6)
       | st.binary(max_size=6) | st.lists(st.integers(), max_size=3) | st.just({}))
SIZES = st.sampled_from([1, 2, 3, 4, 8, 1000, 5000, 5001, 2**31, 2**63 - 1, 0, -1]) | st.integers(0, 64)


def _packb(obj) -> bytes | None:
    try:
        return msgpack.packb(obj, use_bin_type=True)
    except (ValueError, OverflowError, TypeError):
        return None


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(HEADER_KEYS)) | st.text(max_size=5), ANY | SIZES, max_size=12),
       st.integers(0, 3000))
def test_random_headers(header, n_payload):
    raw = _packb(header)
    if raw is not None:
        decode([b"das", raw, bytes(n_payload)])


@FUZZ
@given(st.sampled_from(VALID), st.sampled_from(sorted(HEADER_KEYS) + ["extra"]), ANY | SIZES,
       st.just(0) | st.integers(-9, 9))
def test_one_field_replaced(valid, key, value, delta):
    header = msgpack.unpackb(valid[1])
    header[key] = value
    raw = _packb(header)
    if raw is None:
        return
    payload = valid[2]
    # re-fit the payload to the new header when it can be sized, then knock it off by delta bytes
    try:
        item = {"<f4": 4, "<i2": 2}[header["dtype"]]
        size = header["n_t"] * header["n_ch"] * item
        if 0 <= size <= 2**20:
            payload = bytes(size)
    except (KeyError, TypeError):
        pass
    if delta and len(payload) + delta >= 0:
        payload = payload[:delta] if delta < 0 else payload + bytes(delta)
    decode([valid[0], raw, payload])


@FUZZ
@given(st.sampled_from(VALID), st.integers(0, 2), st.data())
def test_mutated_bytes(valid, which, data):
    parts = list(valid)
    b = bytearray(parts[which])
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, max(0, len(b) - 1)))
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        if op == "flip" and b:
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut":
            del b[i:i + data.draw(st.integers(1, 8))]
        elif op == "insert":
            b[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        elif b:
            b[i] = data.draw(st.sampled_from([0x00, 0xc0, 0xc1, 0xca, 0xcb, 0xcf, 0xd3, 0xdd, 0xde, 0xff]))
    parts[which] = bytes(b)
    decode(parts)


@FUZZ
@given(st.lists(st.binary(max_size=40) | st.sampled_from([b"das", VALID[0][1]]), max_size=5)
       | st.sampled_from([None, "das", b"das", 3, [None, None, None], (b"das", b"", b"")]))
def test_random_parts(parts):
    decode(parts)


@settings(FUZZ, max_examples=max(1, N // 4))
@given(st.sampled_from(VALID), st.sampled_from(sorted(HEADER_KEYS)), st.integers(1, 1000) | st.integers(900, 1000),
       st.sampled_from([b"\x91", b"\x81\xa1k"]))
def test_deep_header_values(valid, target, depth, level):
    """A header value nested up to msgpack's depth limit (a repr of it would recurse past Python's)."""
    header = msgpack.unpackb(valid[1])
    raw = bytearray(b"\x89")
    for key, value in header.items():
        raw += msgpack.packb(key) + (level * depth + b"\xc0" if key == target else msgpack.packb(value))
    decode([b"das", bytes(raw), valid[2]])


@settings(FUZZ, max_examples=max(1, N // 10))
@given(st.sampled_from(VALID), st.integers(1, 2**40), st.integers(1, 2**40))
def test_memory_is_bounded_by_the_payload(valid, n_t, n_ch):
    """Whatever the header claims, decoding allocates no more than the payload it was given (x4+)."""
    header = {**msgpack.unpackb(valid[1]), "n_t": n_t, "n_ch": n_ch}
    tracemalloc.start()
    try:
        decode_stream_frame([b"das", msgpack.packb(header), valid[2]], max_channels=2**41, max_samples=2**41,
                            max_bytes=2**62)
    except DecodeError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak <= 4 * len(valid[2]) + 2**20


@settings(FUZZ, max_examples=max(1, N // 2))
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(-20, 40), st.sampled_from([1, 5, 50]),
                          st.sampled_from([8, 8, 8, 8, 9])), max_size=60), st.floats(0.0, 1.0))
def test_sequencer_never_raises(frames, resync_s):
    """Any order of frames: a known verdict each, and the verdict counts add up."""
    s = StreamSequencer(fs=500.0, ch0=0, n_ch=8, resync_s=resync_s)
    for seq, step, n_t, n_ch in frames:
        frame = StreamFrame(seq=seq, t0=1.6e9 + step * 0.1, fs=500.0, ch0=0, n_ch=n_ch, n_t=n_t,
                            data=np.zeros((n_t, n_ch), np.float32))
        assert s.accept(frame) in VERDICTS
    stats = s.stats()
    assert sum(stats[v] for v in VERDICTS) == len(frames)
    assert all(v >= 0 for v in stats.values())
