//! What Murron's registry adds to Confluent's: tokens and ownership, subject metadata, the audit
//! log, caches kept right across replicas, health and metrics.

mod common;

use common::Registry;
use serde_json::{Value, json};

const ADMIN: &str = "test-admin-token-0123456789";
const V1: &str = r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"}]}"#;
const V2: &str =
    r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"},{"name":"b","type":"string","default":""}]}"#;

fn code(body: &Value) -> i64 {
    body["error_code"].as_i64().unwrap_or(-1)
}

async fn secured(anonymous_reads: bool) -> Registry {
    let db = common::fresh_database().await;
    let reads = if anonymous_reads { "true" } else { "false" };
    Registry::start_with(
        &db,
        &[
            ("SCHEMA_REGISTRY_AUTH__ENABLED", "true"),
            ("SCHEMA_REGISTRY_AUTH__ANONYMOUS_READS", reads),
            ("SCHEMA_REGISTRY_AUTH__ADMIN_TOKEN", ADMIN),
        ],
    )
    .await
}

async fn token(r: &Registry, name: &str, role: &str, subjects: &[&str]) -> String {
    let (s, b) = r
        .call(
            "POST",
            "/murron/tokens",
            Some(ADMIN),
            Some(json!({ "name": name, "role": role, "subjects": subjects })),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn owners_change_only_their_subjects_on_every_mutating_endpoint() {
    let r = secured(true).await;
    let billing = token(&r, "billing-team", "owner", &["billing.*"]).await;
    let reader = token(&r, "analyst", "reader", &[]).await;
    let body = Some(json!({ "schema": V1 }));
    assert_eq!(
        r.call("POST", "/subjects/billing.a/versions", Some(&billing), body.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        r.call("POST", "/subjects/client.a/versions", Some(ADMIN), body.clone())
            .await
            .0,
        200
    );

    // Every mutating endpoint on someone else's subject: 403 for the owner and the reader, 401 anonymous.
    let attempts: Vec<(&str, &str, Option<Value>)> = vec![
        ("POST", "/subjects/client.a/versions", Some(json!({ "schema": V2 }))),
        ("DELETE", "/subjects/client.a", None),
        ("DELETE", "/subjects/client.a/versions/1", None),
        ("PUT", "/config/client.a", Some(json!({ "compatibility": "NONE" }))),
        ("DELETE", "/config/client.a", None),
        ("PUT", "/mode/client.a", Some(json!({ "mode": "READONLY" }))),
        ("DELETE", "/mode/client.a", None),
        (
            "PUT",
            "/murron/subjects/client.a/metadata",
            Some(json!({ "owner_team": "x" })),
        ),
    ];
    for (method, path, body) in &attempts {
        let (s, b) = r.call(method, path, Some(&billing), body.clone()).await;
        assert_eq!(
            (s, code(&b)),
            (403, 40301),
            "owner of billing.* on {method} {path}: {b}"
        );
        let (s, b) = r.call(method, path, Some(&reader), body.clone()).await;
        assert_eq!((s, code(&b)), (403, 40301), "reader on {method} {path}: {b}");
        let (s, b) = r.call(method, path, None, body.clone()).await;
        assert_eq!((s, code(&b)), (401, 40101), "anonymous on {method} {path}: {b}");
    }
    // Global settings and tokens are for admins only.
    for (method, path, body) in [
        ("PUT", "/config", Some(json!({ "compatibility": "NONE" }))),
        ("DELETE", "/config", None),
        ("PUT", "/mode", Some(json!({ "mode": "READONLY" }))),
        ("DELETE", "/mode", None),
        ("POST", "/murron/tokens", Some(json!({ "name": "x", "role": "admin" }))),
        ("GET", "/murron/tokens", None),
        ("DELETE", "/murron/tokens/analyst", None),
    ] {
        let (s, _) = r.call(method, path, Some(&billing), body).await;
        assert_eq!(s, 403, "{method} {path}");
    }
    // The owner may do all of it on its own subjects.
    for (method, path, body) in [
        ("PUT", "/config/billing.a", Some(json!({ "compatibility": "FULL" }))),
        (
            "PUT",
            "/murron/subjects/billing.a/metadata",
            Some(json!({ "owner_team": "billing" })),
        ),
        ("POST", "/subjects/billing.a/versions", Some(json!({ "schema": V2 }))),
        ("DELETE", "/subjects/billing.a/versions/1", None),
    ] {
        let (s, b) = r.call(method, path, Some(&billing), body).await;
        assert_eq!(s, 200, "{method} {path}: {b}");
    }
    // Reads stay open.
    assert_eq!(
        r.call("GET", "/subjects", None, None).await.1,
        json!(["billing.a", "client.a"])
    );
}

#[tokio::test]
async fn closed_reads_need_a_token_and_revoked_tokens_stop_working() {
    let r = secured(false).await;
    assert_eq!(code(&r.call("GET", "/subjects", None, None).await.1), 40101);
    let reader = token(&r, "reader", "reader", &[]).await;
    assert_eq!(r.call("GET", "/subjects", Some(&reader), None).await.0, 200);
    assert_eq!(
        code(&r.call("GET", "/subjects", Some("mrn_not-a-real-token"), None).await.1),
        40101
    );
    // Basic credentials with the token as password, as Confluent clients send them.
    let basic = reqwest::Client::new()
        .get(format!("{}/subjects", r.url))
        .basic_auth("anyone", Some(&reader))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status().as_u16(), 200);
    assert_eq!(
        r.call("DELETE", "/murron/tokens/reader", Some(ADMIN), None).await.0,
        200
    );
    assert_eq!(code(&r.call("GET", "/subjects", Some(&reader), None).await.1), 40101);
    let (_, who) = r.call("GET", "/murron/whoami", Some(ADMIN), None).await;
    assert_eq!(who["role"], "admin");
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let r = secured(true).await;
    let secret = token(&r, "ci", "owner", &["ci.*"]).await;
    let pool = sqlx::PgPool::connect(&r.database_url).await.unwrap();
    let dump: String = sqlx::query_scalar("SELECT string_agg(t::text, ' ') FROM api_tokens t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        !dump.contains(&secret) && !dump.contains(&secret[4..]),
        "the token must not be stored"
    );
    let (_, list) = r.call("GET", "/murron/tokens", Some(ADMIN), None).await;
    assert_eq!(list[0]["name"], "ci");
    assert!(list[0].get("token").is_none());
    let (s, b) = r
        .call(
            "POST",
            "/murron/tokens",
            Some(ADMIN),
            Some(json!({ "name": "ci", "role": "reader" })),
        )
        .await;
    assert_eq!((s, code(&b)), (409, 40901));
    let (s, _) = r
        .call(
            "POST",
            "/murron/tokens",
            Some(ADMIN),
            Some(json!({ "name": "o", "role": "owner" })),
        )
        .await;
    assert_eq!(s, 422, "an owner needs patterns");
    let (s, _) = r
        .call(
            "POST",
            "/murron/tokens",
            Some(ADMIN),
            Some(json!({ "name": "o", "role": "root" })),
        )
        .await;
    assert_eq!(s, 422);
}

#[tokio::test]
async fn metadata_is_kept_per_subject() {
    let r = Registry::start().await;
    assert_eq!(
        code(&r.call("GET", "/murron/subjects/none/metadata", None, None).await.1),
        40401
    );
    r.register("billing.member_active", V1).await;
    let m = json!({ "owner_team": "billing", "description": "Active members", "classification": { "user_id": "PII" } });
    assert_eq!(
        r.call(
            "PUT",
            "/murron/subjects/billing.member_active/metadata",
            None,
            Some(m.clone())
        )
        .await
        .0,
        200
    );
    let (_, got) = r
        .call("GET", "/murron/subjects/billing.member_active/metadata", None, None)
        .await;
    assert_eq!(
        (got["owner_team"].clone(), got["classification"].clone()),
        (m["owner_team"].clone(), m["classification"].clone())
    );
    let bad = json!({ "classification": { "user_id": 5 } });
    assert_eq!(
        r.call(
            "PUT",
            "/murron/subjects/billing.member_active/metadata",
            None,
            Some(bad)
        )
        .await
        .0,
        422
    );
}

#[tokio::test]
async fn the_audit_log_says_who_changed_what() {
    let r = secured(true).await;
    let owner = token(&r, "team-a", "owner", &["a.*"]).await;
    r.call(
        "POST",
        "/subjects/a.x/versions",
        Some(&owner),
        Some(json!({ "schema": V1 })),
    )
    .await;
    r.call(
        "PUT",
        "/config/a.x",
        Some(&owner),
        Some(json!({ "compatibility": "FULL" })),
    )
    .await;
    r.call("DELETE", "/subjects/a.x/versions/1", Some(&owner), None).await;
    let (s, log) = r.call("GET", "/murron/audit?subject=a.x", None, None).await;
    assert_eq!(s, 200);
    let actions: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    assert_eq!(
        actions,
        [
            ("team-a", "delete_version"),
            ("team-a", "set_compatibility"),
            ("team-a", "register")
        ]
    );
    let (_, all) = r.call("GET", "/murron/audit?limit=1", None, None).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
    assert_eq!(r.call("GET", "/murron/audit?limit=x", None, None).await.0, 422);
}

#[tokio::test]
async fn a_change_on_one_replica_is_seen_at_once_on_another() {
    let a = Registry::start().await;
    let b = Registry::start_on(&a.database_url).await;
    a.register("s", V1).await;
    // Warm b's cache of the latest version, then change the subject through a.
    assert_eq!(
        b.call("GET", "/subjects/s/versions/latest", None, None).await.1["version"],
        1
    );
    a.register("s", V2).await;
    latest_on_b_becomes(&b, 2).await;
    a.call("DELETE", "/subjects/s/versions/2", None, None).await;
    latest_on_b_becomes(&b, 1).await;
}

/// Waits up to 5 s (a notification's delivery on a loaded machine) for replica `b` to serve
/// `version` as the latest of subject `s`.
async fn latest_on_b_becomes(b: &Registry, version: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (_, latest) = b.call("GET", "/subjects/s/versions/latest", None, None).await;
        if latest["version"] == version {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica b still serves a stale latest version: {latest}, not {version}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn metrics_and_openapi_are_served() {
    let r = Registry::start().await;
    r.register("m", V1).await;
    let metrics = r.metrics().await;
    assert!(metrics.contains("murron_registry_http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/subjects/{subject}/versions\""), "{metrics}");
    let (s, doc) = r.call("GET", "/openapi.json", None, None).await;
    assert_eq!(s, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
}

#[tokio::test]
async fn a_lost_database_answers_50001_and_not_ready() {
    common::require_postgres();
    // A database that does not exist: the pool connects lazily, so the registry starts and says so.
    let url = format!("{}_missing", common::database_url());
    let port = common::free_port();
    let child = std::process::Command::new(common::binary("schema-registry"))
        .env("SCHEMA_REGISTRY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("SCHEMA_REGISTRY_DATABASE__URL", &url)
        .env("SCHEMA_REGISTRY_DATABASE__MIGRATE_ON_START", "false")
        .env("SCHEMA_REGISTRY_DATABASE__ACQUIRE_TIMEOUT_SECS", "1")
        .env("RUST_LOG", "error")
        .spawn()
        .unwrap();
    let _guard = common::ChildGuard(child);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "registry did not start");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        reqwest::get(format!("{base}/readyz")).await.unwrap().status().as_u16(),
        503
    );
    let resp = reqwest::get(format!("{base}/subjects")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(code(&body), 50001);
}

#[tokio::test]
async fn over_long_and_control_character_subjects_are_refused() {
    let r = Registry::start().await;
    let long = "s".repeat(256);
    let (s, _) = r.register(&long, V1).await;
    assert_eq!(s, 422);
    assert_eq!(r.register(&"s".repeat(255), V1).await.0, 200);
    let (s, _) = r.register("tab%09name", V1).await;
    assert_eq!(s, 422);
}
