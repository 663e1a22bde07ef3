"""The whole trackside chain live on loopback, narrated: ``python -m sim live-demo``.

Real processes, as in a box: the interrogator emulator streams a kyushu-2022 event over ZeroMQ, the
edge daemon (``python -m edge run``) detects, locates and decides, drives the relay-controller
firmware (CPython build) over a pseudo-terminal, and reports to ``central run`` (SQLite store, status page).
Prints what each part did, in order, with wall-clock seconds since the start.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from edge.control import request
from sim.processes import Proc, free_tcp_port

EVENT = "13"   # kyushu-2022 #13: M4.0, 10 km deep, 0.9 km off the fiber: warrants a stop
PERMIT_TIMEOUT_MS = 500


def _edge_toml(out: Path, *, stream: str, pty: str, central: str) -> Path:
    path = out / "edge.toml"
    path.write_text(f"""box = "demo-box"
state_dir = "{out / 'edge-state'}"
log_level = "info"

[stream]
endpoint = "{stream}"
geometry = "{out / 'channels.csv'}"
fs_hz = 100.0
timeout_s = 2.0

[relay]
port = "{pty}"

[uplink]
endpoint = "{central}"
heartbeat_s = 1.0
""")
    return path


def run(out: Path, *, speed: float = 2.0, seed: int = 0) -> int:
    """Run the chain once; return 0 when the event stopped the trains and central heard everything."""
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    start = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - start:6.1f} s] {text}", flush=True)

    stream_ep, central_ep = (f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(2))
    grid = ["--scenario", "kyushu-2022", "--events", EVENT, "--fs", "100", "--spacing-m", "100", "--seed", str(seed)]
    subprocess.run([py, "-m", "sim", "stream", *grid, "--geometry-out", str(out / "channels.csv"), "--geometry-only"],
                   check=True)
    procs: list[Proc] = []
    try:
        relay = Proc([py, "-m", "firmware_py", "--pty", "--permit-timeout-ms", str(PERMIT_TIMEOUT_MS)], out / "relay")
        procs.append(relay)
        pty = relay.wait_line(lambda d: "pty" in d, 20)["pty"]
        say(f"relay controller (firmware_py on CPython) on {pty}: output STOP until an operator CLEAR")
        db = out / "central.sqlite"
        for f in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            f.unlink(missing_ok=True)
        (out / "central.toml").write_text(f'db = "{db}"\n[collector]\nendpoint = "{central_ep}"\n'
                                          f'[status]\nport = 0\n')
        central = Proc([py, "-m", "central", "run", "--config", str(out / "central.toml")], out / "central")
        procs.append(central)
        url = central.wait_line(lambda d: d.get("event") == "ready", 60, stream="stderr")["status"]
        say(f"central on {central_ep}, store {db}, status page {url}")
        config = _edge_toml(out, stream=stream_ep, pty=pty, central=central_ep)
        edge = Proc([py, "-m", "edge", "run", "--config", str(config)], out / "edge")
        procs.append(edge)
        edge.wait_line(lambda d: d.get("event") == "ready", 180, stream="stderr")
        say(f"edge daemon ready (config {config})")
        sim = Proc([py, "-m", "sim", "stream", *grid, "--endpoint", stream_ep, "--speed", str(speed),
                    "--first-event-s", "30", "--duration-s", "80", "--gap-probability", "0"], out / "sim")
        procs.append(sim)
        say(f"interrogator emulator streaming 975 channels at 100 Hz, {speed:g}x real time, event at +30 s of data")
        endpoint = f"ipc://{(out / 'edge-state' / 'control.sock').resolve()}"
        while not relay.find(lambda d: d.get("relay") == "clear"):
            if time.monotonic() - start > 120:
                say("the relay never cleared: is the edge healthy?")
                return 1
            request(endpoint, "clear")
            time.sleep(0.5)
        say("operator CLEAR sent through `python -m edge clear`: relay output LINE CLEAR while PERMITs flow")
        cleared_at = len(relay.lines())
        shown, stop_said = 0, False
        while sim.popen.poll() is None:
            lines = [d for d in edge.lines("stderr") if d.get("event") in ("location", "alarm")]
            for d in lines[shown:]:
                if d["event"] == "location":
                    say(f"edge: location #{d['update']} {d['lat']:.3f}N {d['lon']:.3f}E {d['depth_km']:.1f} km "
                        + ("M?" if d["mag"] is None else f"M{d['mag']:.1f}"))
                else:
                    say(f"edge: ALARM {d['alarm_level'].upper()} ({d['reason']}) {d['latency_ms']:.1f} ms after "
                        f"the frame arrived")
            shown = len(lines)
            stop = relay.find(lambda d: d.get("relay") == "stop", start=cleared_at)
            if stop is not None and not stop_said:
                stop_said = True
                say(f"relay controller: output STOP ({stop.get('reason')})")
            time.sleep(0.2)
        status = request(endpoint, "status")
        h = status["health"]
        say(f"stream ended: edge took {h['frames']} frames, {h['gaps']} gaps, lag {h['lag_s']} s, "
            f"RSS {h['rss_mb']} MiB, journal depth {h['journal_depth']}")
        time.sleep(1.5)
    finally:
        for p in reversed(procs):
            p.stop()
    # central through its own command line: sim does not import central (DESIGN.md's arrows)
    listing = subprocess.run([py, "-m", "central", "events", "--db", str(db)], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        say(f"central event {line.strip()}")
    events = [json.loads(x) for x in subprocess.run([py, "-m", "central", "events", "--db", str(db), "--json"],
                                                    capture_output=True, text=True).stdout.splitlines()]
    transitions = [f"{d['relay']} ({d.get('reason')})" for d in relay.lines() if "relay" in d]
    say(f"relay output transitions: {' -> '.join(transitions)}")
    say(f"the store stays: `python -m central events --db {db}`; status page: `python -m central run --config "
        f"{out / 'central.toml'}` (the URL is in its ready line)")
    stopped = any(e["level"] == "stop" for e in events)
    say("result: " + ("the event stopped the trains and central stored it" if stopped else "NO STOP reached central"))
    return 0 if stopped else 1
