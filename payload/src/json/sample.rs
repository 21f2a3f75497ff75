//! Deterministic sample payloads for a JSON schema, for demos, tests and benchmarks. The same seed
//! gives the same values, so a generated data set can be regenerated to check outputs.
//!
//! Values follow what the mapping reads of the schema ([`super::facts`]): kinds, `enum` and
//! `const`, declared and required properties, `additionalProperties` and `items` schemas (arrays
//! without one are empty), the
//! `date-time`, `date`, `uuid` and `email` formats and `minimum`/`maximum`. Other constraints
//! (`pattern`, lengths, `not`, …) are not tried, so a sample of a schema that uses them may not
//! validate. Optional properties are left out one time in five, nullable values are null one time
//! in five.

use jsonschema::{Registry, Uri};
use murron_schema_types::schema::Referenced;
use serde_json::{Map, Number, Value};

pub use crate::avro::sample::SplitMix64;
pub use murron_schema_types::schema::json::JsonSchema;

use super::datetime::{format_date, format_date_time};
use super::facts::{Facts, Kinds, Loc, Reader};

/// Below this depth, recursion stops: optional properties are left out, arrays and maps are
/// empty, and nullable values are null.
const MAX_SAMPLE_DEPTH: usize = 8;

/// Past this depth a schema has no value the generator can finish (a required property that
/// recurses, for example): it is refused.
const MAX_DEPTH: usize = 64;

/// Why a schema cannot be sampled.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate values: {0}")]
pub struct UnsupportedSchema(String);

/// Parses registered schema text, with the schemas it references, for [`JsonGenerator::new`].
pub fn parse_schema(text: &str, referenced: &[Referenced]) -> Result<JsonSchema, UnsupportedSchema> {
    murron_schema_types::schema::json::parse_stored(text, referenced).map_err(|e| UnsupportedSchema(e.to_string()))
}

/// Generates values of one schema.
#[derive(Debug)]
pub struct JsonGenerator<'s> {
    schema: &'s JsonSchema,
    registry: Registry<'s>,
    base: Uri<String>,
    /// Microseconds since the epoch around which `date-time` and `date` values are made.
    pub now_micros: i64,
}

impl<'s> JsonGenerator<'s> {
    pub fn new(schema: &'s JsonSchema, now_micros: i64) -> Result<Self, UnsupportedSchema> {
        let unsupported = |e: &dyn std::fmt::Display| UnsupportedSchema(e.to_string());
        Ok(Self {
            schema,
            registry: schema.registry().map_err(|e| unsupported(&e))?,
            base: schema.base_uri().map_err(|e| unsupported(&e))?,
            now_micros,
        })
    }

    /// One sample value.
    pub fn sample(&self, rng: &mut SplitMix64) -> Result<Value, UnsupportedSchema> {
        let root = Loc {
            schema: &self.schema.root,
            resolver: self.registry.resolver(self.base.clone()),
            draft: self.schema.draft.engine(),
        };
        let mut sampler = Sampler {
            reader: Reader::default(),
            rng,
            now_micros: self.now_micros,
        };
        sampler.value(&[root], "value", 0)
    }

    /// One sample datum: the value's JSON text, as confluent-kafka's `JSONSerializer` writes it
    /// after the magic byte and schema id (Python's `json.dumps`: `", "` and `": "` between
    /// members, everything past ASCII escaped).
    pub fn datum(&self, rng: &mut SplitMix64) -> Result<Vec<u8>, UnsupportedSchema> {
        let value = self.sample(rng)?;
        let mut datum = Vec::new();
        let mut writer = serde_json::Serializer::with_formatter(&mut datum, PythonFormatter);
        serde::Serialize::serialize(&value, &mut writer).map_err(|e| UnsupportedSchema(e.to_string()))?;
        Ok(datum)
    }
}

/// JSON as Python's `json.dumps` writes it by default.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { writer.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, first: bool) -> std::io::Result<()> {
        if first { Ok(()) } else { writer.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, writer: &mut W) -> std::io::Result<()> {
        writer.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut [0; 2]) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

struct Sampler<'g> {
    reader: Reader,
    rng: &'g mut SplitMix64,
    now_micros: i64,
}

impl Sampler<'_> {
    fn value(&mut self, locs: &[Loc<'_>], field: &str, depth: usize) -> Result<Value, UnsupportedSchema> {
        if depth > MAX_DEPTH {
            return Err(UnsupportedSchema(format!("no value ends within {MAX_DEPTH} levels")));
        }
        let facts = self.reader.facts(locs).map_err(|e| UnsupportedSchema(e.to_string()))?;
        if let Some(choices) = facts.choices.filter(|c| !c.is_empty()) {
            return Ok(choices[self.rng.below(choices.len() as u64) as usize].clone());
        }
        let nullable = facts.kinds.and(Kinds::NULL) == Kinds::NULL;
        let kinds = facts.kinds.without_null();
        if kinds.is_empty() || (nullable && (depth > MAX_SAMPLE_DEPTH || self.rng.below(5) == 0)) {
            return Ok(Value::Null);
        }
        Ok(match self.kind(kinds, &facts) {
            Kinds::BOOLEAN => Value::Bool(self.rng.below(2) == 1),
            Kinds::INTEGER => Value::from(self.integer(&facts)),
            Kinds::FRACTION => self.number(&facts),
            Kinds::STRING => Value::String(self.string(&facts, field)),
            Kinds::ARRAY => self.array(&facts, field, depth)?,
            _ => self.object(&facts, depth)?,
        })
    }

    /// One of `kinds`: the structured ones first when the schema describes them, so that a value
    /// exercises the mapping.
    fn kind(&mut self, kinds: Kinds, facts: &Facts<'_>) -> Kinds {
        let described = [
            (Kinds::OBJECT, !facts.properties.is_empty() || !facts.values.is_empty()),
            (Kinds::ARRAY, !facts.items.is_empty()),
        ];
        if let Some((kind, _)) = described.iter().find(|(k, d)| *d && k.within(kinds)) {
            return *kind;
        }
        let all = [
            Kinds::BOOLEAN,
            Kinds::INTEGER,
            Kinds::FRACTION,
            Kinds::STRING,
            Kinds::ARRAY,
            Kinds::OBJECT,
        ];
        let present: Vec<Kinds> = all.into_iter().filter(|k| k.within(kinds)).collect();
        present[self.rng.below(present.len() as u64) as usize]
    }

    fn integer(&mut self, facts: &Facts<'_>) -> i64 {
        let low = facts.minimum.map_or(0, |m| m.ceil().clamp(-1e15, 1e15) as i64);
        let high = facts
            .maximum
            .map_or(low + 1_000_000, |m| m.floor().clamp(-1e15, 1e15) as i64);
        if high <= low {
            return low;
        }
        low + self.rng.below((high - low) as u64 + 1) as i64
    }

    fn number(&mut self, facts: &Facts<'_>) -> Value {
        let x = self.integer(facts) as f64 + self.rng.below(1_000) as f64 / 1_000.0;
        let x = facts.maximum.map_or(x, |m| x.min(m));
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }

    fn string(&mut self, facts: &Facts<'_>, field: &str) -> String {
        match facts.format {
            Some("date-time") => format_date_time(self.now_micros + self.rng.below(1_000_000) as i64),
            Some("date") => format_date((self.now_micros.div_euclid(86_400_000_000)) as i32),
            Some("uuid") => self.uuid(),
            Some("email") => format!("user{}@example.com", self.rng.below(1_000)),
            _ => format!("{field}-{}", self.rng.below(1_000)),
        }
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        // Version 4, RFC 4122 variant.
        let a = (a & !0xf000) | 0x4000;
        let b = (b & !(0xc << 60)) | (0x8 << 60);
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }

    fn array(&mut self, facts: &Facts<'_>, field: &str, depth: usize) -> Result<Value, UnsupportedSchema> {
        // Without one schema for every item (a tuple, or no `items`), the empty array.
        let n = if depth > MAX_SAMPLE_DEPTH || facts.items.is_empty() {
            0
        } else {
            self.rng.below(4)
        };
        let items = (0..n)
            .map(|_| self.value(&facts.items, field, depth + 1))
            .collect::<Result<_, _>>()?;
        Ok(Value::Array(items))
    }

    fn object(&mut self, facts: &Facts<'_>, depth: usize) -> Result<Value, UnsupportedSchema> {
        let mut object = Map::new();
        for (name, locs) in &facts.properties {
            let required = facts.required.contains(name);
            if required || (depth <= MAX_SAMPLE_DEPTH && self.rng.below(5) != 0) {
                object.insert((*name).to_owned(), self.value(locs, name, depth + 1)?);
            }
        }
        if facts.properties.is_empty() && !facts.values.is_empty() && depth <= MAX_SAMPLE_DEPTH {
            for i in 0..self.rng.below(4) {
                object.insert(format!("k{i}"), self.value(&facts.values, "value", depth + 1)?);
            }
        }
        Ok(Value::Object(object))
    }
}
