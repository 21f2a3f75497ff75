//! Optional bearer tokens, one per producer, each allowed a set of types (names and `*` patterns).
//! No tokens configured means auth is off. Tokens are compared in constant time, every one of them,
//! so the answer's timing says nothing about which token came close.

use murron_wire::route::TypeMatch;
use murron_wire::token::{bearer, same};

use crate::config::AuthConfig;

/// Why a caller was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token (Authorization: Bearer <token>)")]
    Missing,
    #[error("unknown bearer token")]
    Unknown,
}

/// The configured tokens.
#[derive(Clone)]
pub struct Auth {
    producers: Vec<Producer>,
}

#[derive(Clone)]
struct Producer {
    name: String,
    token: Vec<u8>,
    types: Vec<TypeMatch>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a token.
        let names: Vec<&str> = self.producers.iter().map(|p| p.name.as_str()).collect();
        f.debug_struct("Auth").field("producers", &names).finish()
    }
}

/// Who is calling: anyone (auth off) or the configured producer at this index. `Copy` and owned,
/// so a stream's tasks can carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller(Option<usize>);

impl Caller {
    /// The caller when auth is off.
    pub const ANYONE: Caller = Caller(None);
}

impl Auth {
    pub fn new(config: &AuthConfig) -> Self {
        Self {
            producers: config
                .tokens
                .iter()
                .map(|(name, t)| Producer {
                    name: name.clone(),
                    token: t.token.as_bytes().to_vec(),
                    types: t.types.iter().map(|t| TypeMatch::parse(t)).collect(),
                })
                .collect(),
        }
    }

    /// Whether any token is configured.
    pub fn enabled(&self) -> bool {
        !self.producers.is_empty()
    }

    /// Whether `caller` may publish `event_type`.
    pub fn may_publish(&self, caller: Caller, event_type: &str) -> bool {
        match caller.0 {
            None => self.producers.is_empty(),
            Some(i) => self
                .producers
                .get(i)
                .is_some_and(|p| p.types.iter().any(|t| t.matches(event_type))),
        }
    }

    /// The configured name of `caller`, for logs.
    pub fn name(&self, caller: Caller) -> &str {
        caller
            .0
            .and_then(|i| self.producers.get(i))
            .map_or("anyone", |p| p.name.as_str())
    }

    /// The caller of a request whose `Authorization` header is `header`.
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Caller, AuthError> {
        if self.producers.is_empty() {
            return Ok(Caller::ANYONE);
        }
        let token = header.and_then(bearer).ok_or(AuthError::Missing)?;
        let mut found = None;
        for (i, p) in self.producers.iter().enumerate() {
            // No early exit: every token is compared.
            if same(&p.token, token) {
                found = Some(i);
            }
        }
        found.map(|i| Caller(Some(i))).ok_or(AuthError::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenConfig;

    fn auth() -> Auth {
        let mut c = AuthConfig::default();
        for (name, token, types) in [
            ("alice", "alice-token-0123456789", vec!["billing.*"]),
            ("bob", "bob-token-0123456789ab", vec!["client.api_call", "audit.*"]),
        ] {
            c.tokens.insert(
                name.into(),
                TokenConfig {
                    token: token.into(),
                    types: types.into_iter().map(String::from).collect(),
                },
            );
        }
        Auth::new(&c)
    }

    #[test]
    fn a_valid_token_names_its_producer_and_scopes_its_types() {
        let a = auth();
        let alice = a.authenticate(Some(b"Bearer alice-token-0123456789")).unwrap();
        assert_eq!(a.name(alice), "alice");
        assert!(a.may_publish(alice, "billing.member_active"));
        assert!(!a.may_publish(alice, "client.api_call"));
        let bob = a.authenticate(Some(b"bearer  bob-token-0123456789ab ")).unwrap();
        assert!(a.may_publish(bob, "client.api_call") && a.may_publish(bob, "audit.x"));
        assert!(!a.may_publish(bob, "client.api_call2"));
        // Auth on: only a producer's own scope counts, never "anyone".
        assert!(!a.may_publish(Caller::ANYONE, "billing.x"));
    }

    #[test]
    fn missing_wrong_or_malformed_tokens_are_refused() {
        let a = auth();
        assert_eq!(a.authenticate(None).unwrap_err(), AuthError::Missing);
        assert_eq!(a.authenticate(Some(b"Basic xyz")).unwrap_err(), AuthError::Missing);
        assert_eq!(a.authenticate(Some(b"Bearer")).unwrap_err(), AuthError::Missing);
        assert_eq!(
            a.authenticate(Some(b"Bearer alice-token-012345678X")).unwrap_err(),
            AuthError::Unknown
        );
        assert_eq!(
            a.authenticate(Some(b"Bearer alice-token-01234567")).unwrap_err(),
            AuthError::Unknown
        );
    }

    #[test]
    fn without_tokens_anyone_may_publish_anything() {
        let a = Auth::new(&AuthConfig::default());
        assert!(!a.enabled());
        let caller = a.authenticate(None).unwrap();
        assert!(a.may_publish(caller, "x.y"));
    }
}
