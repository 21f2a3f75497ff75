//! Who may use the monitor's API, with the registry's roles: an `admin` may do everything, an
//! `owner` of event types (`billing.*`) may file backfills for those types, a `reader` may read.
//! Tokens come from `[monitor.auth]` (docs/OPERATIONS.md says why not from the registry) and are
//! compared by SHA-256, every one of them, in constant time. No tokens configured: the API is open.
//!
//! [`Access::check`] runs before every `/api` handler: it answers 401 (no or unknown token) and
//! refuses readers every method but GET and HEAD, so a mutating route added later is closed to
//! them by default. What depends on the request's content (an owner's types) is checked by the
//! handler with [`Caller::require_type`].

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use murron_wire::route::TypeMatch;
use murron_wire::token::{bearer, hash, same};

use crate::config::{MonitorAuthConfig, MonitorRole};

/// The realm in `WWW-Authenticate`.
const REALM: &str = "murron-monitor";

/// A refused request: 401 with a `WWW-Authenticate` challenge, or 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("missing bearer token (Authorization: Bearer <token>)")]
    Missing,
    #[error("unknown bearer token")]
    Unknown,
    #[error("{0}")]
    Forbidden(String),
}

impl Denied {
    pub fn status(&self) -> StatusCode {
        match self {
            Denied::Missing | Denied::Unknown => StatusCode::UNAUTHORIZED,
            Denied::Forbidden(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The `WWW-Authenticate` value of a 401 (RFC 6750); none for a 403.
    pub fn challenge(&self) -> Option<HeaderValue> {
        let value = match self {
            Denied::Missing => format!("Bearer realm=\"{REALM}\""),
            Denied::Unknown => format!("Bearer realm=\"{REALM}\", error=\"invalid_token\""),
            Denied::Forbidden(_) => return None,
        };
        HeaderValue::from_str(&value).ok()
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Authentication is off: everything is allowed.
    Open,
    /// No token, reading where anonymous reads are allowed.
    Anonymous,
    Admin {
        name: String,
    },
    Owner {
        name: String,
        types: Vec<String>,
    },
    Reader {
        name: String,
    },
}

impl Caller {
    /// The name logs show: the token's configured name, never the token.
    pub fn name(&self) -> &str {
        match self {
            Caller::Open | Caller::Anonymous => "anonymous",
            Caller::Admin { name } | Caller::Owner { name, .. } | Caller::Reader { name } => name,
        }
    }

    /// May file a backfill of `event_type`.
    pub fn require_type(&self, event_type: &str) -> Result<(), Denied> {
        match self {
            Caller::Open | Caller::Admin { .. } => Ok(()),
            Caller::Owner { types, .. } if types.iter().any(|t| TypeMatch::parse(t).matches(event_type)) => Ok(()),
            Caller::Owner { name, types } => Err(Denied::Forbidden(format!(
                "token {name:?} may file backfills for {} only, not for {event_type}",
                types.join(", ")
            ))),
            Caller::Reader { name } => Err(read_only(name)),
            Caller::Anonymous => Err(Denied::Missing),
        }
    }
}

fn read_only(name: &str) -> Denied {
    Denied::Forbidden(format!("token {name:?} may only read"))
}

/// The configured tokens, ready to check requests against.
#[derive(Clone)]
pub struct Access {
    tokens: Vec<Token>,
    anonymous_reads: bool,
}

#[derive(Clone)]
struct Token {
    name: String,
    digest: [u8; 32],
    role: MonitorRole,
    types: Vec<String>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names and roles only: never a token or its digest.
        let tokens: Vec<(&str, MonitorRole)> = self.tokens.iter().map(|t| (t.name.as_str(), t.role)).collect();
        f.debug_struct("Access")
            .field("tokens", &tokens)
            .field("anonymous_reads", &self.anonymous_reads)
            .finish()
    }
}

impl Access {
    /// The tokens of `config`, which [`MonitorAuthConfig::validate`] has checked; `Err` names a bad one.
    pub fn new(config: &MonitorAuthConfig) -> Result<Self, String> {
        let tokens = config
            .tokens
            .iter()
            .map(|(name, t)| {
                Ok(Token {
                    name: name.clone(),
                    digest: t.digest().map_err(|e| format!("monitor token {name:?}: {e}"))?,
                    role: t.role.ok_or_else(|| format!("monitor token {name:?} has no role"))?,
                    types: t.types.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            tokens,
            anonymous_reads: config.anonymous_reads,
        })
    }

    /// Whether any token is configured (otherwise the API is open).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Whether callers without a token may read.
    pub fn anonymous_reads(&self) -> bool {
        self.anonymous_reads
    }

    /// Who sent a request with these `headers` and `method`, if they may send it at all: GET and
    /// HEAD are reads, every other method a change, which readers may not make.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<Caller, Denied> {
        if self.tokens.is_empty() {
            return Ok(Caller::Open);
        }
        let read = method == Method::GET || method == Method::HEAD;
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return if read && self.anonymous_reads {
                Ok(Caller::Anonymous)
            } else {
                Err(Denied::Missing)
            };
        };
        let token = bearer(value.as_bytes()).ok_or(Denied::Missing)?;
        let digest = hash(token);
        let mut found = None;
        for t in &self.tokens {
            // No early exit: every token is compared, so timing says nothing about which one.
            if same(&t.digest, &digest) {
                found = Some(t);
            }
        }
        let t = found.ok_or(Denied::Unknown)?;
        let name = t.name.clone();
        Ok(match t.role {
            MonitorRole::Admin => Caller::Admin { name },
            MonitorRole::Owner => Caller::Owner {
                name,
                types: t.types.clone(),
            },
            MonitorRole::Reader if read => Caller::Reader { name },
            MonitorRole::Reader => return Err(read_only(&name)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::MonitorTokenConfig;

    const ADMIN: &str = "admin-token-0123456789";
    const BILLING: &str = "billing-token-0123456789";
    const READER: &str = "reader-token-0123456789";

    fn access(anonymous_reads: bool) -> Access {
        let mut c = MonitorAuthConfig {
            anonymous_reads,
            ..MonitorAuthConfig::default()
        };
        let token = |role, types: &[&str], token: &str, by_hash: bool| MonitorTokenConfig {
            role: Some(role),
            types: types.iter().map(|t| t.to_string()).collect(),
            token: if by_hash { String::new() } else { token.into() },
            sha256: if by_hash {
                hex::encode(hash(token.as_bytes()))
            } else {
                String::new()
            },
        };
        c.tokens
            .insert("ops".into(), token(MonitorRole::Admin, &[], ADMIN, false));
        c.tokens.insert(
            "billing-team".into(),
            token(MonitorRole::Owner, &["billing.*", "audit.login"], BILLING, true),
        );
        c.tokens
            .insert("dash".into(), token(MonitorRole::Reader, &[], READER, true));
        c.validate().expect("valid tokens");
        Access::new(&c).expect("access")
    }

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(a) = authorization {
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(a).expect("header"));
        }
        h
    }

    fn bearer_of(token: &str) -> HeaderMap {
        headers(Some(&format!("Bearer {token}")))
    }

    #[test]
    fn without_tokens_everyone_may_do_everything() {
        let a = Access::new(&MonitorAuthConfig::default()).expect("access");
        assert!(!a.enabled());
        let caller = a.check(&Method::POST, &headers(None)).expect("open");
        assert_eq!(caller, Caller::Open);
        assert!(caller.require_type("web.checkout").is_ok());
    }

    #[test]
    fn every_change_needs_a_known_token_of_a_role_that_may_change() {
        let a = access(true);
        for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
            assert_eq!(a.check(&method, &headers(None)), Err(Denied::Missing), "{method}");
            assert_eq!(a.check(&method, &headers(Some("Basic b3BzOng="))), Err(Denied::Missing));
            assert_eq!(
                a.check(&method, &bearer_of("admin-token-012345678X")),
                Err(Denied::Unknown)
            );
            assert_eq!(
                a.check(&method, &bearer_of(READER)),
                Err(Denied::Forbidden("token \"dash\" may only read".into()))
            );
            assert!(matches!(a.check(&method, &bearer_of(ADMIN)), Ok(Caller::Admin { .. })));
            assert!(matches!(
                a.check(&method, &bearer_of(BILLING)),
                Ok(Caller::Owner { .. })
            ));
        }
    }

    #[test]
    fn owners_file_backfills_only_for_their_types_and_admins_for_all() {
        let a = access(false);
        let owner = a.check(&Method::POST, &bearer_of(BILLING)).expect("owner");
        assert_eq!(owner.name(), "billing-team");
        assert!(owner.require_type("billing.member_active").is_ok());
        assert!(owner.require_type("audit.login").is_ok());
        let refused = owner.require_type("web.checkout").expect_err("not its type");
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            refused.to_string(),
            "token \"billing-team\" may file backfills for billing.*, audit.login only, not for web.checkout"
        );
        // A pattern is not a prefix of a longer name, nor an exact name of a longer one.
        assert!(owner.require_type("billing").is_err());
        assert!(owner.require_type("audit.login2").is_err());
        let admin = a.check(&Method::POST, &bearer_of(ADMIN)).expect("admin");
        assert!(admin.require_type("web.checkout").is_ok());
    }

    #[test]
    fn reads_need_a_token_unless_anonymous_reads_are_on() {
        let closed = access(false);
        assert_eq!(closed.check(&Method::GET, &headers(None)), Err(Denied::Missing));
        assert_eq!(closed.check(&Method::HEAD, &headers(None)), Err(Denied::Missing));
        assert_eq!(
            closed.check(&Method::GET, &bearer_of("nope-nope-nope-nope")),
            Err(Denied::Unknown)
        );
        for token in [READER, BILLING, ADMIN] {
            assert!(closed.check(&Method::GET, &bearer_of(token)).is_ok());
        }
        let open = access(true);
        assert_eq!(open.check(&Method::GET, &headers(None)), Ok(Caller::Anonymous));
        // A wrong token is refused even where no token would do: it is a mistake worth hearing of.
        assert_eq!(
            open.check(&Method::GET, &bearer_of("nope-nope-nope-nope")),
            Err(Denied::Unknown)
        );
        assert_eq!(open.check(&Method::POST, &headers(None)), Err(Denied::Missing));
    }

    #[test]
    fn refusals_say_how_to_authenticate_and_never_show_a_token() {
        assert_eq!(
            Denied::Missing.challenge().expect("401"),
            "Bearer realm=\"murron-monitor\""
        );
        assert_eq!(
            Denied::Unknown.challenge().expect("401"),
            "Bearer realm=\"murron-monitor\", error=\"invalid_token\""
        );
        assert!(Denied::Forbidden("x".into()).challenge().is_none());
        let a = access(false);
        let shown = format!("{a:?}");
        for secret in [ADMIN, BILLING, READER] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains(&hex::encode(hash(secret.as_bytes()))), "{shown}");
        }
        assert!(shown.contains("billing-team"), "{shown}");
    }
}
