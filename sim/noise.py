"""Fiber noise: ambient and instrument noise, per-channel coupling, and unhealthy channels.

Levels (strain rate, 1/s): the interrogator's phase noise is white in strain, i.e. rising as f in
strain rate (~ 1e-11 strain/sqrt(Hz) at a 10 m gauge, ~ 5e-10 1/s/sqrt(Hz) at 10 Hz); ground noise
along a railway (microseism, wind, towns) adds ~ 1e-9 1/s in 1-15 Hz, modulated along the fiber by
coupling and by how busy the surroundings are. Total 1-10 Hz RMS of a few 1e-9 1/s, as reported for
telecom and railway fibers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.signal import butter

from edge.exceptions import ConfigError

HEALTHY, DEAD, NOISY, CLIPPED = 0, 1, 2, 3
CHANNEL_STATES = {"healthy": HEALTHY, "dead": DEAD, "noisy": NOISY, "clipped": CLIPPED}


@dataclass(frozen=True)
class NoiseConfig:
    """Noise levels and channel health (every figure is per channel unless stated)."""

    instrument_strain_per_rthz: float = 1.0e-11   # phase noise, strain / sqrt(Hz)
    ambient_rms: float = 1.5e-9                  # ground noise 1-15 Hz, strain rate RMS 1/s
    ambient_band_hz: tuple[float, float] = (1.0, 15.0)
    coupling_sigma: float = 0.35                 # lognormal sigma of coupling (signal + ground noise)
    dead_fraction: float = 0.01
    noisy_fraction: float = 0.01
    noisy_gain: float = 30.0
    clipped_fraction: float = 0.005
    clip_level: float = 2.0e-7                   # strain rate where clipped channels saturate, 1/s

    def __post_init__(self) -> None:
        for name in ("instrument_strain_per_rthz", "ambient_rms", "noisy_gain", "clip_level"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"noise {name} must be >= 0, got {getattr(self, name)!r}")
        total = self.dead_fraction + self.noisy_fraction + self.clipped_fraction
        for name in ("dead_fraction", "noisy_fraction", "clipped_fraction"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"noise {name} must be within 0..1, got {getattr(self, name)!r}")
        if total > 0.5:
            raise ConfigError(f"unhealthy channel fractions add up to {total:.2f}; at most 0.5 allowed")
        lo, hi = self.ambient_band_hz
        if not 0 < lo < hi:
            raise ConfigError(f"ambient band {self.ambient_band_hz!r} must satisfy 0 < low < high")


def channel_coupling(rng: np.random.Generator, along_km: np.ndarray, sigma: float) -> np.ndarray:
    """Coupling factor per channel: a smooth lognormal trend along the fiber times local scatter."""
    n_modes = 12
    lam = np.exp(rng.uniform(np.log(0.3), np.log(10.0), n_modes))
    ph = rng.uniform(0, 2 * np.pi, n_modes)
    smooth = np.cos(np.asarray(along_km)[:, None] * 2 * np.pi / lam + ph).sum(axis=1) / np.sqrt(n_modes / 2)
    local = rng.normal(size=np.size(along_km))
    return np.exp(sigma * (0.8 * smooth + 0.6 * local) - 0.5 * sigma**2)


def channel_states(rng: np.random.Generator, n_channels: int, cfg: NoiseConfig) -> np.ndarray:
    """Health state per channel (HEALTHY, DEAD, NOISY, CLIPPED); dead channels come in short runs."""
    state = np.zeros(n_channels, dtype=np.int8)
    n_dead = int(round(cfg.dead_fraction * n_channels))
    placed = 0
    while placed < n_dead:
        start = int(rng.integers(n_channels))
        run = int(min(rng.integers(1, 6), n_dead - placed))
        state[start:start + run] = DEAD
        placed = int(np.sum(state == DEAD))
    free = np.nonzero(state == HEALTHY)[0]
    pick = rng.permutation(free)
    n_noisy = int(round(cfg.noisy_fraction * n_channels))
    n_clip = int(round(cfg.clipped_fraction * n_channels))
    state[pick[:n_noisy]] = NOISY
    state[pick[n_noisy:n_noisy + n_clip]] = CLIPPED
    return state


@numba.njit(cache=True, nogil=True)
def shape_noise(out, white_inst, white_amb, inst_gain, amb_gain, b, a, zi, last_inst):
    """Write shaped noise for one block into ``out`` (n_t, n_ch), carrying filter state.

    Instrument noise: first difference of white strain (white in strain, ~f in strain rate).
    Ambient noise: white through a 2nd-order-section band-pass ``b``/``a`` (direct form II
    transposed, state ``zi`` (n_ch, 4) for two biquads).
    """
    n_t, n_ch = out.shape
    for n in range(n_t):
        for c in range(n_ch):
            w = white_inst[n, c]
            inst = (w - last_inst[c]) * inst_gain
            last_inst[c] = w
            x = white_amb[n, c]
            # biquad 1
            y = b[0, 0] * x + zi[c, 0]
            zi[c, 0] = b[0, 1] * x - a[0, 1] * y + zi[c, 1]
            zi[c, 1] = b[0, 2] * x - a[0, 2] * y
            # biquad 2
            x2 = y
            y2 = b[1, 0] * x2 + zi[c, 2]
            zi[c, 2] = b[1, 1] * x2 - a[1, 1] * y2 + zi[c, 3]
            zi[c, 3] = b[1, 2] * x2 - a[1, 2] * y2
            out[n, c] = inst + y2 * amb_gain[c]


@numba.njit(cache=True, nogil=True)
def apply_channel_states(out, state, noisy_gain, clip_level, noise_extra):
    """Impose dead, noisy and clipped channels on a finished block, in place.

    ``noise_extra`` (n_t, n_noisy) holds unit noise for the noisy channels, in channel order.
    """
    n_t, n_ch = out.shape
    k = 0
    for c in range(n_ch):
        s = state[c]
        if s == 1:
            for n in range(n_t):
                out[n, c] = 0.0
        elif s == 2:
            for n in range(n_t):
                out[n, c] += noise_extra[n, k] * noisy_gain
            k += 1
        elif s == 3:
            for n in range(n_t):
                v = out[n, c]
                if v > clip_level:
                    out[n, c] = clip_level
                elif v < -clip_level:
                    out[n, c] = -clip_level


class FiberNoise:
    """Stateful noise generator for one layout; :meth:`block` gives consecutive fixed-size blocks.

    Randomness for block i comes from ``default_rng([seed, 0, i])``, so any block can be reproduced.
    """

    def __init__(self, n_channels: int, along_km: np.ndarray, fs_hz: float, cfg: NoiseConfig, seed: int):
        rng = np.random.default_rng([seed, 100])
        self.cfg = cfg
        self.fs = fs_hz
        self.n_channels = n_channels
        self.seed = seed
        self.coupling = channel_coupling(rng, along_km, cfg.coupling_sigma)
        self.state = channel_states(rng, n_channels, cfg)
        lo, hi = cfg.ambient_band_hz
        hi = min(hi, 0.45 * fs_hz)
        sos = butter(2, [lo, hi], btype="band", fs=fs_hz, output="sos")
        if sos.shape[0] == 1:
            sos = np.vstack([sos, [1, 0, 0, 1, 0, 0]])
        self.b = np.ascontiguousarray(sos[:, :3])
        self.a = np.ascontiguousarray(sos[:, 3:])
        # White noise of unit variance through the band-pass has variance ~ 2 (hi - lo) / fs.
        band_var = 2.0 * (hi - lo) / fs_hz * 0.5
        amb = cfg.ambient_rms / np.sqrt(band_var)
        # Busier stretches (towns along the line): a smooth factor 0.5-2 on the ground noise.
        busy = np.exp(0.5 * np.sin(np.asarray(along_km) / 6.0 + rng.uniform(0, 6.28)))
        self.amb_gain = (amb * self.coupling * busy).astype(np.float64)
        # Phase noise white in strain with density e: strain samples e sqrt(fs / 2); rate = diff * fs.
        self.inst_gain = cfg.instrument_strain_per_rthz * np.sqrt(fs_hz / 2.0) * fs_hz
        self.zi = np.zeros((n_channels, 4))
        self.last_inst = np.zeros(n_channels)
        self.next_block = 0

    def block(self, block_index: int, n_t: int) -> np.ndarray:
        """Noise for block ``block_index`` (n_t samples), float32 (n_t, n_channels)."""
        if block_index != self.next_block:
            # Jumping: start the filters from rest one block earlier so the level is stationary.
            self.zi[:] = 0.0
            self.last_inst[:] = 0.0
            if block_index > 0:
                self.next_block = block_index - 1
                self.block(block_index - 1, n_t)
        rng = np.random.default_rng([self.seed, 0, block_index])
        white_inst = rng.standard_normal((n_t, self.n_channels), dtype=np.float32)
        white_amb = rng.standard_normal((n_t, self.n_channels), dtype=np.float32)
        out = np.empty((n_t, self.n_channels), dtype=np.float32)
        shape_noise(out, white_inst, white_amb, self.inst_gain, self.amb_gain, self.b, self.a, self.zi,
                    self.last_inst)
        self.next_block = block_index + 1
        return out

    def finish(self, out: np.ndarray, block_index: int) -> None:
        """Apply channel health (dead / noisy / clipped) to a block that now holds noise and signals."""
        noisy = np.nonzero(self.state == NOISY)[0]
        extra = np.zeros((out.shape[0], noisy.size), dtype=np.float32)
        if noisy.size:
            rng = np.random.default_rng([self.seed, 3, block_index])
            extra = rng.standard_normal(extra.shape, dtype=np.float32) * np.float32(self.cfg.ambient_rms)
        apply_channel_states(out, self.state, self.cfg.noisy_gain, self.cfg.clip_level, extra)
