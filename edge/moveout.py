"""Coherent-noise rejection: a pick is a P candidate only if its moveout along the fiber is seismic.

Trains and road traffic move along the fiber at 0-90 m/s, so the triggers they cause sweep the
fiber at that speed: 11 s/km or slower. A P wave sweeps it at its apparent velocity along the
fiber, which is at least the P velocity at the source (1/p, divided by the cosine between fiber
and ray azimuth): faster than ~5 km/s, and near-simultaneous broadside. A pick is accepted when
at least ``min_channels`` picks (itself included) on distinct channels spanning at least
``min_span_m`` lie within ``tol_s`` of a line through it whose slowness is at most
``max_slowness_s_per_km``, they are at least ``min_fraction`` of all picks in the cone of such
lines (beside a train, channels trigger at random times and some line up by chance, but most do
not), and they are at least ``min_density`` of the channels across their span (a P front triggers
most channels it crosses); it is rejected when ``hold_s`` of data time pass without that.

With 10 m channels a train's front crosses 300 m in 3.3 s, far outside any such line, while a P
wave crosses it in under 0.1 s; random noise triggers would have to line up within ``tol_s`` on
``min_channels`` channels by chance.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from edge.exceptions import ConfigError

PENDING, ACCEPTED, REJECTED = 0, 1, 2


@dataclass(frozen=True)
class MoveoutConfig:
    """The seismic-moveout test (distances along the fiber)."""

    max_slowness_s_per_km: float = 0.5   # 2 km/s: 20x faster than any train, 2.5x slower than P
    tol_s: float = 0.1                   # pick scatter allowed about the line, s
    neighbourhood_km: float = 1.5        # how far along the fiber neighbours are looked for
    min_channels: int = 5                # picks on the line, itself included
    min_span_m: float = 300.0            # along-fiber extent of those picks
    min_fraction: float = 0.5            # of the picks in the seismic cone around it, on the line
    min_density: float = 0.3             # of the channels across the line's span, picked on it
    hold_s: float = 3.0                  # data time a pick may wait for neighbours
    max_neighbour_channels: int = 96     # channels examined per side (the reach shrinks beyond that)

    def __post_init__(self) -> None:
        if not (self.max_slowness_s_per_km > 0 and self.tol_s > 0 and self.neighbourhood_km > 0
                and self.min_channels >= 2 and self.min_span_m >= 0 and self.hold_s > 0
                and self.max_neighbour_channels >= 1):
            raise ConfigError(f"invalid moveout settings: {self!r}")


@numba.njit(cache=True, nogil=True)
def judge_pending(p_chan, p_time, p_state, p_slowness, n_pending, recent_time, along_km, lo, hi, near_channels,
                  now, max_slow, tol, min_channels, min_span_km, min_fraction, min_density, spacing_km, hold_s,
                  cand_t, cand_x):
    """Decide every pending pick; return how many changed state.

    ``recent_time`` (n_ch, K) holds the K most recent pick times per channel (NaN empty); ``lo``,
    ``hi`` the channel range within the neighbourhood of each channel; ``near_channels`` the number
    of channels within ``min_span_km`` of each; ``cand_t``, ``cand_x`` scratch of at least
    2 * K * (channels per side + 1).
    """
    n_slots = recent_time.shape[1]
    changed = 0
    for p in range(n_pending):
        if p_state[p] != PENDING:
            continue
        c0 = p_chan[p]
        t0 = p_time[p]
        x0 = along_km[c0]
        # 1. neighbours inside the seismic cone |dt| <= s_max |dx| + tol, one list entry per pick
        m = 0
        for c in range(lo[c0], hi[c0] + 1):
            if c == c0:
                continue
            dx = along_km[c] - x0
            for s in range(n_slots):
                t = recent_time[c, s]
                if t == t and abs(t - t0) <= max_slow * abs(dx) + tol:
                    cand_t[m] = t - t0
                    cand_x[m] = dx
                    m += 1
        # 2. is there a line through the pick, |slowness| <= s_max, on which the picks within tol
        #    (a) are at least min_channels and span min_span, (b) cover min_density of the channels
        #    across that span and of those within min_span of the pick itself (a P front is
        #    continuous; a line through a train pick that only meets the real front far away is not
        #    support), and (c) are min_fraction of the picks in the cone? Trial slopes: broadside and
        #    the slope to (at most ~16 of) the neighbours.
        near_needed = max(3.0, min_density * near_channels[c0])
        best_n = -1
        best_s = 0.0
        ok = False
        step = max(1, m // 16)
        for qq in range(-1, (m + step - 1) // step):
            q = qq * step
            if q < 0:
                s_try = 0.0
            else:
                if cand_x[q] == 0.0:
                    continue
                s_try = cand_t[q] / cand_x[q]
                if s_try > max_slow:
                    s_try = max_slow
                elif s_try < -max_slow:
                    s_try = -max_slow
            n_in = 0
            n_near = 0
            x_min = 0.0
            x_max = 0.0
            for j in range(m):
                if abs(cand_t[j] - s_try * cand_x[j]) <= tol:
                    n_in += 1
                    if abs(cand_x[j]) <= min_span_km:
                        n_near += 1
                    if cand_x[j] < x_min:
                        x_min = cand_x[j]
                    if cand_x[j] > x_max:
                        x_max = cand_x[j]
            span = x_max - x_min
            if n_in > best_n:
                best_n = n_in
                best_s = s_try
            needed = max(min_channels, min_density * (span / spacing_km + 1.0))
            if (n_in + 1 >= needed and span >= min_span_km and n_near + 1 >= near_needed
                    and n_in >= min_fraction * m):
                ok = True
                best_s = s_try
                break
        if ok:
            p_state[p] = ACCEPTED
            p_slowness[p] = best_s
            changed += 1
        elif now - t0 > hold_s:
            p_state[p] = REJECTED
            p_slowness[p] = best_s
            changed += 1
    return changed


class MoveoutFilter:
    """Holds picks until their moveout along the fiber shows them seismic (or rejects them).

    Parameters
    ----------
    along_km : float64 (n_ch,)
        Along-fiber distance of every processing channel, km (monotonic).
    config : MoveoutConfig
    capacity : int
        Most picks pending at once; beyond it the oldest pending picks are rejected and counted.
    """

    SLOTS = 2   # recent picks remembered per channel

    def __init__(self, along_km: np.ndarray, config: MoveoutConfig | None = None, *, capacity: int = 65536):
        self.config = cfg = config or MoveoutConfig()
        self.along_km = np.ascontiguousarray(along_km, dtype=np.float64)
        n = self.along_km.size
        self.spacing_km = float(np.median(np.diff(self.along_km))) if n > 1 else 1.0
        # every channel within reach is examined (striding through them would skip whole sets of
        # channels); with dense channels the reach shrinks to max_neighbour_channels, never below
        # twice the span a candidate needs
        reach = max(min(cfg.neighbourhood_km, cfg.max_neighbour_channels * self.spacing_km),
                    2.0 * cfg.min_span_m / 1e3)
        self.reach_km = reach
        self.lo = np.searchsorted(self.along_km, self.along_km - reach - 1e-9, side="left").astype(np.int64)
        self.hi = (np.searchsorted(self.along_km, self.along_km + reach + 1e-9, side="right") - 1).astype(np.int64)
        widest = int(np.max(np.maximum(self.hi - np.arange(n), np.arange(n) - self.lo))) if n else 0
        span = cfg.min_span_m / 1e3
        near_lo = np.searchsorted(self.along_km, self.along_km - span - 1e-9, side="left")
        near_hi = np.searchsorted(self.along_km, self.along_km + span + 1e-9, side="right")
        self.n_near = (near_hi - near_lo).astype(np.float64)
        self.recent = np.full((n, self.SLOTS), np.nan)
        self.capacity = capacity
        self._chan = np.zeros(capacity, np.int64)
        self._time = np.zeros(capacity)
        self._state = np.zeros(capacity, np.int8)
        self._slowness = np.zeros(capacity)
        self._payload: list = []
        per_side = widest + 1
        self._cand_t = np.zeros(2 * self.SLOTS * (per_side + 1))
        self._cand_x = np.zeros_like(self._cand_t)
        self.accepted = 0
        self.rejected = 0
        self.overflow = 0

    @property
    def n_pending(self) -> int:
        """Picks waiting for a decision."""
        return len(self._payload)

    def add(self, channel: int, time: float, payload) -> None:
        """Add a pick on processing channel ``channel`` at data time ``time``; ``payload`` comes back."""
        if len(self._payload) == self.capacity:
            self._compact(force_oldest=True)
        k = len(self._payload)
        self._chan[k] = channel
        self._time[k] = time
        self._state[k] = PENDING
        self._payload.append(payload)
        slots = self.recent[channel]
        slots[1:] = slots[:-1].copy()
        slots[0] = time

    def judge(self, now: float) -> tuple[list, list]:
        """Decide what can be decided at data time ``now``; return (accepted, rejected) payloads
        with their slowness along the fiber (s/km) as ``(payload, slowness)`` pairs."""
        cfg = self.config
        n = len(self._payload)
        if n == 0:
            return [], []
        judge_pending(self._chan, self._time, self._state, self._slowness, n, self.recent, self.along_km,
                      self.lo, self.hi, self.n_near, now, cfg.max_slowness_s_per_km, cfg.tol_s,
                      cfg.min_channels, cfg.min_span_m / 1e3, cfg.min_fraction, cfg.min_density,
                      self.spacing_km, cfg.hold_s, self._cand_t, self._cand_x)
        acc = [(self._payload[k], float(self._slowness[k])) for k in range(n) if self._state[k] == ACCEPTED]
        rej = [(self._payload[k], float(self._slowness[k])) for k in range(n) if self._state[k] == REJECTED]
        self.accepted += len(acc)
        self.rejected += len(rej)
        if acc or rej:
            self._compact()
        return acc, rej

    def reset(self) -> None:
        """Forget every pick (after a stream gap: times before it cannot line up with times after)."""
        self.rejected += len(self._payload)
        self._payload = []
        self.recent.fill(np.nan)

    def _compact(self, force_oldest: bool = False) -> None:
        n = len(self._payload)
        keep = np.flatnonzero(self._state[:n] == PENDING)
        if force_oldest and keep.size == n:
            keep = keep[1:]
            self.overflow += 1
            self.rejected += 1
        self._payload = [self._payload[k] for k in keep]
        m = keep.size
        for a in (self._chan, self._time, self._state, self._slowness):
            a[:m] = a[keep]
