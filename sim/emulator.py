"""Interrogator emulator: publishes a scene as the DAS stream of DESIGN.md over ZeroMQ PUB.

Each frame is a multipart message ``[b"das", header, payload]``; the header is msgpack
``{v, seq, t0, fs, ch0, n_ch, n_t, dtype, scale}``, the payload n_t x n_ch row-major samples, either
"<f4" strain rate or "<i2" counts (physical = counts * scale). ``seq`` increases by one per frame;
rare GPS-time gaps are emulated by skipping frames, exactly as a lost frame would look downstream.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from collections.abc import Callable, Iterator

import msgpack
import numpy as np
import zmq

from edge.exceptions import ConfigError
from sim.scene import Scene

STREAM_VERSION = 1
TOPIC = b"das"


@dataclass(frozen=True)
class StreamConfig:
    """How frames are cut and paced.

    Parameters
    ----------
    frame_s : frame length, s (an interrogator typically sends 0.05-1 s blocks).
    speed : pacing as a multiple of real time; 0 or inf sends as fast as possible.
    dtype : "<f4" or "<i2".
    scale : strain rate per count for "<i2" (default 1e-10 1/s: +-3.3e-6 1/s full scale).
    gap_probability : chance that a frame is dropped (emulated GPS-time gap).
    """

    frame_s: float = 0.1
    speed: float = 1.0
    dtype: str = "<f4"
    scale: float = 1e-10
    gap_probability: float = 0.0

    def __post_init__(self) -> None:
        if self.dtype not in ("<f4", "<i2"):
            raise ConfigError(f"stream dtype must be '<f4' or '<i2', got {self.dtype!r}")
        if not self.frame_s > 0:
            raise ConfigError(f"frame length must be > 0 s, got {self.frame_s!r}")
        if not self.speed >= 0:
            raise ConfigError(f"speed must be >= 0, got {self.speed!r}")
        if not 0 <= self.gap_probability < 1:
            raise ConfigError(f"gap probability must be in [0, 1), got {self.gap_probability!r}")
        if not self.scale > 0:
            raise ConfigError(f"scale must be > 0, got {self.scale!r}")


def encode_frame(block: np.ndarray, *, seq: int, t0: float, fs: float, ch0: int, dtype: str = "<f4",
                 scale: float = 1.0) -> list[bytes]:
    """Multipart frame for one block (n_t, n_ch) of strain rate."""
    if dtype == "<i2":
        counts = np.clip(np.rint(np.nan_to_num(block) / scale), -32768, 32767).astype("<i2")
        payload = counts.tobytes()
    else:
        payload = np.ascontiguousarray(block, dtype="<f4").tobytes()
        scale = 1.0
    header = {"v": STREAM_VERSION, "seq": int(seq), "t0": float(t0), "fs": float(fs), "ch0": int(ch0),
              "n_ch": int(block.shape[1]), "n_t": int(block.shape[0]), "dtype": dtype, "scale": float(scale)}
    return [TOPIC, msgpack.packb(header), payload]


@dataclass
class StreamStats:
    """What a run of the emulator did."""

    frames_sent: int = 0
    frames_dropped: int = 0
    samples_sent: int = 0
    wall_s: float = 0.0
    max_lag_s: float = 0.0

    @property
    def realtime_factor(self) -> float:
        """Data seconds sent per wall second."""
        return 0.0 if self.wall_s <= 0 else self.samples_sent / max(self.wall_s, 1e-9)


def _generated_ahead(chunks: Iterator[tuple[int, np.ndarray]], ahead: int, stop: threading.Event):
    """``chunks`` computed by a thread up to ``ahead`` frames before they are due: a real interrogator
    sends at a steady rate, and a frame that takes the simulator long to compute (a train passing, an
    event's onset) must not hold the next ones back and have them leave in a burst."""
    q: queue.Queue = queue.Queue(maxsize=max(1, ahead))
    done = object()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            for item in chunks:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            failure.append(exc)
        while not stop.is_set():
            try:
                q.put(done, timeout=0.1)
                break
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name="scene-generator", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                if failure:
                    raise failure[0]
                return
            yield item
    finally:
        stop.set()
        thread.join(5.0)


def stream_scene(scene: Scene, socket: zmq.Socket, cfg: StreamConfig, *, max_frames: int | None = None,
                 seed: int = 0, clock: Callable[[], float] = time.monotonic,
                 should_stop: Callable[[], bool] = lambda: False, ahead_s: float = 2.0) -> StreamStats:
    """Publish ``scene`` frame by frame on a bound PUB ``socket``.

    Pacing: frame k is sent at start + k frame_s / speed (no catch-up burst limit: a generator slower
    than real time shows up as growing lag, reported in ``max_lag_s``). Frames are computed by a
    thread up to ``ahead_s`` of data before they are due (0: computed when due).
    """
    n_t = max(1, int(round(cfg.frame_s * scene.fs_hz)))
    rng = np.random.default_rng([seed, 77])
    stats = StreamStats()
    ch0 = int(scene.layout.channel_id[0])
    chunks = scene.iter_chunks(n_t)
    if ahead_s > 0:
        chunks = _generated_ahead(chunks, int(np.ceil(ahead_s / cfg.frame_s)), threading.Event())
    start = clock()
    try:
        for k, (first, block) in enumerate(chunks):
            if (max_frames is not None and k >= max_frames) or should_stop():
                break
            if cfg.speed > 0 and np.isfinite(cfg.speed):
                due = start + k * cfg.frame_s / cfg.speed
                now = clock()
                if now < due:
                    time.sleep(due - now)
                else:
                    stats.max_lag_s = max(stats.max_lag_s, (now - due) * cfg.speed)
            if cfg.gap_probability and rng.random() < cfg.gap_probability:
                stats.frames_dropped += 1
                continue
            frame = encode_frame(block, seq=k, t0=scene.t0 + first / scene.fs_hz, fs=scene.fs_hz, ch0=ch0,
                                 dtype=cfg.dtype, scale=cfg.scale)
            socket.send_multipart(frame, copy=False)
            stats.frames_sent += 1
            stats.samples_sent += block.size
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()     # stops the generator thread
    stats.wall_s = clock() - start
    return stats


def decode_frame(parts: list[bytes]) -> tuple[dict, np.ndarray]:
    """Decode a stream frame into (header, float32 block); raises DecodeError when malformed.

    A minimal reference decoder for tests and tools; the edge has its own hardened one.
    """
    from edge.exceptions import DecodeError
    if len(parts) != 3 or parts[0] != TOPIC:
        raise DecodeError(f"expected 3 parts starting with {TOPIC!r}, got {len(parts)} parts")
    try:
        header = msgpack.unpackb(parts[1], raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several exception types
        raise DecodeError(f"header is not msgpack: {exc}") from exc
    if not isinstance(header, dict):
        raise DecodeError("header is not a map")
    try:
        n_t, n_ch, dtype = int(header["n_t"]), int(header["n_ch"]), str(header["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"header misses or mangles a key: {exc}") from exc
    if dtype not in ("<f4", "<i2") or n_t < 1 or n_ch < 1:
        raise DecodeError(f"bad header {header!r}")
    size = n_t * n_ch * np.dtype(dtype).itemsize
    if len(parts[2]) != size:
        raise DecodeError(f"payload has {len(parts[2])} bytes, header says {size}")
    data = np.frombuffer(parts[2], dtype=dtype).reshape(n_t, n_ch)
    if dtype == "<i2":
        data = data.astype(np.float32) * np.float32(header.get("scale", 1.0))
    return header, data.astype(np.float32, copy=False)
