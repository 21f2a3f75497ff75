"""The package's errors. :class:`ProducerError` is the base; `retryable` says whether trying the same
call again later can succeed."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .ledger import FlushReport


class ProducerError(Exception):
    """Base of the package's errors."""

    retryable = False


class RegistryError(ProducerError):
    """The registry refused or could not answer a schema lookup or registration."""

    retryable = True


class Unrouted(ProducerError):
    """No route (exact name, pattern or default) takes this event type."""


class BufferFull(ProducerError):
    """The bounded buffer has no room and the caller did not wait (or its timeout ran out)."""

    retryable = True


class Closed(ProducerError):
    """The producer is closed."""


class Unreachable(ProducerError):
    """Kafka or the server did not answer at start-up."""

    retryable = True


class TlsError(ProducerError):
    """The server's certificate is not trusted (or the TLS handshake failed) at start-up: a
    configuration error (``ca_file``, or the system's roots), not an outage to wait out."""


class UnsentEvents(ProducerError):
    """`close()` ran out of time with events not yet acknowledged; without a spool they are lost.
    The report says how many."""

    def __init__(self, report: "FlushReport"):
        super().__init__(f"{report.pending} events were not acknowledged before close")
        self.report = report


class SpoolLocked(ProducerError):
    """The spool directory is held by another producer (in this process or another)."""
