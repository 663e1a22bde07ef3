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
    from sim.catalogs import RegionConfig, write_synthetic_dataset
    out = tmp_path_factory.mktemp("region")
    write_synthetic_dataset(out, seed=3, region_seed=2, years=22, start_year=1990, burn_in_years=40,
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
