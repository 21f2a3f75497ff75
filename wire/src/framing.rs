//! Confluent's wire format, the framing of every Kafka record value and every payload: the magic
//! byte `0`, the schema's registry id as 4 big-endian bytes, then the datum.

/// The first byte of the Confluent wire format.
pub const MAGIC_BYTE: u8 = 0;

/// Why bytes are not Confluent-framed. The messages are those of the envelope's `DecodeError`, which
/// dead letters have always carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    #[error("record is shorter than its encoding says")]
    Truncated,
    #[error("first byte is not the Confluent magic byte 0")]
    BadMagic,
}

/// Splits Confluent wire format (`0x00`, 4-byte big-endian schema id, datum) into id and datum.
pub fn split_wire_format(bytes: &[u8]) -> Result<(u32, &[u8]), FramingError> {
    match bytes {
        [MAGIC_BYTE, a, b, c, d, datum @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), datum)),
        [MAGIC_BYTE, ..] | [] => Err(FramingError::Truncated),
        _ => Err(FramingError::BadMagic),
    }
}

/// Appends the header of a value framed with `schema_id`; the datum follows it.
pub fn put_header(out: &mut Vec<u8>, schema_id: u32) {
    out.push(MAGIC_BYTE);
    out.extend_from_slice(&schema_id.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_framed_value_splits_into_its_id_and_datum() {
        let mut v = Vec::new();
        put_header(&mut v, 0x0102_0304);
        v.extend_from_slice(b"datum");
        assert_eq!(split_wire_format(&v), Ok((0x0102_0304, &b"datum"[..])));
    }

    #[test]
    fn short_or_unframed_values_are_refused() {
        assert_eq!(split_wire_format(&[]), Err(FramingError::Truncated));
        assert_eq!(split_wire_format(&[0, 1, 2]), Err(FramingError::Truncated));
        assert_eq!(split_wire_format(&[1, 0, 0, 0, 1]), Err(FramingError::BadMagic));
    }
}
