"""The raw archive (docs/PROTOCOL.md, "The archive") written and read by fastavro, a client no one here
wrote: container files fastavro drops into the archive are backfilled through a pipeline exactly once
(and pyarrow reads the Parquet files, pyiceberg and DuckDB the Iceberg table), and the files
`sink-worker archive` writes are read back by fastavro."""

import collections
import datetime
import hmac
import io
import json
import os
import re
import struct
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import fastavro
import pyarrow.dataset as ds
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

import iceberg_readers
from conftest import KAFKA, ROOT, binary, free_port, sink_worker
from test_envelope_interop import EPOCH, KEY, create_topic, micros, sign
from test_sink_output_interop import fresh_database

TYPE = "billing.member_active"
ENVELOPE = fastavro.parse_schema(json.loads((ROOT / "schemas/murron/Envelope.avsc").read_text()))
HOUR_US = 3_600_000_000
SUMMARY = re.compile(r"backfill (\d+): (\w+) \((\S+) to (\S+)\): (\d+) of (\d+) files read \([\d.]+ k?[MG]?B\), (\d+) events read, "
                     r"(\d+) written, (\d+) already there, (\d+) invalid")


def register_payload_schema(registry_url: str) -> int:
    sr = SchemaRegistryClient({"url": registry_url})
    return sr.register_schema(TYPE, Schema((ROOT / "schemas/billing/member_active.avsc").read_text(), "AVRO"))


def partition(ts_us: int) -> tuple:
    t = EPOCH + datetime.timedelta(microseconds=ts_us)
    return f"dt={t:%Y-%m-%d}", f"hr={t:%H}"


def read_archive(root: Path) -> dict:
    """Every archive file under `root` as fastavro reads it: {relative path: (reader, records)}.
    `_murron/` is Murron's staging area and `.tmp-*` are in-flight writes, not archive files."""
    files = {}
    for path in sorted(root.rglob("*.avro")):
        rel = path.relative_to(root)
        if "_murron" in rel.parts or path.name.startswith(".tmp-"):
            continue
        with path.open("rb") as f:
            reader = fastavro.reader(f)
            files[rel] = (reader, list(reader))
    return files


def test_archive_files_written_by_fastavro_are_backfilled_exactly_once(registry_url):
    payload_id = register_payload_schema(registry_url)
    payload_schema = fastavro.parse_schema(json.loads((ROOT / "schemas/billing/member_active.avsc").read_text()))
    # Timestamps in the current hour, as a live archiver's files would have.
    hour_start = time.time_ns() // 1000 // HOUR_US * HOUR_US

    def envelope(host: str, pid: int, offset: int, key: bytes = KEY) -> dict:
        ts = hour_start + offset * 1_000_000
        datum = io.BytesIO()
        fastavro.schemaless_writer(datum, payload_schema, {
            "workspace_id": "w1", "user_id": f"{host}/{offset}", "plan": "PRO", "ts": ts, "client": "WEB",
            "seat_count": offset, "is_guest": False, "country": None if offset % 2 else "SE"})
        env = {"timestamp": ts, "host": host, "type": TYPE, "offset": offset, "pid": pid,
               "message": struct.pack(">bI", 0, payload_id) + datum.getvalue(), "signature": "", "tags": {}}
        env["signature"] = sign(env, key)
        return env

    a, b, c = ("py-a", 7001), ("py-b", 7002), ("py-c", 7003)
    third = "snappy"  # needs cramjam, pinned in requirements.txt
    files = [
        ("null", [envelope(*a, o) for o in range(100)] + [envelope(*b, o) for o in range(50)]),
        ("deflate", [envelope(*b, o) for o in range(50, 100)] + [envelope(*c, o) for o in range(100)]),
        # A second writer's overlap (the spec allows an event in several files) and a forged event
        # that has no valid copy anywhere.
        (third, [envelope(*a, o) for o in range(90, 100)] + [envelope(*c, 100, key=b"not-the-key")]),
    ]
    expected = {(h, p, o) for h, p in (a, b, c) for o in range(100)}

    work = Path(tempfile.mkdtemp(prefix="murron-archive-interop-"))
    folder = work / "archive-store" / "archive" / TYPE / Path(*partition(hour_start))
    folder.mkdir(parents=True)
    for i, (codec, records) in enumerate(files):
        with (folder / f"{i}-fastavro-{codec}.avro").open("wb") as f:
            # Small blocks, so a file has several of them.
            fastavro.writer(f, ENVELOPE, records, codec=codec, sync_interval=4096)

    config = work / "sink.toml"
    state_url = fresh_database()
    config.write_text(f"""
[state]
url = "{state_url}"

[pipeline]
name = "py-bf"
input = {{ topics = ["py-bf-unused"] }}   # required, never consumed: a backfill reads the archive

[[pipeline.outputs]]
kind = "local"
path = "{work / 'out'}"
format = "parquet"

[[pipeline.outputs]]
kind = "iceberg"
store = {{ kind = "local", path = "{work / 'lake'}" }}

[archive]
prefix = "archive"
store = {{ kind = "local", path = "{work / 'archive-store'}" }}
""")
    start = datetime.datetime.fromtimestamp(hour_start / 1e6, datetime.timezone.utc)
    hour_range = (f"{start:%Y-%m-%dT%H:00:00Z}", f"{start + datetime.timedelta(hours=1):%Y-%m-%dT%H:00:00Z}")

    def backfill() -> tuple:
        out = sink_worker(registry_url, {"default": KEY.decode()}, "--config", str(config),
                          "backfill", "--type", TYPE, "--from", hour_range[0], "--to", hour_range[1])
        m = SUMMARY.search(out)
        assert m, out
        assert m.group(2, 3, 4) == ("done", *hour_range), out
        return tuple(int(n) for n in m.groups()[4:]), out

    def output() -> tuple:
        parquet = work / "out" / "events" / TYPE
        snapshot = sorted((p.relative_to(parquet), p.stat().st_size) for p in parquet.rglob("*.parquet"))
        return snapshot, ds.dataset(parquet, format="parquet", partitioning="hive").to_table()

    counts, out = backfill()
    # (files read, files, events read, written, already there, invalid): the overlap is read but
    # written once, the forged event is read and refused.
    assert counts == (3, 3, 311, 300, 10, 1), out
    assert "bad_signature" in out, out
    files_before, table = output()
    uids = collections.Counter(zip(table.column("_murron_host").to_pylist(), table.column("_murron_pid").to_pylist(),
                                   table.column("_murron_offset").to_pylist()))
    assert set(uids) == expected and set(uids.values()) == {1}
    assert table.column("user_id").to_pylist() == [f"{h}/{o}" for h, o in
                                                   zip(table.column("_murron_host").to_pylist(),
                                                       table.column("_murron_offset").to_pylist())]
    assert all(t.startswith(f"archive:archive/{TYPE}/") for t in table.column("_kafka_topic").to_pylist())
    assert set(table.column("_kafka_partition").to_pylist()) == {-1}
    assert set(table.column("hr").to_pylist()) == {start.hour}
    iceberg_snapshots = assert_iceberg_holds(state_url, expected)


    # Again: only the file with the never-received forged offset is worth reading, and nothing is new.
    counts, out = backfill()
    assert counts == (1, 1, 11, 0, 10, 1), out
    files_after, again = output()
    assert files_after == files_before
    by_uid = [(col, "ascending") for col in ("_murron_host", "_murron_pid", "_murron_offset")]
    assert again.sort_by(by_uid).equals(table.sort_by(by_uid))
    # Nothing new: no empty snapshot either.
    assert assert_iceberg_holds(state_url, expected) == iceberg_snapshots


def assert_iceberg_holds(state_url: str, expected: set) -> int:
    """The backfilled Iceberg table, read by pyiceberg and DuckDB, holds exactly the `expected` UIDs,
    in snapshots that say they came from a backfill; returns how many snapshots it has."""
    name = TYPE.replace(".", "_")
    table = iceberg_readers.pyiceberg_catalog("murron", state_url).load_table(f"events.{name}")
    location = iceberg_readers.metadata_location(state_url, "murron", "events", name)
    duck = iceberg_readers.read_duckdb(iceberg_readers.duckdb_connection(), location)
    for reader, rows in (("pyiceberg", table.scan().to_arrow()), ("DuckDB", duck)):
        uids = collections.Counter(zip(rows.column("_murron_host").to_pylist(), rows.column("_murron_pid").to_pylist(),
                                       rows.column("_murron_offset").to_pylist()))
        assert set(uids) == expected and set(uids.values()) == {1}, reader
    assert {s.summary["murron.sources"] for s in table.snapshots()} == {"backfill"}
    return len(table.snapshots())


def test_files_from_the_archiver_are_read_by_fastavro(registry_url, kafka):
    register_payload_schema(registry_url)
    # The archiver's default is zstandard; use the first compressed codec fastavro can read here.
    codec = "zstandard"  # the archiver's default; fastavro needs backports.zstd (requirements.txt)
    topic = create_topic(kafka, 3)
    sink_worker(registry_url, {"default": KEY.decode()}, "gen", "--topic", topic, "--type", TYPE,
                "--count", "3000", "--streams", "3", "--host-prefix", "py-arch", "--pid-base", "2000")
    expected = {(f"py-arch-{i}", 2000 + i, o) for i in range(3) for o in range(1000)}

    work = Path(tempfile.mkdtemp(prefix="murron-archiver-interop-"))
    config = work / "archive.toml"
    config.write_text(f"""
[state]
url = "{fresh_database()}"

[admin]
listen = "127.0.0.1:{free_port()}"

[archive]
name = "py-{uuid.uuid4().hex[:10]}"
prefix = "archive"
codec = "{codec}"
topics = ["{topic}"]
store = {{ kind = "local", path = "{work / 'store'}" }}
flush = {{ max_events = 1000, max_bytes = 67108864, max_age_ms = 500 }}
""")
    env = dict(os.environ, SINK_WORKER_REGISTRY__URL=registry_url, SINK_WORKER_KAFKA__BROKERS=KAFKA,
               RUST_LOG=os.environ.get("SINK_LOG", "warn"))
    root = work / "store" / "archive"
    proc = subprocess.Popen([binary("sink-worker"), "--config", str(config), "archive"], env=env)
    try:
        deadline = time.time() + 90
        while True:
            seen = {(r["host"], r["pid"], r["offset"]) for _, records in read_archive(root).values() for r in records}
            if seen >= expected:
                break
            assert proc.poll() is None, f"sink-worker archive exited with {proc.returncode}"
            assert time.time() < deadline, f"the archive holds {len(seen)} of {len(expected)} events"
            time.sleep(0.5)
        proc.terminate()
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    files = read_archive(root)
    assert len(files) > 1, "flush.max_events should split the archive into several files"
    envelope_form = fastavro.schema.to_parsing_canonical_form(ENVELOPE)
    uids = collections.Counter()
    for rel, (reader, records) in files.items():
        assert reader.codec == codec, rel
        file_schema = json.loads(reader.metadata["avro.schema"])
        assert fastavro.schema.to_parsing_canonical_form(file_schema) == envelope_form, rel
        event_type, dt, hr, _ = rel.parts
        assert event_type == TYPE, rel
        for r in records:
            assert r["type"] == TYPE
            assert partition(micros(r["timestamp"])) == (dt, hr), (rel, r)
            # The archive keeps the envelopes exactly as produced, so their signatures still verify.
            assert hmac.compare_digest(r["signature"], sign(r)), r
            uids[(r["host"], r["pid"], r["offset"])] += 1
    assert set(uids) == expected
    assert set(uids.values()) == {1}, [uid for uid, n in uids.items() if n > 1][:10]
