"""Through murron-server over gRPC (the `grpc` extra): records are batched into `Publish` calls of
the published API (schemas/murron/ingest/v1/ingest.proto), and each event's status becomes a ledger
outcome.

- ACCEPTED: acknowledged (the server answers only after Kafka stored it).
- REFUSED: refused for good, with the server's reason code (the sink's dead-letter codes, plus
  `unrouted_type` and `forbidden_type`).
- RETRY, and a failed call (UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ...): the same bytes
  again, after the server's `retry_after_ms` (or its `retry-after-ms` trailer) or the backoff,
  whichever is longer.
- UNAUTHENTICATED or PERMISSION_DENIED: refused; that is a configuration error to fix, not to wait out.
  So is a server certificate the producer does not trust: at start-up it raises :class:`TlsError`;
  on a later reconnect, the batch is refused with the reason `tls`.
- INVALID_ARGUMENT (a batch over the server's limits): batches are halved and the events resent; a
  single event still refused so is refused (`invalid_batch`).

TLS (``https://`` in :class:`ServerConfig`): ``grpc.secure_channel`` with the CA certificates of
``ca_file`` only, or the system's roots (Python's ``ssl`` default CA file; gRPC's own bundle when
there is none). Before the channel, one handshake with Python's ``ssl`` and the same roots checks
the certificate, so that an untrusted one fails at once with a message that says so (gRPC itself
would only report the server as unavailable until the connect timeout).

The server routes by type, so records carry no topic; the Kafka key comes from the envelope.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from collections import deque

import grpc

from ._proto import ingest_pb2, ingest_pb2_grpc
from .errors import TlsError, Unreachable
from .ledger import Ledger, Record, backoff_delay
from .server import ServerConfig

log = logging.getLogger("murron_producer")

_REFUSE_CALL = {grpc.StatusCode.UNAUTHENTICATED: "unauthenticated", grpc.StatusCode.PERMISSION_DENIED: "forbidden"}


def _retry_after(trailers) -> float:
    for key, value in trailers or ():
        if key == "retry-after-ms":
            try:
                return int(value) / 1000
            except ValueError:
                return 0.0
    return 0.0


def _system_ca_file() -> str | None:
    """The system's CA bundle as Python's ``ssl`` finds it, or None."""
    paths = ssl.get_default_verify_paths()
    for path in (paths.cafile, paths.openssl_cafile):
        if path and os.path.isfile(path):
            return path
    return None


def _check_certificate(target: str, ca_file: str | None, timeout: float) -> None:
    """One TLS handshake to `target` trusting `ca_file`: raises :class:`TlsError` when the
    certificate is not trusted; a server that does not answer is left to the channel to report."""
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as e:
        raise TlsError(f"ca_file {ca_file}: {e}") from e
    context.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=host):
                pass
    except ssl.SSLCertVerificationError as e:
        raise TlsError(f"murron-server at {target}: its certificate is not trusted ({e.verify_message}); set "
                       "ca_file to the PEM file of the CA that signed it, or add that CA to the system's roots") from e
    except ssl.SSLError as e:
        raise TlsError(f"murron-server at {target}: the TLS handshake failed ({e})") from e
    except (OSError, ValueError):
        pass


class GrpcTransport:
    """Batches records into `Publish` calls (up to `batch_events` events and `batch_bytes` bytes, or
    what `linger` seconds gathered), at most `max_in_flight` calls at once. `server` is a
    :class:`ServerConfig` or its URL (``host:port``, ``http://…`` or ``https://…``); `token`, when
    given here, is its bearer token."""

    #: The server routes by type.
    routes_itself = True

    def __init__(self, server: str | ServerConfig, *, token: str | None = None, batch_events: int = 1000,
                 batch_bytes: int = 4 << 20, linger: float = 0.005, max_in_flight: int = 4, call_timeout: float = 30.0,
                 connect_timeout: float = 10.0, channel_options: list | None = None):
        if not isinstance(server, ServerConfig):
            server = ServerConfig(server)
        if token is not None and server.token is not None:
            raise ValueError("give the server's token in ServerConfig or as token=, not both")
        token = server.token if token is None else token
        self._server = server
        self.target = server.target
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._batch_events = batch_events
        self._batch_bytes = batch_bytes  # well under the server's max_batch_bytes (16 MiB by default)
        self._linger = linger
        self._max_in_flight = max_in_flight
        self._call_timeout = call_timeout
        self._connect_timeout = connect_timeout
        self._options = channel_options or [("grpc.max_send_message_length", 64 << 20),
                                            ("grpc.max_receive_message_length", 64 << 20)]
        self._cond = threading.Condition()
        self._queue: deque[tuple[float, Record]] = deque()
        self._in_flight = 0
        self._batch_id = 0

    def start(self, ledger: Ledger) -> None:
        """Opens the channel and waits until the server answers (raises :class:`Unreachable`)."""
        self._ledger = ledger
        if self._server.tls:
            ca_file = self._server.ca_file or _system_ca_file()
            _check_certificate(self.target, ca_file, self._connect_timeout)
            roots = None
            if ca_file is not None:
                with open(ca_file, "rb") as f:
                    roots = f.read()
            credentials = grpc.ssl_channel_credentials(root_certificates=roots)
            self._channel = grpc.secure_channel(self.target, credentials, options=self._options)
        else:
            self._channel = grpc.insecure_channel(self.target, options=self._options)
        try:
            grpc.channel_ready_future(self._channel).result(timeout=self._connect_timeout)
        except grpc.FutureTimeoutError as e:
            self._channel.close()
            raise Unreachable(f"murron-server at {self.target} did not answer") from e
        self._stub = ingest_pb2_grpc.IngestStub(self._channel)

    def send(self, rec: Record) -> None:
        with self._cond:
            self._queue.append((time.monotonic(), rec))
            if len(self._queue) >= self._batch_events:
                self._cond.notify_all()

    def poll(self, timeout: float) -> None:
        """Starts the batches that are full or have waited the linger, while calls are free."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                ready = self._queue and (len(self._queue) >= self._batch_events
                                         or now - self._queue[0][0] >= self._linger)
                if ready and self._in_flight < self._max_in_flight:
                    batch, size = [], 0
                    while self._queue and len(batch) < self._batch_events and (
                            not batch or size + len(self._queue[0][1].value) <= self._batch_bytes):
                        rec = self._queue.popleft()[1]
                        batch.append(rec)
                        size += len(rec.value)
                    self._in_flight += 1
                    self._batch_id += 1
                    self._publish(self._batch_id, batch)
                    continue
                if now >= deadline:
                    return
                wait = deadline - now
                if self._queue and self._in_flight < self._max_in_flight:
                    wait = min(wait, max(0.0, self._queue[0][0] + self._linger - now))
                self._cond.wait(wait)

    def _publish(self, batch_id: int, batch: list[Record]) -> None:
        request = ingest_pb2.PublishRequest(batch_id=batch_id, events=[r.value for r in batch])
        future = self._stub.Publish.future(request, timeout=self._call_timeout, metadata=self._metadata)
        future.add_done_callback(lambda f: self._answered(f, batch))

    def _answered(self, future, batch: list[Record]) -> None:
        ledger = self._ledger
        try:
            try:
                response = future.result()
            except grpc.RpcError as e:
                code = e.code()
                if code in _REFUSE_CALL:
                    for rec in batch:
                        ledger.refused(rec.seq, _REFUSE_CALL[code], e.details() or "")
                    return
                if code == grpc.StatusCode.UNAVAILABLE and "CERTIFICATE_VERIFY_FAILED" in (e.details() or ""):
                    # A reconnect met a certificate we do not trust (a renewal from another CA):
                    # a configuration error, not an outage to retry forever.
                    for rec in batch:
                        ledger.refused(rec.seq, "tls", e.details() or "")
                    return
                if code == grpc.StatusCode.INVALID_ARGUMENT:
                    # The batch is over the server's limits: send smaller ones; one event alone
                    # that is still too large is refused.
                    if len(batch) == 1:
                        ledger.refused(batch[0].seq, "invalid_batch", e.details() or "")
                        return
                    with self._cond:
                        self._batch_events = max(1, min(self._batch_events, len(batch)) // 2)
                        self._batch_bytes = max(1, self._batch_bytes // 2)
                    for rec in batch:
                        ledger.retry(rec.seq, 0.0)
                    return
                after = _retry_after(e.trailing_metadata())
                log.debug("batch of %d to retry: %s %s", len(batch), code, e.details())
                for rec in batch:
                    ledger.retry(rec.seq, max(after, backoff_delay(rec.attempts)))
                return
            reasons = {r.index: r for r in response.refusals}
            after = response.retry_after_ms / 1000
            for i, rec in enumerate(batch):
                status = response.status[i] if i < len(response.status) else ingest_pb2.STATUS_UNSPECIFIED
                if status == ingest_pb2.STATUS_ACCEPTED:
                    ledger.acked(rec.seq)
                elif status == ingest_pb2.STATUS_REFUSED:
                    r = reasons.get(i)
                    ledger.refused(rec.seq, r.reason if r else "refused", r.detail if r else "")
                else:  # RETRY, or an answer that says nothing about this event
                    ledger.retry(rec.seq, max(after, backoff_delay(rec.attempts)))
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def close(self, timeout: float) -> None:
        self._channel.close()
