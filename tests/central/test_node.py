"""The central node over real ZeroMQ sockets and real HTTP on loopback: boxes' messages stored and
acknowledged only once stored, bad input counted without disturbing other boxes, box health states,
the JSON API, the status page and the exports served."""
from __future__ import annotations

import json
from dataclasses import replace
import threading
import time
import urllib.request

import msgpack
import numpy as np
import pytest
import zmq

from central.config import BoxHealthSettings, CentralConfig, CollectorSettings, StatusSettings
from central.node import CentralNode, box_state
from central.store import EventStore
from edge.wire import encode_message, message

from .test_store import T0, alarm, location


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Box:
    """A box's uplink: a DEALER with its box id as routing id."""

    def __init__(self, endpoint: str, box: str):
        self.sock = zmq.Context.instance().socket(zmq.DEALER)
        self.sock.setsockopt(zmq.ROUTING_ID, box.encode())
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def send(self, msg) -> None:
        self.sock.send(msg if isinstance(msg, bytes) else encode_message(msg))

    def acked(self, timeout_s: float = 5.0) -> set[int]:
        out, end = set(), time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.sock.poll(100):
                out |= set(msgpack.unpackb(self.sock.recv())["acked"])
                if not self.sock.poll(200):
                    break
        return out

    def close(self):
        self.sock.close(0)


@pytest.fixture
def node(tmp_path):
    cfg = CentralConfig(db=str(tmp_path / "central.sqlite"),
                        collector=CollectorSettings(endpoint=f"tcp://127.0.0.1:{free_port()}"),
                        status=StatusSettings(port=0),
                        box_health=BoxHealthSettings(late_after_s=0.5, offline_after_s=1.5))
    nodes = []

    def start(**overrides) -> CentralNode:
        n = CentralNode(replace(cfg, **overrides))
        t = threading.Thread(target=n.run, daemon=True)
        t.start()
        end = time.monotonic() + 10
        while n.status_url is None and time.monotonic() < end:
            time.sleep(0.02)
        nodes.append((n, t))
        return n

    yield cfg, start
    for n, t in nodes:
        n.request_stop()
        t.join(10)


def get(url: str):
    with urllib.request.urlopen(url, timeout=5) as r:
        return r.status, r.headers["Content-Type"], r.read().decode()


def test_store_ack_status_and_bad_input(node):
    cfg, start = node
    n = start()
    a, b, evil = (Box(cfg.collector.endpoint, x) for x in ("box-a", "box-b", "box-evil"))
    try:
        a.send(message("hello", "box-a", 1, software="t", segment=[0, 99], fs=100.0,
                       lat=np.linspace(32.6, 32.7, 100), lon=np.full(100, 130.7), elev_m=np.zeros(100)))
        a.send(message("heartbeat", "box-a", 2, health={"frames": 5, "lag_s": 0.01, "relay": "clear"}))
        a.send(encode_message(location("box-a", 3, "a-1")))
        a.send(encode_message(alarm("box-a", 4, "a-1")))
        assert a.acked() == {3, 4}
        # what central acknowledged is in the store, readable by another connection
        reader = EventStore(cfg.db, readonly=True)
        assert reader.counts()["origins"] == 1 and reader.counts()["alarms"] == 1
        reader.close()
        # bad input from one box: garbage, unknown type, masquerade, wrong direction, oversized
        evil.send(b"\xc1garbage")
        evil.send(msgpack.packb({"v": 1, "type": "gossip", "box": "box-evil", "seq": 1, "sent": T0}))
        evil.send(encode_message(location("box-a", 99, "a-9")))
        evil.send(encode_message(message("ack", "box-evil", 2, acked=[1])))
        evil.send(b"\x00" * (17 * 2**20))
        # ... does not disturb another box
        b.send(encode_message(location("box-b", 1, "b-1", t=T0 + 1.0, lat=32.75)))
        assert b.acked() == {1}
        time.sleep(0.3)
        rejected = n.collector.counts["rejected"]
        assert rejected["decode"] >= 2 and rejected["masquerade"] == 1 and rejected["direction"] == 1
        # box a resends (its ack was "lost"): acked again, stored once
        a.send(encode_message(location("box-a", 3, "a-1")))
        assert a.acked() == {3}

        status, ctype, body = get(n.status_url + "api/events")
        events = json.loads(body)
        assert status == 200 and ctype == "application/json"
        assert len(events) == 1 and events[0]["boxes"] == ["box-a", "box-b"] and events[0]["level"] == "stop"
        a.send(message("heartbeat", "box-a", 5, health={"frames": 9, "lag_s": 0.01, "relay": "clear"}))
        time.sleep(0.2)
        boxes = {x["box"]: x for x in json.loads(get(n.status_url + "api/boxes")[2])}
        assert boxes["box-a"]["state"] == "online" and boxes["box-a"]["health"]["relay"] == "clear"
        _, ctype, page = get(n.status_url)
        assert ctype.startswith("text/html")
        assert page.count('class="segment"') == 1 and page.count('class="event"') == 1 and "box-b" in page
        _, ctype, qml = get(n.status_url + "api/export?format=quakeml")
        assert ctype == "application/xml" and qml.count("<event ") == 1 and qml.count("<origin ") == 2
        with pytest.raises(urllib.error.HTTPError) as err:
            get(n.status_url + "api/export?format=pdf")
        assert err.value.code == 400
        # box health: silent boxes go late, then offline
        end = time.monotonic() + 5
        while n.box_states.get("box-a") != "offline" and time.monotonic() < end:
            time.sleep(0.1)
        assert n.box_states["box-a"] == "offline"
    finally:
        for x in (a, b, evil):
            x.close()


def test_restart_keeps_everything_and_drops_resends(node):
    cfg, start = node
    n1 = start()
    a = Box(cfg.collector.endpoint, "box-a")
    try:
        for seq in range(1, 21):
            a.send(encode_message(location("box-a", seq, "a-1", update=seq, err=20.0 - seq * 0.5)))
        assert a.acked() == set(range(1, 21))
        n1.request_stop()
        time.sleep(0.5)
        start()
        for seq in range(15, 26):                       # resends and new ones
            a.send(encode_message(location("box-a", seq, "a-1", update=seq, err=20.0 - seq * 0.5)))
        assert a.acked() == set(range(15, 26))
    finally:
        a.close()
    reader = EventStore(cfg.db, readonly=True)
    assert reader.counts()["origins"] == 25
    assert reader.events()[0]["err_h_km"] == pytest.approx(20.0 - 25 * 0.5)
    reader.close()


def test_box_state():
    s = BoxHealthSettings(late_after_s=3.0, offline_after_s=30.0)
    assert [box_state(x, s) for x in (0.5, 3.0, 29.9, 30.0, None)] == ["online", "late", "late", "offline", "offline"]


def test_status_page_in_a_headless_browser(node):
    """The page as a real browser renders it (Debian's chromium; skipped where none is installed)."""
    import shutil
    import subprocess
    browser = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)),
                   None)
    if browser is None:
        pytest.skip("no chromium installed (apt install chromium)")
    cfg, start = node
    n = start()
    a = Box(cfg.collector.endpoint, "box-a")
    try:
        a.send(message("hello", "box-a", 1, software="t", segment=[0, 99], fs=100.0,
                       lat=np.linspace(32.6, 32.7, 100), lon=np.full(100, 130.7), elev_m=np.zeros(100)))
        a.send(encode_message(location("box-a", 2, "a-1")))
        assert a.acked() == {2}
    finally:
        a.close()
    out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", n.status_url],
                         capture_output=True, text=True, timeout=60)
    dom = out.stdout
    assert "<svg" in dom and 'class="event"' in dom and 'class="segment"' in dom and "box-a" in dom


def test_node_fuses_two_boxes(node):
    """Picks and locations of two boxes for one event: the node relocates with both and the fused
    origin becomes the event's answer (what the status API shows)."""
    from edge.geodesy import destination, epicentral_km
    from edge.location import Locator

    from .test_fusion import N_CH, line, store_box_event

    from central.downlink import DownlinkSettings
    cfg, start = node
    downlink = f"tcp://127.0.0.1:{free_port()}"
    n = start(downlink=DownlinkSettings(endpoint=downlink))
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(downlink)
    time.sleep(0.3)                             # the subscription reaches the publisher
    lat, lon = line()
    src = tuple(float(x) for x in destination(float(lat[N_CH]), float(lon[N_CH]), 120.0, 12.0))
    times = Locator().synthetic_times(lat, lon, 0.0, source=(*src, 10.0), origin_time=T0)
    scratch = EventStore(":memory:")            # only to build the boxes' messages
    boxes = [Box(cfg.collector.endpoint, x) for x in ("box-a", "box-b")]
    try:
        for b, (box, sock) in enumerate(zip(("box-a", "box-b"), boxes)):
            sl = slice(b * N_CH, (b + 1) * N_CH)
            seen = np.flatnonzero(times[sl] <= times[sl].min() + 1.5)
            sock.send(message("hello", box, 1, software="t", segment=[b * N_CH, (b + 1) * N_CH - 1], fs=100.0,
                              lat=lat[sl], lon=lon[sl], elev_m=np.zeros(N_CH)))
            sock.send(encode_message(location(box, 2, f"{box}-0", lat=src[0] + 0.1 * (b + 1), lon=src[1], err=10.0,
                                              mag=5.0)))
            picks = store_box_event(scratch, box, b * N_CH, lat[sl], lon[sl], seen, times[sl][seen], 0)
            sock.send(encode_message({**picks, "seq": 3}))
            assert sock.acked() == {2, 3}            # the location and the picks of its event
        end = time.monotonic() + 10
        while n.counts["fused"] == 0 and time.monotonic() < end:
            time.sleep(0.1)
    finally:
        for s in boxes:
            s.close()
    assert n.counts["fused"] >= 1
    (ev,) = json.loads(get(n.status_url + "api/events")[2])
    assert ev["boxes"] == ["box-a", "box-b"]
    assert float(epicentral_km(ev["lat"], ev["lon"], *src)) < 2.0
    # the downlink: an alert with the fused event and a level for every box (M5 ~12 km away: stop)
    assert sub.poll(5000)
    from edge.wire import decode_message
    alert = decode_message(sub.recv())
    sub.close()
    assert alert["type"] == "alert" and alert["event"] == str(ev["id"])
    assert float(epicentral_km(alert["lat"], alert["lon"], *src)) < 2.0
    assert {x["box"]: x["level"] for x in alert["levels"]} == {"box-a": "stop", "box-b": "stop"}


def test_bad_config_exits_with_ex_config(tmp_path):
    import subprocess
    import sys
    config = tmp_path / "central.toml"
    config.write_text('[status]\nport = 70000\n')
    out = subprocess.run([sys.executable, "-m", "central", "run", "--config", str(config)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 78 and "status.port" in out.stderr
