"""The yearly forecast at central, end to end with real processes: a synthetic region, a short
training run, ONNX export, ``python -m central forecast`` into a real SQLite store, and bad catalogs."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from central.store import EventStore


def _run(*args, timeout=600):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    pytest.importorskip("torch")
    from sim.catalogs import RegionConfig, write_synthetic_dataset
    root = tmp_path_factory.mktemp("forecast")
    write_synthetic_dataset(root / "region", seed=1, region_seed=4, years=18, start_year=2000, burn_in_years=40,
                            config=RegionConfig(n_rows=2, n_cols=3, n_faults=6))
    train = _run("-m", "models", "safenet", "train", "--data", str(root / "region"), "--seq-len", "3",
                 "--val-years", "3", "--epochs", "2", "--patch", "8", "--quiet", "--out", str(root / "m.pt"))
    assert train.returncode == 0, train.stderr[-3000:]
    export = _run("-m", "models", "safenet", "export", "--checkpoint", str(root / "m.pt"), "--out",
                  str(root / "m.onnx"))
    assert export.returncode == 0, export.stderr[-3000:]
    return root


def test_forecast_from_an_imported_catalog(model, tmp_path):
    db = tmp_path / "central.sqlite"
    run = _run("-m", "central", "forecast", "--year", "2018", "--db", str(db), "--model", str(model / "m.onnx"),
               "--catalog", str(model / "region" / "catalog.csv"), "--maps", str(model / "region" / "maps.npz"),
               "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr[-3000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["year"] == 2018 and summary["regions"] == 6
    assert sum(summary["classes"].values()) == 6
    card = json.loads((model / "m.card.json").read_text())
    assert card["forecast"]["grid"]["n_lat"] == 2 and card["forecast"]["seq_len"] == 3
    from central.config import CentralConfig
    from central.status import render_page
    store = EventStore(db, readonly=True)
    try:
        latest = store.latest_forecast()
        page = render_page(store, CentralConfig())
    finally:
        store.close()
    assert latest["year"] == 2018 and len(latest["regions"]) == 6
    for region in latest["regions"]:
        assert sum(region["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert "forecast 2018 (m.onnx), 6 regions" in page and '<table class="forecast">' in page
    geo = json.loads((tmp_path / "out" / "forecast-2018.geojson").read_text())
    assert len(geo["features"]) == 6 and geo["features"][0]["geometry"]["type"] == "Polygon"
    rows = (tmp_path / "out" / "forecast-2018.csv").read_text().splitlines()
    assert len(rows) == 7 and rows[0].startswith("year,region")
    assert (tmp_path / "out" / "forecast-2018.png").stat().st_size > 1000


def test_forecast_matches_the_models_own_prediction(model):
    """Central's inputs (built from the card) give the same probabilities as the harness's inputs."""
    from central.forecast import ForecastSettings, forecast_year
    from models.safenet.catalog import MagnitudeClasses, read_catalog_csv
    from models.safenet.dataset import load_dataset
    from models.safenet.indicators import FeatureScaler
    from models.safenet.runtime import SafeNetSession
    settings = ForecastSettings(model=str(model / "m.onnx"), maps=str(model / "region" / "maps.npz"))
    fc = forecast_year(2017, read_catalog_csv(model / "region" / "catalog.csv"), settings)
    session = SafeNetSession(model / "m.onnx")
    ds = load_dataset(model / "region", classes=MagnitudeClasses(), mc=3.2, patch=8)
    cols = [ds.year_index(y) for y in (2014, 2015, 2016)]
    scaled = FeatureScaler.from_dict(session.card["forecast"]["scaler"]).transform(ds.features[:, cols])
    direct = session.probabilities(scaled, ds.patches[:, cols], ds.global_patches[cols])
    got = np.array([[r["probabilities"][k] for k in fc.class_names] for r in fc.regions])
    np.testing.assert_allclose(got, direct, atol=1e-4)


@pytest.mark.parametrize("content, message", [
    ("time,lat,lon,magnitude\n2001-01-01T00:00:00,30,95,x\n", "magnitude 'x' is not a number"),
    ("when,lat,lon,magnitude\n2001-01-01T00:00:00,30,95,4\n", "no time column"),
    ("time,lat,lon,magnitude\nyesterday,30,95,4\n", "neither ISO-8601 nor POSIX"),
    ("time,lat,lon,magnitude\n2016-01-01T00:00:00,30,95,4\n", "needs 3 years of catalog before 2018"),
])
def test_bad_catalogs_are_rejected_clearly(model, tmp_path, content, message):
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    run = _run("-m", "central", "forecast", "--year", "2018", "--db", str(tmp_path / "c.sqlite"),
               "--model", str(model / "m.onnx"), "--catalog", str(bad), "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_forecast_without_stored_events_says_what_to_do(model, tmp_path):
    run = _run("-m", "central", "forecast", "--year", "2018", "--db", str(tmp_path / "c.sqlite"),
               "--model", str(model / "m.onnx"), "--out", str(tmp_path / "out"))
    assert run.returncode == 2 and "import a catalog with --catalog" in run.stderr
