"""Magnitude from P strain-rate peaks with the calibrated DAS scaling relation."""
from __future__ import annotations

import numpy as np
import pytest

from edge.exceptions import ConfigError
from edge.magnitude import MagnitudeRelation


def test_shipped_relation_is_plausible():
    """The calibrated relation grows with M and decays with distance, like Yin et al.'s."""
    rel = MagnitudeRelation.default()
    assert 0.2 < rel.a < 1.2 and -2.0 < rel.b < -0.3
    assert rel.peak_at(5.0, 50.0) > rel.peak_at(4.0, 50.0) > rel.peak_at(4.0, 100.0)


def test_round_trip_and_robust_median():
    """Peaks predicted for M give back M; a third of wild channels do not move the median much."""
    rel = MagnitudeRelation(a=0.5, b=-1.2, c=-7.0)
    d = np.linspace(10, 120, 300)
    peak = rel.peak_at(4.3, d)
    m, n, spread = rel.magnitude(peak, d)
    assert m == pytest.approx(4.3, abs=1e-9) and n == 300 and spread == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(0)
    noisy = peak * 10 ** rng.normal(0, 0.3, d.size)
    noisy[::3] *= 100.0
    m, _, _ = rel.magnitude(noisy, d)
    assert abs(m - 4.3) < 0.5


def test_unusable_channels():
    """Zero peaks, NaN, and channels closer than min_distance_km are left out; none usable -> NaN."""
    rel = MagnitudeRelation(a=0.5, b=-1.2, c=-7.0, min_distance_km=3.0)
    m = rel.channel_magnitudes(np.array([0.0, np.nan, 1e-6, 1e-6]), np.array([10.0, 10.0, 1.0, 10.0]))
    assert np.isnan(m[:3]).all() and np.isfinite(m[3])
    assert np.isnan(rel.magnitude(np.zeros(3), np.full(3, 10.0))[0])
    with pytest.raises(ConfigError):
        MagnitudeRelation(a=0.0, b=-1.0, c=0.0)
