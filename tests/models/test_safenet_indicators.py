"""Catalog indicators of SafeNet: Gutenberg-Richter estimators, hand-computed catalogs, no look-ahead."""
from __future__ import annotations

import time
from datetime import datetime, timezone

import numpy as np
import pytest

from edge.exceptions import ConfigError
from models.safenet.catalog import Catalog, RegionGrid, year_start
from models.safenet.indicators import (
    FILL_VALUE,
    INDICATOR_NAMES,
    SYNODIC_MONTH_DAYS,
    FeatureScaler,
    a_value,
    b_value_aki,
    b_value_binned,
    catalog_indicators,
    completeness_maxc,
    lunar_day,
    lunar_phase_feature,
)

DAY = 86400.0
GRID = RegionGrid(0.0, 0.0, 4.0, 4.0, 2, 2)     # 4 regions of 4 x 4 degrees; region 0 around (2, 2)


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def col(name: str) -> int:
    return INDICATOR_NAMES.index(name)


def gr_sample(n: int, b: float, mc: float, dm: float, seed: int = 0) -> np.ndarray:
    """Gutenberg-Richter magnitudes binned at dm (bins centred on multiples of dm) from Mc up."""
    rng = np.random.default_rng(seed)
    m = mc - dm / 2 + rng.exponential(np.log10(np.e) / b, n)
    return np.floor(m / dm + 0.5) * dm if dm > 0 else m


class TestGutenbergRichter:
    @pytest.mark.parametrize("b_true", [1.0, 1.5])
    def test_aki_utsu_recovers_b(self, b_true):
        """Aki-Utsu on 20k binned GR magnitudes is within 3 standard errors of the true b."""
        m = gr_sample(20_000, b_true, 2.0, 0.1, seed=1)
        b = b_value_aki(m, 2.0, 0.1)
        assert abs(b - b_true) < 3 * b_true / np.sqrt(m.size)

    def test_continuous_aki(self):
        """dM = 0 is Aki's formula for continuous magnitudes."""
        m = gr_sample(20_000, 1.0, 3.0, 0.0, seed=2)
        assert abs(b_value_aki(m, 3.0, 0.0) - 1.0) < 3 / np.sqrt(m.size)

    def test_binned_formula_matches_utsu(self):
        """The exact binned MLE and Utsu's dM/2 correction agree to < 1 % at dM = 0.1, both near b."""
        m = gr_sample(20_000, 1.0, 2.0, 0.1, seed=3)
        b_u, b_bin = b_value_aki(m, 2.0, 0.1), b_value_binned(m, 2.0, 0.1)
        assert abs(b_u - b_bin) / b_bin < 0.01
        assert abs(b_bin - 1.0) < 3 / np.sqrt(m.size)
        # The two formulas converge as the bin shrinks.
        fine = gr_sample(20_000, 1.0, 2.0, 0.001, seed=3)
        assert abs(b_value_aki(fine, 2.0, 0.001) - b_value_binned(fine, 2.0, 0.001)) < 1e-4

    def test_hand_values(self):
        """b = log10(e) / (mean - (Mc - dM/2)), a = log10 N + b Mc, events below Mc ignored."""
        m = np.array([1.0, 2.0, 2.0, 2.5, 3.5])
        b = np.log10(np.e) / (np.mean([2.0, 2.0, 2.5, 3.5]) - 1.95)
        assert b_value_aki(m, 2.0, 0.1) == pytest.approx(b)
        assert a_value(m, 2.0, 0.1) == pytest.approx(np.log10(4) + b * 2.0)
        assert a_value(m, 2.0, 0.1, b=1.0) == pytest.approx(np.log10(4) + 2.0)
        assert np.isnan(b_value_aki([1.0, 1.5], 2.0, 0.1))

    def test_maximum_curvature(self):
        """Mc by maximum curvature is the mode of the binned FMD + 0.2; few events -> the whole grid's."""
        m = gr_sample(3000, 1.0, 3.0, 0.1, seed=4)
        rng = np.random.default_rng(4)
        t = rng.uniform(year_start(2000), year_start(2001), m.size)
        lat, lon = np.full(m.size, 2.0), np.full(m.size, 2.0)
        # 10 events in region 1, all M 5: too few for its own estimate
        t = np.r_[t, np.full(10, year_start(2000) + DAY)]
        lat, lon, m = np.r_[lat, np.full(10, 2.0)], np.r_[lon, np.full(10, 6.0)], np.r_[m, np.full(10, 5.0)]
        mc = completeness_maxc(Catalog.from_arrays(t, lat, lon, m), GRID, [2000])
        assert mc[0, 0] == pytest.approx(3.2) and mc[1, 0] == pytest.approx(3.2)


def hand_catalog() -> Catalog:
    rows = [  # time, lat, lon, depth_km, magnitude
        ("2000-05-01T00:00", 1.0, 1.0, 10.0, 4.4),
        ("2000-12-31T00:00", 1.0, 1.0, 10.0, 3.1),
        ("2001-01-10T00:00", 1.0, 1.0, 10.0, 4.0),
        ("2001-01-20T00:00", 1.5, 2.0, 80.0, 3.0),
        ("2001-01-25T00:00", 2.0, 3.0, np.nan, 6.5),
        ("2001-03-05T00:00", 3.0, 3.0, 100.0, 7.2),
        ("2001-03-06T00:00", 3.0, 3.0, 5.0, 2.5),
        ("2001-06-01T00:00", 3.0, 3.0, 20.0, 5.0),
        ("2001-01-15T00:00", 1.0, 6.0, 10.0, 5.5),    # region 1
        ("2002-02-01T00:00", 1.0, 1.0, 10.0, 6.0),    # after the year
    ]
    t, la, lo, d, m = zip(*rows)
    return Catalog.from_arrays([utc(x) for x in t], la, lo, m, d)


@pytest.fixture(scope="module")
def f():
    """Indicators of region 0, year 2001, of the hand catalog with Mc 2.0."""
    return catalog_indicators(hand_catalog(), GRID, [2000, 2001], mc=2.0)[0, 1]


class TestHandCatalog:
    """Region 0, year 2001, Mc 2.0 given: every family checked at its index."""

    def test_top5(self, f):
        """Top-5 magnitudes of the year and months, padded with the fill value."""
        assert [f[col(f"mag_top{k}_year")] for k in range(1, 6)] == pytest.approx([7.2, 6.5, 5.0, 4.0, 3.0])
        assert [f[col(f"mag_top{k}_m01")] for k in range(1, 6)] == pytest.approx([6.5, 4.0, 3.0, 0, 0])
        assert [f[col(f"mag_top{k}_m03")] for k in range(1, 6)] == pytest.approx([7.2, 2.5, 0, 0, 0])
        assert f[col("mag_top1_m02")] == FILL_VALUE and f[col("mag_top1_m06")] == pytest.approx(5.0)

    def test_lunar(self, f):
        """The lunar feature belongs to the same event as the magnitude; fill where no event."""
        assert f[col("lunar_top1_year")] == pytest.approx(lunar_phase_feature(utc("2001-03-05T00:00")), abs=1e-6)
        assert f[col("lunar_top2_m01")] == pytest.approx(lunar_phase_feature(utc("2001-01-10T00:00")), abs=1e-6)
        assert f[col("lunar_top4_m01")] == FILL_VALUE

    def test_counts(self, f):
        """Monthly counts by magnitude bin (3.0 in M0-3, 5.0 in M3-5) and by depth (NaN = shallow)."""
        expect = {"count_M0-3_m01": 1, "count_M3-5_m01": 1, "count_M5-7_m01": 1, "count_M7+_m01": 0,
                  "count_M0-3_m03": 1, "count_M7+_m03": 1, "count_M3-5_m06": 1, "count_M5-7_m06": 0,
                  "count_deep_m01": 1, "count_shallow_m01": 2, "count_deep_m03": 1, "count_shallow_m03": 1,
                  "count_shallow_m06": 1, "count_deep_m06": 0, "count_shallow_m02": 0}
        for name, v in expect.items():
            assert f[col(name)] == v, name
        assert f[130:178].sum() == 6 and f[178:202].sum() == 6

    def test_moments(self, f):
        """Mean, std (ddof 0) and fraction M >= 6 of the year and of January."""
        year = np.array([4.0, 3.0, 6.5, 7.2, 2.5, 5.0])
        assert f[col("mean_mag_year")] == pytest.approx(year.mean())
        assert f[col("std_mag_year")] == pytest.approx(year.std())
        assert f[col("frac_M6_year")] == pytest.approx(2 / 6)
        assert f[col("mean_mag_m01")] == pytest.approx(13.5 / 3)
        assert f[col("frac_M6_m01")] == pytest.approx(1 / 3)
        assert f[col("std_mag_m02")] == FILL_VALUE

    def test_gutenberg_richter(self, f):
        """b and a of the year by Aki-Utsu; January has 3 events, too few for b -> fill."""
        year = np.array([4.0, 3.0, 6.5, 7.2, 2.5, 5.0])
        b = np.log10(np.e) / (year.mean() - 1.95)
        assert f[col("b_year")] == pytest.approx(b, rel=1e-6)
        assert f[col("a_year")] == pytest.approx(np.log10(6) + 2.0 * b, rel=1e-6)
        assert f[col("b_m01")] == FILL_VALUE and f[col("a_m01")] == FILL_VALUE

    def test_last_100(self, f):
        """The last events up to the end of 2001 (8, from 2000 on): T, mean, b, eta, delta-M, energy."""
        m = np.array([4.4, 3.1, 4.0, 3.0, 6.5, 7.2, 2.5, 5.0])
        span = (utc("2001-06-01T00:00") - utc("2000-05-01T00:00")) / DAY
        b = np.log10(np.e) / (m.mean() - 1.95)
        a = np.log10(8) + 2.0 * b
        eta = sum((np.log10(np.sum(m >= mi)) - (a - b * mi)) ** 2 for mi in m) / 7
        energy = np.log10(np.sum(10 ** ((11.8 + 1.5 * m) / 2)) / span)
        expect = {"T_last100_days": span, "mean_mag_last100": m.mean(), "b_last100": b, "a_last100": a,
                  "eta_last100": eta, "delta_m_last100": 7.2 - a / b, "log10_sqrt_energy_rate_last100": energy}
        for name, v in expect.items():
            assert f[col(name)] == pytest.approx(v, rel=1e-5), name

    def test_inter_event(self, f):
        """Mean and CV of inter-event times per magnitude bin over the history; one event -> fill."""
        t = np.array([utc(x) for x in ("2000-05-01T00:00", "2000-12-31T00:00", "2001-01-10T00:00",
                                       "2001-06-01T00:00")]) / DAY    # M3-5 events
        d = np.diff(t)
        assert f[col("interevent_mean_days_M3-5")] == pytest.approx(d.mean())
        assert f[col("interevent_cv_M3-5")] == pytest.approx(d.std() / d.mean(), rel=1e-5)
        assert f[col("interevent_mean_days_M0-3")] == pytest.approx(45.0)     # 20 Jan -> 6 Mar
        assert f[col("interevent_cv_M0-3")] == pytest.approx(0.0)
        assert f[col("interevent_mean_days_M7+")] == FILL_VALUE

    def test_other_region_and_year(self):
        """Region 1's event stays in region 1; year 2000 sees only 2000's events."""
        f = catalog_indicators(hand_catalog(), GRID, [2000, 2001], mc=2.0)
        assert f[1, 1, col("mag_top1_year")] == pytest.approx(5.5) and f[1, 1, col("mag_top2_year")] == 0
        assert f[0, 0, col("mag_top1_year")] == pytest.approx(4.4) and f[0, 0, col("count_M3-5_m05")] == 1
        assert f[0, 0, col("T_last100_days")] == pytest.approx(244.0)
        assert np.all(f[2:] == FILL_VALUE)


class TestLunar:
    @pytest.mark.parametrize("when", ["1990-01-26T19:20", "2019-07-02T19:16", "2021-01-13T05:00"])
    def test_new_moon(self, when):
        """A known new moon (eclipse dates) is lunar day ~0 (or ~N, wrapped), within the mean month's 0.7 d."""
        d = float(lunar_day(utc(when)))
        assert min(d, SYNODIC_MONTH_DAYS - d) < 0.7
        assert lunar_phase_feature(utc(when)) == pytest.approx(2.0, abs=0.16)

    def test_full_moon(self):
        """The full moon of 2021-01-28 19:16 UTC is half a synodic month on."""
        assert float(lunar_day(utc("2021-01-28T19:16"))) == pytest.approx(SYNODIC_MONTH_DAYS / 2, abs=0.7)
        quarter = utc("2021-01-13T05:00") + SYNODIC_MONTH_DAYS / 4 * DAY
        assert lunar_phase_feature(quarter) == pytest.approx(3.0, abs=0.02)


def random_catalog(n: int, y0: int, y1: int, grid: RegionGrid, seed: int) -> Catalog:
    rng = np.random.default_rng(seed)
    t = rng.uniform(year_start(y0), year_start(y1), n)
    lat = rng.uniform(grid.lat0, grid.lat0 + grid.n_lat * grid.dlat, n)
    lon = rng.uniform(grid.lon0, grid.lon0 + grid.n_lon * grid.dlon, n)
    m = np.minimum(np.round(gr_sample(n, 1.0, 3.0, 0.1, seed) + 0.0, 2), 8.5)
    return Catalog.from_arrays(t, lat, lon, m, rng.uniform(1, 150, n))


class TestLayout:
    def test_names(self):
        """282 unique names."""
        assert len(INDICATOR_NAMES) == 282 == len(set(INDICATOR_NAMES))

    def test_shape_dtype_no_nan(self):
        """float32 (regions, years, 282) without NaN, years in the order given."""
        cat = random_catalog(3000, 2000, 2006, GRID, 5)
        f = catalog_indicators(cat, GRID, range(2000, 2006))
        assert f.shape == (4, 6, 282) and f.dtype == np.float32 and np.all(np.isfinite(f))
        g = catalog_indicators(cat, GRID, [2004, 2001])
        np.testing.assert_array_equal(g, f[:, [4, 1]])

    @pytest.mark.parametrize("mc", [None, 3.0])
    def test_no_leakage(self, mc):
        """Features of year y do not change when events after year y are added (Mc estimated or given)."""
        cat = random_catalog(4000, 2000, 2004, GRID, 6)
        extra = random_catalog(3000, 2004, 2008, GRID, 7)
        edge = Catalog.from_arrays([year_start(2004)], [2.0], [2.0], [8.0], [10.0])   # first instant of 2004
        both = Catalog.from_arrays(*(np.r_[getattr(cat, k), getattr(extra, k), getattr(edge, k)]
                                     for k in ("time", "lat", "lon", "magnitude", "depth_km")))
        years = range(2000, 2004)
        np.testing.assert_array_equal(catalog_indicators(cat, GRID, years, mc=mc),
                                      catalog_indicators(both, GRID, years, mc=mc))
        assert not np.array_equal(catalog_indicators(cat, GRID, [2004], mc=mc),
                                  catalog_indicators(both, GRID, [2004], mc=mc))

    def test_bad_mc(self):
        with pytest.raises(ConfigError):
            catalog_indicators(random_catalog(10, 2000, 2001, GRID, 0), GRID, [2000], mc=[3.0, 3.0])

    def test_speed(self):
        """100k events, 90 regions, 60 years: seconds, not minutes (~1.5 s measured; loaded machine margin)."""
        grid = RegionGrid(20.0, 90.0, 4.0, 4.0, 9, 10)
        cat = random_catalog(100_000, 1960, 2020, grid, 8)
        t0 = time.perf_counter()
        f = catalog_indicators(cat, grid, range(1960, 2020))
        assert time.perf_counter() - t0 < 20.0
        assert f.shape == (90, 60, 282)


class TestScaler:
    def test_fit_transform_roundtrip(self):
        """Min-max per column, clipped to [0, 1]; a constant column -> 0; the dict form round-trips."""
        x = np.array([[[0.0, 5.0, 1.0]], [[10.0, 7.0, 1.0]]])
        s = FeatureScaler.fit(x)
        y = s.transform(np.array([[5.0, 6.0, 1.0], [20.0, 4.0, 1.0]]))
        np.testing.assert_allclose(y, [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
        assert y.dtype == np.float32
        unclipped = FeatureScaler(s.minimum, s.maximum, clip=False).transform(np.array([20.0, 4.0, 1.0]))
        np.testing.assert_allclose(unclipped, [2.0, -0.5, 0.0])
        t = FeatureScaler.from_dict(s.to_dict())
        np.testing.assert_array_equal(t.minimum, s.minimum) and np.testing.assert_array_equal(t.maximum, s.maximum)

    def test_bad_inputs(self):
        """A card entry without max, or with another layout's names, or a wrong width -> ConfigError."""
        with pytest.raises(ConfigError):
            FeatureScaler.from_dict({"min": [0.0]})
        with pytest.raises(ConfigError):
            FeatureScaler.from_dict({"min": [0.0] * 282, "max": [1.0] * 282, "names": ["x"] * 282})
        with pytest.raises(ConfigError):
            FeatureScaler.fit(np.zeros((3, 2))).transform(np.zeros(3))
