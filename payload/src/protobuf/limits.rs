//! The bounds that keep hostile payloads cheap: how deep messages nest, and how many Arrow values a
//! datum may expand to.

/// How deep messages (and groups) may nest in one datum, the datum's own message counting as 1,
/// and how deep a message type's columns may nest.
pub const MAX_DEPTH: u32 = 64;

/// How many columns, nested ones included, a message type's layout may have.
pub const MAX_COLUMNS: u64 = 100_000;

/// Arrow values any datum may expand to, whatever its size: more than the widest message fills.
pub const BASE_VALUES: u64 = 1 << 17;

/// Arrow values each byte of a datum adds to its allowance. Protobuf leaves absent fields out, so a
/// two-byte empty sub-message fills a column per field of its type; this keeps what a datum becomes
/// within a constant factor of its size.
pub const VALUES_PER_BYTE: u64 = 8;

/// The Arrow values a datum of `len` bytes may expand to.
pub fn value_allowance(len: usize) -> u64 {
    BASE_VALUES.saturating_add(VALUES_PER_BYTE.saturating_mul(len as u64))
}
