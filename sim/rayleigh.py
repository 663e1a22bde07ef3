"""Fundamental-mode Rayleigh waves (Rg) from shallow sources.

Eigenfunctions of a Poisson half-space (Lay & Wallace 1995, eq. 4.3x), scaled by the local surface
shear velocity; dispersion from the model's shear velocity averaged over about half a wavelength;
excitation by the moment tensor through the eigenfunction strains at the source depth
(Aki & Richards 2002, eq. 7.151): u = r(0) / (8 c U I1) sqrt(2 / (pi k r)) exp(-i (k r + pi/4))
[k r1(h) M_hh - dr2/dz(h) M_zz - i (dr1/dz + k r2)(h) M_hz] M(w), I1 = 1/2 int rho (r1^2 + r2^2) dz,
M(w) the spectrum of the moment function (not of the moment rate). In this half-space it matches the
Rayleigh-pole residue of Lamb's problem to 0.5 % and pyprop8's Rg to 1 % (tests/sim).
The excitation decays roughly as exp(-0.4 k h), so Rg is strong only for sources shallower than about
a wavelength (a few km): exactly the explosions and collapses the classifier must recognise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.velocity import VelocityModel
from sim.pulses import OVERSAMPLE, anti_alias, brune_spectrum

_B1, _B2 = 0.8475, 0.3933           # decay constants (x k) of the Poisson half-space eigenfunctions
_R1 = (1.0, -0.5773)                # horizontal eigenfunction coefficients
_R2 = (-0.8475, 1.4679)             # vertical eigenfunction coefficients
_I1_FACTOR = 1.241                  # integral of (r1^2 + r2^2) dz, times k
_HV = (1.0 - 0.5773) / (-0.8475 + 1.4679)   # r1(0) / r2(0): H/V ~ 0.68


def _eig(coef, kh):
    return coef[0] * np.exp(-_B1 * kh) + coef[1] * np.exp(-_B2 * kh)


def _eig_dz(coef, kh, k):
    return -k * (coef[0] * _B1 * np.exp(-_B1 * kh) + coef[1] * _B2 * np.exp(-_B2 * kh))


def phase_velocity_kms(model: VelocityModel, freq_hz: np.ndarray) -> np.ndarray:
    """Rg phase velocity: 0.92 x the shear velocity averaged over the top half wavelength."""
    f = np.maximum(np.asarray(freq_hz, dtype=float), 1e-3)
    top = max(model.top_km, 0.0) if model.top_km < 0 else model.top_km
    c = np.full_like(f, 0.92 * float(model.vs_at(np.array([top]))[0]))
    z = np.linspace(0.0, 1.0, 32)
    for _ in range(4):
        depth = top + (0.5 * c / f)[:, None] * z[None, :]
        c = 0.92 * model.vs_at(depth.ravel()).reshape(depth.shape).mean(axis=1)
    return c


@dataclass(frozen=True)
class RayleighBank:
    """Rg kernels for a grid of epicentral distances, per unit moment-tensor basis term.

    ``strain_rate[b, k]`` is the radial strain rate (1/s per N m) and ``velocity_z`` / ``velocity_r``
    the surface particle velocity (m/s per N m) at distance ``distance_km[k]`` for basis term b:
    0 = M_hh (horizontal dipoles along the propagation azimuth), 1 = M_zz, 2 = M_hz.
    Kernel sample 0 is at ``origin + start_s[k]``.
    """

    kernel_fs_hz: float
    distance_km: np.ndarray
    start_s: np.ndarray
    strain_rate: np.ndarray
    velocity_z: np.ndarray
    velocity_r: np.ndarray
    group_velocity_kms: float
    peak: float


def build_rayleigh_bank(*, model: VelocityModel, depth_km: float, corner_hz: float, fs_hz: float,
                        max_distance_km: float = 80.0, step_km: float = 1.0, q_rayleigh: float = 60.0,
                        rho_kgm3: float = 2400.0, seismometer: bool = False) -> RayleighBank:
    """Build Rg kernels of one source out to ``max_distance_km``.

    Rg carries little above ~20 Hz after a few km (Q ~ 60), so kernels are sampled at no more than
    4 x 100 Hz whatever the output rate; ``seismometer`` also builds the particle-velocity kernels.
    """
    band_fs = min(fs_hz, 100.0)
    kfs = band_fs * OVERSAMPLE
    dist = np.arange(step_km, max_distance_km + step_km / 2, step_km)
    c_slow = 0.92 * float(model.vs_at(np.array([max(model.top_km, 0.0)]))[0]) * 0.75
    n_fft = int(2 ** np.ceil(np.log2((dist[-1] / c_slow + 8.0 / corner_hz + 10.0) * kfs)))
    freq = np.fft.rfftfreq(n_fft, 1.0 / kfs)
    fpos = freq.copy()
    fpos[0] = 0.5 * freq[1]
    c = phase_velocity_kms(model, fpos)
    k = 2 * np.pi * fpos / c                      # rad/km
    dk_dw = np.gradient(k, 2 * np.pi * fpos)
    group = np.clip(1.0 / np.maximum(dk_dw, 1e-6), 0.5 * c.min(), c.max())
    kh = k * max(depth_km, 0.0)
    # Excitation = eigenfunction strain at the source contracted with M. With these eigenfunctions the
    # divergence is k r1 - dr2/dz (only the P-evanescent term survives, as it must) and the shear
    # strain dr1/dz + k r2 vanishes at the free surface.
    exc = np.stack([
        k * _eig(_R1, kh),
        -_eig_dz(_R2, kh, k),
        -1j * (_eig_dz(_R1, kh, k) + k * _eig(_R2, kh)),
    ])                                            # per km
    k_m = k / 1e3
    i1 = rho_kgm3 / (2.0 * k_m) * _I1_FACTOR
    c_m, u_m = c * 1e3, group * 1e3
    r2_0 = _R2[0] + _R2[1]
    w = 2 * np.pi * freq
    # A&R eq. 7.151 is displacement per unit moment *function* M(w); brune_spectrum is the unit-area
    # moment-*rate* spectrum, so M(w) = Mdot(w) / (i w). Without this division every Rg kernel carried
    # one time derivative too many (x omega ~ 6 at 1 Hz): Rg/P came out 10x pyprop8's.
    src = brune_spectrum(freq, corner_hz) * anti_alias(freq, band_fs) / (1j * 2 * np.pi * fpos)
    u_ref = float(np.interp(min(corner_hz, 2.0), fpos, group))
    start = np.maximum(dist / (c.max() * 1.05) - 1.0, 0.0)
    keep = int(np.ceil((dist[-1] / (0.5 * c.min()) - start[-1] + 6.0 / corner_hz + 2.0) * kfs))
    keep = min(keep, n_fft)
    out_e = np.zeros((3, dist.size, keep), dtype=np.float32)
    n_seis = dist.size if seismometer else 0
    out_z = np.zeros((3, n_seis, keep), dtype=np.float32)
    out_r = np.zeros_like(out_z)
    for j, r in enumerate(dist):
        r_m = r * 1e3
        geo = r2_0 / (8.0 * c_m * u_m * i1) * np.sqrt(2.0 / (np.pi * k_m * r_m))
        prop = np.exp(-1j * (w * (r / c - start[j])) - 1j * np.pi / 4) * np.exp(-np.pi * fpos * r / (q_rayleigh * group))
        base = geo * prop * src
        for b in range(3):
            uz = base * exc[b] / 1e3                    # displacement, m per N m; exc per km -> per m
            ur = uz * _HV * (-1j)                       # retrograde ellipse, radial 90 deg from vertical
            uz[0] = ur[0] = 0.0
            if seismometer:
                out_z[b, j] = np.fft.irfft(uz * 1j * w, n_fft)[:keep] * kfs
                out_r[b, j] = np.fft.irfft(ur * 1j * w, n_fft)[:keep] * kfs
            # Radial strain rate: d/dt du_r/dr = -(1/c) a_r per frequency.
            out_e[b, j] = (np.fft.irfft(-(1j * w) ** 2 * ur / c_m, n_fft)[:keep] * kfs)
    peak = float(np.max(np.abs(out_e)))
    return RayleighBank(kernel_fs_hz=kfs, distance_km=dist, start_s=start, strain_rate=out_e,
                        velocity_z=out_z, velocity_r=out_r, group_velocity_kms=u_ref, peak=peak)


def basis_weights(tensor: np.ndarray, azimuth_deg: np.ndarray) -> np.ndarray:
    """Weights (n, 3) of the Rg basis terms for a moment tensor (x north, y east, z down)."""
    f = np.radians(np.asarray(azimuth_deg, dtype=float))
    m = np.asarray(tensor, dtype=float)
    m_hh = m[0, 0] * np.cos(f) ** 2 + m[0, 1] * np.sin(2 * f) + m[1, 1] * np.sin(f) ** 2
    m_zz = np.full_like(f, m[2, 2])
    m_hz = m[0, 2] * np.cos(f) + m[1, 2] * np.sin(f)
    return np.stack([m_hh, m_zz, m_hz], axis=-1)
