//! `google.protobuf.Struct`, `Value` and `ListValue` as JSON text, as Protobuf's JSON mapping writes
//! them: a Struct is an object, a ListValue an array, a Value the JSON value its `kind` holds (`null`
//! when it holds none). Numbers are written in the shortest form that reads back as the same double;
//! the validator has refused NaN and infinities, which JSON cannot hold. A Struct that repeats a key
//! keeps both, in order (JSON readers, like Protobuf's, take the last).

use std::io::Write as _;

use super::error::{Fault, invalid};
use super::limits::MAX_DEPTH;
use super::plan::Special;
use super::wire::{self, Raw, Reader};

/// `Struct` field 1 (its entries), `ListValue` field 1 (its values).
const ENTRIES: u32 = 1;
/// `Value`'s members.
const NULL_VALUE: u32 = 1;
const NUMBER_VALUE: u32 = 2;
const STRING_VALUE: u32 = 3;
const BOOL_VALUE: u32 = 4;
const STRUCT_VALUE: u32 = 5;
const LIST_VALUE: u32 = 6;

/// Writes the message `body` of type `kind` as JSON.
pub fn write(kind: Special, body: &[u8], out: &mut Vec<u8>, depth: u32) -> Result<(), Fault> {
    match kind {
        Special::Struct => object(body, out, depth),
        Special::ListValue => array(body, out, depth),
        _ => value(body, out, depth),
    }
}

/// The JSON of an empty message of type `kind` (a map value left out).
pub fn empty(kind: Special, out: &mut Vec<u8>) {
    out.extend_from_slice(match kind {
        Special::Struct => b"{}",
        Special::ListValue => b"[]",
        _ => b"null",
    });
}

fn object(body: &[u8], out: &mut Vec<u8>, depth: u32) -> Result<(), Fault> {
    check_depth(depth)?;
    out.push(b'{');
    let mut r = Reader::new(body);
    let mut first = true;
    while !r.at_end() {
        let entry = field(&mut r, ENTRIES, depth)?;
        let (mut key, mut val): (&[u8], &[u8]) = (b"", b"");
        let mut e = Reader::new(entry);
        while !e.at_end() {
            let (number, wire_type) = e.tag()?;
            match (number, e.raw(number, wire_type, depth)?) {
                (1, Raw::Len(s, t)) => key = &entry[s..t],
                (2, Raw::Len(s, t)) => val = &entry[s..t],
                _ => return Err(invalid("unknown_field")),
            }
        }
        if !first {
            out.push(b',');
        }
        first = false;
        string(key, out)?;
        out.push(b':');
        value(val, out, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

fn array(body: &[u8], out: &mut Vec<u8>, depth: u32) -> Result<(), Fault> {
    check_depth(depth)?;
    out.push(b'[');
    let mut r = Reader::new(body);
    let mut first = true;
    while !r.at_end() {
        let item = field(&mut r, ENTRIES, depth)?;
        if !first {
            out.push(b',');
        }
        first = false;
        value(item, out, depth + 1)?;
    }
    out.push(b']');
    Ok(())
}

fn value(body: &[u8], out: &mut Vec<u8>, depth: u32) -> Result<(), Fault> {
    check_depth(depth)?;
    // The oneof `kind`: the member written last counts.
    let mut r = Reader::new(body);
    let mut last: Option<(u32, Raw)> = None;
    while !r.at_end() {
        let (number, wire_type) = r.tag()?;
        last = Some((number, r.raw(number, wire_type, depth)?));
    }
    let slice = |s: usize, t: usize| body.get(s..t).ok_or_else(|| invalid("truncated"));
    match last {
        None | Some((NULL_VALUE, Raw::Varint(_))) => out.extend_from_slice(b"null"),
        Some((NUMBER_VALUE, Raw::I64(bits))) => {
            let v = f64::from_bits(bits);
            if !v.is_finite() {
                return Err(invalid("invalid_json_value"));
            }
            // Debug prints the shortest text that reads back as the same double: a JSON number.
            let _ = write!(out, "{v:?}");
        }
        Some((STRING_VALUE, Raw::Len(s, t))) => string(slice(s, t)?, out)?,
        Some((BOOL_VALUE, Raw::Varint(v))) => out.extend_from_slice(if v != 0 { b"true" } else { b"false" }),
        Some((STRUCT_VALUE, Raw::Len(s, t))) => object(slice(s, t)?, out, depth + 1)?,
        Some((LIST_VALUE, Raw::Len(s, t))) => array(slice(s, t)?, out, depth + 1)?,
        Some(_) => return Err(invalid("bad_wire_type")),
    }
    Ok(())
}

/// The next field, which must be the length-delimited field `number`: its bytes.
fn field<'a>(r: &mut Reader<'a>, number: u32, depth: u32) -> Result<&'a [u8], Fault> {
    let (n, wire_type) = r.tag()?;
    match r.raw(n, wire_type, depth)? {
        Raw::Len(s, t) if n == number && wire_type == wire::LEN => r.buf.get(s..t).ok_or_else(|| invalid("truncated")),
        _ => Err(invalid("unknown_field")),
    }
}

fn check_depth(depth: u32) -> Result<(), Fault> {
    if depth > MAX_DEPTH {
        return Err(invalid("too_deep"));
    }
    Ok(())
}

/// A JSON string: quotes, backslashes and control characters escaped.
fn string(bytes: &[u8], out: &mut Vec<u8>) -> Result<(), Fault> {
    let s = std::str::from_utf8(bytes).map_err(|_| invalid("invalid_utf8"))?;
    out.push(b'"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    out.push(b'"');
    Ok(())
}
