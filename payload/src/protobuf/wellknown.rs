//! `google.protobuf.Timestamp` and `Duration`: read from their bytes and checked, as nanoseconds.
//!
//! Both become 64-bit nanoseconds in Arrow, which hold every instant from 1677-09-21 to 2262-04-11
//! and every duration up to about 292 years. Protobuf allows more (years 1 to 9999, durations up to
//! 10,000 years); a value beyond what 64-bit nanoseconds hold is refused rather than altered.

use std::sync::Arc;

use super::error::{Fail, ValidateError};
use super::wire::{self, Reader, int32};

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range of a valid Timestamp, in seconds.
const MIN_TIMESTAMP_SECONDS: i64 = -62_135_596_800;
const MAX_TIMESTAMP_SECONDS: i64 = 253_402_300_799;
/// About 10,000 years, the range of a valid Duration, in seconds.
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;
const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// A Timestamp's instant in nanoseconds since the Unix epoch.
pub fn timestamp(body: &[u8]) -> Result<i64, Fail> {
    let (seconds, nanos) = seconds_nanos(body, "google.protobuf.Timestamp")?;
    if !(0..1_000_000_000).contains(&nanos) || !(MIN_TIMESTAMP_SECONDS..=MAX_TIMESTAMP_SECONDS).contains(&seconds) {
        return Err(ValidateError::InvalidTimestamp { seconds, nanos }.into());
    }
    seconds
        .checked_mul(NANOS_PER_SECOND)
        .and_then(|s| s.checked_add(i64::from(nanos)))
        .ok_or_else(|| ValidateError::TimestampOutOfRange { seconds }.into())
}

/// A Duration's length in nanoseconds.
pub fn duration(body: &[u8]) -> Result<i64, Fail> {
    let (seconds, nanos) = seconds_nanos(body, "google.protobuf.Duration")?;
    let same_sign = seconds == 0 || nanos == 0 || (seconds < 0) == (nanos < 0);
    if !(-999_999_999..=999_999_999).contains(&nanos)
        || !(-MAX_DURATION_SECONDS..=MAX_DURATION_SECONDS).contains(&seconds)
        || !same_sign
    {
        return Err(ValidateError::InvalidDuration { seconds, nanos }.into());
    }
    seconds
        .checked_mul(NANOS_PER_SECOND)
        .and_then(|s| s.checked_add(i64::from(nanos)))
        .ok_or_else(|| ValidateError::DurationOutOfRange { seconds }.into())
}

/// Fields 1 (`int64 seconds`) and 2 (`int32 nanos`), the last occurrence of each counting.
fn seconds_nanos(body: &[u8], name: &'static str) -> Result<(i64, i32), Fail> {
    let mut r = Reader::new(body);
    let (mut seconds, mut nanos) = (0i64, 0i32);
    while !r.at_end() {
        let (number, wire_type) = r.tag()?;
        let message = || -> Arc<str> { name.into() };
        if number > 2 {
            return Err(ValidateError::UnknownField {
                message: message(),
                number,
            }
            .into());
        }
        if wire_type != wire::VARINT {
            return Err(ValidateError::BadWireType {
                message: message(),
                number,
                wire: wire_type,
            }
            .into());
        }
        let v = r.varint()?;
        if number == 1 {
            seconds = v as i64;
        } else {
            nanos = int32(v).ok_or_else(|| ValidateError::IntOutOfRange {
                message: message(),
                number,
            })?;
        }
    }
    Ok((seconds, nanos))
}
