//! Deterministic sample datums of any message type of a Protobuf schema, for demos, tests and
//! benchmarks: the message-index array, then the message, as [`ProtobufPayload::validate`] takes
//! them (Confluent's framing without the magic byte and schema id). The same seed gives the same
//! bytes.
//!
//! Values follow the Avro sampler's (`crate::avro::sample`): small numbers, strings
//! `"{field}-{n}"`, 0 to 3 items per repeated field or map, timestamps at `now`, an optional field
//! left out one time in five, one member of each oneof set (or none). Repeated scalars are packed or
//! not at random, so both encodings get exercised. Message fields stop descending past depth 4.

use super::ProtobufPayload;
use super::framing;
use super::plan::{Absent, Card, Field, Kind, MsgId, Plan, Special};
use super::wire;
use crate::avro::sample::SplitMix64;

/// Writes sample datums of one message type.
#[derive(Debug)]
pub struct Sampler<'p> {
    plan: &'p Plan,
    id: MsgId,
    index: Vec<u8>,
    /// The instant of every Timestamp field, in nanoseconds since the Unix epoch.
    pub now_nanos: i64,
}

/// Message fields are left out below this depth, so recursive types end.
const MAX_SAMPLE_DEPTH: u32 = 4;

impl<'p> Sampler<'p> {
    /// A sampler of `variant`, or `None` when the schema has no such message.
    pub fn new(payload: &'p ProtobufPayload, variant: u32, now_nanos: i64) -> Option<Self> {
        let plan = &payload.plan;
        (variant < plan.file_messages).then(|| Self {
            plan,
            id: variant,
            index: framing::encode(plan, variant),
            now_nanos,
        })
    }

    /// One datum: message indexes and message.
    pub fn sample(&self, rng: &mut SplitMix64) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.sample_into(rng, &mut out);
        out
    }

    /// Appends one datum to `out`.
    pub fn sample_into(&self, rng: &mut SplitMix64, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.index);
        self.message(self.id, rng, out, 0);
    }

    fn message(&self, id: MsgId, rng: &mut SplitMix64, out: &mut Vec<u8>, depth: u32) {
        let msg = &self.plan.messages[id as usize];
        match msg.special {
            Special::Timestamp => {
                varint_field(out, 1, (self.now_nanos.div_euclid(1_000_000_000)) as u64);
                varint_field(out, 2, self.now_nanos.rem_euclid(1_000_000_000) as u64);
                return;
            }
            Special::Duration => {
                varint_field(out, 1, rng.below(3_600));
                varint_field(out, 2, rng.below(1_000_000_000));
                return;
            }
            Special::Value if depth > MAX_SAMPLE_DEPTH => return,
            _ => {}
        }
        // One member of each oneof, or none.
        let chosen: Vec<Option<u32>> = msg
            .oneofs
            .iter()
            .map(|members| {
                let pick = rng.below(members.len() as u64 + 1) as usize;
                members.get(pick).copied()
            })
            .collect();
        for (i, f) in msg.fields.iter().enumerate() {
            if let Some(oneof) = f.oneof
                && chosen[oneof as usize] != Some(i as u32)
            {
                continue;
            }
            self.field(f, rng, out, depth);
        }
    }

    fn field(&self, f: &Field, rng: &mut SplitMix64, out: &mut Vec<u8>, depth: u32) {
        let is_message = f.kind.message().is_some();
        match f.card {
            Card::Single => {
                let optional = f.default == Absent::Null && f.oneof.is_none() && !f.required;
                // A required field is written deeper, though not without end (a required
                // recursive field has no finite message).
                let limit = if f.required {
                    2 * MAX_SAMPLE_DEPTH
                } else {
                    MAX_SAMPLE_DEPTH
                };
                let too_deep = is_message && depth >= limit;
                if too_deep || (optional && rng.below(5) == 0) {
                    return;
                }
                self.value(f, f.kind, rng, out, depth);
            }
            Card::List if is_message && depth >= MAX_SAMPLE_DEPTH => {}
            Card::List => {
                let n = rng.below(4);
                if f.kind.packable() && n > 0 && rng.below(2) == 0 {
                    let mut packed = Vec::new();
                    for _ in 0..n {
                        self.scalar(f, f.kind, rng, &mut packed);
                    }
                    bytes_field(out, f.number, &packed);
                } else {
                    for _ in 0..n {
                        self.value(f, f.kind, rng, out, depth);
                    }
                }
            }
            Card::Map => {
                let Some(entry_id) = f.kind.message() else { return };
                let entry = &self.plan.messages[entry_id as usize];
                for i in 0..rng.below(4) {
                    let mut body = Vec::new();
                    for part in &entry.fields {
                        if part.number == 1 && part.kind == Kind::String {
                            // Distinct keys, as a map written from a map has.
                            tag(&mut body, 1, wire::LEN);
                            let key = format!("k{i}");
                            write_varint(&mut body, key.len() as u64);
                            body.extend_from_slice(key.as_bytes());
                        } else if part.number == 1 {
                            tag(&mut body, 1, part.kind.wire());
                            self.scalar_of(part, part.kind, i, &mut body);
                        } else if !(part.kind.message().is_some() && depth >= MAX_SAMPLE_DEPTH) {
                            self.value(part, part.kind, rng, &mut body, depth + 1);
                        }
                    }
                    bytes_field(out, f.number, &body);
                }
            }
        }
    }

    /// One value of `kind` with its tag.
    fn value(&self, f: &Field, kind: Kind, rng: &mut SplitMix64, out: &mut Vec<u8>, depth: u32) {
        match kind {
            Kind::Message(sub) => {
                let mut body = Vec::new();
                self.message(sub, rng, &mut body, depth + 1);
                bytes_field(out, f.number, &body);
            }
            Kind::Group(sub) => {
                tag(out, f.number, wire::START_GROUP);
                self.message(sub, rng, out, depth + 1);
                tag(out, f.number, wire::END_GROUP);
            }
            _ => {
                tag(out, f.number, kind.wire());
                self.scalar(f, kind, rng, out);
            }
        }
    }

    /// One scalar of `kind`, without a tag.
    fn scalar(&self, f: &Field, kind: Kind, rng: &mut SplitMix64, out: &mut Vec<u8>) {
        let n = rng.next_u64();
        self.scalar_of(f, kind, n, out);
    }

    /// The scalar of `kind` that `n` picks.
    fn scalar_of(&self, f: &Field, kind: Kind, n: u64, out: &mut Vec<u8>) {
        match kind {
            Kind::Int32 | Kind::UInt32 => write_varint(out, n % 1_000),
            Kind::Int64 | Kind::UInt64 => write_varint(out, n % 1_000_000),
            Kind::SInt32 | Kind::SInt64 => write_varint(out, n % 2_000),
            Kind::Bool => write_varint(out, n % 2),
            Kind::Enum(e) => {
                let e = &self.plan.enums[e as usize];
                let number = e.values.get((n % e.values.len().max(1) as u64) as usize).copied();
                write_varint(out, i64::from(number.unwrap_or(0)) as u64);
            }
            Kind::Fixed32 | Kind::SFixed32 => out.extend_from_slice(&((n % 1_000) as u32).to_le_bytes()),
            Kind::Float => out.extend_from_slice(&((n % 100_000) as f32 / 100.0).to_le_bytes()),
            Kind::Fixed64 | Kind::SFixed64 => out.extend_from_slice(&(n % 1_000_000).to_le_bytes()),
            Kind::Double | Kind::FiniteDouble => {
                out.extend_from_slice(&((n % 10_000_000) as f64 / 1_000.0).to_le_bytes())
            }
            Kind::String => {
                let s = format!("{}-{}", f.name, n % 1_000);
                write_varint(out, s.len() as u64);
                out.extend_from_slice(s.as_bytes());
            }
            Kind::Bytes => {
                write_varint(out, 8);
                out.extend_from_slice(&n.to_le_bytes());
            }
            // Message kinds are written by `value`.
            Kind::Message(_) | Kind::Group(_) => write_varint(out, 0),
        }
    }
}

fn tag(out: &mut Vec<u8>, number: u32, wire_type: u8) {
    write_varint(out, u64::from(number) << 3 | u64::from(wire_type));
}

fn varint_field(out: &mut Vec<u8>, number: u32, v: u64) {
    tag(out, number, wire::VARINT);
    write_varint(out, v);
}

fn bytes_field(out: &mut Vec<u8>, number: u32, bytes: &[u8]) {
    tag(out, number, wire::LEN);
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
