//! Replays every committed input of each fuzz target (`fuzz/corpus/<target>/`, the seeds and what
//! fuzzing kept, and `fuzz/regressions/<target>/`, the crashes found and fixed) through the target's
//! body, on stable Rust, so that a fixed crash stays fixed.
//!
//! `cargo test -p murron-fuzz -- --ignored write_seed_corpus` rewrites the seeds from the project's
//! own encoders and schemas.

use std::path::{Path, PathBuf};

use apache_avro::Schema;
use apache_avro::writer::datum::GenericDatumWriter;
use murron_payload::avro::sample::{PayloadGenerator, SplitMix64};
use murron_wire::envelope::{KeyRing, NewEnvelope};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 5] = [
    ("envelope", murron_fuzz::envelope),
    ("payload", murron_fuzz::payload),
    ("schema", murron_fuzz::schema),
    ("json_schema", murron_fuzz::json_schema),
    ("compatibility", murron_fuzz::compatibility),
];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_committed_input_passes_its_target() {
    for (name, target) in TARGETS {
        let seeds = inputs(&fuzz_dir().join("corpus").join(name));
        assert!(!seeds.is_empty(), "fuzz/corpus/{name} has no seeds");
        let regressions = inputs(&fuzz_dir().join("regressions").join(name));
        for path in seeds.iter().chain(&regressions) {
            let data = std::fs::read(path).expect("read a corpus file");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} fails its target", path.display());
        }
    }
}

/// Writes `data` as `fuzz/corpus/<target>/<name>`.
fn seed(target: &str, name: &str, data: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus folder");
    std::fs::write(dir.join(name), data).expect("write a seed");
}

#[test]
#[ignore = "writes the seed corpora; run by hand"]
fn write_seed_corpus() {
    let keys = KeyRing::new([("default".to_owned(), b"s3cret".to_vec())]);
    let mut rng = SplitMix64::new(7);
    for (i, text) in murron_fuzz::PAYLOAD_SCHEMAS.iter().enumerate() {
        let schema = Schema::parse_str(text).expect("payload schema");
        let generator = PayloadGenerator::new(&schema, 1_790_000_000_000_000);
        let writer = GenericDatumWriter::builder(&schema).build().expect("datum writer");
        for j in 0..4 {
            let value = generator.sample(&mut rng).expect("a sample");
            let datum = writer.write_value_to_vec(value).expect("encode a sample");
            seed("payload", &format!("schema{i}-{j}"), &datum);
            let mut wire = vec![0, 0, 0, 0, 7];
            wire.extend_from_slice(&datum);
            let tags: &[(&str, &str)] = if j % 2 == 0 {
                &[]
            } else {
                &[("region", "eu"), ("murron.key", "default")]
            };
            let fields = NewEnvelope {
                timestamp: 1_790_000_000_000_000 + j,
                host: "host-1",
                event_type: "billing.member_active",
                offset: j,
                pid: 42,
                message: &wire,
                tags,
            };
            let mut record = Vec::new();
            fields.encode_signed(3, &keys, &mut record).expect("sign");
            seed("envelope", &format!("schema{i}-{j}"), &record);
        }
        seed("schema", &format!("schema{i}"), text.as_bytes());
    }
    for (i, a) in murron_fuzz::PAYLOAD_SCHEMAS.iter().enumerate() {
        for (j, b) in murron_fuzz::PAYLOAD_SCHEMAS.iter().enumerate() {
            seed("compatibility", &format!("pair{i}{j}"), format!("{a}\0{b}").as_bytes());
        }
    }
    let evolutions = [
        (r#""int""#, r#""long""#),
        (r#""string""#, r#""bytes""#),
        (r#"["null","string"]"#, r#""string""#),
        (
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":""}]}"#,
        ),
        (
            r#"{"type":"enum","name":"E","symbols":["A","B"],"default":"A"}"#,
            r#"{"type":"enum","name":"E","symbols":["A","B","C"]}"#,
        ),
        (
            r#"{"type":"record","name":"List","fields":[{"name":"next","type":["null","List"]}]}"#,
            r#"{"type":"record","name":"List","aliases":["Old"],"fields":[{"name":"next","type":["null","List"]},{"name":"v","type":"int","default":0}]}"#,
        ),
    ];
    for (k, (a, b)) in evolutions.iter().enumerate() {
        seed(
            "compatibility",
            &format!("evolution{k}"),
            format!("{a}\0{b}").as_bytes(),
        );
        seed("schema", &format!("evolution{k}"), b.as_bytes());
    }
    for (name, parts) in JSON_SCHEMA_SEEDS {
        seed("json_schema", name, parts.join("\0").as_bytes());
    }
}

/// JSON schemas, each with the schemas it references as `r1.json`, `r2.json`, ...: every draft,
/// local and cross-document `$ref` cycles, and a few the registry refuses.
const JSON_SCHEMA_SEEDS: [(&str, &[&str]); 9] = [
    (
        "draft7-object",
        &[
            r##"{"type":"object","required":["id"],"additionalProperties":false,"properties":{"id":{"type":"integer","minimum":0},"tags":{"type":"array","items":{"type":"string","maxLength":16},"uniqueItems":true},"next":{"$ref":"#"},"kind":{"enum":["a","b",null]}},"definitions":{"unused":{"pattern":"^x+$"}}}"##,
        ],
    ),
    (
        "draft2020-defs",
        &[
            r##"{"$schema":"https://json-schema.org/draft/2020-12/schema","$defs":{"node":{"type":"object","properties":{"children":{"type":"array","items":{"$ref":"#/$defs/node"}}},"unevaluatedProperties":false}},"prefixItems":[{"const":1},{"$ref":"#/$defs/node"}],"items":false}"##,
        ],
    ),
    (
        "draft2019-recursive",
        &[
            r##"{"$schema":"https://json-schema.org/draft/2019-09/schema#","$recursiveAnchor":true,"type":"object","properties":{"child":{"$recursiveRef":"#"}},"dependentRequired":{"a":["b"]}}"##,
        ],
    ),
    (
        "draft4-legacy",
        &[
            r##"{"$schema":"http://json-schema.org/draft-04/schema#","id":"http://example.com/root.json","type":"number","minimum":1,"exclusiveMinimum":true,"properties":{"r":{"$ref":"r1.json"}}}"##,
            r##"{"$schema":"http://json-schema.org/draft-06/schema#","type":"string","contains":{"const":"x"}}"##,
        ],
    ),
    (
        "references-cycle",
        &[
            r##"{"$ref":"r1.json#/definitions/x"}"##,
            r##"{"definitions":{"x":{"type":"object","properties":{"y":{"$ref":"r2.json"}}}}}"##,
            r##"{"type":"object","properties":{"back":{"$ref":"r1.json#/definitions/x"},"more":{"$ref":"r3.json"}}}"##,
            r##"{"$ref":"r2.json"}"##,
        ],
    ),
    (
        "combinators",
        &[
            r##"{"oneOf":[{"type":"string"},{"type":"null"}],"anyOf":[{"minLength":1},true],"allOf":[{"not":{"const":"x"}}],"if":{"const":"a"},"then":{"maxLength":1},"else":{"format":"email"},"patternProperties":{"^p":{"type":"boolean"}},"dependencies":{"a":{"required":["b"]}}}"##,
        ],
    ),
    ("boolean", &["true"]),
    (
        "meta-schema-violation",
        &[r##"{"properties":{"a":{"type":5,"minimum":"x"}}}"##],
    ),
    (
        "unresolved",
        &[
            r##"{"$ref":"r9.json","$schema":"http://json-schema.org/draft-03/schema#"}"##,
            "[]",
        ],
    ),
];
