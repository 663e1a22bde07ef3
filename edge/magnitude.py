"""Magnitude from P-wave strain-rate amplitudes on the fiber.

A DAS scaling relation of the form of Yin et al. (2023),

    log10(E) = a M + b log10(D) + c,

E the peak band-passed (1-10 Hz) P strain rate of a channel (1/s) within ``p_window_s`` of its
pick, D the hypocentral distance (km). Each channel gives M = (log10 E - b log10 D - c) / a; the event
magnitude is their median, which shrugs off nodal and badly coupled channels. The coefficients in
``edge/data/magnitude.toml`` were fitted on the simulator with ``python -m sim calibrate-magnitude``
(the command and its output are quoted in that file).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from edge.exceptions import ConfigError

MIN_PEAK_SNR = 3.0   # a channel's P peak must stand this far above its noise to count


@dataclass(frozen=True)
class MagnitudeRelation:
    """log10(E) = a M + b log10(D) + c, with the scatter of single-channel estimates."""

    a: float
    b: float
    c: float
    sigma_m: float = 0.3          # scatter of one channel's M, magnitude units
    min_distance_km: float = 3.0  # closer channels are near-field: not used
    note: str = ""

    def __post_init__(self) -> None:
        if not (np.isfinite(self.a) and self.a > 0 and np.isfinite(self.b) and np.isfinite(self.c)):
            raise ConfigError(f"magnitude relation needs a > 0 and finite b, c; got {self!r}")

    @classmethod
    def from_toml(cls, path: str | Path) -> MagnitudeRelation:
        with open(path, "rb") as fh:
            d = tomllib.load(fh)
        table = d.get("magnitude", d)
        try:
            return cls(**{k: table[k] for k in table if k in cls.__dataclass_fields__})
        except TypeError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @classmethod
    def default(cls) -> MagnitudeRelation:
        """The relation calibrated on the simulator (shipped with the package)."""
        with resources.as_file(resources.files("edge") / "data" / "magnitude.toml") as p:
            return cls.from_toml(p)

    def channel_magnitudes(self, peak: np.ndarray, hypo_km: np.ndarray) -> np.ndarray:
        """M per channel (NaN where the peak or distance cannot be used)."""
        e = np.asarray(peak, dtype=np.float64)
        d = np.asarray(hypo_km, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            m = (np.log10(e) - self.b * np.log10(d) - self.c) / self.a
        return np.where((e > 0) & (d >= self.min_distance_km) & np.isfinite(m), m, np.nan)

    def magnitude(self, peak: np.ndarray, hypo_km: np.ndarray) -> tuple[float, int, float]:
        """(median M, channels used, robust spread) -- (NaN, 0, NaN) if no channel is usable."""
        m = self.channel_magnitudes(peak, hypo_km)
        m = m[np.isfinite(m)]
        if m.size == 0:
            return float("nan"), 0, float("nan")
        med = float(np.median(m))
        return med, int(m.size), float(1.4826 * np.median(np.abs(m - med)))

    def peak_at(self, magnitude: float, hypo_km: np.ndarray) -> np.ndarray:
        """Predicted peak strain rate, 1/s."""
        return 10.0 ** (self.a * magnitude + self.b * np.log10(np.asarray(hypo_km, dtype=float)) + self.c)
