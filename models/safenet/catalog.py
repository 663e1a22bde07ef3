"""Earthquake catalogs, the region grid and the magnitude classes of the yearly forecast.

The catalog CSV (what ``python -m sim catalog`` writes and ``python -m central forecast --catalog``
reads) has a header row naming at least a time, a latitude, a longitude and a magnitude column;
accepted names (case-insensitive): ``time`` / ``datetime`` / ``origin_time`` (ISO-8601 UTC or POSIX
seconds), ``lat`` / ``latitude``, ``lon`` / ``longitude``, ``magnitude`` / ``mag`` / ``ml`` / ``mw``,
optional ``depth_km`` / ``depth`` (km, positive down; missing = unknown, NaN). Other columns are
ignored (the Swiss catalog's ``id`` and ``mc_current``).

The region grid is a regular latitude-longitude grid (south-west corner, cell size in degrees, rows x
columns), regions numbered row-major from the south-west; ``active`` lists the regions forecast (all
by default). It is stored as JSON (:meth:`RegionGrid.to_json`).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge.exceptions import DasEewError

SECONDS_PER_DAY = 86400.0
COLUMN_NAMES = {
    "time": ("time", "datetime", "origin_time"),
    "lat": ("lat", "latitude"),
    "lon": ("lon", "longitude"),
    "magnitude": ("magnitude", "mag", "ml", "mw"),
    "depth_km": ("depth_km", "depth"),
}


class CatalogError(DasEewError):
    """A catalog, region grid or magnitude-class definition that cannot be used (names the item)."""


def year_start(year: int) -> float:
    """POSIX seconds of 1 January ``year``, 00:00 UTC."""
    return datetime(int(year), 1, 1, tzinfo=timezone.utc).timestamp()


def year_of(time: np.ndarray) -> np.ndarray:
    """Calendar UTC year of each POSIX time (s)."""
    t = np.asarray(time, dtype="datetime64[s]") if np.size(time) else np.zeros(0, "datetime64[s]")
    return t.astype("datetime64[Y]").astype(np.int64) + 1970


@dataclass(frozen=True)
class Catalog:
    """Events sorted by time. Arrays of equal length: ``time`` POSIX s (UTC), ``lat`` / ``lon`` degrees,
    ``depth_km`` km (NaN = unknown), ``magnitude``."""

    time: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    depth_km: np.ndarray
    magnitude: np.ndarray
    source: str = ""

    def __post_init__(self):
        n = len(self.time)
        for name in ("lat", "lon", "depth_km", "magnitude"):
            if len(getattr(self, name)) != n:
                raise CatalogError(f"catalog {self.source!r}: {name} has {len(getattr(self, name))} values, time {n}")

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def from_arrays(cls, time, lat, lon, magnitude, depth_km=None, source: str = "") -> "Catalog":
        """Validated, time-sorted catalog from arrays (raises :class:`CatalogError`)."""
        time = np.asarray(time, np.float64)
        lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
        mag = np.asarray(magnitude, np.float64)
        depth = np.full(time.shape, np.nan) if depth_km is None else np.asarray(depth_km, np.float64)
        for name, a in (("time", time), ("lat", lat), ("lon", lon), ("magnitude", mag)):
            if a.ndim != 1 or a.shape != time.shape:
                raise CatalogError(f"catalog {source!r}: {name} must be 1-D like time")
            bad = np.flatnonzero(~np.isfinite(a))
            if bad.size:
                raise CatalogError(f"catalog {source!r}: {name} is not finite for event {int(bad[0])}")
        if np.any(np.abs(lat) > 90) or np.any(np.abs(lon) > 360):
            raise CatalogError(f"catalog {source!r}: latitude outside +-90 or longitude outside +-360")
        if np.any(mag < -3) or np.any(mag > 10.5):
            raise CatalogError(f"catalog {source!r}: magnitude outside -3..10.5")
        order = np.argsort(time, kind="stable")
        return cls(time[order], lat[order], lon[order], depth[order], mag[order], source)

    def select(self, mask: np.ndarray) -> "Catalog":
        return Catalog(self.time[mask], self.lat[mask], self.lon[mask], self.depth_km[mask], self.magnitude[mask],
                       self.source)

    def between(self, start: float, end: float) -> "Catalog":
        """Events with ``start <= time < end`` (POSIX s)."""
        i0, i1 = np.searchsorted(self.time, [start, end], side="left")
        return Catalog(self.time[i0:i1], self.lat[i0:i1], self.lon[i0:i1], self.depth_km[i0:i1],
                       self.magnitude[i0:i1], self.source)

    def above(self, magnitude: float) -> "Catalog":
        return self.select(self.magnitude >= magnitude)

    @property
    def years(self) -> tuple[int, int]:
        """First and last calendar year with events."""
        if not len(self):
            raise CatalogError(f"catalog {self.source!r} is empty")
        y = year_of(self.time[[0, -1]])
        return int(y[0]), int(y[1])


def _parse_time(text: str, row: int, source: str) -> float:
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise CatalogError(f"{source}: row {row}: time {text!r} is neither ISO-8601 nor POSIX seconds") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.timestamp()


def read_catalog_csv(path: str | Path) -> Catalog:
    """Read a catalog CSV (see the module docstring). Raises :class:`CatalogError` naming the file, row
    and column of the first problem."""
    path = Path(path)
    source = str(path)
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{source}: cannot open: {exc.strerror}") from None
    with handle:
        try:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise CatalogError(f"{source}: empty file (a header row is needed)")
            lower = [h.strip().lower() for h in header]
            index = {}
            for key, names in COLUMN_NAMES.items():
                hit = [i for i, h in enumerate(lower) if h in names]
                if not hit and key != "depth_km":
                    raise CatalogError(f"{source}: no {key} column (one of {', '.join(names)}) in header {header}")
                if hit:
                    index[key] = hit[0]
            cols = {key: [] for key in index}
            for row_no, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) < len(header):
                    raise CatalogError(f"{source}: row {row_no}: {len(row)} fields, header has {len(header)}")
                for key, i in index.items():
                    text = row[i]
                    if key == "time":
                        cols[key].append(_parse_time(text, row_no, source))
                    elif key == "depth_km" and not text.strip():
                        cols[key].append(np.nan)
                    else:
                        try:
                            cols[key].append(float(text))
                        except ValueError:
                            raise CatalogError(f"{source}: row {row_no}: {key} {text!r} is not a number") from None
        except UnicodeDecodeError:
            raise CatalogError(f"{source}: not UTF-8 text") from None
        except csv.Error as exc:
            raise CatalogError(f"{source}: not CSV: {exc}") from None
    if not cols["time"]:
        raise CatalogError(f"{source}: no events")
    return Catalog.from_arrays(cols["time"], cols["lat"], cols["lon"], cols["magnitude"],
                               cols.get("depth_km"), source=source)


def write_catalog_csv(catalog: Catalog, path: str | Path) -> None:
    """Write ``time`` (ISO-8601 UTC, microseconds), ``lat``, ``lon``, ``depth_km``, ``magnitude``."""
    with Path(path).open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "lat", "lon", "depth_km", "magnitude"])
        for t, la, lo, d, m in zip(catalog.time, catalog.lat, catalog.lon, catalog.depth_km, catalog.magnitude):
            iso = datetime.fromtimestamp(float(t), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            w.writerow([iso, f"{la:.4f}", f"{lo:.4f}", "" if np.isnan(d) else f"{d:.2f}", f"{m:.2f}"])


@dataclass(frozen=True)
class RegionGrid:
    """Regular grid of forecast regions: ``n_lat`` rows x ``n_lon`` columns of ``dlat`` x ``dlon``
    degrees from the south-west corner (``lat0``, ``lon0``); region ``r = row * n_lon + col``.
    ``active``: the regions forecast (empty = all)."""

    lat0: float
    lon0: float
    dlat: float
    dlon: float
    n_lat: int
    n_lon: int
    active: tuple[int, ...] = field(default=())

    def __post_init__(self):
        if not (self.dlat > 0 and self.dlon > 0 and self.n_lat >= 1 and self.n_lon >= 1):
            raise CatalogError(f"region grid needs positive cell sizes and counts, got {self}")
        if self.active and (min(self.active) < 0 or max(self.active) >= self.n_lat * self.n_lon):
            raise CatalogError(f"region grid: active regions must lie in 0..{self.n_lat * self.n_lon - 1}")

    @property
    def n_cells(self) -> int:
        return self.n_lat * self.n_lon

    @property
    def regions(self) -> np.ndarray:
        """Indices of the forecast regions (cell numbers)."""
        return np.asarray(self.active, np.int64) if self.active else np.arange(self.n_cells)

    def cell_of(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Cell number of each point, -1 outside the grid."""
        row = np.floor((np.asarray(lat, float) - self.lat0) / self.dlat).astype(np.int64)
        col = np.floor((np.asarray(lon, float) - self.lon0) / self.dlon).astype(np.int64)
        inside = (row >= 0) & (row < self.n_lat) & (col >= 0) & (col < self.n_lon)
        return np.where(inside, row * self.n_lon + col, -1)

    def bounds(self, cell: int) -> tuple[float, float, float, float]:
        """(south, north, west, east) degrees of one cell."""
        row, col = divmod(int(cell), self.n_lon)
        s, w = self.lat0 + row * self.dlat, self.lon0 + col * self.dlon
        return s, s + self.dlat, w, w + self.dlon

    def centre(self, cell: int) -> tuple[float, float]:
        s, n, w, e = self.bounds(cell)
        return (s + n) / 2, (w + e) / 2

    def to_json(self) -> str:
        return json.dumps({"lat0": self.lat0, "lon0": self.lon0, "dlat": self.dlat, "dlon": self.dlon,
                           "n_lat": self.n_lat, "n_lon": self.n_lon, "active": list(self.active)})

    @classmethod
    def from_dict(cls, d: dict) -> "RegionGrid":
        try:
            return cls(float(d["lat0"]), float(d["lon0"]), float(d["dlat"]), float(d["dlon"]),
                       int(d["n_lat"]), int(d["n_lon"]), tuple(int(r) for r in d.get("active", ())))
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"region grid {d!r}: {exc}") from None

    @classmethod
    def read(cls, path: str | Path) -> "RegionGrid":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise CatalogError(f"{path}: not a region grid JSON file: {exc}") from None

    @classmethod
    def covering(cls, catalog: Catalog, dlat: float, dlon: float, min_events: int = 0) -> "RegionGrid":
        """The grid of ``dlat`` x ``dlon`` cells aligned on multiples of the cell size that covers the
        catalog; ``active`` = the cells with at least ``min_events`` events."""
        lat0 = np.floor(catalog.lat.min() / dlat) * dlat
        lon0 = np.floor(catalog.lon.min() / dlon) * dlon
        n_lat = int(np.floor((catalog.lat.max() - lat0) / dlat)) + 1
        n_lon = int(np.floor((catalog.lon.max() - lon0) / dlon)) + 1
        grid = cls(float(lat0), float(lon0), float(dlat), float(dlon), n_lat, n_lon)
        counts = np.bincount(grid.cell_of(catalog.lat, catalog.lon), minlength=grid.n_cells)
        active = tuple(int(c) for c in np.flatnonzero(counts >= max(min_events, 1))) if min_events else ()
        return cls(grid.lat0, grid.lon0, dlat, dlon, n_lat, n_lon, active)


@dataclass(frozen=True)
class MagnitudeClasses:
    """Classes of the largest magnitude in a region-year, by ascending edges: edges (5, 6, 7) give
    M < 5, 5 <= M < 6, 6 <= M < 7, M >= 7 (the paper's). A region-year without events is class 0."""

    edges: tuple[float, ...] = (5.0, 6.0, 7.0)

    def __post_init__(self):
        e = np.asarray(self.edges, float)
        if e.size < 1 or np.any(np.diff(e) <= 0) or not np.all(np.isfinite(e)):
            raise CatalogError(f"magnitude class edges must be finite and increasing, got {self.edges}")

    @property
    def n(self) -> int:
        return len(self.edges) + 1

    @property
    def names(self) -> list[str]:
        e = [f"{x:g}" for x in self.edges]
        return [f"M<{e[0]}"] + [f"{a}-{b}" for a, b in zip(e, e[1:])] + [f"M>={e[-1]}"]

    def classify(self, max_magnitude: np.ndarray) -> np.ndarray:
        """Class of each largest magnitude (-inf or NaN for no event -> class 0)."""
        m = np.nan_to_num(np.asarray(max_magnitude, float), nan=-np.inf)
        return np.searchsorted(np.asarray(self.edges), m, side="right").astype(np.int64)

    @classmethod
    def parse(cls, text: str) -> "MagnitudeClasses":
        """From ``"5,6,7"``."""
        try:
            return cls(tuple(float(x) for x in text.split(",") if x.strip()))
        except ValueError:
            raise CatalogError(f"magnitude class edges {text!r}: comma-separated numbers expected") from None


def max_magnitude(catalog: Catalog, grid: RegionGrid, years: range | list[int]) -> np.ndarray:
    """Largest magnitude per (active region, year), -inf where there is no event: (n_regions, n_years)."""
    regions = grid.regions
    lookup = np.full(grid.n_cells, -1, np.int64)
    lookup[regions] = np.arange(regions.size)
    years = list(years)
    out = np.full((regions.size, len(years)), -np.inf)
    cell = grid.cell_of(catalog.lat, catalog.lon)
    reg = np.where(cell >= 0, lookup[np.maximum(cell, 0)], -1)
    year = year_of(catalog.time)
    for j, y in enumerate(years):
        sel = (year == y) & (reg >= 0)
        np.maximum.at(out[:, j], reg[sel], catalog.magnitude[sel])
    return out
