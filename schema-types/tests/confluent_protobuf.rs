//! Conformance with Confluent's Protobuf schema-difference cases (protobuf-provider's
//! `diff-schema-examples.json`), read at run time from `$MURRON_CONFLUENT_CASES` or
//! `../shared/reference/confluent-schema-diff/` beside the repository; skipped, saying so, when absent.
//!
//! Each case diffs `original_schema` (with `original_dependencies` as references) against
//! `update_schema`: `compatible` must match, and the differences must equal `changes` as sets
//! (Confluent's order follows hash maps). A case carrying `confluent:reserved` metadata also runs
//! Confluent's reserved-field rules. Disagreements are failures unless allow-listed below, with a
//! reason.

use std::collections::BTreeSet;
use std::path::PathBuf;

use murron_schema_types::compatibility::protobuf::{differences, reserved_field_violations};
use murron_schema_types::schema::protobuf::parse_stored;
use murron_schema_types::schema::{Referenced, SchemaType};
use serde_json::Value;

const FILE: &str = "protobuf-provider--diff-schema-examples.json";

/// Cases (by description) where we knowingly disagree with Confluent, and why.
const ALLOWED: &[(&str, &str)] = &[];

/// Where the cases are looked for: `$MURRON_CONFLUENT_CASES`, else beside the repository.
fn cases_dir() -> PathBuf {
    match std::env::var_os("MURRON_CONFLUENT_CASES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/confluent-schema-diff"),
    }
}

/// Drops the commas before `]` and `}` outside strings (the files have trailing commas).
fn lenient_json(text: &str) -> Value {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some(']') | Some('}')) {
                continue;
            }
        }
        out.push(c);
    }
    serde_json::from_str(&out).expect("the cases file parses once trailing commas are dropped")
}

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
    let dir = cases_dir();
    if !dir.join(FILE).is_file() {
        eprintln!(
            "SKIPPED: Confluent's Protobuf cases are not at {} (set $MURRON_CONFLUENT_CASES, or put \
             them in ../shared/reference/confluent-schema-diff beside the repository); they are under \
             Confluent's Community License and stay out of the repository",
            dir.join(FILE).display()
        );
        return;
    }
    let text = std::fs::read_to_string(dir.join(FILE)).expect("read the Protobuf cases");
    let cases = lenient_json(&text);
    let cases = cases.as_array().expect("an array of cases");
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
