//! Where a `$ref` points: the schema document it names (the root itself, or a referenced document by
//! the name the `$ref` uses, resolved against the root's `$id`) and the place in that document (a
//! JSON pointer, or an anchor).

use serde_json::Value;

use crate::schema::json::{Draft, JsonSchema};

/// How deep the anchor search walks a document; schemas this deep are refused elsewhere.
const MAX_ANCHOR_SEARCH_DEPTH: usize = 256;

/// The documents one schema can reach: index 0 is the schema itself, then its referenced documents.
#[derive(Debug)]
pub(super) struct Documents<'s> {
    docs: Vec<Document<'s>>,
}

#[derive(Debug)]
struct Document<'s> {
    /// The name `$ref`s use for it (None for the root).
    name: Option<&'s str>,
    root: &'s Value,
    /// The base URI its relative references resolve against: its `$id`, else its name.
    base: String,
}

/// A place a `$ref` resolves to.
#[derive(Debug)]
pub(super) struct Target<'s> {
    pub doc: usize,
    /// The JSON pointer of the place in its document ("" for the document itself).
    pub pointer: String,
    pub value: &'s Value,
}

impl<'s> Documents<'s> {
    /// The root of `schema` (index 0) and its referenced documents.
    pub fn new(schema: &'s JsonSchema) -> Self {
        let id_key = id_keyword(schema.draft);
        let own_id = |v: &'s Value| v.get(id_key).and_then(Value::as_str).map(strip_empty_fragment);
        let mut docs = vec![Document {
            name: None,
            root: &schema.root,
            base: own_id(&schema.root).unwrap_or_default().to_string(),
        }];
        for (name, root) in &schema.documents {
            let base = own_id(root).map_or_else(|| name.clone(), str::to_string);
            docs.push(Document {
                name: Some(name),
                root,
                base,
            });
        }
        Self { docs }
    }

    /// Where `reference`, written in document `from`, points; None when nothing matches.
    pub fn locate(&self, from: usize, reference: &str) -> Option<Target<'s>> {
        let (uri, fragment) = match reference.split_once('#') {
            Some((uri, fragment)) => (uri, percent_decode(fragment)),
            None => (reference, String::new()),
        };
        let doc = if uri.is_empty() {
            from
        } else {
            self.find_document(from, uri)?
        };
        let root = self.docs.get(doc)?.root;
        if fragment.is_empty() {
            return Some(Target {
                doc,
                pointer: String::new(),
                value: root,
            });
        }
        let pointer = if fragment.starts_with('/') {
            fragment
        } else {
            find_anchor(root, &fragment)?
        };
        let (pointer, value) = lookup_bridged(root, &pointer)?;
        Some(Target { doc, pointer, value })
    }

    /// The document a `$ref`'s URI part names, matched by name, or by name or `$id` resolved
    /// against the base of the referencing document or of the root.
    fn find_document(&self, from: usize, uri: &str) -> Option<usize> {
        let from_base = self.docs.get(from).map_or("", |d| d.base.as_str());
        let root_base = self.docs.first().map_or("", |d| d.base.as_str());
        let wanted = join(from_base, uri);
        self.docs.iter().position(|d| {
            let by_name = d
                .name
                .is_some_and(|name| name == uri || join(from_base, name) == wanted || join(root_base, name) == wanted);
            by_name || (!d.base.is_empty() && (d.base == wanted || d.base == uri))
        })
    }
}

/// The keyword naming a schema's id in `draft`.
pub(super) fn id_keyword(draft: Draft) -> &'static str {
    match draft {
        Draft::Draft4 => "id",
        _ => "$id",
    }
}

fn strip_empty_fragment(id: &str) -> &str {
    id.strip_suffix('#').unwrap_or(id)
}

/// Resolves `reference` against `base` (RFC 3986 in its common cases: absolute references stand,
/// `/path` keeps the base's scheme and authority, other paths replace the base's last segment).
fn join(base: &str, reference: &str) -> String {
    if base.is_empty() || has_scheme(reference) {
        return normalize_dots(reference);
    }
    if let Some(rest) = reference.strip_prefix('/') {
        let authority_end = base
            .find("://")
            .and_then(|i| base[i + 3..].find('/').map(|j| i + 3 + j))
            .unwrap_or(base.len());
        return normalize_dots(&format!("{}/{rest}", &base[..authority_end]));
    }
    let base = base.split('#').next().unwrap_or(base);
    let dir = match base.rfind('/') {
        Some(i) => &base[..=i],
        None => "",
    };
    normalize_dots(&format!("{dir}{reference}"))
}

fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) => {
            let scheme = &s[..i];
            !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// Removes `.` and `..` path segments.
fn normalize_dots(uri: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for segment in uri.split('/') {
        match segment {
            "." => {}
            ".." if out.len() > 1 => {
                out.pop();
            }
            _ => out.push(segment),
        }
    }
    out.join("/")
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Looks `pointer` up in `root`; a pointer into `$defs` that finds nothing retries `definitions`, as
/// Confluent's loaders bridge the draft-7 bucket into the 2019-09 one.
fn lookup_bridged<'s>(root: &'s Value, pointer: &str) -> Option<(String, &'s Value)> {
    if let Some(value) = lookup(root, pointer) {
        return Some((pointer.to_string(), value));
    }
    let rest = pointer.strip_prefix("/$defs/")?;
    let bridged = format!("/definitions/{rest}");
    lookup(root, &bridged).map(|value| (bridged, value))
}

/// RFC 6901 JSON pointer lookup.
fn lookup<'s>(root: &'s Value, pointer: &str) -> Option<&'s Value> {
    if pointer.is_empty() {
        return Some(root);
    }
    let mut current = root;
    for token in pointer.strip_prefix('/')?.split('/') {
        let token = token.replace("~1", "/").replace("~0", "~");
        current = match current {
            Value::Object(map) => map.get(&token)?,
            Value::Array(items) => items.get(token.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(current)
}

/// The pointer of the subschema that declares anchor `name` (`$anchor`, `$dynamicAnchor`, or an
/// `$id`/`id` of `#name` as drafts 4 to 7 write anchors), searched depth first.
fn find_anchor(root: &Value, name: &str) -> Option<String> {
    let plain = format!("#{name}");
    let mut stack = vec![(root, String::new(), 0usize)];
    while let Some((value, pointer, depth)) = stack.pop() {
        if depth > MAX_ANCHOR_SEARCH_DEPTH {
            continue;
        }
        match value {
            Value::Object(map) => {
                let declares = |key: &str| map.get(key).and_then(Value::as_str);
                if declares("$anchor") == Some(name)
                    || declares("$dynamicAnchor") == Some(name)
                    || declares("$id").is_some_and(|id| id == plain || id.ends_with(&plain))
                    || declares("id").is_some_and(|id| id == plain || id.ends_with(&plain))
                {
                    return Some(pointer);
                }
                for (key, child) in map.iter().rev() {
                    let token = key.replace('~', "~0").replace('/', "~1");
                    stack.push((child, format!("{pointer}/{token}"), depth + 1));
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate().rev() {
                    stack.push((child, format!("{pointer}/{i}"), depth + 1));
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn schema(root: Value, documents: &[(&str, Value)]) -> JsonSchema {
        JsonSchema {
            root,
            documents: documents
                .iter()
                .map(|(name, doc)| (name.to_string(), doc.clone()))
                .collect::<BTreeMap<_, _>>(),
            draft: Draft::Draft7,
        }
    }

    #[test]
    fn local_pointers_resolve_in_the_referencing_document() {
        let s = schema(json!({"definitions": {"a/b": {"type": "string"}}}), &[]);
        let docs = Documents::new(&s);
        let target = docs.locate(0, "#/definitions/a~1b").expect("resolves");
        assert_eq!((target.doc, target.pointer.as_str()), (0, "/definitions/a~1b"));
        assert_eq!(target.value, &json!({"type": "string"}));
        assert!(docs.locate(0, "#/definitions/missing").is_none());
    }

    #[test]
    fn defs_pointers_fall_back_to_definitions() {
        let s = schema(json!({"definitions": {"a": true}}), &[]);
        let target = Documents::new(&s).locate(0, "#/$defs/a").expect("bridged");
        assert_eq!(target.pointer, "/definitions/a");
    }

    #[test]
    fn other_documents_resolve_by_name_with_or_without_a_pointer() {
        let other = json!({"definitions": {"x": {"type": "number"}}, "type": "object"});
        let s = schema(
            json!({"$id": "https://example.com/schemas/main.json"}),
            &[("other.json", other)],
        );
        let docs = Documents::new(&s);
        assert_eq!(docs.locate(0, "other.json").expect("by name").doc, 1);
        let target = docs.locate(0, "other.json#/definitions/x").expect("pointer");
        assert_eq!((target.doc, target.value), (1, &json!({"type": "number"})));
        let absolute = docs
            .locate(0, "https://example.com/schemas/other.json")
            .expect("resolved against the root's $id");
        assert_eq!(absolute.doc, 1);
        assert!(docs.locate(0, "missing.json").is_none());
    }

    #[test]
    fn anchors_resolve_to_the_declaring_subschema() {
        let s = schema(
            json!({"$defs": {"n": {"$anchor": "node", "type": "object"}, "o": {"$id": "#old"}}}),
            &[],
        );
        let docs = Documents::new(&s);
        assert_eq!(docs.locate(0, "#node").expect("anchor").pointer, "/$defs/n");
        assert_eq!(docs.locate(0, "#old").expect("draft-7 anchor").pointer, "/$defs/o");
    }

    #[test]
    fn relative_references_join_against_a_base() {
        assert_eq!(join("https://a.b/x/y.json", "z.json"), "https://a.b/x/z.json");
        assert_eq!(join("https://a.b/x/y.json", "../z.json"), "https://a.b/z.json");
        assert_eq!(join("https://a.b/x/y.json", "/z.json"), "https://a.b/z.json");
        assert_eq!(join("https://a.b/x/y.json", "urn:z"), "urn:z");
        assert_eq!(join("", "./z.json"), "z.json");
    }
}
