"""Wire messages between edge and central (DESIGN.md): msgpack maps, validated both ways.

Every message carries ``v`` (schema version, 1), ``type``, ``box`` (1-64 of ``[A-Za-z0-9_.-]``),
``seq`` (per box, 0 <= seq < 2**63) and ``sent`` (wall time, POSIX s), plus the keys of its type
(:data:`SCHEMAS`). The decoder accepts exactly that and turns anything else -- oversize, not msgpack,
trailing bytes, ExtType, not a map, unknown type or version, missing or unknown keys, wrong kinds (a
bool is not an int), NaN/Inf where a finite number is needed, out of range -- into a
:class:`~edge.exceptions.DecodeError` that says why. Arrays travel as ``{"dtype": ..., "data": bin}``
with the dtype each key requires and come out as read-only numpy arrays.

Encoding validates with the same decoder, so what an edge sends is what central accepts. It
normalises what Python code naturally holds: numpy scalars and arrays, tuples, and -- for keys that
admit ``None`` ("unknown") -- a NaN or infinite float, which becomes ``None``: ``err_h_km = inf`` from
an unresolved location means "unbounded", not a number to ship. No other value is ever altered.

Examples
--------
>>> raw = encode_message(message("ack", "kyushu-01", 5, acked=[1, 2]))
>>> decode_message(raw)["acked"]
[1, 2]
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

import msgpack
import numpy as np

from edge.exceptions import DecodeError

VERSION = 1
LEVELS = ("none", "advisory", "stop")
MAX_MESSAGE = 16 * 2**20          # bytes, the default bound of decode_message
MAX_TIME_S = 1e11                 # |time| bound, POSIX s (year ~5100): beyond is a broken clock
_BOX = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


class EncodeError(DecodeError, ValueError):
    """A message to send fails validation: a bug of the sender (catchable as either base)."""


def _short(v) -> str:
    """A bounded description of any decoded value (repr of a deep or huge container could recurse
    past the interpreter's limit or build megabytes)."""
    if isinstance(v, list | dict):
        return f"a {type(v).__name__} of {len(v)}"
    if isinstance(v, str | bytes):
        return repr(v[:40]) + ("..." if len(v) > 40 else "")
    return repr(v)[:48]


def _bad(key: str, want: str, got) -> DecodeError:
    return DecodeError(f"{key} must be {want}, got {_short(got)}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# --- field kinds: check(key, value) -> value as returned by the decoder ---------------------------
@dataclass(frozen=True)
class Num:
    """A finite float in [low, high] (ints accepted); ``None`` too when ``none``."""
    low: float = -1e12
    high: float = 1e12
    none: bool = False

    def check(self, key, v):
        if v is None and self.none:
            return None
        if not (_is_int(v) or isinstance(v, float)) or not self.low <= v <= self.high:  # NaN fails too
            raise _bad(key, f"a finite number in [{self.low:g}, {self.high:g}]" + (" or None" if self.none else ""), v)
        return float(v)


@dataclass(frozen=True)
class Int:
    """An int (not a bool) in [low, high]."""
    low: int = 0
    high: int = 2**63 - 1

    def check(self, key, v):
        if not _is_int(v) or not self.low <= v <= self.high:
            raise _bad(key, f"an integer in [{self.low}, {self.high}]", v)
        return v


@dataclass(frozen=True)
class Str:
    """A str of min_len..max_len characters; ``None`` too when ``none``."""
    max_len: int
    min_len: int = 1
    none: bool = False

    def check(self, key, v):
        if v is None and self.none:
            return None
        if not isinstance(v, str) or not self.min_len <= len(v) <= self.max_len:
            raise _bad(key, f"a string of {self.min_len}-{self.max_len} characters", v)
        return v


class Box:
    """A box id: 1-64 of ``[A-Za-z0-9_.-]`` (safe in file names, logs and ZeroMQ routing ids)."""

    def check(self, key, v):
        if not isinstance(v, str) or not _BOX.fullmatch(v):
            raise _bad(key, "a box id of 1-64 characters of [A-Za-z0-9_.-]", v)
        return v


class Level:
    """An alarm level of :data:`LEVELS`."""

    def check(self, key, v):
        if not isinstance(v, str) or v not in LEVELS:
            raise _bad(key, f"one of {LEVELS}", v)
        return v


class Segment:
    """``[first, last]`` channel numbers, 0 <= first <= last < 2**31."""

    def check(self, key, v):
        if (not isinstance(v, list) or len(v) != 2 or not all(map(_is_int, v))
                or not 0 <= v[0] <= v[1] < 2**31):
            raise _bad(key, "[first, last] channel numbers, 0 <= first <= last < 2**31", v)
        return list(v)


@dataclass(frozen=True)
class Packed:
    """``{"dtype": dtype, "data": bin}`` of at most ``max_n`` items; ``finite`` forbids NaN/Inf;
    ``low``/``high`` bound every value."""
    dtype: str
    max_n: int
    finite: bool = True
    low: float | None = None
    high: float | None = None

    def check(self, key, v):
        if not isinstance(v, dict) or set(v) != {"dtype", "data"}:
            raise _bad(key, f'a packed array {{"dtype": "{self.dtype}", "data": bin}}', v)
        if v["dtype"] != self.dtype:
            raise _bad(f"{key} dtype", repr(self.dtype), v["dtype"])
        raw, size = v["data"], np.dtype(self.dtype).itemsize
        if not isinstance(raw, bytes) or len(raw) % size or len(raw) // size > self.max_n:
            n = len(raw) if isinstance(raw, bytes) else type(raw).__name__
            raise DecodeError(f"{key}: data must be bin of a multiple of {size} bytes, at most {self.max_n} "
                              f"items, got {n}")
        # a view of the immutable bytes object msgpack just made: nothing else can change it
        a = np.frombuffer(raw, dtype=self.dtype)
        if a.size and (self.finite and a.dtype.kind == "f" and not np.isfinite(a).all()
                       or self.low is not None and not a.min() >= self.low
                       or self.high is not None and not a.max() <= self.high):
            raise DecodeError(f"{key}: values must be {'finite and ' if self.finite else ''}"
                              f"in [{self.low}, {self.high}]")
        return a


@dataclass(frozen=True)
class IntList:
    """A list of at most ``max_n`` sequence numbers."""
    max_n: int

    def check(self, key, v):
        if (not isinstance(v, list) or len(v) > self.max_n
                or not all(_is_int(x) and 0 <= x < 2**63 for x in v)):
            raise _bad(key, f"a list of at most {self.max_n} integers in [0, 2**63)", v)
        return v


MAX_HEALTH = 64


class Health:
    """A map of at most 64 figures: str key (1-64 chars) -> int (int64), finite float, str (<= 200),
    bool, None, or -- one level deep -- a map of the same."""

    def check(self, key, v, depth: int = 0):
        if not isinstance(v, dict) or len(v) > MAX_HEALTH:
            raise _bad(key, f"a map of at most {MAX_HEALTH} figures", v)
        out = {}
        for k, x in v.items():
            if not isinstance(k, str) or not 1 <= len(k) <= 64:
                raise _bad(f"{key} key", "a string of 1-64 characters", k)
            if isinstance(x, dict) and depth == 0:
                out[k] = self.check(f"{key}.{k}", x, 1)
            elif (x is None or isinstance(x, bool) or _is_int(x) and -2**63 <= x < 2**63
                  or isinstance(x, float) and math.isfinite(x) or isinstance(x, str) and len(x) <= 200):
                out[k] = x
            else:
                raise _bad(f"{key}.{k}", "None, bool, int64, finite float, str <= 200 or one nested map", x)
        return out


@dataclass(frozen=True)
class Levels:
    """An alert's per-segment levels: at most ``max_n`` maps ``{box, segment, level}``."""
    max_n: int

    def check(self, key, v):
        if not isinstance(v, list) or len(v) > self.max_n:
            raise _bad(key, f"a list of at most {self.max_n} segment levels", v)
        out = []
        for i, item in enumerate(v):
            if not isinstance(item, dict) or set(item) != {"box", "segment", "level"}:
                raise _bad(f"{key}[{i}]", "a map {box, segment, level}", item)
            out.append({"box": Box().check(f"{key}[{i}].box", item["box"]),
                        "segment": Segment().check(f"{key}[{i}].segment", item["segment"]),
                        "level": Level().check(f"{key}[{i}].level", item["level"])})
        return out


# --- the schema: defaults as data, one table for both directions --------------------------------
TIME = Num(-MAX_TIME_S, MAX_TIME_S)
ELAPSED = Num(-1e6, 1e6)
EVENT = Str(100)
LAT, LON, DEPTH = Num(-90, 90), Num(-180, 180), Num(-10, 1000)
ERR = Num(0, 1e6, none=True)
MAG = Num(-3, 10, none=True)
FS = Num(1e-9, 1e5)
MAX_CHANNELS, MAX_PICKS, MAX_SNIPPET_BYTES = 200_000, 100_000, 8 * 2**20
COMMON = {"v": Int(VERSION, VERSION), "type": Str(16), "box": Box(), "seq": Int(0, 2**63 - 1), "sent": TIME}
SCHEMAS: dict[str, dict] = {
    "hello": {"software": Str(200), "segment": Segment(), "fs": FS,
              "lat": Packed("<f8", MAX_CHANNELS, low=-90, high=90),
              "lon": Packed("<f8", MAX_CHANNELS, low=-180, high=180),
              "elev_m": Packed("<f8", MAX_CHANNELS, low=-1e4, high=1e4)},
    "heartbeat": {"health": Health()},
    "picks": {"event": Str(100, none=True), "t_ref": TIME, "channel": Packed("<i4", MAX_PICKS, low=0),
              "dt": Packed("<f4", MAX_PICKS), "snr": Packed("<f4", MAX_PICKS), "amp": Packed("<f4", MAX_PICKS)},
    "location": {"event": EVENT, "origin_time": TIME, "lat": LAT, "lon": LON, "depth_km": DEPTH,
                 "err_h_km": ERR, "err_z_km": ERR, "misfit": Num(0, 1e6), "n_picks": Int(0, 10**7),
                 "curvature_a": Num(none=True), "mag": MAG, "update": Int(1, 10**9), "data_time": TIME,
                 "since_first_pick_s": ELAPSED},
    "alarm": {"event": EVENT, "level": Level(), "reason": Str(500, min_len=0), "segment": Segment(),
              "data_time": TIME, "since_first_pick_s": ELAPSED, "issued": TIME},
    "snippet": {"event": EVENT, "t0": TIME, "fs": FS, "channel": Packed("<i4", MAX_CHANNELS, low=0),
                "n_t": Int(1, MAX_SNIPPET_BYTES // 4),
                "data": Packed("<f4", MAX_SNIPPET_BYTES // 4, finite=False)},   # raw samples may be NaN
    "ack": {"acked": IntList(10_000)},
    "alert": {"event": EVENT, "origin_time": TIME, "lat": LAT, "lon": LON, "depth_km": DEPTH, "mag": MAG,
              "err_h_km": ERR, "levels": Levels(1000)},
}
MESSAGE_TYPES = tuple(SCHEMAS)
EQUAL_LENGTHS = {"hello": ("lat", "lon", "elev_m"), "picks": ("channel", "dt", "snr", "amp")}


def _keys(msg: dict) -> dict:
    """The schema of ``msg``'s type, after checking its key set is exactly that schema's."""
    kind = msg.get("type")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise DecodeError(f"unknown message type {_short(kind)}")
    schema = {**COMMON, **SCHEMAS[kind]}
    if msg.keys() != schema.keys():
        missing = sorted(schema.keys() - msg.keys())
        extra = sorted(_short(k) for k in msg.keys() - schema.keys())
        raise DecodeError(f"{kind}: missing keys {missing}, unknown keys {extra}"[:300])
    return schema


def _validate(msg: dict) -> dict:
    schema = _keys(msg)
    kind = msg["type"]
    out = {}
    for key, spec in schema.items():
        try:
            out[key] = spec.check(key, msg[key])
        except DecodeError as exc:
            raise DecodeError(f"{kind}: {exc}") from None
    lengths = {len(out[k]) for k in EQUAL_LENGTHS.get(kind, ())}
    if len(lengths) > 1:
        raise DecodeError(f"{kind}: arrays {EQUAL_LENGTHS[kind]} differ in length")
    if kind == "hello" and len(out["lat"]) != out["segment"][1] - out["segment"][0] + 1:
        raise DecodeError(f"hello: {len(out['lat'])} coordinates for segment {out['segment']} "
                          "(one per channel is required)")
    if kind == "snippet":
        n_ch, n_t = len(out["channel"]), out["n_t"]
        if n_ch == 0 or out["data"].size != n_ch * n_t:
            raise DecodeError(f"snippet: data holds {out['data'].size} samples, not n_ch {n_ch} x n_t {n_t}")
        out["data"] = out["data"].reshape(n_ch, n_t)
    return out


def decode_message(data: bytes, *, max_bytes: int = MAX_MESSAGE) -> dict:
    """Unpack and validate one message.

    Parameters
    ----------
    data : the message (bytes, bytearray or memoryview).
    max_bytes : messages longer than this are rejected before unpacking.

    Returns
    -------
    dict
        Exactly the keys of the type's schema; floats as ``float``, packed arrays as read-only numpy
        arrays of their wire dtype (``snippet`` ``data`` shaped (n_ch, n_t)).

    Raises
    ------
    DecodeError
        For anything that is not one valid message; the message says why.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"message must be bytes, got {type(data).__name__}")
    n = memoryview(data).nbytes
    if n > max_bytes:
        raise DecodeError(f"message of {n} bytes exceeds {max_bytes}")
    try:
        # max_ext_len=0 rejects every ExtType, the timestamp extension included
        msg = msgpack.unpackb(data, raw=False, strict_map_key=True, max_ext_len=0)
    except Exception as exc:  # noqa: BLE001 - msgpack raises ValueError, TypeError, StackError, ExtraData...
        raise DecodeError(f"not one msgpack object: {type(exc).__name__}: {str(exc)[:80]}") from None
    if not isinstance(msg, dict):
        raise DecodeError(f"message must be a map, got {type(msg).__name__}")
    return _validate(msg)


def pack_array(a, dtype: str) -> dict:
    """An array as it travels: ``{"dtype": dtype, "data": bytes}`` (C order, flattened).

    Integer dtypes take only integer input that fits (no silent truncation); float dtypes take any
    real numbers (float64 -> float32 rounds, as intended for ``dt``, ``snr``, ``amp``).
    """
    target = np.dtype(dtype)
    a = np.asarray(a)
    if a.dtype.kind not in "iuf" or target.kind == "i" and a.dtype.kind == "f" and a.size:
        raise EncodeError(f"cannot pack a {a.dtype} array as {dtype}")
    if target.kind == "i" and a.size:
        info = np.iinfo(target)
        if a.min() < info.min or a.max() > info.max:
            raise EncodeError(f"values outside the range of {dtype}")
    return {"dtype": dtype, "data": np.ascontiguousarray(a, dtype=target).tobytes()}


def _plain(v, none_ok: bool = False):
    """Python values msgpack packs: numpy scalars/arrays, tuples; NaN/Inf -> None where allowed."""
    if isinstance(v, np.generic):
        v = v.item()
    elif isinstance(v, np.ndarray):
        v = v.tolist()
    if isinstance(v, float) and not math.isfinite(v) and none_ok:
        return None
    if isinstance(v, dict):
        return {k: _plain(x, none_ok) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    return v


def encode_message(msg: dict) -> bytes:
    """Validate and pack one message to send.

    Parameters
    ----------
    msg : all keys of the type's schema (see :func:`message`); numpy arrays or :func:`pack_array`
        dicts for packed keys, numpy scalars anywhere a number goes.

    Raises
    ------
    EncodeError
        (a DecodeError and a ValueError) when ``msg`` is not a valid message: a bug of the sender.
    """
    if not isinstance(msg, dict):
        raise EncodeError(f"message must be a dict, got {type(msg).__name__}")
    try:
        schema = _keys(msg)
        out = {}
        for key, spec in schema.items():
            v = msg[key]
            if isinstance(spec, Packed) and not isinstance(v, dict):
                v = pack_array(v, spec.dtype)
            elif not isinstance(spec, Packed):
                v = _plain(v, none_ok=getattr(spec, "none", False) or isinstance(spec, Health))
            out[key] = v
        packed = msgpack.packb(out, use_bin_type=True)
        if len(packed) > MAX_MESSAGE:
            raise EncodeError(f"{msg['type']} message of {len(packed)} bytes exceeds {MAX_MESSAGE}")
        _validate(msgpack.unpackb(packed, raw=False, strict_map_key=True, max_ext_len=0))
    except EncodeError:
        raise
    except (DecodeError, TypeError, ValueError, OverflowError, RecursionError) as exc:
        raise EncodeError(f"cannot send {_short(msg.get('type'))} message: {exc}") from None
    return packed


def message(type: str, box: str, seq: int, **keys) -> dict:
    """A message dict with ``v`` and ``sent`` (now, unless given) filled in; validated by
    :func:`encode_message`."""
    return {"v": VERSION, "type": type, "box": box, "seq": seq, "sent": keys.pop("sent", time.time()), **keys}
