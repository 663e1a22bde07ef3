"""Validate the point seismogram (sim/seismometer.py) against pyprop8, an independent reflectivity code.

Setting: a Poisson half-space (vp 6.0, vs 3.46 km/s, density = Brocher(vp) as the simulator uses), the sim
made elastic (Q = 1e5 for P, S and Rg, kappa 0) since pyprop8 is elastic, no S scattering, no
perturbations/statics.

Conventions found in pyprop8 1.1.5 (read from its source):
* ``PointSource.Mxyz`` is in a frame x = east, y = north, z = UP (see ``pyprop8.utils.rtf2xyz``:
  (r, theta, phi) = (up, south, east) -> (x, y, z-up)). The sim's tensor is x = north, y = east,
  z = down, so M_pp = T M T^T with T = [[0,1,0],[1,0,0],[0,0,-1]] (the M_xz, M_yz terms change sign).
* Units: km, km/s, g/cm^3; with the moment tensor in N m the output displacement is in units of
  1e-15 m (M / (rho v^3 r) with rho in 1e3 kg/m^3, v in 1e3 m/s, r in 1e3 m).
* ``compute_seismograms(..., xyz=True)`` returns DISPLACEMENT, components (x=east, y=north, z=up),
  sample 0 at t = 0 = source time; we differentiate to velocity.
* Receiver azimuth: pyprop8 measures angles counter-clockwise from east; we just give Cartesian
  receivers at (east, north) = d (sin az, cos az).
* The default wavenumber stencil (kmax = 2.04 rad/km) is far too short for local distances and a few
  Hz; we pass kmax / nk explicitly.

Both codes are band-limited by the same causal 6th-order analog Butterworth low-pass (pyprop8: as its
source-time function; sim: applied in the frequency domain to the zero-padded trace), and pyprop8 also
gets the sim's Brune P spectrum (causal omega^-2, corner 1.5 fc) so that P onsets are comparable.
"""
from __future__ import annotations

import numpy as np
import pytest

pp = pytest.importorskip("pyprop8")
from scipy import signal  # noqa: E402

from edge.geodesy import azimuth_deg, destination, epicentral_km  # noqa: E402
from edge.velocity import VelocityModel  # noqa: E402
from sim.earth import TruthEarth  # noqa: E402
from sim.pulses import Attenuation, build_pulse_bank  # noqa: E402
from sim.radiation import radiation_pattern  # noqa: E402
from sim.seismometer import point_velocity  # noqa: E402
from sim.source import make_source  # noqa: E402
from sim.wavefield import WaveConfig, brocher_density  # noqa: E402

pytestmark = pytest.mark.slow

VP, VS = 6.0, 3.46
RHO_GCC = float(brocher_density(VP)) / 1e3
FS = 100.0
DT = 1.0 / FS
NT = 1000                      # 10 s: enough for S and Rg at <= 12 km
FCUT, NORD = 1.5, 6            # common causal low-pass, well below fc_S = 4.1 Hz of the M3.5 source
MAG = 3.5
LAT0, LON0 = 35.0, 139.0
ELASTIC = WaveConfig(qp=Attenuation(q0=1e5, eta=0.0, kappa_s=0.0), qs=Attenuation(q0=1e5, eta=0.0, kappa_s=0.0),
                     rayleigh_q=1e5)
_B, _A = signal.butter(NORD, 2 * np.pi * FCUT, analog=True)
# sim (north, east, down) -> pyprop8 (east, north, up)
T_SIM_TO_PP = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
DEPTH_BODY = 3.0               # km, body-wave tests
DIST_BODY = 12.0               # km
AZS = (0.0, 60.0, 150.0, 300.0)
DC_SDR = (30.0, 60.0, 45.0)    # oblique: P is + at az 60, - at az 0/150/300 (take-off ~76 deg)
DIST_RG = 10.0
FIGURES: dict[str, object] = {}


def lowpass(w):
    return np.polyval(_B, 1j * w) / np.polyval(_A, 1j * w)


def brune_p(w, fc_hz):
    wc = 2 * np.pi * fc_hz
    return wc**2 / (wc + 1j * w) ** 2   # same causal omega^-2 form as sim.pulses.brune_spectrum


def filt(v: np.ndarray) -> np.ndarray:
    n = v.shape[-1]
    w = 2 * np.pi * np.fft.rfftfreq(2 * n, DT)
    return np.fft.irfft(np.fft.rfft(v, 2 * n, axis=-1) * lowpass(w), 2 * n, axis=-1)[..., :n]


@pytest.fixture(scope="module")
def earth():
    model = VelocityModel.from_dict({"name": "poisson-hs", "layers": [
        {"top_km": 0.0, "vp_kms": VP, "vs_kms": VS, "rho_gcc": RHO_GCC}]})
    return TruthEarth(model, np.random.default_rng(0), perturbation=0.0, static_std_s=0.0, static_jitter_s=0.0)


def _receiver(az: float, d: float) -> tuple[float, float, float, float]:
    lat, lon = destination(LAT0, LON0, az, d)
    lat, lon = float(lat), float(lon)
    return lat, lon, float(epicentral_km(LAT0, LON0, lat, lon)), float(azimuth_deg(LAT0, LON0, lat, lon))


def run_pyprop8(depth_km, sources, recs, fc_p_hz, kmax=15.0, nk=750):
    """Velocity (n_src, n_rec, [Z, N, E], NT) in m/s. kmax covers Rg (c ~ 3.2 km/s) to 7.5 Hz, where the
    low-pass is < 1e-4; dk = 0.02 rad/km aliases at 2 pi / dk ~ 300 km, far beyond vp * 15 s."""
    x = np.array([d * np.sin(np.radians(a)) for d, a in recs])
    y = np.array([d * np.cos(np.radians(a)) for d, a in recs])
    mt = np.stack([T_SIM_TO_PP @ s.tensor @ T_SIM_TO_PP.T * s.moment_nm for s in sources])
    src = pp.PointSource(0.0, 0.0, depth_km, mt, np.zeros((len(sources), 3, 1)), 0.0)
    _, disp = pp.compute_seismograms(
        pp.LayeredStructureModel([(np.inf, VP, VS, RHO_GCC)]), src, pp.ListOfReceivers(x, y, depth=0), NT, DT,
        source_time_function=lambda w: lowpass(w) * brune_p(w, fc_p_hz), show_progress=False,
        squeeze_outputs=False, stencil_kwargs={"kmin": 0.0, "kmax": kmax, "nk": nk})
    vel = np.gradient(disp, DT, axis=-1) * 1e-15
    return vel[:, :, [2, 1, 0], :]


def run_sim(src, lat, lon, earth, rayleigh=True):
    ps = point_velocity(src, lat, lon, 0.0, earth, fs_hz=FS, duration_s=NT / FS, config=ELASTIC,
                        rayleigh=rayleigh, scatter=False)
    return ps, filt(ps.data)


def onset(z: np.ndarray, t_p: float, frac: float = 0.05) -> tuple[float, float, float]:
    """(time, polarity, peak) of P on Z: first sample above frac x the peak of [tP - 0.6, tP + 0.8] s."""
    i0, i1 = int((t_p - 0.6) * FS), int((t_p + 0.8) * FS)
    w = z[i0:i1]
    k = int(np.argmax(np.abs(w) > frac * np.abs(w).max()))
    return (i0 + k) / FS, float(np.sign(w[k])), float(np.abs(w).max())


def p_over_s(v: np.ndarray, t_p: float, t_s: float) -> float:
    """Vertical P peak over horizontal (vector) S peak."""
    ip = slice(int((t_p - 0.3) * FS), int((t_p + 0.8) * FS))
    i_s = slice(int((t_s - 0.3) * FS), int((t_s + 1.0) * FS))
    return float(np.abs(v[0, ip]).max() / np.hypot(v[1, i_s], v[2, i_s]).max())


def rg_over_p(v: np.ndarray, t_p: float, t_s: float) -> tuple[float, float, float]:
    """(Rg peak / P peak on Z, time of the Rg peak, sign of Z at the Rg peak); Rg window from tS."""
    ip = slice(int((t_p - 0.3) * FS), int((t_p + 0.8) * FS))
    ir = slice(int(t_s * FS), NT)
    z_rg = v[0, ir]
    k = int(np.argmax(np.abs(z_rg)))
    return float(np.abs(z_rg).max() / np.abs(v[0, ip]).max()), t_s + k / FS, float(np.sign(z_rg[k]))


@pytest.fixture(scope="module")
def body(earth):
    """Sim and pyprop8 velocities for four mechanisms at 3 km depth, 12 km, four azimuths."""
    kw = dict(origin_time=0.0, lat=LAT0, lon=LON0, depth_km=DEPTH_BODY, magnitude=MAG)
    sources = {
        "explosion": make_source(kind="explosion", **kw),
        "closing_crack": make_source(kind="collapse", collapse_style="closing_crack", **kw),
        "implosion": make_source(kind="collapse", collapse_style="implosion", **kw),
        "dc": make_source(kind="earthquake", strike_dip_rake=DC_SDR, **kw),
    }
    recs = [_receiver(az, DIST_BODY) for az in AZS]
    fc_p = ELASTIC.corner_ratio_p * sources["dc"].corner_hz(VS)
    ref = run_pyprop8(DEPTH_BODY, list(sources.values()), [(d, a) for _, _, d, a in recs], fc_p)
    out = {}
    for i, (name, src) in enumerate(sources.items()):
        for j, (lat, lon, _, az) in enumerate(recs):
            ps, v = run_sim(src, lat, lon, earth, rayleigh=False)
            out[name, AZS[j]] = (ps, v, ref[i, j], src, az)
    return out


@pytest.mark.parametrize("name,expected", [("explosion", 1.0), ("closing_crack", -1.0), ("implosion", -1.0)])
def test_isotropic_p_polarity(body, name, expected):
    for az in AZS:
        ps, v, ref, _, _ = body[name, az]
        pol_sim, pol_ref = onset(v[0], ps.p_time)[1], onset(ref[0], ps.p_time)[1]
        FIGURES[f"polarity {name} az{az:.0f}"] = (pol_sim, pol_ref)
        assert pol_ref == expected          # checks our frame conversion as much as pyprop8
        assert pol_sim == expected


@pytest.mark.parametrize("az", [0.0, 60.0])   # R_P < 0 at 0, > 0 at 60
def test_double_couple_p_polarity(body, az):
    ps, v, ref, src, az_true = body["dc", az]
    takeoff = np.degrees(np.arctan2(ps.distance_km, DEPTH_BODY))   # straight ray in a half-space
    r_p = float(radiation_pattern(src.tensor, takeoff, az_true)[0])
    pol_sim, pol_ref = onset(v[0], ps.p_time)[1], onset(ref[0], ps.p_time)[1]
    FIGURES[f"polarity dc az{az:.0f}"] = (pol_sim, pol_ref, r_p)
    assert abs(r_p) > 0.1                   # not nodal, so the sign is meaningful
    assert pol_ref == np.sign(r_p)
    assert pol_sim == pol_ref


def test_p_onset_time(body):
    # 0.05 s = 5 samples; the same 5 % pick on the same band and source spectrum, so only the travel time
    # and pulse shape of the sim can move it.
    for name in ("explosion", "dc"):
        for az in AZS:
            ps, v, ref, _, _ = body[name, az]
            t_sim, t_ref = onset(v[0], ps.p_time)[0], onset(ref[0], ps.p_time)[0]
            FIGURES[f"onset {name} az{az:.0f}"] = (t_sim, t_ref)
            assert abs(t_sim - t_ref) <= 0.05


@pytest.mark.parametrize("az", [0.0, 60.0, 150.0])
def test_double_couple_p_over_s(body, az):
    # Factor 2: far-field ray theory vs full wavefield at ~3 P wavelengths (near-field terms, S-to-P
    # conversions and the free-surface response at 76 deg incidence all enter at tens of percent).
    ps, v, ref, _, _ = body["dc", az]
    r_sim, r_ref = p_over_s(v, ps.p_time, ps.s_time), p_over_s(ref, ps.p_time, ps.s_time)
    FIGURES[f"P/S dc az{az:.0f}"] = (r_sim, r_ref)
    assert 0.5 <= r_sim / r_ref <= 2.0


def test_p_absolute_amplitude(body):
    # Checks the 1e-15 m unit conversion and the sim's spreading/impedance: within a factor 1.5.
    for az in AZS:
        ps, v, ref, _, _ = body["explosion", az]
        a_sim, a_ref = onset(v[0], ps.p_time)[2], onset(ref[0], ps.p_time)[2]
        FIGURES[f"P peak explosion az{az:.0f}"] = (a_sim, a_ref)
        assert 1 / 1.5 <= a_sim / a_ref <= 1.5


@pytest.fixture(scope="module")
def rayleigh(earth):
    out = {}
    lat, lon, d, az = _receiver(45.0, DIST_RG)
    for depth in (0.7, 2.0, 10.0):
        src = make_source(origin_time=0.0, lat=LAT0, lon=LON0, depth_km=depth, magnitude=MAG, kind="explosion")
        ref = run_pyprop8(depth, [src], [(d, az)], ELASTIC.corner_ratio_p * src.corner_hz(VS))[0, 0]
        ps, v = run_sim(src, lat, lon, earth, rayleigh=True)
        out[depth] = (ps, v, ref)
    return out


def test_rg_shallow_explosion(rayleigh):
    # Factor 3 on Rg/P although Rg alone agrees to a few % (test below): the limit is the sim's P, which
    # is far-field ray theory and at 86 deg incidence from a 0.7 km source is 0.45 x pyprop8's
    # (measured Rg/P 9.0 vs 4.1). Before the moment-rate fix in sim/rayleigh.py it was 41 vs 4.1.
    ps, v, ref = rayleigh[0.7]
    r_sim, t_sim, s_sim = rg_over_p(v, ps.p_time, ps.s_time)
    r_ref, t_ref, s_ref = rg_over_p(ref, ps.p_time, ps.s_time)
    FIGURES["Rg/P 0.7 km"] = (r_sim, r_ref, t_sim, t_ref, s_sim, s_ref)
    assert 1 / 3 <= r_sim / r_ref <= 3
    assert s_sim == s_ref
    # Rg peak time: measured 3.80 vs 3.78 s. An extra time derivative on the kernel (the old defect)
    # moved it 0.17 s early, so 0.1 s catches that class of error.
    assert abs(t_sim - t_ref) <= 0.1


@pytest.mark.parametrize("depth", [0.7, 2.0])
def test_rg_absolute_amplitude(rayleigh, depth):
    # The sim's Rg is the Poisson half-space eigenfunction model, exactly this medium, so only the
    # excitation and normalisation can differ; measured Z 0.99 (0.7 km) and 0.99 (2 km). 1.25 leaves
    # room for c_R = 0.92 vs 0.9195 vs and the Rg source corner (fc_S, not pyprop8's fc_P) without
    # admitting the old extra omega (5x at 0.7 km, 3.5x at 2 km) or a factor 2 in I1.
    ps, v, ref = rayleigh[depth]
    ir = slice(int(ps.s_time * FS), NT)
    a_sim, a_ref = np.abs(v[0, ir]).max(), np.abs(ref[0, ir]).max()
    h_sim, h_ref = np.hypot(v[1, ir], v[2, ir]).max(), np.hypot(ref[1, ir], ref[2, ir]).max()
    FIGURES[f"Rg peak Z, H {depth} km"] = (a_sim, a_ref, h_sim, h_ref)
    assert 1 / 1.25 <= a_sim / a_ref <= 1.25
    if depth < 1.0:
        # Horizontal only where Rg dominates (measured 0.94): from 2 km, pyprop8's S and sP reach the
        # Rg window on the horizontals (H/V 0.86 there vs 0.68 for Rg alone), which the sim leaves out.
        assert 1 / 1.25 <= h_sim / h_ref <= 1.25


def test_rg_deep_source_weak(rayleigh):
    ps, v, ref = rayleigh[10.0]
    r_sim = rg_over_p(v, ps.p_time, ps.s_time)[0]
    r_ref = rg_over_p(ref, ps.p_time, ps.s_time)[0]
    sh = rayleigh[0.7]
    r_sim_sh = rg_over_p(sh[1], sh[0].p_time, sh[0].s_time)[0]
    r_ref_sh = rg_over_p(sh[2], sh[0].p_time, sh[0].s_time)[0]
    FIGURES["Rg/P 10 km"] = (r_sim, r_ref)
    assert r_ref < 0.2 * r_ref_sh
    assert r_sim < 0.2 * r_sim_sh


def test_velocity_kernel_has_no_dc():
    """The P velocity pulse must integrate to zero (no permanent displacement from a far-field pulse).

    Sample case: M2.5, fc_P = 19.6 Hz at fs = 100 Hz.
    """
    fc_p = 1.5 * make_source(origin_time=0.0, lat=LAT0, lon=LON0, depth_km=3.0, magnitude=2.5,
                             kind="explosion").corner_hz(VS)
    bank = build_pulse_bank(corner_hz=fc_p, fs_hz=100.0, attenuation=ELASTIC.qp, derivative=1, max_travel_time_s=5.0)
    k = bank.kernels[10].astype(float)
    # Net displacement left after the pulse, relative to the peak of the unit-area displacement pulse
    # (wc / e for the causal omega^-2 pulse): 1 % allowed.
    residual = k.sum() / bank.kernel_fs_hz / (2 * np.pi * fc_p / np.e)
    FIGURES["velocity kernel DC / peak displacement"] = residual
    assert abs(residual) < 0.01


def test_zz_report_figures():
    """Print every figure measured above (run with -s)."""
    for key, val in FIGURES.items():
        print(f"{key}: {val}")
