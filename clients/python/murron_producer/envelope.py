"""The Murron envelope (docs/PROTOCOL.md), written by hand: the Avro binary encoding of
`murron.Envelope`, the canonical signing text, and Confluent framing.

This module imports no Avro library on purpose: the interoperability tests decode its output with
fastavro and verify it with :mod:`hmac`, so agreement means the contract holds, not that two copies of
one codec agree.

Hot path: :func:`encode` runs once per event.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Mapping

#: The envelope contract, registered under :data:`ENVELOPE_SUBJECT` (a copy of
#: schemas/murron/Envelope.avsc; a unit test keeps the two equal).
ENVELOPE_SCHEMA = """{
  "type": "record",
  "name": "Envelope",
  "namespace": "murron",
  "doc": "The Murron wire envelope. The field order is part of the contract: see docs/PROTOCOL.md.",
  "fields": [
    {"name": "timestamp", "type": {"type": "long", "logicalType": "timestamp-micros"}, "doc": "When the event happened, microseconds since the Unix epoch (UTC)."},
    {"name": "host", "type": "string", "doc": "The producing host."},
    {"name": "type", "type": "string", "doc": "The event type; also the registry subject of the payload schema."},
    {"name": "offset", "type": "long", "doc": "Per-stream sequence number: 0, 1, 2, ... with no holes. A stream is (type, host, pid)."},
    {"name": "pid", "type": "int", "doc": "The producing process id."},
    {"name": "message", "type": "bytes", "doc": "The payload in Confluent wire format: 0x00, 4-byte big-endian schema id, Avro binary datum."},
    {"name": "signature", "type": "string", "doc": "v1= followed by lowercase hex HMAC-SHA256 over the canonical bytes."},
    {"name": "tags", "type": {"type": "map", "values": "string"}, "doc": "Free-form metadata; murron.key names the signing key."}
  ]
}
"""
#: The registry subject of the envelope schema.
ENVELOPE_SUBJECT = "murron.Envelope"
#: The tag naming the signing key.
KEY_TAG = "murron.key"
#: The key used when no `murron.key` tag is present.
DEFAULT_KEY_ID = "default"
#: The first byte of the Confluent wire format.
MAGIC_BYTE = 0

_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1
_HEADER = struct.Struct(">bI")


class UnknownKey(KeyError):
    """The key id named by the tags (or `default`) is not in the key ring."""


class KeyRing:
    """Signing keys by id. Several can be held at once, which is how keys rotate (docs/PROTOCOL.md,
    "The signature"): consumers learn the new key first, then producers move to it."""

    def __init__(self, keys: Mapping[str, bytes | str]):
        self._keys = {k: v.encode() if isinstance(v, str) else bytes(v) for k, v in keys.items()}

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._keys

    def __repr__(self) -> str:  # never print secrets
        return f"KeyRing({sorted(self._keys)})"

    def sign(self, key_id: str, canonical_bytes: bytes) -> str:
        """`v1=` + lowercase hex HMAC-SHA256 of `canonical_bytes` under the key `key_id`."""
        try:
            key = self._keys[key_id]
        except KeyError:
            raise UnknownKey(key_id) from None
        return "v1=" + hmac.new(key, canonical_bytes, hashlib.sha256).hexdigest()


def frame(schema_id: int, datum: bytes) -> bytes:
    """Confluent wire format: magic byte 0, the schema id (4 bytes, big-endian), then the datum."""
    return _HEADER.pack(MAGIC_BYTE, schema_id) + datum


def canonical(timestamp: int, host: str, event_type: str, pid: int, offset: int, message: bytes) -> bytes:
    """The signed text: `v1:{timestamp}:{host}:{type}:{pid}:{offset}:` then the message bytes
    (note: pid before offset, unlike the field order)."""
    return f"v1:{timestamp}:{host}:{event_type}:{pid}:{offset}:".encode() + message


def _long(out: bytearray, n: int) -> None:
    """Avro `long`: zig-zag, then a little-endian base-128 varint."""
    z = ((n << 1) ^ (n >> 63)) & 0xFFFFFFFFFFFFFFFF
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)


def _bytes(out: bytearray, b: bytes) -> None:
    """Avro `bytes` and `string`: the length as a `long`, then the bytes."""
    _long(out, len(b))
    out += b


def key_id_of(tags: Mapping[str, str] | None) -> str:
    """The signing key the tags name, else `default`."""
    if tags:
        return tags.get(KEY_TAG, DEFAULT_KEY_ID)
    return DEFAULT_KEY_ID


def encode(envelope_schema_id: int, keys: KeyRing, *, timestamp: int, host: str, event_type: str,
           offset: int, pid: int, message: bytes, tags: Mapping[str, str] | None = None) -> bytes:
    """Signs the envelope with the key its tags name and returns the Kafka record value: the Confluent
    header for `envelope_schema_id`, then the Avro binary of `murron.Envelope`.

    `message` is the payload already in wire format (see :func:`frame`). Raises :class:`UnknownKey`
    for a key id the ring lacks and :class:`ValueError` for numbers outside their Avro types.
    """
    if not (_I64_MIN <= timestamp <= _I64_MAX and _I64_MIN <= offset <= _I64_MAX):
        raise ValueError("timestamp and offset must fit a signed 64-bit integer")
    if not _I32_MIN <= pid <= _I32_MAX:
        raise ValueError(f"pid {pid} does not fit a signed 32-bit integer")
    signature = keys.sign(key_id_of(tags), canonical(timestamp, host, event_type, pid, offset, message))
    out = bytearray(_HEADER.pack(MAGIC_BYTE, envelope_schema_id))
    _long(out, timestamp)
    _bytes(out, host.encode())
    _bytes(out, event_type.encode())
    _long(out, offset)
    _long(out, pid)
    _bytes(out, message)
    _bytes(out, signature.encode())
    if tags:
        # One block holding every entry, then the terminating empty block.
        _long(out, len(tags))
        for k, v in tags.items():
            _bytes(out, k.encode())
            _bytes(out, v.encode())
    _long(out, 0)
    return bytes(out)


def size_bound(host: str, event_type: str, datum_len: int, tags: Mapping[str, str] | None) -> int:
    """An upper bound of :func:`encode`'s output length, known before the offset is taken (the buffer
    reserves it, so a refused reservation never burns an offset)."""
    n = 5 + 10 + 10 + 5 + 10  # header, timestamp, offset, pid, tags terminator
    n += 10 + len(host.encode()) + 10 + len(event_type.encode())
    n += 10 + 5 + datum_len  # message: its length, its Confluent header, the datum
    n += 2 + 67  # the signature
    if tags:
        n += 10 + sum(20 + len(k.encode()) + len(v.encode()) for k, v in tags.items())
    return n


class _Reader:
    """A cursor over an Avro datum, for :func:`decode_uid`."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos

    def long(self) -> int:
        value = 0
        for shift in range(0, 70, 7):
            if self.pos >= len(self.buf):
                raise ValueError("truncated")
            byte = self.buf[self.pos]
            self.pos += 1
            if shift == 63 and byte > 1:
                raise ValueError("bad varint")
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return (value >> 1) ^ -(value & 1)
        raise ValueError("bad varint")

    def bytes(self) -> bytes:
        n = self.long()
        if n < 0 or n > len(self.buf) - self.pos:
            raise ValueError("bad length")
        self.pos += n
        return self.buf[self.pos - n:self.pos]

    def string(self) -> str:
        return self.bytes().decode()  # UnicodeDecodeError is a ValueError


def decode_uid(value: bytes) -> tuple[str, str, int, int]:
    """`(type, host, pid, offset)` of a Kafka record value, after checking that the whole value is one
    well-formed envelope (framing, every field, the tags, no trailing bytes). Raises ValueError."""
    if len(value) < 5 or value[0] != MAGIC_BYTE:
        raise ValueError("not in the Confluent wire format")
    r = _Reader(value, 5)
    r.long()  # timestamp
    host = r.string()
    event_type = r.string()
    offset = r.long()
    pid = r.long()
    if not _I32_MIN <= pid <= _I32_MAX:
        raise ValueError("pid out of range")
    r.bytes()  # message
    r.string()  # signature
    while (count := r.long()) != 0:
        if count < 0:
            r.long()  # the block's size in bytes
        for _ in range(abs(count)):
            r.string()
            r.string()
    if r.pos != len(value):
        raise ValueError("trailing bytes")
    return event_type, host, pid, offset
