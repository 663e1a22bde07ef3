"""Misfit of a trial hypocentre against P picks: the locator's innermost kernel.

Everything here works in the locator's local frame (east, north in km; depth in km, positive
down from sea level) on picks already reduced to arrays (:mod:`edge.location_picks`). The
kernels take their scratch arrays from the caller, so evaluating a node allocates nothing.

Misfit at a node, origin time eliminated analytically:

* ``l2``: t0 = weighted mean of (t_obs - t_pred); misfit = weighted RMS of what is left.
* ``l1``: t0 = weighted median; misfit = weighted mean absolute residual. A late pick moves
  the median by at most one rank, which is why L1 survives 10-20 % wild picks and L2 does not.

A pick with no prediction (its distance or the node's depth outside the travel-time table)
contributes ``penalty_s`` as its residual instead of stopping the search.

Score of a cell: the centre's misfit can be far above the best point inside a coarse cell (a
source 30 km from the fiber makes the misfit rise ~0.06 s per km), so a grid of coarse centres
prefers broad shallow valleys over the narrow deep well of the true source. The score scales
the misfit by how much the best shift within the cell reduces the RMS of the residuals
linearised about the centre (travel-time gradients from the same bilinear table cell, origin
time free): an estimate of the best misfit inside the cell, used to rank cells for splitting.

Likelihood of a node with misfit ``m`` (s), ``W`` the summed pick weight, in log units::

    l2: -0.5 W m^2 / sigma^2        l1: -W m / sigma     (Laplace, as NonLinLoc's L1)
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["node_misfit", "weighted_median", "predict_p", "log_likelihood"]

# Fast-math without 'nnan'/'ninf': the NaN tests that mark picks without a prediction must stay.
_FAST = {"contract", "arcp", "nsz", "afn", "reassoc"}


@numba.njit(cache=True)
def weighted_median(r, w, m):  # pragma: no cover (numba)
    """Lower weighted median of ``r[:m]`` with weights ``w[:m] > 0``; reorders both in place.

    Quickselect with a three-way partition: O(m) on average, no allocation.
    """
    total = 0.0
    for i in range(m):
        total += w[i]
    half = 0.5 * total
    lo, hi = 0, m - 1
    below = 0.0  # weight of everything left of lo (all smaller than r[lo:hi+1])
    while lo < hi:
        a, b, c = r[lo], r[(lo + hi) // 2], r[hi]
        pivot = max(min(a, b), min(max(a, b), c))  # median of three
        lt, i, gt = lo, lo, hi
        while i <= gt:
            if r[i] < pivot:
                r[lt], r[i] = r[i], r[lt]
                w[lt], w[i] = w[i], w[lt]
                lt += 1
                i += 1
            elif r[i] > pivot:
                r[gt], r[i] = r[i], r[gt]
                w[gt], w[i] = w[i], w[gt]
                gt -= 1
            else:
                i += 1
        w_less = 0.0
        for k in range(lo, lt):
            w_less += w[k]
        w_equal = 0.0
        for k in range(lt, gt + 1):
            w_equal += w[k]
        if below + w_less >= half and lt > lo:
            hi = lt - 1
        elif below + w_less + w_equal >= half:
            return pivot
        else:
            below += w_less + w_equal
            lo = gt + 1
    return r[lo]


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def _linearised_rms(sw, swr, swrr, g0, g1, g2, gg0, gg1, gg2, gg3, gg4, gg5, gr0, gr1, gr2,
                    half):  # pragma: no cover (numba)
    """RMS (s) left after the best source shift within a box of half-edge ``half`` (km) of the
    residuals linearised about the node, origin time free (weighted least squares, 4 unknowns).

    ``g*`` (e, n, z), ``gg*`` (ee en ez nn nz zz), ``gr*`` (e, n, z) are the weighted sums of the
    travel-time gradients, their products and gradient x residual; ``sw``, ``swr``, ``swrr`` of
    the weights, residuals and squared residuals.
    """
    # Centre on the weighted means: eliminates the origin time.
    a00 = gg0 - g0 * g0 / sw
    a01 = gg1 - g0 * g1 / sw
    a02 = gg2 - g0 * g2 / sw
    a11 = gg3 - g1 * g1 / sw
    a12 = gg4 - g1 * g2 / sw
    a22 = gg5 - g2 * g2 / sw
    b0 = gr0 - g0 * swr / sw
    b1 = gr1 - g1 * swr / sw
    b2 = gr2 - g2 * swr / sw
    srr = max(swrr - swr * swr / sw, 0.0)
    # A touch of damping: a straight fiber leaves the rotation about it unresolved (A singular).
    damp = 1e-9 * (a00 + a11 + a22) + 1e-12
    a00 += damp
    a11 += damp
    a22 += damp
    # Cholesky of the 3 x 3 normal matrix, then the two triangular solves.
    l00 = math.sqrt(a00)
    l10 = a01 / l00
    l20 = a02 / l00
    l11 = math.sqrt(max(a11 - l10 * l10, 1e-300))
    l21 = (a12 - l20 * l10) / l11
    l22 = math.sqrt(max(a22 - l20 * l20 - l21 * l21, 1e-300))
    y0 = b0 / l00
    y1 = (b1 - l10 * y0) / l11
    y2 = (b2 - l20 * y0 - l21 * y1) / l22
    d2 = y2 / l22
    d1 = (y1 - l21 * d2) / l11
    d0 = (y0 - l10 * d1 - l20 * d2) / l00
    # Shrink the step onto the cell; along the step the quadratic only falls, so this still
    # improves on the centre.
    biggest = max(abs(d0), abs(d1), abs(d2))
    if biggest > half:
        f = half / biggest
        d0 *= f
        d1 *= f
        d2 *= f
    q = (srr - 2.0 * (d0 * b0 + d1 * b1 + d2 * b2)
         + d0 * (a00 * d0 + 2.0 * a01 * d1 + 2.0 * a02 * d2)
         + d1 * (a11 * d1 + 2.0 * a12 * d2) + a22 * d2 * d2)
    return math.sqrt(max(q, 0.0) / sw)


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def node_misfit(east, north, depth, half, pick_e, pick_n, pick_dz, pick_t, pick_w, n_picks,
                tp, inv_ddist, depth0, inv_ddepth, inv_vrec2, use_elev, l1, penalty_s, r_buf,
                w_buf):  # pragma: no cover (numba)
    """Misfit (s) and relative origin time (s) of a source at one node, and the cell's score.

    Parameters
    ----------
    east, north, depth : float
        Node, km (depth positive down from sea level).
    half : float
        Half-edge of the cell the node stands for, km; 0: no score (it equals the misfit).
    pick_e, pick_n : ndarray
        Pick positions, km, in the same frame.
    pick_dz : ndarray
        Height of each pick above the table's receiver depth, km (elevation correction).
    pick_t, pick_w : ndarray
        Pick times (s, relative to any reference) and weights (> 0).
    n_picks : int
        Use the first ``n_picks`` entries.
    tp : ndarray (n_depth, n_dist)
        Table of P times, s; its distance axis starts at 0.
    inv_ddist, depth0, inv_ddepth : float
        1 / distance step (1/km), first depth (km), 1 / depth step (1/km) of the table.
    inv_vrec2 : float
        1 / vp^2 at the receivers, (s/km)^2.
    use_elev : bool
        Apply the elevation correction dz sqrt(1/v^2 - p^2), p = dT/d(distance).
    l1 : bool
        L1 (median) instead of L2 (mean) origin time and misfit.
    penalty_s : float
        Residual charged to a pick without prediction, s.
    r_buf, w_buf : ndarray
        Scratch of at least ``n_picks`` floats.

    Returns
    -------
    (misfit, t0, score) : (float, float, float)
        ``t0`` is NaN when no pick has a prediction. ``score`` estimates the best misfit inside
        the cell: the misfit times the ratio by which the best shift within the cell reduces the
        linearised RMS (module doc).
    """
    n_depth, n_dist = tp.shape
    fz = (depth - depth0) * inv_ddepth
    w_total = 0.0
    w_missing = 0.0
    m = 0
    # Weighted sums for the linearised score: w, w r, w r^2, w g, w g g^T, w g r.
    sw = swr = swrr = 0.0
    g0 = g1 = g2 = 0.0
    gg0 = gg1 = gg2 = gg3 = gg4 = gg5 = 0.0
    gr0 = gr1 = gr2 = 0.0
    if fz >= -1e-9 and fz <= n_depth - 1 + 1e-9:
        fz = min(max(fz, 0.0), n_depth - 1.0)
        iz = min(int(fz), n_depth - 2)
        tz = fz - iz
        uz = 1.0 - tz
        x_max = n_dist - 1 + 1e-9
        for i in range(n_picks):
            wi = pick_w[i]
            w_total += wi
            de = east - pick_e[i]
            dn = north - pick_n[i]
            dist = math.sqrt(de * de + dn * dn)
            fx = dist * inv_ddist
            if not fx <= x_max:
                w_missing += wi
                continue
            ix = min(int(fx), n_dist - 2)
            tx = fx - ix
            ux = 1.0 - tx
            # Inlined bilinear lookup: a call per pick costs ~7x (array reference counting).
            t00, t01, t10, t11 = tp[iz, ix], tp[iz, ix + 1], tp[iz + 1, ix], tp[iz + 1, ix + 1]
            t = uz * (ux * t00 + tx * t01) + tz * (ux * t10 + tx * t11)
            # dT/d(distance) of the same bilinear cell is the ray parameter p (s/km): the
            # elevation correction and the score's gradient need no second table lookup.
            dtd = (uz * (t01 - t00) + tz * (t11 - t10)) * inv_ddist
            if use_elev:
                t += pick_dz[i] * math.sqrt(max(inv_vrec2 - dtd * dtd, 0.0))
            if not t == t:
                w_missing += wi
                continue
            r = pick_t[i] - t
            r_buf[m] = r
            w_buf[m] = wi
            m += 1
            if half > 0.0:
                # Travel-time gradient from the same bilinear cell (dT/d(depth) here).
                dtz = (ux * (t10 - t00) + tx * (t11 - t01)) * inv_ddepth
                if dist > 1e-9:
                    scale = dtd / dist
                    ge, gn = scale * de, scale * dn
                else:
                    ge, gn = 0.0, 0.0
                sw += wi
                swr += wi * r
                swrr += wi * r * r
                g0 += wi * ge
                g1 += wi * gn
                g2 += wi * dtz
                gg0 += wi * ge * ge
                gg1 += wi * ge * gn
                gg2 += wi * ge * dtz
                gg3 += wi * gn * gn
                gg4 += wi * gn * dtz
                gg5 += wi * dtz * dtz
                gr0 += wi * ge * r
                gr1 += wi * gn * r
                gr2 += wi * dtz * r
    else:
        for i in range(n_picks):
            w_total += pick_w[i]
        w_missing = w_total
    if m == 0:
        return penalty_s, np.nan, penalty_s
    if l1:
        t0 = weighted_median(r_buf, w_buf, m)
        acc = 0.0
        for i in range(m):
            acc += w_buf[i] * abs(r_buf[i] - t0)
        misfit = (acc + w_missing * penalty_s) / w_total
    else:
        w_pred = 0.0
        mean = 0.0
        for i in range(m):
            w_pred += w_buf[i]
            mean += w_buf[i] * r_buf[i]
        t0 = mean / w_pred
        acc = 0.0
        for i in range(m):
            d = r_buf[i] - t0
            acc += w_buf[i] * d * d
        misfit = math.sqrt((acc + w_missing * penalty_s * penalty_s) / w_total)
    if half <= 0.0 or m < 4:
        return misfit, t0, misfit
    rms_centre = math.sqrt(max(swrr - swr * swr / sw, 0.0) / sw)
    if rms_centre <= 0.0:
        return misfit, t0, misfit
    ratio = _linearised_rms(sw, swr, swrr, g0, g1, g2, gg0, gg1, gg2, gg3, gg4, gg5, gr0, gr1, gr2,
                            half) / rms_centre
    return misfit, t0, misfit * min(ratio, 1.0)


def predict_p(dist_km, depth_km, dz_km, tp, inv_ddist: float, depth0: float, inv_ddepth: float,
              inv_vrec2: float, *, gradient: bool = False):
    """NumPy twin of :func:`node_misfit`'s prediction: bilinear ``tp`` at (distance, depth) plus
    ``dz sqrt(1/v^2 - p^2)`` with p the bilinear cell's dT/d(distance); NaN outside the table.

    Parameters
    ----------
    dist_km, dz_km : ndarray
        Epicentral distances and heights above the table's receiver depth, km.
    depth_km : float
        Source depth, km.
    gradient : bool
        Also return dT/d(distance) and dT/d(depth), s/km, of the same bilinear cells.
    """
    n_depth, n_dist = tp.shape
    fx = np.asarray(dist_km, dtype=float) * inv_ddist
    fz = (float(depth_km) - depth0) * inv_ddepth
    if not (-1e-9 <= fz <= n_depth - 1 + 1e-9):
        nan = np.full(fx.shape, np.nan)
        return (nan, nan, nan) if gradient else nan
    fz = min(max(fz, 0.0), n_depth - 1.0)
    iz = min(int(fz), n_depth - 2)
    tz = fz - iz
    inside = fx <= n_dist - 1 + 1e-9
    ix = np.minimum(np.where(inside, fx, 0.0).astype(int), n_dist - 2)
    tx = np.where(inside, fx, 0.0) - ix
    t00, t01, t10, t11 = tp[iz, ix], tp[iz, ix + 1], tp[iz + 1, ix], tp[iz + 1, ix + 1]
    t = (1 - tz) * ((1 - tx) * t00 + tx * t01) + tz * ((1 - tx) * t10 + tx * t11)
    p = ((1 - tz) * (t01 - t00) + tz * (t11 - t10)) * inv_ddist
    t = np.where(inside, t + np.asarray(dz_km, dtype=float) * np.sqrt(np.maximum(inv_vrec2 - p * p, 0.0)), np.nan)
    if not gradient:
        return t
    dtz = ((1 - tx) * (t10 - t00) + tx * (t11 - t01)) * inv_ddepth
    return t, np.where(inside, p, np.nan), np.where(inside, dtz, np.nan)


def log_likelihood(misfit, w_sum: float, sigma: float, l1: bool):
    """Log-likelihood of nodes of ``misfit`` s (module doc); works on arrays."""
    if l1:
        return -w_sum * np.asarray(misfit) / sigma
    return -0.5 * w_sum * np.asarray(misfit) ** 2 / sigma**2
