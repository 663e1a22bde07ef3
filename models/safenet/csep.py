"""pyCSEP-style consistency tests of gridded rate forecasts (Zechar et al. 2010 conventions).

A gridded forecast is the expected number of events per (region, magnitude bin) in the test period;
the observation is the count in the same bins.

- N-test: N_fore = sum of the expected counts, N_obs = sum of the observed counts;
  delta1 = 1 - F_Pois(N_obs - 1; N_fore) (probability of at least N_obs events: small = too few
  forecast), delta2 = F_Pois(N_obs; N_fore) (probability of at most N_obs: small = too many).
- L-test: joint Poisson log-likelihood of the observed counts, L = sum(-lambda + n log lambda - log n!),
  against the same statistic of ``n_simulations`` catalogs drawn from the forecast itself; quantile
  gamma = fraction of simulated L <= observed L (small = the observation is unlikely under the
  forecast; one-sided, as in pyCSEP).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from models.safenet.catalog import Catalog, CatalogError, RegionGrid

RATE_FLOOR = 1e-10  # expected counts below this are raised to it, so an event in a zero-rate bin is finite


@dataclass(frozen=True)
class NTestResult:
    n_observed: int
    n_forecast: float
    delta1: float
    delta2: float


@dataclass(frozen=True)
class LTestResult:
    log_likelihood: float
    simulated: np.ndarray
    gamma: float


def _check(expected: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    expected, observed = np.asarray(expected, float), np.asarray(observed)
    if expected.shape != observed.shape:
        raise CatalogError(f"forecast shape {expected.shape} differs from observation shape {observed.shape}")
    if np.any(~np.isfinite(expected)) or np.any(expected < 0):
        raise CatalogError("forecast: expected counts must be finite and >= 0")
    if np.any(observed < 0) or np.any(observed != np.round(observed)):
        raise CatalogError("observation: counts must be non-negative integers")
    return expected, observed.astype(np.int64)


def bin_expected(counts_ge_edges: np.ndarray) -> np.ndarray:
    """Expected counts per magnitude bin [edge_k, edge_k+1) (last bin open) from counts of M >= edge_k."""
    n = np.asarray(counts_ge_edges, float)
    return np.maximum(n - np.concatenate([n[:, 1:], np.zeros((n.shape[0], 1))], axis=1), 0.0)


def observed_bins(catalog: Catalog, grid: RegionGrid, start: float, end: float, edges) -> np.ndarray:
    """Counts per (region, magnitude bin [edge_k, edge_k+1), last open) of events in [start, end)."""
    ev = catalog.between(start, end)
    edges = np.asarray(edges, float)
    lookup = np.full(grid.n_cells, -1, np.int64)
    lookup[grid.regions] = np.arange(grid.regions.size)
    cell = grid.cell_of(ev.lat, ev.lon)
    reg = np.where(cell >= 0, lookup[np.maximum(cell, 0)], -1)
    k = np.searchsorted(edges, ev.magnitude, side="right") - 1
    keep = (reg >= 0) & (k >= 0)
    out = np.zeros((grid.regions.size, edges.size), np.int64)
    np.add.at(out, (reg[keep], k[keep]), 1)
    return out


def n_test(expected: np.ndarray, observed: np.ndarray) -> NTestResult:
    """Number test of a gridded forecast (see the module docstring)."""
    expected, observed = _check(expected, observed)
    n_fore, n_obs = float(expected.sum()), int(observed.sum())
    return NTestResult(n_obs, n_fore, float(1.0 - stats.poisson.cdf(n_obs - 1, n_fore)),
                       float(stats.poisson.cdf(n_obs, n_fore)))


def poisson_log_likelihood(expected: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Joint Poisson log-likelihood over the bins (the last axes of ``observed`` beyond the forecast's
    leading ones are summed: ``observed`` may carry extra leading simulation axes)."""
    lam = np.maximum(np.asarray(expected, float), RATE_FLOOR)
    n = np.asarray(observed)
    axes = tuple(range(n.ndim - lam.ndim, n.ndim))
    return np.sum(-lam + n * np.log(lam) - special.gammaln(n + 1.0), axis=axes)


def l_test(expected: np.ndarray, observed: np.ndarray, *, n_simulations: int = 1000,
           seed: int = 0) -> LTestResult:
    """Likelihood test: gamma = fraction of catalogs simulated from the forecast with joint
    log-likelihood <= the observed one."""
    expected, observed = _check(expected, observed)
    rng = np.random.default_rng(seed)
    lam = np.maximum(expected, RATE_FLOOR)
    simulated = np.array([poisson_log_likelihood(lam, rng.poisson(lam)) for _ in range(n_simulations)])
    observed_ll = float(poisson_log_likelihood(lam, observed))
    return LTestResult(observed_ll, simulated, float(np.mean(simulated <= observed_ll)))
