"""Shared small scenes for the simulator tests."""
from __future__ import annotations

import numpy as np
import pytest

from sim.route import make_layout, straight_route


@pytest.fixture(scope="session")
def short_layout():
    """A 6 km straight N-S fiber with 100 m channels near Kumamoto."""
    return make_layout(straight_route(32.70, 130.70, azimuth_deg=0.0, length_km=6.0), spacing_m=100.0)


@pytest.fixture(scope="session")
def quiet():
    """Noise switched off and every channel healthy (to see the signals alone)."""
    from sim.noise import NoiseConfig
    return NoiseConfig(instrument_strain_per_rthz=0.0, ambient_rms=0.0, dead_fraction=0.0,
                       noisy_fraction=0.0, clipped_fraction=0.0, coupling_sigma=0.0)


@pytest.fixture()
def rng():
    return np.random.default_rng(1234)
