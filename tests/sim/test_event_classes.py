"""The classifier's three-class data (sim/event_classes.py): the physics of each class shows in the
generated measurements, not only in their labels.

The per-source physics (first-motion polarity of explosions, closing cracks, implosions and double
couples, P/S, Rg amplitude) is checked against pyprop8 in ``test_reference_pyprop8.py`` on the same
``point_velocity`` the class set uses; here the set as a whole: class mix, sites, daytime blasting,
label noise recorded, polarity by class, P/S, low-frequency collapses, Rg of shallow sources, the
ripple-fire scalloping, the measurement file of DESIGN.md.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

from edge.geodesy import epicentral_km
from sim.event_classes import (CLASSES, FS_HZ, PRE_P_S, WINDOW, ClassSetConfig, draw_events, generate, ripple,
                               sites)

P = int(PRE_P_S * FS_HZ)


@pytest.fixture(scope="module")
def class_set(tmp_path_factory):
    """36 events (12 per class), 6 stations each, 4 DAS channels, no label noise."""
    out = tmp_path_factory.mktemp("classes")
    cfg = ClassSetConfig(n_events=36, mix=(1, 1, 1), seed=5, stations_per_event=6, das_channels=4, label_noise=0.0)
    summary = generate(cfg, out)
    return out, summary


def _band(x, lo=1.0, hi=20.0):
    return sosfiltfilt(butter(2, [lo, hi], "bandpass", fs=FS_HZ, output="sos"), x, axis=-1)


def _first_motion(z: np.ndarray) -> int:
    """Sign of the first excursion after P above 20 % of the P-window peak (1-20 Hz, zero phase)."""
    x = _band(z)[P - 20:P + 100]
    above = np.flatnonzero(np.abs(x) >= 0.2 * np.abs(x).max())
    return int(np.sign(x[above[0]]))


def test_measurement_files_follow_the_design(class_set):
    out, summary = class_set
    seis, das = np.load(out / "seismometer.npz"), np.load(out / "das.npz")
    assert seis["data"].dtype == np.float32 and seis["data"].shape[1:] == (3, WINDOW)
    assert das["data"].shape[1:] == (1, WINDOW) and len(das["data"]) > 0
    assert float(seis["fs"]) == 100.0 and seis["event"].dtype == np.int64
    assert summary["events"] == {"earthquake": 12, "collapse": 12, "explosion": 12}
    # every event is recorded somewhere, and the window puts P 5 s in: quiet before, signal after
    assert set(np.unique(np.r_[seis["event"], das["event"]])) == set(range(36))
    x = _band(seis["data"][:, 0])
    before = np.sqrt(np.mean(x[:, 100:P - 50] ** 2, axis=1))
    after = np.abs(x[:, P - 10:P + 200]).max(axis=1)
    assert np.median(after / before) > 10
    events = json.loads((out / "events.json").read_text())["events"]
    assert [e["truth"] for e in events].count("explosion") == 12


def test_first_motion_by_class(class_set):
    """Explosions push up everywhere, collapses pull down everywhere, earthquakes do both by azimuth."""
    out, _ = class_set
    d = np.load(out / "seismometer.npz")
    good = d["snr"] >= 30
    up = {c: [] for c in CLASSES}
    for i in np.flatnonzero(good):
        up[CLASSES[d["truth_label"][i]]].append(_first_motion(d["data"][i, 0]) > 0)
    frac = {c: float(np.mean(v)) for c, v in up.items()}
    assert all(len(v) >= 10 for v in up.values()), {c: len(v) for c, v in up.items()}
    assert frac["explosion"] >= 0.9 and frac["collapse"] <= 0.1
    assert 0.2 <= frac["earthquake"] <= 0.8, frac


def _p_over_s(d, i) -> float:
    """Vertical P peak (first 1.5 s) over the horizontal S peak, both 5-15 Hz: the classic
    high-frequency P/S discriminant (Pg/Lg at 6-8 Hz and up), above the band where Rg of shallow
    sources would fill the S window."""
    x = _band(d["data"][i], 5.0, 15.0)
    dist, depth = d["distance_km"][i], d["depth_km"][i]
    ts_minus_tp = np.hypot(dist, depth) * (1 / 3.5 - 1 / 6.0)
    s0 = P + int(ts_minus_tp * FS_HZ) - 30
    return float(np.abs(x[0, P:P + 150]).max() / (np.abs(x[1:, s0:s0 + 300]).max() + 1e-30))


def test_explosions_have_high_p_over_s(class_set):
    out, _ = class_set
    d = np.load(out / "seismometer.npz")
    ratio = {c: [] for c in CLASSES}
    for i in np.flatnonzero((d["snr"] >= 10) & (d["distance_km"] >= 15) & (d["distance_km"] <= 80)):
        ratio[CLASSES[d["truth_label"][i]]].append(_p_over_s(d, i))
    med = {c: float(np.median(v)) for c, v in ratio.items()}
    assert med["explosion"] > 3 * med["earthquake"], med


def _centroid_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    f = np.fft.rfftfreq(x.size, 1 / FS_HZ)
    band = (f >= 0.5) & (f <= 30)
    return float(np.sum(f[band] * spec[band]) / np.sum(spec[band]))


def test_collapses_are_low_frequency(class_set):
    """P-wave spectral centroid: collapses (stress drop ~0.3 MPa) below earthquakes of the same size."""
    out, _ = class_set
    d = np.load(out / "seismometer.npz")
    cen = {c: [] for c in CLASSES}
    for i in np.flatnonzero((d["snr"] >= 20) & (d["distance_km"] <= 60) & (d["magnitude"] >= 1.0)):
        cen[CLASSES[d["truth_label"][i]]].append(_centroid_hz(d["data"][i, 0, P - 20:P + 236]))
    med = {c: float(np.median(v)) for c, v in cen.items() if v}
    assert med["collapse"] < 0.8 * med["earthquake"], med


def test_shallow_sources_carry_rg(class_set):
    """Surface waves after S (group velocity 2-3.2 km/s, 0.3-2 Hz where Rg lives) over the P peak:
    explosions at the surface far above earthquakes at 2-25 km; collapses, 0.3-1 km deep, between."""
    out, _ = class_set
    d = np.load(out / "seismometer.npz")
    rg = {c: [] for c in CLASSES}
    for i in np.flatnonzero((d["snr"] >= 10) & (d["distance_km"] >= 10) & (d["distance_km"] <= 60)):
        x = _band(d["data"][i, 0], 0.3, 2.0)
        dist = d["distance_km"][i]
        tp = np.hypot(dist, d["depth_km"][i]) / 6.0
        a, b = (P + int((dist / 3.2 - tp) * FS_HZ), P + int((dist / 2.0 - tp) * FS_HZ))
        rg[CLASSES[d["truth_label"][i]]].append(np.abs(x[a:b]).max() / np.abs(x[P:P + 150]).max())
    med = {c: float(np.median(v)) for c, v in rg.items()}
    assert med["explosion"] > 3 * med["earthquake"] and med["collapse"] > 1.5 * med["earthquake"], med


def test_ripple_fire_scallops_the_spectrum():
    """Two equal shots 50 ms apart: the spectrum vanishes at 10, 30, ... Hz (|1 + exp(-2 pi i f d)| = 0)
    and doubles at 0, 20 Hz; a single shot is left untouched."""
    x = np.zeros(1000)
    x[100] = 1.0
    y = ripple(x, (0.0, 0.05), (0.5, 0.5), FS_HZ)
    spec = np.abs(np.fft.rfft(y))
    f = np.fft.rfftfreq(1000, 1 / FS_HZ)
    assert spec[np.argmin(np.abs(f - 10))] < 1e-9 and spec[np.argmin(np.abs(f - 30))] < 1e-9
    assert spec[np.argmin(np.abs(f - 20))] == pytest.approx(1.0, abs=1e-9)
    assert ripple(x, (0.0,), (1.0,), FS_HZ) is x


def test_labels_sites_and_hours():
    """Cheap checks on the drawn events: mix, wrong labels recorded, quarries and mines, daytime blasts."""
    cfg = ClassSetConfig(n_events=1780, seed=2, label_noise=0.05)
    events = draw_events(cfg)
    truth = np.array([e.truth_label for e in events])
    assert np.bincount(truth).tolist() == [1035, 159, 586]
    wrong = np.mean([e.label != e.truth_label for e in events])
    assert 0.035 <= wrong <= 0.065
    (q_lat, q_lon), (m_lat, m_lon) = sites(cfg)
    for e in events:
        if CLASSES[e.truth_label] == "explosion":
            assert epicentral_km(e.source.lat, e.source.lon, q_lat[e.site], q_lon[e.site]) < 2.0
            assert e.source.depth_km <= 0.1
        elif CLASSES[e.truth_label] == "collapse":
            assert epicentral_km(e.source.lat, e.source.lon, m_lat[e.site], m_lon[e.site]) < 3.0
        else:
            assert e.site == -1 and 2.0 <= e.source.depth_km <= 25.0
    blasts = [e for e in events if CLASSES[e.truth_label] == "explosion"]
    assert np.mean([8.0 <= e.local_hour <= 18.0 for e in blasts]) >= 0.8
    assert np.mean([len(e.shot_delays_s) > 1 for e in blasts]) >= 0.7
    # a test set's sites are elsewhere
    (q2, _), _ = sites(ClassSetConfig(sites_seed=1))
    assert not np.allclose(q2, q_lat)
