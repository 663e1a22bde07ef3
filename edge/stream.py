"""The interrogator stream (DESIGN.md): hardened decoding of ``[b"das", header, payload]`` frames, and
their continuity from one frame to the next.

A frame's header is msgpack ``{v, seq, t0, fs, ch0, n_ch, n_t, dtype, scale}``, its payload n_t x n_ch
row-major samples, ``"<f4"`` or ``"<i2"``; physical strain rate = sample x ``scale`` (1/s). Every
malformed frame is a :class:`~edge.exceptions.DecodeError` naming what is wrong: nothing else escapes
the decoder, and every length is checked before anything is allocated.

Examples
--------
>>> import numpy as np
>>> from sim.emulator import encode_frame
>>> parts = encode_frame(np.ones((2, 3), np.float32), seq=7, t0=1.6e9, fs=500.0, ch0=0)
>>> frame = decode_stream_frame(parts)
>>> frame.seq, frame.data.shape, StreamSequencer(fs=500.0, ch0=0, n_ch=3).accept(frame)
(7, (2, 3), 'ok')
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import msgpack
import numpy as np

from edge.exceptions import DecodeError

STREAM_VERSION = 1
TOPIC = b"das"
HEADER_KEYS = frozenset({"v", "seq", "t0", "fs", "ch0", "n_ch", "n_t", "dtype", "scale"})
DTYPES = {"<f4": np.dtype("<f4"), "<i2": np.dtype("<i2")}
MAX_HEADER = 1024          # bytes; a real header is ~90
MAX_FS_HZ = 100_000.0
MAX_TIME_S = 1e11          # |t0| bound, POSIX s (year ~5100): anything beyond is a broken clock
SCALE_RANGE = (1e-30, 1e30)   # keeps sample x scale a finite, non-zero float32


@dataclass(frozen=True)
class StreamFrame:
    """One decoded frame.

    Attributes
    ----------
    seq : the interrogator's frame counter.
    t0 : data time of the first sample, POSIX s (GPS).
    fs : sampling rate, Hz.
    ch0 : channel number of the first column; ``n_ch``, ``n_t``: columns and rows of ``data``.
    data : float32 (n_t, n_ch) strain rate, 1/s, owned by the frame (never a view of a socket buffer).
        NaN/Inf samples are passed through: the detector cleans and counts them.
    """

    seq: int
    t0: float
    fs: float
    ch0: int
    n_ch: int
    n_t: int
    data: np.ndarray


def _int(header: dict, key: str, low: int, high: int) -> int:
    v = header[key]
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise DecodeError(f"header {key} must be an integer in [{low}, {high}], got {_short(v)}")
    return v


def _float(header: dict, key: str, low: float, high: float, *, low_open: bool = False) -> float:
    v = header[key]
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise DecodeError(f"header {key} must be a number, got {_short(v)}")
    v = float(v)
    if not math.isfinite(v) or not (low < v if low_open else low <= v) or not v <= high:
        raise DecodeError(f"header {key} must be finite and in {'(' if low_open else '['}{low:g}, {high:g}], "
                          f"got {v!r}")
    return v


def _short(v) -> str:
    # never repr a container: a 1000-deep list would recurse past the interpreter's limit
    if isinstance(v, list | dict):
        return f"a {type(v).__name__} of {len(v)}"
    return repr(v)[:40]


def _buffer(part, name: str) -> memoryview:
    try:
        view = memoryview(part)
    except TypeError:
        raise DecodeError(f"{name} must be bytes, got {type(part).__name__}") from None
    if view.ndim != 1 or view.itemsize != 1:
        try:
            view = view.cast("B")
        except TypeError:
            raise DecodeError(f"{name} is not a contiguous byte buffer") from None
    return view


def decode_stream_frame(parts: list[bytes], *, max_channels: int = 200_000, max_samples: int = 100_000,
                        max_bytes: int = 64 * 2**20) -> StreamFrame:
    """Decode and validate one multipart stream message.

    Parameters
    ----------
    parts : ``[topic, header, payload]`` as received (bytes, bytearray, memoryview or ``zmq.Frame``).
    max_channels, max_samples : bounds on ``n_ch`` and ``n_t``.
    max_bytes : bound on the payload, bytes (checked from the header before anything is allocated).

    Returns
    -------
    StreamFrame
        ``data`` is a fresh float32 array: ``parts`` may be reused or freed by the caller afterwards.

    Raises
    ------
    DecodeError
        For anything that is not exactly one valid frame (the message says what).
    """
    if not isinstance(parts, list | tuple) or len(parts) != 3:
        n = len(parts) if isinstance(parts, list | tuple) else type(parts).__name__
        raise DecodeError(f"expected 3 parts [topic, header, payload], got {n}")
    topic, raw, payload = (_buffer(p, name) for p, name in zip(parts, ("topic", "header", "payload")))
    if topic.nbytes != len(TOPIC) or topic.tobytes() != TOPIC:
        raise DecodeError(f"topic must be {TOPIC!r}, got {topic[:16].tobytes()!r}")
    if raw.nbytes > MAX_HEADER:
        raise DecodeError(f"header of {raw.nbytes} bytes exceeds {MAX_HEADER}")
    try:
        header = msgpack.unpackb(raw, raw=False, strict_map_key=True, max_bin_len=0, max_ext_len=0,
                                 max_array_len=16, max_map_len=16, max_str_len=64)
    except Exception as exc:  # noqa: BLE001 - msgpack raises ValueError, TypeError, ExtraData, StackError...
        raise DecodeError(f"header is not one msgpack object: {type(exc).__name__}: {str(exc)[:80]}") from None
    if not isinstance(header, dict):
        raise DecodeError(f"header must be a map, got {type(header).__name__}")
    if set(header) != HEADER_KEYS:
        keys = set(header)
        missing, extra = sorted(HEADER_KEYS - keys), sorted(map(_short, keys - HEADER_KEYS))
        raise DecodeError(f"header: missing keys {missing}, unknown keys {extra}"[:200])
    v = header["v"]
    if isinstance(v, bool) or not isinstance(v, int) or v != STREAM_VERSION:
        raise DecodeError(f"stream version {_short(v)} is not {STREAM_VERSION}")
    seq = _int(header, "seq", 0, 2**63 - 1)
    ch0 = _int(header, "ch0", 0, 2**31 - 1)
    n_ch = _int(header, "n_ch", 1, max_channels)
    n_t = _int(header, "n_t", 1, max_samples)
    if ch0 + n_ch > 2**31:
        raise DecodeError(f"channels ch0={ch0} + n_ch={n_ch} exceed 2**31")
    t0 = _float(header, "t0", -MAX_TIME_S, MAX_TIME_S)
    fs = _float(header, "fs", 0.0, MAX_FS_HZ, low_open=True)
    scale = _float(header, "scale", *SCALE_RANGE)
    dtype = DTYPES.get(header["dtype"]) if isinstance(header["dtype"], str) else None
    if dtype is None:
        raise DecodeError(f"header dtype must be '<f4' or '<i2', got {_short(header['dtype'])}")
    size = n_t * n_ch * dtype.itemsize
    if size > max_bytes:
        raise DecodeError(f"frame of {size} bytes exceeds {max_bytes}")
    if payload.nbytes != size:
        raise DecodeError(f"payload has {payload.nbytes} bytes, header says {n_t} x {n_ch} x {dtype.itemsize} = {size}")
    # astype copies: the frame owns its samples, whatever zmq later does with the message buffer
    data = np.frombuffer(payload, dtype=dtype).reshape(n_t, n_ch).astype(np.float32)
    if scale != 1.0:
        data *= np.float32(scale)
    return StreamFrame(seq=seq, t0=t0, fs=fs, ch0=ch0, n_ch=n_ch, n_t=n_t, data=data)


class StreamSequencer:
    """Continuity of one box's stream: gaps, duplicates, restarts and foreign frames.

    Verdicts of :meth:`accept`: ``"ok"`` (the next frame), ``"gap"`` (process it, but data are missing
    or time jumped: the caller resets its filters), ``"duplicate"``, ``"old"`` and ``"mismatch"``
    (drop it). The rules, in order:

    1. fs, ch0 or n_ch differ from the configuration: ``mismatch`` (the state is not touched).
    2. ``seq`` moves forward: ``ok`` when it is the next one and ``t0`` follows on within half a
       sample, else ``gap`` (missing frames and samples counted; a step back in time is counted too).
    3. ``seq`` does not move forward but ``t0`` does (not before the end of the last frame): the
       interrogator restarted its numbering; ``gap``.
    4. Neither moves forward: ``duplicate`` (same seq and t0 as the last frame) or ``old``.
    5. A restarted interrogator whose clock went *back* looks old by rule 4. If frames that follow
       on from one another keep arriving for ``resync_s`` of data while no frame is accepted, their
       timeline is adopted (``gap``, a resync): the edge is never deaf for good. A duplicated stream
       does not trigger this, as its originals keep being accepted in between.

    Parameters
    ----------
    fs : configured sampling rate, Hz; ``ch0``, ``n_ch``: configured first channel and channel count.
    resync_s : data seconds of a consistent "old" timeline, with nothing accepted meanwhile, after
        which it is adopted.
    """

    def __init__(self, *, fs: float, ch0: int, n_ch: int, resync_s: float = 2.0):
        self.fs, self.ch0, self.n_ch = float(fs), int(ch0), int(n_ch)
        self.resync_s = float(resync_s)
        self._tol = 0.5 / self.fs
        self._seq: int | None = None
        self._t0 = 0.0
        self._t_end = 0.0
        self._cand: tuple[int, float] | None = None   # (seq, t_end) of the last frame of an "old" run
        self._cand_s = 0.0
        self._cand_frames = 0
        self.counts = {"ok": 0, "gap": 0, "duplicate": 0, "old": 0, "mismatch": 0, "missing_frames": 0,
                       "missing_samples": 0, "restarts": 0, "time_steps_back": 0, "resyncs": 0}

    def accept(self, frame: StreamFrame) -> str:
        """Classify ``frame`` against the frames before it (see the class docstring); never raises."""
        if (frame.ch0 != self.ch0 or frame.n_ch != self.n_ch
                or not abs(frame.fs - self.fs) <= 1e-6 * self.fs):
            return self._count("mismatch")
        if self._seq is None:
            return self._adopt(frame, "ok")
        dt = frame.t0 - self._t_end          # > 0: samples missing; < 0: overlap or earlier data
        if frame.seq > self._seq:
            if frame.seq == self._seq + 1 and abs(dt) <= self._tol:
                return self._adopt(frame, "ok")
            self.counts["missing_frames"] += frame.seq - self._seq - 1
            self._count_time_jump(dt)
            return self._adopt(frame, "gap")
        if dt >= -self._tol:
            self.counts["restarts"] += 1
            self._count_time_jump(dt)
            return self._adopt(frame, "gap")
        if self._continues_candidate(frame):
            self._cand_s += frame.n_t / self.fs
            self._cand_frames += 1
        else:
            self._cand_s, self._cand_frames = frame.n_t / self.fs, 1
        self._cand = (frame.seq, frame.t0 + frame.n_t / self.fs)
        if self._cand_frames >= 2 and self._cand_s >= self.resync_s:
            self.counts["resyncs"] += 1
            self.counts["restarts"] += 1
            return self._adopt(frame, "gap")
        same = frame.seq == self._seq and abs(frame.t0 - self._t0) <= self._tol
        return self._count("duplicate" if same else "old")

    def stats(self) -> dict:
        """Counters of every verdict plus missing frames/samples, restarts, steps back and resyncs."""
        return dict(self.counts)

    def _continues_candidate(self, frame: StreamFrame) -> bool:
        if self._cand is None:
            return False
        seq, t_end = self._cand
        return frame.seq == seq + 1 and abs(frame.t0 - t_end) <= self._tol

    def _count_time_jump(self, dt: float) -> None:
        if dt > self._tol:
            self.counts["missing_samples"] += round(dt * self.fs)
        elif dt < -self._tol:
            self.counts["time_steps_back"] += 1

    def _adopt(self, frame: StreamFrame, verdict: str) -> str:
        self._seq, self._t0 = frame.seq, frame.t0
        self._t_end = frame.t0 + frame.n_t / self.fs
        self._cand, self._cand_s, self._cand_frames = None, 0.0, 0
        return self._count(verdict)

    def _count(self, verdict: str) -> str:
        self.counts[verdict] += 1
        return verdict
