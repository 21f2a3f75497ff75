//! The JSON Schema drafts the registry accepts, and which one a schema is written in.

use serde_json::Value;

use super::SchemaError;

/// The JSON Schema drafts the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Draft {
    Draft4,
    Draft6,
    Draft7,
    Draft201909,
    Draft202012,
}

/// The `$schema` URLs of each draft, as Confluent's registry recognizes them (without the trailing
/// `#`, which is optional). The bare `json-schema.org/schema` ("the latest draft") means draft 4
/// there, so it does here.
const URLS: [(&str, Draft); 12] = [
    ("http://json-schema.org/draft-04/schema", Draft::Draft4),
    ("https://json-schema.org/draft-04/schema", Draft::Draft4),
    ("http://json-schema.org/schema", Draft::Draft4),
    ("https://json-schema.org/schema", Draft::Draft4),
    ("http://json-schema.org/draft-06/schema", Draft::Draft6),
    ("https://json-schema.org/draft-06/schema", Draft::Draft6),
    ("http://json-schema.org/draft-07/schema", Draft::Draft7),
    ("https://json-schema.org/draft-07/schema", Draft::Draft7),
    ("http://json-schema.org/draft/2019-09/schema", Draft::Draft201909),
    ("https://json-schema.org/draft/2019-09/schema", Draft::Draft201909),
    ("http://json-schema.org/draft/2020-12/schema", Draft::Draft202012),
    ("https://json-schema.org/draft/2020-12/schema", Draft::Draft202012),
];

impl Draft {
    /// The draft of a schema without `$schema`: draft 7, as in Confluent's registry.
    pub const DEFAULT: Draft = Draft::Draft7;

    /// Every supported draft, oldest first.
    pub const ALL: [Draft; 5] = [
        Draft::Draft4,
        Draft::Draft6,
        Draft::Draft7,
        Draft::Draft201909,
        Draft::Draft202012,
    ];

    /// The draft a `$schema` URL names, with or without its trailing `#`.
    pub fn from_url(url: &str) -> Option<Draft> {
        let url = url.strip_suffix('#').unwrap_or(url);
        URLS.iter().find(|(known, _)| *known == url).map(|(_, draft)| *draft)
    }

    /// The draft a schema document declares in `$schema`, [`Draft::DEFAULT`] when it declares none;
    /// an unknown or malformed `$schema` is refused.
    pub fn of(document: &Value) -> Result<Draft, SchemaError> {
        Self::declared(document).map_err(SchemaError::InvalidJson)
    }

    /// [`Draft::of`], with the reason of a refusal.
    pub(super) fn declared(document: &Value) -> Result<Draft, String> {
        let Some(declared) = document.as_object().and_then(|o| o.get("$schema")) else {
            return Ok(Self::DEFAULT);
        };
        let url = declared
            .as_str()
            .ok_or_else(|| format!("$schema must be a string: {}", supported()))?;
        Self::from_url(url).ok_or_else(|| format!("unsupported $schema {url:?}: {}", supported()))
    }

    /// The draft's name, e.g. `"2020-12"`.
    pub fn name(&self) -> &'static str {
        match self {
            Draft::Draft4 => "4",
            Draft::Draft6 => "6",
            Draft::Draft7 => "7",
            Draft::Draft201909 => "2019-09",
            Draft::Draft202012 => "2020-12",
        }
    }

    /// The draft's meta-schema URL as the specification writes it in `$schema`.
    pub fn url(&self) -> &'static str {
        match self {
            Draft::Draft4 => "http://json-schema.org/draft-04/schema#",
            Draft::Draft6 => "http://json-schema.org/draft-06/schema#",
            Draft::Draft7 => "http://json-schema.org/draft-07/schema#",
            Draft::Draft201909 => "https://json-schema.org/draft/2019-09/schema",
            Draft::Draft202012 => "https://json-schema.org/draft/2020-12/schema",
        }
    }

    /// The same draft in the `jsonschema` crate.
    pub fn engine(&self) -> jsonschema::Draft {
        match self {
            Draft::Draft4 => jsonschema::Draft::Draft4,
            Draft::Draft6 => jsonschema::Draft::Draft6,
            Draft::Draft7 => jsonschema::Draft::Draft7,
            Draft::Draft201909 => jsonschema::Draft::Draft201909,
            Draft::Draft202012 => jsonschema::Draft::Draft202012,
        }
    }
}

/// What the refusal of a `$schema` says about the accepted ones.
fn supported() -> String {
    let urls: Vec<&str> = Draft::ALL.iter().map(Draft::url).collect();
    format!(
        "this registry supports JSON Schema drafts 4, 6, 7, 2019-09 and 2020-12 ({}, over http or https, \
         with or without the trailing #), and draft 7 when $schema is absent",
        urls.join(", ")
    )
}
