"""The last minute or so of waveforms on a sparse set of channels, for the ``snippet`` messages that
let central classify a located event (earthquake, mine collapse, explosion).

Fixed memory: a ring of the detector's decimated (~100 Hz), stacked, anti-aliased samples on one
processing channel every ``spacing_km`` of fiber, ``seconds`` long; at 10,000 channels over 100 km
that is ~100 channels x 9,000 samples x 4 bytes = 3.6 MB. Samples are stored before the detection
band-pass, in the stream's units (strain rate, 1/s).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.exceptions import ConfigError


@dataclass(frozen=True)
class ArchiveConfig:
    """What the box keeps for snippets.

    seconds : ring length, s (0 keeps nothing and sends no snippets); must cover the snippet's
        5 s before the first P, 45 s after the last one, and the spread of P over its channels.
    spacing_km : one channel kept every this many km of fiber.
    snippet_channels : channels per snippet (the kept ones nearest the epicentre).
    """

    seconds: float = 90.0
    spacing_km: float = 1.0
    snippet_channels: int = 20

    def __post_init__(self) -> None:
        if not (self.seconds == 0 or 60.0 <= self.seconds <= 600.0):
            raise ConfigError(f"archive seconds must be 0 or 60-600, got {self.seconds!r}")
        if not self.spacing_km > 0 or not 1 <= self.snippet_channels <= 1000:
            raise ConfigError(f"archive spacing_km must be > 0 and snippet_channels 1-1000, got {self!r}")


def kept_channels(along_km: np.ndarray, spacing_km: float) -> np.ndarray:
    """Indices of the processing channels kept: the first, then each first one at least
    ``spacing_km`` of fiber further on."""
    keep, last = [], -np.inf
    for i, x in enumerate(np.asarray(along_km, float)):
        if x - last >= spacing_km - 1e-9:
            keep.append(i)
            last = x
    return np.array(keep, dtype=np.int64)


class WaveformArchive:
    """Ring buffer of ``channels`` (processing-channel indices) over ``n_samples`` samples.

    ``add(rows, sample0)`` stores rows (n, n_processing_channels) whose first row is processing
    sample ``sample0``; ``window(first, n)`` returns (n_kept, n) for samples ``first .. first + n - 1``
    when all of them are still in the ring (None otherwise).
    """

    def __init__(self, channels: np.ndarray, n_samples: int):
        self.channels = np.asarray(channels, dtype=np.int64)
        self.n_samples = int(n_samples)
        self._ring = np.zeros((self.n_samples, self.channels.size), np.float32)
        self._end = 0            # processing sample index after the newest stored one
        self._start = 0          # oldest sample index still stored

    def clear(self) -> None:
        """Forget everything (a gap or restart: the sample numbering starts again)."""
        self._end = self._start = 0

    def add(self, rows: np.ndarray, sample0: int) -> None:
        n = rows.shape[0]
        if n == 0:
            return
        if sample0 != self._end:            # a restart of the numbering
            self._start = sample0
        sel = rows[:, self.channels]
        pos = np.arange(sample0, sample0 + n) % self.n_samples
        self._ring[pos] = sel
        self._end = sample0 + n
        self._start = max(self._start, self._end - self.n_samples)

    @property
    def span(self) -> tuple[int, int]:
        """(first, end) processing sample indices held."""
        return self._start, self._end

    def window(self, first: int, n: int) -> np.ndarray | None:
        if first < self._start or first + n > self._end or n <= 0:
            return None
        pos = np.arange(first, first + n) % self.n_samples
        return self._ring[pos].T.copy()
