"""The strain-rate wavefield of one event along a fiber: P, S, Rg and coda, block by block.

Amplitudes are physical: far-field body waves of a moment tensor (Aki & Richards eq. 4.29) with
the ray-tube geometrical spreading of the 1D model and the impedance correction between source and
receiver, anelastic attenuation Q(f) and kappa, the free-surface response, and the axial-strain
projection onto the local fiber tangent averaged over the gauge length.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy.signal import lfilter

from edge.geodesy import azimuth_deg, epicentral_km
from edge.velocity import brocher_density_gcc
from sim.earth import ChannelArrivals, TruthEarth
from sim.pulses import Attenuation, PulseBank, add_pulses, build_pulse_bank
from sim.radiation import axial_strain_factor, free_surface_response, radiation_pattern
from sim.rayleigh import RayleighBank, basis_weights, build_rayleigh_bank
from sim.route import FiberLayout
from sim.source import Source


@dataclass(frozen=True)
class WaveConfig:
    """Physics knobs of the wavefield (defaults: crustal Japan)."""

    qp: Attenuation = Attenuation(q0=300.0, eta=0.6, kappa_s=0.03)
    qs: Attenuation = Attenuation(q0=150.0, eta=0.6, kappa_s=0.03)
    corner_ratio_p: float = 1.5          # fc_P / fc_S (Madariaga 1976)
    s_scatter: float = 0.15              # S radiated by near-source scattering, fraction of unit moment
    coda_p: float = 0.25                 # P-coda level just after P, fraction of the direct-P reference
    coda_s: float = 0.4                  # S-coda level just after S, fraction of the direct-S reference
    coda_q0: float = 100.0               # coda Q(f) = coda_q0 f^0.7 (Japan, Aki & Chouet 1975 style)
    coda_node_km: float = 0.5            # coherence length of the coda along the fiber
    rayleigh_q: float = 60.0
    rayleigh_max_depth_km: float = 6.0   # no Rg for deeper sources (excitation < 1e-3)


def brocher_density(vp_kms: np.ndarray) -> np.ndarray:
    """Density, kg/m^3, from Vp by Brocher's (2005) Nafe-Drake fit (the velocity model's relation)."""
    return brocher_density_gcc(vp_kms) * 1e3


def body_wave_scale(*, rho_source: float, rho_receiver: float, v_source_kms: float, v_receiver_kms: float,
                    spreading_km: np.ndarray) -> np.ndarray:
    """Far-field displacement per unit radiation coefficient and unit moment, m s / (N m).

    1 / (4 pi sqrt(rho_s rho_r v_s^5 v_r) L): Aki & Richards eq. 4.29 with the ray-tube spreading L of
    the layered model and the impedance correction between source and receiver (homogeneous: L = R).
    """
    vs, vr = v_source_kms * 1e3, v_receiver_kms * 1e3
    return 1.0 / (4 * np.pi * np.sqrt(rho_source * rho_receiver * vs**5 * vr) * np.asarray(spreading_km) * 1e3)


@numba.njit(cache=True, nogil=True)
def add_coda(out, block_t0, fs, origin_time, channels, node_lo, node_w, t_p, t_s, ref_p, ref_s,
             coda_p, coda_s, decay_p, decay_s, rise_s, carrier):
    """Add an envelope-modulated, spatially coherent coda to the listed channels, in place.

    The envelope of each phase follows single scattering: level * (T / t) * exp(-(t - T) / decay),
    with t the time since origin and T the phase's travel time, raised smoothly over ``rise_s``.
    ``carrier`` (n_t, n_nodes) is unit-RMS band-limited noise at nodes along the fiber; a channel
    interpolates its two neighbouring nodes.
    """
    n_t = out.shape[0]
    for j in range(channels.size):
        c = channels[j]
        lo = node_lo[j]
        w = node_w[j]
        tp_rel = t_p[j] - origin_time
        ts_rel = t_s[j] - origin_time
        for n in range(n_t):
            t = block_t0 + n / fs - origin_time
            if t <= tp_rel:
                continue
            x = (t - tp_rel) / rise_s
            ramp = 1.0 if x >= 1.0 else np.sin(0.5 * np.pi * x) ** 2
            env_p = ref_p[j] * coda_p * ramp * (tp_rel / t) * np.exp(-(t - tp_rel) / decay_p)
            env2 = env_p * env_p
            if t > ts_rel:
                xs = (t - ts_rel) / rise_s
                ramp_s = 1.0 if xs >= 1.0 else np.sin(0.5 * np.pi * xs) ** 2
                env_s = ref_s[j] * coda_s * ramp_s * (ts_rel / t) * np.exp(-(t - ts_rel) / decay_s)
                env2 += env_s * env_s
            car = (1.0 - w) * carrier[n, lo] + w * carrier[n, lo + 1]
            out[n, c] += np.sqrt(env2) * car


class EventWavefield:
    """Everything needed to add one event's strain rate to any block of a fiber record.

    Build once per event; :meth:`add_to` is then called for every block and only touches the
    channels and samples the event reaches. Coda carriers are generated per block from a seed derived
    from the block index, so the result does not depend on how the caller chunks time.
    """

    def __init__(self, source: Source, layout: FiberLayout, earth: TruthEarth, *, fs_hz: float,
                 coupling: np.ndarray, seed: int, config: WaveConfig = WaveConfig(),
                 block_samples: int = 1000) -> None:
        self.source = source
        self.fs = fs_hz
        self.seed = seed
        self.config = config
        self.block_samples = block_samples
        model = earth.model
        dist = epicentral_km(source.lat, source.lon, layout.lat, layout.lon)
        az = azimuth_deg(source.lat, source.lon, layout.lat, layout.lon)
        self.distance_km = dist
        src_e, src_n, _ = layout.frame.to_enu(source.lat, source.lon, 0.0)
        common = dict(source_east_km=float(src_e), source_north_km=float(src_n),
                      source_depth_km=source.depth_km, origin_time=source.origin_time,
                      east_km=layout.east_km, north_km=layout.north_km, elev_m=layout.elev_m,
                      along_km=layout.along_km)
        self.p: ChannelArrivals = earth.arrivals(phase="P", **common)
        self.s: ChannelArrivals = earth.arrivals(phase="S", **common)
        depth = np.array([source.depth_km])
        vp_s, vs_s = float(model.vp_at(depth)[0]), float(model.vs_at(depth)[0])
        rec_depth = np.array([max(-float(np.median(layout.elev_m)) / 1e3, model.top_km)])
        vp_r, vs_r = float(model.vp_at(rec_depth)[0]), float(model.vs_at(rec_depth)[0])
        rho_s, rho_r = brocher_density(vp_s), brocher_density(vp_r)
        m0 = source.moment_nm
        fc_s = source.corner_hz(vs_s)
        self.corner_hz = fc_s

        # 1. Radiation from the source along each channel's ray.
        r_p, _, _ = radiation_pattern(source.tensor, self.p.takeoff_deg, az)
        _, r_sv, r_sh = radiation_pattern(source.tensor, self.s.takeoff_deg, az)
        rng = np.random.default_rng([seed, 1])
        scatter = config.s_scatter * rng.normal(size=(2, dist.size)) / np.sqrt(2)
        r_sv = r_sv + scatter[0]
        r_sh = r_sh + scatter[1]
        # 2. Incident amplitudes, m s per (N m): spreading plus impedance correction.
        p_scale = body_wave_scale(rho_source=rho_s, rho_receiver=rho_r, v_source_kms=vp_s,
                                  v_receiver_kms=vp_r, spreading_km=self.p.spreading_km)
        s_scale = body_wave_scale(rho_source=rho_s, rho_receiver=rho_r, v_source_kms=vs_s,
                                  v_receiver_kms=vs_r, spreading_km=self.s.spreading_km)
        amp_p = r_p * p_scale
        # 3. Free surface and axial-strain projection (s/m per unit incident amplitude).
        pr, pz = free_surface_response(self.p.slowness_s_per_km, vp_r, vs_r, "P")
        sr, sz = free_surface_response(self.s.slowness_s_per_km, vp_r, vs_r, "SV")
        f_p = axial_strain_factor(slowness_s_per_km=self.p.slowness_s_per_km, azimuth_deg=az,
                                  radial=pr * amp_p, transverse=0.0, tangent_enu=layout.tangent,
                                  vp_kms=vp_r, vs_kms=vs_r)
        f_s = axial_strain_factor(slowness_s_per_km=self.s.slowness_s_per_km, azimuth_deg=az,
                                  radial=sr * r_sv * s_scale, transverse=2.0 * r_sh * s_scale,
                                  tangent_enu=layout.tangent, vp_kms=vp_r, vs_kms=vs_r)
        gain = m0 * coupling
        self.p_amp = (f_p * gain).astype(np.complex128)
        self.s_amp = (f_s * gain).astype(np.complex128)
        az_r = np.radians(az)
        tan_h = layout.tangent[:, 0] * np.sin(az_r) + layout.tangent[:, 1] * np.cos(az_r)
        self.p_tau = layout.gauge_m * self.p.slowness_s_per_km * 1e-3 * np.abs(tan_h)
        self.s_tau = layout.gauge_m * self.s.slowness_s_per_km * 1e-3 * np.abs(tan_h)

        # 4. Pulses.
        tmax = float(np.max(self.s.travel_time_s)) * 1.05 + 1.0
        self.p_bank: PulseBank = build_pulse_bank(corner_hz=config.corner_ratio_p * fc_s, fs_hz=fs_hz,
                                                  attenuation=config.qp, derivative=2,
                                                  max_travel_time_s=tmax)
        self.s_bank: PulseBank = build_pulse_bank(corner_hz=fc_s, fs_hz=fs_hz, attenuation=config.qs,
                                                  derivative=2, max_travel_time_s=tmax)
        self.p_index = self.p_bank.index_for(self.p.travel_time_s)
        self.s_index = self.s_bank.index_for(self.s.travel_time_s)

        # 5. Coda: reference levels use average radiation (0.52 P, 0.63 S for double couples) and an
        # average projection (1/2), because scattered waves reach the fiber from every direction.
        peak_p = self.p_bank.peak[self.p_index]
        peak_s = self.s_bank.peak[self.s_index]
        self.coda_ref_p = m0 * coupling * 0.52 * 2.0 * 0.5 * peak_p / (vp_r * 1e3) * p_scale
        self.coda_ref_s = m0 * coupling * 0.63 * 2.0 * 0.5 * peak_s / (vs_r * 1e3) * s_scale
        f_dom = float(np.clip(fc_s, 0.5, 6.0))
        q_c = config.coda_q0 * f_dom**0.7
        self.coda_decay_s = q_c / (np.pi * f_dom)
        self.coda_rise_s = max(1.0 / fc_s, 2.0 / fs_hz)
        n_nodes = max(2, int(np.ceil((layout.along_km[-1] - layout.along_km[0]) / config.coda_node_km)) + 1)
        pos = (layout.along_km - layout.along_km[0]) / config.coda_node_km
        self.node_lo = np.minimum(pos.astype(np.int64), n_nodes - 2)
        self.node_w = pos - self.node_lo
        self.n_nodes = n_nodes
        # Carrier: white noise through a bandpass around the dominant frequency, unit RMS.
        from scipy.signal import butter
        lo = max(0.3 * f_dom, 0.05)
        hi = min(3.0 * f_dom, 0.45 * fs_hz)
        self.carrier_ba = butter(2, [lo, hi], btype="band", fs=fs_hz)
        imp = lfilter(*self.carrier_ba, np.r_[1.0, np.zeros(int(20 * fs_hz / lo))])
        self.carrier_gain = 1.0 / np.sqrt(np.sum(imp**2))
        self._carrier_zi = None
        self._carrier_block = -1

        # 6. Rg for shallow sources.
        self.rg: RayleighBank | None = None
        if source.depth_km <= config.rayleigh_max_depth_km:
            near = float(min(dist.max(), 80.0))
            if dist.min() < 80.0:
                self.rg = build_rayleigh_bank(model=model, depth_km=source.depth_km, corner_hz=fc_s,
                                              fs_hz=fs_hz, max_distance_km=max(near, 2.0),
                                              q_rayleigh=config.rayleigh_q, rho_kgm3=float(rho_r))
                wts = basis_weights(source.tensor, az)
                cos2 = tan_h**2
                self.rg_weights = wts * (m0 * coupling * cos2)[:, None]
                kk = np.clip(np.rint(dist / self.rg.distance_km[0]).astype(np.int64) - 1, 0,
                             self.rg.distance_km.size - 1)
                self.rg_index = kk
                self.rg_arrival = (source.origin_time + self.rg.start_s[kk]
                                   + (dist - self.rg.distance_km[kk]) / self.rg.group_velocity_kms)
                self.rg_scale = np.sqrt(self.rg.distance_km[kk] / np.maximum(dist, 0.1))
                self.rg_mask = dist <= self.rg.distance_km[-1] + 0.5

        self.t_first = float(np.min(self.p.time))
        end_coda = float(np.max(self.s.time)) + 6.0 * self.coda_decay_s
        self.t_last = end_coda

    # --- block synthesis -------------------------------------------------------------------
    def _carrier(self, block_index: int, n_t: int) -> np.ndarray:
        """Unit-RMS coda carrier for one block; filter state continues from the previous block."""
        rng = np.random.default_rng([self.seed, 2, block_index])
        white = rng.standard_normal((n_t, self.n_nodes))
        if self._carrier_zi is None or self._carrier_block != block_index - 1:
            self._carrier_zi = np.zeros((max(len(self.carrier_ba[0]), len(self.carrier_ba[1])) - 1,
                                         self.n_nodes))
            # Warm the filter on the previous block's noise so a restart mid-record matches.
            prev = np.random.default_rng([self.seed, 2, block_index - 1]).standard_normal((n_t, self.n_nodes))
            _, self._carrier_zi = lfilter(*self.carrier_ba, prev, axis=0, zi=self._carrier_zi)
        car, self._carrier_zi = lfilter(*self.carrier_ba, white, axis=0, zi=self._carrier_zi)
        self._carrier_block = block_index
        return np.ascontiguousarray(car * self.carrier_gain)

    def add_to(self, out: np.ndarray, block_t0: float, block_index: int) -> None:
        """Add this event to ``out`` (n_t, n_channels float32/64), which starts at ``block_t0``."""
        n_t = out.shape[0]
        t_end = block_t0 + n_t / self.fs
        if t_end < self.t_first or block_t0 > self.t_last:
            return
        for arr, amp, idx, tau, bank in ((self.p, self.p_amp, self.p_index, self.p_tau, self.p_bank),
                                         (self.s, self.s_amp, self.s_index, self.s_tau, self.s_bank)):
            live = (arr.time < t_end) & (arr.time + bank.duration_s > block_t0)
            ch = np.nonzero(live)[0]
            if ch.size:
                add_pulses(out, block_t0, self.fs, ch, arr.time[ch], amp.real[ch], amp.imag[ch], idx[ch],
                           tau[ch], bank.kernels, bank.quadrature, bank.kernel_fs_hz, 0.0)
        live = (self.p.time < t_end) & (block_t0 < self.t_last)
        ch = np.nonzero(live)[0]
        if ch.size:
            carrier = self._carrier(block_index, n_t)
            add_coda(out, block_t0, self.fs, self.source.origin_time, ch, self.node_lo[ch], self.node_w[ch],
                     self.p.time[ch], self.s.time[ch], self.coda_ref_p[ch], self.coda_ref_s[ch],
                     self.config.coda_p, self.config.coda_s, self.coda_decay_s, self.coda_decay_s,
                     self.coda_rise_s, carrier)
        if self.rg is not None:
            dur = self.rg.strain_rate.shape[2] / self.rg.kernel_fs_hz
            live = self.rg_mask & (self.rg_arrival < t_end) & (self.rg_arrival + dur > block_t0)
            ch = np.nonzero(live)[0]
            if ch.size:
                zeros = np.zeros(ch.size)
                w = self.rg_weights[ch] * self.rg_scale[ch, None]
                for b in range(3):
                    add_pulses(out, block_t0, self.fs, ch, self.rg_arrival[ch], w[:, b], zeros,
                               self.rg_index[ch], zeros, self.rg.strain_rate[b], self.rg.strain_rate[b],
                               self.rg.kernel_fs_hz, 0.0)
