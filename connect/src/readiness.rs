//! Whether a process should take work (`/readyz`), as a set of reasons it is not ready. Each part of
//! the process sets and clears its own reason, so one dependency recovering never hides another that
//! is still failing. The sink and murron-server each name their reasons.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// A process's reasons for not being ready: a fieldless enum of at most 32 variants.
pub trait Reason: Copy + 'static {
    /// The reason a process starts with: not serving yet.
    const STARTING: Self;
    /// Every reason, in the order `/readyz` names them.
    const ALL: &'static [Self];
    /// This reason's position in the set, below 32.
    fn index(self) -> u32;
    /// What `/readyz` calls it: short, lower case, stable (operators grep for it).
    fn name(self) -> &'static str;
}

/// Shared readiness: ready when no reason holds. Starts not ready ([`Reason::STARTING`]). Clones share
/// the set.
pub struct Readiness<R> {
    reasons: Arc<AtomicU32>,
    kind: PhantomData<fn() -> R>,
}

impl<R: Reason> Default for Readiness<R> {
    fn default() -> Self {
        Self {
            reasons: Arc::new(AtomicU32::new(bit(R::STARTING))),
            kind: PhantomData,
        }
    }
}

impl<R> Clone for Readiness<R> {
    fn clone(&self) -> Self {
        Self {
            reasons: Arc::clone(&self.reasons),
            kind: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Readiness<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Readiness({:#b})", self.reasons.load(Ordering::Relaxed))
    }
}

fn bit<R: Reason>(reason: R) -> u32 {
    1 << reason.index()
}

impl<R: Reason> Readiness<R> {
    /// Records whether `reason` holds now.
    pub fn set(&self, reason: R, holds: bool) {
        if holds {
            self.reasons.fetch_or(bit(reason), Ordering::Relaxed);
        } else {
            self.reasons.fetch_and(!bit(reason), Ordering::Relaxed);
        }
    }

    /// Whether `reason` holds now.
    pub fn holds(&self, reason: R) -> bool {
        self.reasons.load(Ordering::Relaxed) & bit(reason) != 0
    }

    /// Ready: no reason holds.
    pub fn is_ready(&self) -> bool {
        self.reasons.load(Ordering::Relaxed) == 0
    }

    /// The `/readyz` answer: `ready`, or `not ready: ` and the names of the reasons that hold, so an
    /// operator's `curl` says which dependency to look at.
    pub fn describe(&self) -> String {
        let set = self.reasons.load(Ordering::Relaxed);
        if set == 0 {
            return "ready".to_owned();
        }
        let names: Vec<&str> = R::ALL
            .iter()
            .filter(|r| set & bit(**r) != 0)
            .map(|r| r.name())
            .collect();
        format!("not ready: {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Why {
        Starting,
        Down,
    }

    impl Reason for Why {
        const STARTING: Self = Why::Starting;
        const ALL: &'static [Self] = &[Why::Starting, Why::Down];
        fn index(self) -> u32 {
            self as u32
        }
        fn name(self) -> &'static str {
            match self {
                Why::Starting => "starting",
                Why::Down => "down",
            }
        }
    }

    #[test]
    fn ready_only_when_every_reason_has_cleared_and_clones_share_the_set() {
        let r = Readiness::<Why>::default();
        let other = r.clone();
        assert!(!r.is_ready() && r.holds(Why::Starting));
        other.set(Why::Down, true);
        r.set(Why::Starting, false);
        assert!(!r.is_ready() && r.holds(Why::Down));
        other.set(Why::Down, false);
        assert!(r.is_ready());
    }

    #[test]
    fn describe_names_every_reason_that_holds() {
        let r = Readiness::<Why>::default();
        assert_eq!(r.describe(), "not ready: starting");
        r.set(Why::Down, true);
        assert_eq!(r.describe(), "not ready: starting, down");
        r.set(Why::Starting, false);
        r.set(Why::Down, false);
        assert_eq!(r.describe(), "ready");
    }
}
