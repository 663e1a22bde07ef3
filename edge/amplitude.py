"""Running peak amplitudes for magnitude and for the strong-motion fallback.

Two figures per processing channel, both of band-passed strain rate (1/s):

- the P-wave peak after the channel's pick, kept per 0.1 s bin of lag over ``p_window`` samples, so
  that a magnitude can use the P wave as it grows and stop each channel's window before its S
  arrives (known only once the event is located);
- ``block_peak``: the peak over the latest decision block, for the amplitude fallback that stops
  trains when many adjacent channels shake hard, whatever the location says.

A channel's window starts at its first pick and is not restarted by later picks (S, coda) within
``hold`` samples.
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def track_peaks(x, sample0, onset, bin_len, p_hist, block_peak):
    """Update the lag-binned P peaks ``p_hist`` (n_ch, n_bins) after ``onset`` (-1 none) and
    ``block_peak`` with the rows ``x`` (n, n_ch) whose first row is grid sample ``sample0``."""
    n, n_ch = x.shape
    n_bins = p_hist.shape[1]
    for i in range(n):
        index = sample0 + i
        for c in range(n_ch):
            a = abs(x[i, c])
            if a > block_peak[c]:
                block_peak[c] = a
            if onset[c] >= 0:
                lag = index - onset[c]
                if lag >= 0:
                    b = lag // bin_len
                    if b < n_bins and a > p_hist[c, b]:
                        p_hist[c, b] = a


class PeakTracker:
    """Per-channel running peaks of band-passed strain rate (see the module docstring).

    Parameters
    ----------
    n_channels : processing channels.
    p_window : samples after a pick over which its P peak is kept.
    bin_len : samples per lag bin (0.1 s).
    hold : samples after a pick during which later picks do not restart the window.
    """

    def __init__(self, n_channels: int, p_window: int, bin_len: int, hold: int):
        self.bin_len = max(1, int(bin_len))
        n_bins = max(1, int(np.ceil((p_window + 1) / self.bin_len)))
        self.hold = int(hold)
        self.onset = np.full(n_channels, -1, np.int64)
        self.p_hist = np.zeros((n_channels, n_bins), np.float32)
        self.block_peak = np.zeros(n_channels, np.float32)

    def start(self, channel: int, onset_index: int, amplitude: float) -> bool:
        """A pick on ``channel`` at grid sample ``onset_index`` with its first peak; False if the
        channel's window is held by an earlier pick."""
        if self.onset[channel] >= 0 and onset_index - self.onset[channel] <= self.hold:
            return False
        self.onset[channel] = onset_index
        self.p_hist[channel] = 0.0
        self.p_hist[channel, 0] = amplitude
        return True

    def p_peak(self, channels: np.ndarray, max_lag_s: np.ndarray | float, fs_hz: float) -> np.ndarray:
        """P peak of ``channels`` over lags up to ``max_lag_s`` (at least the first bin), 1/s."""
        ch = np.asarray(channels, dtype=np.int64)
        n_bins = np.clip(np.floor(np.asarray(max_lag_s) * fs_hz / self.bin_len), 1, self.p_hist.shape[1])
        n_bins = np.broadcast_to(n_bins, ch.shape).astype(int)
        cols = np.arange(self.p_hist.shape[1])
        hist = self.p_hist[ch]
        return np.where(cols[None, :] < n_bins[:, None], hist, 0.0).max(axis=1)

    def update(self, rows: np.ndarray, sample0: int) -> None:
        """Account band-passed rows (n, n_ch) starting at grid sample ``sample0``."""
        track_peaks(rows, sample0, self.onset, self.bin_len, self.p_hist, self.block_peak)

    def new_block(self) -> None:
        """Start the next decision block's peaks."""
        self.block_peak.fill(0.0)

    def reset(self) -> None:
        """Forget everything (grid indices restart after a gap)."""
        self.onset.fill(-1)
        self.p_hist.fill(0.0)
        self.block_peak.fill(0.0)
