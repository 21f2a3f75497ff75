//! A digest of a subject's live versions that proves a transitive check in time that does not grow
//! with the number of versions.
//!
//! A transitive check compares the new schema with every live version, so a subject with many versions
//! makes every registration slower. But the versions of one subject are mostly one record with fields
//! added or dropped, so the per-field comparisons repeat. The digest keeps, for each field, the distinct
//! types it has had in the versions and how many versions have it, and compares the new schema with
//! each distinct type once.
//!
//! The digest only ever *proves* compatibility. When it cannot (a difference, a field alias on the
//! side that would need each version's fields, a version that is not a record), the caller runs the
//! exact pairwise check, which also words the reasons. So the digest changes how fast an answer
//! comes, never the answer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::schema::{Aliases, Name, RecordSchema};

use super::resolution::{field_reads, names_match, writer_field};
use crate::compatibility::CompatibilityLevel;

/// One field of one version, standing for every field of the versions that compares the same way.
#[derive(Debug)]
struct Occurrence {
    /// The version's schema: a record (`Digest` only keeps records).
    root: Arc<Schema>,
    field: usize,
}

impl Occurrence {
    fn record(&self) -> &RecordSchema {
        match self.root.as_ref() {
            Schema::Record(r) => r,
            _ => unreachable!("a digest keeps only record versions"),
        }
    }

    fn field(&self) -> &apache_avro::schema::RecordField {
        &self.record().fields[self.field]
    }
}

/// The versions' fields of one name, as the new schema reads them (backward).
#[derive(Debug, Default)]
struct Written {
    /// How many versions have a field of this name.
    versions: usize,
    /// One occurrence per distinct type.
    types: Vec<Occurrence>,
}

/// The live versions of one subject, digested for transitive checks.
#[derive(Debug, Default)]
pub struct Digest {
    /// The (version, schema id) pairs covered, oldest first.
    covered: Vec<(i32, i32)>,
    /// False once a covered version is not a record: such a digest proves nothing.
    records: bool,
    /// Backward, the versions as writers: their record names, and their fields by name.
    writer_names: Vec<Name>,
    written: HashMap<String, Written>,
    /// Forward, the versions as readers: their record names with aliases, and their distinct fields.
    reader_names: Vec<(Name, Aliases)>,
    read: Vec<Occurrence>,
    /// Dedup keys of `written` types and `read` fields.
    seen: HashSet<String>,
}

impl Digest {
    /// Makes the digest cover exactly the versions `keys` (version, schema id), oldest first: it is
    /// extended when they only add to what it covers, and rebuilt otherwise. `schema(i)` gives the
    /// parsed schema of `keys[i]`; it is asked only for versions not covered yet.
    pub fn cover<E>(
        &mut self,
        keys: &[(i32, i32)],
        mut schema: impl FnMut(usize) -> Result<Arc<Schema>, E>,
    ) -> Result<(), E> {
        let extends = keys.len() >= self.covered.len() && keys[..self.covered.len()] == self.covered[..];
        if !extends {
            *self = Digest::default();
        }
        if self.covered.is_empty() {
            self.records = true;
        }
        for (i, key) in keys.iter().enumerate().skip(self.covered.len()) {
            let parsed = schema(i)?;
            self.add(&parsed);
            self.covered.push(*key);
        }
        Ok(())
    }

    /// The number of versions covered.
    pub fn len(&self) -> usize {
        self.covered.len()
    }

    /// Whether no version is covered.
    pub fn is_empty(&self) -> bool {
        self.covered.is_empty()
    }

    fn add(&mut self, schema: &Arc<Schema>) {
        let Schema::Record(record) = schema.as_ref() else {
            self.records = false;
            return;
        };
        if !self.writer_names.contains(&record.name) {
            self.writer_names.push(record.name.clone());
        }
        if !self
            .reader_names
            .iter()
            .any(|(name, aliases)| *name == record.name && *aliases == record.aliases)
        {
            self.reader_names.push((record.name.clone(), record.aliases.clone()));
        }
        for (index, field) in record.fields.iter().enumerate() {
            // A type that refers to a named type means what the version's other fields define, so it is
            // only ever the same as itself; a self-contained type is the same as its JSON text.
            let text = if has_reference(&field.schema) {
                None
            } else {
                serde_json::to_string(&field.schema).ok()
            };
            let occurrence = || Occurrence {
                root: schema.clone(),
                field: index,
            };

            let written = self.written.entry(field.name.clone()).or_default();
            written.versions += 1;
            let key = text
                .as_ref()
                .map(|t| format!("w\u{0}{}\u{0}{}\u{0}{t}", record.name, field.name));
            if key.as_ref().is_none_or(|k| self.seen.insert(k.clone())) {
                written.types.push(occurrence());
            }

            let key = text.as_ref().map(|t| {
                format!(
                    "r\u{0}{}\u{0}{:?}\u{0}{}\u{0}{:?}\u{0}{}\u{0}{t}",
                    record.name,
                    record.aliases,
                    field.name,
                    field.aliases,
                    field.default.is_some()
                )
            });
            if key.as_ref().is_none_or(|k| self.seen.insert(k.clone())) {
                self.read.push(occurrence());
            }
        }
    }

    /// True when `new` is proven compatible with every covered version at the transitive `level`.
    /// False means "not proven": the exact check must decide. Non-transitive levels are never proven.
    pub fn proves(&self, level: CompatibilityLevel, new: &Schema) -> bool {
        use CompatibilityLevel as L;
        if !self.records || self.covered.is_empty() {
            return false;
        }
        match level {
            L::BackwardTransitive => self.backward(new),
            L::ForwardTransitive => self.forward(new),
            L::FullTransitive => self.backward(new) && self.forward(new),
            L::None => true,
            L::Backward | L::Forward | L::Full => false,
        }
    }

    /// Does `new` read every version?
    fn backward(&self, new: &Schema) -> bool {
        let Schema::Record(reader) = new else {
            return false;
        };
        // Which writer field a reader field alias finds depends on each version's fields.
        if reader.fields.iter().any(|f| !f.aliases.is_empty()) {
            return false;
        }
        if !self
            .writer_names
            .iter()
            .all(|name| names_match(&reader.name, &reader.aliases, name))
        {
            return false;
        }
        reader.fields.iter().all(|field| {
            let written = self.written.get(&field.name);
            let in_every_version = written.is_some_and(|w| w.versions == self.covered.len());
            (in_every_version || field.default.is_some())
                && written.is_none_or(|w| {
                    w.types
                        .iter()
                        .all(|o| field_reads(new, &field.schema, &o.root, &o.field().schema))
                })
        })
    }

    /// Does every version read `new`?
    fn forward(&self, new: &Schema) -> bool {
        let Schema::Record(writer) = new else {
            return false;
        };
        if !self
            .reader_names
            .iter()
            .all(|(name, aliases)| names_match(name, aliases, &writer.name))
        {
            return false;
        }
        self.read.iter().all(|o| {
            let field = o.field();
            let written = writer_field(writer, o.field, &field.name).or_else(|| {
                field
                    .aliases
                    .iter()
                    .find_map(|alias| writer_field(writer, o.field, alias))
            });
            match written {
                Some(written) => field_reads(&o.root, &field.schema, new, written),
                None => field.default.is_some(),
            }
        })
    }
}

/// Whether `schema` refers to a named type by name anywhere.
fn has_reference(schema: &Schema) -> bool {
    match schema {
        Schema::Ref { .. } => true,
        Schema::Record(r) => r.fields.iter().any(|f| has_reference(&f.schema)),
        Schema::Array(a) => has_reference(&a.items),
        Schema::Map(m) => has_reference(&m.types),
        Schema::Union(u) => u.variants().iter().any(has_reference),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compatibility::avro::check;

    fn parse(json: &str) -> Arc<Schema> {
        Arc::new(Schema::parse_str(json).unwrap_or_else(|e| panic!("{json}: {e}")))
    }

    /// A record `R` with the given fields (JSON field objects).
    fn record(fields: &[String]) -> Arc<Schema> {
        parse(&format!(
            r#"{{"type":"record","name":"R","fields":[{}]}}"#,
            fields.join(",")
        ))
    }

    fn versions(schemas: &[Arc<Schema>]) -> Vec<(i32, i32, Arc<Schema>)> {
        schemas
            .iter()
            .enumerate()
            .map(|(i, s)| (i as i32 + 1, i as i32 + 100, s.clone()))
            .collect()
    }

    fn cover(d: &mut Digest, versions: &[(i32, i32, Arc<Schema>)]) {
        let keys: Vec<(i32, i32)> = versions.iter().map(|(v, id, _)| (*v, *id)).collect();
        let Ok(()) = d.cover(&keys, |i| Ok::<_, std::convert::Infallible>(versions[i].2.clone()));
    }

    fn digest(schemas: &[Arc<Schema>]) -> Digest {
        let mut d = Digest::default();
        cover(&mut d, &versions(schemas));
        d
    }

    fn exact(level: CompatibilityLevel, new: &Schema, schemas: &[Arc<Schema>]) -> bool {
        let existing: Vec<(i32, &Schema)> = schemas
            .iter()
            .enumerate()
            .map(|(i, s)| (i as i32, s.as_ref()))
            .collect();
        check(level, new, &existing).is_empty()
    }

    const TRANSITIVE: [CompatibilityLevel; 3] = [
        CompatibilityLevel::BackwardTransitive,
        CompatibilityLevel::ForwardTransitive,
        CompatibilityLevel::FullTransitive,
    ];

    /// A subject that grew a field with a default per version: 50 versions.
    fn growing() -> Vec<Arc<Schema>> {
        let mut fields = vec![r#"{"name":"id","type":"long"}"#.to_string()];
        (1..=50)
            .map(|n| {
                fields.push(format!(r#"{{"name":"f{n}","type":["null","string"],"default":null}}"#));
                record(&fields)
            })
            .collect()
    }

    #[test]
    fn proves_the_usual_evolution_at_every_transitive_level() {
        let history = growing();
        let mut fields: Vec<String> = vec![r#"{"name":"id","type":"long"}"#.into()];
        fields.extend((1..=50).map(|n| format!(r#"{{"name":"f{n}","type":["null","string"],"default":null}}"#)));
        fields.push(r#"{"name":"extra","type":"int","default":7}"#.into());
        let new = record(&fields);
        let d = digest(&history);
        for level in TRANSITIVE {
            assert!(exact(level, &new, &history), "{level}");
            assert!(d.proves(level, &new), "{level}: a compatible evolution is proven");
        }
    }

    #[test]
    fn never_proves_what_the_exact_check_refuses() {
        let history = growing();
        let d = digest(&history);
        let new_fields = |extra: &str| {
            let mut fields = vec![r#"{"name":"id","type":"long"}"#.to_string()];
            fields.extend((1..=50).map(|n| format!(r#"{{"name":"f{n}","type":["null","string"],"default":null}}"#)));
            fields.push(extra.to_string());
            record(&fields)
        };
        let refused = [
            // A new field without a default: old data has none to give it (backward).
            new_fields(r#"{"name":"extra","type":"int"}"#),
            // id changed type: neither reads the other.
            record(&[r#"{"name":"id","type":"string"}"#.into()]),
            // Another record name.
            parse(r#"{"type":"record","name":"Other","fields":[{"name":"id","type":"long"}]}"#),
            // Not a record.
            parse(r#""long""#),
        ];
        for new in &refused {
            for level in TRANSITIVE {
                if !exact(level, new, &history) {
                    assert!(!d.proves(level, new), "{level}: proved {new:?}");
                }
            }
        }
        // Dropping f1 (with a default) is fine backward, and forward too, since f1 has a default in every version.
        let dropped = record(&[r#"{"name":"id","type":"long"}"#.into()]);
        assert!(d.proves(CompatibilityLevel::FullTransitive, &dropped));
        // A field only the oldest version lacks a default for.
        let mut strict = vec![digest_field_without_default()];
        strict.extend(growing());
        let d = digest(&strict);
        let without = record(&[r#"{"name":"id","type":"long"}"#.into()]);
        assert!(!exact(CompatibilityLevel::ForwardTransitive, &without, &strict));
        assert!(!d.proves(CompatibilityLevel::ForwardTransitive, &without));
        assert!(d.proves(CompatibilityLevel::BackwardTransitive, &without));
    }

    fn digest_field_without_default() -> Arc<Schema> {
        record(&[
            r#"{"name":"id","type":"long"}"#.into(),
            r#"{"name":"must","type":"string"}"#.into(),
        ])
    }

    #[test]
    fn a_version_of_another_type_only_in_the_middle_of_history_is_still_checked() {
        let mut history = growing();
        history[20] = record(&[r#"{"name":"id","type":"string"}"#.into()]);
        let new = growing().pop().unwrap();
        let d = digest(&history);
        assert!(!exact(CompatibilityLevel::BackwardTransitive, &new, &history));
        assert!(!d.proves(CompatibilityLevel::BackwardTransitive, &new));
    }

    #[test]
    fn covers_by_extending_and_rebuilds_when_a_version_goes() {
        let history = growing();
        let all = versions(&history);
        let mut d = Digest::default();
        cover(&mut d, &all[..10]);
        assert_eq!(d.len(), 10);
        cover(&mut d, &all);
        assert_eq!(d.len(), 50);
        assert_eq!(
            d.written["id"].types.len(),
            1,
            "one distinct type for id across 50 versions"
        );
        assert_eq!(d.written["id"].versions, 50);
        // Version 1 deleted: not an extension, so the digest is rebuilt over what is left.
        cover(&mut d, &all[1..]);
        assert_eq!(d.len(), 49);
        assert_eq!(d.written["id"].versions, 49);
        assert_eq!(d.written["f1"].versions, 49);
    }

    #[test]
    fn agrees_with_the_exact_check_on_every_record_case_of_the_specification_table() {
        // Each case as a history of two versions, both ways round: the new schema is the case's reader
        // (then its writer), the history its writer twice (then its reader twice).
        let (mut compatible, mut proven_count) = (0, 0);
        for (name, reader, writer) in crate::compatibility::avro::cases::pairs() {
            let (reader, writer) = (parse(reader), parse(writer));
            for (new, old) in [(&reader, &writer), (&writer, &reader)] {
                let history = [old.clone(), old.clone()];
                let d = digest(&history);
                for level in TRANSITIVE {
                    let exact = exact(level, new, &history);
                    let proven = d.proves(level, new);
                    assert!(
                        exact || !proven,
                        "{name} at {level}: proven but the exact check refuses"
                    );
                    let records = matches!((new.as_ref(), old.as_ref()), (Schema::Record(_), Schema::Record(_)));
                    compatible += usize::from(exact && records);
                    proven_count += usize::from(proven);
                }
            }
        }
        eprintln!("{proven_count} of {compatible} compatible record checks proven by the digest");
        // Histories of two different versions: the digest merges their fields, which is what needs
        // to be sound. Each case's writer with the writers of the next ten cases (neighbours in the
        // table test the same rule), against every case's reader.
        let all: Vec<(Arc<Schema>, Arc<Schema>)> = crate::compatibility::avro::cases::pairs()
            .map(|(_, reader, writer)| (parse(reader), parse(writer)))
            .collect();
        let mut merged = 0;
        for (i, (_, first)) in all.iter().enumerate() {
            for (_, second) in all[i + 1..].iter().take(10) {
                let history = [first.clone(), second.clone()];
                let d = digest(&history);
                for (new, _) in &all {
                    for level in TRANSITIVE {
                        let proven = d.proves(level, new);
                        assert!(
                            !proven || exact(level, new, &history),
                            "proven at {level} but refused: {new:?} against {history:?}"
                        );
                        merged += usize::from(proven);
                    }
                }
            }
        }
        eprintln!("{merged} checks against two different versions proven");
        assert!(merged > 500, "{merged}");
        // Field aliases on the new schema's side are left to the exact check; the digest must carry the
        // rest, not merely never be wrong.
        assert!(proven_count * 10 >= compatible * 9, "{proven_count} of {compatible}");
    }
}
