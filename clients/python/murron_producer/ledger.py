"""The bounded buffer and delivery ledger: every event from the moment it is sent until Kafka (or the
server) acknowledges it or refuses it for good.

- The budget counts events and bytes; :meth:`Ledger.reserve` waits for room (backpressure). Room is
  given back on delivery (ack or refusal), never on hand-over to the transport.
- A record keeps its encoded bytes, so a retry resends the *same* bytes: the same UID, which the
  sink's deduplication turns into exactly once.
- Retries wait :func:`backoff_delay` and are never capped in number: the budget bounds memory, and
  ``flush``/``close`` bound the wait.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from .errors import BufferFull, Closed


def backoff_delay(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (0-based): 100 ms doubling to a 30 s cap, with
    jitter in [50 %, 100 %]; the same curve as the Rust side's `murron_connect::retry`."""
    base = min(0.1 * (1 << min(attempt, 10)), 30.0)
    return base * (0.5 + random.random() / 2)


class Uid(NamedTuple):
    """What identifies an event in its stream; with the topic, its UID (docs/PROTOCOL.md)."""

    host: str
    pid: int
    type: str
    offset: int


@dataclass(eq=False)
class Record:
    """One encoded event: what the transport sends, as many times as it takes."""

    seq: int
    topic: str | None  # None: the server routes it
    key: bytes
    value: bytes
    uid: Uid
    reserved: int
    attempts: int = 0


@dataclass(frozen=True)
class Refused:
    """An event refused for good: resending its bytes would be refused again."""

    uid: Uid
    reason: str
    detail: str


@dataclass(frozen=True)
class BufferLimits:
    """The most events and encoded bytes held unacknowledged at once."""

    max_events: int = 100_000
    max_bytes: int = 64 << 20


@dataclass
class FlushReport:
    """What happened since the previous report: events acknowledged, events refused (each with its
    reason), and events still pending now."""

    acked: int
    refused: list[Refused] = field(default_factory=list)
    pending: int = 0

    @property
    def ok(self) -> bool:
        """Every event was acknowledged."""
        return not self.refused and self.pending == 0


class Ledger:
    """Pending records by sequence number, the budget, and the retry schedule. Thread-safe."""

    def __init__(self, limits: BufferLimits):
        if limits.max_events < 1 or limits.max_bytes < 1:
            raise ValueError("buffer limits must be positive")
        self.limits = limits
        self._cond = threading.Condition()
        self._pending: dict[int, Record] = {}
        self._events = 0  # reserved, whether or not yet added
        self._bytes = 0
        self._next_seq = 0
        self._retries: list[tuple[float, int]] = []  # (due, seq), a heap
        self._acked = 0
        self._refused: list[Refused] = []
        self._closed = False
        # Sequence numbers resolved (acknowledged or refused) since take_resolved(), for the spool.
        self._resolved: list[int] | None = None

    # The budget.

    def reserve(self, size: int, timeout: float | None) -> None:
        """Takes room for one event of at most `size` bytes, waiting up to `timeout` seconds (None:
        forever, 0: not at all). An event larger than the whole budget goes through alone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise Closed("the producer is closed")
                if self._events == 0 or (self._events < self.limits.max_events
                                         and self._bytes + size <= self.limits.max_bytes):
                    self._events += 1
                    self._bytes += size
                    return
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise BufferFull(f"buffer full: {self._events} events, {self._bytes} bytes pending")
                self._cond.wait(left)

    def cancel(self, size: int) -> None:
        """Gives back a reservation that no record took."""
        with self._cond:
            self._release(size)

    def _release(self, size: int) -> None:
        self._events -= 1
        self._bytes -= size
        self._cond.notify_all()

    # Records.

    @property
    def next_seq(self) -> int:
        """The sequence number the next :meth:`add` gives."""
        with self._cond:
            return self._next_seq

    def add_recovered(self, topic: str | None, key: bytes, value: bytes, uid: Uid) -> Record:
        """Enters a record read back from the spool. It takes room in the budget without waiting (it
        is in memory already), so new sends wait while recovered records fill the buffer."""
        with self._cond:
            self._events += 1
            self._bytes += len(value)
        return self.add(topic, key, value, uid, len(value))

    def track_resolved(self) -> None:
        """Starts keeping the sequence numbers of resolved records for :meth:`take_resolved`."""
        with self._cond:
            self._resolved = []

    def take_resolved(self) -> list[int]:
        """The sequence numbers acknowledged or refused since the previous call."""
        with self._cond:
            if self._resolved is None:
                return []
            out, self._resolved = self._resolved, []
            return out

    def add(self, topic: str | None, key: bytes, value: bytes, uid: Uid, reserved: int) -> Record:
        """Enters an encoded event under a reservation; returns its record, with a fresh `seq`."""
        with self._cond:
            rec = Record(self._next_seq, topic, key, value, uid, reserved)
            self._next_seq += 1
            self._pending[rec.seq] = rec
            return rec

    def acked(self, seq: int) -> None:
        with self._cond:
            rec = self._pending.pop(seq, None)
            if rec is not None:  # a resent record can be acknowledged twice
                self._acked += 1
                self._release(rec.reserved)
                if self._resolved is not None:
                    self._resolved.append(seq)

    def refused(self, seq: int, reason: str, detail: str) -> None:
        with self._cond:
            rec = self._pending.pop(seq, None)
            if rec is not None:
                self._refused.append(Refused(rec.uid, reason, detail))
                self._release(rec.reserved)
                if self._resolved is not None:
                    self._resolved.append(seq)

    def retry(self, seq: int, delay: float | None = None) -> None:
        """Schedules a resend of the same bytes after `delay` (default: the backoff of its attempt)."""
        with self._cond:
            rec = self._pending.get(seq)
            if rec is None:
                return
            wait = backoff_delay(rec.attempts) if delay is None else delay
            rec.attempts += 1
            heapq.heappush(self._retries, (time.monotonic() + wait, seq))

    def due(self) -> list[Record]:
        """The records whose retry time has come."""
        now = time.monotonic()
        out = []
        with self._cond:
            while self._retries and self._retries[0][0] <= now:
                _, seq = heapq.heappop(self._retries)
                rec = self._pending.get(seq)
                if rec is not None:
                    out.append(rec)
        return out

    def pending_records(self) -> list[Record]:
        """Every record not yet delivered, oldest first (to resend them all after a fatal error)."""
        with self._cond:
            return sorted(self._pending.values(), key=lambda r: r.seq)

    # Flush and close.

    def wait_settled(self, timeout: float | None) -> bool:
        """Waits until nothing is pending (True) or `timeout` runs out (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._pending or self._events:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def report(self) -> FlushReport:
        """The report since the previous one."""
        with self._cond:
            report = FlushReport(self._acked, self._refused, len(self._pending))
            self._acked, self._refused = 0, []
            return report

    def close(self) -> None:
        """Refuses new reservations; wakes every waiter."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def buffered(self) -> tuple[int, int]:
        """(events, bytes) held now."""
        with self._cond:
            return self._events, self._bytes
