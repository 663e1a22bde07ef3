"""Channel health: dead, flat, NaN/Inf, clipped and wildly noisy channels, excluded and counted.

The ingest kernel accumulates per-channel statistics of the stacked input (sum, sum of squares,
non-finite count, largest |sample| and how often it was reached). Once per health window the
statistics are judged here and cleared. A channel is excluded at once when a window shows it bad and
comes back by itself after ``recover_windows`` healthy windows in a row; the chain then restarts its
filters and STA/LTA, so the return costs one settling time, never a false trigger.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.ndimage import median_filter

from edge.exceptions import ConfigError

HEALTHY, NONFINITE, DEAD, CLIPPED, NOISY = 0, 1, 2, 3, 4
STATE_NAMES = ("healthy", "nonfinite", "dead", "clipped", "noisy")


@dataclass(frozen=True)
class HealthConfig:
    """Thresholds of the channel-health judgement (every figure per processing channel)."""

    flat_ratio: float = 1e-4         # std below this times the median channel std: dead / flat
    clip_level: float | None = None  # |strain rate| at which the interrogator saturates, if known
    clip_min_count: int = 3          # samples exactly at the window's largest |x| that mean a flat top
    noisy_factor: float = 4.0        # band RMS above this times the median of its neighbours: noisy
    noisy_neighbours: int = 51       # channels in the running median the noisy test compares with
    noisy_windows: int = 30          # windows in a row above the factor (a train is loud for ~10-40 s)
    recover_windows: int = 2         # healthy windows in a row before an excluded channel returns

    def __post_init__(self) -> None:
        if not (self.flat_ratio >= 0 and (self.clip_level is None or self.clip_level > 0)
                and self.clip_min_count >= 2 and self.noisy_factor > 1 and self.noisy_neighbours >= 3
                and self.noisy_windows >= 1 and self.recover_windows >= 1):
            raise ConfigError(f"invalid channel-health settings: {self!r}")


@numba.njit(cache=True, nogil=True)
def add_band_power(x, sumsq):
    """Add the squares of the band-passed rows ``x`` (n, n_ch) to ``sumsq`` (n_ch,)."""
    n, n_ch = x.shape
    for i in range(n):
        for c in range(n_ch):
            v = np.float64(x[i, c])
            sumsq[c] += v * v


class ChannelHealth:
    """Per-channel statistics, judgement and counters for ``n_channels`` processing channels."""

    def __init__(self, n_channels: int, config: HealthConfig | None = None):
        self.config = config or HealthConfig()
        n = n_channels
        self.sum = np.zeros(n)
        self.sumsq = np.zeros(n)
        self.n = np.zeros(n, np.int64)
        self.bad = np.zeros(n, np.int64)
        self.absmax = np.zeros(n)
        self.n_at_max = np.zeros(n, np.int64)
        self.band_sumsq = np.zeros(n)     # analysis-band power of the window (see add_band_power)
        self.band_n = 0
        self.state = np.full(n, HEALTHY, np.int8)
        self.usable = np.ones(n, np.uint8)
        self._loud_run = np.zeros(n, np.int32)
        self._good_run = np.zeros(n, np.int32)
        self.windows = 0
        self.nonfinite_samples = 0
        self.exclusions = np.zeros(len(STATE_NAMES), np.int64)   # channel-windows excluded, by cause

    def clear(self) -> None:
        """Forget the statistics of the current window (after a judgement or a reset)."""
        for a in (self.sum, self.sumsq, self.absmax, self.band_sumsq):
            a.fill(0.0)
        self.band_n = 0
        for a in (self.n, self.bad, self.n_at_max):
            a.fill(0)

    def add_band(self, rows: np.ndarray) -> None:
        """Account band-passed rows (n, n_ch) of the current window."""
        add_band_power(rows, self.band_sumsq)
        self.band_n += rows.shape[0]

    def judge(self) -> np.ndarray:
        """Judge the window just completed; return the channels that came back (to be restarted).

        Loudness is judged in the analysis band when band-passed rows were accounted (the
        interrogator's own noise grows with frequency and can hide a channel that is ten times
        too loud where the detector listens), otherwise on the broadband standard deviation.
        """
        cfg = self.config
        n = np.maximum(self.n, 1)
        mean = self.sum / n
        std = np.sqrt(np.maximum(self.sumsq / n - mean * mean, 0.0))
        verdict = np.full(self.state.shape, HEALTHY, np.int8)
        finite = self.bad == 0
        live = finite & (std > 0)
        ref = float(np.median(std[live])) if live.any() else 0.0
        verdict[std <= cfg.flat_ratio * ref] = DEAD
        if cfg.clip_level is not None:
            clipped = self.absmax >= cfg.clip_level * (1 - 1e-6)
        else:
            # float data: a saturated channel repeats its extreme value exactly, which real
            # continuous-valued strain rate essentially never does
            clipped = (self.n_at_max >= cfg.clip_min_count) & (self.absmax > 0)
        verdict[clipped & (verdict == HEALTHY)] = CLIPPED
        # noisy: far above the channels around it for several windows (a passing train is loud for
        # a few windows only, and is handled by the moveout test, not here)
        level = np.sqrt(self.band_sumsq / self.band_n) if self.band_n else std
        known = live & np.isfinite(level) & (level > 0)
        fill = float(np.median(level[known])) if known.any() else 0.0
        local = median_filter(np.where(known, level, fill), size=min(cfg.noisy_neighbours, std.size),
                              mode="nearest")
        loud = known & (level > cfg.noisy_factor * np.maximum(local, 1e-300))
        self._loud_run = np.where(loud, self._loud_run + 1, 0)
        verdict[(self._loud_run >= cfg.noisy_windows) & (verdict == HEALTHY)] = NOISY
        verdict[~finite] = NONFINITE
        self.nonfinite_samples += int(self.bad.sum())
        # exclusion is immediate; a return needs recover_windows healthy windows in a row
        good = verdict == HEALTHY
        self._good_run = np.where(good, self._good_run + 1, 0)
        was_usable = self.usable.astype(bool)
        back = ~was_usable & (self._good_run >= cfg.recover_windows)
        now_usable = (was_usable & good) | back
        self.state = np.where(now_usable, HEALTHY, np.where(good, self.state, verdict)).astype(np.int8)
        self.usable[:] = now_usable
        np.add.at(self.exclusions, self.state[~now_usable], 1)
        self.windows += 1
        self.clear()
        return np.flatnonzero(back)

    def counts(self) -> dict[str, int]:
        """Channels currently in each state."""
        return {name: int(np.sum(self.state == k)) for k, name in enumerate(STATE_NAMES)}
