//! The registry's domain layer, between the HTTP API and the store.
//!
//! [`crate::api`] parses requests, checks who is calling, and calls a [`Registry`] method; what the
//! registry *decides* happens here: which compatibility level and mode apply, whether a registration
//! may happen in the subject's mode, which version "latest" is (through the caches), the
//! compatibility check against live versions, token and metadata rules. All SQL stays in
//! [`crate::store`]. A handler that is one plain read (list the subjects, read the audit log) calls
//! [`Registry::store`] directly; anything with a decision in it is a method here.
//!
//! Failures are [`ServiceError`]s that name what went wrong in domain terms; the API maps each to
//! Confluent's status and error code. This module never imports [`crate::api`].
//!
//! Layout: this file holds the service's vocabulary ([`Registry`], [`ServiceError`], [`Submitted`],
//! [`AskedVersion`], [`Effective`], [`TextFormat`]); `subjects.rs`, `schemas.rs`, `settings.rs` and `admin.rs` hold only
//! `impl Registry` blocks, one per concern; `registrations.rs` (group commit), `compat.rs` (the check
//! against live versions) and [`tokens`] (token rules) are leaves the methods call.

mod admin;
mod compat;
mod registrations;
mod schemas;
mod settings;
mod subjects;
pub mod tokens;

use std::sync::Arc;

use crate::cache::Caches;
use crate::store::{DeleteError, RegisterError, Store, StoreError, VersionSel};
use murron_schema_types::compatibility::{CompatibilityLevel, CompatibilityPolicy};
use murron_schema_types::schema::{Reference, SchemaError};
use registrations::Registrations;

/// The scope of the global compatibility level and mode (a subject's scope is its name).
pub const GLOBAL: &str = "";

/// Schema text as a client submitted it, with the references it names.
#[derive(Debug, Clone, Copy)]
pub struct Submitted<'a> {
    /// `None` means AVRO, as in Confluent's API.
    pub schema_type: Option<&'a str>,
    pub text: &'a str,
    pub references: &'a [Reference],
}

/// A version selector with the caller's own spelling of it (`latest`, `-1`, `3`), which error
/// messages repeat.
#[derive(Debug, Clone, Copy)]
pub struct AskedVersion<'a> {
    pub sel: VersionSel,
    pub named: &'a str,
}

/// The settings in effect for a subject: its own, else the global ones, else the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    pub level: CompatibilityLevel,
    pub policy: CompatibilityPolicy,
    pub mode: String,
}

/// How a reader asked for a schema's text (Confluent's `format` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TextFormat {
    /// The stored text.
    #[default]
    Stored,
    /// For Protobuf, the base64 of the file's `FileDescriptorProto`, which Confluent's
    /// deserializers ask for; other types have no other form, so they get the stored text.
    Serialized,
}

impl TextFormat {
    /// The format a request names; Confluent ignores names it does not know for a type, and so do we.
    pub fn from_request(name: Option<&str>) -> Self {
        match name {
            Some(f) if f.eq_ignore_ascii_case("serialized") => Self::Serialized,
            _ => Self::Stored,
        }
    }
}

/// The registry's operations over one store and this replica's caches. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    /// For plain reads that need no decision; everything else goes through the methods.
    pub store: Store,
    caches: Arc<Caches>,
    registrations: Arc<Registrations>,
}

impl Registry {
    /// A registry over `store`; `caches` are shared with the listener that invalidates them.
    pub fn new(store: Store, caches: Arc<Caches>) -> Self {
        Self {
            store,
            caches,
            registrations: Arc::default(),
        }
    }
}

/// Why an operation of the registry did not happen. Each variant maps to one Confluent error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error(transparent)]
    Register(#[from] RegisterError),
    /// A delete refused by the store; `version` is the version as the caller named it.
    #[error("{source}")]
    Delete {
        source: DeleteError,
        subject: String,
        version: Option<String>,
    },
    /// A reference names a subject version that does not exist.
    #[error("A schema reference names a subject version that does not exist")]
    MissingReference,
    #[error("subject {0:?} not found")]
    SubjectNotFound(String),
    /// `version` is the version as the caller named it (`latest`, `-1` or a number).
    #[error("version {version} of subject {subject:?} not found")]
    VersionNotFound { subject: String, version: String },
    /// `what` names the schema that was looked for (its id, or "under this subject").
    #[error("schema {0} not found")]
    SchemaNotFound(String),
    #[error("subject {0:?} has no subject-level compatibility")]
    NoSubjectCompatibility(String),
    #[error("subject {0:?} has no subject-level mode")]
    NoSubjectMode(String),
    #[error("invalid compatibility level {0:?}")]
    InvalidCompatibility(String),
    #[error("invalid compatibility policy {0:?}")]
    InvalidPolicy(String),
    #[error("invalid mode {0:?}")]
    InvalidMode(String),
    /// The subject's mode (or the global one) forbids the change; the message says why.
    #[error("{0}")]
    NotPermitted(String),
    /// A request whose content breaks a rule of the registry (a token's name or role, metadata).
    #[error("{0}")]
    Invalid(String),
    /// A token of this name exists already.
    #[error("a token named {0:?} exists already")]
    TokenExists(String),
    /// No live token of this name.
    #[error("no live token named {0:?}")]
    TokenNotFound(String),
    /// The system's random source failed; the token can be asked for again later.
    #[error("cannot generate a token now")]
    NoRandomness,
}

impl ServiceError {
    /// A change refused because `subject` (or the registry) is in READONLY mode.
    fn read_only(subject: &str) -> Self {
        Self::NotPermitted(format!("Subject '{subject}' is in read-only mode"))
    }
}
