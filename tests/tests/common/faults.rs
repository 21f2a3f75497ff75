//! What the fault scenarios that sink one billing topic share: the worker's configuration (S3
//! Parquet and the warehouse, and a routed Kafka topic where the scenario asks), waiting for
//! progress, and checking the outputs event by event.

use sqlx::postgres::PgPool;

use super::outputs::{Uid, eventually, report_exactly, s3_parquet_uids, warehouse_uids};

/// The one event type these scenarios generate.
pub const EVENT_TYPE: &str = "billing.member_active";

/// A worker sinking `topic` to S3 Parquet in `bucket` and to the warehouse.
pub fn sink_config(topic: &str, bucket: &str) -> String {
    let (access, secret) = super::s3_credentials();
    format!(
        r#"
[pipeline]
name = "{topic}"
input = {{ topics = ["{topic}"] }}
flush = {{ max_events = 4000, max_age_ms = 700 }}

[[pipeline.outputs]]
kind = "s3"
bucket = "{bucket}"
endpoint = "{}"
access_key_id = "{access}"
secret_access_key = "{secret}"
create_bucket = true

[[pipeline.outputs]]
kind = "postgres"
"#,
        super::s3_endpoint()
    )
}

/// [`sink_config`] with a Kafka output too: the kept events routed to `{topic}.routed` on the input's
/// cluster ([`routed_topic`]), which must exist before the worker starts.
pub fn sink_config_routed(topic: &str, bucket: &str) -> String {
    format!(
        r#"{}
[[pipeline.outputs]]
kind = "kafka"
topic = "{}"
"#,
        sink_config(topic, bucket),
        routed_topic(topic)
    )
}

/// The Kafka output's topic of [`sink_config_routed`].
pub fn routed_topic(topic: &str) -> String {
    format!("{topic}.routed")
}

/// Checks the routed topic on `brokers`, read with `read_committed`, against `expected` (a
/// `RELIABILITY` row).
pub fn check_routed(scenario: &str, brokers: &str, topic: &str, expected: &[Uid], notes: &str) {
    let routed = super::routed_uids_on(brokers, &routed_topic(topic), expected.len(), 120);
    report_exactly(scenario, "routed topic", &routed, expected, notes);
}

/// Checks the warehouse and S3 against `expected` (a `RELIABILITY` row each) and that every
/// committed file was published.
pub async fn check_outputs(scenario: &str, pool: &PgPool, bucket: &str, expected: &[Uid], notes: &str) {
    report_exactly(
        scenario,
        "warehouse",
        &warehouse_uids(pool, EVENT_TYPE).await,
        expected,
        notes,
    );
    report_exactly(
        scenario,
        "S3 Parquet",
        &s3_parquet_uids(bucket, EVENT_TYPE).await,
        expected,
        notes,
    );
    let unpublished: i64 = sqlx::query_scalar("SELECT count(*) FROM sink_files WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
        .expect("manifest");
    assert_eq!(unpublished, 0, "committed files left unpublished");
}

pub async fn warehouse_count(pool: &PgPool) -> usize {
    warehouse_uids(pool, EVENT_TYPE).await.len()
}

/// Waits until the warehouse holds `more` rows beyond `from`: the pipeline is moving.
pub async fn progress(pool: &PgPool, from: usize, more: usize, what: &str) -> usize {
    let mut now = from;
    eventually(90, what, async || {
        now = warehouse_count(pool).await;
        now >= from + more
    })
    .await;
    now
}
