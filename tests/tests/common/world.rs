//! A test world for the reliability tests: a registry with the example types, a topic, output and
//! archive folders, and one configuration file for every `sink-worker` command.

use std::path::PathBuf;

use sink_worker::config::Config;
use sink_worker::generate::{self, GenOptions, LossPlan};

use super::Registry;

pub const KEYS: [(&str, &str); 1] = [("default", "s3cret")];
pub const BILLING: &str = "billing.member_active";
pub const API: &str = "client.api_call";
/// The API call as JSON Schema and as Protobuf payloads.
pub const API_JSON: &str = "client.api_call_json";
pub const API_PROTO: &str = "client.api_call_proto";

/// One test's world: a registry with both types, a topic, output and archive folders, and one
/// configuration file for every command.
pub struct World {
    pub registry: Registry,
    pub topic: String,
    pub out: PathBuf,
    pub archive: PathBuf,
    /// The archive's store as a TOML inline table; the `archive` folder unless set.
    pub archive_store: String,
    /// More `[[pipeline.outputs]]` tables, appended as they are.
    pub extra_outputs: String,
    pub config_path: PathBuf,
}

impl World {
    pub async fn new() -> World {
        Self::with_archive_store(None).await
    }

    /// A world whose archive is in `store` (a TOML inline table) instead of a local folder.
    pub async fn with_archive_store(store: Option<String>) -> World {
        super::require_service("Kafka", &super::kafka_brokers());
        let registry = Registry::start().await;
        registry.register_file(BILLING, "billing/member_active.avsc").await;
        registry.register_file(API, "client/api_call.avsc").await;
        registry
            .register_file_as(API_JSON, "client/api_call.schema.json", "JSON")
            .await;
        registry
            .register_file_as(API_PROTO, "client/api_call.proto", "PROTOBUF")
            .await;
        let topic = super::unique("events.rel");
        super::create_topic(&topic, 4).await;
        let root = std::env::temp_dir().join(super::unique("murron-rel"));
        let world = World {
            out: root.join("out"),
            archive_store: store.unwrap_or_else(|| {
                format!(
                    r#"{{ kind = "local", path = "{}" }}"#,
                    root.join("archive-store").display()
                )
            }),
            archive: root.join("archive-store"),
            extra_outputs: String::new(),
            config_path: root.join("sink.toml"),
            registry,
            topic,
        };
        std::fs::create_dir_all(&root).expect("test dir");
        world.write_config(false, 2);
        world
    }

    /// The configuration; `auto_backfill` switches the monitor's repairs on, for gaps missing for
    /// `grace_secs`.
    pub fn write_config(&self, auto_backfill: bool, grace_secs: u64) {
        let config = format!(
            r#"
[kafka]
brokers = "{brokers}"

# A killed member's partitions wait for its session to time out; keep that short here.
[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"

[registry]
url = "{registry}"

[keys]
default = "s3cret"

[state]
url = "{database}"

[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_events = 5000, max_age_ms = 500 }}

[[pipeline.outputs]]
kind = "local"
path = "{out}"
format = "parquet"

[[pipeline.outputs]]
kind = "postgres"
{extra_outputs}

[archive]
prefix = "archive"
codec = "snappy"
topics = ["{topic}"]
name = "{topic}"
flush = {{ max_events = 3000, max_age_ms = 500 }}
store = {archive}

[monitor]
grace_secs = {grace_secs}
interval_secs = 0.5
auto_backfill = {auto_backfill}
"#,
            brokers = super::kafka_brokers(),
            registry = self.registry.url,
            database = self.registry.database_url,
            topic = self.topic,
            out = self.out.display(),
            archive = self.archive_store,
            extra_outputs = self.extra_outputs,
        );
        std::fs::write(&self.config_path, config).expect("write config");
    }

    pub fn config(&self) -> Config {
        Config::load(Some(&self.config_path)).expect("config loads")
    }

    pub fn config_text(&self) -> String {
        std::fs::read_to_string(&self.config_path).expect("config")
    }

    /// Generates signed events into Kafka and (all but the lost ones) into the archive.
    pub async fn generate(
        &self,
        event_type: &str,
        count: u64,
        streams: u32,
        prefix: &str,
        pid_base: i32,
        loss: LossPlan,
    ) -> generate::GenReport {
        let opts = GenOptions {
            topic: self.topic.clone(),
            event_type: event_type.into(),
            count,
            streams,
            host_prefix: prefix.into(),
            pid_base,
            start_offset: 0,
            key_id: None,
            rate: None,
            seed: 7,
            create_partitions: None,
            archive: true,
            loss,
            spread_hours: 0,
            server: None,
        };
        generate::run(&self.config(), &opts, |_| {}).await.expect("generate")
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let mut all = vec!["--config", self.config_path.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        super::sink_worker(&self.registry, &KEYS, &all)
    }
}

/// The backfills the monitor filed itself, from a `GET /api/backfills` answer.
pub fn auto_backfills(backfills: &serde_json::Value) -> Vec<&serde_json::Value> {
    backfills["backfills"]
        .as_array()
        .expect("backfills")
        .iter()
        .filter(|b| b["origin"] == "auto")
        .collect()
}
