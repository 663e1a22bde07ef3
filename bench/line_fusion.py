"""A whole line on loopback: the Kyushu-like reach cut into segments, one emulator and one edge daemon
per segment, one central node fusing them and sending alerts down.

``python -m bench.line_fusion [--segments 3] [--events 13,0,12] [--speed 1]``

Printed per event: the true epicentre's distance to the line, each box's epicentral error (its latest
location), the fused error, and per box when central's alert reached it against its own first location
(positive lead = the alert came first; boxes without their own detection show the alert alone).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edge.geodesy import epicentral_km
from sim.processes import Proc, free_tcp_port

GRID = ["--fs", "100", "--spacing-m", "100"]
N_CHANNELS = 975          # the reach at 100 m


def run(segments: int, events: str, speed: float, workdir: Path, seed: int) -> dict:
    from sim.scenarios import kyushu_2022
    py = sys.executable
    n_events = len(events.split(","))
    first_s, interval_s = 30.0, 60.0
    duration = first_s + interval_s * n_events
    bounds = np.linspace(0, N_CHANNELS, segments + 1).astype(int)
    central_ep, downlink_ep = (f"tcp://127.0.0.1:{free_tcp_port()}" for _ in range(2))
    db = workdir / "central.sqlite"
    (workdir / "central.toml").write_text(f'db = "{db}"\n[collector]\nendpoint = "{central_ep}"\n'
                                          f'[downlink]\nendpoint = "{downlink_ep}"\n[status]\nport = 0\n')
    procs: list[Proc] = []
    edges: list[Proc] = []
    try:
        procs.append(Proc([py, "-m", "central", "run", "--config", str(workdir / "central.toml")], workdir / "central"))
        sims = []
        for k in range(segments):
            first, n = int(bounds[k]), int(bounds[k + 1] - bounds[k])
            seg = ["--scenario", "kyushu-2022", "--events", events, *GRID, "--first-channel", str(first),
                   "--channels", str(n), "--seed", str(seed)]
            geometry = workdir / f"seg{k}.csv"
            subprocess.run([py, "-m", "sim", "stream", *seg, "--geometry-out", str(geometry), "--geometry-only"],
                           check=True)
            stream_ep = f"tcp://127.0.0.1:{free_tcp_port()}"
            config = workdir / f"seg{k}.toml"
            config.write_text(f'box = "seg{k}"\nstate_dir = "{workdir / f"state{k}"}"\nlog_level = "info"\n'
                              f'[stream]\nendpoint = "{stream_ep}"\ngeometry = "{geometry}"\nfs_hz = 100.0\n'
                              f'ch0 = {first}\ntimeout_s = 3.0\n'
                              f'[uplink]\nendpoint = "{central_ep}"\nalerts = "{downlink_ep}"\nheartbeat_s = 1.0\n')
            edge = Proc([py, "-m", "edge", "run", "--config", str(config)], workdir / f"edge{k}")
            procs.append(edge)
            edges.append(edge)
            sims.append([py, "-m", "sim", "stream", *seg, "--endpoint", stream_ep, "--speed", str(speed),
                         "--first-event-s", str(first_s), "--event-interval-s", str(interval_s),
                         "--duration-s", str(duration), "--gap-probability", "0"])
        for edge in edges:
            edge.wait_line(lambda d: d.get("event") == "ready", 300, stream="stderr")
        # one data clock for all segments, close to wall time (each emulator waits ~1 s for subscribers)
        t0 = float(np.ceil(time.time())) + 2.0
        running = [Proc([*cmd, "--t0", str(t0)], workdir / f"sim{k}") for k, cmd in enumerate(sims)]
        procs += running
        for sim in running:
            sim.wait(duration / max(speed, 1e-3) + 300)
        time.sleep(5.0)
    finally:
        for p in reversed(procs):
            p.stop()
    truth = kyushu_2022(seed=seed)
    picked = [truth[int(i)].sources[0] for i in events.split(",")]
    return summarise(db, picked, edges, t0 + first_s, interval_s, workdir, bounds)


def summarise(db: Path, sources, edges, first_event_t: float, interval_s: float, workdir: Path, bounds) -> dict:
    from edge.channels import read_geometry
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    geoms = [read_geometry(workdir / f"seg{k}.csv") for k in range(len(edges))]
    lat_all = np.concatenate([g.lat for g in geoms])
    lon_all = np.concatenate([g.lon for g in geoms])
    rows = []
    for i, src in enumerate(sources):
        t_true = first_event_t + i * interval_s
        dist_line = float(np.min(epicentral_km(src.lat, src.lon, lat_all, lon_all)))
        ev = con.execute("SELECT * FROM events WHERE origin_time BETWEEN ? AND ? ORDER BY n_boxes DESC LIMIT 1",
                         (t_true - 20, t_true + 20)).fetchone()
        row = {"event": i, "M": src.magnitude, "depth_km": src.depth_km, "km_from_line": round(dist_line, 1),
               "boxes": {}, "fused_err_km": None}
        if ev is not None:
            for o in con.execute("SELECT * FROM origins WHERE event_id=? AND method='edge' AND id IN "
                                 "(SELECT MAX(id) FROM origins WHERE event_id=? AND method='edge' GROUP BY box)",
                                 (ev["id"], ev["id"])):
                row["boxes"][o["box"]] = {"err_km": round(float(epicentral_km(o["lat"], o["lon"], src.lat,
                                                                              src.lon)), 1)}
            fused = con.execute("SELECT * FROM origins WHERE event_id=? AND method='fused' ORDER BY id DESC LIMIT 1",
                                (ev["id"],)).fetchone()
            if fused is not None:
                row["fused_err_km"] = round(float(epicentral_km(fused["lat"], fused["lon"], src.lat, src.lon)), 1)
        for k, edge in enumerate(edges):
            lines = edge.lines("stderr")
            window = [d for d in lines if "ts" in d and t_true - 5 < d["ts"] < t_true + 40]
            own = [d["ts"] for d in window if d.get("event") == "location"]
            alert = [d["ts"] for d in window if d.get("event") == "alarm" and str(d.get("event_id", "")).startswith("central-")]
            box = row["boxes"].setdefault(f"seg{k}", {})
            box["own_first_location_ts"] = min(own) if own else None
            box["alert_ts"] = min(alert) if alert else None
            box["alert_lead_s"] = (round(min(own) - min(alert), 2) if own and alert else None)
        rows.append(row)
    con.close()
    return {"events": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.line_fusion", description=__doc__.split("\n\n")[0])
    p.add_argument("--segments", type=int, default=3)
    p.add_argument("--events", default="13,0,12", help="kyushu-2022 event indices")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", help="keep logs and the store here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        r = run(args.segments, args.events, args.speed, workdir, args.seed)
    print(f"line fusion: {args.segments} segments of the kyushu-2022 reach (100 Hz, 100 m), events {args.events}")
    for row in r["events"]:
        boxes = ", ".join(f"{b}: err {v.get('err_km')} km, alert lead {v.get('alert_lead_s')} s"
                          for b, v in sorted(row["boxes"].items()))
        print(f"  event {row['event']} M{row['M']:.1f} {row['km_from_line']} km from the line: fused err "
              f"{row['fused_err_km']} km; {boxes}")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
