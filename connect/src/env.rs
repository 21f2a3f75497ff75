//! Settings read from the environment as given: the secrets that reach clients (signing keys, SASL
//! passwords, tokens) are not parsed as TOML values, and librdkafka property names hold dots.

use std::collections::BTreeMap;

/// The settings among `vars` whose names start with `prefix`: the rest of the name, lower-cased with
/// `_` for `.` when `dots`, and the value exactly as given.
pub fn settings_from_env(
    vars: impl Iterator<Item = (String, String)>,
    prefix: &str,
    dots: bool,
) -> BTreeMap<String, String> {
    vars.filter_map(|(k, v)| {
        let name = k.strip_prefix(prefix)?.to_ascii_lowercase();
        Some((if dots { name.replace('_', ".") } else { name }, v))
    })
    .filter(|(name, _)| !name.is_empty())
    .collect()
}
