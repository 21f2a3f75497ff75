"""Schema ids from the Murron registry (any Confluent-compatible one), through confluent-kafka's
`SchemaRegistryClient`: the envelope schema's id and each payload schema's id, by subject, cached.

The payload schema of an event type lives under the subject named by the type (docs/PROTOCOL.md).
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
# The HTTP library the client uses (httpx2 or httpx), for its transport errors.
from confluent_kafka.schema_registry.common._httpx_compat import httpx
from confluent_kafka.schema_registry.error import SchemaRegistryError

from .envelope import ENVELOPE_SCHEMA, ENVELOPE_SUBJECT
from .errors import RegistryError

_NOT_FOUND = (40401, 40403)  # subject not found, schema not found
# What a registry call raises: the registry's answer, or httpx's transport error (TLS included).
_FAILURES = (SchemaRegistryError, httpx.TransportError)


@dataclass(frozen=True)
class RegistryConfig:
    """How to reach the registry, as the Rust library's ``RegistryConfig``: ``https://`` checks the
    server against the system's roots, or only against the CA certificates of ``ca_file`` (a PEM
    file); credentials are basic ``username``/``password`` (Confluent's ``basic.auth.user.info``;
    Murron's registry takes a token as the password) or a bearer ``token``, not both. The URL must
    not hold credentials. ``repr`` hides the secrets."""

    url: str
    ca_file: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    #: Sent as ``target-sr-cluster`` with a bearer token (Confluent Cloud's logical cluster id);
    #: Murron's registry ignores it.
    logical_cluster: str = ""

    def __post_init__(self):
        scheme, _, rest = self.url.partition("://")
        if scheme not in ("http", "https") or not rest:
            raise ValueError(f"registry url {self.url!r} is not an http:// or https:// URL")
        if "@" in rest.split("/", 1)[0]:
            raise ValueError("the registry url holds credentials: give username and password (or token) instead")
        if self.token is not None and (self.username is not None or self.password is not None):
            raise ValueError("give the registry either token= or username=/password=, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("the registry's username and password go together")
        if self.ca_file is not None and scheme != "https":
            raise ValueError(f"ca_file is set but the registry url {self.url!r} is not https://")

    def client_config(self) -> dict[str, Any]:
        """The ``SchemaRegistryClient`` configuration that says the same."""
        conf: dict[str, Any] = {"url": self.url}
        if self.ca_file is not None:
            conf["ssl.ca.location"] = self.ca_file
        if self.username is not None:
            conf["basic.auth.user.info"] = f"{self.username}:{self.password}"
        if self.token is not None:
            conf.update({"bearer.auth.credentials.source": "STATIC_TOKEN", "bearer.auth.token": self.token,
                         "bearer.auth.logical.cluster": self.logical_cluster})
        return conf


def registry_error(subject: str, e: Exception) -> RegistryError:
    """A registry failure said for an operator: an untrusted certificate and refused credentials
    are configuration to fix, not an outage."""
    if isinstance(e, SchemaRegistryError):
        hint = {401: "; check the registry credentials (token, or username and password)",
                403: "; the registry credentials lack the permission"}.get(e.http_status_code, "")
        return RegistryError(f"subject {subject!r}: {e}{hint}")
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return RegistryError(f"subject {subject!r}: the registry's certificate is not trusted "
                                 f"({cause.verify_message}); set ca_file to the PEM file of the CA that signed it")
        cause = cause.__cause__ or cause.__context__
    return RegistryError(f"subject {subject!r}: registry unreachable: {e}")


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

    def __init__(self, client: SchemaRegistryClient | RegistryConfig | dict[str, Any] | str):
        """`client`: a registry URL, a :class:`RegistryConfig`, a `SchemaRegistryClient`
        configuration, or a client (anything with its `lookup_schema`, `register_schema` and
        `get_latest_version`)."""
        if isinstance(client, str):
            client = RegistryConfig(client)
        if isinstance(client, RegistryConfig):
            client = client.client_config()
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
            except _FAILURES as e:
                raise registry_error(subject, e) from e
            self._payload_ids[(subject, ref)] = found
            return found

    def _find_or_register(self, subject: str, schema: Schema) -> int:
        try:
            return self.client.lookup_schema(subject, schema).schema_id
        except _FAILURES as e:
            if not isinstance(e, SchemaRegistryError) or e.error_code not in _NOT_FOUND:
                raise registry_error(subject, e) from e
        try:
            return self.client.register_schema(subject, schema)
        except _FAILURES as e:
            raise registry_error(subject, e) from e
