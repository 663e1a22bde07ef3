"""Real-time soak and alarm latency of the edge daemon at interrogator scale, all parts as processes.

``python -m bench.edge_soak [--minutes 10] [--channels N] [--fs 1000] [--no-pin]``

The simulator's emulator streams the kyushu-2022 reach (10 m channels, ~9,750 of them at 1 kHz by
default) in real time with a near event every minute; ``python -m edge run`` processes it, drives
the relay-controller firmware over a pseudo-terminal and reports to a collector standing in for
central. Printed: frames sent and processed, frames lost, processing lag, RSS after 1 minute and at
the end (their ratio), the wall time from receiving the frame that completed the decisive pick to
the ALARM frame written on the serial port (every alarm), and the same receive-to-done time for every
frame (its p50/p99/max), which bounds the alarm latency of any frame.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edge.control import request
from sim.processes import Proc, free_tcp_port

NEAR_EVENTS = "13,0,12,8,10,4"   # kyushu-2022 events near the reach (indices), repeated as needed


def cpu_sets(pin: bool) -> tuple[list[str], list[str]]:
    """``taskset`` prefixes: the edge alone on the last CPU, everything else on the others.

    On a trackside box the interrogator is its own machine, the relay controller a microcontroller and
    central far away; on this one machine they would otherwise take the edge's CPU time, which is
    not what a box sees. Without pinning (or with one CPU, or no ``taskset``) both are empty.
    """
    n = os.cpu_count() or 1
    if not pin or n < 2 or shutil.which("taskset") is None:
        return [], []
    return ["taskset", "-c", str(n - 1)], ["taskset", "-c", f"0-{n - 2}"]


def soak(minutes: float, *, channels: int | None, fs: float, workdir: Path, pin: bool = True) -> dict:
    py = sys.executable
    edge_cpu, rest_cpu = cpu_sets(pin)
    stream_ep, central_ep = (f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(2))
    n_events = max(1, int(minutes))
    events = ",".join((NEAR_EVENTS.split(",") * n_events)[:n_events])
    grid = ["--scenario", "kyushu-2022", "--events", events, "--fs", str(fs), "--spacing-m", "10"]
    if channels:
        grid += ["--channels", str(channels)]
    subprocess.run([py, "-m", "sim", "stream", *grid, "--geometry-out", str(workdir / "channels.csv"),
                    "--geometry-only"], check=True)
    n_ch = sum(1 for _ in open(workdir / "channels.csv")) - 1
    procs: list[Proc] = []
    result: dict = {"channels": n_ch, "fs_hz": fs, "minutes": minutes,
                    "edge_cpus": edge_cpu[-1] if edge_cpu else "shared", "other_cpus": rest_cpu[-1] if rest_cpu else "shared"}
    try:
        relay = Proc([*rest_cpu, py, "-m", "firmware_py", "--pty"], workdir / "relay")
        procs.append(relay)
        pty = relay.wait_line(lambda d: "pty" in d, 20)["pty"]
        procs.append(Proc([*rest_cpu, py, "-m", "central", "collect", "--endpoint", central_ep, "--types", "location,alarm",
                           "--out", str(workdir / "central.jsonl")], workdir / "central"))
        config = workdir / "edge.toml"
        config.write_text(f'box = "soak"\nstate_dir = "{workdir / "state"}"\nlog_level = "info"\n'
                          f'[stream]\nendpoint = "{stream_ep}"\ngeometry = "{workdir / "channels.csv"}"\n'
                          f'fs_hz = {fs}\n[relay]\nport = "{pty}"\n[uplink]\nendpoint = "{central_ep}"\n')
        edge = Proc([*edge_cpu, py, "-m", "edge", "run", "--config", str(config)], workdir / "edge")
        procs.append(edge)
        edge.wait_line(lambda d: d.get("event") == "ready", 300, stream="stderr")
        control = f"ipc://{(workdir / 'state' / 'control.sock').resolve()}"
        duration = minutes * 60
        sim = Proc([*rest_cpu, py, "-m", "sim", "stream", *grid, "--endpoint", stream_ep, "--speed", "1",
                    "--first-event-s", "30", "--event-interval-s", "60", "--duration-s", str(duration),
                    "--gap-probability", "0"], workdir / "sim")
        procs.append(sim)
        start = time.monotonic()
        samples = []
        cleared_at_alarms = -1
        while sim.popen.poll() is None:
            time.sleep(5)
            try:
                h = request(control, "status", timeout_s=5)["health"]
            except TimeoutError:
                continue
            samples.append((time.monotonic() - start, h))
            # Play the operator: the relay powers up latched in STOP, and an alarm latches it again;
            # CLEAR once the stream is flowing and again 5-10 s after each alarm, so that every
            # event shows as a line-clear -> stop transition on the relay.
            if h["relay"] == "stop" and h["frames"] > 0 and h["alarms"] != cleared_at_alarms:
                if request(control, "clear", timeout_s=5).get("sent"):
                    cleared_at_alarms = h["alarms"]
            print(f"  {samples[-1][0]:6.0f} s: frames {h['frames']}, lag {h['lag_s']} s, RSS {h['rss_mb']} MiB, "
                  f"alarms {h['alarms']}", file=sys.stderr, flush=True)
        final = request(control, "status", timeout_s=10)["health"]
        at_1min = min(samples, key=lambda s: abs(s[0] - 60))[1] if samples else final
        stream_end = sim.find(lambda d: d.get("event") == "stream_end") or {}
    finally:
        for p in reversed(procs):
            p.stop()
    alarms = [d for d in edge.lines("stderr") if d.get("event") == "alarm"]
    latency = np.array([d["latency_ms"] for d in alarms]) if alarms else np.array([np.nan])
    queued = np.array([d.get("queued_ms", np.nan) for d in alarms]) if alarms else np.array([np.nan])
    result.update({
        "frames_sent": stream_end.get("frames_sent"), "frames_processed": final["frames"],
        "frames_missing": final["missing_frames"], "frames_rejected": final["rejected"], "gaps": final["gaps"],
        "emulator_max_lag_s": stream_end.get("max_lag_s"),
        "lag_s_max": max(h["lag_s"] for _, h in samples) if samples else None,
        "rss_mb_1min": at_1min["rss_mb"], "rss_mb_end": final["rss_mb"],
        "rss_ratio": round(final["rss_mb"] / at_1min["rss_mb"], 3),
        "alarms": len(alarms), "alarm_latency_ms_p50": round(float(np.nanpercentile(latency, 50)), 2),
        "alarm_latency_ms_p99": round(float(np.nanpercentile(latency, 99)), 2),
        "alarm_latency_ms_max": round(float(np.nanmax(latency)), 2),
        "alarm_queued_ms_p99": round(float(np.nanpercentile(queued, 99)), 2),
        "alarm_latencies_ms": [round(float(x), 1) for x in latency],
        "frame_latency_ms": final.get("frame_latency_ms"),
        "relay_transitions": [d.get("relay") for d in relay.lines() if "relay" in d],
    })
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.edge_soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--channels", type=int, help="channels (default: the whole ~97.5 km reach at 10 m)")
    p.add_argument("--fs", type=float, default=1000.0)
    p.add_argument("--no-pin", action="store_true",
                   help="let every process share every CPU (default: the edge alone on the last CPU)")
    p.add_argument("--workdir", help="keep configs and logs here (default: a temporary directory)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        r = soak(args.minutes, channels=args.channels, fs=args.fs, workdir=workdir, pin=not args.no_pin)
    print(f"edge soak: {r['channels']} channels x {r['fs_hz']:g} Hz for {r['minutes']:g} min (real time); "
          f"edge on CPU {r['edge_cpus']}, emulator, relay and collector on CPU {r['other_cpus']}")
    print(f"  frames sent {r['frames_sent']}, processed {r['frames_processed']}, missing {r['frames_missing']}, "
          f"rejected {r['frames_rejected']}, gaps {r['gaps']}; emulator max lag {r['emulator_max_lag_s']} s")
    print(f"  processing lag max {r['lag_s_max']} s; RSS {r['rss_mb_1min']} MiB at 1 min, {r['rss_mb_end']} MiB at "
          f"the end (ratio {r['rss_ratio']}, target within 5 %)")
    print(f"  alarms {r['alarms']}: frame-in to ALARM-on-serial p50 {r['alarm_latency_ms_p50']} ms, p99 "
          f"{r['alarm_latency_ms_p99']} ms, max {r['alarm_latency_ms_max']} ms (target p99 <= 50 ms); "
          f"of which waiting behind earlier frames p99 {r['alarm_queued_ms_p99']} ms")
    print(f"  every frame, receive to done (ms): {r['frame_latency_ms']}")
    print(f"  relay output: {' -> '.join(map(str, r['relay_transitions']))}")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
