//! Replays every committed input of each fuzz target (`fuzz/corpus/<target>/`, the seeds and what
//! fuzzing kept, and `fuzz/regressions/<target>/`, the crashes found and fixed) through the target's
//! body, on stable Rust, so that a fixed crash stays fixed.
//!
//! `cargo test -p murron-fuzz -- --ignored write_seed_corpus` rewrites the seeds from the project's
//! own encoders and schemas.

use std::path::{Path, PathBuf};

use apache_avro::Schema;
use apache_avro::writer::datum::GenericDatumWriter;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use murron_payload::avro::sample::{PayloadGenerator, SplitMix64};
use murron_payload::protobuf::ProtobufPayload;
use murron_payload::protobuf::sample::Sampler;
use murron_wire::envelope::{KeyRing, NewEnvelope};

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 8] = [
    ("envelope", murron_fuzz::envelope),
    ("payload", murron_fuzz::payload),
    ("schema", murron_fuzz::schema),
    ("json_schema", murron_fuzz::json_schema),
    ("compatibility", murron_fuzz::compatibility),
    ("protobuf_schema", murron_fuzz::protobuf_schema),
    ("protobuf_payload", murron_fuzz::protobuf_payload),
    ("json_payload", murron_fuzz::json_payload),
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
    write_protobuf_seeds();
    write_protobuf_payload_seeds();
    write_json_payload_seeds();
}

#[test]
#[ignore = "writes the protobuf_payload seeds; run by hand"]
fn write_protobuf_payload_seed_corpus() {
    write_protobuf_payload_seeds();
}

/// Sample datums of every message of each Protobuf payload schema, and a few near misses.
fn write_protobuf_payload_seeds() {
    let mut rng = SplitMix64::new(9);
    for (i, text) in murron_fuzz::PROTOBUF_PAYLOAD_SCHEMAS.iter().enumerate() {
        let schema = ProtobufPayload::compile(text, &[]).expect("a payload schema compiles");
        let variants = schema.message_names().count() as u32;
        for variant in 0..variants {
            let sampler = Sampler::new(&schema, variant, 1_790_000_000_123_456_789).expect("a message");
            for j in 0..2 {
                seed(
                    "protobuf_payload",
                    &format!("schema{i}-message{variant}-{j}"),
                    &sampler.sample(&mut rng),
                );
            }
        }
    }
    // Index arrays the framing refuses, and a datum cut short.
    for (name, bytes) in [
        ("index-negative-count", &[0x01][..]),
        ("index-out-of-range", &[0x02, 0x7e]),
        ("index-deep", &[0x08, 0x00, 0x00, 0x00, 0x00]),
        ("cut", &[0x00, 0x0a, 0x05, 0x08]),
    ] {
        seed("protobuf_payload", name, bytes);
    }
}

/// Writes only the json_payload seeds: `cargo test -p murron-fuzz -- --ignored write_json_payload_seed_corpus`.
#[test]
#[ignore = "writes the seed corpus; run by hand"]
fn write_json_payload_seed_corpus() {
    write_json_payload_seeds();
}

/// Sample datums of each JSON payload schema, and datums at the edges of what they accept.
fn write_json_payload_seeds() {
    use murron_payload::json::sample::{JsonGenerator, SplitMix64 as Rng, parse_schema};
    use murron_payload::{Referenced, SchemaType};
    let mut rng = Rng::new(7);
    for (i, (text, references)) in murron_fuzz::JSON_PAYLOAD_SCHEMAS.iter().enumerate() {
        let referenced: Vec<Referenced> = references
            .iter()
            .map(|(name, text)| Referenced {
                name: (*name).to_owned(),
                schema_type: SchemaType::Json,
                text: (*text).to_owned(),
            })
            .collect();
        let schema = parse_schema(text, &referenced).expect("a JSON payload schema parses");
        let generator = JsonGenerator::new(&schema, 1_790_000_000_000_000).expect("a generator");
        for j in 0..4 {
            let datum = generator.datum(&mut rng).expect("a sample");
            seed("json_payload", &format!("schema{i}-{j}"), &datum);
        }
    }
    let edges: [(&str, &[u8]); 10] = [
        (
            "leap-second",
            br#"{"ts":"2016-12-31T23:59:60Z","when":"2016-12-31T23:59:60+00:00","tags":[]}"#,
        ),
        (
            "offset-fraction",
            br#"{"ts":"2025-11-26T01:00:00.1234567891+01:00","day":"2024-02-29","tags":["a"]}"#,
        ),
        (
            "big-integers",
            br#"{"count":9223372036854775807,"big":-9223372036854775808,"status":1e3,"tags":[]}"#,
        ),
        (
            "out-of-range",
            br#"{"count":9223372036854775808,"bytes_in":1e19,"tags":[]}"#,
        ),
        (
            "extra-and-nulls",
            br#"{"tags":["b"],"new":{"x":[1,null]},"_extra":"mine","maybe":null,"x-1":"y"}"#,
        ),
        (
            "deep",
            b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{\"a\":[]}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
        ),
        (
            "escapes",
            br#"{"name":"\u00e9\ud83d\ude00\n","tags":["c"],"counts":{"\u0000":1}}"#,
        ),
        ("trailing", br#"{"tags":[]} x"#),
        ("not-utf8", b"{\"name\":\"\xff\"}"),
        (
            "recursive",
            br#"{"tags":[],"tree":{"v":1,"kids":[{"v":2,"kids":[{"v":3}]}]}}"#,
        ),
    ];
    for (name, datum) in edges {
        seed("json_payload", name, datum);
    }
}

/// Protobuf schemas, versions of them split by NUL, and an imported `dep.proto` after a second NUL.
fn write_protobuf_seeds() {
    const DEP: &str = "syntax = \"proto3\"; package dep; message Money { int64 cents = 1; string currency = 2; }";
    let files = [
        "syntax = \"proto3\";\npackage shop.v1;\nimport \"google/protobuf/timestamp.proto\";\n\
         option java_package = \"com.shop\";\nmessage Order {\n  string id = 1 [json_name = \"orderId\"];\n  \
         repeated Line lines = 2;\n  map<string, Line> by_sku = 3;\n  google.protobuf.Timestamp at = 4;\n  \
         optional string note = 5;\n  oneof pay { string card = 6; Wallet wallet = 7; }\n  \
         message Line { string sku = 1; uint32 qty = 2 [deprecated = true]; }\n  message Wallet { string id = 1; }\n}\n\
         enum Status { option allow_alias = true; UNKNOWN = 0; OPEN = 1; STARTED = 1; reserved 5 to 9; }\n\
         service Orders { rpc Get (Order) returns (stream Order); }\n",
        "syntax = \"proto2\";\npackage legacy;\nimport \"google/protobuf/descriptor.proto\";\n\
         extend google.protobuf.FieldOptions { optional Rule rule = 50000; }\nmessage Rule { optional int32 min = 1; repeated string tags = 2; }\n\
         message Box {\n  required string id = 1;\n  optional int32 n = 2 [default = -7, (rule) = { min: 1 tags: \"a\" }];\n  \
         optional bytes raw = 3 [default = \"\\001\\377\"];\n  optional group Extra = 4 { optional string note = 1; }\n  \
         extensions 100 to 199;\n}\nextend Box { optional double ratio = 100 [default = inf]; }\n",
        "syntax = \"proto3\"; message Tree { Tree left = 1; Tree right = 2; repeated Node nodes = 3; } message Node { Tree t = 1; }",
    ];
    for (i, text) in files.iter().enumerate() {
        seed("protobuf_schema", &format!("file{i}"), text.as_bytes());
        let schema = murron_schema_types::schema::protobuf::parse_stored(text, &[]).expect("a seed schema parses");
        seed(
            "protobuf_schema",
            &format!("serialized{i}"),
            schema.serialized().as_bytes(),
        );
        // The same descriptor in binary, after the 0xFF that marks one.
        let mut binary = vec![0xff];
        binary.extend(STANDARD.decode(schema.serialized()).expect("base64"));
        seed("protobuf_schema", &format!("descriptor{i}"), &binary);
    }
    let versions = [
        (
            "syntax = \"proto3\"; message M { int32 a = 1; string b = 2; }",
            "syntax = \"proto3\"; message M { oneof o { int32 a = 1; string b = 2; } sint64 c = 3; }",
        ),
        (
            "syntax = \"proto2\"; message M { optional int32 a = 1; }",
            "syntax = \"proto2\"; message M { repeated int32 a = 1; required string b = 2; }",
        ),
        (
            "syntax = \"proto3\"; package a; enum E { Z = 0; } message M { E e = 1; }",
            "syntax = \"proto3\"; package b; message M { map<string, M> e = 1; }",
        ),
    ];
    for (k, (a, b)) in versions.iter().enumerate() {
        seed(
            "protobuf_schema",
            &format!("versions{k}"),
            format!("{a}\0{b}").as_bytes(),
        );
    }
    let importing = "syntax = \"proto3\"; import \"dep.proto\"; message Price { dep.Money amount = 1; }";
    let changed = "syntax = \"proto3\"; package dep; message Money { string cents = 1; }";
    seed(
        "protobuf_schema",
        "import",
        format!("{importing}\0{importing}\0{DEP}").as_bytes(),
    );
    seed(
        "protobuf_schema",
        "import-changed",
        format!("{importing}\0{importing}\0{changed}").as_bytes(),
    );
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
