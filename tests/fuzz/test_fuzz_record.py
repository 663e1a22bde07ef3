"""Fuzzing the fiber-record readers: ``read_record``, ``read_record_header`` and ``iter_record_chunks``
either return a record that honours the contract or raise RecordError -- nothing else.

Inputs: a small valid ``.npz`` written once by ``write_record``, then cut, flipped and spliced byte by
byte; archives of random keys and arrays (dtypes, shapes, NaN); archives whose ``strain_rate.npy``
header claims random shapes, dtypes and layouts. Every input is a real file. Each test runs
``FUZZ_EXAMPLES // 2`` examples (default 1000: three readers and a file write per example make these
the slowest decoders).

``test_record_reproducers`` keeps the minimal files of the escapes this fuzzing found in
edge/record.py (all now RecordError).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.exceptions import RecordError
from edge.record import (
    FiberRecord,
    iter_record_chunks,
    read_record,
    read_record_header,
    write_record,
)

from .conftest import FUZZ, N, count

FUZZ_FILES = settings(FUZZ, max_examples=max(1, N // 2))  # three readers and a file write per example






def _attempt(name: str, fn):
    try:
        out = fn()
    except RecordError as exc:
        assert str(exc)
        count(name, False)
        return None
    except Exception:
        count(name, None)
        raise
    count(name, True)
    return out


def check(path: Path, chunk: int) -> None:
    """The property, for the three readers of one file."""
    rec = _attempt("record.read_record", lambda: read_record(path))
    if rec is not None:
        rec.validate()
        assert rec.strain_rate.ndim == 2 and rec.strain_rate.dtype == np.float32
    head = _attempt("record.read_record_header", lambda: read_record_header(path))
    if head is not None:
        assert head.n_samples >= 1 and head.n_channels >= 1
    blocks = _attempt("record.iter_record_chunks", lambda: list(iter_record_chunks(path, chunk)))
    if blocks is not None and rec is not None:
        data = np.concatenate([b for _, b in blocks]) if blocks else np.empty((0, rec.n_channels), np.float32)
        np.testing.assert_array_equal(data, rec.strain_rate)
        assert [s for s, _ in blocks] == list(range(0, rec.n_samples, chunk))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz_record")


def _base(workdir: Path) -> bytes:
    rng = np.random.default_rng(5)
    n, c = 12, 3
    rec = FiberRecord(strain_rate=(rng.standard_normal((n, c)) * 1e-7).astype(np.float32), fs=100.0, t0=1.6e9,
                      lat=np.array([33.0, 33.001, 33.002]), lon=np.full(c, 130.5), elev_m=np.zeros(c),
                      channel_id=np.arange(c, dtype=np.int32), gauge_m=10.0, truth={"p_time": np.ones(c)})
    path = workdir / "base.npz"
    write_record(rec, path)
    check(path, 5)
    return path.read_bytes()


@pytest.fixture(scope="module")
def base(workdir) -> bytes:
    return _base(workdir)


@FUZZ_FILES
@given(st.data(), st.integers(1, 13))
def test_mutated_files(workdir, base, data, chunk):
    b = bytearray(base)
    # zip structures live at both ends; bias a third of the edits there
    hot = [0, 30, base.find(b"PK\x01\x02"), base.find(b"PK\x05\x06"), len(base) - 22]
    for _ in range(data.draw(st.integers(1, 4))):
        if not b:
            break
        if data.draw(st.integers(0, 2)):
            i = data.draw(st.integers(0, len(b) - 1))
        else:
            i = min(len(b) - 1, max(0, data.draw(st.sampled_from(hot)) + data.draw(st.integers(0, 45))))
        op = data.draw(st.sampled_from(["flip", "set", "cut", "truncate", "insert", "dup"]))
        if op == "flip":
            b[i] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set":
            b[i] = data.draw(st.sampled_from([0, 1, 0x7f, 0x80, 0xff]) | st.integers(0, 255))
        elif op == "cut":
            del b[i:i + data.draw(st.integers(1, 64))]
        elif op == "truncate":
            del b[i:]
        elif op == "insert":
            b[i:i] = data.draw(st.binary(min_size=1, max_size=32))
        else:
            b[i:i] = b[i:i + data.draw(st.integers(1, 200))]
    path = workdir / "mutated.npz"
    path.write_bytes(bytes(b))
    check(path, chunk)


KEYS = ["strain_rate", "fs", "t0", "lat", "lon", "elev_m", "channel_id", "gauge_m", "format_version",
        "time", "truth_p_time", "truth_", "other"]
DTYPES = [np.float32, np.float64, ">f4", np.float16, np.int32, np.int64, np.uint8, np.bool_, np.complex64, "<U3"]


SANE = {"strain_rate": (np.float32, [(6, 3), (0, 3), (1, 0), (4,)]), "fs": (np.float64, [()]),
        "t0": (np.float64, [()]), "lat": (np.float64, [(3,), (2,)]), "lon": (np.float64, [(3,), (4,)]),
        "elev_m": (np.float64, [(3,)]), "channel_id": (np.int32, [(3,)]), "gauge_m": (np.float64, [()]),
        "format_version": (np.int64, [()]), "time": (np.float64, [(6,), (5,)]), "truth_p_time": (np.float64, [(3,)])}
SPECIAL = [0.0, -1.0, 1.0, 100.0, 1.6e9, 33.0, 130.5, 1e300, np.nan, np.inf, -np.inf, 2.0, 1e-3]


@st.composite
def _array(draw, key: str) -> np.ndarray:
    """A cheap array: hypothesis picks dtype, shape and fill; numpy makes it (hnp.arrays is ~20x
    slower, and the readers care about structure and special values, not bit patterns)."""
    if key in SANE and draw(st.integers(0, 3)):
        dtype, shapes = SANE[key]
        shape = draw(st.sampled_from(shapes))
    else:
        dtype = draw(st.sampled_from(DTYPES))
        shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    fill = draw(st.sampled_from(["special", "normal", "monotonic"]))
    n = int(np.prod(shape))
    if fill == "special":
        values = rng.choice(SPECIAL, n)
    elif fill == "monotonic":
        values = 1.6e9 + np.arange(n) / 100.0
    else:
        values = rng.standard_normal(n) * 100
    dt = np.dtype(dtype)
    if dt.kind in "iub":
        values = np.nan_to_num(values, nan=0, posinf=2, neginf=-2).clip(-1e9, 1e9)
    with np.errstate(all="ignore"):
        return values.astype(dt).reshape(shape)


@st.composite
def archives(draw, valid: dict) -> dict:
    if draw(st.booleans()):          # the valid record with one or two keys dropped, replaced or added
        arrays = dict(valid)
        for key in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique=True)):
            if key in arrays and draw(st.integers(0, 3)) == 0:
                del arrays[key]
            else:
                arrays[key] = draw(_array(key))
        return arrays
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=len(KEYS)))
    return {k: draw(_array(k)) for k in keys}


@FUZZ_FILES
@given(st.data(), st.integers(1, 7), st.booleans())
def test_random_archives(workdir, base, data, chunk, compressed):
    with np.load(io.BytesIO(base)) as npz:
        valid = {k: npz[k] for k in npz.files}
    arrays = data.draw(archives(valid))
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **arrays)
    path = workdir / "archive.npz"
    path.write_bytes(buf.getvalue())
    check(path, chunk)


def _with_npy(workdir: Path, base: bytes, npy: bytes) -> Path:
    """The base record with its ``strain_rate.npy`` member replaced by ``npy``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, npy if info.filename == "strain_rate.npy" else zin.read(info))
    path = workdir / "npy.npz"
    path.write_bytes(out.getvalue())
    return path


SIDES = st.sampled_from([0, 1, 3, 12, 2**31, 2**40, 10**6, 2**62]) | st.integers(0, 20)


@FUZZ_FILES
@given(st.sampled_from(["<f4", ">f4", "<f8", "<i2", "|u1", "<c8", "|O", "<U2", "V4", "xx"]), st.booleans(),
       st.lists(SIDES, max_size=3), st.sampled_from([b"\x01\x00", b"\x02\x00", b"\x03\x00", b"\x09\x09"]),
       st.integers(0, 300), st.integers(1, 7))
def test_npy_headers(workdir, base, descr, fortran, shape, version, n_data, chunk):
    """Whatever the .npy header of strain_rate claims, the readers never allocate it blindly into a
    crash (a huge claimed shape must be a RecordError, not MemoryError)."""
    body = f"{{'descr': {descr!r}, 'fortran_order': {fortran!r}, 'shape': {tuple(shape)!r}, }}"
    body += " " * (63 - (len(body) + 12) % 64) + "\n"
    length = len(body).to_bytes(2 if version[0] == 1 else 4, "little")
    npy = b"\x93NUMPY" + version + length + body.encode() + bytes(n_data)
    check(_with_npy(workdir, base, npy), chunk)


def _repro(workdir: Path, base: bytes) -> list[tuple[str, Path, object]]:
    """Minimal files, each with the reader that once let a non-RecordError escape."""
    cd = base.find(b"PK\x01\x02")
    cases = [("one byte cut from the middle: OSError EINVAL", base[:500] + base[501:], read_record)]
    for name, offset, value in [("encrypted flag in the central directory: RuntimeError", 8, 0x01),
                                ("version needed 9.9: NotImplementedError", 6, 99),
                                ("compression method 99: NotImplementedError", 10, 99)]:
        b = bytearray(base)
        b[cd + offset] |= value
        cases.append((name, bytes(b), read_record))
    buf = io.BytesIO()
    np.savez(buf, strain_rate=np.zeros((1, 0), np.float32))
    cases.append(("zero channels: TypeError", buf.getvalue(), lambda p: list(iter_record_chunks(p, 1))))
    body = "{'descr': '<f4', 'fortran_order': True, 'shape': (1099511627776, 0), }"
    body += " " * (63 - (len(body) + 10) % 64) + "\n"
    empty = _with_npy(workdir, base, b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode())
    cases.append(("2**40 samples of zero channels, not streamable: 2**40 empty blocks",
                  empty.read_bytes(), lambda p: next(iter(iter_record_chunks(p, 1)))))
    body = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 3), }"
    body += " " * (63 - (len(body) + 10) % 64) + "\n"
    huge = _with_npy(workdir, base, b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body.encode())
    cases.append(("strain_rate header claiming 12 TiB: MemoryError", huge.read_bytes(), read_record))
    out = []
    for i, (name, data, reader) in enumerate(cases):
        path = workdir / f"repro{i}.npz"
        path.write_bytes(data)
        out.append((name, path, reader))
    return out


def test_record_reproducers(workdir, base):
    """Minimal reproducers: each file must make its reader raise RecordError."""
    escaped = []
    for name, path, reader in _repro(workdir, base):
        try:
            reader(path)
        except RecordError:
            continue
        except Exception as exc:  # noqa: BLE001 - the point is to see what escapes
            escaped.append(f"{name} ({type(exc).__name__})")
    assert not escaped, escaped
