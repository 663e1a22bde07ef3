"""Which central event a box's new event belongs to: by origin and epicentre, or by P arrival times.

Each box locates what it saw; central must tell whether two boxes saw one earthquake (their solutions
fused into a better one) or two (kept apart: JMA's false warnings after 2011 came from merging
simultaneous events). See :class:`AssociationConfig` for the rules.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge.geodesy import epicentral_km


@dataclass(frozen=True)
class AssociationConfig:
    """When a box's new event is the same as one central already has.

    Two origins belong together when their origin times differ by at most ``time_s`` and their
    epicentres by at most ``distance_km`` plus the pair's horizontal uncertainties. Simultaneous
    events farther apart than that stay apart (JMA's post-2011 false warnings merged them).

    A box at the end of an event's reach locates it badly (its picks span a short stretch on one
    side), so its first solution can miss both tests. With a travel-time function, a box also joins
    an event when the P arrival times agree instead: the event's origin predicts the box's first
    detection (at its nearest channel) within ``arrival_s``, or the box's origin predicts the first
    detection of a box already in the event. Only events within ``arrival_window_s`` of origin time
    and ``arrival_max_km`` of the box's fiber are tried.
    """

    time_s: float = 6.0          # s
    distance_km: float = 40.0    # km
    window_s: float = 600.0      # s: only events this recent are candidates
    arrival_s: float = 1.5       # s
    arrival_window_s: float = 30.0  # s
    arrival_max_km: float = 200.0   # km


@dataclass(frozen=True)
class Solution:
    """What association needs of a box's location: its hypocentre and its first detection (data s)."""

    origin_time: float
    lat: float
    lon: float
    depth_km: float
    err_h_km: float | None
    first_detection: float


class Associator:
    """The association rules of ``config``; ``travel_time_p(epicentral_km, depth_km) -> s`` enables
    the arrival-time rule."""

    def __init__(self, config: AssociationConfig,
                 travel_time_p: Callable[[np.ndarray, float], np.ndarray] | None = None):
        self.config = config
        self.travel_time_p = travel_time_p

    def associate(self, db: sqlite3.Connection, box: str, s: Solution,
                  box_channels: Callable[[str], tuple | None]) -> int | None:
        """The stored event (id) a box's new event belongs to, or None for a new one.

        ``db`` is the store's connection; ``box_channels(box)`` gives ``(ch0, lat, lon, elev_m)``.
        """
        a = self.config
        span = max(a.time_s, a.arrival_window_s if self.travel_time_p is not None else 0.0)
        rows = db.execute(
            "SELECT id, origin_time, lat, lon, depth_km, err_h_km FROM events WHERE origin_time BETWEEN ? AND ? "
            "AND updated > ? AND id NOT IN (SELECT event_id FROM edge_events WHERE box=?)",
            (s.origin_time - span, s.origin_time + span, s.origin_time - a.window_s, box)).fetchall()
        best, best_d = None, np.inf
        for r in rows:
            d = float(epicentral_km(s.lat, s.lon, r["lat"], r["lon"]))
            near = (abs(r["origin_time"] - s.origin_time) <= a.time_s
                    and d <= a.distance_km + (s.err_h_km or 0.0) + (r["err_h_km"] or 0.0))
            if (near or self._arrivals_agree(db, box, s, r, box_channels)) and d < best_d:
                best, best_d = r["id"], d
        return best

    def _arrivals_agree(self, db: sqlite3.Connection, box: str, s: Solution, event: sqlite3.Row,
                        box_channels: Callable[[str], tuple | None]) -> bool:
        """Whether the event's origin predicts this box's first detection, or this box's origin
        predicts the first detection of a box already in the event (see :class:`AssociationConfig`)."""
        if self.travel_time_p is None:
            return False
        if self._predicts(event["origin_time"], event["lat"], event["lon"], event["depth_km"],
                          box_channels(box), s.first_detection):
            return True
        others = db.execute(
            "SELECT o.box, MIN(o.data_time - o.since_first_pick_s) FROM origins o WHERE o.event_id=? "
            "AND o.method='edge' GROUP BY o.box", (event["id"],)).fetchall()
        return any(self._predicts(s.origin_time, s.lat, s.lon, s.depth_km, box_channels(other), t_first)
                   for other, t_first in others if t_first is not None)

    def _predicts(self, origin_time, lat, lon, depth_km, channels, first_detection: float) -> bool:
        """Whether P from this hypocentre reaches the nearest of ``channels`` at ``first_detection``."""
        if channels is None or origin_time is None or lat is None or depth_km is None:
            return False
        epi = float(np.min(epicentral_km(lat, lon, channels[1], channels[2])))
        if epi > self.config.arrival_max_km:
            return False
        predicted = origin_time + float(self.travel_time_p(np.array([epi]), max(0.0, float(depth_km)))[0])
        return bool(abs(predicted - first_detection) <= self.config.arrival_s)
