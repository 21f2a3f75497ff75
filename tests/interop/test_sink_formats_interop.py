"""JSON Schema and Protobuf payloads through `sink-worker run`, produced by clients no one here wrote:
confluent_kafka's JSONSerializer and ProtobufSerializer (registering with our registry), each payload
wrapped in a signed envelope by this test. One worker runs one pipeline with four outputs (Parquet
files, JSON-lines files, the PostgreSQL warehouse, Iceberg tables on the S3 server) over one topic
holding both kinds, in two phases: version 1 of each type, then version 2 (one new optional property
or field) mixed with late version 1 events. The outputs are read back with pyarrow, DuckDB, Python's
json, the `psql` binary and, for Iceberg, pyiceberg's SqlCatalog and DuckDB's iceberg extension, and
every event must be there once, with every value equal to what was produced. Invalid payloads of
each kind must be dead letters with their reasons.

The mapping checked is the one each kind documents (payload/src/json/plan.rs, payload/src/protobuf/
layout.rs, docs/SINK.md), column by column in JSON_TYPES and PB_TYPES. Values are compared in one
canonical form (timestamps as UTC nanoseconds, dates as ISO text, maps as dicts, JSON text columns
parsed), each reader's representation turned into it by the column's Arrow type; a reader with coarser
timestamps than the column (DuckDB, PostgreSQL) must read the produced value at its precision.

The Protobuf classes are compiled from `.proto` text at test time with grpcio-tools' protoc into a
descriptor set and loaded into a descriptor pool of their own per version, so that both versions of
one file (same name, same package) live in one process."""

import base64
import contextlib
import datetime
import io
import json
import os
import re
import struct
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc

import iceberg_readers
from conftest import (DATABASE_URL, KAFKA, ROOT, S3_ACCESS_KEY, S3_ENDPOINT, S3_SECRET_KEY, binary, free_port,
                      require, running_registry, sink_worker)
from test_envelope_interop import KEY, create_topic, sign
from test_registry_formats_interop import WELL_KNOWN
from test_registry_interop import rest

JSON_TYPE = "interop.order"  # JSON Schema payloads; warehouse table interop_order
PB_TYPE = "interop.shipment"  # Protobuf payloads; warehouse table interop_shipment
KINDS = {"json": JSON_TYPE, "protobuf": PB_TYPE}
# Events per kind: version 1 before the new version, then version 2, then late version 1 events.
V1_EVENTS, V2_EVENTS, LATE_V1_EVENTS = 90, 50, 20
BASE_MICROS = 1_764_115_200_000_000  # 2025-11-26T00:00:00Z: envelopes one second apart, all in hr=00
UTC = datetime.timezone.utc
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=UTC)

# The metadata columns the sink appends (docs/SINK.md, "Columns").
METADATA = {"_murron_timestamp", "_murron_host", "_murron_pid", "_murron_offset", "_murron_tags", "_kafka_topic",
            "_kafka_partition", "_kafka_offset", "_schema_id"}


def micros(dt: datetime.datetime) -> int:
    return (dt - EPOCH) // datetime.timedelta(microseconds=1)


class Ns(int):
    """A timestamp as produced, in canonical form: UTC nanoseconds since the epoch. Marked so that the
    value a reader with coarser timestamps must read can be worked out (`as_read_by`)."""


class NsDuration(int):
    """A duration as produced, in canonical form: nanoseconds."""


def ns(dt: datetime.datetime) -> Ns:
    return Ns(micros(dt) * 1000)


# --- the JSON Schema type ------------------------------------------------------------------------

DRAFT7 = "http://json-schema.org/draft-07/schema#"
ORDER_V1 = {
    "$schema": DRAFT7, "title": "Order", "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "quantity": {"type": "integer"},
        "price": {"type": "number"},
        "paid": {"type": "boolean"},
        "status": {"type": "string", "enum": ["NEW", "PAID", "SHIPPED"]},
        "created_at": {"type": "string", "format": "date-time"},
        "ship_date": {"type": "string", "format": "date"},
        "note": {"type": ["string", "null"]},
        "ref": {"type": ["string", "integer"]},
        "customer": {
            "type": "object", "additionalProperties": False, "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "address": {"type": "object", "additionalProperties": False, "required": ["city"],
                            "properties": {"city": {"type": "string"}, "zip": {"type": ["string", "null"]}}},
            },
        },
        "items": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["sku", "qty"],
            "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"},
                           "added_at": {"type": "string", "format": "date-time"}}}},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["order_id", "quantity", "status", "created_at"],
    # No additionalProperties: the root is an open content model, so undeclared properties are valid.
}
ORDER_V2 = json.loads(json.dumps(ORDER_V1))
ORDER_V2["properties"]["coupon"] = {"type": ["string", "null"]}
JSON_NEW_COLUMN = "coupon"
# Where the undeclared properties of an open object are kept, as JSON text (docs/SINK.md).
JSON_EXTRA_COLUMN = "_extra"
# Columns holding JSON text (undeclared properties, unions of unlike types): compared parsed.
JSON_TEXT_COLUMNS = {JSON_EXTRA_COLUMN, "ref"}


def order(i: int, version: int) -> tuple[dict, dict]:
    """Order `i` as produced and as its row must read (canonical form)."""
    at = datetime.datetime(2025, 11, 26, 8, 30, tzinfo=UTC) + datetime.timedelta(seconds=i, microseconds=i * 7919)
    if i % 3 == 2:
        at = at.replace(microsecond=0)
        created = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif i % 3 == 1:  # the same instant written with another offset
        created = at.astimezone(datetime.timezone(datetime.timedelta(hours=2))).isoformat()
    else:
        created = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if i == 9:
        created = created.lower()  # RFC 3339 allows "t" and "z"
    # 2^53 + 1 is exact only as an integer; 11.0 is an integer to JSON Schema (a number with no fraction)
    value = {"order_id": f"o-{i}", "quantity": {7: 9_007_199_254_740_993, 8: -5, 11: 11.0}.get(i, i),
             "status": ["NEW", "PAID", "SHIPPED"][i % 3], "created_at": created}
    if i % 6 == 5:
        value["price"] = 3  # a JSON integer where a number is declared
    elif i % 6 != 4:
        value["price"] = i * 1.1
    if i % 7 != 6:
        value["paid"] = i % 2 == 0
    if i % 4 != 3:
        value["ship_date"] = datetime.date(2025, 12, 1 + i % 28).isoformat()
    if i % 3 != 1:
        value["note"] = None if i % 3 == 0 else f"note {i}: ünïcødé ✓"
    if i % 4 < 2:
        value["ref"] = f"r{i}" if i % 4 == 0 else i * 1000
    if i % 5 != 4:
        value["customer"] = {"name": f"c{i}"}
        if i % 2:
            value["customer"]["address"] = {"city": f"city {i}"} | ({"zip": None} if i % 3 else {"zip": f"{i:05}"})
    added = [at + datetime.timedelta(minutes=j, microseconds=j) for j in range(i % 3)]
    value["items"] = [{"sku": f"sku-{i}-{j}", "qty": j + 1} | ({"added_at": added[j].isoformat()} if j else {})
                      for j in range(i % 3)]
    if i % 4 != 2:
        value["tags"] = [f"t{j}" for j in range(i % 2 + 1)]
    extra = {}
    if i % 3 == 0:
        extra["channel"] = "web"
    if i % 2 == 0:
        extra["utm"] = {"source": "news", "n": i, "ids": [i, None]}
    value |= extra
    if version == 2 and i % 3 != 2:
        value[JSON_NEW_COLUMN] = f"C{i}" if i % 3 == 0 else None

    customer = value.get("customer")
    row = {
        "order_id": value["order_id"], "quantity": int(value["quantity"]),
        "price": float(value["price"]) if "price" in value else None, "paid": value.get("paid"),
        "status": value["status"], "created_at": ns(at), "ship_date": value.get("ship_date"),
        "note": value.get("note"), "ref": value.get("ref"),
        "customer": None if customer is None else {
            "name": customer["name"],
            "address": None if "address" not in customer else {
                "city": customer["address"]["city"], "zip": customer["address"]["zip"]}},
        "items": [{"sku": it["sku"], "qty": it["qty"], "added_at": ns(added[j]) if j else None}
                  for j, it in enumerate(value["items"])],
        "tags": value.get("tags"),
        JSON_NEW_COLUMN: value.get(JSON_NEW_COLUMN),
        JSON_EXTRA_COLUMN: extra or None,
    }
    return value, row


def json_serializer(sr: SchemaRegistryClient, schema: dict) -> JSONSerializer:
    # The payload schema lives under the subject named by the event type (docs/PROTOCOL.md).
    return JSONSerializer(json.dumps(schema), sr, conf={"subject.name.strategy": lambda ctx, name: JSON_TYPE})


# --- the Protobuf type ---------------------------------------------------------------------------

SHIPMENT_PROTO = """syntax = "proto3";
package murron.interop;

import "google/protobuf/duration.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";

// First in the file, so Shipment travels with the message index [1].
message Header {
  string source = 1;
}

message Shipment {
  enum Priority {
    PRIORITY_UNSPECIFIED = 0;
    LOW = 1;
    HIGH = 2;
  }
  message Parcel {
    message Dimensions {
      double length_cm = 1;
      double width_cm = 2;
    }
    string label = 1;
    uint32 weight_g = 2;
    Dimensions dims = 3;
    google.protobuf.Timestamp packed_at = 4;
  }
  string shipment_id = 1;
  int64 sequence = 2;
  uint64 big_counter = 3;
  google.protobuf.Timestamp shipped_at = 4;
  Priority priority = 5;
  repeated Parcel parcels = 6;
  repeated string tags = 7;
  map<string, int32> counts = 8;
  oneof destination {
    string address = 9;
    int32 locker_id = 10;
  }
  google.protobuf.Int64Value discount = 11;
  google.protobuf.StringValue note = 12;
  bool express = 13;
  bytes checksum = 14;
  float ratio = 15;
  sint32 delta = 16;
  google.protobuf.Duration took = 18;
  map<int64, string> names_by_id = 19;
  map<bool, int32> flags = 20;
  // V2
}
"""
PB_NEW_COLUMN = "carrier"
SHIPMENT_V2_PROTO = SHIPMENT_PROTO.replace("  // V2\n", f"  optional string {PB_NEW_COLUMN} = 17;\n")
PRIORITIES = ["PRIORITY_UNSPECIFIED", "LOW", "HIGH"]


def shipment_class(tmp: Path, text: str):
    """The generated class of Shipment in `text`, in a descriptor pool of its own."""
    src = tmp / f"proto-{uuid.uuid4().hex[:6]}"
    (src / "interop").mkdir(parents=True)
    (src / "interop" / "shipment.proto").write_text(text)
    out = src / "set.pb"
    rc = protoc.main(["protoc", f"-I{src}", f"-I{WELL_KNOWN}", "--include_imports", f"--descriptor_set_out={out}",
                      "interop/shipment.proto"])
    assert rc == 0, "protoc failed on interop/shipment.proto"
    pool = descriptor_pool.DescriptorPool()
    for fdp in descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file:  # imports first
        pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("murron.interop.Shipment"))


def shipment(cls, i: int, version: int) -> tuple[object, dict]:
    """Shipment `i` as produced and as its row must read (canonical form)."""
    m = cls(shipment_id=f"s-{i}", sequence=(-1) ** i * i * 1_000_003, priority=i % 3, express=i % 2 == 0,
            checksum=b"" if i % 7 == 0 else bytes([i % 256, 0, 255, i // 256]), ratio=i / 8, delta=-i)
    m.big_counter = 2**64 - 1 if i == 1 else 2**63 + i * 1_000_000_007 if i % 2 else i
    shipped = None
    if i % 5 != 4:
        # nanoseconds that are not a whole microsecond, and never half of one (rounding has no tie)
        shipped = Ns(BASE_MICROS * 1000 + i * 1_000_000_007 + (i % 4) * 250)
        assert shipped % 1000 != 500
        m.shipped_at.FromNanoseconds(shipped)
    parcels = []
    for j in range(i % 3):
        p = m.parcels.add(label=f"p{i}.{j}", weight_g=4_000_000_000 + j if j else 0)
        dims = packed = None
        if j == 1:
            p.dims.SetInParent()  # present, all fields at their defaults
            dims = {"length_cm": 0.0, "width_cm": 0.0}
            packed = Ns(BASE_MICROS * 1000 - 86_400_000_000_000 + i * 999_999_999)
            p.packed_at.FromNanoseconds(packed)
        parcels.append({"label": p.label, "weight_g": p.weight_g, "dims": dims, "packed_at": packed})
    m.tags.extend(f"tag{j}" for j in range(i % 4))
    for j in range(i % 3):
        m.counts[f"k{j}"] = j - 1
    if i % 4 == 0:
        m.address = f"{i} Main St"
    elif i % 4 == 1:
        m.locker_id = 0 if i == 5 else i  # set to its default: present all the same
    elif i % 4 == 2:
        m.address = ""
    if i % 3 == 1:
        m.discount.value = 0
    elif i % 3 == 2:
        m.discount.value = -i * 10
    if i % 2 == 0:
        m.note.value = f"n{i} ✓"
    took = None
    if i % 3 != 2:
        took = NsDuration((i - 50) * 1_234_567_891)  # negative ones too
        assert abs(took) % 1000 != 500
        m.took.FromNanoseconds(took)
    for j in range(i % 3):
        m.names_by_id[(-1) ** j * i * 10**12 + j] = f"id {j}"
    if i % 2:
        m.flags[i % 4 == 1] = i
    if version == 2 and i % 2 == 0:
        setattr(m, PB_NEW_COLUMN, f"carrier-{i}")

    which = m.WhichOneof("destination")
    row = {
        "shipment_id": m.shipment_id, "sequence": m.sequence, "big_counter": m.big_counter, "shipped_at": shipped,
        "priority": PRIORITIES[m.priority], "parcels": parcels, "tags": list(m.tags), "counts": dict(m.counts),
        "address": m.address if which == "address" else None,
        "locker_id": m.locker_id if which == "locker_id" else None,
        "discount": m.discount.value if m.HasField("discount") else None,
        "note": m.note.value if m.HasField("note") else None,
        "express": m.express, "checksum": m.checksum, "ratio": m.ratio, "delta": m.delta, "took": took,
        "names_by_id": dict(m.names_by_id), "flags": dict(m.flags),
        PB_NEW_COLUMN: getattr(m, PB_NEW_COLUMN) if version == 2 and m.HasField(PB_NEW_COLUMN) else None,
    }
    return m, row


def protobuf_serializer(sr: SchemaRegistryClient, cls) -> ProtobufSerializer:
    return ProtobufSerializer(cls, sr, conf={"subject.name.strategy": lambda ctx, name: PB_TYPE})


# --- invalid payloads ----------------------------------------------------------------------------


def framed(schema_id: int, payload: bytes) -> bytes:
    return b"\0" + schema_id.to_bytes(4, "big") + payload


def invalid_json_payloads(schema_id: int) -> dict:
    """Name -> (payload, reason, detail prefix). The serializer validates, so these are framed by hand."""
    good, _ = order(0, 1)
    bad = {
        "not_json": b'{"order_id": "o-x", "quantity": ',
        "not_utf8": b'{"order_id": "o-\xff", "quantity": 1, "status": "NEW", "created_at": "2025-11-26T00:00:00Z"}',
        # a key twice: JSON parsers disagree on which counts, so the sink refuses it
        "repeated_key": b'{"order_id": "a", "quantity": 1, "status": "NEW", "created_at": "2025-11-26T00:00:00Z", '
                        b'"quantity": 2}',
        "wrong_type": dict(good, quantity="three"),
        "missing_required": {k: v for k, v in good.items() if k != "status"},
        "not_in_enum": dict(good, status="LOST"),
        "nested_wrong_type": dict(good, items=[{"sku": "a", "qty": "one"}]),
        "closed_object_extra": dict(good, customer={"name": "x", "age": 3}),
        "not_a_date_time": dict(good, created_at="yesterday"),
        "not_a_date": dict(good, ship_date="2025-02-30"),
        "integer_out_of_range": dict(good, quantity=2**64),  # an integer, but not a 64-bit one
    }
    return {name: (framed(schema_id, v if isinstance(v, bytes) else json.dumps(v).encode()),
                   "invalid_payload", JSON_DETAIL[name]) for name, v in bad.items()}


def invalid_protobuf_payloads(schema_id: int, valid: bytes) -> dict:
    """Name -> (payload, reason, detail prefix). `valid` is a serializer's framed Shipment."""
    assert valid[5:7] == b"\x02\x02", "Shipment is the second message: indexes [1] as zigzag varints"
    message = valid[7:]
    bad = {
        # field 99, varint 1: not in the schema
        "unknown_field": valid + b"\x98\x06\x01",
        # field 1 (string) announcing 50 bytes with 3 left
        "truncated": framed(schema_id, b"\x02\x02" + b"\x0a\x32abc"),
        # wire type 7 does not exist
        "bad_wire_type": framed(schema_id, b"\x02\x02" + b"\x0f\x01"),
        # a string that is not UTF-8
        "invalid_utf8": framed(schema_id, b"\x02\x02" + b"\x0a\x02\xc3\x28"),
        # message index [5]: the file has two top-level messages
        "bad_message_index": framed(schema_id, b"\x02\x0a" + message),
        # an index array cut short: two indexes announced, none given
        "truncated_message_index": framed(schema_id, b"\x04"),
    }
    return {name: (payload, "invalid_payload", PB_DETAIL[name]) for name, payload in bad.items()}


# The detail of each dead letter starts with the validator's reason code (docs/PROTOCOL.md).
JSON_DETAIL = {"not_json": "invalid_json", "not_utf8": "invalid_json", "repeated_key": "invalid_json", "wrong_type": "schema_violation",
               "missing_required": "schema_violation", "not_in_enum": "schema_violation",
               "nested_wrong_type": "schema_violation", "closed_object_extra": "schema_violation",
               # the validator asserts `format`, as the registry built it
               "not_a_date_time": "schema_violation", "not_a_date": "schema_violation",
               "integer_out_of_range": "integer_out_of_range"}
PB_DETAIL = {"unknown_field": "unknown_field", "truncated": "truncated", "bad_wire_type": "bad_wire_type",
             "invalid_utf8": "invalid_utf8", "bad_message_index": "message_index_out_of_range",
             "truncated_message_index": "bad_message_index"}


# --- envelopes -----------------------------------------------------------------------------------


class Envelopes:
    """Wraps payloads in signed Murron envelopes (docs/PROTOCOL.md) and produces them, one stream
    (host, pid) per name with offsets counting from 0."""

    def __init__(self, sr: SchemaRegistryClient, topic: str):
        text = (ROOT / "schemas/murron/Envelope.avsc").read_text()
        self.envelope_id = sr.register_schema("murron.Envelope", Schema(text, "AVRO"))
        self.schema = fastavro.parse_schema(json.loads(text))
        self.topic = topic
        self.producer = Producer({"bootstrap.servers": KAFKA})
        self.next_offset: dict[tuple, int] = {}

    def send(self, host: str, pid: int, event_type: str, message: bytes) -> tuple[int, bytes]:
        """Produces one envelope; returns its stream offset and the record value."""
        offset = self.next_offset.get((host, pid), 0)
        self.next_offset[(host, pid)] = offset + 1
        env = {"timestamp": BASE_MICROS + offset * 1_000_000, "host": host, "type": event_type, "offset": offset,
               "pid": pid, "message": message, "signature": "", "tags": {"murron.key": "py"}}
        env["signature"] = sign(env)
        buf = io.BytesIO()
        buf.write(struct.pack(">bI", 0, self.envelope_id))
        fastavro.schemaless_writer(buf, self.schema, env)
        value = buf.getvalue()
        self.producer.produce(self.topic, key=f"{host}:{pid}".encode(), value=value)
        return offset, value

    def flush(self) -> None:
        assert self.producer.flush(30) == 0


STREAMS = {"json": ("py-json", 11), "protobuf": ("py-protobuf", 12)}
INVALID_STREAM = ("py-invalid", 13)


# --- the pipeline run ----------------------------------------------------------------------------


@dataclass
class Run:
    out: Path
    topic: str
    state_url: str
    schema_ids: dict  # kind -> [version 1 id, version 2 id]
    expected: dict = field(default_factory=dict)  # kind -> {stream offset: canonical row}
    versions: dict = field(default_factory=dict)  # kind -> {stream offset: schema version}
    invalid: dict = field(default_factory=dict)  # record value -> (kind, name, reason, detail prefix)
    valid: dict = field(default_factory=dict)  # record value -> kind
    metrics: str = ""
    inspect: str = ""  # what `sink-worker inspect` printed about the topic
    bucket: str = ""  # of the Iceberg output


def fresh_database() -> str:
    db = "py_formats_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", DATABASE_URL, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    return DATABASE_URL.rsplit("/", 1)[0] + "/" + db


def psql(url: str, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True,
                          text=True, env=dict(os.environ, PGTZ="UTC", PGOPTIONS="-c intervalstyle=iso_8601"))


def warehouse_table(event_type: str) -> str:
    return "warehouse." + re.sub(r"[^a-z0-9_]", "_", event_type)


def dead_letters(out: Path, topic: str) -> list:
    lines = []
    for f in sorted((out / "data" / "dlq").glob("**/*.jsonl")):
        lines.extend(json.loads(line) for line in f.read_text().splitlines() if line)
    return [d for d in lines if d["topic"] == topic]


def accounted(run: Run) -> int:
    """Events the sink is done with: rows in the warehouse plus dead letters."""
    rows = 0
    for event_type in KINDS.values():
        res = psql(run.state_url, f"SELECT count(*) FROM {warehouse_table(event_type)}")
        rows += int(res.stdout.strip()) if res.returncode == 0 else 0
    return rows + len(dead_letters(run.out, run.topic))


def wait_accounted(run: Run, proc: subprocess.Popen, total: int) -> None:
    deadline = time.time() + 90
    while (n := accounted(run)) < total:
        assert proc.poll() is None, f"sink-worker exited with {proc.returncode}"
        assert time.time() < deadline, f"the sink accounted for {n} of {total} events in time"
        time.sleep(0.5)


def produce_phase_1(run: Run, sr, envelopes: Envelopes, pb_v1) -> None:
    """Version 1 of each type, and the invalid payloads."""
    json_v1 = json_serializer(sr, ORDER_V1)
    pb_ser = protobuf_serializer(sr, pb_v1)
    last_pb = None
    for i in range(V1_EVENTS):
        value, row = order(i, 1)
        offset, record = envelopes.send(*STREAMS["json"], JSON_TYPE, json_v1(value, ctx(run.topic)))
        run.expected["json"][offset], run.versions["json"][offset], run.valid[record] = row, 1, "json"
        message, row = shipment(pb_v1, i, 1)
        last_pb = pb_ser(message, ctx(run.topic))
        offset, record = envelopes.send(*STREAMS["protobuf"], PB_TYPE, last_pb)
        run.expected["protobuf"][offset], run.versions["protobuf"][offset], run.valid[record] = row, 1, "protobuf"
    run.schema_ids["json"].append(sr.get_latest_version(JSON_TYPE).schema_id)
    run.schema_ids["protobuf"].append(sr.get_latest_version(PB_TYPE).schema_id)
    cases = [("json", JSON_TYPE, invalid_json_payloads(run.schema_ids["json"][0])),
             ("protobuf", PB_TYPE, invalid_protobuf_payloads(run.schema_ids["protobuf"][0], last_pb))]
    for kind, event_type, payloads in cases:
        for name, (payload, reason, detail) in payloads.items():
            _, record = envelopes.send(*INVALID_STREAM, event_type, payload)
            run.invalid[record] = (kind, name, reason, detail)
    envelopes.flush()


def produce_phase_2(run: Run, sr, registry_url: str, envelopes: Envelopes, pb_v1, pb_v2) -> None:
    """Version 2 of each type, then late version 1 events from producers not yet upgraded."""
    # An optional property added to an open content model: Confluent's LENIENT policy accepts it.
    assert rest(registry_url, "PUT", f"/config/{JSON_TYPE}", {"compatibilityPolicy": "LENIENT"})[0] == 200
    json_v1, json_v2 = json_serializer(sr, ORDER_V1), json_serializer(sr, ORDER_V2)
    pb_ser_v1, pb_ser_v2 = protobuf_serializer(sr, pb_v1), protobuf_serializer(sr, pb_v2)
    start = V1_EVENTS
    for i in range(start, start + V2_EVENTS + LATE_V1_EVENTS):
        version = 2 if i < start + V2_EVENTS else 1
        value, row = order(i, version)
        payload = (json_v2 if version == 2 else json_v1)(value, ctx(run.topic))
        offset, record = envelopes.send(*STREAMS["json"], JSON_TYPE, payload)
        run.expected["json"][offset], run.versions["json"][offset], run.valid[record] = row, version, "json"
        message, row = shipment(pb_v2 if version == 2 else pb_v1, i, version)
        payload = (pb_ser_v2 if version == 2 else pb_ser_v1)(message, ctx(run.topic))
        offset, record = envelopes.send(*STREAMS["protobuf"], PB_TYPE, payload)
        run.expected["protobuf"][offset], run.versions["protobuf"][offset], run.valid[record] = row, version, "protobuf"
    envelopes.flush()
    for kind, event_type in KINDS.items():
        assert sr.get_versions(event_type) == [1, 2], event_type
        run.schema_ids[kind].append(sr.get_version(event_type, 2).schema_id)


def ctx(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def sink_config(run: Run) -> Path:
    data = run.out / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = run.out / "sink.toml"
    config.write_text(f"""
[pipeline]
name = "formats"
input = {{ topics = ["{run.topic}"] }}
flush = {{ max_age_ms = 500 }}
dead_letter = {{ store = {{ kind = "local", path = "{data}" }}, prefix = "dlq" }}

[[pipeline.outputs]]
kind = "local"
path = "{data}"

[[pipeline.outputs]]
kind = "local"
path = "{data}"
prefix = "jsonl"
format = "jsonl"

[[pipeline.outputs]]
kind = "postgres"

[[pipeline.outputs]]
kind = "iceberg"
warehouse = "w"
store = {{ kind = "s3", bucket = "{run.bucket}", endpoint = "{S3_ENDPOINT}", access_key_id = "{S3_ACCESS_KEY}", secret_access_key = "{S3_SECRET_KEY}", create_bucket = true }}
""")
    return config


@contextlib.contextmanager
def running_sink(run: Run, registry_url: str):
    admin = free_port()
    env = dict(os.environ, SINK_WORKER_REGISTRY__URL=registry_url, SINK_WORKER_KAFKA__BROKERS=KAFKA,
               SINK_WORKER_STATE__URL=run.state_url, SINK_WORKER_ADMIN__LISTEN=f"127.0.0.1:{admin}",
               SINK_WORKER_KEYS__PY=KEY.decode(), RUST_LOG=os.environ.get("SINK_LOG", "warn"))
    proc = subprocess.Popen([binary("sink-worker"), "--config", str(sink_config(run)), "run"], env=env)
    try:
        yield proc
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            run.metrics = r.read().decode()
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    """One pipeline run over both kinds, both versions and the invalid payloads; the tests read it."""
    require("Kafka", KAFKA)
    tmp = tmp_path_factory.mktemp("formats")
    pb_v1, pb_v2 = shipment_class(tmp, SHIPMENT_PROTO), shipment_class(tmp, SHIPMENT_V2_PROTO)
    with running_registry() as registry_url:
        run = Run(out=tmp / "out", topic=create_topic(KAFKA, 2), state_url=fresh_database(),
                  schema_ids={"json": [], "protobuf": []}, expected={"json": {}, "protobuf": {}},
                  versions={"json": {}, "protobuf": {}}, bucket="f" + uuid.uuid4().hex[:7])
        sr = SchemaRegistryClient({"url": registry_url})
        envelopes = Envelopes(sr, run.topic)
        with running_sink(run, registry_url) as proc:
            produce_phase_1(run, sr, envelopes, pb_v1)
            # Version 1 is written (the warehouse tables exist) before version 2 arrives.
            wait_accounted(run, proc, 2 * V1_EVENTS + len(run.invalid))
            produce_phase_2(run, sr, registry_url, envelopes, pb_v1, pb_v2)
            wait_accounted(run, proc, sum(len(e) for e in run.expected.values()) + len(run.invalid))
        run.inspect = sink_worker(registry_url, {"py": KEY.decode()}, "inspect", "--topic", run.topic,
                                  "--idle-secs", "3")
    return run


# --- canonical values ----------------------------------------------------------------------------


def parse_instant(text: str) -> int:
    """RFC 3339 text (any offset, `Z`, up to 9 fraction digits) as UTC nanoseconds; exact."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d(?::?\d\d)?)?", text)
    assert m, f"not a timestamp: {text!r}"
    zone = m.group(3) or "Z"
    zone = "+00:00" if zone == "Z" else zone if ":" in zone or len(zone) != 5 else zone[:3] + ":" + zone[3:]
    zone = zone + ":00" if len(zone) == 3 else zone
    whole = datetime.datetime.fromisoformat(m.group(1).replace(" ", "T") + zone)
    return micros(whole) * 1000 + int((m.group(2) or "").ljust(9, "0"))


def parse_duration(text: str) -> int:
    """An ISO 8601 duration (`PT-3.000000005S`, `-PT1.5S`, PostgreSQL's `P1DT2H3M4.5S`) as nanoseconds;
    exact."""
    m = re.fullmatch(r"(-?)P(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?)(\d+)(?:\.(\d{1,9}))?S)?)?", text)
    assert m and text not in ("P", "PT"), f"not an ISO 8601 duration: {text!r}"
    sign, days, hours, minutes, s_sign, secs, frac = m.groups()
    total = ((int(days or 0) * 24 + int(hours or 0)) * 60 + int(minutes or 0)) * 60 * 10**9
    seconds = int(secs or 0) * 10**9 + int((frac or "").ljust(9, "0"))
    total += -seconds if s_sign else seconds
    return -total if sign else total


def map_key(k, t: pa.DataType):
    """A map key in canonical form: JSON (JSON lines, jsonb) writes every key as a string."""
    if isinstance(k, str) and pa.types.is_integer(t):
        return int(k)
    if isinstance(k, str) and pa.types.is_boolean(t):
        assert k in ("true", "false"), f"boolean key read as {k!r}"
        return k == "true"
    return k


def canon(v, t: pa.DataType, src: str):
    """A value read from `src` ("arrow", "jsonl" or "pg", the latter from row_to_json) in canonical form,
    by the Arrow type of its column."""
    if v is None:
        return None
    if pa.types.is_dictionary(t):
        return canon(v, t.value_type, src)
    if pa.types.is_timestamp(t):
        if isinstance(v, datetime.datetime):
            assert v.tzinfo is not None, f"naive timestamp {v!r}"
            return micros(v) * 1000
        if isinstance(v, int):  # from an Arrow table read with `without_timestamps`
            return v * {"s": 10**9, "ms": 10**6, "us": 1000, "ns": 1}[t.unit]
        return parse_instant(v)
    if pa.types.is_date(t):
        return v.isoformat() if isinstance(v, datetime.date) else v
    if pa.types.is_struct(t):
        assert isinstance(v, dict), f"struct read as {v!r}"
        names = {f.name for f in t}
        assert set(v) <= names, f"unknown struct fields {set(v) - names}"
        return {f.name: canon(v.get(f.name), f.type, src) for f in t}
    if pa.types.is_duration(t):
        if isinstance(v, int):  # from an Arrow table read with `without_timestamps`
            return v * {"s": 10**9, "ms": 10**6, "us": 1000, "ns": 1}[t.unit]
        return parse_duration(v)
    if pa.types.is_map(t):
        pairs = v.items() if isinstance(v, dict) else v
        return {map_key(k, t.key_type): canon(x, t.item_type, src) for k, x in pairs}
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [canon(x, t.value_type, src) for x in v]
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        if isinstance(v, bytes):
            return v
        if src == "pg":
            assert v.startswith("\\x"), f"bytea read as {v!r}"
            return bytes.fromhex(v[2:])
        return bytes.fromhex(v)  # arrow-json writes binary as hex
    if pa.types.is_integer(t):
        assert isinstance(v, int) and not isinstance(v, bool), f"integer read as {v!r}"
        return v
    if pa.types.is_decimal(t) and t.scale == 0:  # Iceberg's decimal(20, 0) for 64-bit unsigned integers
        return int(v)
    if pa.types.is_floating(t):
        assert isinstance(v, (int, float)) and not isinstance(v, bool), f"float read as {v!r}"
        return float(v)
    return v


def without_timestamps(table: pa.Table) -> list:
    """The rows of `table`, timestamps and durations as integers of their unit: pyarrow makes datetimes
    and timedeltas of them, which hold no nanoseconds."""
    def plain(t: pa.DataType) -> pa.DataType:
        if pa.types.is_timestamp(t) or pa.types.is_duration(t):
            return pa.int64()
        if pa.types.is_struct(t):
            return pa.struct([pa.field(f.name, plain(f.type), f.nullable) for f in t])
        if pa.types.is_list(t):
            return pa.list_(pa.field(t.value_field.name, plain(t.value_type), t.value_field.nullable))
        if pa.types.is_map(t):
            return pa.map_(t.key_type, pa.field(t.item_field.name, plain(t.item_type), t.item_field.nullable))
        return t
    return table.cast(pa.schema([pa.field(f.name, plain(f.type), f.nullable) for f in table.schema])).to_pylist()


# Readers that see timestamps in microseconds, truncated.
MICROSECOND_READERS = {"DuckDB", "pyiceberg", "DuckDB iceberg_scan"}


def as_read_by(row: dict, reader: str) -> dict:
    """The row as `reader` must read it. DuckDB's timestamps are microseconds: it truncates Parquet's
    nanoseconds (durations are plain 64-bit integers to it). PostgreSQL's timestamp and interval columns
    round to microseconds (docs/SINK.md); inside jsonb both are text and keep their nanoseconds. Iceberg
    v2 has microsecond timestamps only: the Iceberg output truncates nanoseconds (docs/ICEBERG.md)."""
    def walk(v, top: bool):
        if isinstance(v, Ns):
            if reader in MICROSECOND_READERS:
                return Ns(v // 1000 * 1000)
            return Ns((v + 500) // 1000 * 1000) if reader == "psql" and top else v
        if isinstance(v, NsDuration) and reader == "psql" and top:  # an interval column: microseconds
            return NsDuration(round(v / 1000) * 1000)
        if isinstance(v, dict):
            return {k: walk(x, False) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, False) for x in v]
        return v
    return {k: walk(v, True) for k, v in row.items()}


def canon_row(row: dict, schema: pa.Schema, src: str, columns) -> dict:
    out = {}
    for name in columns:
        v = row.get(name)
        if name in schema.names:
            v = canon(v, schema.field(name).type, src)
        if name in JSON_TEXT_COLUMNS and v is not None:
            assert isinstance(v, str), f"{name} is meant to hold JSON text, read {v!r}"
            v = json.loads(v)
        out[name] = v
    return out


def assert_rows(expected: dict, rows: list, src: str, reader: str) -> None:
    """Every event once, every value equal to what was produced. `rows` are (row, Arrow schema of its
    columns) pairs; `expected` maps stream offsets to canonical rows."""
    offsets = sorted(r["_murron_offset"] for r, _ in rows)
    assert offsets == sorted(expected), (
        f"{reader}: {len(rows)} rows for {len(expected)} events; duplicated "
        f"{sorted({o for o in offsets if offsets.count(o) > 1})}, missing {sorted(set(expected) - set(offsets))[:20]}")
    columns = list(next(iter(expected.values())))
    mismatches = []
    for r, schema in rows:
        got, want = canon_row(r, schema, src, columns), as_read_by(expected[r["_murron_offset"]], reader)
        mismatches += [(r["_murron_offset"], c, want[c], got[c]) for c in columns if got[c] != want[c]]
    by_column = {}
    for offset, c, want, got in mismatches:
        by_column.setdefault(c, []).append(f"offset {offset}: produced {want!r}, read {got!r}")
    assert not by_column, f"{reader}: values differ in {len(mismatches)} places:\n" + "\n".join(
        f"  {c} ({len(v)} rows): " + "; ".join(v[:3]) for c, v in by_column.items())


# --- reading the outputs -------------------------------------------------------------------------


def parquet_files(run: Run, kind: str) -> list:
    return sorted((run.out / "data" / "events" / KINDS[kind]).glob("**/*.parquet"))


def unified_schema(run: Run, kind: str) -> pa.Schema:
    files = parquet_files(run, kind)
    assert files, f"no Parquet files for {KINDS[kind]}"
    return pa.unify_schemas([pq.read_schema(f) for f in files])


@pytest.mark.parametrize("kind", KINDS)
def test_parquet_read_by_pyarrow_holds_every_event_once_with_its_values(run, kind):
    rows = []
    for f in parquet_files(run, kind):
        table = pq.read_table(f)
        # A file holds one schema id (docs/SINK.md, "Files"), named in its name and its _schema_id column.
        ids = set(table.column("_schema_id").to_pylist())
        assert len(ids) == 1 and ids <= set(run.schema_ids[kind]), (f, ids)
        assert f.parent.name == "hr=00" and f.parent.parent.name == "dt=2025-11-26", f
        version = run.schema_ids[kind].index(ids.pop()) + 1
        for r in without_timestamps(table):
            assert run.versions[kind].get(r["_murron_offset"]) == version, (f, r["_murron_offset"])
            assert (r["_murron_host"], r["_murron_pid"]) == STREAMS[kind]
            # Each row is read by its file's schema: version 1 files have no column for the new field.
            rows.append((r, table.schema))
    assert_rows(run.expected[kind], rows, "arrow", "pyarrow")


@pytest.mark.parametrize("kind", KINDS)
def test_parquet_read_by_duckdb_holds_every_event_once_with_its_values(run, kind):
    glob = str(run.out / "data" / "events" / KINDS[kind] / "**" / "*.parquet")
    con = duckdb.connect()
    table = con.sql(f"SELECT * FROM read_parquet('{glob}', union_by_name = true)").to_arrow_table()
    assert_rows(run.expected[kind], [(r, table.schema) for r in without_timestamps(table)], "arrow", "DuckDB")
    # DuckDB's own types: 64-bit unsigned integers keep their range; timestamps are instants.
    if kind == "protobuf":
        top, n = con.sql(f"SELECT max(big_counter), count(*) FILTER (WHERE shipped_at >= TIMESTAMPTZ "
                         f"'2025-11-26 00:00:00+00') FROM read_parquet('{glob}', union_by_name = true)").fetchone()
        assert top == 2**64 - 1
        assert n == sum(1 for r in run.expected[kind].values() if r["shipped_at"] is not None)
    else:
        n, = con.sql(f"SELECT count(*) FROM read_parquet('{glob}', union_by_name = true) "
                     f"WHERE quantity = 9007199254740993 AND created_at = TIMESTAMPTZ '2025-11-26 08:30:07.055433+00'"
                     ).fetchone()
        assert n == 1


@pytest.mark.parametrize("kind", KINDS)
def test_jsonl_files_hold_every_event_once_with_its_values(run, kind):
    rows = []
    for f in sorted((run.out / "data" / "jsonl" / KINDS[kind]).glob("**/*.jsonl")):
        rows.extend(json.loads(line) for line in f.read_text().splitlines() if line)
    schema = unified_schema(run, kind)
    assert_rows(run.expected[kind], [(r, schema) for r in rows], "jsonl", "JSON lines")


@pytest.mark.parametrize("kind", KINDS)
def test_warehouse_read_by_psql_holds_every_event_once_with_its_values(run, kind):
    res = psql(run.state_url, f"SELECT row_to_json(t) FROM {warehouse_table(KINDS[kind])} t")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    schema = unified_schema(run, kind)
    assert_rows(run.expected[kind], [(r, schema) for r in rows], "pg", "psql")


# The documented mapping, column by column (docs/SINK.md): Parquet's Arrow type and the warehouse's.
TS = pa.timestamp("us", tz="UTC")
TS_NS = pa.timestamp("ns", tz="UTC")  # google.protobuf.Timestamp keeps its nanoseconds
JSON_TYPES = {
    "order_id": (pa.string(), "text"), "quantity": (pa.int64(), "bigint"), "price": (pa.float64(), "double precision"),
    "paid": (pa.bool_(), "boolean"), "status": (pa.string(), "text"), "created_at": (TS, "timestamp with time zone"),
    "ship_date": (pa.date32(), "date"), "note": (pa.string(), "text"), "ref": (pa.string(), "text"),
    "customer": (pa.struct([("name", pa.string()), ("address", pa.struct([("city", pa.string()),
                                                                           ("zip", pa.string())]))]), "jsonb"),
    "items": (pa.list_(pa.field("item", pa.struct([("sku", pa.string()), ("qty", pa.int64()), ("added_at", TS)]))),
              "jsonb"),
    "tags": (pa.list_(pa.string()), "jsonb"), JSON_NEW_COLUMN: (pa.string(), "text"),
    JSON_EXTRA_COLUMN: (pa.string(), "text"),
}
PB_TYPES = {
    "shipment_id": (pa.string(), "text"), "sequence": (pa.int64(), "bigint"),
    "big_counter": (pa.uint64(), "numeric"), "shipped_at": (TS_NS, "timestamp with time zone"),
    "priority": (pa.string(), "text"),
    "parcels": (pa.list_(pa.field("item", pa.struct([
        ("label", pa.string()), ("weight_g", pa.uint32()),
        ("dims", pa.struct([("length_cm", pa.float64()), ("width_cm", pa.float64())])),
        ("packed_at", TS_NS)]))), "jsonb"),
    "tags": (pa.list_(pa.string()), "jsonb"), "counts": (pa.map_(pa.string(), pa.int32()), "jsonb"),
    "address": (pa.string(), "text"), "locker_id": (pa.int32(), "integer"), "discount": (pa.int64(), "bigint"),
    "note": (pa.string(), "text"), "express": (pa.bool_(), "boolean"), "checksum": (pa.binary(), "bytea"),
    "ratio": (pa.float32(), "real"), "delta": (pa.int32(), "integer"), PB_NEW_COLUMN: (pa.string(), "text"),
    "took": (pa.duration("ns"), "interval"), "names_by_id": (pa.map_(pa.int64(), pa.string()), "jsonb"),
    "flags": (pa.map_(pa.bool_(), pa.int32()), "jsonb"),
}


def same_arrow_type(got: pa.DataType, want: pa.DataType) -> bool:
    """Equal up to field names of lists and maps and dictionary encoding of strings."""
    if pa.types.is_dictionary(got):
        got = got.value_type
    if pa.types.is_timestamp(want):
        return pa.types.is_timestamp(got) and got.unit == want.unit and got.tz in ("UTC", "+00:00")
    if pa.types.is_struct(want):  # fields in any order
        fields = {f.name: f.type for f in got} if pa.types.is_struct(got) else {}
        return set(fields) == {f.name for f in want} and all(same_arrow_type(fields[f.name], f.type) for f in want)
    if pa.types.is_list(want):
        return pa.types.is_list(got) and same_arrow_type(got.value_type, want.value_type)
    if pa.types.is_map(want):
        return pa.types.is_map(got) and same_arrow_type(got.key_type, want.key_type) and same_arrow_type(
            got.item_type, want.item_type)
    return got == want


@pytest.mark.parametrize("kind", KINDS)
def test_columns_have_the_documented_types_in_parquet_and_the_warehouse(run, kind):
    want = JSON_TYPES if kind == "json" else PB_TYPES
    schema = unified_schema(run, kind)
    assert set(schema.names) - METADATA == set(want), "payload columns"
    wrong = {c: str(schema.field(c).type) for c, (t, _) in want.items() if not same_arrow_type(schema.field(c).type, t)}
    assert not wrong, f"Parquet types differ from the mapping: {wrong}"
    table = warehouse_table(KINDS[kind])
    res = psql(run.state_url, "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                              f"WHERE table_schema || '.' || table_name = '{table}'")
    assert res.returncode == 0, res.stderr
    columns = {name: (data_type, nullable) for name, data_type, nullable in
               (line.split("|") for line in res.stdout.splitlines())}
    assert set(columns) - METADATA == set(want), "warehouse columns"
    wrong = {c: columns[c][0] for c, (_, pg) in want.items() if columns[c][0] != pg}
    assert not wrong, f"warehouse types differ from the mapping: {wrong}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_new_version_adds_a_nullable_column_that_older_rows_read_as_null(run, kind):
    new = JSON_NEW_COLUMN if kind == "json" else PB_NEW_COLUMN
    table = warehouse_table(KINDS[kind])
    res = psql(run.state_url, "SELECT data_type, is_nullable FROM information_schema.columns "
                              f"WHERE table_schema || '.' || table_name = '{table}' AND column_name = '{new}'")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "text|YES", f"column {new} of {table}: {res.stdout!r}"
    res = psql(run.state_url, f"SELECT _murron_offset, _schema_id, {new} FROM {table}")
    assert res.returncode == 0, res.stderr
    v1, v2 = run.schema_ids[kind]
    seen = {1: 0, 2: 0}
    for line in res.stdout.splitlines():
        offset, schema_id, value = line.split("|")
        version = run.versions[kind][int(offset)]
        assert int(schema_id) == (v1 if version == 1 else v2), line
        want = run.expected[kind][int(offset)][new]
        assert (value or None) == want, f"offset {offset} (version {version}): {new} = {value!r}, produced {want!r}"
        seen[version] += 1
    assert seen == {1: V1_EVENTS + LATE_V1_EVENTS, 2: V2_EVENTS}
    # Late version 1 events, written after the column was added, read NULL there too.
    assert all(run.expected[kind][o][new] is None for o, v in run.versions[kind].items() if v == 1)


@pytest.mark.parametrize("kind", KINDS)
def test_invalid_payloads_are_dead_letters_with_their_reasons(run, kind):
    letters = dead_letters(run.out, run.topic)
    want = {value: case for value, case in run.invalid.items() if case[0] == kind}
    got = {}
    for d in letters:
        value = base64.b64decode(d["value_base64"])
        assert run.valid.get(value) != kind, f"a valid event was dead-lettered: {d['reason']}: {d['detail']}"
        case = run.invalid.get(value)
        if case is not None and case[0] == kind:
            assert value not in got, f"{case[1]} dead-lettered twice"
            got[value] = d
    missing = [want[v][1] for v in want if v not in got]
    assert not missing, f"not dead-lettered: {missing}"
    wrong = {}
    for value, d in got.items():
        _, name, reason, detail = want[value]
        if d["reason"] != reason or not d["detail"].startswith(detail):
            wrong[name] = f"{d['reason']}: {d['detail']} (wanted {reason}: {detail}…)"
    assert not wrong, "dead letters with other reasons than documented:\n" + "\n".join(
        f"  {k}: {v}" for k, v in wrong.items())


def test_the_dead_letters_are_the_invalid_payloads_and_the_metrics_count_them(run):
    letters = dead_letters(run.out, run.topic)
    reasons = sorted({d["reason"] for d in letters})
    assert sorted(base64.b64decode(d["value_base64"]) for d in letters) == sorted(run.invalid), (
        f"{len(letters)} dead letters ({reasons}) for {len(run.invalid)} invalid payloads")
    assert f'murron_sink_invalid_total{{pipeline="formats",reason="invalid_payload"}} {len(run.invalid)}' in run.metrics
    valid = sum(len(e) for e in run.expected.values())
    assert f'murron_sink_valid_total{{pipeline="formats"}} {valid}' in run.metrics


def test_inspect_validates_json_schema_and_protobuf_payloads_as_the_sink_does(run):
    """`sink-worker inspect` resolves and validates payloads of every kind with the sink's schema cache
    and reason codes (it used to read every payload as Avro)."""
    valid = sum(len(e) for e in run.expected.values())
    assert f"{run.topic}: {valid + len(run.invalid)} records, {valid} valid, {len(run.invalid)} invalid" in run.inspect, (
        run.inspect)
    assert re.search(rf"invalid\s+invalid_payload\s+{len(run.invalid)}\n", run.inspect), run.inspect
    for kind, (host, pid) in STREAMS.items():
        row = next((line.split() for line in run.inspect.splitlines() if f" {host} " in line), None)
        assert row == [KINDS[kind], host, str(pid), str(len(run.expected[kind])), str(len(run.expected[kind]) - 1),
                       "0", "0"], run.inspect


# --- the Iceberg output --------------------------------------------------------------------------


def iceberg_name(kind: str) -> str:
    return "events." + re.sub(r"[^a-z0-9_]", "_", KINDS[kind])


def catalog(run: Run):
    return iceberg_readers.pyiceberg_catalog("murron", run.state_url, s3_endpoint=S3_ENDPOINT,
                                             s3_access_key=S3_ACCESS_KEY, s3_secret_key=S3_SECRET_KEY)


@pytest.mark.parametrize("kind", KINDS)
def test_iceberg_read_by_pyiceberg_holds_every_event_once_with_its_values(run, kind):
    table = iceberg_readers.read_pyiceberg(catalog(run), iceberg_name(kind))
    assert_rows(run.expected[kind], [(r, table.schema) for r in without_timestamps(table)], "arrow", "pyiceberg")


@pytest.mark.parametrize("kind", KINDS)
def test_iceberg_read_by_duckdb_holds_every_event_once_with_its_values(run, kind):
    namespace, name = iceberg_name(kind).split(".")
    location = iceberg_readers.metadata_location(run.state_url, "murron", namespace, name)
    assert location.startswith(f"s3://{run.bucket}/w/events/{name}/metadata/"), location
    con = iceberg_readers.duckdb_connection(S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY)
    table = iceberg_readers.read_duckdb(con, location)
    assert_rows(run.expected[kind], [(r, table.schema) for r in without_timestamps(table)], "arrow",
                "DuckDB iceberg_scan")


@pytest.mark.parametrize("kind", KINDS)
def test_the_new_version_adds_an_iceberg_column_with_a_new_field_id(run, kind):
    new = JSON_NEW_COLUMN if kind == "json" else PB_NEW_COLUMN
    table = catalog(run).load_table(iceberg_name(kind))
    schemas = table.schemas()
    first = schemas[min(schemas)]
    assert new not in first.column_names and new in table.schema().column_names
    assert table.schema().find_field(new).field_id > first.highest_field_id
    assert not table.schema().find_field(new).required
    # Columns keep their ids across versions: Parquet files of either version resolve by id.
    for f in first.fields:
        assert table.schema().find_field(f.name).field_id == f.field_id, f.name
    rows = table.scan(selected_fields=("_murron_offset", new)).to_arrow().to_pylist()
    nulls = sum(1 for r in rows if r[new] is None)
    assert nulls == sum(1 for o, v in run.versions[kind].items() if v == 1 or run.expected[kind][o][new] is None)


def test_iceberg_types_keep_the_range_and_the_instant_of_each_value(run):
    schema = catalog(run).load_table(iceberg_name("protobuf")).schema()
    types = {f.name: str(f.field_type) for f in schema.fields}
    assert types["big_counter"] == "decimal(20, 0)", types
    assert types["shipped_at"] == "timestamptz" and types["_murron_timestamp"] == "timestamptz", types
    assert types["took"] == "long" and types["priority"] == "string", types
    assert types["counts"] == "map<string, int>", types


def test_every_iceberg_snapshot_names_its_pipeline_batch_and_kafka_offsets(run):
    """The audit trail: each append's summary says which pipeline wrote which batch from which offsets,
    and the offsets of all snapshots of both tables together cover the topic without overlap."""
    ranges = {}
    for kind in KINDS:
        table = catalog(run).load_table(iceberg_name(kind))
        total = 0
        for snap in table.snapshots():
            summary = snap.summary
            assert summary.operation.value == "append"
            assert summary["murron.pipeline"] == "formats"
            assert re.fullmatch(r"\d{13}-[0-9a-f]{8}-\d{6}", summary["murron.batch-id"]), summary["murron.batch-id"]
            for source in summary["murron.sources"].split(";"):
                topic, partition, span = source.rsplit(":", 2)
                start, end = map(int, span.split("-"))
                assert topic == run.topic and 0 <= start < end, source
                ranges.setdefault((int(partition), start, end), set()).add(summary["murron.batch-id"])
            total += int(summary["added-records"])
        assert total == len(run.expected[kind])
    # A batch holding both kinds names the same offsets in both tables; different batches never overlap.
    by_partition = {}
    for (partition, start, end), batches in ranges.items():
        assert len(batches) == 1, (partition, start, end, batches)
        by_partition.setdefault(partition, []).append((start, end))
    for spans in by_partition.values():
        spans.sort()
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:])), spans


def test_the_read_only_rest_catalog_serves_the_same_tables_behind_a_token(run):
    """`sink-worker iceberg-rest` over the same catalog: pyiceberg's RestCatalog, attached with a bearer
    token and no database credentials, lists and reads the tables; a wrong token and any change are
    refused."""
    from pyiceberg.catalog.rest import RestCatalog
    from pyiceberg.exceptions import ForbiddenError, NoSuchTableError, UnauthorizedError

    port, token = free_port(), uuid.uuid4().hex
    env = dict(os.environ, SINK_WORKER_STATE__URL=run.state_url, SINK_WORKER_ICEBERG_REST__TOKEN=token,
               SINK_WORKER_ICEBERG_REST__LISTEN=f"127.0.0.1:{port}", RUST_LOG="warn")
    proc = subprocess.Popen([binary("sink-worker"), "--config", str(run.out / "sink.toml"), "iceberg-rest"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    break
            except OSError:
                assert proc.poll() is None, f"sink-worker iceberg-rest exited with {proc.returncode}"
                assert time.time() < deadline, "the REST catalog did not start"
                time.sleep(0.2)
        s3 = {"s3.endpoint": S3_ENDPOINT, "s3.access-key-id": S3_ACCESS_KEY, "s3.secret-access-key": S3_SECRET_KEY,
              "s3.region": "us-east-1", "s3.force-virtual-addressing": "false"}
        rest = RestCatalog("murron", uri=url, token=token, **s3)
        assert rest.list_namespaces() == [("events",)]
        assert sorted(rest.list_tables("events")) == sorted(("events", iceberg_name(k).split(".")[1]) for k in KINDS)
        for kind in KINDS:
            via_rest = rest.load_table(iceberg_name(kind))
            via_sql = catalog(run).load_table(iceberg_name(kind))
            assert via_rest.metadata_location == via_sql.metadata_location
            table = via_rest.scan().to_arrow()
            assert_rows(run.expected[kind], [(r, table.schema) for r in without_timestamps(table)], "arrow",
                        "pyiceberg")
        with pytest.raises(NoSuchTableError):
            rest.load_table("events.nothing_here")
        with pytest.raises(ForbiddenError):
            rest.create_namespace("intruder")
        with pytest.raises(ForbiddenError):
            rest.drop_table(iceberg_name("json"))
        with pytest.raises(UnauthorizedError):
            RestCatalog("murron", uri=url, token="not-" + token, **s3).list_namespaces()
        req = urllib.request.Request(f"{url}/v1/namespaces")
        with pytest.raises(urllib.error.HTTPError) as no_token:
            urllib.request.urlopen(req, timeout=5)
        assert no_token.value.code == 401
        assert json.loads(no_token.value.read())["error"]["type"] == "NotAuthorizedException"
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
