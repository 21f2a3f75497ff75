//! Validation: checks that a message's bytes are exactly one message of its type, walking the wire
//! format along the [`Plan`] without building values or allocating (a message with more than 64
//! required or single message fields aside).
//!
//! Strict where Protobuf parsers are lenient, because the sink validates against the schema:
//! - a field number the message does not declare is refused (extensions included), as is a wire
//!   type the field's type cannot take; repeated scalars may come packed or not, as parsers accept;
//! - an enum number the enum does not declare is refused, open (proto3) enums included;
//! - a 32-bit integer must fit 32 bits (negatives sign-extended, as encoders write them, or their
//!   low 32 bits alone), a bool must be 0 or 1, a string valid UTF-8 (proto2's too);
//! - a single message field may occur once (parsers would merge the occurrences); a single scalar
//!   may repeat, the last value counting, as in every parser;
//! - a `google.protobuf.Timestamp` or `Duration` must be valid and fit 64-bit nanoseconds, and a
//!   `google.protobuf.Value` number be finite (JSON has no NaN).
//!
//! Hostile input is bounded: messages nest at most [`MAX_DEPTH`] deep (a message type whose
//! columns nest deeper cannot be validated at all), and each message met is charged the Arrow
//! values it fills against an allowance that grows with the datum's size.

use super::error::{Fail, ValidateError};
use super::limits::{MAX_DEPTH, value_allowance};
use super::plan::{Card, Field, Kind, Message, MsgId, Plan, Special};
use super::wellknown;
use super::wire::{self, Reader, int32};

/// Checks that `body` (the bytes after the message indexes) is exactly one message `id`.
///
/// Hot path: runs once per event.
pub fn validate(plan: &Plan, id: MsgId, body: &[u8]) -> Result<(), ValidateError> {
    if plan.messages[id as usize].depth > MAX_DEPTH {
        return Err(ValidateError::TooDeep);
    }
    let mut walk = Walk {
        plan,
        allowance: value_allowance(body.len()),
    };
    walk.message(id, &mut Reader::new(body), None, 1).map_err(|e| *e)
}

struct Walk<'p> {
    plan: &'p Plan,
    /// Arrow values the datum may still fill.
    allowance: u64,
}

/// Which tracked fields a message instance has shown.
enum Seen {
    Few(u64),
    Many(Vec<u64>),
}

impl Seen {
    fn new(tracked: u32) -> Self {
        if tracked <= 64 {
            Self::Few(0)
        } else {
            Self::Many(vec![0; tracked.div_ceil(64) as usize])
        }
    }

    /// Marks `slot`; whether it was marked before.
    #[inline]
    fn mark(&mut self, slot: u32) -> bool {
        let (word, bit) = match self {
            Self::Few(w) => (w, slot),
            Self::Many(words) => match words.get_mut((slot / 64) as usize) {
                Some(w) => (w, slot % 64),
                None => return false,
            },
        };
        let mask = 1u64 << bit;
        let before = *word & mask != 0;
        *word |= mask;
        before
    }

    fn has(&self, slot: u32) -> bool {
        match self {
            Self::Few(w) => w & (1u64 << slot) != 0,
            Self::Many(words) => words
                .get((slot / 64) as usize)
                .is_some_and(|w| w & (1u64 << (slot % 64)) != 0),
        }
    }
}

impl Walk<'_> {
    /// One message `id` from the reader: to its end, or for a group to the end tag of field
    /// `group`. `depth` counts this message.
    fn message(&mut self, id: MsgId, r: &mut Reader<'_>, group: Option<u32>, depth: u32) -> Result<(), Fail> {
        if depth > MAX_DEPTH {
            return Err(ValidateError::TooDeep.into());
        }
        let msg = &self.plan.messages[id as usize];
        let Some(left) = self.allowance.checked_sub(msg.width.max(1)) else {
            return Err(ValidateError::TooManyItems.into());
        };
        self.allowance = left;
        let mut seen = Seen::new(msg.tracked);
        loop {
            if r.at_end() {
                if group.is_some() {
                    return Err(ValidateError::Truncated.into());
                }
                break;
            }
            let (number, wire_type) = r.tag()?;
            if wire_type == wire::END_GROUP && group == Some(number) {
                break;
            }
            let Some(i) = msg.field_index(number) else {
                if wire_type == wire::END_GROUP {
                    return Err(bad_wire(msg, number, wire_type).into());
                }
                return Err(ValidateError::UnknownField {
                    message: msg.name.clone(),
                    number,
                }
                .into());
            };
            let field = &msg.fields[i];
            self.field(msg, field, wire_type, r, depth)?;
            if let Some(slot) = field.track
                && seen.mark(slot)
                && field.kind.message().is_some()
            {
                return Err(ValidateError::DuplicateField {
                    message: msg.name.clone(),
                    number,
                }
                .into());
            }
        }
        for &i in &msg.required {
            let f = &msg.fields[i as usize];
            if f.track.is_some_and(|slot| !seen.has(slot)) {
                return Err(ValidateError::MissingRequiredField {
                    message: msg.name.clone(),
                    number: f.number,
                }
                .into());
            }
        }
        Ok(())
    }

    /// One occurrence of `field`, whose tag said `wire_type`.
    #[inline]
    fn field(
        &mut self,
        msg: &Message,
        field: &Field,
        wire_type: u8,
        r: &mut Reader<'_>,
        depth: u32,
    ) -> Result<(), Fail> {
        let expected = field.kind.wire();
        if wire_type == expected {
            return self.value(msg, field, r, depth);
        }
        if wire_type == wire::LEN && field.card == Card::List && field.kind.packable() {
            let (start, end) = r.len_range()?;
            let mut packed = Reader::new(&r.buf[start..end]);
            if expected != wire::VARINT {
                let size = if expected == wire::I32 { 4 } else { 8 };
                if (end - start) % size != 0 {
                    return Err(ValidateError::Truncated.into());
                }
            }
            while !packed.at_end() {
                self.value(msg, field, &mut packed, depth)?;
            }
            return Ok(());
        }
        Err(bad_wire(msg, field.number, wire_type).into())
    }

    /// One value of `field`'s type.
    #[inline]
    fn value(&mut self, msg: &Message, field: &Field, r: &mut Reader<'_>, depth: u32) -> Result<(), Fail> {
        match field.kind {
            Kind::Int64 | Kind::UInt64 | Kind::SInt64 => {
                r.varint()?;
            }
            Kind::Int32 => {
                int32(r.varint()?).ok_or_else(|| int_out_of_range(msg, field))?;
            }
            Kind::UInt32 | Kind::SInt32 => {
                u32::try_from(r.varint()?).map_err(|_| int_out_of_range(msg, field))?;
            }
            Kind::Bool => {
                if r.varint()? > 1 {
                    return Err(ValidateError::InvalidBoolean {
                        message: msg.name.clone(),
                        number: field.number,
                    }
                    .into());
                }
            }
            Kind::Enum(e) => {
                let value = int32(r.varint()?).ok_or_else(|| int_out_of_range(msg, field))?;
                let e = &self.plan.enums[e as usize];
                if e.index_of(value).is_none() {
                    return Err(ValidateError::UnknownEnumValue {
                        message: msg.name.clone(),
                        number: field.number,
                        enum_name: e.name.clone(),
                        value,
                    }
                    .into());
                }
            }
            Kind::Fixed32 | Kind::SFixed32 | Kind::Float => {
                r.take(4)?;
            }
            Kind::Fixed64 | Kind::SFixed64 | Kind::Double => {
                r.take(8)?;
            }
            Kind::FiniteDouble => {
                if !f64::from_bits(r.fixed64()?).is_finite() {
                    return Err(ValidateError::InvalidJsonValue.into());
                }
            }
            Kind::String => {
                let (start, end) = r.len_range()?;
                if std::str::from_utf8(&r.buf[start..end]).is_err() {
                    return Err(ValidateError::InvalidUtf8 {
                        message: msg.name.clone(),
                        number: field.number,
                    }
                    .into());
                }
            }
            Kind::Bytes => {
                r.len_range()?;
            }
            Kind::Message(sub) => {
                let (start, end) = r.len_range()?;
                let body = &r.buf[start..end];
                match self.plan.messages[sub as usize].special {
                    Special::Timestamp => {
                        wellknown::timestamp(body)?;
                    }
                    Special::Duration => {
                        wellknown::duration(body)?;
                    }
                    _ => self.message(sub, &mut Reader::new(body), None, depth + 1)?,
                }
            }
            Kind::Group(sub) => self.message(sub, r, Some(field.number), depth + 1)?,
        }
        Ok(())
    }
}

fn bad_wire(msg: &Message, number: u32, wire: u8) -> ValidateError {
    ValidateError::BadWireType {
        message: msg.name.clone(),
        number,
        wire,
    }
}

fn int_out_of_range(msg: &Message, field: &Field) -> ValidateError {
    ValidateError::IntOutOfRange {
        message: msg.name.clone(),
        number: field.number,
    }
}
