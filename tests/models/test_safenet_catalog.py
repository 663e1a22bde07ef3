"""Catalog CSV reading, the region grid and magnitude classes; the real Swiss catalog when present."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.safenet.catalog import (
    Catalog,
    CatalogError,
    MagnitudeClasses,
    RegionGrid,
    max_magnitude,
    read_catalog_csv,
    write_catalog_csv,
    year_of,
    year_start,
)

SWISS = Path(__file__).resolve().parents[3] / "shared" / "data" / "ch_catalog.csv"


def test_read_accepts_iso_posix_and_aliases(tmp_path):
    f = tmp_path / "c.csv"
    f.write_text("id,Latitude,Longitude,time,Mag,depth\n"
                 "1,46.5,7.5,2001-03-04 05:06:07.5,2.5,8\n"
                 "2,46.6,7.6,978307200,3.1,\n"
                 "3,46.7,7.7,2000-06-01T00:00:00Z,1.2,3.5\n")
    c = read_catalog_csv(f)
    assert len(c) == 3
    assert c.time[0] == year_start(2000) + 152 * 86400          # sorted: the June 2000 event first
    assert c.time[1] == 978307200.0                             # 2001-01-01 as POSIX seconds
    assert np.isnan(c.depth_km[1]) and c.depth_km[2] == 8.0
    assert year_of(c.time).tolist() == [2000, 2001, 2001]


def test_write_read_round_trip(tmp_path):
    c = Catalog.from_arrays([1e9, 1e9 + 3600.25], [30.0, 31.5], [90.0, 91.25], [4.25, 5.5], [10.0, np.nan])
    write_catalog_csv(c, tmp_path / "c.csv")
    back = read_catalog_csv(tmp_path / "c.csv")
    np.testing.assert_allclose(back.time, c.time, atol=1e-6)
    np.testing.assert_array_equal(back.magnitude, c.magnitude)
    assert np.isnan(back.depth_km[1])


@pytest.mark.parametrize("text, needle", [
    ("", "empty file"),
    ("time,lat,lon\n2001-01-01,1,2\n", "no magnitude column"),
    ("time,lat,lon,mag\n2001-01-01,1,2\n", "row 2: 3 fields"),
    ("time,lat,lon,mag\n2001-01-01,95,2,3\n", "latitude outside"),
    ("time,lat,lon,mag\n2001-01-01,1,2,nan\n", "magnitude is not finite"),
    ("time,lat,lon,mag\n", "no events"),
    ("time,lat,lon,mag\n2001-13-01,1,2,3\n", "row 2: time"),
])
def test_bad_catalogs_raise_catalog_error(tmp_path, text, needle):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(CatalogError, match=needle):
        read_catalog_csv(f)


def test_binary_garbage_is_a_catalog_error(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_bytes(b"\xff\xfe\x00garbage\x00\x81")
    with pytest.raises(CatalogError):
        read_catalog_csv(f)
    with pytest.raises(CatalogError, match="cannot open"):
        read_catalog_csv(tmp_path / "missing.csv")


def test_grid_cells_and_max_magnitude():
    grid = RegionGrid(20.0, 90.0, 4.0, 4.0, 2, 3)
    assert grid.cell_of(np.array([20.0, 23.99, 24.0, 27.9, 19.9]), np.array([90.0, 93.9, 94.0, 101.9, 95.0])).tolist() \
        == [0, 0, 4, 5, -1]
    assert grid.bounds(4) == (24.0, 28.0, 94.0, 98.0)
    assert RegionGrid.from_dict(__import__("json").loads(grid.to_json())) == grid
    t = [year_start(2001) + 10, year_start(2001) + 20, year_start(2002) + 5]
    c = Catalog.from_arrays(t, [21.0, 21.0, 25.0], [91.0, 91.0, 95.0], [4.2, 6.1, 7.3])
    mm = max_magnitude(c, grid, [2001, 2002])
    assert mm[0].tolist() == [6.1, -np.inf] and mm[4].tolist() == [-np.inf, 7.3]
    assert MagnitudeClasses().classify(mm[[0, 4]]).tolist() == [[2, 0], [0, 3]]
    assert MagnitudeClasses().names == ["M<5", "5-6", "6-7", "M>=7"]
    with pytest.raises(CatalogError):
        MagnitudeClasses((5.0, 5.0))
    with pytest.raises(CatalogError):
        RegionGrid(0, 0, 1, 1, 2, 2, active=(4,))


@pytest.mark.skipif(not SWISS.exists(), reason="../shared/data/ch_catalog.csv (the real Swiss catalog) is absent")
def test_swiss_catalog_reads_and_grids():
    """The shipped real catalog (SED, ETH Zurich; via L. Mizrahi's ETAS package, MIT): 22,526 events
    1972-2021, largest M 4.9."""
    c = read_catalog_csv(SWISS)
    assert len(c) == 22526 and c.years == (1972, 2021) and c.magnitude.max() == pytest.approx(4.9)
    grid = RegionGrid.covering(c, 0.5, 0.5, min_events=50)
    assert 30 <= grid.regions.size <= 55
    classes = MagnitudeClasses((3.0, 3.5, 4.0))
    counts = np.bincount(classes.classify(max_magnitude(c, grid, range(1975, 2022))).ravel(), minlength=4)
    assert counts[0] > counts[1] > counts[2] > 0 and counts[3] > 0
