//! Reading Confluent's schema-difference cases. They are Confluent Community License material, so
//! they are never copied into the repository: they are read at run time from
//! `$MURRON_CONFLUENT_CASES` if set, else `../shared/reference/confluent-schema-diff` beside the
//! repository clone, and a test without them says so and passes.

use std::path::PathBuf;

use serde_json::Value;

/// Where the cases are looked for.
pub fn cases_dir() -> PathBuf {
    match std::env::var_os("MURRON_CONFLUENT_CASES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference/confluent-schema-diff"),
    }
}

/// The cases of `file`, or `None` (having said so) when they are not there.
pub fn read_cases(file: &str) -> Option<Vec<Value>> {
    let path = cases_dir().join(file);
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "SKIPPED: Confluent's cases are not at {} (set MURRON_CONFLUENT_CASES, or put them in \
             ../shared/reference/confluent-schema-diff beside the repository); they stay out of the \
             repository because of their license",
            path.display()
        );
        return None;
    };
    let cases = serde_json::from_str(&strip_trailing_commas(&text)).unwrap_or_else(|e| panic!("{file}: {e}"));
    Some(cases)
}

/// Drops the commas before `]` or `}` outside strings (Confluent's files have some).
pub fn strip_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        } else if c == ',' {
            let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some(']' | '}')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}
