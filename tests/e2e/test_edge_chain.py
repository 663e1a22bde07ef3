"""End to end with real processes on loopback: sim emulator -> ``edge run`` -> pseudo-terminal ->
relay-controller firmware on CPython, and ``central run`` with its SQLite store.

One event (kyushu-2022 #13, M4.0 at 10 km depth, 0.9 km off the fiber) must produce locations
and a STOP on the relay; central is killed (SIGKILL) and restarted during the event and still stores
every location and alarm, each once; after an operator CLEAR, killing the edge drops the relay to STOP
within the controller's PERMIT timeout. Central's status page, ``central events`` and a QuakeML export
read back by ObsPy show the event.
"""
from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from central.store import EventStore
from sim.processes import Proc, free_tcp_port

pytestmark = pytest.mark.slow
PERMIT_TIMEOUT_MS = 500
SPEED = 2.0


def edge_toml(tmp: Path, *, stream: str, pty: str, central: str) -> Path:
    path = tmp / "edge.toml"
    path.write_text(f"""
box = "kyushu-e2e"
state_dir = "{tmp / 'state'}"
log_level = "info"

[stream]
endpoint = "{stream}"
geometry = "{tmp / 'channels.csv'}"
fs_hz = 100.0
timeout_s = 2.0

[relay]
port = "{pty}"
key = 4660

[uplink]
endpoint = "{central}"
heartbeat_s = 0.5
resend_s = 0.5
""")
    return path


def test_sim_edge_relay_central(tmp_path):
    py = sys.executable
    stream_ep = f"tcp://127.0.0.1:{free_tcp_port()}"
    central_ep = f"tcp://127.0.0.1:{free_tcp_port()}"
    grid = ["--scenario", "kyushu-2022", "--events", "13", "--fs", "100", "--spacing-m", "100"]
    subprocess.run([py, "-m", "sim", "stream", *grid, "--geometry-out", str(tmp_path / "channels.csv"),
                    "--geometry-only"], check=True)
    procs: list[Proc] = []
    try:
        relay = Proc([py, "-m", "firmware_py", "--pty", "--key", "4660", "--permit-timeout-ms", str(PERMIT_TIMEOUT_MS)],
                     tmp_path / "relay")
        procs.append(relay)
        pty = relay.wait_line(lambda d: "pty" in d, 20)["pty"]
        db = tmp_path / "central.sqlite"
        (tmp_path / "central.toml").write_text(f'db = "{db}"\n[collector]\nendpoint = "{central_ep}"\n'
                                               f'[status]\nport = 0\n')
        central_cmd = [py, "-m", "central", "run", "--config", str(tmp_path / "central.toml")]
        central = Proc(central_cmd, tmp_path / "central")
        procs.append(central)
        config = edge_toml(tmp_path, stream=stream_ep, pty=pty, central=central_ep)
        edge = Proc([py, "-m", "edge", "run", "--config", str(config)], tmp_path / "edge")
        procs.append(edge)
        edge.wait_line(lambda d: d.get("event") == "ready", 120, stream="stderr")
        sim = Proc([py, "-m", "sim", "stream", *grid, "--endpoint", stream_ep, "--speed", str(SPEED),
                    "--first-event-s", "30", "--duration-s", "75", "--gap-probability", "0"], tmp_path / "sim")
        procs.append(sim)

        # operator CLEAR once the edge is healthy and PERMITs flow
        def clear() -> dict:
            out = subprocess.run([py, "-m", "edge", "clear", "--config", str(config)], capture_output=True,
                                 text=True, timeout=10)
            return json.loads(out.stdout) if out.stdout.strip() else {}
        deadline = time.monotonic() + 30
        while not relay.find(lambda d: d.get("relay") == "clear"):
            assert time.monotonic() < deadline, f"relay never cleared: {relay.lines()[-5:]}"
            clear()
            time.sleep(0.5)

        # the event: first location -> kill central, restart it a moment later
        edge.wait_line(lambda d: d.get("event") == "location", 60 / SPEED + 30, stream="stderr")
        central.kill(signal.SIGKILL)
        time.sleep(1.0)
        central = Proc(central_cmd, tmp_path / "central2")
        procs.append(central)
        # the STOP alarm reaches the relay; its output is STOP (it may have fallen to STOP earlier, when a
        # stalled stream made the edge stop sending PERMITs: then no new transition line is printed)
        edge.wait_line(lambda d: d.get("event") == "alarm" and d.get("alarm_level") == "stop", 60, stream="stderr")
        time.sleep(0.5)
        assert relay.lines()[-1]["relay"] == "stop"
        sim.wait(120)

        # after the event: operator CLEAR again, then kill the edge: STOP within the PERMIT timeout
        # (the stream has ended, so the edge is blind and sends no PERMIT: restart the stream)
        sim = Proc([py, "-m", "sim", "stream", "--scenario", "noise", "--fs", "100", "--spacing-m", "100",
                    "--endpoint", stream_ep, "--speed", "1", "--duration-s", "60", "--gap-probability", "0"],
                   tmp_path / "sim2")
        procs.append(sim)
        # kill the edge while the relay shows LINE CLEAR (on a loaded machine the edge can fall
        # unhealthy for a moment and the relay to STOP by itself: then clear again first)
        deadline = time.monotonic() + 60
        while True:
            lines = relay.lines()
            if lines and lines[-1].get("relay") == "clear":
                n_before = len(lines)
                killed_at = time.monotonic()
                edge.kill(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, f"relay never cleared again: {lines[-5:]}"
            clear()
            time.sleep(0.3)
        relay.wait_line(lambda d: d.get("relay") == "stop", 5, start=n_before)
        took = time.monotonic() - killed_at
        assert took < PERMIT_TIMEOUT_MS / 1000 + 0.5, took
        time.sleep(1.5)   # the restarted central gets what the edge resent
        url = central.wait_line(lambda d: d.get("event") == "ready", 30, stream="stderr")["status"]
        with urllib.request.urlopen(url, timeout=10) as r:
            page = r.read().decode()
        assert "kyushu-e2e" in page and 'class="event"' in page
    finally:
        for p in reversed(procs):
            p.stop()
    logged = edge.lines("stderr")
    store = EventStore(db, readonly=True)
    locations = store.db.execute("SELECT edge_event, update_no FROM origins WHERE method='edge'").fetchall()
    alarms = store.db.execute("SELECT edge_event, level FROM alarms").fetchall()
    store.close()
    assert locations and any(a[1] == "stop" for a in alarms)
    # nothing the edge said was lost while central was down, and nothing was stored twice
    said = ({("location", d["event_id"], d["update"]) for d in logged if d.get("event") == "location"}
            | {("alarm", d["event_id"], d["alarm_level"]) for d in logged if d.get("event") == "alarm"})
    stored = [("location", *row) for row in locations] + [("alarm", *row) for row in alarms]
    assert said and set(stored) == said and len(stored) == len(said)
    events = subprocess.run([py, "-m", "central", "events", "--db", str(db), "--json"], capture_output=True,
                            text=True, check=True).stdout.splitlines()
    assert len(events) >= 1 and json.loads(events[0])["level"] == "stop"
    qml = subprocess.run([py, "-m", "central", "export", "--db", str(db), "--format", "quakeml"], capture_output=True,
                         text=True, check=True).stdout
    obspy = pytest.importorskip("obspy")
    cat = obspy.read_events(io.BytesIO(qml.encode()), format="QUAKEML")
    assert len(cat) == len(events) and cat[0].preferred_origin() is not None
