"""The spool format is shared with the Rust library: a spool the Rust example (producer/examples/send.rs)
wrote is read and continued by the Python producer, and the Rust example then reads and resends what
the Python producer left in it. The example runs against an in-process registry and Ingest server
that stand in for the real ones and record what they are sent.

The example binary is built by `make build` (cargo build --examples); MURRON_PRODUCER_EXAMPLE points
to another one.
"""

import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest

from fakes import FakeRegistry, HoldingTransport
from murron_producer import KeyRing, Producer, SpoolConfig, SpoolLocked, Uid
from murron_producer._proto import ingest_pb2, ingest_pb2_grpc
from murron_producer.envelope import decode_uid
from murron_producer.spool import Spool

ROOT = Path(__file__).resolve().parents[3]
TYPE = "billing.member_active"


def example_binary() -> str:
    path = os.environ.get("MURRON_PRODUCER_EXAMPLE")
    if path is None:
        target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
        path = str(target / "debug" / "examples" / "send")
    if not os.access(path, os.X_OK):
        pytest.fail(f"the Rust producer example {path} is missing: run `make build` (or `cargo build -p "
                    "murron-producer --features grpc --example send`), or set MURRON_PRODUCER_EXAMPLE")
    return path


class Registry(BaseHTTPRequestHandler):
    """Registers anything: the envelope gets id 1, payloads id 2."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"id": 1 if "murron.Envelope" in self.path else 2}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Ingest(ingest_pb2_grpc.IngestServicer):
    """Records every event; accepts them, or (`accept = False`) turns every call away for a minute."""

    def __init__(self):
        self.accept = True
        self.received = []
        self.lock = threading.Lock()

    def Publish(self, request, context):
        with self.lock:
            self.received.extend(request.events)
        if not self.accept:
            context.set_trailing_metadata((("retry-after-ms", "60000"),))
            context.abort(grpc.StatusCode.UNAVAILABLE, "not now")
        return ingest_pb2.PublishResponse(batch_id=request.batch_id,
                                          status=[ingest_pb2.STATUS_ACCEPTED] * len(request.events))

    def offsets(self):
        with self.lock:
            return [decode_uid(v)[3] for v in self.received]


@pytest.fixture
def services():
    http = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ingest = Ingest()
    ingest_pb2_grpc.add_IngestServicer_to_server(ingest, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{http.server_port}", f"http://127.0.0.1:{port}", ingest
    server.stop(0)
    http.shutdown()


def rust_send(services, spool, count, kill_after=None):
    """Runs the example; with `kill_after`, SIGKILLs it once the server has seen that many events."""
    registry, server, ingest = services
    cmd = [example_binary(), "--registry", registry, "--server", server, "--count", str(count),
           "--host", "rust-host", "--spool", str(spool)]
    # stderr to a file: a pipe nobody reads while the process runs could fill and stall it.
    err = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)

    def stderr_tail():
        err.seek(0)
        return err.read()[-2000:]

    if kill_after is None:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr_tail()
        return out
    deadline = time.monotonic() + 60
    while len(ingest.received) < kill_after:
        assert proc.poll() is None, stderr_tail()
        assert time.monotonic() < deadline, "the example did not send its events"
        time.sleep(0.02)
    # Rust's File::try_lock and Python's flock are the same lock.
    with pytest.raises(SpoolLocked):
        Spool.open(SpoolConfig(spool), "py-host", 42)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    return None


def test_python_reads_and_continues_a_rust_spool_and_rust_reads_a_python_one(services, tmp_path):
    _, _, ingest = services
    spool_dir = tmp_path / "spool"
    # Rust: three events delivered (the spool keeps only `streams`), then four never acknowledged
    # before the process is killed (they stay in a segment).
    rust_send(services, spool_dir, 3)
    ingest.accept = False
    rust_send(services, spool_dir, 4, kill_after=3 + 4)
    rust_records = {decode_uid(v)[3]: v for v in ingest.received[3:]}
    assert sorted(rust_records) == [3, 4, 5, 6]
    streams = json.loads((spool_dir / "streams").read_text())
    host, pid = streams["host"], streams["pid"]
    assert host == "rust-host"

    # Python reads what Rust wrote: the identity, the records with their bytes, the next offset.
    spool, recovered = Spool.open(SpoolConfig(spool_dir), "py-host", 42)
    assert (recovered.host, recovered.pid, recovered.corrupt) == (host, pid, 0)
    assert [r.uid for r in recovered.records] == [Uid(host, pid, TYPE, o) for o in range(3, 7)]
    assert [r.value for r in recovered.records] == [rust_records[o] for o in range(3, 7)]
    assert {(r.topic, r.key) for r in recovered.records} == {(None, f"{host}:{pid}".encode())}
    assert spool.next_offsets(host, pid) == {TYPE: 7}
    spool.release()

    # The Python producer continues the Rust streams: it resends Rust's records first, acknowledged
    # now, then spools two of its own that are never acknowledged.
    t = HoldingTransport()
    p = Producer(registry=FakeRegistry(), keys=KeyRing({"default": b"murron-demo-key"}), transport=t,
                 spool=SpoolConfig(spool_dir))
    assert (p.host, p.pid) == (host, pid)
    assert [r.value for r in t.sent] == [rust_records[o] for o in range(3, 7)]
    for rec in t.sent:
        t.ledger.acked(rec.seq)
    python_records = [p.send(TYPE, b"py-%d" % i) and t.sent[-1].value for i in range(2)]
    assert [decode_uid(v)[3] for v in python_records] == [7, 8]
    assert p.close(0.2).pending == 2

    # Rust reads what Python wrote: it resends Python's records, the same bytes, and its own events
    # continue at offset 9. (Its calls run concurrently, so the server may see them in any order.)
    ingest.accept = True
    ingest.received.clear()
    out = rust_send(services, spool_dir, 2)
    assert f"as {host}:{pid}, offsets 9..11" in out, out
    assert sorted(ingest.offsets()) == [7, 8, 9, 10]
    assert {decode_uid(v)[3]: v for v in ingest.received if decode_uid(v)[3] < 9} == dict(zip((7, 8), python_records))
    assert json.loads((spool_dir / "streams").read_text())["streams"] == [
        {"type": TYPE, "host": host, "pid": pid, "next": 11}]
    assert list(spool_dir.glob("*.seg")) == []
