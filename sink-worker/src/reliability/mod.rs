//! Reliability tracking: which per-stream offsets arrived, which are missing, which came twice.
//! Issue 5 makes this durable and shared; for now it backs `inspect`.

mod ranges;

pub use ranges::OffsetRanges;
