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
- INVALID_ARGUMENT (a batch over the server's limits): batches are halved and the events resent; a
  single event still refused so is refused (`invalid_batch`).

The server routes by type, so records carry no topic; the Kafka key comes from the envelope.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

import grpc

from ._proto import ingest_pb2, ingest_pb2_grpc
from .errors import Unreachable
from .ledger import Ledger, Record, backoff_delay

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


class GrpcTransport:
    """Batches records into `Publish` calls (up to `batch_events` events and `batch_bytes` bytes, or
    what `linger` seconds gathered), at most `max_in_flight` calls at once; `token` is sent as a
    bearer token."""

    #: The server routes by type.
    routes_itself = True

    def __init__(self, target: str, *, token: str | None = None, batch_events: int = 1000,
                 batch_bytes: int = 4 << 20, linger: float = 0.005, max_in_flight: int = 4, call_timeout: float = 30.0,
                 connect_timeout: float = 10.0, channel_options: list | None = None):
        self.target = target
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
