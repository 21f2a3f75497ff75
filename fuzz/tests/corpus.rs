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

const TARGETS: [(&str, Target); 4] = [
    ("envelope", murron_fuzz::envelope),
    ("payload", murron_fuzz::payload),
    ("schema", murron_fuzz::schema),
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
}
