"""Serial frames between the edge and the relay controller (DESIGN.md), MicroPython-compatible.

A frame on the wire is COBS-encoded and ends with 0x00. Inside, little-endian::

    version u8 | src u8 | dst u8 | type u8 | seq u32 | timestamp_ms u32 | length u8 | payload | CRC-32 u32

The CRC-32 (IEEE, as zlib) covers everything before it and is seeded with the link's 32-bit key:
a safety code against corruption and against frames of another link or a masquerading sender,
not cryptography. EN 50159's threats are answered together with the controller: repetition,
resequencing and insertion by the strictly increasing ``seq``; deletion by the PERMIT timeout and
the edge's ALARM retries; corruption by the CRC; delay by the timestamps; masquerade by the ids
and the keyed CRC.

On-device file: only ``struct`` is imported; no annotations, no dataclasses.
"""
import struct

VERSION = 1
PERMIT, ALARM, CLEAR, ACK, STATUS = 1, 2, 3, 4, 5
TYPE_NAMES = {PERMIT: "PERMIT", ALARM: "ALARM", CLEAR: "CLEAR", ACK: "ACK", STATUS: "STATUS"}
LEVEL_NONE, LEVEL_ADVISORY, LEVEL_STOP = 0, 1, 2
LEVEL_NAMES = ("none", "advisory", "stop")
MAX_PAYLOAD = 128
MAX_EVENT = 48
HEADER = "<BBBBIIB"
HEADER_SIZE = struct.calcsize(HEADER)
MIN_FRAME = HEADER_SIZE + 4
MAX_FRAME = MIN_FRAME + MAX_PAYLOAD
MAX_PACKET = MAX_FRAME + MAX_FRAME // 254 + 2
# payload size per type: exact, or (min, max) for ALARM's variable event id
PAYLOAD_SIZES = {PERMIT: (0, 0), ALARM: (10, 10 + MAX_EVENT), CLEAR: (4, 4), ACK: (5, 5), STATUS: (28, 28)}


class ProtocolError(Exception):
    """A malformed frame; ``reason`` is one of cobs, length, version, type, crc, payload."""

    def __init__(self, reason, detail=""):
        Exception.__init__(self, reason + (": " + detail if detail else ""))
        self.reason = reason


def _crc_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc_table()


def crc32(data, crc=0):
    """CRC-32 (IEEE 802.3), equal to ``zlib.crc32(data, crc)``."""
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def cobs_encode(data):
    """Consistent Overhead Byte Stuffing: the result holds no 0x00."""
    out = bytearray()
    block = bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1)
            out.extend(block)
            block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out.extend(block)
                block = bytearray()
    out.append(len(block) + 1)
    out.extend(block)
    return bytes(out)


def cobs_decode(data):
    """Inverse of :func:`cobs_encode`; ProtocolError("cobs") when malformed."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise ProtocolError("cobs", "zero byte inside a packet")
        end = i + code
        if end > n:
            raise ProtocolError("cobs", "block runs past the end")
        block = data[i + 1:end]
        if 0 in block:
            raise ProtocolError("cobs", "zero byte inside a block")
        out.extend(block)
        i = end
        if code != 255 and i < n:
            out.append(0)
    return bytes(out)


class Frame:
    """One frame: ``type``, ``seq`` (u32), ``timestamp_ms`` (u32, wraps), ``src``, ``dst``, ``payload``."""

    def __init__(self, type, seq, timestamp_ms, src, dst, payload=b""):
        self.type = type
        self.seq = seq
        self.timestamp_ms = timestamp_ms
        self.src = src
        self.dst = dst
        self.payload = bytes(payload)

    def __repr__(self):
        return "Frame(%s seq=%d ts=%d %d->%d %r)" % (TYPE_NAMES.get(self.type, self.type), self.seq,
                                                  self.timestamp_ms, self.src, self.dst, self.payload)

    def __eq__(self, other):
        return (isinstance(other, Frame) and self.type == other.type and self.seq == other.seq
                and self.timestamp_ms == other.timestamp_ms and self.src == other.src and self.dst == other.dst
                and self.payload == other.payload)


def encode_frame(frame, key=0):
    """COBS-encoded frame with its trailing 0x00 delimiter."""
    if len(frame.payload) > MAX_PAYLOAD:
        raise ProtocolError("length", "payload too long")
    body = struct.pack(HEADER, VERSION, frame.src & 0xFF, frame.dst & 0xFF, frame.type & 0xFF,
                       frame.seq & 0xFFFFFFFF, frame.timestamp_ms & 0xFFFFFFFF, len(frame.payload)) + frame.payload
    body += struct.pack("<I", crc32(body, key & 0xFFFFFFFF))
    return cobs_encode(body) + b"\x00"


def decode_frame(packet, key=0):
    """Frame from one packet (without the delimiter); ProtocolError with a reason otherwise."""
    if len(packet) > MAX_PACKET:
        raise ProtocolError("length", "packet too long")
    body = cobs_decode(packet)
    if len(body) < MIN_FRAME or len(body) > MAX_FRAME:
        raise ProtocolError("length", "%d bytes" % len(body))
    version, src, dst, type, seq, ts, length = struct.unpack(HEADER, body[:HEADER_SIZE])
    if HEADER_SIZE + length + 4 != len(body):
        raise ProtocolError("length", "payload length field disagrees")
    (crc,) = struct.unpack("<I", body[-4:])
    if crc32(body[:-4], key & 0xFFFFFFFF) != crc:
        raise ProtocolError("crc")
    if version != VERSION:
        raise ProtocolError("version", str(version))
    if type not in PAYLOAD_SIZES:
        raise ProtocolError("type", str(type))
    low, high = PAYLOAD_SIZES[type]
    if not low <= length <= high:
        raise ProtocolError("payload", "%d bytes for %s" % (length, TYPE_NAMES[type]))
    frame = Frame(type, seq, ts, src, dst, body[HEADER_SIZE:HEADER_SIZE + length])
    if type == ALARM:
        parse_alarm(frame.payload)
    elif type == STATUS:
        parse_status(frame.payload)
    return frame


def alarm_payload(level, event, first, last):
    ev = event.encode()[:MAX_EVENT] if isinstance(event, str) else bytes(event)[:MAX_EVENT]
    return struct.pack("<BBII", level, len(ev), first & 0xFFFFFFFF, last & 0xFFFFFFFF) + ev


def parse_alarm(payload):
    """(level, event id, first channel, last channel)."""
    level, n, first, last = struct.unpack("<BBII", payload[:10])
    if level > LEVEL_STOP or n != len(payload) - 10 or first > last:
        raise ProtocolError("payload", "bad ALARM")
    try:
        event = payload[10:].decode()
    except UnicodeError:
        raise ProtocolError("payload", "event id is not text")
    return level, event, first, last


def clear_payload(nonce):
    return struct.pack("<I", nonce & 0xFFFFFFFF)


def parse_clear(payload):
    return struct.unpack("<I", payload)[0]


def ack_payload(acked_seq, acked_type):
    return struct.pack("<IB", acked_seq & 0xFFFFFFFF, acked_type)


def parse_ack(payload):
    """(acknowledged seq, acknowledged type)."""
    return struct.unpack("<IB", payload)


STATUS_FORMAT = "<BBBBIIIIII"   # output, latched reason, advisory, spare, nonce, last edge seq, 4 counters
REASONS = ("none", "power-on", "alarm", "permit-timeout", "crc", "sequence", "masquerade", "clear-pending")


def status_payload(output_clear, reason, advisory, nonce, last_seq, crc_faults, seq_faults, timeouts, frames_ok):
    return struct.pack(STATUS_FORMAT, 1 if output_clear else 0, reason, 1 if advisory else 0, 0, nonce & 0xFFFFFFFF,
                       last_seq & 0xFFFFFFFF, crc_faults & 0xFFFFFFFF, seq_faults & 0xFFFFFFFF,
                       timeouts & 0xFFFFFFFF, frames_ok & 0xFFFFFFFF)


def parse_status(payload):
    v = struct.unpack(STATUS_FORMAT, payload)
    if v[0] > 1 or v[1] >= len(REASONS) or v[2] > 1:
        raise ProtocolError("payload", "bad STATUS")
    return {"output": "clear" if v[0] else "stop", "reason": REASONS[v[1]], "advisory": bool(v[2]), "nonce": v[4],
            "last_seq": v[5], "crc_faults": v[6], "seq_faults": v[7], "timeouts": v[8], "frames_ok": v[9]}


class FrameReader:
    """Splits a byte stream at 0x00 delimiters and decodes; the buffer is bounded (a flood of bytes
    without a delimiter is discarded and counted, never grows memory)."""

    def __init__(self, key=0):
        self.key = key
        self._buf = bytearray()
        self._skipping = False
        self.rejected = {}

    def feed(self, data):
        """Frames decoded from ``data`` (in order); rejections counted in ``rejected`` by reason."""
        frames = []
        for b in data:
            if b == 0:
                if self._skipping:
                    self._skipping = False
                elif self._buf:
                    try:
                        frames.append(decode_frame(bytes(self._buf), self.key))
                    except ProtocolError as exc:
                        self._count(exc.reason)
                self._buf = bytearray()
            elif not self._skipping:
                self._buf.append(b)
                if len(self._buf) > MAX_PACKET:
                    self._count("length")
                    self._buf = bytearray()
                    self._skipping = True
        return frames

    def _count(self, reason):
        self.rejected[reason] = self.rejected.get(reason, 0) + 1
