"""Secrets stay secret: with debug logging on, the database password, the registry's admin token and
the tokens it issues, the monitor's tokens, the HMAC signing keys, the S3 secret key and the Kafka SASL
password appear in no log line, metric, `check` output, error answer or dead letter. The paths that handle them are exercised: start-up,
normal work, refused requests, forged events and wrong credentials."""

import hashlib
import json
import os
import secrets
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from conftest import DATABASE_URL, KAFKA, binary, free_port, wait_ready
from test_archive_interop import TYPE, register_payload_schema
from test_envelope_interop import create_topic
from test_tls_interop import PASSWORD as KAFKA_PASSWORD, SASL_SSL, SASL_SSL_KAFKA

S3_ENDPOINT = os.environ.get("MURRON_S3_ENDPOINT", "http://127.0.0.1:9000")
S3_ACCESS_KEY = os.environ.get("MURRON_S3_ACCESS_KEY", "murron")
S3_SECRET_KEY = os.environ.get("MURRON_S3_SECRET_KEY", "murron-secret")


def database_with_password() -> tuple[str, str]:
    """A database owned by a new role whose password is random: (url, password)."""
    name = "sec_" + secrets.token_hex(5)
    password = "pw-" + secrets.token_hex(12)
    for sql in (f"CREATE ROLE {name} LOGIN PASSWORD '{password}'", f"GRANT {name} TO CURRENT_USER",
                f"CREATE DATABASE {name} OWNER {name}"):
        subprocess.run(["psql", DATABASE_URL, "-q", "-c", sql], check=True)
    host = DATABASE_URL.rsplit("@", 1)[1].split("/")[0]
    return f"postgres://{name}:{password}@{host}/{name}", password


def assert_secret_free(what: str, text: str, *values: str) -> None:
    for value in values:
        assert value not in text, f"a secret ({value[:4]}…) appears in {what}"


def request(url: str, method: str = "GET", token: str | None = None, body: dict | None = None) -> tuple[int, str]:
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data, headers, method=method), timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_the_registry_keeps_its_database_password_and_tokens_out_of_logs_metrics_and_errors():
    url, db_password = database_with_password()
    admin_token = "adm-" + secrets.token_hex(16)
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="murron-secrets-")) / "registry.log"
    env = {"PATH": os.environ["PATH"], "RUST_LOG": "debug", "SCHEMA_REGISTRY_SERVER__LISTEN": f"127.0.0.1:{port}",
           "SCHEMA_REGISTRY_DATABASE__URL": url, "SCHEMA_REGISTRY_AUTH__ENABLED": "true",
           "SCHEMA_REGISTRY_AUTH__ANONYMOUS_READS": "false", "SCHEMA_REGISTRY_AUTH__ADMIN_TOKEN": admin_token}
    with log.open("w") as out:
        proc = subprocess.Popen([binary("schema-registry")], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, base, "schema-registry", 30)
        status, body = request(f"{base}/murron/tokens", "POST", admin_token,
                               {"name": "billing-ci", "role": "owner", "subjects": ["billing.*"]})
        assert status in (200, 201), body
        issued = json.loads(body)["token"]
        schema = (Path(__file__).resolve().parents[2] / "schemas/billing/member_active.avsc").read_text()
        assert request(f"{base}/subjects/{TYPE}/versions", "POST", issued, {"schema": schema})[0] == 200
        # Refused: a wrong token, a right token out of its subjects, no token.
        wrong = "wrong-" + secrets.token_hex(16)
        assert request(f"{base}/subjects", token=wrong)[0] == 401
        status, refused = request(f"{base}/subjects/client.api_call/versions", "POST", issued, {"schema": schema})
        assert status == 403, refused
        assert request(f"{base}/subjects")[0] == 401
        _, metrics = request(f"{base}/metrics", token=admin_token)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    assert "DEBUG" in text, "debug logging was on: the check below reads something"
    for what, content in (("the registry's log", text), ("its metrics", metrics), ("its 403", refused)):
        assert_secret_free(what, content, db_password, admin_token, issued, wrong)


def test_the_sink_keeps_keys_passwords_and_the_s3_secret_out_of_logs_metrics_and_dead_letters(registry_url, kafka):
    register_payload_schema(registry_url)
    topic = create_topic(kafka, 2)
    hmac_key = "hk-" + secrets.token_hex(16)
    forged_key = "fk-" + secrets.token_hex(16)
    # Basic auth to the registry (this one checks none; the header is sent all the same).
    registry_password = "rp-" + secrets.token_hex(16)
    state_url, db_password = database_with_password()
    work = Path(tempfile.mkdtemp(prefix="murron-secrets-"))
    gen_env = {"PATH": os.environ["PATH"], "RUST_LOG": "debug", "SINK_WORKER_REGISTRY__URL": registry_url,
               "SINK_WORKER_KAFKA__BROKERS": KAFKA}
    logs = {}
    for name, key, count in (("gen", hmac_key, 300), ("forged", forged_key, 20)):
        res = subprocess.run([binary("sink-worker"), "gen", "--topic", topic, "--type", TYPE, "--count", str(count),
                              "--host-prefix", name], env={**gen_env, "SINK_WORKER_KEYS__DEFAULT": key},
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        logs[f"gen ({name})"] = res.stdout + res.stderr

    # The worker reads Kafka over SASL_SSL and writes Parquet to S3, dead letters to a folder.
    config = work / "sink.toml"
    config.write_text(SASL_SSL_KAFKA + f"""
[pipeline]
name = "secrets"
input = {{ topics = ["{topic}"] }}
flush = {{ max_age_ms = 500 }}
dead_letter = {{ store = {{ kind = "local", path = "{work / 'dlq'}" }} }}

[[pipeline.outputs]]
kind = "s3"
bucket = "secrets-{secrets.token_hex(4)}"
endpoint = "{S3_ENDPOINT}"
create_bucket = true

[[pipeline.outputs]]
kind = "postgres"
""")
    admin = free_port()
    env = {**gen_env, "SINK_WORKER_KAFKA__BROKERS": SASL_SSL, "SINK_WORKER_STATE__URL": state_url,
           "SINK_WORKER_ADMIN__LISTEN": f"127.0.0.1:{admin}", "SINK_WORKER_KEYS__DEFAULT": hmac_key,
           "SINK_WORKER_KAFKA_PROPERTY__SASL_PASSWORD": KAFKA_PASSWORD,
           "SINK_WORKER_REGISTRY__USERNAME": "sink", "SINK_WORKER_REGISTRY__PASSWORD": registry_password,
           "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY}
    check = subprocess.run([binary("sink-worker"), "--config", str(config), "check"], env=env,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    logs["check"] = check.stdout + check.stderr

    log = work / "worker.log"
    with log.open("w") as out:
        proc = subprocess.Popen([binary("sink-worker"), "--config", str(config), "run"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while True:
            done = subprocess.run(["psql", state_url, "-At", "-c", "SELECT count(*) FROM warehouse.billing_member_active"],
                                  capture_output=True, text=True)
            if done.returncode == 0 and int(done.stdout.strip() or 0) >= 300:
                break
            assert proc.poll() is None, f"sink-worker exited with {proc.returncode}: {log.read_text()[-2000:]}"
            assert time.time() < deadline, "the warehouse did not fill in time"
            time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5) as r:
            logs["metrics"] = r.read().decode()
        assert 'reason="bad_signature"} 20' in logs["metrics"], logs["metrics"]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    logs["worker log"] = log.read_text()
    dead = [p for p in (work / "dlq").rglob("*") if p.is_file()]
    assert dead, "the forged events are dead-lettered"
    logs["dead letters"] = "".join(p.read_text(errors="replace") for p in dead)
    assert "bad_signature" in logs["dead letters"]

    # Wrong credentials: the rejected password is not repeated in the error either.
    wrong_db = "wrongpw-" + secrets.token_hex(10)
    bad_url = state_url.replace(db_password, wrong_db)
    with (work / "wrong.log").open("w") as out:
        proc = subprocess.Popen([binary("sink-worker"), "--config", str(config), "run"],
                                env={**env, "SINK_WORKER_STATE__URL": bad_url}, stdout=out, stderr=subprocess.STDOUT)
    time.sleep(8)
    proc.kill()
    proc.wait()
    logs["wrong password log"] = (work / "wrong.log").read_text()
    assert "password authentication failed" in logs["wrong password log"], logs["wrong password log"][-2000:]

    assert "DEBUG" in logs["worker log"], "debug logging was on: the check below reads something"
    for what, text in logs.items():
        assert_secret_free(what, text, hmac_key, forged_key, db_password, wrong_db, KAFKA_PASSWORD, S3_SECRET_KEY,
                           registry_password)


def test_the_monitor_keeps_its_tokens_out_of_logs_metrics_check_and_refusals():
    state_url, db_password = database_with_password()
    admin_token, owner_token, reader_token, wrong = ("mon-" + secrets.token_hex(16) for _ in range(4))
    reader_hash = hashlib.sha256(reader_token.encode()).hexdigest()
    work = Path(tempfile.mkdtemp(prefix="murron-secrets-"))
    config = work / "monitor.toml"
    # The admin's and the owner's tokens come from the environment, the reader's hash from the file.
    config.write_text(f"""
[pipeline]
name = "secrets-monitor-{secrets.token_hex(4)}"
input = {{ topics = ["unused"] }}

[[pipeline.outputs]]
kind = "postgres"

[archive]
store = {{ kind = "local", path = "{work / 'archive'}" }}

[monitor]
interval_secs = 1
auto_backfill = false
run_backfills = false

[monitor.auth.tokens.ops]
role = "admin"

[monitor.auth.tokens.billing]
role = "owner"
types = ["billing.*"]

[monitor.auth.tokens.dash]
role = "reader"
sha256 = "{reader_hash}"
""")
    port = free_port()
    env = {"PATH": os.environ["PATH"], "RUST_LOG": "debug", "SINK_WORKER_STATE__URL": state_url,
           "SINK_WORKER_MONITOR__LISTEN": f"127.0.0.1:{port}",
           "SINK_WORKER_MONITOR__AUTH__TOKENS__OPS__TOKEN": admin_token,
           "SINK_WORKER_MONITOR__AUTH__TOKENS__BILLING__TOKEN": owner_token}
    logs = {}
    check = subprocess.run([binary("sink-worker"), "--config", str(config), "check"], env=env,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "monitor auth: tokens billing (owner of billing.*), dash (reader), ops (admin)" in check.stdout, check.stdout
    logs["check"] = check.stdout + check.stderr

    log = work / "monitor.log"
    with log.open("w") as out:
        proc = subprocess.Popen([binary("sink-worker"), "--config", str(config), "monitor"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    backfill = lambda t: {"type": t, "from": "2020-01-01", "to": "2020-01-02"}  # noqa: E731
    try:
        wait_ready(proc, base, "sink-worker monitor", 30)
        answers = [
            # Refused: no token, a wrong one, a reader changing, an owner out of its types.
            (401, request(f"{base}/api/backfills")),
            (401, request(f"{base}/api/backfills", token=wrong)),
            (401, request(f"{base}/api/backfills", "POST", wrong, backfill("billing.x"))),
            (403, request(f"{base}/api/backfills", "POST", reader_token, backfill("billing.x"))),
            (403, request(f"{base}/api/backfills", "POST", owner_token, backfill("web.checkout"))),
            # Allowed: a reader reads, the owner and the admin file.
            (200, request(f"{base}/api/backfills", token=reader_token)),
            (201, request(f"{base}/api/backfills", "POST", owner_token, backfill("billing.x"))),
            (201, request(f"{base}/api/backfills", "POST", admin_token, backfill("web.checkout"))),
        ]
        for i, (want, (status, body)) in enumerate(answers):
            assert status == want, (i, status, body)
            logs[f"answer {i} ({status})"] = body
        logs["metrics"] = request(f"{base}/metrics")[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    logs["monitor log"] = log.read_text()
    assert "DEBUG" in logs["monitor log"], "debug logging was on: the check below reads something"
    for needle in ("bearer tokens required", "monitor API request refused", "backfill request refused",
                   "backfill filed through the API"):
        assert needle in logs["monitor log"], f"the log has no {needle!r} line: the paths were not exercised"
    for what, text in logs.items():
        assert_secret_free(what, text, admin_token, owner_token, reader_token, reader_hash, wrong, db_password)
