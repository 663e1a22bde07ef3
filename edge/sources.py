"""Where the daemon's samples come from: the interrogator's ZeroMQ stream, or records replayed as one.

Both hand the main loop a short list per call, never blocking longer than the timeout it is given,
so the relay link and the control socket get their turn at least every few tens of milliseconds.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq

from edge.channels import ChannelGeometry
from edge.config import StreamSettings
from edge.record import iter_record_chunks, read_record_header
from edge.stream import StreamFrame

TOPIC = b"das"


class ZmqStream:
    """Subscriber to the interrogator's PUB socket (DESIGN.md: ``[b"das", header, payload]``)."""

    def __init__(self, settings: StreamSettings, context: zmq.Context | None = None):
        self.settings = settings
        self.socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, settings.rcvhwm)
        # bound every message: a hostile or broken publisher cannot make us allocate gigabytes
        self.socket.setsockopt(zmq.MAXMSGSIZE, 256 * 2**20)
        self.socket.setsockopt(zmq.SUBSCRIBE, TOPIC)
        self.socket.connect(settings.endpoint)

    def receive(self, timeout_s: float) -> list[tuple[list[bytes], float]]:
        """Up to ``max_frames_per_poll`` multipart messages with their receive time (``perf_counter``)."""
        out: list[tuple[list[bytes], float]] = []
        if not self.socket.poll(max(0, int(timeout_s * 1000))):
            return out
        for _ in range(self.settings.max_frames_per_poll):
            try:
                parts = self.socket.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                break
            out.append((parts, time.perf_counter()))
        return out

    def close(self) -> None:
        self.socket.close(0)


@dataclass(frozen=True)
class ReplayFrame:
    """One frame cut from a record, with the record's geometry."""

    frame: StreamFrame
    geometry: ChannelGeometry
    record: Path
    t_recv: float


class ReplayStream:
    """Fiber records played back as a stream: frames of ``frame_s`` at ``speed`` x real time.

    ``speed`` 0 plays as fast as the daemon takes them. Records follow one another; a jump of data
    time between them is a gap to the detector, as it would be on a live stream.
    """

    def __init__(self, paths: list[str | Path], *, frame_s: float = 0.1, speed: float = 1.0):
        self.paths = [Path(p) for p in paths]
        self.frame_s = frame_s
        self.speed = speed
        self.finished = False
        self._frames = self._iter_frames()
        self._start: float | None = None
        self._data_start = 0.0
        self._next: ReplayFrame | None = None

    def _iter_frames(self) -> Iterator[tuple[StreamFrame, ChannelGeometry, Path]]:
        seq = 0
        for path in self.paths:
            header = read_record_header(path)
            header.validate()
            geometry = ChannelGeometry(header.lat, header.lon, header.elev_m)
            n = max(1, int(round(self.frame_s * header.fs)))
            for start, block in iter_record_chunks(path, n):
                yield (StreamFrame(seq=seq, t0=header.t0 + start / header.fs, fs=header.fs, ch0=0,
                                   n_ch=block.shape[1], n_t=block.shape[0], data=np.ascontiguousarray(block)),
                       geometry, path)
                seq += 1

    def receive(self, timeout_s: float) -> list[ReplayFrame]:
        """The frames due by now (waiting at most ``timeout_s`` for the next one)."""
        out: list[ReplayFrame] = []
        deadline = time.perf_counter() + timeout_s
        while not self.finished:
            if self._next is None:
                try:
                    frame, geometry, path = next(self._frames)
                except StopIteration:
                    self.finished = True
                    break
                self._next = ReplayFrame(frame, geometry, path, 0.0)
            due = self._due(self._next.frame)
            now = time.perf_counter()
            if due > now:
                if out or due > deadline:
                    if not out:
                        time.sleep(max(0.0, deadline - now))
                    break
                time.sleep(due - now)
            item = self._next
            self._next = None
            out.append(ReplayFrame(item.frame, item.geometry, item.record, time.perf_counter()))
            if len(out) >= 20:
                break
        return out

    def _due(self, frame: StreamFrame) -> float:
        if self._start is None:
            self._start, self._data_start = time.perf_counter(), frame.t0
        if not self.speed > 0 or not np.isfinite(self.speed):
            return 0.0
        # a jump between records is not waited for: replays play data, not the silence between files
        elapsed = frame.t0 - self._data_start
        due = self._start + elapsed / self.speed
        if due - time.perf_counter() > 2 * self.frame_s / self.speed:
            self._start, self._data_start = time.perf_counter(), frame.t0
            due = self._start
        return due

    def close(self) -> None:
        self._frames.close()
        self.finished = True
