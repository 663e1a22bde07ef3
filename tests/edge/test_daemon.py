"""The edge daemon in-process over real ZeroMQ sockets on loopback: stream in, messages to a real
collector, journal across outages and restarts, bad frames counted, the control socket."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import zmq

from central.collector import Collector
from edge.channels import write_geometry_csv
from edge.config import EdgeConfig, StreamSettings, UplinkSettings
from edge.control import request
from edge.daemon import EdgeDaemon
from edge.record import FiberRecord, write_record
from sim.emulator import encode_frame

from .conftest import simulate

VOLATILE = ("sent", "issued", "seq", "box", "record")


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CentralStub:
    """A real collector in a thread, keeping every new message."""

    def __init__(self, endpoint: str):
        self.messages: list[dict] = []
        self.collector = Collector(endpoint, self.messages.append)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            self.collector.poll(0.02)

    def of_type(self, *types):
        return [m for m in self.messages if m["type"] in types]

    def close(self):
        self._stop.set()
        self._thread.join(5)
        self.collector.close()


def stable(msgs):
    """Location and alarm messages without the keys that depend on wall time or numbering."""
    out = []
    for m in msgs:
        if m["type"] in ("location", "alarm"):
            out.append({k: (np.round(v, 6) if isinstance(v, float) else v) for k, v in m.items()
                        if k not in VOLATILE})
    return out


@pytest.fixture(scope="module")
def event(tmp_path_factory):
    """A warranted event (M4.5, 6 km beside a 30 km fiber) as a record, its geometry CSV, and what
    ``python -m edge replay`` makes of it (the reference for the daemon's messages)."""
    rec = simulate(magnitude=4.5, length_km=30.0, duration_s=50.0, seed=21)
    layout = rec.scene.layout
    d = tmp_path_factory.mktemp("event")
    path = d / "m45.npz"
    write_record(FiberRecord(rec.data, rec.fs, rec.t0, layout.lat, layout.lon, layout.elev_m), path)
    write_geometry_csv(d / "channels.csv", layout.lat, layout.lon, layout.elev_m)
    out = subprocess.run([sys.executable, "-m", "edge", "replay", str(path), "--json", "--box", "box-a"], capture_output=True,
                         text=True, check=True).stdout
    reference = [json.loads(line) for line in out.splitlines()]
    assert any(m["type"] == "alarm" and m["level"] == "stop" for m in reference)
    return rec, path, d / "channels.csv", reference


def config_for(tmp_path, **kw) -> EdgeConfig:
    uplink = kw.pop("uplink", UplinkSettings())
    return EdgeConfig(box="box-a", state_dir=str(tmp_path / "state"), control=f"ipc://{tmp_path}/control.sock",
                      uplink=replace(uplink, heartbeat_s=0.2, resend_s=0.3), **kw)


def start(daemon: EdgeDaemon) -> threading.Thread:
    t = threading.Thread(target=daemon.run, daemon=True)
    t.start()
    return t


def wait_for(predicate, timeout_s=30.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_replay_reports_everything_to_central(event, tmp_path):
    """A replayed record gives central the very location and alarm messages ``edge replay`` prints,
    acknowledged (journal empty), plus hello, heartbeats and picks."""
    _, path, _, reference = event
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    central = CentralStub(endpoint)
    try:
        daemon = EdgeDaemon(config_for(tmp_path, uplink=UplinkSettings(endpoint=endpoint)), replay=[path], speed=0,
                            linger_s=10)
        assert daemon.run() == 0
        assert wait_for(lambda: len(central.of_type("location", "alarm")) >= len(stable(reference)), 5)
    finally:
        central.close()
    assert stable(central.of_type("location", "alarm")) == stable(reference)
    assert daemon.uplink.stats()["journal_depth"] == 0
    assert central.of_type("hello") and central.of_type("heartbeat")
    picks = central.of_type("picks")
    dropped = daemon.uplink.stats()["dropped"].get("picks", 0)   # lossy by design, but every drop counted
    assert daemon.counts["picks"] > 30 and picks
    assert len(picks) + dropped == daemon.counts["picks_messages"]
    if not dropped:
        assert sum(len(m["channel"]) for m in picks) == daemon.counts["picks"]
    seqs = [m["seq"] for m in central.messages]
    assert len(set(seqs)) == len(seqs)
    assert daemon.alarm_latency_ms and max(daemon.alarm_latency_ms) < 5000


def test_live_stream_survives_bad_frames(event, tmp_path):
    """Over a real PUB/SUB stream with malformed, duplicate and foreign frames mixed in, the daemon
    counts every rejected frame by reason and still says exactly what the clean replay says."""
    rec, _, geometry, reference = event
    pub = zmq.Context.instance().socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    pub.setsockopt(zmq.SNDHWM, 100000)
    cfg = config_for(tmp_path, stream=StreamSettings(endpoint=f"tcp://127.0.0.1:{port}", geometry=str(geometry),
                                                     fs_hz=rec.fs, timeout_s=2.0))
    messages: list[dict] = []
    daemon = EdgeDaemon(cfg)
    thread = start(daemon)
    try:
        assert wait_for(lambda: daemon.uplink is not None and daemon.control is not None)
        # slow joiner: send garbage until the daemon has seen (and rejected) some
        assert wait_for(lambda: pub.send_multipart([b"das", b"\xc1", b""]) or daemon.counts["rejected"].get("decode"))
        daemon.uplink.submit = lambda msg, _orig=daemon.uplink.submit: (messages.append(msg), _orig(msg))[1]
        n = int(rec.fs / 10)
        for k, i in enumerate(range(0, rec.data.shape[0], n)):
            frame = encode_frame(rec.data[i:i + n], seq=k, t0=rec.t0 + i / rec.fs, fs=rec.fs, ch0=0)
            pub.send_multipart(frame)
            if k % 50 == 7:
                pub.send_multipart(frame)                                   # duplicate
                pub.send_multipart([b"das", frame[1]])                      # truncated
                pub.send_multipart([b"das", frame[1], frame[2][:-4]])       # short payload
                wrong = encode_frame(rec.data[i:i + n, :10], seq=k, t0=rec.t0 + i / rec.fs, fs=rec.fs, ch0=0)
                pub.send_multipart(wrong)                                   # another segment's shape
            time.sleep(0.003)
        status = request(cfg.control_endpoint, "status")
        assert status["box"] == "box-a" and status["health"]["frames"] > 0
        assert request(cfg.control_endpoint, "clear") == {"error": "no relay controller configured"}
        assert wait_for(lambda: daemon.counts["frames"] >= rec.data.shape[0] // n, 20)
        daemon.chain.detector.flush()
    finally:
        daemon.request_stop()
        thread.join(20)
        pub.close(0)
    assert not thread.is_alive()
    rejected = daemon.counts["rejected"]
    assert rejected.get("duplicate", 0) + rejected.get("old", 0) >= 5
    assert rejected.get("decode", 0) >= 10 and rejected.get("mismatch", 0) >= 5
    assert daemon.counts["processing_errors"] == 0
    assert stable(messages) == stable(reference)


def test_journal_survives_central_outage_and_restart(event, tmp_path):
    """Central down during the event: locations, alarms and the event's picks wait in the journal; a
    restarted daemon sends them, in order, once central is back, and numbers its new messages above
    the old ones."""
    _, path, _, reference = event
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    cfg = config_for(tmp_path, uplink=UplinkSettings(endpoint=endpoint))
    first = EdgeDaemon(cfg, replay=[path], speed=0, linger_s=0.2)
    first.run()
    pending = first.uplink.stats()["journal_depth"]
    n_picks = first.counts["picks_messages"]
    assert len(stable(reference)) < pending <= len(stable(reference)) + n_picks
    quiet = tmp_path / "quiet.npz"
    rec = simulate(magnitude=None, length_km=3.0, duration_s=3.0, seed=5)
    layout = rec.scene.layout
    write_record(FiberRecord(rec.data, rec.fs, rec.t0, layout.lat, layout.lon, layout.elev_m), quiet)
    central = CentralStub(endpoint)
    try:
        second = EdgeDaemon(cfg, replay=[quiet], speed=1.0, linger_s=10)
        second.run()
        assert wait_for(lambda: len(central.of_type("location", "alarm", "picks")) >= pending, 5)
    finally:
        central.close()
    got = central.of_type("location", "alarm")
    assert stable(got) == stable(reference)
    journaled = central.of_type("location", "alarm", "picks")
    assert all(m["event"] is not None for m in central.of_type("picks"))
    assert len(journaled) == pending
    assert [m["seq"] for m in journaled] == sorted(m["seq"] for m in journaled)
    newer = [m["seq"] for m in central.messages if m["type"] == "heartbeat"]
    assert newer and min(newer) > max(m["seq"] for m in journaled)
    assert second.uplink.stats()["journal_depth"] == 0


def test_stream_restart_with_an_earlier_clock_is_not_lag(event, tmp_path):
    """An interrogator restarting (seq from 0) with its data clock a minute earlier than before is a
    gap, not a minute of processing lag: the edge stays healthy and keeps sending PERMIT."""
    rec, _, geometry, _ = event
    pub = zmq.Context.instance().socket(zmq.PUB)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    cfg = config_for(tmp_path, stream=StreamSettings(endpoint=f"tcp://127.0.0.1:{port}", geometry=str(geometry),
                                                     fs_hz=rec.fs, timeout_s=2.0))
    daemon = EdgeDaemon(cfg)
    thread = start(daemon)
    n = int(rec.fs / 10)
    block = rec.data[:n]

    def send(k, t0):
        pub.send_multipart(encode_frame(block, seq=k, t0=t0, fs=rec.fs, ch0=0))
        time.sleep(0.1)

    try:
        assert wait_for(lambda: daemon.uplink is not None)
        ahead = time.time() + 60.0                           # a replayed stream running ahead of wall time
        assert wait_for(lambda: send(0, ahead) or daemon.counts["frames"] > 0, 10)
        for k in range(1, 30):
            send(k, ahead + k * 0.1)
        now = time.time()
        for k in range(30):                                 # the interrogator restarts on wall time
            send(k, now + k * 0.1)
        assert daemon.counts["gaps"] >= 1
        assert daemon.lag.lag_s < cfg.max_lag_s and daemon.healthy()
    finally:
        daemon.request_stop()
        thread.join(20)
        pub.close(0)
