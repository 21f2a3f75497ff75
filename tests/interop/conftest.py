"""Fixtures for the interoperability tests: the built binaries against the real local stack.

Services come from `deploy/local/stack.sh up` (`make test` starts them). A missing service fails the
test with a message saying which one; it is never skipped.
"""

import contextlib
import os
import socket
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
DATABASE_URL = os.environ.get("MURRON_DATABASE_URL", "postgres://murron:murron@127.0.0.1:5433/murron")
KAFKA = os.environ.get("MURRON_KAFKA_BROKERS", "127.0.0.1:9092")
S3_ENDPOINT = os.environ.get("MURRON_S3_ENDPOINT", "http://127.0.0.1:9000")
S3_ACCESS_KEY = os.environ.get("MURRON_S3_ACCESS_KEY", "murron")
S3_SECRET_KEY = os.environ.get("MURRON_S3_SECRET_KEY", "murron-secret")


def require(name: str, hostport: str) -> None:
    host, port = hostport.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError as e:
        pytest.fail(f"{name} is not reachable at {hostport} ({e}): start the stack with `make up`")


def binary(name: str) -> Path:
    path = TARGET / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the binaries with `cargo build --bins` (`make test` does)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str, name: str, seconds: float) -> None:
    """Waits for `url`/readyz to answer 200; fails the test if the process exits or time runs out."""
    deadline = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode} during start-up")
        if time.time() > deadline:
            pytest.fail(f"{name} not ready within {seconds:.0f} s")
        time.sleep(0.1)


@pytest.fixture
def kafka() -> str:
    require("Kafka", KAFKA)
    return KAFKA


@pytest.fixture
def registry_url():
    """A schema-registry process on a fresh database created with psql."""
    with running_registry() as url:
        yield url


@contextlib.contextmanager
def running_registry():
    """Starts a schema-registry process on a fresh database created with psql; yields its URL. For
    fixtures of a wider scope than `registry_url`'s."""
    require("PostgreSQL", DATABASE_URL.rsplit("@", 1)[1].split("/")[0])
    db = "py_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", DATABASE_URL, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    port = free_port()
    env = dict(os.environ,
               SCHEMA_REGISTRY_SERVER__LISTEN=f"127.0.0.1:{port}",
               SCHEMA_REGISTRY_DATABASE__URL=DATABASE_URL.rsplit("/", 1)[0] + "/" + db,
               RUST_LOG="warn")
    proc = subprocess.Popen([binary("schema-registry")], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, "schema-registry", 30)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def sink_worker(registry_url: str, keys: dict, *args: str) -> str:
    """Runs the sink-worker binary and returns its stdout; fails the test with stderr otherwise."""
    env = dict(os.environ, SINK_WORKER_REGISTRY__URL=registry_url, SINK_WORKER_KAFKA__BROKERS=KAFKA, RUST_LOG="warn")
    env.update({f"SINK_WORKER_KEYS__{k.upper()}": v for k, v in keys.items()})
    res = subprocess.run([binary("sink-worker"), *args], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"sink-worker {args} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res.stdout
