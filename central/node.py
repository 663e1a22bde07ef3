"""The central node: ``python -m central run --config central.toml``.

One loop owns the collector socket and the store's writer connection. Each batch of box messages is
stored in one transaction and committed *before* the batch is acknowledged, so an ack always means
"durably stored" and a central killed at any moment loses nothing a box journals (the box resends
what was not acked, and ``UNIQUE(box, seq)`` drops what had been stored already). Once a second the
loop re-derives every box's state from when it was last heard (online, late, offline) and logs each
change. The status page runs in its own thread on its own read-only connection.
"""
from __future__ import annotations

import logging
import signal
import threading
import time

import zmq

from central.collector import Collector
from central.config import BoxHealthSettings, CentralConfig
from central.store import EventStore
from edge import sdnotify
from edge.exceptions import DasEewError
from edge.logs import log_event

log = logging.getLogger("central.node")
BOX_STATES = ("online", "late", "offline")


def box_state(age_s: float | None, settings: BoxHealthSettings) -> str:
    """``online``, ``late`` or ``offline`` for a box last heard ``age_s`` seconds ago (None: never)."""
    if age_s is None or age_s >= settings.offline_after_s:
        return "offline"
    return "late" if age_s >= settings.late_after_s else "online"


class CentralNode:
    """Collector + store (+ status page) in one process; see the module docstring.

    Parameters
    ----------
    config : the node's settings.
    """

    def __init__(self, config: CentralConfig, *, context: zmq.Context | None = None):
        self.config = config
        self.context = context or zmq.Context.instance()
        self._stop = threading.Event()
        self.store: EventStore | None = None
        self.collector: Collector | None = None
        self.status_server = None
        self.box_states: dict[str, str] = {}
        self.counts = {"stored": {}, "fused": 0, "fusion_errors": 0, "alerts": 0,
                       "snippets": {"classified": 0, "no_event": 0, "no_windows": 0, "no_model": 0, "failed": 0}}
        self.classifier = None
        self._dirty: set[int] = set()                 # events with new picks or locations since their fusion
        self._fused_at: dict[int, float] = {}
        self._locator = None
        self.publisher = None

    def request_stop(self) -> None:
        self._stop.set()

    @property
    def status_url(self) -> str | None:
        return None if self.status_server is None else self.status_server.url

    def run(self) -> int:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
            signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        cfg = self.config
        self.store = EventStore(cfg.db, association=cfg.association, travel_time_p=self._travel_time_p)
        self.collector = Collector(cfg.collector.endpoint, self.on_message, context=self.context,
                                   before_ack=self.store.commit)
        self._start_classifier()
        if cfg.downlink.endpoint:
            from central.downlink import AlertPublisher
            self.publisher = AlertPublisher(cfg.downlink.endpoint, context=self.context)
        try:
            from central.status import StatusServer
            self.status_server = StatusServer(cfg, host=cfg.status.host, port=cfg.status.port)
            self.status_server.start()
            sdnotify.ready()
            log_event(log, "ready", endpoint=cfg.collector.endpoint, db=cfg.db, status=self.status_url)
            next_check = time.monotonic()
            while not self._stop.is_set():
                self.store.begin()
                self.collector.poll(0.1)
                self._store_classifications()
                self.store.commit()
                if self._dirty:
                    try:
                        self._fuse()
                    except Exception:  # noqa: BLE001 - fusion is an improvement; the intake must go on
                        self.counts["fusion_errors"] += 1
                        log.exception("fusion failed")
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + 1.0
                    self._check_boxes()
                    sdnotify.watchdog()
        finally:
            sdnotify.stopping()
            if self.status_server is not None:
                self.status_server.stop()
            self.collector.close()
            if self.classifier is not None:
                self.classifier.close()
            if self.publisher is not None:
                self.publisher.close()
            self.store.close()
        log_event(log, "stopped", **self.summary())
        return 0

    def on_message(self, msg: dict) -> None:
        """Store one new message (the collector has checked, de-duplicated it and will ack it)."""
        kind = msg["type"]
        store = self.store
        if kind == "location":
            event_id = store.add_location(msg)
            if event_id is not None:
                self._dirty.add(event_id)
        elif kind == "alarm":
            store.add_alarm(msg)
        elif kind == "picks":
            if store.add_picks(msg):
                event_id = store.event_of(msg["box"], msg["event"])
                if event_id is not None:
                    self._dirty.add(event_id)
        elif kind == "heartbeat":
            store.record_heartbeat(msg)
        elif kind == "hello":
            store.record_hello(msg)
        elif kind == "snippet":
            self._on_snippet(msg)
        stored = self.counts["stored"]
        stored[kind] = stored.get(kind, 0) + 1

    def _start_classifier(self) -> None:
        """The classifier, when enabled and its model loads; otherwise snippets are counted only."""
        settings = self.config.classifier
        if not settings.enabled:
            return
        from central.classification import SnippetClassifier
        try:
            self.classifier = SnippetClassifier(settings)
        except DasEewError as exc:
            log_event(log, "classifier_unavailable", level=logging.WARNING, error=str(exc))

    def _on_snippet(self, msg: dict) -> None:
        from central.classification import snippet_windows
        counts = self.counts["snippets"]
        if self.classifier is None:
            counts["no_model"] += 1
            return
        event_id = self.store.event_of(msg["box"], msg["event"])
        if event_id is None:
            counts["no_event"] += 1
            return
        data = snippet_windows(self.store, msg)
        if len(data) == 0:
            counts["no_windows"] += 1
            return
        self.classifier.submit(event_id, data)

    def _store_classifications(self) -> None:
        if self.classifier is None:
            return
        from central.classification import combine
        for event_id, result in self.classifier.finished():
            if isinstance(result, Exception):
                self.counts["snippets"]["failed"] += 1
                log_event(log, "classification_failed", level=logging.ERROR, event_id=event_id, error=repr(result))
                continue
            event = self.store.event(event_id)
            c = combine(event.get("classification") if event else None, result)
            self.store.add_classification(event_id, self.classifier.name, c["probabilities"], c["n"])
            self.counts["snippets"]["classified"] += 1
            best = max(c["probabilities"], key=c["probabilities"].get)
            log_event(log, "classified", event_id=event_id, kind=best, p=c["probabilities"][best],
                      measurements=c["n"])

    def _fusion_locator(self):
        """The fusion locator (travel-time tables built on first use)."""
        if self._locator is None:
            from central.fusion import fusion_locator
            self._locator = fusion_locator(self.config.fusion)
        return self._locator

    def _travel_time_p(self, epicentral_km, depth_km):
        """First-P travel time, s, of the fusion locator's model (association by arrival times)."""
        return self._fusion_locator().table.travel_time_p(epicentral_km, depth_km)

    def _fuse(self) -> None:
        """Relocate the events with news since their last fusion (each at most every ``every_s``)."""
        from central.fusion import fuse_event
        settings = self.config.fusion
        self._fusion_locator()
        now = time.monotonic()
        for event_id in list(self._dirty):
            if now - self._fused_at.get(event_id, -1e9) < settings.every_s:
                continue
            self._dirty.discard(event_id)
            self._fused_at[event_id] = now
            self.store.begin()
            try:
                origin = fuse_event(self.store, event_id, self._locator, settings)
            finally:
                self.store.commit()
            if origin is not None:
                self.counts["fused"] += 1
                log_event(log, "fused", event_id=event_id, boxes=origin["n_boxes"], n_picks=origin["n_picks"],
                          lat=round(origin["lat"], 4), lon=round(origin["lon"], 4),
                          depth_km=round(origin["depth_km"], 1), err_h_km=round(origin["err_h_km"], 2))
                if self.publisher is not None:
                    self._alert(event_id, origin)
        if len(self._fused_at) > 10_000:      # forget events not touched for long
            for event_id, t in sorted(self._fused_at.items(), key=lambda kv: kv[1])[:5_000]:
                del self._fused_at[event_id]

    def _alert(self, event_id: int, origin: dict) -> None:
        """Tell every box what the fused event means for its segment (when it means anything)."""
        from central.downlink import segment_levels
        mag = self.store.db.execute("SELECT mag FROM events WHERE id=?", (event_id,)).fetchone()[0]
        levels = segment_levels(self.store, origin, mag, n_boxes=origin["n_boxes"], settings=self.config.downlink)
        if any(x["level"] != "none" for x in levels):
            self.publisher.publish(event_id, origin, mag, levels)
            self.counts["alerts"] += 1
            log_event(log, "alert_published", level=logging.WARNING, event_id=event_id,
                      levels={x["box"]: x["level"] for x in levels})

    def _check_boxes(self) -> None:
        now = time.time()
        for box, heard in self.collector.last_heard.items():
            state = box_state(now - heard, self.config.box_health)
            if self.box_states.get(box) != state:
                level = logging.INFO if state == "online" else logging.WARNING
                log_event(log, f"box_{state}", level=level, box=box, last_heard_s=round(now - heard, 1))
                self.box_states[box] = state

    def summary(self) -> dict:
        return {**self.counts, "collector": None if self.collector is None else self.collector.counts,
                "boxes": dict(self.box_states)}
