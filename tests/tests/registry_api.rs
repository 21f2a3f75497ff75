//! The schema registry binary against real PostgreSQL: register, look up, and Confluent's errors.

mod common;

use common::Registry;
use serde_json::{Value, json};

async fn get(url: String) -> (u16, Value) {
    let resp = reqwest::get(url).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn post(url: String, body: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/vnd.schemaregistry.v1+json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(ct, "application/vnd.schemaregistry.v1+json");
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn registering_is_idempotent_and_ids_are_shared_across_subjects() {
    let r = Registry::start().await;
    let id = r
        .register_file("billing.member_active", "billing/member_active.avsc")
        .await;
    assert_eq!(
        r.register_file("billing.member_active", "billing/member_active.avsc")
            .await,
        id
    );
    // The same schema under another subject keeps its global id.
    assert_eq!(
        r.register_file("billing.member_active.copy", "billing/member_active.avsc")
            .await,
        id
    );
    let other = r.register_file("client.api_call", "client/api_call.avsc").await;
    assert_ne!(other, id);

    let (status, subjects) = get(format!("{}/subjects", r.url)).await;
    assert_eq!(status, 200);
    assert_eq!(
        subjects,
        json!(["billing.member_active", "billing.member_active.copy", "client.api_call"])
    );
    assert_eq!(
        get(format!("{}/subjects/billing.member_active/versions", r.url))
            .await
            .1,
        json!([1])
    );
}

#[tokio::test]
async fn a_new_schema_gets_the_next_version_and_latest_follows_it() {
    let r = Registry::start().await;
    let v1 = r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"}]}"#;
    let v2 = r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"},{"name":"b","type":"string","default":""}]}"#;
    let (_, a) = post(
        format!("{}/subjects/e/versions", r.url),
        &json!({ "schema": v1 }).to_string(),
    )
    .await;
    let (_, b) = post(
        format!("{}/subjects/e/versions", r.url),
        &json!({ "schema": v2 }).to_string(),
    )
    .await;
    assert_ne!(a["id"], b["id"]);
    for latest in ["latest", "-1", "2"] {
        let (status, body) = get(format!("{}/subjects/e/versions/{latest}", r.url)).await;
        assert_eq!(status, 200);
        assert_eq!(
            (body["subject"].as_str(), body["version"].as_i64(), &body["id"]),
            (Some("e"), Some(2), &b["id"])
        );
    }
    let (_, first) = get(format!("{}/subjects/e/versions/1", r.url)).await;
    assert_eq!(first["id"], a["id"]);
    // The stored text is normalized and parses back to the same schema.
    let (_, by_id) = get(format!("{}/schemas/ids/{}", r.url, a["id"])).await;
    let schema: Value = serde_json::from_str(by_id["schema"].as_str().unwrap()).unwrap();
    assert_eq!(schema["fields"][0]["name"], "a");
    let (status, raw) = get(format!("{}/subjects/e/versions/1/schema", r.url)).await;
    assert_eq!((status, raw), (200, schema));
}

#[tokio::test]
async fn whitespace_and_attribute_order_do_not_make_a_new_version() {
    let r = Registry::start().await;
    let a = r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"}]}"#;
    let b = r#"{ "fields" : [ { "type" : "long", "name" : "a" } ], "name" : "E", "type" : "record" }"#;
    let (_, x) = post(
        format!("{}/subjects/e/versions", r.url),
        &json!({ "schema": a }).to_string(),
    )
    .await;
    let (_, y) = post(
        format!("{}/subjects/e/versions", r.url),
        &json!({ "schema": b }).to_string(),
    )
    .await;
    assert_eq!(x, y);
    assert_eq!(get(format!("{}/subjects/e/versions", r.url)).await.1, json!([1]));
}

#[tokio::test]
async fn errors_carry_confluent_codes() {
    let r = Registry::start().await;
    r.register_file("billing.member_active", "billing/member_active.avsc")
        .await;
    let cases = [
        (format!("{}/subjects/nope/versions", r.url), 404, 40401),
        (format!("{}/subjects/nope/versions/1", r.url), 404, 40401),
        (
            format!("{}/subjects/billing.member_active/versions/7", r.url),
            404,
            40402,
        ),
        (
            format!("{}/subjects/billing.member_active/versions/0", r.url),
            422,
            42202,
        ),
        (
            format!("{}/subjects/billing.member_active/versions/x", r.url),
            422,
            42202,
        ),
        (format!("{}/schemas/ids/424242", r.url), 404, 40403),
        (format!("{}/schemas/ids/abc", r.url), 404, 40403),
    ];
    for (url, status, code) in cases {
        let (s, body) = get(url.clone()).await;
        assert_eq!((s, body["error_code"].as_i64()), (status, Some(code)), "{url}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    let bad_posts = [
        ("{not json", 400, 400),
        (r#"{"schema": 5}"#, 422, 422),
        (r#"{"schema": "{\"type\":\"recrd\"}"}"#, 422, 42201),
        (r#"{"schema": "\"string\"", "schemaType": "PROTOBUF"}"#, 422, 42201),
        (r#"{"schema": "{\"type\": 5}", "schemaType": "JSON"}"#, 422, 42201),
        (r#"{"schema": "\"string\"", "schemaType": "XML"}"#, 422, 42201),
    ];
    for (body, status, code) in bad_posts {
        let (s, answer) = post(format!("{}/subjects/x/versions", r.url), body).await;
        assert_eq!(
            (s, answer["error_code"].as_i64()),
            (status, Some(code)),
            "{body}: {answer}"
        );
    }
    // No subject can hold NUL: "not found", never a store error.
    let (s, body) = get(format!("{}/subjects/a%00b/versions", r.url)).await;
    assert_eq!((s, body["error_code"].as_i64()), (404, Some(40401)));
    let (_, types) = get(format!("{}/schemas/types", r.url)).await;
    assert_eq!(types, json!(["JSON", "PROTOBUF", "AVRO"]));
}

#[tokio::test]
async fn oversized_body_is_refused_without_harm() {
    let r = Registry::start().await;
    let huge = format!(
        r#"{{"schema": "\"string\"", "pad": "{}"}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/subjects/x/versions", r.url))
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 413);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error_code"], 413);
    // Still serving.
    assert_eq!(
        reqwest::get(format!("{}/healthz", r.url))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn two_replicas_on_one_database_never_duplicate_ids_or_versions() {
    let first = Registry::start().await;
    let second = Registry::start_on(&first.database_url).await;
    // Every schema below is new to its subject; compatibility is not what this test is about.
    assert_eq!(
        first
            .call("PUT", "/config", None, Some(json!({ "compatibility": "NONE" })))
            .await
            .0,
        200
    );
    let urls = [first.url.clone(), second.url.clone()];
    let mut tasks = Vec::new();
    for i in 0..40 {
        let url = urls[i % 2].clone();
        // Ten distinct schemas, each registered four times across both replicas and two subjects.
        let n = i % 10;
        let subject = if i % 4 < 2 { "a" } else { "b" };
        tasks.push(tokio::spawn(async move {
            let schema = format!(r#"{{"type":"record","name":"E","fields":[{{"name":"f{n}","type":"long"}}]}}"#);
            let (status, body) = post(
                format!("{url}/subjects/{subject}/versions"),
                &json!({ "schema": schema }).to_string(),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            (n, body["id"].as_i64().unwrap())
        }));
    }
    let mut ids = std::collections::BTreeMap::new();
    for t in tasks {
        let (n, id) = t.await.unwrap();
        assert_eq!(*ids.entry(n).or_insert(id), id, "schema {n} got two ids");
    }
    let distinct: std::collections::BTreeSet<_> = ids.values().collect();
    assert_eq!(distinct.len(), 10, "ten schemas, ten ids: {ids:?}");
    for subject in ["a", "b"] {
        let (_, versions) = get(format!("{}/subjects/{subject}/versions", first.url)).await;
        let versions: Vec<i64> = serde_json::from_value(versions).unwrap();
        assert_eq!(
            versions,
            (1..=versions.len() as i64).collect::<Vec<_>>(),
            "versions of {subject} are 1..n without holes"
        );
    }
}

/// What schemathesis found (tests/interop/test_registry_schemathesis.py), pinned: each is a precise
/// 4xx, never a 500 or a silent success.
#[tokio::test]
async fn inputs_schemathesis_found_get_precise_4xx_answers() {
    let r = Registry::start().await;
    let schema = json!({ "schema": "\"string\"" });
    // A struct's fields as a JSON array: serde would take it; the API wants an object.
    let (status, body) = r
        .call("PUT", "/murron/subjects/a/metadata", None, Some(json!([null, null])))
        .await;
    assert_eq!((status, body["error_code"].as_i64()), (422, Some(422)), "{body}");
    // NUL cannot be stored in PostgreSQL text: the request's fault.
    let (status, body) = r.call("GET", "/subjects?subjectPrefix=%00a", None, None).await;
    assert_eq!(status, 422, "{body}");
    let token = json!({ "name": "t", "role": "owner", "subjects": ["billing.\u{0}"] });
    let (status, body) = r.call("POST", "/murron/tokens", None, Some(token)).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = r
        .call(
            "PUT",
            "/murron/subjects/a/metadata",
            None,
            Some(json!({ "description": "x\u{0}" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    // Query values outside their documented type or range.
    for path in ["/subjects?offset=-1", "/subjects?offset=9223372036854775808"] {
        assert_eq!(r.call("GET", path, None, None).await.0, 422, "{path}");
    }
    let (status, _) = r
        .call("POST", "/subjects/a/versions?normalize=1.5", None, Some(schema.clone()))
        .await;
    assert_eq!(status, 422);
    let (status, _) = r
        .call("POST", "/subjects/a/versions?normalize=true", None, Some(schema))
        .await;
    assert_eq!(status, 200);
    // Revoking a token that does not exist: not found.
    let (status, body) = r.call("DELETE", "/murron/tokens/nobody", None, None).await;
    assert_eq!((status, body["error_code"].as_i64()), (404, Some(404)), "{body}");
}

/// The value of a Prometheus series (exact name and labels) in a `/metrics` text; 0 when absent.
fn series(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|value| value.trim().parse::<f64>().unwrap_or(0.0))
        .sum()
}

/// A record with `id` and fields `f1..fn`, each with a default, plus `extra` fields of the same kind.
fn evolved(n: usize, extra: &[String]) -> String {
    let mut fields = vec![json!({ "name": "id", "type": "long" })];
    fields.extend((1..=n).map(|i| json!({ "name": format!("f{i}"), "type": "string", "default": "" })));
    fields.extend(
        extra
            .iter()
            .map(|name| json!({ "name": name, "type": "string", "default": "" })),
    );
    json!({ "type": "record", "name": "Hot", "fields": fields }).to_string()
}

/// Registrations of one hot subject from many clients, each sending its next as soon as the last is
/// answered: every one is new and gets the next version, and they share batches (the unit tests of
/// `registrations.rs` pin that a request written by another's turn does not wait for its own). The
/// transitive checks of a subject with many versions are proven by its digest; an incompatible schema
/// still gets the exact check and its reasons.
#[tokio::test]
async fn a_hot_subject_batches_registrations_and_proves_transitive_checks_by_its_digest() {
    let r = Registry::start().await;
    let (status, _) = r
        .call(
            "PUT",
            "/config/hot",
            None,
            Some(json!({ "compatibility": "BACKWARD_TRANSITIVE" })),
        )
        .await;
    assert_eq!(status, 200);
    for n in 1..=20 {
        assert_eq!(r.register("hot", &evolved(n, &[])).await.0, 200);
    }
    let (clients, each) = (16, 8);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let url = r.url.clone();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for k in 0..each {
                let schema = evolved(20, &[format!("c{client}_{k}")]);
                let (status, body) = post(
                    format!("{url}/subjects/hot/versions"),
                    &json!({ "schema": schema }).to_string(),
                )
                .await;
                assert_eq!(status, 200, "{body}");
                ids.push(body["id"].as_i64().unwrap());
            }
            ids
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    assert_eq!(
        ids.len(),
        clients * each,
        "every registration is new and got its own id"
    );
    let (_, versions) = get(format!("{}/subjects/hot/versions", r.url)).await;
    let versions: Vec<i64> = serde_json::from_value(versions).unwrap();
    assert_eq!(versions, (1..=(20 + clients * each) as i64).collect::<Vec<_>>());

    let metrics = r.metrics().await;
    let batches = series(&metrics, "murron_registry_registration_batches_total");
    let batched = series(&metrics, "murron_registry_registrations_batched_total");
    assert_eq!(batched, (20 + clients * each) as f64, "{metrics}");
    // The 20 sequential registrations are batches of one; the concurrent ones share batches.
    let concurrent_batches = batches - 20.0;
    assert!(
        concurrent_batches <= (clients * each) as f64 * 0.6,
        "{concurrent_batches} batches for {} concurrent registrations",
        clients * each
    );
    // Versions 17 to 20, and every concurrent registration, are checked against 16 or more versions.
    let proven = series(&metrics, "murron_registry_transitive_checks_total{path=\"digest\"}");
    assert!(proven >= (clients * each + 4) as f64, "{proven} proven: {metrics}");

    // A new field without a default: old data has no value for it. The digest cannot prove this, so
    // the exact check runs and names the reason and the version.
    let mut bad: Value = serde_json::from_str(&evolved(20, &[])).unwrap();
    bad["fields"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "required", "type": "long" }));
    let (status, body) = post(
        format!("{}/compatibility/subjects/hot/versions?verbose=true", r.url),
        &json!({ "schema": bad.to_string() }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["is_compatible"], false);
    let messages = body["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 20 + clients * each, "one reason per version: {body}");
    assert!(
        messages[0]
            .as_str()
            .unwrap()
            .contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{body}"
    );
    let metrics = r.metrics().await;
    let exact = series(&metrics, "murron_registry_transitive_checks_total{path=\"exact\"}");
    assert!(exact >= 1.0, "{metrics}");
}

/// A replica remembers a subject's live versions between registrations, and must notice when
/// another replica changes them: here version 1, the only one the new schema cannot read, is deleted
/// through the other replica, after which the same registration is accepted.
#[tokio::test]
async fn a_replica_notices_versions_changed_through_another_before_checking_against_them() {
    let a = Registry::start().await;
    let b = Registry::start_on(&a.database_url).await;
    let put_level = |level: &'static str| {
        let a = &a;
        async move {
            a.call("PUT", "/config/gen", None, Some(json!({ "compatibility": level })))
                .await
                .0
        }
    };
    assert_eq!(put_level("NONE").await, 200);
    let record = |fields: Value| json!({ "type": "record", "name": "G", "fields": fields }).to_string();
    // Version 1 lacks `x`; versions 2..=20 have it.
    assert_eq!(
        a.register("gen", &record(json!([{ "name": "id", "type": "long" }])))
            .await
            .0,
        200
    );
    for n in 2..=20 {
        let mut fields = vec![
            json!({ "name": "id", "type": "long" }),
            json!({ "name": "x", "type": "long" }),
        ];
        fields.extend((2..=n).map(|k| json!({ "name": format!("d{k}"), "type": "int", "default": 0 })));
        assert_eq!(a.register("gen", &record(Value::Array(fields))).await.0, 200);
    }
    assert_eq!(put_level("BACKWARD_TRANSITIVE").await, 200);
    // Reads `x` without a default: version 1's data has none.
    let new = record(json!([{ "name": "id", "type": "long" }, { "name": "x", "type": "long" }]));
    let (status, body) = a.register("gen", &new).await;
    assert_eq!(status, 409, "{body}");
    // Another replica soft-deletes version 1, and nothing else: only the delete moves the subject on.
    let (status, _) = b.call("DELETE", "/subjects/gen/versions/1", None, None).await;
    assert_eq!(status, 200);
    let (status, body) = a.register("gen", &new).await;
    assert_eq!(
        status, 200,
        "version 1 is gone, so the new schema reads every live version: {body}"
    );
    let (_, versions) = get(format!("{}/subjects/gen/versions", a.url)).await;
    let versions: Vec<i64> = serde_json::from_value(versions).unwrap();
    assert_eq!(versions, (2..=21).collect::<Vec<_>>());

    // The other replica soft-deletes the whole subject: a first replica that still went by what it
    // read before would check against deleted versions.
    let (status, _) = b.call("DELETE", "/subjects/gen", None, None).await;
    assert_eq!(status, 200);
    let unrelated = record(json!([{ "name": "s", "type": "string" }]));
    let (status, body) = a.register("gen", &unrelated).await;
    assert_eq!(status, 200, "no live version is left to be incompatible with: {body}");
    let (_, versions) = get(format!("{}/subjects/gen/versions", a.url)).await;
    let versions: Vec<i64> = serde_json::from_value(versions).unwrap();
    assert_eq!(versions, vec![22], "numbers are never reused");
}
