"""The producer: the one object an application holds.

Guarantee, in four lines:

1. Each event is encoded and signed once, when it is sent; its offset in its stream is fixed then.
2. It stays in the bounded buffer until Kafka (or murron-server) acknowledges it; every retry resends
   the same bytes, so the event keeps its UID.
3. Delivery is therefore at least once, and the sink's deduplication by UID makes it exactly once.
4. ``flush`` and ``close`` say what was acknowledged, what was refused (and why), and what is pending.

With a spool (:class:`SpoolConfig`), each record is on disk before ``send`` returns, and a producer
started again on the same spool resends what was not acknowledged and continues the offsets.
Without one, events still pending when the process dies are lost: they show as a hole in their
stream, which the sink's reliability report counts.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Mapping

from confluent_kafka.schema_registry import SchemaRegistryClient

from . import envelope
from .envelope import KEY_TAG, KeyRing, UnknownKey
from .errors import Closed, Unrouted, UnsentEvents
from .ledger import BufferLimits, FlushReport, Ledger, Uid
from .routes import Routes
from .schemas import RegistryConfig, SchemaRef, Schemas
from .server import ServerConfig
from .spool import Spool, SpoolConfig
from .streams import Streams, default_host

log = logging.getLogger("murron_producer")

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@dataclass(frozen=True)
class EventType:
    """An event type ready to send: its payload schema id and, straight to Kafka, its topic (fixed
    here, so that no retry of its events can land on another topic)."""

    name: str
    payload_schema_id: int
    topic: str | None


@dataclass(frozen=True)
class _ToSpool:
    """A record as the spool writes it."""

    topic: str | None
    key: bytes
    value: bytes
    uid: Uid


@dataclass(frozen=True)
class Ticket:
    """A sent event: its place in the producer's ledger and its offset in its stream."""

    seq: int
    offset: int


def _micros(timestamp: int | float | datetime.datetime | None) -> int:
    if timestamp is None:
        return time.time_ns() // 1000
    if isinstance(timestamp, datetime.datetime):
        if timestamp.tzinfo is None:
            raise ValueError("a naive datetime has no time zone: give it one (UTC)")
        return (timestamp - _EPOCH) // datetime.timedelta(microseconds=1)
    if isinstance(timestamp, float):
        raise TypeError("timestamp: give integer microseconds or an aware datetime, not a float")
    return int(timestamp)


class Producer:
    """Builds, signs and sends Murron events, straight to Kafka or through murron-server.

    Args:
        registry: the registry URL, a :class:`RegistryConfig` (HTTPS with a private CA, basic auth
            or a bearer token), a ``SchemaRegistryClient`` configuration, or a client.
        keys: the signing keys; ``key_id`` picks the one to sign with and is written in each event's
            ``murron.key`` tag (None: the key ``default``, and no tag).
        host, pid: the stream identity; default ``$HOSTNAME`` (else the host name) and
            ``os.getpid()``. Processes that all run as pid 1 (containers) should pass a pid unique to
            the process's lifetime (:func:`murron_producer.random_pid`): a restarted process that
            reuses a (host, pid) from offset 0 has its events dropped as duplicates.
        kafka: bootstrap servers, or a librdkafka configuration (its settings win over the
            package's); with ``routes``, which map types to topics.
        server: murron-server's gRPC address (``host:port``, or ``https://host:port`` for TLS with the
            system's roots), or a :class:`ServerConfig` (TLS with a private CA's ``ca_file``); needs
            the ``grpc`` extra. ``token`` is its bearer token. Give ``kafka`` or ``server``, not both.
        buffer: the most events and bytes held unacknowledged; ``send`` waits for room.
        start_offsets: next offset per type, to continue streams a previous process left.
        spool: keep every record on disk until it is delivered, and the streams' next offsets
            (:class:`SpoolConfig`; the Rust library's format). The producer then takes its host and
            pid from the spool (when the spool is new, from ``host``/``pid``), resends every record
            the spool holds before any new one, and continues the offsets (``start_offsets``, if
            given too, can only raise them). One producer per spool: a second raises
            :class:`SpoolLocked`.
        transport: instead of ``kafka``/``server``, an object with ``start(ledger)``, ``send(record)``,
            ``poll(timeout)`` and ``close(timeout)`` (the built-in transports' shape); with
            ``routes`` unless it has ``routes_itself = True``.
    """

    def __init__(self, *, registry: str | RegistryConfig | Mapping[str, Any] | SchemaRegistryClient, keys: KeyRing,
                 key_id: str | None = None, host: str | None = None, pid: int | None = None,
                 kafka: str | Mapping[str, Any] | None = None, routes: Routes | None = None,
                 server: str | ServerConfig | None = None, token: str | None = None,
                 buffer: BufferLimits = BufferLimits(), start_offsets: Mapping[str, int] | None = None,
                 transport: Any = None, spool: SpoolConfig | None = None):
        if sum(x is not None for x in (kafka, server, transport)) != 1:
            raise ValueError("give exactly one of kafka=, server= and transport=")
        if server is None and routes is None and not getattr(transport, "routes_itself", False):
            raise ValueError("straight to Kafka, routes= must say which topic each type goes to")
        self._key_id = key_id
        if (key_id or envelope.DEFAULT_KEY_ID) not in keys:
            raise UnknownKey(key_id or envelope.DEFAULT_KEY_ID)
        self._keys = keys
        self._routes = routes
        given_host, given_pid = host or default_host(), os.getpid() if pid is None else pid
        Streams(given_host, given_pid)  # checks the identity before a new spool records it
        self._spool: Spool | None = None
        recovered = []
        if spool is not None:
            self._spool, found = Spool.open(spool, given_host, given_pid)
            recovered = found.records
            if (found.host, found.pid) != (given_host, given_pid):
                (log.warning if host is not None or pid is not None else log.info)(
                    "the spool continues the streams of the identity it was created with, %s:%d (given %s:%d)",
                    found.host, found.pid, given_host, given_pid)
            log.info("spool %s recovered: %d records are sent again, %d corrupt were skipped",
                     spool.dir, len(found.records), found.corrupt)
            starts = self._spool.next_offsets(found.host, found.pid)
            for t, n in (start_offsets or {}).items():
                starts[t] = max(starts.get(t, 0), n)
            given_host, given_pid, start_offsets = found.host, found.pid, starts
        try:
            self._start(given_host, given_pid, start_offsets, registry, buffer, transport, kafka, server, token,
                        recovered)
        except BaseException:
            if getattr(self, "_pump", None) is not None:
                self._stop.set()
                self._pump.join()
            if self._spool is not None:
                self._spool.release()
            raise

    def _start(self, host, pid, start_offsets, registry, buffer, transport, kafka, server, token, recovered) -> None:
        self._streams = Streams(host, pid, start_offsets)
        if self._streams.pid == 1 and self._spool is None:
            log.warning("pid 1 and no spool: a restart reuses this stream identity from offset 0, and the sink "
                        "drops those events as duplicates; pass pid=murron_producer.random_pid() or a spool")
        self._schemas = Schemas(registry)
        self._envelope_id = self._schemas.envelope_id()
        self._types: dict[tuple[str, SchemaRef], EventType] = {}
        self._types_lock = threading.Lock()
        self._ledger = Ledger(buffer)
        if self._spool is not None:
            self._ledger.track_resolved()
        if transport is not None:
            self._transport = transport
        elif kafka is not None:
            from .transport_kafka import KafkaTransport

            self._transport = KafkaTransport(kafka)
        else:
            from .transport_grpc import GrpcTransport

            self._transport = GrpcTransport(server, token=token)
        self._transport.start(self._ledger)
        self._stop = threading.Event()
        self._closed = False
        self._pump = threading.Thread(target=self._run, name="murron-producer", daemon=True)
        self._pump.start()
        # The spool's records go first, numbered 0.. as the spool counted them, the same bytes.
        routes_itself = getattr(self._transport, "routes_itself", False)
        for r in recovered:
            rec = self._ledger.add_recovered(r.topic, r.key, r.value, r.uid)
            if r.topic is None and not routes_itself:
                # Spooled for murron-server, which routes; choosing a topic now could send a copy of
                # an event to a second topic (a second UID), so it is refused, as in Rust.
                self._ledger.refused(rec.seq, "unrouted_type", "spooled without a topic (for murron-server)")
            else:
                self._transport.send(rec)

    @property
    def host(self) -> str:
        return self._streams.host

    @property
    def pid(self) -> int:
        return self._streams.pid

    def next_offsets(self) -> dict[str, int]:
        """The next offset per type: what ``start_offsets`` takes to continue these streams."""
        return self._streams.next_offsets()

    def event_type(self, name: str, schema: SchemaRef = SchemaRef.latest()) -> EventType:
        """Resolves a type once: its payload schema id (the subject is the type's name) and its
        topic. Raises :class:`Unrouted` when straight to Kafka no route takes it."""
        with self._types_lock:
            known = self._types.get((name, schema))
        if known is not None:
            return known
        topic = None
        if self._routes is not None:
            topic = self._routes.route(name)
            if topic is None:
                raise Unrouted(f"no route takes type {name!r}")
        et = EventType(name, self._schemas.payload_id(name, schema), topic)
        with self._types_lock:
            return self._types.setdefault((name, schema), et)

    def send(self, event_type: EventType | str, datum: bytes, *, timestamp: int | datetime.datetime | None = None,
             tags: Mapping[str, str] | None = None, timeout: float | None = None) -> Ticket:
        """Sends one event: `datum` is the payload without its Confluent header (Avro binary, JSON
        text, or Protobuf with its message indexes); the producer frames it with the type's schema id.

        Waits for room in the buffer (`timeout` seconds; None: as long as it takes), then returns
        once the event is encoded, signed and handed to the transport; :meth:`flush` waits for the
        acknowledgement. `timestamp` is integer microseconds since the epoch or an aware datetime
        (default: now). Raises :class:`BufferFull` when the timeout runs out.
        """
        if self._closed:
            raise Closed("the producer is closed")
        et = event_type if isinstance(event_type, EventType) else self.event_type(event_type)
        ts = _micros(timestamp)
        if self._key_id is not None and (not tags or KEY_TAG not in tags):
            tags = {**(tags or {}), KEY_TAG: self._key_id}
        if envelope.key_id_of(tags) not in self._keys:
            raise UnknownKey(envelope.key_id_of(tags))
        message = envelope.frame(et.payload_schema_id, datum)
        size = envelope.size_bound(self._streams.host, et.name, len(datum), tags)
        self._ledger.reserve(size, timeout)
        streams = self._streams
        # The offset, the bytes and the hand-over happen together, so the transport sees each
        # stream in offset order. Everything that could fail was checked above, so a taken offset
        # is not lost to an error here.
        with streams.lock:
            try:
                offset = streams.take(et.name)
                value = envelope.encode(self._envelope_id, self._keys, timestamp=ts, host=streams.host,
                                        event_type=et.name, offset=offset, pid=streams.pid, message=message, tags=tags)
            except BaseException:
                self._ledger.cancel(size)
                raise
            uid = Uid(streams.host, streams.pid, et.name, offset)
            if self._spool is not None:
                # On disk before it is sent. Every send holds this lock, so the ledger's next
                # number is the one add() gives below: the spool counts as the ledger does.
                try:
                    self._spool.append(self._ledger.next_seq, [_ToSpool(et.topic, streams.kafka_key, value, uid)])
                except BaseException:
                    streams.give_back(et.name, offset)
                    self._ledger.cancel(size)
                    raise
            # From here the record owns the reservation; the transport reports its outcome.
            rec = self._ledger.add(et.topic, streams.kafka_key, value, uid, size)
            self._transport.send(rec)
        return Ticket(rec.seq, offset)

    def try_send(self, event_type: EventType | str, datum: bytes, **kw) -> Ticket:
        """:meth:`send` without waiting: raises :class:`BufferFull` at once when there is no room."""
        return self.send(event_type, datum, timeout=0, **kw)

    def flush(self, timeout: float | None = 30.0) -> FlushReport:
        """Waits until every event sent so far is acknowledged or refused, or `timeout` runs out;
        reports what happened since the previous report."""
        self._ledger.wait_settled(timeout)
        return self._ledger.report()

    def close(self, timeout: float | None = 30.0) -> FlushReport:
        """Flushes, then stops. Without a spool, raises :class:`UnsentEvents` (holding the report)
        when events are still pending at the end: they are lost. With a spool they stay in it for the
        next start (``report.pending`` says how many), and the spool is released."""
        if self._closed:
            return self._ledger.report()
        report = self.flush(timeout)
        self._closed = True
        self._ledger.close()
        self._stop.set()
        self._pump.join()
        self._transport.close(1.0)
        if self._spool is not None:
            self._spool.resolve(self._ledger.take_resolved())
            self._spool.release()
            if report.pending:
                log.info("%d events not yet acknowledged stay in the spool for the next start", report.pending)
            return report
        if report.pending:
            raise UnsentEvents(report)
        return report

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _run(self) -> None:
        """The background thread: serves the transport (delivery callbacks, batches) and resends
        records whose retry time has come; with a spool, retires delivered segments and syncs."""
        spool = self._spool
        upkeep_every = spool.upkeep_interval() if spool is not None else 0.0
        next_upkeep = time.monotonic() + upkeep_every
        while not self._stop.is_set():
            try:
                self._transport.poll(0.05)
                for rec in self._ledger.due():
                    self._transport.send(rec)
                if spool is not None:
                    spool.resolve(self._ledger.take_resolved())
                    if time.monotonic() >= next_upkeep:
                        spool.upkeep()
                        next_upkeep = time.monotonic() + upkeep_every
            except Exception:  # keep serving: a lost pump would strand every pending event
                log.exception("murron producer background loop")
