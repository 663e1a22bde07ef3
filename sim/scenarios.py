"""Scenario sets with ground truth: ``kyushu-2022``, ``random`` and ``noise``.

A scenario is a list of :class:`ScenarioItem` (one fiber record each). Items are built lazily, so a
caller can generate and write them one at a time with bounded memory.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

from edge.exceptions import ConfigError
from edge.geodesy import destination, epicentral_km
from edge.velocity import VelocityModel
from sim.route import FiberLayout, Route, kyushu_route, make_layout
from sim.scene import Scene, hash_seed
from sim.source import Source, make_source
from sim.traffic import MovingLoad

SCENARIOS = ("kyushu-2022", "random", "noise")
KYUSHU_T_START = calendar.timegm((2022, 11, 1, 0, 0, 0))   # ~3 months of observation, as the paper
KYUSHU_SPAN_S = 92 * 86400.0


@dataclass
class ScenarioItem:
    """One record of a scenario: a name and how to build its scene."""

    name: str
    layout: FiberLayout
    t0: float
    duration_s: float
    fs_hz: float
    seed: int
    sources: list[Source] = field(default_factory=list)
    loads: list[MovingLoad] = field(default_factory=list)
    model: VelocityModel | None = None

    def scene(self, perturbation: float | None = None) -> Scene:
        """Build the scene (wavefields and noise state); ``perturbation`` overrides the truth earth's
        lateral velocity perturbation (relative, default the Scene's +-5 %)."""
        extra = {} if perturbation is None else {"perturbation": perturbation}
        return Scene(layout=self.layout, t0=self.t0, duration_s=self.duration_s, fs_hz=self.fs_hz,
                     sources=self.sources, loads=self.loads, seed=self.seed, model=self.model, **extra)


def kyushu_reach(*, spacing_m: float = 100.0, gauge_m: float = 10.0, decimation: int = 1,
                 first_channel: int = 0, last_channel: int | None = None) -> FiberLayout:
    """The interrogator reach of the Kyushu-like route from Kurume to Shin-Yatsushiro (~100 km)."""
    route = kyushu_route()
    return make_layout(route, spacing_m=spacing_m, gauge_m=gauge_m, start_km=route.station_km("Kurume"),
                       stop_km=route.station_km("Shin-Yatsushiro"), decimation=decimation,
                       first_channel=first_channel, last_channel=last_channel)


def train_schedule(rng: np.random.Generator, layout: FiberLayout, t0: float, duration_s: float, *,
                   headway_s: float = 600.0) -> list[MovingLoad]:
    """Shinkansen-like trains in both directions, about one per ``headway_s`` each way.

    Speeds 60-85 m/s on open track, slower (20-40 m/s) for trains entering or leaving a station
    along the reach. Each train is inserted so it runs across the whole reach.
    """
    x0, x1 = float(layout.along_km[0]), float(layout.along_km[-1])
    loads = []
    for direction in (+1, -1):
        t = t0 - rng.uniform(0, headway_s) - (x1 - x0) * 1e3 / 60.0
        while t < t0 + duration_s:
            speed = rng.uniform(60.0, 85.0) if rng.random() > 0.2 else rng.uniform(20.0, 40.0)
            start = x0 if direction > 0 else x1
            loads.append(MovingLoad(t_start=t, x_start_km=start, speed_mps=direction * speed,
                                    length_m=float(rng.choice([200.0, 400.0])),
                                    strain=float(rng.uniform(2e-8, 1e-7)),
                                    vibration_rms=float(rng.uniform(1e-7, 4e-7)),
                                    x_min_km=x0 - 1.0, x_max_km=x1 + 1.0, kind="train"))
            t += headway_s * rng.uniform(0.6, 1.4)
    return [ld for ld in loads if _on_reach_during(ld, x0, x1, t0, duration_s)]


def road_traffic(rng: np.random.Generator, layout: FiberLayout, t0: float, duration_s: float, *,
                 n_roads: int = 2, road_km: float = 3.0, mean_gap_s: float = 20.0) -> list[MovingLoad]:
    """Cars and lorries on a few stretches where a road runs beside the fiber."""
    x0, x1 = float(layout.along_km[0]), float(layout.along_km[-1])
    loads = []
    for _ in range(n_roads):
        a = rng.uniform(x0, max(x0, x1 - road_km))
        b = min(a + road_km, x1)
        t = t0 - road_km * 1e3 / 10.0
        while t < t0 + duration_s:
            v = rng.uniform(8.0, 28.0) * rng.choice([-1.0, 1.0])
            loads.append(MovingLoad(t_start=t, x_start_km=a if v > 0 else b, speed_mps=float(v),
                                    length_m=float(rng.uniform(4.0, 15.0)),
                                    strain=float(rng.uniform(2e-10, 3e-9)),
                                    vibration_rms=float(rng.uniform(5e-9, 3e-8)), decay_m=40.0,
                                    x_min_km=a, x_max_km=b, kind="car"))
            t += rng.exponential(mean_gap_s)
    return [ld for ld in loads if _on_reach_during(ld, x0, x1, t0, duration_s)]


def _on_reach_during(ld: MovingLoad, x0: float, x1: float, t0: float, duration_s: float) -> bool:
    lo = max(x0, ld.x_min_km)
    hi = min(x1, ld.x_max_km)
    xa, xb = ld.position_km(t0 - 60.0), ld.position_km(t0 + duration_s + 60.0)
    return max(min(xa, xb), lo) <= min(max(xa, xb), hi)


def _event_window(source: Source, layout: FiberLayout, *, pre_s: float = 30.0, post_s: float = 60.0
                  ) -> tuple[float, float]:
    """Record window: ``pre_s`` before the first P to ``post_s`` after it (P at ~6 km/s)."""
    d = float(np.min(epicentral_km(source.lat, source.lon, layout.lat, layout.lon)))
    t_first = source.origin_time + np.hypot(d, source.depth_km) / 6.5
    start = np.floor(t_first - pre_s)
    return float(start), pre_s + post_s


def _kyushu_sources(rng: np.random.Generator, layout: FiberLayout) -> list[tuple[str, Source]]:
    """The 26 events: 15 near (< 100 km, Kumamoto), 10 regional (100-300 km), 1 M6.6 Hyuga-nada."""
    times = np.sort(KYUSHU_T_START + rng.uniform(0, KYUSHU_SPAN_S, 26))
    out = []
    for k in range(15):
        # Kumamoto region: the Futagawa-Hinagu fault zone and its surroundings.
        lat = rng.uniform(32.55, 33.05)
        lon = rng.uniform(130.55, 131.05)
        out.append(("near", dict(lat=lat, lon=lon, depth_km=rng.uniform(5.0, 20.0),
                                 magnitude=float(np.round(rng.uniform(2.5, 5.0), 1)))))
    centre = (32.92, 130.58)
    while len(out) < 25:
        az = rng.uniform(0, 360)
        dist = rng.uniform(100.0, 330.0)
        lat, lon = destination(centre[0], centre[1], az, dist)
        nearest = float(np.min(epicentral_km(lat, lon, layout.lat, layout.lon)))
        if not 100.0 <= nearest <= 300.0:
            continue
        out.append(("regional", dict(lat=float(lat), lon=float(lon), depth_km=rng.uniform(8.0, 60.0),
                                     magnitude=float(np.round(rng.uniform(3.8, 5.8), 1)))))
    # Hyuga-nada-like: about 150 km ESE of the reach at 45 km depth (the paper's M6.6 example).
    lat, lon = destination(centre[0], centre[1], 112.0, 150.0)
    out.append(("hyuga-nada", dict(lat=float(lat), lon=float(lon), depth_km=45.0, magnitude=6.6)))
    order = rng.permutation(len(out))
    sources = []
    for t, k in zip(times, order):
        label, kw = out[k]
        src = make_source(origin_time=float(t), kind="earthquake", rng=rng, **kw)
        sources.append((label, src))
    return sources


def kyushu_2022(*, seed: int = 0, fs_hz: float = 100.0, spacing_m: float = 100.0, gauge_m: float = 10.0,
                decimation: int = 1, train_fraction: float = 0.25) -> list[ScenarioItem]:
    """The setting of Katakami et al. (2025) on one interrogator's reach: 26 events, one record each.

    About ``train_fraction`` of the records have a train passing the channels nearest the epicentre
    during the P arrival.
    """
    rng = np.random.default_rng([seed, 2022])
    layout = kyushu_reach(spacing_m=spacing_m, gauge_m=gauge_m, decimation=decimation)
    items = []
    for k, (label, src) in enumerate(_kyushu_sources(rng, layout)):
        t0, dur = _event_window(src, layout)
        ev_rng = np.random.default_rng([seed, 2022, k])
        loads = train_schedule(ev_rng, layout, t0, dur, headway_s=900.0)
        if ev_rng.random() < train_fraction:
            # A train at the channel nearest the epicentre at the time the first P arrives there.
            i = int(np.argmin(epicentral_km(src.lat, src.lon, layout.lat, layout.lon)))
            t_p = src.origin_time + np.hypot(epicentral_km(src.lat, src.lon, layout.lat[i], layout.lon[i]),
                                             src.depth_km) / 6.0
            speed = float(ev_rng.uniform(55.0, 85.0) * ev_rng.choice([-1.0, 1.0]))
            loads.append(MovingLoad(t_start=t_p, x_start_km=float(layout.along_km[i]), speed_mps=speed,
                                    x_min_km=float(layout.along_km[0]) - 1,
                                    x_max_km=float(layout.along_km[-1]) + 1, kind="train"))
        loads += road_traffic(ev_rng, layout, t0, dur)
        name = f"kyushu-2022_{k:02d}_{label}_M{src.magnitude:.1f}"
        items.append(ScenarioItem(name=name, layout=layout, t0=t0, duration_s=dur, fs_hz=fs_hz,
                                  seed=hash_seed(seed, 2022, k), sources=[src], loads=loads))
    return items


def random_events(*, route: Route | None = None, n_events: int = 10, seed: int = 0, fs_hz: float = 100.0,
                  spacing_m: float = 100.0, gauge_m: float = 10.0, margin_km: float = 100.0,
                  magnitude: tuple[float, float] = (2.0, 6.0), depth_km: tuple[float, float] = (2.0, 40.0),
                  kinds: tuple[str, ...] = ("earthquake",), start_km: float = 0.0,
                  stop_km: float | None = None) -> list[ScenarioItem]:
    """Any number of events in a box ``margin_km`` around a route, one record each."""
    if n_events < 1:
        raise ConfigError(f"number of events must be >= 1, got {n_events}")
    if not (magnitude[0] <= magnitude[1]) or not (depth_km[0] <= depth_km[1]):
        raise ConfigError("magnitude and depth ranges must be (low, high) with low <= high")
    route = route if route is not None else kyushu_route()
    layout = make_layout(route, spacing_m=spacing_m, gauge_m=gauge_m, start_km=start_km, stop_km=stop_km)
    rng = np.random.default_rng([seed, 7])
    lat_pad = margin_km / 111.2
    lon_pad = margin_km / (111.2 * np.cos(np.radians(np.mean(layout.lat))))
    items = []
    t = KYUSHU_T_START
    for k in range(n_events):
        t += rng.uniform(3600.0, 86400.0)
        src = make_source(origin_time=float(t), lat=float(rng.uniform(layout.lat.min() - lat_pad,
                                                                        layout.lat.max() + lat_pad)),
                          lon=float(rng.uniform(layout.lon.min() - lon_pad, layout.lon.max() + lon_pad)),
                          depth_km=float(rng.uniform(*depth_km)),
                          magnitude=float(rng.uniform(*magnitude)), kind=str(rng.choice(kinds)), rng=rng)
        t0, dur = _event_window(src, layout)
        ev_rng = np.random.default_rng([seed, 7, k])
        loads = train_schedule(ev_rng, layout, t0, dur)
        items.append(ScenarioItem(name=f"random_{k:03d}_M{src.magnitude:.1f}", layout=layout, t0=t0,
                                  duration_s=dur, fs_hz=fs_hz, seed=hash_seed(seed, 7, k), sources=[src],
                                  loads=loads))
    return items


def noise_only(*, hours: float = 1.0, record_s: float = 600.0, seed: int = 0, fs_hz: float = 100.0,
               spacing_m: float = 100.0, gauge_m: float = 10.0, headway_s: float = 300.0
               ) -> list[ScenarioItem]:
    """Hours of noise, trains and road traffic with no earthquake (for false-alarm tests)."""
    if not hours > 0 or not record_s > 0:
        raise ConfigError("noise scenario needs hours > 0 and record length > 0")
    layout = kyushu_reach(spacing_m=spacing_m, gauge_m=gauge_m)
    n = int(np.ceil(hours * 3600.0 / record_s))
    items = []
    for k in range(n):
        t0 = KYUSHU_T_START + k * record_s
        rng = np.random.default_rng([seed, 9, k])
        loads = train_schedule(rng, layout, t0, record_s, headway_s=headway_s)
        loads += road_traffic(rng, layout, t0, record_s)
        items.append(ScenarioItem(name=f"noise_{k:03d}", layout=layout, t0=t0, duration_s=record_s,
                                  fs_hz=fs_hz, seed=hash_seed(seed, 9, k), loads=loads))
    return items


def scenario(name: str, **kw) -> list[ScenarioItem]:
    """Scenario by name (``kyushu-2022``, ``random``, ``noise``); keyword arguments pass through."""
    builders = {"kyushu-2022": kyushu_2022, "random": random_events, "noise": noise_only}
    if name not in builders:
        raise ConfigError(f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    return builders[name](**kw)


def iter_scenes(items: list[ScenarioItem]) -> Iterator[tuple[ScenarioItem, Scene]]:
    """Build scenes one at a time (each holds only its own state)."""
    for item in items:
        yield item, item.scene()
