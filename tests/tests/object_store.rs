//! The S3 object store against the local S3 server: whole and multipart puts read back byte for
//! byte, promotion is idempotent, listing is sorted and bounded by the prefix, and failures say
//! what failed and stop after bounded retries.

mod common;

use std::time::{Duration, Instant};

use sink_worker::config::storage::{S3Config, StoreConfig};
use sink_worker::storage::{ObjectStore, StoreError};

const MIB: u64 = 1024 * 1024;

/// An S3 config for a fresh bucket on the local S3 server, created at open.
fn s3_config(bucket: &str) -> S3Config {
    let endpoint = common::s3_endpoint();
    common::require_service("S3 server", &endpoint);
    let (access, secret) = common::s3_credentials();
    let mut config = S3Config::new(bucket);
    config.endpoint = Some(endpoint);
    config.access_key_id = access;
    config.secret_access_key = secret;
    config.create_bucket = true;
    config
}

async fn fresh_store() -> ObjectStore {
    let config = s3_config(&common::unique("objstore"));
    ObjectStore::open(&StoreConfig::S3(config)).await.unwrap()
}

#[tokio::test]
async fn small_and_multipart_objects_read_back_identically() {
    let mut config = s3_config(&common::unique("objstore-mp"));
    config.multipart_threshold_bytes = 5 * MIB;
    config.part_size_bytes = 5 * MIB;
    let store = ObjectStore::open(&StoreConfig::S3(config)).await.unwrap();

    store.put("small/a.json", b"{\"ok\":true}".to_vec()).await.unwrap();
    assert_eq!(store.get("small/a.json").await.unwrap(), b"{\"ok\":true}");

    // 12 MiB: two full parts and a short last one, with bytes that differ between parts.
    let big: Vec<u8> = (0..12 * MIB).map(|i| (i % 251) as u8).collect();
    store.put("big/b.bin", big.clone()).await.unwrap();
    let back = store.get("big/b.bin").await.unwrap();
    assert_eq!(back.len(), big.len());
    assert!(back == big, "multipart object differs from what was put");
    let listed = store.list("big/").await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].size, 12 * MIB);
    assert!(store.exists("big/b.bin").await.unwrap());
}

#[tokio::test]
async fn promote_moves_the_object_and_a_second_promote_is_ok() {
    let store = fresh_store().await;
    // '=', '+' and ' ' must survive the copy source's percent-encoding.
    let staging = "_murron/staging/p/1/a b+c.parquet";
    let final_key = "events/t/dt=2026-11-26/hr=03/a b+c.parquet";
    store.put(staging, b"parquet bytes".to_vec()).await.unwrap();

    store.promote(staging, final_key).await.unwrap();
    assert_eq!(store.get(final_key).await.unwrap(), b"parquet bytes");
    assert!(!store.exists(staging).await.unwrap());

    store.promote(staging, final_key).await.unwrap();
    assert_eq!(store.get(final_key).await.unwrap(), b"parquet bytes");

    let err = store.promote("_murron/staging/none", "events/none").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn list_with_a_prefix_is_sorted_and_excludes_other_keys() {
    let store = fresh_store().await;
    for key in ["dt=2/b", "dt=1/z", "dt=1/a", "dt=10/a", "other/a"] {
        store.put(key, key.as_bytes().to_vec()).await.unwrap();
    }
    let keys = |listed: Vec<sink_worker::storage::ObjectMeta>| listed.into_iter().map(|o| o.key).collect::<Vec<_>>();
    assert_eq!(keys(store.list("dt=1/").await.unwrap()), ["dt=1/a", "dt=1/z"]);
    assert_eq!(keys(store.list("dt=1").await.unwrap()), ["dt=1/a", "dt=1/z", "dt=10/a"]);
    assert_eq!(
        keys(store.list("").await.unwrap()),
        ["dt=1/a", "dt=1/z", "dt=10/a", "dt=2/b", "other/a"]
    );
    assert!(store.list("nothing/").await.unwrap().is_empty());
}

#[tokio::test]
async fn delete_removes_the_object_and_a_missing_one_is_ok() {
    let store = fresh_store().await;
    store.put("a/b", b"x".to_vec()).await.unwrap();
    store.delete("a/b").await.unwrap();
    assert!(!store.exists("a/b").await.unwrap());
    let err = store.get("a/b").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err}");
    store.delete("a/b").await.unwrap();
}

#[tokio::test]
async fn opening_a_missing_bucket_without_create_bucket_names_the_bucket() {
    let bucket = common::unique("objstore-missing");
    let mut config = s3_config(&bucket);
    config.create_bucket = false;
    let err = ObjectStore::open(&StoreConfig::S3(config)).await.unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&bucket), "{message}");
    assert!(message.contains(&common::s3_endpoint()), "{message}");
    assert!(!err.is_retryable(), "{message}");
}

#[tokio::test]
async fn an_unreachable_server_fails_after_bounded_retries() {
    let endpoint = format!("http://127.0.0.1:{}", common::free_port());
    let mut config = s3_config("closed-port");
    config.endpoint = Some(endpoint.clone());
    config.create_bucket = false;
    config.max_attempts = 2;
    config.timeout_ms = 1_000;
    let started = Instant::now();
    let err = ObjectStore::open(&StoreConfig::S3(config)).await.unwrap_err();
    let message = err.to_string();
    // One retry after a jittered backoff of at least 100 ms, then it gives up.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(100) && took < Duration::from_secs(10),
        "took {took:?}"
    );
    assert!(matches!(err, StoreError::Unavailable { .. }), "{message}");
    assert!(err.is_retryable());
    assert!(
        message.contains("closed-port") && message.contains(&endpoint),
        "{message}"
    );
}
