//! Per-stage micro-benchmarks of the sink's hot path, on one in-memory data set: 10,000 signed
//! `client.api_call` events over 100 streams, built once outside the timed loops.
//!
//! Each group reports events per second on one thread (one core), the sink's conversion and
//! encoding held to one thread:
//! `envelope_decode_verify`, `payload_validate`, `avro_to_arrow`, `parquet_encode`,
//! `decode_validate_convert` (the first three end to end) and `gap_tracker_insert`. Parquet encoding
//! is also run on every CPU, as the sink runs it. The `protobuf_*` groups run validation, conversion
//! and the three end to end on the same events with Protobuf payloads (`schemas/client/api_call.proto`),
//! and the `json_*` groups do the same for JSON Schema payloads of the same fields (`json_validate`,
//! `json_to_arrow`, `json_decode_validate_convert`).
//!
//! `cargo bench -p sink-worker --bench stages -- --warm-up-time 1 --measurement-time 3`

use std::collections::HashMap;
use std::hint::black_box;

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use murron_payload::avro::sample::SplitMix64;
use murron_payload::sample::SampleSource;
use murron_payload::{PayloadSchema, SchemaType, Variant};
use murron_wire::envelope::{self, Envelope, KeyRing, NewEnvelope};
use murron_wire::framing::MAGIC_BYTE;
use murron_wire::ranges::OffsetRanges;
use sink_worker::config::outputs::Format;
use sink_worker::format::file_format;
use sink_worker::format::parquet::encode_parquet;
use sink_worker::pipeline::convert::{self, RowMeta};

/// The sink's allocator (see `src/main.rs`), so the stages allocate as they do in the worker.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EVENT_TYPE: &str = "client.api_call";
const SCHEMA_TEXT: &str = include_str!("../../schemas/client/api_call.avsc");
const ENVELOPE_SCHEMA_ID: u32 = 1;
const PAYLOAD_SCHEMA_ID: u32 = 7;
const EVENTS: usize = 10_000;
const STREAMS: usize = 100;
/// Streams that have been running a while: each has received `0..START_OFFSET` in earlier batches.
const START_OFFSET: i64 = 1_000_000;
/// 2025-11-26T00:00:00Z, in microseconds; events arrive 100 µs apart, so the batch spans one second.
const BASE_MICROS: i64 = 1_764_115_200_000_000;
const SEED: u64 = 42;
const KAFKA_TOPIC: &str = "events.client";

/// The record values of one batch, as Kafka hands them to the sink.
struct DataSet {
    keys: KeyRing,
    schema: PayloadSchema,
    values: Vec<Vec<u8>>,
}

/// The Avro data set: `client.api_call` payloads sampled from its Avro schema.
fn data_set() -> DataSet {
    kind_data_set(SchemaType::Avro, PAYLOAD_SCHEMA_ID, SCHEMA_TEXT)
}

fn decode_all(values: &[Vec<u8>]) -> Vec<Envelope<'_>> {
    values
        .iter()
        .map(|v| envelope::decode(v).expect("generated events decode").1)
        .collect()
}

/// The rows of one conversion group, as `pipeline/write.rs` builds them from decoded envelopes.
fn row_metas<'a>(envelopes: &[Envelope<'a>]) -> Vec<RowMeta<'a>> {
    envelopes
        .iter()
        .enumerate()
        .map(|(i, env)| RowMeta {
            envelope: *env,
            datum: murron_wire::framing::split_wire_format(env.message).map_or(&[][..], |(_, d)| d),
            kafka_topic: KAFKA_TOPIC,
            kafka_partition: 0,
            kafka_offset: i as i64,
        })
        .collect()
}

/// One stream's part of a batch, shaped as `Tracked` in `pipeline/write.rs`.
struct Tracked<'r> {
    received: Option<&'r OffsetRanges>,
    fresh: OffsetRanges,
    hours: HashMap<i64, (OffsetRanges, i64)>,
}

/// A group whose every iteration handles the whole data set, so it reports events per second.
fn group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(EVENTS as u64));
    // Every iteration is a whole 10,000-event batch: flat sampling needs far fewer iterations.
    g.sampling_mode(SamplingMode::Flat);
    g.sample_size(30);
    g
}

fn stages(c: &mut Criterion) {
    let data = data_set();
    let envelopes = decode_all(&data.values);
    let framed: usize = data.values.iter().map(Vec::len).sum();
    let payload: usize = envelopes.iter().map(|e| e.message.len()).sum();
    eprintln!(
        "data set: {EVENTS} {EVENT_TYPE} events over {STREAMS} streams; mean framed record {:.1} bytes \
         (envelope with signature, payload {:.1} bytes of it in wire format)",
        framed as f64 / EVENTS as f64,
        payload as f64 / EVENTS as f64,
    );
    let rows = row_metas(&envelopes);
    let batch = convert::to_record_batch_on(&data.schema, Variant(0), &rows, 1).expect("valid events convert");
    let parquet = file_format(Format::Parquet)
        .encode(&batch)
        .expect("the batch encodes as Parquet");
    eprintln!(
        "record batch: {} rows x {} columns, {} bytes in memory; Parquet file {} bytes ({:.1} per event)",
        batch.num_rows(),
        batch.num_columns(),
        batch.get_array_memory_size(),
        parquet.len(),
        parquet.len() as f64 / EVENTS as f64,
    );

    let mut g = group(c, "envelope_decode_verify");
    g.bench_function("10k", |b| {
        b.iter(|| {
            for value in &data.values {
                let (_, env) = envelope::decode(black_box(value)).expect("generated events decode");
                data.keys.verify(&env).expect("generated events are signed");
            }
        })
    });
    g.finish();

    let mut g = group(c, "payload_validate");
    g.bench_function("10k", |b| {
        b.iter(|| {
            for env in black_box(&envelopes) {
                let (_, datum) =
                    murron_wire::framing::split_wire_format(env.message).expect("generated payloads are framed");
                data.schema.validate(datum).expect("generated payloads are valid");
            }
        })
    });
    g.finish();

    let mut g = group(c, "avro_to_arrow");
    g.bench_function("10k", |b| {
        b.iter(|| {
            let rows = row_metas(black_box(&envelopes));
            convert::to_record_batch_on(&data.schema, Variant(0), &rows, 1).expect("valid events convert")
        })
    });
    g.finish();

    // One thread gives the per-core figure; the sink encodes a file's columns on every CPU it has.
    let mut g = group(c, "parquet_encode");
    g.bench_function("10k", |b| {
        b.iter(|| encode_parquet(black_box(&batch), 1).expect("the batch encodes as Parquet"))
    });
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    g.bench_function(format!("10k_{threads}_threads"), |b| {
        b.iter(|| encode_parquet(black_box(&batch), threads).expect("the batch encodes as Parquet"))
    });
    g.finish();

    let mut g = group(c, "decode_validate_convert");
    g.bench_function("10k", |b| {
        b.iter(|| {
            let mut rows = Vec::with_capacity(EVENTS);
            for (i, value) in black_box(&data.values).iter().enumerate() {
                let (_, env) = envelope::decode(value).expect("generated events decode");
                data.keys.verify(&env).expect("generated events are signed");
                let (_, datum) =
                    murron_wire::framing::split_wire_format(env.message).expect("generated payloads are framed");
                data.schema.validate(datum).expect("generated payloads are valid");
                rows.push(RowMeta {
                    envelope: env,
                    datum,
                    kafka_topic: KAFKA_TOPIC,
                    kafka_partition: 0,
                    kafka_offset: i as i64,
                });
            }
            convert::to_record_batch_on(&data.schema, Variant(0), &rows, 1).expect("valid events convert")
        })
    });
    g.finish();

    // What `Writer::write` does per batch to track reliability: index the batch's streams by borrowed
    // key (one owned copy each), then per event find the stream, check what the state database
    // already had, and add the offset to the batch's fresh offsets and to its hour.
    let received: HashMap<(&str, &str, i32), OffsetRanges> = envelopes
        .iter()
        .map(|e| {
            let mut r = OffsetRanges::default();
            r.insert_range(0, START_OFFSET - 1);
            ((e.event_type, e.host, e.pid), r)
        })
        .collect();
    let mut g = group(c, "gap_tracker_insert");
    g.bench_function("write_rs_batch", |b| {
        b.iter(|| {
            let envelopes = black_box(&envelopes);
            let mut stream_index: HashMap<(&str, &str, i32), usize> = HashMap::new();
            let mut stream_keys: Vec<(String, String, i32)> = Vec::new();
            for e in envelopes {
                stream_index.entry((e.event_type, e.host, e.pid)).or_insert_with(|| {
                    stream_keys.push((e.event_type.to_owned(), e.host.to_owned(), e.pid));
                    stream_keys.len() - 1
                });
            }
            let mut tracked: Vec<Tracked<'_>> = stream_keys
                .iter()
                .map(|k| Tracked {
                    received: received.get(&(k.0.as_str(), k.1.as_str(), k.2)),
                    fresh: OffsetRanges::default(),
                    hours: HashMap::new(),
                })
                .collect();
            let mut duplicates = 0u64;
            for env in envelopes {
                let hour = murron_wire::hours::hour_of_micros(env.timestamp);
                if let Some(&s) = stream_index.get(&(env.event_type, env.host, env.pid)) {
                    let stream = &mut tracked[s];
                    let new =
                        !stream.received.is_some_and(|r| r.contains(env.offset)) && stream.fresh.insert(env.offset);
                    let entry = stream.hours.entry(hour).or_default();
                    if !new {
                        entry.1 += 1;
                        duplicates += 1;
                        continue;
                    }
                    entry.0.insert(env.offset);
                }
            }
            (tracked.len(), duplicates)
        })
    });
    // The core of it alone: lookup by borrowed key and `OffsetRanges::insert`, index built beforehand.
    let index: HashMap<(&str, &str, i32), usize> = received.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    g.bench_function("lookup_insert", |b| {
        b.iter_batched_ref(
            || vec![OffsetRanges::default(); index.len()],
            |fresh| {
                for env in black_box(&envelopes) {
                    if let Some(&s) = index.get(&(env.event_type, env.host, env.pid)) {
                        fresh[s].insert(env.offset);
                    }
                }
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

// ------------------------------------------------------------------------------------------------
// JSON Schema and Protobuf payloads: the same 10,000 `client.api_call` events, their payloads of the
// same fields in `schemas/client/api_call.schema.json` (JSON text as confluent-kafka's
// JSONSerializer writes it) and `api_call.proto` (`ts` a google.protobuf.Timestamp), sampled with
// `murron_payload::sample`. Groups `{kind}_validate`, `{kind}_to_arrow` and
// `{kind}_decode_validate_convert`, on one thread like the Avro ones:
// `cargo bench -p sink-worker --bench stages -- json_` (or `protobuf_`).

const JSON_SCHEMA_TEXT: &str = include_str!("../../schemas/client/api_call.schema.json");
const PROTOBUF_SCHEMA_TEXT: &str = include_str!("../../schemas/client/api_call.proto");
const PROTOBUF_SCHEMA_ID: u32 = 8;

/// The data set of [`data_set`] (the same envelopes and streams) with payloads of `kind`.
fn kind_data_set(kind: SchemaType, schema_id: u32, text: &str) -> DataSet {
    let source = SampleSource::parse(kind, text, &[]).expect("the example schema parses");
    let sampler = source.sampler(BASE_MICROS).expect("the example schema can be sampled");
    let mut rng = SplitMix64::new(SEED);
    let keys = KeyRing::new([("default".to_string(), b"bench-signing-key".to_vec())]);
    let hosts: Vec<String> = (0..STREAMS).map(|i| format!("bench-host-{i}")).collect();
    let mut message = Vec::with_capacity(512);
    let mut values = Vec::with_capacity(EVENTS);
    for n in 0..EVENTS {
        let stream = n % STREAMS;
        message.clear();
        message.push(MAGIC_BYTE);
        message.extend_from_slice(&schema_id.to_be_bytes());
        sampler
            .sample_into(&mut rng, &mut message)
            .expect("the example schema can be sampled");
        let mut value = Vec::with_capacity(message.len() + 160);
        NewEnvelope {
            timestamp: BASE_MICROS + 100 * n as i64,
            host: &hosts[stream],
            event_type: EVENT_TYPE,
            offset: START_OFFSET + (n / STREAMS) as i64,
            pid: 1000 + stream as i32,
            message: &message,
            tags: &[],
        }
        .encode_signed(ENVELOPE_SCHEMA_ID, &keys, &mut value)
        .expect("the default key is in the ring");
        values.push(value);
    }
    DataSet {
        keys,
        schema: PayloadSchema::compile(schema_id, kind, text, &[]).expect("the example schema compiles"),
        values,
    }
}

/// The three stage groups of one payload kind, named `{name}_…`.
fn kind_stages(c: &mut Criterion, name: &str, data: &DataSet) {
    let envelopes = decode_all(&data.values);
    let payload: usize = envelopes.iter().map(|e| e.message.len()).sum();
    eprintln!(
        "{name} data set: {EVENTS} {EVENT_TYPE} events; mean payload {:.1} bytes in wire format",
        payload as f64 / EVENTS as f64,
    );

    let mut g = group(c, &format!("{name}_validate"));
    g.bench_function("10k", |b| {
        b.iter(|| {
            for env in black_box(&envelopes) {
                let (_, datum) =
                    murron_wire::framing::split_wire_format(env.message).expect("generated payloads are framed");
                data.schema.validate(datum).expect("generated payloads are valid");
            }
        })
    });
    g.finish();

    let mut g = group(c, &format!("{name}_to_arrow"));
    g.bench_function("10k", |b| {
        b.iter(|| {
            let rows = row_metas(black_box(&envelopes));
            convert::to_record_batch_on(&data.schema, Variant(0), &rows, 1).expect("valid events convert")
        })
    });
    g.finish();

    let mut g = group(c, &format!("{name}_decode_validate_convert"));
    g.bench_function("10k", |b| {
        b.iter(|| {
            let mut rows = Vec::with_capacity(EVENTS);
            for (i, value) in black_box(&data.values).iter().enumerate() {
                let (_, env) = envelope::decode(value).expect("generated events decode");
                data.keys.verify(&env).expect("generated events are signed");
                let (_, datum) =
                    murron_wire::framing::split_wire_format(env.message).expect("generated payloads are framed");
                let variant = data.schema.validate(datum).expect("generated payloads are valid");
                rows.push(RowMeta {
                    envelope: env,
                    datum,
                    kafka_topic: KAFKA_TOPIC,
                    kafka_partition: 0,
                    kafka_offset: i as i64,
                });
                black_box(variant);
            }
            convert::to_record_batch_on(&data.schema, Variant(0), &rows, 1).expect("valid events convert")
        })
    });
    g.finish();
}

fn json_stages(c: &mut Criterion) {
    kind_stages(
        c,
        "json",
        &kind_data_set(SchemaType::Json, PAYLOAD_SCHEMA_ID, JSON_SCHEMA_TEXT),
    );
}

fn protobuf_stages(c: &mut Criterion) {
    kind_stages(
        c,
        "protobuf",
        &kind_data_set(SchemaType::Protobuf, PROTOBUF_SCHEMA_ID, PROTOBUF_SCHEMA_TEXT),
    );
}

criterion_group!(benches, stages, json_stages, protobuf_stages);
criterion_main!(benches);
