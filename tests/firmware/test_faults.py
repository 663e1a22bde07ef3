"""Fault injection over a real pseudo-terminal: the relay output is never "line clear" when it
must be STOP, and falls to STOP within the PERMIT timeout when PERMITs stop.

Thousands of randomized sequences: clean PERMITs mixed with bit flips, truncations, duplicates,
reordering, delayed and replayed frames (old CLEARs among them), garbage floods, stop ALARMs,
silences and operator CLEARs. The bytes go through the kernel's pty; the controller's clock is a fake
one the harness advances, so a sequence of seconds runs in milliseconds.
"""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
import tty

import numpy as np
import pytest

from edge.relay_link import RelayLink
from firmware_py import protocol as p
from firmware_py.controller import ControllerConfig, RelayController
from firmware_py.host import HostHal

KEY = 0x5AFE
TIMEOUT_MS = 500
N_SEQUENCES = int(os.environ.get("FAULT_SEQUENCES", "2000"))


class CountingHal(HostHal):
    """The host HAL, counting the bytes the controller has taken from the pty."""

    received = 0

    def uart_read(self) -> bytes:
        data = super().uart_read()
        self.received += len(data)
        return data


class Harness:
    """The edge's end of a pty (raw), a controller on the other end with a fake clock."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.slave, False)
        self.now = [1000.0]
        self.hal = CountingHal(self.master, clock=lambda: self.now[0])
        self.written = 0
        self.reader = p.FrameReader(KEY)

    def new_controller(self) -> RelayController:
        self.drain()
        self.hal.uart_read()
        self.written = self.hal.received
        self.seq = 0
        self._nonce = None
        self.sent: list[bytes] = []    # frames delivered intact: replaying one is a certain sequence fault
        return RelayController(self.hal, ControllerConfig(key=KEY, permit_timeout_ms=TIMEOUT_MS))

    def frame(self, kind, payload=b"", seq=None, ts_shift_ms=0) -> bytes:
        if seq is None:
            self.seq += 1
            seq = self.seq
        f = p.Frame(kind, seq, int(self.now[0] * 1000) + ts_shift_ms, 1, 2, payload)
        return p.encode_frame(f, KEY)

    def write(self, data: bytes, ctrl: RelayController) -> None:
        for i in range(0, len(data), 1024):
            self.written += os.write(self.slave, data[i:i + 1024])
            # the pty hands bytes over asynchronously: step until the controller has them all
            deadline = time.monotonic() + 2.0
            while self.hal.received < self.written and time.monotonic() < deadline:
                select.select([self.master], [], [], 0.01)
                ctrl.step()
        ctrl.step()

    def advance(self, ms: float, ctrl: RelayController) -> None:
        self.now[0] += ms / 1000
        ctrl.step()

    def nonce(self) -> int | None:
        """The nonce of the controller's latest STATUS (what an edge would put in a CLEAR)."""
        for f in self.reader.feed(self.drain()):
            if f.type == p.STATUS:
                self._nonce = p.parse_status(f.payload)["nonce"]
        return self._nonce

    def drain(self) -> bytes:
        out = b""
        while select.select([self.slave], [], [], 0)[0]:
            try:
                out += os.read(self.slave, 65536)
            except BlockingIOError:
                break
        return out

    def close(self):
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture(scope="module")
def harness():
    h = Harness()
    yield h
    h.close()


ACTIONS = ["permit"] * 8 + ["flip", "truncate", "duplicate", "reorder", "delay", "replay", "garbage", "silence",
                            "alarm", "clear", "clear", "advisory"]


def run_sequence(h: Harness, rng: np.random.Generator, steps: int = 30) -> dict:
    ctrl = h.new_controller()
    must_stop_latched = True          # power-on
    last_clean_permit = None          # fake time of the newest intact, in-order, timely PERMIT
    stats = {"violations": 0, "late_stops": 0, "clear_steps": 0}
    ctrl.step()
    for _ in range(steps):
        action = ACTIONS[rng.integers(len(ACTIONS))]
        if action == "permit":
            h.sent.append(h.frame(p.PERMIT))
            h.write(h.sent[-1], ctrl)
            last_clean_permit = h.now[0]
        elif action == "flip":
            data = bytearray(h.frame(p.PERMIT))
            i = int(rng.integers(len(data) - 1))
            data[i] ^= 1 << int(rng.integers(8))
            h.write(bytes(data), ctrl)
        elif action == "truncate":
            data = h.frame(p.PERMIT)
            h.write(data[: int(rng.integers(1, len(data) - 1))] + b"\x00", ctrl)
        elif action == "duplicate" and h.sent:
            h.write(h.sent[-1], ctrl)
            must_stop_latched = True      # a repeated frame is a sequence fault
        elif action == "reorder":
            a = h.frame(p.PERMIT)
            b = h.frame(p.PERMIT)
            h.write(b + a, ctrl)
            h.sent += [a, b]
            must_stop_latched = True
        elif action == "delay":
            h.sent.append(h.frame(p.PERMIT, ts_shift_ms=-int(rng.integers(400, 5000))))
            h.write(h.sent[-1], ctrl)
        elif action == "replay" and len(h.sent) > 2:
            h.write(h.sent[int(rng.integers(len(h.sent) - 1))], ctrl)   # an old frame, maybe an old CLEAR
            must_stop_latched = True
        elif action == "garbage":
            # line noise, then the framing resyncs at a delimiter (the frame it hit is lost: a deletion)
            h.write(rng.integers(0, 256, int(rng.integers(1, 3000)), dtype=np.uint8).tobytes() + b"\x00", ctrl)
        elif action == "silence":
            h.advance(float(rng.integers(50, 1500)), ctrl)
        elif action == "alarm":
            h.sent.append(h.frame(p.ALARM, p.alarm_payload(p.LEVEL_STOP, "ev", 0, 9)))
            h.write(h.sent[-1], ctrl)
            must_stop_latched = True
        elif action == "advisory":
            h.sent.append(h.frame(p.ALARM, p.alarm_payload(p.LEVEL_ADVISORY, "ev", 0, 9)))
            h.write(h.sent[-1], ctrl)
        elif action == "clear":
            nonce = h.nonce()
            if nonce is not None:
                h.sent.append(h.frame(p.CLEAR, p.clear_payload(nonce)))
                h.write(h.sent[-1], ctrl)
                must_stop_latched = False
                last_clean_permit = None      # the output waits for a PERMIT after the CLEAR
        h.advance(float(rng.integers(0, 120)), ctrl)
        permit_fresh = last_clean_permit is not None and (h.now[0] - last_clean_permit) * 1000 <= TIMEOUT_MS
        stats["clear_steps"] += ctrl.output_clear
        if ctrl.output_clear and (must_stop_latched or not permit_fresh):
            stats["violations"] += 1
        if ctrl.output_clear and last_clean_permit is not None and (h.now[0] - last_clean_permit) * 1000 > TIMEOUT_MS + 1:
            stats["late_stops"] += 1
        # a garbage flood can contain a valid-looking zero-delimited CRC collision only with
        # probability ~2^-32; a flipped bit that is not caught would show up as a violation above
    return stats


def test_randomized_fault_sequences(harness):
    rng = np.random.default_rng(20261125)
    totals = {"violations": 0, "late_stops": 0, "clear_steps": 0}
    t = time.perf_counter()
    for _ in range(N_SEQUENCES):
        for k, v in run_sequence(harness, rng).items():
            totals[k] += v
    print(f"\n{N_SEQUENCES} fault sequences in {time.perf_counter() - t:.1f} s: {totals}")
    assert totals["violations"] == 0 and totals["late_stops"] == 0
    assert totals["clear_steps"] > N_SEQUENCES       # the harness does reach "line clear" often enough


def test_stop_within_timeout_when_permits_stop(harness):
    ctrl = harness.new_controller()
    ctrl.step()
    harness.write(harness.frame(p.CLEAR, p.clear_payload(harness.nonce())), ctrl)
    harness.write(harness.frame(p.PERMIT), ctrl)
    assert ctrl.output_clear
    for _ in range(int(TIMEOUT_MS / 10)):
        harness.advance(10, ctrl)
    assert ctrl.output_clear                       # exactly the timeout: still clear
    harness.advance(10, ctrl)
    assert not ctrl.output_clear and ctrl.latched  # one step later: STOP, latched
    harness.write(harness.frame(p.PERMIT), ctrl)
    assert not ctrl.output_clear                   # PERMITs alone never unlatch



def test_edge_link_against_firmware_process(tmp_path):
    """The edge's RelayLink and ``python -m firmware_py --pty`` in a real subprocess: CLEAR, PERMITs,
    an ALARM acknowledged, a silent edge -> STOP within the timeout; the link never blocks."""
    proc = subprocess.Popen([sys.executable, "-m", "firmware_py", "--pty", "--key", str(KEY), "--permit-timeout-ms",
                             str(TIMEOUT_MS)], stdout=subprocess.PIPE, text=True)
    try:
        pty = json.loads(proc.stdout.readline())["pty"]
        link = RelayLink(pty, key=KEY)
        link.open()
        slowest = 0.0

        def run(seconds, healthy=True):
            nonlocal slowest
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                t = time.perf_counter()
                link.poll(healthy)
                slowest = max(slowest, time.perf_counter() - t)
                time.sleep(0.005)
        run(1.0)
        assert link.clear()
        run(1.0)
        assert link.stats()["controller"]["output"] == "clear"
        t = time.perf_counter()
        link.alarm("stop", "ev-1", (0, 974))
        slowest = max(slowest, time.perf_counter() - t)
        run(1.0)
        s = link.stats()
        assert s["acks"] == 1 and s["alarms_unacked"] == 0 and s["controller"]["output"] == "stop"
        assert s["controller"]["reason"] == "alarm"
        assert link.clear()
        run(1.0)
        assert link.stats()["controller"]["output"] == "clear"
        run(TIMEOUT_MS / 1000 + 0.6, healthy=False)    # an unhealthy edge sends no PERMIT
        assert link.stats()["controller"]["output"] == "stop"
        link.close()
        assert slowest < 0.5
    finally:
        proc.terminate()
        out = proc.communicate(timeout=10)[0]
    lines = [json.loads(x) for x in out.splitlines()]
    first_clear = next(i for i, d in enumerate(lines) if d["relay"] == "clear")
    seen = [(d["relay"], d["reason"]) for d in lines[first_clear:first_clear + 4]]
    assert seen == [("clear", "permits"), ("stop", "alarm"), ("clear", "permits"), ("stop", "permit-timeout")]


def test_dead_controller_never_blocks_the_edge():
    """Nobody reads the other end: the link buffers (bounded), drops PERMITs, keeps ALARMs, never blocks."""
    master, slave = os.openpty()
    try:
        link = RelayLink(os.ttyname(slave), permit_interval_s=0.0)
        link.open()
        slowest = 0.0
        for k in range(5000):
            t = time.perf_counter()
            link.poll(True)
            if k % 500 == 0:
                link.alarm("stop", f"ev-{k}", (0, 1))
            slowest = max(slowest, time.perf_counter() - t)
        s = link.stats()
        assert s["permits_dropped"] > 0 and s["alarms_unacked"] >= 1
        assert s["controller"]["output"] == "unknown"
        assert slowest < 0.5
        link.close()
    finally:
        os.close(master)
        os.close(slave)
