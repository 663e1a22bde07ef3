"""Labelled events of three classes for the event classifier (Zhang et al., BSSA 2025): natural
earthquakes, mine collapses and quarry explosions, each with many measurements.

The physics that separates the classes comes from the source, not from labels painted on:

- earthquakes: double couples of random orientation, 2-25 km deep, so the first motion is up or down
  by azimuth; strong S; no Rg below ~3 km;
- explosions: isotropic, at the surface (0-100 m), at a few quarry sites, 85 % in working hours
  (08-18 local), mostly ripple-fired (3-10 delayed shots, 17-60 ms apart, which scallops the
  spectrum): compressional first motion everywhere, high P/S, strong Rg;
- collapses: closing horizontal cracks (Crandall Canyon 2007) or implosions at a few mine sites,
  0.3-1 km deep, stress drop ~10x lower (low-frequency): dilatational first motion everywhere,
  weak P, strong Rg.

Measurements: 3-component seismometer velocity (m/s; Z up, N, E) at the nearest stations of a
network, and single DAS channels (strain rate, 1/s) of a fiber crossing the region, each a window of
5,000 samples at 100 Hz starting 5 s before the P arrival (DESIGN.md's classifier measurement file),
with realistic noise; measurements whose P stays below the noise (SNR < ``min_snr``) are left out, as
an analyst would. A known fraction of events gets a wrong label (``label`` vs ``truth_label``), so
that label cleaning can be scored.

Train and test sets: another ``seed`` draws other events; another ``sites_seed`` puts the quarries
and mines elsewhere (the station network and fiber stay, as in a real region).
"""
from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

from edge.exceptions import ConfigError
from edge.geodesy import destination, epicentral_km
from edge.velocity import VelocityModel
from sim.earth import TruthEarth
from sim.noise import NoiseConfig
from sim.route import make_layout, straight_route
from sim.scene import Scene
from sim.seismometer import point_velocity
from sim.source import Source, make_source

CLASSES = ("earthquake", "collapse", "explosion")
PAPER_MIX = (1035, 159, 586)          # Zhang et al.'s cleaned dataset
FS_HZ = 100.0
WINDOW = 5000
PRE_P_S = 5.0
T_BASE = 1_600_041_600.0              # 2020-09-14 00:00 UTC: event days are drawn after this
UTC_OFFSET_H = 8.0                    # local time of the region (China Standard Time)


@dataclass(frozen=True)
class ClassSetConfig:
    """What a class set holds.

    n_events : events in all; ``mix`` gives the class proportions (earthquake, collapse, explosion).
    center_lat, center_lon, half_size_km : the region, a square around its centre.
    n_stations : seismometers spread over the region (``network_seed`` places them).
    stations_per_event : the nearest stations within ``max_distance_km`` record each event.
    das_channels : DAS channels per event (1 km apart, nearest the epicentre) when the fiber is
        within ``max_distance_km``; 0 for none.
    n_quarries, n_mines, sites_seed : where explosions and collapses happen.
    label_noise : fraction of events whose label is wrong (drawn among the other two classes).
    min_snr : measurements whose P-window peak is below this many times the pre-P RMS are left out.
    """

    n_events: int = 1780
    mix: tuple[int, int, int] = PAPER_MIX
    seed: int = 0
    center_lat: float = 36.5
    center_lon: float = 118.0
    half_size_km: float = 120.0
    n_stations: int = 40
    network_seed: int = 0
    stations_per_event: int = 10
    max_distance_km: float = 120.0
    das_channels: int = 10
    n_quarries: int = 8
    n_mines: int = 5
    sites_seed: int = 0
    label_noise: float = 0.05
    min_snr: float = 3.0

    def __post_init__(self) -> None:
        if self.n_events < 1 or len(self.mix) != 3 or min(self.mix) < 0 or sum(self.mix) <= 0:
            raise ConfigError(f"need n_events >= 1 and a mix of three non-negative weights, got {self!r}")
        if not 0 <= self.label_noise < 0.5:
            raise ConfigError(f"label noise must be in [0, 0.5), got {self.label_noise!r}")
        if self.n_stations < 1 or self.stations_per_event < 1 or self.das_channels < 0:
            raise ConfigError("stations and channels per event must be >= 1 (das_channels >= 0)")


@dataclass(frozen=True)
class ClassEvent:
    """One labelled event: its source, label as given (maybe wrong), and ripple-fire shots."""

    index: int
    source: Source
    truth_label: int
    label: int
    site: int                    # quarry or mine number, -1 for earthquakes
    shot_delays_s: tuple[float, ...] = (0.0,)
    shot_weights: tuple[float, ...] = (1.0,)

    @property
    def local_hour(self) -> float:
        return float(((self.source.origin_time / 3600.0) + UTC_OFFSET_H) % 24.0)


def region_points(n: int, cfg: ClassSetConfig, rng: np.random.Generator, *, inset_km: float = 0.0):
    """``n`` random (lat, lon) in the region's square, ``inset_km`` from its edges."""
    h = cfg.half_size_km - inset_km
    east, north = rng.uniform(-h, h, n), rng.uniform(-h, h, n)
    lat, lon = destination(np.full(n, cfg.center_lat), np.full(n, cfg.center_lon),
                           np.degrees(np.arctan2(east, north)), np.hypot(east, north))
    return np.asarray(lat), np.asarray(lon)


def stations(cfg: ClassSetConfig) -> tuple[np.ndarray, np.ndarray]:
    """The seismometer network: (lat, lon) of ``n_stations`` stations."""
    return region_points(cfg.n_stations, cfg, np.random.default_rng([cfg.network_seed, 31]))


def sites(cfg: ClassSetConfig) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Quarry and mine positions ((lat, lon), (lat, lon)), 20 km inside the region."""
    rng = np.random.default_rng([cfg.sites_seed, 37])
    return region_points(cfg.n_quarries, cfg, rng, inset_km=20.0), region_points(cfg.n_mines, cfg, rng, inset_km=20.0)


def fiber(cfg: ClassSetConfig):
    """The fiber route crossing the region (west-south-west to east-north-east through its centre)."""
    lat0, lon0 = destination(cfg.center_lat, cfg.center_lon, 250.0, cfg.half_size_km)
    return straight_route(float(lat0), float(lon0), azimuth_deg=70.0, length_km=2 * cfg.half_size_km,
                          name="class-set fiber")


def draw_events(cfg: ClassSetConfig) -> list[ClassEvent]:
    """The events of the set: classes by ``mix``, sources by class, labels with ``label_noise``."""
    rng = np.random.default_rng([cfg.seed, 41])
    weights = np.asarray(cfg.mix, float) / np.sum(cfg.mix)
    counts = np.floor(weights * cfg.n_events).astype(int)
    counts[np.argmax(weights)] += cfg.n_events - counts.sum()
    classes = rng.permutation(np.repeat(np.arange(3), counts))
    (q_lat, q_lon), (m_lat, m_lon) = sites(cfg)
    wrong = rng.random(cfg.n_events) < cfg.label_noise
    events = []
    for k, c in enumerate(classes):
        day = T_BASE + 86400.0 * np.floor(rng.uniform(0, 3 * 365))
        hour = rng.uniform(0, 24)
        delays, shot_w, site = (0.0,), (1.0,), -1
        if CLASSES[c] == "earthquake":
            lat, lon = region_points(1, cfg, rng)
            src = make_source(origin_time=0.0, lat=float(lat[0]), lon=float(lon[0]),
                              depth_km=float(rng.uniform(2.0, 25.0)), magnitude=float(rng.uniform(0.5, 4.0)),
                              kind="earthquake", rng=rng)
        elif CLASSES[c] == "explosion":
            site = int(rng.integers(cfg.n_quarries))
            lat, lon = _jitter(q_lat[site], q_lon[site], 0.3, rng)
            if rng.random() < 0.85:
                hour = rng.uniform(8.0, 18.0)
            src = make_source(origin_time=0.0, lat=lat, lon=lon, depth_km=float(rng.uniform(0.0, 0.1)),
                              magnitude=float(rng.uniform(0.5, 3.0)), kind="explosion", rng=rng,
                              stress_drop_mpa=float(5.0 * np.exp(rng.normal(0.0, 0.5))))
            if rng.random() < 0.8:                      # ripple-fired
                n = int(rng.integers(3, 11))
                delays = tuple(np.cumsum(np.r_[0.0, rng.uniform(0.017, 0.060, n - 1)]))
                w = rng.uniform(0.6, 1.0, n)
                shot_w = tuple(w / w.sum())
        else:
            site = int(rng.integers(cfg.n_mines))
            lat, lon = _jitter(m_lat[site], m_lon[site], 0.5, rng)
            style = "closing_crack" if rng.random() < 0.7 else "implosion"
            src = make_source(origin_time=0.0, lat=lat, lon=lon, depth_km=float(rng.uniform(0.3, 1.0)),
                              magnitude=float(rng.uniform(0.8, 3.5)), kind="collapse", rng=rng,
                              collapse_style=style, stress_drop_mpa=float(0.3 * np.exp(rng.normal(0.0, 0.5))))
        src = replace(src, origin_time=float(day + (hour - UTC_OFFSET_H) % 24.0 * 3600.0))
        label = int(c)
        if wrong[k]:
            label = int(rng.choice([x for x in range(3) if x != c]))
        events.append(ClassEvent(k, src, int(c), label, site, tuple(float(x) for x in delays), shot_w))
    return events


def _jitter(lat: float, lon: float, km: float, rng: np.random.Generator) -> tuple[float, float]:
    la, lo = destination(lat, lon, rng.uniform(0, 360), abs(rng.normal(0.0, km)))
    return float(la), float(lo)


def ripple(trace: np.ndarray, delays_s: tuple[float, ...], weights: tuple[float, ...], fs: float) -> np.ndarray:
    """``trace`` (..., n) fired as delayed shots: sum of w_k x trace(t - d_k), fractional delays by FFT."""
    if len(delays_s) == 1 and delays_s[0] == 0.0:
        return trace
    n = trace.shape[-1]
    n_fft = int(2 ** np.ceil(np.log2(n + int(max(delays_s) * fs) + 1)))
    f = np.fft.rfftfreq(n_fft, 1.0 / fs)
    train = sum(w * np.exp(-2j * np.pi * f * d) for d, w in zip(delays_s, weights))
    return np.fft.irfft(np.fft.rfft(trace, n_fft) * train, n_fft)[..., :n]


def seismometer_noise(rng: np.random.Generator, n: int, fs: float) -> np.ndarray:
    """Ground-velocity noise (3, n), m/s: 1-20 Hz cultural/ambient noise with a station level drawn
    lognormally around 20 nm/s RMS (a rural short-period station; factor ~2 scatter), plus the
    0.1-0.5 Hz microseism ~5x stronger."""
    level = 2e-8 * np.exp(rng.normal(0.0, 0.7))
    hf = sosfilt(butter(2, [1.0, 20.0], "bandpass", fs=fs, output="sos"), rng.standard_normal((3, n + 500)))
    lf = sosfilt(butter(2, [0.1, 0.5], "bandpass", fs=fs, output="sos"), rng.standard_normal((3, n + 500)))
    hf, lf = hf[:, 500:], lf[:, 500:]
    return level * (hf / hf.std() + 5.0 * lf / lf.std())


def p_snr(window: np.ndarray, fs: float) -> float:
    """Peak of the first 3 s after P over the RMS of the 4 s before it (1-10 Hz, all components)."""
    x = sosfilt(butter(2, [1.0, 10.0], "bandpass", fs=fs, output="sos"), np.atleast_2d(window), axis=-1)
    i = int(PRE_P_S * fs)
    noise = np.sqrt(np.mean(x[:, int(0.5 * fs):i - int(0.5 * fs)] ** 2)) + 1e-30
    return float(np.max(np.abs(x[:, i:i + int(3 * fs)])) / noise)


def event_measurements(cfg: ClassSetConfig, ev: ClassEvent) -> dict[str, list]:
    """Seismometer and DAS windows of one event that pass ``min_snr``:
    ``{"seis": [(data (3, 5000), distance_km, snr)], "das": [(data (1, 5000), distance_km, snr)]}``."""
    rng = np.random.default_rng([cfg.seed, 43, ev.index])
    src = ev.source
    earth = TruthEarth(VelocityModel.default(), np.random.default_rng([cfg.seed, 47, ev.index]))
    out: dict[str, list] = {"seis": [], "das": []}
    st_lat, st_lon = stations(cfg)
    dist = epicentral_km(src.lat, src.lon, st_lat, st_lon)
    for i in np.argsort(dist)[:cfg.stations_per_event]:
        if dist[i] > cfg.max_distance_km:
            break
        pv = point_velocity(src, float(st_lat[i]), float(st_lon[i]), 0.0, earth, fs_hz=FS_HZ,
                            t0=src.origin_time - 10.0, duration_s=dist[i] / 3.0 + 60.0, seed=int(rng.integers(2**31)))
        start = int(round((pv.p_time - PRE_P_S - pv.t0) * FS_HZ))
        clean = ripple(pv.data, ev.shot_delays_s, ev.shot_weights, FS_HZ)[:, start:start + WINDOW]
        if clean.shape[1] < WINDOW:
            continue
        data = clean + seismometer_noise(rng, WINDOW, FS_HZ)
        snr = p_snr(data, FS_HZ)
        if snr >= cfg.min_snr:
            out["seis"].append((data.astype(np.float32), float(dist[i]), snr))
    if cfg.das_channels:
        out["das"] = _das_measurements(cfg, ev, earth, rng)
    return out


def _das_measurements(cfg: ClassSetConfig, ev: ClassEvent, earth: TruthEarth, rng: np.random.Generator) -> list:
    src = ev.source
    route = fiber(cfg)
    full = make_layout(route, spacing_m=1000.0)
    d = epicentral_km(src.lat, src.lon, full.lat, full.lon)
    k = int(np.argmin(d))
    if d[k] > cfg.max_distance_km:
        return []
    half = cfg.das_channels / 2.0
    start = float(np.clip(full.along_km[k] - half, 0.0, full.along_km[-1] - cfg.das_channels))
    layout = make_layout(route, spacing_m=1000.0, start_km=start, stop_km=start + cfg.das_channels - 1e-6)
    t0 = src.origin_time - 10.0
    duration = float(np.max(epicentral_km(src.lat, src.lon, layout.lat, layout.lon))) / 3.0 + 60.0
    seed = int(rng.integers(2**31))
    healthy = dict(dead_fraction=0.0, noisy_fraction=0.0, clipped_fraction=0.0)
    quiet = NoiseConfig(instrument_strain_per_rthz=0.0, ambient_rms=0.0, **healthy)
    signal_scene = Scene(layout=layout, t0=t0, duration_s=duration, fs_hz=FS_HZ, sources=[src], seed=seed,
                         noise=quiet, earth=earth)
    signal = signal_scene.to_record().strain_rate.T
    noise = Scene(layout=layout, t0=t0, duration_s=duration, fs_hz=FS_HZ, seed=seed,
                  noise=NoiseConfig(**healthy), earth=earth).to_record().strain_rate.T
    signal = ripple(signal, ev.shot_delays_s, ev.shot_weights, FS_HZ) + noise
    p_time = signal_scene.truth_arrays()["p_time"].reshape(-1)
    dist = epicentral_km(src.lat, src.lon, layout.lat, layout.lon)
    out = []
    for c in range(layout.n_channels):
        s0 = int(round((p_time[c] - PRE_P_S - t0) * FS_HZ))
        window = signal[c, s0:s0 + WINDOW]
        if s0 < 0 or window.size < WINDOW:
            continue
        snr = p_snr(window, FS_HZ)
        if snr >= cfg.min_snr:
            out.append((window[None, :].astype(np.float32), float(dist[c]), snr))
    return out


def _one(args: tuple[ClassSetConfig, ClassEvent]) -> tuple[ClassEvent, dict]:
    cfg, ev = args
    return ev, event_measurements(cfg, ev)


def generate(cfg: ClassSetConfig, out_dir: str | Path, *, workers: int = 1, progress=None) -> dict:
    """Write ``seismometer.npz`` (C = 3) and ``das.npz`` (C = 1) measurement files and
    ``events.json`` into ``out_dir``; return a summary (counts per class, measurements, wrong labels)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    events = draw_events(cfg)
    jobs = [(cfg, ev) for ev in events]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_one, jobs, chunksize=4))
    else:
        results = []
        for job in jobs:
            results.append(_one(job))
            if progress is not None:
                progress(len(results), len(jobs))
    summary = {"config": asdict(cfg), "classes": list(CLASSES),
               "events": {name: int(sum(e.truth_label == i for e in events)) for i, name in enumerate(CLASSES)},
               "wrong_labels": int(sum(e.label != e.truth_label for e in events))}
    for kind in ("seis", "das"):
        rows = [(ev, m) for ev, meas in results for m in meas[kind]]
        name = "seismometer.npz" if kind == "seis" else "das.npz"
        channels = 3 if kind == "seis" else 1
        data = np.stack([m[0] for _, m in rows]) if rows else np.zeros((0, channels, WINDOW), np.float32)
        np.savez(out / name, data=data, fs=FS_HZ, event=np.array([ev.index for ev, _ in rows], np.int64),
                 label=np.array([ev.label for ev, _ in rows], np.int64),
                 truth_label=np.array([ev.truth_label for ev, _ in rows], np.int64),
                 magnitude=np.array([ev.source.magnitude for ev, _ in rows]),
                 depth_km=np.array([ev.source.depth_km for ev, _ in rows]),
                 distance_km=np.array([m[1] for _, m in rows]), snr=np.array([m[2] for _, m in rows]),
                 site=np.array([ev.site for ev, _ in rows], np.int64), classes=np.array(CLASSES))
        summary[f"measurements_{'seismometer' if kind == 'seis' else 'das'}"] = len(rows)
    table = [{"event": e.index, "truth": CLASSES[e.truth_label], "label": CLASSES[e.label], "site": e.site,
              "local_hour": round(e.local_hour, 2), "shots": len(e.shot_delays_s), **e.source.to_truth()}
             for e in events]
    (out / "events.json").write_text(json.dumps({"summary": summary, "events": table}, indent=1))
    return summary
