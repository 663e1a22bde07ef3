"""The edge's side of the serial link to the relay controller (pyserial; frames of firmware_py.protocol).

Single-threaded and never blocking, driven by the daemon's main loop: :meth:`RelayLink.poll` reads
ACK and STATUS frames, sends a PERMIT when one is due *and* the edge is healthy, and resends every
unacknowledged ALARM; :meth:`RelayLink.alarm` writes an ALARM at once (the train-stop path). Writes
that the port cannot take now (a controller that does not read) wait in a bounded buffer; PERMITs are
dropped first, ALARMs never (they are retried until acknowledged in any case).
"""
from __future__ import annotations

import os
import time

import serial

from edge.exceptions import ConfigError
from firmware_py import protocol as p

LEVELS = {"none": p.LEVEL_NONE, "advisory": p.LEVEL_ADVISORY, "stop": p.LEVEL_STOP}
MAX_BUFFER = 64 * 1024
UNKNOWN_AFTER_S = 2.0


class RelayLink:
    """Serial link to the relay controller (see the module docstring)."""

    def __init__(self, port: str, *, edge_id: int = 1, controller_id: int = 2, key: int = 0,
                 baudrate: int = 115200, permit_interval_s: float = 0.1, alarm_retry_s: float = 0.2,
                 clock=time.monotonic):
        self.port = port
        self.edge_id, self.controller_id, self.key = edge_id, controller_id, key
        self.baudrate = baudrate
        self.permit_interval_s = permit_interval_s
        self.alarm_retry_s = alarm_retry_s
        self.clock = clock
        self.serial: serial.Serial | None = None
        self.reader = p.FrameReader(key)
        self._seq = 0
        self._next_permit = 0.0
        self._unacked: dict[int, tuple[bytes, float, tuple]] = {}   # seq -> (frame bytes, sent at, alarm)
        self._out = bytearray()
        self._controller_seq: int | None = None
        self.status: dict | None = None
        self._status_at: float | None = None
        self.counts = {"frames_sent": 0, "permits_sent": 0, "permits_dropped": 0, "alarms_sent": 0,
                       "alarm_retries": 0, "acks": 0, "rx_frames": 0, "rx_out_of_order": 0, "write_errors": 0,
                       "clears_sent": 0}

    def open(self) -> None:
        try:
            self.serial = serial.Serial(self.port, self.baudrate, timeout=0, write_timeout=0)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ConfigError(f"cannot open the relay controller's port {self.port}: {exc}") from exc
        # pyserial set the line up (raw, baud rate); I/O goes straight to the descriptor, non-blocking:
        # pyserial's write loops on a full buffer even with write_timeout=0 (found by the dead-controller test)
        self._fd = self.serial.fd
        os.set_blocking(self._fd, False)

    def close(self) -> None:
        if self.serial is not None:
            self.serial.close()
            self.serial = None

    # --- main loop ------------------------------------------------------------------------------
    def poll(self, healthy: bool) -> None:
        now = self.clock()
        self._read(now)
        if healthy and now >= self._next_permit:
            self._next_permit = now + self.permit_interval_s
            if len(self._out) > 1024:
                self.counts["permits_dropped"] += 1    # the controller is not reading: no PERMIT pile-up
            else:
                self._send(p.PERMIT, b"")
                self.counts["permits_sent"] += 1
        for seq, (_, sent_at, alarm) in list(self._unacked.items()):
            if now - sent_at >= self.alarm_retry_s:
                del self._unacked[seq]
                self._alarm(*alarm)
                self.counts["alarm_retries"] += 1
        self._flush()

    def alarm(self, level: str, event: str, segment: tuple[int, int]) -> int:
        """Write an ALARM now; it is resent (with a fresh seq) until the controller acknowledges it."""
        seq = self._alarm(LEVELS[level], event, segment)
        self.counts["alarms_sent"] += 1
        return seq

    def clear(self) -> bool:
        """Operator CLEAR with the nonce of the controller's latest STATUS; False without one."""
        if self.status is None:
            return False
        self._send(p.CLEAR, p.clear_payload(self.status["nonce"]))
        self.counts["clears_sent"] += 1
        self._flush()
        return True

    def stats(self) -> dict:
        age = None if self._status_at is None else self.clock() - self._status_at
        output = "unknown" if age is None or age > UNKNOWN_AFTER_S else self.status["output"]
        return {**self.counts, "alarms_unacked": len(self._unacked), "rx_rejected": dict(self.reader.rejected),
                "buffered_bytes": len(self._out),
                "controller": {"output": output, "reason": None if self.status is None else self.status["reason"],
                               "age_s": None if age is None else round(age, 3)}}

    # --- internals ------------------------------------------------------------------------------
    def _alarm(self, level: int, event: str, segment) -> int:
        seq = self._send(p.ALARM, p.alarm_payload(level, event, int(segment[0]), int(segment[1])), urgent=True)
        self._unacked[seq] = (b"", self.clock(), (level, event, segment))
        return seq

    def _send(self, type_: int, payload: bytes, urgent: bool = False) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        frame = p.Frame(type_, self._seq, int(self.clock() * 1000), self.edge_id, self.controller_id, payload)
        data = p.encode_frame(frame, self.key)
        if urgent or len(self._out) + len(data) <= MAX_BUFFER:
            self._out += data
            self.counts["frames_sent"] += 1
        self._flush()
        return self._seq

    def _flush(self) -> None:
        if not self._out or self.serial is None:
            return
        try:
            n = os.write(self._fd, self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.counts["write_errors"] += 1
            return
        del self._out[:n]

    def _read(self, now: float) -> None:
        if self.serial is None:
            return
        try:
            data = os.read(self._fd, 4096)
        except (BlockingIOError, InterruptedError, OSError):
            return
        for f in self.reader.feed(data):
            if f.src != self.controller_id or f.dst != self.edge_id:
                continue
            # a restarted controller counts from 1 again: low numbers start a new baseline
            if self._controller_seq is not None and 16 < f.seq <= self._controller_seq:
                self.counts["rx_out_of_order"] += 1
                continue
            self._controller_seq = f.seq
            self.counts["rx_frames"] += 1
            if f.type == p.ACK:
                acked, _ = p.parse_ack(f.payload)
                if self._unacked.pop(acked, None) is not None:
                    self.counts["acks"] += 1
            elif f.type == p.STATUS:
                self.status = p.parse_status(f.payload)
                self._status_at = now
