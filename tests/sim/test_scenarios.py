"""Scenario sets: the kyushu-2022 setting, random events, noise, and routes."""
from __future__ import annotations

import numpy as np
import pytest

from edge.exceptions import ConfigError
from edge.geodesy import epicentral_km
from sim.route import Route, kyushu_route, make_layout, read_route_csv, straight_route
from sim.scenarios import kyushu_2022, noise_only, random_events, scenario


class TestRoutes:
    def test_kyushu_route(self):
        """Hakata to Kagoshima-Chuo through the stations: ~250 km, mostly N-S."""
        r = kyushu_route()
        assert 240 < r.length_km < 270
        assert r.lat.max() - r.lat.min() > 5 * (r.lon.max() - r.lon.min()) / 3
        assert r.station_km("Hakata") == 0.0
        assert r.station_km("Kagoshima-Chuo") == pytest.approx(r.length_km)

    def test_layout_spacing_and_selection(self):
        """Channels every spacing_m; first/last/decimation select an interrogator's export."""
        route = straight_route(33.0, 130.5, azimuth_deg=30.0, length_km=10.0)
        full = make_layout(route, spacing_m=20.0)
        sub = make_layout(route, spacing_m=20.0, first_channel=10, last_channel=109, decimation=5)
        assert full.n_channels == int(np.floor(route.length_km / 0.02 + 1e-9)) + 1
        assert np.diff(full.along_km) == pytest.approx(0.02, abs=1e-9)
        assert sub.channel_id.tolist() == list(range(10, 110, 5))
        assert sub.spacing_m == 100.0
        assert np.linalg.norm(full.tangent, axis=1) == pytest.approx(1.0)

    def test_route_csv(self, tmp_path):
        """A CSV of vertices makes a route; malformed CSVs give errors naming the problem."""
        good = tmp_path / "line.csv"
        good.write_text("lat,lon,elev_m\n33.0,130.0,10\n33.1,130.05,12\n33.2,130.1,15\n")
        assert read_route_csv(good).length_km > 20
        bad = tmp_path / "bad.csv"
        bad.write_text("lat,lon\n33.0,abc\n33.1,130.2\n")
        with pytest.raises(ConfigError, match="line 2"):
            read_route_csv(bad)
        nohdr = tmp_path / "nohdr.csv"
        nohdr.write_text("x,y\n1,2\n3,4\n")
        with pytest.raises(ConfigError, match="lat"):
            read_route_csv(nohdr)
        one = tmp_path / "one.csv"
        one.write_text("lat,lon\n33,130\n")
        with pytest.raises(ConfigError, match="at least 2"):
            read_route_csv(one)
        with pytest.raises(ConfigError, match="NaN"):
            Route("x", np.array([33.0, np.nan]), np.array([130.0, 130.1]), np.zeros(2))


@pytest.fixture(scope="module")
def items():
    return kyushu_2022(seed=0)


class TestKyushu2022:
    def test_event_mix(self, items):
        """26 events: 15 within 100 km (M2.5-5, 5-20 km deep), 10 at 100-300 km, one M6.6 at 45 km."""
        assert len(items) == 26
        dist = []
        for it in items:
            src = it.sources[0]
            dist.append(float(np.min(epicentral_km(src.lat, src.lon, it.layout.lat, it.layout.lon))))
        dist = np.array(dist)
        near = [it.sources[0] for it, d in zip(items, dist) if d < 100]
        assert len(near) == 15
        assert all(2.5 <= s.magnitude <= 5.0 and 5 <= s.depth_km <= 20 for s in near)
        assert np.sum((dist >= 100) & (dist <= 300)) == 11
        big = [it.sources[0] for it in items if it.sources[0].magnitude == 6.6]
        assert len(big) == 1 and big[0].depth_km == 45.0

    def test_reach_and_trains(self, items):
        """One reach of ~90-100 km, Kurume to Shin-Yatsushiro; several records with trains at P time."""
        lay = items[0].layout
        assert 85 < lay.along_km[-1] - lay.along_km[0] < 105
        assert all(it.layout is lay for it in items)
        assert sum(any(ld.kind == "train" for ld in it.loads) for it in items) >= 10
        assert all(80 <= it.duration_s <= 100 for it in items)

    def test_seed_changes_events(self):
        """Another seed draws other events; the same seed the same ones."""
        a = [it.sources[0].lat for it in kyushu_2022(seed=1)]
        b = [it.sources[0].lat for it in kyushu_2022(seed=1)]
        c = [it.sources[0].lat for it in kyushu_2022(seed=2)]
        assert a == b and a != c


class TestOtherScenarios:
    def test_random_box(self):
        """Random events lie within the margin box and the requested ranges."""
        items = random_events(n_events=5, seed=3, magnitude=(2.0, 3.0), depth_km=(5.0, 6.0))
        for it in items:
            s = it.sources[0]
            assert 2.0 <= s.magnitude <= 3.0 and 5.0 <= s.depth_km <= 6.0
            assert np.min(epicentral_km(s.lat, s.lon, it.layout.lat, it.layout.lon)) < 160

    def test_noise_has_trains_no_events(self):
        """The noise scenario covers the hours asked with trains and no events."""
        items = noise_only(hours=1.0, record_s=600.0)
        assert len(items) == 6 and all(not it.sources for it in items)
        assert all(any(ld.kind == "train" for ld in it.loads) for it in items)

    def test_unknown_scenario(self):
        """Unknown names are refused with the list of known ones."""
        with pytest.raises(ConfigError, match="kyushu-2022"):
            scenario("tohoku-2011")
