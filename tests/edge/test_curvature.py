"""Curvature coefficient a of the P arrival-time curve along the fiber."""
from __future__ import annotations

import numpy as np
import pytest

from edge.curvature import curvature_a


def _hyperbola(x, x0, d_km, v=6.0, t0=100.0):
    return t0 + np.sqrt(d_km**2 + (x - x0) ** 2) / v


def test_near_event_curvature_matches_the_hyperbola():
    """Beside the fiber, a ~ 1 / (2 v d) at the apex (Taylor expansion of the hyperbola)."""
    x = np.linspace(40.0, 50.0, 101)
    fit = curvature_a(x, _hyperbola(x, 45.0, 20.0))
    assert fit.x0_km == pytest.approx(45.0)
    assert fit.a == pytest.approx(1 / (2 * 6.0 * 20.0), rel=0.05)
    assert abs(fit.b) < 1e-3


def test_far_and_off_end_events_are_flat():
    """An event 10x farther gives a curve ~1/a ~ d times less curved; one off the end, a near line."""
    x = np.linspace(0.0, 30.0, 301)
    near = curvature_a(x, _hyperbola(x, 15.0, 15.0)).a
    far = curvature_a(x, _hyperbola(x, 15.0, 150.0)).a
    off_end = curvature_a(x, _hyperbola(x, -60.0, 10.0)).a
    assert near > 5 * far and near > 100 * abs(off_end)
    # the earliest pick of an off-end event is at the near end of the fiber
    assert curvature_a(x, _hyperbola(x, -60.0, 10.0)).x0_km == 0.0


def test_too_few_picks_give_nan():
    """Fewer than three distinct positions cannot define a quadratic."""
    assert np.isnan(curvature_a(np.array([1.0, 2.0]), np.array([0.1, 0.2])).a)
    assert np.isnan(curvature_a(np.array([1.0, 1.0, 1.0]), np.array([0.1, 0.2, 0.3])).a)
    with pytest.raises(ValueError):
        curvature_a(np.zeros(3), np.zeros(4))
