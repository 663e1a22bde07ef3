"""Sources: magnitude, moment, corner frequency and moment tensors."""
from __future__ import annotations

import numpy as np
import pytest

from edge.exceptions import ConfigError
from sim.source import (brune_corner_hz, collapse, double_couple, explosion, make_source, moment_from_magnitude,
                        scalar_moment)


class TestMoment:
    def test_hanks_kanamori(self):
        """M 6.0 is 1.26e18 N m and one magnitude unit is a factor 10^1.5."""
        assert moment_from_magnitude(6.0) == pytest.approx(10 ** 18.1)
        assert moment_from_magnitude(5.0) / moment_from_magnitude(4.0) == pytest.approx(10 ** 1.5)

    def test_brune_corner_scaling(self):
        """fc ~ M0^(-1/3): an M3 at 3 MPa has fc of a few Hz, an M6 a few tenths of a Hz."""
        fc3 = brune_corner_hz(moment_from_magnitude(3.0), vs_kms=3.5, stress_drop_mpa=3.0)
        fc6 = brune_corner_hz(moment_from_magnitude(6.0), vs_kms=3.5, stress_drop_mpa=3.0)
        assert 2.0 < fc3 < 8.0
        assert 0.08 < fc6 < 0.3
        assert fc3 / fc6 == pytest.approx(10 ** 1.5, rel=1e-9)

    @pytest.mark.parametrize("mag", [-1.5, 9.6, float("nan")])
    def test_magnitude_out_of_range(self, mag):
        """Magnitudes outside -1..9.5 are refused with a message naming the range."""
        with pytest.raises(ConfigError, match="magnitude"):
            make_source(origin_time=0, lat=33, lon=130, depth_km=10, magnitude=mag)


class TestTensors:
    def test_double_couple_is_unit_and_traceless(self):
        """Any strike/dip/rake gives a traceless tensor of unit scalar moment with one zero eigenvalue."""
        rng = np.random.default_rng(3)
        for _ in range(20):
            m = double_couple(*rng.uniform([0, 0, -180], [360, 90, 180]))
            ev = np.sort(np.linalg.eigvalsh(m))
            assert np.trace(m) == pytest.approx(0, abs=1e-12)
            assert scalar_moment(m) == pytest.approx(1.0)
            assert ev == pytest.approx([-1, 0, 1], abs=1e-12)

    def test_known_mechanism(self):
        """A vertical strike-slip fault striking north (rake 0) is a pure M_xy couple (Aki & Richards)."""
        m = double_couple(0.0, 90.0, 0.0)
        assert m[0, 1] == pytest.approx(1.0)
        assert np.abs(m).sum() == pytest.approx(2.0)

    def test_explosion_and_collapse_signs(self):
        """Explosion is positive isotropic; both collapse styles are negative definite."""
        assert np.all(np.linalg.eigvalsh(explosion()) > 0)
        for style in ("implosion", "closing_crack"):
            assert np.all(np.linalg.eigvalsh(collapse(style)) < 0)
        m = collapse("closing_crack")
        assert m[2, 2] / m[0, 0] == pytest.approx(3.0)

    def test_bad_kind(self):
        """Unknown kinds and collapse styles are named in the error."""
        with pytest.raises(ConfigError, match="quarry"):
            make_source(origin_time=0, lat=33, lon=130, depth_km=1, magnitude=2, kind="quarry")
        with pytest.raises(ConfigError, match="sinkhole"):
            collapse("sinkhole")
