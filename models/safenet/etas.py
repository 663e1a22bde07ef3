"""ETAS: the model, its kernel integrals and the expected counts of a forecast year (torch-free; the
EM fit is in :mod:`models.safenet.etas_fit`).

Conditional intensity (REFERENCES.md "SafeNet"; t in days, r in km, m' = m - mc)::

    lambda(t, x) = mu(x) + sum_i k0 e^{a m'_i} (t - t_i + c)^-(1 + omega) e^{-(t - t_i) / tau}
                                  (r_i^2 + d e^{gamma m'_i})^-(1 + rho)

with magnitudes Gutenberg-Richter (rate ``beta`` per magnitude unit) truncated at ``m_max``. Distances
are equirectangular km around the grid centre (the contract's projection, :func:`to_km`), so a region
cell is a rectangle in km. Integrals of the kernel (``D = d e^{gamma m'}``, ``Gamma`` = the upper
incomplete gamma function, continued below s = 0 by the recurrence)::

    time  int_t0^t1 (t + c)^-(1+omega) e^{-t/tau} dt
              = e^{c/tau} tau^-omega [Gamma(-omega, (t0 + c)/tau) - Gamma(-omega, (t1 + c)/tau)]
    space int over a disc of radius R of (r^2 + D)^-(1+rho) dA = pi / rho [D^-rho - (R^2 + D)^-rho]

Over a region cell the space integral is done exactly in the radial direction and by Gauss-Legendre
quadrature in angle over the four signed triangles (event, edge) that make up the rectangle, so it is
accurate both for the cell holding the event (kernel a few km wide) and for distant cells.

Expected counts of a target year (:func:`expected_counts`) = [background + events triggered directly
in the year by the history] x a cascade factor for the descendants of the year's own events (see
``cascade``), times the GR fraction above each class edge.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from numba import njit, prange
from scipy import special

from models.safenet.catalog import SECONDS_PER_DAY, Catalog, CatalogError, RegionGrid, year_start

KM_PER_DEGREE = 111.195
_REQUIRED = ("log10_k0", "a", "log10_c", "omega", "log10_tau", "log10_d", "gamma", "rho", "mc")


@dataclass(frozen=True)
class EtasParameters:
    """ETAS parameters with the names of ``truth.json`` "etas" (units: days, km, magnitude).
    ``log10_mu`` (events/day/km^2) is only used when no background map or per-region rates are given."""

    log10_k0: float = -2.49
    a: float = 1.69
    log10_c: float = -2.95
    omega: float = -0.03
    log10_tau: float = 3.99
    log10_d: float = -0.35
    gamma: float = 1.22
    rho: float = 0.51
    mc: float = 3.6
    beta: float = math.log(10.0)
    m_max: float = 9.0
    log10_mu: float = -7.5

    @classmethod
    def from_dict(cls, d: dict) -> "EtasParameters":
        """From a ``truth.json`` "etas" dictionary (extra keys ignored; ``beta``, ``m_max``, ``log10_mu``
        optional). Raises :class:`CatalogError` naming a missing or non-numeric key."""
        missing = [k for k in _REQUIRED if k not in d]
        if missing:
            raise CatalogError(f"ETAS parameters: missing {', '.join(missing)} in {sorted(d)}")
        values = {}
        for key in cls.__dataclass_fields__:
            if key in d:
                try:
                    values[key] = float(d[key])
                except (TypeError, ValueError):
                    raise CatalogError(f"ETAS parameters: {key} = {d[key]!r} is not a number") from None
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_(self, **changes) -> "EtasParameters":
        return replace(self, **changes)

    k0 = property(lambda self: 10.0 ** self.log10_k0)
    c = property(lambda self: 10.0 ** self.log10_c)
    tau = property(lambda self: 10.0 ** self.log10_tau)
    d = property(lambda self: 10.0 ** self.log10_d)


def to_km(lat: np.ndarray, lon: np.ndarray, grid: RegionGrid) -> tuple[np.ndarray, np.ndarray]:
    """Equirectangular km (x east, y north) around the grid centre (the contract's projection)."""
    lat_c = grid.lat0 + grid.n_lat * grid.dlat / 2
    lon_c = grid.lon0 + grid.n_lon * grid.dlon / 2
    x = (np.asarray(lon, float) - lon_c) * KM_PER_DEGREE * math.cos(math.radians(lat_c))
    y = (np.asarray(lat, float) - lat_c) * KM_PER_DEGREE
    return x, y


def cell_rectangles_km(grid: RegionGrid, cells: np.ndarray | None = None) -> np.ndarray:
    """(n, 4) west, east, south, north edges in km of the given cells (default: the regions)."""
    cells = grid.regions if cells is None else np.asarray(cells)
    b = np.array([grid.bounds(c) for c in cells]).reshape(-1, 4)  # s, n, w, e
    x0, y0 = to_km(b[:, 0], b[:, 2], grid)
    x1, y1 = to_km(b[:, 1], b[:, 3], grid)
    return np.column_stack([x0, x1, y0, y1])


def cell_areas_km2(grid: RegionGrid, cells: np.ndarray | None = None) -> np.ndarray:
    """Area in km^2 of each cell (default: the regions) in the contract's projection."""
    r = cell_rectangles_km(grid, cells)
    return (r[:, 1] - r[:, 0]) * (r[:, 3] - r[:, 2])


def upper_gamma(s: float, x: np.ndarray) -> np.ndarray:
    """Upper incomplete gamma Gamma(s, x) for any real s and x > 0 (recurrence below s = 0)."""
    x = np.asarray(x, float)
    if s > 0:
        return special.gammaincc(s, x) * special.gamma(s)
    if s == 0:
        return special.exp1(x)
    with np.errstate(over="ignore"):
        return (upper_gamma(s + 1, x) - np.power(x, s) * np.exp(-x)) / s


def time_integral(params: EtasParameters, t0, t1) -> np.ndarray:
    """int_{t0}^{t1} (t + c)^-(1+omega) e^{-t/tau} dt, days after the parent (t1 may be inf)."""
    c, tau, s = params.c, params.tau, -params.omega
    t0, t1 = np.asarray(t0, float), np.asarray(t1, float)
    g0 = upper_gamma(s, (t0 + c) / tau)
    g1 = np.where(np.isfinite(t1), upper_gamma(s, (np.where(np.isfinite(t1), t1, 0.0) + c) / tau), 0.0)
    return math.exp(c / tau) * tau ** (-params.omega) * np.maximum(g0 - g1, 0.0)


def space_integral(params: EtasParameters, magnitude, radius_km=np.inf) -> np.ndarray:
    """int over a disc of radius ``radius_km`` of (r^2 + D)^-(1+rho) dA, km^-2 * km^2."""
    D = params.d * np.exp(params.gamma * (np.asarray(magnitude, float) - params.mc))
    rho = params.rho
    return np.pi / rho * (D ** -rho - (np.asarray(radius_km, float) ** 2 + D) ** -rho)


def productivity(params: EtasParameters, magnitude) -> np.ndarray:
    """Expected number of direct aftershocks (M >= mc) of an event of this magnitude, all time/space."""
    m = np.asarray(magnitude, float)
    return (params.k0 * np.exp(params.a * (m - params.mc)) * time_integral(params, 0.0, np.inf)
            * space_integral(params, m))


def branching_ratio(params: EtasParameters, *, window_days: float = np.inf, radius_km: float = np.inf) -> float:
    """Mean productivity over the truncated GR law: beta int_0^dm e^{(alpha - beta) x} dx / (1 - e^{-beta dm})
    with alpha = a - gamma rho (the productivity is k e^{alpha m'}). With a kernel truncated at
    ``window_days`` / ``radius_km`` (as fitted by :func:`fit_etas_em`), by quadrature over magnitude."""
    if np.isfinite(window_days) or np.isfinite(radius_km):
        from scipy.integrate import quad
        k = params.k0 * float(time_integral(params, 0.0, window_days))
        top = -math.expm1(-params.beta * (params.m_max - params.mc))
        f = lambda m: (params.beta * math.exp(-params.beta * (m - params.mc)) / top * k  # noqa: E731
                       * math.exp(params.a * (m - params.mc)) * float(space_integral(params, m, radius_km)))
        return float(quad(f, params.mc, params.m_max, limit=200)[0])
    alpha = params.a - params.gamma * params.rho
    dm, beta = params.m_max - params.mc, params.beta
    k = float(productivity(params, params.mc))
    if abs(alpha - beta) < 1e-12:
        mean = beta * dm
    else:
        mean = beta * math.expm1((alpha - beta) * dm) / (alpha - beta)
    return k * mean / -math.expm1(-beta * dm)


def gr_fraction(params: EtasParameters, magnitude) -> np.ndarray:
    """P(M >= magnitude | M >= mc) for GR(beta) truncated at m_max (below mc: the GR extrapolation)."""
    m = np.minimum(np.asarray(magnitude, float), params.m_max)
    top = math.exp(-params.beta * (params.m_max - params.mc))
    return (np.exp(-params.beta * (m - params.mc)) - top) / (1.0 - top)


@dataclass(frozen=True)
class BackgroundRaster:
    """Background rate of M >= mc events per day per km^2 on a raster (row 0 = south edge), as in
    ``maps.npz`` (``truth_background``, ``lat0``, ``lon0``, ``pixels_per_degree``)."""

    rate: np.ndarray
    lat0: float
    lon0: float
    pixels_per_degree: float

    @classmethod
    def from_npz(cls, path: str | Path, key: str = "truth_background") -> "BackgroundRaster":
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(np.asarray(z[key], float), float(z["lat0"]), float(z["lon0"]),
                           float(z["pixels_per_degree"]))
        except (OSError, KeyError, ValueError) as exc:
            raise CatalogError(f"{path}: no usable background raster {key!r}: {exc}") from None

    def region_rates(self, grid: RegionGrid) -> np.ndarray:
        """Events/day of M >= mc in each region: pixels assigned by their centre, pixel area in the
        contract's projection ((111.195 / ppd)^2 cos(grid centre latitude) km^2)."""
        h, w = self.rate.shape
        lat = self.lat0 + (np.arange(h) + 0.5) / self.pixels_per_degree
        lon = self.lon0 + (np.arange(w) + 0.5) / self.pixels_per_degree
        cell = grid.cell_of(*np.meshgrid(lat, lon, indexing="ij"))
        lat_c = grid.lat0 + grid.n_lat * grid.dlat / 2
        area = (KM_PER_DEGREE / self.pixels_per_degree) ** 2 * math.cos(math.radians(lat_c))
        per_cell = np.bincount(cell[cell >= 0], self.rate[cell >= 0] * area, minlength=grid.n_cells)
        return per_cell[grid.regions]


@njit(cache=True)
def _edge_term(ax, ay, bx, by, D, rho, nodes, weights, radius):
    """Signed int over triangle (0, A, B) of (min(r, radius)^2 + D)^-rho / (2 rho) in polar form (see
    _cell_integrals)."""
    ux, uy = bx - ax, by - ay
    length = math.sqrt(ux * ux + uy * uy)
    cross = ax * by - ay * bx
    h = abs(cross) / length
    if h < 1e-9:
        return 0.0, 0.0
    ux, uy = ux / length, uy / length
    th_a = math.atan((ax * ux + ay * uy) / h)
    th_b = math.atan((bx * ux + by * uy) / h)
    sign = 1.0 if cross > 0 else -1.0
    # split where r = sqrt(D) meets the edge line: the integrand has its knee there
    cuts = [th_a, th_b]
    if h * h < D:
        star = math.acos(h / math.sqrt(D))
        for s in (-star, star):
            if th_a < s < th_b:
                cuts.append(s)
    if h < radius:  # the kernel's support ends where r = radius crosses the edge line
        clip = math.acos(h / radius)
        for s in (-clip, clip):
            if th_a < s < th_b:
                cuts.append(s)
    cuts.sort()
    total = 0.0
    for k in range(len(cuts) - 1):
        lo, hi = cuts[k], cuts[k + 1]
        half, mid = (hi - lo) / 2, (hi + lo) / 2
        for q in range(nodes.size):
            th = mid + half * nodes[q]
            reach = min(h / math.cos(th), radius)
            total += weights[q] * half * (reach * reach + D) ** -rho
    return sign * total / (2 * rho), sign * (th_b - th_a)


@njit(cache=True, parallel=True)
def _cell_integrals(x, y, D, rho, rects, nodes, weights, coarse_nodes, coarse_weights, tail_fraction, radius):
    """int over each rectangle of (r^2 + D_i)^-(1+rho) dA for each event i: (n_events, n_rects).

    The rectangle is the signed sum of the triangles (event, edge); in each, int_0^R r (r^2+D)^-(1+rho)
    dr = [D^-rho - (R^2 + D)^-rho] / (2 rho) with R = min(h / cos(theta), radius) (a kernel truncated at
    ``radius`` km, as fitted by :func:`fit_etas_em`; inf = untruncated). The D^-rho parts add up to
    D^-rho / (2 rho) x winding angle (2 pi inside, 0 outside), which avoids cancelling large terms.
    Rectangles beyond the radius holding all but ``tail_fraction`` of the kernel get 0; rectangles more
    than a few kernel widths away get the coarse rule (the angular integrand is smooth there: 4 nodes
    give ~1e-5 relative error)."""
    out = np.zeros((x.size, rects.shape[0]))
    for i in prange(x.size):
        cutoff = min(math.sqrt(D[i] * (tail_fraction ** (-1.0 / rho) - 1.0)), radius)
        near = max(5.0, 3.0 * math.sqrt(D[i]))
        for r in range(rects.shape[0]):
            x0, x1, y0, y1 = rects[r, 0] - x[i], rects[r, 1] - x[i], rects[r, 2] - y[i], rects[r, 3] - y[i]
            gx, gy = max(x0, 0.0, -x1), max(y0, 0.0, -y1)
            dist = math.sqrt(gx * gx + gy * gy)
            if dist > cutoff:
                continue
            nd, wt = (nodes, weights) if dist < near else (coarse_nodes, coarse_weights)
            px = (x0, x1, x1, x0)
            py = (y0, y0, y1, y1)
            tail, winding = 0.0, 0.0
            for e in range(4):
                t, w = _edge_term(px[e], py[e], px[(e + 1) % 4], py[(e + 1) % 4], D[i], rho, nd, wt, radius)
                tail += t
                winding += w
            out[i, r] = max(winding * D[i] ** -rho / (2 * rho) - tail, 0.0)
    return out


def cell_integrals(params: EtasParameters, x_km, y_km, magnitude, rects_km, *, n_nodes: int = 12,
                   tail_fraction: float = 1e-3, radius_km: float = np.inf) -> np.ndarray:
    """Space kernel integrated over each rectangle (km): (n_events, n_rects), in km^-2rho (the kernel is
    km^-2(1+rho)). Cells farther than the radius outside which an event's kernel holds less than
    ``tail_fraction`` of its mass get 0 (0 keeps every cell)."""
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    coarse = np.polynomial.legendre.leggauss(4)
    D = params.d * np.exp(params.gamma * (np.asarray(magnitude, float) - params.mc))
    return _cell_integrals(np.asarray(x_km, float), np.asarray(y_km, float), D, float(params.rho),
                           np.asarray(rects_km, float), nodes, weights, coarse[0], coarse[1],
                           float(tail_fraction), float(min(radius_km, 1e12)))


class EtasForecaster:
    """Expected counts per region for target years from one ETAS model (caches the space integrals of
    a catalog's events, so looping over years costs one pass).

    ``background``: per-region rates (events/day, M >= mc), a :class:`BackgroundRaster`, or None for
    the uniform ``10**log10_mu`` per km^2. ``cascade``: "year" (default) multiplies by 1 / (1 - n_year)
    with n_year = n x the fraction of the time kernel within half a year (a child of an event uniform
    in the year has on average half a year left in it; descendants falling into the next year or out
    of the region are ignored); "full" uses 1 / (1 - n) (an over-estimate: descendants after the year
    are counted); "none" counts background + direct aftershocks only. ``window_days`` / ``radius_km``
    truncate the kernel (use the values of the EM fit with fitted parameters: the fitted model is the
    truncated one, its background holds what the truncation left out)."""

    def __init__(self, params: EtasParameters, grid: RegionGrid, background=None, *, cascade: str = "year",
                 n_nodes: int = 12, tail_fraction: float = 1e-3, window_days: float = np.inf,
                 radius_km: float = np.inf):
        self.params, self.grid, self.n_nodes, self.tail_fraction = params, grid, n_nodes, tail_fraction
        self.window_days, self.radius_km = window_days, radius_km
        if isinstance(background, BackgroundRaster):
            self.background = background.region_rates(grid)
        elif background is None:
            self.background = 10.0 ** params.log10_mu * cell_areas_km2(grid)
        else:
            self.background = np.asarray(background, float)
            if self.background.shape != grid.regions.shape:
                raise CatalogError(f"background has {self.background.shape} rates, grid {grid.regions.size} regions")
        n = branching_ratio(params, window_days=window_days, radius_km=radius_km)
        if cascade == "year":
            n *= float(time_integral(params, 0.0, min(365.25 / 2, window_days))
                       / time_integral(params, 0.0, window_days))
        elif cascade == "none":
            n = 0.0
        elif cascade != "full":
            raise CatalogError(f"cascade must be year, full or none, got {cascade!r}")
        if n >= 1:
            raise CatalogError(f"ETAS branching ratio {n:.3f} >= 1: no stationary cascade factor")
        self.cascade_factor = 1.0 / (1.0 - n)
        self._key, self._space, self._events = None, None, None

    def _prepare(self, catalog: Catalog) -> None:
        key = (id(catalog), len(catalog))
        if self._key == key:
            return
        ev = catalog.above(self.params.mc)
        x, y = to_km(ev.lat, ev.lon, self.grid)
        self._space = cell_integrals(self.params, x, y, ev.magnitude, cell_rectangles_km(self.grid),
                                     n_nodes=self.n_nodes, tail_fraction=self.tail_fraction,
                                     radius_km=self.radius_km)
        self._events, self._key = ev, key

    def direct_counts(self, catalog: Catalog, year: int) -> np.ndarray:
        """Events (M >= mc) triggered directly in ``year`` in each region by the catalog's events before
        ``year_start(year)``."""
        self._prepare(catalog)
        ev, p = self._events, self.params
        t0, t1 = year_start(year), year_start(year + 1)
        n = np.searchsorted(ev.time, t0, side="left")
        if n == 0:
            return np.zeros(self.grid.regions.size)
        age0 = (t0 - ev.time[:n]) / SECONDS_PER_DAY
        weight = p.k0 * np.exp(p.a * (ev.magnitude[:n] - p.mc)) * time_integral(
            p, np.minimum(age0, self.window_days), np.minimum(age0 + (t1 - t0) / SECONDS_PER_DAY, self.window_days))
        return weight @ self._space[:n]

    def expected_counts(self, catalog: Catalog, year: int, edges) -> np.ndarray:
        """Expected numbers of events with M >= each edge in ``year``: (n_regions, len(edges))."""
        days = (year_start(year + 1) - year_start(year)) / SECONDS_PER_DAY
        total = (self.background * days + self.direct_counts(catalog, year)) * self.cascade_factor
        return total[:, None] * gr_fraction(self.params, np.asarray(edges, float))[None, :]


def expected_counts(params: EtasParameters, background, history: Catalog, grid: RegionGrid, year: int,
                    edges, *, cascade: str = "year") -> np.ndarray:
    """Expected numbers of events with M >= each edge in ``year`` per region, (n_regions, len(edges)),
    from the background (per-region events/day of M >= mc, a :class:`BackgroundRaster`, or None) and the
    events of ``history`` before ``year_start(year)``. See :class:`EtasForecaster`."""
    return EtasForecaster(params, grid, background, cascade=cascade).expected_counts(history, year, edges)

# ------------------------------------------------------------------ expectation-maximisation fit

