"""The Python producer through murron-server served over TLS (`[tls]`, issue 26): with the private
CA in `ca_file` its events are acknowledged and reach Kafka; with another CA it fails at start-up,
at once, saying the certificate is not trusted, and never retries it as an outage."""

import tempfile
import time
from pathlib import Path

import pytest

from conftest import running_server
from murron_producer import KeyRing, Producer, SchemaRef, ServerConfig, TlsError, random_pid
from test_envelope_interop import consume_all, create_topic
from test_registry_https_interop import issue_certificates

KEYS = {"2026-11": "py-tls-producer-key"}
TYPE = "billing.member_active"
TOKEN = "py-tls-token-0123456789"


def test_the_python_producer_publishes_over_tls_and_an_untrusted_certificate_fails_at_once(registry_url, kafka):
    topic = create_topic(kafka, 1)
    work = Path(tempfile.mkdtemp(prefix="murron-server-tls-"))
    ca, cert, key = issue_certificates(work, "murron-test-ca")
    other_ca, _, _ = issue_certificates(work, "someone-elses-ca")
    auth = f'[auth.tokens.py]\ntoken = "{TOKEN}"\ntypes = ["billing.*"]\n'
    pipelines = [{"name": "billing", "filter_type": ["billing.*"], "topic": topic}]
    with running_server(KEYS, pipelines, extra=auth, tls=(ca, cert, key)) as server:
        assert server.grpc.startswith("https://")
        config = ServerConfig(server.grpc, ca_file=ca, token=TOKEN)
        assert TOKEN not in repr(config)
        producer = Producer(registry=registry_url, keys=KeyRing(KEYS), key_id="2026-11", host="py-tls",
                            pid=random_pid(), server=config)
        ty = producer.event_type(TYPE, SchemaRef.id(2))
        for _ in range(5):
            producer.send(ty, b"\x06w-1")
        report = producer.close(30)
        assert (report.acked, report.pending, report.refused) == (5, 0, [])
        assert len(consume_all(kafka, topic, 5)) == 5

        started = time.monotonic()
        with pytest.raises(TlsError, match="not trusted.*ca_file") as raised:
            Producer(registry=registry_url, keys=KeyRing(KEYS), key_id="2026-11", host="py-tls", pid=random_pid(),
                     server=ServerConfig(server.grpc, ca_file=other_ca, token=TOKEN))
        assert time.monotonic() - started < 5
        assert not raised.value.retryable and TOKEN not in str(raised.value)


def test_a_ca_file_needs_an_https_server_url():
    with pytest.raises(ValueError, match="https://"):
        ServerConfig("127.0.0.1:9480", ca_file="/etc/murron/ca.pem")
    assert not ServerConfig("127.0.0.1:9480").tls and ServerConfig("https://edge:9480").target == "edge:9480"
