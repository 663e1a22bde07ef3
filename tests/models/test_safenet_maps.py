"""Map layers and patches of SafeNet: reading maps.npz, event density, region and global patches."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from models.safenet.catalog import Catalog, CatalogError, RegionGrid, year_start
from models.safenet.maps import (
    DENSITY_LOG_SCALE,
    MapLayers,
    _box_weights,
    _resample,
    density_raster,
    global_patches,
    region_patches,
)

PPD = 8.0
GRID = RegionGrid(10.0, 20.0, 1.0, 1.0, 2, 2)      # 4 cells of 1 degree = 8 x 8 pixels each


def layers_for(grid: RegionGrid = GRID, n_layers: int = 2) -> MapLayers:
    h, w = int(grid.n_lat * grid.dlat * PPD), int(grid.n_lon * grid.dlon * PPD)
    rows, cols = np.mgrid[0:h, 0:w]
    stack = [rows / (h - 1), cols / (w - 1)][:n_layers]
    return MapLayers(np.stack(stack).astype(np.float32), ("north", "east")[:n_layers], grid.lat0, grid.lon0, PPD)


def events(*rows) -> Catalog:
    t, lat, lon = zip(*rows)
    return Catalog.from_arrays(t, lat, lon, np.full(len(t), 4.0))


def write_maps(path, **overrides):
    good = dict(layers=np.zeros((2, 16, 16), np.float32), names=np.array(["faults", "geology"]),
                lat0=10.0, lon0=20.0, pixels_per_degree=8.0, truth_background=np.ones((16, 16)))
    good.update(overrides)
    np.savez(path, **{k: v for k, v in good.items() if v is not None})
    return path


class TestRead:
    def test_round_trip(self, tmp_path):
        """A contract maps.npz is read; truth_* keys are ignored."""
        m = MapLayers.read(write_maps(tmp_path / "maps.npz"))
        assert m.layers.shape == (2, 16, 16) and m.layers.dtype == np.float32
        assert m.names == ("faults", "geology") and m.shape == (16, 16) and m.pixels_per_degree == 8.0

    @pytest.mark.parametrize("overrides", [
        {"layers": None},                                          # missing key
        {"layers": np.zeros((16, 16), np.float32)},                # not (L, H, W)
        {"names": np.array(["faults"])},                           # one name for two layers
        {"layers": np.full((2, 16, 16), np.nan, np.float32)},      # NaN
        {"pixels_per_degree": 0.0},
        {"lat0": np.array([1.0, 2.0])},
        {"names": np.array([1, 2])},                               # not strings
        {"names": np.array(["a", None], dtype=object)},            # pickled object array
    ])
    def test_malformed(self, tmp_path, overrides):
        """Each malformation raises CatalogError naming the file."""
        path = write_maps(tmp_path / "maps.npz", **overrides)
        with pytest.raises(CatalogError, match="maps.npz"):
            MapLayers.read(path)

    def test_not_npz(self, tmp_path):
        """A text file or a missing file -> CatalogError."""
        (tmp_path / "maps.npz").write_text("not a zip")
        for p in (tmp_path / "maps.npz", tmp_path / "absent.npz"):
            with pytest.raises(CatalogError):
                MapLayers.read(p)

    def test_empty(self):
        """A raster covering the grid with no layers, or zero layers with the given names."""
        m = MapLayers.empty(GRID, 8.0)
        assert m.layers.shape == (0, 16, 16) and (m.lat0, m.lon0) == (10.0, 20.0)
        z = MapLayers.empty(GRID, 4.0, names=("faults",))
        assert z.layers.shape == (1, 8, 8) and not z.layers.any() and z.names == ("faults",)


class TestDensity:
    def test_pixel_counts(self):
        """log10(1 + count) in the event's pixel (row 0 south), events outside [start, end) left out."""
        t0 = year_start(2001)
        cat = events((t0 + 10, 10.3, 20.9), (t0 + 20, 10.3, 20.9), (t0 + 30, 11.9, 20.05), (t0 - 5, 10.3, 20.9),
                     (t0 + 40, 30.0, 20.0))                        # last one outside the raster
        d = density_raster(cat, layers_for(), t0, year_start(2002))
        assert d.shape == (16, 16) and d.dtype == np.float32
        assert d[2, 7] == pytest.approx(np.log10(3)) and d[15, 0] == pytest.approx(np.log10(2))
        assert np.count_nonzero(d) == 2

    def test_smoothing_keeps_the_peak_in_place(self):
        cat = events((year_start(2001) + 1, 10.55, 20.55))
        d = density_raster(cat, layers_for(), year_start(2001), year_start(2002), smooth_px=1.0)
        assert np.unravel_index(np.argmax(d), d.shape) == (4, 4) and np.count_nonzero(d) > 1


class TestPatches:
    def test_event_in_its_region_and_year(self):
        """An event in region 3's pixel (row 2, col 5) shows there in year 2001 only, and nowhere else."""
        cat = events((year_start(2001) + 100, 11.3, 21.7))        # cell 3 (north-east), local pixel (2, 5)
        p = region_patches(layers_for(), GRID, cat, [2000, 2001, 2002], size=8)
        assert p.shape == (4, 3, 4, 8, 8) and p.dtype == np.float32
        dens = p[:, :, 2]
        assert dens[3, 1, 2, 5] == pytest.approx(np.log10(2) / DENSITY_LOG_SCALE)
        dens[3, 1, 2, 5] = 0
        assert not dens.any()

    def test_static_layers_window_and_area_average(self):
        """1:1 the static channels are the cell's crop; at size 4 each patch pixel is a 2 x 2 block mean."""
        lay = layers_for()
        p = region_patches(lay, GRID, events((0.0, 10.5, 20.5)), [2001], size=8)
        np.testing.assert_allclose(p[1, 0, :2], lay.layers[:, 0:8, 8:16], atol=1e-6)     # cell 1: south-east
        q = region_patches(lay, GRID, events((0.0, 10.5, 20.5)), [2001], size=4)
        block = lay.layers[:, 8:16, 0:8].reshape(2, 4, 2, 4, 2).mean(axis=(2, 4))       # cell 2: north-west
        np.testing.assert_allclose(q[2, 0, :2], block, atol=1e-6)

    def test_fixed_scaling(self):
        """Layers in [0, 1] pass unchanged; a 0-255 layer is divided by its map maximum."""
        lay = layers_for()
        assert np.array_equal(lay.scaled(), lay.layers)
        rgb = MapLayers(lay.layers * 255, lay.names, lay.lat0, lay.lon0, PPD)
        np.testing.assert_allclose(rgb.scaled(), lay.layers, atol=1e-6)

    def test_global_patch(self):
        """The whole-grid patch: shape (years, L + 1, P, P), the event at its place, density mean kept."""
        t0 = year_start(2001)
        cat = events((t0 + 1, 11.9, 21.9), (t0 + 2, 11.9, 21.9), (t0 + 3, 10.1, 20.1))
        lay = layers_for()
        g = global_patches(lay, GRID, cat, [2001, 2002], size=4)
        assert g.shape == (2, 4, 4, 4)
        raster = density_raster(cat, lay, t0, year_start(2002)) / DENSITY_LOG_SCALE
        assert g[0, 2].mean() == pytest.approx(raster.mean(), rel=1e-5)
        assert g[0, 2, 3, 3] == pytest.approx(np.log10(3) / DENSITY_LOG_SCALE / 16)
        assert g[0, 2, 0, 0] == pytest.approx(np.log10(2) / DENSITY_LOG_SCALE / 16)
        assert not g[1, 2].any()

    def test_empty_layers_and_outside(self):
        """Without static layers only the density channel; a window past the raster edge reads 0 there."""
        grid = RegionGrid(10.0, 20.0, 1.0, 1.0, 2, 3)             # third column beyond a 2-column raster
        lay = MapLayers.empty(GRID, PPD)
        cat = events((year_start(2001) + 1, 10.5, 20.5))
        p = region_patches(lay, grid, cat, [2001], size=8)
        assert p.shape == (6, 1, 2, 8, 8) and p[0, 0, 0].any() and not p[2].any()

    def test_long_term_rate_channel(self):
        """The last channel: log10(1 + 10 x smoothed events per pixel and year) over all years up to y,
        so an event of 2001 stays in it (diluted by the years) while the yearly channel forgets it."""
        from scipy.ndimage import gaussian_filter

        from models.safenet.maps import HISTORY_SMOOTH_PX
        cat = events((year_start(1999) + 5, 10.1, 20.1), (year_start(2001) + 100, 11.3, 21.7))
        p = region_patches(layers_for(), GRID, cat, [2001, 2002, 2004], size=8)
        hist = p[:, :, 3]
        assert hist[3, 0].any() and hist[3, 2].any() and not p[3, 2, 2].any()
        counts = np.zeros((16, 16))
        counts[8 + 2, 8 + 5] = 1.0          # region 3 = rows 8-15, cols 8-15 of the raster
        counts[0, 0] = 1.0
        for j, (year, n_years) in enumerate(((2001, 3), (2002, 4), (2004, 6))):
            want = np.log10(1 + 10 * gaussian_filter(counts / n_years, HISTORY_SMOOTH_PX, mode="constant"))
            np.testing.assert_allclose(hist[3, j], want[8:16, 8:16] / DENSITY_LOG_SCALE, atol=1e-5)
        # non-consecutive years give the same values as consecutive ones
        q = region_patches(layers_for(), GRID, cat, [2004], size=8)
        np.testing.assert_allclose(q[3, 0, 3], hist[3, 2], atol=1e-6)

    def test_resampling_matches_dense(self):
        """Sparse box resampling equals the dense product, rows of weights sum to 1 inside the raster."""
        rng = np.random.default_rng(0)
        stack = rng.random((3, 30, 41)).astype(np.float32)
        r0, a = _box_weights(2.3, 27.9, 30, 7)
        c0, b = _box_weights(0.5, 40.2, 41, 5)
        np.testing.assert_allclose(a.sum(axis=1), 1.0) and np.testing.assert_allclose(b.sum(axis=1), 1.0)
        crop = stack[:, r0:r0 + a.shape[1], c0:c0 + b.shape[1]]
        got = _resample(sparse.csr_matrix(a), sparse.csr_matrix(b), crop)
        np.testing.assert_allclose(got, np.einsum("ij,njk,mk->nim", a, crop, b), rtol=1e-5)
