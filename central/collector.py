"""Central's intake: the wire messages of any number of boxes over one ZeroMQ ROUTER socket.

Every message is decoded by the edge's own hardened decoder (:mod:`edge.wire`), checked against the
box that sent it (the ZeroMQ routing id a box connects with is its box id: a message claiming another
box is a masquerade and is rejected), de-duplicated by ``(box, seq)`` and handed on. ``location`` and
``alarm`` messages and the ``picks`` of an event (what a box journals: ``edge.uplink.is_reliable``) are
acknowledged, duplicates included (the first ack may have been lost), so that the box can drop them
from its journal. Nothing a box sends can stop the collector or disturb other boxes:
anything malformed, oversized or unknown is counted by reason and logged, and the loop goes on.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable

import zmq

from edge.exceptions import DecodeError
from edge.logs import log_event
from edge.uplink import is_reliable
from edge.wire import decode_message, encode_message

log = logging.getLogger("central.collector")
MAX_MESSAGE = 16 * 2**20


class SeenSeqs:
    """The recent ``seq`` numbers of one box (bounded: a box resends only what is not yet acked)."""

    def __init__(self, capacity: int = 100_000):
        self._order: deque[int] = deque()
        self._set: set[int] = set()
        self.capacity = capacity

    def __contains__(self, seq: int) -> bool:
        return seq in self._set

    def add(self, seq: int) -> bool:
        """Record ``seq``; False when it was seen already."""
        if seq in self._set:
            return False
        self._set.add(seq)
        self._order.append(seq)
        if len(self._order) > self.capacity:
            self._set.discard(self._order.popleft())
        return True


class Collector:
    """Receive, check, de-duplicate and acknowledge box messages.

    Parameters
    ----------
    endpoint : the ROUTER bind address boxes connect their uplink to.
    on_message : called with every new, valid message (a dict of :func:`edge.wire.decode_message`).
    before_ack : called once a batch of messages is handled and before its acks go out (central
        commits its store there, so that an ack always means "stored durably").
    """

    def __init__(self, endpoint: str, on_message: Callable[[dict], None], *, context: zmq.Context | None = None,
                 before_ack: Callable[[], None] | None = None):
        self.on_message = on_message
        self.before_ack = before_ack
        self.socket = (context or zmq.Context.instance()).socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        self.socket.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self.socket.bind(endpoint)
        self.seen: dict[str, SeenSeqs] = {}
        self.last_heard: OrderedDict[str, float] = OrderedDict()
        self.counts = {"accepted": 0, "duplicates": 0, "acks_sent": 0, "rejected": {}, "by_type": {}}
        self._ack_seq = 0
        self.batch_max = 10_000

    def poll(self, timeout_s: float) -> int:
        """Handle every message waiting (waiting up to ``timeout_s`` for the first); return how many."""
        if not self.socket.poll(int(timeout_s * 1000)):
            return 0
        acks: dict[bytes, list[int]] = {}
        n = 0
        while n < self.batch_max:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            n += 1
            self._handle(frames, acks)
        if self.before_ack is not None:
            self.before_ack()
        for identity, seqs in acks.items():
            self._send_ack(identity, seqs)
        return n

    def _handle(self, frames: list[bytes], acks: dict[bytes, list[int]]) -> None:
        if len(frames) != 2:
            self._reject("frames", f"{len(frames)} frames")
            return
        identity, payload = frames
        try:
            msg = decode_message(payload)
        except DecodeError as exc:
            self._reject("decode", str(exc))
            return
        box = msg["box"]
        if identity != box.encode():
            self._reject("masquerade", f"connection {identity[:64]!r} sent a message of box {box!r}")
            return
        if msg["type"] in ("ack", "alert"):
            self._reject("direction", f"{msg['type']} messages go from central to boxes")
            return
        self.last_heard[box] = time.time()
        self.last_heard.move_to_end(box)
        seen = self.seen.setdefault(box, SeenSeqs())
        if msg["seq"] in seen:
            self.counts["duplicates"] += 1
        else:
            try:
                self.on_message(msg)
            except Exception as exc:  # noqa: BLE001 - one bad message must not stop the intake
                # Not acked and not marked seen: a journaled message comes again and is retried.
                self._reject("handler", f"{type(exc).__name__}: {exc} (box {box}, seq {msg['seq']}, {msg['type']})")
                return
            seen.add(msg["seq"])
            self.counts["accepted"] += 1
            by_type = self.counts["by_type"]
            by_type[msg["type"]] = by_type.get(msg["type"], 0) + 1
        if is_reliable(msg):
            acks.setdefault(identity, []).append(msg["seq"])

    def _send_ack(self, identity: bytes, seqs: list[int]) -> None:
        self._ack_seq += 1
        payload = encode_message({"v": 1, "type": "ack", "box": identity.decode(), "seq": self._ack_seq,
                                  "sent": time.time(), "acked": seqs[:10_000]})
        try:
            self.socket.send_multipart([identity, payload], zmq.NOBLOCK)
            self.counts["acks_sent"] += 1
        except zmq.Again:
            pass   # the box resends; its duplicate is acked then

    def _reject(self, why: str, detail: str) -> None:
        rejected = self.counts["rejected"]
        rejected[why] = rejected.get(why, 0) + 1
        if rejected[why] <= 10 or rejected[why] % 1000 == 0:
            log_event(log, "message_rejected", level=logging.WARNING, reason=why, detail=detail[:200],
                      count=rejected[why])

    def close(self) -> None:
        self.socket.close(0)
