//! Bearer tokens as Murron's HTTP servers check them (murron-server's producers, the monitor's
//! callers): the `Authorization: Bearer` header, SHA-256 digests, and comparison in constant time.
//! Pure code; each server keeps its own roles and what they allow.

use sha2::{Digest, Sha256};

/// SHA-256 of a token: what a configuration may hold instead of the token itself.
pub fn hash(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

/// A digest written as 64 hex digits (`sha256sum`'s output), in either case.
pub fn parse_hash(hex_digest: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_digest.trim(), &mut out).ok()?;
    Some(out)
}

/// The token of an `Authorization` header value of the `Bearer` scheme (any case), trimmed;
/// `None` for another scheme or an empty token.
pub fn bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    let token = rest.trim_ascii();
    (scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty()).then_some(token)
}

/// Equality whose time depends on the lengths only, never on where the bytes differ (a token's
/// length is not the secret; compare digests to hide it too).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_takes_the_token_of_any_case_scheme_and_nothing_else() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bearer  abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"BEARER abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Bearer"), None);
        assert_eq!(bearer(b"Bearer   "), None);
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearerabc"), None);
    }

    #[test]
    fn hashes_read_back_from_hex_and_compare_equal() {
        let h = hash(b"token");
        assert_eq!(parse_hash(&hex::encode(h)), Some(h));
        assert_eq!(parse_hash(&hex::encode_upper(h)), Some(h));
        assert_eq!(parse_hash("abc"), None);
        assert_eq!(parse_hash(&"g".repeat(64)), None);
        assert!(same(&h, &hash(b"token")));
        assert!(!same(&h, &hash(b"tokem")));
        assert!(!same(b"ab", b"abc"));
    }
}
