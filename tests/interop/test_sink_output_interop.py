"""`sink-worker run` output read by clients no one here wrote: events produced with Confluent's Python
client and Avro serializer go through the sink; pyarrow and DuckDB read the Parquet files, psql reads
the warehouse table."""

import io
import os
import struct
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import duckdb
import fastavro
import json
import pyarrow.dataset as ds
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from conftest import DATABASE_URL, KAFKA, ROOT, binary, free_port
from test_envelope_interop import KEY, create_topic, sign

EVENTS = 500


def fresh_database() -> str:
    db = "py_sink_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", DATABASE_URL, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    return DATABASE_URL.rsplit("/", 1)[0] + "/" + db


def produce_api_calls(registry_url: str, topic: str) -> None:
    sr = SchemaRegistryClient({"url": registry_url})
    envelope_text = (ROOT / "schemas/murron/Envelope.avsc").read_text()
    envelope_id = sr.register_schema("murron.Envelope", Schema(envelope_text, "AVRO"))
    envelope_schema = fastavro.parse_schema(json.loads(envelope_text))
    # The payload schema lives under the subject named by the event type (docs/PROTOCOL.md), not under
    # Confluent's default "{topic}-value".
    serializer = AvroSerializer(sr, (ROOT / "schemas/client/api_call.avsc").read_text(),
                                conf={"subject.name.strategy": lambda ctx, record_name: "client.api_call"})
    producer = Producer({"bootstrap.servers": KAFKA})
    for offset in range(EVENTS):
        event = {"request_id": str(uuid.uuid4()), "workspace_id": f"w{offset % 7}", "user_id": f"u{offset}",
                 "method": "chat.postMessage", "http_method": "POST", "status": 200 if offset % 10 else 500,
                 "latency_ms": offset / 10, "bytes_in": 100, "bytes_out": 2048, "region": "eu-west-1",
                 "error_code": None if offset % 10 else "internal", "ts": 1_764_115_200_000_000 + offset,
                 "attributes": {"client": "py"}}
        message = serializer(event, SerializationContext(topic, MessageField.VALUE))
        env = {"timestamp": 1_764_115_200_000_000 + offset * 1_000_000, "host": "py-host", "type": "client.api_call",
               "offset": offset, "pid": 77, "message": message, "signature": "", "tags": {"murron.key": "py"}}
        env["signature"] = sign(env)
        buf = io.BytesIO()
        buf.write(struct.pack(">bI", 0, envelope_id))
        fastavro.schemaless_writer(buf, envelope_schema, env)
        producer.produce(topic, key=b"py-host:77", value=buf.getvalue())
    producer.produce(topic, key=b"py-host:77", value=b"not an envelope")
    assert producer.flush(30) == 0


def test_parquet_and_warehouse_output_read_by_pyarrow_duckdb_and_psql(registry_url, kafka):
    topic = create_topic(kafka, 2)
    produce_api_calls(registry_url, topic)
    out = Path(tempfile.mkdtemp(prefix="murron-interop-"))
    state_url = fresh_database()
    config = out / "sink.toml"
    config.write_text(f"""
[pipeline]
name = "interop"
input = {{ topics = ["{topic}"] }}
flush = {{ max_age_ms = 500 }}

[[pipeline.outputs]]
kind = "local"
path = "{out / 'data'}"

[[pipeline.outputs]]
kind = "postgres"
""")
    admin = free_port()
    env = dict(os.environ, SINK_WORKER_REGISTRY__URL=registry_url, SINK_WORKER_KAFKA__BROKERS=KAFKA,
               SINK_WORKER_STATE__URL=state_url, SINK_WORKER_ADMIN__LISTEN=f"127.0.0.1:{admin}",
               SINK_WORKER_KEYS__PY=KEY.decode(), RUST_LOG=os.environ.get("SINK_LOG", "warn"))
    proc = subprocess.Popen([binary("sink-worker"), "--config", str(config), "run"], env=env)
    try:
        deadline = time.time() + 90
        while True:
            done = subprocess.run(["psql", state_url, "-At", "-c", "SELECT count(*) FROM warehouse.client_api_call"],
                                  capture_output=True, text=True)
            if done.returncode == 0 and int(done.stdout.strip() or 0) >= EVENTS:
                break
            assert proc.poll() is None, f"sink-worker exited with {proc.returncode}"
            assert time.time() < deadline, "the warehouse did not fill in time"
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert 'murron_sink_invalid_total{pipeline="interop",reason="bad_magic"} 1' in metrics, metrics
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0

    # pyarrow, with the dt=/hr= folders as hive partitions.
    dataset = ds.dataset(out / "data" / "events" / "client.api_call", format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == EVENTS
    assert sorted(table.column("_murron_offset").to_pylist()) == list(range(EVENTS))
    assert set(table.column("_kafka_topic").to_pylist()) == {topic}
    assert table.schema.field("_murron_timestamp").type.tz in ("+00:00", "UTC")
    assert set(table.column("hr").to_pylist()) == {0}

    # DuckDB over the same files.
    glob = str(out / "data" / "events" / "client.api_call" / "**" / "*.parquet")
    errors, users, tags = duckdb.sql(
        f"SELECT count(*) FILTER (WHERE status = 500), count(DISTINCT user_id), any_value(_murron_tags['murron.key']) "
        f"FROM read_parquet('{glob}', hive_partitioning = true)").fetchone()
    assert (errors, users, tags) == (EVENTS // 10, EVENTS, "py")

    # psql over the warehouse.
    res = subprocess.run(["psql", state_url, "-At", "-c",
                          "SELECT count(*), count(DISTINCT _murron_offset), sum(CASE WHEN error_code IS NULL THEN 0 ELSE 1 END) "
                          "FROM warehouse.client_api_call"], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == f"{EVENTS}|{EVENTS}|{EVENTS // 10}"
