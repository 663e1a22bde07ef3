"""ETAS rates and fit: kernel integrals against brute-force quadrature, expected counts against a
direct integration of the intensity, and the EM fit recovering a simulated catalog's parameters."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from models.safenet.catalog import SECONDS_PER_DAY, Catalog, CatalogError, RegionGrid, year_start
from models.safenet.etas import (KM_PER_DEGREE, BackgroundRaster, EtasParameters, branching_ratio, cell_integrals,
                                 cell_rectangles_km, expected_counts, gr_fraction, productivity, space_integral,
                                 time_integral, to_km, upper_gamma)
from models.safenet.etas_fit import fit_etas_em

TRUTH = EtasParameters(mc=3.6, m_max=8.0)  # REFERENCES.md California-like values (omega < 0)


def simulate(params: EtasParameters, grid: RegionGrid, years: float, mu_per_day: float, seed: int = 0,
             start_year: int = 2000) -> tuple[Catalog, int]:
    """Branching simulation (omega > 0 needed: delays (t + c) = c U^(-1/omega) thinned by e^{-t/tau});
    uniform background over the grid; distances by the inverse CDF R = sqrt(D ((1-u)^(-1/rho) - 1)).
    Returns the catalog and the number of background events."""
    rng = np.random.default_rng(seed)
    lat_c, lon_c = grid.lat0 + grid.n_lat * grid.dlat / 2, grid.lon0 + grid.n_lon * grid.dlon / 2
    kx = KM_PER_DEGREE * math.cos(math.radians(lat_c))
    w, h, T = grid.n_lon * grid.dlon * kx, grid.n_lat * grid.dlat * KM_PER_DEGREE, years * 365.25
    top = -math.expm1(-params.beta * (params.m_max - params.mc))

    def mags(n):
        return params.mc - np.log1p(-rng.uniform(size=n) * top) / params.beta

    n0 = rng.poisson(mu_per_day * T)
    gen = [rng.uniform(0, T, n0), rng.uniform(-w / 2, w / 2, n0), rng.uniform(-h / 2, h / 2, n0), mags(n0)]
    out = [list(a) for a in gen]
    while gen[0].size:
        idx = np.repeat(np.arange(gen[0].size), rng.poisson(productivity(params, gen[3])))
        dt, todo = np.empty(idx.size), np.arange(idx.size)
        while todo.size:
            cand = params.c * rng.uniform(size=todo.size) ** (-1 / params.omega) - params.c
            ok = rng.uniform(size=todo.size) < np.exp(-cand / params.tau)
            dt[todo[ok]], todo = cand[ok], todo[~ok]
        D = params.d * np.exp(params.gamma * (gen[3][idx] - params.mc))
        r = np.sqrt(D * ((1 - rng.uniform(size=idx.size)) ** (-1 / params.rho) - 1))
        phi = rng.uniform(0, 2 * np.pi, idx.size)
        child = [gen[0][idx] + dt, gen[1][idx] + r * np.cos(phi), gen[2][idx] + r * np.sin(phi), mags(idx.size)]
        keep = child[0] < T
        gen = [a[keep] for a in child]
        for lst, a in zip(out, gen):
            lst.extend(a)
    t, x, y, m = (np.asarray(a) for a in out)
    return Catalog.from_arrays(year_start(start_year) + t * SECONDS_PER_DAY, lat_c + y / KM_PER_DEGREE,
                               lon_c + x / kx, m), n0


class TestKernelIntegrals:
    def test_upper_gamma_below_zero_matches_quadrature(self):
        """Gamma(s, x) for s < 0 (recurrence) equals int_x^inf u^(s-1) e^-u du."""
        for s, x in [(-0.03, 1e-3), (-0.5, 0.2), (0.3, 2.0)]:
            ref = integrate.quad(lambda u: u ** (s - 1) * math.exp(-u), x, np.inf, limit=200)[0]
            assert upper_gamma(s, x) == pytest.approx(ref, rel=1e-7)

    def test_branching_ratio_against_brute_force(self):
        """n = int GR(m) k0 e^{a m'} int_t int_space g: closed form equals nested numerical integrals."""
        p = TRUTH
        time_part = sum(integrate.quad(lambda t: (t + p.c) ** -(1 + p.omega) * math.exp(-t / p.tau), a, b,
                                       limit=200)[0] for a, b in [(0, 1), (1, 1e3), (1e3, 1e5), (1e5, 1e7)])

        def per_magnitude(m):
            D = p.d * math.exp(p.gamma * (m - p.mc))
            space = integrate.quad(lambda r: 2 * math.pi * r * (r * r + D) ** -(1 + p.rho), 0, np.inf, limit=200)[0]
            density = p.beta * math.exp(-p.beta * (m - p.mc)) / -math.expm1(-p.beta * (p.m_max - p.mc))
            return density * p.k0 * math.exp(p.a * (m - p.mc)) * time_part * space

        brute = integrate.quad(per_magnitude, p.mc, p.m_max, limit=200)[0]
        assert branching_ratio(p) == pytest.approx(brute, rel=1e-6)
        assert 0.5 < branching_ratio(p) < 1.0

    def test_cell_integral_against_dblquad(self):
        """Space kernel over a cell: polar-triangle quadrature equals scipy dblquad, inside and outside."""
        p = TRUTH
        rects = np.array([[-50.0, 150.0, -20.0, 80.0], [200.0, 400.0, -300.0, -100.0]])
        got = cell_integrals(p, [0.3], [0.5], [7.0], rects, tail_fraction=0)[0]
        D = p.d * math.exp(p.gamma * (7.0 - p.mc))
        for r in range(2):
            x0, x1, y0, y1 = rects[r]
            ref = integrate.dblquad(lambda yy, xx: ((xx - 0.3) ** 2 + (yy - 0.5) ** 2 + D) ** -(1 + p.rho),
                                    x0, x1, y0, y1, epsabs=1e-13, epsrel=1e-9)[0]
            assert got[r] == pytest.approx(ref, rel=1e-6)

    def test_truncated_kernel(self):
        """A kernel cut at 50 km: a rectangle holding the disc gets the disc integral, and the truncated
        branching ratio tends to the closed form as the truncation goes to infinity."""
        p = TRUTH
        got = cell_integrals(p, [10.0], [-5.0], [6.5], np.array([[-100.0, 100.0, -80.0, 90.0]]),
                             radius_km=50.0, tail_fraction=0)[0, 0]
        assert got == pytest.approx(float(space_integral(p, 6.5, 50.0)), rel=1e-9)
        assert branching_ratio(p, window_days=1e9, radius_km=1e9) == pytest.approx(branching_ratio(p), rel=1e-5)
        assert branching_ratio(p, window_days=365.0, radius_km=100.0) < 0.9 * branching_ratio(p)


def one_event_grid() -> tuple[RegionGrid, Catalog]:
    grid = RegionGrid(30.0, 100.0, 1.0, 1.0, 3, 3)
    big = Catalog.from_arrays([year_start(2009) + 200 * SECONDS_PER_DAY], [31.3], [101.6], [7.0])
    return grid, big


class TestExpectedCounts:
    def test_background_only(self):
        """No history: counts = rate x days x GR fraction above each edge."""
        grid = RegionGrid(30.0, 100.0, 1.0, 1.0, 2, 2)
        rates = np.array([0.01, 0.02, 0.0, 0.5])
        empty = Catalog.from_arrays([], [], [], [])
        got = expected_counts(TRUTH, rates, empty, grid, 2012, [5.0, 6.0, 7.0], cascade="none")
        frac = (10 ** (-(np.array([5.0, 6, 7]) - 3.6)) - 10 ** (-(8.0 - 3.6))) / (1 - 10 ** (-(8.0 - 3.6)))
        np.testing.assert_allclose(got, rates[:, None] * 366 * frac[None, :], rtol=1e-12)  # 2012: leap year
        np.testing.assert_allclose(gr_fraction(TRUTH, [3.6, 8.0, 9.0]), [1.0, 0.0, 0.0], atol=1e-15)

    def test_cascade_factor(self):
        """cascade='full' multiplies by 1 / (1 - n); 'year' by less."""
        grid = RegionGrid(30.0, 100.0, 1.0, 1.0, 1, 1)
        empty = Catalog.from_arrays([], [], [], [])
        none = expected_counts(TRUTH, [0.1], empty, grid, 2011, [5.0], cascade="none")
        full = expected_counts(TRUTH, [0.1], empty, grid, 2011, [5.0], cascade="full")
        year = expected_counts(TRUTH, [0.1], empty, grid, 2011, [5.0], cascade="year")
        assert full[0, 0] == pytest.approx(none[0, 0] / (1 - branching_ratio(TRUTH)), rel=1e-12)
        assert none[0, 0] < year[0, 0] < full[0, 0]

    def test_one_big_event_matches_direct_integration(self):
        """Triggered counts of one M7 over the next year in each cell = triple integral of its kernel."""
        p = TRUTH
        grid, big = one_event_grid()
        got = expected_counts(p, np.zeros(9), big, grid, 2010, [p.mc], cascade="none")[:, 0]
        t0 = (year_start(2010) - big.time[0]) / SECONDS_PER_DAY
        t1 = t0 + 365.0
        time_part = integrate.quad(lambda t: (t + p.c) ** -(1 + p.omega) * math.exp(-t / p.tau), t0, t1)[0]
        assert time_integral(p, t0, t1) == pytest.approx(time_part, rel=1e-9)
        ex, ey = to_km(big.lat, big.lon, grid)
        D = p.d * math.exp(p.gamma * (7.0 - p.mc))
        k = p.k0 * math.exp(p.a * (7.0 - p.mc)) * time_part
        rects = cell_rectangles_km(grid)
        for r in (0, 4, 8):  # a far corner, the centre, the cell next to the event
            x0, x1, y0, y1 = rects[r]
            space = integrate.dblquad(lambda yy, xx: ((xx - ex[0]) ** 2 + (yy - ey[0]) ** 2 + D) ** -(1 + p.rho),
                                      x0, x1, y0, y1, epsabs=1e-14, epsrel=1e-9)[0]
            assert got[r] == pytest.approx(k * space, rel=1e-5)
        # the event's own cell holds most of its aftershocks of the year
        assert np.argmax(got) == grid.cell_of(big.lat, big.lon)[0]

    def test_raster_background_and_errors(self):
        """A raster of constant rate integrates to rate x cell area; a bad cascade name is refused."""
        grid = RegionGrid(30.0, 100.0, 1.0, 1.0, 2, 2)
        raster = BackgroundRaster(np.full((20, 20), 1e-6), 30.0, 100.0, 10.0)
        area = (KM_PER_DEGREE ** 2) * math.cos(math.radians(31.0))
        np.testing.assert_allclose(raster.region_rates(grid), 1e-6 * area, rtol=1e-12)
        with pytest.raises(CatalogError):
            expected_counts(TRUTH, raster, Catalog.from_arrays([], [], [], []), grid, 2011, [5.0], cascade="bad")
        with pytest.raises(CatalogError, match="log10_k0"):
            EtasParameters.from_dict({"a": 1.0})


SIM = EtasParameters(log10_k0=-2.4, a=1.5, log10_c=-2.0, omega=0.2, log10_tau=4.0, log10_d=-0.3, gamma=1.2,
                     rho=0.6, mc=4.0, m_max=8.0)


class TestEmFit:
    def test_recovers_simulated_parameters(self):
        """~3000 events, 20 years, n = 0.55, tau fixed: EM recovers the branching ratio within 0.1, the
        background share within 0.05 and each free parameter within ~3 standard errors of a catalog this
        size (a, gamma, rho +-0.3; log10 c, omega +-0.15; log10 d +-0.3)."""
        grid = RegionGrid(30.0, 100.0, 2.0, 2.0, 5, 5)
        catalog, n_background = simulate(SIM, grid, 20, 0.2, seed=1)
        inside = grid.cell_of(catalog.lat, catalog.lon) >= 0
        start = EtasParameters(log10_k0=-2.5, a=1.0, log10_c=-2.5, omega=0.1, log10_tau=4.0, log10_d=0.0,
                               gamma=1.0, rho=0.5)
        diag = {}
        fit, background = fit_etas_em(catalog, grid, year_start(2000), year_start(2020), 4.0, initial=start,
                                      magnitude_bin=0.0, window_days=3 * 365.25, radius_km=200.0, m_max=8.0,
                                      diagnostics=diag)
        assert branching_ratio(fit) == pytest.approx(branching_ratio(SIM), abs=0.1)
        assert diag["background_fraction"] == pytest.approx(n_background / inside.sum(), abs=0.05)
        assert background.sum() == pytest.approx(0.2, rel=0.15)
        for key, tol in [("a", 0.3), ("gamma", 0.3), ("rho", 0.3), ("log10_c", 0.15), ("omega", 0.15),
                         ("log10_d", 0.3)]:
            assert getattr(fit, key) == pytest.approx(getattr(SIM, key), abs=tol), key
        assert fit.log10_tau == SIM.log10_tau  # fixed
        assert fit.beta == pytest.approx(SIM.beta, rel=0.1)

    def test_too_few_events_refused(self):
        grid = RegionGrid(30.0, 100.0, 2.0, 2.0, 1, 1)
        cat = Catalog.from_arrays([year_start(2001)], [31.0], [101.0], [5.0])
        with pytest.raises(CatalogError, match="need"):
            fit_etas_em(cat, grid, year_start(2000), year_start(2002), 4.0)
