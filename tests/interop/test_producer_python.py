"""The Python producer package (clients/python, murron-producer) against the real stack, straight to
Kafka and through murron-server: the sink writes every event exactly once, checked UID by UID in the
Parquet files (read with pyarrow); the package's bytes decode with fastavro and verify with hmac,
neither of which the package uses, so agreement means the contract holds."""

import hashlib
import hmac
import io
import json
import os
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import fastavro
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer as KafkaProducer

from conftest import DATABASE_URL, KAFKA, ROOT, binary, free_port, running_server
from murron_producer import KeyRing, Producer, Routes, SchemaRef, random_pid
from test_envelope_interop import canonical, consume_all, create_topic

# Two keys at once: the producer signs with 2026-11 and tags some events with the retiring 2026-05.
KEYS = {"2026-11": "py-producer-new-key", "2026-05": "py-producer-old-key"}
BILLING, CALLS = "billing.member_active", "client.api_call"
PER_TYPE = 150


def avro_schema(path: str):
    return fastavro.parse_schema(json.loads((ROOT / path).read_text()))


def billing_datum(i: int) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, avro_schema("schemas/billing/member_active.avsc"), {
        "workspace_id": f"w{i % 5}", "user_id": f"u{i}", "plan": "PRO", "ts": 1_764_115_200_000_000 + i,
        "client": "API", "seat_count": i, "is_guest": False, "country": None})
    return buf.getvalue()


def api_call_datum(i: int) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, avro_schema("schemas/client/api_call.avsc"), {
        "request_id": str(uuid.uuid4()), "workspace_id": "w1", "user_id": f"u{i}", "method": "chat.postMessage",
        "http_method": "POST", "status": 200, "latency_ms": 1.5, "bytes_in": 10, "bytes_out": 20,
        "region": "eu-west-1", "error_code": None, "ts": 1_764_115_200_000_000 + i, "attributes": {"client": "py"}})
    return buf.getvalue()


@pytest.fixture
def topics(kafka):
    """Billing events go to the first topic (a pattern route), everything else to the second (the
    default route)."""
    return create_topic(kafka, 2), create_topic(kafka, 2)


@pytest.fixture
def server_config(topics):
    billing, misc = topics
    return KEYS, [{"name": "billing", "filter_type": ["billing.*"], "topic": billing},
                  {"name": "rest", "default": True, "topic": misc}]


def send_both_types(producer: Producer, topics) -> set:
    """Sends PER_TYPE events of each type; returns their UIDs (topic, host, pid, offset, type)."""
    billing_topic, misc_topic = topics
    billing = producer.event_type(BILLING, SchemaRef.register((ROOT / "schemas/billing/member_active.avsc").read_text()))
    calls = producer.event_type(CALLS, SchemaRef.register((ROOT / "schemas/client/api_call.avsc").read_text()))
    uids = set()
    for i in range(PER_TYPE):
        t = producer.send(billing, billing_datum(i))
        uids.add((billing_topic, producer.host, producer.pid, t.offset, BILLING))
        t = producer.send(calls, api_call_datum(i), tags={"murron.key": "2026-05"} if i % 2 else {"region": "eu"})
        uids.add((misc_topic, producer.host, producer.pid, t.offset, CALLS))
    report = producer.close(60)
    assert (report.acked, report.refused, report.pending) == (2 * PER_TYPE, [], 0)
    return uids


def check_records(records: list, producer_host: str, producer_pid: int) -> None:
    """Each record as the package wrote it: key, framing, fields (fastavro) and signature (hmac)."""
    schema = fastavro.parse_schema(json.loads((ROOT / "schemas/murron/Envelope.avsc").read_text()))
    offsets = {}
    for msg in records:
        value = msg.value()
        assert value[0] == 0
        buf = io.BytesIO(value[5:])
        env = fastavro.schemaless_reader(buf, schema)
        assert buf.read() == b""
        assert (env["host"], env["pid"]) == (producer_host, producer_pid)
        assert msg.key() == f"{producer_host}:{producer_pid}".encode()
        key_id = env["tags"]["murron.key"]
        expected = "v1=" + hmac.new(KEYS[key_id].encode(), canonical(env), hashlib.sha256).hexdigest()
        assert hmac.compare_digest(env["signature"], expected), env
        assert env["message"][0] == 0
        offsets.setdefault(env["type"], []).append(env["offset"])
    for name, got in offsets.items():
        assert sorted(got) == list(range(PER_TYPE)), f"{name}: offsets 0..{PER_TYPE - 1}, each once"


def sink_to_parquet(registry_url: str, topics, expected: set) -> list:
    """Runs `sink-worker run` over the topics into a local folder until the Parquet files hold as
    many rows as `expected`; returns their UIDs (one per row, repeats kept)."""
    out = Path(tempfile.mkdtemp(prefix="murron-py-producer-"))
    db = "py_prod_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", DATABASE_URL, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    config = out / "sink.toml"
    keys = "\n".join(f'"{k}" = "{v}"' for k, v in KEYS.items())
    config.write_text(f"""
[keys]
{keys}

[pipeline]
name = "py-producer"
input = {{ topics = [{", ".join(f'"{t}"' for t in topics)}] }}
flush = {{ max_age_ms = 500 }}

[[pipeline.outputs]]
kind = "local"
path = "{out / 'data'}"
""")
    env = dict(os.environ, SINK_WORKER_REGISTRY__URL=registry_url, SINK_WORKER_KAFKA__BROKERS=KAFKA,
               SINK_WORKER_STATE__URL=DATABASE_URL.rsplit("/", 1)[0] + "/" + db,
               SINK_WORKER_ADMIN__LISTEN=f"127.0.0.1:{free_port()}", RUST_LOG=os.environ.get("SINK_LOG", "warn"))
    proc = subprocess.Popen([binary("sink-worker"), "--config", str(config), "run"], env=env)

    def rows() -> list:
        found = []
        for f in sorted((out / "data" / "events").glob("*/**/*.parquet")):
            if f.name.startswith("."):
                continue
            t = pq.read_table(f, columns=["_kafka_topic", "_murron_host", "_murron_pid", "_murron_offset"])
            event_type = f.relative_to(out / "data" / "events").parts[0]
            found += [(*r.values(), event_type) for r in t.to_pylist()]
        return found

    try:
        deadline = time.time() + 120
        while len(rows()) < len(expected):
            assert proc.poll() is None, f"sink-worker exited with {proc.returncode}"
            assert time.time() < deadline, f"the sink wrote {len(rows())} of {len(expected)} events in time"
            time.sleep(0.5)
        time.sleep(3)  # a duplicate written late would show now
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0
    return rows()


def assert_exactly_once(written: list, expected: set) -> None:
    missing, extra = expected - set(written), set(written) - expected
    assert not missing and not extra, f"missing {sorted(missing)[:5]}, unexpected {sorted(extra)[:5]}"
    assert len(written) == len(expected), "a UID was written twice"


def test_package_straight_to_kafka_reaches_the_sink_exactly_once(registry_url, kafka, topics):
    producer = Producer(registry=registry_url, keys=KeyRing(KEYS), key_id="2026-11", host="py-direct",
                        pid=random_pid(), kafka=kafka, routes=Routes({"billing.*": topics[0]}, default=topics[1]))
    uids = send_both_types(producer, topics)
    records = consume_all(kafka, topics[0], PER_TYPE) + consume_all(kafka, topics[1], PER_TYPE)
    check_records(records, producer.host, producer.pid)
    # What a retry after a lost acknowledgement does: the same bytes again. The sink drops them.
    resend = KafkaProducer({"bootstrap.servers": kafka})
    for msg in records[:10] + records[-10:]:
        resend.produce(msg.topic(), key=msg.key(), value=msg.value())
    assert resend.flush(30) == 0
    assert_exactly_once(sink_to_parquet(registry_url, topics, uids), uids)


def test_package_through_the_server_reaches_the_sink_exactly_once(registry_url, kafka, topics, murron_server):
    producer = Producer(registry=registry_url, keys=KeyRing(KEYS), key_id="2026-11", host="py-edge",
                        pid=random_pid(), server=murron_server.grpc)
    uids = send_both_types(producer, topics)
    records = consume_all(kafka, topics[0], PER_TYPE) + consume_all(kafka, topics[1], PER_TYPE)
    check_records(records, producer.host, producer.pid)
    assert_exactly_once(sink_to_parquet(registry_url, topics, uids), uids)


def test_package_through_the_server_reports_each_refusal_by_reason(registry_url, topics):
    """Per-event refusals come back in the flush report with the server's reason codes; a wrong
    token refuses every event (a configuration error, not a reason to wait)."""
    pipelines = [{"name": "billing", "filter_type": ["billing.*"], "topic": topics[0]},
                 {"name": "client", "filter_type": ["client.*"], "topic": topics[1]}]
    auth = '[auth.tokens.alice]\ntoken = "alice-token-0123456789"\ntypes = ["billing.*"]\n'
    with running_server(KEYS, pipelines, extra=auth) as server:
        alice = Producer(registry=registry_url, keys=KeyRing(KEYS), key_id="2026-11", host="py-auth", pid=random_pid(),
                         server=server.grpc, token="alice-token-0123456789")
        for name, n in ((BILLING, 5), (CALLS, 3), ("other.thing", 2)):
            et = alice.event_type(name, SchemaRef.id(2))
            for _ in range(n):
                alice.send(et, b"\x06w-1")
        report = alice.close(30)
        assert (report.acked, report.pending) == (5, 0)
        assert Counter((r.reason, r.uid.type) for r in report.refused) == {
            ("forbidden_type", CALLS): 3, ("unrouted_type", "other.thing"): 2}

        mallory = Producer(registry=registry_url, keys=KeyRing(KEYS), key_id="2026-11", host="py-auth", pid=random_pid(),
                           server=server.grpc, token="not-a-token")
        billing = mallory.event_type(BILLING, SchemaRef.id(2))
        mallory.send(billing, b"\x06w-1")
        mallory.send(billing, b"\x06w-1")
        report = mallory.close(30)
        assert (report.acked, report.pending) == (0, 0)
        assert [r.reason for r in report.refused] == ["unauthenticated", "unauthenticated"]
