"""Fuzzing the decoders of the wire, the stream and the serial line: each input either decodes to a
valid object or raises the project's own error, nothing else (FUZZ_EXAMPLES sets how many)."""
from __future__ import annotations

import msgpack
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from edge.exceptions import DecodeError
from edge.stream import decode_stream_frame
from edge.wire import decode_message, encode_message, message
from firmware_py import protocol as p
from sim.emulator import encode_frame

from .conftest import FUZZ, count

VALID_WIRE = [
    encode_message(message("alarm", "b1", 3, event="e", level="stop", reason="r", segment=[0, 9], data_time=1.0,
                           since_first_pick_s=0.5, issued=2.0)),
    encode_message(message("picks", "b1", 4, event=None, t_ref=1.0, channel=np.arange(5, dtype=np.int32),
                           dt=np.zeros(5, np.float32), snr=np.ones(5, np.float32), amp=np.ones(5, np.float32))),
    encode_message(message("heartbeat", "b1", 5, health={"frames": 3, "rejected": {"decode": 1}, "relay": "stop"})),
    encode_message(message("ack", "b1", 6, acked=[1, 2, 3])),
]
VALID_STREAM = encode_frame(np.ones((4, 3), np.float32), seq=1, t0=1.0, fs=100.0, ch0=0)
VALID_SERIAL = p.encode_frame(p.Frame(p.ALARM, 9, 1000, 1, 2, p.alarm_payload(2, "ev", 0, 9)))[:-1]


def mutate(data: bytes, draw) -> bytes:
    b = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "set"]))
        i = draw(st.integers(0, max(0, len(b) - 1)))
        if op == "flip" and b:
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "cut":
            del b[i:i + draw(st.integers(1, 8))]
        elif op == "insert":
            b[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif b:
            b[i] = draw(st.integers(0, 255))
    return bytes(b)


@st.composite
def wire_inputs(draw):
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(st.binary(max_size=200))
    if kind == 1:
        obj = draw(st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.text(max_size=8)
                                | st.binary(max_size=8), lambda c: st.lists(c, max_size=4)
                                | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=20))
        if isinstance(obj, dict) and draw(st.booleans()):
            obj.update({"v": 1, "type": draw(st.sampled_from(["alarm", "picks", "ack", "x"])), "box": "b", "seq": 1,
                        "sent": 1.0})
        return msgpack.packb(obj, use_bin_type=True)
    return mutate(draw(st.sampled_from(VALID_WIRE)), draw)


@FUZZ
@given(st.data())
def test_wire_decoder(data):
    raw = data.draw(wire_inputs())
    try:
        msg = decode_message(raw)
    except DecodeError:
        count("wire_message", False)
        return
    assert isinstance(msg, dict) and msg["type"] in ("hello", "heartbeat", "picks", "location", "alarm", "snippet",
                                                     "ack", "alert")
    count("wire_message", True)


@FUZZ
@given(st.data())
def test_stream_decoder(data):
    parts = list(VALID_STREAM)
    which = data.draw(st.integers(0, 3))
    if which == 3:
        parts = data.draw(st.lists(st.binary(max_size=64), max_size=4))
    elif which == 1:
        header = msgpack.unpackb(parts[1])
        key = data.draw(st.sampled_from(sorted(header)))
        header[key] = data.draw(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() | st.text(max_size=4))
        parts[1] = msgpack.packb(header)
    else:
        parts[which] = mutate(parts[which], data.draw)
    try:
        frame = decode_stream_frame(parts)
    except DecodeError:
        count("stream_frame", False)
        return
    assert frame.data.shape == (frame.n_t, frame.n_ch) and frame.data.dtype == np.float32
    count("stream_frame", True)


@FUZZ
@given(st.data())
def test_serial_decoder(data):
    packet = data.draw(st.binary(max_size=200)) if data.draw(st.booleans()) else mutate(VALID_SERIAL, data.draw)
    try:
        frame = p.decode_frame(packet)
    except p.ProtocolError:
        count("serial_frame", False)
        return
    assert frame.type in p.TYPE_NAMES
    count("serial_frame", True)
    reader = p.FrameReader()
    reader.feed(packet + b"\x00" + packet)
