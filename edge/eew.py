"""The alarm path after detection: picks -> event -> location, magnitude, curvature -> gate -> messages.

It runs at the end of every decision block of the detector (``Detector.on_block``), on data time
only, so a replay gives exactly what the daemon gave. The update schedule is the paper's: a first
location once ``min_picks`` P candidates exist, a relocation every ``relocate_every`` new ones, and
the current answer. Which solution is the answer departs from the paper's smallest misfit, on
purpose and measured (``python -m edge evaluate``, kyushu-2022 seed 0): the first solutions, from a
few dozen picks on a short stretch of fiber, fit those picks as well as any later one (model errors
grow with aperture, pick errors do not shrink) but are poorly constrained and often 10 km off, and the
smallest-misfit rule kept them: 47 % of the near events within 12 km at 2 s. Our picks are first
arrivals only (one per channel, moveout-checked), so a later solution rarely gets worse; the answer
is the latest solution whose misfit passes the gate (93 % within 12 km at 2 s, 80 % at 1 s). The
paper's rule and a "best constrained" rule remain selectable (``EewConfig.answer``).
"""
from __future__ import annotations

import logging
import time as wallclock
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable

import numpy as np

from edge.curvature import curvature_a
from edge.detection import Detector, Pick
from edge.exceptions import ConfigError, DasEewError
from edge.gate import GateConfig, decide, strong_motion_run_km, trusted
from edge.geodesy import epicentral_km
from edge.logs import log_event
from edge.magnitude import MIN_PEAK_SNR, MagnitudeRelation

SCHEMA_VERSION = 1
log = logging.getLogger("edge.eew")
LEVEL_RANK = {"none": 0, "advisory": 1, "stop": 2}


@dataclass(frozen=True)
class EewConfig:
    """Event bookkeeping and update schedule."""

    min_picks: int = 30            # P candidates before the first location
    relocate_every: int = 20       # new P candidates between relocations (the paper's 20)
    event_window_s: float = 60.0   # picks up to this long after the event's first detection belong to it
    close_after_s: float = 20.0    # an event closes after this long without a new pick
    answer: str = "latest"         # which solution a location carries: "latest", "constrained", "misfit"
    curvature_km: float = 20.0     # the curvature fit uses picks this close (along the fiber) to the earliest
    gate: GateConfig = field(default_factory=GateConfig)

    def __post_init__(self) -> None:
        if not (self.min_picks >= 4 and self.relocate_every >= 1 and self.event_window_s > 0
                and self.close_after_s > 0 and self.curvature_km > 0):
            raise ConfigError(f"invalid eew settings: {self!r}")
        if self.answer not in ("latest", "constrained", "misfit"):
            raise ConfigError(f"eew answer must be 'latest', 'constrained' or 'misfit', got {self.answer!r}")


@dataclass
class EewEvent:
    """One event as the edge sees it."""

    id: str
    first_detection: float                              # earliest trigger time, data s
    picks: dict[int, Pick] = field(default_factory=dict)  # first P candidate per processing channel
    n_at_location: int = 0
    update: int = 0
    best: object | None = None                          # best-misfit Location so far
    best_score: tuple = (2, float("inf"))
    magnitude: float = float("nan")
    level: str = "none"
    last_pick_data_time: float = 0.0
    previous_answer: object | None = None
    # (seconds since first detection, latest relocation, answer, curvature a) at every relocation
    history: list = field(default_factory=list)
    # (trusted, magnitude, km to the segment, depth km) at every relocation: what the stop rule saw,
    # so that an evaluation can ask what another stop level would have done
    decisions: list = field(default_factory=list)

    def summary(self) -> dict:
        """What a status page shows of the event: small, no picks."""
        best = self.best
        return {"event": self.id, "level": self.level, "picks": len(self.picks), "updates": self.update,
                "lat": None if best is None else round(best.lat, 4),
                "lon": None if best is None else round(best.lon, 4),
                "depth_km": None if best is None else round(best.depth_km, 1),
                "mag": None if not np.isfinite(self.magnitude) else round(float(self.magnitude), 2)}


class EewProcessor:
    """Turns the detector's P candidates into ``location`` and ``alarm`` messages.

    Parameters
    ----------
    detector : Detector
        Its ``on_block`` is taken over.
    lat, lon, elev_m : (n_raw,) coordinates of the detector's raw channels.
    locator : an ``edge.location.Locator``.
    magnitude : MagnitudeRelation
    emit : called with every message (a dict with the keys of DESIGN.md).
    box : box id; ``channel0`` the first channel number (the segment is [channel0, channel0 + n - 1]).
    """

    def __init__(self, detector: Detector, *, lat: np.ndarray, lon: np.ndarray, elev_m: np.ndarray, locator,
                 magnitude: MagnitudeRelation | None = None, config: EewConfig | None = None,
                 emit: Callable[[dict], None], box: str = "edge", channel0: int = 0, keep_events: int = 64):
        self.det = detector
        self.config = config or EewConfig()
        self.locator = locator
        self.magnitude = magnitude or MagnitudeRelation.default()
        self.emit = emit
        self.box = box
        g = detector.grid
        n = g.n_channels * g.stack
        self.lat = np.asarray(lat, dtype=float)[:n]
        self.lon = np.asarray(lon, dtype=float)[:n]
        self.elev_m = np.asarray(elev_m, dtype=float)[:n]
        self.channel0 = channel0
        self.segment = [channel0, channel0 + len(lat) - 1]
        # coordinates of the processing channels (stack centres) for distances to the segment
        centre = np.arange(g.n_channels) * g.stack + g.stack // 2
        self.proc_lat, self.proc_lon = self.lat[centre], self.lon[centre]
        self.event: EewEvent | None = None
        # Whole events (picks, relocation history) for evaluation; a daemon keeps 1 so that its memory
        # does not grow with the number of events (thousands of picks each at 10,000 channels), and
        # the summaries of the last 64 for its status page.
        self.recent_events: deque[EewEvent] = deque(maxlen=keep_events)
        self.closed_summaries: deque[dict] = deque(maxlen=64)
        self._external: dict[str, EewEvent] = {}              # central's alerts, by their event
        self.last_block_time = 0.0                            # data time at the end of the newest block
        self.events_closed = 0
        self.location_failures = 0
        self.snippet_failures = 0
        self.snippet_channels = 20
        # (t_start, t_end, archive columns) of the snippets still due, by event; the ids already sent
        self._snippet_plans: dict[str, tuple] = {}
        self._snippets_sent: deque[str] = deque(maxlen=64)
        self.seq = 0
        detector.on_block = self.on_block

    # --- the block step -------------------------------------------------------------------------
    def on_block(self, now: float, picks: list[Pick]) -> None:
        """Everything decided at the end of one block of data (data time ``now``)."""
        self.last_block_time = now
        ev = self.event
        if ev is not None and (now - ev.last_pick_data_time > self.config.close_after_s
                               and now - ev.first_detection > self.config.close_after_s):
            self._close(ev)
            self.event = ev = None
        for p in picks:
            if ev is None or p.trigger_time - ev.first_detection > self.config.event_window_s:
                if ev is not None:
                    self._close(ev)
                ev = self.event = self._new_event(p.trigger_time)
            if p.index not in ev.picks:
                ev.picks[p.index] = p
                ev.first_detection = min(ev.first_detection, p.trigger_time)
                ev.last_pick_data_time = now
        self._fallback(now)
        for event_id, plan in list(self._snippet_plans.items()):   # closed events' too: still due
            if now >= plan[1]:
                del self._snippet_plans[event_id]
                self._send_snippet(event_id, plan)
        if ev is None:
            return
        n = len(ev.picks)
        due = n >= self.config.min_picks and (ev.update == 0 or n - ev.n_at_location >= self.config.relocate_every)
        if due:
            try:
                self._relocate(ev, now)
            except (ValueError, ArithmeticError, DasEewError) as exc:
                # the alarm path must outlive any one bad solution: count it, keep the last answer
                ev.n_at_location = n
                self.location_failures += 1
                log_event(log, "location_failed", level=logging.WARNING, event_id=ev.id, error=str(exc))

    # --- parts ------------------------------------------------------------------------------
    def _fallback(self, now: float) -> None:
        cfg = self.config.gate
        run = strong_motion_run_km(self.det.block_peak, self.det.along_km, self.det.health.usable,
                                   cfg.fallback_strain_rate)
        if run < cfg.fallback_km:
            return
        ev = self.event
        if ev is None:
            ev = self.event = self._new_event(now)
            ev.last_pick_data_time = now
        self._raise(ev, "stop", f"amplitude: {run:.1f} km of fiber above {cfg.fallback_strain_rate:.0e} 1/s", now)

    def _relocate(self, ev: EewEvent, now: float) -> None:
        picks = list(ev.picks.values())
        raw = np.array([p.channel - self.channel0 for p in picks])
        t = np.array([p.time for p in picks])
        loc = self.locator.locate(self.lat[raw], self.lon[raw], self.elev_m[raw], t)
        ev.update += 1
        ev.n_at_location = len(picks)
        score = self._score(loc, ev.update)
        if score <= ev.best_score:
            ev.best, ev.best_score = loc, score
        best = ev.best
        along = np.array([p.along_km for p in picks])
        x0 = along[int(np.argmin(t))]
        # the paper's coefficient describes the curve around the first detection; over a long,
        # bending fiber a single quadratic through every pick would describe nothing
        near = np.abs(along - x0) <= self.config.curvature_km
        fit = curvature_a(along[near], t[near])
        ev.history.append((now - ev.first_detection, loc, best, fit.a))
        ev.magnitude = self.magnitude_at(best.lat, best.lon, best.depth_km, picks, now)
        if ev.id not in self._snippets_sent:
            plan = self._plan_snippet(ev, best)
            if plan is not None:
                self._snippet_plans[ev.id] = plan
                while len(self._snippet_plans) > 16:           # bounded: the oldest plan gives way
                    self._snippet_plans.pop(next(iter(self._snippet_plans)))
                    self.snippet_failures += 1
        err_h = float(best.err_major_km)
        self._send({"type": "location", "event": ev.id, "origin_time": best.origin_time, "lat": best.lat,
                    "lon": best.lon, "depth_km": best.depth_km, "err_h_km": err_h, "err_z_km": best.err_z_km,
                    "misfit": best.misfit, "n_picks": best.n_picks, "curvature_a": _finite(fit.a),
                    "mag": _finite(ev.magnitude), "update": ev.update, "data_time": now,
                    "since_first_pick_s": now - ev.first_detection})
        ok, why_trust = trusted(self.config.gate, curvature_a=fit.a, misfit=best.misfit, n_picks=best.n_picks,
                                err_h_km=err_h)
        if ok and ev.previous_answer is not None:
            # a far event's apparent near-field solutions wander by tens of km between updates; a
            # real near event's settle. A stop needs the answer to have stayed put.
            moved = float(epicentral_km(best.lat, best.lon, ev.previous_answer.lat, ev.previous_answer.lon))
            if moved > self.config.gate.max_move_km:
                ok, why_trust = False, f"answer moved {moved:.0f} km since the last update"
        elif ok:
            ok, why_trust = False, "first trusted answer: waiting for one confirmation"
        ev.previous_answer = best
        dist = self._distance_to_segment(best)
        ev.decisions.append((ok, float(ev.magnitude), dist, float(best.depth_km)))
        level, why = decide(self.config.gate, trusted_location=ok, magnitude=ev.magnitude, distance_km=dist,
                            depth_km=best.depth_km)
        self._raise(ev, level, f"{why}; {why_trust}", now)

    def _score(self, loc, update: int) -> tuple[int, float]:
        """Rank of a solution (lower is better) under ``config.answer``.

        ``misfit``: the paper's smallest misfit (degrees-of-freedom corrected). ``constrained``: among
        solutions whose misfit passes the gate, the smallest horizontal error. ``latest``: among those,
        the newest (most picks, widest aperture). Solutions failing the misfit test rank after all
        others, by corrected misfit.
        """
        n = max(loc.n_picks, 5)
        corrected = float(loc.misfit * np.sqrt(n / (n - 4)))
        rule = self.config.answer
        if rule == "misfit" or not loc.misfit <= self.config.gate.misfit_max_s:
            return (1 if rule != "misfit" else 0, corrected)
        if rule == "constrained" and np.isfinite(loc.err_major_km):
            return (0, float(loc.err_major_km))
        return (0, -float(update))

    def magnitude_at(self, lat: float, lon: float, depth_km: float, picks: list[Pick], now: float) -> float:
        """Median magnitude of ``picks`` for a source at (lat, lon, depth_km), each channel's P window
        stopped before its predicted S and at data time ``now`` (NaN if no channel is usable)."""
        det = self.det
        idx = np.array([p.index for p in picks])
        own = det.peaks.onset[idx] == np.array([p.sample for p in picks])   # window still this pick's
        idx = idx[own]
        if idx.size == 0:
            return float("nan")
        epi = epicentral_km(lat, lon, self.proc_lat[idx], self.proc_lon[idx])
        hypo = np.hypot(epi, depth_km)
        table = self.locator.table
        s_minus_p = table.travel_time_s(epi, depth_km) - table.travel_time_p(epi, depth_km)
        onset_t = np.array([p.time for p in picks])[own]
        noise = np.array([p.amplitude / p.snr for p in picks])[own]
        max_lag = np.minimum(0.9 * np.nan_to_num(s_minus_p, nan=0.0), now - onset_t)
        peak = det.peaks.p_peak(idx, np.maximum(max_lag, 0.0), det.grid.fs_hz)
        peak = np.where(peak >= MIN_PEAK_SNR * noise, peak, 0.0)
        m, _, _ = self.magnitude.magnitude(peak, hypo)
        return m

    def _plan_snippet(self, ev: EewEvent, loc) -> tuple | None:
        """Which kept channels (nearest the epicentre) and which data-time span (5 s before the
        earliest of their P arrivals to 45 s after the latest: the classifier's windows) the event's
        snippet will hold; P from the channel's pick, else predicted from ``loc``."""
        archive = self.det.archive
        if archive is None:
            return None
        cols = archive.channels
        dist = epicentral_km(loc.lat, loc.lon, self.proc_lat[cols], self.proc_lon[cols])
        take = np.sort(np.argsort(dist)[:self.snippet_channels])
        idx = cols[take]
        predicted = self.locator.synthetic_times(self.proc_lat[idx], self.proc_lon[idx], 0.0,
                                                 source=(loc.lat, loc.lon, loc.depth_km), origin_time=loc.origin_time)
        p = np.array([ev.picks[i].time if i in ev.picks else predicted[k] for k, i in enumerate(idx.tolist())])
        if not np.all(np.isfinite(p)):
            return None
        return float(p.min() - 5.0), float(p.max() + 45.0), take

    def _send_snippet(self, event_id: str, plan: tuple) -> None:
        """The planned waveforms as a ``snippet`` message (lossy: the uplink may drop it, counted)."""
        self._snippets_sent.append(event_id)
        det, archive = self.det, self.det.archive
        t_start, t_end, take = plan
        first = det.index_at(t_start)
        n = det.index_at(t_end) - first
        data = archive.window(first, n)
        if data is None:                     # a gap or restart since: those samples are gone
            self.snippet_failures += 1
            return
        data = data[take]
        centre = det.channel0 + archive.channels[take] * det.grid.stack + det.grid.stack // 2
        self._send({"type": "snippet", "event": event_id, "t0": float(det.time_of(first)), "fs": float(det.grid.fs_hz),
                    "channel": centre.astype(np.int32), "n_t": int(n), "data": data.astype(np.float32)})

    def _distance_to_segment(self, loc) -> float:
        epi = epicentral_km(loc.lat, loc.lon, self.proc_lat, self.proc_lon)
        return float(np.min(np.hypot(epi, loc.depth_km)))

    def _raise(self, ev: EewEvent, level: str, reason: str, now: float) -> None:
        if LEVEL_RANK[level] <= LEVEL_RANK[ev.level]:
            return
        ev.level = level
        self._send({"type": "alarm", "event": ev.id, "level": level, "reason": reason, "segment": self.segment,
                    "data_time": now, "since_first_pick_s": now - ev.first_detection, "issued": wallclock.time()})

    def _send(self, msg: dict) -> None:
        self.seq += 1
        self.emit({"v": SCHEMA_VERSION, "box": self.box, "seq": self.seq, "sent": wallclock.time(), **msg})

    def external_alarm(self, event: str, level: str, reason: str) -> None:
        """Raise ``level`` for an event someone else located (central's fused alert): an alarm
        message under the event id ``central-<event>``, never lowering what was raised before."""
        key = f"central-{event}"
        ev = self._external.get(key)
        if ev is None:
            ev = self._external[key] = EewEvent(id=key, first_detection=self.last_block_time)
            while len(self._external) > 100:
                self._external.pop(next(iter(self._external)))
        self._raise(ev, level, reason, self.last_block_time)

    def _close(self, ev: EewEvent) -> None:
        self.events_closed += 1
        self.closed_summaries.append(ev.summary())

    def _new_event(self, t: float) -> EewEvent:
        ev = EewEvent(id=self._event_id(t), first_detection=t)
        self.recent_events.append(ev)
        return ev

    def _event_id(self, t: float) -> str:
        stamp = datetime.fromtimestamp(t, tz=timezone.utc).strftime("%Y%m%dT%H%M%S.%f")[:-3]
        return f"{self.box}-{stamp}"


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
