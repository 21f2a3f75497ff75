//! JSON Schema and Protobuf through the registry binary against real PostgreSQL: every endpoint
//! answers them as Confluent's registry does (`schemaType` in answers, `format=serialized`, the
//! `compatibilityPolicy` config, references across subjects), and errors keep their codes.

mod common;

use common::Registry;
use serde_json::{Value, json};

const PERSON: &str = r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
  "properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name"]}"#;

const ORDER: &str = r#"syntax = "proto3";
package shop;

message Order {
  string id = 1;
  int64 amount_cents = 2;
  repeated string items = 3;
}
"#;

async fn register(r: &Registry, subject: &str, body: Value) -> (u16, Value) {
    r.call("POST", &format!("/subjects/{subject}/versions"), None, Some(body))
        .await
}

async fn registered_id(r: &Registry, subject: &str, body: Value) -> i64 {
    let (status, answer) = register(r, subject, body.clone()).await;
    assert_eq!(status, 200, "{body}: {answer}");
    answer["id"].as_i64().expect("id")
}

#[tokio::test]
async fn json_schemas_register_and_read_back_with_their_type() {
    let r = Registry::start().await;
    let id = registered_id(&r, "people-value", json!({"schema": PERSON, "schemaType": "JSON"})).await;
    // Other whitespace and key order: the same schema, the same id.
    let respaced = serde_json::to_string_pretty(&serde_json::from_str::<Value>(PERSON).unwrap()).unwrap();
    assert_eq!(
        registered_id(&r, "people-value", json!({"schema": respaced, "schemaType": "JSON"})).await,
        id
    );
    let (status, by_id) = r.call("GET", &format!("/schemas/ids/{id}"), None, None).await;
    assert_eq!(status, 200);
    assert_eq!(by_id["schemaType"], "JSON");
    let served: Value = serde_json::from_str(by_id["schema"].as_str().unwrap()).unwrap();
    assert_eq!(served, serde_json::from_str::<Value>(PERSON).unwrap());

    let (_, latest) = r
        .call("GET", "/subjects/people-value/versions/latest", None, None)
        .await;
    assert_eq!(
        (latest["schemaType"].as_str(), latest["version"].as_i64()),
        (Some("JSON"), Some(1))
    );
    let (status, found) = r
        .call(
            "POST",
            "/subjects/people-value",
            None,
            Some(json!({"schema": PERSON, "schemaType": "JSON"})),
        )
        .await;
    assert_eq!(
        (status, found["id"].as_i64(), found["schemaType"].as_str()),
        (200, Some(id), Some("JSON"))
    );
    // The same text as another type is another schema: not found under this subject.
    let (status, answer) = r
        .call(
            "POST",
            "/subjects/people-value",
            None,
            Some(json!({"schema": r#"{"type":"string"}"#})),
        )
        .await;
    assert_eq!((status, answer["error_code"].as_i64()), (404, Some(40403)), "{answer}");
}

#[tokio::test]
async fn json_compatibility_follows_the_subject_policy() {
    let r = Registry::start().await;
    let open = json!({"type": "object", "properties": {"a": {"type": "string"}}});
    let widened = json!({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"}}});
    let body = |s: &Value| json!({"schema": s.to_string(), "schemaType": "JSON"});
    registered_id(&r, "open-value", body(&open)).await;
    // An optional property added to an open model: refused under STRICT (Confluent's default), since
    // old data may hold a `b` of any type ...
    let (status, verdict) = r
        .call(
            "POST",
            "/compatibility/subjects/open-value/versions/latest?verbose=true",
            None,
            Some(body(&widened)),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["is_compatible"], false, "{verdict}");
    let why = verdict["messages"].to_string();
    assert!(
        why.contains("PROPERTY_ADDED_TO_CLOSED_CONTENT_MODEL") || why.contains("ADDED"),
        "{why}"
    );
    let (status, refused) = register(&r, "open-value", body(&widened)).await;
    assert_eq!((status, refused["error_code"].as_i64()), (409, Some(409)), "{refused}");

    // ... and accepted once the subject's policy is LENIENT, as Confluent's config API spells it.
    let (status, set) = r
        .call(
            "PUT",
            "/config/open-value",
            None,
            Some(json!({"compatibilityPolicy": "LENIENT"})),
        )
        .await;
    assert_eq!((status, set), (200, json!({"compatibilityPolicy": "LENIENT"})));
    let (_, config) = r
        .call("GET", "/config/open-value?defaultToGlobal=true", None, None)
        .await;
    assert_eq!(
        config,
        json!({"compatibilityLevel": "BACKWARD", "compatibilityPolicy": "LENIENT"})
    );
    let (status, accepted) = register(&r, "open-value", body(&widened)).await;
    assert_eq!(status, 200, "{accepted}");

    // A policy that does not exist changes nothing and says why.
    let (status, bad) = r
        .call(
            "PUT",
            "/config",
            None,
            Some(json!({"compatibility": "FULL", "compatibilityPolicy": "SLOPPY"})),
        )
        .await;
    assert_eq!((status, bad["error_code"].as_i64()), (422, Some(42203)), "{bad}");
    let (_, global) = r.call("GET", "/config", None, None).await;
    assert_eq!(global, json!({"compatibilityLevel": "BACKWARD"}));
    // Deleting the subject's config removes its policy too.
    let (status, _) = r.call("DELETE", "/config/open-value", None, None).await;
    assert_eq!(status, 200);
    let (status, gone) = r.call("GET", "/config/open-value", None, None).await;
    assert_eq!((status, gone["error_code"].as_i64()), (404, Some(40408)), "{gone}");
}

#[tokio::test]
async fn json_references_resolve_across_subjects() {
    let r = Registry::start().await;
    let address = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let addr_id = registered_id(
        &r,
        "address",
        json!({"schema": address.to_string(), "schemaType": "JSON"}),
    )
    .await;
    let customer = json!({"type": "object", "properties": {"home": {"$ref": "address.json"}}});
    let refs = json!([{"name": "address.json", "subject": "address", "version": 1}]);
    let id = registered_id(
        &r,
        "customer-value",
        json!({"schema": customer.to_string(), "schemaType": "JSON", "references": refs}),
    )
    .await;
    assert_ne!(id, addr_id);
    let (_, by_id) = r.call("GET", &format!("/schemas/ids/{id}"), None, None).await;
    assert_eq!(by_id["references"], refs);
    let (_, referenced_by) = r
        .call("GET", "/subjects/address/versions/1/referencedby", None, None)
        .await;
    assert_eq!(referenced_by, json!([id]));
    // A reference that names nothing is an invalid schema, with Confluent's code.
    let (status, answer) = register(
        &r,
        "customer-value",
        json!({"schema": customer.to_string(), "schemaType": "JSON",
               "references": [{"name": "address.json", "subject": "address", "version": 9}]}),
    )
    .await;
    assert_eq!((status, answer["error_code"].as_i64()), (422, Some(42201)), "{answer}");
    // A `$ref` that resolves nowhere is refused with the parser's message.
    let dangling = json!({"type": "object", "properties": {"x": {"$ref": "nowhere.json"}}});
    let (status, answer) = register(
        &r,
        "dangling",
        json!({"schema": dangling.to_string(), "schemaType": "JSON"}),
    )
    .await;
    assert_eq!((status, answer["error_code"].as_i64()), (422, Some(42201)), "{answer}");
}

#[tokio::test]
async fn protobuf_schemas_are_served_as_text_and_serialized() {
    let r = Registry::start().await;
    let id = registered_id(&r, "orders-value", json!({"schema": ORDER, "schemaType": "PROTOBUF"})).await;
    let (_, by_id) = r.call("GET", &format!("/schemas/ids/{id}"), None, None).await;
    assert_eq!(by_id["schemaType"], "PROTOBUF");
    let text = by_id["schema"].as_str().unwrap().to_string();
    assert!(text.contains("message Order"), "{text}");
    // The canonical text registers as the same schema.
    assert_eq!(
        registered_id(&r, "orders-value", json!({"schema": text, "schemaType": "PROTOBUF"})).await,
        id
    );
    // format=serialized: the base64 FileDescriptorProto, which itself registers as the same schema.
    let (status, serialized) = r
        .call("GET", &format!("/schemas/ids/{id}?format=serialized"), None, None)
        .await;
    assert_eq!(status, 200);
    let b64 = serialized["schema"].as_str().unwrap().to_string();
    assert!(!b64.contains("message"), "{b64}");
    assert_eq!(
        registered_id(&r, "orders-value", json!({"schema": b64, "schemaType": "PROTOBUF"})).await,
        id
    );
    let (_, v) = r
        .call("GET", "/subjects/orders-value/versions/1?format=serialized", None, None)
        .await;
    assert_eq!(v["schema"].as_str(), Some(b64.as_str()));

    // Fields are matched by number: a field whose number now holds a string, not an int64, is
    // incompatible (another wire type), with a verbose reason.
    let renumbered = ORDER.replace("int64 amount_cents = 2", "string amount_cents = 2");
    let (status, verdict) = r
        .call(
            "POST",
            "/compatibility/subjects/orders-value/versions/latest?verbose=true",
            None,
            Some(json!({"schema": renumbered, "schemaType": "PROTOBUF"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(verdict["is_compatible"], false, "{verdict}");
    assert!(
        verdict["messages"].to_string().contains("FIELD_SCALAR_KIND_CHANGED"),
        "{verdict}"
    );
    // A new field is compatible.
    let grown = ORDER.replace(
        "repeated string items = 3;",
        "repeated string items = 3;\n  string note = 5;",
    );
    let (status, _) = register(&r, "orders-value", json!({"schema": grown, "schemaType": "PROTOBUF"})).await;
    assert_eq!(status, 200);
    // Invalid `.proto` text: 42201 with the parser's message.
    let (status, answer) = register(
        &r,
        "orders-value",
        json!({"schema": "syntax = \"proto3\"; message {", "schemaType": "PROTOBUF"}),
    )
    .await;
    assert_eq!((status, answer["error_code"].as_i64()), (422, Some(42201)), "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("Protobuf"), "{answer}");
}

#[tokio::test]
async fn protobuf_imports_are_references_and_well_known_types_are_built_in() {
    let r = Registry::start().await;
    let money = "syntax = \"proto3\";\npackage shop;\nmessage Money { string currency = 1; int64 units = 2; }\n";
    registered_id(&r, "shop-money", json!({"schema": money, "schemaType": "PROTOBUF"})).await;
    let invoice = "syntax = \"proto3\";\npackage shop;\nimport \"money.proto\";\n\
                   import \"google/protobuf/timestamp.proto\";\n\
                   message Invoice { Money total = 1; google.protobuf.Timestamp issued = 2; }\n";
    let refs = json!([{"name": "money.proto", "subject": "shop-money", "version": 1}]);
    let id = registered_id(
        &r,
        "invoices-value",
        json!({"schema": invoice, "schemaType": "PROTOBUF", "references": refs}),
    )
    .await;
    let (_, v) = r.call("GET", "/subjects/invoices-value/versions/1", None, None).await;
    assert_eq!((v["id"].as_i64(), &v["references"]), (Some(id), &refs));
    let (status, _) = r
        .call("GET", &format!("/schemas/ids/{id}?format=serialized"), None, None)
        .await;
    assert_eq!(status, 200);
    // Without the reference the import does not resolve.
    let (status, answer) = register(
        &r,
        "invoices-other",
        json!({"schema": invoice, "schemaType": "PROTOBUF"}),
    )
    .await;
    assert_eq!((status, answer["error_code"].as_i64()), (422, Some(42201)), "{answer}");
    // A referenced schema cannot be hard-deleted while it is used.
    let (status, _) = r.call("DELETE", "/subjects/shop-money/versions/1", None, None).await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn types_never_mix_in_a_subject_and_deletes_imports_and_audit_work_for_every_type() {
    let r = Registry::start().await;
    registered_id(&r, "mixed", json!({"schema": PERSON, "schemaType": "JSON"})).await;
    let (status, answer) = register(&r, "mixed", json!({"schema": ORDER, "schemaType": "PROTOBUF"})).await;
    assert_eq!((status, answer["error_code"].as_i64()), (409, Some(409)), "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("SCHEMA_TYPE_CHANGED"),
        "{answer}"
    );

    // Soft then hard delete.
    let (status, _) = r.call("DELETE", "/subjects/mixed", None, None).await;
    assert_eq!(status, 200);
    let (status, versions) = r.call("DELETE", "/subjects/mixed?permanent=true", None, None).await;
    assert_eq!((status, versions), (200, json!([1])));

    // IMPORT mode keeps the ids another registry gave.
    let (status, _) = r
        .call("PUT", "/mode/imported", None, Some(json!({"mode": "IMPORT"})))
        .await;
    assert_eq!(status, 200);
    let (status, answer) = register(
        &r,
        "imported",
        json!({"schema": ORDER, "schemaType": "PROTOBUF", "id": 7777, "version": 3}),
    )
    .await;
    assert_eq!((status, answer["id"].as_i64()), (200, Some(7777)), "{answer}");
    let (_, v) = r.call("GET", "/subjects/imported/versions/3", None, None).await;
    assert_eq!(v["schemaType"], "PROTOBUF");

    let (_, audit) = r.call("GET", "/murron/audit?subject=imported", None, None).await;
    assert!(audit.to_string().contains("register"), "{audit}");
}
