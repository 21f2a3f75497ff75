//! Murron's clients of the registry against our registry served over HTTPS with authentication on
//! (issue 26): the sink-worker resolving schemas with a private CA and a bearer token, the Rust
//! producer registering and looking up with basic auth; and the failures an operator must be told
//! about plainly, an untrusted certificate and refused credentials, which stop the worker at start
//! instead of being retried as an outage.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::outputs::{assert_exactly, eventually, generated, parquet_uids};
use common::{Registry, SinkRun};
use murron_connect::registry::{RegistryClient, RegistryConfig, RegistryError};
use murron_producer::{KafkaConfig, KeyRing, Producer, ProducerError, SchemaRef, Topics};
use murron_tls::test_ca::TestCa;

const KEYS: [(&str, &str); 1] = [("default", "s3cret")];
const ADMIN_TOKEN: &str = "tls-test-admin-token-0123456789";
const TYPE: &str = "billing.member_active";

/// A test CA's certificate and a `localhost` pair it issued, written as PEM files in `dir`: (CA file,
/// certificate file, key file).
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca = TestCa::new();
    let tls = ca.write_pair(dir);
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).expect("write ca");
    (ca_file, tls.cert_file, tls.key_file)
}

/// Our registry over HTTPS, authentication on and no anonymous reads; and its CA file.
async fn https_registry(name: &str) -> (Registry, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(common::unique(name));
    let (ca, cert, key) = certificates(&dir);
    let (cert, key) = (cert.to_str().expect("utf-8"), key.to_str().expect("utf-8"));
    let settings = [
        ("SCHEMA_REGISTRY_TLS__CERT_FILE", cert),
        ("SCHEMA_REGISTRY_TLS__KEY_FILE", key),
        ("SCHEMA_REGISTRY_AUTH__ENABLED", "true"),
        ("SCHEMA_REGISTRY_AUTH__ANONYMOUS_READS", "false"),
        ("SCHEMA_REGISTRY_AUTH__ADMIN_TOKEN", ADMIN_TOKEN),
    ];
    let client = RegistryConfig {
        token: Some(ADMIN_TOKEN.into()),
        ca_file: Some(ca.clone()),
        ..RegistryConfig::default()
    };
    (Registry::start_https(&settings, &client).await, ca, dir)
}

/// The registry settings of a client: basic auth as Confluent clients send it (the token as the
/// password).
fn basic(registry: &Registry, ca: &Path, password: &str) -> RegistryConfig {
    RegistryConfig {
        url: registry.url.clone(),
        username: Some("admin".into()),
        password: Some(password.into()),
        ca_file: Some(ca.to_path_buf()),
        ..RegistryConfig::default()
    }
}

/// A sink-worker configuration whose `[registry]` trusts `ca` and sends `token`, with a pipeline
/// from `topic` to Parquet files in `out`.
fn worker_config(ca: &Path, token: &str, topic: &str, out: &Path, database_url: &str) -> String {
    format!(
        r#"
[registry]
ca_file = "{}"
token = "{token}"

[state]
url = "{database_url}"

[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_events = 500, max_age_ms = 500 }}

[[pipeline.outputs]]
kind = "local"
path = "{}"
format = "parquet"
"#,
        ca.display(),
        out.display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sink_worker_resolves_schemas_over_https_with_a_private_ca_and_a_token() {
    common::require_service("Kafka", &common::kafka_brokers());
    let (registry, ca, dir) = https_registry("murron-registry-https-sink").await;
    let schema = std::fs::read_to_string(common::workspace_path("schemas/billing/member_active.avsc")).expect("schema");
    let admin = RegistryClient::new(&basic(&registry, &ca, ADMIN_TOKEN)).expect("client");
    admin.register(TYPE, &schema).await.expect("register over https");

    let topic = common::unique("events.tls");
    let out = dir.join("out");
    let config = worker_config(&ca, ADMIN_TOKEN, &topic, &out, &registry.database_url);
    let config_path = dir.join("gen.toml");
    std::fs::write(&config_path, &config).expect("write gen config");
    // `gen` looks the payload schema up over HTTPS too.
    common::sink_worker(
        &registry,
        &KEYS,
        &[
            "--config",
            config_path.to_str().expect("utf-8"),
            "gen",
            "--topic",
            &topic,
            "--type",
            TYPE,
            "--count",
            "200",
            "--streams",
            "2",
            "--host-prefix",
            "tls",
            "--pid-base",
            "300",
            "--partitions",
            "2",
        ],
    );
    let worker = SinkRun::start(&registry, &KEYS, &config).await;
    let expected = generated(TYPE, 200, 2, "tls", 300);
    eventually(60, "200 events in Parquet", async || parquet_uids(&out).len() >= 200).await;
    assert_exactly("parquet over an https registry", &parquet_uids(&out), &expected);
    assert_eq!(worker.metric("murron_sink_invalid_total").await, 0.0);
    worker.stop();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sink_worker_stops_at_start_on_an_untrusted_certificate_or_a_wrong_token() {
    let (registry, ca, dir) = https_registry("murron-registry-https-refused").await;
    let (other_ca, _, _) = certificates(&dir.join("other"));
    let topic = common::unique("events.tls-refused");
    let out = dir.join("out");
    for (ca_file, token, says) in [
        (&other_ca, ADMIN_TOKEN, "certificate is not trusted"),
        (&ca, "a-token-the-registry-never-issued", "answered 401"),
    ] {
        let config = worker_config(ca_file, token, &topic, &out, &registry.database_url);
        let path = dir.join("run.toml");
        std::fs::write(&path, &config).expect("write config");
        let started = std::time::Instant::now();
        let output = common::sink_worker_output(&registry, &KEYS, &["--config", path.to_str().expect("utf-8"), "run"]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "run started anyway: {stderr}");
        assert!(stderr.contains(says), "the error does not say {says:?}: {stderr}");
        assert!(!stderr.contains(token), "the token is in the log: {stderr}");
        // A configuration error, not an outage waited out.
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "took {:?}",
            started.elapsed()
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rust_producer_registers_and_looks_up_over_https_with_basic_auth() {
    common::require_service("Kafka", &common::kafka_brokers());
    let (registry, ca, dir) = https_registry("murron-registry-https-producer").await;
    let schema = std::fs::read_to_string(common::workspace_path("schemas/billing/member_active.avsc")).expect("schema");
    let topic = common::unique("events.tls-producer");
    common::create_topic(&topic, 1).await;
    let builder = |config: RegistryConfig| {
        Producer::builder()
            .registry(config)
            .keys(KeyRing::new([("default".to_string(), b"s3cret".to_vec())]))
            .host("tls-producer")
            .pid(7)
            .kafka(
                KafkaConfig {
                    brokers: common::kafka_brokers(),
                    properties: Default::default(),
                },
                Topics::Fixed(topic.clone()),
            )
    };
    // build() registers the envelope schema; event_type() registers the payload schema.
    let producer = builder(basic(&registry, &ca, ADMIN_TOKEN))
        .build()
        .await
        .expect("producer over https with basic auth");
    producer
        .event_type(
            TYPE,
            SchemaRef::Register {
                text: schema.clone(),
                schema_type: None,
            },
        )
        .await
        .expect("payload schema registered over https");
    producer.close(Duration::from_secs(10)).await.expect("close");
    let client = RegistryClient::new(&basic(&registry, &ca, ADMIN_TOKEN)).expect("client");
    let found = client
        .lookup(TYPE, &schema, None)
        .await
        .expect("lookup")
        .expect("registered");
    assert_eq!(found.subject, TYPE);
    assert_eq!(client.latest(TYPE).await.expect("latest").id, found.id);

    // A wrong password: a 401 said as such, not retryable.
    let err = builder(basic(&registry, &ca, "not-the-token-at-all"))
        .build()
        .await
        .map(|_| ())
        .expect_err("a wrong password is refused");
    match &err {
        ProducerError::Registry(e @ RegistryError::Api { status: 401, .. }) => assert!(e.is_configuration()),
        other => panic!("not a 401 from the registry: {other:?}"),
    }
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("check the registry credentials"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}
