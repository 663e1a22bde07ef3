"""The shipped SafeNet model (trained on the synthetic region of seed 0): its card carries what central
needs, it runs without PyTorch, and on a catalog of its region it never saw its probabilities of
M >= 5 are higher where M >= 5 then happened than where it did not."""
from __future__ import annotations

import json

import numpy as np
import pytest

from central.forecast import SHIPPED_MODEL, ForecastSettings, forecast_year
from models.safenet.catalog import MagnitudeClasses, RegionGrid, max_magnitude, read_catalog_csv

pytestmark = pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason="no shipped SafeNet model")


def test_card_describes_the_forecast():
    card = json.loads(SHIPPED_MODEL.with_suffix(".card.json").read_text())
    spec = card["forecast"]
    grid = RegionGrid.from_dict(spec["grid"])
    assert grid.regions.size == card["architecture"]["n_regions"] == 90
    assert spec["class_edges"] == [5.0, 6.0, 7.0] and spec["seq_len"] == 10
    assert spec["map_layers"] == ["faults", "geology"] and spec["scaler"]["compress"] is True
    assert "--region-seed 0" in spec["catalog"]


def test_forecasts_rank_regions(tmp_path):
    from sim.catalogs import write_synthetic_dataset
    write_synthetic_dataset(tmp_path, seed=11, region_seed=0, years=56, start_year=1960)
    catalog = read_catalog_csv(tmp_path / "catalog.csv")
    settings = ForecastSettings(maps=str(tmp_path / "maps.npz"))
    years = [2011, 2012, 2013, 2014, 2015]
    p_m5, happened = [], []
    grid = None
    for year in years:
        fc = forecast_year(year, catalog, settings)
        assert len(fc.regions) == 90
        probs = np.array([[r["probabilities"][k] for k in fc.class_names] for r in fc.regions])
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        p_m5.append(probs[:, 1:].sum(axis=1))
        grid = grid or RegionGrid.from_dict(json.loads(SHIPPED_MODEL.with_suffix(".card.json").read_text())
                                            ["forecast"]["grid"])
        happened.append(MagnitudeClasses().classify(max_magnitude(catalog, grid, [year])[:, 0]) >= 1)
    p_m5, happened = np.concatenate(p_m5), np.concatenate(happened)
    assert 20 < happened.sum() < 200
    assert p_m5[happened].mean() > 1.3 * p_m5[~happened].mean()
