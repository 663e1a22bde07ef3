"""The simulator's truth earth: the nominal 1D model, smooth lateral perturbations and station statics.

The locator only ever knows the nominal 1D model. The data are made with travel times through a
laterally perturbed earth (default +-5 % in velocity, wavelengths 20-150 km) plus per-channel statics,
so residuals of a correct location are of the size seen on real data (~0.05-0.3 s), not zero.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.exceptions import ConfigError
from edge.traveltime import TravelTimeTable, load_or_build_table
from edge.velocity import VelocityModel


@dataclass(frozen=True)
class PerturbationField:
    """Smooth 3-D relative velocity perturbation: a sum of random plane-wave modes.

    ``dv/v(x) = scale * sum_m cos(k_m . x + phase_m)``, normalised so that its largest absolute value
    over the study volume is ``amplitude``.
    """

    wavevectors: np.ndarray   # (n_modes, 3) rad/km, east-north-down
    phases: np.ndarray        # (n_modes,)
    scale: float

    @classmethod
    def random(cls, rng: np.random.Generator, *, amplitude: float = 0.05, n_modes: int = 12,
               wavelength_km: tuple[float, float] = (20.0, 150.0)) -> PerturbationField:
        """Draw a field with wavelengths log-uniform in ``wavelength_km``."""
        if not (0.0 <= amplitude < 0.5):
            raise ConfigError(f"perturbation amplitude {amplitude!r} must be in [0, 0.5)")
        lam = np.exp(rng.uniform(np.log(wavelength_km[0]), np.log(wavelength_km[1]), n_modes))
        direction = rng.normal(size=(n_modes, 3))
        direction[:, 2] *= 0.5    # structure is more layered than it is vertical
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        k = direction * (2 * np.pi / lam)[:, None]
        phases = rng.uniform(0, 2 * np.pi, n_modes)
        # Upper bound of |sum cos| is n_modes; the realised maximum over a region is ~sqrt(2 n) * 1.5.
        scale = amplitude / (1.5 * np.sqrt(2.0 * n_modes)) if amplitude > 0 else 0.0
        return cls(k, phases, scale)

    def __call__(self, east_km: np.ndarray, north_km: np.ndarray, depth_km: np.ndarray) -> np.ndarray:
        """Relative perturbation dv/v at points (clipped to the nominal amplitude bound)."""
        x = np.stack(np.broadcast_arrays(east_km, north_km, depth_km), axis=-1)
        val = np.cos(x @ self.wavevectors.T + self.phases).sum(axis=-1) * self.scale
        return val


@dataclass(frozen=True)
class ChannelArrivals:
    """True arrivals of one phase of one event at every channel.

    Times are absolute POSIX s. Angles and slowness come from the nominal 1D rays; times include the
    lateral perturbation and the statics.
    """

    time: np.ndarray
    travel_time_s: np.ndarray
    slowness_s_per_km: np.ndarray
    takeoff_deg: np.ndarray
    incidence_deg: np.ndarray
    spreading_km: np.ndarray


class TruthEarth:
    """Nominal model + lateral perturbations + statics; gives true arrivals for the simulator.

    Parameters
    ----------
    model : the nominal 1D model (what the edge uses).
    rng : random generator for the perturbations and statics.
    perturbation : largest relative velocity perturbation (default 0.05 = +-5 %).
    static_std_s : standard deviation of the smooth along-fiber P static, s.
    static_jitter_s : independent per-channel P static scatter, s.
    table : precomputed travel-time table of ``model`` (built or loaded from the cache if None).
    """

    def __init__(self, model: VelocityModel, rng: np.random.Generator, *, perturbation: float = 0.05,
                 static_std_s: float = 0.04, static_jitter_s: float = 0.005,
                 table: TravelTimeTable | None = None) -> None:
        if static_std_s < 0 or static_jitter_s < 0:
            raise ConfigError("station statics must have non-negative standard deviations")
        self.model = model
        # The simulator reaches further than the edge locator needs (regional events off the end).
        self.table = table if table is not None else load_or_build_table(model, max_distance_km=600.0)
        self.field = PerturbationField.random(rng, amplitude=perturbation)
        self.static_std_s = static_std_s
        self.static_jitter_s = static_jitter_s
        self._static_seed = int(rng.integers(2**31))

    def statics_p(self, along_km: np.ndarray) -> np.ndarray:
        """P static per channel, s: smooth along the fiber (near-surface geology) plus jitter."""
        rng = np.random.default_rng(self._static_seed)
        along = np.asarray(along_km, dtype=float)
        n_modes = 16
        lam = np.exp(rng.uniform(np.log(1.0), np.log(20.0), n_modes))
        ph = rng.uniform(0, 2 * np.pi, n_modes)
        smooth = np.cos(along[:, None] * (2 * np.pi / lam) + ph).sum(axis=1) / np.sqrt(n_modes / 2)
        jitter = rng.normal(size=along.size)
        return self.static_std_s * smooth + self.static_jitter_s * jitter

    def arrivals(self, *, source_east_km: float, source_north_km: float, source_depth_km: float,
                 origin_time: float, east_km: np.ndarray, north_km: np.ndarray, elev_m: np.ndarray,
                 along_km: np.ndarray, phase: str) -> ChannelArrivals:
        """True arrivals of ``phase`` ('P' or 'S') at channels (east/north in the source's local frame,
        km; elevation above sea level, m)."""
        dist = np.hypot(east_km - source_east_km, north_km - source_north_km)
        depth = np.full_like(dist, source_depth_km)
        ph = phase.upper()
        if ph not in ("P", "S"):
            raise ConfigError(f"phase must be 'P' or 'S', got {phase!r}")
        low = ph.lower()
        t1d = self.table.lookup(f"t{low}", dist, depth)
        if np.any(~np.isfinite(t1d)):
            raise ConfigError(
                f"source at {source_depth_km} km depth and up to {dist.max():.0f} km distance is outside "
                f"the travel-time table ({self.table.distance_km[-1]:.0f} km, {self.table.depth_km[-1]:.0f} km)")
        elev_m = np.asarray(elev_m, dtype=float)
        t1d = t1d + self.table.elevation_correction_s(ph, dist, depth, elev_m)
        # Path-averaged perturbation along the straight source-receiver line (slowness perturbation
        # to first order: dt = -t <dv/v>).
        f = np.linspace(0.0, 1.0, 12)[:, None]
        pe = source_east_km + f * (east_km - source_east_km)
        pn = source_north_km + f * (north_km - source_north_km)
        pd = source_depth_km + f * (-elev_m / 1e3 - source_depth_km)
        dvv = self.field(pe, pn, np.maximum(pd, 0.0)).mean(axis=0)
        static = self.statics_p(along_km) * (1.0 if ph == "P" else float(np.sqrt(3.0)))
        travel = t1d * (1.0 - dvv) + static
        travel = np.maximum(travel, 1e-3)
        return ChannelArrivals(
            time=origin_time + travel,
            travel_time_s=travel,
            slowness_s_per_km=self.table.lookup(f"slowness_{low}", dist, depth),
            takeoff_deg=self.table.lookup(f"takeoff_{low}_deg", dist, depth),
            incidence_deg=self.table.lookup(f"incidence_{low}_deg", dist, depth),
            spreading_km=self.table.lookup(f"spreading_{low}_km", dist, depth),
        )
