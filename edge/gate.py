"""Alarm gate and train-stop decision.

Three questions, OR-ed for safety as railway EEW practice does:

1. **Can the location be trusted?** (Katakami et al. 2025) Only when the arrival-time curve is
   curved like that of an event beside the fiber (``curvature_a >= a_min``), the misfit is small,
   enough picks were used, the misfit surface is narrow, and (checked in ``edge.eew``) the answer
   stayed within ``max_move_km`` of the previous update. A far event whose picks a near-field solution fits (the paper's
   Hyuga-nada case: located 8 km off, but only by luck) has a nearly straight curve and is not
   trusted: it can raise an advisory, never a stop from its location.
2. **Does the trusted event warrant a stop?** Predicted peak ground acceleration at the nearest point
   of the segment from the magnitude and the hypocentral distance (Si & Midorikawa 1999, crustal):
   ``log10 PGA[cm/s2] = 0.50 M + 0.0043 D + 0.61 - log10(X + 0.0055 10^(0.5 M)) - 0.003 X``, with D
   the depth and X the distance (km); stop at >= ``pga_stop_gal`` (40 gal, the Shinkansen's
   historical stop level), advisory at >= ``pga_advisory_gal``.
3. **Is the ground already shaking hard?** The amplitude fallback: band-passed strain rate above
   ``fallback_strain_rate`` on at least ``fallback_km`` of adjacent channels stops at once, whatever
   the location says.

Levels only rise within an event: none < advisory < stop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.exceptions import ConfigError

LEVELS = ("none", "advisory", "stop")


@dataclass(frozen=True)
class GateConfig:
    """Thresholds of the gate.

    Calibrated on kyushu-2022 (seed 0) and 60 random events (seed 3), 81 located events of which 37 were
    within 12 km at 2 s: the ROC of the trust test over (a_min, max_err_h_km, misfit_max_s) peaks
    (Youden J = 0.83) at TPR 0.92 / FPR 0.09 with no curvature limit; a_min = 5e-4 keeps the paper's
    safeguard for far events at ~3 % TPR. ``python -m edge evaluate`` prints the ROC over a_min.
    """

    a_min: float = 5e-4                # s/km^2: ~1/(2 v d) of an event within ~150 km of the fiber
    misfit_max_s: float = 0.1          # location misfit above which it is not trusted, s
    min_picks: int = 30                # picks in the location
    max_err_h_km: float = 25.0         # horizontal 1-sigma error above which it is not trusted
    max_move_km: float = 10.0          # a stop needs the answer to move less than this between updates
    pga_stop_gal: float = 40.0
    pga_advisory_gal: float = 10.0
    fallback_strain_rate: float = 1e-4  # 1/s, band-passed: ~40 gal in waves at 3-6 km/s; a train makes ~1e-7
    fallback_km: float = 1.0            # adjacent fiber above it

    def __post_init__(self) -> None:
        if not (self.a_min >= 0 and self.misfit_max_s > 0 and self.min_picks >= 4
                and 0 < self.pga_advisory_gal <= self.pga_stop_gal and self.fallback_strain_rate > 0
                and self.fallback_km > 0 and self.max_err_h_km > 0):
            raise ConfigError(f"invalid gate settings: {self!r}")


def pga_gal(magnitude: float, distance_km: np.ndarray | float, depth_km: float) -> np.ndarray:
    """Predicted PGA (cm/s^2) of Si & Midorikawa (1999) for a crustal event; ``distance_km`` the
    shortest distance to the source (hypocentral here), ``depth_km`` its depth."""
    x = np.maximum(np.asarray(distance_km, dtype=float), 0.1)
    m = float(magnitude)
    log_a = 0.50 * m + 0.0043 * depth_km + 0.61 - np.log10(x + 0.0055 * 10 ** (0.5 * m)) - 0.003 * x
    return 10.0 ** log_a


def trusted(config: GateConfig, *, curvature_a: float, misfit: float, n_picks: int, err_h_km: float) -> tuple[bool, str]:
    """Near-field trust test; returns (trusted, reason)."""
    if not n_picks >= config.min_picks:
        return False, f"{n_picks} picks < {config.min_picks}"
    if not (np.isfinite(curvature_a) and curvature_a >= config.a_min):
        return False, f"curvature a={curvature_a:.2e} s/km2 < {config.a_min:.1e}: far or off-end event"
    if not misfit <= config.misfit_max_s:
        return False, f"misfit {misfit:.3f} s > {config.misfit_max_s}"
    if not err_h_km <= config.max_err_h_km:
        return False, f"horizontal error {err_h_km:.0f} km > {config.max_err_h_km:.0f}"
    return True, "trusted"


def level_from_motion(config: GateConfig, magnitude: float, distance_km: float, depth_km: float) -> tuple[str, float]:
    """(level, predicted PGA in gal) at the segment's nearest point."""
    if not np.isfinite(magnitude):
        return "none", float("nan")
    pga = float(pga_gal(magnitude, distance_km, depth_km))
    if pga >= config.pga_stop_gal:
        return "stop", pga
    if pga >= config.pga_advisory_gal:
        return "advisory", pga
    return "none", pga


def strong_motion_run_km(block_peak: np.ndarray, along_km: np.ndarray, usable: np.ndarray,
                         threshold: float) -> float:
    """Longest stretch of adjacent usable channels whose peak exceeds ``threshold``, km."""
    loud = (np.asarray(block_peak) >= threshold) & np.asarray(usable, dtype=bool)
    if not loud.any():
        return 0.0
    edges = np.diff(np.concatenate([[0], loud.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    spacing = float(np.median(np.diff(along_km))) if len(along_km) > 1 else 0.0
    return float(np.max(along_km[stops] - along_km[starts] + spacing))


def decide(config: GateConfig, *, trusted_location: bool, magnitude: float, distance_km: float,
           depth_km: float) -> tuple[str, str]:
    """Level and reason from a location: a stop needs a trusted location. An untrusted one that
    would stop raises an advisory (operators look; trains keep running), otherwise nothing: an
    untrusted location's lesser predictions are noise."""
    level, pga = level_from_motion(config, magnitude, distance_km, depth_km)
    why = f"M{magnitude:.1f} at {distance_km:.0f} km: PGA {pga:.0f} gal predicted at the segment"
    if not trusted_location:
        if level == "stop":
            return "advisory", why + " (location not trusted: no stop)"
        return "none", why + " (location not trusted)"
    return level, why
