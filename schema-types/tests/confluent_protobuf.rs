//! Conformance with Confluent's Protobuf schema-difference cases (protobuf-provider's
//! `diff-schema-examples.json`), read at run time from `$MURRON_CONFLUENT_CASES` or
//! `../shared/reference/confluent-schema-diff/` beside the repository; skipped, saying so, when absent.
//!
//! Each case diffs `original_schema` (with `original_dependencies` as references) against
//! `update_schema`: `compatible` must match, and the differences must equal `changes` as sets
//! (Confluent's order follows hash maps). A case carrying `confluent:reserved` metadata also runs
//! Confluent's reserved-field rules. Disagreements are failures unless allow-listed below, with a
//! reason.

mod common;

use std::collections::BTreeSet;

use common::read_cases;

use murron_schema_types::compatibility::protobuf::{differences, reserved_field_violations};
use murron_schema_types::schema::protobuf::parse_stored;
use murron_schema_types::schema::{Referenced, SchemaType};
use serde_json::Value;

const FILE: &str = "protobuf-provider--diff-schema-examples.json";

/// Cases (by description) where we knowingly disagree with Confluent, and why.
const ALLOWED: &[(&str, &str)] = &[];

fn references(case: &Value, side: &str) -> Vec<Referenced> {
    case[format!("{side}_dependencies")]
        .as_array()
        .map(|deps| {
            deps.iter()
                .map(|d| Referenced {
                    name: d["name"].as_str().expect("a dependency name").to_string(),
                    schema_type: SchemaType::Protobuf,
                    text: d["dependency"].as_str().expect("a dependency text").to_string(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn reserved(case: &Value, side: &str) -> Option<Vec<String>> {
    case[format!("{side}_metadata")]["properties"]["confluent:reserved"]
        .as_str()
        .map(|names| {
            names
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        })
}

/// What we say about one case: compatible?, the differences, and any reserved-field violation.
fn run(case: &Value) -> Result<(bool, Vec<String>, Vec<String>), String> {
    let text = |key: &str| case[key].as_str().ok_or(format!("no {key}")).map(str::to_string);
    let original =
        parse_stored(&text("original_schema")?, &references(case, "original")).map_err(|e| format!("original: {e}"))?;
    let update =
        parse_stored(&text("update_schema")?, &references(case, "update")).map_err(|e| format!("update: {e}"))?;
    let found = differences(&original, &update);
    let mut violations = Vec::new();
    if let Some(new_reserved) = reserved(case, "update") {
        let previous = reserved(case, "original");
        let new_names: Vec<&str> = new_reserved.iter().map(String::as_str).collect();
        let previous_names: Option<Vec<&str>> = previous.as_ref().map(|p| p.iter().map(String::as_str).collect());
        violations = reserved_field_violations(&update, &new_names, previous_names.as_deref());
    }
    let compatible = found.iter().all(|d| d.kind.is_compatible()) && violations.is_empty();
    Ok((compatible, found.iter().map(ToString::to_string).collect(), violations))
}

#[test]
fn confluent_protobuf_diff_cases_agree() {
    let Some(cases) = read_cases(FILE) else {
        return;
    };
    let (mut agree, mut same_order, mut with_metadata) = (0, 0, 0);
    let mut disagreements = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let description = case["description"].as_str().unwrap_or("?");
        let expected_compatible = case["compatible"].as_bool().expect("compatible");
        let expected: Vec<String> = case["changes"]
            .as_array()
            .expect("changes")
            .iter()
            .map(|c| c.as_str().expect("a change").to_string())
            .collect();
        if case.get("original_metadata").is_some() || case.get("update_metadata").is_some() {
            with_metadata += 1;
        }
        let verdict = match run(case) {
            Ok((compatible, found, violations)) => {
                let as_set = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
                if found == expected {
                    same_order += 1;
                }
                if compatible == expected_compatible
                    && as_set(&found) == as_set(&expected)
                    && found.len() == expected.len()
                {
                    Ok(())
                } else {
                    Err(format!(
                        "compatible {compatible} (Confluent {expected_compatible}), changes {found:?} \
                         (Confluent {expected:?}), reserved-field violations {violations:?}"
                    ))
                }
            }
            Err(e) => Err(format!("refused: {e}")),
        };
        match verdict {
            Ok(()) => agree += 1,
            Err(why) => {
                let allowed = ALLOWED.iter().find(|(d, _)| *d == description);
                eprintln!(
                    "case {i} {description:?}: {why}{}",
                    allowed.map(|(_, r)| format!(" [allowed: {r}]")).unwrap_or_default()
                );
                if allowed.is_none() {
                    disagreements.push(format!("case {i} {description:?}"));
                }
            }
        }
    }
    eprintln!(
        "{FILE}: {} cases, {agree} agree ({same_order} with the changes in Confluent's order), {} disagree \
         ({} allow-listed); {with_metadata} carry metadata",
        cases.len(),
        cases.len() - agree,
        cases.len() - agree - disagreements.len()
    );
    assert_eq!(cases.len(), 54, "the file holds Confluent's 54 cases");
    assert!(disagreements.is_empty(), "disagreements: {disagreements:#?}");
}
