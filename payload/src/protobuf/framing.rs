//! Confluent's message indexes: which of the schema's messages a datum holds.
//!
//! After the magic byte and the schema id, Confluent's Protobuf serializers write the path to the
//! message type as an array of zig-zag varints: the count, then that many indexes, the first among
//! the file's top-level messages, each next among the previous one's nested messages. The array
//! `[0]` (the first top-level message) is written as the single byte `0`, which is also how a count
//! of 0 reads. Then come the message's bytes. This is what confluent-kafka's `SchemaId` reads and
//! writes (`_read_index_array`, `_encode_varints`).

use std::sync::Arc;

use super::error::ValidateError;
use super::plan::{MsgId, Plan};
use super::wire::{Reader, unzigzag64};

/// The message type a datum holds and where its bytes start.
#[inline]
pub fn split(plan: &Plan, datum: &[u8]) -> Result<(MsgId, usize), ValidateError> {
    // The first top-level message, by far the most common: one zero byte.
    if datum.first() == Some(&0) {
        return match plan.top.first() {
            Some(&m) => Ok((m, 1)),
            None => Err(out_of_range(0, "the file", 0)),
        };
    }
    let mut r = Reader::new(datum);
    let count = read(&mut r)?;
    if count < 0 {
        return Err(ValidateError::BadMessageIndex);
    }
    let mut at: Option<MsgId> = None;
    // Each index descends a level, and nesting in a file is bounded, so an index past the
    // deepest level fails as out of range long before a hostile count matters.
    for _ in 0..count {
        let index = read(&mut r)?;
        let (choices, within): (&[MsgId], Arc<str>) = match at {
            None => (&plan.top, "the file".into()),
            Some(m) => {
                let m = &plan.messages[m as usize];
                (&m.nested, m.name.clone())
            }
        };
        let chosen = usize::try_from(index).ok().and_then(|i| choices.get(i));
        match chosen {
            Some(&m) => at = Some(m),
            None => {
                return Err(ValidateError::MessageIndexOutOfRange {
                    index,
                    within,
                    count: choices.len(),
                });
            }
        }
    }
    match at {
        Some(m) => Ok((m, r.pos)),
        // A count of 0 is never written by a count byte other than the lone 0 handled above, but
        // an over-long varint for 0 reads the same way.
        None => match plan.top.first() {
            Some(&m) => Ok((m, r.pos)),
            None => Err(out_of_range(0, "the file", 0)),
        },
    }
}

fn out_of_range(index: i64, within: &str, count: usize) -> ValidateError {
    ValidateError::MessageIndexOutOfRange {
        index,
        within: within.into(),
        count,
    }
}

fn read(r: &mut Reader<'_>) -> Result<i64, ValidateError> {
    r.varint().map(unzigzag64).map_err(|_| ValidateError::BadMessageIndex)
}

/// The message-index array of message `id`, as Confluent's serializers write it.
pub fn encode(plan: &Plan, id: MsgId) -> Vec<u8> {
    let path = path_to(plan, id);
    let mut out = Vec::new();
    if path == [0] {
        out.push(0);
        return out;
    }
    write_zigzag(&mut out, path.len() as i64);
    for i in path {
        write_zigzag(&mut out, i as i64);
    }
    out
}

/// The indexes leading to message `id` from the file's top level.
fn path_to(plan: &Plan, id: MsgId) -> Vec<usize> {
    fn find(plan: &Plan, choices: &[MsgId], id: MsgId, path: &mut Vec<usize>) -> bool {
        for (i, &m) in choices.iter().enumerate() {
            path.push(i);
            // Only the file's own messages are searched: their nesting is bounded.
            if m == id || (m < plan.file_messages && find(plan, &plan.messages[m as usize].nested, id, path)) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = Vec::new();
    find(plan, &plan.top, id, &mut path);
    path
}

fn write_zigzag(out: &mut Vec<u8>, v: i64) {
    let mut v = ((v << 1) ^ (v >> 63)) as u64;
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
