"""Messages to central: a journal for what must arrive, a bounded queue for what may be dropped.

``location`` and ``alarm`` messages, and the ``picks`` of an event (``event`` not null), are appended
to the on-disk journal (:mod:`edge.journal`) and sent, in sequence order, again and again until
central acknowledges them, across central outages and restarts of either side: central relocates
events with all boxes' picks, and a restart that lost the P picks sent meanwhile left it the S and
coda picks only (the end-to-end test saw a fused location 52 km off from exactly that). Noise
``picks`` (no event), ``heartbeat``, ``hello`` and ``snippet`` messages wait in a bounded queue and are
dropped, counted, when it is full or central cannot take them.

Everything network- and disk-bound runs in the uplink's own thread, which alone owns its ZeroMQ
DEALER socket; :meth:`Uplink.submit` only stamps the sequence number and appends to an in-memory
queue, so the alarm path never waits on the disk, the network or central. The price: a message is
durable a few milliseconds after ``submit`` (when the thread has journaled it); the relay controller
has been told before that in any case.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from pathlib import Path

import zmq

from edge.config import UplinkSettings
from edge.exceptions import DasEewError, DecodeError
from edge.journal import Journal, JournalFull, SeqCounter
from edge.logs import log_event
from edge.wire import decode_message, encode_message

log = logging.getLogger("edge.uplink")
RELIABLE = frozenset({"location", "alarm"})


def is_reliable(msg: dict) -> bool:
    """Whether ``msg`` must reach central (journaled and resent until acknowledged)."""
    kind = msg.get("type")
    return kind in RELIABLE or (kind == "picks" and msg.get("event") is not None)
POLL_S = 0.02


class Uplink:
    """The edge's side of the link to central.

    Parameters
    ----------
    settings : UplinkSettings
    box : this box's id.
    state_dir : the journal (``journal/``) and the wire sequence counter (``wire.seq``) live here.
    context : the ZeroMQ context (the process's shared one by default).
    """

    def __init__(self, settings: UplinkSettings, *, box: str, state_dir: str | Path,
                 context: zmq.Context | None = None):
        self.settings = settings
        self.box = box
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(state_dir / "journal", max_bytes=int(settings.journal_max_mb * 2**20),
                               fsync=settings.fsync)
        self._seq = SeqCounter(state_dir / "wire.seq")
        self._context = context or zmq.Context.instance()
        self._lock = threading.Lock()
        self._reliable: deque[dict] = deque()          # never bounded: a few messages per event
        self._lossy: deque[dict] = deque()
        # journaled and not yet acknowledged: seq -> (payload, last send time or None)
        self._unacked: OrderedDict[int, list] = OrderedDict(
            (seq, [payload, None]) for seq, payload in self.journal.pending())
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counts = {"submitted": 0, "sent": 0, "resent": 0, "acked": 0, "dropped": {}, "encode_errors": 0,
                       "journal_errors": 0, "rejected_in": 0, "ignored_in": 0}
        self.last_from_central: float | None = None     # monotonic time of the latest valid message

    # --- main thread ----------------------------------------------------------------------------
    def submit(self, msg: dict) -> int:
        """Queue one message (``v``, ``box``, ``sent`` filled in when absent); return its ``seq``.

        Never blocks and never raises for a full queue: a lossy message that does not fit is
        dropped and counted.
        """
        with self._lock:
            seq = self._seq.next()
        msg = {**msg, "v": msg.get("v", 1), "box": self.box, "seq": seq, "sent": msg.get("sent", time.time())}
        self.counts["submitted"] += 1
        if is_reliable(msg):
            self._reliable.append(msg)
        elif len(self._lossy) >= self.settings.queue_max:
            self._count_drop(msg.get("type", "?"))
        else:
            self._lossy.append(msg)
        return seq

    def start(self) -> None:
        """Start the uplink thread."""
        self._thread = threading.Thread(target=self._run, name="uplink", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread; every submitted location and alarm is in the journal when this returns."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self._journal_reliable()
        self._drop_lossy()      # what the thread could not send is counted, never silently lost
        self.journal.close()

    def stats(self) -> dict:
        """Counters and depths for the heartbeat."""
        age = None if self.last_from_central is None else time.monotonic() - self.last_from_central
        return {**self.counts, "dropped": dict(self.counts["dropped"]), "journal_depth": len(self._unacked),
                "queued": len(self._lossy) + len(self._reliable),
                "central_age_s": None if age is None else round(age, 3)}

    # --- uplink thread --------------------------------------------------------------------------
    def _run(self) -> None:
        sock = None
        if self.settings.endpoint:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)      # queue only to a live connection: Again means "central away"
            sock.setsockopt(zmq.SNDHWM, self.settings.sndhwm)
            sock.setsockopt(zmq.RCVHWM, 1000)
            sock.setsockopt(zmq.ROUTING_ID, self.box.encode())
            sock.connect(self.settings.endpoint)
        try:
            while not self._stop.is_set():
                self._journal_reliable()
                if sock is None:
                    self._drop_lossy()
                    self._stop.wait(POLL_S)
                    continue
                self._send_unacked(sock)
                self._send_lossy(sock)
                if sock.poll(int(POLL_S * 1000)):
                    self._receive(sock)
        except Exception as exc:  # the uplink must never take the daemon down: log, and the daemon sees it dead
            log_event(log, "uplink_thread_failed", level=logging.ERROR, error=repr(exc))
            raise
        finally:
            if sock is not None:
                sock.close(0)

    def _journal_reliable(self) -> None:
        while self._reliable:
            msg = self._reliable[0]
            try:
                payload = encode_message(msg)
            except (DecodeError, ValueError, TypeError) as exc:   # a bug of ours: never lose the rest for it
                self._reliable.popleft()
                self.counts["encode_errors"] += 1
                log_event(log, "encode_failed", level=logging.ERROR, type=msg.get("type"), error=str(exc))
                continue
            try:
                self.journal.append(msg["seq"], payload)
            except (JournalFull, OSError, DasEewError) as exc:
                # keep it in memory and in order; it is still sent, only not durable
                self.counts["journal_errors"] += 1
                log_event(log, "journal_append_failed", level=logging.ERROR, seq=msg["seq"], error=str(exc))
            self._reliable.popleft()
            self._unacked[msg["seq"]] = [payload, None]

    def _send_unacked(self, sock: zmq.Socket) -> None:
        now = time.monotonic()
        for seq, entry in self._unacked.items():
            payload, last = entry
            if last is not None and now - last < self.settings.resend_s:
                continue
            try:
                sock.send(payload, zmq.NOBLOCK)
            except zmq.Again:
                return   # central away or full: try again, in the same order, next round
            self.counts["sent" if last is None else "resent"] += 1
            entry[1] = now

    def _send_lossy(self, sock: zmq.Socket) -> None:
        while self._lossy:
            msg = self._lossy.popleft()
            try:
                payload = encode_message(msg)
            except (DecodeError, ValueError, TypeError) as exc:
                self.counts["encode_errors"] += 1
                log_event(log, "encode_failed", level=logging.ERROR, type=msg.get("type"), error=str(exc))
                continue
            try:
                sock.send(payload, zmq.NOBLOCK)
                self.counts["sent"] += 1
            except zmq.Again:
                self._count_drop(msg["type"])

    def _drop_lossy(self) -> None:
        while self._lossy:
            self._count_drop(self._lossy.popleft()["type"])

    def _receive(self, sock: zmq.Socket) -> None:
        for _ in range(1000):
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                if len(frames) != 1:
                    raise DecodeError(f"expected one frame, got {len(frames)}")
                msg = decode_message(frames[0])
            except DecodeError as exc:
                self.counts["rejected_in"] += 1
                log_event(log, "message_rejected", level=logging.WARNING, error=str(exc))
                continue
            self.last_from_central = time.monotonic()
            if msg["type"] == "ack" and msg["box"] == self.box:
                self._ack(msg["acked"])
            else:
                self.counts["ignored_in"] += 1   # e.g. alerts: the downlink is a later issue's

    def _ack(self, seqs) -> None:
        known = [s for s in seqs if s in self._unacked]
        for s in known:
            del self._unacked[s]
        try:
            self.journal.ack(known)
        except (OSError, DasEewError) as exc:
            self.counts["journal_errors"] += 1
            log_event(log, "journal_ack_failed", level=logging.ERROR, error=str(exc))
        self.counts["acked"] += len(known)

    def _count_drop(self, kind: str) -> None:
        dropped = self.counts["dropped"]
        dropped[kind] = dropped.get(kind, 0) + 1
