"""Python clients of our registry served over HTTPS with authentication on (issue 26): the producer
package with a private CA and basic auth or a bearer token, and confluent-kafka's own Avro
serializers with `ssl.ca.location` and `basic.auth.user.info`, as a Confluent user would configure
them. Wrong trust and wrong credentials fail at once, saying which."""

import datetime
import io
import json
import tempfile
import time
from pathlib import Path

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import ROOT, running_registry
from murron_producer import KeyRing, Producer, RegistryConfig, RegistryError, Routes, SchemaRef
from test_envelope_interop import create_topic

ADMIN_TOKEN = "py-https-admin-token-0123456789"
TYPE = "billing.member_active"
SCHEMA = (ROOT / "schemas/billing/member_active.avsc").read_text()


def issue_certificates(dir: Path, name: str) -> tuple[str, str, str]:
    """A CA named `name` and a `localhost` certificate it signed, as PEM files: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = dir / f"{name}.pem", dir / f"{name}-tls.crt", dir / f"{name}-tls.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return tuple(str(p) for p in paths)


@pytest.fixture(scope="module")
def https_registry():
    """Our registry over HTTPS, auth on, no anonymous reads: (url, its CA file, another CA's file)."""
    work = Path(tempfile.mkdtemp(prefix="murron-registry-https-"))
    ca, cert, key = issue_certificates(work, "murron-test-ca")
    other_ca, _, _ = issue_certificates(work, "someone-elses-ca")
    settings = {"SCHEMA_REGISTRY_TLS__CERT_FILE": cert, "SCHEMA_REGISTRY_TLS__KEY_FILE": key,
                "SCHEMA_REGISTRY_AUTH__ENABLED": "true", "SCHEMA_REGISTRY_AUTH__ANONYMOUS_READS": "false",
                "SCHEMA_REGISTRY_AUTH__ADMIN_TOKEN": ADMIN_TOKEN}
    with running_registry(settings, ca_file=ca) as url:
        yield url, ca, other_ca


def datum(i: int) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, fastavro.parse_schema(json.loads(SCHEMA)), record(i))
    return buf.getvalue()


def record(i: int) -> dict:
    return {"workspace_id": "w1", "user_id": f"u{i}", "plan": "PRO", "ts": 1_764_115_200_000_000 + i,
            "client": "API", "seat_count": i, "is_guest": False, "country": None}


def test_the_python_producer_sends_through_an_https_registry_with_basic_auth(https_registry, kafka):
    url, ca, _ = https_registry
    topic = create_topic(kafka, 1)
    producer = Producer(registry=RegistryConfig(url, ca_file=ca, username="admin", password=ADMIN_TOKEN),
                        keys=KeyRing({"default": b"py-https-key"}), pid=4242, kafka=kafka,
                        routes=Routes({"*": topic}))
    ty = producer.event_type(TYPE, SchemaRef.register(SCHEMA))
    for i in range(3):
        producer.send(ty, datum(i))
    report = producer.close(timeout=30)
    assert report.acked == 3 and not report.refused


def test_a_bearer_token_registers_and_reads_over_https(https_registry):
    url, ca, _ = https_registry
    client = SchemaRegistryClient(RegistryConfig(url, ca_file=ca, token=ADMIN_TOKEN).client_config())
    schema_id = client.register_schema("bearer.subject", Schema(SCHEMA, "AVRO"))
    assert client.get_latest_version("bearer.subject").schema_id == schema_id
    anonymous = SchemaRegistryClient({"url": url, "ssl.ca.location": ca})
    with pytest.raises(Exception, match="401"):
        anonymous.get_subjects()


def test_confluent_avro_serializers_work_over_https_with_basic_auth_user_info(https_registry):
    url, ca, _ = https_registry
    client = SchemaRegistryClient({"url": url, "ssl.ca.location": ca,
                                   "basic.auth.user.info": f"confluent-client:{ADMIN_TOKEN}"})
    ctx = SerializationContext("events.confluent-https", MessageField.VALUE)
    value = AvroSerializer(client, SCHEMA, conf={"auto.register.schemas": True})(record(1), ctx)
    assert value[0] == 0, "Confluent framing: magic byte 0"
    registered = client.get_latest_version("events.confluent-https-value")
    assert int.from_bytes(value[1:5], "big") == registered.schema_id
    decoded, sent = AvroDeserializer(client)(value, ctx), record(1)
    # timestamp-micros comes back as a datetime.
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    assert decoded.pop("ts") == epoch + datetime.timedelta(microseconds=sent.pop("ts"))
    assert decoded == sent


@pytest.mark.parametrize("settings, says", [
    ({"ca": "other"}, "not trusted"),
    ({"password": "not-the-token-at-all"}, "401"),
])
def test_wrong_trust_or_credentials_fail_at_once_saying_which(https_registry, kafka, settings, says):
    url, ca, other_ca = https_registry
    registry = RegistryConfig(url, ca_file=other_ca if settings.get("ca") == "other" else ca, username="admin",
                              password=settings.get("password", ADMIN_TOKEN))
    started = time.monotonic()
    with pytest.raises(RegistryError, match=says) as raised:
        Producer(registry=registry, keys=KeyRing({"default": b"k"}), pid=4243, kafka=kafka,
                 routes=Routes({"*": "unused"}))
    assert time.monotonic() - started < 10, "a configuration error is not retried"
    assert "not-the-token-at-all" not in str(raised.value)
