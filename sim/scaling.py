"""The simulator's DAS amplitude scaling, fitted the way Yin et al. (2023) fitted real data.

log10(E) = a M + b log10(D) + c, with E the peak P strain rate (1/s) on a channel and D the
hypocentral distance (km). Yin et al. report a ~ 0.44 and b ~ -1.27 for P on three arrays; a simulator
whose figures fall near these produces magnitudes that mean something.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.noise import NoiseConfig
from sim.scenarios import kyushu_reach, random_events
from sim.scene import Scene


@dataclass(frozen=True)
class ScalingFit:
    """Least-squares fit of log10 peak P strain rate; ``rms`` is the scatter in log10 units."""

    a: float
    b: float
    c: float
    rms: float
    n_points: int


def peak_p_strain_rate(scene: Scene) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(magnitude, hypocentral km, peak P strain rate 1/s) per event and channel, from the pulses."""
    out = []
    for wf in scene.wavefields:
        peak = np.abs(wf.p_amp) * wf.p_bank.peak[wf.p_index]
        hypo = np.hypot(wf.distance_km, wf.source.depth_km)
        out.append((wf.source.magnitude, hypo, peak))
    return out


def fit_scaling(*, n_events: int = 40, seed: int = 0, spacing_m: float = 1000.0) -> ScalingFit:
    """Fit the scaling relation over random earthquakes around the Kyushu reach (M 2-6, 10-300 km).

    Channels within 30 deg of a P nodal plane or of broadside incidence are dropped, as a magnitude
    method would drop them (their amplitude says little about size).
    """
    items = random_events(n_events=n_events, seed=seed, spacing_m=spacing_m, magnitude=(2.0, 6.0),
                          depth_km=(5.0, 40.0), margin_km=150.0)
    layout = kyushu_reach(spacing_m=spacing_m)
    quiet = NoiseConfig(instrument_strain_per_rthz=0.0, ambient_rms=0.0, coupling_sigma=0.0,
                        dead_fraction=0.0, noisy_fraction=0.0, clipped_fraction=0.0)
    mags, dists, peaks = [], [], []
    for item in items:
        scene = Scene(layout=layout, t0=item.t0, duration_s=item.duration_s, fs_hz=100.0,
                      sources=item.sources, seed=item.seed, noise=quiet)
        for m, d, p in peak_p_strain_rate(scene):
            ok = (p > 0.3 * np.median(p)) & (d >= 10.0) & (d <= 300.0)
            mags.append(np.full(ok.sum(), m))
            dists.append(d[ok])
            peaks.append(p[ok])
    m, d, e = np.concatenate(mags), np.concatenate(dists), np.concatenate(peaks)
    design = np.stack([m, np.log10(d), np.ones_like(m)], axis=1)
    coef, *_ = np.linalg.lstsq(design, np.log10(e), rcond=None)
    rms = float(np.sqrt(np.mean((design @ coef - np.log10(e)) ** 2)))
    return ScalingFit(float(coef[0]), float(coef[1]), float(coef[2]), rms, int(m.size))
