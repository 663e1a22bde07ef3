"""Alarm gate: trust test, ground-motion decision, amplitude fallback."""
from __future__ import annotations

import numpy as np
import pytest

from edge.exceptions import ConfigError
from edge.gate import GateConfig, decide, level_from_motion, pga_gal, strong_motion_run_km, trusted

CFG = GateConfig()


def test_pga_relation():
    """Si & Midorikawa (1999) by hand: M5 at X = 10 km, D = 10 km -> 10^(2.5+0.043+0.61-log10(11.74)-0.03)."""
    expected = 10 ** (2.5 + 0.043 + 0.61 - np.log10(10 + 0.0055 * 10**2.5) - 0.03)
    assert pga_gal(5.0, 10.0, 10.0) == pytest.approx(expected, rel=1e-9)
    assert 90 < expected < 130
    d = np.array([5.0, 20.0, 80.0, 200.0])
    assert np.all(np.diff(pga_gal(6.0, d, 10.0)) < 0)           # decays with distance
    assert pga_gal(6.0, 30.0, 10.0) > pga_gal(5.0, 30.0, 10.0)  # grows with magnitude


def test_levels_from_motion():
    """A large near event stops, a moderate one is advisory, a small or far one is nothing."""
    assert level_from_motion(CFG, 5.5, 15.0, 10.0)[0] == "stop"
    assert level_from_motion(CFG, 4.0, 30.0, 10.0)[0] == "advisory"
    assert level_from_motion(CFG, 3.0, 30.0, 10.0)[0] == "none"
    assert level_from_motion(CFG, 6.6, 160.0, 45.0)[0] in ("none", "advisory")
    assert level_from_motion(CFG, float("nan"), 10.0, 10.0)[0] == "none"


def test_trust_test():
    """Curved, well-fitted, many-pick solutions are trusted; a straight curve never is."""
    ok, _ = trusted(CFG, curvature_a=0.01, misfit=0.05, n_picks=200, err_h_km=3.0)
    assert ok
    for kw in (dict(curvature_a=1e-4), dict(misfit=1.0), dict(n_picks=5), dict(err_h_km=80.0),
               dict(curvature_a=float("nan"))):
        args = dict(curvature_a=0.01, misfit=0.05, n_picks=200, err_h_km=3.0) | kw
        ok, why = trusted(CFG, **args)
        assert not ok and why


def test_untrusted_location_never_stops():
    """The Hyuga-nada case: a strong prediction from an untrusted location is only an advisory."""
    level, why = decide(CFG, trusted_location=False, magnitude=6.6, distance_km=10.0, depth_km=10.0)
    assert level == "advisory" and "not trusted" in why
    assert decide(CFG, trusted_location=True, magnitude=6.6, distance_km=10.0, depth_km=10.0)[0] == "stop"


def test_strong_motion_run():
    """The fallback measures the longest run of adjacent usable channels above the threshold."""
    along = np.arange(100) * 0.1
    peak = np.full(100, 1e-8)
    peak[20:32] = 5e-5          # 1.2 km
    peak[60:65] = 5e-5          # 0.5 km
    usable = np.ones(100, bool)
    assert strong_motion_run_km(peak, along, usable, 1e-5) == pytest.approx(1.2)
    usable[25] = False          # a dead channel splits the run
    assert strong_motion_run_km(peak, along, usable, 1e-5) == pytest.approx(0.6)
    assert strong_motion_run_km(np.zeros(100), along, usable, 1e-5) == 0.0


def test_bad_gate_settings():
    with pytest.raises(ConfigError):
        GateConfig(pga_stop_gal=5.0, pga_advisory_gal=10.0)
