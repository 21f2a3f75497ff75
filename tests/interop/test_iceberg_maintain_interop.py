"""`sink-worker iceberg-maintain` on a table the sink filled with many small appends, read before and
after by two Iceberg readers no one here wrote (pyiceberg and DuckDB, iceberg_readers.py): compaction
leaves every event exactly once, UID by UID, with fewer files; orphan removal deletes only what the
table no longer reaches; and maintenance running while a sink appends loses and repeats nothing."""

import json
import os
import re
import secrets
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

import psycopg2
import pytest

from conftest import DATABASE_URL, KAFKA, ROOT, binary, free_port
from iceberg_readers import duckdb_connection, metadata_location, pyiceberg_catalog, read_duckdb, read_pyiceberg
from test_envelope_interop import create_topic

KEY = "maintain-secret"
TYPE = "client.api_call"
TABLE = "client_api_call"
CATALOG = "murron"
NAMESPACE = "events"
UID = ("_murron_host", "_murron_pid", "_murron_offset")
LINE = re.compile(r"^iceberg-maintain (.*)$", re.M)
S3_ENDPOINT = os.environ.get("MURRON_S3_ENDPOINT", "http://127.0.0.1:9000")
S3_ACCESS_KEY = os.environ.get("MURRON_S3_ACCESS_KEY", "murron")
S3_SECRET_KEY = os.environ.get("MURRON_S3_SECRET_KEY", "murron-secret")


def fresh_database() -> str:
    db = "py_maint_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", DATABASE_URL, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    return DATABASE_URL.rsplit("/", 1)[0] + "/" + db


def register(registry_url: str, extra_fields: list | None = None) -> None:
    """Registers the event type's schema, with `extra_fields` appended (a compatible new version)."""
    schema = json.loads((ROOT / "schemas/client/api_call.avsc").read_text())
    schema["fields"] += extra_fields or []
    body = json.dumps({"schema": json.dumps(schema)}).encode()
    req = urllib.request.Request(f"{registry_url}/subjects/{TYPE}/versions", data=body, method="POST",
                                 headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


class Stack:
    """One table's world: a topic, a state database, a sink configuration with an Iceberg output in a
    local folder (or, with `s3`, a fresh bucket on the local S3 server), and helpers to run the
    sink-worker commands on it."""

    def __init__(self, registry_url: str, kafka: str, s3: bool = False):
        self.registry_url = registry_url
        self.topic = create_topic(kafka, 2)
        self.state_url = fresh_database()
        self.dir = Path(tempfile.mkdtemp(prefix="murron-maint-"))
        self.warehouse = self.dir / "wh"
        self.config = self.dir / "sink.toml"
        self.s3 = s3
        # Short bucket and warehouse names: the local S3 server keeps a key in a file name of at most
        # 255 bytes.
        store = (f'{{ kind = "s3", bucket = "m{secrets.token_hex(3)}", endpoint = "{S3_ENDPOINT}", '
                 f'access_key_id = "{S3_ACCESS_KEY}", secret_access_key = "{S3_SECRET_KEY}", create_bucket = true }}'
                 if s3 else f'{{ kind = "local", path = "{self.warehouse}" }}')
        warehouse = 'warehouse = "w"' if s3 else ""
        self.config.write_text(f"""
[pipeline]
name = "maint"
input = {{ topics = ["{self.topic}"] }}
flush = {{ max_events = 60, max_age_ms = 200 }}

[[pipeline.outputs]]
kind = "iceberg"
store = {store}
{warehouse}
""")

    def env(self) -> dict:
        return dict(os.environ, SINK_WORKER_REGISTRY__URL=self.registry_url, SINK_WORKER_KAFKA__BROKERS=KAFKA,
                    SINK_WORKER_STATE__URL=self.state_url, SINK_WORKER_KEYS__DEFAULT=KEY,
                    SINK_WORKER_ADMIN__LISTEN=f"127.0.0.1:{free_port()}", RUST_LOG=os.environ.get("SINK_LOG", "warn"))

    def command(self, *args: str) -> list:
        return [str(binary("sink-worker")), "--config", str(self.config), *args]

    def gen(self, count: int, host_prefix: str, rate: int | None = None) -> subprocess.Popen:
        args = ["gen", "--topic", self.topic, "--type", TYPE, "--count", str(count), "--streams", "4",
                "--host-prefix", host_prefix]
        if rate is not None:
            args += ["--rate", str(rate)]
        return subprocess.Popen(self.command(*args), env=self.env(), stdout=subprocess.DEVNULL)

    def sink(self) -> subprocess.Popen:
        return subprocess.Popen(self.command("run"), env=self.env(), stdout=subprocess.DEVNULL)

    def maintain(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        res = subprocess.run(self.command("iceberg-maintain", *args), env=self.env(), capture_output=True, text=True)
        if check and res.returncode != 0:
            pytest.fail(f"iceberg-maintain {args} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        return res

    def location(self) -> str:
        return metadata_location(self.state_url, CATALOG, NAMESPACE, TABLE)

    def catalog(self):
        if self.s3:
            return pyiceberg_catalog(CATALOG, self.state_url, s3_endpoint=S3_ENDPOINT, s3_access_key=S3_ACCESS_KEY,
                                     s3_secret_key=S3_SECRET_KEY)
        return pyiceberg_catalog(CATALOG, self.state_url)

    def duckdb(self):
        if self.s3:
            return duckdb_connection(s3_endpoint=S3_ENDPOINT, s3_access_key=S3_ACCESS_KEY, s3_secret_key=S3_SECRET_KEY)
        return duckdb_connection()

    def metadata(self) -> dict:
        location = self.location()
        if self.s3:
            io = self.catalog().load_table(f"{NAMESPACE}.{TABLE}").io
            with io.new_input(location).open() as f:
                return json.loads(f.read())
        return json.loads(Path(location.removeprefix("file://")).read_text())

    def total_records(self) -> int:
        try:
            md = self.metadata()
        except (LookupError, psycopg2.errors.UndefinedTable):
            # The sink has not created the table, or not even the catalog, yet.
            return 0
        current = [s for s in md.get("snapshots", []) if s["snapshot-id"] == md.get("current-snapshot-id")]
        return int(current[0]["summary"]["total-records"]) if current else 0

    def wait_for(self, sink: subprocess.Popen, events: int, seconds: float = 120) -> None:
        deadline = time.time() + seconds
        while self.total_records() < events:
            assert sink.poll() is None, f"sink-worker run exited with {sink.returncode}"
            assert time.time() < deadline, f"the table holds {self.total_records()} of {events} events"
            time.sleep(0.3)

    def fill(self, events: int, host_prefix: str) -> None:
        """Produces `events` events and sinks all of them, in many small batches, then stops the sink."""
        assert self.gen(events, host_prefix).wait(timeout=120) == 0
        sink = self.sink()
        try:
            self.wait_for(sink, events)
        finally:
            stop(sink)

    def data_files(self) -> list:
        table = self.catalog().load_table(f"{NAMESPACE}.{TABLE}")
        return [t.file.file_path for t in table.scan().plan_files()]


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    assert proc.wait(timeout=60) == 0


def report(res: subprocess.CompletedProcess) -> dict:
    print(res.stdout)  # shown by pytest when the test fails, or with -s
    lines = LINE.findall(res.stdout)
    assert len(lines) == 1, res.stdout
    return {k: v for k, v in (kv.split("=", 1) for kv in lines[0].split())}


def assert_exactly_once(stack: Stack, streams: dict) -> dict:
    """Both readers see each stream's offsets 0..n-1 once each, and nothing else. `streams` maps a host
    prefix to the events generated under it (over 4 streams, round-robin). Returns what each read."""
    expected = Counter()
    for prefix, count in streams.items():
        for i in range(count):
            expected[(f"{prefix}-{i % 4}", i // 4)] += 1
    readers = {
        "pyiceberg": read_pyiceberg(stack.catalog(), f"{NAMESPACE}.{TABLE}"),
        "duckdb": read_duckdb(stack.duckdb(), stack.location()),
    }
    for name, table in readers.items():
        uids = Counter(zip(*(table.column(c).to_pylist() for c in UID)))
        dups = [u for u, n in uids.items() if n > 1]
        assert not dups, f"{name}: duplicated UIDs {dups[:5]}"
        by_stream = Counter((host, offset) for host, _pid, offset in uids)
        missing = expected - by_stream
        extra = by_stream - expected
        assert not missing and not extra, f"{name}: missing {list(missing)[:5]}, unexpected {list(extra)[:5]}"
        assert table.num_rows == sum(streams.values()), name
    return readers


def age_files(root: Path, seconds: int) -> None:
    past = time.time() - seconds
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (past, past))


def test_compaction_and_orphan_removal_keep_every_event_once_for_pyiceberg_and_duckdb(registry_url, kafka):
    register(registry_url)
    stack = Stack(registry_url, kafka)
    events = 1200
    stack.fill(events, "small")
    before = stack.data_files()
    assert len(before) >= 10, f"the sink should have written many small files, wrote {len(before)}"
    assert_exactly_once(stack, {"small": events})

    refused = stack.maintain("--orphan-older-than", "30m", check=False)
    assert refused.returncode != 0 and "at least 3600s" in refused.stderr, refused.stderr

    res = stack.maintain("--target-file-bytes", str(1 << 20), "--no-orphans")
    r = report(res)
    assert r["status"] == "ok", res.stdout
    assert int(r["files_before"]) == len(before)
    after = stack.data_files()
    assert int(r["files_after"]) == len(after) < len(before)
    partitions = int(r["partitions"])
    assert partitions >= 1 and len(after) == partitions, res.stdout
    assert int(r["median_bytes_after"]) > int(r["median_bytes_before"]), res.stdout
    md = stack.metadata()
    current = next(s for s in md["snapshots"] if s["snapshot-id"] == md["current-snapshot-id"])
    assert current["summary"]["operation"] == "replace"
    assert current["summary"]["murron.maintenance"] == "compact"
    assert int(current["summary"]["total-records"]) == events
    assert_exactly_once(stack, {"small": events})

    # Everything is an hour old now: expiry leaves the current snapshot only, and orphan removal takes
    # the files only the expired snapshots reached (the small files among them), nothing the table reads.
    age_files(stack.warehouse, 2 * 3600)
    res = stack.maintain("--no-compact", "--expire-older-than", "0s", "--orphan-older-than", "1h")
    r = report(res)
    assert int(r["snapshots_expired"]) == len(md["snapshots"]) - 1, res.stdout
    assert int(r["orphans_removed"]) >= len(before), res.stdout
    for path in before:
        assert not Path(path.removeprefix("file://")).exists(), f"{path} was compacted away but not removed"
    assert [s["snapshot-id"] for s in stack.metadata()["snapshots"]] == [current["snapshot-id"]]
    assert_exactly_once(stack, {"small": events})

    # A second run finds nothing left to do.
    r = report(stack.maintain("--target-file-bytes", str(1 << 20), "--orphan-older-than", "1h"))
    assert (r["compacted_files"], r["snapshots_expired"], r["orphans_removed"]) == ("0", "0", "0"), r


def test_compaction_projects_files_of_an_older_schema_version_onto_the_current_one(registry_url, kafka):
    register(registry_url)
    stack = Stack(registry_url, kafka)
    old, new = 300, 300
    assert stack.gen(old, "v1").wait(timeout=120) == 0
    sink = stack.sink()
    try:
        stack.wait_for(sink, old)
        # A compatible new version: one more column, a long, so the table evolves under the sink.
        register(registry_url, [{"name": "shard", "type": "long", "default": 0}])
        assert stack.gen(new, "v2").wait(timeout=120) == 0
        stack.wait_for(sink, old + new)
    finally:
        stop(sink)
    md = stack.metadata()
    assert len(md["schemas"]) >= 2, "the table's schema did not evolve"
    res = stack.maintain("--target-file-bytes", str(1 << 20), "--no-orphans")
    r = report(res)
    assert int(r["compacted_files"]) > 0 and int(r["files_after"]) < int(r["files_before"]), res.stdout
    for name, table in assert_exactly_once(stack, {"v1": old, "v2": new}).items():
        rows = table.select(["_murron_host", "shard"]).to_pylist()
        assert all(row["shard"] is None for row in rows if row["_murron_host"].startswith("v1-")), name
        assert all(row["shard"] is not None for row in rows if row["_murron_host"].startswith("v2-")), name


def test_maintenance_while_the_sink_appends_loses_and_repeats_nothing(registry_url, kafka):
    register(registry_url)
    stack = Stack(registry_url, kafka)
    first = 600
    assert stack.gen(first, "early").wait(timeout=120) == 0
    sink = stack.sink()
    try:
        stack.wait_for(sink, first)
        # Slow production keeps the sink committing small batches while maintenance runs over and over.
        late = 1500
        producer = stack.gen(late, "late", rate=150)
        runs = []
        while producer.poll() is None:
            res = stack.maintain("--target-file-bytes", str(1 << 20), "--expire-older-than", "0s",
                                 "--orphan-older-than", "1h")
            runs.append(report(res))
        assert producer.wait() == 0
        stack.wait_for(sink, first + late)
        assert any(int(r["compacted_files"]) > 0 for r in runs), runs
    finally:
        stop(sink)
    assert_exactly_once(stack, {"early": first, "late": late})
    # After the sink stopped, one more run compacts what the last appends left.
    r = report(stack.maintain("--target-file-bytes", str(1 << 20), "--expire-older-than", "0s"))
    assert r["status"] == "ok", r
    assert_exactly_once(stack, {"early": first, "late": late})
    assert stack.total_records() == first + late


def test_maintenance_of_a_table_in_s3_compacts_expires_and_keeps_young_unreferenced_files(registry_url, kafka):
    register(registry_url)
    stack = Stack(registry_url, kafka, s3=True)
    events = 600
    stack.fill(events, "s3")
    before = stack.data_files()
    assert len(before) >= 5, before
    assert all(p.startswith("s3://") for p in before), before
    res = stack.maintain("--target-file-bytes", str(1 << 20), "--expire-older-than", "0s", "--orphan-older-than", "1h")
    r = report(res)
    assert r["status"] == "ok", res.stdout
    assert int(r["files_after"]) == len(stack.data_files()) < len(before)
    assert int(r["snapshots_expired"]) > 0, res.stdout
    # The compacted-away files are unreferenced now, but minutes old: a worker's files look the same
    # before its commit, so they stay until they are older than the hour.
    assert r["orphans_removed"] == "0", res.stdout
    assert_exactly_once(stack, {"s3": events})


def test_maintenance_runs_at_once_commit_one_compaction_and_leave_no_staged_file(registry_url, kafka):
    register(registry_url)
    stack = Stack(registry_url, kafka)
    events = 900
    stack.fill(events, "twice")
    before = set(stack.data_files())
    args = stack.command("iceberg-maintain", "--target-file-bytes", str(1 << 20), "--no-expire", "--no-orphans")
    runs = [subprocess.Popen(args, env=stack.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(3)]
    results = [subprocess.CompletedProcess(p.args, p.wait(timeout=120), *p.communicate()) for p in runs]
    reports = [report(r) for r in results]
    # Whichever lost the race found its manifests rewritten and gave up, or ran after and found nothing.
    assert all(r["status"] in ("ok", "compaction-skipped") for r in reports), reports
    assert sum(int(r["written_files"]) for r in reports) >= 1, reports
    after = set(stack.data_files())
    assert after and after != before, "nothing was compacted"
    # Every compacted file on disk is one the table reads: a run that gave up deleted what it wrote.
    table_dir = stack.warehouse / "iceberg" / NAMESPACE / TABLE / "data"
    on_disk = {p.resolve().as_uri() for p in table_dir.rglob("c-*.parquet")}
    read = {p for p in after if Path(p.removeprefix("file://")).name.startswith("c-")}
    assert on_disk == {Path(p.removeprefix("file://")).resolve().as_uri() for p in read}, (on_disk, read)
    assert_exactly_once(stack, {"twice": events})
