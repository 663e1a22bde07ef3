"""Curvature of the P arrival-time curve along the fiber (Katakami et al. 2025).

Near an event beside the fiber the P times trace a hyperbola, t(x) ~ sqrt(d^2 + (x - x0)^2) / v,
sharply curved around the closest point x0 (a ~ 1 / (2 v d) s/km^2); an event far away or off the
end of the fiber sweeps it as a nearly straight line (a ~ 0). A quadratic fit centred on the
earliest detection therefore tells near/central events, whose location can be trusted, from far
ones, whose apparent near-field location cannot.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CurvatureFit:
    """t - t_first = a (x - x0)^2 + b (x - x0) + c, x along the fiber (km), t in s."""

    a: float            # s/km^2
    b: float            # s/km
    c: float            # s
    x0_km: float        # along-fiber position of the earliest detection
    n: int
    span_km: float      # extent of the picks used


def curvature_a(along_km: np.ndarray, time: np.ndarray) -> CurvatureFit:
    """Least-squares quadratic of P time vs along-fiber distance, centred on the earliest pick.

    Parameters
    ----------
    along_km : (n,) along-fiber distance of the picks, km.
    time : (n,) P pick times, s.

    Returns NaN coefficients with fewer than 3 picks or less than 3 distinct positions.
    """
    x = np.asarray(along_km, dtype=np.float64)
    t = np.asarray(time, dtype=np.float64)
    if x.shape != t.shape or x.ndim != 1:
        raise ValueError("along_km and time must be 1-D arrays of the same length")
    ok = np.isfinite(x) & np.isfinite(t)
    x, t = x[ok], t[ok]
    if x.size < 3 or np.unique(np.round(x, 6)).size < 3:
        nan = float("nan")
        return CurvatureFit(nan, nan, nan, float(x[np.argmin(t)]) if x.size else nan, int(x.size), 0.0)
    k = int(np.argmin(t))
    x0, t0 = x[k], t[k]
    u = x - x0
    design = np.stack([u * u, u, np.ones_like(u)], axis=1)
    coef, *_ = np.linalg.lstsq(design, t - t0, rcond=None)
    return CurvatureFit(float(coef[0]), float(coef[1]), float(coef[2]), float(x0), int(x.size),
                        float(x.max() - x.min()))
