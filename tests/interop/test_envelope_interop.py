"""The envelope contract (docs/PROTOCOL.md) read and written by third-party clients: Confluent's
Python client and its schema-registry client and Avro serializers, fastavro, and Python's hmac.
Nothing here shares code with the Rust implementation, so agreement means the contract holds."""

import datetime
import hashlib
import hmac
import io
import json
import struct
import time
import uuid
from pathlib import Path

import fastavro
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import ROOT, sink_worker

KEY = b"interop-secret"


EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def micros(ts) -> int:
    """fastavro decodes timestamp-micros into a datetime; the canonical form wants the integer."""
    if isinstance(ts, datetime.datetime):
        return (ts - EPOCH) // datetime.timedelta(microseconds=1)
    return ts


def canonical(env: dict) -> bytes:
    head = f"v1:{micros(env['timestamp'])}:{env['host']}:{env['type']}:{env['pid']}:{env['offset']}:"
    return head.encode() + env["message"]


def sign(env: dict, key: bytes = KEY) -> str:
    return "v1=" + hmac.new(key, canonical(env), hashlib.sha256).hexdigest()


def create_topic(kafka: str, partitions: int) -> str:
    topic = "interop-" + uuid.uuid4().hex[:10]
    admin = AdminClient({"bootstrap.servers": kafka})  # must outlive its futures
    futures = admin.create_topics([NewTopic(topic, partitions, 1)])
    for f in futures.values():
        f.result(timeout=30)
    return topic


def consume_all(kafka: str, topic: str, expected: int) -> list:
    c = Consumer({"bootstrap.servers": kafka, "group.id": "py-" + uuid.uuid4().hex, "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    out, deadline = [], time.time() + 60
    while len(out) < expected and time.time() < deadline:
        msg = c.poll(1.0)
        if msg is not None and msg.error() is None:
            out.append(msg)
    c.close()
    assert len(out) == expected, f"read {len(out)} of {expected} records"
    return out


def test_events_from_gen_decode_and_verify_with_confluent_and_fastavro(registry_url, kafka):
    sr = SchemaRegistryClient({"url": registry_url})
    text = (ROOT / "schemas/billing/member_active.avsc").read_text()
    payload_id = sr.register_schema("billing.member_active", Schema(text, "AVRO"))
    assert sr.get_latest_version("billing.member_active").schema_id == payload_id

    topic = create_topic(kafka, 2)
    sink_worker(registry_url, {"default": KEY.decode()},
                "gen", "--topic", topic, "--type", "billing.member_active", "--count", "200", "--streams", "2")

    payload_deserializer = AvroDeserializer(sr)
    seen = {}
    for msg in consume_all(kafka, topic, 200):
        value = msg.value()
        magic, envelope_id = struct.unpack(">bI", value[:5])
        assert magic == 0
        envelope_schema = fastavro.parse_schema(json.loads(sr.get_schema(envelope_id).schema_str))
        env = fastavro.schemaless_reader(io.BytesIO(value[5:]), envelope_schema)
        # The Kafka key keeps a stream on one partition.
        assert msg.key().decode() == f"{env['host']}:{env['pid']}"
        assert hmac.compare_digest(env["signature"], sign(env)), env
        event = payload_deserializer(env["message"], SerializationContext(topic, MessageField.VALUE))
        assert event["plan"] in {"FREE", "PRO", "BUSINESS", "ENTERPRISE"}
        seen.setdefault((env["host"], env["pid"]), []).append(env["offset"])
    assert sorted(seen) == [("gen-0", 1000), ("gen-1", 1001)]
    for offsets in seen.values():
        assert offsets == list(range(100)), "per-stream offsets arrive in order, without gaps"


def test_envelopes_written_in_python_are_accepted_by_inspect(registry_url, kafka):
    sr = SchemaRegistryClient({"url": registry_url})
    envelope_text = (ROOT / "schemas/murron/Envelope.avsc").read_text()
    envelope_id = sr.register_schema("murron.Envelope", Schema(envelope_text, "AVRO"))
    envelope_schema = fastavro.parse_schema(json.loads(envelope_text))
    payload_text = (ROOT / "schemas/client/api_call.avsc").read_text()
    # Under the subject named by the event type, as the sink and inspect check (docs/PROTOCOL.md).
    serializer = AvroSerializer(sr, payload_text,
                                conf={"subject.name.strategy": lambda ctx, record_name: "client.api_call"})

    topic = create_topic(kafka, 1)
    producer = Producer({"bootstrap.servers": kafka})
    for offset in range(30):
        event = {"request_id": str(uuid.uuid4()), "workspace_id": "w1", "user_id": f"u{offset}", "method": "chat.postMessage",
                 "http_method": "POST", "status": 200, "latency_ms": 12.5, "bytes_in": 100, "bytes_out": 2048,
                 "region": "eu-west-1", "error_code": None, "ts": 1_764_115_200_000_000, "attributes": {"client": "py"}}
        message = serializer(event, SerializationContext(topic, MessageField.VALUE))
        env = {"timestamp": 1_764_115_200_000_000 + offset, "host": "py-host", "type": "client.api_call", "offset": offset,
               "pid": 77, "message": message, "signature": "", "tags": {"murron.key": "py"}}
        env["signature"] = sign(env)
        if offset == 29:
            env["signature"] = sign(env, b"wrong-key")
        buf = io.BytesIO()
        buf.write(struct.pack(">bI", 0, envelope_id))
        fastavro.schemaless_writer(buf, envelope_schema, env)
        producer.produce(topic, key=b"py-host:77", value=buf.getvalue())
    assert producer.flush(30) == 0

    out = sink_worker(registry_url, {"py": KEY.decode()}, "inspect", "--topic", topic, "--idle-secs", "5")
    assert f"{topic}: 30 records, 29 valid, 1 invalid" in out, out
    assert "bad_signature" in out
    row = next(line for line in out.splitlines() if "py-host" in line).split()
    assert row[3:] == ["29", "28", "0", "0"], out


def test_protocol_worked_example_signature():
    """docs/PROTOCOL.md's worked example, recomputed here from its stated inputs."""
    doc = (ROOT / "docs/PROTOCOL.md").read_text()
    env = {"timestamp": 1764115200000000, "host": "web-1", "type": "billing.member_active", "pid": 4242, "offset": 0,
           "message": bytes([0, 0, 0, 0, 2, 6]) + b"w-1"}
    expected = "v1=" + hmac.new(b"murron-demo-key", canonical(env), hashlib.sha256).hexdigest()
    assert expected in doc
