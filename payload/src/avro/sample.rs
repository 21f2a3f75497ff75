//! Deterministic sample payloads for any Avro schema, for demos, tests and benchmarks.
//! The same seed gives the same values, so a generated data set can be regenerated to check outputs.

use std::collections::HashMap;

use apache_avro::schema::{Name, UnionSchema, UuidSchema};
use apache_avro::types::Value;
use apache_avro::{Schema, Uuid};

/// A small, fast, seedable PRNG (SplitMix64): plenty for sample data, not for secrets.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Why a schema cannot be sampled.
#[derive(Debug, thiserror::Error)]
#[error("cannot generate values for {0}")]
pub struct UnsupportedSchema(String);

/// Generates values of one schema.
#[derive(Debug)]
pub struct PayloadGenerator<'s> {
    root: &'s Schema,
    named: HashMap<Name, &'s Schema>,
    /// Microseconds since the epoch used for timestamp fields.
    pub now_micros: i64,
}

impl<'s> PayloadGenerator<'s> {
    pub fn new(root: &'s Schema, now_micros: i64) -> Self {
        let mut named = HashMap::new();
        collect_named(root, &mut named);
        Self {
            root,
            named,
            now_micros,
        }
    }

    /// One sample value of the root schema.
    pub fn sample(&self, rng: &mut SplitMix64) -> Result<Value, UnsupportedSchema> {
        self.value(self.root, "value", rng, 0)
    }

    fn value(
        &self,
        schema: &'s Schema,
        field: &str,
        rng: &mut SplitMix64,
        depth: usize,
    ) -> Result<Value, UnsupportedSchema> {
        // Recursive types: stop descending and take the first (usually null) union branch.
        let depth_limited = depth > 8;
        Ok(match schema {
            Schema::Null => Value::Null,
            Schema::Boolean => Value::Boolean(rng.below(2) == 1),
            Schema::Int => Value::Int(rng.below(1_000) as i32),
            Schema::Long => Value::Long(rng.below(1_000_000) as i64),
            Schema::Float => Value::Float(rng.below(100_000) as f32 / 100.0),
            Schema::Double => Value::Double(rng.below(10_000_000) as f64 / 1_000.0),
            Schema::Bytes => Value::Bytes(rng.next_u64().to_le_bytes().to_vec()),
            Schema::String => Value::String(format!("{field}-{}", rng.below(1_000))),
            Schema::Uuid(UuidSchema::String) => Value::Uuid(uuid(rng)),
            Schema::Date => Value::Date((self.now_micros / 86_400_000_000) as i32),
            Schema::TimeMillis => Value::TimeMillis(rng.below(86_400_000) as i32),
            Schema::TimeMicros => Value::TimeMicros(rng.below(86_400_000_000) as i64),
            Schema::TimestampMillis => Value::TimestampMillis(self.now_micros / 1_000),
            Schema::TimestampMicros => Value::TimestampMicros(self.now_micros),
            Schema::TimestampNanos => Value::TimestampNanos(self.now_micros.saturating_mul(1_000)),
            Schema::LocalTimestampMillis => Value::LocalTimestampMillis(self.now_micros / 1_000),
            Schema::LocalTimestampMicros => Value::LocalTimestampMicros(self.now_micros),
            Schema::LocalTimestampNanos => Value::LocalTimestampNanos(self.now_micros.saturating_mul(1_000)),
            Schema::Fixed(f) => Value::Fixed(f.size, (0..f.size).map(|_| rng.below(256) as u8).collect()),
            Schema::Enum(e) => {
                let i = rng.below(e.symbols.len() as u64) as usize;
                Value::Enum(i as u32, e.symbols[i].clone())
            }
            Schema::Array(a) if !depth_limited => {
                let n = rng.below(4);
                Value::Array(
                    (0..n)
                        .map(|_| self.value(&a.items, field, rng, depth + 1))
                        .collect::<Result<_, _>>()?,
                )
            }
            Schema::Array(_) => Value::Array(Vec::new()),
            Schema::Map(m) if !depth_limited => {
                let n = rng.below(4);
                let entries = (0..n)
                    .map(|i| Ok((format!("k{i}"), self.value(&m.types, field, rng, depth + 1)?)))
                    .collect::<Result<_, UnsupportedSchema>>()?;
                Value::Map(entries)
            }
            Schema::Map(_) => Value::Map(HashMap::new()),
            Schema::Union(u) => self.union(u, field, rng, depth, depth_limited)?,
            Schema::Record(r) => Value::Record(
                r.fields
                    .iter()
                    .map(|f| Ok((f.name.clone(), self.value(&f.schema, &f.name, rng, depth + 1)?)))
                    .collect::<Result<_, UnsupportedSchema>>()?,
            ),
            Schema::Ref { name } => {
                let target = self
                    .named
                    .get(name)
                    .ok_or_else(|| UnsupportedSchema(format!("unresolved reference {name}")))?;
                self.value(target, field, rng, depth + 1)?
            }
            other => return Err(UnsupportedSchema(format!("{other:?}"))),
        })
    }

    fn union(
        &self,
        u: &'s UnionSchema,
        field: &str,
        rng: &mut SplitMix64,
        depth: usize,
        limited: bool,
    ) -> Result<Value, UnsupportedSchema> {
        let variants = u.variants();
        // Optional fields are null one time in five; other unions pick a branch uniformly.
        let i = if limited || (u.is_nullable() && rng.below(5) == 0) {
            variants.iter().position(|v| matches!(v, Schema::Null)).unwrap_or(0)
        } else {
            let non_null: Vec<usize> = (0..variants.len())
                .filter(|&i| !matches!(variants[i], Schema::Null))
                .collect();
            if non_null.is_empty() {
                0
            } else {
                non_null[rng.below(non_null.len() as u64) as usize]
            }
        };
        Ok(Value::Union(
            i as u32,
            Box::new(self.value(&variants[i], field, rng, depth + 1)?),
        ))
    }
}

fn uuid(rng: &mut SplitMix64) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    Uuid::from_bytes(bytes)
}

fn collect_named<'s>(schema: &'s Schema, out: &mut HashMap<Name, &'s Schema>) {
    match schema {
        Schema::Record(r) => {
            out.insert(r.name.clone(), schema);
            r.fields.iter().for_each(|f| collect_named(&f.schema, out));
        }
        Schema::Enum(e) => {
            out.insert(e.name.clone(), schema);
        }
        Schema::Fixed(f) => {
            out.insert(f.name.clone(), schema);
        }
        Schema::Array(a) => collect_named(&a.items, out),
        Schema::Map(m) => collect_named(&m.types, out),
        Schema::Union(u) => u.variants().iter().for_each(|v| collect_named(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use apache_avro::writer::datum::GenericDatumWriter;

    use super::*;

    fn example(path: &str) -> Schema {
        let text = std::fs::read_to_string(format!("{}/../schemas/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        Schema::parse_str(&text).unwrap()
    }

    #[test]
    fn samples_of_every_example_schema_validate_and_encode() {
        for path in [
            "billing/member_active.avsc",
            "client/api_call.avsc",
            "murron/Envelope.avsc",
        ] {
            let schema = example(path);
            let generator = PayloadGenerator::new(&schema, 1_764_115_200_000_000);
            let writer = GenericDatumWriter::builder(&schema).build().unwrap();
            let mut rng = SplitMix64::new(7);
            for _ in 0..200 {
                let value = generator.sample(&mut rng).unwrap();
                assert!(value.validate(&schema), "{path}: {value:?}");
                writer.write_value_to_vec(value).unwrap();
            }
        }
    }

    #[test]
    fn same_seed_gives_same_values() {
        let schema = example("client/api_call.avsc");
        let generator = PayloadGenerator::new(&schema, 0);
        let a = generator.sample(&mut SplitMix64::new(42)).unwrap();
        let b = generator.sample(&mut SplitMix64::new(42)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn recursive_schema_terminates() {
        let schema = Schema::parse_str(
            r#"{"type":"record","name":"Node","fields":[{"name":"next","type":["null","Node"]},{"name":"v","type":"int"}]}"#,
        )
        .unwrap();
        let generator = PayloadGenerator::new(&schema, 0);
        let mut rng = SplitMix64::new(1);
        for _ in 0..50 {
            assert!(generator.sample(&mut rng).unwrap().validate(&schema));
        }
    }
}
