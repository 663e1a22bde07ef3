"""Tests of edge.traveltime: exact rays in simple models, TauP parity, tables, the kernel, the cache."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from edge import traveltime as tt
from edge.exceptions import ConfigError
from edge.traveltime import (
    GRID_FIELDS, TravelTimeTable, bilinear_lookup, bilinear_lookup_numpy, build_table,
    first_arrival, load_or_build_table,
)
from edge.velocity import Layer, VelocityModel

V = 6.0
HALF_SPACE = VelocityModel((Layer(-2.0, V, V / 1.73),), name="half-space")
V1, V2, H = 5.0, 8.0, 20.0
TWO_LAYER = VelocityModel((Layer(0.0, V1, V1 / 1.73), Layer(H, V2, V2 / 1.73)), name="two-layer")
DISTANCES = np.array([0.0, 0.3, 1.0, 5.0, 12.0, 40.0, 100.0, 250.0, 400.0])
SLOW = np.sqrt(1 / V1**2 - 1 / V2**2)  # vertical slowness of the critical ray in layer 1


@pytest.fixture(scope="module")
def default_table() -> TravelTimeTable:
    return build_table(VelocityModel.default())


@pytest.fixture(scope="module")
def half_space_table() -> TravelTimeTable:
    return build_table(HALF_SPACE, max_distance_km=120.0, max_depth_km=60.0, earth_flattening=False)


class TestHalfSpace:
    """Homogeneous medium: everything is analytic."""

    @pytest.mark.parametrize("depth", [0.0, 0.5, 10.0, 60.0, 149.5])
    def test_time_spreading_angles(self, depth):
        """t = R/v to 1e-6 s, L = R, takeoff 180 - atan(x/z), incidence atan(x/z), p = sin(i)/v."""
        a = first_arrival(HALF_SPACE, DISTANCES, depth, earth_flattening=False)
        hyp = np.hypot(DISTANCES, depth)
        np.testing.assert_allclose(a.time_s, hyp / V, atol=1e-6, rtol=0)
        np.testing.assert_allclose(a.spreading_km, np.maximum(hyp, 1e-3), rtol=1e-6)
        angle = np.degrees(np.arctan2(DISTANCES, depth))
        if depth == 0.0:  # source on the receiver: the ray is horizontal by convention
            angle[0] = 90.0
        np.testing.assert_allclose(a.incidence_deg, angle, atol=1e-6)
        np.testing.assert_allclose(a.takeoff_deg, 180.0 - angle if depth else angle, atol=1e-6)
        np.testing.assert_allclose(a.slowness_s_per_km, np.sin(np.radians(angle)) / V, atol=1e-9)
        assert np.all(a.kind == -1)

    def test_receiver_below_source(self):
        """A borehole receiver below the source: downgoing ray (takeoff < 90), reciprocal times."""
        down = first_arrival(HALF_SPACE, DISTANCES, 1.0, receiver_depth_km=9.0, earth_flattening=False)
        up = first_arrival(HALF_SPACE, DISTANCES, 9.0, receiver_depth_km=1.0, earth_flattening=False)
        np.testing.assert_allclose(down.time_s, np.hypot(DISTANCES, 8.0) / V, atol=1e-6)
        np.testing.assert_allclose(down.time_s, up.time_s, atol=1e-9)
        np.testing.assert_allclose(down.takeoff_deg, 180.0 - up.takeoff_deg, atol=1e-9)
        assert np.all(down.takeoff_deg[1:] < 90.0)

    def test_same_depth_and_zero_distance(self):
        """Source at the receiver depth: horizontal ray x/v; distance 0 gives t = 0, no crash."""
        a = first_arrival(HALF_SPACE, DISTANCES, 0.0, earth_flattening=False)
        np.testing.assert_allclose(a.time_s, DISTANCES / V, atol=1e-12)
        assert np.all(a.takeoff_deg == 90.0) and np.all(np.isfinite(a.spreading_km))
        assert np.all(a.spreading_km > 0)

    def test_broadcast_depths(self):
        """Distance and depth arrays broadcast; each element matches its scalar call."""
        x = np.array([[10.0], [30.0]])
        z = np.array([5.0, 15.0, 25.0])
        a = first_arrival(HALF_SPACE, x, z, phase="S", earth_flattening=False)
        assert a.time_s.shape == (2, 3)
        np.testing.assert_allclose(a.time_s, np.hypot(x, z) / (V / 1.73), atol=1e-6)

    def test_table_interpolation(self, half_space_table):
        """Bilinear table values within 5 ms of R/v away from the source (R > 2 km), NaN outside."""
        rng = np.random.default_rng(1)
        x, z = rng.uniform(0, 120, 20000), rng.uniform(-2, 60, 20000)
        hyp = np.hypot(x, z)
        err = half_space_table.travel_time_p(x, z) - hyp / V
        assert np.abs(err[hyp > 2.0]).max() < 0.005
        assert np.isnan(half_space_table.travel_time_p([121.0, 10.0, 10.0], [10.0, 61.0, -2.5])).all()

    def test_elevation_correction(self, half_space_table):
        """A station 300 m up gets dz sqrt(1/v^2 - p^2): within 0.5 ms of the exact difference
        (the plane-wave step neglects dz^2 sin^2(i) / (2 R v), 0.3 ms here)."""
        x, z = np.array([0.0, 20.0, 50.0]), 10.0
        exact = (first_arrival(HALF_SPACE, x, z, receiver_depth_km=-0.3, earth_flattening=False).time_s
                 - first_arrival(HALF_SPACE, x, z, earth_flattening=False).time_s)
        corr = half_space_table.elevation_correction_s("P", x, z, 300.0)
        np.testing.assert_allclose(corr, exact, atol=0.0005)
        assert corr[0] == pytest.approx(0.3 / V)
        assert np.all(half_space_table.elevation_correction_s("S", x, z, -500.0) < 0)


class TestTwoLayer:
    """Layer over a half-space: head-wave formulas."""

    def test_surface_source_head_wave_and_crossover(self):
        """t = x/v2 + 2h sqrt(1/v1^2 - 1/v2^2) beyond crossover x_c = 2h sqrt((v2+v1)/(v2-v1))."""
        x_cross = 2 * H * np.sqrt((V2 + V1) / (V2 - V1))
        x = np.array([10.0, 40.0, x_cross - 0.01, x_cross + 0.01, 150.0, 400.0])
        a = first_arrival(TWO_LAYER, x, 0.0, earth_flattening=False)
        head = x / V2 + 2 * H * SLOW
        expected = np.minimum(x / V1, head)
        np.testing.assert_allclose(a.time_s, expected, atol=1e-6)
        assert a.kind.tolist() == [-1, -1, -1, 1, 1, 1]
        np.testing.assert_allclose(a.slowness_s_per_km[3:], 1 / V2)
        np.testing.assert_allclose(a.incidence_deg[3:], np.degrees(np.arcsin(V1 / V2)))
        np.testing.assert_allclose(a.takeoff_deg[3:], np.degrees(np.arcsin(V1 / V2)))

    def test_source_in_layer(self):
        """Source at 8 km: head t = x/v2 + (2h - z) sqrt(...); switch at the analytic crossover."""
        zs = 8.0
        direct = lambda x: np.hypot(x, zs) / V1  # noqa: E731
        head = lambda x: x / V2 + (2 * H - zs) * SLOW  # noqa: E731
        x_cross = brentq(lambda x: direct(x) - head(x), 1.0, 500.0)
        x = np.array([x_cross - 0.01, x_cross + 0.01, 200.0])
        a = first_arrival(TWO_LAYER, x, zs, earth_flattening=False)
        np.testing.assert_allclose(a.time_s, np.minimum(direct(x), head(x)), atol=1e-6)
        assert a.kind.tolist() == [-1, 1, 1]

    def test_no_head_wave_before_critical_distance(self):
        """Before the critical distance only the direct wave exists, even if formally later."""
        fast_top = VelocityModel((Layer(0.0, 5.0, 2.9), Layer(2.0, 8.0, 4.6)))
        x_crit = 2 * 2.0 * np.tan(np.arcsin(5.0 / 8.0))
        a = first_arrival(fast_top, [x_crit - 0.1, x_crit + 0.1], 0.0, earth_flattening=False)
        assert a.kind.tolist() == [-1, -1]  # crossover lies further out

    def test_source_on_interface_and_below(self):
        """Source exactly on the interface and in the half-space: finite and reciprocal."""
        x = np.array([0.0, 10.0, 16.0, 50.0, 300.0])
        on = first_arrival(TWO_LAYER, x, H, earth_flattening=False)
        expected = np.minimum(np.hypot(x, H) / V1, np.where(x >= H * np.tan(np.arcsin(V1 / V2)),
                                                           x / V2 + H * SLOW, np.inf))
        np.testing.assert_allclose(on.time_s, expected, atol=1e-6)
        below = first_arrival(TWO_LAYER, x, 35.0, earth_flattening=False)
        swapped = first_arrival(TWO_LAYER, x, 0.0, receiver_depth_km=35.0, earth_flattening=False)
        np.testing.assert_allclose(below.time_s, swapped.time_s, atol=1e-9)
        assert np.all(np.isfinite(below.spreading_km)) and below.time_s[0] == pytest.approx(H / V1 + 15 / V2)


class TestDefaultModel:
    """The JMA2001-like model with flattening: sane regional phases and a usable table."""

    def test_pn_and_angles(self):
        """Beyond ~200 km a sub-Moho refraction arrives with apparent speed ~7.7-8.3 km/s."""
        a = first_arrival(VelocityModel.default(), [10.0, 300.0, 400.0], 10.0)
        assert a.kind[0] == -1 and np.all(a.kind[1:] >= 8)  # layer 8 starts at the Moho
        assert np.all((1 / a.slowness_s_per_km[1:] > 7.7) & (1 / a.slowness_s_per_km[1:] < 8.3))
        assert a.takeoff_deg[0] > 90 and np.all(a.takeoff_deg[1:] < 90)

    def test_table_matches_exact(self, default_table):
        """Table vs first_arrival at random points: 99 % within 1 ms, all within 25 ms (interface cells)."""
        model = VelocityModel.default()
        rng = np.random.default_rng(2)
        x, z = rng.uniform(2, 400, 300), rng.uniform(-3, 150, 300)
        exact = np.array([first_arrival(model, xi, zi).time_s for xi, zi in zip(x, z)]).ravel()
        err = np.abs(default_table.travel_time_p(x, z) - exact)
        assert np.percentile(err, 99) < 0.001 and err.max() < 0.025

    def test_grids_finite_and_spreading_monotone(self, default_table):
        """Every grid is finite; spreading positive and almost never drops by >1 % per step."""
        for name in GRID_FIELDS:
            assert np.all(np.isfinite(getattr(default_table, name))), name
        for grid in (default_table.spreading_p_km, default_table.spreading_s_km):
            assert grid.min() > 0
            drops = np.diff(grid, axis=1) / grid[:, 1:] < -0.01
            assert drops.mean() < 0.002
        assert default_table.tp.shape == (307, 801)
        assert np.all(default_table.ts[:, 1:] > default_table.tp[:, 1:])


@pytest.fixture(scope="module")
def taup():
    return pytest.importorskip("obspy.taup").TauPyModel("ak135")


@pytest.fixture(scope="module")
def ak135(taup):
    """ak135's own layers above 700 km (from ObsPy's model), gradients cut into <= 2.5 km
    constant layers at their mid-layer velocity."""
    layers = []
    for lay in taup.model.s_mod.v_mod.layers:
        top, bot = float(lay["top_depth"]), float(lay["bot_depth"])
        if top >= 700.0:
            break
        n = int(np.ceil((bot - top) / 2.5))
        for f0, f1 in zip(np.arange(n) / n, np.arange(1, n + 1) / n):
            vp = lay["top_p_velocity"] + 0.5 * (f0 + f1) * (lay["bot_p_velocity"] - lay["top_p_velocity"])
            vs = lay["top_s_velocity"] + 0.5 * (f0 + f1) * (lay["bot_s_velocity"] - lay["top_s_velocity"])
            if layers and (layers[-1].vp_kms, layers[-1].vs_kms) == (vp, vs):
                continue
            layers.append(Layer(top + f0 * (bot - top), float(vp), float(vs)))
    return VelocityModel(tuple(layers), name="ak135-flat")


class TestTauP:
    """Regional first arrivals agree with ObsPy TauP in ak135 (spherical Earth)."""

    DISTANCES_KM = np.array([20.0, 50.0, 100.0, 150.0, 200.0, 300.0, 400.0])
    PHASES = {"P": ["p", "P", "Pn", "Pg"], "S": ["s", "S", "Sn", "Sg"]}

    def reference(self, taup, depth, phase):
        km_per_deg = tt.EARTH_RADIUS_KM * np.pi / 180.0
        return np.array([min(a.time for a in taup.get_travel_times(depth, distance_in_degree=x / km_per_deg,
                                                                       phase_list=self.PHASES[phase]))
                         for x in self.DISTANCES_KM])

    @pytest.mark.parametrize("depth", [5.0, 15.0, 33.0])
    @pytest.mark.parametrize("phase", ["P", "S"])
    def test_agreement(self, taup, ak135, depth, phase):
        """Within 20 ms (measured <= 4 ms: flattening is exact for kinematics, the rest is the
        2 km sublayering); without flattening >= 0.2 s (P) / 0.35 s (S) off at 400 km."""
        ref = self.reference(taup, depth, phase)
        flat = first_arrival(ak135, self.DISTANCES_KM, depth, phase=phase)
        np.testing.assert_allclose(flat.time_s, ref, atol=0.02, rtol=0)
        plain = first_arrival(ak135, self.DISTANCES_KM, depth, phase=phase, earth_flattening=False)
        assert plain.time_s[-1] - ref[-1] > (0.2 if phase == "P" else 0.35)


class TestKernel:
    """The Numba bilinear kernel, its py_func and the NumPy twin agree."""

    def test_three_implementations_agree(self, default_table):
        """Random points in and out of the grid, NaN inputs, nodes and the far edges."""
        t = default_table
        rng = np.random.default_rng(3)
        x = np.concatenate([rng.uniform(-5, 405, 5000), [0.0, 400.0, 400.0, np.nan, 3.0]])
        z = np.concatenate([rng.uniform(-5, 155, 5000), [-3.0, 150.0, -3.0, 3.0, np.nan]])
        args = (t.tp, 0.0, 0.5, -3.0, 0.5, x, z)
        fast, slow = np.empty_like(x), np.empty_like(x)
        bilinear_lookup(*args, fast)
        bilinear_lookup.py_func(*args, slow)
        ref = bilinear_lookup_numpy(*args)
        np.testing.assert_allclose(fast, ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(slow, ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
        np.testing.assert_array_equal(t.lookup("tp", x, z), fast)
        inside = (x >= 0) & (x <= 400) & (z >= -3) & (z <= 150)
        assert np.array_equal(np.isnan(fast), ~inside)
        assert fast[-4] == t.tp[-1, -1] and fast[-3] == t.tp[0, -1]

    def test_nodes_exact_and_names(self, default_table):
        """At grid nodes the lookup returns the node; unknown fields raise ConfigError."""
        t = default_table
        assert t.lookup("ts", t.distance_km[7], t.depth_km[11]) == t.ts[11, 7]
        assert t.travel_time_s(3.0, 4.0) == t.lookup("ts", 3.0, 4.0)
        with pytest.raises(ConfigError, match="unknown table field"):
            t.lookup("tq", 1.0, 1.0)


class TestCache:
    """Saving, loading and the cache of built tables."""

    SMALL = {"max_distance_km": 30.0, "max_depth_km": 10.0, "distance_step_km": 1.0, "depth_step_km": 1.0}

    def test_save_load_round_trip(self, tmp_path):
        """save -> load restores every array and the metadata."""
        table = build_table(TWO_LAYER, **self.SMALL)
        table.save(tmp_path / "t.npz")
        back = TravelTimeTable.load(tmp_path / "t.npz")
        for name in ("distance_km", "depth_km") + GRID_FIELDS:
            np.testing.assert_array_equal(getattr(back, name), getattr(table, name))
        assert (back.model_name, back.build_key, back.vp_receiver_kms) == ("two-layer", table.build_key, V1)

    def test_hit_returns_equal_without_building(self, tmp_path, monkeypatch):
        """The second call loads the file: equal arrays, build_table not called."""
        first = load_or_build_table(TWO_LAYER, cache_dir=tmp_path, **self.SMALL)
        assert len(list(tmp_path.glob("*.npz"))) == 1

        def fail(*args, **kw):
            raise AssertionError("rebuilt on a cache hit")

        monkeypatch.setattr(tt, "build_table", fail)
        second = load_or_build_table(TWO_LAYER, cache_dir=tmp_path, **self.SMALL)
        np.testing.assert_array_equal(second.tp, first.tp)
        np.testing.assert_array_equal(second.spreading_s_km, first.spreading_s_km)

    @pytest.mark.parametrize("damage", ["garbage", "truncated", "stale"])
    def test_corrupt_or_stale_file_rebuilt(self, tmp_path, damage):
        """A damaged or stale cache file is rebuilt, returned correct, and rewritten."""
        good = load_or_build_table(TWO_LAYER, cache_dir=tmp_path, **self.SMALL)
        (path,) = tmp_path.glob("*.npz")
        if damage == "garbage":
            path.write_bytes(b"not an npz at all")
        elif damage == "truncated":
            path.write_bytes(path.read_bytes()[:300])
        else:  # a valid table of another model under this name
            build_table(HALF_SPACE, **self.SMALL).save(path)
        again = load_or_build_table(TWO_LAYER, cache_dir=tmp_path, **self.SMALL)
        np.testing.assert_array_equal(again.tp, good.tp)
        assert TravelTimeTable.load(path).build_key == good.build_key

    def test_key_depends_on_settings_and_env(self, tmp_path, monkeypatch):
        """Other settings get another file; $DAS_EEW_CACHE is the default directory."""
        monkeypatch.setenv("DAS_EEW_CACHE", str(tmp_path))
        load_or_build_table(TWO_LAYER, **self.SMALL)
        load_or_build_table(TWO_LAYER, **{**self.SMALL, "receiver_depth_km": 0.5})
        assert len(list(tmp_path.glob("*.npz"))) == 2
        with pytest.raises(TypeError):
            load_or_build_table(TWO_LAYER, cache_dir=tmp_path, max_distance=3.0)


class TestBadInput:
    """Bad arguments raise ConfigError naming the problem."""

    @pytest.mark.parametrize("kw, pattern", [
        ({"phase": "Q"}, "phase must be"),
        ({"distance_km": -1.0}, "distance_km"),
        ({"source_depth_km": np.nan}, "source_depth_km"),
        ({"receiver_depth_km": np.inf}, "receiver_depth_km"),
    ])
    def test_first_arrival(self, kw, pattern):
        """Unknown phase, negative distance, non-finite depths."""
        args = {"distance_km": 10.0, "source_depth_km": 5.0, **kw}
        with pytest.raises(ConfigError, match=pattern):
            first_arrival(HALF_SPACE, args.pop("distance_km"), args.pop("source_depth_km"), **args)

    @pytest.mark.parametrize("kw, pattern", [
        ({"distance_step_km": 0.0}, "distance step"),
        ({"max_depth_km": -10.0}, "depth range"),
        ({"depth_step_km": np.nan}, "depth step"),
    ])
    def test_build_table(self, kw, pattern):
        """Non-positive steps and empty ranges."""
        with pytest.raises(ConfigError, match=pattern):
            build_table(HALF_SPACE, **kw)
