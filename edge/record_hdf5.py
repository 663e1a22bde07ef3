"""PRODML-2.x-style HDF5 fiber records (optional ``hdf5`` extra; h5py is imported on use only).

Layout written (and read)::

    /Acquisition                       attrs: schema_version "2.0", MeasurementStartTime (ISO 8601 UTC),
                                              NumberOfLoci, GaugeLength (m, if known),
                                              SpatialSamplingInterval (m, median along-fiber spacing),
                                              das_eew_format_version
    /Acquisition/Raw[0]                attrs: OutputDataRate (Hz), t0_posix_s (float64, exact),
                                              NumberOfLoci, StartLocusIndex
    /Acquisition/Raw[0]/RawData        float32 (n_samples, n_loci), strain rate 1/s;
                                              attrs Dimensions "time, locus", PartStartTime, RawDataUnit
    /Acquisition/Raw[0]/RawDataTime    int64 (n_samples,), microseconds since the POSIX epoch (as PRODML)
    /Acquisition/Custom/{lat,lon,elev_m,channel_id}
    /Acquisition/Custom/truth/<name>   simulation truth; unicode arrays as UTF-8 strings with the
                                       numpy dtype in attr ``numpy_dtype`` so they come back exactly

Decisions
---------
* ``RawDataTime`` is whole microseconds (PRODML), which cannot carry an arbitrary float64 ``t0``;
  the exact ``t0`` travels in the ``t0_posix_s`` attribute. Files from other writers without it
  take ``t0`` from ``RawDataTime[0]``. ``RawDataTime`` is always checked: it must be strictly
  increasing and agree with ``OutputDataRate`` within half a sample, else :class:`RecordError`.
* Vendor files without ``OutputDataRate`` take ``fs`` from the median ``RawDataTime`` step.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from edge.exceptions import RecordError
from edge.record import (
    FORMAT_VERSION,
    FiberRecord,
    RecordHeader,
    _finish,
    _tmp_in,
    check_time_axis,
)

__all__ = ["read_hdf5", "write_hdf5", "read_hdf5_header", "iter_hdf5_chunks"]

_RAW = "Acquisition/Raw[0]"
_CUSTOM = "Acquisition/Custom"
_HDF5_HINT = "HDF5 needs the 'hdf5' extra: pip install das-eew[hdf5]"


def _h5py():
    try:
        import h5py
    except ImportError as exc:
        raise ImportError(_HDF5_HINT) from exc
    return h5py


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat(timespec="microseconds")


def _put_array(h5py, group, name: str, value: np.ndarray) -> None:
    value = np.asarray(value)
    if value.dtype.kind == "U":
        # h5py has no fixed-width UCS-4 type: store UTF-8 strings and remember the numpy dtype.
        ds = group.create_dataset(name, data=value.astype(object), dtype=h5py.string_dtype("utf-8"))
        ds.attrs["numpy_dtype"] = value.dtype.str
    else:
        group.create_dataset(name, data=value)


def _get_array(ds) -> np.ndarray:
    if "numpy_dtype" in ds.attrs:
        return np.asarray(ds.asstr()[()], dtype=np.dtype(ds.attrs["numpy_dtype"]))
    return np.asarray(ds[()])


def write_hdf5(record: FiberRecord, path) -> None:
    """Write ``record`` as PRODML-style HDF5, atomically (temporary file, then ``os.replace``)."""
    h5py = _h5py()
    from edge.geodesy import LocalFrame, along_fiber_km  # only for the informational spacing

    record.validate()
    path = Path(path)
    tmp = _tmp_in(path)
    try:
        with h5py.File(tmp, "w") as f:
            acq = f.create_group("Acquisition")
            acq.attrs["schema_version"] = "2.0"
            acq.attrs["MeasurementStartTime"] = _iso(record.t0)
            acq.attrs["NumberOfLoci"] = record.n_channels
            acq.attrs["das_eew_format_version"] = FORMAT_VERSION
            if record.gauge_m is not None:
                acq.attrs["GaugeLength"] = record.gauge_m
            if record.n_channels > 1:
                frame = LocalFrame.around(record.lat, record.lon, record.elev_m)
                s_km = along_fiber_km(*frame.to_enu(record.lat, record.lon, record.elev_m))
                acq.attrs["SpatialSamplingInterval"] = float(np.median(np.diff(s_km))) * 1e3
            raw = f.create_group(_RAW)
            raw.attrs["OutputDataRate"] = record.fs
            raw.attrs["t0_posix_s"] = record.t0
            raw.attrs["NumberOfLoci"] = record.n_channels
            raw.attrs["StartLocusIndex"] = 0
            data = raw.create_dataset("RawData", data=record.strain_rate, dtype=np.float32)
            data.attrs["Dimensions"] = "time, locus"
            data.attrs["PartStartTime"] = _iso(record.t0)
            data.attrs["RawDataUnit"] = "1/s"
            # Integer microseconds built from an integer start, so the steps do not jitter by 1 us
            # the way rounding float64 POSIX times near 1.7e9 s does.
            offset_us = np.round(np.arange(record.n_samples) * (1e6 / record.fs)).astype(np.int64)
            raw.create_dataset("RawDataTime", data=np.int64(round(record.t0 * 1e6)) + offset_us)
            custom = f.create_group(_CUSTOM)
            for name in ("lat", "lon", "elev_m"):
                custom.create_dataset(name, data=getattr(record, name))
            if record.channel_id is not None:
                custom.create_dataset("channel_id", data=record.channel_id)
            truth = custom.create_group("truth")
            for key, value in record.truth.items():
                _put_array(h5py, truth, key, value)
        _finish(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _open(path):
    h5py = _h5py()
    if not Path(path).is_file():
        raise FileNotFoundError(f"no fiber record at {path}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:  # h5py reports truncated or foreign files as OSError
        raise RecordError(f"{path}: truncated or not an HDF5 fiber record ({exc})") from None


def _node(f, name: str, path):
    if name not in f:
        raise RecordError(f"{path}: missing {name}")
    return f[name]


def _meta(f, path) -> dict:
    """Every field but the samples, checked against RawDataTime."""
    data = _node(f, f"{_RAW}/RawData", path)
    if data.ndim != 2:
        raise RecordError(f"{path}: RawData must be 2-D (time, locus), got shape {data.shape}")
    dims = data.attrs.get("Dimensions", "time, locus")
    dims = dims.decode() if isinstance(dims, bytes) else str(dims)
    if not dims.replace(" ", "").lower().startswith("time"):
        raise RecordError(f"{path}: RawData Dimensions {dims!r}; only time-major (time, locus) is read")
    version = int(_node(f, "Acquisition", path).attrs.get("das_eew_format_version", 1))
    if version > FORMAT_VERSION:
        raise RecordError(f"{path}: format_version {version} is newer than supported ({FORMAT_VERSION})")
    raw = f[_RAW]
    n_samples = data.shape[0]
    time_us = np.asarray(_node(f, f"{_RAW}/RawDataTime", path)[()], dtype=np.int64)
    time_s = time_us.astype(np.float64) / 1e6
    if "OutputDataRate" in raw.attrs:
        fs = float(raw.attrs["OutputDataRate"])
    elif time_s.size > 1:
        fs = 1.0 / float(np.median(np.diff(time_s)))
    else:
        raise RecordError(f"{path}: missing OutputDataRate and too few RawDataTime samples to infer fs")
    if "t0_posix_s" in raw.attrs:
        t0 = float(raw.attrs["t0_posix_s"])
    else:  # another writer: RawDataTime is the only time reference
        t0 = float(time_s[0]) if time_s.size else float("nan")
    # The half-sample tolerance of check_time_axis dwarfs the microsecond rounding of RawDataTime.
    check_time_axis(time_s, fs=fs, t0=t0, n_samples=n_samples, key="RawDataTime")
    custom = f[_CUSTOM] if _CUSTOM in f else {}
    for name in ("lat", "lon", "elev_m"):
        if name not in custom:
            raise RecordError(f"{path}: missing {_CUSTOM}/{name} (channel coordinates)")
    gauge = f["Acquisition"].attrs.get("GaugeLength")
    truth_group = custom["truth"] if "truth" in custom else {}
    return dict(
        fs=fs, t0=t0,
        lat=custom["lat"][()], lon=custom["lon"][()], elev_m=custom["elev_m"][()],
        channel_id=custom["channel_id"][()] if "channel_id" in custom else None,
        gauge_m=None if gauge is None else float(gauge),
        truth={k: _get_array(truth_group[k]) for k in truth_group},
    )


def read_hdf5(path, *, validate: bool = True) -> FiberRecord:
    """Read a PRODML-style HDF5 fiber record; RecordError on a malformed or truncated file."""
    with _open(path) as f:
        meta = _meta(f, path)
        try:
            strain_rate = np.ascontiguousarray(f[f"{_RAW}/RawData"][()])
        except OSError as exc:  # h5py's report of unreadable (e.g. cut-off) chunks
            raise RecordError(f"{path}: truncated HDF5 fiber record, RawData unreadable ({exc})") from None
    if strain_rate.dtype.kind == "f" and strain_rate.dtype.itemsize == 4:
        strain_rate = strain_rate.astype(np.float32, copy=False)
    record = FiberRecord(strain_rate=strain_rate, **meta)
    if validate:
        record.validate()
    return record


def read_hdf5_header(path) -> RecordHeader:
    """Everything but the samples of an HDF5 record, validated."""
    with _open(path) as f:
        meta = _meta(f, path)
        data = f[f"{_RAW}/RawData"]
        n_samples, n_channels = data.shape
        dtype = data.dtype
    if dtype != np.float32:
        raise RecordError(f"{path}: RawData (strain_rate) must be float32, got {dtype}")
    header = RecordHeader(n_samples=n_samples, n_channels=n_channels, **meta)
    header.validate()
    return header


def iter_hdf5_chunks(path, chunk_samples: int) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_sample_index, block)`` of RawData, reading one block at a time."""
    with _open(path) as f:
        data = _node(f, f"{_RAW}/RawData", path)
        for start in range(0, data.shape[0], chunk_samples):
            yield start, np.ascontiguousarray(data[start:start + chunk_samples], dtype=np.float32)
