"""A scene: one fiber layout over a time window with events, traffic and noise, generated in blocks.

Generation runs on a fixed internal block grid (``block_s``) whose randomness is keyed by
(seed, block index), so the data do not depend on the chunk size a caller asks for, memory is bounded
by one block, and any block can be regenerated.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from edge.exceptions import ConfigError
from edge.record import FiberRecord, RecordWriter
from edge.velocity import VelocityModel
from sim.earth import TruthEarth
from sim.noise import CHANNEL_STATES, FiberNoise, NoiseConfig
from sim.route import FiberLayout
from sim.source import Source
from sim.traffic import MovingLoad, TrafficField
from sim.wavefield import EventWavefield, WaveConfig

MAX_FS_HZ = 2000.0


@dataclass
class Scene:
    """Everything that makes one stretch of fiber data.

    Parameters
    ----------
    layout : channel positions.
    t0 : POSIX s of the first sample.
    duration_s : length, s (None: endless, for the stream).
    fs_hz : output sampling rate, Hz.
    sources : events (their waves are added where they reach the window).
    loads : trains and road vehicles.
    seed : master seed; every random part derives its own from it.
    model : nominal 1D model the truth earth perturbs.
    """

    layout: FiberLayout
    t0: float
    duration_s: float | None
    fs_hz: float = 100.0
    sources: list[Source] = field(default_factory=list)
    loads: list[MovingLoad] = field(default_factory=list)
    seed: int = 0
    model: VelocityModel | None = None
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    waves: WaveConfig = field(default_factory=WaveConfig)
    perturbation: float = 0.05
    block_s: float = 1.0
    earth: TruthEarth | None = None

    def __post_init__(self) -> None:
        if not (1.0 <= self.fs_hz <= MAX_FS_HZ):
            raise ConfigError(f"sampling rate {self.fs_hz!r} Hz is outside 1..{MAX_FS_HZ:g} Hz")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ConfigError(f"duration must be > 0 s, got {self.duration_s!r}")
        if not np.isfinite(self.t0):
            raise ConfigError("t0 must be a finite POSIX time")
        self.model = self.model if self.model is not None else VelocityModel.default()
        if self.earth is None:
            self.earth = TruthEarth(self.model, np.random.default_rng([self.seed, 10]),
                                    perturbation=self.perturbation)
        self.block_samples = max(1, int(round(self.block_s * self.fs_hz)))
        self.fiber_noise = FiberNoise(self.layout.n_channels, self.layout.along_km, self.fs_hz, self.noise,
                                      self.seed)
        self.traffic = TrafficField(self.loads, self.layout.along_km, self.fs_hz, self.seed)
        self.wavefields = [EventWavefield(src, self.layout, self.earth, fs_hz=self.fs_hz,
                                          coupling=self.fiber_noise.coupling, seed=hash_seed(self.seed, k),
                                          config=self.waves, block_samples=self.block_samples)
                           for k, src in enumerate(self.sources)]

    @property
    def n_samples(self) -> int | None:
        """Total samples, or None for an endless scene."""
        return None if self.duration_s is None else int(round(self.duration_s * self.fs_hz))

    def block(self, index: int) -> np.ndarray:
        """Internal block ``index`` as float32 (block_samples, n_channels)."""
        t_block = self.t0 + index * self.block_samples / self.fs_hz
        out = self.fiber_noise.block(index, self.block_samples)
        for wf in self.wavefields:
            wf.add_to(out, t_block, index)
        self.traffic.add_to(out, t_block, index)
        self.fiber_noise.finish(out, index)
        return out

    def iter_chunks(self, chunk_samples: int, *, start_sample: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (first_sample, block) of ``chunk_samples`` each (the last may be shorter)."""
        if chunk_samples < 1:
            raise ConfigError(f"chunk size must be >= 1 sample, got {chunk_samples}")
        total = self.n_samples
        pos = start_sample
        buf = np.empty((0, self.layout.n_channels), dtype=np.float32)
        b_index = start_sample // self.block_samples
        skip = start_sample - b_index * self.block_samples
        while total is None or pos < total:
            while buf.shape[0] < chunk_samples:
                blk = self.block(b_index)[skip:]
                skip = 0
                b_index += 1
                buf = np.concatenate([buf, blk]) if buf.size else blk
            n = chunk_samples if total is None else min(chunk_samples, total - pos)
            yield pos, buf[:n]
            buf = buf[n:]
            pos += n

    def to_record(self) -> FiberRecord:
        """Generate the whole scene into memory (for small scenes and tests)."""
        if self.n_samples is None:
            raise ConfigError("an endless scene cannot be turned into one record")
        data = np.concatenate([blk for _, blk in self.iter_chunks(self.block_samples)])
        return FiberRecord(strain_rate=data, fs=self.fs_hz, t0=self.t0, lat=self.layout.lat,
                           lon=self.layout.lon, elev_m=self.layout.elev_m,
                           channel_id=self.layout.channel_id, gauge_m=self.layout.gauge_m,
                           truth=self.truth_arrays())

    def write(self, path: str | Path, *, chunk_samples: int | None = None) -> Path:
        """Write the scene as a fiber record, streaming block by block (bounded memory)."""
        if self.n_samples is None:
            raise ConfigError("an endless scene cannot be written to a file")
        path = Path(path)
        with RecordWriter(path, n_samples=self.n_samples, n_channels=self.layout.n_channels, fs=self.fs_hz,
                          t0=self.t0, lat=self.layout.lat, lon=self.layout.lon, elev_m=self.layout.elev_m,
                          channel_id=self.layout.channel_id, gauge_m=self.layout.gauge_m) as writer:
            for _, blk in self.iter_chunks(chunk_samples or self.block_samples):
                writer.write(blk)
            writer.close(truth=self.truth_arrays())
        return path

    # --- truth ------------------------------------------------------------------------------
    def truth(self) -> dict:
        """JSON-ready ground truth: events with per-channel arrivals, loads, channel health, config."""
        states = {v: k for k, v in CHANNEL_STATES.items()}
        events = []
        for wf in self.wavefields:
            ev = wf.source.to_truth()
            ev["p_arrival"] = wf.p.time.tolist()
            ev["s_arrival"] = wf.s.time.tolist()
            ev["epicentral_km_min"] = float(wf.distance_km.min())
            ev["corner_hz"] = wf.corner_hz
            events.append(ev)
        return {
            "format": "das-eew-truth",
            "version": 1,
            "seed": self.seed,
            "t0": self.t0,
            "fs": self.fs_hz,
            "duration_s": self.duration_s,
            "layout": {"name": self.layout.name, "n_channels": self.layout.n_channels,
                       "spacing_m": self.layout.spacing_m, "gauge_m": self.layout.gauge_m,
                       "channel_id": self.layout.channel_id.tolist()},
            "model": self.model.name,
            "perturbation": self.perturbation,
            "events": events,
            "loads": [ld.to_truth() for ld in self.loads],
            "channel_state": [states[int(s)] for s in self.fiber_noise.state],
        }

    def truth_arrays(self) -> dict[str, np.ndarray]:
        """Truth for the record's ``truth_`` keys (first event's arrivals; full truth as JSON)."""
        arrays: dict[str, np.ndarray] = {"json": np.array(json.dumps(self.truth()))}
        arrays["channel_state"] = self.fiber_noise.state.astype(np.int8)
        if self.wavefields:
            wf = self.wavefields[0]
            arrays.update(p_time=wf.p.time, s_time=wf.s.time,
                          origin_time=np.array(wf.source.origin_time), lat=np.array(wf.source.lat),
                          lon=np.array(wf.source.lon), depth_km=np.array(wf.source.depth_km),
                          magnitude=np.array(wf.source.magnitude), kind=np.array(wf.source.kind))
        return arrays


def hash_seed(seed: int, *keys: int) -> int:
    """A child seed derived deterministically from a master seed and keys."""
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])
