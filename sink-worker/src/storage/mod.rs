//! Object storage: a local folder or an S3 bucket, behind one `Storage` trait.
//!
//! Every file output, the dead-letter path, the raw archive and the staging area write through an
//! [`ObjectStore`], the cloneable handle over one implementation: `local` (a folder) or `s3` (a
//! bucket). [`ObjectStore::open`] is the one place that picks the implementation from the config;
//! adding a backend means one module and one arm there.
//!
//! The writer stages every file under a staging key with [`ObjectStore::put`] (durable when it
//! returns), records it in the state database, then moves it to its final key with
//! [`ObjectStore::promote`], which is idempotent so that a restarted worker can finish a promotion
//! a crashed one started (docs/EXACTLY_ONCE.md).
//!
//! Keys are `/`-separated strings relative to the store root (the bucket, or the folder). The handle
//! checks every key before an implementation sees it (see `check_key`), so both backends accept the
//! same keys and a pipeline that works against a folder works against a bucket. The handle also
//! counts the errors a backend gave up on, so metrics are the same whatever the backend.
//!
//! S3 calls go through one retry layer (`S3::retry`: bounded, jittered, only for errors that say
//! retrying can help); the SDK's own retries are disabled.

mod local;
pub mod s3;

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use crate::config::storage::StoreConfig;

/// File names starting with this are the temp files of in-flight local puts; `list` skips them and
/// keys may not use it on any backend, so that keys stay portable between backends.
const TMP_PREFIX: &str = ".tmp-";

/// Why a store operation failed. [`StoreError::is_retryable`] says whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key cannot name an object (empty segment, `.`/`..`, leading `/`, reserved name). A bug or a
    /// bad prefix in the config: not retryable.
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },
    /// The store configuration is invalid: not retryable.
    #[error("invalid store config: {key}: {message}")]
    Config { key: &'static str, message: String },
    /// No object at `key`: not retryable.
    #[error("{store}: no object at {key:?}")]
    NotFound { store: String, key: String },
    /// The store did not answer in time, the connection failed, or it reported an internal error or
    /// throttling. Our retries are used up, but trying again later can help.
    #[error("{store}: {op} {key:?} failed (store unavailable): {message}")]
    Unavailable {
        store: String,
        op: &'static str,
        key: String,
        message: String,
    },
    /// The store refused the request (access denied, missing bucket, bad request): not retryable.
    #[error("{store}: {op} {key:?} rejected: {message}")]
    Rejected {
        store: String,
        op: &'static str,
        key: String,
        message: String,
    },
    /// A local file-system call failed; retryable unless the error is permanent (permissions,
    /// read-only file system, a file where a folder should be).
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// Whether the same call can succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Unavailable { .. } => true,
            StoreError::Io { source, .. } => !matches!(
                source.kind(),
                io::ErrorKind::PermissionDenied
                    | io::ErrorKind::ReadOnlyFilesystem
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidFilename
                    | io::ErrorKind::NotADirectory
                    | io::ErrorKind::IsADirectory
                    | io::ErrorKind::DirectoryNotEmpty
            ),
            StoreError::InvalidKey { .. }
            | StoreError::Config { .. }
            | StoreError::NotFound { .. }
            | StoreError::Rejected { .. } => false,
        }
    }

    fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        StoreError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// When the object was last written, if the store says.
    pub modified: Option<std::time::SystemTime>,
}

/// The future a [`Storage`] method returns. Boxed so that the trait can sit behind `dyn` (one
/// allocation per call, which is per file, not per event); `Send` because the handle is used from
/// tokio tasks.
type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// One kind of object storage. Implementations receive keys and prefixes already checked by
/// [`ObjectStore`] (`check_key`, `check_prefix`) and return errors uncounted; the handle counts them.
trait Storage: fmt::Debug + Send + Sync {
    /// Names the store; see [`ObjectStore::describe`].
    fn describe(&self) -> String;

    /// Writes the whole object, replacing any previous one; durable when the future completes.
    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>) -> StoreFuture<'a, ()>;

    /// Moves `from` to `to`, replacing `to`; `Ok` when `from` is missing but `to` exists.
    fn promote<'a>(&'a self, from: &'a str, to: &'a str) -> StoreFuture<'a, ()>;

    /// Reads the whole object; [`StoreError::NotFound`] when there is none.
    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Vec<u8>>;

    /// Whether an object exists at `key`.
    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool>;

    /// Deletes the object at `key`; `Ok` when there is none.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;

    /// Every object whose key starts with `prefix`, sorted by key.
    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>>;
}

/// A local folder or an S3 bucket. Cheap to clone: clones share one client.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    inner: Arc<dyn Storage>,
}

impl ObjectStore {
    /// Opens the store: creates a local root folder, or builds the S3 client, creates the bucket when
    /// `create_bucket` is set, and checks that the bucket is reachable.
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        config
            .validate()
            .map_err(|(key, message)| StoreError::Config { key, message })?;
        let inner: Arc<dyn Storage> = match config {
            StoreConfig::Local(c) => Arc::new(local::Local::open(&c.path).await?),
            StoreConfig::S3(c) => Arc::new(s3::S3::open(c).await?),
        };
        Ok(Self { inner })
    }

    /// Names the store: `file:///abs/path` or `s3://bucket (endpoint)`. Stable across restarts, so
    /// it can identify the store in the manifest.
    pub fn describe(&self) -> String {
        self.inner.describe()
    }

    /// Writes the whole object, replacing any previous one; it is durable when this returns.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let result = async {
            check_key(key)?;
            self.inner.put(key, body).await
        };
        counted("put", result.await)
    }

    /// Moves `from` to `to`, replacing `to`. Idempotent: when `from` is missing but `to` exists, a
    /// previous attempt finished and this is `Ok`.
    pub async fn promote(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let result = async {
            check_key(from)?;
            check_key(to)?;
            self.inner.promote(from, to).await
        };
        counted("promote", result.await)
    }

    /// Reads the whole object; [`StoreError::NotFound`] when there is none.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let result = async {
            check_key(key)?;
            self.inner.get(key).await
        };
        match result.await {
            // A missing object is an answer, not a store failure.
            Err(e @ StoreError::NotFound { .. }) => Err(e),
            other => counted("get", other),
        }
    }

    /// Whether an object exists at `key`.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let result = async {
            check_key(key)?;
            self.inner.exists(key).await
        };
        counted("exists", result.await)
    }

    /// Deletes the object at `key`; `Ok` when there is none.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let result = async {
            check_key(key)?;
            self.inner.delete(key).await
        };
        counted("delete", result.await)
    }

    /// Every object whose key starts with `prefix` (which need not end at a `/`), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let result = async {
            check_prefix(prefix)?;
            self.inner.list(prefix).await
        };
        counted("list", result.await)
    }
}

/// Counts an error the store gave up on.
fn counted<T>(op: &'static str, result: Result<T, StoreError>) -> Result<T, StoreError> {
    if result.is_err() {
        metrics::counter!("murron_sink_store_errors_total", "op" => op).increment(1);
    }
    result
}

/// Accepts keys that name a file below the root on every backend: no leading `/`, no empty, `.` or
/// `..` segment, no NUL, and a last segment that is not a temp-file name.
fn check_key(key: &str) -> Result<(), StoreError> {
    let invalid = |reason| {
        Err(StoreError::InvalidKey {
            key: key.to_owned(),
            reason,
        })
    };
    if key.is_empty() {
        return invalid("empty");
    }
    if key.starts_with('/') {
        return invalid("starts with '/'");
    }
    if key.contains('\0') {
        return invalid("contains NUL");
    }
    for segment in key.split('/') {
        match segment {
            "" => return invalid("has an empty segment (\"//\" or a trailing '/')"),
            "." | ".." => return invalid("has a '.' or '..' segment"),
            _ => {}
        }
    }
    if key.rsplit('/').next().is_some_and(|name| name.starts_with(TMP_PREFIX)) {
        return invalid("file name starts with \".tmp-\", reserved for in-flight writes");
    }
    Ok(())
}

/// A list prefix may end anywhere, but its folders must be valid key segments.
fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.starts_with('/') || prefix.contains('\0') {
        return Err(StoreError::InvalidKey {
            key: prefix.to_owned(),
            reason: "prefix starts with '/' or contains NUL",
        });
    }
    match prefix.rsplit_once('/') {
        Some((folders, _)) if folders.split('/').any(|s| matches!(s, "" | "." | "..")) => Err(StoreError::InvalidKey {
            key: prefix.to_owned(),
            reason: "prefix has an empty, '.' or '..' segment",
        }),
        _ => Ok(()),
    }
}

/// 64 random bits; falls back to the clock if the OS has no randomness to give.
fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id()).rotate_left(32)
        }
    }
}

/// An error and its sources on one line: `dispatch failure: io error: ...: Connection refused`.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        // Some wrappers repeat their source's text; say it once.
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_transient_failures_are_retryable() {
        let unavailable = StoreError::Unavailable {
            store: "s".into(),
            op: "put",
            key: "k".into(),
            message: "503".into(),
        };
        assert!(unavailable.is_retryable());
        let rejected = StoreError::Rejected {
            store: "s".into(),
            op: "put",
            key: "k".into(),
            message: "403".into(),
        };
        assert!(!rejected.is_retryable());
        let disk_full = StoreError::io("write", Path::new("/x"), io::Error::from(io::ErrorKind::StorageFull));
        assert!(disk_full.is_retryable());
        let denied = StoreError::io(
            "write",
            Path::new("/x"),
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert!(!denied.is_retryable());
    }
}
