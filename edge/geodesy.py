"""Geodesy of a fiber: local east-north-up frame, great-circle distances, fiber geometry.

Outside the edge, positions are latitude/longitude (degrees, WGS84) and elevation (m). Inside, the
picker and locator work in a local east-north-up (ENU) frame in km around the fiber. The frame is
exact (WGS84 -> ECEF -> rotation), not a flat-earth projection: over a 300 km Shinkansen segment a
flat-earth approximation errs by hundreds of metres, which is several samples of P travel time at
the 1 km grid spacing of the locator.

Epicentral distances and azimuths use the mean sphere (radius 6371 km), as seismological
catalogues and travel-time tables do.

Examples
--------
>>> frame = LocalFrame(lat0=33.0, lon0=130.5)
>>> e, n, u = frame.to_enu(33.1, 130.5)
>>> round(float(n), 2)
11.09
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "EARTH_RADIUS_KM",
    "LocalFrame",
    "epicentral_km",
    "azimuth_deg",
    "destination",
    "along_fiber_km",
    "fiber_tangent",
    "resample_polyline",
]

EARTH_RADIUS_KM = 6371.0
"""Mean Earth radius (km) used for great-circle distances."""

_WGS84_A_M = 6378137.0
_WGS84_F = 1.0 / 298.257223563
_WGS84_E2 = _WGS84_F * (2.0 - _WGS84_F)


def _wrap_lon(lon_deg: np.ndarray) -> np.ndarray:
    """Longitude difference wrapped to [-180, 180) degrees."""
    return (np.asarray(lon_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0


def _geodetic_to_ecef(lat, lon, elev_m):
    """WGS84 geodetic (deg, deg, m) -> ECEF (m)."""
    phi = np.radians(lat)
    lam = np.radians(lon)
    sin_phi = np.sin(phi)
    n = _WGS84_A_M / np.sqrt(1.0 - _WGS84_E2 * sin_phi**2)
    x = (n + elev_m) * np.cos(phi) * np.cos(lam)
    y = (n + elev_m) * np.cos(phi) * np.sin(lam)
    z = (n * (1.0 - _WGS84_E2) + elev_m) * sin_phi
    return x, y, z


def _ecef_to_geodetic(x, y, z):
    """ECEF (m) -> WGS84 geodetic (deg, deg, m).

    Fixed-point iteration on latitude in the form phi = atan2(z + e2 N sin(phi), p), which is
    stable at the poles; height from h = p cos(phi) + z sin(phi) - a sqrt(1 - e2 sin^2(phi)),
    which has no 1/cos(phi). Six iterations reach < 1e-12 rad for |h| < 100 km.
    """
    p = np.hypot(x, y)
    lon = np.degrees(np.arctan2(y, x))
    phi = np.arctan2(z, p * (1.0 - _WGS84_E2))
    for _ in range(6):
        sin_phi = np.sin(phi)
        n = _WGS84_A_M / np.sqrt(1.0 - _WGS84_E2 * sin_phi**2)
        phi = np.arctan2(z + _WGS84_E2 * n * sin_phi, p)
    sin_phi = np.sin(phi)
    h = p * np.cos(phi) + z * sin_phi - _WGS84_A_M * np.sqrt(1.0 - _WGS84_E2 * sin_phi**2)
    return np.degrees(phi), lon, h


@dataclass(frozen=True)
class LocalFrame:
    """WGS84 local tangent plane (east, north, up in km) around an origin.

    Parameters
    ----------
    lat0, lon0 : float
        Origin latitude and longitude, degrees (WGS84).
    elev0_m : float
        Origin height above the ellipsoid, m.
    """

    lat0: float
    lon0: float
    elev0_m: float = 0.0

    def __post_init__(self) -> None:
        for name in ("lat0", "lon0", "elev0_m"):
            value = float(getattr(self, name))
            if not np.isfinite(value):
                raise ValueError(f"LocalFrame: {name} must be finite, got {value}")
            object.__setattr__(self, name, value)
        if not -90.0 <= self.lat0 <= 90.0:
            raise ValueError(f"LocalFrame: lat0 must be in [-90, 90] deg, got {self.lat0}")

    @classmethod
    def around(cls, lat, lon, elev_m=None) -> LocalFrame:
        """Frame centred on the bounding box of points (degrees); elev0 = mean elevation or 0 m.

        Longitudes are unwrapped about the first point, so a fiber that crosses the antimeridian
        gets its origin on the fiber side, not on the far side of the Earth.
        """
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        if lat.size == 0 or lat.shape != lon.shape:
            raise ValueError("LocalFrame.around: lat and lon must be non-empty and of equal shape")
        if not (np.all(np.isfinite(lat)) and np.all(np.isfinite(lon))):
            raise ValueError("LocalFrame.around: lat/lon contain NaN or Inf")
        lon_rel = _wrap_lon(lon - lon.flat[0])
        lon0 = float(lon.flat[0] + 0.5 * (lon_rel.min() + lon_rel.max()))
        lat0 = 0.5 * float(lat.min() + lat.max())
        elev0 = 0.0
        if elev_m is not None:
            elev = np.asarray(elev_m, dtype=np.float64)
            if not np.all(np.isfinite(elev)):
                raise ValueError("LocalFrame.around: elev_m contains NaN or Inf")
            elev0 = float(np.mean(elev))
        return cls(lat0=lat0, lon0=float(_wrap_lon(lon0)), elev0_m=elev0)

    def _rotation(self):
        phi, lam = np.radians(self.lat0), np.radians(self.lon0)
        return np.sin(phi), np.cos(phi), np.sin(lam), np.cos(lam)

    def to_enu(self, lat, lon, elev_m=0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Geographic (deg, deg, m) -> local (east_km, north_km, up_km); broadcasts."""
        x, y, z = _geodetic_to_ecef(
            np.asarray(lat, dtype=np.float64),
            np.asarray(lon, dtype=np.float64),
            np.asarray(elev_m, dtype=np.float64),
        )
        x0, y0, z0 = _geodetic_to_ecef(self.lat0, self.lon0, self.elev0_m)
        dx, dy, dz = x - x0, y - y0, z - z0
        sp, cp, sl, cl = self._rotation()
        east = -sl * dx + cl * dy
        north = -sp * cl * dx - sp * sl * dy + cp * dz
        up = cp * cl * dx + cp * sl * dy + sp * dz
        return east / 1e3, north / 1e3, up / 1e3

    def to_geographic(
        self, east_km, north_km, up_km=0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Local (east_km, north_km, up_km) -> geographic (lat deg, lon deg, elev m); broadcasts.

        Exact inverse of :meth:`to_enu` (round trip well below 1 mm over 300 km). Longitudes are
        returned within 180 deg of ``lon0``, so a frame around lon0 = 200 returns lon ~ 200.
        """
        e = np.asarray(east_km, dtype=np.float64) * 1e3
        n = np.asarray(north_km, dtype=np.float64) * 1e3
        u = np.asarray(up_km, dtype=np.float64) * 1e3
        sp, cp, sl, cl = self._rotation()
        x0, y0, z0 = _geodetic_to_ecef(self.lat0, self.lon0, self.elev0_m)
        x = x0 - sl * e - sp * cl * n + cp * cl * u
        y = y0 + cl * e - sp * sl * n + cp * sl * u
        z = z0 + cp * n + sp * u
        lat, lon, h = _ecef_to_geodetic(x, y, z)
        lon = self.lon0 + _wrap_lon(lon - self.lon0)
        return lat, lon, h


def epicentral_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance (km) on the mean sphere (haversine); degrees in, broadcasts.

    Examples
    --------
    >>> round(float(epicentral_km(0.0, 0.0, 0.0, 1.0)), 3)
    111.195
    """
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dphi = phi2 - phi1
    dlam = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    a = np.sin(dphi / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlam / 2.0) ** 2
    # Haversine stays accurate for short distances, where the cosine formula loses digits.
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def azimuth_deg(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Forward azimuth from point 1 to point 2, degrees clockwise from north in [0, 360)."""
    phi1, phi2 = np.radians(lat1), np.radians(lat2)
    dlam = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    y = np.sin(dlam) * np.cos(phi2)
    x = np.cos(phi1) * np.sin(phi2) - np.sin(phi1) * np.cos(phi2) * np.cos(dlam)
    az = np.degrees(np.arctan2(y, x)) % 360.0
    # -1e-17 % 360 rounds to 360.0, outside the promised half-open range.
    return np.where(az >= 360.0, 0.0, az)


def destination(lat, lon, azimuth_deg, distance_km) -> tuple[np.ndarray, np.ndarray]:
    """Point reached from (lat, lon) along ``azimuth_deg`` after ``distance_km`` on the sphere.

    Returns latitude (deg) and longitude (deg, wrapped to [-180, 180)).
    """
    phi1 = np.radians(lat)
    lam1 = np.radians(lon)
    theta = np.radians(azimuth_deg)
    delta = np.asarray(distance_km, dtype=np.float64) / EARTH_RADIUS_KM
    sin_phi2 = np.sin(phi1) * np.cos(delta) + np.cos(phi1) * np.sin(delta) * np.cos(theta)
    phi2 = np.arcsin(np.clip(sin_phi2, -1.0, 1.0))
    lam2 = lam1 + np.arctan2(
        np.sin(theta) * np.sin(delta) * np.cos(phi1), np.cos(delta) - np.sin(phi1) * sin_phi2
    )
    return np.degrees(phi2), _wrap_lon(np.degrees(lam2))


def _stack_positions(east_km, north_km, up_km) -> np.ndarray:
    east = np.atleast_1d(np.asarray(east_km, dtype=np.float64))
    north = np.atleast_1d(np.asarray(north_km, dtype=np.float64))
    up = np.zeros_like(east) if up_km is None else np.atleast_1d(np.asarray(up_km, dtype=np.float64))
    if east.ndim != 1 or east.shape != north.shape or east.shape != up.shape:
        raise ValueError("east_km, north_km and up_km must be 1-D and of equal length")
    return np.stack([east, north, up], axis=1)


def along_fiber_km(east_km, north_km, up_km=None) -> np.ndarray:
    """Cumulative distance (km) along the channel positions, starting at 0 at channel 0."""
    pos = _stack_positions(east_km, north_km, up_km)
    steps = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    return np.concatenate([[0.0], np.cumsum(steps)])


def fiber_tangent(east_km, north_km, up_km=None, *, smooth_km: float = 0.0) -> np.ndarray:
    """Unit tangent (n, 3) of the fiber at each channel, in (east, north, up).

    Parameters
    ----------
    east_km, north_km, up_km : array_like, shape (n,)
        Channel positions in a local frame, km; ``up_km`` None means a level fiber.
    smooth_km : float, keyword-only
        If > 0, the tangent at a channel is the chord between the points ``smooth_km / 2``
        before and after it along the fiber (clipped at the ends). Surveyed channel positions
        jitter by metres at 1-10 m channel spacing, which would swing a neighbour-difference
        tangent by tens of degrees; the strain response depends on this angle.

    Raises
    ------
    ValueError
        Fewer than 2 channels, or every channel at the same point.
    """
    pos = _stack_positions(east_km, north_km, up_km)
    n = pos.shape[0]
    if n < 2:
        raise ValueError(f"fiber_tangent needs at least 2 channels, got {n}")
    if smooth_km < 0 or not np.isfinite(smooth_km):
        raise ValueError(f"smooth_km must be finite and >= 0, got {smooth_km}")
    if smooth_km > 0:
        s = along_fiber_km(pos[:, 0], pos[:, 1], pos[:, 2])
        keep = np.concatenate([[True], np.diff(s) > 0])
        s_k, p_k = s[keep], pos[keep]
        if s_k.size < 2:
            raise ValueError("fiber_tangent: all channels are at the same point")
        lo = np.clip(s - 0.5 * smooth_km, 0.0, s_k[-1])
        hi = np.clip(s + 0.5 * smooth_km, 0.0, s_k[-1])
        chord = np.stack(
            [np.interp(hi, s_k, p_k[:, k]) - np.interp(lo, s_k, p_k[:, k]) for k in range(3)],
            axis=1,
        )
    else:
        chord = np.gradient(pos, axis=0)
    norm = np.linalg.norm(chord, axis=1)
    good = norm > 0
    if not np.any(good):
        raise ValueError("fiber_tangent: all channels are at the same point")
    if not np.all(good):
        # Channels stacked on one point (a coil or a surveyed duplicate) take the tangent of the
        # nearest channel where it is defined rather than a meaningless zero vector.
        idx_good = np.flatnonzero(good)
        nearest = idx_good[np.abs(np.arange(n)[:, None] - idx_good[None, :]).argmin(axis=1)]
        chord, norm = chord[nearest], norm[nearest]
    return chord / norm[:, None]


def resample_polyline(
    lat,
    lon,
    elev_m,
    *,
    spacing_m: float,
    start_m: float = 0.0,
    stop_m: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points every ``spacing_m`` along a polyline of route vertices, for channel layouts.

    The polyline is linear between vertices in the local ENU frame around the vertices, and the
    distance is the 3-D length along it (a fiber follows gradients; its length includes them).

    Parameters
    ----------
    lat, lon : array_like, shape (m,)
        Vertex coordinates, degrees.
    elev_m : array_like or float
        Vertex elevations, m.
    spacing_m : float, keyword-only
        Distance between output points along the polyline, m (> 0).
    start_m, stop_m : float, keyword-only
        Along-line distance of the first point and the last allowed one, m; ``stop_m`` None
        means the end of the polyline.

    Returns
    -------
    lat, lon, elev_m, distance_m : np.ndarray
        Output points and their along-line distance from the first vertex, m.
    """
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    elev = np.broadcast_to(np.asarray(elev_m, dtype=np.float64), lat.shape)
    if lat.ndim != 1 or lat.size < 2 or lon.shape != lat.shape:
        raise ValueError("resample_polyline needs at least 2 vertices with lat, lon of equal length")
    if not (np.isfinite(spacing_m) and spacing_m > 0):
        raise ValueError(f"spacing_m must be finite and > 0, got {spacing_m}")
    frame = LocalFrame.around(lat, lon, elev)
    e, n, u = frame.to_enu(lat, lon, elev)
    s_m = along_fiber_km(e, n, u) * 1e3
    # Repeated vertices give zero-length segments, which np.interp cannot take as abscissae.
    keep = np.concatenate([[True], np.diff(s_m) > 0])
    s_m, e, n, u = s_m[keep], e[keep], n[keep], u[keep]
    total_m = float(s_m[-1])
    if total_m <= 0:
        raise ValueError("resample_polyline: the polyline has zero length")
    stop = total_m if stop_m is None else float(stop_m)
    # Callers often pass a length measured in another frame: equal up to rounding (ENU lengths
    # are ECEF lengths), so allow 1 um or 1e-9 of the length before calling it too long.
    if not (0.0 <= start_m <= stop <= total_m + max(1e-6, 1e-9 * total_m)):
        raise ValueError(
            f"need 0 <= start_m <= stop_m <= line length ({total_m:.3f} m), "
            f"got start_m={start_m}, stop_m={stop_m}"
        )
    # The 1e-9 lets a stop that is a whole number of spacings away survive float rounding.
    count = int(np.floor((stop - start_m) / spacing_m + 1e-9)) + 1
    dist = start_m + spacing_m * np.arange(count, dtype=np.float64)
    dist = np.minimum(dist, total_m)
    out = frame.to_geographic(np.interp(dist, s_m, e), np.interp(dist, s_m, n), np.interp(dist, s_m, u))
    return out[0], out[1], out[2], dist
