//! Sample datums of any payload schema, for `sink-worker gen`, benchmarks and tests: one entry over
//! the kinds' own samplers ([`crate::avro::sample`], [`crate::json::sample`],
//! [`crate::protobuf::sample`]). A datum is what [`crate::PayloadSchema::validate`] takes: the
//! payload after the magic byte and schema id. The same seed gives the same values.

use apache_avro::writer::datum::GenericDatumWriter;
use murron_schema_types::schema::json::JsonSchema;
use murron_schema_types::schema::{Referenced, SchemaType, json as json_schema};

use crate::avro::sample::PayloadGenerator;
pub use crate::avro::sample::SplitMix64;
use crate::json::sample::JsonGenerator;
use crate::protobuf::ProtobufPayload;
use crate::protobuf::sample::Sampler as ProtobufSampler;

/// Why a schema cannot be sampled.
#[derive(Debug, thiserror::Error)]
#[error("cannot sample the schema: {0}")]
pub struct SampleError(String);

impl SampleError {
    fn new(e: impl std::fmt::Display) -> Self {
        Self(e.to_string())
    }
}

/// A schema parsed for sampling: owns what the kinds' samplers borrow.
#[derive(Debug)]
pub enum SampleSource {
    Avro(apache_avro::Schema),
    Json(JsonSchema),
    Protobuf(ProtobufPayload),
}

impl SampleSource {
    /// Parses `text`, registered as `kind` with the schemas it references.
    pub fn parse(kind: SchemaType, text: &str, referenced: &[Referenced]) -> Result<Self, SampleError> {
        Ok(match kind {
            SchemaType::Avro => Self::Avro(apache_avro::Schema::parse_str(text).map_err(SampleError::new)?),
            SchemaType::Json => Self::Json(json_schema::parse_stored(text, referenced).map_err(SampleError::new)?),
            SchemaType::Protobuf => {
                Self::Protobuf(ProtobufPayload::compile(text, referenced).map_err(SampleError::new)?)
            }
        })
    }

    /// A sampler whose timestamps are around `now_micros`. Protobuf samples the file's first message.
    pub fn sampler(&self, now_micros: i64) -> Result<Sampler<'_>, SampleError> {
        Ok(Sampler(match self {
            Self::Avro(schema) => Inner::Avro {
                generator: PayloadGenerator::new(schema, now_micros),
                writer: GenericDatumWriter::builder(schema).build().map_err(SampleError::new)?,
            },
            Self::Json(schema) => Inner::Json(Box::new(
                JsonGenerator::new(schema, now_micros).map_err(SampleError::new)?,
            )),
            Self::Protobuf(payload) => Inner::Protobuf(
                ProtobufSampler::new(payload, 0, now_micros.saturating_mul(1_000))
                    .ok_or_else(|| SampleError::new("the schema has no message"))?,
            ),
        }))
    }
}

/// Writes sample datums of one schema.
#[derive(Debug)]
pub struct Sampler<'s>(Inner<'s>);

enum Inner<'s> {
    Avro {
        generator: PayloadGenerator<'s>,
        writer: GenericDatumWriter<'s>,
    },
    Json(Box<JsonGenerator<'s>>),
    Protobuf(ProtobufSampler<'s>),
}

impl std::fmt::Debug for Inner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Avro { .. } => "Avro",
            Self::Json(_) => "Json",
            Self::Protobuf(_) => "Protobuf",
        })
    }
}

impl Sampler<'_> {
    /// Appends one datum to `out`.
    pub fn sample_into(&self, rng: &mut SplitMix64, out: &mut Vec<u8>) -> Result<(), SampleError> {
        match &self.0 {
            Inner::Avro { generator, writer } => {
                let value = generator.sample(rng).map_err(SampleError::new)?;
                writer.write_value_ref(out, &value).map_err(SampleError::new)?;
            }
            Inner::Json(generator) => out.extend(generator.datum(rng).map_err(SampleError::new)?),
            Inner::Protobuf(sampler) => sampler.sample_into(rng, out),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PayloadSchema;

    const SCHEMAS: [(SchemaType, &str); 3] = [
        (SchemaType::Avro, include_str!("../../schemas/client/api_call.avsc")),
        (
            SchemaType::Json,
            include_str!("../../schemas/client/api_call.schema.json"),
        ),
        (
            SchemaType::Protobuf,
            include_str!("../../schemas/client/api_call.proto"),
        ),
    ];

    #[test]
    fn samples_of_every_kind_validate_and_convert() {
        for (kind, text) in SCHEMAS {
            let source = SampleSource::parse(kind, text, &[]).expect("the example schema parses");
            let sampler = source.sampler(1_764_115_200_000_000).expect("a sampler");
            let schema = PayloadSchema::compile(1, kind, text, &[]).expect("the example schema compiles");
            let mut rng = SplitMix64::new(7);
            let mut datums = Vec::new();
            for _ in 0..50 {
                let mut datum = Vec::new();
                sampler.sample_into(&mut rng, &mut datum).expect("a sample");
                let variant = schema.validate(&datum).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
                assert_eq!(variant, crate::Variant(0));
                datums.push(datum);
            }
            let refs: Vec<&[u8]> = datums.iter().map(Vec::as_slice).collect();
            let batch = schema.to_arrow(crate::Variant(0), &refs).expect("the samples convert");
            assert_eq!(batch.num_rows(), 50, "{kind:?}");
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_datums() {
        for (kind, text) in SCHEMAS {
            let source = SampleSource::parse(kind, text, &[]).expect("the example schema parses");
            let sampler = source.sampler(0).expect("a sampler");
            let run = |seed| {
                let mut rng = SplitMix64::new(seed);
                let mut out = Vec::new();
                for _ in 0..10 {
                    sampler.sample_into(&mut rng, &mut out).expect("a sample");
                }
                out
            };
            // Avro maps are written in hash order, so only their values repeat, not their bytes.
            if kind == SchemaType::Avro {
                assert_eq!(run(3).len(), run(3).len());
            } else {
                assert!(run(3) == run(3), "{kind:?}: one seed, other datums");
            }
            assert!(run(3) != run(4), "{kind:?}: two seeds, the same datums");
        }
    }
}
