//! The Murron envelope (`schemas/murron/Envelope.avsc`, docs/PROTOCOL.md): decoding a Kafka record
//! value into a borrowed [`Envelope`], encoding one, and verifying its signature.
//!
//! Hot path: [`decode`] runs once per consumed event and allocates nothing.

pub(crate) mod codec;
mod error;
mod signature;
mod types;

pub use error::DecodeError;
pub use signature::{Canonical, DEFAULT_KEY_ID, KEY_TAG, KeyRing, Signable, SignatureError, Signed};
pub use types::{Envelope, NewEnvelope, Tags, TagsIter};

use crate::framing;
use codec::{Reader, put_bytes, put_long};

/// The envelope contract, registered under [`ENVELOPE_SUBJECT`] by every producer.
pub const ENVELOPE_SCHEMA: &str = include_str!("../../../schemas/murron/Envelope.avsc");
/// The registry subject of the envelope schema.
pub const ENVELOPE_SUBJECT: &str = "murron.Envelope";

/// Decodes a Kafka record value: the envelope schema id it was written with, and the envelope.
pub fn decode(value: &[u8]) -> Result<(u32, Envelope<'_>), DecodeError> {
    let (schema_id, datum) = framing::split_wire_format(value)?;
    let (envelope, used) = decode_datum(datum)?;
    if used != datum.len() {
        return Err(DecodeError::TrailingBytes(datum.len() - used));
    }
    Ok((schema_id, envelope))
}

/// Decodes one envelope datum (Avro binary, no framing) from the start of `datum`, as in an Avro
/// container file's block; returns it and the number of bytes it took.
pub fn decode_datum(datum: &[u8]) -> Result<(Envelope<'_>, usize), DecodeError> {
    let mut r = Reader::new(datum);
    let envelope = Envelope {
        timestamp: r.long()?,
        host: r.string()?,
        event_type: r.string()?,
        offset: r.long()?,
        pid: r.int()?,
        message: r.bytes()?,
        signature: r.string()?,
        tags: Tags { raw: r.string_map()? },
    };
    Ok((envelope, r.position()))
}

impl NewEnvelope<'_> {
    /// Signs with the key the tags name and appends the record value (wire format) to `out`.
    pub fn encode_signed(
        &self,
        envelope_schema_id: u32,
        keys: &KeyRing,
        out: &mut Vec<u8>,
    ) -> Result<(), SignatureError> {
        let key_id = self
            .tags
            .iter()
            .rev()
            .find(|(k, _)| *k == KEY_TAG)
            .map_or(DEFAULT_KEY_ID, |(_, v)| *v);
        let signature = keys.sign(key_id, self)?;
        framing::put_header(out, envelope_schema_id);
        put_long(out, self.timestamp);
        put_bytes(out, self.host.as_bytes());
        put_bytes(out, self.event_type.as_bytes());
        put_long(out, self.offset);
        put_long(out, i64::from(self.pid));
        put_bytes(out, self.message);
        put_bytes(out, signature.as_bytes());
        if !self.tags.is_empty() {
            // A tag list is never longer than isize::MAX, so it fits an i64.
            put_long(out, self.tags.len() as i64);
            for (k, v) in self.tags {
                put_bytes(out, k.as_bytes());
                put_bytes(out, v.as_bytes());
            }
        }
        put_long(out, 0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> KeyRing {
        KeyRing::new([
            ("default".to_string(), b"secret-1".to_vec()),
            ("k2".to_string(), b"secret-2".to_vec()),
        ])
    }

    fn sample(tags: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Vec::new();
        NewEnvelope {
            timestamp: 1_764_000_000_000_000,
            host: "web-1",
            event_type: "billing.member_active",
            offset: 42,
            pid: 7,
            message: &[0, 0, 0, 0, 2, 1, 2, 3],
            tags,
        }
        .encode_signed(1, &keys(), &mut out)
        .unwrap();
        out
    }

    #[test]
    fn encoded_envelope_decodes_to_the_same_fields() {
        let bytes = sample(&[("murron.key", "k2"), ("region", "eu")]);
        let (id, env) = decode(&bytes).unwrap();
        assert_eq!(id, 1);
        assert_eq!(
            (env.host, env.event_type, env.offset, env.pid),
            ("web-1", "billing.member_active", 42, 7)
        );
        assert_eq!(env.message, &[0, 0, 0, 0, 2, 1, 2, 3]);
        assert_eq!(
            env.tags.iter().collect::<Vec<_>>(),
            vec![("murron.key", "k2"), ("region", "eu")]
        );
        assert_eq!(env.tags.get("region"), Some("eu"));
        keys().verify(&env).unwrap();
    }

    #[test]
    fn tags_are_empty_exactly_when_the_map_has_no_entries() {
        let bytes = sample(&[]);
        let tags = decode(&bytes).unwrap().1.tags;
        assert!(tags.is_empty() && tags.iter().next().is_none() && tags.get("murron.key").is_none());
        let bytes = sample(&[("region", "eu")]);
        let tags = decode(&bytes).unwrap().1.tags;
        assert!(!tags.is_empty());
        assert_eq!(tags.iter().collect::<Vec<_>>(), vec![("region", "eu")]);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = sample(&[("region", "eu")]);
        for len in 0..bytes.len() {
            assert!(decode(&bytes[..len]).is_err(), "prefix of {len} bytes decoded");
        }
    }

    #[test]
    fn wrong_magic_byte_is_bad_magic() {
        let mut bytes = sample(&[]);
        bytes[0] = 1;
        assert_eq!(decode(&bytes).unwrap_err().reason(), "bad_magic");
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = sample(&[]);
        bytes.push(0);
        assert_eq!(decode(&bytes), Err(DecodeError::TrailingBytes(1)));
    }

    /// docs/PROTOCOL.md's worked example. The expected bytes were written by Python's fastavro from
    /// `schemas/murron/Envelope.avsc`, so this pins our hand-written codec to the Avro specification.
    #[test]
    fn worked_example_bytes_match_an_independent_avro_writer() {
        const FASTAVRO_HEX: &str = "00000000018080b6bd829da2060a7765622d312a62696c6c696e672e6d656d6265725f61637469766500a44212000000000206772d31860176313d3238643337366131653162353962363233623765323932613266306237383531346165346131613733616432336561326330316535313236343832633464396300";
        let keys = KeyRing::new([("default".to_string(), b"murron-demo-key".to_vec())]);
        let mut out = Vec::new();
        NewEnvelope {
            timestamp: 1_764_115_200_000_000,
            host: "web-1",
            event_type: "billing.member_active",
            offset: 0,
            pid: 4242,
            message: &[0x00, 0x00, 0x00, 0x00, 0x02, 0x06, b'w', b'-', b'1'],
            tags: &[],
        }
        .encode_signed(1, &keys, &mut out)
        .unwrap();
        assert_eq!(hex::encode(&out), FASTAVRO_HEX);
        let (id, env) = decode(&out).unwrap();
        assert_eq!((id, env.pid, env.tags.iter().count()), (1, 4242, 0));
        keys.verify(&env).unwrap();
    }

    #[test]
    fn pid_outside_int_range_is_rejected() {
        let mut bytes = vec![0, 0, 0, 0, 1];
        put_long(&mut bytes, 1);
        put_bytes(&mut bytes, b"h");
        put_bytes(&mut bytes, b"t");
        put_long(&mut bytes, 0);
        put_long(&mut bytes, i64::from(i32::MAX) + 1);
        assert_eq!(decode(&bytes), Err(DecodeError::IntOutOfRange));
    }
}
