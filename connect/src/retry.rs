//! The one backoff for retrying an outage (the state database, the registry, an output): exponential
//! with full jitter, capped, so that many workers do not retry in step.

use std::time::Duration;

/// Exponential backoff with full jitter, capped at 30 s.
pub fn backoff_delay(attempt: u32) -> Duration {
    let cap = Duration::from_secs(30);
    let base = Duration::from_millis(100)
        .saturating_mul(1u32 << attempt.min(10))
        .min(cap);
    let mut b = [0u8; 2];
    let jitter = if getrandom::fill(&mut b).is_ok() {
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
    } else {
        0.5
    };
    base.mul_f64(0.5 + jitter / 2.0)
}
