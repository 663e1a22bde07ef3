"""Passing trains and road traffic: moving loads along the fiber.

A train is a moving load: its weight bends the ground beneath and beside the track, a quasi-static
strain that moves with it (for a fiber beside the track, ~1e-8-1e-7 over the train length), seen as
strong low-frequency strain rate ``-v d(strain)/dx``; its wheels and the structure radiate broadband
vibration (2-40 Hz) that decays within a few hundred metres and travels with the train. Both move
along the fiber at the train speed (0-90 m/s), which is how the edge tells them from P waves
(kilometres per second).
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.signal import butter

from edge.exceptions import ConfigError


@dataclass(frozen=True)
class MovingLoad:
    """One vehicle moving along the fiber at constant speed.

    Parameters
    ----------
    t_start : time at which the load's centre is at ``x_start_km`` (POSIX s).
    x_start_km : along-fiber position at ``t_start``, km.
    speed_mps : signed speed along increasing along-fiber distance, m/s (|v| <= 90).
    length_m : vehicle length (a 16-car Shinkansen is ~400 m).
    strain : peak quasi-static strain under the load.
    vibration_rms : broadband vibration strain rate at the load, 1/s RMS.
    decay_m : distance over which the vibration falls by e.
    x_min_km, x_max_km : stretch on which the vehicle runs (roads cover only parts of the line).
    kind : "train" or "car".
    """

    t_start: float
    x_start_km: float
    speed_mps: float
    length_m: float = 400.0
    strain: float = 5e-8
    vibration_rms: float = 2e-7
    decay_m: float = 150.0
    x_min_km: float = -1e9
    x_max_km: float = 1e9
    kind: str = "train"

    def __post_init__(self) -> None:
        if not abs(self.speed_mps) <= 90.0:
            raise ConfigError(f"{self.kind} speed {self.speed_mps!r} m/s is outside -90..90 m/s")
        if not self.length_m > 0 or not self.decay_m > 0:
            raise ConfigError(f"{self.kind} length and decay must be > 0 m")

    def position_km(self, t: np.ndarray | float) -> np.ndarray:
        """Along-fiber position of the load's centre at time t, km."""
        return self.x_start_km + self.speed_mps * (np.asarray(t) - self.t_start) / 1e3

    def to_truth(self) -> dict:
        """JSON-ready description."""
        return {"kind": self.kind, "t_start": self.t_start, "x_start_km": self.x_start_km,
                "speed_mps": self.speed_mps, "length_m": self.length_m, "strain": self.strain,
                "vibration_rms": self.vibration_rms, "x_min_km": self.x_min_km,
                "x_max_km": self.x_max_km}


@numba.njit(cache=True, nogil=True)
def add_moving_load(out, vib, vib_offset, block_t0, fs, along_m, ch_lo, ch_hi, t_start, x_start_m, speed, half_len,
                    strain, vib_rms, decay_m, x_min_m, x_max_m):
    """Add one load's quasi-static strain rate and vibration to channels ch_lo..ch_hi-1, in place.

    Quasi-static strain profile along the fiber: a plateau over the vehicle length with smooth
    edges, eps(d) = strain / ((1 + exp((|d| - L/2)/w)), w = 15 m; strain rate = -v d eps / dd.
    Vibration: ``vib`` (unit-RMS band-limited noise; column j is channel j + vib_offset) times
    vib_rms exp(-|d| / decay).
    """
    n_t = out.shape[0]
    w = 15.0
    for c in range(ch_lo, ch_hi):
        x = along_m[c]
        for n in range(n_t):
            t = block_t0 + n / fs
            xc = x_start_m + speed * (t - t_start)
            if xc < x_min_m or xc > x_max_m:
                continue
            d = x - xc
            ad = abs(d)
            arg = (ad - half_len) / w
            if arg < 30.0:
                e = np.exp(arg)
                # d eps / d d = -strain e / (w (1 + e)^2) sign(d)
                deps = -strain * e / (w * (1.0 + e) ** 2) * (1.0 if d >= 0 else -1.0)
                out[n, c] += -speed * deps
            dist_out = ad - half_len if ad > half_len else 0.0
            if dist_out < 8.0 * decay_m:
                out[n, c] += vib[n, c - vib_offset] * vib_rms * np.exp(-dist_out / decay_m)


class TrafficField:
    """All moving loads on a layout; adds their strain rate to consecutive blocks."""

    def __init__(self, loads: list[MovingLoad], along_km: np.ndarray, fs_hz: float, seed: int):
        self.loads = list(loads)
        self.along_m = np.asarray(along_km, dtype=float) * 1e3
        self.fs = fs_hz
        self.seed = seed
        sos = butter(2, [2.0, min(40.0, 0.45 * fs_hz)], btype="band", fs=fs_hz, output="sos")
        self.sos = sos
        self.zi = np.zeros((sos.shape[0], 2, self.along_m.size))
        # Unit-RMS normalisation of band-limited white noise.
        self.gain = 1.0 / np.sqrt(2.0 * (min(40.0, 0.45 * fs_hz) - 2.0) / fs_hz * 0.5)
        self.descending = bool(self.along_m.size > 1 and self.along_m[-1] < self.along_m[0])

    def _span(self, load: MovingLoad, t0: float, t1: float) -> tuple[int, int]:
        """Channel index range a load can affect during [t0, t1]."""
        reach = 0.5 * load.length_m + 8.0 * load.decay_m + 100.0
        xs = np.array([load.position_km(t0), load.position_km(t1)]) * 1e3
        lo = max(xs.min() - reach, load.x_min_km * 1e3 - reach)
        hi = min(xs.max() + reach, load.x_max_km * 1e3 + reach)
        if hi < lo:
            return 0, 0
        a = int(np.searchsorted(self.along_m, lo))
        b = int(np.searchsorted(self.along_m, hi, side="right"))
        return a, b

    def add_to(self, out: np.ndarray, block_t0: float, block_index: int) -> None:
        """Add every load to ``out`` (n_t, n_ch), which starts at ``block_t0``."""
        if not self.loads:
            return
        from scipy.signal import sosfilt
        n_t = out.shape[0]
        t1 = block_t0 + n_t / self.fs
        spans = [self._span(ld, block_t0, t1) for ld in self.loads]
        for a, b in _merge([sp for sp in spans if sp[1] > sp[0]]):
            # Each merged stretch draws its own noise, keyed by block and stretch start: reproducible,
            # and no work for the quiet rest of the fiber.
            rng = np.random.default_rng([self.seed, 5, block_index, a])
            white = rng.standard_normal((n_t, b - a), dtype=np.float32)
            vib, self.zi[:, :, a:b] = sosfilt(self.sos, white, axis=0, zi=self.zi[:, :, a:b])
            vib = np.ascontiguousarray(vib * self.gain)
            for ld, (la, lb) in zip(self.loads, spans):
                if lb <= la or la >= b or lb <= a:
                    continue
                add_moving_load(out, vib, a, block_t0, self.fs, self.along_m, la, lb, ld.t_start,
                                ld.x_start_km * 1e3, ld.speed_mps, 0.5 * ld.length_m, ld.strain,
                                ld.vibration_rms, ld.decay_m, ld.x_min_km * 1e3, ld.x_max_km * 1e3)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of half-open index intervals, as sorted disjoint intervals."""
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
