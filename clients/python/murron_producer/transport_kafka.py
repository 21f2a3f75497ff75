"""Straight to Kafka with confluent-kafka (librdkafka): an idempotent producer with acks from all
in-sync replicas, the record key `{host}:{pid}`, and delivery reports turned into ledger outcomes.

- A delivery error that may pass (a timeout, a broker going away) schedules a resend of the same
  bytes; one that never will (a record too large, no authorization, no such topic) refuses the event.
- A fatal idempotence error makes librdkafka unusable: a new producer replaces it and every pending
  record is sent again (the sink drops the copies that had landed).
- librdkafka's own queue is sized from the ledger's byte budget, so it never holds more than the
  package allows; when it is full all the same, the sender polls until there is room.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka import Producer as KafkaProducer

from .errors import Unreachable
from .ledger import Ledger, Record

log = logging.getLogger("murron_producer")

# Errors that resending the same bytes cannot cure.
_PERMANENT = {
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.INVALID_RECORD,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError._UNKNOWN_TOPIC,
    KafkaError._INVALID_ARG,
}


def producer_config(kafka: str | Mapping[str, Any], max_bytes: int) -> dict[str, Any]:
    """The librdkafka settings: the package's defaults, then the caller's settings, which win.
    `kafka` is the bootstrap servers or a librdkafka configuration."""
    conf: dict[str, Any] = {
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        "linger.ms": 5,
        "compression.type": "lz4",
        # librdkafka never holds more than the package's own bound.
        "queue.buffering.max.kbytes": max(1, max_bytes // 1024),
        # A timed-out message comes back as a retry of the same bytes.
        "message.timeout.ms": 120_000,
    }
    conf.update({"bootstrap.servers": kafka} if isinstance(kafka, str) else dict(kafka))
    return conf


class KafkaTransport:
    """Sends records to their topics; reports outcomes to the ledger from delivery callbacks, which
    run in :meth:`poll` (the producer's background thread)."""

    def __init__(self, kafka: str | Mapping[str, Any], connect_timeout: float = 10.0,
                 producer_factory: Callable[[dict], Any] = KafkaProducer):
        self._kafka = kafka
        self._factory = producer_factory
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()  # guards the swap of a fatally failed producer
        self._producer: KafkaProducer | None = None
        self._fatal: KafkaError | None = None
        self._ledger: Ledger | None = None

    def start(self, ledger: Ledger) -> None:
        """Builds the producer and checks that the cluster answers (raises :class:`Unreachable`)."""
        self._ledger = ledger
        self._conf = producer_config(self._kafka, ledger.limits.max_bytes)
        self._producer = self._factory(self._conf)
        try:
            self._producer.list_topics(timeout=self._connect_timeout)
        except KafkaException as e:
            raise Unreachable(f"Kafka at {self._conf.get('bootstrap.servers')}: {e}") from e

    def send(self, rec: Record) -> None:
        """Hands one record to librdkafka, waiting for room in its queue."""
        while True:
            producer = self._producer
            try:
                producer.produce(rec.topic, value=rec.value, key=rec.key,
                                 on_delivery=lambda err, _msg, rec=rec: self._delivered(rec, err))
                return
            except BufferError:
                producer.poll(0.05)
            except KafkaException as e:
                err = e.args[0]
                if err.fatal() and producer is not self._producer:
                    continue  # the producer was replaced meanwhile: send on the new one
                self._delivered(rec, err)
                return

    def _delivered(self, rec: Record, err: KafkaError | None) -> None:
        ledger = self._ledger
        if err is None:
            ledger.acked(rec.seq)
        elif err.fatal():
            # poll() replaces the producer and resends every pending record, this one included.
            self._fatal = err
        elif err.code() in _PERMANENT and not err.retriable():
            ledger.refused(rec.seq, "kafka_refused", f"{err.name()}: {err.str()}")
        else:
            reason = "kafka_timeout" if err.code() == KafkaError._MSG_TIMED_OUT else "kafka_error"
            log.debug("retrying %s after %s: %s", rec.uid, reason, err)
            ledger.retry(rec.seq)

    def poll(self, timeout: float) -> None:
        """Serves delivery callbacks; replaces the producer after a fatal error."""
        self._producer.poll(timeout)
        if self._fatal is not None:
            self._recover()

    def _recover(self) -> None:
        with self._lock:
            err, self._fatal = self._fatal, None
            log.error("Kafka producer failed fatally (%s): starting a new one and resending", err)
            self._producer = self._factory(self._conf)
        for rec in self._ledger.pending_records():
            self.send(rec)

    def close(self, timeout: float) -> None:
        """Waits up to `timeout` for librdkafka to finish what it holds."""
        if self._producer is not None:
            self._producer.flush(timeout)
