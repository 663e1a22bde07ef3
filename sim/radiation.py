"""Radiation patterns, free-surface response and the DAS axial-strain projection.

Conventions: source frame x north, y east, z down (Aki & Richards); take-off angle from the downward
vertical; azimuth clockwise from north. At the receiver, "radial" is horizontal along the direction of
propagation (away from the source), "up" is vertical up, "transverse" is radial rotated 90 deg clockwise
seen from above (east of radial when radial points north).
"""
from __future__ import annotations

import numpy as np


def ray_vectors(takeoff_deg: np.ndarray, azimuth_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit ray direction gamma, SV and SH polarisation vectors at the source, shape (..., 3) each.

    e_SV points towards increasing take-off angle, e_SH = gamma x e_SV (horizontal, clockwise).
    """
    i = np.radians(np.asarray(takeoff_deg, dtype=float))
    f = np.radians(np.asarray(azimuth_deg, dtype=float))
    gamma = np.stack([np.sin(i) * np.cos(f), np.sin(i) * np.sin(f), np.cos(i)], axis=-1)
    e_sv = np.stack([np.cos(i) * np.cos(f), np.cos(i) * np.sin(f), -np.sin(i)], axis=-1)
    e_sh = np.stack([-np.sin(f), np.cos(f), np.zeros_like(f)], axis=-1)
    return gamma, e_sv, e_sh


def radiation_pattern(tensor: np.ndarray, takeoff_deg: np.ndarray, azimuth_deg: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Far-field radiation coefficients (R_P, R_SV, R_SH) of a moment tensor.

    R_P = gamma . M gamma (positive: compression, motion away from the source);
    R_SV = e_SV . M gamma and R_SH = e_SH . M gamma (Aki & Richards eq. 4.29 projected).
    """
    gamma, e_sv, e_sh = ray_vectors(takeoff_deg, azimuth_deg)
    m_gamma = gamma @ np.asarray(tensor, dtype=float).T
    return (np.sum(gamma * m_gamma, axis=-1), np.sum(e_sv * m_gamma, axis=-1),
            np.sum(e_sh * m_gamma, axis=-1))


def free_surface_response(slowness_s_per_km: np.ndarray, vp_kms: float, vs_kms: float, phase: str
                          ) -> tuple[np.ndarray, np.ndarray]:
    """Surface displacement (radial, up) for a unit-amplitude upgoing plane P or SV wave.

    Solves the traction-free boundary conditions for the reflected P and SV waves and sums the three
    waves at z = 0. Incident polarisations: P along the ray (radial sin i, up cos i); SV with
    (radial -cos i, up sin i), the continuation of the source's e_SV along an upgoing ray.
    Beyond the SV critical angle the result is complex (phase shift); for P it is real.

    Returns
    -------
    radial, up : complex ndarray
        Vertical incidence gives (0, 2) for P and (-2, 0) for SV.
    """
    p = np.asarray(slowness_s_per_km, dtype=complex)
    a, b = float(vp_kms), float(vs_kms)
    # Vertical slownesses; +i branch makes post-critical waves decay downward.
    eta_a = np.sqrt(1.0 / a**2 - p**2 + 0j)
    eta_b = np.sqrt(1.0 / b**2 - p**2 + 0j)
    eta_a = np.where(eta_a.imag < 0, -eta_a, eta_a)
    mu = b**2
    lam = a**2 - 2 * b**2

    def tractions(dx, dz, sx, sz):
        t_xz = mu * (dx * sz + dz * sx)
        t_zz = lam * (dx * sx + dz * sz) + 2 * mu * dz * sz
        return t_xz, t_zz

    if phase.upper() == "P":
        d_inc = (p * a, -eta_a * a)
        s_inc = (p, -eta_a)
    elif phase.upper() == "SV":
        d_inc = (-eta_b * b, -p * b)
        s_inc = (p, -eta_b)
    else:
        raise ValueError(f"phase must be 'P' or 'SV', got {phase!r}")
    d_rp, s_rp = (p * a, eta_a * a), (p, eta_a)
    d_rs, s_rs = (eta_b * b, -p * b), (p, eta_b)
    inc_xz, inc_zz = tractions(*d_inc, *s_inc)
    rp_xz, rp_zz = tractions(*d_rp, *s_rp)
    rs_xz, rs_zz = tractions(*d_rs, *s_rs)
    det = rp_xz * rs_zz - rs_xz * rp_zz
    r_p = (-inc_xz * rs_zz + rs_xz * inc_zz) / det
    r_s = (-rp_xz * inc_zz + inc_xz * rp_zz) / det
    ux = d_inc[0] + r_p * d_rp[0] + r_s * d_rs[0]
    uz_down = d_inc[1] + r_p * d_rp[1] + r_s * d_rs[1]
    return ux, -uz_down


def axial_strain_factor(
    *,
    slowness_s_per_km: np.ndarray,
    azimuth_deg: np.ndarray,
    radial: np.ndarray,
    transverse: np.ndarray,
    tangent_enu: np.ndarray,
    vp_kms: float,
    vs_kms: float,
) -> np.ndarray:
    """Axial strain along the fiber per unit surface particle velocity of a plane wave.

    For a plane wave u(t - s.x) at the free surface, the horizontal strain is
    -(v_h s_h^T + s_h v_h^T)/2, the vertical strain follows from the traction-free condition,
    eps_zz = -lambda/(lambda + 2 mu) (eps_xx + eps_yy), and eps_xz = eps_yz = 0. The axial strain is
    t^T eps t; for a horizontal fiber it reduces to -(v . t)(s . t), i.e. particle velocity along the
    fiber divided by the apparent velocity along it (P ~ cos^2, S ~ sin cos of the angle to the fiber).
    Multiply by acceleration to get strain rate.

    Parameters
    ----------
    slowness_s_per_km : horizontal slowness p of the arrival, s/km (returned factor is in s/m).
    azimuth_deg : propagation azimuth at the receiver (from the epicentre to the channel), deg.
    radial, transverse : surface particle motion per unit incident amplitude (may be complex).
    tangent_enu : (n, 3) unit fiber tangent (east, north, up).
    """
    az = np.radians(np.asarray(azimuth_deg, dtype=float))
    r_hat = np.stack([np.sin(az), np.cos(az)], axis=-1)          # (east, north)
    t_hat = np.stack([np.cos(az), -np.sin(az)], axis=-1)         # clockwise of radial
    tan = np.asarray(tangent_enu, dtype=float)
    th = tan[..., :2]
    tu = tan[..., 2]
    p = np.asarray(slowness_s_per_km, dtype=float) * 1e-3        # s/m
    r_dot = np.sum(r_hat * th, axis=-1)
    t_dot = np.sum(t_hat * th, axis=-1)
    nu = 1.0 - 2.0 * (vs_kms / vp_kms) ** 2
    v_dot_t = radial * r_dot + transverse * t_dot
    return -(v_dot_t * p * r_dot) + tu**2 * nu * p * radial
