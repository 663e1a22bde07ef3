"""The yearly forecast at central: ``python -m central forecast --year Y`` (and das-forecast.timer).

From the catalog before 1 January of ``Y`` (the store's located events, or an imported catalog CSV),
the forecast computes the SafeNet inputs of the last ``seq_len`` years with the torch-free code of
``models.safenet`` (indicators, map patches), runs the ONNX model with onnxruntime, stores the result
in the event store and writes ``forecast-Y.csv``, ``forecast-Y.geojson`` and, with matplotlib,
``forecast-Y.png``. The model's card carries everything the inputs need: the region grid, the
magnitude classes, the completeness magnitude, the feature scaler and the map layers it was trained
with.
"""
from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.exceptions import ConfigError
from models.safenet.catalog import Catalog, CatalogError, MagnitudeClasses, RegionGrid, read_catalog_csv

SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "models" / "data" / "safenet-synthetic.onnx"


@dataclass(frozen=True)
class ForecastSettings:
    """``[forecast]`` of central.toml. ``model``: a SafeNet ONNX file with its ``.card.json`` ("" = the
    shipped one, trained on the simulator's synthetic region); ``catalog``: a catalog CSV to forecast
    from ("" = the store's located events); ``maps``: the map layers (maps.npz) the model was trained
    with ("" = none: the static layers are zero, only seismicity density is used); ``out_dir``: where the
    CSV, GeoJSON and PNG go."""

    model: str = ""
    catalog: str = ""
    maps: str = ""
    out_dir: str = "forecasts"
    threads: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.threads <= 64:
            raise ConfigError(f"forecast.threads must be 1..64, got {self.threads}")


@dataclass(frozen=True)
class Forecast:
    """One year's forecast: per region its cell, class probabilities and forecast class."""

    year: int
    model: str
    class_names: list[str]
    regions: list[dict]
    seconds: float
    n_events: int

    def files(self, out_dir: str | Path) -> dict[str, str]:
        out = Path(out_dir)
        return {k: str(out / f"forecast-{self.year}.{k}") for k in ("csv", "geojson", "png")}


def store_catalog(store) -> Catalog:
    """The store's located events with a magnitude, as a catalog."""
    rows = store.db.execute("SELECT origin_time, lat, lon, depth_km, mag FROM events "
                            "WHERE origin_time IS NOT NULL AND mag IS NOT NULL ORDER BY origin_time").fetchall()
    if not rows:
        raise CatalogError(f"{store.path}: the store has no located events with a magnitude; "
                           "import a catalog with --catalog CSV")
    a = np.asarray([tuple(r) for r in rows], float)
    return Catalog.from_arrays(a[:, 0], a[:, 1], a[:, 2], a[:, 4], a[:, 3], source=str(store.path))


def forecast_year(year: int, catalog: Catalog, settings: ForecastSettings) -> Forecast:
    """Run the SafeNet model for ``year`` on the events of ``catalog`` before 1 January ``year``."""
    from models.safenet.catalog import year_start
    from models.safenet.indicators import FeatureScaler, catalog_indicators
    from models.safenet.maps import MapLayers, global_patches, region_patches
    from models.safenet.runtime import SafeNetSession
    started = time.perf_counter()
    session = SafeNetSession(settings.model or SHIPPED_MODEL)
    spec = session.card.get("forecast")
    if not spec:
        raise CatalogError(f"{session.path}: model card has no 'forecast' section (grid, classes, inputs)")
    grid = RegionGrid.from_dict(spec["grid"])
    classes = MagnitudeClasses(tuple(spec["class_edges"]))
    seq_len = int(spec["seq_len"])
    history = catalog.between(-np.inf, year_start(year))
    if not len(history):
        raise CatalogError(f"{catalog.source}: no events before {year}")
    years = list(range(year - seq_len, year))
    if history.years[0] > years[0]:
        raise CatalogError(f"{catalog.source}: the model needs {seq_len} years of catalog before {year} "
                           f"(from {years[0]}); it starts in {history.years[0]}")
    layers = (MapLayers.read(settings.maps) if settings.maps
              else MapLayers.empty(grid, float(spec["pixels_per_degree"]), names=tuple(spec["map_layers"])))
    if list(layers.names) != list(spec["map_layers"]):
        raise CatalogError(f"{settings.maps}: layers {list(layers.names)}, the model needs {spec['map_layers']}")
    features = catalog_indicators(history, grid, years, mc=spec.get("mc"))
    features = FeatureScaler.from_dict(spec["scaler"]).transform(features)
    patches = region_patches(layers, grid, history, years, size=int(spec["patch"]))
    whole = global_patches(layers, grid, history, years, size=int(spec["patch"]))
    prob = session.probabilities(features, patches, whole)
    names = classes.names
    regions = []
    for i, cell in enumerate(grid.regions.tolist()):
        s, n, w, e = grid.bounds(cell)
        regions.append({"region": int(cell), "south": s, "north": n, "west": w, "east": e,
                        "probabilities": {k: round(float(p), 5) for k, p in zip(names, prob[i])},
                        "p_first_edge": round(float(prob[i, 1:].sum()), 5),
                        "class": names[int(np.argmax(prob[i]))]})
    return Forecast(year, session.path.name, names, regions, time.perf_counter() - started, len(history))


def write_csv(forecast: Forecast, path: str | Path) -> None:
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["year", "region", "south", "north", "west", "east", "class"]
                   + [f"p_{k}" for k in forecast.class_names])
        for r in forecast.regions:
            w.writerow([forecast.year, r["region"], r["south"], r["north"], r["west"], r["east"], r["class"]]
                       + [r["probabilities"][k] for k in forecast.class_names])


def geojson(forecast: Forecast) -> dict:
    """Regions as GeoJSON polygons (lon, lat) with the class and probabilities as properties."""
    feats = []
    for r in forecast.regions:
        ring = [[r["west"], r["south"]], [r["east"], r["south"]], [r["east"], r["north"]],
                [r["west"], r["north"]], [r["west"], r["south"]]]
        feats.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
                      "properties": {"year": forecast.year, "region": r["region"], "class": r["class"],
                                     **{f"p_{k}": v for k, v in r["probabilities"].items()}}})
    return {"type": "FeatureCollection", "features": feats,
            "properties": {"year": forecast.year, "model": forecast.model}}


def write_png(forecast: Forecast, path: str | Path, catalog: Catalog | None = None) -> bool:
    """A map: each region shaded by its probability of reaching the first class edge, labelled with
    its forecast class; the last year's events on top. False when matplotlib is not installed."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(8, 6.5))
    cmap = plt.get_cmap("magma_r")
    for r in forecast.regions:
        ax.add_patch(Rectangle((r["west"], r["south"]), r["east"] - r["west"], r["north"] - r["south"],
                               facecolor=cmap(r["p_first_edge"]), edgecolor="0.6", lw=0.5))
        if r["class"] != forecast.class_names[0]:
            ax.text((r["west"] + r["east"]) / 2, (r["south"] + r["north"]) / 2, r["class"], ha="center",
                    va="center", fontsize=7, color="tab:blue")
    if catalog is not None and len(catalog):
        from models.safenet.catalog import year_start
        last = catalog.between(year_start(forecast.year - 1), year_start(forecast.year))
        ax.scatter(last.lon, last.lat, s=2 + 3 * np.clip(last.magnitude - 2, 0, 6) ** 2, c="tab:cyan", lw=0,
                   alpha=0.6, label=f"events {forecast.year - 1}")
        ax.legend(loc="lower right", fontsize=7)
    ax.autoscale_view()
    ax.set_aspect(1 / np.cos(np.radians(np.mean([r["south"] for r in forecast.regions]))))
    ax.set_xlabel("longitude (deg)")
    ax.set_ylabel("latitude (deg)")
    ax.set_title(f"largest magnitude {forecast.year}: P(>= {forecast.class_names[1].split('-')[0]}) "
                 f"({forecast.model})", fontsize=9)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, 1))
    fig.colorbar(sm, ax=ax, shrink=0.7, label="probability")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


def run_forecast(year: int, settings: ForecastSettings, store, *, catalog_path: str | None = None,
                 out_dir: str | None = None) -> dict:
    """The whole yearly job: catalog (imported or stored), forecast, store, files. Returns a summary."""
    path = catalog_path or settings.catalog
    catalog = read_catalog_csv(path) if path else store_catalog(store)
    fc = forecast_year(year, catalog, settings)
    forecast_id = store.add_forecast(year, fc.model, fc.regions)
    out = Path(out_dir or settings.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = fc.files(out)
    write_csv(fc, files["csv"])
    Path(files["geojson"]).write_text(json.dumps(geojson(fc)))
    if not write_png(fc, files["png"], catalog):
        files.pop("png")
    counts = {k: sum(r["class"] == k for r in fc.regions) for k in fc.class_names}
    return {"forecast_id": forecast_id, "year": year, "model": fc.model, "regions": len(fc.regions),
            "classes": counts, "events_used": fc.n_events, "seconds": round(fc.seconds, 3), "files": files}
