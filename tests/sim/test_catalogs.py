"""Synthetic regions and the SafeNet dataset directory (catalog.csv, grid.json, maps.npz, truth.json)."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edge.exceptions import ConfigError
from models.safenet.catalog import MagnitudeClasses, RegionGrid, max_magnitude, read_catalog_csv, year_start
from sim.catalogs import (DEFAULT_PARAMS, RegionConfig, make_region, region_year_max, simulate_catalog,
                          write_synthetic_dataset)
from sim.cli import main
from sim.etas import branching_ratio

SMALL = RegionConfig(n_rows=2, n_cols=3, pixels_per_degree=4, n_faults=8, m5_per_region_year=1.0)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    res = write_synthetic_dataset(out, seed=3, region_seed=5, years=6, start_year=2000, burn_in_years=5,
                                  config=SMALL)
    return out, res


class TestRegion:
    def test_maps_and_background(self):
        """Layers in 0-1 on the grid's raster; background higher near faults and in higher units; the
        background total matches the configured M >= 5 rate."""
        r = make_region(region_seed=1)
        h, w = r.config.shape
        assert (h, w) == (9 * 4 * 8, 10 * 4 * 8) and r.layers.shape == (2, h, w) and r.layers.dtype == np.float32
        assert r.layers.min() >= 0 and r.layers.max() == pytest.approx(1.0) and len(r.faults) == 40
        assert set(np.unique(r.units)) == set(range(5))
        rate = r.background.rate
        near = r.fault_density > np.quantile(r.fault_density, 0.9)
        assert rate[near].mean() > 5 * rate[~near].mean()
        assert np.corrcoef(r.units.ravel(), np.log(r.fault_density.ravel() + 1e-3))[0, 1] > 0.2
        assert rate.min() > 0                                  # the uniform floor
        n = branching_ratio(DEFAULT_PARAMS)
        per_year = r.background.total_rate_per_day * 365.25 / (1 - n) * 10 ** (-(5.0 - DEFAULT_PARAMS.mc))
        assert per_year / 90 == pytest.approx(r.config.m5_per_region_year, rel=1e-6)

    def test_region_seed(self):
        """The same region seed gives the same region; another seed another fault map and rate."""
        a, b = make_region(SMALL, region_seed=1), make_region(SMALL, region_seed=1)
        c = make_region(SMALL, region_seed=2)
        assert np.array_equal(a.background.rate, b.background.rate)
        assert not np.allclose(a.background.rate, c.background.rate)
        assert [f.length_km for f in a.faults] != [f.length_km for f in c.faults]

    def test_faults_have_lengths_and_slip_rates(self):
        r = make_region(SMALL, region_seed=4)
        for f in r.faults:
            x, y = r.background.to_km(f.lat, f.lon)
            seg = np.hypot(np.diff(x), np.diff(y))
            assert seg.sum() == pytest.approx(f.length_km, rel=1e-6) and 0.1 <= f.slip_rate_mm_yr <= 40

    def test_bad_config_refused(self):
        with pytest.raises(ConfigError):
            RegionConfig(unit_factors=(1.0, 2.0))
        with pytest.raises(ConfigError):
            RegionConfig(lat0=70.0)


class TestDataset:
    def test_files_follow_the_contract(self, small_dataset):
        out, res = small_dataset
        assert sorted(p.name for p in out.iterdir()) == ["catalog.csv", "grid.json", "maps.npz", "truth.json"]
        grid = RegionGrid.read(out / "grid.json")
        assert (grid.lat0, grid.lon0, grid.dlat, grid.n_lat, grid.n_lon) == (20.0, 90.0, 4.0, 2, 3)
        assert grid.regions.size == 6
        maps = np.load(out / "maps.npz")
        assert list(maps["names"]) == ["faults", "geology"] and maps["layers"].dtype == np.float32
        assert maps["layers"].shape == (2, 32, 48) and maps["truth_background"].shape == (32, 48)
        assert float(maps["lat0"]) == 20.0 and float(maps["lon0"]) == 90.0 and float(maps["pixels_per_degree"]) == 4.0
        truth = json.loads((out / "truth.json").read_text())
        for key in ("log10_mu", "log10_k0", "a", "log10_c", "omega", "log10_tau", "log10_d", "gamma", "rho", "mc",
                    "beta", "m_max"):
            assert math.isfinite(truth["etas"][key])
        assert truth["etas"]["mc"] == DEFAULT_PARAMS.mc and truth["n_events"] == res.n_events
        assert (truth["start_year"], truth["years"], truth["seed"]) == (2000, 6, 3)
        assert truth["branching_ratio"] == pytest.approx(branching_ratio(DEFAULT_PARAMS))
        # log10_mu is the mean of the truth raster, per day per km^2.
        assert 10 ** truth["etas"]["log10_mu"] == pytest.approx(maps["truth_background"].mean())

    def test_catalog_reads_back_with_the_same_events(self, small_dataset):
        """catalog.csv read by models.safenet.catalog holds the simulated events inside the grid."""
        out, res = small_dataset
        cat = read_catalog_csv(out / "catalog.csv")
        sim = simulate_catalog(make_region(SMALL, region_seed=5), seed=3, years=6, start_year=2000, burn_in_years=5)
        assert len(cat) == len(sim.time_s) == res.n_events > 1000
        assert np.allclose(cat.time, sim.time_s, atol=1e-5, rtol=0)
        assert np.allclose(cat.lat, sim.lat, atol=6e-5) and np.allclose(cat.lon, sim.lon, atol=6e-5)
        assert np.allclose(cat.magnitude, sim.magnitude, atol=0.006)
        assert np.allclose(cat.depth_km, sim.depth_km, atol=0.006)
        assert cat.time.min() >= year_start(2000) and cat.time.max() < year_start(2006)
        assert cat.magnitude.min() >= DEFAULT_PARAMS.mc and cat.magnitude.max() <= DEFAULT_PARAMS.m_max
        grid = RegionGrid.read(out / "grid.json")
        assert np.all(grid.cell_of(cat.lat, cat.lon) >= 0)
        # The shares reported match the contract's max_magnitude on the file.
        mm = max_magnitude(cat, grid, range(2000, 2006))
        assert res.shares["m5"] == pytest.approx(np.mean(mm >= 5))
        assert res.shares["m6"] == pytest.approx(np.mean(mm >= 6))
        assert np.array_equal(mm, region_year_max(cat.time, cat.lat, cat.lon, cat.magnitude, SMALL, 2000, 6))

    def test_default_region_class_shares(self, tmp_path):
        """60 years of the default region: ~15-25 % of region-years reach M >= 5, a few % M >= 6, M >= 7 rare."""
        res = write_synthetic_dataset(tmp_path, seed=0, region_seed=0)
        assert 50_000 <= res.n_events <= 200_000
        assert 0.15 <= res.shares["m5"] <= 0.25 and 0.01 <= res.shares["m6"] <= 0.07
        assert 0 < res.shares["m7"] <= 0.01
        classes = MagnitudeClasses().classify(max_magnitude(read_catalog_csv(tmp_path / "catalog.csv"),
                                                            RegionGrid.read(tmp_path / "grid.json"), range(1960, 2020)))
        assert np.bincount(classes.ravel(), minlength=4).tolist()[3] == round(res.shares["m7"] * 5400)

    def test_cli(self, tmp_path, capsys):
        """``python -m sim catalog`` writes the directory and prints a one-line JSON summary."""
        assert main(["catalog", "--out", str(tmp_path), "--years", "2", "--burn-in", "1", "--seed", "4"]) == 0
        line = capsys.readouterr().out.strip().splitlines()
        assert len(line) == 1
        summary = json.loads(line[0])
        assert {"events", "branching_ratio", "share_m5", "share_m6", "share_m7", "seconds"} <= set(summary)
        assert summary["events"] == len(read_catalog_csv(tmp_path / "catalog.csv"))
        assert main(["catalog", "--out", str(tmp_path), "--years", "0"]) == 2
