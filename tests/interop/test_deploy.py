"""The deployment under deploy/: Kubernetes manifests rendered by kustomize and validated by
kubeconform against the Kubernetes and KEDA API schemas, the configuration they carry loaded by the real
binaries, the one-command event type, and deploy/compose.yaml read by docker compose. The tools come
from the Go module proxy (deploy/k8s/tools.sh); nothing here needs a cluster or a Docker engine."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from conftest import DATABASE_URL, ROOT, binary

K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "deploy" / "compose.yaml"
# Stand-ins for the Secrets an operator creates (docs/OPERATIONS.md); only their shape matters here.
SECRETS = {
    "murron-secrets": {
        "DATABASE_URL": "postgres://murron:secret@db.example:5432/murron",
        "REGISTRY_ADMIN_TOKEN": "an-admin-token-of-32-characters!",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "example-secret",
    },
    "murron-hmac-keys": {"default": "hmac-secret-one", "k2026": "hmac-secret-two"},
    "murron-kafka": {"SASL_PASSWORD": "kafka-sasl-secret"},
    "murron-ingest-tokens": {
        "BILLING_APP__TOKEN": "a-producer-token-of-32-characters",
        "BILLING_APP__TYPES": '["billing.*"]',
    },
    "murron-monitor-tokens": {
        "OPS__TOKEN": "a-monitor-admin-token-of-32-chars",
        "OPS__ROLE": "admin",
        "BILLING_TEAM__TOKEN": "a-monitor-owner-token-of-32-chars",
        "BILLING_TEAM__ROLE": "owner",
        "BILLING_TEAM__TYPES": '["billing.*"]',
    },
}


@pytest.fixture(scope="module")
def tools() -> Path:
    res = subprocess.run(["bash", K8S / "tools.sh"], capture_output=True, text=True)
    if res.returncode != 0:
        pytest.fail(f"deploy/k8s/tools.sh failed:\n{res.stderr}")
    return Path(res.stdout.strip())


def render(tools: Path, overlay: Path) -> list[dict]:
    res = subprocess.run([tools / "bin" / "kustomize", "build", overlay], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return [d for d in yaml.safe_load_all(res.stdout) if d]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def check(k8s_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", K8S / "check.sh", k8s_dir], capture_output=True, text=True)


def test_every_overlay_renders_and_validates_strictly(tools):
    res = check(K8S)
    assert res.returncode == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    for overlay in ("production", "production-hpa"):
        line = next(l for l in lines if f"overlays/{overlay}:" in l)
        assert line.startswith("ok"), line
        assert "Invalid: 0, Errors: 0, Skipped: 0" in line, line
    assert any(l.startswith("ok") and "compose.yaml" in l for l in lines), res.stdout


def test_validation_rejects_a_misspelt_field_and_a_wrong_type(tools, tmp_path):
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    worker = copy / "event-type" / "sink-worker.yaml"
    worker.write_text(worker.read_text().replace("terminationGracePeriodSeconds", "terminationGracePeriodSecond"))
    scaling = copy / "event-type" / "autoscaling.yaml"
    scaling.write_text(scaling.read_text().replace("maxReplicaCount: 8", "maxReplicaCount: eight"))
    res = check(copy)
    assert res.returncode != 0, res.stdout
    assert "terminationGracePeriodSecond' not allowed" in res.stdout, res.stdout
    assert "/spec/maxReplicaCount': got string, want integer" in res.stdout, res.stdout


def policies_check(docs: list[dict]):
    """deploy/k8s/policies.py's Check over rendered objects, findings already gathered."""
    spec = importlib.util.spec_from_file_location("policies", K8S / "policies.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    check = module.Check(docs)
    assert check.run() == []
    return check


def peer_name(peer: dict) -> str:
    if "ipBlock" in peer:
        return peer["ipBlock"]["cidr"]
    if "namespaceSelector" in peer:
        labels = peer["namespaceSelector"]["matchLabels"]
        return labels.get("kubernetes.io/metadata.name") or ",".join(f"{k}={v}" for k, v in labels.items())
    selector = peer["podSelector"]
    components = selector.get("matchLabels", {}).get("app.kubernetes.io/component")
    return components or "+".join(selector["matchExpressions"][0]["values"])


def test_network_policies_let_each_component_reach_only_what_it_needs(tools):
    check = policies_check(render(tools, K8S / "overlays" / "production"))
    dns = {("kube-system", 53)}
    kafka = {("kafka", 9092), ("kafka", 9093)}
    postgres = {("postgres", 5432)}
    s3 = {("0.0.0.0/0", 443), ("::/0", 443)}
    registry = {("registry", 8081)}
    expected = {
        "registry": dns | postgres,
        "ingest": dns | kafka,
        "sink": dns | kafka | postgres | s3 | registry,
        "archive": dns | kafka | postgres | s3,
        "monitor": dns | kafka | postgres | s3 | registry,
        "maintenance": dns | postgres | s3,
    }
    for pod in check.pods:
        component = pod.labels["app.kubernetes.io/component"]
        egress = {(peer_name(peer), p["port"]) for r in check.rules(pod, "egress") for peer in r["to"] for p in r["ports"]}
        assert egress == expected[component], pod.owner
        ingress = {
            (peer_name(peer) if "from" in r else "anywhere", p["port"])
            for r in check.rules(pod, "ingress")
            for peer in r.get("from", [{}])
            for p in r["ports"]
            if p["port"] in {port for _, port, _ in pod.ports}
        }
        # Prometheus scrapes the PodMonitor's ports, `http` and `admin`.
        metrics = {("monitoring", port) for _, port, name in pod.ports if name in ("http", "admin")}
        assert ingress == metrics | {
            "registry": {("sink+monitor", 8081), ("murron.io/registry-client=true", 8081)},
            "ingest": {("anywhere", 9480), ("anywhere", 9481)},
            "monitor": {("murron.io/monitor-client=true", 9470)},
        }.get(component, set()), pod.owner


def test_network_policy_check_fails_on_a_renamed_label_or_port(tools, tmp_path):
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    archiver = copy / "event-type" / "archiver.yaml"
    archiver.write_text(archiver.read_text().replace("component: archive\n", "component: archival\n"))
    registry = copy / "base" / "registry.yaml"
    registry.write_text(registry.read_text().replace("containerPort: 8081", "containerPort: 8082"))
    res = check(copy)
    assert res.returncode != 0, res.stdout
    out = res.stdout
    assert "FAIL overlays/production (network policies)" in out, out
    assert "murron-egress-kafka: podSelector value app.kubernetes.io/component=archive selects no pod" in out, out
    assert "Deployment/archiver-billing: may reach nothing but DNS" in out, out
    assert "murron-egress-registry egress[0]: port 8081/TCP is no container port of the pods it reaches" in out, out
    assert "Deployment/schema-registry: container port 8082 (http) is opened by no ingress rule" in out, out


def test_network_policy_check_fails_on_a_path_open_at_one_end(tools, tmp_path):
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    policies = copy / "base" / "network-policy.yaml"
    text = policies.read_text()
    # The registry's ingress from the namespace's pods, without the monitor.
    ingress = text.index("name: murron-ingress-registry\n")
    at = text.index("values: [sink, monitor]", ingress)
    policies.write_text(text[:at] + "values: [sink]" + text[at + len("values: [sink, monitor]") :])
    res = check(copy)
    assert res.returncode != 0, res.stdout
    assert (
        "murron-egress-registry egress[0]: Deployment/monitor-billing -> Deployment/schema-registry:8081 "
        "is open at one end only (no ingress at Deployment/schema-registry)"
    ) in res.stdout, res.stdout


def test_each_production_overlay_keeps_exactly_one_autoscaler(tools):
    keda = render(tools, K8S / "overlays" / "production")
    hpa = render(tools, K8S / "overlays" / "production-hpa")
    # The sink workers scale by KEDA or by an HPA, never both; murron-server scales on CPU in both.
    assert set(by_kind(keda, "ScaledObject")) == {"sink-worker-billing"}
    assert set(by_kind(keda, "HorizontalPodAutoscaler")) == {"murron-server"}
    assert set(by_kind(hpa, "HorizontalPodAutoscaler")) == {"sink-worker-billing", "murron-server"}
    assert by_kind(hpa, "ScaledObject") == {}
    scaled = by_kind(keda, "ScaledObject")["sink-worker-billing"]
    assert scaled["spec"]["scaleTargetRef"]["name"] == "sink-worker-billing"
    assert by_kind(hpa, "HorizontalPodAutoscaler")["sink-worker-billing"]["spec"]["scaleTargetRef"]["name"] == (
        "sink-worker-billing"
    )
    # KEDA reads the brokers and the group from the worker's own environment: both must be set there.
    worker = by_kind(keda, "Deployment")["sink-worker-billing"]
    env = container_env(worker["spec"]["template"]["spec"]["containers"][0], keda)
    trigger = scaled["spec"]["triggers"][0]["metadata"]
    assert env[trigger["consumerGroupFromEnv"]] == "murron-sink-billing"
    assert env[trigger["bootstrapServersFromEnv"]] == "kafka-kafka-bootstrap.kafka.svc:9092"


def test_ingestion_server_is_highly_available_probed_and_drained(tools):
    docs = render(tools, K8S / "overlays" / "production")
    server = by_kind(docs, "Deployment")["murron-server"]
    spec = server["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = spec["template"]["spec"]
    # Long enough for a graceful shutdown to drain batches bounded by ack_timeout_ms (10 s).
    assert pod["terminationGracePeriodSeconds"] >= 30
    main = pod["containers"][0]
    assert main["command"] == ["/usr/local/bin/murron-server", "serve"]
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {p["containerPort"] for p in main["ports"]} == {9480, 9481}
    env = container_env(main, docs)
    assert env["MURRON_SERVER_KAFKA__BROKERS"] == "kafka-kafka-bootstrap.kafka.svc:9092"
    assert by_kind(docs, "PodDisruptionBudget")["murron-server"]["spec"]["minAvailable"] == 1
    service = by_kind(docs, "Service")["murron-server"]
    assert {p["port"] for p in service["spec"]["ports"]} == {9480, 9481}


def test_registry_is_highly_available_and_probed(tools):
    docs = render(tools, K8S / "overlays" / "production")
    registry = by_kind(docs, "Deployment")["schema-registry"]
    spec = registry["spec"]
    assert spec["replicas"] >= 2
    pod = spec["template"]["spec"]
    assert pod["initContainers"][0]["command"][-1] == "--migrate-only"
    main = pod["containers"][0]
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    pdb = by_kind(docs, "PodDisruptionBudget")["schema-registry"]
    assert pdb["spec"]["selector"]["matchLabels"] == spec["selector"]["matchLabels"]
    for d in by_kind(docs, "Deployment").values():
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", d["metadata"]["name"]
        ports = {p["containerPort"] for c in d["spec"]["template"]["spec"]["containers"] for p in c["ports"]}
        assert int(annotations["prometheus.io/port"]) in ports, d["metadata"]["name"]


def container_env(container: dict, docs: list[dict], secrets: dict = SECRETS) -> dict[str, str]:
    """The environment Kubernetes would give the container, with `secrets` for the Secrets."""
    config_maps = {name: d.get("data", {}) for name, d in by_kind(docs, "ConfigMap").items()}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            data = config_maps[source["configMapRef"]["name"]]
        else:
            data = secrets[source["secretRef"]["name"]]
        env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "configMapKeyRef" in var["valueFrom"]:
            ref = var["valueFrom"]["configMapKeyRef"]
            env[var["name"]] = config_maps[ref["name"]][ref["key"]]
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            value = secrets[ref["name"]].get(ref["key"])
            # Kubernetes refuses to start a container whose required Secret key is missing.
            assert value is not None or ref.get("optional"), f"{var['name']}: {ref} is missing"
            if value is not None:
                env[var["name"]] = value
    return env


def mount_config(pod: dict, docs: list[dict], root: Path) -> dict[str, str]:
    """Writes the ConfigMap volumes under root; returns mount path -> local folder."""
    config_maps = by_kind(docs, "ConfigMap")
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {}
    for container in pod["containers"] + pod.get("initContainers", []):
        for m in container.get("volumeMounts", []):
            volume = volumes[m["name"]]
            if "configMap" not in volume:
                continue
            local = root / m["name"]
            local.mkdir(parents=True, exist_ok=True)
            for key, text in config_maps[volume["configMap"]["name"]]["data"].items():
                (local / key).write_text(text)
            mounts[m["mountPath"]] = str(local)
    return mounts


def run_container(container: dict, env: dict[str, str], mounts: dict[str, str], extra_env: dict[str, str]):
    for var in ("SINK_WORKER_CONFIG", "SCHEMA_REGISTRY_CONFIG", "MURRON_SERVER_CONFIG"):
        if var in env:
            for mount, local in mounts.items():
                env[var] = env[var].replace(mount, local)
    command = container["command"] + container.get("args", [])
    exe = binary(Path(command[0]).name)
    base = {"PATH": os.environ["PATH"], "RUST_LOG": "warn"}
    return subprocess.run([exe, *command[1:]], env={**base, **env, **extra_env}, capture_output=True, text=True)


def test_the_rendered_configuration_loads_in_the_binaries(tools, tmp_path):
    """Every sink-worker container passes `sink-worker check` with exactly the files and variables the
    manifests give it, and the registry's migration step runs with its own against a real database."""
    docs = render(tools, K8S / "overlays" / "production")
    checked = {}
    for name, deployment in by_kind(docs, "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        mounts = mount_config(pod, docs, tmp_path / name)
        for container in pod["containers"]:
            if Path(container["command"][0]).name != "sink-worker":
                continue
            env = container_env(container, docs)
            check_container = {**container, "args": ["check"]}
            res = run_container(check_container, env, mounts, {})
            assert res.returncode == 0, f"{name}: {res.stderr}"
            checked[name] = res.stdout
    assert set(checked) == {"sink-worker-billing", "archiver-billing", "monitor-billing"}
    out = checked["sink-worker-billing"]
    assert "kafka brokers: kafka-kafka-bootstrap.kafka.svc:9092" in out, out
    assert "signing keys: default, k2026" in out, out
    assert (
        "pipeline billing: topics events.billing, group murron-sink-billing, types billing.member_active, "
        "outputs s3, postgres" in out
    ), out
    assert "archive archive-billing: topics events.billing" in out, out
    assert "monitor: 0.0.0.0:9470" in out, out
    # The monitor alone gets its tokens from murron-monitor-tokens.
    assert "monitor auth: off" in out, out
    monitor = checked["monitor-billing"]
    assert "monitor auth: tokens billing_team (owner of billing.*), ops (admin); reads token only" in monitor, monitor
    # No secret is printed.
    for secret in [*SECRETS["murron-secrets"].values(), *SECRETS["murron-hmac-keys"].values(),
                   *SECRETS["murron-monitor-tokens"].values()]:
        assert secret not in out and secret not in monitor or secret in ("admin", "owner", '["billing.*"]')

    # The ingestion server's check, with its routes, keys and producer tokens from the Secrets.
    server = by_kind(docs, "Deployment")["murron-server"]["spec"]["template"]["spec"]
    container = server["containers"][0]
    res = run_container(
        {**container, "command": [container["command"][0], "check"]},
        container_env(container, docs),
        mount_config(server, docs, tmp_path / "murron-server"),
        {},
    )
    assert res.returncode == 0, res.stderr
    assert "kafka brokers: kafka-kafka-bootstrap.kafka.svc:9092" in res.stdout, res.stdout
    assert "signing keys: default, k2026" in res.stdout, res.stdout
    assert "pipeline billing: grpc+http types billing.* -> topic events.billing" in res.stdout, res.stdout
    assert "token billing_app: types billing.*" in res.stdout, res.stdout
    for secret in [*SECRETS["murron-hmac-keys"].values(), SECRETS["murron-ingest-tokens"]["BILLING_APP__TOKEN"]]:
        assert secret not in res.stdout

    registry = by_kind(docs, "Deployment")["schema-registry"]["spec"]["template"]["spec"]
    mounts = mount_config(registry, docs, tmp_path / "registry")
    migrate = registry["initContainers"][0]
    db = "deploy_" + uuid.uuid4().hex[:12]
    subprocess.run(["psql", DATABASE_URL, "-q", "-c", f"CREATE DATABASE {db}"], check=True)
    url = DATABASE_URL.rsplit("/", 1)[0] + "/" + db
    res = run_container(migrate, container_env(migrate, docs), mounts, {"SCHEMA_REGISTRY_DATABASE__URL": url})
    assert res.returncode == 0, res.stderr
    assert "migrations applied" in res.stdout
    tables = subprocess.run(
        ["psql", url, "-tAc", "SELECT count(*) FROM _sqlx_migrations WHERE success"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert int(tables) == len(list((ROOT / "migrations").glob("*.sql")))


def test_sink_worker_pods_take_an_iam_role_when_the_secret_has_no_s3_keys(tools, tmp_path):
    """IRSA and EKS Pod Identity attach a role to the service account every sink-worker pod runs as;
    murron-secrets without the AWS keys still starts every pod, whose configuration then passes
    `sink-worker check` with no S3 credentials at all (they come from the default chain at run time)."""
    docs = render(tools, K8S / "overlays" / "production")
    account = by_kind(docs, "ServiceAccount")["murron-sink-worker"]
    assert account["automountServiceAccountToken"] is False
    secrets = {**SECRETS, "murron-secrets": {
        k: v for k, v in SECRETS["murron-secrets"].items() if not k.startswith("AWS_")
    }}
    pods = {name: d["spec"]["template"]["spec"] for name, d in by_kind(docs, "Deployment").items()}
    pods.update({name: d["spec"]["jobTemplate"]["spec"]["template"]["spec"] for name, d in by_kind(docs, "CronJob").items()})
    checked = []
    for name, pod in pods.items():
        for container in pod["containers"]:
            if Path(container["command"][0]).name != "sink-worker":
                continue
            assert pod.get("serviceAccountName") == "murron-sink-worker", name
            env = container_env(container, docs, secrets)
            assert not any(k.startswith("AWS_") for k in env), f"{name}: {sorted(env)}"
            res = run_container({**container, "args": ["check"]}, env, mount_config(pod, docs, tmp_path / name), {})
            assert res.returncode == 0, f"{name}: {res.stderr}"
            assert "s3 credentials: s3://murron-events (default credential chain)\n" in res.stdout, f"{name}: {res.stdout}"
            checked.append(name)
    assert len(checked) == 4, checked


def test_a_new_event_type_is_one_file_and_one_command(tools, tmp_path):
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    before = {p.relative_to(copy) for p in copy.rglob("*") if p.is_file()}
    res = subprocess.run(
        ["bash", K8S / "event-type.sh", "client.api_call", "--topic", "events.client", "--dir", copy],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stderr
    after = {p.relative_to(copy) for p in copy.rglob("*") if p.is_file()}
    assert after - before == {Path("event-types/client-api-call/kustomization.yaml")}
    assert "- client-api-call" in (copy / "event-types" / "kustomization.yaml").read_text()

    printed = [d for d in yaml.safe_load_all(res.stdout) if d]
    names = {(d["kind"], d["metadata"]["name"]) for d in printed}
    assert {
        ("Deployment", "sink-worker-client-api-call"),
        ("Deployment", "archiver-client-api-call"),
        ("Deployment", "monitor-client-api-call"),
        ("Service", "monitor-client-api-call"),
        ("ScaledObject", "sink-worker-client-api-call"),
        ("PodDisruptionBudget", "sink-worker-client-api-call"),
        ("CronJob", "iceberg-maintenance-client-api-call"),
    } <= names, names
    assert all(d["metadata"]["namespace"] == "murron" for d in printed)
    assert not any(name.endswith("-billing") for _, name in names), "only the new event type is printed"
    config = next(d for d in printed if d["kind"] == "ConfigMap")["data"]
    assert config["SINK_WORKER_PIPELINE__INPUT__GROUP"] == "murron-sink-client-api-call"
    assert config["SINK_WORKER_PIPELINE__FILTER_TYPE"] == '["client.api_call"]'
    # Both event types validate together, and the billing one is untouched.
    assert len(render(tools, copy / "overlays" / "production")) == len(
        render(tools, K8S / "overlays" / "production")
    ) + len(printed)
    res = check(copy)
    assert res.returncode == 0, res.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["billing.member_active", "--topic", "events.billing", "--name", "billing"], "already there"),
        (["not a type", "--topic", "t"], "is not an event type name"),
        (["client.api_call"], "--topic is required"),
        (["client.api_call", "--topic", "bad topic"], "is not a Kafka topic name"),
        (["client.api_call", "--topic", "t", "--name", "Bad_Name"], "is not a valid name"),
        (["client.api_call", "--topic", "events.billing"], "already archived by billing"),
    ],
)
def test_event_type_command_refuses_bad_input_and_writes_nothing(tools, tmp_path, args, message):
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    res = subprocess.run(["bash", K8S / "event-type.sh", *args, "--dir", copy], capture_output=True, text=True)
    assert res.returncode == 2, res.stdout + res.stderr
    assert message in res.stderr, res.stderr
    assert before == {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}


def compose_config(tools: Path) -> dict:
    res = subprocess.run(
        [tools / "bin" / "docker-compose", "-f", COMPOSE, "--profile", "demo", "config", "--format", "json"],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_compose_runs_the_whole_platform_with_two_workers(tools, tmp_path):
    services = compose_config(tools)["services"]
    assert {"kafka", "postgres", "s3", "schema-registry", "sink-worker", "archiver", "monitor"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["sink-worker"]["deploy"]["replicas"] == 2
    # The workers' configuration, as compose passes it, loads in the real binary.
    worker = services["sink-worker"]
    env = dict(worker["environment"])
    env["SINK_WORKER_CONFIG"] = str(ROOT / "deploy" / "compose" / "sink-worker.toml")
    res = subprocess.run(
        [binary("sink-worker"), "check"], env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "pipeline billing: topics events.billing" in res.stdout, res.stdout
    assert "outputs s3, postgres" in res.stdout, res.stdout
    # The ingestion server's configuration, as compose passes it, loads too.
    server = services["murron-server"]
    env = dict(server["environment"])
    env["MURRON_SERVER_CONFIG"] = str(ROOT / "deploy" / "compose" / "murron-server.toml")
    res = subprocess.run(
        [binary("murron-server"), "check"], env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "pipeline billing: grpc+http types billing.* -> topic events.billing" in res.stdout, res.stdout


def test_compose_registers_the_example_event_types(registry_url):
    res = subprocess.run(
        ["python3", ROOT / "deploy" / "compose" / "register.py", registry_url, ROOT / "schemas"],
        capture_output=True, text=True, timeout=60,
    )
    assert res.returncode == 0, res.stderr
    with urllib.request.urlopen(f"{registry_url}/subjects") as r:
        subjects = json.load(r)
    assert sorted(subjects) == ["billing.member_active", "client.api_call"]


def exported_metrics() -> dict[str, set[str]]:
    """Metric name -> label names, read from the metrics macros in the Rust sources. Every sink-worker
    series also has `pipeline` (a global label); summaries have `quantile`."""
    metrics: dict[str, set[str]] = {}
    for crate in ("sink-worker", "schema-registry"):
        for path in (ROOT / crate / "src").rglob("*.rs"):
            text = path.read_text()
            for m in re.finditer(r'metrics::(counter|gauge|histogram)!\(\s*"(\w+)"([^;]*?)\)\s*[.;]', text, re.S):
                kind, name, rest = m.groups()
                labels = set(re.findall(r'"(\w+)"\s*=>', rest))
                if "&labels" in rest:
                    defined = text.rfind("let labels = [", 0, m.start())
                    labels |= set(re.findall(r'\("(\w+)",', text[defined : text.index("];", defined)]))
                if crate == "sink-worker":
                    labels.add("pipeline")
                if kind == "histogram":
                    labels.add("quantile")
                metrics.setdefault(name, set()).update(labels)
    return metrics


def check_query(where: str, expr: str, metrics: dict[str, set[str]]) -> set[str]:
    """Fails unless `expr` names exported metrics and only their labels; returns the metrics named."""
    names = set(re.findall(r"\bmurron_\w+", expr))
    assert names, f"{where}: {expr}"
    unknown = names - set(metrics)
    assert not unknown, f"{where}: no such metric {unknown}"
    labels = set().union(*(metrics[n] for n in names))
    used = set()
    for group in re.findall(r"by \(([^)]*)\)", expr):
        used |= {label.strip() for label in group.split(",")}
    for selector in re.findall(r"\{([^}]*)\}", expr):
        used |= set(re.findall(r"(\w+)\s*(?:=~|!=|=)", selector))
    assert used <= labels, f"{where}: {expr} uses {used - labels}, not labels of {names}"
    return names


def test_the_grafana_dashboard_queries_exported_metrics_and_labels():
    dashboard = json.loads((K8S / "base" / "dashboards" / "murron.json").read_text())
    metrics = exported_metrics()
    assert {"murron_sink_consumed_total", "murron_rep_score", "murron_sink_invalid_total"} <= set(metrics)
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    queried = set()
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            queried |= check_query(panel["title"], target["expr"], metrics)
    # Throughput, lag, dead letters, REP score and backfills each have a panel.
    assert {
        "murron_sink_consumed_total",
        "murron_sink_consumer_lag",
        "murron_sink_invalid_total",
        "murron_rep_score",
        "murron_backfills_total",
    } <= queried


def test_the_alerts_query_exported_metrics_and_labels(tools):
    docs = render(tools, K8S / "overlays" / "production")
    rules = by_kind(docs, "PrometheusRule")["murron"]["spec"]["groups"][0]["rules"]
    metrics = exported_metrics()
    alerted = set()
    for rule in rules:
        alerted |= check_query(rule["alert"], rule["expr"], metrics)
        # Templates in annotations name only labels the expression keeps.
        kept = set()
        for group in re.findall(r"by \(([^)]*)\)", rule["expr"]):
            kept |= {label.strip() for label in group.split(",")}
        for text in rule.get("annotations", {}).values():
            assert set(re.findall(r"\$labels\.(\w+)", text)) <= kept, f"{rule['alert']}: {text}"
    assert {"murron_rep_score", "murron_sink_invalid_total", "murron_sink_consumer_lag"} <= alerted
    monitor = by_kind(docs, "PodMonitor")["murron"]
    ports = {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]}
    selector = monitor["spec"]["selector"]["matchLabels"]
    for d in by_kind(docs, "Deployment").values():
        template = d["spec"]["template"]
        assert selector.items() <= template["metadata"]["labels"].items(), f"the PodMonitor misses {d['metadata']['name']}"
        named = {p["name"] for c in template["spec"]["containers"] for p in c["ports"]}
        assert named & ports, f"the PodMonitor scrapes no port of {d['metadata']['name']}"
