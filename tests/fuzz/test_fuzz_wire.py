"""Fuzzing edge.wire.decode_message: any input decodes to a message that re-encodes, or raises
DecodeError; nothing else escapes, nothing hangs, memory stays within a small multiple of the input.

Inputs: random bytes; random msgpack objects (with and without a plausible envelope); valid messages
of every type generated from the schema itself, then mutated structurally (keys dropped/added, values
swapped for other kinds, NaN/Inf, huge numbers, deep nesting, packed arrays cut or retyped) or byte by
byte. ``FUZZ_EXAMPLES`` sets the examples per test (default 2000).
"""
from __future__ import annotations

import math
import tracemalloc

import msgpack
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.exceptions import DecodeError
from edge.wire import (
    MESSAGE_TYPES,
    SCHEMAS,
    Box,
    Health,
    Int,
    IntList,
    Level,
    Levels,
    Num,
    Packed,
    Segment,
    Str,
    decode_message,
    encode_message,
    message,
)

from .conftest import FUZZ, N, count

# CI replays the same examples every run; bench.fuzz sets FUZZ_RANDOM=1 (and --hypothesis-seed) to explore
NAME = "wire.decode_message"
BOX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"




def decode(data: bytes) -> dict | None:
    """The property: DecodeError, or a message the encoder accepts back unchanged in meaning."""
    try:
        msg = decode_message(data)
    except DecodeError as exc:
        assert str(exc)                               # a reason, always
        count(NAME, False)
        return None
    assert msg["type"] in MESSAGE_TYPES and msg["v"] == 1
    assert decode_message(encode_message(msg)).keys() == msg.keys()
    count(NAME, True)
    return msg


# --- valid messages, generated from edge.wire.SCHEMAS ---------------------------------------------
def _value(spec):
    if isinstance(spec, Num):
        s = st.floats(spec.low, spec.high)
        return st.none() | s if spec.none else s
    if isinstance(spec, Int):
        return st.integers(spec.low, spec.high)
    if isinstance(spec, Str):
        s = st.text(min_size=spec.min_len, max_size=min(spec.max_len, 40)) | st.just("x" * spec.max_len)
        return st.none() | s if spec.none else s
    if isinstance(spec, Box):
        return st.text(BOX_CHARS, min_size=1, max_size=64)
    if isinstance(spec, Level):
        return st.sampled_from(["none", "advisory", "stop"])
    if isinstance(spec, Segment):
        return st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1)).map(sorted)
    if isinstance(spec, IntList):
        return st.lists(st.integers(0, 2**63 - 1), max_size=20)
    if isinstance(spec, Health):
        leaf = (st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
                | st.text(max_size=30))
        keys = st.text(min_size=1, max_size=64)
        return st.dictionaries(keys, leaf | st.dictionaries(keys, leaf, max_size=4), max_size=8)
    if isinstance(spec, Levels):
        return st.lists(st.fixed_dictionaries({"box": _value(Box()), "segment": _value(Segment()),
                                               "level": _value(Level())}), max_size=5)
    raise AssertionError(spec)


def _array(spec: Packed, n: int):
    low = spec.low if spec.low is not None else float(np.float32(-1e30))
    high = spec.high if spec.high is not None else float(np.float32(1e30))
    if spec.dtype == "<i4":
        return st.lists(st.integers(max(int(low), -2**31), min(int(high), 2**31 - 1)), min_size=n, max_size=n)
    width = 32 if spec.dtype == "<f4" else 64
    values = st.floats(low, high, width=width)
    if not spec.finite:
        values = values | st.floats(width=width)        # NaN and Inf too
    return st.lists(values, min_size=n, max_size=n)


@st.composite
def valid_messages(draw, kind=None) -> dict:
    kind = kind or draw(st.sampled_from(MESSAGE_TYPES))
    schema = SCHEMAS[kind]
    keys = {k: draw(_value(spec)) for k, spec in schema.items() if not isinstance(spec, Packed)}
    n = draw(st.integers(0, 12))
    if kind == "hello":
        first = keys["segment"][0] if keys["segment"][0] < 2**31 - 20 else 0
        n = max(n, 1)
        keys["segment"] = [first, first + n - 1]
    if kind == "snippet":
        n = max(n, 1)
        keys["n_t"] = draw(st.integers(1, 8))
    for k, spec in schema.items():
        if isinstance(spec, Packed):
            size = n * keys["n_t"] if (kind, k) == ("snippet", "data") else n
            keys[k] = np.array(draw(_array(spec, size)), dtype=spec.dtype)
    return message(kind, draw(_value(Box())), draw(st.integers(0, 2**63 - 1)),
                   sent=draw(st.floats(-1e11, 1e11)), **keys)


@st.composite
def msgpack_objects(draw, max_leaves=12):
    leaf = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=12)
            | st.binary(max_size=12))
    keys = st.sampled_from(sorted({k for s in SCHEMAS.values() for k in s} | {"v", "type", "box", "seq", "sent",
                                                                                "dtype", "data"})) | st.text(max_size=6)
    return draw(st.recursive(leaf, lambda c: st.lists(c, max_size=4) | st.dictionaries(keys, c, max_size=5),
                             max_leaves=max_leaves))


def _plain(msg: dict) -> dict:
    """A valid message as plain msgpack values (what travels)."""
    return msgpack.unpackb(encode_message(msg), raw=False)


def _pool() -> list[dict]:
    """Valid messages of every type, made once from a seeded generator (hypothesis then spends its
    time on the mutations, not on building valid messages again)."""
    rng = np.random.default_rng(2024)
    pool = []
    for kind in MESSAGE_TYPES:
        for i in range(6):
            n = int(rng.integers(1, 20))
            keys = {}
            for k, spec in SCHEMAS[kind].items():
                keys[k] = _sample(spec, rng, n, edge=i == 0)
            if kind == "hello":
                keys["segment"] = [7, 7 + n - 1]
            if kind == "snippet":
                keys["n_t"] = int(rng.integers(1, 10))
                keys["data"] = rng.standard_normal(n * keys["n_t"]).astype(np.float32)
            pool.append(_plain(message(kind, "box-1", int(rng.integers(0, 2**63)), **keys)))
    return pool


def _sample(spec, rng, n: int, edge: bool):
    """One valid value of ``spec``; ``edge`` takes the bounds (and None where allowed)."""
    if isinstance(spec, Num):
        return (None if spec.none else spec.high) if edge else float(rng.uniform(spec.low, spec.high))
    if isinstance(spec, Int):
        return spec.high if edge else int(rng.integers(spec.low, min(spec.high, spec.low + 1000)))
    if isinstance(spec, Str):
        return (None if spec.none else "s" * spec.max_len) if edge else "ev-" + str(int(rng.integers(1e6)))
    if isinstance(spec, Box):
        return "b" * 64 if edge else "box-2"
    if isinstance(spec, Level):
        return str(rng.choice(["none", "advisory", "stop"]))
    if isinstance(spec, Segment):
        return [0, 2**31 - 1] if edge else [3, 40]
    if isinstance(spec, IntList):
        return [2**63 - 1, 0] if edge else [int(x) for x in rng.integers(0, 1000, n)]
    if isinstance(spec, Health):
        return {"uptime_s": 1.5, "ok": True, "n": -2**63, "s": "x" * 200, "none": None,
                "nested": {"a": 1, "b": 2.5, "c": "c"}} if edge else {"frames": int(rng.integers(1e6))}
    if isinstance(spec, Levels):
        return [{"box": "b1", "segment": [0, 9], "level": "stop"}] * (n if edge else 2)
    if isinstance(spec, Packed):
        if spec.dtype == "<i4":
            return rng.integers(0, 2**31 - 1 if edge else 5000, n).astype(np.int32)
        low = spec.low if spec.low is not None else -1e3
        high = spec.high if spec.high is not None else 1e3
        return rng.uniform(low, high, n)
    raise AssertionError(spec)


POOL = _pool()
LEAF = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=8)
        | st.binary(max_size=8) | st.just([]) | st.just({}))


@st.composite
def mutated(draw) -> dict:
    msg = msgpack.unpackb(msgpack.packb(draw(st.sampled_from(POOL)), use_bin_type=True), raw=False)  # a copy
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["drop", "add", "replace", "nan", "huge", "swap", "nest", "packed", "type",
                                   "bool"]))
        key = draw(st.sampled_from(sorted(msg))) if msg else "v"
        if op == "drop":
            msg.pop(key, None)
        elif op == "add":
            msg[draw(st.text(max_size=8))] = draw(LEAF)
        elif op == "replace":
            msg[key] = draw(LEAF)
        elif op == "nan":
            msg[key] = draw(st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324]))
        elif op == "huge":
            msg[key] = draw(st.sampled_from([2**63, 2**64 - 1, -2**63, 2**31, -1, 10**18]))
        elif op == "swap":
            other = draw(st.sampled_from(sorted(msg)))
            msg[key], msg[other] = msg[other], msg[key]
        elif op == "nest":
            depth = draw(st.integers(1, 300))
            value = msg.get(key)
            for _ in range(depth):
                value = [value] if draw(st.booleans()) else {"k": value}
            msg[key] = value
        elif op == "packed" and isinstance(msg.get(key), dict) and "data" in msg[key]:
            arr = msg[key]
            arr["data"] = draw(st.sampled_from([arr["data"][:-1], arr["data"] + b"\x00", b"", arr["data"] * 3,
                                                b"\xff" * len(arr["data"])]))
            if draw(st.booleans()):
                arr["dtype"] = draw(st.sampled_from(["<f8", "<f4", "<i4", ">f4", "<i8", "|u1", "", "float32"]))
        elif op == "type":
            msg["type"] = draw(st.sampled_from(MESSAGE_TYPES + ("", "ALARM", "alarm ")))
        elif op == "bool":
            msg[key] = draw(st.booleans())
    return msg


def flip(data: bytes, draw) -> bytes:
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "cut", "insert", "truncate", "dup"]))
        i = draw(st.integers(0, max(0, len(b) - 1)))
        if op == "flip" and b:
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and b:
            b[i] = draw(st.sampled_from([0x00, 0xc0, 0xc1, 0xc4, 0xc5, 0xc6, 0xd4, 0xdc, 0xdd, 0xde, 0xdf, 0xff,
                                         0x7f, 0x80, 0x90, 0xa0]))
        elif op == "cut":
            del b[i:i + draw(st.integers(1, 16))]
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "truncate":
            del b[i:]
        elif op == "dup":
            b[i:i] = b[i:i + draw(st.integers(1, 64))]
    return bytes(b)


# --- the properties -------------------------------------------------------------------------------
@settings(FUZZ, max_examples=max(1, N // 2))
@given(valid_messages())
def test_valid_messages_round_trip(msg):
    """Every message the schema allows encodes, and decodes to the same values."""
    out = decode(encode_message(msg))
    assert out is not None
    for key, value in msg.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(out[key].ravel(), value)
        elif key == "sent" or isinstance(value, float):
            assert out[key] == value


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes(data):
    decode(data)


@settings(FUZZ, max_examples=max(1, N // 2))
@given(msgpack_objects(), st.booleans(), st.sampled_from(MESSAGE_TYPES + ("nope",)))
def test_random_msgpack_objects(obj, envelope, kind):
    if envelope and isinstance(obj, dict):
        obj.update({"v": 1, "type": kind, "box": "b-1", "seq": 1, "sent": 1.0})
    decode(msgpack.packb(obj, use_bin_type=True))


@FUZZ
@given(mutated())
def test_mutated_messages(msg):
    try:
        data = msgpack.packb(msg, use_bin_type=True)
    except (ValueError, OverflowError):     # msgpack itself refuses (e.g. nesting beyond its limit)
        return
    decode(data)


ENCODED = [msgpack.packb(m, use_bin_type=True) for m in POOL]


@FUZZ
@given(st.data())
def test_mutated_bytes(data):
    decode(flip(data.draw(st.sampled_from(ENCODED)), data.draw))


@settings(FUZZ, max_examples=max(1, N // 10))
@given(st.data())
def test_memory_is_bounded_by_the_input(data):
    """Peak Python/numpy allocation while decoding stays below 8 x input + 1 MiB (no length claim
    inside a message can make it allocate more than the message holds)."""
    raw = flip(data.draw(st.sampled_from(ENCODED)), data.draw) if data.draw(st.booleans()) \
        else data.draw(st.sampled_from([b"\xdd\xff\xff\xff\xff", b"\xdf\x7f\xff\xff\xff", b"\xc6\xff\xff\xff\xff",
                                        b"\x91" * 5000, b"\x81\xa1a" * 3000]))
    tracemalloc.start()
    try:
        decode(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= 8 * len(raw) + 2**20


# msgpack's C unpacker stops at 1024 levels; 950-1023 is where a repr would pass Python's limit
DEPTHS = st.integers(1, 1100) | st.integers(950, 1030)


@settings(FUZZ, max_examples=max(1, N // 4))
@given(st.sampled_from(POOL), st.data(), DEPTHS, st.sampled_from([b"\x91", b"\x81\xa1k", b"\x92\xc0"]))
def test_deep_values_in_any_field(msg, data, depth, level):
    """A value nested up to past msgpack's own depth limit, in any field (packb cannot make these:
    it stops at 511 levels, so the bytes are written by hand)."""
    target = data.draw(st.sampled_from(sorted(msg)))
    packer = msgpack.Packer(use_bin_type=True)
    raw = bytearray(packer.pack_map_header(len(msg)))
    for key, value in msg.items():
        raw += packer.pack(key)
        raw += level * depth + b"\xc0" if key == target else packer.pack(value)
    decode(bytes(raw))


def test_deep_nesting_and_huge_claims():
    """Explicit worst cases: 1e6-deep arrays/maps, and headers claiming 4 GiB of items."""
    for data in (b"\x91" * 10**6, b"\x81\xa1k" * 300_000 + b"\xc0", b"\xdd\xff\xff\xff\xff" + b"\xc0" * 100,
                 b"\xdf\xff\xff\xff\xff", b"\xc6\xff\xff\xff\xff" + bytes(10), b"\xdb\xff\xff\xff\xff"):
        assert decode(data) is None
