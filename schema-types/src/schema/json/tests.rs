use super::*;
use crate::schema::{Normalized, Reference, SchemaType};

fn doc(name: &str, text: &str) -> Referenced {
    Referenced {
        name: name.into(),
        schema_type: SchemaType::Json,
        text: text.into(),
    }
}

fn accepted(text: &str, referenced: &[Referenced]) -> Parsed {
    normalize(text, referenced).unwrap_or_else(|e| panic!("{text} is refused: {e}"))
}

/// The message of the refusal of `text`.
fn refusal(text: &str, referenced: &[Referenced]) -> String {
    match normalize(text, referenced) {
        Ok(p) => panic!("{text} is accepted as {}", p.text),
        Err(SchemaError::InvalidJson(message)) => message,
        Err(other) => panic!("{text} is refused as another type: {other}"),
    }
}

/// Normalized through the registry's dispatch, with references named as `referenced` names them.
fn registered(text: &str, referenced: &[Referenced]) -> Normalized {
    let references = referenced
        .iter()
        .map(|r| Reference {
            name: r.name.clone(),
            subject: r.name.clone(),
            version: 1,
        })
        .collect();
    crate::schema::normalize(Some("JSON"), text, references, referenced).unwrap()
}

#[test]
fn each_draft_is_chosen_by_its_schema_url_in_every_spelling() {
    let spellings = [
        ("http://json-schema.org/draft-04/schema#", Draft::Draft4),
        ("https://json-schema.org/draft-04/schema", Draft::Draft4),
        ("http://json-schema.org/schema#", Draft::Draft4),
        ("http://json-schema.org/draft-06/schema#", Draft::Draft6),
        ("https://json-schema.org/draft-06/schema", Draft::Draft6),
        ("http://json-schema.org/draft-07/schema#", Draft::Draft7),
        ("https://json-schema.org/draft-07/schema", Draft::Draft7),
        ("https://json-schema.org/draft/2019-09/schema", Draft::Draft201909),
        ("http://json-schema.org/draft/2019-09/schema#", Draft::Draft201909),
        ("https://json-schema.org/draft/2020-12/schema", Draft::Draft202012),
        ("http://json-schema.org/draft/2020-12/schema#", Draft::Draft202012),
    ];
    for (url, draft) in spellings {
        let text = format!(r#"{{"$schema": "{url}", "type": "object", "properties": {{"a": {{"type": "string"}}}}}}"#);
        accepted(&text, &[]);
        assert_eq!(parse_stored(&text, &[]).unwrap().draft, draft, "{url}");
    }
    for draft in Draft::ALL {
        assert_eq!(Draft::from_url(draft.url()), Some(draft), "{}", draft.name());
    }
}

#[test]
fn a_schema_without_dollar_schema_is_draft_7() {
    assert_eq!(parse_stored(r#"{"type": "string"}"#, &[]).unwrap().draft, Draft::Draft7);
    assert_eq!(parse_stored("true", &[]).unwrap().draft, Draft::Draft7);
}

#[test]
fn each_draft_is_checked_against_its_own_meta_schema() {
    // A boolean exclusiveMinimum is draft 4's; a number is every later draft's.
    let boolean = |url: &str| format!(r#"{{"$schema": "{url}", "minimum": 1, "exclusiveMinimum": true}}"#);
    let number = |url: &str| format!(r#"{{"$schema": "{url}", "exclusiveMinimum": 1}}"#);
    accepted(&boolean(Draft::Draft4.url()), &[]);
    assert!(refusal(&number(Draft::Draft4.url()), &[]).contains("#/exclusiveMinimum"));
    for draft in &Draft::ALL[1..] {
        accepted(&number(draft.url()), &[]);
        let message = refusal(&boolean(draft.url()), &[]);
        assert!(message.contains("at #/exclusiveMinimum"), "{}: {message}", draft.name());
    }
    // Draft 4's meta-schema wants at least one required property; later ones allow none.
    let required = |url: &str| format!(r#"{{"$schema": "{url}", "required": []}}"#);
    assert!(refusal(&required(Draft::Draft4.url()), &[]).contains("at #/required: "));
    accepted(&required(Draft::Draft6.url()), &[]);
    // Without $schema, draft 7 rules.
    assert!(refusal(r#"{"exclusiveMinimum": true}"#, &[]).contains("#/exclusiveMinimum"));
}

#[test]
fn an_unknown_draft_is_refused_naming_the_supported_ones() {
    let message = refusal(r#"{"$schema": "http://json-schema.org/draft-03/schema#"}"#, &[]);
    assert!(
        message.contains("unsupported $schema \"http://json-schema.org/draft-03/schema#\""),
        "{message}"
    );
    for named in [
        "4, 6, 7, 2019-09 and 2020-12",
        "https://json-schema.org/draft/2020-12/schema",
    ] {
        assert!(message.contains(named), "{message}");
    }
    assert!(refusal(r#"{"$schema": "https://example.com/my-meta"}"#, &[]).contains("unsupported $schema"));
    assert!(refusal(r#"{"$schema": "http://json-schema.org/draft-07/schema##"}"#, &[]).contains("unsupported"));
    assert!(refusal(r#"{"$schema": 7}"#, &[]).contains("$schema must be a string"));
}

#[test]
fn meta_schema_violations_are_refused_with_the_path_of_the_problem() {
    let cases = [
        (r#"{"type": 5}"#, "at #/type: "),
        (r#"{"minimum": "x"}"#, "at #/minimum: \"x\" is not of type \"number\""),
        (
            r#"{"properties": {"a": {"type": "strin"}}}"#,
            "at #/properties/a/type: ",
        ),
        (r#"{"required": "a"}"#, "at #/required: "),
        (
            r#"{"items": [{"type": "string"}, {"maxLength": -1}]}"#,
            "at #/items/1/maxLength: -1 is less than the minimum of 0",
        ),
        (r#"{"pattern": "(("}"#, "at #/pattern: "),
        (r#"{"$ref": "a b"}"#, "at #/$ref: \"a b\" is not a \"uri-reference\""),
        (r#"{"$id": "a b", "type": "string"}"#, "at #/$id: "),
    ];
    for (text, expected) in cases {
        let message = refusal(text, &[]);
        assert!(message.contains(expected), "{text}: {message}");
    }
}

#[test]
fn only_objects_and_booleans_are_schemas() {
    accepted("true", &[]);
    accepted("false", &[]);
    accepted("{}", &[]);
    for (text, kind) in [
        ("[]", "an array"),
        ("1", "a number"),
        ("\"s\"", "a string"),
        ("null", "null"),
    ] {
        assert_eq!(
            refusal(text, &[]),
            format!("a JSON schema is an object or a boolean, not {kind}")
        );
    }
    assert!(refusal("{\"type\": ", &[]).contains("EOF"));
}

#[test]
fn a_ref_that_resolves_nowhere_is_refused() {
    let message = refusal(r#"{"$ref": "address.json"}"#, &[]);
    assert!(
        message.starts_with("unresolved $ref \"address.json\": it is neither in the schema nor among its references"),
        "{message}"
    );
    // Nothing is fetched: a full URL outside the references is as unresolved.
    let message = refusal(r#"{"$ref": "https://example.com/address.json"}"#, &[]);
    assert!(message.contains("\"https://example.com/address.json\""), "{message}");
    let message = refusal(r##"{"$ref": "#/definitions/missing", "definitions": {}}"##, &[]);
    assert_eq!(
        message,
        "unresolved $ref: the JSON pointer \"/definitions/missing\" points to nothing"
    );
    // A definition nothing uses is checked too.
    refusal(r#"{"definitions": {"unused": {"$ref": "address.json"}}}"#, &[]);
    // Nor may a referenced document point nowhere.
    let message = refusal(r#"{"$ref": "a.json"}"#, &[doc("a.json", r#"{"$ref": "missing.json"}"#)]);
    assert!(message.starts_with("unresolved $ref \"missing.json\""), "{message}");
    let message = refusal(r#"{"$ref": "a.json"}"#, &[doc("a b", "{}")]);
    assert!(
        message.starts_with("referenced schema \"a b\": its name is not a URI reference"),
        "{message}"
    );
    // A referenced document under another name does not resolve it.
    refusal(r#"{"$ref": "address.json"}"#, &[doc("other.json", "{}")]);
}

#[test]
fn a_ref_to_a_referenced_document_or_into_one_is_accepted() {
    let address = [doc(
        "address.json",
        r#"{"type": "object", "definitions": {"street": {"type": "string"}}}"#,
    )];
    accepted(r#"{"properties": {"home": {"$ref": "address.json"}}}"#, &address);
    accepted(r##"{"$ref": "address.json#/definitions/street"}"##, &address);
    let message = refusal(r##"{"$ref": "address.json#/definitions/zip"}"##, &address);
    assert!(message.contains("/definitions/zip"), "{message}");
    let by_url = doc("https://example.com/schemas/address.json", r#"{"type": "string"}"#);
    accepted(r#"{"$ref": "https://example.com/schemas/address.json"}"#, &[by_url]);
}

#[test]
fn a_relative_reference_name_resolves_against_the_schemas_id() {
    let address = [doc("address.json", r#"{"type": "string"}"#)];
    let customer = |reference: &str| {
        format!(
            r#"{{"$id": "https://example.com/schemas/customer.json", "properties": {{"home": {{"$ref": "{reference}"}}}}}}"#
        )
    };
    accepted(&customer("address.json"), &address);
    accepted(&customer("https://example.com/schemas/address.json"), &address);
    refusal(&customer("https://example.com/address.json"), &address);
    let draft4 = r#"{"$schema": "http://json-schema.org/draft-04/schema#", "id": "https://example.com/c.json", "items": {"$ref": "https://example.com/address.json"}}"#;
    accepted(draft4, &address);
    // Up to draft 7, `$ref` makes its siblings ignored, `$id` included: beside it, the name is
    // resolved as if the schema had no `$id`, as the `$ref` is.
    let beside = r#"{"$id": "https://example.com/schemas/customer.json", "$ref": "address.json"}"#;
    accepted(beside, &address);
    refusal(beside, &[doc("https://example.com/schemas/address.json", "{}")]);
}

#[test]
fn each_referenced_document_is_read_in_its_own_draft() {
    let draft4 = doc(
        "old.json",
        r#"{"$schema": "http://json-schema.org/draft-04/schema#", "id": "old.json", "type": "string"}"#,
    );
    accepted(
        r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "$ref": "old.json"}"#,
        &[draft4],
    );
    let unknown = doc("odd.json", r#"{"$schema": "https://example.com/meta"}"#);
    let message = refusal(r#"{"$ref": "odd.json"}"#, &[unknown]);
    assert!(
        message.starts_with("referenced schema \"odd.json\": unsupported $schema"),
        "{message}"
    );
}

#[test]
fn an_embedded_resource_is_not_checked_against_its_own_dollar_schema() {
    accepted(
        r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": {"a": {"$id": "https://example.com/a", "$schema": "https://example.com/meta"}}}"#,
        &[],
    );
}

#[test]
fn local_recursion_is_accepted() {
    accepted(r##"{"type": "object", "properties": {"next": {"$ref": "#"}}}"##, &[]);
    accepted(r##"{"$ref": "#"}"##, &[]);
    accepted(
        r##"{"$ref": "#/definitions/a", "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}}}"##,
        &[],
    );
    accepted(
        r##"{"$schema": "https://json-schema.org/draft/2020-12/schema", "$defs": {"node": {"items": {"$ref": "#/$defs/node"}}}, "$ref": "#/$defs/node"}"##,
        &[],
    );
}

#[test]
fn documents_referencing_each_other_are_accepted() {
    let person = doc(
        "person.json",
        r#"{"type": "object", "properties": {"employer": {"$ref": "company.json"}}}"#,
    );
    let company = doc(
        "company.json",
        r#"{"type": "object", "properties": {"staff": {"type": "array", "items": {"$ref": "person.json"}}}}"#,
    );
    accepted(r#"{"$ref": "person.json"}"#, &[person.clone(), company.clone()]);
    // Pure `$ref` cycles across documents, and back to the referencing schema itself.
    let a = doc("a.json", r#"{"$ref": "b.json"}"#);
    let b = doc("b.json", r#"{"$ref": "a.json"}"#);
    accepted(r#"{"$ref": "a.json"}"#, &[a, b]);
    let back = doc("back.json", r#"{"$ref": "https://example.com/root.json"}"#);
    accepted(
        r#"{"$id": "https://example.com/root.json", "properties": {"a": {"$ref": "back.json"}}}"#,
        &[back],
    );
}

#[test]
fn long_ref_chains_do_not_exhaust_the_stack() {
    let n = 5000;
    let mut definitions: Vec<String> = (0..n)
        .map(|i| format!(r##""d{i}": {{"$ref": "#/definitions/d{}"}}"##, i + 1))
        .collect();
    definitions.push(format!(r#""d{n}": {{"type": "string"}}"#));
    let text = format!(
        r##"{{"$ref": "#/definitions/d0", "definitions": {{{}}}}}"##,
        definitions.join(",")
    );
    accepted(&text, &[]);
    let ring: Vec<Referenced> = (0..300)
        .map(|i| {
            doc(
                &format!("d{i}.json"),
                &format!(r#"{{"$ref": "d{}.json"}}"#, (i + 1) % 300),
            )
        })
        .collect();
    accepted(r#"{"$ref": "d0.json"}"#, &ring);
}

#[test]
fn nesting_beyond_the_json_parsers_limit_is_refused_without_overflow() {
    let nested = |depth: usize| {
        format!(
            "{}{}",
            r#"{"items":"#.repeat(depth),
            "{}".to_string() + &"}".repeat(depth)
        )
    };
    accepted(&nested(100), &[]);
    assert!(refusal(&nested(200), &[]).contains("recursion limit exceeded"));
}

#[test]
fn whitespace_key_order_and_escapes_share_an_identity() {
    let a = registered(
        r#"{"type":"object","properties":{"name":{"type":"string","minLength":1}}}"#,
        &[],
    );
    let b = registered(
        "{\n  \"properties\": { \"name\": { \"minLength\": 1, \"type\": \"str\\u0069ng\" } },\n  \"type\": \"object\"\n}",
        &[],
    );
    assert_eq!(a.fingerprint, b.fingerprint);
    assert_eq!(a.text, b.text);
    assert_eq!(
        a.text,
        r#"{"properties":{"name":{"minLength":1,"type":"string"}},"type":"object"}"#
    );
    let c = registered(
        r#"{"type":"object","properties":{"name":{"type":"string","minLength":2}}}"#,
        &[],
    );
    assert_ne!(a.fingerprint, c.fingerprint);
}

#[test]
fn declaring_draft_7_is_another_schema_than_declaring_nothing() {
    let bare = registered(r#"{"type":"string"}"#, &[]);
    let declared = registered(
        r#"{"$schema":"http://json-schema.org/draft-07/schema#","type":"string"}"#,
        &[],
    );
    assert_ne!(bare.fingerprint, declared.fingerprint);
}

#[test]
fn references_are_part_of_the_identity() {
    let text = r#"{"$ref":"a.json"}"#;
    let one = registered(text, &[doc("a.json", r#"{"type":"string"}"#)]);
    let again = registered(text, &[doc("a.json", r#"{"type": "string"}"#)]);
    assert_eq!(one.fingerprint, again.fingerprint);
    let mut other = registered(text, &[doc("a.json", r#"{"type":"string"}"#)]);
    other.references[0].version = 2;
    let moved = crate::schema::normalize(Some("JSON"), text, other.references, &[doc("a.json", "{}")]).unwrap();
    assert_ne!(one.fingerprint, moved.fingerprint);
}

#[test]
fn normalizing_the_stored_text_again_changes_nothing() {
    let texts = [
        r#"{ "type": "object", "required": ["b", "a"], "properties": { "b": {"type": "number", "maximum": 1.5e3}, "a": {"enum": [1, 1.0, "x", null]} } }"#,
        r#"{"$schema": "https://json-schema.org/draft/2020-12/schema", "prefixItems": [{"const": {"z": 1, "a": [true]}}]}"#,
        "true",
    ];
    for text in texts {
        let first = registered(text, &[]);
        let again = registered(&first.text, &[]);
        assert_eq!(first.text, again.text);
        assert_eq!(first.fingerprint, again.fingerprint);
    }
}

#[test]
fn stored_text_is_parsed_with_its_documents_without_checking_them_again() {
    let referenced = [
        doc("a.json", r#"{"type": "string"}"#),
        doc("b.json", r#"{"$ref": "nowhere.json"}"#),
        doc("a.json", r#"{"type": "number"}"#),
    ];
    let schema = parse_stored(r#"{"$ref": "a.json"}"#, &referenced).unwrap();
    assert_eq!(schema.documents.len(), 2);
    assert_eq!(
        schema.documents["a.json"],
        serde_json::json!({"type": "string"}),
        "the first of a name"
    );
    assert!(normalize(r#"{"$ref": "b.json"}"#, &referenced).is_err());
    let message = parse_stored("{}", &[doc("c.json", "[1]")]).unwrap_err().to_string();
    assert_eq!(
        message,
        "invalid JSON schema: referenced schema \"c.json\": a JSON schema is an object or a boolean, not an array"
    );
}
