"""Channel coordinates of a box: the geometry the stream itself does not carry.

A live interrogator sends samples only; where each channel lies on the ground comes from a survey
(a tap test or a GNSS walk along the cable), written once into a CSV::

    lat,lon,elev_m
    32.80123,130.68541,12.5
    32.80131,130.68548,12.6

one row per channel, in channel order from the box's first channel. ``elev_m`` is optional (0).
A fiber record (.npz, or .h5 with the ``hdf5`` extra) can stand in for the CSV: its header holds the
same coordinates, which is what ``python -m sim stream --geometry-out`` writes for the emulator.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.exceptions import ConfigError, RecordError

MAX_CHANNELS = 200_000


@dataclass(frozen=True)
class ChannelGeometry:
    """Coordinates of a box's channels, degrees and m, in channel order."""

    lat: np.ndarray
    lon: np.ndarray
    elev_m: np.ndarray

    @property
    def n_channels(self) -> int:
        return int(self.lat.size)

    def same_as(self, other: ChannelGeometry | None) -> bool:
        """True when ``other`` holds the very same coordinates."""
        return (other is not None and other.n_channels == self.n_channels
                and all(np.array_equal(a, b) for a, b in ((self.lat, other.lat), (self.lon, other.lon),
                                                            (self.elev_m, other.elev_m))))


def read_geometry(path: str | Path) -> ChannelGeometry:
    """Read channel coordinates from a CSV or a fiber record; ConfigError on anything wrong."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    from edge.record import read_record_header
    try:
        header = read_record_header(path)
        header.validate()
    except RecordError as exc:
        raise ConfigError(f"channel geometry {path}: {exc}") from exc
    return _checked(path, header.lat, header.lon, header.elev_m)


def _read_csv(path: Path) -> ChannelGeometry:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#")]
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read channel geometry {path}: {exc}") from exc
    if not rows:
        raise ConfigError(f"channel geometry {path} is empty")
    names = [c.strip().lower() for c in rows[0]]
    if "lat" not in names or "lon" not in names:
        raise ConfigError(f"channel geometry {path}: the header must name lat and lon, got {rows[0]}")
    if len(rows) - 1 > MAX_CHANNELS:
        raise ConfigError(f"channel geometry {path}: more than {MAX_CHANNELS} channels")
    cols = {name: names.index(name) for name in ("lat", "lon", "elev_m") if name in names}
    values = {name: np.zeros(len(rows) - 1) for name in ("lat", "lon", "elev_m")}
    for i, row in enumerate(rows[1:]):
        for name, j in cols.items():
            try:
                values[name][i] = float(row[j])
            except (IndexError, ValueError):
                raise ConfigError(f"channel geometry {path} line {i + 2}: bad {name} "
                                  f"{row[j] if j < len(row) else '(missing)'!r}") from None
    return _checked(path, values["lat"], values["lon"], values["elev_m"])


def _checked(path: Path, lat, lon, elev_m) -> ChannelGeometry:
    lat, lon, elev_m = (np.asarray(a, dtype=np.float64).copy() for a in (lat, lon, elev_m))
    if lat.size < 2:
        raise ConfigError(f"channel geometry {path}: need at least 2 channels")
    if not (np.all(np.isfinite(lat)) and np.all(np.abs(lat) <= 90) and np.all(np.isfinite(lon))
            and np.all(np.abs(lon) <= 180) and np.all(np.isfinite(elev_m))):
        raise ConfigError(f"channel geometry {path}: coordinates out of range or not finite")
    for a in (lat, lon, elev_m):
        a.flags.writeable = False
    return ChannelGeometry(lat, lon, elev_m)


def write_geometry_csv(path: str | Path, lat, lon, elev_m) -> None:
    """Write channel coordinates as the CSV :func:`read_geometry` reads."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["lat", "lon", "elev_m"])
        for row in zip(np.asarray(lat, float), np.asarray(lon, float), np.asarray(elev_m, float)):
            w.writerow([repr(float(v)) for v in row])   # exact: the edge must see what the survey gave
