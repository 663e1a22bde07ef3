"""Tests of geodesy: local ENU frame, great-circle distance and azimuth, fiber geometry."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.geodesy import (
    EARTH_RADIUS_KM,
    LocalFrame,
    along_fiber_km,
    azimuth_deg,
    destination,
    epicentral_km,
    fiber_tangent,
    resample_polyline,
)

HAKATA = (33.590, 130.421)
KAGOSHIMA_CHUO = (31.584, 130.541)


def haversine_ref(lat1, lon1, lat2, lon2):
    """Textbook haversine, scalar, written independently of the module."""
    import math

    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def _meridian_km_per_deg(lat_deg: float) -> float:
    """WGS84 meridional radius of curvature M(lat) as km per degree, from the textbook formula."""
    a, f = 6378.137, 1 / 298.257223563
    e2 = f * (2 - f)
    m = a * (1 - e2) / (1 - e2 * np.sin(np.radians(lat_deg)) ** 2) ** 1.5
    return float(m * np.pi / 180.0)


class TestLocalFrame:
    def test_round_trip_below_1mm_over_300km(self):
        """to_geographic(to_enu(x)) returns x within 1 mm over a 300 km box and 3 km of relief."""
        rng = np.random.default_rng(1)
        frame = LocalFrame(lat0=32.6, lon0=130.5, elev0_m=100.0)
        e = rng.uniform(-150, 150, 2000)
        n = rng.uniform(-150, 150, 2000)
        u = rng.uniform(-30, 3, 2000)
        lat, lon, h = frame.to_geographic(e, n, u)
        e2, n2, u2 = frame.to_enu(lat, lon, h)
        err_m = np.sqrt((e2 - e) ** 2 + (n2 - n) ** 2 + (u2 - u) ** 2) * 1e3
        assert err_m.max() < 1e-3

    @settings(max_examples=50, deadline=None)
    @given(lat0=st.floats(-89.0, 89.0), lon0=st.floats(-180.0, 359.0),
           dlat=st.floats(-1.3, 1.3), dlon=st.floats(-1.3, 1.3), h=st.floats(-5000.0, 4000.0))
    def test_round_trip_geographic_anywhere(self, lat0, lon0, dlat, dlon, h):
        """Geographic -> ENU -> geographic is exact to < 1 mm anywhere, poles and 0/360 included."""
        frame = LocalFrame(lat0=lat0, lon0=lon0)
        lat = float(np.clip(lat0 + dlat, -90, 90))
        lon = lon0 + dlon
        e, n, u = frame.to_enu(lat, lon, h)
        lat2, lon2, h2 = frame.to_geographic(e, n, u)
        e3, n3, u3 = frame.to_enu(lat2, lon2, h2)
        assert np.hypot(np.hypot(e3 - e, n3 - n), u3 - u) * 1e6 < 1.0
        assert abs(h2 - h) < 1e-3

    def test_point_north(self):
        """A point 10 km north along the WGS84 meridian is at north_km 10.0, east 0.

        The frame is ellipsoidal; the haversine uses the 6371 km sphere. At 33.6 N the meridional
        radius is ~6354 km, so the two differ by ~0.27 % north-south: checked to the 0.5 % bound.
        """
        lat0 = HAKATA[0]
        lat = lat0 + 10.0 / _meridian_km_per_deg(lat0 + 0.045)  # midpoint rule: arc error < 1e-9 km
        frame = LocalFrame(lat0=lat0, lon0=HAKATA[1])
        e, n, u = frame.to_enu(lat, HAKATA[1])
        assert abs(e) < 1e-9
        assert n == pytest.approx(10.0, abs=1e-5)  # chord vs arc differs by s^3/24R^2 ~ 1e-6 km
        assert -0.01 < u < 0  # the Earth curves away: 10 km off, the point is ~8 m below the plane
        ratio = n / haversine_ref(*HAKATA, lat, HAKATA[1])
        # The sphere (6371 km) is larger than the meridional radius here, so haversine reads long.
        assert 0.995 < ratio < 0.999

    def test_origin_maps_to_zero_and_east_is_east(self):
        """The origin is (0, 0, 0); a point east of it has positive east and ~zero north."""
        frame = LocalFrame(lat0=31.0, lon0=130.0, elev0_m=50.0)
        np.testing.assert_allclose(frame.to_enu(31.0, 130.0, 50.0), 0.0, atol=1e-12)
        e, n, _ = frame.to_enu(31.0, 130.1, 50.0)
        assert e == pytest.approx(9.55, abs=0.01) and abs(n) < 0.01

    def test_around_centres_bounding_box(self):
        """around() puts the origin at the bounding-box centre and mean elevation."""
        frame = LocalFrame.around([31.0, 33.0, 32.0], [130.0, 131.0, 130.2], [0.0, 30.0, 60.0])
        assert (frame.lat0, frame.lon0, frame.elev0_m) == pytest.approx((32.0, 130.5, 30.0))
        assert LocalFrame.around([0.0], [0.0]).elev0_m == 0.0

    def test_around_across_antimeridian(self):
        """A fiber across 180 deg gets its origin on the fiber, not on the far side of the Earth."""
        frame = LocalFrame.around([50.0, 50.0], [179.0, -179.0])
        assert abs(abs(frame.lon0) - 180.0) < 1e-9
        e, _, _ = frame.to_enu(50.0, -179.0)
        assert 0 < e < 100

    def test_bad_origin(self):
        """A non-finite or out-of-range origin is refused."""
        with pytest.raises(ValueError, match="lat0"):
            LocalFrame(lat0=95.0, lon0=0.0)
        with pytest.raises(ValueError, match="lon0"):
            LocalFrame(lat0=0.0, lon0=float("nan"))


class TestSphere:
    def test_hakata_kagoshima(self):
        """Hakata - Kagoshima-Chuo is ~223 km, matching an independent haversine."""
        d = float(epicentral_km(*HAKATA, *KAGOSHIMA_CHUO))
        assert d == pytest.approx(haversine_ref(*HAKATA, *KAGOSHIMA_CHUO), rel=1e-12)
        assert d == pytest.approx(223.4, abs=1.0)

    def test_against_obspy(self):
        """Distance within 0.5 % and azimuth within 0.5 deg of obspy's WGS84 geodesic."""
        geodetics = pytest.importorskip("obspy.geodetics")
        dist_m, az, _ = geodetics.gps2dist_azimuth(*HAKATA, *KAGOSHIMA_CHUO)
        assert float(epicentral_km(*HAKATA, *KAGOSHIMA_CHUO)) == pytest.approx(dist_m / 1e3, rel=5e-3)
        assert float(azimuth_deg(*HAKATA, *KAGOSHIMA_CHUO)) == pytest.approx(az, abs=0.5)

    def test_vectorized(self):
        """Arrays broadcast; one degree of arc is 2 pi R / 360."""
        d = epicentral_km(0.0, 0.0, np.zeros(3), np.array([0.0, 1.0, 180.0]))
        np.testing.assert_allclose(d, [0.0, 2 * np.pi * EARTH_RADIUS_KM / 360, np.pi * EARTH_RADIUS_KM])

    @pytest.mark.parametrize("lat", [-60.0, 0.0, 33.6])
    def test_cardinal_azimuths(self, lat):
        """Due east is 90, due north 0, due south 180, due west 270."""
        assert float(azimuth_deg(lat, 130.0, lat, 130.01)) == pytest.approx(90.0, abs=0.01)
        assert float(azimuth_deg(lat, 130.0, lat + 0.1, 130.0)) == 0.0
        assert float(azimuth_deg(lat, 130.0, lat - 0.1, 130.0)) == pytest.approx(180.0)
        assert float(azimuth_deg(lat, 130.0, lat, 129.99)) == pytest.approx(270.0, abs=0.01)

    def test_azimuth_range(self):
        """Azimuths are in [0, 360) even for points a hair west of north."""
        az = azimuth_deg(0.0, 0.0, np.array([1.0, 1.0]), np.array([-1e-15, 0.0]))
        assert np.all((az >= 0) & (az < 360))

    @settings(max_examples=100, deadline=None)
    @given(lat=st.floats(-80, 80), lon=st.floats(-180, 179), az=st.floats(0, 359.99),
           dist=st.floats(0.5, 5000.0))
    def test_destination_consistent(self, lat, lon, az, dist):
        """destination() lands at the asked distance and on the asked initial azimuth."""
        lat2, lon2 = destination(lat, lon, az, dist)
        assert float(epicentral_km(lat, lon, lat2, lon2)) == pytest.approx(dist, rel=1e-9, abs=1e-6)
        diff = (float(azimuth_deg(lat, lon, lat2, lon2)) - az + 180) % 360 - 180
        assert abs(diff) < 1e-6
        assert -180 <= lon2 < 180


class TestFiberGeometry:
    def test_along_fiber_straight_line(self):
        """Channels every 5 m on a slanted straight line are 5 m apart along the fiber."""
        s = np.arange(101) * 0.005
        direction = np.array([3.0, 4.0, 1.0]) / np.sqrt(26.0)
        d = along_fiber_km(*(s[:, None] * direction).T)
        assert d[0] == 0.0
        np.testing.assert_allclose(d, s, atol=1e-12)
        np.testing.assert_allclose(along_fiber_km([0.0, 3.0], [0.0, 4.0]), [0.0, 5.0])

    @pytest.mark.parametrize("smooth_km", [0.0, 0.05])
    def test_tangent_straight_line(self, smooth_km):
        """The tangent of a straight line is its unit direction at every channel, ends included."""
        s = np.arange(50) * 0.01
        direction = np.array([1.0, -2.0, 0.5]) / np.sqrt(5.25)
        t = fiber_tangent(*(s[:, None] * direction).T, smooth_km=smooth_km)
        assert t.shape == (50, 3)
        np.testing.assert_allclose(t, np.broadcast_to(direction, (50, 3)), atol=1e-12)

    @pytest.mark.parametrize("smooth_km", [0.0, 0.3])
    def test_tangent_circle_perpendicular_to_radius(self, smooth_km):
        """On a circle the tangent is a unit vector perpendicular to the radius (away from ends)."""
        theta = np.linspace(0, 1.5 * np.pi, 400)
        r = 2.0
        t = fiber_tangent(r * np.cos(theta), r * np.sin(theta), smooth_km=smooth_km)
        np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0)
        inner = slice(20, -20)
        radial = np.stack([np.cos(theta), np.sin(theta)], axis=1)[inner]
        assert np.abs(np.sum(t[inner, :2] * radial, axis=1)).max() < 1e-6
        # Counter-clockwise travel: tangent = (-sin, cos).
        np.testing.assert_allclose(t[inner, 0], -np.sin(theta[inner]), atol=1e-4)

    def test_tangent_smoothing_suppresses_jitter(self):
        """Metre-scale position jitter swings the raw tangent; smoothing over 200 m restores it."""
        rng = np.random.default_rng(3)
        s = np.arange(400) * 0.005
        east = s + rng.normal(0, 0.001, s.size)
        north = rng.normal(0, 0.001, s.size)
        raw = fiber_tangent(east, north)
        smooth = fiber_tangent(east, north, smooth_km=0.2)
        assert np.degrees(np.arccos(raw[:, 0].min())) > 10
        assert np.degrees(np.arccos(smooth[50:-50, 0].min())) < 2

    def test_tangent_duplicates_and_degenerate(self):
        """Stacked channels borrow a neighbour's tangent; one channel or one point raises."""
        t = fiber_tangent([0.0, 0.0, 0.0, 1.0, 2.0], [0.0] * 5)
        np.testing.assert_allclose(t[:, 0], 1.0)
        with pytest.raises(ValueError, match="at least 2"):
            fiber_tangent([1.0], [1.0])
        with pytest.raises(ValueError, match="same point"):
            fiber_tangent([1.0, 1.0], [2.0, 2.0])


class TestResamplePolyline:
    def test_spacing_exact_on_straight_line(self):
        """Points along a straight N-S route are spacing_m apart, also by 3-D chord."""
        lat, lon, elev, dist = resample_polyline([33.0, 33.1], [130.5, 130.5], [0.0, 0.0], spacing_m=10.0)
        ends = LocalFrame.around([33.0, 33.1], [130.5, 130.5]).to_enu([33.0, 33.1], 130.5)
        total_m = along_fiber_km(*ends)[-1] * 1e3
        assert dist.size == int(total_m // 10) + 1 and dist[0] == 0.0
        np.testing.assert_allclose(np.diff(dist), 10.0, rtol=1e-12)
        frame = LocalFrame.around(lat, lon)
        chord_m = np.diff(along_fiber_km(*frame.to_enu(lat, lon, elev))) * 1e3
        np.testing.assert_allclose(chord_m, 10.0, atol=1e-6)
        assert lat[0] == pytest.approx(33.0, abs=1e-12)

    def test_bent_route_start_stop(self):
        """On an L-shaped route the along-line distance steps by spacing from start_m to <= stop_m."""
        lat0, lon0 = 33.0, 130.5
        lat_c, lon_c = destination(lat0, lon0, 0.0, 2.0)
        lat_e, lon_e = destination(float(lat_c), float(lon_c), 90.0, 3.0)
        lat, lon, elev, dist = resample_polyline(
            [lat0, float(lat_c), float(lat_e)], [lon0, float(lon_c), float(lon_e)], [10.0, 30.0, 20.0],
            spacing_m=250.0, start_m=100.0, stop_m=4000.0,
        )
        np.testing.assert_allclose(dist, 100.0 + 250.0 * np.arange(16))
        # Points on the first leg are due north of the start, 3-D distance matched including elevation.
        first_leg = dist < 1900
        assert np.allclose(lon[first_leg], lon0, atol=1e-6)
        assert np.all(np.diff(elev[first_leg]) > 0)

    def test_bad_arguments(self):
        """Non-positive spacing, stop beyond the line and too few vertices are refused."""
        with pytest.raises(ValueError, match="spacing_m"):
            resample_polyline([33.0, 33.1], [130.0, 130.0], 0.0, spacing_m=0.0)
        with pytest.raises(ValueError, match="stop_m"):
            resample_polyline([33.0, 33.1], [130.0, 130.0], 0.0, spacing_m=5.0, stop_m=1e6)
        with pytest.raises(ValueError, match="2 vertices"):
            resample_polyline([33.0], [130.0], 0.0, spacing_m=5.0)
