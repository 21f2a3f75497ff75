"""Streams: a producer's identity `(host, pid)` and its next offset per event type.

A stream is `(type, host, pid)`; its offsets start at 0 and are contiguous (docs/PROTOCOL.md). A
hole reads as a lost event, and a repeat as a duplicate that the sink drops silently, so an offset is
taken exactly once, under a lock, and never handed out again.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
from typing import Mapping


def default_host() -> str:
    """`$HOSTNAME`, else the kernel's host name."""
    return os.environ.get("HOSTNAME") or socket.gethostname()


def random_pid() -> int:
    """A random positive 32-bit pid: a stream identity unique to this process's lifetime, for
    processes that all run as pid 1 (containers) and keep no spool."""
    return secrets.randbelow((1 << 31) - 2) + 2


class Streams:
    """The offsets of one producer identity, one counter per event type.

    `start` continues streams from given offsets (a restart that knows where it stopped).
    """

    def __init__(self, host: str, pid: int, start: Mapping[str, int] | None = None):
        if not host or "\0" in host:
            raise ValueError("host must be non-empty and hold no NUL")
        if not 0 <= pid < (1 << 31):
            raise ValueError(f"pid {pid} is not a non-negative 32-bit integer")
        self.host = host
        self.pid = pid
        #: The Kafka record key: one stream always lands on one partition.
        self.kafka_key = f"{host}:{pid}".encode()
        self._next: dict[str, int] = dict(start or {})
        #: Held while an offset is taken and its event encoded and handed to the transport, so
        #: the transport sees a stream's events in offset order.
        self.lock = threading.Lock()

    def take(self, event_type: str) -> int:
        """The next offset of `event_type`'s stream; the caller holds :attr:`lock`."""
        offset = self._next.get(event_type, 0)
        self._next[event_type] = offset + 1
        return offset

    def give_back(self, event_type: str, offset: int) -> None:
        """Returns the offset just taken (by the caller, who still holds :attr:`lock`) when its event
        could not be recorded, so that no hole is left."""
        if self._next.get(event_type) == offset + 1:
            self._next[event_type] = offset

    def next_offsets(self) -> dict[str, int]:
        """A copy of the next offset per type."""
        with self.lock:
            return dict(self._next)
