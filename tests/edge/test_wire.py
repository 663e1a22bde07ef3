"""Wire messages: every type round-trips, the EEW processor's real output encodes, and every kind of
malformed input is a DecodeError that says why."""
from __future__ import annotations

import math
import sys
import traceback

import msgpack
import numpy as np
import pytest

from edge.exceptions import DecodeError
from edge.wire import LEVELS, MESSAGE_TYPES, EncodeError, decode_message, encode_message, message, pack_array

from .conftest import simulate

T = 1_667_260_800.0


def valid(kind: str) -> dict:
    """One valid message of each type, holding what Python code naturally holds (numpy included)."""
    rng = np.random.default_rng(1)
    keys = {
        "hello": dict(software="das-eew 0.1.0", segment=[100, 104], fs=500.0,
                      lat=np.linspace(32.6, 32.7, 5), lon=np.full(5, 130.7), elev_m=np.zeros(5)),
        "heartbeat": dict(health={"uptime_s": 12.5, "healthy": True, "frames": np.int64(7), "relay": "clear",
                                  "lag_s": None, "rejected": {"decode": 2, "gap_s": 0.5}}),
        "picks": dict(event=None, t_ref=T + 1.25, channel=np.array([3, 9, 12], np.int32),
                      dt=np.array([0.0, 0.04, 0.11]), snr=np.array([5.1, 7.0, 9.5], np.float32),
                      amp=np.array([1e-8, 2e-8, 3e-8], np.float32)),
        "location": dict(event="box-1-20221101T000028.000", origin_time=T + 25.0, lat=np.float64(32.65),
                         lon=130.76, depth_km=np.float32(8.5), err_h_km=3.2, err_z_km=2.0, misfit=0.03,
                         n_picks=np.int64(81), curvature_a=0.0064, mag=None, update=2, data_time=T + 30.0,
                         since_first_pick_s=1.5),
        "alarm": dict(event="box-1-20221101T000028.000", level="stop", reason="M5.1 at 9 km", segment=(0, 149),
                      data_time=T + 30.0, since_first_pick_s=1.5, issued=T + 30.01),
        "snippet": dict(event="ev", t0=T, fs=100.0, channel=np.array([5, 6], np.int32), n_t=4,
                        data=rng.standard_normal((2, 4)).astype(np.float32)),
        "ack": dict(acked=[1, 2, 2**63 - 1]),
        "alert": dict(event="central-7", origin_time=T, lat=33.0, lon=131.0, depth_km=10.0, mag=5.5,
                      err_h_km=4.0, levels=[{"box": "box-1", "segment": [0, 149], "level": "stop"},
                                            {"box": "box-2", "segment": [0, 99], "level": "advisory"}]),
    }[kind]
    return message(kind, "box-1", 42, sent=T + 31.0, **keys)


def raw(msg: dict) -> bytes:
    """Pack without validation (to build invalid messages)."""
    return msgpack.packb(msg, use_bin_type=True)


def wire_dict(kind: str) -> dict:
    """A valid message as it is on the wire (plain msgpack types), ready to be corrupted."""
    return msgpack.unpackb(encode_message(valid(kind)), raw=False)


class TestRoundTrip:
    @pytest.mark.parametrize("kind", MESSAGE_TYPES)
    def test_every_type(self, kind):
        """Every type encodes, decodes to the same values and re-encodes to the same bytes."""
        msg = valid(kind)
        data = encode_message(msg)
        out = decode_message(data)
        assert set(out) == set(msg)
        for key, value in msg.items():
            if isinstance(value, np.ndarray):
                assert out[key].shape == value.shape or out[key].size == value.size
                np.testing.assert_allclose(out[key].reshape(value.shape), value, rtol=1e-6)
            elif isinstance(value, tuple):
                assert out[key] == list(value)
            elif key == "health":
                assert out[key] == {k: (int(v) if isinstance(v, np.integer) else v) for k, v in value.items()}
            else:
                assert out[key] == pytest.approx(value, rel=1e-6) if isinstance(value, float | np.floating) \
                    else out[key] == value
        assert encode_message(out) == data

    def test_packed_arrays_have_the_wire_dtype_and_are_copies(self):
        """Decoded arrays carry the key's dtype and do not alias the caller's buffer."""
        buf = bytearray(encode_message(valid("picks")))
        out = decode_message(buf)
        assert out["channel"].dtype == np.dtype("<i4") and out["dt"].dtype == np.dtype("<f4")
        before = out["snr"].copy()
        buf[:] = bytes(len(buf))
        np.testing.assert_array_equal(out["snr"], before)
        assert not out["snr"].flags.writeable

    def test_snippet_comes_back_shaped(self):
        msg = valid("snippet")
        out = decode_message(encode_message(msg))
        assert out["data"].shape == (2, 4)
        np.testing.assert_array_equal(out["data"], msg["data"])

    def test_message_fills_version_and_time(self):
        msg = message("ack", "b", 1, acked=[])
        assert msg["v"] == 1 and msg["type"] == "ack" and math.isfinite(msg["sent"])


@pytest.fixture(scope="module")
def emitted():
    """Messages and processor of a real EEW replay of a simulated M4.5 beside a 15 km fiber (~1 s)."""
    from edge.detection import Detector
    from edge.eew import EewProcessor
    from edge.location import Locator

    rec = simulate(magnitude=4.5, seed=3)
    layout = rec.scene.layout
    det = Detector(fs_hz=rec.fs, along_km=rec.along_km)
    msgs: list[dict] = []
    proc = EewProcessor(det, lat=layout.lat, lon=layout.lon, elev_m=layout.elev_m, locator=Locator(),
                        emit=msgs.append, box="box-1")
    step = int(rec.fs)
    for i in range(0, rec.data.shape[0], step):
        det.process(rec.data[i:i + step], rec.t0 + i / rec.fs)
    det.flush()
    return msgs, proc


class TestEewOutput:
    """What edge/eew.py emits today goes over the wire unchanged (numpy floats, inf errors, lists)."""

    def test_locations_and_alarms_round_trip(self, emitted):
        msgs, _ = emitted
        assert {m["type"] for m in msgs} == {"location", "alarm"}
        for msg in msgs:
            out = decode_message(encode_message(msg))
            for key, value in msg.items():
                assert out[key] == (pytest.approx(float(value)) if isinstance(value, float | np.floating)
                                    else value), key

    def test_picks_as_the_daemon_builds_them(self, emitted):
        _, proc = emitted
        picks = list(proc.recent_events[-1].picks.values())
        t = np.array([p.time for p in picks])
        msg = message("picks", "box-1", 3, event=proc.recent_events[-1].id, t_ref=float(t.min()),
                      channel=np.array([p.channel for p in picks], np.int32), dt=(t - t.min()).astype(np.float32),
                      snr=np.array([p.snr for p in picks], np.float32),
                      amp=np.array([p.amplitude for p in picks], np.float32))
        out = decode_message(encode_message(msg))
        np.testing.assert_array_equal(out["channel"], msg["channel"])

    def test_unbounded_errors_travel_as_none(self, emitted):
        """An unresolved location (inf error, NaN magnitude) keeps its message: those become None."""
        loc = next(m for m in emitted[0] if m["type"] == "location")
        out = decode_message(encode_message({**loc, "err_h_km": np.float64(np.inf), "err_z_km": float("inf"),
                                             "mag": float("nan"), "curvature_a": np.nan}))
        assert out["err_h_km"] is None and out["err_z_km"] is None and out["mag"] is None
        assert out["curvature_a"] is None


def _set(kind, key, value):
    msg = wire_dict(kind)
    msg[key] = value
    return msg


def _drop(kind, key):
    msg = wire_dict(kind)
    del msg[key]
    return msg


BAD = {
    "unknown type": lambda: _set("ack", "type", "acknowledge"),
    "type not a string": lambda: _set("ack", "type", 3),
    "version 2": lambda: _set("ack", "v", 2),
    "version bool": lambda: _set("ack", "v", True),
    "missing key": lambda: _drop("location", "misfit"),
    "unknown key": lambda: _set("location", "extra", 1),
    "bytes key": lambda: {**_drop("ack", "acked"), b"acked": []},
    "seq bool": lambda: _set("ack", "seq", False),
    "seq negative": lambda: _set("ack", "seq", -1),
    "seq 2**63": lambda: _set("ack", "seq", 2**63),
    "seq float": lambda: _set("ack", "seq", 1.0),
    "sent NaN": lambda: _set("ack", "sent", float("nan")),
    "sent inf": lambda: _set("ack", "sent", float("inf")),
    "sent string": lambda: _set("ack", "sent", "now"),
    "box empty": lambda: _set("ack", "box", ""),
    "box 65 chars": lambda: _set("ack", "box", "b" * 65),
    "box slash": lambda: _set("ack", "box", "a/b"),
    "box non-ascii": lambda: _set("ack", "box", "bóx"),
    "lat 91": lambda: _set("location", "lat", 91.0),
    "lat NaN": lambda: _set("location", "lat", float("nan")),
    "depth -11": lambda: _set("location", "depth_km", -11.0),
    "err negative": lambda: _set("location", "err_h_km", -0.1),
    "err inf on the wire": lambda: _set("location", "err_z_km", float("inf")),
    "misfit None": lambda: _set("location", "misfit", None),
    "mag 11": lambda: _set("location", "mag", 11.0),
    "n_picks bool": lambda: _set("location", "n_picks", True),
    "update 0": lambda: _set("location", "update", 0),
    "event empty": lambda: _set("location", "event", ""),
    "event 101 chars": lambda: _set("location", "event", "e" * 101),
    "event None in a location": lambda: _set("location", "event", None),
    "level unknown": lambda: _set("alarm", "level", "panic"),
    "reason 501 chars": lambda: _set("alarm", "reason", "r" * 501),
    "segment reversed": lambda: _set("alarm", "segment", [5, 4]),
    "segment of 3": lambda: _set("alarm", "segment", [1, 2, 3]),
    "segment bools": lambda: _set("alarm", "segment", [False, True]),
    "segment negative": lambda: _set("alarm", "segment", [-1, 4]),
    "packed wrong dtype": lambda: _set("picks", "dt", {"dtype": "<f8", "data": bytes(24)}),
    "packed odd length": lambda: _set("picks", "dt", {"dtype": "<f4", "data": bytes(11)}),
    "packed list": lambda: _set("picks", "dt", [0.0, 0.1, 0.2]),
    "packed str data": lambda: _set("picks", "dt", {"dtype": "<f4", "data": "abcd" * 3}),
    "packed extra key": lambda: _set("picks", "dt", {"dtype": "<f4", "data": bytes(12), "n": 3}),
    "picks lengths differ": lambda: _set("picks", "snr", pack_array(np.ones(2), "<f4")),
    "picks NaN dt": lambda: _set("picks", "dt", pack_array([0.0, np.nan, 1.0], "<f4")),
    "picks negative channel": lambda: _set("picks", "channel", pack_array([0, -1, 2], "<i4")),
    "picks too many": lambda: {**wire_dict("picks"), **{k: pack_array(np.zeros(100_001, int), d) for k, d in
                                                      [("channel", "<i4"), ("dt", "<f4"), ("snr", "<f4"),
                                                       ("amp", "<f4")]}},
    "hello one coordinate short": lambda: {**wire_dict("hello"), "segment": [100, 105]},
    "hello NaN latitude": lambda: _set("hello", "lat", pack_array([32.6, np.nan, 32.6, 32.6, 32.6], "<f8")),
    "hello longitude 181": lambda: _set("hello", "lon", pack_array([181.0] * 5, "<f8")),
    "hello fs 0": lambda: _set("hello", "fs", 0.0),
    "health two levels deep": lambda: _set("heartbeat", "health", {"a": {"b": {"c": 1}}}),
    "health 65 keys": lambda: _set("heartbeat", "health", {f"k{i}": i for i in range(65)}),
    "health list value": lambda: _set("heartbeat", "health", {"a": [1, 2]}),
    "health long string": lambda: _set("heartbeat", "health", {"a": "x" * 201}),
    "health NaN": lambda: _set("heartbeat", "health", {"a": float("nan")}),
    "health uint64": lambda: _set("heartbeat", "health", {"a": 2**64 - 1}),
    "health bin value": lambda: _set("heartbeat", "health", {"a": b"\x00"}),
    "ack 10001": lambda: _set("ack", "acked", list(range(10_001))),
    "ack bool": lambda: _set("ack", "acked", [1, True]),
    "ack not a list": lambda: _set("ack", "acked", 5),
    "alert level entry short": lambda: _set("alert", "levels", [{"box": "b", "level": "stop"}]),
    "alert 1001 levels": lambda: _set("alert", "levels", [{"box": "b", "segment": [0, 1], "level": "none"}] * 1001),
    "alert bad box": lambda: _set("alert", "levels", [{"box": "b b", "segment": [0, 1], "level": "none"}]),
    "snippet data short": lambda: _set("snippet", "n_t", 5),
    "snippet no channels": lambda: {**wire_dict("snippet"), "channel": pack_array([], "<i4"),
                                    "data": pack_array([], "<f4")},
    "snippet over 8 MiB": lambda: {**wire_dict("snippet"), "channel": pack_array([0], "<i4"),
                                   "n_t": 2 * 2**20 + 1, "data": pack_array(np.zeros(2 * 2**20 + 1), "<f4")},
}


# what the encoder normalises on purpose (see edge.wire): the decoder still refuses it on the wire
NORMALISED = {"err inf on the wire", "health NaN", "packed list"}


class TestRejects:
    @pytest.mark.parametrize("case", sorted(BAD))
    def test_bad_message(self, case):
        """Each malformed message is a DecodeError, and encode_message refuses to send it too."""
        msg = BAD[case]()
        with pytest.raises(DecodeError):
            decode_message(raw(msg))
        if case in NORMALISED:
            decode_message(encode_message(msg))
        else:
            with pytest.raises(EncodeError):
                encode_message(msg)

    @pytest.mark.parametrize("data, why", [
        (b"", "msgpack"), (b"\xc1", "msgpack"), (b"\x92\x01", "msgpack"),
        (raw({"v": 1}) + b"\x00", "ExtraData"), (raw([1, 2]), "map"), (raw(3), "map"),
        (msgpack.packb(msgpack.ExtType(5, b"abc")), "msgpack"),
        (b"\x81\xa4type\xd6\xff" + bytes(4), "msgpack"),  # the timestamp extension
        (b"\x91" * 100_000 + b"\xc0", "msgpack"),            # nesting 100k deep
        (b"\xdd\xff\xff\xff\xff", "msgpack"),                 # an array claiming 4e9 items
        (b"\xdb\xff\xff\xff\xff", "msgpack"),                 # a str claiming 4 GiB
        (raw({1: 2}), "msgpack"),                             # int keys (strict_map_key)
    ])
    def test_not_a_message(self, data, why):
        with pytest.raises(DecodeError, match=why):
            decode_message(data)

    @pytest.mark.parametrize("level", [b"\x91", b"\x81\xa1k"])
    def test_deep_value_does_not_recurse(self, level):
        """A 1000-deep list or map in a field: rejected without Python recursion, even from a caller
        with little stack left."""
        data = b"\x86" + raw(_drop("ack", "acked"))[1:] + raw("acked") + level * 1000 + b"\xc0"
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(len(traceback.extract_stack()) + 80)
        try:
            with pytest.raises(DecodeError, match="acked"):
                decode_message(data)
        finally:
            sys.setrecursionlimit(limit)

    def test_oversize_is_rejected_before_unpacking(self):
        with pytest.raises(DecodeError, match="exceeds"):
            decode_message(b"\xc0" * 101, max_bytes=100)

    def test_not_bytes(self):
        with pytest.raises(DecodeError):
            decode_message("text")  # type: ignore[arg-type]

    def test_errors_name_type_and_key(self):
        with pytest.raises(DecodeError, match="location: lat must be a finite number"):
            decode_message(raw(_set("location", "lat", float("nan"))))


class TestEncode:
    def test_encode_error_is_both_decode_and_value_error(self):
        assert issubclass(EncodeError, DecodeError) and issubclass(EncodeError, ValueError)

    @pytest.mark.parametrize("bad", [
        {"type": "alarm"}, "not a dict", {**valid("alarm"), "level": "red"},
        {**valid("picks"), "channel": np.array([1.5, 2.0, 3.0])},            # floats for an int32 key
        {**valid("picks"), "channel": np.array([2**40, 1, 2])},              # does not fit int32
        {**valid("picks"), "dt": np.array(["a", "b", "c"])},
        {**valid("ack"), "acked": {1, 2}},                                    # a set: not a list
        {**valid("location"), "lat": np.nan},                                 # NaN where None is not allowed
        {**valid("location"), "update": np.bool_(True)},
    ])
    def test_invalid_message_to_send(self, bad):
        with pytest.raises(EncodeError):
            encode_message(bad)

    def test_pack_array(self):
        packed = pack_array(np.arange(3, dtype=np.int64), "<i4")
        assert packed == {"dtype": "<i4", "data": np.arange(3, dtype="<i4").tobytes()}

    def test_levels_are_the_design_levels(self):
        assert LEVELS == ("none", "advisory", "stop")
