"""The edge daemon: stream in, picks, locations and alarms out, relay driven, central told.

One main loop, single-threaded on the alarm path: a frame is decoded, run through the detector,
whose decision blocks drive the EEW processor (:mod:`edge.eew`); an alarm goes to the relay
controller at once, in the same call, and only then to the uplink queue. The uplink (journal, ZeroMQ
to central) runs in its own thread and never holds the loop up. Between frames the loop serves the
relay link (PERMIT while healthy, ACK/STATUS, ALARM retries), the control socket, the heartbeat and
systemd's watchdog.

Healthy means: frames arrived within ``stream.timeout_s``, processing is less than ``max_lag_s``
behind the stream and the chain raised nothing unexpected lately. Only a healthy edge sends PERMIT,
so a blind or stuck edge lets the relay controller fall to STOP by itself. systemd's watchdog is fed
from the loop, every half ``WatchdogSec`` (at most every second), as long as it turns and is less
than ``watchdog_lag_s`` behind.
"""
from __future__ import annotations

import dataclasses
import gc
import logging
import signal
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np
import zmq

from edge import sdnotify
from edge.channels import ChannelGeometry, read_geometry
from edge.config import EdgeConfig, load_config
from edge.control import ControlServer
from edge.downlink import AlertListener
from edge.exceptions import ConfigError, DasEewError, DecodeError
from edge.logs import log_event
from edge.pipeline import Chain, LagMeter, LatencyStats, build_chain, warm_up
from edge.procstats import ProcessStats
from edge.sources import ReplayStream, ZmqStream
from edge.stream import StreamSequencer, decode_stream_frame
from edge.uplink import Uplink

log = logging.getLogger("edge.daemon")
POLL_S = 0.02
UNHEALTHY_AFTER_ERROR_S = 5.0


class EdgeDaemon:
    """The trackside daemon (``python -m edge run``).

    Parameters
    ----------
    config : EdgeConfig
    config_path : the file SIGHUP re-reads (None: reload keeps the config).
    replay : fiber records to play instead of subscribing to the interrogator.
    speed : replay pacing, x real time (0: as fast as the daemon goes).
    linger_s : after a replay, wait this long for central to acknowledge everything before exiting.
    """

    def __init__(self, config: EdgeConfig, *, config_path: str | Path | None = None,
                 replay: list[str | Path] | None = None, speed: float = 1.0, frame_s: float = 0.1,
                 linger_s: float = 5.0, context: zmq.Context | None = None):
        self.config = config
        self.config_path = config_path
        self.replay = replay
        self.speed = speed
        self.frame_s = frame_s
        self.linger_s = linger_s
        self.context = context or zmq.Context.instance()
        self._stop = threading.Event()
        self._reload = False
        self.started = time.monotonic()
        self.process_stats = ProcessStats()
        self.counts = {"frames": 0, "rejected": {}, "gaps": 0, "missing_frames": 0, "processing_errors": 0,
                       "alarms": 0, "locations": 0, "snippets": 0, "picks": 0, "picks_messages": 0,
                       "reloads": 0}
        self.alarm_latency_ms: deque[float] = deque(maxlen=1000)
        self.frame_latency = LatencyStats()      # frame received -> processed (incl. any alarm sent), ms
        self.lag = LagMeter()
        self.chain: Chain | None = None
        self.relay = None
        self.uplink: Uplink | None = None
        self.downlink: AlertListener | None = None
        self.control: ControlServer | None = None
        self.source = None
        self.sequencer: StreamSequencer | None = None
        self._t_recv = self._t_start = 0.0
        self._last_frame = -np.inf
        self._last_error = -np.inf
        self._replay_done_at: float | None = None
        self._record: Path | None = None

    # --- life cycle -------------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop the main loop (thread- and signal-safe)."""
        self._stop.set()

    def request_reload(self) -> None:
        """Re-read the config at the next turn of the loop (signal-safe)."""
        self._reload = True

    def run(self) -> int:
        """Set up, announce READY, loop until stopped; return the exit status."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
            signal.signal(signal.SIGINT, lambda *_: self.request_stop())
            signal.signal(signal.SIGHUP, lambda *_: self.request_reload())
        try:
            self._setup()
            sdnotify.ready()
            sdnotify.status("running")
            log_event(log, "ready", box=self.config.box, replay=bool(self.replay),
                      control=self.config.control_endpoint)
            next_beat = next_hello = next_watchdog = time.monotonic()
            while not self._stop.is_set():
                self._turn()
                now = time.monotonic()
                if now >= next_watchdog:
                    next_watchdog = now + self._watchdog_period_s()
                    self._feed_watchdog()
                if now >= next_beat:
                    next_beat = now + self.config.uplink.heartbeat_s
                    self._heartbeat()
                if now >= next_hello and self.chain is not None:
                    next_hello = now + self.config.uplink.hello_s
                    self._hello()
                if self._reload:
                    self._reload = False
                    self._reload_config()
                if self.replay and self._replay_finished():
                    break
        finally:
            sdnotify.stopping()
            self._teardown()
        log_event(log, "stopped", **self.summary())
        return 0

    def _setup(self) -> None:
        cfg = self.config
        state = cfg.state_path
        state.mkdir(parents=True, exist_ok=True)
        self.uplink = Uplink(cfg.uplink, box=cfg.box, state_dir=state, context=self.context)
        if cfg.uplink.alerts:
            self.downlink = AlertListener(cfg.uplink.alerts, box=cfg.box, context=self.context,
                                          max_age_s=cfg.uplink.alert_max_age_s)
        self.uplink.start()
        if cfg.relay.port:
            from edge.relay_link import RelayLink
            r = cfg.relay
            self.relay = RelayLink(r.port, edge_id=r.edge_id, controller_id=r.controller_id, key=r.key,
                                   baudrate=r.baudrate, permit_interval_s=r.permit_interval_s,
                                   alarm_retry_s=r.alarm_retry_s)
            self.relay.open()
        self.control = ControlServer(cfg.control_endpoint, {"status": self.status, "clear": self._clear},
                                     context=self.context)
        warm_up(cfg)
        # Everything alive now (modules, compiled kernels, the chain's arrays) lives for the whole
        # run: freezing it keeps the collector's full passes, which would scan it all, off the
        # alarm path.
        gc.collect()
        gc.freeze()
        if self.replay:
            self.source = ReplayStream(self.replay, frame_s=self.frame_s, speed=self.speed)
        else:
            if not cfg.stream.geometry:
                raise ConfigError("[stream] geometry is required to run on a live stream (channel coordinates)")
            geometry = read_geometry(cfg.stream.geometry)
            self.chain = self._build(geometry, cfg.stream.fs_hz, cfg.stream.ch0)
            self.sequencer = StreamSequencer(fs=cfg.stream.fs_hz, ch0=cfg.stream.ch0, n_ch=geometry.n_channels)
            self.source = ZmqStream(cfg.stream, self.context)

    def _teardown(self) -> None:
        if self.chain is not None and self.replay:
            self._flush_chain()
        for part in (self.source, self.control, self.downlink):
            if part is not None:
                part.close()
        if self.relay is not None:
            self.relay.close()
        if self.uplink is not None:
            self.uplink.stop()

    # --- the loop ---------------------------------------------------------------------------------
    def _turn(self) -> None:
        items = self.source.receive(POLL_S)
        for item in items:
            if self.replay:
                self._on_replay_frame(item)
            else:
                self._on_stream_message(*item)
            if self.relay is not None:
                self.relay.poll(self.healthy())
        if self.relay is not None and not items:
            self.relay.poll(self.healthy())
        if self.downlink is not None:
            for alert in self.downlink.poll():
                self._on_alert(alert)
        self.control.serve_pending()

    def _on_alert(self, alert: dict) -> None:
        """Central's alert for this box: raise the level through the EEW processor, so the relay
        hears it first and central gets the box's own alarm message for it."""
        if self.chain is None:
            return
        self._t_recv = self._t_start = time.perf_counter()
        self.chain.eew.external_alarm(alert["event"], alert["level"], alert["reason"])

    def _on_stream_message(self, parts: list[bytes], t_recv: float) -> None:
        try:
            frame = decode_stream_frame(parts)
        except DecodeError as exc:
            self._reject("decode", str(exc))
            return
        verdict = self.sequencer.accept(frame)
        if verdict in ("duplicate", "old", "mismatch"):
            self._reject(verdict, f"frame seq {frame.seq}")
            return
        if verdict == "gap":
            self.counts["gaps"] += 1
            # After a gap or an interrogator restart the data clock may have jumped (a replayed or
            # sped-up stream, a GPS re-lock): measure lag from a fresh baseline, or a backward jump
            # would read as minutes of lag and hold the edge unhealthy (no PERMIT) for the window.
            self.lag = LagMeter()
        self._process(frame, t_recv)

    def _on_replay_frame(self, item) -> None:
        if item.record != self._record:
            if self.chain is not None:
                self._flush_chain()
            self._record = item.record
            self.chain = self._build(item.geometry, item.frame.fs, 0)
            log_event(log, "replay_record", record=str(item.record))
        self._process(item.frame, item.t_recv)

    def _process(self, frame, t_recv: float) -> None:
        self._t_recv = t_recv
        self._t_start = time.perf_counter()
        try:
            self.chain.detector.process(frame.data, frame.t0)
        except DasEewError as exc:
            self._processing_error(exc)
        except Exception as exc:  # a bug must not stop the alarm path for good: restart the chain
            self._processing_error(exc)
            log.exception("chain_failed")
            self.chain = self._build(self.chain.geometry, self.chain.fs_hz, self.chain.ch0)
        self.counts["frames"] += 1
        self.frame_latency.add((time.perf_counter() - t_recv) * 1e3)
        self._last_frame = time.monotonic()
        self.lag.update(time.time() - (frame.t0 + frame.n_t / frame.fs))

    def _processing_error(self, exc: Exception) -> None:
        self.counts["processing_errors"] += 1
        self._last_error = time.monotonic()
        log_event(log, "processing_error", level=logging.ERROR, error=repr(exc))

    def _reject(self, why: str, detail: str) -> None:
        rejected = self.counts["rejected"]
        rejected[why] = rejected.get(why, 0) + 1
        if rejected[why] <= 10 or rejected[why] % 1000 == 0:   # a flood must not flood the log too
            log_event(log, "frame_rejected", level=logging.WARNING, reason=why, detail=detail[:200],
                      count=rejected[why])

    # --- messages ---------------------------------------------------------------------------------
    def _build(self, geometry: ChannelGeometry, fs_hz: float, ch0: int) -> Chain:
        return build_chain(self.config, geometry, fs_hz=fs_hz, ch0=ch0, emit=self._emit,
                           on_picks=self._on_picks)

    def _emit(self, msg: dict) -> None:
        """A message from the EEW processor. Alarms reach the relay before anything else happens."""
        if msg["type"] == "alarm":
            if self.relay is not None:
                self.relay.alarm(msg["level"], msg["event"], tuple(msg["segment"]))
            now = time.perf_counter()
            latency_ms = (now - self._t_recv) * 1e3
            self.alarm_latency_ms.append(latency_ms)
            self.counts["alarms"] += 1
            # queued_ms: received but waiting behind earlier frames of the same poll
            log_event(log, "alarm", level=logging.WARNING, event_id=msg["event"], alarm_level=msg["level"],
                      reason=msg["reason"], latency_ms=round(latency_ms, 2),
                      queued_ms=round(max(0.0, self._t_start - self._t_recv) * 1e3, 2))
        elif msg["type"] == "snippet":
            self.counts["snippets"] += 1
            log_event(log, "snippet", event_id=msg["event"], channels=len(msg["channel"]), n_t=msg["n_t"])
        else:
            self.counts["locations"] += 1
            log_event(log, "location", event_id=msg["event"], lat=round(msg["lat"], 4), lon=round(msg["lon"], 4),
                      depth_km=round(msg["depth_km"], 1), mag=msg["mag"], update=msg["update"])
        self.uplink.submit(msg)

    def _on_picks(self, picks, event_id: str | None) -> None:
        self.counts["picks"] += len(picks)
        self.counts["picks_messages"] += 1
        t = np.array([p.time for p in picks])
        t_ref = float(t.min())
        self.uplink.submit({"type": "picks", "event": event_id, "t_ref": t_ref,
                            "channel": np.array([p.channel for p in picks], np.int32),
                            "dt": (t - t_ref).astype(np.float32),
                            "snr": np.array([p.snr for p in picks], np.float32),
                            "amp": np.array([p.amplitude for p in picks], np.float32)})

    def _hello(self) -> None:
        c = self.chain
        self.uplink.submit({"type": "hello", "software": _software(), "segment": [c.ch0, c.ch0 + c.geometry.n_channels - 1],
                            "fs": float(c.fs_hz), "lat": c.geometry.lat, "lon": c.geometry.lon,
                            "elev_m": c.geometry.elev_m})

    def _heartbeat(self) -> None:
        self.uplink.submit({"type": "heartbeat", "health": self.health()})

    def _watchdog_period_s(self) -> float:
        """Half of systemd's WatchdogSec= (what sd_watchdog_enabled(3) advises), at most 1 s."""
        interval = sdnotify.watchdog_interval_s()
        return 1.0 if interval is None else min(1.0, interval / 2)

    def _feed_watchdog(self) -> None:
        # Only a loop that turns and keeps up with the stream feeds systemd; a stuck or hopelessly
        # late one is killed and restarted (the relay has fallen to STOP by itself meanwhile).
        if self.lag.lag_s < self.config.watchdog_lag_s:
            sdnotify.watchdog()

    def _flush_chain(self) -> None:
        try:
            self.chain.detector.flush()
        except DasEewError as exc:
            self._processing_error(exc)

    def _replay_finished(self) -> bool:
        if not self.source.finished:
            return False
        if self._replay_done_at is None:
            self._replay_done_at = time.monotonic()
            self._flush_chain()
            self.chain = None
        up = self.uplink.stats()
        idle = (up["journal_depth"] == 0 and up["queued"] == 0) or not self.config.uplink.endpoint
        return idle or time.monotonic() - self._replay_done_at > self.linger_s

    # --- health, status, control ------------------------------------------------------------------
    def healthy(self) -> bool:
        """May the relay controller be told "line clear"? (see the module docstring)"""
        now = time.monotonic()
        fresh = now - self._last_frame < self.config.stream.timeout_s
        return (fresh and self.lag.lag_s < self.config.max_lag_s and self.chain is not None
                and now - self._last_error > UNHEALTHY_AFTER_ERROR_S)

    def health(self) -> dict:
        """The heartbeat's figures (flat, or one nested level)."""
        proc = self.process_stats.sample()
        det = self.chain.detector.stats() if self.chain is not None else {}
        up = self.uplink.stats()
        relay = self.relay.stats() if self.relay is not None else None
        lat = np.array(self.alarm_latency_ms) if self.alarm_latency_ms else None
        return {"uptime_s": round(time.monotonic() - self.started, 1), "healthy": self.healthy(),
                "loop_ok": self.lag.lag_s < self.config.watchdog_lag_s,
                "frames": self.counts["frames"], "gaps": self.counts["gaps"],
                "rejected": dict(self.counts["rejected"]),
                "missing_frames": (self.sequencer.stats().get("missing_frames", 0) if self.sequencer else 0),
                "processing_errors": self.counts["processing_errors"],
                "lag_s": round(self.lag.lag_s, 3), "data_age_s": _round(self.lag.latest, 3),
                "cpu_pct": _round(proc.get("cpu_pct"), 1), "rss_mb": _round(proc.get("rss_mb"), 1),
                "picks": self.counts["picks"], "locations": self.counts["locations"], "alarms": self.counts["alarms"],
                "channels": det.get("channels", {}),
                "relay": "none" if relay is None else relay["controller"]["output"],
                "relay_unacked": 0 if relay is None else relay["alarms_unacked"],
                "journal_depth": up["journal_depth"], "uplink_dropped": dict(up["dropped"]),
                "central_age_s": up["central_age_s"],
                "alarm_latency_ms_max": None if lat is None else round(float(lat.max()), 2),
                "frame_latency_ms": self.frame_latency.summary()}

    def status(self) -> dict:
        """Everything ``python -m edge status`` shows."""
        events = []
        if self.chain is not None:
            eew = self.chain.eew
            events = list(eew.closed_summaries)[-10:] + ([eew.event.summary()] if eew.event is not None else [])
        return {"box": self.config.box, "health": self.health(), "events": events,
                "detector": {} if self.chain is None else self.chain.detector.stats(),
                "relay": None if self.relay is None else self.relay.stats(),
                "uplink": self.uplink.stats(), "control_rejected": self.control.rejected,
                "config": str(self.config_path) if self.config_path else None,
                "reloads": self.counts["reloads"], "eew": dataclasses.asdict(self.config.eew),
                "alerts": None if self.downlink is None else self.downlink.counts}

    def summary(self) -> dict:
        """Counters for the final log line and tests."""
        lat = sorted(self.alarm_latency_ms)
        return {**{k: v for k, v in self.counts.items()},
                "alarm_latency_ms": [round(x, 2) for x in lat[-20:]],
                "uplink": None if self.uplink is None else self.uplink.stats()}

    def _clear(self) -> dict:
        if self.relay is None:
            return {"error": "no relay controller configured"}
        sent = self.relay.clear()
        log_event(log, "clear_requested", level=logging.WARNING, sent=sent)
        return {"sent": sent, "relay": self.relay.stats()["controller"]}

    def _reload_config(self) -> None:
        """SIGHUP: apply what can change live; name what needs a restart."""
        self.counts["reloads"] += 1
        sdnotify.reloading()
        try:
            new = load_config(self.config_path) if self.config_path else self.config
        except ConfigError as exc:
            log_event(log, "reload_failed", level=logging.ERROR, error=str(exc))
            sdnotify.ready()
            return
        fixed = ("box", "state_dir", "control", "relay", "uplink", "stream")
        ignored = [k for k in fixed if getattr(new, k) != getattr(self.config, k)]
        rebuild = any(getattr(new, k) != getattr(self.config, k) for k in ("detector", "locator", "model"))
        self.config = dataclasses.replace(new, **{k: getattr(self.config, k) for k in fixed})
        logging.getLogger().setLevel(self.config.log_level.upper())
        if self.chain is not None:
            if rebuild:
                self.chain = self._build(self.chain.geometry, self.chain.fs_hz, self.chain.ch0)
            else:
                self.chain.eew.config = self.config.eew
        log_event(log, "reloaded", level=logging.WARNING, chain_rebuilt=rebuild, needs_restart=ignored)
        sdnotify.ready()


def _round(x, digits: int):
    return None if x is None or not np.isfinite(x) else round(float(x), digits)


def _software() -> str:
    try:
        from importlib.metadata import version
        return f"das-eew {version('das-eew')}"
    except Exception:  # not installed as a distribution (a source checkout)
        return "das-eew (source)"
