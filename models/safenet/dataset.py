"""A forecast dataset: a catalog, its region grid and map layers, and every year's inputs and labels.

``load_dataset`` reads either a synthetic region directory (``python -m sim catalog``: catalog.csv,
grid.json, maps.npz, truth.json) or any catalog CSV with a grid made to cover it, and computes for
each year ``y`` the indicators (events before 1 January ``y + 1``), the map patches and the label: the
class of the largest magnitude in year ``y + 1`` (``-1`` for the last year, whose next year is not in
the catalog). Torch-free.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from models.safenet.catalog import (
    Catalog,
    CatalogError,
    MagnitudeClasses,
    RegionGrid,
    max_magnitude,
    read_catalog_csv,
)


@dataclass
class ForecastDataset:
    """Inputs and labels of every (region, year); axis 0 = ``grid.regions``, axis 1 = ``years``."""

    name: str
    catalog: Catalog
    grid: RegionGrid
    classes: MagnitudeClasses
    layers: object                    # models.safenet.maps.MapLayers
    years: list[int]
    features: np.ndarray              # (R, Y, 282) raw indicators
    patches: np.ndarray               # (R, Y, C, P, P)
    global_patches: np.ndarray        # (Y, C, P, P)
    labels: np.ndarray                # (R, Y): class of the largest M in year y + 1, -1 unknown
    mc: float | None = None
    truth: dict = field(default_factory=dict)
    maps_path: str | None = None

    def year_index(self, year: int) -> int:
        return self.years.index(year)

    def target_years(self) -> list[int]:
        """Years that can be forecast: the year after each feature year with a known label."""
        return [y + 1 for y, ok in zip(self.years, (self.labels >= 0).any(axis=0)) if ok]


def _grid_for(catalog: Catalog, cell_deg: float, min_events: int) -> RegionGrid:
    return RegionGrid.covering(catalog, cell_deg, cell_deg, min_events=min_events)


def load_dataset(path: str | Path, *, classes: MagnitudeClasses | None = None, cell_deg: float = 4.0,
                 min_events: int = 1, mc: float | None = None, patch: int = 32,
                 first_year: int | None = None, last_year: int | None = None) -> ForecastDataset:
    """Read a synthetic region directory or a catalog CSV and compute every year's inputs and labels.

    Parameters
    ----------
    path
        A directory with ``catalog.csv`` (and optionally ``grid.json``, ``maps.npz``, ``truth.json``),
        or a catalog CSV file.
    classes
        Magnitude classes (default the paper's 5, 6, 7).
    cell_deg, min_events
        Grid for a catalog without ``grid.json``: cells of ``cell_deg`` degrees covering the catalog,
        keeping those with at least ``min_events`` events.
    mc
        Completeness magnitude for the indicators (None: estimated by the indicator code).
    first_year, last_year
        Calendar years of the features (default: the catalog's).
    """
    from models.safenet.indicators import catalog_indicators
    from models.safenet.maps import MapLayers, global_patches, region_patches
    path = Path(path)
    classes = classes or MagnitudeClasses()
    directory = path if path.is_dir() else None
    catalog = read_catalog_csv(directory / "catalog.csv" if directory else path)
    grid_file = directory / "grid.json" if directory else None
    grid = (RegionGrid.read(grid_file) if grid_file and grid_file.exists()
            else _grid_for(catalog, cell_deg, min_events))
    maps_file = directory / "maps.npz" if directory else None
    ppd = patch / grid.dlat          # without maps: one raster pixel per patch pixel
    layers = (MapLayers.read(maps_file) if maps_file and maps_file.exists() else MapLayers.empty(grid, ppd))
    truth = json.loads((directory / "truth.json").read_text()) if directory and (directory / "truth.json").exists() else {}
    y0, y1 = catalog.years
    years = list(range(first_year or y0, (last_year or y1) + 1))
    if len(years) < 3:
        raise CatalogError(f"{path}: {len(years)} years of catalog; a forecast needs many more")
    features = catalog_indicators(catalog, grid, years, mc=mc)
    patches = region_patches(layers, grid, catalog, years, size=patch)
    whole = global_patches(layers, grid, catalog, years, size=patch)
    nxt = classes.classify(max_magnitude(catalog, grid, [y + 1 for y in years]))
    labels = np.where(np.asarray([y + 1 <= y1 for y in years])[None, :], nxt, -1)
    return ForecastDataset(path.name, catalog, grid, classes, layers, years, features, patches, whole,
                           labels.astype(np.int64), mc, truth, str(maps_file) if maps_file and maps_file.exists() else None)
