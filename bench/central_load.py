"""Load on the central node: many boxes at once, as a real ``central run`` process.

``python -m bench.central_load [--boxes 50] [--rate 10] [--seconds 60]``

Each simulated box (a DEALER socket with its box id, all driven from this process) sends ``--rate``
messages a second: a heartbeat every second, and otherwise ``location`` and ``alarm`` messages of
events and ``picks`` of those events; every tenth second of each box brings a burst of 1,000 picks
in one message. Printed: messages sent and acknowledged (location and alarm: every one must be acked
and stored; lost = sent - stored), the ingest latency from send to ack (p50, p99, max), the store's
rows, and its growth in bytes extrapolated to a day of operation at this load. ``--rate 1`` sends
heartbeats alone: a quiet line (the WAL file's first pages make that figure an upper bound).
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import msgpack
import numpy as np
import zmq

from edge.wire import encode_message, message
from sim.processes import Proc, free_tcp_port

BURST = 1000


def run(boxes: int, rate: float, seconds: float, workdir: Path) -> dict:
    endpoint = f"tcp://127.0.0.1:{free_tcp_port()}"
    db = workdir / "central.sqlite"
    (workdir / "central.toml").write_text(f'db = "{db}"\nlog_level = "warning"\n[collector]\nendpoint = "{endpoint}"\n'
                                          f'[status]\nport = 0\n[fusion]\nmin_boxes = 99\n')
    central = Proc([sys.executable, "-m", "central", "run", "--config", str(workdir / "central.toml")],
                   workdir / "central")
    ctx = zmq.Context.instance()
    socks = []
    for b in range(boxes):
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.ROUTING_ID, f"box-{b:03d}".encode())
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        socks.append(s)
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    rng = np.random.default_rng(0)
    seq = [0] * boxes
    sent_at: dict[tuple[int, int], float] = {}
    latency_ms: list[float] = []
    counts = {"sent": 0, "acked_types_sent": 0, "picks_sent": 0}
    t0 = time.time()

    def send(b: int, kind: str, **fields) -> None:
        seq[b] += 1
        msg = message(kind, f"box-{b:03d}", seq[b], **fields)
        socks[b].send(encode_message(msg))
        counts["sent"] += 1
        if kind in ("location", "alarm"):
            counts["acked_types_sent"] += 1
            sent_at[(b, seq[b])] = time.perf_counter()

    def drain(timeout_ms: int) -> None:
        for s, _ in poller.poll(timeout_ms):
            while True:
                try:
                    ack = s.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                body = msgpack.unpackb(ack)
                b = int(body["box"].split("-")[1])
                now = time.perf_counter()
                for q in body["acked"]:
                    t = sent_at.pop((b, q), None)
                    if t is not None:
                        latency_ms.append((now - t) * 1000)

    try:
        time.sleep(3.0)         # central's start-up (its ready line comes after the socket is bound)
        start = time.monotonic()
        tick = 1.0 / rate
        k = 0
        while time.monotonic() - start < seconds:
            second = int(time.monotonic() - start)
            for b in range(boxes):
                event = f"box-{b:03d}-{second // 10}"
                slot = k % int(rate)
                if slot == 0:
                    send(b, "heartbeat", health={"frames": k, "lag_s": 0.01, "rss_mb": 300.0})
                elif slot in (1, 2, 3):
                    send(b, "location", event=event, origin_time=t0 + second, lat=32.6 + 0.01 * b, lon=130.7,
                         depth_km=10.0, err_h_km=3.0, err_z_km=5.0, misfit=0.05, n_picks=400, curvature_a=0.01,
                         mag=4.0, update=k + 1, data_time=t0 + second + 5, since_first_pick_s=2.0)
                elif slot == 4:
                    send(b, "alarm", event=event, level="advisory", reason="load test", segment=[0, 999],
                         data_time=t0 + second + 5, since_first_pick_s=2.0, issued=time.time())
                else:
                    n = BURST if (slot == 5 and second % 10 == b % 10) else 20
                    counts["picks_sent"] += n
                    send(b, "picks", event=event, t_ref=t0 + second, channel=np.arange(n, dtype="<i4"),
                         dt=rng.random(n).astype("<f4"), snr=np.full(n, 8.0, "<f4"), amp=np.full(n, 1e-6, "<f4"))
            k += 1
            drain(0)
            next_t = start + k * tick
            while time.monotonic() < next_t:
                drain(max(1, int((next_t - time.monotonic()) * 1000)))
        end = time.monotonic() + 10
        while sent_at and time.monotonic() < end:
            drain(100)
        elapsed = time.monotonic() - start
    finally:
        for s in socks:
            s.close(0)
        central.stop()
    con = sqlite3.connect(db)
    stored = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
              for t in ("origins", "alarms", "picks", "box_health", "boxes", "events")}
    con.close()
    size = sum(p.stat().st_size for p in workdir.glob("central.sqlite*"))
    lat = np.array(latency_ms) if latency_ms else np.array([np.nan])
    per_day = size / elapsed * 86400
    return {"boxes": boxes, "rate_per_box": rate, "seconds": round(elapsed, 1), "sent": counts["sent"],
            "location_alarm_sent": counts["acked_types_sent"], "acked": len(latency_ms), "unacked": len(sent_at),
            "stored": stored, "lost": counts["acked_types_sent"] - stored["origins"] - stored["alarms"],
            "picks_sent": counts["picks_sent"],
            "ingest_ms_p50": round(float(np.nanpercentile(lat, 50)), 2),
            "ingest_ms_p99": round(float(np.nanpercentile(lat, 99)), 2),
            "ingest_ms_max": round(float(np.nanmax(lat)), 2),
            "store_bytes": size, "store_gb_per_day_at_this_load": round(per_day / 1e9, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.central_load", description=__doc__.split("\n\n")[0])
    p.add_argument("--boxes", type=int, default=50)
    p.add_argument("--rate", type=float, default=10.0, help="messages per second per box")
    p.add_argument("--seconds", type=float, default=60.0)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        r = run(args.boxes, args.rate, args.seconds, Path(tmp))
    print(f"central load: {r['boxes']} boxes x {r['rate_per_box']:g} messages/s for {r['seconds']} s, "
          f"picks bursts of {BURST}")
    print(f"  sent {r['sent']} messages ({r['location_alarm_sent']} location/alarm, {r['picks_sent']} picks); "
          f"acked {r['acked']}, unacked {r['unacked']}; stored {r['stored']}; lost {r['lost']} (must be 0)")
    print(f"  ingest send -> ack: p50 {r['ingest_ms_p50']} ms, p99 {r['ingest_ms_p99']} ms, max {r['ingest_ms_max']} ms")
    print(f"  store {r['store_bytes'] / 1e6:.1f} MB after {r['seconds']} s: {r['store_gb_per_day_at_this_load']} GB a "
          f"day at this load")
    print(json.dumps(r))
    return 0 if r["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
