"""Location uncertainty from the misfit surface, NonLinLoc-style, plus the local curvature.

Every evaluated cell that was not split (a leaf of the oct-tree, or a node of a full grid) is a
box of edge ``h`` with likelihood L at its centre; its probability mass is L h^3. The expected
position and covariance are the mass-weighted moments of the boxes, each box contributing its
own spread h^2/12 per axis (a uniform box) on top of its centre's offset. A bimodal surface (the
two mirror lobes of a straight fiber) therefore gives a long ellipse across the line, not a
confident wrong side.

The boxes alone miss what the search did not split: a long, thin valley of nearly equal misfit
(the trade-off between depth and distance from a nearly straight fiber) crosses big cells whose
centres lie off the valley floor and so carry no mass. The linearised covariance at the best
node, sigma^2 (G^T W G)^-1 with G the travel-time gradients after removing their weighted mean
(the origin time), measures exactly that valley; it is added to the boxes' covariance. For a
well-constrained event both are small and the sum errs on the large side (by <= sqrt 2 in the
axes), which an early-warning system prefers to an overconfident ellipse. An unresolved
direction (rotation about a straight fiber) is capped at the hypocentre's distance from the
nearest pick: the farthest such a rotation can move the source.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["Posterior", "posterior", "linearised_covariance"]

_NEGLIGIBLE = 1e-12  # boxes with less relative mass are left out of the depth interval
_Z95 = 1.959964      # two-sided 95 % of a Gaussian


@dataclass(frozen=True)
class Posterior:
    """Summary of the likelihood over the searched volume (km, degrees)."""

    mean_e_km: float
    mean_n_km: float
    mean_z_km: float
    major_km: float
    minor_km: float
    azimuth_deg: float      # of the major axis, east of north, [0, 180)
    z_km: float
    depth_lo_km: float      # 95 % interval of depth
    depth_hi_km: float


def linearised_covariance(de: np.ndarray, dn: np.ndarray, dtd: np.ndarray, dtz: np.ndarray,
                          w: np.ndarray, sigma: float, cap_km: float) -> np.ndarray:
    """Covariance (3 x 3, km^2, east-north-depth) of the linearised likelihood at a node.

    Parameters
    ----------
    de, dn : ndarray
        Node minus pick position, km.
    dtd, dtz : ndarray
        dT/d(distance) and dT/d(depth) at each pick, s/km (NaN: pick left out).
    w : ndarray
        Pick weights.
    sigma : float
        Pick error, s.
    cap_km : float
        Largest standard deviation allowed along any axis of the ellipsoid, km.
    """
    dist = np.hypot(de, dn)
    ok = np.isfinite(dtd) & np.isfinite(dtz)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(dist > 1e-9, dtd / dist, 0.0)
    g = np.stack([scale * de, scale * dn, dtz], axis=1)[ok]
    w = w[ok]
    if w.size < 4:
        return np.eye(3) * cap_km**2
    g = g - (w @ g) / w.sum()  # the free origin time absorbs the mean gradient
    a = (g * w[:, None]).T @ g / sigma**2
    vals, vecs = np.linalg.eigh(a)
    var = 1.0 / np.maximum(vals, 1.0 / cap_km**2)
    return (vecs * var) @ vecs.T


def _depth_quantiles(z: np.ndarray, h: np.ndarray, mass: np.ndarray, q: tuple[float, ...]) -> list[float]:
    """Quantiles of a mixture of uniform depth intervals [z - h/2, z + h/2] with masses."""
    lo, hi = z - 0.5 * h, z + 0.5 * h
    edges = np.unique(np.concatenate([lo, hi]))
    # The CDF is piecewise linear between the interval ends: evaluate it there and interpolate.
    frac = np.clip((edges[None, :] - lo[:, None]) / h[:, None], 0.0, 1.0)
    cdf = mass @ frac
    cdf /= cdf[-1]
    return [float(np.interp(p, cdf, edges)) for p in q]


def posterior(e: np.ndarray, n: np.ndarray, z: np.ndarray, h: np.ndarray, log_l: np.ndarray, *,
              best: tuple[float, float, float], local_cov: np.ndarray | None = None,
              depth_range: tuple[float, float] = (0.0, np.inf)) -> Posterior:
    """Moments of the likelihood carried by boxes centred at (e, n, z) of edge h (km).

    Parameters
    ----------
    e, n, z, h : ndarray (k,)
        Box centres and edges, km.
    log_l : ndarray (k,)
        Log-likelihood at each centre.
    best : (e, n, z)
        The reported hypocentre, km; the depth interval always spans its linearised 95 % range.
    local_cov : ndarray (3, 3), optional
        Linearised covariance at ``best`` (:func:`linearised_covariance`), added.
    depth_range : (min, max)
        Depths searched, km; the interval is clipped to it.
    """
    log_mass = log_l + 3.0 * np.log(h)
    mass = np.exp(log_mass - np.max(log_mass))
    p = mass / mass.sum()
    xyz = np.stack([e, n, z])
    mean = xyz @ p
    d = xyz - mean[:, None]
    cov = (d * p) @ d.T + np.eye(3) * float(p @ (h * h)) / 12.0
    if local_cov is not None:
        cov = cov + local_cov
    vals, vecs = np.linalg.eigh(cov[:2, :2])
    major = vecs[:, 1]
    azimuth = math.degrees(math.atan2(major[0], major[1])) % 180.0
    keep = p > _NEGLIGIBLE
    lo, hi = _depth_quantiles(z[keep], h[keep], p[keep], (0.025, 0.975))
    if local_cov is not None:
        spread = _Z95 * math.sqrt(max(local_cov[2, 2], 0.0))
        lo, hi = min(lo, best[2] - spread), max(hi, best[2] + spread)
    lo, hi = max(lo, depth_range[0]), min(hi, depth_range[1])
    return Posterior(mean_e_km=float(mean[0]), mean_n_km=float(mean[1]), mean_z_km=float(mean[2]),
                     major_km=math.sqrt(max(vals[1], 0.0)), minor_km=math.sqrt(max(vals[0], 0.0)),
                     azimuth_deg=azimuth if azimuth < 180.0 else 0.0, z_km=math.sqrt(max(cov[2, 2], 0.0)),
                     depth_lo_km=lo, depth_hi_km=hi)
