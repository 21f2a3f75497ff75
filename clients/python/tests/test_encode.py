"""The envelope the package writes, against docs/PROTOCOL.md and an independent Avro implementation
(fastavro, used by the tests only: the package itself imports none)."""

import hashlib
import hmac
import io
import json
import re
from pathlib import Path

import fastavro
import pytest

from murron_producer import envelope
from murron_producer.envelope import KeyRing, UnknownKey

ROOT = Path(__file__).resolve().parents[3]
PROTOCOL = (ROOT / "docs/PROTOCOL.md").read_text()


def worked_example_value_hex() -> str:
    """The 124-byte record value of PROTOCOL.md's worked example, read from its annotated listing."""
    block = PROTOCOL.split("The Kafka record value (124 bytes)", 1)[1].split("```")[1]
    hex_parts = []
    for line in block.splitlines():
        # Each line: hex groups, then (after a run of spaces) a comment; comment-only lines skip.
        head = re.split(r"\s{2,}", line.strip())[0]
        if re.fullmatch(r"[0-9a-f ]+", head):
            hex_parts.append(head.replace(" ", ""))
    return "".join(hex_parts)


def test_worked_example_is_reproduced_byte_for_byte():
    keys = KeyRing({"default": b"murron-demo-key"})
    message = envelope.frame(2, bytes([0x06]) + b"w-1")
    assert message == bytes.fromhex("0000000002") + b"\x06w-1"
    value = envelope.encode(1, keys, timestamp=1764115200000000, host="web-1", event_type="billing.member_active",
                            offset=0, pid=4242, message=message, tags={})
    expected = worked_example_value_hex()
    assert len(expected) == 2 * 124
    assert value.hex() == expected
    # The same vector the Rust codec is pinned to (wire/src/envelope/mod.rs, FASTAVRO_HEX).
    rust = (ROOT / "wire/src/envelope/mod.rs").read_text()
    assert re.search(r'FASTAVRO_HEX: &str = "([0-9a-f]+)"', rust).group(1) == value.hex()
    assert "v1=28d376a1e1b59b623b7e292a2f0b78514ae4a1a73ad23ea2c01e5126482c4d9c" in value.decode("latin-1")


def test_the_embedded_envelope_schema_is_the_published_one():
    published = json.loads((ROOT / "schemas/murron/Envelope.avsc").read_text())
    assert json.loads(envelope.ENVELOPE_SCHEMA) == published


@pytest.mark.parametrize("fields", [
    dict(timestamp=0, host="h", event_type="t", offset=0, pid=0, tags=None),
    dict(timestamp=-1, host="hôte-é", event_type="a.b_c", offset=(1 << 63) - 1, pid=-(1 << 31), tags={"k": "v"}),
    dict(timestamp=(1 << 63) - 1, host="x" * 300, event_type="t" * 64, offset=63, pid=(1 << 31) - 1,
         tags={"murron.key": "2026-11", "region": "eu", "ünï": "çødé"}),
    dict(timestamp=-(1 << 63), host="h", event_type="t", offset=64, pid=8191, tags={f"t{i}": str(i) for i in range(70)}),
])
def test_fastavro_decodes_what_the_package_encodes_and_hmac_verifies_it(fields):
    keys = KeyRing({"default": b"d-key", "2026-11": "rotated-key"})
    message = envelope.frame(7, bytes(range(256)) * 3)
    value = envelope.encode(42, keys, message=message, **fields)
    assert value[:5] == b"\x00\x00\x00\x00\x2a"
    # Without the logical type: fastavro's datetime cannot hold every long, and the encoding is the same.
    plain = json.loads(envelope.ENVELOPE_SCHEMA)
    plain["fields"][0]["type"] = "long"
    schema = fastavro.parse_schema(plain)
    buf = io.BytesIO(value[5:])
    env = fastavro.schemaless_reader(buf, schema)
    assert buf.read() == b"", "no trailing bytes"
    ts = env["timestamp"]
    assert (ts, env["host"], env["type"], env["offset"], env["pid"], env["message"], env["tags"]) == (
        fields["timestamp"], fields["host"], fields["event_type"], fields["offset"], fields["pid"], message,
        fields["tags"] or {})
    key = b"rotated-key" if (fields["tags"] or {}).get("murron.key") == "2026-11" else b"d-key"
    text = f"v1:{ts}:{env['host']}:{env['type']}:{env['pid']}:{env['offset']}:".encode() + env["message"]
    assert env["signature"] == "v1=" + hmac.new(key, text, hashlib.sha256).hexdigest()
    assert len(value) <= envelope.size_bound(fields["host"], fields["event_type"], len(message) - 5, fields["tags"])


def test_a_key_the_ring_lacks_or_numbers_outside_their_types_are_refused():
    keys = KeyRing({"default": b"k"})
    base = dict(timestamp=1, host="h", event_type="t", offset=0, pid=1, message=b"\0\0\0\0\1")
    with pytest.raises(UnknownKey):
        envelope.encode(1, keys, **base, tags={"murron.key": "gone"})
    with pytest.raises(ValueError):
        envelope.encode(1, keys, **{**base, "pid": 1 << 31})
    with pytest.raises(ValueError):
        envelope.encode(1, keys, **{**base, "offset": 1 << 63})
    assert "k" not in repr(keys).replace("KeyRing", "")  # no secret in a repr
