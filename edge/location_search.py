"""Search kernels of the hypocenter locator: the oct-tree and its plain full-grid peer.

The oct-tree (:func:`octree_search`) splits the most probable cells, as NonLinLoc's does, but a
fixed number (``beam``) per level rather than one at a time until a budget runs out. Two reasons,
measured on a 100 km fiber with 500 picks: (1) the likelihood is so sharp (W ~ 90 independent
observations, sigma 0.1 s) that a coarse cell whose centre misses a minimum by a few km looks
e^-100 improbable next to any finer cell elsewhere, so the one-at-a-time order dives into
whichever lobe of a mirror ambiguity its first cells hit and never returns; within one level
all cells have the same size, the comparison is fair, and mirror lobes have equal misfit, so
both stay in the beam. (2) The number of nodes, hence the time of a relocation, is bounded.

Cells are ranked by their score (:mod:`edge.location_misfit`), not by the misfit at the centre:
in a test event 30 km from the fiber the 16 km root cell holding the source ranked 576th of
2600 by centre misfit and 1st by score. A final descent on the finest lattice moves from the best
finest cell to better neighbours, splitting whatever coarse leaf holds them, so the answer is a
local minimum of the fine lattice even where the beam cut its basin at a cell boundary.
"""
from __future__ import annotations

import math

import numba
import numpy as np

from edge.location_misfit import node_misfit

__all__ = ["octree_search", "grid_search", "N_COLUMNS", "E", "N", "Z", "H", "MISFIT", "T0", "SCORE",
           "COARSE"]

# Columns of the cell table the oct-tree fills.
E, N, Z, H, MISFIT, T0, SCORE, COARSE = range(8)
N_COLUMNS = 8


@numba.njit(cache=True)
def _evaluate(cells, k, e, n, z, h, half, on_full, coarse, full, model, r_buf, w_buf):  # pragma: no cover (numba)
    """Evaluate the cell of centre (e, n, z) and edge h into row k of ``cells``: on the coarse
    picks (the COARSE column, and the score), then, if ``on_full``, on all picks (the misfit and
    origin time; the score keeps the coarse picks' ratio of score to misfit, which costs a tenth
    of linearising all picks and ranks cells of one level as well)."""
    tp, inv_ddist, depth0, inv_ddepth, inv_vrec2, use_elev, l1, penalty_s = model
    c = coarse
    m, t0, score = node_misfit(e, n, z, half, c[0], c[1], c[2], c[3], c[4], c[5], tp, inv_ddist,
                               depth0, inv_ddepth, inv_vrec2, use_elev, l1, penalty_s, r_buf, w_buf)
    cells[k, COARSE] = m
    if on_full:
        ratio = score / m if m > 0.0 else 1.0
        f = full
        m, t0, _ = node_misfit(e, n, z, 0.0, f[0], f[1], f[2], f[3], f[4], f[5], tp, inv_ddist,
                               depth0, inv_ddepth, inv_vrec2, use_elev, l1, penalty_s, r_buf, w_buf)
        score = m * ratio
    cells[k, E], cells[k, N], cells[k, Z], cells[k, H] = e, n, z, h
    cells[k, MISFIT], cells[k, T0], cells[k, SCORE] = m, t0, score


@numba.njit(cache=True)
def _split(parent, n, cells, child, search, coarse, full, model, r_buf, w_buf):  # pragma: no cover (numba)
    """Evaluate the 8 children of ``parent`` into rows n..n+7; child octant bits: 1 east,
    2 north, 4 down. Returns the next free row."""
    h_fine, h_full = search[0], search[1]
    h = 0.5 * cells[parent, H]
    # The finest cells are never split: their score is not needed.
    half = 0.5 * h if h > 1.5 * h_fine else 0.0
    child[parent] = n
    for octant in range(8):
        e = cells[parent, E] + (0.5 * h if octant & 1 else -0.5 * h)
        nn = cells[parent, N] + (0.5 * h if octant & 2 else -0.5 * h)
        z = cells[parent, Z] + (0.5 * h if octant & 4 else -0.5 * h)
        _evaluate(cells, n + octant, e, nn, z, h, half, h <= h_full, coarse, full, model, r_buf, w_buf)
        child[n + octant] = -1
    return n + 8


@numba.njit(cache=True)
def _leaf_at(e, n, z, grid, cells, child):  # pragma: no cover (numba)
    """Row of the leaf holding point (e, n, z), or -1 outside the box."""
    e0, n0, z0, h0, count_e, count_n, count_z = grid
    ie = int(math.floor((e - e0) / h0))
    jn = int(math.floor((n - n0) / h0))
    kz = int(math.floor((z - z0) / h0))
    if not (0 <= ie < count_e and 0 <= jn < count_n and 0 <= kz < count_z):
        return -1
    k = (ie * count_n + jn) * count_z + kz
    while child[k] >= 0:
        octant = ((1 if e > cells[k, E] else 0) + (2 if n > cells[k, N] else 0)
                  + (4 if z > cells[k, Z] else 0))
        k = child[k] + octant
    return k


@numba.njit(cache=True)
def octree_search(grid, search, coarse, full, model, r_buf, w_buf, cells, child):  # pragma: no cover (numba)
    """Oct-tree search: roots, a beam per level, then a descent on the finest lattice.

    1. Evaluate every root cell of the box.
    2. Level by level, split the best-scoring cells of the level (``coarse_beam`` of them while
       the children are judged on the coarse picks, ``beam`` after) until cells of ``h_fine``.
    3. From the best finest cell, move to the best of its 26 lattice neighbours while that
       improves the misfit (at most ``max_polish`` moves), splitting whatever leaf holds a
       neighbour down to ``h_fine``: the answer is a local minimum on the fine lattice even
       where the beam cut a basin at a cell boundary (the Moho kink does that).

    Parameters
    ----------
    grid : (e0, n0, z0, h0, count_e, count_n, count_z)
        Box corner (km), root edge (km) and root counts; root k = (i count_n + j) count_z + l.
    search : (h_fine, h_full, beam, coarse_beam, max_polish)
        Cells larger than ``h_full`` are judged on ``coarse`` picks, the others on ``full``.
    coarse, full : (pick_e, pick_n, pick_dz, pick_t, pick_w, n_picks)
    model : (tp, inv_ddist, depth0, inv_ddepth, inv_vrec2, use_elev, l1, penalty_s)
    cells : ndarray (capacity, N_COLUMNS)
        Receives every evaluated cell (columns E, N, Z, H, MISFIT, T0, SCORE and COARSE, the
        misfit on the coarse picks whatever the cell was judged on).
    child : ndarray (capacity,) int64
        Row of a cell's first child, -1 for a leaf.

    Returns
    -------
    int
        Number of cells evaluated (rows used). The search stops early rather than overflow.
    """
    e0, n0, z0, h0, count_e, count_n, count_z = grid
    h_fine, h_full, beam, coarse_beam, max_polish = search
    capacity = cells.shape[0]
    n = 0
    for i in range(count_e):
        for j in range(count_n):
            for k in range(count_z):
                _evaluate(cells, n, e0 + (i + 0.5) * h0, n0 + (j + 0.5) * h0, z0 + (k + 0.5) * h0,
                          h0, 0.5 * h0, h0 <= h_full, coarse, full, model, r_buf, w_buf)
                child[n] = -1
                n += 1
    level_start = 0
    h = h0
    while h > 1.5 * h_fine:
        # Equal volumes within a level: the most probable cells are those of best score.
        keep = coarse_beam if 0.5 * h > h_full else beam
        order = np.argsort(cells[level_start:n, SCORE])[:keep] + level_start
        level_start = n
        h = 0.5 * h
        for parent in order:
            if n + 8 > capacity:
                return n
            n = _split(parent, n, cells, child, search, coarse, full, model, r_buf, w_buf)
    if level_start == n:
        return n
    best = level_start + np.argmin(cells[level_start:n, MISFIT])
    for _ in range(max_polish):
        centre = best
        for octant in range(27):
            if octant == 13:
                continue
            e = cells[centre, E] + h_fine * (octant % 3 - 1)
            nn = cells[centre, N] + h_fine * ((octant // 3) % 3 - 1)
            z = cells[centre, Z] + h_fine * (octant // 9 - 1)
            k = _leaf_at(e, nn, z, grid, cells, child)
            if k < 0:
                continue
            while cells[k, H] > 1.5 * h_fine:
                if n + 8 > capacity:
                    return n
                n = _split(k, n, cells, child, search, coarse, full, model, r_buf, w_buf)
                k = _leaf_at(e, nn, z, grid, cells, child)
            if cells[k, MISFIT] < cells[best, MISFIT]:
                best = k
        if best == centre:
            break
    return n


@numba.njit(cache=True)
def grid_search(axis_e, axis_n, axis_z, full, model, r_buf, w_buf, out_misfit, out_t0):  # pragma: no cover (numba)
    """Plain full-grid search: misfit and origin time at every node of the axes' product.

    ``model`` as for :func:`octree_search`; ``out_misfit`` and ``out_t0`` have shape
    (len(axis_e), len(axis_n), len(axis_z)).
    """
    tp, inv_ddist, depth0, inv_ddepth, inv_vrec2, use_elev, l1, penalty_s = model
    for i in range(axis_e.shape[0]):
        for j in range(axis_n.shape[0]):
            for k in range(axis_z.shape[0]):
                m, t0, _ = node_misfit(axis_e[i], axis_n[j], axis_z[k], 0.0, full[0], full[1], full[2],
                                       full[3], full[4], full[5], tp, inv_ddist, depth0, inv_ddepth,
                                       inv_vrec2, use_elev, l1, penalty_s, r_buf, w_buf)
                out_misfit[i, j, k] = m
                out_t0[i, j, k] = t0
