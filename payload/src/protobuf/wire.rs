//! The Protobuf wire format, read: varints, tags, fixed-width values and length-delimited slices
//! over a byte slice. Every read is bounds-checked and returns an error instead of panicking.

/// Why bytes are not wire format; the callers say where (a [`super::error::ValidateError`]). Small and
/// `Copy`, so that the hot path's results stay in registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    Truncated,
    BadVarint,
    /// Field number 0, a tag beyond 32 bits, a stray end-group or wire type 6 or 7.
    BadTag,
    /// Groups nested deeper than the depth bound.
    TooDeep,
}

pub const VARINT: u8 = 0;
pub const I64: u8 = 1;
pub const LEN: u8 = 2;
pub const START_GROUP: u8 = 3;
pub const END_GROUP: u8 = 4;
pub const I32: u8 = 5;

/// One field's value as it lies on the wire; `Len` and group bodies are byte ranges of the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raw {
    Varint(u64),
    I32(u32),
    I64(u64),
    /// A length-delimited value, or a group's body (its fields, without the end tag).
    Len(usize, usize),
}

/// The unread rest of a message's bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    #[inline]
    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// A base-128 varint of at most 10 bytes, the tenth holding only bit 63. Over-long encodings of
    /// small values (`80 00` for 0) are accepted, as Protobuf parsers accept them.
    #[inline]
    pub fn varint(&mut self) -> Result<u64, WireError> {
        let first = *self.buf.get(self.pos).ok_or(WireError::Truncated)?;
        if first < 0x80 {
            self.pos += 1;
            return Ok(u64::from(first));
        }
        self.varint_slow()
    }

    fn varint_slow(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for shift in (0..=63).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or(WireError::Truncated)?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(WireError::BadVarint);
            }
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError::BadVarint)
    }

    /// A tag: the field number (at least 1, at most 2^29 - 1) and the wire type.
    #[inline]
    pub fn tag(&mut self) -> Result<(u32, u8), WireError> {
        let tag = self.varint()?;
        let tag = u32::try_from(tag).map_err(|_| WireError::BadTag)?;
        let number = tag >> 3;
        if number == 0 {
            return Err(WireError::BadTag);
        }
        Ok((number, (tag & 7) as u8))
    }

    #[inline]
    pub fn fixed32(&mut self) -> Result<u32, WireError> {
        let bytes = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(bytes);
        Ok(u32::from_le_bytes(a))
    }

    #[inline]
    pub fn fixed64(&mut self) -> Result<u64, WireError> {
        let bytes = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(a))
    }

    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    /// A length-delimited value's range in the buffer.
    #[inline]
    pub fn len_range(&mut self) -> Result<(usize, usize), WireError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| WireError::Truncated)?;
        let start = self.pos;
        self.take(len)?;
        Ok((start, self.pos))
    }

    /// A value of wire type `wire` (a group's body for a start-group tag of field `number`), as it
    /// lies on the wire. `depth` bounds nested groups.
    // Always inlined: returned through memory, the value costs a store-forwarding stall per field.
    #[inline(always)]
    pub fn raw(&mut self, number: u32, wire: u8, depth: u32) -> Result<Raw, WireError> {
        Ok(match wire {
            VARINT => Raw::Varint(self.varint()?),
            I64 => Raw::I64(self.fixed64()?),
            LEN => {
                let (start, end) = self.len_range()?;
                Raw::Len(start, end)
            }
            I32 => Raw::I32(self.fixed32()?),
            START_GROUP => {
                let (start, end) = self.group_body(number, depth)?;
                Raw::Len(start, end)
            }
            // A stray end-group or wire type 6 or 7: the caller says which field.
            _ => return Err(WireError::BadTag),
        })
    }

    /// Skips to the end tag of the group of field `number` that starts here; its body's range.
    #[cold]
    #[inline(never)]
    pub fn group_body(&mut self, number: u32, depth: u32) -> Result<(usize, usize), WireError> {
        if depth >= super::limits::MAX_DEPTH {
            return Err(WireError::TooDeep);
        }
        let start = self.pos;
        loop {
            let tag_start = self.pos;
            let (n, wire) = self.tag()?;
            if wire == END_GROUP {
                return if n == number {
                    Ok((start, tag_start))
                } else {
                    Err(WireError::BadTag)
                };
            }
            self.raw(n, wire, depth + 1)?;
        }
    }
}

/// Zig-zag decoding of `sint64`.
#[inline]
pub fn unzigzag64(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// Zig-zag decoding of `sint32` (the varint already checked to fit 32 bits).
#[inline]
pub fn unzigzag32(v: u32) -> i32 {
    (v >> 1) as i32 ^ -((v & 1) as i32)
}

/// An `int32` (or enum) varint as parsers read it: the value sign-extended to 64 bits (how encoders
/// write negatives) or its low 32 bits written alone; anything else does not fit.
#[inline]
pub fn int32(v: u64) -> Option<i32> {
    let signed = v as i64;
    if let Ok(x) = i32::try_from(signed) {
        Some(x)
    } else {
        u32::try_from(v).ok().map(|x| x as i32)
    }
}
