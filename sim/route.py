"""Fiber routes and channel layouts: the Kyushu-Shinkansen-like line, straight lines, CSV routes."""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.exceptions import ConfigError
from edge.geodesy import LocalFrame, along_fiber_km, destination, fiber_tangent, resample_polyline

#: Stations of the Kyushu Shinkansen, Hakata to Kagoshima-Chuo (lat, lon in degrees).
KYUSHU_STATIONS: tuple[tuple[str, float, float], ...] = (
    ("Hakata", 33.590, 130.421),
    ("Kurume", 33.320, 130.509),
    ("Shin-Omuta", 33.055, 130.471),
    ("Kumamoto", 32.790, 130.689),
    ("Shin-Yatsushiro", 32.526, 130.627),
    ("Shin-Minamata", 32.213, 130.408),
    ("Sendai", 31.815, 130.313),
    ("Kagoshima-Chuo", 31.584, 130.541),
)


@dataclass(frozen=True)
class Route:
    """A fiber route: polyline vertices with optional elevations and named stations."""

    name: str
    lat: np.ndarray
    lon: np.ndarray
    elev_m: np.ndarray
    stations: tuple[tuple[str, float, float], ...] = ()

    def __post_init__(self) -> None:
        lat, lon, elev = (np.asarray(a, dtype=float) for a in (self.lat, self.lon, self.elev_m))
        if lat.ndim != 1 or lat.size < 2:
            raise ConfigError(f"route {self.name!r}: needs at least 2 vertices, got {lat.size}")
        if lon.shape != lat.shape or elev.shape != lat.shape:
            raise ConfigError(f"route {self.name!r}: lat, lon and elev_m differ in length")
        for key, arr in (("lat", lat), ("lon", lon), ("elev_m", elev)):
            if not np.all(np.isfinite(arr)):
                raise ConfigError(f"route {self.name!r}: {key} has NaN or infinite values")
        if np.any(np.abs(lat) > 90) or np.any(lon < -180) or np.any(lon >= 360):
            raise ConfigError(f"route {self.name!r}: coordinates outside valid lat/lon ranges")
        frame = LocalFrame.around(lat, lon)
        e, n, _ = frame.to_enu(lat, lon, 0.0)
        if np.any(np.hypot(np.diff(e), np.diff(n)) < 1e-6):
            raise ConfigError(f"route {self.name!r}: two consecutive vertices coincide")

    @property
    def length_km(self) -> float:
        """Length along the vertices, km."""
        frame = LocalFrame.around(self.lat, self.lon)
        e, n, u = frame.to_enu(self.lat, self.lon, self.elev_m)
        return float(along_fiber_km(e, n, u)[-1])

    def station_km(self, name: str) -> float:
        """Along-route distance of a named station (its nearest vertex), km."""
        for st_name, st_lat, st_lon in self.stations:
            if st_name == name:
                frame = LocalFrame.around(self.lat, self.lon)
                e, n, u = frame.to_enu(self.lat, self.lon, self.elev_m)
                along = along_fiber_km(e, n, u)
                i = int(np.argmin(np.hypot(self.lat - st_lat, self.lon - st_lon)))
                return float(along[i])
        raise ConfigError(f"route {self.name!r} has no station {name!r}")


def _terrain_m(along_km: np.ndarray) -> np.ndarray:
    """A smooth, plausible track elevation profile (viaducts and low hills), m."""
    return 25.0 + 15.0 * np.sin(along_km / 7.0) + 10.0 * np.sin(along_km / 2.3 + 1.0)


def kyushu_route() -> Route:
    """Kyushu-Shinkansen-like route from Hakata to Kagoshima-Chuo through its stations.

    Between stations the track is bent gently (a sinusoidal offset of ~2-4 km) so that, as on the real
    line, the fiber is not made of perfectly straight segments; length ~ 250 km (the real line is 257 km), mostly N-S.
    """
    lat_v = np.array([s[1] for s in KYUSHU_STATIONS])
    lon_v = np.array([s[2] for s in KYUSHU_STATIONS])
    frame = LocalFrame.around(lat_v, lon_v)
    e_v, n_v, _ = frame.to_enu(lat_v, lon_v, 0.0)
    pts_e, pts_n = [e_v[0]], [n_v[0]]
    for k in range(len(e_v) - 1):
        de, dn = e_v[k + 1] - e_v[k], n_v[k + 1] - n_v[k]
        seg = np.hypot(de, dn)
        normal = np.array([-dn, de]) / seg
        for f in np.linspace(0, 1, 9)[1:]:
            bend = 0.10 * seg * np.sin(np.pi * f) * (1 if k % 2 == 0 else -1)
            pts_e.append(e_v[k] + f * de + bend * normal[0])
            pts_n.append(n_v[k] + f * dn + bend * normal[1])
    lat, lon, _ = frame.to_geographic(np.array(pts_e), np.array(pts_n), 0.0)
    along = along_fiber_km(np.array(pts_e), np.array(pts_n))
    return Route("kyushu", np.asarray(lat), np.asarray(lon), _terrain_m(along), KYUSHU_STATIONS)


def straight_route(lat0: float, lon0: float, *, azimuth_deg: float, length_km: float,
                   name: str = "straight") -> Route:
    """A straight route starting at (lat0, lon0) along an azimuth (deg from north)."""
    if not length_km > 0:
        raise ConfigError(f"straight route length must be > 0 km, got {length_km!r}")
    dist = np.linspace(0.0, length_km, max(2, int(length_km) + 1))
    lat, lon = destination(np.full(dist.size, lat0), np.full(dist.size, lon0),
                           np.full(dist.size, azimuth_deg), dist)
    return Route(name, np.asarray(lat), np.asarray(lon), np.zeros(dist.size))


def read_route_csv(path: str | Path) -> Route:
    """Read route vertices from a CSV with a header naming ``lat``, ``lon`` and optionally ``elev_m``."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read route CSV {path}: {exc}") from exc
    rows = list(csv.DictReader(text.splitlines()))
    if not rows:
        raise ConfigError(f"route CSV {path}: no vertices (needs a header 'lat,lon[,elev_m]')")
    fields = {f.strip().lower() for f in rows[0].keys() if f}
    if not {"lat", "lon"} <= fields:
        raise ConfigError(f"route CSV {path}: header must name 'lat' and 'lon', got {sorted(fields)}")
    lat, lon, elev = [], [], []
    for i, row in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        try:
            lat.append(float(row["lat"]))
            lon.append(float(row["lon"]))
            elev.append(float(row["elev_m"]) if row.get("elev_m") else 0.0)
        except ValueError as exc:
            raise ConfigError(f"route CSV {path}, line {i}: not a number ({exc})") from exc
    return Route(path.stem, np.array(lat), np.array(lon), np.array(elev))


@dataclass(frozen=True)
class FiberLayout:
    """Channel positions of one interrogator along a route.

    Attributes
    ----------
    lat, lon, elev_m : per-channel coordinates.
    channel_id : int32 channel numbers on the interrogator (index along the fiber / spacing).
    spacing_m : distance between output channels, m (after decimation).
    gauge_m : gauge length, m.
    frame : local ENU frame of the layout; ``east_km``, ``north_km``, ``up_km`` in it.
    along_km : along-fiber distance of each channel from the interrogator, km.
    tangent : (n, 3) unit fiber tangent (east, north, up).
    """

    name: str
    lat: np.ndarray
    lon: np.ndarray
    elev_m: np.ndarray
    channel_id: np.ndarray
    spacing_m: float
    gauge_m: float
    frame: LocalFrame
    east_km: np.ndarray
    north_km: np.ndarray
    up_km: np.ndarray
    along_km: np.ndarray
    tangent: np.ndarray

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return int(self.lat.size)


def make_layout(
    route: Route,
    *,
    spacing_m: float = 100.0,
    gauge_m: float = 10.0,
    start_km: float = 0.0,
    stop_km: float | None = None,
    first_channel: int = 0,
    last_channel: int | None = None,
    decimation: int = 1,
) -> FiberLayout:
    """Lay channels every ``spacing_m`` along ``route`` between ``start_km`` and ``stop_km``.

    Channels are numbered from the start of the reach; ``first_channel``/``last_channel`` (inclusive)
    and ``decimation`` then select which of them are recorded, as an interrogator's export would.
    """
    if not (0.1 <= spacing_m <= 1000.0):
        raise ConfigError(f"channel spacing {spacing_m!r} m is outside 0.1..1000 m")
    if not (0.1 <= gauge_m <= 200.0):
        raise ConfigError(f"gauge length {gauge_m!r} m is outside 0.1..200 m")
    if decimation < 1:
        raise ConfigError(f"decimation must be >= 1, got {decimation!r}")
    length = route.length_km
    stop_km = length if stop_km is None else stop_km
    if not (0.0 <= start_km < stop_km <= length + 1e-9):
        raise ConfigError(f"reach {start_km}..{stop_km} km is outside the route (0..{length:.1f} km)")
    lat, lon, elev, dist_m = resample_polyline(route.lat, route.lon, route.elev_m, spacing_m=spacing_m,
                                               start_m=start_km * 1e3, stop_m=stop_km * 1e3)
    ids = np.arange(lat.size, dtype=np.int32)
    last = ids.size - 1 if last_channel is None else last_channel
    if not (0 <= first_channel <= last < ids.size):
        raise ConfigError(f"channels {first_channel}..{last} outside the reach's 0..{ids.size - 1}")
    sel = ids[first_channel:last + 1:decimation]
    lat, lon, elev = np.asarray(lat)[sel], np.asarray(lon)[sel], np.asarray(elev)[sel]
    if sel.size < 2:
        raise ConfigError("a layout needs at least 2 channels")
    frame = LocalFrame.around(lat, lon)
    e, n, u = frame.to_enu(lat, lon, elev)
    along = (np.asarray(dist_m)[sel] - start_km * 1e3) / 1e3 + start_km
    tangent = fiber_tangent(e, n, u, smooth_km=max(0.05, 2 * spacing_m * decimation / 1e3))
    return FiberLayout(name=route.name, lat=lat, lon=lon, elev_m=elev, channel_id=sel.astype(np.int32),
                       spacing_m=spacing_m * decimation, gauge_m=gauge_m, frame=frame, east_km=e,
                       north_km=n, up_km=u, along_km=along, tangent=tangent)
