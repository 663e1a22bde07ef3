"""Running the edge chain over fiber records, exactly as the daemon runs it over a stream."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge.detection import Detector, DetectorConfig, Pick
from edge.geodesy import LocalFrame, along_fiber_km
from edge.record import iter_record_chunks, read_record_header


def channel_along_km(lat: np.ndarray, lon: np.ndarray, elev_m: np.ndarray | None = None) -> np.ndarray:
    """Along-fiber distance of every channel from its coordinates, km (0 at the first channel)."""
    frame = LocalFrame.around(lat, lon, elev_m)
    e, n, u = frame.to_enu(lat, lon, 0.0 if elev_m is None else elev_m)
    return along_fiber_km(e, n, u)


def detector_for_record(path: str | Path, config: DetectorConfig | None = None) -> tuple[Detector, object]:
    """A detector sized for a record's channels and sampling rate, and the record's header."""
    header = read_record_header(path)
    header.validate()
    along = channel_along_km(header.lat, header.lon, header.elev_m)
    return Detector(config, fs_hz=header.fs, along_km=along), header


def run_chunks(detector: Detector, chunks, *, t0: float, fs_hz: float) -> list[Pick]:
    """Feed ``(first_sample, block)`` chunks (a record's or a simulated scene's) starting at data time
    ``t0``; return every P candidate, the ones decided at the end included."""
    picks: list[Pick] = []
    for start, block in chunks:
        picks += detector.process(block, t0 + start / fs_hz)
    return picks + detector.flush()


def detect_record(path: str | Path, config: DetectorConfig | None = None, *, frame_s: float = 1.0,
                  detector: Detector | None = None) -> Iterator[Pick]:
    """Yield the P candidates of a record, fed to the detector in frames of ``frame_s`` seconds.

    Memory stays at one frame however long the record is.
    """
    if detector is None:
        detector, header = detector_for_record(path, config)
    else:
        header = read_record_header(path)
    n_frame = max(1, int(round(frame_s * header.fs)))
    for start, block in iter_record_chunks(path, n_frame):
        yield from detector.process(block, header.t0 + start / header.fs)
    yield from detector.flush()
