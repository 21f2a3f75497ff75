//! The OpenAPI document (`openapi.json`) matches the router: every route in `api::router` is
//! documented with the same methods, nothing else is, and the document is well formed.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const DOC: &str = include_str!("../openapi.json");
const ROUTER_SRC: &str = include_str!("../src/api/mod.rs");

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];
const JSON_ERROR_TYPE: &str = "application/vnd.schemaregistry.v1+json";

fn doc() -> Value {
    serde_json::from_str(DOC).unwrap_or_else(|e| panic!("openapi.json is not JSON: {e}"))
}

/// The text from `start` (just after an opening parenthesis) to the matching closing parenthesis,
/// skipping string literals.
fn until_close_paren(src: &str, start: usize) -> &str {
    let bytes = src.as_bytes();
    let mut depth = 1usize;
    let mut in_string = false;
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return &src[start..i];
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    panic!("unbalanced parentheses after byte {start} of src/api/mod.rs")
}

/// The HTTP methods routed in a `.route(...)` handler chain: `get(`, `.post(`, `routing::delete(`...
fn methods_in(chain: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for method in METHODS {
        let needle = format!("{method}(");
        for (i, _) in chain.match_indices(&needle) {
            let before = chain[..i].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                found.insert(method.to_string());
            }
        }
    }
    found
}

/// Every `.route("PATH", chain)` in `router()`, with the methods of its chain.
fn router_routes() -> BTreeMap<String, BTreeSet<String>> {
    let start = ROUTER_SRC
        .find("pub fn router(")
        .unwrap_or_else(|| panic!("no `pub fn router(` in src/api/mod.rs"));
    let src = &ROUTER_SRC[start..];
    let mut routes = BTreeMap::new();
    // rustfmt may break `.route(` and its path onto separate lines: skip whitespace after the paren.
    for (i, _) in src.match_indices(".route(") {
        let after_paren = i + ".route(".len();
        let rest = &src[after_paren..];
        let Some(literal) = rest.trim_start().strip_prefix('"') else {
            continue;
        };
        let path_len = literal
            .find('"')
            .unwrap_or_else(|| panic!("unterminated route path at {i}"));
        let path = &literal[..path_len];
        let chain = until_close_paren(src, after_paren);
        let after_path = chain.find(path).map_or(0, |p| p + path_len + 1);
        let methods = methods_in(&chain[after_path..]);
        assert!(!methods.is_empty(), "no method found for route {path}: {chain}");
        assert!(
            routes.insert(path.to_string(), methods).is_none(),
            "route {path} appears twice in router()"
        );
    }
    routes
}

fn documented_methods(item: &Value) -> BTreeSet<String> {
    METHODS
        .iter()
        .filter(|m| item.get(**m).is_some())
        .map(|m| (*m).to_string())
        .collect()
}

/// Follows a local `$ref` (`#/components/...`) to what it names.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {r}"));
            resolve(doc, doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {r}")))
        }
        None => v,
    }
}

fn collect_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if k == "$ref" {
                    if let Some(r) = child.as_str() {
                        out.push(r);
                    }
                } else {
                    collect_refs(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|child| collect_refs(child, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_0() {
    let doc = doc();
    let version = doc["openapi"].as_str().unwrap();
    assert!(version.starts_with("3.0."), "openapi is {version}, want 3.0.x");
    assert!(doc["info"]["title"].is_string());
    assert!(doc["info"]["version"].is_string());
    assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
}

#[test]
fn the_router_is_scanned() {
    let routes = router_routes();
    assert!(routes.len() >= 20, "only {} routes found: {routes:?}", routes.len());
    let set = |ms: &[&str]| ms.iter().map(|m| (*m).to_string()).collect::<BTreeSet<_>>();
    assert_eq!(routes["/subjects/{subject}"], set(&["delete", "post"]));
    assert_eq!(routes["/config"], set(&["delete", "get", "put"]));
    assert_eq!(routes["/murron/tokens/{name}"], set(&["delete"]));
    assert_eq!(routes["/"], set(&["get"]));
}

#[test]
fn every_route_is_documented_with_its_methods() {
    let doc = doc();
    let paths = doc["paths"].as_object().unwrap();
    let mut problems = Vec::new();
    for (path, methods) in router_routes() {
        match paths.get(&path) {
            None => problems.push(format!("{path} is routed but not documented")),
            Some(item) => {
                let documented = documented_methods(item);
                if documented != methods {
                    problems.push(format!("{path}: router has {methods:?}, document has {documented:?}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_documented_path_is_routed() {
    let doc = doc();
    let routes = router_routes();
    let missing: Vec<&String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|p| !routes.contains_key(*p))
        .collect();
    assert!(missing.is_empty(), "documented but not routed: {missing:?}");
}

#[test]
fn every_ref_resolves() {
    let doc = doc();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
}

#[test]
fn path_parameters_match_the_path_templates() {
    let doc = doc();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_string)
            .collect();
        let shared: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for method in documented_methods(item) {
            let op = &item[&method];
            let own: Vec<&Value> = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let mut declared = BTreeSet::new();
            for p in shared.iter().chain(own.iter()) {
                let p = resolve(&doc, p);
                if p["in"] == "path" {
                    assert_eq!(
                        p["required"], true,
                        "{method} {path}: path parameter {} must be required",
                        p["name"]
                    );
                    assert_eq!(
                        p["schema"]["type"], "string",
                        "{method} {path}: path parameter {} must be a string",
                        p["name"]
                    );
                    declared.insert(p["name"].as_str().unwrap().to_string());
                }
            }
            assert_eq!(
                declared, in_template,
                "{method} {path}: declared path parameters differ from the template"
            );
        }
    }
}

#[test]
fn operations_have_ids_success_answers_and_confluent_shaped_errors() {
    let doc = doc();
    let error_schema = &doc["components"]["schemas"]["Error"];
    let required: BTreeSet<&str> = error_schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, BTreeSet::from(["error_code", "message"]));
    assert_eq!(error_schema["properties"]["error_code"]["type"], "integer");
    assert_eq!(error_schema["properties"]["message"]["type"], "string");

    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in documented_methods(item) {
            let op = &item[&method];
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(ids.insert(id.to_string()), "operationId {id} is used twice");
            let responses = op["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path}: no responses"));
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success response"
            );
            for (status, response) in responses {
                let response = resolve(&doc, response);
                assert!(
                    response["description"].is_string(),
                    "{method} {path} {status}: no description"
                );
                if status.starts_with('2') {
                    continue;
                }
                // A JSON error answer is always the shared Error body.
                if let Some(media) = response.get("content").and_then(|c| c.get(JSON_ERROR_TYPE)) {
                    assert_eq!(
                        media["schema"]["$ref"], "#/components/schemas/Error",
                        "{method} {path} {status}: JSON errors must use components/schemas/Error"
                    );
                }
            }
        }
    }
}

#[test]
fn request_bodies_accept_the_confluent_content_types() {
    let doc = doc();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in documented_methods(item) {
            if let Some(body) = item[&method].get("requestBody") {
                let content = body["content"].as_object().unwrap();
                for ty in [
                    "application/vnd.schemaregistry.v1+json",
                    "application/vnd.schemaregistry+json",
                    "application/json",
                ] {
                    assert!(content.contains_key(ty), "{method} {path}: request body lacks {ty}");
                }
            }
        }
    }
}
