"""Radiation patterns, free-surface response and the DAS axial-strain projection."""
from __future__ import annotations

import numpy as np
import pytest

from sim.radiation import axial_strain_factor, free_surface_response, radiation_pattern
from sim.source import double_couple, explosion


class TestRadiation:
    def test_explosion_radiates_only_p(self):
        """An isotropic source gives R_P = 1 and no S in every direction."""
        rp, rsv, rsh = radiation_pattern(explosion(), np.array([10.0, 95.0, 170.0]), np.array([0.0, 120.0, 250.0]))
        assert rp == pytest.approx(1.0)
        assert np.abs(rsv).max() < 1e-12 and np.abs(rsh).max() < 1e-12

    def test_strike_slip_four_lobes(self):
        """Vertical strike-slip striking N: P ~ sin(2 az) on the horizontal plane (A&R 4.33)."""
        az = np.arange(0.0, 360.0, 15.0)
        rp, _, rsh = radiation_pattern(double_couple(0, 90, 0), np.full(az.size, 90.0), az)
        assert rp == pytest.approx(np.sin(2 * np.radians(az)), abs=1e-12)
        assert rsh == pytest.approx(np.cos(2 * np.radians(az)), abs=1e-12)

    def test_energy_average(self):
        """Mean square over the focal sphere: P 4/15, S 2/5 for a unit double couple (A&R)."""
        rng = np.random.default_rng(0)
        n = 200000
        take = np.degrees(np.arccos(rng.uniform(-1, 1, n)))
        az = rng.uniform(0, 360, n)
        rp, rsv, rsh = radiation_pattern(double_couple(30, 60, 45), take, az)
        assert np.mean(rp**2) == pytest.approx(4 / 15, rel=0.02)
        assert np.mean(rsv**2 + rsh**2) == pytest.approx(2 / 5, rel=0.02)


class TestFreeSurface:
    def test_vertical_incidence_doubles(self):
        """At vertical incidence the surface motion is twice the incident wave."""
        pr, pz = free_surface_response(np.array([0.0]), 6.0, 3.46, "P")
        sr, sz = free_surface_response(np.array([0.0]), 6.0, 3.46, "SV")
        assert (pr[0], pz[0]) == (pytest.approx(0), pytest.approx(2))
        assert (sr[0], sz[0]) == (pytest.approx(-2), pytest.approx(0))

    def test_p_receiver_function_closed_form(self):
        """P free-surface coefficients equal the textbook closed forms (e.g. Kennett 1991)."""
        a, b = 6.0, 3.46
        p = np.linspace(0.01, 0.16, 7)
        ea, eb = np.sqrt(1 / a**2 - p**2), np.sqrt(1 / b**2 - p**2)
        d = (1 / b**2 - 2 * p**2) ** 2 + 4 * p**2 * ea * eb
        pr, pz = free_surface_response(p, a, b, "P")
        assert pr.real == pytest.approx(4 * a * p * ea * eb / (b**2 * d), rel=1e-10)
        assert pz.real == pytest.approx(2 * a * ea * (1 / b**2 - 2 * p**2) / (b**2 * d), rel=1e-10)

    def test_sv_postcritical_is_complex(self):
        """Beyond the SV critical angle (p > 1/vp) the response gains a phase shift."""
        sr, _ = free_surface_response(np.array([0.25]), 5.0, 2.9, "SV")
        assert abs(sr[0].imag) > 0.01


class TestAxialStrain:
    def test_p_cos_squared(self):
        """Horizontal fiber: P strain ~ cos^2 of the angle between fiber and propagation azimuth."""
        ang = np.radians(np.arange(0, 91, 10.0))
        tangent = np.stack([np.sin(ang), np.cos(ang), np.zeros_like(ang)], axis=1)
        f = axial_strain_factor(slowness_s_per_km=np.full(ang.size, 0.1), azimuth_deg=np.zeros(ang.size),
                                radial=1.0, transverse=0.0, tangent_enu=tangent, vp_kms=6, vs_kms=3.46)
        assert f == pytest.approx(-1e-4 * np.cos(ang) ** 2, abs=1e-12)

    def test_sh_sin_cos(self):
        """SH strain ~ sin cos: zero along and across the propagation direction, largest at 45 deg."""
        ang = np.radians(np.array([0.0, 45.0, 90.0]))
        tangent = np.stack([np.sin(ang), np.cos(ang), np.zeros_like(ang)], axis=1)
        f = axial_strain_factor(slowness_s_per_km=np.full(3, 0.2), azimuth_deg=np.zeros(3), radial=0.0,
                                transverse=1.0, tangent_enu=tangent, vp_kms=6, vs_kms=3.46)
        assert f[0] == pytest.approx(0, abs=1e-15) and f[2] == pytest.approx(0, abs=1e-15)
        assert abs(f[1]) == pytest.approx(0.5 * 2e-4)

    def test_plane_wave_strain_is_velocity_over_apparent_velocity(self):
        """Numerical strain of a travelling plane wave u(t - x/c) equals -v/c along the fiber."""
        c = 6000.0
        x = np.linspace(0, 100, 101)
        t = 0.3
        u = lambda xx, tt: np.exp(-((tt - xx / c - 0.2) / 0.02) ** 2)   # noqa: E731
        strain = np.gradient(u(x, t), x)
        vel = (u(x, t + 1e-6) - u(x, t - 1e-6)) / 2e-6
        f = axial_strain_factor(slowness_s_per_km=np.array([1e3 / c]), azimuth_deg=np.array([90.0]),
                                radial=1.0, transverse=0.0, tangent_enu=np.array([[1.0, 0, 0]]),
                                vp_kms=6, vs_kms=3.46)
        assert strain[1:-1] == pytest.approx(f[0] * vel[1:-1], rel=1e-3, abs=1e-9)
