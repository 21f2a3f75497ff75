//! `/compatibility`: would a schema be accepted, and if not, why.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::json;

use super::subjects::{SchemaRequest, find_version, normalize};
use super::{ApiError, AppState, Caller, Q, ok, parse_body};
use crate::cache::Caches;
use crate::compatibility::{self, CompatibilityLevel};
use crate::schema;
use crate::store::{LiveVersion, StoredText};

/// Checks `new` against live versions of `subject` (oldest first) at `level`: `Err` holds the reasons.
/// A transitive check is first tried on the subject's digest, which proves the usual evolution without
/// comparing every version; what it cannot prove gets the exact check.
pub fn check_against(
    caches: &Caches,
    subject: &str,
    level: CompatibilityLevel,
    new: &apache_avro::Schema,
    live: &[LiveVersion],
) -> Result<(), Vec<String>> {
    if level == CompatibilityLevel::None || live.is_empty() {
        return Ok(());
    }
    let parse = |l: &LiveVersion| {
        let parse = || match &l.text {
            Some(t) => schema::parse_stored(&t.schema, &t.referenced).map_err(|e| e.to_string()),
            None => Err("its text was not loaded".to_string()),
        };
        caches
            .parsed(l.id, parse)
            .map_err(|e| vec![format!("stored version {} cannot be parsed: {e}", l.version)])
    };
    let keys: Vec<(i32, i32)> = live.iter().map(|l| (l.version, l.id)).collect();
    if caches.proves_compatible(subject, level, new, &keys, |i| parse(&live[i]))? {
        return Ok(());
    }
    // Non-transitive levels compare with the latest version only: the others need not be parsed.
    let against = if level.is_transitive() {
        live
    } else {
        &live[live.len() - 1..]
    };
    let parsed = against.iter().map(parse).collect::<Result<Vec<_>, _>>()?;
    let existing: Vec<(i32, &apache_avro::Schema)> = against
        .iter()
        .zip(&parsed)
        .map(|(l, s)| (l.version, s.as_ref()))
        .collect();
    let messages = compatibility::check(level, new, &existing);
    if messages.is_empty() { Ok(()) } else { Err(messages) }
}

fn answer(result: Result<(), Vec<String>>, verbose: bool) -> Response {
    let mut body = json!({ "is_compatible": result.is_ok() });
    if verbose {
        body["messages"] = json!(result.err().unwrap_or_default());
    }
    ok(body)
}

pub(super) async fn against_all(
    State(s): State<AppState>,
    caller: Caller,
    Path(subject): Path<String>,
    Q(f): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let req: SchemaRequest = parse_body(&body)?;
    let new = normalize(&s, &req).await?;
    let (level, _) = s.effective(&subject).await?;
    let live = s.store.live_versions(&subject, |id| s.caches.is_parsed(id)).await?;
    Ok(answer(
        check_against(&s.caches, &subject, level, &new.schema, &live),
        f.verbose,
    ))
}

pub(super) async fn against_version(
    State(s): State<AppState>,
    caller: Caller,
    Path((subject, version)): Path<(String, String)>,
    Q(f): Q,
    body: Bytes,
) -> Result<Response, ApiError> {
    caller.require_read(s.auth.anonymous_reads)?;
    let req: SchemaRequest = parse_body(&body)?;
    let target = find_version(&s, &subject, &version, false).await?;
    let new = normalize(&s, &req).await?;
    let (level, _) = s.effective(&subject).await?;
    let referenced = s.store.referenced_texts(&target.references).await?.unwrap_or_default();
    let text = StoredText {
        schema: target.schema,
        referenced,
    };
    let live = [LiveVersion {
        version: target.version,
        id: target.id,
        text: Some(text),
    }];
    Ok(answer(
        check_against(&s.caches, &subject, level, &new.schema, &live),
        f.verbose,
    ))
}
