//! The compatibility check against a subject's live versions: which versions count, parsed
//! through the caches, proved by the subject's digest where it can be. Registrations and the
//! dry runs behind `/compatibility` both call it.

use crate::cache::Caches;
use crate::store::LiveVersion;
use murron_schema_types::compatibility::{self, CompatibilityLevel, CompatibilityPolicy};
use murron_schema_types::schema::{self, ParsedSchema};

/// Checks `new` against live versions of `subject` (oldest first) at the subject's level and policy:
/// `Err` holds the reasons.
/// A transitive check is first tried on the subject's digest, which proves the usual evolution without
/// comparing every version; what it cannot prove gets the exact check.
pub fn check_against(
    caches: &Caches,
    subject: &str,
    (level, policy): (CompatibilityLevel, CompatibilityPolicy),
    new: &ParsedSchema,
    live: &[LiveVersion],
) -> Result<(), Vec<String>> {
    if level == CompatibilityLevel::None || live.is_empty() {
        return Ok(());
    }
    let parse = |l: &LiveVersion| {
        let parse = || match &l.text {
            Some(t) => schema::parse_stored(t.schema_type, &t.schema, &t.referenced).map_err(|e| e.to_string()),
            None => Err("its text was not loaded".to_string()),
        };
        caches
            .parsed(l.id, parse)
            .map_err(|e| vec![format!("stored version {} cannot be parsed: {e}", l.version)])
    };
    let keys: Vec<(i32, i32)> = live.iter().map(|l| (l.version, l.id)).collect();
    let as_avro = |i: usize| match parse(&live[i])? {
        ParsedSchema::Avro(schema) => Ok(schema),
        other => Err(vec![format!(
            "{{oldSchemaVersion: {}, type: SCHEMA_TYPE_CHANGED, description: 'the new schema is AVRO but version {} is {}'}}",
            live[i].version,
            live[i].version,
            other.schema_type().as_str()
        )]),
    };
    if caches.proves_compatible(subject, level, new, &keys, as_avro)? {
        return Ok(());
    }
    // Non-transitive levels compare with the latest version only: the others need not be parsed.
    let against = if level.is_transitive() {
        live
    } else {
        &live[live.len() - 1..]
    };
    let parsed = against.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
    let existing: Vec<(i32, &ParsedSchema)> = against.iter().zip(&parsed).map(|(l, s)| (l.version, s)).collect();
    let messages = compatibility::check(level, policy, new, &existing);
    if messages.is_empty() { Ok(()) } else { Err(messages) }
}
