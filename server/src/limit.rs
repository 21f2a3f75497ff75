//! Per-pipeline rate limits: a token bucket that answers at once how many events may go now and when
//! to come back for the rest. Unlike the sink's bucket, which sleeps (it consumes at its own pace), the
//! edge never holds a caller: events over the rate are answered RETRY `rate_limited`.
//!
//! Pure: the caller passes the clock, so the tests need no sleeping.

use std::time::{Duration, Instant};

/// A bucket of `rate` tokens a second holding at most one second's worth.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Instant,
}

/// What [`TokenBucket::try_take`] granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Events that may go now: the first `granted` of those asked for.
    pub granted: usize,
    /// When the rest may be tried again (zero when everything was granted).
    pub retry_after: Duration,
}

impl TokenBucket {
    /// A full bucket; `per_second` must be positive.
    pub fn new(per_second: u32, now: Instant) -> Self {
        let rate = f64::from(per_second.max(1));
        Self {
            rate,
            tokens: rate,
            last: now,
        }
    }

    /// Takes up to `n` tokens at `now`.
    pub fn try_take(&mut self, now: Instant, n: usize) -> Grant {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now.max(self.last);
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        // Whole tokens only: a fraction is carried to the next call.
        let granted = (self.tokens.floor().max(0.0) as usize).min(n);
        self.tokens -= granted as f64;
        let retry_after = if granted == n {
            Duration::ZERO
        } else {
            // Until the next whole token; at least a millisecond, so clients do not spin.
            Duration::from_secs_f64(((1.0 - self.tokens.fract()) / self.rate).max(0.001))
        };
        Grant { granted, retry_after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_grants_one_seconds_worth_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, t0);
        assert_eq!(b.try_take(t0, 60).granted, 60);
        let g = b.try_take(t0, 60);
        assert_eq!(g.granted, 40);
        assert!(
            g.retry_after > Duration::ZERO && g.retry_after <= Duration::from_millis(10),
            "{g:?}"
        );
        assert_eq!(b.try_take(t0, 1).granted, 0);
        // 250 ms at 100/s: 25 tokens.
        assert_eq!(b.try_take(t0 + Duration::from_millis(250), 100).granted, 25);
        // A long pause refills to the cap, not beyond.
        assert_eq!(b.try_take(t0 + Duration::from_secs(60), 1000).granted, 100);
    }

    #[test]
    fn the_rate_holds_over_many_small_takes() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, t0);
        let _ = b.try_take(t0, 1000);
        let mut granted = 0;
        for ms in 1..=2000u64 {
            granted += b.try_take(t0 + Duration::from_millis(ms), 3).granted;
        }
        assert_eq!(granted, 2000);
    }

    #[test]
    fn everything_granted_means_no_wait() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, t0);
        assert_eq!(
            b.try_take(t0, 10),
            Grant {
                granted: 10,
                retry_after: Duration::ZERO
            }
        );
    }
}
