"""Absolute amplitudes: the simulator's peak P strain rate against the published DAS scaling."""
from __future__ import annotations

import pytest

from sim.scaling import fit_scaling


@pytest.mark.slow
def test_scaling_relation_near_yin_2023():
    """Distance decay matches Yin et al. (2023), b = -1.27, within 0.3; the magnitude slope is in 0.4-0.9.

    The simulator's magnitude slope (~0.8 over M2-6, ~0.67 over M3.5-6) is steeper than the 0.44 that
    Yin et al. fit on real arrays: a Brune omega-squared source seen through kappa = 0.03 s scales like
    the moment below the corner frequency. This is recorded in the README; the edge's magnitude is
    calibrated on the simulator, so the slope is checked to stay within physically plausible bounds.
    """
    fit = fit_scaling(n_events=30, seed=0)
    assert fit.n_points > 1000
    assert -1.57 <= fit.b <= -0.97
    assert 0.4 <= fit.a <= 0.9
    # Absolute level: an M4 at 50 km gives a peak P strain rate of order 1e-7 1/s (well above a
    # ~3e-9 1/s noise floor, well below the ~1e-4 1/s where interrogators lose phase).
    import numpy as np
    e_m4_50 = 10 ** (fit.a * 4 + fit.b * np.log10(50) + fit.c)
    assert 2e-8 < e_m4_50 < 2e-6
