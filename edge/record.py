"""Fiber record: the file format that ``sim`` writes and ``edge`` replays (DESIGN.md, "Fiber record").

An ``.npz`` (an uncompressed zip of ``.npy`` members) holding

=================  ==================================  =========================================
key                dtype, shape                        meaning
=================  ==================================  =========================================
``strain_rate``    float32 (n_samples, n_channels)     strain rate, 1/s, time-major, C order
``fs``             float                               sampling rate, Hz
``t0``             float64                             POSIX s (UTC, GPS-disciplined) of sample 0
``lat``, ``lon``   float64 (n_channels,)               channel position, degrees WGS84
``elev_m``         float64 (n_channels,)               channel elevation, m
``channel_id``     int32 (n_channels,), optional       interrogator channel number, unique
``gauge_m``        float, optional                     gauge length, m
``format_version`` int                                 this module's :data:`FORMAT_VERSION`
``time``           float64 (n_samples,), vendor only   explicit sample times; checked, then dropped
``truth_*``        any non-object array                ground truth of a simulation
=================  ==================================  =========================================

Decisions
---------
* ``strain_rate`` must be float32 on read: an int16 vendor dump has an unknown scale and float64
  would double the replay memory, so both are refused with the dtype named. On write, any real
  float is cast to float32 (the interrogator's own resolution is far below 24 bits).
* NaN samples are allowed: real fibers have dead channels, and the DSP chain counts them.
* A file without ``format_version`` is version 1; a newer version is refused, not guessed at.
* A vendor ``time`` key must be strictly increasing and agree with ``fs`` and ``t0`` within half a
  sample; the record is then uniform and ``time`` is redundant, so it is not kept.
"""
from __future__ import annotations

import errno
import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from edge.exceptions import RecordError

__all__ = [
    "FORMAT_VERSION",
    "FiberRecord",
    "RecordHeader",
    "RecordWriter",
    "iter_record_chunks",
    "read_record",
    "read_record_header",
    "write_record",
]

FORMAT_VERSION = 1
TRUTH_PREFIX = "truth_"
_REQUIRED = ("strain_rate", "fs", "t0", "lat", "lon", "elev_m")
_HDF5_SUFFIXES = (".h5", ".hdf5")
# What numpy and zipfile raise on a cut or foreign file; OSError is left alone (but for EINVAL, a
# seek before the start that a damaged central directory asks for) so that a missing file or a
# permission problem is reported as what it is. NotImplementedError: an unknown compression method
# or zip version; RuntimeError: the encryption flag; MemoryError: a last resort, as the claimed
# size is checked against the member's size before anything is allocated.
_LOAD_ERRORS = (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, RuntimeError, MemoryError)


def _validate_metadata(n_samples, n_channels, fs, t0, lat, lon, elev_m, channel_id, gauge_m, truth):
    """Check everything but the samples; raise RecordError naming the key."""
    if n_samples < 1:
        raise RecordError("strain_rate has zero samples")
    if n_channels < 1:
        raise RecordError("strain_rate has zero channels")
    if not (np.isfinite(fs) and fs > 0):
        raise RecordError(f"fs must be finite and > 0 Hz, got {fs}")
    if not np.isfinite(t0):
        raise RecordError(f"t0 must be finite POSIX seconds, got {t0}")
    for name, arr in (("lat", lat), ("lon", lon), ("elev_m", elev_m)):
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "iuf":
            raise RecordError(f"{name} must be a numeric array, got {getattr(arr, 'dtype', type(arr))}")
        if arr.shape != (n_channels,):
            raise RecordError(f"{name} has shape {arr.shape}, expected ({n_channels},) = n_channels")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise RecordError(f"{name} has NaN/Inf at channel {int(bad[0])} ({bad.size} in all)")
    if np.any(np.abs(lat) > 90.0):
        raise RecordError(f"lat outside [-90, 90] deg at channel {int(np.argmax(np.abs(lat) > 90))}")
    off = (lon < -180.0) | (lon >= 360.0)
    if np.any(off):
        raise RecordError(f"lon outside [-180, 360) deg at channel {int(np.argmax(off))}")
    if channel_id is not None:
        if not isinstance(channel_id, np.ndarray) or channel_id.dtype.kind not in "iu":
            got = getattr(channel_id, "dtype", type(channel_id))
            raise RecordError(f"channel_id must be an integer array, got {got}")
        if channel_id.shape != (n_channels,):
            raise RecordError(f"channel_id has shape {channel_id.shape}, expected ({n_channels},)")
        if np.unique(channel_id).size != n_channels:
            raise RecordError("channel_id values are not unique")
    if gauge_m is not None and not (np.isfinite(gauge_m) and gauge_m > 0):
        raise RecordError(f"gauge_m must be finite and > 0 m, got {gauge_m}")
    for key, value in truth.items():
        if not isinstance(key, str) or not key:
            raise RecordError(f"truth key {key!r} must be a non-empty string")
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise RecordError(f"truth_{key} must be a non-object array (npz is read without pickle)")


def _coerce_common(obj) -> None:
    """Normalise field types in place (dataclass __post_init__ of record and header)."""
    try:
        obj.fs, obj.t0 = float(obj.fs), float(obj.t0)
        obj.gauge_m = None if obj.gauge_m is None else float(obj.gauge_m)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"fs, t0 and gauge_m must be numbers: {exc}") from None
    for name in ("lat", "lon", "elev_m"):
        arr = np.asarray(getattr(obj, name))
        setattr(obj, name, arr.astype(np.float64, copy=False) if arr.dtype.kind in "iuf" else arr)
    if obj.channel_id is not None:
        cid = np.asarray(obj.channel_id)
        if cid.dtype.kind in "iu" and cid.size and (cid.min() < -(2**31) or cid.max() >= 2**31):
            raise RecordError("channel_id values do not fit int32")
        obj.channel_id = cid.astype(np.int32, copy=False) if cid.dtype.kind in "iu" else cid
    obj.truth = {k: np.asarray(v) for k, v in dict(obj.truth).items()}


@dataclass(eq=False)  # array fields: a generated __eq__ would raise on comparison
class FiberRecord:
    """A fiber record in memory: samples, timing, channel positions and optional truth.

    Attributes
    ----------
    strain_rate : np.ndarray, float32 (n_samples, n_channels)
        Strain rate, 1/s, time-major.
    fs : float
        Sampling rate, Hz.
    t0 : float
        POSIX seconds (UTC) of sample 0.
    lat, lon, elev_m : np.ndarray, float64 (n_channels,)
        Channel positions: degrees, degrees, m.
    channel_id : np.ndarray of int32 or None
        Interrogator channel numbers.
    gauge_m : float or None
        Gauge length, m.
    truth : dict of str to np.ndarray
        Simulation truth, keys without the ``truth_`` prefix.
    """

    strain_rate: np.ndarray
    fs: float
    t0: float
    lat: np.ndarray
    lon: np.ndarray
    elev_m: np.ndarray
    channel_id: np.ndarray | None = None
    gauge_m: float | None = None
    truth: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.strain_rate = np.asarray(self.strain_rate)
        _coerce_common(self)

    @property
    def n_samples(self) -> int:
        return int(self.strain_rate.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.strain_rate.shape[1]) if self.strain_rate.ndim > 1 else 0

    @property
    def duration_s(self) -> float:
        """Span covered by the samples, n_samples / fs, s."""
        return self.n_samples / self.fs

    def times(self) -> np.ndarray:
        """POSIX time (s, float64) of every sample."""
        return self.t0 + np.arange(self.n_samples, dtype=np.float64) / self.fs

    def validate(self) -> None:
        """Raise :class:`RecordError` naming the first violation of the format contract."""
        sr = self.strain_rate
        if sr.ndim != 2:
            raise RecordError(f"strain_rate must be 2-D (n_samples, n_channels), got shape {sr.shape}")
        if sr.dtype != np.float32:
            raise RecordError(f"strain_rate must be float32, got {sr.dtype}")
        _validate_metadata(self.n_samples, self.n_channels, self.fs, self.t0, self.lat, self.lon,
                           self.elev_m, self.channel_id, self.gauge_m, self.truth)

    def select_channels(self, index) -> FiberRecord:
        """Record of a subset of channels (index: slice, integer array or boolean mask).

        Truth is copied unchanged: it describes the event, not the channels.
        """
        cols = np.arange(self.n_channels)[index]
        cols = np.atleast_1d(cols)
        return replace(
            self,
            strain_rate=np.ascontiguousarray(self.strain_rate[:, cols]),
            lat=self.lat[cols], lon=self.lon[cols], elev_m=self.elev_m[cols],
            channel_id=None if self.channel_id is None else self.channel_id[cols],
            truth=dict(self.truth),
        )

    def slice_time(self, start_sample: int, stop_sample: int) -> FiberRecord:
        """Record of samples [start_sample, stop_sample), with t0 moved to the first kept sample."""
        start, stop, _ = slice(start_sample, stop_sample).indices(self.n_samples)
        if stop <= start:
            raise RecordError(
                f"slice_time({start_sample}, {stop_sample}) keeps no samples of {self.n_samples}")
        return replace(self, strain_rate=self.strain_rate[start:stop], t0=self.t0 + start / self.fs,
                       truth=dict(self.truth))


@dataclass(eq=False)
class RecordHeader:
    """Everything of a record but its samples (cheap to read); fields as in :class:`FiberRecord`."""

    fs: float
    t0: float
    n_samples: int
    n_channels: int
    lat: np.ndarray
    lon: np.ndarray
    elev_m: np.ndarray
    channel_id: np.ndarray | None = None
    gauge_m: float | None = None
    truth: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _coerce_common(self)
        self.n_samples, self.n_channels = int(self.n_samples), int(self.n_channels)

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs

    def times(self) -> np.ndarray:
        return self.t0 + np.arange(self.n_samples, dtype=np.float64) / self.fs

    def validate(self) -> None:
        _validate_metadata(self.n_samples, self.n_channels, self.fs, self.t0, self.lat, self.lon,
                           self.elev_m, self.channel_id, self.gauge_m, self.truth)


# ---------------------------------------------------------------------------------------- reading
def check_time_axis(time: np.ndarray, *, fs: float, t0: float, n_samples: int, key: str = "time") -> None:
    """Check an explicit per-sample time axis (s) against ``fs`` and ``t0``; RecordError if not.

    The replay assumes uniform sampling from ``t0``; a step off by more than half a sample means
    the file has gaps or a wrong ``fs``, and picks would be misplaced in time.
    """
    time = np.asarray(time)
    if time.dtype.kind not in "iuf":
        raise RecordError(f"{key} must hold real numbers (s), got dtype {time.dtype}")
    time = time.astype(np.float64)
    if time.shape != (n_samples,):
        raise RecordError(f"{key} has shape {time.shape}, expected ({n_samples},) = n_samples")
    step = np.diff(time)
    bad = np.flatnonzero(~(step > 0))
    if bad.size:
        raise RecordError(f"{key} is not strictly increasing at sample {int(bad[0]) + 1}")
    off = np.flatnonzero(np.abs(step * fs - 1.0) > 0.5)
    if off.size:
        i = int(off[0])
        raise RecordError(f"{key} step at sample {i + 1} is {step[i]:.6g} s, inconsistent with fs={fs} Hz")
    if time.size and abs(time[0] - t0) * fs > 0.5:
        raise RecordError(f"{key}[0]={time[0]!r} disagrees with t0={t0!r} by more than half a sample")


def _scalar(npz, key: str):
    arr = npz[key]
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        raise RecordError(f"{key} must be a numeric scalar, got dtype {arr.dtype} shape {arr.shape}")
    return arr.reshape(()).item()


def _check_version(npz) -> None:
    if "format_version" not in npz:
        return
    arr = npz["format_version"]
    if arr.size != 1 or arr.dtype.kind not in "iu":
        raise RecordError(f"format_version must be an integer scalar, got {arr.dtype} {arr.shape}")
    version = int(arr.reshape(()))
    if version > FORMAT_VERSION:
        raise RecordError(
            f"format_version {version} is newer than supported ({FORMAT_VERSION}); upgrade das-eew")
    if version < 1:
        raise RecordError(f"format_version {version} is not a valid version")


def _read_meta(npz, n_samples: int) -> dict:
    """Every field but strain_rate from an open NpzFile."""
    _check_version(npz)
    files = set(npz.files)
    missing = [k for k in _REQUIRED if k not in files and not (k == "t0" and "time" in files)]
    if missing:
        raise RecordError(f"missing key(s) {', '.join(missing)}")
    fs = float(_scalar(npz, "fs"))
    time = npz["time"] if "time" in files else None
    if "t0" in files:
        t0 = float(_scalar(npz, "t0"))
    else:  # vendor files may carry only the time axis
        t0 = float(time.reshape(-1)[0]) if time.size else float("nan")
    if time is not None:
        check_time_axis(time, fs=fs, t0=t0, n_samples=n_samples)
    return dict(
        fs=fs, t0=t0, lat=npz["lat"], lon=npz["lon"], elev_m=npz["elev_m"],
        channel_id=npz["channel_id"] if "channel_id" in files else None,
        gauge_m=_scalar(npz, "gauge_m") if "gauge_m" in files else None,
        truth={k[len(TRUTH_PREFIX):]: npz[k] for k in npz.files if k.startswith(TRUTH_PREFIX)},
    )


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn what a cut or foreign file raises into RecordError, and name the file in every one."""
    try:
        yield
    except RecordError as exc:
        if str(path) in str(exc):
            raise
        raise RecordError(f"{path}: {exc}") from None
    except _LOAD_ERRORS as exc:
        raise RecordError(
            f"{path}: truncated or not an npz fiber record ({type(exc).__name__}: {exc})") from None
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        raise RecordError(f"{path}: damaged zip directory ({exc})") from None


def _load_npz(path: Path):
    npz = np.load(path, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):  # a bare .npy under an .npz name
        raise ValueError("file is a single .npy array, not an npz archive")
    return npz


def _check_claimed_size(path: Path) -> None:
    """Refuse a ``strain_rate`` whose .npy header claims more bytes than its zip member holds, so a
    damaged header is a RecordError and not a multi-TiB allocation."""
    with zipfile.ZipFile(path) as zf, zf.open(_open_strain_rate(zf, path)) as fp:
        shape, _, dtype = _npy_header(fp, path)
        size = zf.getinfo("strain_rate.npy").file_size
    claimed = dtype.itemsize * int(np.prod(shape, dtype=object))
    if claimed > size:
        raise RecordError(f"strain_rate header claims shape {shape} of {dtype} ({claimed} bytes), "
                          f"the archive member holds {size}")


def _read_npz(path: Path, validate: bool) -> FiberRecord:
    with _reading(path), _load_npz(path) as npz:
        if "strain_rate" not in npz.files:
            raise RecordError("missing key(s) strain_rate")
        _check_claimed_size(path)
        sr = npz["strain_rate"]
        if sr.dtype.kind == "f" and sr.dtype.itemsize == 4 and not sr.dtype.isnative:
            sr = sr.astype(np.float32)  # big-endian float32: exact, only the byte order changes
        record = FiberRecord(strain_rate=sr, **_read_meta(npz, sr.shape[0] if sr.ndim else 0))
        if validate:
            record.validate()
    return record


def _hdf5():
    from edge import record_hdf5  # keeps h5py out of the edge's import path

    return record_hdf5


def read_record(path, *, validate: bool = True) -> FiberRecord:
    """Read a fiber record (``.npz``, or ``.h5``/``.hdf5`` with the ``hdf5`` extra).

    ``validate=False`` skips the contract checks of :meth:`FiberRecord.validate` (ranges,
    lengths, dtype) but not the structural ones (keys present, file readable, ``time`` axis).

    Raises
    ------
    RecordError
        Truncated or malformed file, or a violation of the format contract (``validate``);
        the message names the file and the key.
    ImportError
        HDF5 file without h5py installed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in _HDF5_SUFFIXES:
        return _hdf5().read_hdf5(path, validate=validate)
    if suffix != ".npz":
        raise RecordError(f"{path}: unknown record suffix {suffix!r} (expected .npz, .h5, .hdf5)")
    return _read_npz(path, validate)


def _npy_header(fp, path) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fp)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fp)
    raise RecordError(f"{path}: strain_rate uses .npy version {version}, not supported")


def read_record_header(path) -> RecordHeader:
    """Read and validate everything but the samples (the ``strain_rate`` data is not read)."""
    path = Path(path)
    if path.suffix.lower() in _HDF5_SUFFIXES:
        return _hdf5().read_hdf5_header(path)
    with _reading(path):
        with zipfile.ZipFile(path) as zf, zf.open(_open_strain_rate(zf, path)) as fp:
            shape, _, dtype = _npy_header(fp, path)
        if len(shape) != 2:
            raise RecordError(f"strain_rate must be 2-D, got shape {shape}")
        if dtype != np.float32:
            raise RecordError(f"strain_rate must be float32, got {dtype}")
        with _load_npz(path) as npz:
            header = RecordHeader(n_samples=shape[0], n_channels=shape[1], **_read_meta(npz, shape[0]))
        header.validate()
    return header


def iter_record_chunks(path, chunk_samples: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_sample_index, block)`` of ``strain_rate`` in time order, ``chunk_samples`` at a time.

    For an uncompressed member (what :func:`write_record` and :class:`RecordWriter` make) the
    bytes are read sequentially, so memory stays at one block however long the record is;
    compressed members fall back to a full load. Blocks are float32 (n <= chunk_samples, n_channels).
    """
    if int(chunk_samples) < 1:
        raise ValueError(f"chunk_samples must be >= 1, got {chunk_samples}")
    path = Path(path)
    if path.suffix.lower() in _HDF5_SUFFIXES:
        return _hdf5().iter_hdf5_chunks(path, int(chunk_samples))
    return _iter_npz_chunks(path, int(chunk_samples))


def _open_strain_rate(zf: zipfile.ZipFile, path) -> zipfile.ZipInfo:
    try:
        return zf.getinfo("strain_rate.npy")
    except KeyError:
        raise RecordError(f"{path}: missing key(s) strain_rate") from None


def _iter_npz_chunks(path: Path, chunk_samples: int) -> Iterator[tuple[int, np.ndarray]]:
    with _reading(path):
        with zipfile.ZipFile(path) as zf:
            info = _open_strain_rate(zf, path)
            with zf.open(info) as fp:
                shape, fortran, dtype = _npy_header(fp, path)
                streamable = (info.compress_type == zipfile.ZIP_STORED and len(shape) == 2
                              and not fortran and dtype.kind == "f" and dtype.itemsize == 4)
                if streamable:
                    n_samples, n_channels = shape
                    if n_samples == 0 or n_channels == 0:
                        raise RecordError(f"strain_rate has shape {shape}: zero samples or channels")
                    if n_samples * n_channels * dtype.itemsize > info.file_size:
                        raise EOFError(f"strain_rate header claims {shape}, more than the member holds")
                    for start in range(0, n_samples, chunk_samples):
                        n = min(chunk_samples, n_samples - start)
                        block = np.empty((n, n_channels), dtype=dtype)
                        if fp.readinto(memoryview(block).cast("B")) != block.nbytes:
                            raise EOFError(f"strain_rate ends before sample {start + n}")
                        yield start, block.astype(np.float32, copy=False)
                    return
        # Compressed or unusual layout: no byte offsets to stream from, so load once.
        data = read_record(path, validate=False).strain_rate
        if data.ndim != 2 or data.dtype != np.float32 or 0 in data.shape:
            raise RecordError(f"strain_rate must be 2-D float32 with samples and channels, "
                              f"got {data.dtype} {data.shape}")
        for start in range(0, data.shape[0], chunk_samples):
            yield start, data[start:start + chunk_samples]


# ---------------------------------------------------------------------------------------- writing
def _meta_arrays(fs, t0, lat, lon, elev_m, channel_id, gauge_m, truth) -> dict[str, np.ndarray]:
    out = {
        "format_version": np.asarray(FORMAT_VERSION, dtype=np.int64),
        "fs": np.asarray(fs, dtype=np.float64),
        "t0": np.asarray(t0, dtype=np.float64),
        "lat": lat, "lon": lon, "elev_m": elev_m,
    }
    if channel_id is not None:
        out["channel_id"] = channel_id
    if gauge_m is not None:
        out["gauge_m"] = np.asarray(gauge_m, dtype=np.float64)
    out.update({TRUTH_PREFIX + k: v for k, v in truth.items()})
    return out


def _as_float32(name: str, arr) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype.kind not in "iuf":
        raise RecordError(f"{name} must be real numbers, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _tmp_in(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def _finish(tmp: Path, path: Path) -> None:
    """fsync then atomically move into place, so a reader never sees a half-written record."""
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_record(record: FiberRecord, path) -> None:
    """Write ``record`` atomically (temporary file in the same directory, then ``os.replace``).

    ``.npz`` is written uncompressed (so :func:`iter_record_chunks` can stream it); ``.h5``/``.hdf5``
    goes through :mod:`edge.record_hdf5`. A float64 ``strain_rate`` is cast to float32.
    """
    path = Path(path)
    record = replace(record, strain_rate=_as_float32("strain_rate", record.strain_rate))
    record.validate()
    suffix = path.suffix.lower()
    if suffix in _HDF5_SUFFIXES:
        _hdf5().write_hdf5(record, path)
        return
    if suffix != ".npz":
        raise RecordError(f"{path}: unknown record suffix {suffix!r} (expected .npz, .h5, .hdf5)")
    arrays = _meta_arrays(record.fs, record.t0, record.lat, record.lon, record.elev_m,
                          record.channel_id, record.gauge_m, record.truth)
    tmp = _tmp_in(path)
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, strain_rate=record.strain_rate, **arrays)
        _finish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class RecordWriter:
    """Stream a record to ``.npz`` chunk by chunk with memory bounded by one chunk.

    The file is a real zip (stored, zip64) whose ``strain_rate.npy`` member is an ``.npy`` header
    followed by the raw chunks, so ``np.load`` and :func:`read_record` read it normally. It is
    built under a temporary name and moved into place only by a successful :meth:`close`.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "r.npz")
    >>> with RecordWriter(p, n_samples=4, n_channels=2, fs=100.0, t0=0.0, lat=[33.0, 33.1],
    ...                   lon=[130.4, 130.4], elev_m=[0.0, 0.0]) as w:
    ...     w.write(np.zeros((4, 2)))
    >>> read_record(p).n_samples
    4
    """

    def __init__(self, path, *, n_samples: int, n_channels: int, fs, t0, lat, lon, elev_m,
                 channel_id=None, gauge_m=None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".npz":
            raise RecordError(f"{self.path}: RecordWriter writes .npz only")
        self._header = RecordHeader(fs=fs, t0=t0, n_samples=n_samples, n_channels=n_channels,
                                    lat=lat, lon=lon, elev_m=elev_m, channel_id=channel_id,
                                    gauge_m=gauge_m)
        self._header.validate()
        self.n_samples, self.n_channels = self._header.n_samples, self._header.n_channels
        self.samples_written = 0
        self._tmp = _tmp_in(self.path)
        try:
            self._zip = zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True)
            # force_zip64: the size is unknown when the member starts and may pass 4 GiB.
            self._member = self._zip.open("strain_rate.npy", "w", force_zip64=True)
            np.lib.format.write_array_header_1_0(
                self._member,
                {"descr": "<f4", "fortran_order": False, "shape": (self.n_samples, self.n_channels)},
            )
        except BaseException:
            self._tmp.unlink(missing_ok=True)
            raise
        self._closed = False

    def write(self, chunk) -> None:
        """Append samples, shape (n, n_channels); a rejected chunk leaves the writer unchanged."""
        if self._closed:
            raise RecordError(f"{self.path}: write() on a closed RecordWriter")
        block = _as_float32("chunk", chunk)
        if block.ndim != 2 or block.shape[1] != self.n_channels:
            raise RecordError(f"chunk has shape {block.shape}, expected (n, {self.n_channels}) = n_channels")
        if self.samples_written + block.shape[0] > self.n_samples:
            raise RecordError(f"strain_rate: chunk of {block.shape[0]} samples would exceed the declared "
                              f"n_samples={self.n_samples} ({self.samples_written} written)")
        self._member.write(memoryview(block.astype("<f4", copy=False)).cast("B"))
        self.samples_written += block.shape[0]

    def close(self, truth: dict | None = None) -> None:
        """Finish the file (adding ``truth``, keys without prefix) and move it into place."""
        if self._closed:
            return
        try:
            if self.samples_written != self.n_samples:
                raise RecordError(f"strain_rate: {self.samples_written} samples written, "
                                  f"n_samples={self.n_samples} declared; partial file removed")
            self._header.truth = {k: np.asarray(v) for k, v in (truth or {}).items()}
            self._header.validate()
            self._member.close()
            h = self._header
            for name, arr in _meta_arrays(h.fs, h.t0, h.lat, h.lon, h.elev_m, h.channel_id,
                                          h.gauge_m, h.truth).items():
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
                self._zip.writestr(name + ".npy", buf.getvalue())
            self._zip.close()
            _finish(self._tmp, self.path)
            self._closed = True
        finally:
            if not self._closed:
                self.abort()

    def abort(self) -> None:
        """Discard everything written; no file is left behind."""
        self._closed = True
        for closer in (self._member.close, self._zip.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - the half-written zip is being thrown away anyway
                pass
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self.abort()
