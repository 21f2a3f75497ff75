//! The envelope's fields: [`Envelope`] as decoded, borrowing from its record, and [`NewEnvelope`] to be
//! written.

use super::codec::{MapBlocks, Reader};
use super::signature::{Canonical, DEFAULT_KEY_ID, KEY_TAG, Signable, Signed};

/// One decoded envelope, borrowing from the record it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// Microseconds since the Unix epoch.
    pub timestamp: i64,
    pub host: &'a str,
    /// The event type, also the payload schema's registry subject.
    pub event_type: &'a str,
    /// Per-stream sequence number.
    pub offset: i64,
    pub pid: i32,
    /// The payload in Confluent wire format.
    pub message: &'a [u8],
    pub signature: &'a str,
    pub tags: Tags<'a>,
}

/// The envelope's `tags` map, kept as its validated encoding and read on demand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tags<'a> {
    pub(super) raw: &'a [u8],
}

impl<'a> Tags<'a> {
    /// True when the map has no entries. Reads only the length of the encoding: an empty map is the
    /// single byte 0, and any entry takes more. Most events have no tags, and their last bytes are
    /// often no longer in the CPU cache when the batch is converted.
    pub fn is_empty(&self) -> bool {
        self.raw.len() <= 1
    }

    /// Iterates over the entries in encoding order.
    pub fn iter(&self) -> TagsIter<'a> {
        TagsIter {
            reader: Reader::new(self.raw),
            blocks: if self.is_empty() {
                MapBlocks::ended()
            } else {
                MapBlocks::default()
            },
        }
    }

    /// The value of `key`; with repeated keys the last one wins, as when decoding into a map.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.iter().filter(|(k, _)| *k == key).last().map(|(_, v)| v)
    }
}

impl std::fmt::Debug for Tags<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Iterator over [`Tags`].
#[derive(Debug)]
pub struct TagsIter<'a> {
    reader: Reader<'a>,
    blocks: MapBlocks,
}

impl<'a> Iterator for TagsIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        // The bytes were validated by `decode`, so errors cannot happen here; stop if one did.
        if !self.blocks.next_entry(&mut self.reader).ok()? {
            return None;
        }
        Some((self.reader.string().ok()?, self.reader.string().ok()?))
    }
}

/// The fields of an envelope to be written; [`NewEnvelope::encode_signed`] adds the signature.
#[derive(Debug, Clone, Copy)]
pub struct NewEnvelope<'a> {
    pub timestamp: i64,
    pub host: &'a str,
    pub event_type: &'a str,
    pub offset: i64,
    pub pid: i32,
    pub message: &'a [u8],
    /// Written in this order. `murron.key` picks the signing key (`default` when absent).
    pub tags: &'a [(&'a str, &'a str)],
}

impl Signable for Envelope<'_> {
    fn canonical(&self) -> Canonical<'_> {
        Canonical {
            timestamp: self.timestamp,
            host: self.host,
            event_type: self.event_type,
            pid: self.pid,
            offset: self.offset,
            message: self.message,
        }
    }
}

impl Signed for Envelope<'_> {
    fn signature(&self) -> &str {
        self.signature
    }

    fn key_id(&self) -> &str {
        self.tags.get(KEY_TAG).unwrap_or(DEFAULT_KEY_ID)
    }
}

impl Signable for NewEnvelope<'_> {
    fn canonical(&self) -> Canonical<'_> {
        Canonical {
            timestamp: self.timestamp,
            host: self.host,
            event_type: self.event_type,
            pid: self.pid,
            offset: self.offset,
            message: self.message,
        }
    }
}
