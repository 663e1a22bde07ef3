"""Central's alerts at the edge over a real PUB/SUB pair: only fresh, well-formed alerts naming this
box act, and only by raising the level; everything else is counted. And in the daemon: an alert
reaches the EEW processor's alarm path (relay first, then central)."""
from __future__ import annotations

import threading
import time

import pytest
import zmq

from edge.downlink import AlertListener
from edge.wire import encode_message, message

from .test_daemon import config_for, event, free_port, wait_for  # noqa: F401 - event is a fixture


def alert(seq, event_id="7", levels=(("box-a", "stop"),), sent=None, **kw):
    return encode_message(message(
        "alert", "central", seq, sent=time.time() if sent is None else sent, event=event_id,
        origin_time=time.time() - 5, lat=32.7, lon=130.7, depth_km=10.0, mag=kw.get("mag", 5.1), err_h_km=2.0,
        levels=[{"box": b, "segment": [0, 99], "level": lv} for b, lv in levels]))


@pytest.fixture
def pub():
    sock = zmq.Context.instance().socket(zmq.PUB)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    yield sock, f"tcp://127.0.0.1:{port}"
    sock.close(0)


def collect(listener, pub_sock, payloads, want: int, timeout_s=5.0):
    """Send ``payloads`` (after the slow joiner is through) and poll until ``want`` were received."""
    assert wait_for(lambda: pub_sock.send(alert(0, "probe", levels=(("nobody", "none"),))) or
                    listener.poll() is not None and listener.counts["received"] > 0, timeout_s)
    base = listener.counts["received"]
    actions = []
    for p in payloads:
        pub_sock.send(p)
    end = time.monotonic() + timeout_s
    while listener.counts["received"] - base < want and time.monotonic() < end:
        actions += listener.poll()
        time.sleep(0.01)
    return actions


def test_only_fresh_alerts_for_this_box_raise_the_level(pub):
    sock, endpoint = pub
    listener = AlertListener(endpoint, box="box-a", max_age_s=10.0)
    try:
        payloads = [alert(1, "7", (("box-a", "advisory"), ("box-b", "stop"))),
                    alert(2, "7", (("box-a", "advisory"),)),               # already applied
                    alert(3, "7", (("box-a", "stop"),)),                   # raises
                    alert(4, "7", (("box-a", "advisory"),)),               # never lowers
                    alert(5, "8", (("box-b", "stop"),)),                   # another box's
                    alert(6, "9", sent=time.time() - 60),                  # stale
                    encode_message(message("heartbeat", "central", 7, health={})),
                    b"\xc1not msgpack"]
        actions = collect(listener, sock, payloads, len(payloads))
    finally:
        listener.close()
    assert [(a["event"], a["level"]) for a in actions] == [("7", "advisory"), ("7", "stop")]
    assert "M5.1" in actions[1]["reason"]
    c = listener.counts
    assert c["already"] == 2 and c["not_for_us"] >= 2 and c["applied"] == 2
    assert c["rejected"] == {"stale": 1, "type": 1, "decode": 1}


def test_daemon_raises_an_alarm_from_an_alert(event, tmp_path, pub):
    from dataclasses import replace

    from edge.config import StreamSettings, UplinkSettings
    from edge.daemon import EdgeDaemon
    sock, endpoint = pub
    rec, _, geometry, _ = event
    cfg = config_for(tmp_path, stream=StreamSettings(endpoint=f"tcp://127.0.0.1:{free_port()}", geometry=str(geometry),
                                                     fs_hz=rec.fs, timeout_s=2.0),
                     uplink=UplinkSettings(alerts=endpoint))
    cfg = replace(cfg, box="box-a")
    daemon = EdgeDaemon(cfg)
    sent: list[dict] = []
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: daemon.uplink is not None and daemon.downlink is not None and daemon.chain is not None)
        daemon.uplink.submit = lambda msg, _orig=daemon.uplink.submit: (sent.append(msg), _orig(msg))[1]
        assert wait_for(lambda: sock.send(alert(1, "42")) or daemon.counts["alarms"] > 0, 10)
    finally:
        daemon.request_stop()
        thread.join(20)
    alarms = [m for m in sent if m["type"] == "alarm"]
    assert alarms and alarms[0]["event"] == "central-42" and alarms[0]["level"] == "stop"
    assert alarms[0]["reason"].startswith("central alert")
    assert daemon.downlink.counts["applied"] == 1
