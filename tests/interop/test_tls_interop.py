"""TLS to the services production runs against: Kafka over SASL_SSL (TLS and SASL/PLAIN, as Confluent
Cloud and MSK are reached) and PostgreSQL over TLS (as RDS requires), each checked from the other side
with a client no one here wrote: the confluent-kafka consumer and PostgreSQL's own pg_stat_ssl."""

import os
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from conftest import DATABASE_URL, KAFKA, binary, free_port, require, wait_ready
from test_archive_interop import TYPE, register_payload_schema
from test_envelope_interop import KEY, consume_all, create_topic

SASL_SSL = os.environ.get("MURRON_KAFKA_SASL_SSL_BROKERS", "127.0.0.1:9094")
CA = os.environ.get("MURRON_KAFKA_CA", str(Path(__file__).resolve().parents[2] / ".local/kafka/tls/ca.pem"))
USER = os.environ.get("MURRON_KAFKA_SASL_USER", "murron")
PASSWORD = os.environ.get("MURRON_KAFKA_SASL_PASSWORD", "murron-kafka-secret")


# The [kafka] section for the SASL_SSL listener; the password comes from the environment.
SASL_SSL_KAFKA = f"""
[kafka]
brokers = "{SASL_SSL}"

[kafka.properties]
"security.protocol" = "SASL_SSL"
"sasl.mechanisms" = "PLAIN"
"sasl.username" = "{USER}"
"ssl.ca.location" = "{CA}"
"""


def sasl_ssl_config(work: Path) -> Path:
    config = work / "tls.toml"
    config.write_text(SASL_SSL_KAFKA)
    return config


def run(registry_url: str, config: Path, *args: str, password: str = PASSWORD,
        timeout: float = 120) -> subprocess.CompletedProcess:
    # The password as a Kubernetes Secret gives it: an environment variable, not the file.
    env = {"PATH": os.environ["PATH"], "SINK_WORKER_REGISTRY__URL": registry_url, "RUST_LOG": "warn",
           "SINK_WORKER_KEYS__DEFAULT": KEY.decode(), "SINK_WORKER_KAFKA_PROPERTY__SASL_PASSWORD": password}
    return subprocess.run([binary("sink-worker"), "--config", str(config), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_events_go_through_kafka_over_sasl_ssl(registry_url, kafka):
    require("Kafka's SASL_SSL listener", SASL_SSL)
    register_payload_schema(registry_url)
    topic = create_topic(kafka, 2)
    work = Path(tempfile.mkdtemp(prefix="murron-tls-"))
    config = sasl_ssl_config(work)

    res = run(registry_url, config, "gen", "--topic", topic, "--type", TYPE, "--count", "500", "--streams", "2")
    assert res.returncode == 0, res.stderr
    # What went in over TLS is all there for a plaintext client no one here wrote...
    assert len(consume_all(kafka, topic, 500)) == 500
    # ...and our consumer reads it back over TLS as well.
    res = run(registry_url, config, "inspect", "--topic", topic, "--idle-secs", "3")
    assert res.returncode == 0, res.stderr
    assert f"{topic}: 500 records, 500 valid, 0 invalid" in res.stdout, res.stdout


def test_a_wrong_kafka_password_is_an_error_not_a_hang(registry_url, kafka):
    require("Kafka's SASL_SSL listener", SASL_SSL)
    register_payload_schema(registry_url)
    topic = create_topic(kafka, 1)
    config = sasl_ssl_config(Path(tempfile.mkdtemp(prefix="murron-tls-")))
    res = run(registry_url, config, "gen", "--topic", topic, "--type", TYPE, "--count", "10",
              password="not-the-password", timeout=90)
    assert res.returncode != 0, res.stdout
    assert f"Kafka at {SASL_SSL} did not answer a metadata request" in res.stderr, res.stderr
    # librdkafka's own reason reaches the log.
    assert "Authentication failed" in res.stderr, res.stderr


def ssl_connections(database: str) -> tuple[int, int]:
    """(TLS, plaintext) client connections to `database`, as the server sees them."""
    out = subprocess.run(
        ["psql", DATABASE_URL, "-tAc",
         "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) FROM pg_stat_activity a "
         f"JOIN pg_stat_ssl s USING (pid) WHERE a.datname = '{database}'"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    tls, plain = out.split("|")
    return int(tls), int(plain)


@pytest.mark.parametrize("binary_name", ["schema-registry", "sink-worker"])
def test_postgres_connections_use_tls_when_the_url_requires_it(binary_name):
    db = "py_tls_" + uuid.uuid4().hex[:10]
    subprocess.run(["psql", DATABASE_URL, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    url = DATABASE_URL.rsplit("/", 1)[0] + "/" + db + "?sslmode=require"
    port = free_port()
    if binary_name == "schema-registry":
        env = {"SCHEMA_REGISTRY_SERVER__LISTEN": f"127.0.0.1:{port}", "SCHEMA_REGISTRY_DATABASE__URL": url}
        args = []
    else:
        # The monitor's readiness runs a query on its pool; the state database is all it needs here.
        work = Path(tempfile.mkdtemp(prefix="murron-tls-pg-"))
        config = work / "monitor.toml"
        config.write_text(f"""
[pipeline]
name = "tls"
input = {{ topics = ["unused"] }}
outputs = [{{ kind = "local", path = "{work / 'out'}" }}]

[monitor]
listen = "127.0.0.1:{port}"
run_backfills = false
""")
        env = {"SINK_WORKER_STATE__URL": url, "SINK_WORKER_KAFKA__BROKERS": KAFKA}
        args = ["--config", str(config), "monitor"]
    proc = subprocess.Popen([binary(binary_name), *args], env={"PATH": os.environ["PATH"], "RUST_LOG": "warn", **env})
    try:
        wait_ready(proc, f"http://127.0.0.1:{port}", f"{binary_name} over TLS", 60)
        tls, plain = ssl_connections(db)
        assert tls >= 1 and plain == 0, f"{tls} TLS and {plain} plaintext connections"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
