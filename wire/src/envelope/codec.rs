//! Avro binary primitives for the fixed envelope schema: zig-zag varints, length-prefixed bytes and
//! strings, and string maps. Hand-written because the envelope is the hot path and its schema is a
//! contract that never changes: decoding borrows from the record and allocates nothing.

use super::error::DecodeError;

/// A cursor over one Avro datum.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }

    /// A zig-zag varint `long`: at most 10 bytes.
    pub(crate) fn long(&mut self) -> Result<i64, DecodeError> {
        let mut value: u64 = 0;
        for shift in (0..70).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
            self.pos += 1;
            if shift == 63 && byte > 1 {
                return Err(DecodeError::BadVarint);
            }
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((value >> 1) as i64 ^ -((value & 1) as i64));
            }
        }
        Err(DecodeError::BadVarint)
    }

    /// A zig-zag varint `int`: a `long` that must fit 32 bits.
    pub(crate) fn int(&mut self) -> Result<i32, DecodeError> {
        i32::try_from(self.long()?).map_err(|_| DecodeError::IntOutOfRange)
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let len = self.long()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength)?;
        if len > self.buf.len() - self.pos {
            return Err(DecodeError::Truncated);
        }
        Ok(len)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.len()?;
        let out = &self.buf[self.pos..self.pos + len];
        self.pos += len;
        Ok(out)
    }

    /// The next `n` bytes as they are.
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(DecodeError::Truncated)?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// An Avro `fixed` of `N` bytes.
    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn string(&mut self) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// A `map<string>`: validates every block and returns its raw bytes for lazy iteration.
    pub(crate) fn string_map(&mut self) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let mut blocks = MapBlocks::default();
        while blocks.next_entry(self)? {
            self.string()?;
            self.string()?;
        }
        Ok(&self.buf[start..self.pos])
    }
}

/// Walks the block structure of an Avro map: `count` entries follow each block header, a negative
/// count is followed by the block's byte size, and a zero count ends the map.
#[derive(Debug, Default)]
pub(crate) struct MapBlocks {
    remaining: u64,
    done: bool,
}

impl MapBlocks {
    /// Blocks already read to the end marker: the walker of a map known to be empty.
    pub(crate) fn ended() -> Self {
        Self {
            remaining: 0,
            done: true,
        }
    }

    /// Advances past block headers; true when one more entry follows.
    pub(crate) fn next_entry(&mut self, r: &mut Reader<'_>) -> Result<bool, DecodeError> {
        while self.remaining == 0 {
            if self.done {
                return Ok(false);
            }
            let count = r.long()?;
            if count == 0 {
                self.done = true;
                return Ok(false);
            }
            if count < 0 {
                r.long()?; // block size in bytes: only useful for skipping
            }
            self.remaining = count.unsigned_abs();
        }
        self.remaining -= 1;
        Ok(true)
    }
}

/// Appends a zig-zag varint `long`.
pub(crate) fn put_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Appends length-prefixed bytes (also the encoding of a string).
pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // A slice is never longer than isize::MAX, so it fits an i64.
    put_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_round_trip_through_zigzag_varints() {
        for v in [0, -1, 1, -64, 63, 64, i32::MAX as i64, i64::MIN, i64::MAX] {
            let mut buf = Vec::new();
            put_long(&mut buf, v);
            let mut r = Reader::new(&buf);
            assert_eq!(r.long().unwrap(), v);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn known_varint_encodings_match_the_avro_spec() {
        // Examples from the Avro specification's table of zig-zag encodings.
        for (v, bytes) in [
            (0, &[0x00][..]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
        ] {
            let mut buf = Vec::new();
            put_long(&mut buf, v);
            assert_eq!(buf, bytes, "encoding of {v}");
        }
    }

    #[test]
    fn overlong_varint_is_rejected() {
        let buf = [0xff; 11];
        assert_eq!(Reader::new(&buf).long(), Err(DecodeError::BadVarint));
        let ten = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert_eq!(Reader::new(&ten).long(), Err(DecodeError::BadVarint));
    }

    #[test]
    fn length_past_the_end_is_truncation_not_a_panic() {
        let mut buf = Vec::new();
        put_long(&mut buf, 10);
        buf.extend_from_slice(b"abc");
        assert_eq!(Reader::new(&buf).bytes(), Err(DecodeError::Truncated));
        let mut neg = Vec::new();
        put_long(&mut neg, -3);
        assert_eq!(Reader::new(&neg).bytes(), Err(DecodeError::NegativeLength));
    }

    #[test]
    fn map_with_negative_block_count_is_read() {
        // One block of 1 entry written with a negative count and a byte size, then the end marker.
        let mut buf = Vec::new();
        put_long(&mut buf, -1);
        put_long(&mut buf, 4);
        put_bytes(&mut buf, b"k");
        put_bytes(&mut buf, b"v");
        put_long(&mut buf, 0);
        let mut r = Reader::new(&buf);
        assert_eq!(r.string_map().unwrap().len(), buf.len());
        assert!(r.is_empty());
    }
}
