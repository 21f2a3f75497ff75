"""murron-server's published API (schemas/murron/ingest/v1/ingest.proto) used by a client no one here
wrote: stubs generated at test time by grpcio-tools from the .proto (not the package's committed
copies, not our Rust code), envelopes written with fastavro and signed with hmac. The server accepts
the valid events and refuses the forged and malformed ones, per event, with the sink's reason codes;
the same over HTTP JSON with urllib."""

import base64
import importlib
import io
import json
import struct
import sys
import time
import urllib.request

import fastavro
import pytest
from grpc_tools import protoc

import grpc
from conftest import ROOT
from test_envelope_interop import KEY, consume_all, create_topic, sign

ENVELOPE_ID, PAYLOAD_ID = 1, 2
ENVELOPE = fastavro.parse_schema(json.loads((ROOT / "schemas/murron/Envelope.avsc").read_text()))


@pytest.fixture(scope="module")
def ingest_stubs(tmp_path_factory):
    """ingest_pb2 and ingest_pb2_grpc, compiled now from the published .proto."""
    out = tmp_path_factory.mktemp("stubs")
    rc = protoc.main(["grpc_tools.protoc", f"-I{ROOT / 'schemas'}", f"--python_out={out}", f"--grpc_python_out={out}",
                      "murron/ingest/v1/ingest.proto"])
    assert rc == 0, "protoc failed"
    sys.path.insert(0, str(out))
    try:
        pb2 = importlib.import_module("murron.ingest.v1.ingest_pb2")
        pb2_grpc = importlib.import_module("murron.ingest.v1.ingest_pb2_grpc")
    finally:
        sys.path.remove(str(out))
    assert pb2.__file__.startswith(str(out))
    return pb2, pb2_grpc


@pytest.fixture
def topic(kafka):
    return create_topic(kafka, 1)


@pytest.fixture
def server_config(topic):
    return {"py": KEY.decode()}, [{"name": "all", "default": True, "topic": topic}]


def envelope(host: str, offset: int, key: bytes = KEY) -> bytes:
    env = {"timestamp": int(time.time() * 1_000_000), "host": host, "type": "client.api_call", "offset": offset,
           "pid": 4242, "message": struct.pack(">bI", 0, PAYLOAD_ID) + b"\x06w-1", "signature": "",
           "tags": {"murron.key": "py"}}
    env["signature"] = sign(env, key)
    buf = io.BytesIO()
    buf.write(struct.pack(">bI", 0, ENVELOPE_ID))
    fastavro.schemaless_writer(buf, ENVELOPE, env)
    return buf.getvalue()


# Where the three bad events sit in a batch of 13, and the reason each must get.
BAD = {3: "bad_signature", 7: "truncated", 12: "bad_magic"}


def batch(host: str) -> list[bytes]:
    """10 valid events (offsets 0..9) with a forged one, a truncated one and one with a bad magic
    byte at the indexes of BAD."""
    valid = iter(range(10))
    events = []
    for i in range(13):
        if BAD.get(i) == "bad_signature":
            events.append(envelope(host, 100, key=b"wrong-key"))
        elif BAD.get(i) == "truncated":
            events.append(envelope(host, 101)[:20])
        elif BAD.get(i) == "bad_magic":
            events.append(b"\x01" + envelope(host, 102)[1:])
        else:
            events.append(envelope(host, next(valid)))
    return events


def test_grpcio_client_gets_a_status_per_event(ingest_stubs, murron_server, kafka, topic):
    pb2, pb2_grpc = ingest_stubs
    events = batch("grpcio-host")
    with grpc.insecure_channel(murron_server.grpc) as channel:
        stub = pb2_grpc.IngestStub(channel)
        response = stub.Publish(pb2.PublishRequest(batch_id=7, events=events), timeout=30)
    assert response.batch_id == 7
    assert len(response.status) == len(events)
    for i, status in enumerate(response.status):
        assert status == (pb2.STATUS_REFUSED if i in BAD else pb2.STATUS_ACCEPTED), (i, response)
    assert {r.index: r.reason for r in response.refusals} == BAD, response
    # Accepted means stored in Kafka: the same bytes, keyed host:pid.
    stored = consume_all(kafka, topic, 10)
    assert sorted(m.value() for m in stored) == sorted(e for i, e in enumerate(events) if i not in BAD)
    assert {m.key() for m in stored} == {b"grpcio-host:4242"}


def test_grpcio_stream_answers_each_batch_by_its_id(ingest_stubs, murron_server):
    pb2, pb2_grpc = ingest_stubs
    requests = [pb2.PublishRequest(batch_id=n, events=batch(f"stream-{n}")) for n in (1, 2)]
    with grpc.insecure_channel(murron_server.grpc) as channel:
        answers = list(pb2_grpc.IngestStub(channel).PublishStream(iter(requests), timeout=30))
    assert sorted(a.batch_id for a in answers) == [1, 2]
    for a in answers:
        assert {r.index: r.reason for r in a.refusals} == BAD, a
        assert sum(s == pb2.STATUS_ACCEPTED for s in a.status) == 10


def test_http_json_client_gets_a_status_per_event(murron_server, kafka, topic):
    events = batch("http-host")
    body = json.dumps({"events": [base64.b64encode(e).decode() for e in events]}).encode()
    req = urllib.request.Request(f"{murron_server.http}/v1/publish", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
        answer = json.loads(r.read())
    assert answer["accepted"] == 10
    assert answer["status"] == ["refused" if i in BAD else "accepted" for i in range(len(events))]
    assert {r["index"]: r["reason"] for r in answer["refusals"]} == BAD, answer
    stored = consume_all(kafka, topic, 10)
    assert sorted(m.value() for m in stored) == sorted(e for i, e in enumerate(events) if i not in BAD)
