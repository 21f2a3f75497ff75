"""Fixtures for the interoperability tests: the built binaries against the real local stack.

Services come from `deploy/local/stack.sh up` (`make test` starts them). A missing service fails the
test with a message saying which one; it is never skipped.
"""

import contextlib
import dataclasses
import json
import os
import socket
import ssl
import subprocess
import tempfile
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
    """A built binary: `$MURRON_BIN_<NAME>` (e.g. MURRON_BIN_MURRON_SERVER) when set, else `name` in
    `$MURRON_BIN_DIR` when set, else in the cargo target folder."""
    override = os.environ.get("MURRON_BIN_" + name.upper().replace("-", "_"))
    folder = os.environ.get("MURRON_BIN_DIR")
    path = Path(override) if override else (Path(folder) if folder else TARGET) / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the binaries with `cargo build --bins` (`make test` does)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen, url: str, name: str, seconds: float, ca_file: str | None = None) -> None:
    """Waits for `url`/readyz to answer 200 (over HTTPS trusting `ca_file`); fails the test if the
    process exits or time runs out."""
    context = ssl.create_default_context(cafile=ca_file) if ca_file else None
    deadline = time.time() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2, context=context) as r:
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
def running_registry(settings: dict | None = None, ca_file: str | None = None):
    """Starts a schema-registry process on a fresh database created with psql; yields its URL. For
    fixtures of a wider scope than `registry_url`'s. `settings`: more `SCHEMA_REGISTRY_*` variables;
    with `ca_file` the registry serves HTTPS (its `SCHEMA_REGISTRY_TLS__*` among `settings`) at
    `https://localhost:…`, with a certificate `ca_file` signed."""
    require("PostgreSQL", DATABASE_URL.rsplit("@", 1)[1].split("/")[0])
    db = "py_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", DATABASE_URL, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    port = free_port()
    env = dict(os.environ,
               SCHEMA_REGISTRY_SERVER__LISTEN=f"127.0.0.1:{port}",
               SCHEMA_REGISTRY_DATABASE__URL=DATABASE_URL.rsplit("/", 1)[0] + "/" + db,
               RUST_LOG="warn", **(settings or {}))
    proc = subprocess.Popen([binary("schema-registry")], env=env, stdout=subprocess.DEVNULL)
    url = f"https://localhost:{port}" if ca_file else f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url, "schema-registry", 30, ca_file)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclasses.dataclass
class IngestServer:
    """A running murron-server: its gRPC address (host:port, or https://localhost:port with TLS) and
    HTTP base URL."""

    grpc: str
    http: str
    proc: subprocess.Popen


def toml_str(s: str) -> str:
    return json.dumps(s)  # a JSON string is a TOML basic string for the text used here


@contextlib.contextmanager
def running_server(keys: dict, pipelines: list[dict], extra: str = "", tls: tuple[str, str, str] | None = None):
    """Starts `murron-server serve` with a TOML config (docs/INGESTION.md) holding `keys` ({id:
    secret}) and `pipelines` (each {name, topic, filter_type: [...] or default: True}), on free
    ports against the stack's Kafka, then `extra` TOML (e.g. `[auth.tokens.NAME]`); waits for /readyz;
    yields an :class:`IngestServer`. With `tls` = (CA file, cert file, key file) it serves TLS
    (`[tls]`) and its addresses are `https://localhost:…`."""
    require("Kafka", KAFKA)
    grpc_port, http_port = free_port(), free_port()
    lines = ["[server]", f'grpc_listen = "127.0.0.1:{grpc_port}"', f'http_listen = "127.0.0.1:{http_port}"',
             "[kafka]", f"brokers = {toml_str(KAFKA)}", "[keys]"]
    lines += [f"{toml_str(k)} = {toml_str(v)}" for k, v in keys.items()]
    for p in pipelines:
        lines += ["[[pipelines]]", f"name = {toml_str(p['name'])}", f"topic = {toml_str(p['topic'])}"]
        if p.get("filter_type"):
            lines.append("filter_type = [" + ", ".join(toml_str(t) for t in p["filter_type"]) + "]")
        if p.get("default"):
            lines.append("default = true")
    if tls is not None:
        lines += ["[tls]", f"cert_file = {toml_str(tls[1])}", f"key_file = {toml_str(tls[2])}"]
    config = Path(tempfile.mkdtemp(prefix="murron-server-")) / "server.toml"
    config.write_text("\n".join(lines) + "\n" + extra)
    env = dict(os.environ, RUST_LOG=os.environ.get("SERVER_LOG", "warn"))
    proc = subprocess.Popen([binary("murron-server"), "serve", "--config", str(config)], env=env)
    grpc_addr, http = f"127.0.0.1:{grpc_port}", f"http://127.0.0.1:{http_port}"
    if tls is not None:
        grpc_addr, http = f"https://localhost:{grpc_port}", f"https://localhost:{http_port}"
    try:
        wait_ready(proc, http, "murron-server", 60, tls[0] if tls else None)
        yield IngestServer(grpc_addr, http, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def murron_server(request):
    """A murron-server; its keys and pipelines come from the test's `server_config` fixture."""
    keys, pipelines = request.getfixturevalue("server_config")
    with running_server(keys, pipelines) as server:
        yield server


def sink_worker(registry_url: str, keys: dict, *args: str) -> str:
    """Runs the sink-worker binary and returns its stdout; fails the test with stderr otherwise."""
    env = dict(os.environ, SINK_WORKER_REGISTRY__URL=registry_url, SINK_WORKER_KAFKA__BROKERS=KAFKA, RUST_LOG="warn")
    env.update({f"SINK_WORKER_KEYS__{k.upper()}": v for k, v in keys.items()})
    res = subprocess.run([binary("sink-worker"), *args], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"sink-worker {args} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    return res.stdout
