"""The whole line with real processes on loopback: three emulators -> three ``edge run`` -> one
``central run`` (fusion, downlink, SQLite store), as ``sim.line`` runs it for ``make demo``.

Central is killed (SIGKILL) as the first location of an event arrives and restarted seconds later,
while the boxes are still relocating: every location and alarm each box logged is in the store, once.
Meanwhile a foreign box sends malformed, oversized, replayed and unknown messages: counted, rejected,
and the three boxes lose nothing. Every box's event of the earthquake (kyushu-2022 #13, M4.0 under
the middle segment) is stored near its origin, fused, and classified from the boxes' snippets by the
shipped ONNX model (the fused error and the class are printed: in this run they vary with timing).
"""
from __future__ import annotations

import time

import msgpack
import pytest
import zmq

from central.store import EventStore
from edge.control import request
from edge.geodesy import epicentral_km
from edge.wire import encode_message
from sim.line import Line, LineSetup

pytestmark = pytest.mark.slow


def _location(box: str, seq: int) -> dict:
    now = time.time()
    return {"v": 1, "type": "location", "box": box, "seq": seq, "sent": now, "event": f"{box}-1",
            "origin_time": now - 3600, "lat": 33.0, "lon": 131.5, "depth_km": 10.0, "err_h_km": 5.0, "err_z_km": 5.0,
            "misfit": 0.1, "n_picks": 40, "curvature_a": None, "mag": 3.0, "update": 1, "data_time": now,
            "since_first_pick_s": 1.0}


def _foreign_box(endpoint: str) -> tuple[zmq.Context, zmq.Socket]:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.ROUTING_ID, b"intruder")
    sock.connect(endpoint)
    return ctx, sock


def test_line_with_central_killed_mid_event(tmp_path):
    # 60 s of data after the origin: the boxes' snippets (P - 5 s to P + 45 s) are sent before the end
    setup = LineSetup(segments=3, events="13", first_event_s=15.0, event_interval_s=60.0, speed=2.0)
    state: dict = {}
    with Line(tmp_path, setup) as line:
        line.start()
        ctx, intruder = _foreign_box(line.collector_ep)

        def tick(_elapsed: float) -> None:
            now = time.monotonic()
            if "killed" not in state:
                if any(line.edge_events(k, ("location",)) for k in range(3)):
                    line.kill_central()
                    state["killed"] = now
                    state["locations_at_kill"] = sum(len(line.edge_events(k, ("location",))) for k in range(3))
            elif "restarted" not in state and now - state["killed"] > 3.0:
                line.start_central()
                state["restarted"] = now
                intruder.send(b"\xc1 not msgpack")
                intruder.send(msgpack.packb({"v": 1, "type": "gossip", "box": "intruder", "seq": 1, "sent": 0.0}))
                intruder.send(encode_message(_location("seg1", 10_000)))     # speaks for another box
                for _ in range(2):                                          # replayed: stored once
                    intruder.send(encode_message(_location("intruder", 1)))
                # oversized, last: the ROUTER's size limit drops the connection, with whatever follows
                intruder.send(b"\x00" * (17 * 2**20))

        line.stream(on_tick=tick)
        assert "restarted" in state, "no location arrived during the stream: nothing to kill central on"
        # the boxes resend whatever central missed; wait until every journal is drained
        deadline = time.monotonic() + 60
        depth = None
        while time.monotonic() < deadline:
            depth = [request(line.control_endpoint(k), "status", timeout_s=5)["health"]["journal_depth"]
                     for k in range(3)]
            if depth == [0, 0, 0]:
                break
            time.sleep(0.5)
        assert depth == [0, 0, 0], f"journals not drained: {depth}"
        time.sleep(2.0)                 # central's last fusion round
        logged = {line.boxes[k]: line.edge_events(k) for k in range(3)}
        line.central.stop()
        summary = line.central.find(lambda d: d.get("event") == "stopped", stream="stderr")
        intruder.close()
        ctx.term()

    locations_total = sum(sum(d["event"] == "location" for d in v) for v in logged.values())
    assert locations_total > state["locations_at_kill"], "the event was over before central died"
    store = EventStore(line.db, readonly=True)
    try:
        for box, lines in logged.items():
            n_loc = sum(d["event"] == "location" for d in lines)
            n_alarm = sum(d["event"] == "alarm" for d in lines)
            stored_loc = store.db.execute("SELECT COUNT(*) FROM origins WHERE box=? AND method='edge'",
                                          (box,)).fetchone()[0]
            stored_alarm = store.db.execute("SELECT COUNT(*) FROM alarms WHERE box=?", (box,)).fetchone()[0]
            assert (stored_loc, stored_alarm) == (n_loc, n_alarm), box
        assert store.db.execute("SELECT COUNT(*) FROM origins WHERE box='intruder'").fetchone()[0] == 1
        src = line.source_of(0)
        near = [e for e in store.events() if abs(e["origin_time"] - src.origin_time) < 10]
        details = [store.event(e["id"]) for e in near]
        # every box's own event of the earthquake is in the store, under a central event near its origin
        assert {b for d in details for b in d["boxes"]} >= {"seg0", "seg1", "seg2"}, near
        fused = [(d["id"], o) for d in details for o in d["origins"] if o["method"] == "fused"]
        assert fused, "no fused origin"
        report = []
        for d in details:
            f = [o for o in d["origins"] if o["method"] == "fused"]
            err = None if not f else round(float(epicentral_km(f[-1]["lat"], f[-1]["lon"], src.lat, src.lon)), 1)
            report.append((d["id"], d["boxes"], err, d["classification"]))
        # Printed, not asserted: how well this chaotic run (central killed mid-event) fused and whether
        # it kept the event whole depends on which locations arrived when; bench.line_fusion and
        # tests/central/test_fusion.py measure fusion, the classifier's figures are its own.
        print(f"\nLINE central events near the earthquake (id, boxes, fused error km, classification): {report}")
        # the boxes' snippets reached central, which classified the event with the shipped model
        classified = [d["classification"] for d in details if d["classification"]]
        assert classified, "no snippet was classified"
        c = classified[0]
        assert c["n_measurements"] >= 5 and c["model"] == "classifier-das.onnx"
        assert sum(c[k] for k in ("earthquake", "collapse", "explosion")) == pytest.approx(1.0, abs=1e-4)
    finally:
        store.close()
    rejected = summary["collector"]["rejected"]
    assert rejected.get("decode", 0) >= 2 and rejected.get("masquerade", 0) == 1, rejected
    assert summary["collector"]["duplicates"] >= 1
