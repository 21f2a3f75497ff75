"""Schema ids from the Murron registry (any Confluent-compatible one), through confluent-kafka's
`SchemaRegistryClient`: the envelope schema's id and each payload schema's id, by subject, cached.

The payload schema of an event type lives under the subject named by the type (docs/PROTOCOL.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from .envelope import ENVELOPE_SCHEMA, ENVELOPE_SUBJECT
from .errors import RegistryError

_NOT_FOUND = (40401, 40403)  # subject not found, schema not found


@dataclass(frozen=True)
class SchemaRef:
    """Which payload schema an event type is framed with: the subject's latest version, a known id,
    or a schema to register (or find) under the subject."""

    kind: str
    schema_id: int | None = None
    text: str | None = None
    schema_type: str = "AVRO"

    @staticmethod
    def latest() -> "SchemaRef":
        return SchemaRef("latest")

    @staticmethod
    def id(schema_id: int) -> "SchemaRef":
        return SchemaRef("id", schema_id=schema_id)

    @staticmethod
    def register(text: str, schema_type: str = "AVRO") -> "SchemaRef":
        """`schema_type` as the registry spells it: AVRO, JSON or PROTOBUF."""
        return SchemaRef("register", text=text, schema_type=schema_type)


class Schemas:
    """Schema ids by subject, asked once and cached."""

    def __init__(self, client: SchemaRegistryClient | dict[str, Any] | str):
        """`client`: a registry URL, a `SchemaRegistryClient` configuration, or a client (anything
        with its `lookup_schema`, `register_schema` and `get_latest_version`)."""
        if isinstance(client, str):
            client = {"url": client}
        self.client = SchemaRegistryClient(client) if isinstance(client, dict) else client
        self._lock = threading.Lock()
        self._envelope_id: int | None = None
        self._payload_ids: dict[tuple[str, SchemaRef], int] = {}

    def envelope_id(self) -> int:
        """The id of `murron.Envelope`: looked up, registered when the registry lacks it."""
        with self._lock:
            if self._envelope_id is None:
                self._envelope_id = self._find_or_register(ENVELOPE_SUBJECT, Schema(ENVELOPE_SCHEMA, "AVRO"))
            return self._envelope_id

    def payload_id(self, subject: str, ref: SchemaRef) -> int:
        """The payload schema id for `subject` as `ref` says."""
        if ref.kind == "id":
            return int(ref.schema_id)  # type: ignore[arg-type]
        with self._lock:
            cached = self._payload_ids.get((subject, ref))
            if cached is not None:
                return cached
            try:
                if ref.kind == "latest":
                    found = self.client.get_latest_version(subject).schema_id
                else:
                    found = self._find_or_register(subject, Schema(ref.text, ref.schema_type))
            except SchemaRegistryError as e:
                raise RegistryError(f"subject {subject!r}: {e}") from e
            self._payload_ids[(subject, ref)] = found
            return found

    def _find_or_register(self, subject: str, schema: Schema) -> int:
        try:
            return self.client.lookup_schema(subject, schema).schema_id
        except SchemaRegistryError as e:
            if e.error_code not in _NOT_FOUND:
                raise RegistryError(f"subject {subject!r}: {e}") from e
        try:
            return self.client.register_schema(subject, schema)
        except SchemaRegistryError as e:
            raise RegistryError(f"subject {subject!r}: {e}") from e
