"""Map layers and the map patches of SafeNet (Hu et al., Sci. Rep. 2025), torch-free.

The network sees, for each region and year, an image of the region's cell: the static layers of the
map (``maps.npz``: faults, geology, ...) plus the density of the year's events; the whole grid's image
(the paper's whole-country patch) gives the global token.

Conventions
- Rasters and patches keep row 0 at the south edge and column 0 at the west edge.
- Resampling to ``size`` x ``size``: area-weighted (box) averaging, exact for any ratio of window to
  patch pixels (a patch pixel is the mean of the raster pixels it overlaps, weighted by overlap);
  parts of a window outside the raster count as 0. A non-square window (the whole grid) is stretched.
- Fixed channel scaling, the same for every sample and in training and at central:
  static layer -> (x - min(0, layer min)) / (max(1, layer max) - min(0, layer min)) over the whole map,
  i.e. unchanged for layers already in [0, 1] (the synthetic maps, the contract), the map's own range
  otherwise; event density -> log10(1 + events per raster pixel in the year) / 2 (1 at 100 events per
  pixel-year, not clipped), averaged over the patch pixel after the logarithm.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse

from models.safenet.catalog import Catalog, CatalogError, RegionGrid, year_of, year_start

DENSITY_LOG_SCALE = 2.0       # log10(1 + count) / 2: 100 events per pixel-year -> 1
# dynamic channels after the static layers: the year's event density, then the long-term rate density
N_DYNAMIC = 2
HISTORY_SMOOTH_PX = 1.5
REQUIRED_KEYS = ("layers", "names", "lat0", "lon0", "pixels_per_degree")


@dataclass(frozen=True)
class MapLayers:
    """Static map layers ``layers`` float32 (L, H, W) on a regular raster: south-west corner ``lat0``,
    ``lon0`` (degrees), ``pixels_per_degree`` in both directions, row 0 south; ``names`` (L,)."""

    layers: np.ndarray
    names: tuple[str, ...]
    lat0: float
    lon0: float
    pixels_per_degree: float

    def __post_init__(self):
        layers = np.asarray(self.layers)
        if layers.ndim != 3 or layers.shape[1] < 1 or layers.shape[2] < 1 or not np.issubdtype(layers.dtype, np.number):
            raise CatalogError(f"map layers: a numeric (L, H, W) array is needed, got {layers.dtype} {layers.shape}")
        if not np.all(np.isfinite(layers)):
            raise CatalogError("map layers: layers hold NaN or infinite values")
        names = tuple(str(n) for n in self.names)
        if len(names) != layers.shape[0]:
            raise CatalogError(f"map layers: {len(names)} names for {layers.shape[0]} layers")
        for key in ("lat0", "lon0", "pixels_per_degree"):
            if not np.isfinite(getattr(self, key)):
                raise CatalogError(f"map layers: {key} is not finite")
        if not self.pixels_per_degree > 0:
            raise CatalogError(f"map layers: pixels_per_degree must be > 0, got {self.pixels_per_degree}")
        object.__setattr__(self, "layers", layers.astype(np.float32, copy=False))
        object.__setattr__(self, "names", names)
        for key in ("lat0", "lon0", "pixels_per_degree"):
            object.__setattr__(self, key, float(getattr(self, key)))

    @property
    def shape(self) -> tuple[int, int]:
        """Raster (H, W)."""
        return int(self.layers.shape[1]), int(self.layers.shape[2])

    @classmethod
    def read(cls, path: str | Path) -> "MapLayers":
        """Read a ``maps.npz`` (keys of the contract; ``truth_*`` keys are ignored). Raises
        :class:`CatalogError` naming the file and the problem."""
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in REQUIRED_KEYS if k not in z.files]
                if missing:
                    raise CatalogError(f"{path}: maps file lacks {', '.join(missing)} (has {', '.join(z.files)})")
                d = {k: z[k] for k in REQUIRED_KEYS}
        except CatalogError:
            raise
        except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
            raise CatalogError(f"{path}: not a readable maps .npz file: {exc}") from None
        names = d["names"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise CatalogError(f"{path}: names must be a 1-D array of strings, got {names.dtype} {names.shape}")
        try:
            lat0, lon0, ppd = (float(np.asarray(d[k]).reshape(())) for k in ("lat0", "lon0", "pixels_per_degree"))
        except (TypeError, ValueError):
            raise CatalogError(f"{path}: lat0, lon0 and pixels_per_degree must be single numbers") from None
        try:
            return cls(d["layers"], tuple(names.astype(str).tolist()), lat0, lon0, ppd)
        except CatalogError as exc:
            raise CatalogError(f"{path}: {exc}") from None

    @classmethod
    def empty(cls, grid: RegionGrid, pixels_per_degree: float, names: tuple[str, ...] = ()) -> "MapLayers":
        """A raster covering ``grid`` without static layers (a real catalog without maps). With ``names``,
        one all-zero layer per name (a model trained with layers run without them)."""
        h = int(np.ceil(grid.n_lat * grid.dlat * pixels_per_degree - 1e-9))
        w = int(np.ceil(grid.n_lon * grid.dlon * pixels_per_degree - 1e-9))
        return cls(np.zeros((len(names), h, w), np.float32), tuple(names), grid.lat0, grid.lon0, pixels_per_degree)

    def pixel_of(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """Flat raster index (row * W + col) of each point, -1 outside the raster."""
        h, w = self.shape
        row = np.floor((np.asarray(lat, float) - self.lat0) * self.pixels_per_degree).astype(np.int64)
        col = np.floor((np.asarray(lon, float) - self.lon0) * self.pixels_per_degree).astype(np.int64)
        inside = (row >= 0) & (row < h) & (col >= 0) & (col < w)
        return np.where(inside, row * w + col, -1)

    def scaled(self) -> np.ndarray:
        """Static layers with the fixed scaling of the module docstring, float32 (L, H, W)."""
        if not self.layers.shape[0]:
            return self.layers
        lo = np.minimum(self.layers.min(axis=(1, 2)), 0.0)[:, None, None]
        hi = np.maximum(self.layers.max(axis=(1, 2)), 1.0)[:, None, None]
        return ((self.layers - lo) / (hi - lo)).astype(np.float32)


def density_raster(catalog: Catalog, layers_like: MapLayers, start: float, end: float, *,
                   smooth_px: float = 0.0) -> np.ndarray:
    """log10(1 + count) of the events with ``start <= time < end`` (POSIX s) in each pixel of the
    raster of ``layers_like``: float32 (H, W), row 0 south. ``smooth_px`` > 0: counts smoothed by a
    Gaussian of that standard deviation (pixels) before the logarithm."""
    part = catalog.between(start, end)
    return _density(layers_like.pixel_of(part.lat, part.lon), layers_like.shape, smooth_px)


def _density(pix: np.ndarray, shape: tuple[int, int], smooth_px: float) -> np.ndarray:
    counts = np.bincount(pix[pix >= 0], minlength=shape[0] * shape[1]).reshape(shape).astype(float)
    if smooth_px > 0:
        from scipy.ndimage import gaussian_filter
        counts = gaussian_filter(counts, sigma=smooth_px, mode="constant")
    return np.log10(1.0 + counts).astype(np.float32)


def _box_weights(lo: float, hi: float, n_src: int, size: int) -> tuple[int, np.ndarray]:
    """Area weights (size, n) of raster pixels [j, j + 1) for ``size`` equal target pixels spanning
    [lo, hi) in raster pixel coordinates; returns the first raster index j0 and the weights of
    j0 .. j0 + n - 1 (the raster pixels that overlap, clipped to the raster)."""
    j0 = int(np.clip(np.floor(lo), 0, n_src))
    j1 = int(np.clip(np.ceil(hi), j0, n_src))
    edges = lo + (hi - lo) * np.arange(size + 1) / size
    j = np.arange(j0, j1)
    overlap = (np.minimum(edges[1:, None], j[None, :] + 1) - np.maximum(edges[:-1, None], j[None, :]))
    return j0, np.clip(overlap, 0.0, None) / ((hi - lo) / size)


def _patches(layers: MapLayers, windows: list[tuple[float, float, float, float]], catalog: Catalog,
             years, size: int, smooth_px: float) -> np.ndarray:
    """(n_windows, n_years, L + 2, size, size) for windows (south, north, west, east) in degrees."""
    if size < 1:
        raise CatalogError(f"map patches: size must be >= 1, got {size}")
    years = [int(y) for y in years]
    h, w = layers.shape
    ppd = layers.pixels_per_degree
    n_l = layers.layers.shape[0]
    out = np.zeros((len(windows), len(years), n_l + N_DYNAMIC, size, size), np.float32)
    static = layers.scaled()
    weights = []
    for k, (s, n, west, east) in enumerate(windows):
        r0, a = _box_weights((s - layers.lat0) * ppd, (n - layers.lat0) * ppd, h, size)
        c0, b = _box_weights((west - layers.lon0) * ppd, (east - layers.lon0) * ppd, w, size)
        a, b = sparse.csr_matrix(a), sparse.csr_matrix(b)
        weights.append((r0, a, c0, b))
        if n_l:
            out[k, :, :n_l] = _resample(a, b, static[:, r0:r0 + a.shape[1], c0:c0 + b.shape[1]])[None]
    pix = layers.pixel_of(catalog.lat, catalog.lon)
    # Years in chunks of <= ~32 M raster pixels, each window's resampling as two sparse products over
    # the whole chunk (cost ~ raster pixels): dense BLAS calls were 25x slower on a loaded 2-core machine.
    chunk = max(1, int(16e6 // (h * w)))
    first = year_of(catalog.time[:1])[0] if len(catalog) else years[0]
    i_start = np.searchsorted(catalog.time, year_start(years[0]), side="left") if years else 0
    history = np.bincount(pix[:i_start][pix[:i_start] >= 0], minlength=h * w).reshape(h, w).astype(float)
    done = years[0] if years else 0            # history holds the events before year_start(done)
    for j0 in range(0, len(years), chunk):
        ys = years[j0:j0 + chunk]
        dens = np.empty((2, len(ys), h, w), np.float32)
        for j, y in enumerate(ys):
            if y != done:                      # non-consecutive years: recount the history
                i_y = np.searchsorted(catalog.time, year_start(y), side="left")
                history = np.bincount(pix[:i_y][pix[:i_y] >= 0], minlength=h * w).reshape(h, w).astype(float)
            i0, i1 = np.searchsorted(catalog.time, [year_start(y), year_start(y + 1)], side="left")
            dens[0, j] = _density(pix[i0:i1], (h, w), smooth_px) / DENSITY_LOG_SCALE
            part = pix[i0:i1]
            history += np.bincount(part[part >= 0], minlength=h * w).reshape(h, w)
            done = y + 1
            dens[1, j] = _rate_density(history, max(1, y + 1 - int(first)))
        for k, (r0, a, c0, b) in enumerate(weights):
            for c in range(N_DYNAMIC):
                crop = dens[c, :, r0:r0 + a.shape[1], c0:c0 + b.shape[1]]
                ny = crop.shape[0]
                out[k, j0:j0 + ny, n_l + c] = _resample(a, b, crop)
    return out


def _rate_density(counts: np.ndarray, n_years: int) -> np.ndarray:
    """The long-term channel: log10(1 + 10 x events per pixel and year) over the whole history,
    Gaussian-smoothed (HISTORY_SMOOTH_PX): the smoothed-seismicity map a seismologist would draw."""
    from scipy.ndimage import gaussian_filter
    rate = gaussian_filter(counts / n_years, sigma=HISTORY_SMOOTH_PX, mode="constant")
    return (np.log10(1.0 + 10.0 * rate) / DENSITY_LOG_SCALE).astype(np.float32)


def _resample(a, b, stack: np.ndarray) -> np.ndarray:
    """out[n, i, m] = sum_jk a[i, j] stack[n, j, k] b[m, k] for sparse a (P, h), b (Q, w)."""
    n, hh, ww = stack.shape
    p, q = a.shape[0], b.shape[0]
    rows = np.asarray(a @ stack.transpose(1, 0, 2).reshape(hh, n * ww))          # (P, n * w)
    rows = rows.reshape(p, n, ww).transpose(1, 0, 2).reshape(n * p, ww)
    return np.asarray(b @ rows.T).T.reshape(n, p, q).astype(np.float32)


def region_patches(layers: MapLayers, grid: RegionGrid, catalog: Catalog, years, size: int = 32, *,
                   smooth_px: float = 0.0) -> np.ndarray:
    """Each active region's cell window: the scaled static layers, the density of the events of year
    ``y`` (``year_start(y) <= time < year_start(y + 1)``) and the long-term rate density of every event
    before ``year_start(y + 1)`` (:func:`_rate_density`), resampled to ``size`` x ``size``: float32
    (n_regions, n_years, L + 2, size, size), regions in ``grid.regions`` order."""
    return _patches(layers, [grid.bounds(int(c)) for c in grid.regions], catalog, years, size, smooth_px)


def global_patches(layers: MapLayers, grid: RegionGrid, catalog: Catalog, years, size: int = 32, *,
                   smooth_px: float = 0.0) -> np.ndarray:
    """The same over the whole grid extent (the paper's whole-country patch, the global token):
    float32 (n_years, L + 2, size, size)."""
    window = (grid.lat0, grid.lat0 + grid.n_lat * grid.dlat, grid.lon0, grid.lon0 + grid.n_lon * grid.dlon)
    return _patches(layers, [window], catalog, years, size, smooth_px)[0]


__all__ = ["MapLayers", "density_raster", "region_patches", "global_patches", "DENSITY_LOG_SCALE", "N_DYNAMIC"]
