//! Envelope signatures: `"v1=" + hex(HMAC-SHA256(key, canonical))`, where canonical is
//! `v1:{timestamp}:{host}:{type}:{pid}:{offset}:` followed by the raw message bytes.
//!
//! Hot path: [`KeyRing::verify`] runs once per event. Keys are turned into HMAC states once, the
//! canonical bytes are fed to the MAC piecewise (no buffer), and the comparison is constant-time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The tag that names the signing key.
pub const KEY_TAG: &str = "murron.key";
/// The key used when an envelope has no `murron.key` tag.
pub const DEFAULT_KEY_ID: &str = "default";
const PREFIX: &str = "v1=";

type HmacSha256 = Hmac<Sha256>;

/// Why a signature did not verify. [`SignatureError::reason`] is the dead-letter reason code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("unknown signing key {0:?}")]
    UnknownKey(String),
    #[error("signature is not \"v1=\" followed by 64 hex digits")]
    Malformed,
    #[error("signature does not match the event")]
    Mismatch,
}

impl SignatureError {
    /// A short, stable code for metrics labels and dead-letter records.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::UnknownKey(_) => "unknown_key",
            Self::Malformed => "malformed_signature",
            Self::Mismatch => "bad_signature",
        }
    }
}

/// The active signing keys, by id. Several may be active at once, for rotation.
#[derive(Clone)]
pub struct KeyRing {
    /// A handful of keys at most, found by id per event: a scan compares one or two short strings,
    /// where a hash map hashes the id first.
    keys: Vec<(String, HmacSha256)>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("KeyRing")
            .field("key_ids", &self.keys.iter().map(|(id, _)| id).collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// Builds the ring from `(key id, secret bytes)` pairs.
    /// A repeated id keeps its last secret.
    pub fn new(keys: impl IntoIterator<Item = (String, Vec<u8>)>) -> Self {
        let mut ring: Vec<(String, HmacSha256)> = Vec::new();
        for (id, secret) in keys {
            let mac = HmacSha256::new_from_slice(&secret).expect("HMAC accepts keys of any length");
            ring.retain(|(known, _)| *known != id);
            ring.push((id, mac));
        }
        Self { keys: ring }
    }

    /// True when no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn mac(&self, key_id: &str) -> Result<HmacSha256, SignatureError> {
        self.keys
            .iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, mac)| mac.clone())
            .ok_or_else(|| SignatureError::UnknownKey(key_id.to_string()))
    }

    /// The signature string for an envelope about to be written.
    pub fn sign(&self, key_id: &str, e: &impl Signable) -> Result<String, SignatureError> {
        self.sign_canonical(key_id, &e.canonical())
    }

    /// Checks a decoded envelope's signature with the key its `murron.key` tag names.
    ///
    /// Hot path: the generic part only gathers the fields; the work is one function of this crate,
    /// compiled and inlined here whatever crate calls it.
    pub fn verify(&self, e: &impl Signed) -> Result<(), SignatureError> {
        self.verify_canonical(e.key_id(), e.signature(), &e.canonical())
    }

    fn sign_canonical(&self, key_id: &str, c: &Canonical<'_>) -> Result<String, SignatureError> {
        let mut mac = self.mac(key_id)?;
        feed_canonical(&mut mac, c);
        Ok(format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes())))
    }

    fn verify_canonical(&self, key_id: &str, signature: &str, c: &Canonical<'_>) -> Result<(), SignatureError> {
        let mut mac = self.mac(key_id)?;
        let hex_sig = signature.strip_prefix(PREFIX).ok_or(SignatureError::Malformed)?;
        let expected = decode_hex_32(hex_sig).ok_or(SignatureError::Malformed)?;
        feed_canonical(&mut mac, c);
        mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
    }
}

/// The fields a signature covers (docs/PROTOCOL.md, "Signature").
#[derive(Debug, Clone, Copy)]
pub struct Canonical<'a> {
    pub timestamp: i64,
    pub host: &'a str,
    pub event_type: &'a str,
    pub pid: i32,
    pub offset: i64,
    pub message: &'a [u8],
}

/// An envelope, decoded or about to be written, as its signature sees it.
pub trait Signable {
    fn canonical(&self) -> Canonical<'_>;
}

/// A decoded envelope: the fields its signature covers, the signature, and the key it names.
pub trait Signed: Signable {
    /// The `signature` field, `v1=` and 64 hex digits.
    fn signature(&self) -> &str;
    /// The key id its `murron.key` tag names ([`DEFAULT_KEY_ID`] when absent).
    fn key_id(&self) -> &str;
}

/// The value of each byte as a hex digit (either case); `0xff` for bytes that are not hex digits.
const HEX_VALUES: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        table[b"0123456789ABCDEF"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Decodes exactly 64 hex digits (either case), as `hex::decode_to_slice` does, but by table lookup
/// without a branch per digit: signature digits are random, so per-digit branches mispredict.
fn decode_hex_32(digits: &str) -> Option<[u8; 32]> {
    let digits: &[u8; 64] = digits.as_bytes().try_into().ok()?;
    let mut out = [0u8; 32];
    // A digit's value is below 16; a non-digit's 0xff sets high bits that stay set in `seen`.
    let mut seen = 0u8;
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let (high, low) = (HEX_VALUES[usize::from(pair[0])], HEX_VALUES[usize::from(pair[1])]);
        seen |= high | low;
        *byte = (high << 4) | low;
    }
    (seen < 16).then_some(out)
}

fn feed_canonical(mac: &mut HmacSha256, c: &Canonical<'_>) {
    let mut num = itoa::Buffer::new();
    mac.update(b"v1:");
    mac.update(num.format(c.timestamp).as_bytes());
    mac.update(b":");
    mac.update(c.host.as_bytes());
    mac.update(b":");
    mac.update(c.event_type.as_bytes());
    mac.update(b":");
    mac.update(num.format(c.pid).as_bytes());
    mac.update(b":");
    mac.update(num.format(c.offset).as_bytes());
    mac.update(b":");
    mac.update(c.message);
}

#[cfg(test)]
mod tests {
    use super::super::{NewEnvelope, decode};
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new([("default".into(), b"old".to_vec()), ("2026-11".into(), b"new".to_vec())])
    }

    fn encode(tags: &[(&str, &str)], keys: &KeyRing) -> Vec<u8> {
        let mut out = Vec::new();
        NewEnvelope {
            timestamp: 1,
            host: "h",
            event_type: "t",
            offset: 3,
            pid: 2,
            message: b"m",
            tags,
        }
        .encode_signed(9, keys, &mut out)
        .unwrap();
        out
    }

    #[test]
    fn both_keys_of_a_rotation_verify() {
        for tags in [&[][..], &[("murron.key", "2026-11")][..]] {
            let bytes = encode(tags, &ring());
            ring().verify(&decode(&bytes).unwrap().1).unwrap();
        }
    }

    #[test]
    fn signature_from_another_key_is_a_mismatch() {
        let other = KeyRing::new([("default".into(), b"attacker".to_vec())]);
        let bytes = encode(&[], &other);
        assert_eq!(ring().verify(&decode(&bytes).unwrap().1), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_repeated_key_id_keeps_its_last_secret() {
        let repeated = KeyRing::new([
            ("default".into(), b"first".to_vec()),
            ("default".into(), b"old".to_vec()),
        ]);
        let bytes = encode(&[], &repeated);
        ring().verify(&decode(&bytes).unwrap().1).unwrap();
        assert_eq!(format!("{repeated:?}"), r#"KeyRing { key_ids: ["default"] }"#);
    }

    #[test]
    fn unknown_key_id_is_reported_by_name() {
        let signer = KeyRing::new([("retired".into(), b"x".to_vec())]);
        let bytes = encode(&[("murron.key", "retired")], &signer);
        assert_eq!(
            ring().verify(&decode(&bytes).unwrap().1),
            Err(SignatureError::UnknownKey("retired".into()))
        );
    }

    #[test]
    fn tampered_field_fails_verification() {
        let bytes = encode(&[], &ring());
        let (_, mut env) = decode(&bytes).unwrap();
        env.offset += 1;
        assert_eq!(ring().verify(&env), Err(SignatureError::Mismatch));
        let (_, mut env) = decode(&bytes).unwrap();
        env.signature = "v1=zz";
        assert_eq!(ring().verify(&env), Err(SignatureError::Malformed));
    }

    #[test]
    fn hex_digits_decode_as_the_hex_crate_does() {
        let lower = "00ff10a9b8c7d6e5f4030201aabbccddeeff0123456789abcdef0123456789ab";
        let mut expected = [0u8; 32];
        hex::decode_to_slice(lower, &mut expected).unwrap();
        assert_eq!(decode_hex_32(lower), Some(expected));
        assert_eq!(decode_hex_32(&lower.to_uppercase()), Some(expected));
        assert_eq!(decode_hex_32(&lower[..62]), None);
        assert_eq!(decode_hex_32(&format!("{lower}00")), None);
        for bad in ['g', 'G', ' ', '-', '/', ':', '@', '`', '\0', 'é'] {
            let digits = format!("{}{bad}", &lower[..63]);
            assert_eq!(decode_hex_32(&digits), None, "{bad:?}");
            let mut expected = [0u8; 32];
            assert!(hex::decode_to_slice(&digits, &mut expected).is_err());
        }
        // 64 bytes, but not 64 digits.
        assert_eq!(decode_hex_32(&format!("{}é", &lower[..62])), None);
    }

    /// The worked example of docs/PROTOCOL.md. The expected signature was computed independently
    /// with Python's `hmac` module, so this pins our canonical form to the documented one.
    #[test]
    fn worked_example_from_protocol_doc() {
        let keys = KeyRing::new([("default".into(), b"murron-demo-key".to_vec())]);
        let payload = [0x00, 0x00, 0x00, 0x00, 0x02, 0x06, b'w', b'-', b'1'];
        let e = NewEnvelope {
            timestamp: 1_764_115_200_000_000,
            host: "web-1",
            event_type: "billing.member_active",
            offset: 0,
            pid: 4242,
            message: &payload,
            tags: &[],
        };
        assert_eq!(keys.sign("default", &e).unwrap(), PROTOCOL_EXAMPLE_SIGNATURE);
    }

    /// Hosts and types of any length, short and longer than a SHA-256 block, sign the documented
    /// canonical form.
    #[test]
    fn long_fields_sign_the_documented_canonical_form() {
        let keys = KeyRing::new([("default".into(), b"k".to_vec())]);
        for len in [0, 1, 90, 100, 127, 128, 129, 300] {
            let host = "h".repeat(len);
            let ty = format!("t{}", "y".repeat(len / 2));
            let e = NewEnvelope {
                timestamp: -5,
                host: &host,
                event_type: &ty,
                offset: i64::MAX,
                pid: i32::MIN,
                message: b"payload",
                tags: &[],
            };
            let mut reference = HmacSha256::new_from_slice(b"k").unwrap();
            reference.update(format!("v1:-5:{host}:{ty}:{}:{}:payload", i32::MIN, i64::MAX).as_bytes());
            let expected = format!("v1={}", hex::encode(reference.finalize().into_bytes()));
            assert_eq!(keys.sign("default", &e).unwrap(), expected, "host of {len} bytes");
        }
    }

    const PROTOCOL_EXAMPLE_SIGNATURE: &str = "v1=28d376a1e1b59b623b7e292a2f0b78514ae4a1a73ad23ea2c01e5126482c4d9c";
}
