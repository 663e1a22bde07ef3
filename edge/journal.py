"""Durable on-disk journal of the messages that must reach central, and a restart-proof counter.

The journal is a directory of append-only segment files. A record is ``magic, seq (u64), length
(u32), CRC-32 (u32)`` then the payload; an ack is a record with the ack flag and no payload. An
append is durable when it returns (write, flush, fsync; the directory is fsynced when a segment is
created). On open, a torn last record -- a write cut by a crash, never acknowledged to the caller --
is cut away; a corrupt record elsewhere is skipped and counted. Segments whose records are all
acknowledged are deleted.
"""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from edge.exceptions import DasEewError

MAGIC_DATA, MAGIC_ACK = 0xD5, 0xAC
HEADER = struct.Struct("<BQII")
SEGMENT_BYTES = 4 * 2**20
MAX_RECORD = 64 * 2**20


class JournalFull(DasEewError):
    """The journal holds ``max_bytes`` of unacknowledged messages; the caller keeps the message in memory."""


class Journal:
    """Append, list pending, acknowledge; survives crashes and restarts.

    Parameters
    ----------
    directory : created if missing.
    max_bytes : unacknowledged payload bytes kept at most.
    fsync : make every append and ack durable before returning.
    """

    def __init__(self, directory: str | Path, *, max_bytes: int = 256 * 2**20, fsync: bool = True):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.corrupt_records = 0
        self._pending: dict[int, tuple[bytes, int]] = {}     # seq -> (payload, segment number)
        self._live: dict[int, int] = {}                       # segment -> unacked records in it
        segments = sorted(int(p.stem) for p in self.dir.glob("*.seg") if p.stem.isdigit())
        for number in segments:
            self._load(number)
        self._number = (segments[-1] + 1) if segments else 0
        self._file = None
        self._bytes = sum(len(p) for p, _ in self._pending.values())
        self._compact()

    # --- public ---------------------------------------------------------------------------------
    def append(self, seq: int, payload: bytes) -> None:
        if seq in self._pending:
            return
        if self._bytes + len(payload) > self.max_bytes:
            raise JournalFull(f"journal holds {self._bytes} bytes unacknowledged (limit {self.max_bytes})")
        self._write(MAGIC_DATA, seq, payload)
        self._pending[seq] = (payload, self._number)
        self._live[self._number] = self._live.get(self._number, 0) + 1
        self._bytes += len(payload)

    def pending(self) -> list[tuple[int, bytes]]:
        """Unacknowledged messages in seq order."""
        return [(s, self._pending[s][0]) for s in sorted(self._pending)]

    def ack(self, seqs) -> int:
        """Acknowledge ``seqs`` (unknown ones ignored); return how many were pending."""
        n = 0
        for seq in seqs:
            entry = self._pending.pop(seq, None)
            if entry is None:
                continue
            n += 1
            self._bytes -= len(entry[0])
            self._write(MAGIC_ACK, seq, b"")
            self._live[entry[1]] -= 1
        if n:
            self._compact()
        return n

    @property
    def depth(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # --- internals ------------------------------------------------------------------------------
    def _path(self, number: int) -> Path:
        return self.dir / f"{number:012d}.seg"

    def _write(self, magic: int, seq: int, payload: bytes) -> None:
        if self._file is None or self._file.tell() > SEGMENT_BYTES:
            if self._file is not None:
                self._file.close()
                self._number += 1
            self._file = open(self._path(self._number), "ab")
            if self.fsync:
                fd = os.open(self.dir, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        self._file.write(HEADER.pack(magic, seq, len(payload), zlib.crc32(payload, seq & 0xFFFFFFFF)) + payload)
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def _load(self, number: int) -> None:
        path = self._path(number)
        data = path.read_bytes()
        pos, good_end = 0, 0
        while pos + HEADER.size <= len(data):
            magic, seq, length, crc = HEADER.unpack_from(data, pos)
            end = pos + HEADER.size + length
            if magic not in (MAGIC_DATA, MAGIC_ACK) or length > MAX_RECORD:
                self.corrupt_records += 1      # lost framing: nothing after it can be trusted
                break
            if end > len(data):
                break                          # torn tail
            payload = data[pos + HEADER.size:end]
            if zlib.crc32(payload, seq & 0xFFFFFFFF) != crc:
                self.corrupt_records += 1
            elif magic == MAGIC_DATA:
                if seq not in self._pending:
                    self._pending[seq] = (payload, number)
                    self._live[number] = self._live.get(number, 0) + 1
            else:
                entry = self._pending.pop(seq, None)
                if entry is not None:
                    self._live[entry[1]] -= 1
            pos = good_end = end
        if good_end < len(data):
            with open(path, "r+b") as fh:     # cut the torn or unframed tail
                fh.truncate(good_end)
        self._live.setdefault(number, 0)

    def _compact(self) -> None:
        current = self._number
        for number, live in list(self._live.items()):
            if live == 0 and number != current:
                self._path(number).unlink(missing_ok=True)
                del self._live[number]


class SeqCounter:
    """Strictly increasing numbers across restarts, with one durable write per ``block`` values."""

    def __init__(self, path: str | Path, *, block: int = 1000):
        self.path = Path(path)
        self.block = block
        try:
            reserved = int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            reserved = 0
        self._next = reserved
        self._reserved = reserved

    def next(self) -> int:
        if self._next >= self._reserved:
            self._reserve(self._next + self.block)
        value = self._next
        self._next += 1
        return value

    def _reserve(self, upto: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            fh.write(str(upto))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self._reserved = upto
