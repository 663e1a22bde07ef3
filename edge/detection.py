"""The edge's detection chain: raw fiber samples in, P-candidate picks out, in real time.

    raw block -> stack adjacent channels -> check health -> anti-alias FIR, decimate
              -> band-pass -> recursive STA/LTA -> trigger -> AIC onset, SNR, amplitude, polarity
              -> seismic-moveout test -> P candidates

Every stage is a Numba kernel over state allocated once from the config and the record's shape; the
stream is processed in blocks aligned to a fixed grid of raw samples (``block_s``), and the health
judgement and the moveout test run only at those block boundaries. A stream cut into frames of any
size therefore gives exactly the same picks.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from edge.dsp import bandpass_sos, decimation_fir, ingest_decimate, sosfilt_rows
from edge.amplitude import PeakTracker
from edge.exceptions import ConfigError, RecordError
from edge.health import ChannelHealth, HealthConfig
from edge.logs import log_event
from edge.moveout import MoveoutConfig, MoveoutFilter
from edge.picking import (PICK_AMPLITUDE, PICK_CHANNEL, PICK_COLUMNS, PICK_ONSET, PICK_POLARITY, PICK_SNR,
                          PICK_TRIGGER, trigger_and_pick)
from edge.stalta import check_windows, sta_lta_update

log = logging.getLogger("edge.detect")


@dataclass(frozen=True)
class DetectorConfig:
    """Settings of the detection chain. Defaults adapt to 50 Hz-2 kHz and 1-100 m channels.

    Attributes
    ----------
    target_fs_hz : processing rate aimed at; the decimation factor is ``floor(fs / target)``.
    stack_m : adjacent channels are averaged to about this spacing (the gauge length makes
        channels closer than it carry the same signal); ``stack`` overrides it.
    band_hz : band-pass, Hz; the upper edge is lowered to 0.4 of the processing rate if needed.
    sta_s, lta_s : STA and LTA windows, s.
    trigger_on, trigger_off : STA/LTA thresholds.
    settle_lta : triggers are suppressed for this many LTA windows after a (re)start, while the
        recursive LTA is biased high (1.58 at 1 LTA, ~1.05 at 3).
    pre_s, post_s : AIC window before and after the trigger, s; a pick is final ``post_s`` after it.
    min_snr : picks with a lower peak / noise amplitude ratio are dropped.
    p_window_s : after a pick, its channel's peak amplitude keeps growing over this window (for
        the magnitude), s.
    block_s : the grid on which health and moveout decisions are taken, s (pick release latency).
    health_window_s : length of a channel-health window, s.
    """

    target_fs_hz: float = 100.0
    stack_m: float = 10.0
    stack: int | None = None
    band_hz: tuple[float, float] = (1.0, 10.0)
    sta_s: float = 0.3
    lta_s: float = 6.0
    trigger_on: float = 5.0
    trigger_off: float = 1.5
    settle_lta: float = 3.0
    pre_s: float = 1.0
    post_s: float = 0.3
    min_snr: float = 4.0
    p_window_s: float = 2.0
    block_s: float = 0.1
    health_window_s: float = 1.0
    health: HealthConfig = field(default_factory=HealthConfig)
    moveout: MoveoutConfig = field(default_factory=MoveoutConfig)

    def __post_init__(self) -> None:
        if not (self.target_fs_hz > 0 and self.stack_m > 0 and 0 < self.band_hz[0] < self.band_hz[1]
                and 0 < self.sta_s < self.lta_s and self.trigger_off <= self.trigger_on
                and self.settle_lta >= 1 and self.pre_s > 0 and self.post_s > 0 and self.block_s > 0
                and self.health_window_s >= self.block_s):
            raise ConfigError(f"invalid detector settings: {self!r}")
        if self.stack is not None and self.stack < 1:
            raise ConfigError(f"stack must be >= 1 channel, got {self.stack}")

    @classmethod
    def from_dict(cls, d: dict) -> DetectorConfig:
        """Build from a TOML table; ``health`` and ``moveout`` are sub-tables."""
        d = dict(d)
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown detector settings: {', '.join(sorted(unknown))}")
        if "health" in d:
            d["health"] = HealthConfig(**d["health"])
        if "moveout" in d:
            d["moveout"] = MoveoutConfig(**d["moveout"])
        if "band_hz" in d:
            d["band_hz"] = tuple(d["band_hz"])
        return cls(**d)


@dataclass(frozen=True)
class ProcessingGrid:
    """The effective processing grid chosen for a record or stream (logged at start)."""

    fs_in_hz: float
    n_raw_channels: int
    spacing_m: float
    stack: int
    n_channels: int
    unused_channels: int
    decimation: int
    fs_hz: float
    band_hz: tuple[float, float]
    fir_taps: int
    delay_s: float
    nsta: int
    nlta: int
    settle: int
    pre: int
    post: int
    block_raw: int
    health_blocks: int


def processing_grid(config: DetectorConfig, *, fs_hz: float, n_channels: int, spacing_m: float) -> ProcessingGrid:
    """Choose stacking, decimation, band and windows for data at ``fs_hz`` with ``spacing_m`` channels."""
    if not 10.0 <= fs_hz <= 20000.0:
        raise ConfigError(f"sampling rate {fs_hz} Hz is outside 10 Hz..20 kHz")
    if n_channels < 1:
        raise ConfigError("no channels")
    stack = config.stack or max(1, int(round(config.stack_m / spacing_m))) if spacing_m > 0 else 1
    stack = min(stack, n_channels)
    factor = max(1, int(np.floor(fs_hz / config.target_fs_hz + 1e-9)))
    fs = fs_hz / factor
    lo, hi = config.band_hz
    hi = min(hi, 0.4 * fs)
    if not lo < hi:
        raise ConfigError(f"band {config.band_hz} Hz does not fit a processing rate of {fs} Hz")
    taps = decimation_fir(factor, fs_hz=fs_hz, pass_hz=hi)
    nsta = max(1, int(round(config.sta_s * fs)))
    nlta = max(nsta + 1, int(round(config.lta_s * fs)))
    check_windows(nsta, nlta)
    block_raw = max(factor, int(round(config.block_s * fs_hz / factor)) * factor)
    health_blocks = max(1, int(round(config.health_window_s * fs_hz / block_raw)))
    return ProcessingGrid(fs_in_hz=float(fs_hz), n_raw_channels=int(n_channels), spacing_m=float(spacing_m),
                          stack=stack, n_channels=n_channels // stack, unused_channels=n_channels % stack,
                          decimation=factor, fs_hz=fs,
                          band_hz=(float(lo), float(hi)), fir_taps=int(taps.size),
                          delay_s=(taps.size - 1) / 2 / fs_hz, nsta=nsta, nlta=nlta,
                          settle=int(round(config.settle_lta * nlta)), pre=max(2, int(round(config.pre_s * fs))),
                          post=max(2, int(round(config.post_s * fs))), block_raw=block_raw,
                          health_blocks=health_blocks)


@dataclass(frozen=True)
class Pick:
    """A P-candidate pick.

    Attributes
    ----------
    channel : index of the record's (raw) channel at the centre of the processing channel.
    time : onset, data time (POSIX s).
    snr : peak amplitude after the onset over the noise RMS before the trigger.
    amplitude : peak |band-passed strain rate| in the first ``post_s`` after the onset, 1/s.
    polarity : sign of the first clear motion of band-passed strain rate (+1, -1; 0 unclear).
    trigger_time : when the STA/LTA crossed the on threshold, s.
    along_km : along-fiber distance of the processing channel, km.
    slowness_s_per_km : moveout along the fiber of the picks around it, s/km.
    """

    channel: int
    time: float
    snr: float
    amplitude: float
    polarity: int
    trigger_time: float
    along_km: float
    slowness_s_per_km: float = float("nan")
    index: int = -1   # processing channel (internal: peaks, health)
    sample: int = -1  # onset on the processing grid (internal)

    def to_json(self) -> dict:
        """JSON-ready dict."""
        d = asdict(self)
        del d["index"], d["sample"]
        for k in ("time", "trigger_time"):
            d[k] = round(d[k], 4)
        for k in ("snr", "along_km", "slowness_s_per_km"):
            d[k] = round(d[k], 4) if np.isfinite(d[k]) else None
        d["amplitude"] = float(f"{d['amplitude']:.4g}")
        return d


class Detector:
    """Streaming detection over a fiber whose channel geometry is known.

    Parameters
    ----------
    config : DetectorConfig
    fs_hz : float
        Input sampling rate, Hz.
    along_km : float64 (n_channels,)
        Along-fiber distance of every raw channel, km (increasing).
    channel0 : int
        Added to reported channel indices (the stream's first channel number).

    Examples
    --------
    >>> import numpy as np
    >>> det = Detector(DetectorConfig(), fs_hz=1000.0, along_km=np.arange(100) * 0.01)
    >>> det.process(np.zeros((1000, 100), np.float32), t0=0.0)
    []
    """

    def __init__(self, config: DetectorConfig | None = None, *, fs_hz: float, along_km: np.ndarray,
                 channel0: int = 0):
        self.config = cfg = config or DetectorConfig()
        along = np.asarray(along_km, dtype=np.float64)
        if along.ndim != 1 or along.size < 1 or not np.all(np.isfinite(along)):
            raise ConfigError("along_km must be a finite 1-D array with one entry per channel")
        if along.size > 1 and np.any(np.diff(along) < 0):
            raise ConfigError("channels must be in order along the fiber (along_km increasing)")
        spacing_m = float(np.median(np.diff(along))) * 1e3 if along.size > 1 else 0.0
        self.grid = g = processing_grid(cfg, fs_hz=fs_hz, n_channels=along.size, spacing_m=spacing_m)
        self.channel0 = channel0
        n = g.n_channels
        used = n * g.stack
        self.along_km = along[:used].reshape(n, g.stack).mean(axis=1)
        self._centre = channel0 + np.arange(n) * g.stack + g.stack // 2
        # filters
        self._taps = decimation_fir(g.decimation, fs_hz=fs_hz, pass_hz=g.band_hz[1])
        self._sos = bandpass_sos(*g.band_hz, fs_hz=g.fs_hz)
        # timing trace: wider than the detection band for a sharper rise, but not up to Nyquist,
        # where the interrogator's noise (white in strain, rising as f in strain rate) dominates
        self._sos_onset = bandpass_sos(g.band_hz[0], max(g.band_hz[1], min(25.0, 0.4 * g.fs_hz)), fs_hz=g.fs_hz)
        # state, all sized here once
        rows = g.block_raw // g.decimation + 1
        self._ring_raw = np.zeros((self._taps.size, n), np.float32)
        self._ring_raw_pos = np.zeros(1, np.int64)
        self._raw_count = np.zeros(1, np.int64)
        self._dec = np.zeros((rows, n), np.float32)
        self._clean = np.zeros(n * g.stack, np.float32)
        self._cf = np.zeros((rows, n), np.float32)
        self._onset = np.zeros((rows, n), np.float32)
        self._zi = np.zeros((self._sos.shape[0], 2, n))
        self._zi_onset = np.zeros((self._sos_onset.shape[0], 2, n))
        self._sos_row = np.zeros(n)
        self._sta = np.zeros(n)
        self._lta = np.zeros(n)
        self._count = np.zeros(n, np.int64)
        self._active = np.zeros(n, np.int8)
        self._armed = np.zeros(n, np.int8)
        self._on_index = np.zeros(n, np.int64)
        self._pending_at = np.full(n, -1, np.int64)
        self._pending_trigger = np.zeros(n, np.int64)
        n_ring = g.pre + g.post + 1
        self._ring = np.zeros((n_ring, n), np.float32)
        self._ring_onset = np.zeros((n_ring, n), np.float32)
        self._ring_pos = np.zeros(1, np.int64)
        self._w = np.zeros(n_ring + 2, np.float32)
        self._w_onset = np.zeros(n_ring + 2, np.float32)
        self._cum1 = np.zeros(n_ring + 2)
        self._cum2 = np.zeros(n_ring + 2)
        cap = n * (rows // (g.post + 1) + 2)
        self._picks = np.zeros((cap, PICK_COLUMNS))
        self._n_picks = np.zeros(1, np.int64)
        self._events = np.zeros((n * (rows // 2 + 2), 3), np.int64)
        self._n_events = np.zeros(1, np.int64)
        self.health = ChannelHealth(n, cfg.health)
        self.peaks = PeakTracker(n, int(round(cfg.p_window_s * g.fs_hz)), int(round(0.1 * g.fs_hz)),
                                 int(round(30.0 * g.fs_hz)))
        self.block_peak = np.zeros(n, np.float32)   # peak |band-passed| of the latest block, 1/s
        # called at the end of every decision block with (data time, picks released by it): the
        # EEW chain decides on this fixed grid, so its messages do not depend on frame sizes
        self.on_block = None
        self.archive = None          # an edge.archive.WaveformArchive, when snippets are wanted
        self.moveout = MoveoutFilter(self.along_km, cfg.moveout)
        # stream bookkeeping
        self._origin: float | None = None      # data time of raw sample 0 since the last reset
        self._proc_count = 0
        self._blocks = 0
        self.frames = 0
        self.samples = 0
        self.gaps = 0
        self.triggers = 0
        self.picks_dropped = 0
        self.picks_below_snr = 0
        self.rejected_picks: deque[Pick] = deque(maxlen=10000)   # the latest, for inspection
        log_event(log, "processing_grid", **asdict(g))

    # --- public -----------------------------------------------------------------------------
    def process(self, data: np.ndarray, t0: float) -> list[Pick]:
        """Feed a block of raw samples (n, n_channels) starting at data time ``t0``; return the
        P candidates released by it (in release order)."""
        g = self.grid
        x = np.ascontiguousarray(data, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != g.n_raw_channels:
            raise RecordError(f"expected blocks of shape (n, {g.n_raw_channels}), got {np.shape(data)}")
        if not np.isfinite(t0):
            raise RecordError(f"block start time {t0!r} is not finite")
        if self._origin is not None:
            expected = self._origin + self._raw_count[0] / g.fs_in_hz
            if abs(t0 - expected) > 0.5 / g.fs_in_hz:
                log_event(log, "gap", level=logging.WARNING, expected=expected, got=t0, gap_s=t0 - expected)
                self.gaps += 1
                self.reset()
        if self._origin is None:
            self._origin = float(t0)
        x = x[:, : g.n_channels * g.stack]
        released: list[Pick] = []
        i = 0
        n = x.shape[0]
        while i < n:
            room = g.block_raw - int(self._raw_count[0] % g.block_raw)
            take = min(room, n - i)
            self._ingest(x[i:i + take])
            i += take
            if self._raw_count[0] % g.block_raw == 0:
                released += self._end_of_block()
        self.frames += 1
        self.samples += n
        return released

    def flush(self) -> list[Pick]:
        """End of data: decide every pick still waiting (no more neighbours will come)."""
        if self._origin is None:
            return []
        now = self._now() + self.config.moveout.hold_s + 1.0
        released = self._release(now)
        if self.on_block is not None:
            self.on_block(now, released)
        return released

    def reset(self) -> None:
        """Restart the chain (after a gap): filters, STA/LTA, triggers and pending picks."""
        for a in (self._ring_raw, self._zi, self._zi_onset, self._sta, self._lta, self._ring, self._ring_onset):
            a.fill(0)
        for a in (self._ring_raw_pos, self._raw_count, self._count, self._active, self._armed, self._ring_pos):
            a.fill(0)
        self._pending_at.fill(-1)
        self.health.clear()
        if self.archive is not None:
            self.archive.clear()
        self.moveout.reset()
        self.peaks.reset()
        self._origin = None
        self._proc_count = 0

    def index_at(self, t: float) -> int:
        """The first processing-grid sample at or after data time ``t`` (inverse of :meth:`time_of`)."""
        g = self.grid
        raw = (t - self._origin + g.delay_s) * g.fs_in_hz
        return int(np.ceil((raw + 1) / g.decimation - 1 - 1e-6))

    def time_of(self, index: np.ndarray | float) -> np.ndarray | float:
        """Data time of processing-grid sample ``index`` (after the FIR delay is taken out)."""
        g = self.grid
        raw = (np.asarray(index) + 1) * g.decimation - 1
        return self._origin + raw / g.fs_in_hz - g.delay_s

    def stats(self) -> dict:
        """Counters for logs and heartbeats."""
        return {"frames": self.frames, "samples": self.samples, "gaps": self.gaps, "triggers": self.triggers,
                "pending": self.moveout.n_pending, "accepted": self.moveout.accepted,
                "rejected": self.moveout.rejected, "picks_dropped": self.picks_dropped,
                "picks_below_snr": self.picks_below_snr, "nonfinite_samples": self.health.nonfinite_samples,
                "channels": self.health.counts()}

    # --- internals ------------------------------------------------------------------------------
    def _ingest(self, x: np.ndarray) -> None:
        g = self.grid
        h = self.health
        n_out = ingest_decimate(x, g.stack, self._taps, self._ring_raw, self._ring_raw_pos, self._raw_count,
                                g.decimation, self._dec, self._clean, h.sum, h.sumsq, h.n, h.bad, h.absmax, h.n_at_max)
        if n_out == 0:
            return
        rows = self._dec[:n_out]
        cf = self._cf[:n_out]
        onset = self._onset[:n_out]
        onset[:] = rows
        if self.archive is not None:         # before the band-pass: what central's classifier wants
            self.archive.add(rows, self._proc_count)
        sosfilt_rows(onset, self._sos_onset, self._zi_onset, self._sos_row)
        sosfilt_rows(rows, self._sos, self._zi, self._sos_row)
        h.add_band(rows)
        sta_lta_update(rows, g.nsta, g.nlta, self._sta, self._lta, self._count, cf)
        self._n_picks[0] = 0
        self._n_events[0] = 0
        trigger_and_pick(rows, onset, cf, self._proc_count, g.settle, self.config.trigger_on, self.config.trigger_off,
                         g.pre, g.post, h.usable, self._count, self._active, self._armed, self._on_index,
                         self._pending_at, self._pending_trigger, self._ring, self._ring_onset,
                         self._ring_pos, self._w, self._w_onset, self._cum1, self._cum2, self._picks, self._n_picks, self._events, self._n_events)
        sample0 = self._proc_count
        self._proc_count += n_out
        self.triggers += int(self._n_events[0])
        n_picks = int(self._n_picks[0])
        if n_picks > self._picks.shape[0]:
            self.picks_dropped += n_picks - self._picks.shape[0]
            n_picks = self._picks.shape[0]
        for row in self._picks[:n_picks]:
            if not row[PICK_SNR] >= self.config.min_snr:
                self.picks_below_snr += 1
                continue
            c = int(row[PICK_CHANNEL])
            t = float(self.time_of(row[PICK_ONSET]))
            pick = Pick(channel=int(self._centre[c]), time=t, snr=float(row[PICK_SNR]),
                        amplitude=float(row[PICK_AMPLITUDE]), polarity=int(row[PICK_POLARITY]),
                        trigger_time=float(self.time_of(row[PICK_TRIGGER])), along_km=float(self.along_km[c]),
                        index=c, sample=int(row[PICK_ONSET]))
            self.moveout.add(c, t, pick)
            self.peaks.start(c, int(row[PICK_ONSET]), float(row[PICK_AMPLITUDE]))
        self.peaks.update(rows, sample0)

    def _end_of_block(self) -> list[Pick]:
        g = self.grid
        self._blocks += 1
        np.copyto(self.block_peak, self.peaks.block_peak)
        self.peaks.new_block()
        if self._blocks % g.health_blocks == 0:
            for c in self.health.judge():
                self._restart_channel(c)
        now = self._now()
        released = self._release(now)
        if self.on_block is not None:
            self.on_block(now, released)
        return released

    def _release(self, now: float) -> list[Pick]:
        accepted, rejected = self.moveout.judge(now)
        self.rejected_picks.extend(replace(p, slowness_s_per_km=s) for p, s in rejected)
        return [replace(p, slowness_s_per_km=s) for p, s in sorted(accepted, key=lambda ps: ps[0].time)]

    def _restart_channel(self, c: int) -> None:
        self._zi[:, :, c] = 0.0
        self._zi_onset[:, :, c] = 0.0
        self._sta[c] = self._lta[c] = 0.0
        self._count[c] = 0
        self._active[c] = 0
        self._armed[c] = 0
        self._pending_at[c] = -1

    def _now(self) -> float:
        return self._origin + (self._raw_count[0] - 1) / self.grid.fs_in_hz
