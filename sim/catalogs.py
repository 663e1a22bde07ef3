"""Synthetic regions and ETAS catalogs for the yearly forecast (SafeNet), written as a dataset directory.

A region is a grid of forecast cells (default 9 x 10 cells of 4 x 4 degrees from 20N 90E, like the
paper's 4-degree cells over China) with a random fault map (polylines with slip rates, most of them
along a few tectonic belts), geology-like units (a smooth random field, correlated with the fault
density, quantised into 5 units) and a background rate raster tied to both: high near fast faults,
modulated by the unit, plus a small uniform floor. ``region_seed`` draws the region; ``seed`` draws
the catalog (ETAS branching simulation, :mod:`sim.etas`).

The dataset directory (the contract of /tmp/safenet_contract.md) holds ``catalog.csv`` (format of
models/safenet/catalog.py), ``grid.json``, ``maps.npz`` (``layers`` "faults" and "geology",
``truth_background``) and ``truth.json`` (ETAS parameters and run facts).

>>> res = write_synthetic_dataset("/tmp/safenet-demo", seed=0, years=5, burn_in_years=5)  # doctest: +SKIP
"""
from __future__ import annotations

import json
import math
import time as _time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from edge.exceptions import ConfigError
from sim.etas import BackgroundRaster, EtasCatalog, EtasParameters, branching_ratio, simulate_etas

SECONDS_PER_DAY = 86400.0
DEFAULT_PARAMS = EtasParameters(mc=3.2)    # California-like triggering; mc 3.2 keeps 60 years ~150k events


@dataclass(frozen=True)
class RegionConfig:
    """Layout and rate of a synthetic region (degrees, km, mm/yr, events per region-year)."""

    lat0: float = 20.0                 # south-west corner of the grid, degrees
    lon0: float = 90.0
    cell_deg: float = 4.0              # forecast cell size, degrees
    n_rows: int = 9
    n_cols: int = 10
    pixels_per_degree: int = 8         # map raster resolution
    n_faults: int = 40
    n_units: int = 5
    unit_factors: tuple[float, ...] = (0.4, 0.7, 1.0, 1.4, 2.0)   # background multiplier per unit
    fault_decay_km: float = 15.0       # e-folding distance of the fault density
    floor_share: float = 0.1           # share of the background spread uniformly
    # Expected M >= 5 events per region-year (background and aftershocks, before losses across the
    # edge); sets the background scale. Tuned so ~20 % of region-years reach M >= 5.
    m5_per_region_year: float = 0.45

    def __post_init__(self):
        if self.n_rows < 1 or self.n_cols < 1 or self.cell_deg <= 0 or self.pixels_per_degree < 1:
            raise ConfigError(f"region config needs positive sizes, got {self}")
        if len(self.unit_factors) != self.n_units or min(self.unit_factors) <= 0:
            raise ConfigError(f"region config: {self.n_units} positive unit_factors needed, got {self.unit_factors}")
        if not (0 <= self.floor_share < 1 and self.m5_per_region_year > 0 and self.n_faults >= 1):
            raise ConfigError("region config: floor_share in [0, 1), m5_per_region_year > 0 and n_faults >= 1")
        if not (-90 <= self.lat0 and self.lat0 + self.n_rows * self.cell_deg <= 90):
            raise ConfigError("region config: the grid must lie within latitudes -90..90")

    @property
    def shape(self) -> tuple[int, int]:
        """Raster (H, W)."""
        return (round(self.n_rows * self.cell_deg * self.pixels_per_degree),
                round(self.n_cols * self.cell_deg * self.pixels_per_degree))

    def grid_dict(self) -> dict:
        """The region grid in the RegionGrid JSON form (all cells forecast)."""
        return {"lat0": self.lat0, "lon0": self.lon0, "dlat": self.cell_deg, "dlon": self.cell_deg,
                "n_lat": self.n_rows, "n_lon": self.n_cols, "active": []}


@dataclass(frozen=True)
class Fault:
    """A fault trace: vertices (degrees), length (km) and long-term slip rate (mm/yr)."""

    lat: np.ndarray
    lon: np.ndarray
    length_km: float
    slip_rate_mm_yr: float

    def to_dict(self) -> dict:
        return {"lat": [round(float(v), 4) for v in self.lat], "lon": [round(float(v), 4) for v in self.lon],
                "length_km": round(self.length_km, 1), "slip_rate_mm_yr": round(self.slip_rate_mm_yr, 3)}


@dataclass(frozen=True)
class SyntheticRegion:
    """Faults, geology units (H, W ints), fault density (H, W, 0-1) and the background raster."""

    config: RegionConfig
    region_seed: int
    faults: list[Fault]
    units: np.ndarray
    fault_density: np.ndarray
    background: BackgroundRaster

    @property
    def layers(self) -> np.ndarray:
        """Map images (L, H, W) float32 in 0-1, row 0 south: "faults", "geology"."""
        geology = self.units / max(self.config.n_units - 1, 1)
        return np.stack([self.fault_density, geology]).astype(np.float32)

    @property
    def layer_names(self) -> list[str]:
        return ["faults", "geology"]


def _fault_traces(cfg: RegionConfig, rng: np.random.Generator, width_km: float, height_km: float):
    """Fault polylines on the km plane (origin at the centre): ~70 % along 2-4 straight belts."""
    belts = [(rng.uniform(-0.35, 0.35) * width_km, rng.uniform(-0.35, 0.35) * height_km, rng.uniform(0, np.pi))
             for _ in range(int(rng.integers(2, 5)))]
    traces = []
    for _ in range(cfg.n_faults):
        length = float(np.clip(rng.lognormal(math.log(150.0), 0.7), 20.0, 800.0))
        if rng.random() < 0.7:
            bx, by, baz = belts[int(rng.integers(len(belts)))]
            s, off = rng.uniform(-0.6, 0.6) * max(width_km, height_km), rng.normal(0.0, 60.0)
            x0 = bx + s * math.cos(baz) - off * math.sin(baz)
            y0 = by + s * math.sin(baz) + off * math.cos(baz)
            az = baz + rng.normal(0.0, math.radians(15.0))
        else:
            x0, y0 = rng.uniform(-0.5, 0.5) * width_km, rng.uniform(-0.5, 0.5) * height_km
            az = rng.uniform(0, np.pi)
        n_seg = max(int(length / 15.0), 2)
        # A gently bending trace, centred on its start point.
        steps = az + np.cumsum(rng.normal(0.0, math.radians(4.0), n_seg))
        dx, dy = np.cos(steps) * length / n_seg, np.sin(steps) * length / n_seg
        x = np.concatenate([[0.0], np.cumsum(dx)])
        y = np.concatenate([[0.0], np.cumsum(dy)])
        x, y = x - x.mean() + x0, y - y.mean() + y0
        slip = float(np.clip(rng.lognormal(math.log(2.0), 0.8) * math.sqrt(length / 120.0), 0.1, 40.0))
        traces.append((x, y, length, slip))
    return traces


def _fault_density(traces, px: np.ndarray, py: np.ndarray, decay_km: float) -> np.ndarray:
    """Sum over fault segments of slip rate x segment length x e^{-distance / decay} / (2 pi decay^2)."""
    ax = np.concatenate([t[0][:-1] for t in traces])
    ay = np.concatenate([t[1][:-1] for t in traces])
    bx = np.concatenate([t[0][1:] for t in traces])
    by = np.concatenate([t[1][1:] for t in traces])
    slip = np.concatenate([np.full(t[0].size - 1, t[3]) for t in traces])
    ex, ey = bx - ax, by - ay
    seg_len = np.hypot(ex, ey)
    weight = slip * seg_len / (2 * np.pi * decay_km ** 2)
    reach = 10.0 * decay_km                              # e^-10: farther segments add nothing visible
    lo_x, hi_x, lo_y, hi_y = np.minimum(ax, bx), np.maximum(ax, bx), np.minimum(ay, by), np.maximum(ay, by)
    dens = np.zeros(px.shape)
    for i in range(0, px.shape[0], 32):                  # 32 x 32 pixel tiles, each with its nearby segments
        for j in range(0, px.shape[1], 32):
            x, y = px[i:i + 32, j:j + 32], py[i:i + 32, j:j + 32]
            near = ((lo_x < x.max() + reach) & (hi_x > x.min() - reach) & (lo_y < y.max() + reach)
                    & (hi_y > y.min() - reach))
            if not near.any():
                continue
            qx, qy = x.reshape(-1, 1) - ax[near], y.reshape(-1, 1) - ay[near]
            u = np.clip((qx * ex[near] + qy * ey[near]) / np.maximum(seg_len[near] ** 2, 1e-12), 0.0, 1.0)
            d = np.hypot(qx - u * ex[near], qy - u * ey[near])
            dens[i:i + 32, j:j + 32] = (np.exp(-d / decay_km) @ weight[near]).reshape(x.shape)
    return dens


def make_region(config: RegionConfig = RegionConfig(), *, region_seed: int = 0,
                params: EtasParameters = DEFAULT_PARAMS) -> SyntheticRegion:
    """Draw a region: faults, geology units and the background rate raster (events M >= mc / day / km^2)."""
    rng = np.random.default_rng([int(region_seed), 8101])
    h, w = config.shape
    ppd = config.pixels_per_degree
    probe = BackgroundRaster(np.ones((h, w)), config.lat0, config.lon0, float(ppd))
    lat_c = config.lat0 + (np.arange(h) + 0.5) / ppd
    lon_c = config.lon0 + (np.arange(w) + 0.5) / ppd
    px, py = probe.to_km(*np.meshgrid(lat_c, lon_c, indexing="ij"))
    width_km, height_km = float(np.ptp(px)), float(np.ptp(py))
    traces = _fault_traces(config, rng, width_km, height_km)
    dens = _fault_density(traces, px, py, config.fault_decay_km)
    # Geology: smooth field (~130 km correlation) mixed with the log fault density, 5 equal-area units.
    field_ = gaussian_filter(rng.standard_normal((h, w)), sigma=1.2 * ppd, mode="reflect")
    field_ = (field_ - field_.mean()) / field_.std()
    log_d = np.log(dens + 1e-3 * dens.mean())
    z = 0.55 * field_ + 0.45 * (log_d - log_d.mean()) / log_d.std()
    units = np.searchsorted(np.quantile(z, np.linspace(0, 1, config.n_units + 1)[1:-1]), z, side="right")
    shape = dens / dens.mean() * np.asarray(config.unit_factors)[units]
    shape = (1.0 - config.floor_share) * shape / shape.mean() + config.floor_share
    # Scale: the stationary rate of all events is background / (1 - n); GR gives the M >= 5 share.
    n_branch = branching_ratio(params)
    m5_share = math.exp(-params.beta * (5.0 - params.mc))
    total_per_day = config.n_rows * config.n_cols * config.m5_per_region_year / m5_share / 365.25 * (1 - n_branch)
    rate = shape / shape.sum() * total_per_day / probe.pixel_area_km2
    background = BackgroundRaster(rate, config.lat0, config.lon0, float(ppd))
    faults = []
    for x, y, length, slip in traces:
        la, lo = probe.to_latlon(x, y)
        faults.append(Fault(la, lo, length, slip))
    return SyntheticRegion(config, int(region_seed), faults, units.astype(np.int64), dens / dens.max(), background)


@dataclass(frozen=True)
class SyntheticDataset:
    """What :func:`write_synthetic_dataset` wrote and measured. ``shares``: fraction of region-years
    whose largest magnitude is >= 5, 6, 7 (keys "m5", "m6", "m7")."""

    out: Path
    n_events: int
    n_simulated: int
    branching_ratio: float
    shares: dict[str, float]
    seconds: float
    files: list[str] = field(default_factory=list)


def _year_start(year: int) -> float:
    return datetime(int(year), 1, 1, tzinfo=timezone.utc).timestamp()


def region_year_max(catalog_time: np.ndarray, lat: np.ndarray, lon: np.ndarray, magnitude: np.ndarray,
                    config: RegionConfig, start_year: int, years: int) -> np.ndarray:
    """Largest magnitude per (cell, year), -inf without events: (n_rows * n_cols, years)."""
    row = np.floor((lat - config.lat0) / config.cell_deg).astype(np.int64)
    col = np.floor((lon - config.lon0) / config.cell_deg).astype(np.int64)
    year = np.asarray(catalog_time, "datetime64[s]").astype("datetime64[Y]").astype(np.int64) + 1970 - start_year
    ok = (row >= 0) & (row < config.n_rows) & (col >= 0) & (col < config.n_cols) & (year >= 0) & (year < years)
    out = np.full(config.n_rows * config.n_cols * years, -np.inf)
    np.maximum.at(out, ((row * config.n_cols + col) * years + year)[ok], magnitude[ok])
    return out.reshape(config.n_rows * config.n_cols, years)


def _write_catalog_csv(path: Path, time_s, lat, lon, depth_km, magnitude) -> None:
    # Same format as models.safenet.catalog.write_catalog_csv (sim may not import models).
    iso = np.datetime_as_string(np.round(np.asarray(time_s) * 1e6).astype("datetime64[us]"), unit="us")
    cols = [np.char.add(iso, "Z"), np.char.mod("%.4f", lat), np.char.mod("%.4f", lon),
            np.char.mod("%.2f", depth_km), np.char.mod("%.2f", magnitude)]
    rows = cols[0]
    for c in cols[1:]:
        rows = np.char.add(np.char.add(rows, ","), c)
    path.write_text("time,lat,lon,depth_km,magnitude\n" + "\n".join(rows.tolist()) + ("\n" if len(rows) else ""))


@dataclass(frozen=True)
class RegionCatalog:
    """The events of a simulated region inside its grid (``time_s`` POSIX s, degrees, km), plus the
    whole simulation (``etas``, including events that fell outside the grid)."""

    region: SyntheticRegion
    time_s: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    depth_km: np.ndarray
    magnitude: np.ndarray
    etas: EtasCatalog


def simulate_catalog(region: SyntheticRegion, *, seed: int = 0, years: int = 60, start_year: int = 1960,
                     burn_in_years: float = 100.0, params: EtasParameters = DEFAULT_PARAMS) -> RegionCatalog:
    """ETAS catalog of calendar years ``start_year`` .. ``start_year + years - 1`` over ``region``.

    ``burn_in_years`` defaults to 100: with the California-like kernel (tau ~ 27 years, n ~ 0.9) a
    20-year burn-in leaves the rate ~20 % below stationary at the start, climbing through the window.
    """
    if years < 1:
        raise ConfigError(f"years must be >= 1, got {years}")
    cfg = region.config
    t0 = _year_start(start_year)
    days = (_year_start(start_year + years) - t0) / SECONDS_PER_DAY
    sim = simulate_etas(params, region.background, days=days, burn_in_days=burn_in_years * 365.25,
                        seed=np.random.SeedSequence([int(seed), region.region_seed, 8102]))
    lat_max, lon_max = cfg.lat0 + cfg.n_rows * cfg.cell_deg, cfg.lon0 + cfg.n_cols * cfg.cell_deg
    inside = (sim.lat >= cfg.lat0) & (sim.lat < lat_max) & (sim.lon >= cfg.lon0) & (sim.lon < lon_max)
    return RegionCatalog(region, t0 + sim.time_days[inside] * SECONDS_PER_DAY, sim.lat[inside], sim.lon[inside],
                         sim.depth_km[inside], sim.magnitude[inside], sim)


def write_synthetic_dataset(out: str | Path, *, seed: int = 0, region_seed: int = 0, years: int = 60,
                            start_year: int = 1960, burn_in_years: float = 100.0,
                            config: RegionConfig = RegionConfig(),
                            params: EtasParameters = DEFAULT_PARAMS) -> SyntheticDataset:
    """Draw the region (``region_seed``), simulate its catalog (``seed``, see :func:`simulate_catalog`) and
    write the dataset directory: catalog.csv, grid.json, maps.npz, truth.json. Events outside the grid
    are simulated (they trigger events inside) but not written."""
    t_start = _time.perf_counter()
    region = make_region(config, region_seed=region_seed, params=params)
    cat = simulate_catalog(region, seed=seed, years=years, start_year=start_year, burn_in_years=burn_in_years,
                           params=params)
    time_s, lat, lon, depth, mag = cat.time_s, cat.lat, cat.lon, cat.depth_km, cat.magnitude
    n_events = len(time_s)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _write_catalog_csv(out / "catalog.csv", time_s, lat, lon, depth, mag)
    (out / "grid.json").write_text(json.dumps(config.grid_dict()))
    np.savez_compressed(out / "maps.npz", layers=region.layers, names=np.array(region.layer_names),
                        lat0=float(config.lat0), lon0=float(config.lon0),
                        pixels_per_degree=float(config.pixels_per_degree),
                        truth_background=np.asarray(region.background.rate, np.float64))
    # Shares from the magnitudes as written (2 decimals), so they match what readers of the CSV see.
    mmax = region_year_max(time_s, lat, lon, np.round(mag, 2), config, start_year, years)
    shares = {f"m{k}": float(np.mean(mmax >= k)) for k in (5, 6, 7)}
    n_branch = branching_ratio(params)
    etas = params.to_dict()
    etas["log10_mu"] = float(np.log10(np.mean(region.background.rate)))   # mean background, /day/km^2
    truth = {"etas": etas, "branching_ratio": n_branch, "start_year": int(start_year), "years": int(years),
             "seed": int(seed), "region_seed": int(region_seed), "burn_in_years": float(burn_in_years),
             "n_events": n_events, "n_simulated": len(cat.etas), "shares": shares,
             "pixel_area_km2": region.background.pixel_area_km2,
             "projection": {"kind": "equirectangular", "lat_c": region.background.lat_c,
                            "lon_c": region.background.lon_c, "km_per_degree": 111.195},
             "region": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
             "faults": [f.to_dict() for f in region.faults]}
    (out / "truth.json").write_text(json.dumps(truth, indent=1))
    return SyntheticDataset(out=out, n_events=n_events, n_simulated=len(cat.etas), branching_ratio=n_branch,
                            shares=shares, seconds=_time.perf_counter() - t_start,
                            files=["catalog.csv", "grid.json", "maps.npz", "truth.json"])


__all__ = ["DEFAULT_PARAMS", "Fault", "RegionCatalog", "RegionConfig", "SyntheticDataset", "SyntheticRegion",
           "make_region", "region_year_max", "simulate_catalog", "write_synthetic_dataset"]
