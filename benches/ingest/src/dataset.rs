//! The events of a run, encoded, signed and cut into ready requests before anything is timed.
//!
//! Event `n` belongs to stream `n % streams` (host `bench-{s}`, pid `1000 + s`) at offset
//! `n / streams`, so every event has its own UID. Payloads are pseudo-random bytes behind a
//! Confluent header: the edge checks the framing, not the datum.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use murron_ingest_proto::PublishRequest;
use murron_wire::envelope::{KEY_TAG, NewEnvelope, SignatureError};
use murron_wire::framing;

use crate::otlp::{AnyValue, ExportLogsServiceRequest, KeyValue, LogRecord, Resource, ResourceLogs, ScopeLogs, Value};

/// Any id: the edge does not resolve it.
const ENVELOPE_SCHEMA_ID: u32 = 1;
const PAYLOAD_SCHEMA_ID: u32 = 2;

/// The endpoint a data set is cut for: the same events, in that endpoint's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Murron,
    Otlp,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Murron => "murron",
            Self::Otlp => "peer",
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatasetOptions {
    pub events: usize,
    pub batch: usize,
    pub streams: usize,
    pub event_type: String,
    pub key_id: String,
    pub secret: Vec<u8>,
    pub payload_bytes: usize,
    pub kind: Kind,
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("need at least one batch: --events {events} < --batch {batch}")]
    TooFew { events: usize, batch: usize },
    #[error("--streams and --batch must be at least 1")]
    Empty,
    #[error("signing: {0}")]
    Sign(#[from] SignatureError),
}

/// One publish call's request, built once and shared by every call that sends it.
#[derive(Debug, Clone)]
pub enum Batch {
    Murron(Arc<PublishRequest>),
    Otlp(Arc<ExportLogsServiceRequest>),
}

#[derive(Debug)]
pub struct Dataset {
    batches: Vec<Batch>,
    batch_events: usize,
    value_bytes: usize,
}

impl Dataset {
    /// Encodes and signs `events` envelopes (whole batches only) into requests for `kind`.
    pub fn build(o: &DatasetOptions) -> Result<Self, DatasetError> {
        if o.streams == 0 || o.batch == 0 {
            return Err(DatasetError::Empty);
        }
        if o.events < o.batch {
            return Err(DatasetError::TooFew {
                events: o.events,
                batch: o.batch,
            });
        }
        let keys = murron_wire::envelope::KeyRing::new([(o.key_id.clone(), o.secret.clone())]);
        // The default key is named by leaving the tag out, as producers do.
        let tag = [(KEY_TAG, o.key_id.as_str())];
        let tags: &[(&str, &str)] = if o.key_id == murron_wire::envelope::DEFAULT_KEY_ID {
            &[]
        } else {
            &tag
        };
        let streams: Vec<(String, i32)> = (0..o.streams)
            .map(|s| (format!("bench-{s}"), 1000 + s as i32))
            .collect();
        let now_micros = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let mut message = Vec::with_capacity(o.payload_bytes + 5);
        let mut value_bytes = 0;
        let batches_n = o.events / o.batch;
        let mut batches = Vec::with_capacity(batches_n);
        for b in 0..batches_n {
            let mut values = Vec::with_capacity(o.batch);
            for n in b * o.batch..(b + 1) * o.batch {
                let (host, pid) = &streams[n % o.streams];
                message.clear();
                framing::put_header(&mut message, PAYLOAD_SCHEMA_ID);
                rng.fill(&mut message, o.payload_bytes);
                let mut value = Vec::with_capacity(message.len() + 128);
                NewEnvelope {
                    timestamp: now_micros + n as i64,
                    host,
                    event_type: &o.event_type,
                    offset: (n / o.streams) as i64,
                    pid: *pid,
                    message: &message,
                    tags,
                }
                .encode_signed(ENVELOPE_SCHEMA_ID, &keys, &mut value)?;
                value_bytes += value.len();
                values.push((n % o.streams, now_micros + n as i64, Bytes::from(value)));
            }
            batches.push(match o.kind {
                Kind::Murron => Batch::Murron(Arc::new(PublishRequest {
                    batch_id: b as u64,
                    events: values.into_iter().map(|(_, _, v)| v).collect(),
                })),
                Kind::Otlp => Batch::Otlp(Arc::new(otlp_request(&streams, values))),
            });
        }
        Ok(Self {
            batches,
            batch_events: o.batch,
            value_bytes,
        })
    }

    pub fn batch(&self, i: usize) -> &Batch {
        &self.batches[i % self.batches.len()]
    }

    pub fn batches(&self) -> usize {
        self.batches.len()
    }

    pub fn batch_events(&self) -> usize {
        self.batch_events
    }

    pub fn events(&self) -> usize {
        self.batches.len() * self.batch_events
    }

    /// The mean Kafka record value, in bytes.
    pub fn mean_event_bytes(&self) -> f64 {
        self.value_bytes as f64 / self.events().max(1) as f64
    }
}

/// One resource per stream (`host.name`, `process.pid`), each record's body the record value: the
/// peer keys each Kafka record by its resource, as murron-server keys it by `{host}:{pid}`.
fn otlp_request(streams: &[(String, i32)], values: Vec<(usize, i64, Bytes)>) -> ExportLogsServiceRequest {
    let mut by_stream: Vec<Vec<LogRecord>> = vec![Vec::new(); streams.len()];
    for (s, micros, value) in values {
        by_stream[s].push(LogRecord {
            time_unix_nano: micros as u64 * 1000,
            body: AnyValue::of(Value::Bytes(value)),
        });
    }
    let resource_logs = by_stream
        .into_iter()
        .enumerate()
        .filter(|(_, records)| !records.is_empty())
        .map(|(s, log_records)| {
            let (host, pid) = &streams[s];
            ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        KeyValue {
                            key: "host.name".into(),
                            value: AnyValue::of(Value::String(host.clone())),
                        },
                        KeyValue {
                            key: "process.pid".into(),
                            value: AnyValue::of(Value::Int(i64::from(*pid))),
                        },
                    ],
                }),
                scope_logs: vec![ScopeLogs { log_records }],
            }
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }
}

/// Payload filler: any bytes do, but not compressible ones.
struct XorShift(u64);

impl XorShift {
    fn fill(&mut self, out: &mut Vec<u8>, n: usize) {
        while out.len() < n + 5 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            out.extend_from_slice(&self.0.to_le_bytes()[..(n + 5 - out.len()).min(8)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(kind: Kind) -> DatasetOptions {
        DatasetOptions {
            events: 25,
            batch: 10,
            streams: 3,
            event_type: "client.api_call".into(),
            key_id: "default".into(),
            secret: b"secret".to_vec(),
            payload_bytes: 159,
            kind,
        }
    }

    #[test]
    fn envelopes_decode_verify_and_have_unique_uids() {
        let d = Dataset::build(&options(Kind::Murron)).expect("dataset");
        assert_eq!((d.batches(), d.events()), (2, 20));
        let keys = murron_wire::envelope::KeyRing::new([("default".to_string(), b"secret".to_vec())]);
        let mut uids = std::collections::HashSet::new();
        for i in 0..d.batches() {
            let Batch::Murron(req) = d.batch(i) else {
                panic!("murron batch expected")
            };
            for value in &req.events {
                let (_, env) = murron_wire::envelope::decode(value).expect("decodes");
                keys.verify(&env).expect("verifies");
                assert_eq!(env.message.len(), 164);
                assert!(uids.insert((env.host.to_string(), env.pid, env.offset)));
            }
        }
    }

    #[test]
    fn otlp_batches_group_records_by_stream() {
        let d = Dataset::build(&options(Kind::Otlp)).expect("dataset");
        let Batch::Otlp(req) = d.batch(0) else {
            panic!("otlp batch expected")
        };
        let sizes: Vec<usize> = req
            .resource_logs
            .iter()
            .map(|r| r.scope_logs[0].log_records.len())
            .collect();
        assert_eq!(sizes, [4, 3, 3]);
    }
}
