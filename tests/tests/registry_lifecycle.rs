//! The registry's Confluent API beyond registration: compatibility, settings, modes, lookups,
//! deletes and references, each with its error codes, against real PostgreSQL.

mod common;

use common::Registry;
use serde_json::{Value, json};

const V1: &str = r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"}]}"#;
const V2_DEFAULT: &str =
    r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"},{"name":"b","type":"string","default":""}]}"#;
const V2_NO_DEFAULT: &str =
    r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"},{"name":"b","type":"string"}]}"#;
const V_INT: &str = r#"{"type":"record","name":"E","fields":[{"name":"a","type":"int"}]}"#;

fn schema(s: &str) -> Option<Value> {
    Some(json!({ "schema": s }))
}

fn code(body: &Value) -> i64 {
    body["error_code"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn backward_is_the_default_and_refuses_a_field_without_default() {
    let r = Registry::start().await;
    assert_eq!(
        r.call("GET", "/config", None, None).await,
        (200, json!({ "compatibilityLevel": "BACKWARD" }))
    );
    assert_eq!(r.register("e", V1).await.0, 200);
    let (status, body) = r.register("e", V2_NO_DEFAULT).await;
    assert_eq!((status, code(&body)), (409, 409), "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("READER_FIELD_MISSING_DEFAULT_VALUE"),
        "{body}"
    );
    assert_eq!(r.register("e", V2_DEFAULT).await.0, 200);
    assert_eq!(r.call("GET", "/subjects/e/versions", None, None).await.1, json!([1, 2]));
}

#[tokio::test]
async fn compatibility_endpoints_answer_with_reasons_when_verbose() {
    let r = Registry::start().await;
    r.register("e", V1).await;
    let (s, b) = r
        .call(
            "POST",
            "/compatibility/subjects/e/versions/latest",
            None,
            schema(V2_DEFAULT),
        )
        .await;
    assert_eq!((s, b), (200, json!({ "is_compatible": true })));
    let (s, b) = r
        .call(
            "POST",
            "/compatibility/subjects/e/versions/1?verbose=true",
            None,
            schema(V2_NO_DEFAULT),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["is_compatible"], false);
    let messages = b["messages"].as_array().unwrap();
    assert!(
        messages.iter().any(|m| m.as_str().unwrap().contains("/fields/1")),
        "{b}"
    );
    let (s, b) = r
        .call(
            "POST",
            "/compatibility/subjects/e/versions?verbose=true",
            None,
            schema(V2_DEFAULT),
        )
        .await;
    assert_eq!((s, b["is_compatible"].as_bool()), (200, Some(true)));
    // A subject with no versions accepts anything; a missing version is 40402, a missing subject 40401.
    let (s, b) = r
        .call("POST", "/compatibility/subjects/new/versions", None, schema(V1))
        .await;
    assert_eq!((s, b["is_compatible"].as_bool()), (200, Some(true)));
    assert_eq!(
        code(
            &r.call("POST", "/compatibility/subjects/e/versions/9", None, schema(V1))
                .await
                .1
        ),
        40402
    );
    assert_eq!(
        code(
            &r.call("POST", "/compatibility/subjects/none/versions/1", None, schema(V1))
                .await
                .1
        ),
        40401
    );
    assert_eq!(
        code(
            &r.call("POST", "/compatibility/subjects/e/versions/1", None, schema("{bad"))
                .await
                .1
        ),
        42201
    );
}

#[tokio::test]
async fn transitive_levels_check_every_live_version() {
    let r = Registry::start().await;
    // v1 {a}, v2 {a, b = ""}. A new {a, b} without default reads v2's data but not v1's.
    r.register("t", V1).await;
    r.register("t", V2_DEFAULT).await;
    let (_, b) = r
        .call(
            "POST",
            "/compatibility/subjects/t/versions",
            None,
            schema(V2_NO_DEFAULT),
        )
        .await;
    assert_eq!(b["is_compatible"], true, "BACKWARD checks the latest version only: {b}");
    r.call(
        "PUT",
        "/config/t",
        None,
        Some(json!({ "compatibility": "BACKWARD_TRANSITIVE" })),
    )
    .await;
    let (_, b) = r
        .call(
            "POST",
            "/compatibility/subjects/t/versions?verbose=true",
            None,
            schema(V2_NO_DEFAULT),
        )
        .await;
    assert_eq!(b["is_compatible"], false, "{b}");
    assert!(b["messages"][0].as_str().unwrap().contains("1"), "names version 1: {b}");
    assert_eq!(r.register("t", V2_NO_DEFAULT).await.0, 409);
    r.call("PUT", "/config/t", None, Some(json!({ "compatibility": "NONE" })))
        .await;
    assert_eq!(r.register("t", V_INT).await.0, 200, "NONE accepts anything");
}

#[tokio::test]
async fn config_per_subject_and_global_follow_confluent() {
    let r = Registry::start().await;
    assert_eq!(
        r.call("PUT", "/config", None, Some(json!({ "compatibility": "FULL" })))
            .await,
        (200, json!({ "compatibility": "FULL" }))
    );
    assert_eq!(
        r.call("GET", "/config", None, None).await.1,
        json!({ "compatibilityLevel": "FULL" })
    );
    assert_eq!(code(&r.call("GET", "/config/s", None, None).await.1), 40408);
    assert_eq!(
        r.call("GET", "/config/s?defaultToGlobal=true", None, None).await.1,
        json!({ "compatibilityLevel": "FULL" })
    );
    assert_eq!(
        r.call("PUT", "/config/s", None, Some(json!({ "compatibility": "NONE" })))
            .await
            .0,
        200
    );
    assert_eq!(
        r.call("GET", "/config/s", None, None).await.1,
        json!({ "compatibilityLevel": "NONE" })
    );
    assert_eq!(
        r.call("DELETE", "/config/s", None, None).await.1,
        json!({ "compatibilityLevel": "NONE" })
    );
    assert_eq!(
        code(&r.call("DELETE", "/config/s", None, None).await.1),
        40401,
        "Confluent: 40401 on DELETE"
    );
    let (s, b) = r
        .call("PUT", "/config/s", None, Some(json!({ "compatibility": "SIDEWAYS" })))
        .await;
    assert_eq!((s, code(&b)), (422, 42203));
    assert_eq!(
        r.call("DELETE", "/config", None, None).await.1,
        json!({ "compatibilityLevel": "FULL" })
    );
    assert_eq!(
        r.call("GET", "/config", None, None).await.1,
        json!({ "compatibilityLevel": "BACKWARD" })
    );
    assert_eq!(
        r.call("PUT", "/config", None, Some(json!({ "level": "FULL" }))).await.0,
        422
    );
}

#[tokio::test]
async fn modes_guard_writes_and_import_keeps_ids() {
    let r = Registry::start().await;
    assert_eq!(
        r.call("GET", "/mode", None, None).await.1,
        json!({ "mode": "READWRITE" })
    );
    assert_eq!(
        code(
            &r.call("PUT", "/mode", None, Some(json!({ "mode": "WRITEONLY" })))
                .await
                .1
        ),
        42204
    );
    assert_eq!(code(&r.call("GET", "/mode/s", None, None).await.1), 40409);
    assert_eq!(
        code(&r.call("DELETE", "/mode/s", None, None).await.1),
        40401,
        "Confluent: 40401 on DELETE"
    );
    assert_eq!(
        r.call("GET", "/mode/s?defaultToGlobal=true", None, None).await.1,
        json!({ "mode": "READWRITE" })
    );

    r.register("ro", V1).await;
    // Mode names are case-insensitive, as in Confluent.
    assert_eq!(
        r.call("PUT", "/mode/ro", None, Some(json!({ "mode": "readonly" })))
            .await,
        (200, json!({ "mode": "READONLY" }))
    );
    let (s, b) = r.register("ro", V2_DEFAULT).await;
    assert_eq!((s, code(&b)), (422, 42205));
    assert_eq!(code(&r.call("DELETE", "/subjects/ro", None, None).await.1), 42205);
    assert_eq!(
        r.call("DELETE", "/mode/ro", None, None).await.1,
        json!({ "mode": "READONLY" })
    );
    assert_eq!(r.register("ro", V2_DEFAULT).await.0, 200);

    // IMPORT needs an empty registry unless forced, and then keeps the given ids and versions.
    assert_eq!(
        code(&r.call("PUT", "/mode", None, Some(json!({ "mode": "IMPORT" }))).await.1),
        42205
    );
    assert_eq!(
        r.call("PUT", "/mode?force=true", None, Some(json!({ "mode": "IMPORT" })))
            .await
            .0,
        200
    );
    let body = json!({ "schema": V_INT, "id": 5000, "version": 7 });
    assert_eq!(
        r.call("POST", "/subjects/imported/versions", None, Some(body)).await,
        (200, json!({ "id": 5000 }))
    );
    assert_eq!(
        r.call("GET", "/subjects/imported/versions", None, None).await.1,
        json!([7])
    );
    let clash = json!({ "schema": V_INT.replace("\"a\"", "\"z\""), "id": 5000 });
    assert_eq!(
        code(&r.call("POST", "/subjects/other/versions", None, Some(clash)).await.1),
        42205
    );
    r.call("PUT", "/mode", None, Some(json!({ "mode": "READWRITE" }))).await;
    // Ids handed out after an import never collide with imported ones.
    let (_, b) = r.register("after", r#"{"type":"fixed","name":"F","size":3}"#).await;
    assert!(b["id"].as_i64().unwrap() > 5000, "{b}");
    let (s, b) = r
        .call(
            "POST",
            "/subjects/x/versions",
            None,
            Some(json!({ "schema": V1, "id": 9 })),
        )
        .await;
    assert_eq!((s, code(&b)), (422, 42205), "ids are only accepted in IMPORT mode");
}

#[tokio::test]
async fn lookup_finds_the_version_of_a_schema_under_a_subject() {
    let r = Registry::start().await;
    r.register("e", V1).await;
    r.register("e", V2_DEFAULT).await;
    let reformatted = r#"{ "name": "E", "type": "record", "fields": [ { "type": "long", "name": "a" } ] }"#;
    let (s, b) = r.call("POST", "/subjects/e", None, schema(reformatted)).await;
    assert_eq!(
        (s, b["version"].as_i64(), b["subject"].as_str()),
        (200, Some(1), Some("e")),
        "{b}"
    );
    assert_eq!(code(&r.call("POST", "/subjects/e", None, schema(V_INT)).await.1), 40403);
    assert_eq!(code(&r.call("POST", "/subjects/nope", None, schema(V1)).await.1), 40401);
}

#[tokio::test]
async fn soft_then_permanent_deletes_with_every_error_code() {
    let r = Registry::start().await;
    r.register("d", V1).await;
    r.register("d", V2_DEFAULT).await;
    assert_eq!(
        code(
            &r.call("DELETE", "/subjects/d/versions/1?permanent=true", None, None)
                .await
                .1
        ),
        40407
    );
    assert_eq!(
        r.call("DELETE", "/subjects/d/versions/1", None, None).await,
        (200, json!(1))
    );
    assert_eq!(
        code(&r.call("DELETE", "/subjects/d/versions/1", None, None).await.1),
        40406
    );
    assert_eq!(r.call("GET", "/subjects/d/versions", None, None).await.1, json!([2]));
    assert_eq!(
        r.call("GET", "/subjects/d/versions?deleted=true", None, None).await.1,
        json!([1, 2])
    );
    assert_eq!(
        code(&r.call("GET", "/subjects/d/versions/1", None, None).await.1),
        40402
    );
    assert_eq!(
        r.call("GET", "/subjects/d/versions/1?deleted=true", None, None).await.1["version"],
        1
    );
    assert_eq!(
        r.call("DELETE", "/subjects/d/versions/1?permanent=true", None, None)
            .await,
        (200, json!(1))
    );
    assert_eq!(
        code(&r.call("DELETE", "/subjects/d/versions/9", None, None).await.1),
        40402
    );
    assert_eq!(
        code(&r.call("DELETE", "/subjects/d/versions/x", None, None).await.1),
        42202
    );

    assert_eq!(
        code(&r.call("DELETE", "/subjects/d?permanent=true", None, None).await.1),
        40405
    );
    assert_eq!(r.call("DELETE", "/subjects/d", None, None).await, (200, json!([2])));
    assert_eq!(code(&r.call("DELETE", "/subjects/d", None, None).await.1), 40404);
    assert_eq!(r.call("GET", "/subjects", None, None).await.1, json!([]));
    assert_eq!(
        r.call("GET", "/subjects?deleted=true", None, None).await.1,
        json!(["d"])
    );
    assert_eq!(
        r.call("GET", "/subjects?deletedOnly=true", None, None).await.1,
        json!(["d"])
    );
    assert_eq!(code(&r.call("GET", "/subjects/d/versions", None, None).await.1), 40401);
    assert_eq!(
        r.call("DELETE", "/subjects/d?permanent=true", None, None).await,
        (200, json!([2]))
    );
    assert_eq!(code(&r.call("DELETE", "/subjects/d", None, None).await.1), 40401);
    // Version numbers continue after a soft delete, and a re-registered schema keeps its id.
    let (_, first) = r.register("k", V1).await;
    r.call("DELETE", "/subjects/k/versions/1", None, None).await;
    let (_, again) = r.register("k", V1).await;
    assert_eq!(first, again);
    assert_eq!(r.call("GET", "/subjects/k/versions", None, None).await.1, json!([2]));
}

#[tokio::test]
async fn subjects_list_filters_and_pages() {
    let r = Registry::start().await;
    for s in ["billing.a", "billing.b", "client.a"] {
        r.register(s, V1).await;
    }
    assert_eq!(
        r.call("GET", "/subjects?subjectPrefix=billing.", None, None).await.1,
        json!(["billing.a", "billing.b"])
    );
    assert_eq!(
        r.call("GET", "/subjects?offset=1&limit=1", None, None).await.1,
        json!(["billing.b"])
    );
    assert_eq!(
        r.call("GET", "/subjects?limit=-1", None, None).await.1,
        json!(["billing.a", "billing.b", "client.a"])
    );
    assert_eq!(r.call("GET", "/subjects?deleted=maybe", None, None).await.0, 422);
    // Booleans in any case, as Python clients send them.
    assert_eq!(
        r.call("GET", "/subjects?deleted=False&subjectPrefix=client", None, None)
            .await
            .1,
        json!(["client.a"])
    );
}

#[tokio::test]
async fn references_resolve_and_protect_what_they_reference() {
    let r = Registry::start().await;
    let plan = r#"{"type":"enum","name":"Plan","namespace":"billing","symbols":["FREE","PRO"]}"#;
    assert_eq!(r.register("billing.plan", plan).await.0, 200);
    let seat =
        r#"{"type":"record","name":"Seat","namespace":"billing","fields":[{"name":"plan","type":"billing.Plan"}]}"#;
    let refs = json!([{ "name": "billing.Plan", "subject": "billing.plan", "version": 1 }]);
    let (s, b) = r
        .call(
            "POST",
            "/subjects/billing.seat/versions",
            None,
            Some(json!({ "schema": seat, "references": refs })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let id = b["id"].as_i64().unwrap();
    let (_, by_id) = r.call("GET", &format!("/schemas/ids/{id}"), None, None).await;
    assert_eq!(by_id["references"], refs);
    assert_eq!(
        r.call("GET", "/subjects/billing.seat/versions/1", None, None).await.1["references"],
        refs
    );
    assert_eq!(
        r.call("GET", "/subjects/billing.plan/versions/1/referencedby", None, None)
            .await
            .1,
        json!([id])
    );
    // Without the reference the named type is unknown.
    assert_eq!(code(&r.register("billing.seat2", seat).await.1), 42201);
    let dangling = json!([{ "name": "billing.Plan", "subject": "billing.plan", "version": 9 }]);
    let (s, b) = r
        .call(
            "POST",
            "/subjects/x/versions",
            None,
            Some(json!({ "schema": seat, "references": dangling })),
        )
        .await;
    assert_eq!((s, code(&b)), (422, 42201));
    // As in Confluent, a referenced version or subject cannot be deleted at all.
    let del = |path: &'static str| r.call("DELETE", path, None, None);
    assert_eq!(code(&del("/subjects/billing.plan/versions/1").await.1), 42206);
    assert_eq!(
        code(&del("/subjects/billing.plan/versions/1?permanent=true").await.1),
        42206
    );
    assert_eq!(code(&del("/subjects/billing.plan").await.1), 42206);
    // Once the referencing subject is gone for good, the referenced one can go.
    assert_eq!(del("/subjects/billing.seat").await.0, 200);
    assert_eq!(del("/subjects/billing.seat?permanent=true").await.0, 200);
    assert_eq!(del("/subjects/billing.plan/versions/1").await.0, 200);
}

#[tokio::test]
async fn schemas_by_id_list_their_subjects_and_versions() {
    let r = Registry::start().await;
    let (_, b) = r.register("a", V1).await;
    r.register("b", V1).await;
    let id = b["id"].as_i64().unwrap();
    assert_eq!(
        r.call("GET", &format!("/schemas/ids/{id}/subjects"), None, None)
            .await
            .1,
        json!(["a", "b"])
    );
    assert_eq!(
        r.call("GET", &format!("/schemas/ids/{id}/versions"), None, None)
            .await
            .1,
        json!([{ "subject": "a", "version": 1 }, { "subject": "b", "version": 1 }])
    );
    let (s, raw) = r.call("GET", &format!("/schemas/ids/{id}/schema"), None, None).await;
    assert_eq!((s, raw["name"].as_str()), (200, Some("E")));
    assert_eq!(
        code(&r.call("GET", "/schemas/ids/77777/subjects", None, None).await.1),
        40403
    );
    assert_eq!(r.call("PATCH", "/subjects", None, None).await.0, 405);
    assert_eq!(code(&r.call("GET", "/no/such/route", None, None).await.1), 404);
}

#[tokio::test]
async fn concurrent_registrations_to_one_subject_are_checked_against_each_other() {
    let r = Registry::start().await;
    r.call(
        "PUT",
        "/config/c",
        None,
        Some(json!({ "compatibility": "BACKWARD_TRANSITIVE" })),
    )
    .await;
    assert_eq!(r.register("c", V1).await.0, 200);
    // 30 compatible evolutions (a new defaulted field each) and 5 breaking ones (a required field),
    // all at once: they are batched, and each is checked against everything accepted before it.
    let mut tasks = Vec::new();
    for i in 0..35 {
        let url = r.url.clone();
        tasks.push(tokio::spawn(async move {
            let field = if i < 30 {
                format!(r#"{{"name":"d{i}","type":"string","default":""}}"#)
            } else {
                format!(r#"{{"name":"r{i}","type":"string"}}"#)
            };
            let schema = format!(r#"{{"type":"record","name":"E","fields":[{{"name":"a","type":"long"}},{field}]}}"#);
            let resp = reqwest::Client::new()
                .post(format!("{url}/subjects/c/versions"))
                .json(&json!({ "schema": schema }))
                .send()
                .await
                .unwrap();
            (i, resp.status().as_u16())
        }));
    }
    for t in tasks {
        let (i, status) = t.await.unwrap();
        assert_eq!(status, if i < 30 { 200 } else { 409 }, "registration {i}");
    }
    let versions: Vec<i64> = serde_json::from_value(r.call("GET", "/subjects/c/versions", None, None).await.1).unwrap();
    assert_eq!(versions, (1..=31).collect::<Vec<_>>());

    // Two evolutions that are each compatible with the latest version but not with each other:
    // whichever is written first, the other must be refused.
    r.call("PUT", "/config/c", None, Some(json!({ "compatibility": "BACKWARD" })))
        .await;
    let x = r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"},{"name":"b","type":"string","default":""}]}"#;
    let y =
        r#"{"type":"record","name":"E","fields":[{"name":"a","type":"long"},{"name":"b","type":"int","default":0}]}"#;
    let (sx, sy) = tokio::join!(r.register("c", x), r.register("c", y));
    let mut statuses = [sx.0, sy.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{sx:?} {sy:?}");
}

/// Versions imported out of order (a lower number after a higher one) are checked in version order
/// afterwards: the latest is the highest number, whatever order they came in.
#[tokio::test]
async fn imported_versions_out_of_order_are_checked_in_version_order() {
    let r = Registry::start().await;
    let put = |path: &'static str, body: serde_json::Value| {
        let r = &r;
        async move { r.call("PUT", path, None, Some(body)).await.0 }
    };
    assert_eq!(put("/mode/imp", json!({ "mode": "IMPORT" })).await, 200);
    let record = |fields: serde_json::Value| json!({ "type": "record", "name": "R", "fields": fields }).to_string();
    let v2 = record(json!([{ "name": "id", "type": "long" }]));
    let v1 = record(json!([{ "name": "id", "type": "long" }, { "name": "x", "type": "string" }]));
    for (schema, id, version) in [(v2, 800, 2), (v1, 801, 1)] {
        let body = json!({ "schema": schema, "id": id, "version": version });
        let (status, answer) = r.call("POST", "/subjects/imp/versions", None, Some(body)).await;
        assert_eq!(status, 200, "{answer}");
    }
    assert_eq!(put("/mode/imp", json!({ "mode": "READWRITE" })).await, 200);
    assert_eq!(put("/config/imp", json!({ "compatibility": "BACKWARD" })).await, 200);
    // Reads `x` without a default: version 1 has it, but the latest, version 2, does not.
    let new = record(json!([
        { "name": "id", "type": "long" },
        { "name": "x", "type": "string" },
        { "name": "y", "type": "int", "default": 0 }
    ]));
    let (status, body) = r.register("imp", &new).await;
    assert_eq!(status, 409, "checked against version 2, the latest: {body}");
}
