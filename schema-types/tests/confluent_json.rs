//! Conformance with Confluent's own JSON Schema difference cases (SchemaDiffTest's four files).
//!
//! The cases are Confluent Community License material, so they are read at run time, never copied:
//! from `$MURRON_CONFLUENT_CASES` if set, else `../shared/reference/confluent-schema-diff` beside the
//! repository clone. Without them the test says so and passes.
//!
//! For each case: `compatible` must equal whether every difference from `original_schema` to
//! `update_schema` is compatible under STRICT. LENIENT is checked twice: as Confluent's test does
//! (the STRICT differences judged by the LENIENT set, expecting `compatible_lenient`, else
//! `compatible`), and as its registry does (differences found under LENIENT, judged by it) where
//! `compatible_lenient` is given. The reported `changes` are compared as sets and mismatches
//! summarized; only verdicts fail the test, unless allowed below with a reason.

mod common;

use std::collections::BTreeSet;

use common::{read_cases, strip_trailing_commas};

use murron_schema_types::compatibility::CompatibilityPolicy;
use murron_schema_types::compatibility::json::{Difference, differences, differences_under};
use murron_schema_types::schema::json::{Draft, JsonSchema};
use murron_schema_types::schema::normalize;
use serde_json::Value;

const FILES: [&str; 4] = [
    "json-schema-provider--diff-schema-examples.json",
    "json-schema-provider--diff-schema-examples-2020-12.json",
    "json-schema-provider--diff-combined-schema-examples.json",
    "json-schema-provider--diff-combined-schema-examples-2020-12.json",
];

/// Verdict disagreements accepted, as (file, case index, reason). Keep empty unless a reason holds.
const ALLOWED: &[(&str, usize, &str)] = &[];

fn draft_of(schema: &Value) -> Draft {
    let url = schema.get("$schema").and_then(Value::as_str).unwrap_or_default();
    if url.contains("draft-04") {
        Draft::Draft4
    } else if url.contains("draft-06") {
        Draft::Draft6
    } else if url.contains("2019-09") {
        Draft::Draft201909
    } else if url.contains("2020-12") {
        Draft::Draft202012
    } else {
        Draft::Draft7
    }
}

fn schema(root: &Value) -> JsonSchema {
    JsonSchema {
        root: root.clone(),
        documents: Default::default(),
        draft: draft_of(root),
    }
}

fn all_compatible(diffs: &[Difference], policy: CompatibilityPolicy) -> bool {
    diffs.iter().all(|d| d.kind.is_compatible(policy))
}

#[derive(Default)]
struct Tally {
    agree: usize,
    disagree: usize,
    allowed: usize,
    changes_match: usize,
    failures: Vec<String>,
    change_mismatches: Vec<String>,
}

fn run_case(file: &str, index: usize, case: &Value, tally: &mut Tally) {
    let description = case["description"].as_str().unwrap_or("?");
    let (original, update) = (schema(&case["original_schema"]), schema(&case["update_schema"]));
    let expected = case["compatible"].as_bool().expect("compatible is a boolean");
    let lenient_given = case.get("compatible_lenient").and_then(Value::as_bool);

    let strict = differences(&original, &update);
    let mut verdicts = vec![("STRICT", expected, all_compatible(&strict, CompatibilityPolicy::Strict))];
    verdicts.push((
        "LENIENT (Confluent's test)",
        lenient_given.unwrap_or(expected),
        all_compatible(&strict, CompatibilityPolicy::Lenient),
    ));
    if let Some(lenient) = lenient_given {
        let found = differences_under(CompatibilityPolicy::Lenient, &original, &update);
        verdicts.push((
            "LENIENT (registry)",
            lenient,
            all_compatible(&found, CompatibilityPolicy::Lenient),
        ));
    }
    let wrong: Vec<String> = verdicts
        .iter()
        .filter(|(_, expected, found)| expected != found)
        .map(|(policy, expected, found)| format!("{policy}: expected {expected}, found {found}"))
        .collect();
    let case_name = format!("{file}[{index}] {description}");
    if wrong.is_empty() {
        tally.agree += 1;
    } else if ALLOWED.iter().any(|(f, i, _)| *f == file && *i == index) {
        tally.allowed += 1;
    } else {
        tally.disagree += 1;
        tally
            .failures
            .push(format!("{case_name}: {} (differences {strict:?})", wrong.join("; ")));
    }

    let reported: BTreeSet<String> = case["changes"]
        .as_array()
        .expect("changes is an array")
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    let ours: BTreeSet<String> = strict.iter().map(|d| format!("{} {}", d.kind, d.path)).collect();
    if reported == ours {
        tally.changes_match += 1;
    } else {
        let missing: Vec<_> = reported.difference(&ours).collect();
        let extra: Vec<_> = ours.difference(&reported).collect();
        tally
            .change_mismatches
            .push(format!("{case_name}: missing {missing:?}, extra {extra:?}"));
    }
}

#[test]
fn confluent_json_schema_diff_cases() {
    let mut failures = Vec::new();
    for file in FILES {
        let Some(cases) = read_cases(file) else {
            return;
        };
        let mut tally = Tally::default();
        for (index, case) in cases.iter().enumerate() {
            run_case(file, index, case, &mut tally);
        }
        eprintln!(
            "{file}: {} cases, {} agree, {} disagree, {} allowed; reported changes equal as sets in {}",
            cases.len(),
            tally.agree,
            tally.disagree,
            tally.allowed,
            tally.changes_match
        );
        for mismatch in &tally.change_mismatches {
            eprintln!("  changes differ: {mismatch}");
        }
        failures.extend(tally.failures);
    }
    for (file, index, reason) in ALLOWED {
        eprintln!("allowed: {file}[{index}]: {reason}");
    }
    assert!(
        failures.is_empty(),
        "verdicts differ from Confluent's:\n{}",
        failures.join("\n")
    );
}

#[test]
fn trailing_commas_are_dropped_outside_strings_only() {
    let text = r#"[{"a": "x,]", "b": [1, 2,],},]"#;
    let value: Value = serde_json::from_str(&strip_trailing_commas(text)).expect("valid after stripping");
    assert_eq!(value, serde_json::json!([{"a": "x,]", "b": [1, 2]}]));
}

/// Every schema of the cases is one Confluent's registry accepts, so this registry must accept it
/// too, and normalizing its stored text again must keep its identity.
#[test]
fn every_schema_of_the_cases_is_accepted_and_keeps_its_identity() {
    let mut checked = 0;
    let mut refused = Vec::new();
    for file in FILES {
        let Some(cases) = read_cases(file) else {
            return;
        };
        for case in &cases {
            for side in ["original_schema", "update_schema"] {
                let text = case[side].to_string();
                checked += 1;
                match normalize(Some("JSON"), &text, vec![], &[]) {
                    Ok(first) => {
                        let again = normalize(Some("JSON"), &first.text, vec![], &[]).expect("the stored text parses");
                        assert_eq!(first.fingerprint, again.fingerprint, "{text}");
                    }
                    Err(e) => refused.push(format!("{file}: {} ({side}): {e}", case["description"])),
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} schemas found");
    assert!(
        refused.is_empty(),
        "{} of {checked} refused:\n{}",
        refused.len(),
        refused.join("\n")
    );
    eprintln!("all {checked} schemas of Confluent's JSON Schema cases are accepted");
}
