"""Small simulated scenes for the detection tests (the simulator is the edge's test bench)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from scipy.signal import butter, sosfilt

from edge.detection import Detector, DetectorConfig, Pick
from edge.replay import channel_along_km

T0 = 1_667_260_800.0    # 2022-11-01 00:00 UTC


@dataclass
class SimRecord:
    """A simulated record in memory with its true P times per channel."""

    data: np.ndarray            # float32 (n, n_ch)
    fs: float
    t0: float
    along_km: np.ndarray
    p_time: np.ndarray          # (n_ch,) POSIX s, NaN without an event
    state: np.ndarray           # sim channel state (0 healthy)
    scene: object


def simulate(*, fs_hz: float = 100.0, spacing_m: float = 100.0, length_km: float = 15.0,
             duration_s: float = 45.0, magnitude: float | None = 3.5, east_km: float = 6.0,
             depth_km: float = 8.0, origin_after_s: float = 28.0, loads=(), seed: int = 3,
             healthy: bool = True) -> SimRecord:
    """A straight N-S fiber near Kumamoto and, optionally, one earthquake beside its middle."""
    from sim.noise import NoiseConfig
    from sim.route import make_layout, straight_route
    from sim.scene import Scene
    from sim.source import make_source
    from edge.geodesy import destination

    layout = make_layout(straight_route(32.60, 130.70, azimuth_deg=0.0, length_km=length_km), spacing_m=spacing_m)
    sources = []
    if magnitude is not None:
        mid = layout.n_channels // 2
        lat, lon = destination(layout.lat[mid], layout.lon[mid], 90.0, east_km)
        sources.append(make_source(origin_time=T0 + origin_after_s, lat=float(lat), lon=float(lon),
                                   depth_km=depth_km, magnitude=magnitude, rng=np.random.default_rng(seed),
                                   strike_dip_rake=(30.0, 60.0, 90.0)))
    noise = NoiseConfig(dead_fraction=0.0, noisy_fraction=0.0, clipped_fraction=0.0) if healthy else NoiseConfig()
    scene = Scene(layout=layout, t0=T0, duration_s=duration_s, fs_hz=fs_hz, sources=sources, loads=list(loads),
                  seed=seed, noise=noise)
    rec = scene.to_record()
    truth = scene.truth_arrays()
    p = truth.get("p_time", np.full(layout.n_channels, np.nan))
    return SimRecord(data=rec.strain_rate, fs=fs_hz, t0=T0, along_km=channel_along_km(rec.lat, rec.lon, rec.elev_m),
                     p_time=np.asarray(p, dtype=float), state=np.asarray(truth["channel_state"]), scene=scene)


def run_detector(rec: SimRecord, config: DetectorConfig | None = None, *, frame: int | None = None,
                 frames=None) -> tuple[list[Pick], Detector]:
    """Feed a record in frames of ``frame`` samples (default 1 s) or of the sizes in ``frames``."""
    det = Detector(config, fs_hz=rec.fs, along_km=rec.along_km)
    picks: list[Pick] = []
    n = rec.data.shape[0]
    sizes = iter(frames) if frames is not None else None
    i = 0
    while i < n:
        step = next(sizes) if sizes is not None else (frame or int(rec.fs))
        picks += det.process(rec.data[i:i + step], rec.t0 + i / rec.fs)
        i += step
    picks += det.flush()
    return picks, det


def true_snr(rec: SimRecord) -> np.ndarray:
    """Per channel: peak 1-10 Hz strain rate in the first second after the true P over the noise RMS
    before it (measured on the record, independently of the detector)."""
    sos = butter(2, [1.0, 10.0], btype="bandpass", fs=rec.fs, output="sos")
    x = sosfilt(sos, rec.data.astype(np.float64), axis=0)
    idx = np.round((rec.p_time - rec.t0) * rec.fs).astype(int)
    fs = int(rec.fs)
    snr = np.zeros(x.shape[1])
    for c in range(x.shape[1]):
        i = idx[c]
        if i - 6 * fs < 0 or i + fs > x.shape[0]:
            continue
        noise = x[i - 6 * fs:i - fs // 2, c].std()
        snr[c] = np.abs(x[i:i + fs, c]).max() / noise if noise > 0 else 0.0
    return snr


def first_pick_residuals(picks: list[Pick], rec: SimRecord, stack: int = 1, window_s: float = 2.0) -> dict[int, float]:
    """Earliest pick per processing channel within ``window_s`` of the true P: pick - truth, s."""
    out: dict[int, float] = {}
    for p in sorted(picks, key=lambda p: p.time):
        r = p.time - rec.p_time[p.channel]
        if abs(r) <= window_s and p.channel not in out:
            out[p.channel] = r
    return out


@pytest.fixture(scope="module")
def near_event():
    """A M3.5 at 8 km depth, 6 km beside a 15 km fiber: 100 Hz, 100 m channels, no trains."""
    return simulate()
