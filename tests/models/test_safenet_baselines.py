"""Baselines of the yearly forecast (Poisson class probabilities, the decision rule, persistence,
smoothed seismicity, the method interface) and the pyCSEP-style N- and L-tests."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from models.safenet.baselines import (METHODS, EtasBaseline, SmoothedPoisson, class_probabilities, decide,
                                      macro_f1, make_baseline, observed_classes, persistence, tune_class_weights)
from models.safenet.catalog import SECONDS_PER_DAY, Catalog, CatalogError, MagnitudeClasses, RegionGrid, year_start
from models.safenet.csep import bin_expected, l_test, n_test, observed_bins, poisson_log_likelihood
from models.safenet.etas import EtasParameters

CLASSES = MagnitudeClasses()


def day(year: int, d: float) -> float:
    return year_start(year) + d * SECONDS_PER_DAY


class TestClassProbabilities:
    def test_hand_values(self):
        """N(>=5, 6, 7) = (1, 0.1, 0.01): P = (e^-1, e^-0.1 - e^-1, e^-0.01 - e^-0.1, 1 - e^-0.01)."""
        p = class_probabilities(np.array([[1.0, 0.1, 0.01], [0.0, 0.0, 0.0]]))
        e = math.exp
        np.testing.assert_allclose(p[0], [e(-1), e(-0.1) - e(-1), e(-0.01) - e(-0.1), 1 - e(-0.01)], rtol=1e-12)
        np.testing.assert_allclose(p[1], [1, 0, 0, 0])

    def test_rows_sum_to_one(self):
        rng = np.random.default_rng(0)
        counts = np.sort(rng.exponential(1.0, (50, 3)), axis=1)[:, ::-1]
        p = class_probabilities(counts)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
        assert np.all(p >= 0)


class TestDecisionRule:
    def test_weights_recover_rare_class(self):
        """Rare class 1 always has P ~ 0.3 < P0: unweighted argmax never says 1; tuned weights do, and
        macro F1 rises to 1 on this separable toy."""
        labels = np.array([0] * 90 + [1] * 10)
        probs = np.where(labels[:, None] == 1, [0.7, 0.3], [0.95, 0.05])
        assert np.all(decide(probs, np.ones(2)) == 0)
        w = tune_class_weights(probs, labels)
        assert w[0] == 1.0 and 0.7 / 0.3 < w[1] < 0.95 / 0.05
        assert macro_f1(labels, decide(probs, w), 2) == pytest.approx(1.0)

    def test_macro_f1_hand_value(self):
        """labels (0,0,1,1), decisions (0,1,1,1): F1_0 = 2/3, F1_1 = 0.8 -> mean 0.7333."""
        assert macro_f1(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 4) == pytest.approx((2 / 3 + 0.8) / 2)


def hand_catalog() -> tuple[Catalog, RegionGrid]:
    grid = RegionGrid(30.0, 100.0, 4.0, 4.0, 1, 3)  # regions 0, 1, 2 west to east
    cat = Catalog.from_arrays(
        [day(2010, 10), day(2010, 20), day(2010, 30), day(2011, 5), day(2011, 100)],
        [32.0, 32.0, 32.0, 32.0, 32.0], [101.0, 105.0, 105.5, 101.0, 109.0], [6.2, 4.0, 5.1, 7.3, 5.5])
    return cat, grid


class TestPersistence:
    def test_last_year_class(self):
        """Forecast for 2011 = classes of 2010 (6.2 -> 2, max(4.0, 5.1) -> 1, none -> 0); 2011's events
        cannot leak into it."""
        cat, grid = hand_catalog()
        np.testing.assert_array_equal(persistence(cat, grid, CLASSES, 2011), [2, 1, 0])
        np.testing.assert_array_equal(persistence(cat, grid, CLASSES, 2012), [3, 0, 1])
        np.testing.assert_array_equal(observed_classes(cat, grid, CLASSES, 2011), [3, 0, 1])
        method = make_baseline("persistence").fit(cat, grid, CLASSES, [2011])
        np.testing.assert_array_equal(method.predict(cat, grid, CLASSES, 2011), [2, 1, 0])


class TestSmoothedPoisson:
    def test_rates_and_gr(self):
        """~20 M>=4 events a year for 10 years in the middle of region 1 (far from its edges at a 10 km
        kernel): its M >= 4 count ~ 20 / year; M >= 5 = that x 10^-b with b from Aki."""
        grid = RegionGrid(30.0, 100.0, 4.0, 4.0, 1, 3)
        rng = np.random.default_rng(1)
        n = 200
        mags = 4.0 + rng.exponential(1 / math.log(10), n)
        cat = Catalog.from_arrays(np.sort(rng.uniform(year_start(2000), year_start(2010), n)),
                                  np.full(n, 32.0), np.full(n, 106.0), mags)
        model = SmoothedPoisson(mc=4.0, bandwidth_km=10.0, floor_per_year=0.0, magnitude_bin=0.0)
        got = model.expected_counts(cat, grid, 2010, [4.0, 5.0])
        beta = 1 / (mags.mean() - 4.0)
        per_year = 200 * 365 / 3653  # 200 events in 3653 days of history, 365 days in 2010
        assert got[1, 0] == pytest.approx(per_year, rel=1e-6)
        assert got[1, 1] == pytest.approx(per_year * math.exp(-beta), rel=1e-6)
        assert got[0, 0] < 1e-6 and got[2, 0] < 1e-6
        later = Catalog.from_arrays(list(cat.time) + [day(2010, 50)], list(cat.lat) + [32.0],
                                    list(cat.lon) + [102.0], list(mags) + [7.0])
        method = make_baseline("poisson", model=model)
        np.testing.assert_allclose(method.expected_counts(later, grid, 2010, [4.0, 5.0]), got)  # no leakage


class TestInterface:
    def test_methods_by_name(self, tmp_path):
        """Every method name builds; etas_true reads truth.json + maps.npz; unknown names are refused."""
        truth = {"etas": EtasParameters(mc=4.0, m_max=8.0).to_dict()}
        (tmp_path / "truth.json").write_text(__import__("json").dumps(truth))
        np.savez(tmp_path / "maps.npz", truth_background=np.full((4, 12), 1e-7), lat0=30.0, lon0=100.0,
                 pixels_per_degree=1.0)
        cat, grid = hand_catalog()
        for name in METHODS:
            method = make_baseline(name, dataset=tmp_path) if name == "etas_true" else make_baseline(name)
            if name == "etas_fit":
                continue  # the hand catalog is too small to fit; test_safenet_etas covers the EM
            method.fit(cat, grid, CLASSES, [2011])
            p = method.probabilities(cat, grid, CLASSES, 2012)
            assert p.shape == (3, 4)
            np.testing.assert_allclose(p.sum(axis=1), 1.0)
            assert method.predict(cat, grid, CLASSES, 2012).shape == (3,)
        et = make_baseline("etas_true", dataset=tmp_path)
        assert isinstance(et, EtasBaseline)
        with pytest.raises(CatalogError):
            make_baseline("oracle")
        with pytest.raises(CatalogError):
            make_baseline("etas_true")


class TestCsep:
    def test_n_test_hand_values(self):
        expected, observed = np.array([[2.0, 0.5], [1.0, 0.5]]), np.array([[3, 1], [2, 0]])
        r = n_test(expected, observed)
        assert (r.n_observed, r.n_forecast) == (6, 4.0)
        assert r.delta1 == pytest.approx(1 - stats.poisson.cdf(5, 4.0), rel=1e-12)
        assert r.delta2 == pytest.approx(stats.poisson.cdf(6, 4.0), rel=1e-12)
        assert r.delta1 == pytest.approx(0.21487, abs=1e-5)

    def test_log_likelihood_hand_value(self):
        assert float(poisson_log_likelihood(np.array([2.0]), np.array([3]))) == pytest.approx(
            stats.poisson.logpmf(3, 2.0), rel=1e-12)

    def test_l_test_true_and_wrong_forecast(self):
        """Observations drawn from the forecast give gamma spread over (0, 1) (mean ~ 0.5); a forecast
        10x too low in half the bins gives gamma ~ 0."""
        rng = np.random.default_rng(3)
        lam = rng.gamma(0.5, 1.0, (30, 4))
        gammas = [l_test(lam, rng.poisson(lam), n_simulations=300, seed=s).gamma for s in range(40)]
        assert 0.3 < np.mean(gammas) < 0.7 and min(gammas) < 0.3 and max(gammas) > 0.7
        observed = rng.poisson(lam)
        wrong = lam.copy()
        wrong[::2] /= 10
        assert l_test(wrong, observed + rng.poisson(lam), n_simulations=300).gamma < 0.01

    def test_bins_and_shapes(self):
        cat, grid = hand_catalog()
        obs = observed_bins(cat, grid, year_start(2010), year_start(2011), [4.0, 5.0, 6.0, 7.0])
        np.testing.assert_array_equal(obs, [[0, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]])
        np.testing.assert_allclose(bin_expected(np.array([[1.0, 0.1, 0.01]])), [[0.9, 0.09, 0.01]])
        with pytest.raises(CatalogError):
            n_test(np.ones(3), np.ones(2, int))
