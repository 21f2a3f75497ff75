"""JSON Schema and Protobuf through our schema registry, driven by clients no one here wrote:
confluent_kafka's JSONSerializer/JSONDeserializer and ProtobufSerializer/ProtobufDeserializer, with
records produced to and consumed from real Kafka. Every assertion states what Confluent's registry
answers (docs.confluent.io, Schema Registry API reference and serdes pages), so a failure here is
either a broken test or a place where we are not a drop-in replacement.

The Protobuf classes are generated at test time from `.proto` files with grpcio-tools' bundled protoc,
as a user's build would generate them. Each test writes its files under a package of its own
(`p<hex>/`), because protobuf's default descriptor pool is one per process and refuses a second,
different file of the same name.

As in test_registry_interop.py, answers that must come from the server are read with a fresh
SchemaRegistryClient: the client caches ids, versions and schemas."""

import base64
import copy
import importlib
import importlib.resources
import json
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
from google.protobuf import descriptor_pb2, descriptor_pool, timestamp_pb2
from grpc_tools import protoc

from test_registry_interop import client, consume, create_topic, expect_error, produce, rest, schema_id_of

DRAFT7 = "http://json-schema.org/draft-07/schema#"
DRAFT2020 = "https://json-schema.org/draft/2020-12/schema"


# --- helpers -------------------------------------------------------------------------------------


def value_ctx(topic: str) -> SerializationContext:
    return SerializationContext(topic, MessageField.VALUE)


def json_schema(schema: dict, references=None) -> Schema:
    return Schema(json.dumps(schema), "JSON", references=references or [])


def framed(schema_id: int, payload: bytes) -> bytes:
    """Confluent's wire format by hand: magic byte 0, the schema id, then the payload."""
    return b"\0" + schema_id.to_bytes(4, "big") + payload


def subject_path(subject: str) -> str:
    """A subject inside a URL path: Protobuf reference subjects are file paths, `/` included."""
    return urllib.parse.quote(subject, safe="")


def get(url: str, path: str) -> dict:
    status, body = rest(url, "GET", path)
    assert status == 200, f"GET {path}: {status} {body}"
    return body


def get_raw(url: str, path: str) -> str:
    """The body of a GET as text: the `/schema` endpoints answer a schema document, not a JSON answer."""
    with urllib.request.urlopen(url + path, timeout=10) as r:
        assert r.status == 200, f"GET {path}: {r.status}"
        return r.read().decode()


def round_trip_json(registry_url: str, kafka: str, topic: str, serializer: JSONSerializer, values: list) -> list:
    """Serializes, produces, consumes and deserializes `values` with a registry-backed deserializer;
    returns the consumed raw messages."""
    produce(kafka, topic, [serializer(v, value_ctx(topic)) for v in values])
    messages = consume(kafka, topic, len(values))
    deserializer = JSONDeserializer(None, schema_registry_client=client(registry_url))
    assert [deserializer(m.value(), value_ctx(topic)) for m in messages] == values
    return messages


# --- JSON Schema ---------------------------------------------------------------------------------

PERSON = {
    "$schema": DRAFT7, "title": "Person", "type": "object",
    "properties": {
        "id": {"type": "string"},
        "age": {"type": "integer", "minimum": 0},
        "score": {"type": "number"},
        "active": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "nickname": {"type": ["string", "null"]},
    },
    "required": ["id", "age"],
    "additionalProperties": False,
}


def people(n: int) -> list:
    return [{"id": f"p-{i}", "age": 20 + i, "score": i / 4, "active": i % 2 == 0,
             "tags": [f"t{j}" for j in range(i % 3)], "nickname": None if i % 2 else f"nick {i}"}
            for i in range(n)]


def with_property(schema: dict, name: str, prop: dict, required: bool = False) -> dict:
    out = copy.deepcopy(schema)
    out["properties"][name] = prop
    if required:
        out["required"] = out["required"] + [name]
    return out


def test_json_serializer_auto_registers_a_draft_7_schema_and_records_round_trip_through_kafka(registry_url, kafka):
    """The serializer registers the schema with schemaType JSON under {topic}-value; Confluent serves
    it back by id and version with schemaType JSON, and the deserializer validates each record against
    the schema the registry serves for the record's id."""
    topic = create_topic(kafka)
    values = people(12)
    messages = round_trip_json(registry_url, kafka, topic, JSONSerializer(json.dumps(PERSON), client(registry_url)),
                               values)

    latest = client(registry_url).get_latest_version(f"{topic}-value")
    assert (latest.version, latest.schema.schema_type) == (1, "JSON")
    assert json.loads(latest.schema.schema_str) == PERSON
    assert {schema_id_of(m.value()) for m in messages} == {latest.schema_id}
    by_id = client(registry_url).get_schema(latest.schema_id)
    assert by_id.schema_type == "JSON" and json.loads(by_id.schema_str) == PERSON
    assert "JSON" in client(registry_url).get_schema_types()

    # A record that breaks the served schema is refused by the deserializer: it validates with what the
    # registry answered for the id, `required` and `additionalProperties` included.
    deserializer = JSONDeserializer(None, schema_registry_client=client(registry_url))
    for bad in ({"id": "x"}, {"id": "x", "age": 1, "extra": True}, {"id": "x", "age": -1}):
        with pytest.raises(SerializationError):
            deserializer(framed(latest.schema_id, json.dumps(bad).encode()), value_ctx(topic))


READING_2020 = {
    "$schema": DRAFT2020, "title": "Reading", "type": "object",
    "$defs": {
        "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "items": False},
    },
    "properties": {
        "sensor": {"type": "string", "minLength": 1},
        "at": {"$ref": "#/$defs/point"},
        "unit": {"enum": ["C", "F"]},
        "limits": {"type": "object", "dependentRequired": {"low": ["high"]}},
    },
    "required": ["sensor", "at"],
    "unevaluatedProperties": False,
}


def test_json_serializer_with_a_2020_12_schema_round_trips_and_the_served_schema_keeps_its_draft(registry_url, kafka):
    """Confluent accepts JSON Schema 2020-12 (`$schema` picks the draft). `prefixItems`, `$defs`,
    `dependentRequired` and `unevaluatedProperties` only mean something to a 2020-12 validator, so the
    deserializer refusing records that break them shows the served schema kept its draft and keywords."""
    topic = create_topic(kafka)
    values = [{"sensor": f"s{i}", "at": [i * 1.5, -i], "unit": ["C", "F"][i % 2],
               "limits": {"low": i, "high": i + 10} if i % 2 else {}} for i in range(8)]
    serializer = JSONSerializer(json.dumps(READING_2020), client(registry_url))
    messages = round_trip_json(registry_url, kafka, topic, serializer, values)

    schema_id = client(registry_url).get_latest_version(f"{topic}-value").schema_id
    assert {schema_id_of(m.value()) for m in messages} == {schema_id}
    served = client(registry_url).get_schema(schema_id)
    assert served.schema_type == "JSON" and json.loads(served.schema_str) == READING_2020

    deserializer = JSONDeserializer(None, schema_registry_client=client(registry_url))
    for bad in ({"sensor": "s", "at": [1, 2, 3]},  # items: false after prefixItems
                {"sensor": "s", "at": [1, "two"]},  # prefixItems
                {"sensor": "s", "at": [1, 2], "limits": {"low": 1}},  # dependentRequired
                {"sensor": "s", "at": [1, 2], "other": 1}):  # unevaluatedProperties
        with pytest.raises(SerializationError):
            deserializer(framed(schema_id, json.dumps(bad).encode()), value_ctx(topic))


def test_json_serializer_refuses_an_object_that_violates_the_schema(registry_url):
    """Validation is the serializer's own (jsonschema), before anything is produced; it also holds for a
    serializer that found its schema in our registry with use.latest.version."""
    topic = f"refused-{uuid.uuid4().hex[:10]}"
    serializer = JSONSerializer(json.dumps(PERSON), client(registry_url))
    serializer(people(1)[0], value_ctx(topic))
    for bad in ({"id": "x"}, {"id": 7, "age": 1}, {"id": "x", "age": 1, "unknown": 1}, {"id": "x", "age": -3}):
        with pytest.raises(SerializationError):
            serializer(bad, value_ctx(topic))

    latest = JSONSerializer(None, client(registry_url),
                            conf={"auto.register.schemas": False, "use.latest.version": True})
    assert schema_id_of(latest(people(2)[1], value_ctx(topic))) == client(registry_url).get_latest_version(
        f"{topic}-value").schema_id
    with pytest.raises(SerializationError):
        latest({"id": "x", "age": "old"}, value_ctx(topic))

    # A schema that is not valid JSON Schema is the registry's to refuse: Confluent answers 42201.
    broken = JSONSerializer(json.dumps({"$schema": DRAFT7, "type": "objekt"}), client(registry_url))
    with pytest.raises(SchemaRegistryError) as info:
        broken({"id": "x"}, value_ctx(f"broken-{uuid.uuid4().hex[:10]}"))
    assert (info.value.http_status_code, info.value.error_code) == (422, 42201), str(info.value)


def test_json_schema_evolves_with_an_optional_property_and_refuses_a_breaking_change(registry_url, kafka):
    """Under BACKWARD (Confluent's default) and the STRICT policy, an optional property added to a closed
    content model (`additionalProperties: false`) is compatible (OPTIONAL_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL).
    A property whose type changes (TYPE_CHANGED) or a new required property without a default
    (REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL) is not: registration answers 409."""
    topic = create_topic(kafka)
    subject = f"{topic}-value"
    v1_values = people(5)
    produce(kafka, topic, [JSONSerializer(json.dumps(PERSON), client(registry_url))(v, value_ctx(topic))
                           for v in v1_values])

    v2 = with_property(PERSON, "email", {"type": "string"})
    assert client(registry_url).test_compatibility(subject, json_schema(v2)) is True
    v2_values = [dict(p, email=f"{p['id']}@example.com") for p in people(4)]
    produce(kafka, topic, [JSONSerializer(json.dumps(v2), client(registry_url))(v, value_ctx(topic))
                           for v in v2_values])
    assert client(registry_url).get_versions(subject) == [1, 2]
    id1 = client(registry_url).get_version(subject, 1).schema_id
    id2 = client(registry_url).get_version(subject, 2).schema_id
    assert id1 != id2

    messages = consume(kafka, topic, len(v1_values) + len(v2_values))
    assert [schema_id_of(m.value()) for m in messages] == [id1] * len(v1_values) + [id2] * len(v2_values)
    deserializer = JSONDeserializer(None, schema_registry_client=client(registry_url))
    assert [deserializer(m.value(), value_ctx(topic)) for m in messages] == v1_values + v2_values

    retyped = copy.deepcopy(v2)
    retyped["properties"]["age"] = {"type": "string"}
    required_added = with_property(v2, "country", {"type": "string"}, required=True)
    for breaking in (retyped, required_added):
        assert client(registry_url).test_compatibility(subject, json_schema(breaking)) is False
        with pytest.raises(SchemaRegistryError) as info:
            JSONSerializer(json.dumps(breaking), client(registry_url))(v2_values[0], value_ctx(topic))
        assert (info.value.http_status_code, info.value.error_code) == (409, 409), str(info.value)
    assert client(registry_url).get_versions(subject) == [1, 2]


OPEN_PERSON = {k: v for k, v in PERSON.items() if k != "additionalProperties"}


def test_json_compatibility_policy_lenient_accepts_an_optional_property_on_an_open_model(registry_url, kafka):
    """Confluent's STRICT policy (the default) refuses an optional property added to an open content
    model (OPTIONAL_PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL: old data may hold that property with any
    value); `PUT /config/{subject}` with `{"compatibilityPolicy": "LENIENT"}` accepts it. A type change
    is refused under both. The Python client's ServerConfig has no compatibility_policy field
    (confluent-kafka 2.16.1), so the policy is set over plain HTTP."""
    topic = create_topic(kafka)
    subject = f"{topic}-value"
    v1_values = people(3)
    produce(kafka, topic, [JSONSerializer(json.dumps(OPEN_PERSON), client(registry_url))(v, value_ctx(topic))
                           for v in v1_values])

    v2 = with_property(OPEN_PERSON, "email", {"type": "string"})
    v2_values = [dict(p, email="a@b.c") for p in people(3)]
    with pytest.raises(SchemaRegistryError) as info:
        JSONSerializer(json.dumps(v2), client(registry_url))(v2_values[0], value_ctx(topic))
    assert (info.value.http_status_code, info.value.error_code) == (409, 409), str(info.value)

    assert rest(registry_url, "PUT", f"/config/{subject}", {"compatibilityPolicy": "LENIENT"}) == (
        200, {"compatibilityPolicy": "LENIENT"})
    assert get(registry_url, f"/config/{subject}?defaultToGlobal=true") == {
        "compatibilityLevel": "BACKWARD", "compatibilityPolicy": "LENIENT"}

    assert client(registry_url).test_compatibility(subject, json_schema(v2)) is True
    v2_serializer = JSONSerializer(json.dumps(v2), client(registry_url))
    produce(kafka, topic, [v2_serializer(v, value_ctx(topic)) for v in v2_values])
    assert client(registry_url).get_versions(subject) == [1, 2]
    messages = consume(kafka, topic, len(v1_values) + len(v2_values))
    deserializer = JSONDeserializer(None, schema_registry_client=client(registry_url))
    assert [deserializer(m.value(), value_ctx(topic)) for m in messages] == v1_values + v2_values

    retyped = copy.deepcopy(v2)
    retyped["properties"]["age"] = {"type": "string"}
    expect_error(409, 409, client(registry_url).register_schema, subject, json_schema(retyped))

    # Without defaultToGlobal, Confluent answers the subject's own config (ConfigResource), whose
    # empty fields Config omits: a policy and no level. The client reads it, ignoring the policy.
    assert get(registry_url, f"/config/{subject}") == {"compatibilityPolicy": "LENIENT"}
    assert client(registry_url).get_config(subject).compatibility_level is None


ADDRESS = {
    "$schema": DRAFT7, "title": "Address", "type": "object",
    "properties": {"street": {"type": "string"}, "city": {"type": "string"},
                   "zip": {"type": "string", "pattern": "^[0-9]{5}$"}},
    "required": ["city"],
}
CUSTOMER = {
    "$schema": DRAFT7, "title": "Customer", "type": "object",
    "properties": {"name": {"type": "string"}, "home": {"$ref": "address.json"}, "work": {"$ref": "address.json"}},
    "required": ["name", "home"],
}


def test_json_schema_referencing_another_subject_round_trips_through_kafka(registry_url, kafka):
    """A JSON schema `$ref`s another subject's schema through `references` (name = the `$ref` URL).
    Confluent answers the references with the schema, lists the referencing id under the referenced
    version's referencedby, and the serdes fetch the referenced schema from the registry to validate."""
    address_subject = f"address-{uuid.uuid4().hex[:10]}"
    address_id = client(registry_url).register_schema(address_subject, json_schema(ADDRESS))
    ref = SchemaReference("address.json", address_subject, 1)

    topic = create_topic(kafka)
    subject = f"{topic}-value"
    serializer = JSONSerializer(json_schema(CUSTOMER, [ref]), client(registry_url))
    values = [{"name": f"c{i}", "home": {"city": f"City {i}", "zip": f"{10000 + i}"}}
              | ({"work": {"street": "Main St", "city": "Work"}} if i % 2 else {}) for i in range(6)]
    messages = round_trip_json(registry_url, kafka, topic, serializer, values)

    v1 = client(registry_url).get_version(subject, 1)
    assert v1.schema.schema_type == "JSON" and v1.schema.references == [ref]
    assert json.loads(v1.schema.schema_str) == CUSTOMER
    assert v1.schema_id != address_id
    assert {schema_id_of(m.value()) for m in messages} == {v1.schema_id}
    assert client(registry_url).get_schema(v1.schema_id).references == [ref]
    assert client(registry_url).get_referenced_by(address_subject, 1) == [v1.schema_id]

    # Both serdes apply the referenced schema, which only the registry could have given them.
    for bad in ({"name": "x", "home": {"street": "no city"}}, {"name": "x", "home": {"city": "c", "zip": "12"}}):
        with pytest.raises(SerializationError):
            serializer(bad, value_ctx(topic))
        with pytest.raises(SerializationError):
            JSONDeserializer(None, schema_registry_client=client(registry_url))(
                framed(v1.schema_id, json.dumps(bad).encode()), value_ctx(topic))
    # The referenced version cannot go while it is referenced (42206).
    expect_error(422, 42206, client(registry_url).delete_version, address_subject, 1)


# --- Protobuf: generated classes -----------------------------------------------------------------

WELL_KNOWN = str(importlib.resources.files("grpc_tools") / "_proto")


class Protos:
    """`.proto` files written under a fresh package directory, compiled with grpcio-tools' protoc into
    Python modules importable for the rest of the test."""

    def __init__(self, tmp_path: Path, monkeypatch, files: dict):
        self.pkg = "p" + uuid.uuid4().hex[:10]
        self.src = tmp_path / "proto"
        self.tmp = tmp_path
        out = tmp_path / "gen"
        out.mkdir()
        for name, text in files.items():
            path = self.src / self.path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("PKG", self.pkg))
        names = [self.path(n) for n in files]
        rc = protoc.main(["protoc", f"-I{self.src}", f"-I{WELL_KNOWN}", f"--python_out={out}", *names])
        assert rc == 0, f"protoc failed on {names}"
        monkeypatch.syspath_prepend(str(out))

    def path(self, name: str) -> str:
        """The import path of one of our files: `p<hex>/<name>`."""
        return f"{self.pkg}/{name}"

    def module(self, name: str):
        return importlib.import_module(f"{self.pkg}.{name.removesuffix('.proto')}_pb2")

    def descriptor(self, name: str, src: Path | None = None) -> descriptor_pb2.FileDescriptorProto:
        """The FileDescriptorProto protoc makes of one file (under `src`, default the originals)."""
        out = self.tmp / f"set-{uuid.uuid4().hex[:6]}.pb"
        rc = protoc.main(["protoc", f"-I{src or self.src}", f"-I{self.src}", f"-I{WELL_KNOWN}",
                          f"--descriptor_set_out={out}", name])
        assert rc == 0, f"protoc failed on {name} under {src or self.src}"
        files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file
        assert len(files) == 1
        return files[0]

    def compile_served(self, name: str, text: str) -> descriptor_pb2.FileDescriptorProto:
        """Compiles `.proto` text served by the registry, next to the originals it may import."""
        served = self.tmp / f"served-{uuid.uuid4().hex[:6]}"
        (served / self.pkg).mkdir(parents=True)
        target = f"{self.pkg}/served_{name}"
        (served / target).write_text(text)
        return self.descriptor(target, served)


def fields_by_number(fdp: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """A copy without the file name, with every message's fields in field-number order: a printer may
    write fields in another order without changing the schema, but never messages (message indexes
    in the wire format count them)."""
    out = descriptor_pb2.FileDescriptorProto()
    out.CopyFrom(fdp)
    out.ClearField("name")

    def sort(messages):
        for m in messages:
            fields = sorted(m.field, key=lambda f: f.number)
            del m.field[:]
            m.field.extend(fields)
            sort(m.nested_type)
    sort(out.message_type)
    return out


def message_names(messages, prefix: str) -> list:
    """Every message's full name, parents before their nested messages, in declaration order."""
    out = []
    for m in messages:
        out.append(f"{prefix}.{m.name}")
        out.extend(message_names(m.nested_type, f"{prefix}.{m.name}"))
    return out


def field_summary(desc) -> list:
    """What the wire format depends on, for each field of a message Descriptor."""
    return sorted((f.name, f.number, f.type, f.is_repeated,
                   f.message_type.full_name if f.message_type else f.enum_type.full_name if f.enum_type else None)
                  for f in desc.fields)


def served_descriptor(registry_url: str, schema_id: int) -> descriptor_pb2.FileDescriptorProto:
    body = get(registry_url, f"/schemas/ids/{schema_id}?format=serialized")
    assert body.get("schemaType") == "PROTOBUF", body
    return descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(body["schema"], validate=True))


def assert_serialized_form_matches(registry_url: str, schema_id: int, original,
                                   deps: list) -> descriptor_pb2.FileDescriptorProto:
    """`format=serialized` answers the base64 FileDescriptorProto Confluent builds for the schema
    (ProtobufSchema.formattedString: toDynamicSchema() names the file "default"), with the original's
    imports as dependencies and its messages in the original order. Loaded into a descriptor pool next to
    those dependencies, as the Python deserializer does, every message has the original's fields."""
    served = served_descriptor(registry_url, schema_id)
    assert served.name == "default"
    assert list(served.dependency) == [d.name for d in original.dependencies]
    assert served.package == original.package
    assert message_names(served.message_type, served.package) == message_names(
        descriptor_pb2.FileDescriptorProto.FromString(original.serialized_pb).message_type, original.package)

    pool = descriptor_pool.DescriptorPool()
    for dep in deps:
        pool.AddSerializedFile(dep.serialized_pb)
    pool.Add(served)
    for name in message_names(served.message_type, served.package):
        mine = original.pool.FindMessageTypeByName(name)
        assert field_summary(pool.FindMessageTypeByName(name)) == field_summary(mine), name
    return served


def round_trip_protobuf(registry_url: str, kafka: str, topic: str, messages: list, conf=None) -> list:
    """Serializes each message with a ProtobufSerializer for its class, produces, consumes, and
    deserializes with a registry-backed ProtobufDeserializer; returns the consumed raw messages."""
    serializers = {}
    values = []
    for m in messages:
        cls = type(m)
        if cls not in serializers:
            serializers[cls] = ProtobufSerializer(cls, client(registry_url), conf)
        values.append(serializers[cls](m, value_ctx(topic)))
    produce(kafka, topic, values)
    consumed = consume(kafka, topic, len(messages))
    decoded = [ProtobufDeserializer(type(m), schema_registry_client=client(registry_url))(c.value(), value_ctx(topic))
               for m, c in zip(messages, consumed)]
    assert decoded == messages
    return consumed


def message_indexes(value: bytes) -> list:
    """The message indexes after the schema id: zigzag varints, a count then the path; a lone 0 is [0]."""
    pos = 5

    def varint():
        nonlocal pos
        shift = result = 0
        while True:
            byte = value[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return (result >> 1) ^ -(result & 1)
    count = varint()
    return [0] if count == 0 else [varint() for _ in range(count)]


def message_at(fdp: descriptor_pb2.FileDescriptorProto, indexes: list) -> str:
    """The full name of the message a path of message indexes designates in a file."""
    messages, name = fdp.message_type, fdp.package
    for i in indexes:
        assert 0 <= i < len(messages), f"message index {indexes} out of range in {fdp.name}"
        name, messages = f"{name}.{messages[i].name}", messages[i].nested_type
    return name


# --- Protobuf: tests -----------------------------------------------------------------------------

READING_PROTO = """syntax = "proto3";
package murron.PKG;

import "google/protobuf/timestamp.proto";

message Reading {
  enum Kind {
    KIND_UNSPECIFIED = 0;
    TEMPERATURE = 1;
    HUMIDITY = 2;
  }
  string sensor = 1;
  double value = 2;
  google.protobuf.Timestamp at = 3;
  map<string, string> labels = 4;
  repeated sint64 samples = 5;
  Kind kind = 6;
  optional string note = 7;
  oneof source {
    string device = 8;
    int32 channel = 9;
  }
  bytes raw = 10;
}
"""


def test_protobuf_message_importing_a_well_known_type_round_trips_and_is_served_as_text_and_descriptor(
        registry_url, kafka, tmp_path, monkeypatch):
    """The serializer registers the file as a base64 FileDescriptorProto. google/protobuf/*.proto are
    built into Confluent's registry, so the serializer skips them (skip.known.types) and the schema has
    no references. GET /schemas/ids/{id} answers `.proto` text, which protoc compiles to the same
    schema; the same `.proto` text registered under another subject gets the same id."""
    protos = Protos(tmp_path, monkeypatch, {"reading.proto": READING_PROTO})
    pb = protos.module("reading.proto")
    values = []
    for i in range(10):
        r = pb.Reading(sensor=f"s{i}", value=i * 0.5, labels={f"k{j}": f"v{j}" for j in range(i % 3)},
                       samples=[-i, i, 2**40 + i], kind=i % 3, raw=bytes(range(i)))
        r.at.FromSeconds(1_700_000_000 + i)
        r.at.nanos = i * 1000
        if i % 2:
            r.note = f"note {i}"
            r.device = f"dev{i}"
        else:
            r.channel = i
        values.append(r)

    topic = create_topic(kafka)
    subject = f"{topic}-value"
    consumed = round_trip_protobuf(registry_url, kafka, topic, values)

    latest = client(registry_url).get_latest_version(subject)
    assert (latest.version, latest.schema.schema_type, latest.schema.references) == (1, "PROTOBUF", [])
    assert {schema_id_of(m.value()) for m in consumed} == {latest.schema_id}
    assert client(registry_url).get_subjects() == [subject]
    assert [message_indexes(m.value()) for m in consumed] == [[0]] * len(values)

    by_id = get(registry_url, f"/schemas/ids/{latest.schema_id}")
    assert by_id.get("schemaType") == "PROTOBUF", by_id
    text = by_id["schema"]
    assert 'import "google/protobuf/timestamp.proto";' in text and "message Reading" in text, text
    served = protos.compile_served("reading.proto", text)
    assert fields_by_number(served) == fields_by_number(protos.descriptor(protos.path("reading.proto")))
    assert get(registry_url, f"/subjects/{subject}/versions/1")["schema"] == text
    # The raw-schema endpoints answer the same text as it is (Confluent's getSchemaOnly returns the
    # schema string itself), and the base64 descriptor with format=serialized.
    assert get_raw(registry_url, f"/schemas/ids/{latest.schema_id}/schema") == text
    assert get_raw(registry_url, f"/subjects/{subject}/versions/1/schema") == text
    assert get_raw(registry_url, f"/schemas/ids/{latest.schema_id}/schema?format=serialized") == get(
        registry_url, f"/schemas/ids/{latest.schema_id}?format=serialized")["schema"]

    assert_serialized_form_matches(registry_url, latest.schema_id, pb.DESCRIPTOR, [timestamp_pb2.DESCRIPTOR])
    assert get(registry_url, f"/subjects/{subject}/versions/1?format=serialized")["schema"] == get(
        registry_url, f"/schemas/ids/{latest.schema_id}?format=serialized")["schema"]

    original_text = (protos.src / protos.path("reading.proto")).read_text()
    assert client(registry_url).register_schema("reading-text", Schema(original_text, "PROTOBUF")) == latest.schema_id


CURRENCY_PROTO = """syntax = "proto3";
package murron.PKG.money;

enum Currency {
  CURRENCY_UNSPECIFIED = 0;
  EUR = 1;
  USD = 2;
}
"""

MONEY_PROTO = """syntax = "proto3";
package murron.PKG.money;

import "PKG/currency.proto";

message Money {
  Currency currency = 1;
  int64 units = 2;
  int32 nanos = 3;
}
"""

ORDER_PROTO = """syntax = "proto3";
package murron.PKG.shop;

import "PKG/money.proto";

message Order {
  string id = 1;
  murron.PKG.money.Money total = 2;
  repeated Line lines = 3;

  message Line {
    string sku = 1;
    murron.PKG.money.Money price = 2;
    uint32 quantity = 3;
  }
}
"""


def test_protobuf_imports_of_our_own_files_become_referenced_subjects(registry_url, kafka, tmp_path, monkeypatch):
    """For each imported file that is not built in, the serializer registers the file under a subject
    named by its import path (reference.subject.name.strategy's default), depth first, then looks it up
    (POST /subjects/{subject}) and registers the importing file with a reference {name: import path,
    subject, version}. Confluent keeps those references, serves each file on its own, and resolves
    them transitively for the deserializer (order imports money, which imports currency)."""
    protos = Protos(tmp_path, monkeypatch, {"currency.proto": CURRENCY_PROTO, "money.proto": MONEY_PROTO,
                                            "order.proto": ORDER_PROTO})
    shop, money, currency = (protos.module(n) for n in ("order.proto", "money.proto", "currency.proto"))
    values = []
    for i in range(6):
        o = shop.Order(id=f"o{i}", total=money.Money(currency=currency.EUR, units=10 * i, nanos=5))
        for j in range(i % 3):
            o.lines.add(sku=f"sku{j}", price=money.Money(currency=currency.USD, units=j), quantity=j + 1)
        values.append(o)

    topic = create_topic(kafka)
    subject = f"{topic}-value"
    consumed = round_trip_protobuf(registry_url, kafka, topic, values)

    money_subject, currency_subject = protos.path("money.proto"), protos.path("currency.proto")
    assert sorted(client(registry_url).get_subjects()) == sorted([subject, money_subject, currency_subject])
    order_v1 = get(registry_url, f"/subjects/{subject}/versions/1")
    assert order_v1.get("schemaType") == "PROTOBUF", order_v1
    assert order_v1["references"] == [{"name": money_subject, "subject": money_subject, "version": 1}]
    money_v1 = get(registry_url, f"/subjects/{subject_path(money_subject)}/versions/1")
    assert money_v1["references"] == [{"name": currency_subject, "subject": currency_subject, "version": 1}]
    currency_v1 = get(registry_url, f"/subjects/{subject_path(currency_subject)}/versions/1")
    assert currency_v1.get("references", []) == []
    assert {schema_id_of(m.value()) for m in consumed} == {order_v1["id"]}
    assert client(registry_url).get_referenced_by(money_subject, 1) == [order_v1["id"]]
    assert client(registry_url).get_referenced_by(currency_subject, 1) == [money_v1["id"]]
    assert client(registry_url).get_schema(order_v1["id"]).references == [
        SchemaReference(money_subject, money_subject, 1)]

    # Each served text compiles, next to the files it imports, to the schema the user wrote.
    for name, version in (("order.proto", order_v1), ("money.proto", money_v1), ("currency.proto", currency_v1)):
        served = protos.compile_served(name, version["schema"])
        assert fields_by_number(served) == fields_by_number(protos.descriptor(protos.path(name))), name

    assert_serialized_form_matches(registry_url, order_v1["id"], shop.DESCRIPTOR,
                                   [currency.DESCRIPTOR, money.DESCRIPTOR])
    assert_serialized_form_matches(registry_url, money_v1["id"], money.DESCRIPTOR, [currency.DESCRIPTOR])

    # A referenced file cannot be deleted while the order schema uses it (42206).
    expect_error(422, 42206, client(registry_url).delete_subject, money_subject)


ENVELOPE_PROTO = """syntax = "proto3";
package murron.PKG;

message Header {
  string source = 1;
}

message Envelope {
  message Item {
    string sku = 1;
    int32 quantity = 2;
  }
  message Meta {
    message Tag {
      string key = 1;
      string value = 2;
    }
    repeated Tag tags = 1;
  }
  string id = 1;
  repeated Item items = 2;
  Meta meta = 3;
}

message Trailer {
  int32 count = 1;
}
"""


def test_protobuf_nested_and_non_first_messages_carry_indexes_that_resolve_in_the_served_descriptor(
        registry_url, kafka, tmp_path, monkeypatch):
    """One file, four message types in one topic: the serializer writes the message's path in the file
    (message indexes) after the schema id, and every type shares the file's single schema id and
    version. A consumer finds the writer's type by walking those indexes in the descriptor the registry
    serves, so the served file must keep Confluent's message order: [0] Header, [1] Envelope,
    [1, 0] Envelope.Item, [1, 1, 0] Envelope.Meta.Tag, [2] Trailer."""
    protos = Protos(tmp_path, monkeypatch, {"envelope.proto": ENVELOPE_PROTO})
    pb = protos.module("envelope.proto")
    values = [
        pb.Envelope.Item(sku="a", quantity=1),
        pb.Trailer(count=3),
        pb.Envelope.Meta.Tag(key="k", value="v"),
        pb.Header(source="here"),
        pb.Envelope(id="e1", items=[pb.Envelope.Item(sku="b", quantity=2)],
                    meta=pb.Envelope.Meta(tags=[pb.Envelope.Meta.Tag(key="x", value="y")])),
        pb.Envelope.Item(sku="c", quantity=-4),
    ]
    topic = create_topic(kafka)
    subject = f"{topic}-value"
    consumed = round_trip_protobuf(registry_url, kafka, topic, values)

    assert client(registry_url).get_versions(subject) == [1]
    schema_id = client(registry_url).get_latest_version(subject).schema_id
    assert {schema_id_of(m.value()) for m in consumed} == {schema_id}
    expected = {"Envelope.Item": [1, 0], "Trailer": [2], "Envelope.Meta.Tag": [1, 1, 0], "Header": [0], "Envelope": [1]}
    package = pb.DESCRIPTOR.package
    assert [message_indexes(m.value()) for m in consumed] == [
        expected[type(v).DESCRIPTOR.full_name.removeprefix(package + ".")] for v in values]

    served = assert_serialized_form_matches(registry_url, schema_id, pb.DESCRIPTOR, [])
    for value, message in zip(values, consumed):
        assert message_at(served, message_indexes(message.value())) == type(value).DESCRIPTOR.full_name

    text = get(registry_url, f"/schemas/ids/{schema_id}")["schema"]
    served_text = protos.compile_served("envelope.proto", text)
    assert fields_by_number(served_text) == fields_by_number(protos.descriptor(protos.path("envelope.proto")))
