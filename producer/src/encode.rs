//! Building records, the hot path of every send: the payload's Confluent header, the envelope with its
//! stream identity and offset, and its signature. Pure and synchronous; the caller holds the stream's
//! lock, so offsets are taken in the order records are queued.

use std::sync::Arc;

use bytes::Bytes;
use murron_wire::envelope::{KEY_TAG, KeyRing, NewEnvelope, SignatureError};
use murron_wire::framing;

use crate::record::Record;

/// Who produces: the `host` and `pid` of every stream this producer writes, and their Kafka key.
#[derive(Debug, Clone)]
pub struct Identity {
    host: Arc<str>,
    pid: i32,
    key: Bytes,
}

impl Identity {
    /// The identity `(host, pid)`; its Kafka key is `"{host}:{pid}"` (docs/PROTOCOL.md, "On Kafka").
    pub fn new(host: &str, pid: i32) -> Self {
        Self {
            host: host.into(),
            pid,
            key: Bytes::from(format!("{host}:{pid}")),
        }
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The Kafka record key, `"{host}:{pid}"`.
    pub fn kafka_key(&self) -> &Bytes {
        &self.key
    }
}

/// One event to send: its payload datum (without the Confluent header, which the producer adds),
/// when it happened and its tags.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Microseconds since the Unix epoch, UTC.
    pub timestamp: i64,
    /// The payload's bytes: an Avro binary datum, JSON text, or Protobuf message indexes and message.
    pub datum: &'a [u8],
    /// Free-form metadata. `murron.key` is the producer's to write ([`crate::ProducerBuilder::key_id`]).
    pub tags: &'a [(&'a str, &'a str)],
}

impl<'a> Event<'a> {
    /// An event that happens now, without tags.
    pub fn now(datum: &'a [u8]) -> Self {
        Self {
            timestamp: now_micros(),
            datum,
            tags: &[],
        }
    }
}

/// Microseconds since the Unix epoch now.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Where a type's events go and how their payloads are framed; shared by every handle of the type.
#[derive(Debug, Clone)]
pub struct TypeTarget {
    /// The event type, also the registry subject of its payload schema.
    pub name: Arc<str>,
    /// The id the payload header carries.
    pub payload_schema_id: u32,
    /// The Kafka topic, fixed when the type is opened so a retry never re-routes. `None` when the
    /// server routes.
    pub topic: Option<Arc<str>>,
}

/// Signs and encodes envelopes: the envelope schema id, the keys and the key id to sign with.
#[derive(Debug, Clone)]
pub struct Encoder {
    envelope_schema_id: u32,
    keys: KeyRing,
    /// `Some` writes the `murron.key` tag; `None` signs with the key `default` and writes no tag.
    key_id: Option<String>,
}

/// Bytes an envelope adds around its payload datum and strings, at most: framing (5 + 5), timestamp,
/// offset and pid varints (10 + 10 + 5), five length varints (5 each), the signature (67), the
/// tag map's count and end (10 + 1).
const ENVELOPE_OVERHEAD: usize = 5 + 5 + 10 + 10 + 5 + 5 * 5 + 67 + 11;

impl Encoder {
    /// Fails when the ring has no key `key_id` (or `default` when `key_id` is `None`), so that no
    /// send can fail to sign later.
    pub fn new(envelope_schema_id: u32, keys: KeyRing, key_id: Option<String>) -> Result<Self, SignatureError> {
        let probe = NewEnvelope {
            timestamp: 0,
            host: "",
            event_type: "",
            offset: 0,
            pid: 0,
            message: &[],
            tags: &[],
        };
        keys.sign(
            key_id.as_deref().unwrap_or(murron_wire::envelope::DEFAULT_KEY_ID),
            &probe,
        )?;
        Ok(Self {
            envelope_schema_id,
            keys,
            key_id,
        })
    }

    pub fn envelope_schema_id(&self) -> u32 {
        self.envelope_schema_id
    }

    /// An upper bound of the record value's size, known before the offset is taken: what the buffer
    /// reserves for the event.
    pub fn size_bound(&self, identity: &Identity, target: &TypeTarget, event: &Event<'_>) -> usize {
        let tags: usize = event.tags.iter().map(|(k, v)| k.len() + v.len() + 10).sum();
        let key_tag = self.key_id.as_ref().map_or(0, |id| KEY_TAG.len() + id.len() + 10);
        ENVELOPE_OVERHEAD + identity.host.len() + target.name.len() + event.datum.len() + tags + key_tag
    }

    /// Encodes and signs the event at `offset` of the stream `(target.name, identity)`.
    /// `message` is scratch space for the framed payload.
    ///
    /// Hot path: one allocation, the record value.
    pub fn encode(
        &self,
        identity: &Identity,
        target: &TypeTarget,
        offset: i64,
        event: &Event<'_>,
        message: &mut Vec<u8>,
    ) -> Result<Record, SignatureError> {
        message.clear();
        framing::put_header(message, target.payload_schema_id);
        message.extend_from_slice(event.datum);
        let key_tag;
        let with_key: Vec<(&str, &str)>;
        let tags: &[(&str, &str)] = match &self.key_id {
            None => event.tags,
            Some(id) if event.tags.is_empty() => {
                key_tag = [(KEY_TAG, id.as_str())];
                &key_tag
            }
            Some(id) => {
                // Last, so it is the one that counts (`encode_signed` and readers take the last).
                with_key = event.tags.iter().copied().chain([(KEY_TAG, id.as_str())]).collect();
                &with_key
            }
        };
        let mut value = Vec::with_capacity(self.size_bound(identity, target, event));
        NewEnvelope {
            timestamp: event.timestamp,
            host: &identity.host,
            event_type: &target.name,
            offset,
            pid: identity.pid,
            message,
            tags,
        }
        .encode_signed(self.envelope_schema_id, &self.keys, &mut value)?;
        Ok(Record {
            topic: target.topic.clone(),
            key: identity.key.clone(),
            value: Bytes::from(value),
            event_type: target.name.clone(),
            host: identity.host.clone(),
            pid: identity.pid,
            offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use murron_wire::envelope::decode;

    use super::*;

    fn target(name: &str, id: u32) -> TypeTarget {
        TypeTarget {
            name: name.into(),
            payload_schema_id: id,
            topic: Some("events".into()),
        }
    }

    /// docs/PROTOCOL.md's worked example, whose bytes Python's fastavro wrote (the same vector as
    /// murron-wire's `FASTAVRO_HEX`): the producer adds the payload header itself.
    #[test]
    fn worked_example_bytes_match_the_protocol_document() {
        const FASTAVRO_HEX: &str = "00000000018080b6bd829da2060a7765622d312a62696c6c696e672e6d656d6265725f61637469766500a44212000000000206772d31860176313d3238643337366131653162353962363233623765323932613266306237383531346165346131613733616432336561326330316535313236343832633464396300";
        let keys = KeyRing::new([("default".to_string(), b"murron-demo-key".to_vec())]);
        let encoder = Encoder::new(1, keys, None).unwrap();
        let identity = Identity::new("web-1", 4242);
        let event = Event {
            timestamp: 1_764_115_200_000_000,
            datum: &[0x06, b'w', b'-', b'1'],
            tags: &[],
        };
        let record = encoder
            .encode(
                &identity,
                &target("billing.member_active", 2),
                0,
                &event,
                &mut Vec::new(),
            )
            .unwrap();
        assert_eq!(hex::encode(&record.value), FASTAVRO_HEX);
        assert_eq!(&record.key[..], b"web-1:4242");
        assert!(record.value.len() <= encoder.size_bound(&identity, &target("billing.member_active", 2), &event));
    }

    #[test]
    fn the_key_id_is_written_as_the_last_tag_and_the_signature_verifies() {
        let keys = KeyRing::new([("2026-11".to_string(), b"new".to_vec())]);
        let encoder = Encoder::new(7, keys.clone(), Some("2026-11".into())).unwrap();
        let identity = Identity::new("h", 3);
        for tags in [&[][..], &[("region", "eu")][..]] {
            let event = Event {
                timestamp: 5,
                datum: b"d",
                tags,
            };
            let record = encoder
                .encode(&identity, &target("t", 9), 11, &event, &mut Vec::new())
                .unwrap();
            let (id, env) = decode(&record.value).unwrap();
            assert_eq!((id, env.offset, env.pid, env.host), (7, 11, 3, "h"));
            assert_eq!(env.message, &[0, 0, 0, 0, 9, b'd']);
            assert_eq!(env.tags.iter().last(), Some((KEY_TAG, "2026-11")));
            assert_eq!(env.tags.iter().count(), tags.len() + 1);
            keys.verify(&env).unwrap();
            assert!(record.value.len() <= encoder.size_bound(&identity, &target("t", 9), &event));
        }
    }

    #[test]
    fn an_unknown_key_id_is_refused_when_the_encoder_is_built() {
        let keys = KeyRing::new([("default".to_string(), b"k".to_vec())]);
        assert_eq!(
            Encoder::new(1, keys, Some("retired".into())).unwrap_err().reason(),
            "unknown_key"
        );
    }
}
