//! Who is calling, and what they may do.
//!
//! Callers send `Authorization: Bearer <token>`, or Basic credentials whose password is the token
//! (what Confluent clients send with `basic.auth.user.info`). Tokens are looked up by their SHA-256.
//! Roles: `admin` may do anything; `owner` may change the subjects matching its patterns (`*` is
//! any run of characters); `reader` may read. Reads may be left open to anonymous callers.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;

use super::{ApiError, AppState};
use crate::service::tokens::token_hash;

/// An authenticated (or anonymous) caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Authentication is disabled: everything is allowed, and changes are recorded as "anonymous".
    Unchecked,
    Anonymous,
    Admin {
        name: String,
    },
    Owner {
        name: String,
        patterns: Vec<String>,
    },
    Reader {
        name: String,
    },
}

impl Caller {
    /// The name recorded in the audit log.
    pub fn actor(&self) -> &str {
        match self {
            Self::Unchecked | Self::Anonymous => "anonymous",
            Self::Admin { name } | Self::Owner { name, .. } | Self::Reader { name } => name,
        }
    }

    /// May read, given whether anonymous reads are allowed.
    pub fn require_read(&self, anonymous_reads: bool) -> Result<(), ApiError> {
        match self {
            Self::Anonymous if !anonymous_reads => Err(ApiError::unauthenticated()),
            _ => Ok(()),
        }
    }

    /// May change `subject` (register, delete, configure).
    pub fn require_write(&self, subject: &str) -> Result<(), ApiError> {
        match self {
            Self::Unchecked | Self::Admin { .. } => Ok(()),
            Self::Owner { patterns, .. } if patterns.iter().any(|p| glob_match(p, subject)) => Ok(()),
            Self::Owner { name, .. } => Err(ApiError::forbidden(format!(
                "token {name:?} does not own subject '{subject}'"
            ))),
            Self::Reader { name } => Err(ApiError::forbidden(format!("token {name:?} may only read"))),
            Self::Anonymous => Err(ApiError::unauthenticated()),
        }
    }

    /// May change global settings and tokens.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Self::Unchecked | Self::Admin { .. } => Ok(()),
            Self::Anonymous => Err(ApiError::unauthenticated()),
            Self::Owner { name, .. } | Self::Reader { name } => {
                Err(ApiError::forbidden(format!("token {name:?} is not an admin token")))
            }
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
pub fn glob_match(pattern: &str, s: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == s;
    };
    let Some(mut remaining) = s.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = rest.split('*').collect();
    let last = parts.pop().unwrap_or("");
    for part in parts {
        match remaining.find(part) {
            Some(i) => remaining = &remaining[i + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

fn bearer_or_basic(parts: &Parts) -> Result<Option<String>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ApiError::unauthenticated())?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Ok(Some(token.trim().to_string()));
    }
    if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| ApiError::unauthenticated())?;
        let decoded = String::from_utf8(decoded).map_err(|_| ApiError::unauthenticated())?;
        let (_, password) = decoded.split_once(':').ok_or_else(ApiError::unauthenticated)?;
        return Ok(Some(password.to_string()));
    }
    Err(ApiError::unauthenticated())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if !state.auth.enabled {
            return Ok(Caller::Unchecked);
        }
        let Some(token) = bearer_or_basic(parts)? else {
            return Ok(Caller::Anonymous);
        };
        let hash = token_hash(&token);
        if let Some(admin_hash) = &state.admin_token_hash
            && constant_time_eq(admin_hash, &hash)
        {
            return Ok(Caller::Admin { name: "admin".into() });
        }
        let row = state
            .registry
            .store
            .token_by_hash(&hash)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(match row.role.as_str() {
            "admin" => Caller::Admin { name: row.name },
            "owner" => Caller::Owner {
                name: row.name,
                patterns: row.subject_patterns,
            },
            _ => Caller::Reader { name: row.name },
        })
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_shell_patterns_without_classes() {
        for (p, s, want) in [
            ("billing.*", "billing.member_active", true),
            ("billing.*", "client.api_call", false),
            ("billing.*", "billing.", true),
            ("*", "anything", true),
            ("*.value", "events-value", false),
            ("*-value", "events-value", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "acb", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("ab*ba", "aba", false),
        ] {
            assert_eq!(glob_match(p, s), want, "{p} vs {s}");
        }
    }

    #[test]
    fn owners_write_only_their_subjects_and_readers_never() {
        let owner = Caller::Owner {
            name: "billing-team".into(),
            patterns: vec!["billing.*".into()],
        };
        assert!(owner.require_write("billing.member_active").is_ok());
        assert_eq!(owner.require_write("client.api_call").unwrap_err().code, 40301);
        assert_eq!(owner.require_admin().unwrap_err().code, 40301);
        let reader = Caller::Reader { name: "r".into() };
        assert_eq!(reader.require_write("billing.x").unwrap_err().code, 40301);
        assert_eq!(Caller::Anonymous.require_write("x").unwrap_err().code, 40101);
        assert!(Caller::Anonymous.require_read(true).is_ok());
        assert_eq!(Caller::Anonymous.require_read(false).unwrap_err().code, 40101);
    }
}
