"""murron-producer: send events to Murron (docs/PROTOCOL.md) from Python.

The package builds and signs each envelope itself, keeps per-stream offsets, frames payloads with
their registry ids, and sends straight to Kafka (confluent-kafka) or through murron-server over gRPC
(the ``grpc`` extra), with at-least-once delivery that keeps each event's UID across retries, and
an optional on-disk spool (the Rust library's format) that keeps it across restarts.
See README.md for an example.
"""

from .envelope import ENVELOPE_SCHEMA, ENVELOPE_SUBJECT, KEY_TAG, KeyRing, UnknownKey
from .errors import (BufferFull, Closed, ProducerError, RegistryError, SpoolLocked, TlsError, Unreachable, Unrouted,
                     UnsentEvents)
from .ledger import BufferLimits, FlushReport, Refused, Uid
from .producer import EventType, Producer, Ticket
from .routes import RouteError, Routes
from .schemas import RegistryConfig, SchemaRef
from .server import ServerConfig
from .spool import SpoolConfig
from .streams import random_pid

__all__ = [
    "BufferFull", "BufferLimits", "Closed", "ENVELOPE_SCHEMA", "ENVELOPE_SUBJECT", "EventType", "FlushReport",
    "KEY_TAG", "KeyRing", "Producer", "ProducerError", "Refused", "RegistryConfig", "RegistryError", "RouteError", "Routes",
    "SchemaRef", "ServerConfig", "SpoolConfig", "SpoolLocked", "Ticket", "TlsError", "Uid", "Unreachable", "Unrouted", "UnknownKey", "UnsentEvents", "random_pid",
]
