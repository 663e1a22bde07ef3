"""``python -m edge run`` as a real process under a stand-in for systemd: a datagram socket bound at
``$NOTIFY_SOCKET`` receives READY, WATCHDOG (at half of ``$WATCHDOG_USEC``), RELOADING/READY around a
SIGHUP, STOPPING on SIGTERM; a bad config exits 78 (EX_CONFIG) and a bad reload keeps the old one."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from edge.channels import write_geometry_csv
from edge.control import request

WATCHDOG_S = 2.0


def edge_toml(tmp_path, min_picks: int) -> str:
    return (f'box = "box-sd"\nstate_dir = "{tmp_path / "state"}"\ncontrol = "ipc://{tmp_path}/control.sock"\n'
            f'log_level = "info"\n'
            f'[stream]\nendpoint = "tcp://127.0.0.1:9"\ngeometry = "{tmp_path / "channels.csv"}"\nfs_hz = 100.0\n'
            f'[eew]\nmin_picks = {min_picks}\n')


class Notifications:
    """The receiving end of ``$NOTIFY_SOCKET``, keeping every datagram with its arrival time."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.got: list[tuple[float, str]] = []

    def wait(self, state: str, timeout_s: float, after: float = 0.0) -> float:
        """Arrival time (monotonic s) of the first datagram after ``after`` containing ``state``."""
        end = time.monotonic() + timeout_s
        while True:
            for t, d in self.got:
                if t > after and state in d.split("\n"):
                    return t
            if time.monotonic() > end:
                raise AssertionError(f"no {state} within {timeout_s} s; got {[d for _, d in self.got]}")
            try:
                self.got.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                pass

    def times(self, state: str) -> list[float]:
        return [t for t, d in self.got if state in d.split("\n")]


@pytest.fixture
def short_tmp():
    # AF_UNIX paths are limited to 107 bytes; pytest's tmp_path can be longer.
    import tempfile
    with tempfile.TemporaryDirectory(prefix="sd") as d:
        from pathlib import Path
        yield Path(d)


def test_edge_run_speaks_sd_notify_and_reloads(short_tmp):
    n = 50
    write_geometry_csv(short_tmp / "channels.csv", 32.6 + np.arange(n) * 1e-3, np.full(n, 130.7), np.zeros(n))
    config = short_tmp / "edge.toml"
    config.write_text(edge_toml(short_tmp, 30))
    note = Notifications(short_tmp / "notify")
    env = {**os.environ, "NOTIFY_SOCKET": str(short_tmp / "notify"),
           "WATCHDOG_USEC": str(int(WATCHDOG_S * 1e6))}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", "--config", str(config)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    control = f"ipc://{short_tmp}/control.sock"
    try:
        ready = note.wait("READY=1", 300)
        note.wait("WATCHDOG=1", 5, after=ready)
        t_end = time.monotonic() + 3 * WATCHDOG_S
        while time.monotonic() < t_end:
            try:
                note.wait("NEVER", 0.2)
            except AssertionError:
                pass
        pings = np.diff(note.times("WATCHDOG=1"))
        assert len(pings) >= 4 and pings.max() <= WATCHDOG_S / 2 + 0.3, pings

        config.write_text(edge_toml(short_tmp, 44))
        t_hup = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        note.wait("RELOADING=1", 10, after=t_hup)
        note.wait("READY=1", 10, after=t_hup)
        status = request(control, "status", timeout_s=5)
        assert status["reloads"] == 1 and status["eew"]["min_picks"] == 44

        config.write_text(edge_toml(short_tmp, 44) + "[eew.gate]\nno_such_key = 1\n")
        t_hup = time.monotonic()
        proc.send_signal(signal.SIGHUP)
        note.wait("READY=1", 10, after=t_hup)
        status = request(control, "status", timeout_s=5)
        assert status["reloads"] == 2 and status["eew"]["min_picks"] == 44    # the bad file changed nothing
        assert proc.poll() is None

        t_term = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        note.wait("STOPPING=1", 10, after=t_term)
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        stderr = proc.stderr.read()
        proc.wait()
        note.sock.close()
    events = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    names = [e.get("event") for e in events]
    assert "reloaded" in names and "stopped" in names
    failed = [e for e in events if e.get("event") == "reload_failed"]
    assert failed and "no_such_key" in failed[0]["error"]


def test_bad_config_exits_with_ex_config(tmp_path):
    config = tmp_path / "edge.toml"
    config.write_text('box = "b"\n[stream]\nfs_hz = "fast"\n')
    out = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(config)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 78
    assert "stream.fs_hz" in out.stderr
