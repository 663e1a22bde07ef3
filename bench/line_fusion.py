"""A whole line on loopback: the Kyushu-like reach cut into segments, one emulator and one edge daemon
per segment, one central node fusing them and sending alerts down.

``python -m bench.line_fusion [--segments 3] [--scenario kyushu-2022|random] [--events 13,0,12] [--speed 1]``

Printed per event: the true epicentre's distance to the line, each box's epicentral error (its latest
location), the fused error, and per box when central's alert reached it against its own first location
(positive lead = the alert came first; boxes without their own detection show the alert alone).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edge.geodesy import epicentral_km
from sim.line import Line, LineSetup


def run(setup: LineSetup, workdir: Path) -> dict:
    with Line(workdir, setup) as line:
        line.start()
        line.stream()
        time.sleep(5.0)      # the last relocations, fusions and alerts
    sources = [line.source_of(k) for k in range(setup.n_events)]
    return summarise(line, sources)


def summarise(line: Line, sources) -> dict:
    from edge.channels import read_geometry
    con = sqlite3.connect(line.db)
    con.row_factory = sqlite3.Row
    geoms = [read_geometry(line.workdir / f"{box}.csv") for box in line.boxes]
    lat_all = np.concatenate([g.lat for g in geoms])
    lon_all = np.concatenate([g.lon for g in geoms])
    rows = []
    for i, src in enumerate(sources):
        t_true = src.origin_time
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
        for k, box_id in enumerate(line.boxes):
            window = [d for d in line.edge_events(k) if "ts" in d and t_true - 5 < d["ts"] < t_true + 40]
            own = [d["ts"] for d in window if d.get("event") == "location"]
            alert = [d["ts"] for d in window if d.get("event") == "alarm" and str(d.get("event_id", "")).startswith("central-")]
            box = row["boxes"].setdefault(box_id, {})
            box["own_first_location_ts"] = min(own) if own else None
            box["alert_ts"] = min(alert) if alert else None
            box["alert_lead_s"] = (round(min(own) - min(alert), 2) if own and alert else None)
        rows.append(row)
    con.close()
    return {"events": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.line_fusion", description=__doc__.split("\n\n")[0])
    p.add_argument("--segments", type=int, default=3)
    p.add_argument("--scenario", default="kyushu-2022", choices=["kyushu-2022", "random"],
                   help="kyushu-2022, or random (10 events around the whole route from --seed)")
    p.add_argument("--events", default="13,0,12", help="the scenario's event indices")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--interval", type=float, default=60.0, help="data seconds between events (default 60)")
    p.add_argument("--workdir", help="keep logs and the store here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        r = run(LineSetup(segments=args.segments, scenario=args.scenario, events=args.events, speed=args.speed,
                          seed=args.seed, event_interval_s=args.interval), workdir)
    print(f"line fusion: {args.segments} segments of the kyushu-2022 reach (100 Hz, 100 m), {args.scenario} events "
          f"{args.events} (seed {args.seed})")
    for row in r["events"]:
        boxes = ", ".join(f"{b}: err {v.get('err_km')} km, alert lead {v.get('alert_lead_s')} s"
                          for b, v in sorted(row["boxes"].items()))
        print(f"  event {row['event']} M{row['M']:.1f} {row['km_from_line']} km from the line: fused err "
              f"{row['fused_err_km']} km; {boxes}")
    print(json.dumps(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
