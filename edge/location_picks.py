"""P picks made ready for the locator: validated, in the local frame, weighted and thinned.

A DAS fiber gives a pick every few metres, and neighbouring channels share their site, their
path and often their picking error; counting each as an independent observation would make the
likelihood (and so the uncertainty) absurdly sharp and let a dense stretch of fiber outvote a
sparse one. So picks are grouped into squares of ``bin_km`` in the frame and each square carries
the weight of one observation (times the mean of its picks' own weights). Above ``max_picks``
every square keeps an evenly spaced subset (the rest are redundant); a second, much smaller set
of one representative per larger region (the pick with the median time there) carries the
region's weight for the oct-tree's coarse cells.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.exceptions import ConfigError
from edge.geodesy import LocalFrame

__all__ = ["LocatorPicks", "prepare_picks", "bin_ids"]


@dataclass(frozen=True, eq=False)
class LocatorPicks:
    """Picks in kernel form.

    ``full`` and ``coarse`` are the kernel tuples (east_km, north_km, dz_km, time_s, weight,
    n): ``dz_km`` is the height above the table's receiver depth, ``time_s`` is relative to
    ``t_ref`` (POSIX s). ``index`` maps the picks used back to the caller's arrays.
    """

    frame: LocalFrame
    east: np.ndarray            # all picks, km
    north: np.ndarray
    index: np.ndarray           # picks used (after thinning)
    east_used: np.ndarray
    north_used: np.ndarray
    elev_used: np.ndarray       # m
    time_used: np.ndarray       # s relative to t_ref
    t_ref: float
    full: tuple
    coarse: tuple
    w_sum: float
    use_elev: bool
    r_buf: np.ndarray
    w_buf: np.ndarray


def _column(name: str, values, n: int | None) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"picks: {name} is not numeric") from None
    if n is not None and a.ndim == 0:
        a = np.full(n, float(a))
    if a.ndim != 1:
        raise ConfigError(f"picks: {name} must be 1-D, got shape {a.shape}")
    if n is not None and a.size != n:
        raise ConfigError(f"picks: {name} has {a.size} values, lat has {n}")
    bad = np.flatnonzero(~np.isfinite(a))
    if bad.size:
        raise ConfigError(f"picks: {name} is NaN or Inf at index {int(bad[0])} ({bad.size} in all)")
    return a


def bin_ids(east: np.ndarray, north: np.ndarray, size_km: float) -> tuple[np.ndarray, int]:
    """Index (0..k-1) of the ``size_km`` square holding each point, and the number k of squares."""
    ie = np.floor(east / size_km).astype(np.int64)
    jn = np.floor(north / size_km).astype(np.int64)
    # One integer key per square (a 1-D unique is ~10x faster than a row-wise one).
    key = (ie - ie.min()) * (int(jn.max() - jn.min()) + 1) + (jn - jn.min())
    _, inverse = np.unique(key, return_inverse=True)
    return inverse, int(inverse.max()) + 1


def _thin(ids: np.ndarray, k: int, max_picks: int) -> np.ndarray:
    """Indices kept: per bin every ``stride``-th pick (middle-aligned), the smallest stride that
    keeps at most ``max_picks``; None if even one per bin is too many."""
    if k > max_picks:
        return None
    n = ids.size
    order = np.argsort(ids, kind="stable")
    counts = np.bincount(ids, minlength=k)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - np.repeat(start, counts)
    stride = max(1, int(np.ceil(n / max_picks)))
    while True:
        kept = np.ceil(counts / stride).astype(np.int64)
        if kept.sum() <= max_picks:
            break
        stride += 1
    # Offset within each bin so the kept picks are centred in it.
    offset = ((counts - 1) - (kept - 1) * stride) // 2
    keep = ((rank - offset[ids]) % stride == 0) & (rank >= offset[ids]) & (rank - offset[ids] < kept[ids] * stride)
    return np.flatnonzero(keep)


def prepare_picks(lat, lon, elev_m, time, weight, config, receiver_depth_km: float) -> LocatorPicks:
    """Validate picks and build the locator's arrays (see module doc).

    Raises
    ------
    ConfigError
        Mismatched lengths, NaN/Inf, latitudes outside [-90, 90], weights <= 0, < 4 picks.
    """
    lat = _column("lat", lat, None)
    n = lat.size
    lon = _column("lon", lon, n)
    elev = _column("elev_m", 0.0 if elev_m is None else elev_m, n)
    t = _column("time", time, n)
    w = _column("weight", 1.0 if weight is None else weight, n)
    if n < 4:
        raise ConfigError(f"picks: need at least 4 P picks to locate (origin time + 3 coordinates), got {n}")
    if np.any(np.abs(lat) > 90):
        raise ConfigError("picks: lat outside [-90, 90] degrees")
    if np.any(w <= 0):
        raise ConfigError("picks: weights must be > 0")
    frame = LocalFrame.around(lat, lon, elev)
    east, north, _ = frame.to_enu(lat, lon, elev)
    size = config.bin_km
    ids, k = bin_ids(east, north, size)
    index = np.arange(n) if n <= config.max_picks else _thin(ids, k, config.max_picks)
    while index is None:  # more occupied bins than max_picks: coarsen the bins
        size *= 2.0
        ids, k = bin_ids(east, north, size)
        index = _thin(ids, k, config.max_picks)
    ids_used = ids[index]
    kept_per_bin = np.bincount(ids_used, minlength=k)
    w_used = w[index] / kept_per_bin[ids_used]
    t_ref = float(t.min())
    e_u, n_u, el_u, t_u = east[index], north[index], elev[index], t[index] - t_ref
    dz = receiver_depth_km + el_u / 1000.0
    w_u = np.ascontiguousarray(w_used)
    full = (e_u, n_u, dz, t_u, w_u, int(index.size))
    coarse = _coarse(e_u, n_u, dz, t_u, w_u, config.bin_km, config.coarse_picks)
    return LocatorPicks(frame=frame, east=east, north=north, index=index, east_used=e_u, north_used=n_u,
                        elev_used=el_u, time_used=t_u, t_ref=t_ref, full=full, coarse=coarse,
                        w_sum=float(w_u.sum()), use_elev=bool(np.any(dz != 0.0)),
                        r_buf=np.empty(index.size), w_buf=np.empty(index.size))


def _coarse(e, n, dz, t, w, bin_km: float, max_count: int) -> tuple:
    """One representative per region (the median-time pick), carrying the region's weight."""
    size = bin_km
    ids, k = bin_ids(e, n, size)
    while k > max_count:
        size *= 2.0
        ids, k = bin_ids(e, n, size)
    order = np.lexsort((t, ids))
    counts = np.bincount(ids, minlength=k)
    start = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rep = order[start + (counts - 1) // 2]
    weight = np.bincount(ids, weights=w, minlength=k)
    return (e[rep], n[rep], dz[rep], t[rep], weight, int(k))
