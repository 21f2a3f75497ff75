"""Our schema registry driven by a client no one here wrote: confluent_kafka's SchemaRegistryClient, its
Avro serializers and its Kafka Producer and Consumer. Every assertion states what Confluent's own
registry answers (docs.confluent.io, Schema Registry API reference), so a failure here is either a
broken test or a place where we are not a drop-in replacement.

Client calls are made on a fresh SchemaRegistryClient whenever an answer must come from the server:
the client caches ids, versions and latest versions, and a cached answer would prove nothing."""

import json
import time
import urllib.error
import urllib.request
import uuid

import fastavro
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import (
    ConfigCompatibilityLevel,
    Schema,
    SchemaReference,
    SchemaRegistryClient,
    SchemaRegistryError,
    ServerConfig,
)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

NS = "murron.interop"


# --- helpers -------------------------------------------------------------------------------------


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def client(url: str) -> SchemaRegistryClient:
    """A client with empty caches and no retries, so every call reaches the registry once."""
    return SchemaRegistryClient({"url": url, "max.retries": 0})


def record(name: str, *fields: dict) -> str:
    return json.dumps({"type": "record", "name": name, "namespace": NS, "fields": list(fields)})


def avro(text: str, references=None) -> Schema:
    return Schema(text, "AVRO", references=references or [])


def same_schema(a: str, b: str) -> bool:
    """Confluent answers an Avro schema in its canonical string form: equal as JSON, not as text."""
    return json.loads(a) == json.loads(b)


def same_avro(a: str, b: str) -> bool:
    """The same Avro schema once names are resolved (fastavro fully qualifies every named type)."""
    return fastavro.parse_schema(json.loads(a), _write_hint=False) == fastavro.parse_schema(json.loads(b), _write_hint=False)


def expect_error(http_status: int, error_code: int, call, *args, **kwargs) -> SchemaRegistryError:
    with pytest.raises(SchemaRegistryError) as info:
        call(*args, **kwargs)
    err = info.value
    assert (err.http_status_code, err.error_code) == (http_status, error_code), (
        f"expected HTTP {http_status} / error_code {error_code}, got {err}"
    )
    return err


def rest(url: str, method: str, path: str, body=None):
    """A plain HTTP call, for when the registry's own state must be set without the client under test."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url + path, data=data, method=method,
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def create_topic(kafka: str) -> str:
    topic = uid("sr-interop")
    admin = AdminClient({"bootstrap.servers": kafka})  # must outlive its futures
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(timeout=30)
    return topic


def produce(kafka: str, topic: str, values: list) -> None:
    producer = Producer({"bootstrap.servers": kafka})
    for i, value in enumerate(values):
        producer.produce(topic, key=str(i).encode(), value=value)
    assert producer.flush(30) == 0


def consume(kafka: str, topic: str, expected: int) -> list:
    c = Consumer({"bootstrap.servers": kafka, "group.id": uid("py"), "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    out, deadline = [], time.time() + 60
    try:
        while len(out) < expected and time.time() < deadline:
            msg = c.poll(1.0)
            if msg is not None and msg.error() is None:
                out.append(msg)
    finally:
        c.close()
    assert len(out) == expected, f"read {len(out)} of {expected} records"
    return sorted(out, key=lambda m: m.offset())


def schema_id_of(value: bytes) -> int:
    assert value[0] == 0, "Confluent wire format starts with magic byte 0"
    return int.from_bytes(value[1:5], "big")


USER_V1 = record("User", {"name": "id", "type": "string"}, {"name": "age", "type": "int"})

EVENT = json.dumps({
    "type": "record", "name": "Event", "namespace": NS,
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "count", "type": "int"},
        {"name": "total", "type": "long"},
        {"name": "ratio", "type": "double"},
        {"name": "ok", "type": "boolean"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
        {"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["LOW", "MID", "HIGH"]}},
        {"name": "blob", "type": "bytes"},
    ],
})


def events(n: int) -> list:
    return [{"id": f"e-{i}", "count": i - 5, "total": 2**40 + i, "ratio": i / 3, "ok": i % 2 == 0,
             "note": None if i % 3 == 0 else f"note {i}", "tags": [f"t{j}" for j in range(i % 4)],
             "attrs": {f"k{j}": j * i for j in range(i % 3)}, "level": ["LOW", "MID", "HIGH"][i % 3],
             "blob": bytes(range(i % 7))} for i in range(n)]


# --- 1. registration and reads -------------------------------------------------------------------


def test_register_then_read_back_by_id_version_latest_versions_and_subjects(registry_url):
    subject = uid("users-value")
    schema_id = client(registry_url).register_schema(subject, avro(USER_V1))
    assert isinstance(schema_id, int) and schema_id > 0

    sr = client(registry_url)
    by_id = sr.get_schema(schema_id)
    assert by_id.schema_type == "AVRO"
    assert same_schema(by_id.schema_str, USER_V1)
    assert by_id.references == []

    latest = sr.get_latest_version(subject)
    assert (latest.subject, latest.version, latest.schema_id) == (subject, 1, schema_id)
    assert same_schema(latest.schema.schema_str, USER_V1)

    v1 = sr.get_version(subject, 1)
    assert (v1.subject, v1.version, v1.schema_id) == (subject, 1, schema_id)
    assert same_schema(v1.schema.schema_str, USER_V1)
    assert (sr.get_version(subject, "latest").version, sr.get_version(subject, "latest").schema_id) == (1, schema_id)

    assert sr.get_versions(subject) == [1]
    assert subject in sr.get_subjects()
    assert sr.get_subjects(subject_prefix=subject[:16]) == [subject]
    assert sr.get_subjects_by_schema_id(schema_id) == [subject]
    assert [(v.subject, v.version) for v in sr.get_schema_versions(schema_id)] == [(subject, 1)]
    assert "AVRO" in sr.get_schema_types()


def test_registering_the_same_schema_again_returns_the_same_id_and_no_new_version(registry_url):
    subject = uid("users-value")
    first = client(registry_url).register_schema(subject, avro(USER_V1))
    # A fresh client, so the second registration is a real POST rather than the client's cache.
    again = client(registry_url).register_schema(subject, avro(USER_V1))
    assert again == first
    # Whitespace is not part of an Avro schema's identity.
    pretty = json.dumps(json.loads(USER_V1), indent=4)
    assert client(registry_url).register_schema(subject, avro(pretty)) == first
    assert client(registry_url).get_versions(subject) == [1]


def test_the_same_schema_under_another_subject_gets_the_same_id(registry_url):
    a, b = uid("a-value"), uid("b-value")
    id_a = client(registry_url).register_schema(a, avro(USER_V1))
    id_b = client(registry_url).register_schema(b, avro(USER_V1))
    assert id_b == id_a
    sr = client(registry_url)
    assert (sr.get_latest_version(b).version, sr.get_latest_version(b).schema_id) == (1, id_a)
    assert sorted(sr.get_subjects_by_schema_id(id_a)) == sorted([a, b])
    assert sorted((v.subject, v.version) for v in sr.get_schema_versions(id_a)) == sorted([(a, 1), (b, 1)])
    other = record("Other", {"name": "x", "type": "long"})
    assert client(registry_url).register_schema(uid("c-value"), avro(other)) != id_a


def test_lookup_schema_finds_the_registered_version(registry_url):
    subject = uid("users-value")
    schema_id = client(registry_url).register_schema(subject, avro(USER_V1))
    found = client(registry_url).lookup_schema(subject, avro(USER_V1))
    assert (found.subject, found.version, found.schema_id) == (subject, 1, schema_id)


def test_lookup_schema_errors_for_unknown_schema_and_unknown_subject(registry_url):
    subject = uid("users-value")
    client(registry_url).register_schema(subject, avro(USER_V1))
    other = avro(record("Other", {"name": "x", "type": "long"}))
    expect_error(404, 40403, client(registry_url).lookup_schema, subject, other)
    expect_error(404, 40401, client(registry_url).lookup_schema, uid("nobody"), other)


def test_reads_of_missing_things_raise_confluent_errors(registry_url):
    sr = client(registry_url)
    expect_error(404, 40403, sr.get_schema, 987654)
    expect_error(404, 40401, sr.get_latest_version, uid("nobody"))
    expect_error(404, 40401, sr.get_versions, uid("nobody"))
    subject = uid("users-value")
    sr.register_schema(subject, avro(USER_V1))
    expect_error(404, 40402, client(registry_url).get_version, subject, 2)
    expect_error(422, 42201, client(registry_url).register_schema, subject, avro('{"type": "record", "name": "Broken"}'))


DOCUMENTED = json.dumps({
    "type": "record", "name": "Doc", "namespace": NS, "doc": "a documented record", "aliases": ["OldDoc"],
    "connect.name": f"{NS}.Doc",
    "fields": [
        {"name": "id", "type": {"type": "string", "avro.java.string": "String"}, "doc": "the id"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
        {"name": "n", "type": "int", "default": 3, "order": "descending", "aliases": ["num"]},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH"], "default": "LOW"}},
    ],
})


def test_schema_text_comes_back_as_registered_with_docs_and_properties(registry_url):
    """Confluent stores an Avro schema as Avro's Schema.toString() writes it: whitespace and key order
    may change, but every doc, alias and custom property is kept, and a nested named type in its
    parent's namespace is written without a namespace of its own."""
    subject = uid("doc-value")
    schema_id = client(registry_url).register_schema(subject, avro(DOCUMENTED))
    assert json.loads(client(registry_url).get_schema(schema_id).schema_str) == json.loads(DOCUMENTED)
    assert json.loads(client(registry_url).get_latest_version(subject).schema.schema_str) == json.loads(DOCUMENTED)


def test_schemas_differing_only_in_a_custom_property_share_an_id_and_keep_their_text(registry_url):
    """A deliberate difference from Confluent's default (docs/REGISTRY.md): identity follows Avro's
    Parsing Canonical Form plus defaults and logical types, as Confluent does with normalize=true, so
    a custom property on a primitive type (avro.java.string) does not make a new schema. The first
    registered text, properties included, is what the id serves."""
    tagged = record("S", {"name": "id", "type": {"type": "string", "avro.java.string": "String"}})
    plain = record("S", {"name": "id", "type": "string"})
    id_tagged = client(registry_url).register_schema(uid("tagged-value"), avro(tagged))
    id_plain = client(registry_url).register_schema(uid("plain-value"), avro(plain))
    assert id_tagged == id_plain
    assert "avro.java.string" in client(registry_url).get_schema(id_tagged).schema_str


# --- 2. compatibility -----------------------------------------------------------------------------

USER_V2_DEFAULTED = record("User", {"name": "id", "type": "string"}, {"name": "age", "type": "int"},
                           {"name": "email", "type": "string", "default": ""})
USER_V2_NO_DEFAULT = record("User", {"name": "id", "type": "string"}, {"name": "age", "type": "int"},
                           {"name": "email", "type": "string"})
USER_V2_AGE_STRING = record("User", {"name": "id", "type": "string"}, {"name": "age", "type": "string"})


def test_subject_and_global_compatibility_config_set_and_get(registry_url):
    sr = client(registry_url)
    subject = uid("users-value")
    # Global, through both spellings the client offers.
    assert sr.set_compatibility(level="FULL") == {"compatibility": "FULL"}
    assert client(registry_url).get_compatibility() == "FULL"
    assert sr.set_config(config=ServerConfig(compatibility=ConfigCompatibilityLevel.NONE)) == {"compatibility": "NONE"}
    assert client(registry_url).get_config().compatibility_level == ConfigCompatibilityLevel.NONE

    # A subject without its own level: GET /config/{subject} is 40408 (defaultToGlobal not asked for).
    expect_error(404, 40408, client(registry_url).get_compatibility, subject)

    assert sr.set_config(subject_name=subject,
                         config=ServerConfig(compatibility=ConfigCompatibilityLevel.BACKWARD)) == {"compatibility": "BACKWARD"}
    assert client(registry_url).get_compatibility(subject) == "BACKWARD"
    assert client(registry_url).get_config(subject).compatibility_level == ConfigCompatibilityLevel.BACKWARD
    assert sr.set_compatibility(subject, "forward_transitive") == {"compatibility": "FORWARD_TRANSITIVE"}
    assert client(registry_url).get_compatibility(subject) == "FORWARD_TRANSITIVE"
    # The global level is untouched by the subject's.
    assert client(registry_url).get_compatibility() == "NONE"

    # Deleting the subject's level answers the old one and falls back to the global one.
    assert sr.delete_config(subject).compatibility_level == ConfigCompatibilityLevel.FORWARD_TRANSITIVE
    expect_error(404, 40408, client(registry_url).get_compatibility, subject)

    expect_error(422, 42203, sr.set_compatibility, subject, "SIDEWAYS")


def test_incompatible_registration_is_rejected_with_409(registry_url):
    sr = client(registry_url)
    subject = uid("users-value")
    # Global NONE, subject BACKWARD: a rejection proves the subject's own level is the one applied.
    sr.set_config(config=ServerConfig(compatibility=ConfigCompatibilityLevel.NONE))
    sr.set_config(subject_name=subject, config=ServerConfig(compatibility=ConfigCompatibilityLevel.BACKWARD))
    v1 = sr.register_schema(subject, avro(USER_V1))

    for incompatible in (USER_V2_NO_DEFAULT, USER_V2_AGE_STRING):
        err = expect_error(409, 409, client(registry_url).register_schema, subject, avro(incompatible))
        assert "incompatible" in err.error_message.lower()
    assert client(registry_url).get_versions(subject) == [1]

    v2 = client(registry_url).register_schema(subject, avro(USER_V2_DEFAULTED))
    assert v2 != v1
    assert client(registry_url).get_versions(subject) == [1, 2]

    # Under the global NONE, another subject takes the same change.
    free = uid("free-value")
    sr.register_schema(free, avro(USER_V1))
    client(registry_url).register_schema(free, avro(USER_V2_NO_DEFAULT))
    assert client(registry_url).get_versions(free) == [1, 2]


def test_test_compatibility_against_latest_and_all_versions(registry_url):
    sr = client(registry_url)
    subject = uid("users-value")
    sr.set_compatibility(subject, "BACKWARD")
    sr.register_schema(subject, avro(USER_V1))

    assert client(registry_url).test_compatibility(subject, avro(USER_V2_DEFAULTED)) is True
    assert client(registry_url).test_compatibility(subject, avro(USER_V2_DEFAULTED), version=1) is True
    assert client(registry_url).test_compatibility(subject, avro(USER_V2_NO_DEFAULT)) is False
    assert client(registry_url).test_compatibility(subject, avro(USER_V2_AGE_STRING), version=1) is False
    assert client(registry_url).test_compatibility_all_versions(subject, avro(USER_V2_DEFAULTED)) is True
    assert client(registry_url).test_compatibility_all_versions(subject, avro(USER_V2_NO_DEFAULT)) is False
    assert client(registry_url).test_compatibility(subject, avro(USER_V2_NO_DEFAULT), verbose=True) is False
    expect_error(404, 40402, client(registry_url).test_compatibility, subject, avro(USER_V2_DEFAULTED), version=7)


# --- 3. serializers through real Kafka ----------------------------------------------------------


def roundtrip(registry_url: str, kafka: str, topic: str, serializer: AvroSerializer, values: list) -> list:
    """Serializes, produces, consumes and deserializes `values`; returns the consumed raw messages."""
    ctx = SerializationContext(topic, MessageField.VALUE)
    produce(kafka, topic, [serializer(v, ctx) for v in values])
    messages = consume(kafka, topic, len(values))
    deserializer = AvroDeserializer(client(registry_url))
    decoded = [deserializer(m.value(), SerializationContext(topic, MessageField.VALUE)) for m in messages]
    assert decoded == values
    return messages


def test_avro_serializer_auto_registers_and_records_round_trip_through_kafka(registry_url, kafka):
    topic = create_topic(kafka)
    values = events(25)
    messages = roundtrip(registry_url, kafka, topic, AvroSerializer(client(registry_url), EVENT), values)
    sr = client(registry_url)
    latest = sr.get_latest_version(f"{topic}-value")
    assert latest.version == 1
    assert same_avro(latest.schema.schema_str, EVENT)
    assert {schema_id_of(m.value()) for m in messages} == {latest.schema_id}


def test_avro_serializer_with_use_latest_version_and_no_auto_register(registry_url, kafka):
    topic = create_topic(kafka)
    subject = f"{topic}-value"
    schema_id = client(registry_url).register_schema(subject, avro(EVENT))
    serializer = AvroSerializer(client(registry_url), EVENT,
                                conf={"auto.register.schemas": False, "use.latest.version": True})
    messages = roundtrip(registry_url, kafka, topic, serializer, events(10))
    assert {schema_id_of(m.value()) for m in messages} == {schema_id}
    assert client(registry_url).get_versions(subject) == [1], "nothing registered by the serializer"


def test_avro_serializer_without_auto_register_looks_the_schema_up(registry_url, kafka):
    """auto.register.schemas=False alone: the serializer finds its id with POST /subjects/{subject}."""
    topic = create_topic(kafka)
    subject = f"{topic}-value"
    schema_id = client(registry_url).register_schema(subject, avro(EVENT))
    serializer = AvroSerializer(client(registry_url), EVENT, conf={"auto.register.schemas": False})
    messages = roundtrip(registry_url, kafka, topic, serializer, events(10))
    assert {schema_id_of(m.value()) for m in messages} == {schema_id}


def test_avro_serializer_without_auto_register_fails_for_an_unregistered_schema(registry_url):
    topic = uid("unregistered")
    client(registry_url).register_schema(f"{topic}-value", avro(USER_V1))
    serializer = AvroSerializer(client(registry_url), EVENT, conf={"auto.register.schemas": False})
    with pytest.raises(SchemaRegistryError) as info:
        serializer(events(1)[0], SerializationContext(topic, MessageField.VALUE))
    assert (info.value.http_status_code, info.value.error_code) == (404, 40403)


# --- 4. deletes ------------------------------------------------------------------------------------


def test_delete_version_soft_then_permanent(registry_url):
    sr = client(registry_url)
    subject = uid("users-value")
    id1 = sr.register_schema(subject, avro(USER_V1))
    id2 = sr.register_schema(subject, avro(USER_V2_DEFAULTED))

    # Permanent before soft: 40407.
    expect_error(404, 40407, client(registry_url).delete_version, subject, 2, permanent=True)

    assert client(registry_url).delete_version(subject, 2) == 2
    fresh = client(registry_url)
    assert fresh.get_versions(subject) == [1]
    assert fresh.get_versions(subject, deleted=True) == [1, 2]
    assert fresh.get_latest_version(subject).version == 1
    expect_error(404, 40402, client(registry_url).get_version, subject, 2)
    deleted_v2 = client(registry_url).get_version(subject, 2, deleted=True)
    assert (deleted_v2.version, deleted_v2.schema_id) == (2, id2)
    # The schema itself stays readable by id (a soft delete only hides the version).
    assert same_schema(client(registry_url).get_schema(id2).schema_str, USER_V2_DEFAULTED)

    # Soft again: 40406.  Unknown version: 40402.  Unknown subject: 40401.
    expect_error(404, 40406, client(registry_url).delete_version, subject, 2)
    expect_error(404, 40402, client(registry_url).delete_version, subject, 9)
    expect_error(404, 40401, client(registry_url).delete_version, uid("nobody"), 1)

    assert client(registry_url).delete_version(subject, 2, permanent=True) == 2
    assert client(registry_url).get_versions(subject, deleted=True) == [1]
    expect_error(404, 40402, client(registry_url).get_version, subject, 2, deleted=True)
    expect_error(404, 40402, client(registry_url).delete_version, subject, 2, permanent=True)
    assert client(registry_url).get_latest_version(subject).schema_id == id1


def test_delete_subject_soft_then_permanent(registry_url):
    sr = client(registry_url)
    subject = uid("users-value")
    keep = uid("keep-value")
    sr.register_schema(subject, avro(USER_V1))
    sr.register_schema(subject, avro(USER_V2_DEFAULTED))
    sr.register_schema(keep, avro(USER_V1))

    # Permanent before soft: 40405.
    expect_error(404, 40405, client(registry_url).delete_subject, subject, permanent=True)

    assert client(registry_url).delete_subject(subject) == [1, 2]
    fresh = client(registry_url)
    assert subject not in fresh.get_subjects()
    assert keep in fresh.get_subjects()
    assert subject in fresh.get_subjects(deleted=True)
    expect_error(404, 40401, client(registry_url).get_versions, subject)
    expect_error(404, 40401, client(registry_url).get_latest_version, subject)
    expect_error(404, 40401, client(registry_url).get_version, subject, 1)
    assert client(registry_url).get_versions(subject, deleted=True) == [1, 2]
    assert client(registry_url).get_version(subject, 1, deleted=True).version == 1
    # Soft again: 40404.
    expect_error(404, 40404, client(registry_url).delete_subject, subject)

    assert client(registry_url).delete_subject(subject, permanent=True) == [1, 2]
    fresh = client(registry_url)
    assert subject not in fresh.get_subjects(deleted=True)
    expect_error(404, 40401, fresh.get_versions, subject, deleted=True)
    expect_error(404, 40401, client(registry_url).delete_subject, subject)
    expect_error(404, 40401, client(registry_url).delete_subject, subject, permanent=True)
    # The other subject, sharing the schema id, is untouched.
    assert client(registry_url).get_versions(keep) == [1]


def test_subject_can_be_registered_again_after_a_soft_delete(registry_url):
    sr = client(registry_url)
    subject = uid("users-value")
    first = sr.register_schema(subject, avro(USER_V1))
    client(registry_url).delete_subject(subject)
    again = client(registry_url).register_schema(subject, avro(USER_V1))
    assert again == first
    # Confluent numbers versions on from the highest ever used, deleted ones included.
    assert client(registry_url).get_versions(subject) == [2]


# --- 5. references ---------------------------------------------------------------------------------

COLOUR = json.dumps({"type": "enum", "name": "Colour", "namespace": NS, "symbols": ["RED", "GREEN", "BLUE"]})
PAINT = json.dumps({
    "type": "record", "name": "Paint", "namespace": NS,
    "fields": [{"name": "id", "type": "string"}, {"name": "colour", "type": f"{NS}.Colour"},
               {"name": "alt", "type": ["null", f"{NS}.Colour"], "default": None}],
})


def register_with_reference(registry_url: str, paint_subject: str):
    colour_subject = uid("colour")
    colour_id = client(registry_url).register_schema(colour_subject, avro(COLOUR))
    ref = SchemaReference(f"{NS}.Colour", colour_subject, 1)
    paint_id = client(registry_url).register_schema(paint_subject, avro(PAINT, [ref]))
    return colour_subject, colour_id, ref, paint_id


def test_schema_with_a_reference_registers_and_reads_back_with_its_references(registry_url):
    paint_subject = uid("paint-value")
    colour_subject, colour_id, ref, paint_id = register_with_reference(registry_url, paint_subject)
    assert paint_id != colour_id

    sr = client(registry_url)
    by_id = sr.get_schema(paint_id)
    assert same_schema(by_id.schema_str, PAINT)
    assert by_id.references == [ref]
    v1 = sr.get_version(paint_subject, 1)
    assert v1.schema_id == paint_id and v1.schema.references == [ref]
    assert client(registry_url).get_latest_version(paint_subject).schema.references == [ref]
    assert client(registry_url).get_referenced_by(colour_subject, 1) == [paint_id]
    # The same text without its reference does not parse: Colour is unknown.
    expect_error(422, 42201, client(registry_url).register_schema, uid("paint-value"), avro(PAINT))


def test_lookup_schema_with_references(registry_url):
    paint_subject = uid("paint-value")
    _, _, ref, paint_id = register_with_reference(registry_url, paint_subject)
    found = client(registry_url).lookup_schema(paint_subject, avro(PAINT, [ref]))
    assert (found.version, found.schema_id) == (1, paint_id)


def test_records_using_a_referenced_type_round_trip_through_kafka(registry_url, kafka):
    topic = create_topic(kafka)
    subject = f"{topic}-value"
    _, _, ref, paint_id = register_with_reference(registry_url, subject)
    values = [{"id": f"p{i}", "colour": ["RED", "GREEN", "BLUE"][i % 3], "alt": None if i % 2 else "BLUE"}
              for i in range(12)]

    serializer = AvroSerializer(client(registry_url), avro(PAINT, [ref]))
    messages = roundtrip(registry_url, kafka, topic, serializer, values)
    assert {schema_id_of(m.value()) for m in messages} == {paint_id}
    assert client(registry_url).get_versions(subject) == [1], "the serializer found the registered version"

    latest = AvroSerializer(client(registry_url), None, conf={"auto.register.schemas": False, "use.latest.version": True})
    topic2 = create_topic(kafka)
    client(registry_url).register_schema(f"{topic2}-value", avro(PAINT, [ref]))
    messages = roundtrip(registry_url, kafka, topic2, latest, values)
    assert {schema_id_of(m.value()) for m in messages} == {paint_id}


def test_a_referenced_version_cannot_be_deleted(registry_url):
    """Confluent checks references before anything else when deleting a version, soft or permanent:
    both answer 42206 while another schema references it (KafkaSchemaRegistry.deleteSchemaVersion)."""
    colour_subject, _, _, _ = register_with_reference(registry_url, uid("paint-value"))
    expect_error(422, 42206, client(registry_url).delete_version, colour_subject, 1)
    expect_error(422, 42206, client(registry_url).delete_version, colour_subject, 1, permanent=True)
    assert client(registry_url).get_versions(colour_subject) == [1]


def test_hard_deleting_a_referenced_version_after_a_soft_delete_fails_with_42206(registry_url):
    colour_subject, colour_id, ref, paint_id = register_with_reference(registry_url, uid("paint-value"))
    # Confluent already refuses the soft delete (see above); a registry that allows it must still
    # refuse the permanent one.
    try:
        client(registry_url).delete_version(colour_subject, 1)
    except SchemaRegistryError as e:
        assert (e.http_status_code, e.error_code) == (422, 42206), str(e)
    expect_error(422, 42206, client(registry_url).delete_version, colour_subject, 1, permanent=True)
    kept = client(registry_url).get_version(colour_subject, 1, deleted=True)
    assert kept.schema_id == colour_id
    # The referencing schema still resolves.
    assert client(registry_url).get_schema(paint_id).references == [ref]


def test_a_referenced_subject_cannot_be_deleted(registry_url):
    """Confluent's deleteSubject checks every version for references first, soft or permanent: 42206."""
    colour_subject, _, _, _ = register_with_reference(registry_url, uid("paint-value"))
    expect_error(422, 42206, client(registry_url).delete_subject, colour_subject)
    expect_error(422, 42206, client(registry_url).delete_subject, colour_subject, permanent=True)
    assert client(registry_url).get_versions(colour_subject) == [1]


def test_a_referenced_subject_cannot_be_deleted_permanently(registry_url):
    colour_subject, _, _, _ = register_with_reference(registry_url, uid("paint-value"))
    try:
        client(registry_url).delete_subject(colour_subject)
    except SchemaRegistryError as e:
        assert (e.http_status_code, e.error_code) == (422, 42206), str(e)
    expect_error(422, 42206, client(registry_url).delete_subject, colour_subject, permanent=True)
    assert client(registry_url).get_version(colour_subject, 1, deleted=True).version == 1


# --- 6. mode -------------------------------------------------------------------------------------


def test_mode_is_set_and_read_with_the_client(registry_url):
    sr = client(registry_url)
    subject = uid("users-value")
    sr.register_schema(subject, avro(USER_V1))
    assert client(registry_url).get_global_mode() == "READWRITE"
    assert sr.update_mode(subject, "READONLY") == "READONLY"
    assert client(registry_url).get_mode(subject) == "READONLY"
    expect_error(422, 42205, client(registry_url).register_schema, subject, avro(USER_V2_DEFAULTED))
    assert sr.update_mode(subject, "READWRITE") == "READWRITE"
    assert client(registry_url).get_mode(subject) == "READWRITE"
    assert client(registry_url).register_schema(subject, avro(USER_V2_DEFAULTED)) > 0
    assert sr.delete_mode(subject) == "READWRITE"
    expect_error(404, 40409, client(registry_url).get_mode, subject)
    expect_error(422, 42204, sr.update_mode, subject, "SOMETIMES")


def test_readonly_subject_rejects_registration_and_deletes_with_42205(registry_url):
    """The same rules with the mode set over plain HTTP, so only the enforcement depends on the client."""
    subject = uid("users-value")
    other = uid("other-value")
    id1 = client(registry_url).register_schema(subject, avro(USER_V1))
    assert rest(registry_url, "PUT", f"/mode/{subject}", {"mode": "READONLY"}) == (200, {"mode": "READONLY"})
    assert client(registry_url).get_mode(subject) == "READONLY"

    expect_error(422, 42205, client(registry_url).register_schema, subject, avro(USER_V2_DEFAULTED))
    expect_error(422, 42205, client(registry_url).delete_version, subject, 1)
    expect_error(422, 42205, client(registry_url).delete_subject, subject)
    # Reads still work, and other subjects are unaffected.
    assert client(registry_url).get_latest_version(subject).schema_id == id1
    assert client(registry_url).get_versions(subject) == [1]
    client(registry_url).register_schema(other, avro(USER_V2_DEFAULTED))

    assert rest(registry_url, "PUT", f"/mode/{subject}", {"mode": "READWRITE"}) == (200, {"mode": "READWRITE"})
    assert client(registry_url).get_mode(subject) == "READWRITE"
    client(registry_url).register_schema(subject, avro(USER_V2_DEFAULTED))
    assert client(registry_url).get_versions(subject) == [1, 2]


def test_deleting_a_subject_mode_falls_back_to_the_global_one(registry_url):
    subject = uid("users-value")
    client(registry_url).register_schema(subject, avro(USER_V1))
    expect_error(404, 40409, client(registry_url).get_mode, subject)
    assert rest(registry_url, "PUT", f"/mode/{subject}", {"mode": "READONLY"}) == (200, {"mode": "READONLY"})
    assert client(registry_url).delete_mode(subject) == "READONLY"
    expect_error(404, 40409, client(registry_url).get_mode, subject)
    client(registry_url).register_schema(subject, avro(USER_V2_DEFAULTED))
    status, body = rest(registry_url, "PUT", f"/mode/{subject}", {"mode": "SOMETIMES"})
    assert (status, body["error_code"]) == (422, 42204)


def test_deleting_an_unset_subject_mode_or_config_is_40401(registry_url):
    """ModeResource.deleteSubjectMode and ConfigResource.deleteSubjectConfig answer
    Errors.subjectNotFoundException (40401) when the subject has no level of its own; 40408 and 40409
    are only for GET."""
    subject = uid("users-value")
    client(registry_url).register_schema(subject, avro(USER_V1))
    expect_error(404, 40401, client(registry_url).delete_mode, subject)
    expect_error(404, 40401, client(registry_url).delete_config, subject)


def test_mode_names_are_case_insensitive(registry_url):
    """ModeResource upper-cases the requested mode before parsing it."""
    subject = uid("users-value")
    client(registry_url).register_schema(subject, avro(USER_V1))
    status, _ = rest(registry_url, "PUT", f"/mode/{subject}", {"mode": "readonly"})
    assert status == 200
    assert client(registry_url).get_mode(subject) == "READONLY"
    expect_error(422, 42205, client(registry_url).register_schema, subject, avro(USER_V2_DEFAULTED))


def test_global_readonly_mode_applies_to_every_subject(registry_url):
    subject = uid("users-value")
    client(registry_url).register_schema(subject, avro(USER_V1))
    assert rest(registry_url, "PUT", "/mode", {"mode": "READONLY"}) == (200, {"mode": "READONLY"})
    try:
        assert client(registry_url).get_global_mode() == "READONLY"
        expect_error(422, 42205, client(registry_url).register_schema, uid("new-value"), avro(USER_V1))
        expect_error(422, 42205, client(registry_url).register_schema, subject, avro(USER_V2_DEFAULTED))
    finally:
        rest(registry_url, "PUT", "/mode", {"mode": "READWRITE"})
    client(registry_url).register_schema(subject, avro(USER_V2_DEFAULTED))
