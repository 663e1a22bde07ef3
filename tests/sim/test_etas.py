"""ETAS model and branching simulation: closed forms, kernels, and the statistics of simulated catalogs."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from edge.exceptions import ConfigError
from sim.etas import (BackgroundRaster, EtasParameters, branching_ratio, delay_cdf, distance_cdf,
                      expected_aftershocks, sample_delays_days, sample_distances_km, sample_magnitudes,
                      simulate_etas, time_integral)

# Lighter triggering than the defaults (n 0.70, taper 100 days, productivity a 1.0, m_max 7) so that a
# 4-year catalog is stationary after a short burn-in and its triggered share has a small spread.
FAST = EtasParameters(log10_k0=-2.22, a=1.0, log10_tau=2.0, m_max=7.0, mc=3.0)


def _raster(total_per_day: float, shape=(16, 16), gradient: bool = False) -> BackgroundRaster:
    rate = np.ones(shape)
    if gradient:            # rate rising to the north-east, ten-fold across the raster
        rate = rate * np.exp(np.log(10.0) * (np.arange(shape[0])[:, None] + np.arange(shape[1])[None, :])
                             / (shape[0] + shape[1] - 2))
    probe = BackgroundRaster(rate, 30.0, 100.0, 8.0)
    return BackgroundRaster(rate * total_per_day / probe.total_rate_per_day, 30.0, 100.0, 8.0)


@pytest.fixture(scope="module")
def fast_catalog():
    return simulate_etas(FAST, _raster(30.0), days=4 * 365.25, burn_in_days=1000.0, seed=7)


class TestClosedForms:
    def test_defaults_subcritical(self):
        """The California-like defaults of REFERENCES.md give a branching ratio just below 1 (~0.89)."""
        p = EtasParameters()
        assert p.m_max == 8.0 and p.beta == pytest.approx(math.log(10)) and p.b == pytest.approx(1.0)
        assert 0.85 < branching_ratio(p) < 0.95

    @pytest.mark.parametrize("omega", [-0.3, -0.03, 0.0, 0.2])
    def test_kappa_is_the_integral_of_the_kernel(self, omega):
        """kappa(m) equals the numerical time x space integral of the triggering kernel."""
        p = EtasParameters(omega=omega, log10_tau=3.0)
        m = 5.3
        t_int = integrate.quad(lambda lt: math.exp(lt) * (math.exp(lt) + p.c) ** (-1 - omega)
                               * math.exp(-math.exp(lt) / p.tau), math.log(1e-9), math.log(50 * p.tau),
                               limit=500)[0]
        big_d = p.d * math.exp(p.gamma * (m - p.mc))
        s_int = integrate.quad(lambda r: 2 * math.pi * r * (r * r + big_d) ** (-1 - p.rho), 0, np.inf, limit=500)[0]
        assert time_integral(p) == pytest.approx(t_int, rel=1e-4)
        assert float(expected_aftershocks(p, m)) == pytest.approx(p.k0 * math.exp(p.a * (m - p.mc)) * t_int * s_int,
                                                                rel=1e-3)

    def test_branching_ratio_is_mean_kappa(self):
        """The closed-form branching ratio equals the Monte Carlo mean of kappa over GR magnitudes."""
        m = sample_magnitudes(EtasParameters(), 400_000, np.random.default_rng(3))
        mc_mean = expected_aftershocks(EtasParameters(), m)
        assert branching_ratio(EtasParameters()) == pytest.approx(mc_mean.mean(), abs=5 * mc_mean.std() / 632)

    def test_supercritical_refused(self):
        """A branching ratio >= 1 is refused with a message naming it."""
        p = EtasParameters(log10_k0=-2.0)
        assert branching_ratio(p) >= 1
        with pytest.raises(ConfigError, match="branching ratio"):
            simulate_etas(p, _raster(1.0), days=10.0)

    def test_bad_parameters_refused(self):
        with pytest.raises(ConfigError, match="m_max"):
            EtasParameters(mc=5.0, m_max=4.0)
        with pytest.raises(ConfigError, match="omega"):
            EtasParameters(omega=-1.5)
        with pytest.raises(ConfigError, match="unknown"):
            EtasParameters.from_dict({"k0": 1.0})


class TestKernelSamplers:
    @pytest.mark.parametrize("omega", [-0.5, -0.03, -0.005, 0.0, 0.1])
    def test_delays_follow_the_tapered_omori_cdf(self, omega):
        """Sampled delays pass a KS test against the analytic CDF (both sampling branches)."""
        p = EtasParameters(omega=omega)
        d = sample_delays_days(p, 20_000, np.random.default_rng(11))
        assert d.size == 20_000 and d.min() >= 0
        assert stats.kstest(d, lambda t: delay_cdf(p, t)).pvalue > 1e-3

    def test_omori_decay_exponent(self):
        """Between 0.1 and 100 days the delay density decays as t^-(1 + omega) (c, taper negligible)."""
        p = EtasParameters()
        d = sample_delays_days(p, 400_000, np.random.default_rng(5))
        edges = np.logspace(-1, 2, 16)
        counts = np.histogram(d, edges)[0]
        slope = np.polyfit(np.log(np.sqrt(edges[1:] * edges[:-1])), np.log(counts / np.diff(edges)), 1)[0]
        assert slope == pytest.approx(-(1 + p.omega), abs=0.03)

    def test_distances_follow_the_power_law_cdf(self):
        m = np.random.default_rng(2).uniform(3.6, 7.5, 20_000)
        r = sample_distances_km(EtasParameters(), m, np.random.default_rng(4))
        assert stats.kstest(distance_cdf(EtasParameters(), r, m), "uniform").pvalue > 1e-3

    def test_magnitudes_gutenberg_richter(self):
        """Aki MLE b within 4 sigma of beta / ln 10; all within [mc, m_max]."""
        p = EtasParameters(mc=3.0, m_max=6.0, beta=1.2 * math.log(10))
        m = sample_magnitudes(p, 50_000, np.random.default_rng(9))
        assert m.min() >= p.mc and m.max() <= p.m_max
        b_aki = 1.0 / (math.log(10) * (m.mean() - p.mc))
        assert b_aki == pytest.approx(1.2, abs=4 * 1.2 / math.sqrt(m.size) + 0.005)   # + truncation bias ~0.003
        assert stats.kstest(m, lambda x: (1 - np.exp(-p.beta * (x - p.mc))) / (1 - np.exp(-p.beta * 3.0))).pvalue > 1e-3


class TestSimulation:
    def test_triggered_share_is_the_branching_ratio(self, fast_catalog):
        """For a stationary catalog the share of aftershocks equals n, within 4 sigma of the cluster-size
        spread: sd ~ sqrt(Var(offspring) (1 - n) / n_background)."""
        c, p = fast_catalog, FAST
        n = branching_ratio(p)
        m = np.linspace(p.mc, p.m_max, 20001)
        w = np.exp(-p.beta * (m - p.mc))
        w /= w.sum()
        k = expected_aftershocks(p, m)
        var_offspring = (w * k).sum() + (w * k * k).sum() - (w * k).sum() ** 2   # mixed Poisson
        n_background = int(np.sum(c.parent == -1))
        sd = math.sqrt(var_offspring * (1 - n) / n_background)
        assert len(c) > 100_000
        assert c.triggered.mean() == pytest.approx(n, abs=4 * sd)

    def test_genealogy_consistent(self, fast_catalog):
        """Sorted times; parents precede children; generation = parent's + 1; background is generation 0."""
        c = fast_catalog
        assert np.all(np.diff(c.time_days) >= 0) and c.time_days.min() >= 0 and c.time_days.max() < c.days
        child = np.flatnonzero(c.parent >= 0)
        assert np.all(c.time_days[c.parent[child]] <= c.time_days[child])
        assert np.array_equal(c.generation[child], c.generation[c.parent[child]] + 1)
        assert np.all(c.generation[c.parent == -1] == 0) and np.all(c.generation[c.parent != -1] >= 1)
        assert np.any(c.parent == -2)            # children of burn-in events are kept

    def test_direct_aftershock_delays_and_distances(self, fast_catalog):
        """In the catalog, delays of direct aftershocks (parents > 30 days before the end, delays < 30 days)
        follow the truncated Omori CDF, and parent-child distances the spatial kernel."""
        c, p = fast_catalog, FAST
        child = np.flatnonzero(c.parent >= 0)
        par = c.parent[child]
        delay = c.time_days[child] - c.time_days[par]
        sel = (c.time_days[par] < c.days - 30.0) & (delay < 30.0)
        f30 = delay_cdf(p, 30.0)
        assert stats.kstest(delay[sel], lambda t: delay_cdf(p, t) / f30).pvalue > 1e-3
        bg = _raster(30.0)
        x1, y1 = bg.to_km(c.lat[child], c.lon[child])
        x0, y0 = bg.to_km(c.lat[par], c.lon[par])
        u = distance_cdf(p, np.hypot(x1 - x0, y1 - y0), c.magnitude[par])
        assert stats.kstest(u, "uniform").pvalue > 1e-3

    def test_magnitudes_and_depths(self, fast_catalog):
        c, p = fast_catalog, FAST
        b = 1.0 / (math.log(10) * (c.magnitude.mean() - p.mc))
        assert b == pytest.approx(p.b, abs=4 * p.b / math.sqrt(len(c)) + 0.005)
        assert c.magnitude.min() >= p.mc and c.magnitude.max() <= p.m_max
        bg = c.depth_km[c.parent == -1]
        assert np.mean((bg >= 2) & (bg <= 25)) > 0.9 and c.depth_km.min() >= 0.5
        child = np.flatnonzero(c.parent >= 0)
        assert np.median(np.abs(c.depth_km[child] - c.depth_km[c.parent[child]])) < 4.0

    def test_background_positions_follow_the_raster(self):
        """Background epicentres, counted in 4 x 4 blocks of pixels, pass a chi-square test against the raster."""
        bg = _raster(20.0, gradient=True)
        c = simulate_etas(FAST, bg, days=365.0, seed=3)
        lat, lon = c.lat[c.parent == -1], c.lon[c.parent == -1]
        row = np.floor((lat - bg.lat0) * bg.pixels_per_degree).astype(int) // 4
        col = np.floor((lon - bg.lon0) * bg.pixels_per_degree).astype(int) // 4
        observed = np.bincount(row * 4 + col, minlength=16)
        expected = bg.rate.reshape(4, 4, 4, 4).sum(axis=(1, 3)).ravel()
        expected = expected / expected.sum() * observed.sum()
        assert observed.sum() > 5000
        assert stats.chisquare(observed, expected).pvalue > 1e-3
        # Aftershocks with no burn-in: the background count is Poisson(total rate x days).
        assert abs(observed.sum() - 20.0 * 365.0) < 5 * math.sqrt(20.0 * 365.0)

    def test_seed_reproducible(self):
        a = simulate_etas(FAST, _raster(2.0), days=200.0, burn_in_days=50.0, seed=1)
        b = simulate_etas(FAST, _raster(2.0), days=200.0, burn_in_days=50.0, seed=1)
        c = simulate_etas(FAST, _raster(2.0), days=200.0, burn_in_days=50.0, seed=2)
        assert np.array_equal(a.time_days, b.time_days) and np.array_equal(a.parent, b.parent)
        assert len(a) != len(c) or not np.array_equal(a.time_days, c.time_days)
