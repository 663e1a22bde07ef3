"""The processing chain the daemon runs per fiber segment, and the figures it watches it by."""
from __future__ import annotations

import functools
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import numpy as np

from edge.archive import WaveformArchive, kept_channels
from edge.channels import ChannelGeometry
from edge.config import EdgeConfig
from edge.detection import Detector, Pick
from edge.eew import EewProcessor
from edge.location import Locator, LocatorConfig
from edge.magnitude import MagnitudeRelation
from edge.replay import channel_along_km
from edge.velocity import VelocityModel


@dataclass
class Chain:
    """Detector and EEW processor of one segment, with what they were built from."""

    detector: Detector
    eew: EewProcessor
    geometry: ChannelGeometry
    fs_hz: float
    ch0: int


@functools.lru_cache(maxsize=4)
def locator_for(model_path: str, config: LocatorConfig) -> Locator:
    """One locator (travel-time tables built or loaded once) per model and settings."""
    model = VelocityModel.from_toml(model_path) if model_path else VelocityModel.default()
    return Locator(model, config=config)


def build_chain(config: EdgeConfig, geometry: ChannelGeometry, *, fs_hz: float, ch0: int,
                emit: Callable[[dict], None],
                on_picks: Callable[[list[Pick], str | None], None] | None = None) -> Chain:
    """Detector + EEW processor over ``geometry``; ``emit`` gets every location and alarm message and
    ``on_picks`` every block's new P candidates, after the EEW processor has seen them."""
    along = channel_along_km(geometry.lat, geometry.lon, geometry.elev_m)
    detector = Detector(config.detector, fs_hz=fs_hz, along_km=along, channel0=ch0)
    eew = EewProcessor(detector, lat=geometry.lat, lon=geometry.lon, elev_m=geometry.elev_m,
                       locator=locator_for(config.model, config.locator), magnitude=MagnitudeRelation.default(),
                       config=config.eew, emit=emit, box=config.box, channel0=ch0, keep_events=1)
    if config.archive.seconds > 0:
        cols = kept_channels(detector.along_km, config.archive.spacing_km)
        detector.archive = WaveformArchive(cols, int(round(config.archive.seconds * detector.grid.fs_hz)))
        eew.snippet_channels = config.archive.snippet_channels
    if on_picks is not None:
        def on_block(now: float, picks: list[Pick]) -> None:
            eew.on_block(now, picks)          # the alarm path first
            if picks:
                on_picks(picks, None if eew.event is None else eew.event.id)
        detector.on_block = on_block
    return Chain(detector, eew, geometry, fs_hz, ch0)


def warm_up(config: EdgeConfig) -> float:
    """Compile (or load from Numba's cache) every kernel and the travel-time tables before READY,
    so the first real frame is not the one that waits for the compiler. Returns the seconds taken."""
    start = time.perf_counter()
    fs = config.stream.fs_hz
    n = 64
    lat = 33.0 + np.arange(n) * 1e-4
    geometry = ChannelGeometry(lat, np.full(n, 130.5), np.zeros(n))
    chain = build_chain(config, geometry, fs_hz=fs, ch0=0, emit=lambda msg: None)
    rng = np.random.default_rng(0)
    block = int(fs)
    for k in range(3):
        chain.detector.process(rng.standard_normal((block, n)).astype(np.float32) * 1e-9, 1e9 + k)
    chain.detector.flush()
    locator = chain.eew.locator
    t = locator.synthetic_times(lat, geometry.lon, geometry.elev_m, source=(33.01, 130.6, 10.0))
    locator.locate(lat, geometry.lon, geometry.elev_m, t)
    return time.perf_counter() - start


class LagMeter:
    """How far processing has fallen behind the stream, robust to the clock offset between the
    interrogator's GPS time and this board's clock.

    ``update`` takes wall time minus the data time of the newest sample processed. Its smallest
    value over the last ``window_s`` is the offset of a keeping-up edge (transport and framing
    included); ``lag_s`` is the latest value above it.
    """

    def __init__(self, window_s: float = 300.0, bucket_s: float = 10.0):
        self.bucket_s = bucket_s
        self._buckets: deque[tuple[float, float]] = deque(maxlen=int(window_s / bucket_s) + 1)
        self.latest: float | None = None

    def update(self, offset_s: float) -> None:
        now = time.monotonic()
        self.latest = offset_s
        if self._buckets and now - self._buckets[-1][0] < self.bucket_s:
            start, low = self._buckets[-1]
            self._buckets[-1] = (start, min(low, offset_s))
        else:
            self._buckets.append((now, offset_s))

    @property
    def lag_s(self) -> float:
        if self.latest is None:
            return 0.0
        return max(0.0, self.latest - min(low for _, low in self._buckets))


class LatencyStats:
    """Recent latencies (ms): percentiles for the heartbeat, over the last ``size`` values."""

    def __init__(self, size: int = 10_000):
        self._values: deque[float] = deque(maxlen=size)
        self.count = 0

    def add(self, ms: float) -> None:
        self._values.append(ms)
        self.count += 1

    def summary(self) -> dict | None:
        if not self._values:
            return None
        v = np.fromiter(self._values, float)
        return {"n": self.count, "p50": round(float(np.percentile(v, 50)), 2),
                "p99": round(float(np.percentile(v, 99)), 2), "max": round(float(v.max()), 2)}
