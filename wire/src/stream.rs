//! Streams and event identity: a stream is `(type, host, pid)`, and an event's UID within its topic is
//! its stream and its per-stream `offset` (docs/PROTOCOL.md). The sampling decision hashes the UID, so
//! every writer of the same events keeps the same ones.

/// A stream: (type, host, pid).
pub type StreamKey = (String, String, i32);

/// The sampling decision for an event: keep 1 in `rate` by a hash of its stream and offset, so that a
/// replay or a backfill of the same events keeps the same ones. FNV-1a, then a 64-bit finalizer;
/// fixed here because stored data depends on it.
pub fn sample_keeps(event_type: &str, host: &str, pid: i32, offset: i64, rate: u32) -> bool {
    if rate <= 1 {
        return true;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    feed(event_type.as_bytes());
    feed(&[0]);
    feed(host.as_bytes());
    feed(&[0]);
    feed(&pid.to_le_bytes());
    feed(&offset.to_le_bytes());
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h.is_multiple_of(u64::from(rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_deterministic_and_close_to_one_in_n() {
        let kept = (0..100_000)
            .filter(|o| sample_keeps("billing.member_active", "web-1", 42, *o, 5))
            .count();
        assert!((19_000..21_000).contains(&kept), "{kept}");
        let again = (0..100_000)
            .filter(|o| sample_keeps("billing.member_active", "web-1", 42, *o, 5))
            .count();
        assert_eq!(kept, again);
        assert!((0..1000).all(|o| sample_keeps("t", "h", 1, o, 1)));
        // Pinned: changing the hash would change which stored events a backfill keeps.
        let first: Vec<i64> = (0..40).filter(|o| sample_keeps("t", "h", 1, *o, 4)).collect();
        assert_eq!(first, PINNED_SAMPLE);
    }

    const PINNED_SAMPLE: &[i64] = &[2, 5, 8, 12, 14, 17, 20, 24, 26, 29, 35, 39];
}
