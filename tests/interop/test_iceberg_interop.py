"""Several `sink-worker run` processes of one pipeline appending to the same Iceberg tables at once,
read back by pyiceberg and DuckDB: every generated event exactly once, whichever worker's swap won.

Small batches (a commit every ~100 ms per worker and table) let the workers' swaps collide; a lost
swap is rebuilt on the winner's snapshot (docs/ICEBERG.md, "Exactly once"). Whether they do in a given
run is up to the scheduler, so the count is printed, not asserted: tests/tests/iceberg.rs forces that
interleaving step by step. Here real processes race, and both must have written. The table is in a local folder and
partitioned by day, the other settings the formats test (S3, by hour) does not cover."""

import json
import os
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import iceberg_readers
from conftest import DATABASE_URL, KAFKA, ROOT, binary, free_port, require, sink_worker
from test_envelope_interop import create_topic

KEYS = {"default": "iceberg-interop-key"}
EVENTS, STREAMS, WORKERS = 12000, 8, 2


def fresh_database() -> str:
    db = "py_ice_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", DATABASE_URL, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    return DATABASE_URL.rsplit("/", 1)[0] + "/" + db


def sink_config(pipeline: str, body: str) -> tuple:
    """A fresh state database and folder, and a config of `[pipeline] name = pipeline` plus `body`
    (input, flush, outputs; `{out}` is the folder); returns (config path, state URL, folder)."""
    out = Path(tempfile.mkdtemp(prefix=f"murron-iceberg-{pipeline}-"))
    config = out / "sink.toml"
    config.write_text(f'[pipeline]\nname = "{pipeline}"\n' + body.replace("{out}", str(out)))
    return config, fresh_database(), out


def start_sink(registry_url: str, config: Path, state_url: str, keys: dict, **popen) -> tuple:
    """A `sink-worker run` process of `config`; returns it and its admin port."""
    admin = free_port()
    env = dict(os.environ, SINK_WORKER_REGISTRY__URL=registry_url, SINK_WORKER_KAFKA__BROKERS=KAFKA,
               SINK_WORKER_STATE__URL=state_url, SINK_WORKER_ADMIN__LISTEN=f"127.0.0.1:{admin}",
               RUST_LOG=os.environ.get("SINK_LOG", "warn"))
    env.update({f"SINK_WORKER_KEYS__{k.upper()}": v for k, v in keys.items()})
    return subprocess.Popen([binary("sink-worker"), "--config", str(config), "run"], env=env, **popen), admin


def committed(state_url: str, pipeline: str) -> int:
    res = subprocess.run(["psql", state_url, "-At", "-c",
                          f"SELECT coalesce(sum(next_offset), 0) FROM sink_partitions WHERE pipeline = '{pipeline}'"],
                         capture_output=True, text=True)
    return int(res.stdout.strip() or 0) if res.returncode == 0 else 0


def test_workers_racing_on_one_table_write_every_event_once(registry_url):
    require("Kafka", KAFKA)
    # The registry needs the type: register it over the REST API as a producer would.
    body = json.dumps({"schema": (ROOT / "schemas/client/api_call.avsc").read_text()}).encode()
    req = urllib.request.Request(f"{registry_url}/subjects/client.api_call/versions", data=body, method="POST",
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    topic = create_topic(KAFKA, 4)
    sink_worker(registry_url, KEYS, "gen", "--topic", topic, "--type", "client.api_call", "--count", str(EVENTS),
                "--streams", str(STREAMS), "--host-prefix", "race")
    config, state_url, _ = sink_config("race", f"""input = {{ topics = ["{topic}"] }}
flush = {{ max_events = 150, max_age_ms = 100 }}

[[pipeline.outputs]]
kind = "iceberg"
namespace = "race"
partition = "day"
store = {{ kind = "local", path = "{{out}}/lake" }}
""")
    procs, admins = [], []
    for _ in range(WORKERS):
        proc, admin = start_sink(registry_url, config, state_url, KEYS)
        procs.append(proc)
        admins.append(admin)
    conflicts, written = 0, []
    try:
        deadline = time.time() + 120
        while committed(state_url, "race") < EVENTS:
            assert all(p.poll() is None for p in procs), "a sink-worker exited"
            assert time.time() < deadline, f"{committed(state_url, 'race')} of {EVENTS} committed in time"
            time.sleep(0.3)
        for admin in admins:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
                lines = r.read().decode().splitlines()
            conflicts += sum(int(float(line.rsplit(" ", 1)[1])) for line in lines
                             if line.startswith("murron_sink_iceberg_commit_conflicts_total"))
            written.append(sum(int(float(line.rsplit(" ", 1)[1])) for line in lines
                               if line.startswith("murron_sink_written_events_total") and 'output="iceberg"' in line))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            assert p.wait(timeout=60) == 0

    assert all(n > 0 for n in written), f"events written per worker: {written}; the workers did not race"
    catalog = iceberg_readers.pyiceberg_catalog("murron", state_url)
    table = catalog.load_table("race.client_api_call")
    assert str(table.spec().fields[0].transform) == "day"
    uid = ("_murron_host", "_murron_pid", "_murron_offset")
    rows = table.scan(selected_fields=uid).to_arrow()
    uids = list(zip(*(rows.column(c).to_pylist() for c in uid)))
    assert len(uids) == EVENTS and len(set(uids)) == EVENTS, (len(uids), len(set(uids)))
    # Every snapshot is one batch of this pipeline; their added records add up to the table.
    snapshots = table.snapshots()
    assert sum(int(s.summary["added-records"]) for s in snapshots) == EVENTS
    assert len({s.summary["murron.batch-id"] for s in snapshots}) == len(snapshots)
    location = iceberg_readers.metadata_location(state_url, "murron", "race", "client_api_call")
    con = iceberg_readers.duckdb_connection()
    n, distinct = con.execute("SELECT count(*), count(DISTINCT (_murron_host, _murron_pid, _murron_offset)) "
                              "FROM iceberg_scan($1)", [location]).fetchone()
    assert (n, distinct) == (EVENTS, EVENTS)
    print(f"{len(snapshots)} snapshots from {WORKERS} workers (events {written}), "
          f"{conflicts} swaps rebuilt after a lost race")


EVOLVING = "interop.evolving"


def test_a_promotion_is_applied_and_a_type_change_iceberg_cannot_take_stops_the_pipeline(registry_url):
    """Version 2 widens `n` from int to long: the column is promoted and old rows keep their values.
    Version 3 (registered with compatibility NONE) makes `n` a string: the sink stops with an error that
    names the column and both types, and the table holds the first two versions' events only."""
    import io
    import struct

    import fastavro
    from confluent_kafka import Producer

    from test_envelope_interop import KEY, sign
    from test_registry_interop import rest

    def version(n_type: str) -> dict:
        return {"type": "record", "name": "Evolving", "namespace": "interop",
                "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": n_type}]}

    envelope_text = (ROOT / "schemas/murron/Envelope.avsc").read_text()
    envelope_schema = fastavro.parse_schema(json.loads(envelope_text))
    status, body = rest(registry_url, "POST", "/subjects/murron.Envelope/versions", {"schema": envelope_text})
    assert status == 200, body
    envelope_id = body["id"]
    ids = []
    for n_type in ("int", "long"):
        status, body = rest(registry_url, "POST", f"/subjects/{EVOLVING}/versions",
                            {"schema": json.dumps(version(n_type))})
        assert status == 200, body
        ids.append(body["id"])
    assert rest(registry_url, "PUT", f"/config/{EVOLVING}", {"compatibility": "NONE"})[0] == 200
    status, body = rest(registry_url, "POST", f"/subjects/{EVOLVING}/versions",
                        {"schema": json.dumps(version("string"))})
    assert status == 200, body
    ids.append(body["id"])

    topic = create_topic(KAFKA, 1)
    producer = Producer({"bootstrap.servers": KAFKA})
    offset = 0

    def send(v: int, n) -> None:
        nonlocal offset
        datum = io.BytesIO()
        fastavro.schemaless_writer(datum, fastavro.parse_schema(version(("int", "long", "string")[v])),
                                   {"id": f"e{offset}", "n": n})
        env = {"timestamp": int(time.time() * 1e6), "host": "evo", "type": EVOLVING, "offset": offset, "pid": 1,
               "message": struct.pack(">bI", 0, ids[v]) + datum.getvalue(), "signature": "",
               "tags": {"murron.key": "py"}}
        env["signature"] = sign(env)
        buf = io.BytesIO()
        buf.write(struct.pack(">bI", 0, envelope_id))
        fastavro.schemaless_writer(buf, envelope_schema, env)
        producer.produce(topic, key=b"evo:1", value=buf.getvalue())
        offset += 1

    config, state_url, _ = sink_config("evo", f"""input = {{ topics = ["{topic}"] }}
flush = {{ max_age_ms = 200 }}

[[pipeline.outputs]]
kind = "iceberg"
store = {{ kind = "local", path = "{{out}}/lake" }}
""")
    proc, _ = start_sink(registry_url, config, state_url, {"py": KEY.decode()}, stderr=subprocess.PIPE, text=True)
    try:
        for i in range(10):
            send(0, i)
        assert producer.flush(30) == 0
        catalog = iceberg_readers.pyiceberg_catalog("murron", state_url)
        name = "events.interop_evolving"
        deadline = time.time() + 60
        while committed(state_url, "evo") < 10:
            assert proc.poll() is None and time.time() < deadline, "version 1 was not written"
            time.sleep(0.2)
        assert str(catalog.load_table(name).schema().find_field("n").field_type) == "int"
        for i in range(10, 20):
            send(1, 2**40 + i)
        assert producer.flush(30) == 0
        while committed(state_url, "evo") < 20:
            assert proc.poll() is None and time.time() < deadline, "version 2 was not written"
            time.sleep(0.2)
        table = catalog.load_table(name)
        assert str(table.schema().find_field("n").field_type) == "long"
        rows = sorted((r["_murron_offset"], r["n"]) for r in table.scan().to_arrow().to_pylist())
        assert rows == [(i, i) for i in range(10)] + [(i, 2**40 + i) for i in range(10, 20)]

        send(2, "twenty")
        assert producer.flush(30) == 0
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, "the sink kept running after a change the table cannot take"
    assert "column `n`: the table has type long and the events have string" in stderr, stderr[-2000:]
    assert stderr.count("cannot take") == 1, f"the error is said more than once: {stderr[-2000:]}"
    assert committed(state_url, "evo") == 20, "the batch with the incompatible event must not commit"
    table = iceberg_readers.pyiceberg_catalog("murron", state_url).load_table("events.interop_evolving")
    assert table.scan().to_arrow().num_rows == 20
