"""The forecast harness: scores by hand, the year split, and a short end-to-end evaluation run."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from models.safenet.catalog import CatalogError
from models.safenet.metrics import binary_f1, class_scores


def test_class_scores_by_hand():
    truth = np.array([0, 0, 0, 1, 1, 2, -1])
    forecast = np.array([0, 0, 1, 1, 0, 2, 3])
    s = class_scores(truth, forecast, 4)
    assert s.n == 6                                     # the -1 region-year is not scored
    assert s.confusion.tolist() == [[2, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert s.precision[:3] == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert s.recall[:3] == pytest.approx([2 / 3, 1 / 2, 1.0])
    assert np.isnan(s.f1[3])                            # never seen, never forecast: left out of the mean
    assert s.macro_f1 == pytest.approx(np.mean([2 / 3, 1 / 2, 1.0]))
    # M >= first edge: truth [F F F T T T], forecast [F F T T F T]: tp 2, fn 1, fp 1
    assert s.f1_m5 == pytest.approx(2 / 3)
    assert s.accuracy == pytest.approx(4 / 6)


def test_binary_f1_edges():
    assert np.isnan(binary_f1([False, False], [False, False]))
    assert binary_f1([True, False], [True, False]) == 1.0
    assert binary_f1([True, False], [False, True]) == 0.0


@pytest.fixture(scope="module")
def small_region(tmp_path_factory):
    return _three_by_three(tmp_path_factory.mktemp("region"), seed=3, region_seed=2, years=22, start_year=1990)


def _three_by_three(out, *, seed: int, region_seed: int, years: int, start_year: int):
    """A 3 x 3-region synthetic area, small enough to train on in seconds."""
    from sim.catalogs import RegionConfig, write_synthetic_dataset
    write_synthetic_dataset(out, seed=seed, region_seed=region_seed, years=years, start_year=start_year,
                            burn_in_years=40,
                            config=RegionConfig(n_rows=3, n_cols=3, n_faults=8, m5_per_region_year=0.6))
    return out


def test_split_refuses_a_short_catalog(small_region):
    from models.safenet.dataset import load_dataset
    from models.safenet.evaluate import EvaluationConfig, split_targets
    ds = load_dataset(small_region, mc=3.2, patch=8)
    train, val, test = split_targets(ds, EvaluationConfig(seq_len=3, val_years=3, test_years=4))
    assert test == list(range(2008, 2012)) and val == [2005, 2006, 2007]
    assert train[0] == 1993 and train[-1] == 2004      # 3 years of inputs before the first target
    with pytest.raises(CatalogError, match="forecastable years"):
        split_targets(ds, EvaluationConfig(seq_len=10, val_years=5, test_years=10))


def test_evaluate_cli_runs_every_method(small_region):
    pytest.importorskip("torch")
    cmd = [sys.executable, "-m", "models", "safenet", "evaluate", "--data", str(small_region), "--seq-len", "3",
           "--val-years", "3", "--test-years", "4", "--epochs", "2", "--patch", "8", "--quiet", "--json"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    for method in ("safenet", "etas_true", "etas_fit", "poisson", "persistence"):
        assert 0.0 <= summary[method]["macro_f1"] <= 1.0, method
        assert "f1_m5" in summary[method]
    assert summary["test_years"] == [2008, 2009, 2010, 2011]
    assert summary["etas_true"]["csep"]["n_test_pass"].endswith("/4")
    assert "macro F1" in run.stdout                      # the printed table


@pytest.fixture(scope="module")
def other_region(tmp_path_factory):
    return _three_by_three(tmp_path_factory.mktemp("other"), seed=4, region_seed=7, years=18, start_year=1980)


def test_other_areas_stack_without_windows_across_areas(small_region, other_region):
    pytest.importorskip("torch")
    from models.safenet.dataset import load_dataset
    from models.safenet.evaluate import fit_scaler, safenet_data, stack_areas
    a, b = load_dataset(small_region, mc=3.2, patch=8), load_dataset(other_region, mc=3.2, patch=8)
    scaler = fit_scaler(a, 2000, (b,))
    data, offsets = stack_areas(safenet_data(a, scaler), [safenet_data(b, scaler)])
    assert offsets[0] == 0 and offsets[1] == a.years[-1] + 1 - b.years[0]
    assert data.years == list(range(a.years[0], a.years[-1] + 1 + len(b.years)))
    j = len(a.years)                                     # b's first year sits right after a's last
    np.testing.assert_array_equal(data.labels[:, j:], b.labels)
    np.testing.assert_array_equal(data.features[:, :j], safenet_data(a, scaler).features)
    assert np.all(data.labels[:, j - 1] == -1)           # a's last year: its next year is unknown
    # b's first forecastable sample year with 3 years of history starts its window at b's own first year
    first = b.years[0] + 2 + offsets[1]
    assert data.windows([first], 3)[0, 0] == j
    small = load_dataset(small_region, mc=3.2, patch=16)
    with pytest.raises(CatalogError, match="cannot train"):
        stack_areas(safenet_data(a, scaler), [safenet_data(small, fit_scaler(small, 2000))])


def test_evaluate_cli_trains_on_other_areas(small_region, other_region):
    pytest.importorskip("torch")
    cmd = [sys.executable, "-m", "models", "safenet", "evaluate", "--data", str(small_region), "--seq-len", "3",
           "--val-years", "3", "--test-years", "4", "--epochs", "2", "--patch", "8", "--quiet", "--json",
           "--methods", "safenet,persistence", "--other-areas", str(other_region)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["config"]["other_areas"] == [other_region.name]
    assert 0.0 <= summary["safenet"]["macro_f1"] <= 1.0
