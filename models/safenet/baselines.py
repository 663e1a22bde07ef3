"""Baselines of the yearly forecast: Poisson class probabilities, one decision rule, and the methods
"etas_true", "etas_fit", "poisson" (smoothed seismicity) and "persistence" behind one interface.

Target: for each region (``grid.regions``) and target year Y, the class of the largest magnitude in Y,
from the catalog before ``year_start(Y)`` only. A probabilistic baseline gives, per region, expected
counts N_k of events with M >= edge_k in Y; under a Poisson law P(class >= k) = 1 - exp(-N_k), so
P(class 0) = exp(-N_1), P(class k) = exp(-N_{k+1}) - exp(-N_k), P(last) = 1 - exp(-N_K).

Decision rule (the same for every probabilistic baseline, so that the comparison with a network
trained with class weights is fair): class = argmax_k w_k P_k, with w_0 = 1 and w_1.. tuned on the
training years to maximise the macro F1 (mean over classes of F1; classes absent from both labels and
decisions are left out) by coordinate ascent over a logarithmic grid of weights.

Every method is used as::

    method = make_baseline("etas_fit").fit(catalog, grid, classes, train_years)
    counts = method.expected_counts(catalog, grid, year, classes.edges)   # None for persistence
    probabilities = method.probabilities(catalog, grid, classes, year)    # (n_regions, K)
    decided = method.predict(catalog, grid, classes, year)                # (n_regions,) int

where ``catalog`` is the whole catalog: each method cuts it at ``year_start(year)`` itself.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import ndtr

from models.safenet.catalog import (SECONDS_PER_DAY, Catalog, CatalogError, MagnitudeClasses, RegionGrid,
                                    max_magnitude, year_of, year_start)
from models.safenet.etas import BackgroundRaster, EtasForecaster, EtasParameters, to_km
from models.safenet.etas_fit import aki_beta, fit_etas_em
from models.safenet.metrics import macro_f1

WEIGHT_GRID = np.logspace(-1, 3, 49)


def class_probabilities(counts_ge_edges: np.ndarray) -> np.ndarray:
    """Poisson class probabilities (n_regions, K) from expected counts of M >= each edge (n_regions, K-1)."""
    n = np.maximum(np.asarray(counts_ge_edges, float), 0.0)
    n = np.minimum.accumulate(n, axis=1)  # counts above higher edges cannot exceed those above lower ones
    survive = np.exp(-n)  # P(no event >= edge_k) = P(class < k + 1)
    cdf = np.concatenate([survive, np.ones((n.shape[0], 1))], axis=1)
    return np.diff(np.concatenate([np.zeros((n.shape[0], 1)), cdf], axis=1), axis=1)


def decide(probabilities: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Class = argmax_k weights_k P_k (ties to the lower class)."""
    return np.argmax(np.asarray(probabilities) * np.asarray(weights)[None, :], axis=1).astype(np.int64)


def tune_class_weights(probabilities: np.ndarray, labels: np.ndarray, *, sweeps: int = 3,
                       candidates: np.ndarray = WEIGHT_GRID) -> np.ndarray:
    """Weights (K,) maximising the macro F1 of :func:`decide` on (probabilities (n, K), labels (n,)):
    w_0 = 1, the others by coordinate ascent over ``candidates`` (ties: the weight nearest 1)."""
    probabilities, labels = np.asarray(probabilities, float), np.asarray(labels, np.int64)
    k_classes = probabilities.shape[1]
    if probabilities.shape[0] != labels.shape[0]:
        raise CatalogError(f"tune_class_weights: {probabilities.shape[0]} probabilities, {labels.shape[0]} labels")
    weights = np.ones(k_classes)
    best = macro_f1(labels, decide(probabilities, weights), k_classes)
    order = np.argsort(np.abs(np.log(candidates)), kind="stable")
    for _ in range(sweeps):
        improved = False
        for k in range(1, k_classes):
            for w in candidates[order]:
                trial = weights.copy()
                trial[k] = w
                score = macro_f1(labels, decide(probabilities, trial), k_classes)
                if score > best + 1e-12:
                    best, weights, improved = score, trial, True
        if not improved:
            break
    return weights


def observed_classes(catalog: Catalog, grid: RegionGrid, classes: MagnitudeClasses, year: int) -> np.ndarray:
    """Class of the largest magnitude of ``year`` in each region (the label)."""
    return classes.classify(max_magnitude(catalog, grid, [year])[:, 0])


def persistence(catalog: Catalog, grid: RegionGrid, classes: MagnitudeClasses, year: int) -> np.ndarray:
    """Forecast for ``year`` = the class observed in ``year - 1`` (events before year_start(year) only)."""
    return observed_classes(catalog.between(-np.inf, year_start(year)), grid, classes, year - 1)


@dataclass
class SmoothedPoisson:
    """Smoothed seismicity (Frankel 1995; adaptive option after Helmstetter et al. 2007): each past
    event with M >= ``mc`` spreads a Gaussian of width ``bandwidth_km`` (or, if ``neighbours`` > 0, the
    larger of that and its distance to the ``neighbours``-th nearest epicentre), integrated exactly over
    each region cell; rate = sum / years of history (the last ``window_years`` if set) + a water level
    ``floor_per_year``; counts above an edge by Gutenberg-Richter with beta from the Aki MLE of the same
    events. No declustering: aftershock sequences raise the rate of their cell for the whole window."""

    mc: float = 4.0
    bandwidth_km: float = 50.0
    neighbours: int = 0
    window_years: int | None = None
    floor_per_year: float = 1e-3
    magnitude_bin: float = 0.01

    def expected_counts(self, history: Catalog, grid: RegionGrid, year: int, edges) -> np.ndarray:
        """Expected numbers of M >= each edge in ``year``: (n_regions, len(edges))."""
        end = year_start(year)
        first = year_start(year - self.window_years) if self.window_years else -np.inf
        ev = history.above(self.mc).between(first, end)
        n_reg = grid.regions.size
        if len(ev) < 2:
            return np.full((n_reg, len(edges)), self.floor_per_year) * np.exp(
                -math.log(10) * (np.asarray(edges) - self.mc))[None, :]
        first_year = year - self.window_years if self.window_years else int(year_of(ev.time[:1])[0])
        start = year_start(first_year)
        years = (end - start) / SECONDS_PER_DAY / 365.25
        x, y = to_km(ev.lat, ev.lon, grid)
        sigma = np.full(x.size, self.bandwidth_km)
        if self.neighbours > 0 and x.size > self.neighbours:
            from scipy.spatial import cKDTree
            dist, _ = cKDTree(np.column_stack([x, y])).query(np.column_stack([x, y]), k=self.neighbours + 1)
            sigma = np.maximum(sigma, dist[:, -1])
        lat_edges = grid.lat0 + grid.dlat * np.arange(grid.n_lat + 1)
        lon_edges = grid.lon0 + grid.dlon * np.arange(grid.n_lon + 1)
        xe, _ = to_km(np.full(lon_edges.size, grid.lat0), lon_edges, grid)
        _, ye = to_km(lat_edges, np.full(lat_edges.size, grid.lon0), grid)
        # separable Gaussian: mass in cell (row, col) = P_y(row) P_x(col); summed over events by a product
        px = np.diff(ndtr((xe[None, :] - x[:, None]) / sigma[:, None]), axis=1)
        py = np.diff(ndtr((ye[None, :] - y[:, None]) / sigma[:, None]), axis=1)
        per_cell = (py.T @ px).ravel()[grid.regions]
        rate = per_cell / years + self.floor_per_year
        beta = aki_beta(ev.magnitude, self.mc, self.magnitude_bin)
        days = (year_start(year + 1) - end) / SECONDS_PER_DAY
        return (rate * days / 365.25)[:, None] * np.exp(-beta * (np.asarray(edges, float) - self.mc))[None, :]


@dataclass
class Baseline:
    """A forecast method (see the module docstring). Subclasses give ``expected_counts``."""

    name: str = "baseline"
    weights: np.ndarray | None = None

    def expected_counts(self, catalog: Catalog, grid: RegionGrid, year: int, edges) -> np.ndarray | None:
        raise NotImplementedError

    def probabilities(self, catalog: Catalog, grid: RegionGrid, classes: MagnitudeClasses, year: int) -> np.ndarray:
        return class_probabilities(self.expected_counts(catalog, grid, year, classes.edges))

    def fit(self, catalog: Catalog, grid: RegionGrid, classes: MagnitudeClasses, train_years) -> "Baseline":
        """Tune the decision weights on the training target years."""
        probs = np.concatenate([self.probabilities(catalog, grid, classes, y) for y in train_years])
        labels = np.concatenate([observed_classes(catalog, grid, classes, y) for y in train_years])
        self.weights = tune_class_weights(probs, labels)
        return self

    def predict(self, catalog: Catalog, grid: RegionGrid, classes: MagnitudeClasses, year: int) -> np.ndarray:
        if self.weights is None:
            raise CatalogError(f"baseline {self.name}: call fit (decision weights) before predict")
        return decide(self.probabilities(catalog, grid, classes, year), self.weights)


@dataclass
class PersistenceBaseline(Baseline):
    name: str = "persistence"

    def expected_counts(self, catalog, grid, year, edges):
        return None

    def probabilities(self, catalog, grid, classes, year):
        return np.eye(classes.n)[persistence(catalog, grid, classes, year)]

    def fit(self, catalog, grid, classes, train_years):
        self.weights = np.ones(classes.n)
        return self


@dataclass
class PoissonBaseline(Baseline):
    name: str = "poisson"
    model: SmoothedPoisson = field(default_factory=SmoothedPoisson)

    def expected_counts(self, catalog, grid, year, edges):
        return self.model.expected_counts(catalog.between(-np.inf, year_start(year)), grid, year, edges)


@dataclass
class EtasBaseline(Baseline):
    """ETAS expected counts from given parameters and background (per-region rates or a raster)."""

    name: str = "etas_true"
    params: EtasParameters | None = None
    background: object = None
    cascade: str = "year"
    window_days: float = np.inf
    radius_km: float = np.inf
    _forecasters: dict = field(default_factory=dict, repr=False)

    def _forecaster(self, grid: RegionGrid) -> EtasForecaster:
        key = grid.to_json()
        if key not in self._forecasters:
            self._forecasters[key] = EtasForecaster(self.params, grid, self.background, cascade=self.cascade,
                                                    window_days=self.window_days, radius_km=self.radius_km)
        return self._forecasters[key]

    def expected_counts(self, catalog, grid, year, edges):
        if self.params is None:
            raise CatalogError(f"baseline {self.name}: no ETAS parameters (fit first or load truth)")
        return self._forecaster(grid).expected_counts(catalog, year, edges)  # cuts at year_start(year)

    @classmethod
    def from_dataset(cls, directory: str | Path, **options) -> "EtasBaseline":
        """"etas_true" from a synthetic dataset: truth.json "etas" and maps.npz ``truth_background``."""
        directory = Path(directory)
        try:
            truth = json.loads((directory / "truth.json").read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CatalogError(f"{directory / 'truth.json'}: cannot read: {exc}") from None
        if "etas" not in truth:
            raise CatalogError(f"{directory / 'truth.json'}: no 'etas' parameters")
        return cls(name="etas_true", params=EtasParameters.from_dict(truth["etas"]),
                   background=BackgroundRaster.from_npz(directory / "maps.npz"), **options)


@dataclass
class EtasFitBaseline(EtasBaseline):
    """ETAS with parameters and per-region background fitted by EM (:func:`fit_etas_em`) on the catalog
    up to the end of the last training target year, above ``mc_fit``; forecasts use the kernel truncated
    as in the fit (``fit_options`` window_days / radius_km, defaults 5 years / 300 km)."""

    name: str = "etas_fit"
    mc_fit: float = 4.0
    fit_options: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)

    def fit(self, catalog, grid, classes, train_years):
        start = year_start(int(year_of(catalog.time[:1])[0]))
        end = year_start(max(train_years) + 1)
        options = {"window_days": 5 * 365.25, "radius_km": 300.0, **self.fit_options}
        self.window_days, self.radius_km = options["window_days"], options["radius_km"]
        self.params, self.background = fit_etas_em(catalog, grid, start, end, self.mc_fit,
                                                   diagnostics=self.diagnostics, **options)
        self._forecasters.clear()
        return super().fit(catalog, grid, classes, train_years)


METHODS = ("etas_true", "etas_fit", "poisson", "persistence")


def make_baseline(name: str, *, dataset: str | Path | None = None, **options) -> Baseline:
    """A baseline by name; "etas_true" needs ``dataset`` (directory with truth.json and maps.npz).
    ``options`` go to the method's dataclass (e.g. ``mc_fit``, ``fit_options``, ``model``)."""
    if name == "etas_true":
        if dataset is None:
            raise CatalogError("baseline etas_true needs the dataset directory (truth.json, maps.npz)")
        return EtasBaseline.from_dataset(dataset, **options)
    if name == "etas_fit":
        return EtasFitBaseline(**options)
    if name == "poisson":
        return PoissonBaseline(**options)
    if name == "persistence":
        return PersistenceBaseline(**options)
    raise CatalogError(f"unknown baseline {name!r}; choose among {', '.join(METHODS)}")
