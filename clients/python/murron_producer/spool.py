"""The optional on-disk spool: a write-ahead log of signed records and the streams' next offsets, so
that a restarted producer resends what was not acknowledged and never reuses an offset.

The format is the Rust library's (producer/src/spool.rs): the same segments byte for byte and the
same `streams` JSON, so a spool written by one is read by the other (tests/test_spool_rust.py runs the Rust example on a spool both ways):

```text
LOCK            flock()ed for the producer's lifetime: one spool, one producer (Rust's File::try_lock
                is the same lock, so the two exclude each other too)
streams         JSON {"version":1,"host":h,"pid":p,"streams":[{"type":t,"host":h,"pid":p,"next":n}]},
                replaced atomically (write streams.tmp, sync, rename)
{n:020}.seg     "MSPOOL1\\n", then records: u32 BE len | u32 BE crc32(body) | body
                body = u8 kind (1) | u16 BE topic_len | topic (empty: the server routes) | u16 BE key_len | key | value
```

- Records are appended (one write) before ``send`` returns; a segment rolls at ``segment_bytes``, and
  is deleted when all its records are acknowledged or refused, after ``streams`` is rewritten, so
  offsets that only a deleted segment held are still known.
- Recovery takes the lock, reads ``streams``, and reads every segment checking each CRC. A short or
  bad record at the end of the newest segment is a torn write: the file is truncated there.
  Elsewhere a bad record is skipped and counted (logged at error). A stream's next offset is the
  larger of what ``streams`` says and its highest spooled offset + 1. Every record read is sent again
  (the sink drops the copies it already has).
- With a spool, the producer's host and pid are the spool's, so a restarted process continues its
  streams even as pid 1 in a container.
"""

from __future__ import annotations

import bisect
import fcntl
import json
import logging
import os
import re
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .envelope import decode_uid
from .errors import SpoolLocked
from .ledger import Uid

log = logging.getLogger("murron_producer")

MAGIC = b"MSPOOL1\n"
KIND_RECORD = 1
#: A drained open segment older than this is retired, so an idle producer keeps no delivered
#: records on disk.
RETIRE_IDLE_AFTER = 1.0
_HEADER = struct.Struct(">II")
_U16 = struct.Struct(">H")
_FSYNC = ("interval", "always", "never")
_SEGMENT_NAME = re.compile(r"([0-9]+)\.seg")


@dataclass(frozen=True)
class SpoolConfig:
    """Where and how to spool.

    ``fsync``: ``"interval"`` syncs in the background every ``interval`` seconds (an OS crash loses
    at most that); ``"always"`` syncs every append before ``send`` returns (survives an OS crash,
    slowest); ``"never"`` leaves it to the OS. A crash of the process alone loses nothing in any mode.
    A segment rolls when it reaches ``segment_bytes``.
    """

    dir: str | os.PathLike
    fsync: str = "interval"
    interval: float = 0.2
    segment_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        if self.fsync not in _FSYNC:
            raise ValueError(f"fsync must be one of {_FSYNC}, not {self.fsync!r}")
        if self.interval <= 0 or self.segment_bytes < 1:
            raise ValueError("interval and segment_bytes must be positive")


@dataclass(frozen=True)
class SpooledRecord:
    """A record read back from the spool: what the transport sends, and its UID."""

    topic: str | None
    key: bytes
    value: bytes
    uid: Uid


@dataclass
class Recovered:
    """What recovery found: the identity the spool belongs to, the records to send again (in spool
    order; the producer numbers them ``0..len(records)``), and how many were skipped as corrupt."""

    host: str
    pid: int
    records: list[SpooledRecord] = field(default_factory=list)
    corrupt: int = 0


@dataclass
class _Segment:
    path: Path
    bytes: int
    pending: int


class Spool:
    """An open spool directory. Thread-safe. Open it with :meth:`Spool.open`."""

    def __init__(self, config: SpoolConfig, host: str, pid: int, lock_fd: int):
        self.dir = Path(config.dir)
        self.config = config
        self.host = host
        self.pid = pid
        self._lock_fd: int | None = lock_fd
        self._mutex = threading.Lock()
        self._next: dict[tuple[str, str, int], int] = {}
        self._segments: dict[int, _Segment] = {}  # by the first sequence number written to each
        self._firsts: list[int] = []  # the keys of _segments, sorted
        self._open_fd: int | None = None
        self._open_first = 0
        self._open_len = 0
        self._opened = 0.0
        self._next_number = 0
        self._dirty = False

    # Opening and recovery.

    @classmethod
    def open(cls, config: SpoolConfig, host: str, pid: int) -> tuple["Spool", Recovered]:
        """Opens (or creates) the spool at ``config.dir`` and recovers it. ``host`` and ``pid`` are the
        identity of a new spool; an existing spool keeps its own. Raises :class:`SpoolLocked` when
        another producer holds it, OSError (or ValueError for an unreadable ``streams``) otherwise."""
        d = Path(config.dir)
        d.mkdir(parents=True, exist_ok=True)
        fd = os.open(d / "LOCK", os.O_CREAT | os.O_WRONLY, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolLocked(f"spool directory {d} is in use by another producer") from None
        try:
            return cls._recover(config, host, pid, fd)
        except BaseException:
            os.close(fd)  # releases the lock
            raise

    @classmethod
    def _recover(cls, config: SpoolConfig, host: str, pid: int, fd: int) -> tuple["Spool", Recovered]:
        d = Path(config.dir)
        nxt: dict[tuple[str, str, int], int] = {}
        try:
            text = (d / "streams").read_bytes()
        except FileNotFoundError:
            pass
        else:
            host, pid, nxt = _read_streams(text)
        spool = cls(config, host, pid, fd)
        numbers = sorted(int(m[1]) for p in d.iterdir() if (m := _SEGMENT_NAME.fullmatch(p.name)))
        spool._next_number = numbers[-1] + 1 if numbers else 0
        recovered = Recovered(host, pid)
        empty = []
        for i, number in enumerate(numbers):
            path = _segment_path(d, number)
            first_seq = len(recovered.records)
            found, bad, length = _read_segment(path, newest=i + 1 == len(numbers))
            recovered.corrupt += bad
            for r in found:
                key = (r.uid.type, r.uid.host, r.uid.pid)
                nxt[key] = max(nxt.get(key, 0), r.uid.offset + 1)
            recovered.records.extend(found)
            if found:
                spool._add_segment(first_seq, _Segment(path, length, len(found)))
            else:
                empty.append(path)
        if recovered.corrupt:
            log.error("spool %s: %d records with a bad CRC or contents were skipped", d, recovered.corrupt)
        spool._next = nxt
        spool._write_streams()
        for path in empty:
            path.unlink()
        return spool, recovered

    # What the producer asks.

    def next_offsets(self, host: str, pid: int) -> dict[str, int]:
        """The next offset per type of the streams of identity ``(host, pid)``."""
        with self._mutex:
            return {t: n for (t, h, p), n in self._next.items() if (h, p) == (host, pid)}

    @property
    def bytes(self) -> int:
        """Bytes on disk in segments."""
        with self._mutex:
            return sum(s.bytes for s in self._segments.values())

    @property
    def segments(self) -> int:
        """Segment files on disk."""
        with self._mutex:
            return len(self._segments)

    # Writing.

    def append(self, first_seq: int, records: Iterable) -> None:
        """Appends records (objects with ``topic``, ``key``, ``value`` and ``uid``), numbered from
        ``first_seq``, with one write. On failure the segment is cut back to where it was, so no
        partial record stays in the middle of the log."""
        records = list(records)
        buf = bytearray()
        for r in records:
            _encode_record(r, buf)
        with self._mutex:
            if self._lock_fd is None:
                raise OSError("the spool was released")
            if not records:
                return
            if self._open_fd is not None and self._open_len >= self.config.segment_bytes:
                self._close_open()
            if self._open_fd is None:
                path = _segment_path(self.dir, self._next_number)
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_APPEND, 0o644)
                self._next_number += 1
                try:
                    _write_all(fd, MAGIC)
                except BaseException:
                    os.close(fd)
                    path.unlink(missing_ok=True)
                    raise
                self._open_fd, self._open_first, self._open_len = fd, first_seq, len(MAGIC)
                self._opened = time.monotonic()
                self._add_segment(first_seq, _Segment(path, len(MAGIC), 0))
            try:
                _write_all(self._open_fd, bytes(buf))
            except BaseException:
                os.ftruncate(self._open_fd, self._open_len)
                raise
            if self.config.fsync == "always":
                os.fdatasync(self._open_fd)
            else:
                self._dirty = True
            self._open_len += len(buf)
            segment = self._segments[self._open_first]
            segment.pending += len(records)
            segment.bytes += len(buf)
            for r in records:
                key = (r.uid.type, r.uid.host, r.uid.pid)
                self._next[key] = max(self._next.get(key, 0), r.uid.offset + 1)

    def resolve(self, seqs: Iterable[int]) -> None:
        """Marks records acknowledged or refused; deletes the segments they drained."""
        with self._mutex:
            if self._lock_fd is None:
                return
            drained = False
            for seq in seqs:
                i = bisect.bisect_right(self._firsts, seq) - 1
                if i >= 0:
                    segment = self._segments[self._firsts[i]]
                    segment.pending = max(0, segment.pending - 1)
                    drained |= segment.pending == 0
            if drained:
                self._retire(open_too=False)

    def upkeep(self) -> None:
        """Syncs pending writes (``fsync="interval"``) and retires an idle drained segment."""
        with self._mutex:
            if self._lock_fd is None:
                return
            if self.config.fsync == "interval":
                self._sync()
            idle = self._open_fd is not None and time.monotonic() - self._opened >= RETIRE_IDLE_AFTER
            self._retire(open_too=idle)

    def upkeep_interval(self) -> float:
        """How often :meth:`upkeep` should run, in seconds."""
        if self.config.fsync == "interval":
            return min(self.config.interval, RETIRE_IDLE_AFTER)
        return RETIRE_IDLE_AFTER

    def sync(self) -> None:
        """Writes appended records to the disk."""
        with self._mutex:
            self._sync()

    def release(self) -> None:
        """Syncs, retires what is drained, and unlocks the directory; nothing more is written."""
        with self._mutex:
            if self._lock_fd is None:
                return
            self._sync()
            # A drained open segment need not wait to be idle: nothing more is appended.
            self._retire(open_too=True)
            self._close_open()
            os.close(self._lock_fd)
            self._lock_fd = None

    # Inside, under the mutex.

    def _sync(self) -> None:
        if self._dirty and self._open_fd is not None:
            os.fdatasync(self._open_fd)
        self._dirty = False

    def _close_open(self) -> None:
        if self._open_fd is not None:
            if self._dirty and self.config.fsync != "never":
                os.fdatasync(self._open_fd)  # the rolled segment's tail is not left unsynced
            os.close(self._open_fd)
            self._open_fd = None
            self._dirty = False

    def _add_segment(self, first_seq: int, segment: _Segment) -> None:
        self._segments[first_seq] = segment
        bisect.insort(self._firsts, first_seq)

    def _retire(self, open_too: bool) -> None:
        """Deletes drained segments, after recording the streams' next offsets."""
        open_first = self._open_first if self._open_fd is not None else None
        done = [first for first, s in self._segments.items()
                if s.pending == 0 and (first != open_first or open_too)]
        if not done:
            return
        self._write_streams()
        for first in done:
            if first == open_first:
                os.close(self._open_fd)
                self._open_fd = None
                self._dirty = False
            segment = self._segments.pop(first)
            self._firsts.remove(first)
            segment.path.unlink()

    def _write_streams(self) -> None:
        streams = [{"type": t, "host": h, "pid": p, "next": n}
                   for (t, h, p), n in sorted(self._next.items())]
        body = json.dumps({"version": 1, "host": self.host, "pid": self.pid, "streams": streams},
                          indent=2).encode()
        tmp = self.dir / "streams.tmp"
        with open(tmp, "wb") as f:
            f.write(body)
            if self.config.fsync != "never":
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.dir / "streams")
        if self.config.fsync != "never":
            dfd = os.open(self.dir, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)


def _segment_path(d: Path, number: int) -> Path:
    return d / f"{number:020}.seg"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_streams(text: bytes) -> tuple[str, int, dict[tuple[str, str, int], int]]:
    try:
        doc = json.loads(text)
        if doc.get("version") != 1:
            raise ValueError(f"version {doc.get('version')!r} is not 1")
        nxt = {(s["type"], s["host"], int(s["pid"])): int(s["next"]) for s in doc["streams"]}
        return doc["host"], int(doc["pid"]), nxt
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"spool streams file: {e}") from e


def _encode_record(r, out: bytearray) -> None:
    topic = (r.topic or "").encode()
    if len(topic) > 0xFFFF or len(r.key) > 0xFFFF:
        raise ValueError("topic or key longer than 65535 bytes")
    body = bytes([KIND_RECORD]) + _U16.pack(len(topic)) + topic + _U16.pack(len(r.key)) + r.key + r.value
    if len(body) > 0xFFFFFFFF:
        raise ValueError("record larger than 4 GiB")
    out += _HEADER.pack(len(body), zlib.crc32(body))
    out += body


def _decode_body(body: bytes) -> SpooledRecord | None:
    """A record's body back to a record; None when it is not one this version wrote."""
    if not body or body[0] != KIND_RECORD:
        return None
    pos = 1
    parts = []
    for _ in range(2):
        if pos + 2 > len(body):
            return None
        (n,) = _U16.unpack_from(body, pos)
        pos += 2
        if pos + n > len(body):
            return None
        parts.append(body[pos:pos + n])
        pos += n
    value = body[pos:]
    try:
        topic = parts[0].decode()
        event_type, host, pid, offset = decode_uid(value)
    except ValueError:
        return None
    return SpooledRecord(topic or None, parts[1], value, Uid(host, pid, event_type, offset))


def _read_segment(path: Path, newest: bool) -> tuple[list[SpooledRecord], int, int]:
    """Reads a segment: its records, how many were bad, and its length after any truncation. A torn
    tail of the newest segment is cut off."""
    data = path.read_bytes()
    records: list[SpooledRecord] = []
    corrupt = 0
    if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
        # A segment created but never written (torn header) when newest; else not ours.
        if not newest or not MAGIC.startswith(data):
            log.error("spool: the segment %s has no spool header and is skipped", path)
            corrupt += 1
        return records, corrupt, 0
    pos = len(MAGIC)
    torn_at = None
    while pos < len(data):
        if pos + 8 > len(data) or pos + 8 + _HEADER.unpack_from(data, pos)[0] > len(data):
            # Runs past the end: the write was cut short.
            if not newest:
                corrupt += 1
            torn_at = pos
            break
        length, crc = _HEADER.unpack_from(data, pos)
        body = data[pos + 8:pos + 8 + length]
        end = pos + 8 + length
        record = _decode_body(body) if zlib.crc32(body) == crc else None
        if record is not None:
            records.append(record)
        elif newest and end == len(data):
            torn_at = pos
            break
        else:
            corrupt += 1
        pos = end
    length = len(data)
    if torn_at is not None:
        if newest:
            os.truncate(path, torn_at)
            log.warning("spool: a torn write at the end of %s was truncated at byte %d", path, torn_at)
        length = torn_at
    return records, corrupt, length
