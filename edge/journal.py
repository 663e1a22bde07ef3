"""Durable on-disk journal of the messages that must reach central, and a restart-proof counter.

The journal is a directory of append-only segment files ``NNNNNNNNNNNN.seg``. Each record is::

    magic b"DJr1" | kind u8 | seq u64 | length u32 | crc32 u32 | payload (length bytes)

little-endian, the CRC-32 covering the 17 header bytes before it and the payload. Kinds: ``DATA`` (a
message), ``ACK`` (payload: the acknowledged seqs, u64 each) and ``META`` (first record of every
segment; its seq is one above the highest seq the journal had seen, so that knowledge survives
compaction).

Guarantees:

- :meth:`Journal.append` and :meth:`Journal.ack` are durable when they return (write, then fsync;
  the directory is fsynced when a segment is created or deleted).
- On open, a torn last record -- a write cut by a crash, so never acknowledged to the caller -- is
  truncated away. A corrupt record elsewhere is skipped and counted: the scan resynchronises on the
  next magic whose record checks out. A lost ACK record only makes a message be resent (central
  de-duplicates by (box, seq)); nothing else is ever lost silently.
- Fully acknowledged segments are deleted oldest first (an ACK record only refers to DATA in its own
  or older segments, so deleting a prefix never resurrects anything). When the files hold more than
  ``2 x pending + 2 x segment_bytes``, the live records of the oldest segment are copied forward so
  that one message central never acknowledges cannot pin the disk: disk use stays below
  ``2 x max_bytes + 3 x segment_bytes``.
- Payloads are not kept in memory: :meth:`Journal.pending` reads them back from the files.
"""
from __future__ import annotations

import logging
import math
import operator
import os
import struct
import threading
import time
import zlib
from contextlib import ExitStack
from pathlib import Path

from edge.exceptions import DasEewError
from edge.logs import log_event

log = logging.getLogger("edge.journal")

MAGIC = b"DJr1"
HEADER = struct.Struct("<4sBQII")          # magic, kind, seq, length, crc
DATA, ACK, META = 1, 2, 3
SEGMENT_BYTES = 4 * 2**20
MAX_RECORD = 64 * 2**20
_CHECKED = HEADER.size - 4                  # header bytes covered by the CRC


class JournalError(DasEewError):
    """The journal cannot do what was asked (closed, seq not above the last one, ...)."""


class JournalFull(JournalError):
    """``max_bytes`` of unacknowledged messages are stored. The journal refuses rather than drop the
    oldest (which central may never have seen): the caller keeps the message in memory, or drops it
    knowingly, and counts it."""


def _record(kind: int, seq: int, payload: bytes) -> bytes:
    head = HEADER.pack(MAGIC, kind, seq, len(payload), 0)[:_CHECKED]
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


def _parse(data: bytes, pos: int):
    """``(kind, seq, start, end)`` of a sound record at ``pos``, or None."""
    if pos + HEADER.size > len(data):
        return None
    magic, kind, seq, length, crc = HEADER.unpack_from(data, pos)
    end = pos + HEADER.size + length
    if magic != MAGIC or kind not in (DATA, ACK, META) or length > MAX_RECORD or end > len(data):
        return None
    if zlib.crc32(data[pos + HEADER.size:end], zlib.crc32(data[pos:pos + _CHECKED])) != crc:
        return None
    return kind, seq, pos + HEADER.size, end


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Journal:
    """Append, list pending, acknowledge; survives crashes and restarts. Thread-safe.

    Parameters
    ----------
    directory : created if missing. One process at a time (the daemon's uplink).
    max_bytes : unacknowledged payload bytes stored at most; beyond, :meth:`append` raises
        :class:`JournalFull`.
    fsync : make every append and ack durable before returning. Without it they survive a crash of
        the process but not of the machine (tests on slow disks only).
    segment_bytes : a new segment file is started when the current one reaches this size.

    Examples
    --------
    >>> import tempfile
    >>> j = Journal(tempfile.mkdtemp(), fsync=False)
    >>> j.append(7, b"location"); j.append(9, b"alarm")
    >>> j.ack([7, 8]), j.pending()
    (1, [(9, b'alarm')])
    """

    def __init__(self, directory: str | Path, *, max_bytes: int = 256 * 2**20, fsync: bool = True,
                 segment_bytes: int = SEGMENT_BYTES):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self.fsync = fsync
        self.segment_bytes = int(segment_bytes)
        self.corrupt_records = 0            # skipped on open (bit rot, or a record cut mid-file)
        self.torn_bytes = 0                 # cut from the end of the last segment on open
        self.last_seq = -1                  # highest seq ever appended (from META records too)
        self._lock = threading.Lock()
        self._index: dict[int, tuple[int, int, int]] = {}   # pending seq -> (segment, offset, length)
        self._live: dict[int, int] = {}                     # segment -> pending records in it
        self._sizes: dict[int, int] = {}                    # segment -> file bytes
        self._bytes = 0                     # pending payload bytes (what max_bytes bounds)
        self._rec_bytes = 0                 # pending record bytes, headers included (what compaction keeps)
        self._fd: int | None = None
        self._closed = False
        numbers = sorted(int(p.stem) for p in self.dir.glob("*.seg") if p.stem.isdigit())
        for i, number in enumerate(numbers):
            self._load(number, last=i == len(numbers) - 1)
        self._number = numbers[-1] if numbers else 0
        self._open_current(new=not numbers or self._sizes[self._number] >= self.segment_bytes)
        self._compact()

    # --- public ---------------------------------------------------------------------------------
    def append(self, seq: int, payload: bytes) -> None:
        """Store ``payload`` under ``seq``; durable when this returns.

        Raises
        ------
        JournalFull
            ``max_bytes`` of unacknowledged payload would be exceeded.
        JournalError
            ``seq`` not above every seq appended before (appending a pending seq again with the same
            payload is a no-op), or the journal is closed.
        OSError
            The disk failed; the file is cut back so the journal stays consistent.
        """
        seq, payload = operator.index(seq), bytes(payload)
        with self._lock:
            if seq in self._index and self._read(seq) == payload:
                return
            if not 0 <= seq < 2**63 or seq <= self.last_seq:
                raise JournalError(f"seq {seq} is not above the journal's last seq {self.last_seq}")
            if len(payload) > MAX_RECORD or self._bytes + len(payload) > self.max_bytes:
                raise JournalFull(f"journal holds {self._bytes} bytes unacknowledged; {len(payload)} more "
                                  f"exceed its limit of {self.max_bytes}")
            offset = self._write([_record(DATA, seq, payload)])
            self._add(seq, self._number, offset + HEADER.size, len(payload))
            self.last_seq = seq

    def pending(self) -> list[tuple[int, bytes]]:
        """Unacknowledged messages ``(seq, payload)`` in seq order, read back from the files."""
        with self._lock, ExitStack() as stack:
            out, files = [], {}
            for seq in sorted(self._index):
                number, offset, length = self._index[seq]
                if number not in files:
                    files[number] = stack.enter_context(open(self._path(number), "rb"))
                files[number].seek(offset)
                out.append((seq, files[number].read(length)))
            return out

    def ack(self, seqs) -> int:
        """Acknowledge ``seqs``; unknown or already acknowledged ones are ignored. Durable on return.

        Returns
        -------
        int
            How many were pending.
        """
        with self._lock:
            known = sorted({int(s) for s in seqs if s in self._index})
            if not known:
                return 0
            per = MAX_RECORD // 8
            self._write([_record(ACK, 0, struct.pack(f"<{len(chunk)}Q", *chunk))
                         for chunk in (known[i:i + per] for i in range(0, len(known), per))])
            for seq in known:
                self._remove(seq)
            try:
                self._compact()
            except OSError as exc:     # the acks are durable already; compaction retries on the next ack
                log_event(log, "journal_compaction_failed", level=logging.WARNING, error=str(exc))
            return len(known)

    @property
    def depth(self) -> int:
        """Messages not yet acknowledged."""
        return len(self._index)

    def stats(self) -> dict:
        """Depth, pending and disk bytes, segment count and what the last open repaired."""
        return {"depth": self.depth, "pending_bytes": self._bytes, "disk_bytes": sum(self._sizes.values()),
                "segments": len(self._sizes), "corrupt_records": self.corrupt_records,
                "torn_bytes": self.torn_bytes, "last_seq": self.last_seq}

    def close(self) -> None:
        """Close the current segment; the journal refuses appends afterwards."""
        with self._lock:
            self._closed = True
            self._close_fd()

    # --- files ----------------------------------------------------------------------------------
    def _path(self, number: int) -> Path:
        return self.dir / f"{number:012d}.seg"

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def _open_current(self, *, new: bool) -> None:
        if new:
            self._close_fd()
            self._number += bool(self._sizes)
            self._sizes[self._number] = 0
            self._live.setdefault(self._number, 0)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        self._fd = os.open(self._path(self._number), flags, 0o644)
        if new and self.fsync:
            _fsync_dir(self.dir)
        if self._sizes[self._number] == 0:
            self._write([_record(META, self.last_seq + 1, b"")], roll=False)

    def _write(self, records: list[bytes], *, roll: bool = True) -> int:
        """Append ``records`` to the current segment and fsync; return the offset of the first."""
        if self._closed:
            raise JournalError("journal is closed")
        if self._fd is None:            # an earlier roll failed half-way (e.g. no space for a new file)
            self._open_current(new=False)
        if roll and self._sizes[self._number] >= self.segment_bytes:
            self._open_current(new=True)
        blob = b"".join(records)
        start = self._sizes[self._number]
        try:
            view = memoryview(blob)
            while view:
                view = view[os.write(self._fd, view):]
            if self.fsync:
                os.fsync(self._fd)
        except OSError:
            try:    # a partial record would otherwise sit in the middle once the next append succeeds
                os.ftruncate(self._fd, start)
            except OSError:
                pass
            raise
        self._sizes[self._number] = start + len(blob)
        return start

    def _read(self, seq: int) -> bytes:
        number, offset, length = self._index[seq]
        with open(self._path(number), "rb") as fh:
            fh.seek(offset)
            return fh.read(length)

    def _load(self, number: int, *, last: bool) -> None:
        path = self._path(number)
        data = path.read_bytes()
        pos = good_end = 0
        while pos < len(data):
            rec = _parse(data, pos)
            if rec is None:
                nxt = self._resync(data, pos + 1)
                if nxt is None:         # nothing sound after pos: a torn tail, or a rotten last record
                    if _complete(data, pos):
                        self.corrupt_records += 1
                    else:
                        self.torn_bytes += len(data) - pos
                    break
                self.corrupt_records += 1
                pos = nxt
                continue
            kind, seq, start, end = rec
            if kind == DATA:
                if seq in self._index:          # a copy made by compaction: the newer one counts
                    self._remove(seq)
                self._add(seq, number, start, end - start)
                self.last_seq = max(self.last_seq, seq)
            elif kind == ACK:
                for (s,) in struct.iter_unpack("<Q", data[start:end]) if (end - start) % 8 == 0 else ():
                    if s in self._index and self._index[s][0] <= number:
                        self._remove(s)
            else:
                self.last_seq = max(self.last_seq, seq - 1)
            pos = good_end = end
        if last and good_end < len(data):
            with open(path, "r+b") as fh:
                fh.truncate(good_end)
                os.fsync(fh.fileno())
            data = data[:good_end]
        self._sizes[number] = len(data)
        self._live.setdefault(number, 0)

    @staticmethod
    def _resync(data: bytes, start: int) -> int | None:
        pos = data.find(MAGIC, start)
        while pos != -1:
            if _parse(data, pos) is not None:
                return pos
            pos = data.find(MAGIC, pos + 1)
        return None

    # --- bookkeeping ------------------------------------------------------------------------------
    def _add(self, seq: int, number: int, offset: int, length: int) -> None:
        self._index[seq] = (number, offset, length)
        self._live[number] = self._live.get(number, 0) + 1
        self._bytes += length
        self._rec_bytes += HEADER.size + length

    def _remove(self, seq: int) -> None:
        number, _, length = self._index.pop(seq)
        self._live[number] -= 1
        self._bytes -= length
        self._rec_bytes -= HEADER.size + length

    def _compact(self) -> None:
        for _ in range(len(self._sizes) + 1):     # each round deletes the oldest segment
            self._drop_acked_prefix()
            old = min(self._sizes)
            if old == self._number or sum(self._sizes.values()) <= 2 * self._rec_bytes + 2 * self.segment_bytes:
                return
            self._copy_forward(old)

    def _drop_acked_prefix(self) -> None:
        dropped = False
        for number in sorted(self._sizes):
            if number == self._number or self._live.get(number, 0):
                break
            self._path(number).unlink(missing_ok=True)
            del self._sizes[number]
            self._live.pop(number, None)
            dropped = True
        if dropped and self.fsync:
            _fsync_dir(self.dir)

    def _copy_forward(self, number: int) -> None:
        seqs = sorted(s for s, where in self._index.items() if where[0] == number)
        records = [_record(DATA, s, self._read(s)) for s in seqs]
        offset = self._write(records)         # may roll to a new segment first; all land in one
        for seq, rec in zip(seqs, records):
            self._remove(seq)
            self._add(seq, self._number, offset + HEADER.size, len(rec) - HEADER.size)
            offset += len(rec)


def _complete(data: bytes, pos: int) -> bool:
    """A whole record's worth of bytes is there (so its CRC, not a crash, failed)."""
    if pos + HEADER.size > len(data):
        return False
    magic, kind, _, length, _ = HEADER.unpack_from(data, pos)
    return magic == MAGIC and kind in (DATA, ACK, META) and length <= MAX_RECORD \
        and pos + HEADER.size + length <= len(data)


class SeqCounter:
    """Per-box wire ``seq``: strictly increasing across restarts, one durable write per ``block``.

    Before handing out a value at or above the reserved mark, the mark is moved ``block`` values up
    and written atomically (temporary file, fsync, rename, fsync of the directory). After a restart
    -- or a kill at any point -- counting resumes at the mark, above every value ever handed out;
    at most ``block`` numbers are skipped, never reused.

    A counter file that exists but cannot be read as a number (damaged disk, edited by hand) would
    make restarting at 0 reuse numbers central has seen, and central drops repeats as duplicates.
    The counter then resumes at the wall clock in microseconds (~1.7e15, far above any count a box
    reaches at < 1e6 messages/s) and sets :attr:`recovered`.

    Parameters
    ----------
    path : the counter file (created on the first :meth:`next`).
    block : values reserved per durable write.
    floor : never hand out less (e.g. one above :attr:`Journal.last_seq`).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "wire.seq")
    >>> c = SeqCounter(path, block=10); [c.next() for _ in range(3)]
    [0, 1, 2]
    >>> SeqCounter(path, block=10).next()
    10
    """

    def __init__(self, path: str | Path, *, block: int = 1000, floor: int = 0):
        if block < 1:
            raise ValueError(f"block must be >= 1, got {block}")
        self.path = Path(path)
        self.block = int(block)
        self.recovered = False
        self._lock = threading.Lock()
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            reserved = 0
        except (OSError, UnicodeDecodeError):
            reserved = self._recover()
        else:
            reserved = int(text) if text.strip().isdigit() and int(text) < 2**62 else self._recover()
        self._next = self._reserved = max(reserved, int(floor))

    def _recover(self) -> int:
        self.recovered = True
        value = math.floor(time.time() * 1e6)
        log_event(log, "seq_counter_recovered", level=logging.WARNING, path=str(self.path), resume_at=value)
        return value

    def next(self) -> int:
        """The next number; durable (never handed out again) when it returns."""
        with self._lock:
            if self._next >= self._reserved:
                self._reserve(self._next + self.block)
            value = self._next
            self._next += 1
            return value

    def _reserve(self, upto: int) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(f"{upto}\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self._reserved = upto
