"""Three-component particle velocity at a point (a seismometer), from the same physics as the fiber.

Used by the classifier's data generator and to check the simulator against an independent
reference code (pyprop8) in the tests.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.geodesy import LocalFrame, azimuth_deg, epicentral_km
from sim.earth import TruthEarth
from sim.pulses import add_pulses, build_pulse_bank
from sim.radiation import free_surface_response, radiation_pattern
from sim.rayleigh import basis_weights, build_rayleigh_bank
from sim.source import Source
from sim.wavefield import WaveConfig, body_wave_scale, brocher_density


RG_MAX_KM = 81.0          # Rg is modelled out to 80 km
_RG_BANKS: dict = {}


def _rayleigh_bank(*, model, **kw):
    """``build_rayleigh_bank``, kept for the last few sources: one event's stations share its bank,
    which is most of the cost of a seismogram."""
    key = (model.layers, *sorted(kw.items()))     # layers: a tuple of frozen dataclasses, hashable
    bank = _RG_BANKS.get(key)
    if bank is None:
        if len(_RG_BANKS) >= 8:
            _RG_BANKS.pop(next(iter(_RG_BANKS)))
        bank = _RG_BANKS[key] = build_rayleigh_bank(model=model, **kw)
    return bank


@dataclass(frozen=True)
class PointSeismogram:
    """Ground velocity (m/s) at one station: ``data[0..2]`` = Z (up), N, E; sample 0 at ``t0``."""

    data: np.ndarray
    fs: float
    t0: float
    p_time: float
    s_time: float
    distance_km: float
    back_azimuth_deg: float


def point_velocity(source: Source, lat: float, lon: float, elev_m: float, earth: TruthEarth, *,
                   fs_hz: float = 100.0, t0: float | None = None, duration_s: float = 60.0,
                   config: WaveConfig = WaveConfig(), rayleigh: bool = True, scatter: bool = True,
                   seed: int = 0) -> PointSeismogram:
    """P, S and Rg particle velocity of ``source`` at a station (no noise, no coda).

    Parameters
    ----------
    source : the event.
    lat, lon, elev_m : station position.
    earth : truth earth (use a zero perturbation for reference comparisons).
    t0 : POSIX time of sample 0 (default: the origin time).
    rayleigh : add Rg for shallow sources.
    scatter : add the near-source S scattering term (off for clean radiation-pattern checks).
    """
    model = earth.model
    t0 = source.origin_time if t0 is None else t0
    frame = LocalFrame(lat, lon, 0.0)
    se, sn, _ = frame.to_enu(source.lat, source.lon, 0.0)
    common = dict(source_east_km=float(se), source_north_km=float(sn), source_depth_km=source.depth_km,
                  origin_time=source.origin_time, east_km=np.zeros(1), north_km=np.zeros(1),
                  elev_m=np.array([elev_m]), along_km=np.zeros(1))
    p = earth.arrivals(phase="P", **common)
    s = earth.arrivals(phase="S", **common)
    dist = float(epicentral_km(source.lat, source.lon, lat, lon))
    az = float(azimuth_deg(source.lat, source.lon, lat, lon))
    depth = np.array([source.depth_km])
    vp_s, vs_s = float(model.vp_at(depth)[0]), float(model.vs_at(depth)[0])
    rec = np.array([max(-elev_m / 1e3, model.top_km)])
    vp_r, vs_r = float(model.vp_at(rec)[0]), float(model.vs_at(rec)[0])
    rho_s, rho_r = float(brocher_density(vp_s)), float(brocher_density(vp_r))
    m0 = source.moment_nm
    fc = source.corner_hz(vs_s)
    r_p, _, _ = radiation_pattern(source.tensor, p.takeoff_deg, az)
    _, r_sv, r_sh = radiation_pattern(source.tensor, s.takeoff_deg, az)
    if scatter:
        extra = config.s_scatter * np.random.default_rng([seed, 1]).normal(size=2) / np.sqrt(2)
        r_sv, r_sh = r_sv + extra[0], r_sh + extra[1]
    amp_p = m0 * r_p * body_wave_scale(rho_source=rho_s, rho_receiver=rho_r, v_source_kms=vp_s,
                                       v_receiver_kms=vp_r, spreading_km=p.spreading_km)
    amp_s = m0 * body_wave_scale(rho_source=rho_s, rho_receiver=rho_r, v_source_kms=vs_s,
                                 v_receiver_kms=vs_r, spreading_km=s.spreading_km)
    pr, pz = free_surface_response(p.slowness_s_per_km, vp_r, vs_r, "P")
    sr, sz = free_surface_response(s.slowness_s_per_km, vp_r, vs_r, "SV")
    a = np.radians(az)
    # Components (radial, transverse, up) -> (Z, N, E): radial = (sin az, cos az) in (E, N).
    def zne(radial, transverse, up):
        north = radial * np.cos(a) - transverse * np.sin(a)
        east = radial * np.sin(a) + transverse * np.cos(a)
        return np.array([up, north, east]).reshape(3)

    n = int(round(duration_s * fs_hz))
    out = np.zeros((n, 3))
    tmax = float(s.travel_time_s[0]) * 1.05 + 1.0
    for arr, coef, corner, att in (
        (p, zne(pr * amp_p, 0.0, pz * amp_p), config.corner_ratio_p * fc, config.qp),
        (s, zne(sr * r_sv * amp_s, 2.0 * r_sh * amp_s, sz * r_sv * amp_s), fc, config.qs),
    ):
        bank = build_pulse_bank(corner_hz=corner, fs_hz=fs_hz, attenuation=att, derivative=1,
                                max_travel_time_s=tmax)
        idx = bank.index_for(arr.travel_time_s)
        ch = np.arange(3)
        add_pulses(out, t0, fs_hz, ch, np.repeat(arr.time, 3), coef.real.copy(), coef.imag.copy(),
                   np.repeat(idx, 3), np.zeros(3), bank.kernels, bank.quadrature, bank.kernel_fs_hz, 0.0)
    if rayleigh and source.depth_km <= config.rayleigh_max_depth_km and dist < RG_MAX_KM - 1.0:
        rg = _rayleigh_bank(model=model, depth_km=source.depth_km, corner_hz=fc, fs_hz=fs_hz,
                            max_distance_km=RG_MAX_KM, q_rayleigh=config.rayleigh_q, rho_kgm3=rho_r,
                            seismometer=True)
        k = int(np.clip(np.rint(dist / rg.distance_km[0]) - 1, 0, rg.distance_km.size - 1))
        arrival = source.origin_time + rg.start_s[k] + (dist - rg.distance_km[k]) / rg.group_velocity_kms
        scale = np.sqrt(rg.distance_km[k] / max(dist, 0.1))
        w = basis_weights(source.tensor, np.array([az]))[0] * m0 * scale
        z = np.zeros((n, 1))
        r = np.zeros((n, 1))
        for b in range(3):
            for buf, bank in ((z, rg.velocity_z), (r, rg.velocity_r)):
                add_pulses(buf, t0, fs_hz, np.zeros(1, np.int64), np.array([arrival]), np.array([w[b]]),
                           np.zeros(1), np.array([k]), np.zeros(1), bank[b], bank[b], rg.kernel_fs_hz, 0.0)
        out[:, 0] += z[:, 0]
        out[:, 1] += r[:, 0] * np.cos(a)
        out[:, 2] += r[:, 0] * np.sin(a)
    return PointSeismogram(data=out.T.copy(), fs=fs_hz, t0=t0, p_time=float(p.time[0]), s_time=float(s.time[0]),
                           distance_km=dist, back_azimuth_deg=(az + 180.0) % 360.0)
