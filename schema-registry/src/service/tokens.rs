//! API tokens: how they are made and hashed, and which names, roles and patterns are valid.
//!
//! A token is shown once, when it is made; only its SHA-256 is stored and compared. Roles: `admin`
//! may do anything; `owner` may change the subjects matching its patterns; `reader` may read.

use base64::Engine;
use sha2::{Digest, Sha256};

/// SHA-256 of a token: what is stored and compared.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A new random token: 256 bits, URL-safe base64, prefixed so leaked tokens are recognisable.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!(
        "mrn_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// Checks a new token's name, role and subject patterns; `Err` says what is wrong.
pub fn check_new_token(name: &str, role: &str, subjects: &[String]) -> Result<(), String> {
    let invalid = |m: String| Err(m);
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return invalid("token names are 1 to 128 characters without control characters".into());
    }
    if let Some(bad) = subjects
        .iter()
        .find(|p| p.is_empty() || p.len() > 255 || p.chars().any(char::is_control))
    {
        return invalid(format!(
            "subject pattern {bad:?}: patterns are 1 to 255 characters without control characters"
        ));
    }
    match role {
        "admin" | "reader" if !subjects.is_empty() => invalid("only owner tokens take subject patterns".into()),
        "owner" if subjects.is_empty() => {
            invalid("an owner token needs at least one subject pattern, e.g. \"billing.*\"".into())
        }
        "admin" | "owner" | "reader" => Ok(()),
        other => invalid(format!("unknown role {other:?}: use admin, owner or reader")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("mrn_") && a.len() > 40);
        assert_eq!(token_hash(&a), token_hash(&a));
    }
}
