"""Tests of the fiber record format: npz/HDF5 round trips, streaming writer and reader, validation."""
from __future__ import annotations

import sys
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.exceptions import RecordError
from edge.record import (
    FORMAT_VERSION,
    FiberRecord,
    RecordWriter,
    iter_record_chunks,
    read_record,
    read_record_header,
    write_record,
)

T0 = 1_700_000_000.123456789  # not a whole microsecond: exercises exact t0 transport


def make_record(n_samples: int = 500, n_channels: int = 6, *, seed: int = 0, **kw) -> FiberRecord:
    rng = np.random.default_rng(seed)
    sr = rng.standard_normal((n_samples, n_channels)).astype(np.float32) * np.float32(1e-9)
    sr[3, 1] = np.nan  # a dead channel sample: allowed
    args = dict(
        strain_rate=sr, fs=200.0, t0=T0,
        lat=np.linspace(33.590, 33.60, n_channels), lon=np.linspace(130.421, 130.43, n_channels),
        elev_m=rng.uniform(0, 50, n_channels), channel_id=np.arange(n_channels, dtype=np.int32) + 1000,
        gauge_m=10.2,
        truth={"origin_time": np.asarray(T0 + 3.5), "event": np.asarray("kumamoto-sim-0001"),
               "p_arrival": rng.uniform(0, 2, n_channels), "flags": np.array([True, False]),
               "names": np.array(["a", "bcd"])},
    )
    args.update(kw)
    return FiberRecord(**args)


def assert_same(a: FiberRecord, b: FiberRecord) -> None:
    assert a.strain_rate.dtype == b.strain_rate.dtype == np.float32
    np.testing.assert_array_equal(a.strain_rate, b.strain_rate)
    assert a.fs == b.fs and a.t0 == b.t0 and a.gauge_m == b.gauge_m
    for name in ("lat", "lon", "elev_m"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    if a.channel_id is None:
        assert b.channel_id is None
    else:
        assert b.channel_id.dtype == np.int32
        np.testing.assert_array_equal(a.channel_id, b.channel_id)
    assert set(a.truth) == set(b.truth)
    for key in a.truth:
        assert a.truth[key].dtype == b.truth[key].dtype, key
        assert a.truth[key].shape == b.truth[key].shape, key
        np.testing.assert_array_equal(a.truth[key], b.truth[key])


def raw_arrays(record: FiberRecord) -> dict[str, np.ndarray]:
    """The npz members of a record, for tampering with one key at a time."""
    out = dict(strain_rate=record.strain_rate, fs=np.float64(record.fs), t0=np.float64(record.t0),
               lat=record.lat, lon=record.lon, elev_m=record.elev_m, channel_id=record.channel_id,
               gauge_m=np.float64(record.gauge_m))
    out.update({"truth_" + k: v for k, v in record.truth.items()})
    return out


class TestNpzRoundTrip:
    def test_exact_with_all_optional_keys(self, tmp_path):
        """Every key, including truth strings, booleans and 0-d arrays, comes back bit for bit."""
        rec = make_record()
        write_record(rec, tmp_path / "r.npz")
        assert_same(rec, read_record(tmp_path / "r.npz"))

    def test_minimal_record(self, tmp_path):
        """A record without channel_id, gauge_m and truth round-trips with those absent."""
        rec = make_record(channel_id=None, gauge_m=None, truth={})
        write_record(rec, tmp_path / "r.npz")
        back = read_record(tmp_path / "r.npz")
        assert back.channel_id is None and back.gauge_m is None and back.truth == {}
        assert_same(rec, back)

    def test_format_version_written_and_np_load_reads(self, tmp_path):
        """The file is a plain npz with format_version and time-major C-contiguous float32 samples."""
        write_record(make_record(), tmp_path / "r.npz")
        with np.load(tmp_path / "r.npz", allow_pickle=False) as npz:
            assert int(npz["format_version"]) == FORMAT_VERSION
            assert npz["strain_rate"].flags.c_contiguous and npz["strain_rate"].shape == (500, 6)

    def test_absent_format_version_is_version_1(self, tmp_path):
        """Files from before format_version existed are read."""
        rec = make_record()
        np.savez(tmp_path / "old.npz", **raw_arrays(rec))
        assert_same(rec, read_record(tmp_path / "old.npz"))

    def test_float64_cast_on_write(self, tmp_path):
        """write_record casts a float64 strain_rate to float32."""
        rec = make_record()
        write_record(FiberRecord(**{**rec.__dict__, "strain_rate": rec.strain_rate.astype(np.float64)}),
                     tmp_path / "r.npz")
        assert_same(rec, read_record(tmp_path / "r.npz"))

    def test_atomic_replace_leaves_no_temporaries(self, tmp_path):
        """Overwriting replaces the file and leaves nothing else in the directory."""
        write_record(make_record(seed=1), tmp_path / "r.npz")
        write_record(make_record(seed=2), tmp_path / "r.npz")
        assert [p.name for p in tmp_path.iterdir()] == ["r.npz"]
        assert_same(make_record(seed=2), read_record(tmp_path / "r.npz"))

    def test_invalid_record_is_not_written(self, tmp_path):
        """write_record validates first: nothing is created for a bad record."""
        with pytest.raises(RecordError, match="fs"):
            write_record(make_record(fs=-1.0), tmp_path / "r.npz")
        assert list(tmp_path.iterdir()) == []

    @settings(max_examples=25, deadline=None)
    @given(n_samples=st.integers(1, 40), n_channels=st.integers(1, 9), seed=st.integers(0, 2**16))
    def test_round_trip_any_shape(self, tmp_path_factory, n_samples, n_channels, seed):
        """Round trip is exact for any small shape (property)."""
        path = tmp_path_factory.mktemp("rt") / "r.npz"
        rec = make_record(n_samples=max(n_samples, 4), n_channels=max(n_channels, 2), seed=seed)
        write_record(rec, path)
        assert_same(rec, read_record(path))


class TestFiberRecord:
    def test_times_and_duration(self):
        """times() starts at t0 and steps by 1/fs; duration is n_samples/fs."""
        rec = make_record()
        t = rec.times()
        assert t.dtype == np.float64 and t[0] == rec.t0
        # float64 resolves POSIX time near 1.7e9 s to ~0.24 us, hence atol.
        assert np.allclose(np.diff(t), 1 / 200.0, rtol=0, atol=1e-6) and rec.duration_s == pytest.approx(2.5)

    def test_select_channels(self):
        """Selecting channels keeps samples, coordinates and ids aligned."""
        rec = make_record()
        sub = rec.select_channels([4, 1])
        np.testing.assert_array_equal(sub.strain_rate, rec.strain_rate[:, [4, 1]])
        np.testing.assert_array_equal(sub.channel_id, [1004, 1001])
        assert sub.lat[0] == rec.lat[4] and sub.strain_rate.flags.c_contiguous
        sub.validate()
        assert rec.select_channels(np.arange(6) > 3).n_channels == 2

    def test_slice_time_moves_t0(self):
        """slice_time keeps [start, stop) and moves t0 to the first kept sample."""
        rec = make_record()
        part = rec.slice_time(100, 150)
        assert part.n_samples == 50 and part.t0 == pytest.approx(rec.t0 + 0.5)
        np.testing.assert_array_equal(part.strain_rate, rec.strain_rate[100:150])
        with pytest.raises(RecordError):
            rec.slice_time(10, 10)


class TestRecordWriter:
    def _writer(self, path, rec, **kw):
        return RecordWriter(path, n_samples=kw.pop("n_samples", rec.n_samples), n_channels=rec.n_channels,
                            fs=rec.fs, t0=rec.t0, lat=rec.lat, lon=rec.lon, elev_m=rec.elev_m,
                            channel_id=rec.channel_id, gauge_m=rec.gauge_m)

    @pytest.mark.parametrize("chunk", [1, 37, 500])
    def test_streaming_equals_write_record(self, tmp_path, chunk):
        """Chunk by chunk gives the same members as write_record, readable by np.load."""
        rec = make_record()
        with self._writer(tmp_path / "s.npz", rec) as w:
            for i in range(0, rec.n_samples, chunk):
                w.write(rec.strain_rate[i:i + chunk].astype(np.float64))
            w.close(truth=rec.truth)
        write_record(rec, tmp_path / "w.npz")
        with np.load(tmp_path / "s.npz") as s, np.load(tmp_path / "w.npz") as w:
            assert sorted(s.files) == sorted(w.files)
            for key in w.files:
                assert s[key].dtype == w[key].dtype
                np.testing.assert_array_equal(s[key], w[key])
        assert_same(rec, read_record(tmp_path / "s.npz"))
        with zipfile.ZipFile(tmp_path / "s.npz") as zf:
            assert zf.getinfo("strain_rate.npy").compress_type == zipfile.ZIP_STORED

    def test_too_few_samples_leaves_no_file(self, tmp_path):
        """close() with fewer samples than declared raises and removes the partial file."""
        rec = make_record()
        w = self._writer(tmp_path / "s.npz", rec)
        w.write(rec.strain_rate[:100])
        with pytest.raises(RecordError, match="n_samples"):
            w.close()
        assert list(tmp_path.iterdir()) == []

    def test_too_many_samples_in_with_leaves_no_file(self, tmp_path):
        """A chunk past the declared length raises; leaving the with block removes everything."""
        rec = make_record()
        with pytest.raises(RecordError, match="n_samples"):
            with self._writer(tmp_path / "s.npz", rec, n_samples=100) as w:
                w.write(rec.strain_rate[:60])
                w.write(rec.strain_rate[60:120])
        assert list(tmp_path.iterdir()) == []

    def test_wrong_width_rejected_and_writer_unchanged(self, tmp_path):
        """A chunk of the wrong width is refused without corrupting what was written."""
        rec = make_record()
        with self._writer(tmp_path / "s.npz", rec) as w:
            with pytest.raises(RecordError, match="n_channels"):
                w.write(np.zeros((10, rec.n_channels + 1)))
            w.write(rec.strain_rate)
        np.testing.assert_array_equal(read_record(tmp_path / "s.npz").strain_rate, rec.strain_rate)

    def test_exception_in_with_removes_file(self, tmp_path):
        """Any exception inside the with block discards the partial record."""
        rec = make_record()
        with pytest.raises(KeyboardInterrupt):
            with self._writer(tmp_path / "s.npz", rec) as w:
                w.write(rec.strain_rate[:10])
                raise KeyboardInterrupt
        assert list(tmp_path.iterdir()) == []

    def test_bad_metadata_refused_up_front(self, tmp_path):
        """The writer validates coordinates before writing a byte."""
        rec = make_record()
        with pytest.raises(RecordError, match="lat"):
            RecordWriter(tmp_path / "s.npz", n_samples=10, n_channels=rec.n_channels, fs=1.0, t0=0.0,
                         lat=rec.lat[:-1], lon=rec.lon, elev_m=rec.elev_m)
        assert list(tmp_path.iterdir()) == []


class TestChunksAndHeader:
    @pytest.mark.parametrize("chunk", [1, 7, 499, 500, 501, 10_000])
    def test_chunks_cover_all_samples(self, tmp_path, chunk):
        """Chunks start where the previous ended and concatenate to the full array."""
        rec = make_record()
        write_record(rec, tmp_path / "r.npz")
        starts, blocks = zip(*iter_record_chunks(tmp_path / "r.npz", chunk))
        assert starts[0] == 0 and all(b.shape[0] <= chunk for b in blocks)
        assert list(starts) == list(np.cumsum([0] + [b.shape[0] for b in blocks[:-1]]))
        full = np.concatenate(blocks)
        assert full.dtype == np.float32
        np.testing.assert_array_equal(full, rec.strain_rate)

    def test_memory_bounded_by_chunk(self, tmp_path):
        """Reading a 16 MB record in 256-sample chunks never holds more than a few chunks."""
        import tracemalloc

        n_samples, n_channels = 4096, 1024
        with RecordWriter(tmp_path / "big.npz", n_samples=n_samples, n_channels=n_channels, fs=500.0,
                          t0=T0, lat=np.full(n_channels, 33.0), lon=np.full(n_channels, 130.0),
                          elev_m=np.zeros(n_channels)) as w:
            for i in range(0, n_samples, 512):
                w.write(np.full((512, n_channels), i, np.float32))
        tracemalloc.start()
        try:
            total = 0.0
            for start, block in iter_record_chunks(tmp_path / "big.npz", 256):
                total += float(block[0, 0]) - (start // 512) * 512
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert total == 0.0
        assert peak < 8 * 256 * n_channels * 4  # 8 chunks of 1 MB, against 16 MB for the whole

    def test_compressed_member_falls_back(self, tmp_path):
        """A compressed npz is still chunked correctly (full load)."""
        rec = make_record()
        np.savez_compressed(tmp_path / "c.npz", **raw_arrays(rec))
        full = np.concatenate([b for _, b in iter_record_chunks(tmp_path / "c.npz", 64)])
        np.testing.assert_array_equal(full, rec.strain_rate)
        assert read_record_header(tmp_path / "c.npz").n_samples == rec.n_samples

    def test_fortran_order_and_big_endian_fall_back(self, tmp_path):
        """A Fortran-order or big-endian float32 member still reads and chunks to the same samples."""
        rec = make_record()
        arrays = raw_arrays(rec)
        arrays["strain_rate"] = np.asfortranarray(rec.strain_rate)
        np.savez(tmp_path / "f.npz", **arrays)
        arrays["strain_rate"] = rec.strain_rate.astype(">f4")
        np.savez(tmp_path / "b.npz", **arrays)
        for name in ("f.npz", "b.npz"):
            full = np.concatenate([b for _, b in iter_record_chunks(tmp_path / name, 100)])
            assert full.dtype == np.float32
            np.testing.assert_array_equal(full, rec.strain_rate)
            np.testing.assert_array_equal(read_record(tmp_path / name).strain_rate, rec.strain_rate)

    def test_bad_chunk_size(self, tmp_path):
        """chunk_samples < 1 is refused at the call."""
        with pytest.raises(ValueError):
            iter_record_chunks(tmp_path / "r.npz", 0)

    def test_header_matches_record(self, tmp_path):
        """The header carries shape, timing, coordinates and truth of the record."""
        rec = make_record()
        write_record(rec, tmp_path / "r.npz")
        h = read_record_header(tmp_path / "r.npz")
        assert (h.n_samples, h.n_channels, h.fs, h.t0, h.gauge_m) == (500, 6, rec.fs, rec.t0, rec.gauge_m)
        np.testing.assert_array_equal(h.lon, rec.lon)
        assert h.truth["event"] == rec.truth["event"] and h.duration_s == rec.duration_s


def _tamper(**changes):
    def apply(arrays):
        for key, value in changes.items():
            if value is None:
                arrays.pop(key)
            else:
                arrays[key] = value(arrays) if callable(value) else value
        return arrays
    return apply


BAD = {
    "missing strain_rate": ("strain_rate", _tamper(strain_rate=None)),
    "missing fs": ("fs", _tamper(fs=None)),
    "missing t0": ("t0", _tamper(t0=None)),
    "missing lat": ("lat", _tamper(lat=None)),
    "missing lon": ("lon", _tamper(lon=None)),
    "missing elev_m": ("elev_m", _tamper(elev_m=None)),
    "strain_rate 1-D": ("strain_rate", _tamper(strain_rate=lambda a: a["strain_rate"][:, 0])),
    "strain_rate int16": ("strain_rate",
                          _tamper(strain_rate=lambda a: np.nan_to_num(a["strain_rate"]).astype(np.int16))),
    "strain_rate float64": ("float32", _tamper(strain_rate=lambda a: a["strain_rate"].astype(np.float64))),
    "zero channels": ("zero channels", _tamper(strain_rate=np.zeros((10, 0), np.float32), lat=np.zeros(0),
                                               lon=np.zeros(0), elev_m=np.zeros(0), channel_id=None)),
    "zero samples": ("zero samples", _tamper(strain_rate=lambda a: a["strain_rate"][:0])),
    "lat length": ("lat", _tamper(lat=lambda a: a["lat"][:-1])),
    "elev_m length": ("elev_m", _tamper(elev_m=lambda a: np.append(a["elev_m"], 0.0))),
    "lon NaN": ("lon", _tamper(lon=lambda a: np.where(np.arange(a["lon"].size) == 2, np.nan, a["lon"]))),
    "elev_m Inf": ("elev_m", _tamper(elev_m=lambda a: a["elev_m"] + np.inf)),
    "lat > 90": ("lat", _tamper(lat=lambda a: a["lat"] + 60.0)),
    "lon >= 360": ("lon", _tamper(lon=lambda a: a["lon"] + 230.0)),
    "lon < -180": ("lon", _tamper(lon=lambda a: a["lon"] - 320.0)),
    "fs zero": ("fs", _tamper(fs=np.float64(0.0))),
    "fs NaN": ("fs", _tamper(fs=np.float64(np.nan))),
    "fs string": ("fs", _tamper(fs=np.asarray("200"))),
    "t0 Inf": ("t0", _tamper(t0=np.float64(np.inf))),
    "channel_id duplicate": ("channel_id", _tamper(channel_id=lambda a: np.zeros_like(a["channel_id"]))),
    "channel_id length": ("channel_id", _tamper(channel_id=lambda a: a["channel_id"][:-1])),
    "channel_id float": ("channel_id", _tamper(channel_id=lambda a: a["channel_id"] + 0.5)),
    "gauge_m zero": ("gauge_m", _tamper(gauge_m=np.float64(0.0))),
    "gauge_m negative": ("gauge_m", _tamper(gauge_m=np.float64(-10.0))),
    "format_version newer": ("format_version", _tamper(format_version=np.int64(FORMAT_VERSION + 1))),
    "time non-monotonic": ("time is not strictly increasing at sample 51",
                           _tamper(time=lambda a: T0 + np.where(np.arange(500) == 51, 0.0,
                                                                np.arange(500) / 200.0))),
    "time wrong rate": ("time", _tamper(time=lambda a: T0 + np.arange(500) / 100.0)),
    "time wrong length": ("time", _tamper(time=lambda a: T0 + np.arange(499) / 200.0)),
}


class TestValidation:
    @pytest.mark.parametrize("case", list(BAD))
    def test_bad_input_names_the_key(self, tmp_path, case):
        """Each malformed file raises RecordError whose message names what is wrong."""
        needle, tamper = BAD[case]
        np.savez(tmp_path / "bad.npz", **tamper(raw_arrays(make_record())))
        with pytest.raises(RecordError, match=needle) as err:
            read_record(tmp_path / "bad.npz")
        assert "bad.npz" in str(err.value)

    def test_consistent_time_key_accepted(self, tmp_path):
        """A vendor time axis that agrees with fs and t0 is accepted (and t0 may come from it)."""
        rec = make_record()
        arrays = raw_arrays(rec)
        arrays["time"] = rec.times()
        arrays.pop("t0")
        np.savez(tmp_path / "v.npz", **arrays)
        assert read_record(tmp_path / "v.npz").t0 == rec.t0

    def test_scalar_strain_rate_with_empty_time_axis(self, tmp_path):
        """Found by `make fuzz` (100,000 inputs): a 0-d strain_rate with an empty time axis raised
        IndexError from the time check instead of RecordError."""
        arrays = raw_arrays(make_record())
        arrays["strain_rate"] = np.array(2.0, np.float32)
        arrays["time"] = np.zeros(0, np.float32)
        np.savez(tmp_path / "bad.npz", **arrays)
        with pytest.raises(RecordError, match="strain_rate"):
            read_record(tmp_path / "bad.npz")

    def test_validate_false_skips_contract(self, tmp_path):
        """validate=False reads a record that breaks the contract but is structurally sound."""
        np.savez(tmp_path / "bad.npz", **_tamper(lat=lambda a: a["lat"] + 60.0)(raw_arrays(make_record())))
        assert read_record(tmp_path / "bad.npz", validate=False).lat.max() > 90

    @pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
    def test_truncated_file(self, tmp_path, fraction):
        """A cut npz raises RecordError (read, header and chunks), never a raw zip/EOF error."""
        write_record(make_record(), tmp_path / "r.npz")
        data = (tmp_path / "r.npz").read_bytes()
        cut = tmp_path / "cut.npz"
        cut.write_bytes(data[: int(len(data) * fraction)])
        for reader in (read_record, read_record_header, lambda p: list(iter_record_chunks(p, 64))):
            with pytest.raises(RecordError, match="truncated or not an npz"):
                reader(cut)

    def test_not_an_npz(self, tmp_path):
        """A bare .npy or a text file under an .npz name is a RecordError, a missing file is not."""
        np.save(tmp_path / "a.npy", np.zeros((3, 2), np.float32))
        (tmp_path / "a.npy").rename(tmp_path / "a.npz")
        (tmp_path / "b.npz").write_text("strain_rate,fs\n")
        for name in ("a.npz", "b.npz"):
            with pytest.raises(RecordError, match="not an npz"):
                read_record(tmp_path / name)
        with pytest.raises(FileNotFoundError):
            read_record(tmp_path / "missing.npz")

    def test_unknown_suffix(self, tmp_path):
        """Only .npz, .h5 and .hdf5 are records."""
        with pytest.raises(RecordError, match="suffix"):
            read_record(tmp_path / "r.sgy")

    def test_object_truth_refused(self):
        """Truth needing pickle is refused: records are read with allow_pickle=False."""
        with pytest.raises(RecordError, match="truth_bad"):
            make_record(truth={"bad": np.array([{"a": 1}], dtype=object)}).validate()


class TestHdf5:
    def test_round_trip_exact(self, tmp_path):
        """HDF5 write then read gives back the same record, truth and exact t0 included."""
        pytest.importorskip("h5py")
        rec = make_record()
        for name in ("r.h5", "r.hdf5"):
            write_record(rec, tmp_path / name)
            assert_same(rec, read_record(tmp_path / name))
        h = read_record_header(tmp_path / "r.h5")
        assert (h.n_samples, h.n_channels, h.t0) == (rec.n_samples, rec.n_channels, rec.t0)
        full = np.concatenate([b for _, b in iter_record_chunks(tmp_path / "r.h5", 77)])
        np.testing.assert_array_equal(full, rec.strain_rate)

    def test_prodml_layout(self, tmp_path):
        """The file has the PRODML groups, attributes and a microsecond RawDataTime."""
        h5py = pytest.importorskip("h5py")
        rec = make_record()
        write_record(rec, tmp_path / "r.h5")
        with h5py.File(tmp_path / "r.h5", "r") as f:
            raw = f["Acquisition/Raw[0]"]
            assert raw.attrs["OutputDataRate"] == rec.fs
            assert f["Acquisition"].attrs["NumberOfLoci"] == rec.n_channels
            assert raw["RawData"].attrs["Dimensions"] == "time, locus"
            t_us = raw["RawDataTime"][()]
            assert t_us.dtype == np.int64 and abs(t_us[0] - rec.t0 * 1e6) <= 1
            assert np.all(np.diff(t_us) == 5000)

    def test_non_monotonic_time_rejected(self, tmp_path):
        """A RawDataTime that steps backwards makes the file unreadable with a clear error."""
        h5py = pytest.importorskip("h5py")
        write_record(make_record(), tmp_path / "r.h5")
        with h5py.File(tmp_path / "r.h5", "r+") as f:
            t = f["Acquisition/Raw[0]/RawDataTime"]
            t[200] = t[199] - 1
        with pytest.raises(RecordError, match="RawDataTime is not strictly increasing at sample 200"):
            read_record(tmp_path / "r.h5")

    def test_missing_coordinates_rejected(self, tmp_path):
        """An HDF5 record without channel coordinates names what is missing."""
        h5py = pytest.importorskip("h5py")
        write_record(make_record(), tmp_path / "r.h5")
        with h5py.File(tmp_path / "r.h5", "r+") as f:
            del f["Acquisition/Custom/lon"]
        with pytest.raises(RecordError, match="lon"):
            read_record(tmp_path / "r.h5")

    def test_truncated_hdf5(self, tmp_path):
        """A cut HDF5 file raises RecordError."""
        pytest.importorskip("h5py")
        write_record(make_record(), tmp_path / "r.h5")
        data = (tmp_path / "r.h5").read_bytes()
        (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
        with pytest.raises(RecordError):
            read_record(tmp_path / "cut.h5")

    def test_missing_h5py_message(self, tmp_path, monkeypatch):
        """Without h5py the error tells which extra to install."""
        monkeypatch.setitem(sys.modules, "h5py", None)
        with pytest.raises(ImportError, match=r"pip install das-eew\[hdf5\]"):
            read_record(tmp_path / "r.h5")
