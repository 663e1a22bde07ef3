"""Central's ``alert`` messages for this box: the downlink of a line's fused events.

Central relocates with every box's picks and tells boxes on neighbouring segments what it predicts
for them, often before their own fiber has seen the P wave. The same fail-safe rules hold as for the
box's own alarms: an alert can only *raise* a level (never clear, lower or hold back an alarm), it is
only believed while fresh (``max_age_s`` of wall time between central's ``sent`` and now), and
anything malformed, stale, for another box or already applied is counted and dropped. Polled without
waiting from the daemon's main loop, like the stream.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict

import zmq

from edge.exceptions import DecodeError
from edge.logs import log_event
from edge.wire import decode_message

__all__ = ["AlertListener", "LEVEL_RANK"]

log = logging.getLogger("edge.downlink")
LEVEL_RANK = {"none": 0, "advisory": 1, "stop": 2}
MAX_ALERT_BYTES = 1 << 20


class AlertListener:
    """A SUB socket on central's alert PUB.

    Parameters
    ----------
    endpoint : central's downlink address (``tcp://central:5561``).
    box : this box's id; only the ``levels`` entry naming it is used.
    max_age_s : alerts older than this (wall time since central sent them), s, are stale.
    """

    def __init__(self, endpoint: str, *, box: str, context: zmq.Context | None = None, max_age_s: float = 10.0):
        self.box = box
        self.max_age_s = max_age_s
        self.socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.RCVHWM, 1000)
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_ALERT_BYTES)
        self.socket.setsockopt(zmq.SUBSCRIBE, b"")
        self.socket.connect(endpoint)
        self.applied: OrderedDict[str, int] = OrderedDict()     # central event -> highest level applied
        self.counts = {"received": 0, "applied": 0, "not_for_us": 0, "already": 0, "rejected": {}}

    def poll(self, max_messages: int = 100) -> list[dict]:
        """The alerts to act on now: ``{"event", "level", "reason"}`` each, ``level`` advisory or stop."""
        actions = []
        for _ in range(max_messages):
            try:
                payload = self.socket.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            self.counts["received"] += 1
            action = self._judge(payload)
            if action is not None:
                actions.append(action)
        return actions

    def _judge(self, payload: bytes) -> dict | None:
        try:
            msg = decode_message(payload)
        except DecodeError as exc:
            return self._reject("decode", str(exc))
        if msg["type"] != "alert":
            return self._reject("type", f"{msg['type']} message on the alert channel")
        age = time.time() - msg["sent"]
        if not -self.max_age_s <= age <= self.max_age_s:
            return self._reject("stale", f"alert for {msg['event']} sent {age:.1f} s ago")
        mine = [x for x in msg["levels"] if x["box"] == self.box]
        if not mine:
            self.counts["not_for_us"] += 1
            return None
        level = max((x["level"] for x in mine), key=LEVEL_RANK.get)
        event = msg["event"]
        if LEVEL_RANK[level] <= self.applied.get(event, 0):
            self.counts["already"] += 1
            return None
        self.applied[event] = LEVEL_RANK[level]
        self.applied.move_to_end(event)
        while len(self.applied) > 1000:
            self.applied.popitem(last=False)
        self.counts["applied"] += 1
        mag = "M?" if msg["mag"] is None else f"M{msg['mag']:.1f}"
        return {"event": event, "level": level,
                "reason": f"central alert: {mag} at {msg['lat']:.3f}, {msg['lon']:.3f}, {msg['depth_km']:.0f} km "
                          f"(fused event {event})"}

    def _reject(self, why: str, detail: str) -> None:
        rejected = self.counts["rejected"]
        rejected[why] = rejected.get(why, 0) + 1
        if rejected[why] <= 10 or rejected[why] % 1000 == 0:
            log_event(log, "alert_rejected", level=logging.WARNING, reason=why, detail=detail[:200], count=rejected[why])
        return None

    def close(self) -> None:
        self.socket.close(0)
