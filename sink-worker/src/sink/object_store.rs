//! Object storage: a local folder or an S3 bucket, behind one type.
//!
//! The writer stages every file under a staging key with [`ObjectStore::put`] (durable when it
//! returns), records it in the state database, then moves it to its final key with
//! [`ObjectStore::promote`], which is idempotent so that a restarted worker can finish a promotion
//! a crashed one started (docs/EXACTLY_ONCE.md).
//!
//! Keys are `/`-separated strings relative to the store root (the bucket, or the folder). Both
//! backends accept the same keys (see `check_key`), so a pipeline that works against a folder works
//! against a bucket.
//!
//! S3 calls go through one retry layer (`S3::retry`: bounded, jittered, only for errors that say
//! retrying can help); the SDK's own retries are disabled.

use std::fmt;
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::{BucketLocationConstraint, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration};
use backon::{ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};

/// File names starting with this are the temp files of in-flight local puts; `list` skips them and
/// keys may not use it.
const TMP_PREFIX: &str = ".tmp-";
const MIB: u64 = 1024 * 1024;
/// S3 limits: every part but the last is at least 5 MiB, at most 5 GiB, and an upload has at most
/// 10 000 parts.
const MIN_PART_BYTES: u64 = 5 * MIB;
const MAX_PART_BYTES: u64 = 5 * 1024 * MIB;
const MAX_PARTS: u64 = 10_000;

/// Configuration of one store, tagged by `kind` (`local` or `s3`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    Local(LocalConfig),
    S3(S3Config),
}

/// A folder on a local (or mounted) file system.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Root folder of the store; created if missing.
    pub path: PathBuf,
}

/// An S3 bucket, on AWS or an S3-compatible server.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// Endpoint URL of an S3-compatible server, e.g. `http://127.0.0.1:9000`; unset means AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    #[serde(default = "default_region")]
    pub region: String,
    /// Empty values are filled from the environment by the caller's config loading.
    #[serde(default)]
    pub access_key_id: String,
    #[serde(default)]
    pub secret_access_key: String,
    #[serde(default = "default_true")]
    pub force_path_style: bool,
    /// Objects larger than this are sent as a multipart upload.
    #[serde(default = "default_multipart_threshold")]
    pub multipart_threshold_bytes: u64,
    /// Size of each multipart part but the last; at least 5 MiB.
    #[serde(default = "default_part_size")]
    pub part_size_bytes: u64,
    /// Attempts per S3 request, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Timeout of one S3 request.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Create the bucket at startup when it is missing (for the local stack).
    #[serde(default)]
    pub create_bucket: bool,
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_true() -> bool {
    true
}

fn default_multipart_threshold() -> u64 {
    16 * MIB
}

fn default_part_size() -> u64 {
    8 * MIB
}

fn default_max_attempts() -> u32 {
    8
}

fn default_timeout_ms() -> u64 {
    30_000
}

impl S3Config {
    /// An S3 config for `bucket` with every other field at its default.
    /// Fills empty credentials from `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`, so secrets can
    /// stay out of the configuration file.
    pub fn with_env_credentials(mut self) -> Self {
        for (value, var) in [
            (&mut self.access_key_id, "AWS_ACCESS_KEY_ID"),
            (&mut self.secret_access_key, "AWS_SECRET_ACCESS_KEY"),
        ] {
            if value.is_empty() {
                *value = std::env::var(var).unwrap_or_default();
            }
        }
        self
    }

    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            endpoint: None,
            region: default_region(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            force_path_style: true,
            multipart_threshold_bytes: default_multipart_threshold(),
            part_size_bytes: default_part_size(),
            max_attempts: default_max_attempts(),
            timeout_ms: default_timeout_ms(),
            create_bucket: false,
        }
    }

    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.bucket.is_empty() {
            return Err(("bucket", "must not be empty".into()));
        }
        if self.region.is_empty() {
            return Err(("region", "must not be empty".into()));
        }
        if self.access_key_id.is_empty() {
            return Err(("access_key_id", "is empty (set it or AWS_ACCESS_KEY_ID)".into()));
        }
        if self.secret_access_key.is_empty() {
            return Err(("secret_access_key", "is empty (set it or AWS_SECRET_ACCESS_KEY)".into()));
        }
        if !(MIN_PART_BYTES..=MAX_PART_BYTES).contains(&self.part_size_bytes) {
            return Err((
                "part_size_bytes",
                format!("{} must be between 5 MiB and 5 GiB", self.part_size_bytes),
            ));
        }
        if self.max_attempts == 0 {
            return Err(("max_attempts", "must be at least 1".into()));
        }
        if self.timeout_ms == 0 {
            return Err(("timeout_ms", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Hand-written so that the secret key never reaches a log.
impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("force_path_style", &self.force_path_style)
            .field("multipart_threshold_bytes", &self.multipart_threshold_bytes)
            .field("part_size_bytes", &self.part_size_bytes)
            .field("max_attempts", &self.max_attempts)
            .field("timeout_ms", &self.timeout_ms)
            .field("create_bucket", &self.create_bucket)
            .finish()
    }
}

impl StoreConfig {
    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        match self {
            StoreConfig::Local(c) if c.path.as_os_str().is_empty() => Err(("path", "must not be empty".into())),
            StoreConfig::Local(_) => Ok(()),
            StoreConfig::S3(c) => c.validate(),
        }
    }
}

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
}

/// A local folder or an S3 bucket. Cheap to clone: clones share one client.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    inner: Arc<Backend>,
}

#[derive(Debug)]
enum Backend {
    Local(Local),
    S3(S3),
}

impl ObjectStore {
    /// Opens the store: creates a local root folder, or builds the S3 client, creates the bucket when
    /// `create_bucket` is set, and checks that the bucket is reachable.
    pub async fn open(config: &StoreConfig) -> Result<Self, StoreError> {
        config
            .validate()
            .map_err(|(key, message)| StoreError::Config { key, message })?;
        let backend = match config {
            StoreConfig::Local(c) => Backend::Local(Local::open(&c.path).await?),
            StoreConfig::S3(c) => Backend::S3(S3::open(c).await?),
        };
        Ok(Self {
            inner: Arc::new(backend),
        })
    }

    /// Names the store: `file:///abs/path` or `s3://bucket (endpoint)`. Stable across restarts, so
    /// it can identify the store in the manifest.
    pub fn describe(&self) -> String {
        match &*self.inner {
            Backend::Local(l) => l.name.clone(),
            Backend::S3(s) => s.name.clone(),
        }
    }

    /// Writes the whole object, replacing any previous one; it is durable when this returns.
    pub async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let result = async {
            check_key(key)?;
            match &*self.inner {
                Backend::Local(l) => l.put(key, body).await,
                Backend::S3(s) => s.put(key, body).await,
            }
        };
        counted("put", result.await)
    }

    /// Moves `from` to `to`, replacing `to`. Idempotent: when `from` is missing but `to` exists, a
    /// previous attempt finished and this is `Ok`.
    pub async fn promote(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let result = async {
            check_key(from)?;
            check_key(to)?;
            match &*self.inner {
                Backend::Local(l) => l.promote(from, to).await,
                Backend::S3(s) => s.promote(from, to).await,
            }
        };
        counted("promote", result.await)
    }

    /// Reads the whole object; [`StoreError::NotFound`] when there is none.
    pub async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let result = async {
            check_key(key)?;
            match &*self.inner {
                Backend::Local(l) => l.get(key).await,
                Backend::S3(s) => s.get(key).await,
            }
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
            match &*self.inner {
                Backend::Local(l) => l.exists(key).await,
                Backend::S3(s) => s.exists("exists", key).await,
            }
        };
        counted("exists", result.await)
    }

    /// Deletes the object at `key`; `Ok` when there is none.
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let result = async {
            check_key(key)?;
            match &*self.inner {
                Backend::Local(l) => l.delete(key).await,
                Backend::S3(s) => s.delete("delete", key).await,
            }
        };
        counted("delete", result.await)
    }

    /// Every object whose key starts with `prefix` (which need not end at a `/`), sorted by key.
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let result = async {
            check_prefix(prefix)?;
            match &*self.inner {
                Backend::Local(l) => l.list(prefix).await,
                Backend::S3(s) => s.list(prefix).await,
            }
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

// ---------------------------------------------------------------------------------------------------
// Local folder

#[derive(Debug)]
struct Local {
    root: PathBuf,
    name: String,
}

impl Local {
    async fn open(path: &Path) -> Result<Self, StoreError> {
        tokio::fs::create_dir_all(path)
            .await
            .map_err(|e| StoreError::io("create store folder", path, e))?;
        let root = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| StoreError::io("resolve store folder", path, e))?;
        let name = format!("file://{}", root.display());
        Ok(Self { root, name })
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let root = self.root.clone();
        let key = key.to_owned();
        blocking(move || put_file(&root, &key, &body)).await
    }

    async fn promote(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let root = self.root.clone();
        let (from, to) = (from.to_owned(), to.to_owned());
        let name = self.name.clone();
        blocking(move || rename_file(&root, &name, &from, &to)).await
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let path = key_path(&self.root, key);
        tokio::fs::read(&path).await.map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StoreError::NotFound {
                store: self.name.clone(),
                key: key.to_owned(),
            },
            _ => StoreError::io("read", &path, e),
        })
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        let path = key_path(&self.root, key);
        match tokio::fs::metadata(&path).await {
            Ok(m) => Ok(m.is_file()),
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(false),
            Err(e) => Err(StoreError::io("stat", &path, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let path = key_path(&self.root, key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(()),
            Err(e) => Err(StoreError::io("delete", &path, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        blocking(move || list_files(&root, &prefix)).await
    }
}

/// Runs blocking file IO off the async reactor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Io {
        op: "run blocking file task",
        path: PathBuf::new(),
        source: io::Error::other(e),
    })?
}

/// The path of a checked key (or of a prefix's folders) below `root`.
fn key_path(root: &Path, key: &str) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(key.split('/').filter(|s| !s.is_empty()));
    path
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("sync folder", dir, e))
}

/// Creates the folders from `root` down to `dir`, syncing each new folder's parent so that the
/// folder itself survives a crash.
fn create_dirs(root: &Path, dir: &Path) -> Result<(), StoreError> {
    let rel = dir.strip_prefix(root).expect("key paths are below the root");
    let mut current = root.to_path_buf();
    for part in rel.components() {
        let parent = current.clone();
        current.push(part);
        match std::fs::create_dir(&current) {
            Ok(()) => sync_dir(&parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io("create folder", &current, e)),
        }
    }
    Ok(())
}

/// Writes a temp file next to the target, syncs it, renames it over the target and syncs the folder.
fn put_file(root: &Path, key: &str, body: &[u8]) -> Result<(), StoreError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let target = key_path(root, key);
    let dir = target.parent().expect("a key has at least one segment");
    create_dirs(root, dir)?;
    let name = key.rsplit('/').next().unwrap_or(key);
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{:016x}-{}-{name}",
        random_u64(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::File::create_new(&tmp)
        .and_then(|mut f| {
            f.write_all(body)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &target));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io("write", &target, e));
    }
    sync_dir(dir)
}

fn rename_file(root: &Path, store: &str, from: &str, to: &str) -> Result<(), StoreError> {
    let src = key_path(root, from);
    let dst = key_path(root, to);
    let dst_dir = dst.parent().expect("a key has at least one segment");
    create_dirs(root, dst_dir)?;
    match std::fs::rename(&src, &dst) {
        Ok(()) => {
            sync_dir(dst_dir)?;
            let src_dir = src.parent().expect("a key has at least one segment");
            if src_dir != dst_dir {
                sync_dir(src_dir)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if dst.is_file() {
                Ok(())
            } else {
                Err(StoreError::NotFound {
                    store: store.to_owned(),
                    key: from.to_owned(),
                })
            }
        }
        Err(e) => Err(StoreError::io("rename", &src, e)),
    }
}

/// Walks the folders that can hold keys starting with `prefix`, skipping temp files.
fn list_files(root: &Path, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
    let folders = prefix.rsplit_once('/').map_or("", |(folders, _)| folders);
    let mut out = Vec::new();
    let mut pending = vec![(key_path(root, folders), folders.to_owned())];
    while let Some((dir, rel)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => continue,
            Err(e) => return Err(StoreError::io("list", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &dir, e))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                tracing::warn!(folder = %dir.display(), name = ?file_name, "skipping a file name that is not UTF-8");
                continue;
            };
            let key = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let file_type = entry
                .file_type()
                .map_err(|e| StoreError::io("list", &entry.path(), e))?;
            if file_type.is_dir() {
                if format!("{key}/").starts_with(prefix) {
                    pending.push((entry.path(), key));
                }
            } else if file_type.is_file() && !name.starts_with(TMP_PREFIX) && key.starts_with(prefix) {
                match entry.metadata() {
                    Ok(m) => out.push(ObjectMeta { key, size: m.len() }),
                    // Promoted or deleted since the folder was read.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("list", &entry.path(), e)),
                }
            }
        }
    }
    out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

// ---------------------------------------------------------------------------------------------------
// S3

#[derive(Debug)]
struct S3 {
    client: aws_sdk_s3::Client,
    bucket: String,
    endpoint: String,
    name: String,
    multipart_threshold: u64,
    part_size: u64,
    max_attempts: u32,
    timeout: Duration,
}

/// Builds the S3 client: static credentials, our timeouts, and no SDK retries (ours are the single
/// retry layer). The one place an S3 client is constructed.
fn s3_client(config: &S3Config) -> aws_sdk_s3::Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeout = Duration::from_millis(config.timeout_ms);
    let mut builder = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new(config.region.clone()))
        .credentials_provider(Credentials::new(
            &config.access_key_id,
            &config.secret_access_key,
            None,
            None,
            "murron-config",
        ))
        .force_path_style(config.force_path_style)
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        );
    if let Some(endpoint) = &config.endpoint {
        // S3-compatible servers often lack the newer default checksums.
        builder = builder
            .endpoint_url(endpoint)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    aws_sdk_s3::Client::from_conf(builder.build())
}

impl S3 {
    async fn open(config: &S3Config) -> Result<Self, StoreError> {
        let endpoint = config
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("AWS {}", config.region));
        let name = match &config.endpoint {
            Some(e) => format!("s3://{} ({e})", config.bucket),
            None => format!("s3://{}", config.bucket),
        };
        let s3 = Self {
            client: s3_client(config),
            bucket: config.bucket.clone(),
            endpoint,
            name,
            multipart_threshold: config.multipart_threshold_bytes,
            part_size: config.part_size_bytes,
            max_attempts: config.max_attempts,
            timeout: Duration::from_millis(config.timeout_ms),
        };
        if config.create_bucket {
            s3.create_bucket(&config.region).await?;
        }
        s3.check_bucket().await?;
        Ok(s3)
    }

    async fn create_bucket(&self, region: &str) -> Result<(), StoreError> {
        let created = self
            .retry("open", &self.bucket, || async {
                let mut req = self.client.create_bucket().bucket(&self.bucket);
                if region != "us-east-1" {
                    req = req.create_bucket_configuration(
                        CreateBucketConfiguration::builder()
                            .location_constraint(BucketLocationConstraint::from(region))
                            .build(),
                    );
                }
                match req.send().await {
                    Ok(_) => Ok(()),
                    Err(e) if matches!(e.code(), Some("BucketAlreadyOwnedByYou" | "BucketAlreadyExists")) => Ok(()),
                    Err(e) => Err(self.error("open", &self.bucket, e)),
                }
            })
            .await;
        if created.is_ok() {
            tracing::info!(bucket = %self.bucket, endpoint = %self.endpoint, "bucket ready");
        }
        created
    }

    /// HeadBucket, with an error that names the bucket and the endpoint.
    async fn check_bucket(&self) -> Result<(), StoreError> {
        let checked = self
            .retry("open", &self.bucket, || async {
                self.client
                    .head_bucket()
                    .bucket(&self.bucket)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error("open", &self.bucket, e))
            })
            .await;
        checked.map_err(|e| match e {
            StoreError::NotFound { .. } => StoreError::Rejected {
                store: self.name.clone(),
                op: "open",
                key: self.bucket.clone(),
                message: format!(
                    "bucket {:?} does not exist at {} (create it, or set create_bucket = true)",
                    self.bucket, self.endpoint
                ),
            },
            StoreError::Unavailable { message, .. } => StoreError::Unavailable {
                store: self.name.clone(),
                op: "open",
                key: self.bucket.clone(),
                message: format!(
                    "bucket {:?} at {} is not reachable after {} attempts: {message}",
                    self.bucket, self.endpoint, self.max_attempts
                ),
            },
            other => other,
        })
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        if body.len() as u64 > self.multipart_threshold {
            return self.put_multipart(key, body).await;
        }
        // An in-memory body clones without copying, once per attempt.
        let body = SdkBody::from(body);
        self.retry("put", key, || async {
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .body(ByteStream::new(
                    body.try_clone().expect("an in-memory body can be cloned"),
                ))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error("put", key, e))
        })
        .await
    }

    /// Uploads `body` in parts; aborts the upload when any step fails, so no parts are left behind.
    async fn put_multipart(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        let parts = (body.len() as u64).div_ceil(self.part_size);
        if parts > MAX_PARTS {
            return Err(StoreError::Rejected {
                store: self.name.clone(),
                op: "put",
                key: key.to_owned(),
                message: format!(
                    "{} bytes need {parts} parts of {} bytes; S3 allows {MAX_PARTS} (raise part_size_bytes)",
                    body.len(),
                    self.part_size
                ),
            });
        }
        let upload_id = self
            .retry("put", key, || async {
                let out = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| self.error("put", key, e))?;
                out.upload_id().map(str::to_owned).ok_or_else(|| StoreError::Rejected {
                    store: self.name.clone(),
                    op: "put",
                    key: key.to_owned(),
                    message: "CreateMultipartUpload returned no upload id".into(),
                })
            })
            .await?;
        let uploaded = self.upload_parts(key, &upload_id, &body).await;
        if let Err(e) = &uploaded {
            let aborted = self
                .retry("put", key, || async {
                    self.client
                        .abort_multipart_upload()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(&upload_id)
                        .send()
                        .await
                        .map(|_| ())
                        .map_err(|e| self.error("put", key, e))
                })
                .await;
            if let Err(abort) = aborted {
                tracing::warn!(key, upload_id, error = %e, abort_error = %abort, "multipart upload failed and could not be aborted; its parts stay until a bucket lifecycle rule removes them");
            }
        }
        uploaded
    }

    async fn upload_parts(&self, key: &str, upload_id: &str, body: &[u8]) -> Result<(), StoreError> {
        let part_size = usize::try_from(self.part_size).expect("part size is at most 5 GiB");
        let mut completed = Vec::new();
        for (i, chunk) in body.chunks(part_size).enumerate() {
            let number = i32::try_from(i + 1).expect("at most 10 000 parts");
            // One copy per part, made when the part is sent, so at most one part is duplicated at a time.
            let part = SdkBody::from(chunk.to_vec());
            let etag = self
                .retry("put", key, || async {
                    let out = self
                        .client
                        .upload_part()
                        .bucket(&self.bucket)
                        .key(key)
                        .upload_id(upload_id)
                        .part_number(number)
                        .body(ByteStream::new(
                            part.try_clone().expect("an in-memory body can be cloned"),
                        ))
                        .send()
                        .await
                        .map_err(|e| self.error("put", key, e))?;
                    out.e_tag().map(str::to_owned).ok_or_else(|| StoreError::Rejected {
                        store: self.name.clone(),
                        op: "put",
                        key: key.to_owned(),
                        message: format!("UploadPart {number} returned no ETag"),
                    })
                })
                .await?;
            completed.push(CompletedPart::builder().part_number(number).e_tag(etag).build());
        }
        let upload = CompletedMultipartUpload::builder().set_parts(Some(completed)).build();
        self.retry("put", key, || async {
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .multipart_upload(upload.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| self.error("put", key, e))
        })
        .await
    }

    /// CopyObject then DeleteObject. A missing source with an existing target means a previous
    /// attempt got past the copy.
    async fn promote(&self, from: &str, to: &str) -> Result<(), StoreError> {
        let source = copy_source(&self.bucket, from);
        let copied = self
            .retry("promote", from, || async {
                self.client
                    .copy_object()
                    .bucket(&self.bucket)
                    .key(to)
                    .copy_source(&source)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error("promote", from, e))
            })
            .await;
        match copied {
            Ok(()) => self.delete("promote", from).await,
            Err(e @ StoreError::NotFound { .. }) => match self.exists("promote", to).await? {
                true => Ok(()),
                false => Err(e),
            },
            Err(e) => Err(e),
        }
    }

    async fn get(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        self.retry("get", key, || async {
            let out = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
                .map_err(|e| self.error("get", key, e))?;
            // The SDK's timeout ends when the response headers arrive; this bounds reading the body.
            let unavailable = |message: String| StoreError::Unavailable {
                store: self.name.clone(),
                op: "get",
                key: key.to_owned(),
                message,
            };
            match tokio::time::timeout(self.timeout, out.body.collect()).await {
                // `AggregatedBytes::to_vec` collects byte by byte; joining the chunks copies each once.
                Ok(Ok(body)) => Ok(body.into_bytes().into()),
                Ok(Err(e)) => Err(unavailable(format!("reading the body: {}", error_chain(&e)))),
                Err(_) => Err(unavailable(format!(
                    "reading the body took more than {:?}",
                    self.timeout
                ))),
            }
        })
        .await
    }

    async fn exists(&self, op: &'static str, key: &str) -> Result<bool, StoreError> {
        let head = self
            .retry(op, key, || async {
                self.client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error(op, key, e))
            })
            .await;
        match head {
            Ok(()) => Ok(true),
            Err(StoreError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn delete(&self, op: &'static str, key: &str) -> Result<(), StoreError> {
        let deleted = self
            .retry(op, key, || async {
                self.client
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.error(op, key, e))
            })
            .await;
        match deleted {
            Err(StoreError::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .retry("list", prefix, || async {
                    self.client
                        .list_objects_v2()
                        .bucket(&self.bucket)
                        .set_prefix((!prefix.is_empty()).then(|| prefix.to_owned()))
                        .set_continuation_token(token.clone())
                        .send()
                        .await
                        .map_err(|e| self.error("list", prefix, e))
                })
                .await?;
            out.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectMeta {
                    key: o.key()?.to_owned(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                })
            }));
            match (page.is_truncated(), page.next_continuation_token()) {
                (Some(true), Some(next)) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Runs `attempt` up to `max_attempts` times with jittered exponential backoff, retrying only
    /// errors that say it can help. Every retry is counted and logged.
    async fn retry<T, Fut>(&self, op: &'static str, key: &str, attempt: impl FnMut() -> Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(self.max_attempts.saturating_sub(1) as usize)
            .with_jitter()
            // backon is built without `std`, so without a seed every worker would jitter alike.
            .with_jitter_seed(random_u64());
        let mut failed = 0u32;
        attempt
            .retry(backoff)
            .when(StoreError::is_retryable)
            .notify(|e: &StoreError, delay: Duration| {
                failed += 1;
                metrics::counter!("murron_sink_store_retries_total", "op" => op).increment(1);
                tracing::warn!(op, key, attempt = failed, error = %e, retry_in = ?delay, "object store request failed; retrying");
            })
            .await
    }

    /// Classifies an SDK error: timeouts, connection failures, 5xx and throttling are retryable; a
    /// 404 is `NotFound` (unless the bucket or upload is what is missing); the rest is `Rejected`.
    fn error<E>(&self, op: &'static str, key: &str, err: SdkError<E, HttpResponse>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_owned);
        let retryable = match &err {
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
            SdkError::DispatchFailure(d) => !d.is_user(),
            SdkError::ConstructionFailure(_) => false,
            SdkError::ServiceError(_) => {
                matches!(status, Some(s) if s >= 500 || s == 429)
                    || matches!(
                        code.as_deref(),
                        Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestTimeout" | "InternalError")
                    )
            }
            _ => false,
        };
        if status == Some(404) && !matches!(code.as_deref(), Some("NoSuchBucket" | "NoSuchUpload")) {
            return StoreError::NotFound {
                store: self.name.clone(),
                key: key.to_owned(),
            };
        }
        let message = match status {
            Some(s) => format!("HTTP {s}: {}", error_chain(&err)),
            None => error_chain(&err),
        };
        let (store, key) = (self.name.clone(), key.to_owned());
        if retryable {
            StoreError::Unavailable {
                store,
                op,
                key,
                message,
            }
        } else {
            StoreError::Rejected {
                store,
                op,
                key,
                message,
            }
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

/// The `x-amz-copy-source` value: `bucket/key` with the key percent-encoded except `/`.
fn copy_source(bucket: &str, key: &str) -> String {
    let mut out = String::with_capacity(bucket.len() + 1 + key.len() * 3);
    out.push_str(bucket);
    out.push('/');
    for &b in key.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder removed when the test ends.
    struct TempDir(PathBuf);

    impl std::ops::Deref for TempDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn local_store() -> (ObjectStore, TempDir) {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "murron-object-store-{}-{}-{:x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            random_u64()
        ));
        let store = ObjectStore::open(&StoreConfig::Local(LocalConfig { path: dir.clone() }))
            .await
            .unwrap();
        (store, TempDir(dir))
    }

    fn keys(listed: &[ObjectMeta]) -> Vec<&str> {
        listed.iter().map(|o| o.key.as_str()).collect()
    }

    #[tokio::test]
    async fn put_then_get_returns_the_bytes_and_put_replaces() {
        let (store, _dir) = local_store().await;
        store.put("a/b/c.json", b"one".to_vec()).await.unwrap();
        assert_eq!(store.get("a/b/c.json").await.unwrap(), b"one");
        store.put("a/b/c.json", b"two!".to_vec()).await.unwrap();
        assert_eq!(store.get("a/b/c.json").await.unwrap(), b"two!");
        assert!(store.exists("a/b/c.json").await.unwrap());
        assert!(!store.exists("a/b").await.unwrap(), "a folder is not an object");
    }

    #[tokio::test]
    async fn missing_object_is_not_found_and_not_retryable() {
        let (store, _dir) = local_store().await;
        let err = store.get("nope/x").await.unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { ref key, .. } if key == "nope/x"),
            "{err}"
        );
        assert!(!err.is_retryable());
        assert!(!store.exists("nope/x").await.unwrap());
    }

    #[tokio::test]
    async fn describe_is_an_absolute_file_url() {
        let (store, dir) = local_store().await;
        let name = store.describe();
        assert!(name.starts_with("file:///"), "{name}");
        assert_eq!(
            name,
            format!("file://{}", std::fs::canonicalize(&*dir).unwrap().display())
        );
    }

    #[tokio::test]
    async fn list_is_sorted_filtered_by_prefix_and_skips_temp_files() {
        let (store, dir) = local_store().await;
        for key in [
            "dt=2/b.json",
            "dt=1/z.json",
            "dt=1/a.json",
            "dt=10/a.json",
            "other/a.json",
        ] {
            store.put(key, key.as_bytes().to_vec()).await.unwrap();
        }
        // A put in flight (or left by a crash) is not an object.
        std::fs::write(dir.join("dt=1").join(".tmp-123-c.json"), b"partial").unwrap();

        let all = store.list("").await.unwrap();
        assert_eq!(
            keys(&all),
            [
                "dt=1/a.json",
                "dt=1/z.json",
                "dt=10/a.json",
                "dt=2/b.json",
                "other/a.json"
            ]
        );
        assert_eq!(all[0].size, "dt=1/a.json".len() as u64);
        assert_eq!(
            keys(&store.list("dt=1/").await.unwrap()),
            ["dt=1/a.json", "dt=1/z.json"]
        );
        assert_eq!(
            keys(&store.list("dt=1").await.unwrap()),
            ["dt=1/a.json", "dt=1/z.json", "dt=10/a.json"]
        );
        assert_eq!(keys(&store.list("dt=1/z").await.unwrap()), ["dt=1/z.json"]);
        assert!(store.list("missing/").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn promote_moves_the_object_and_repeating_it_is_ok() {
        let (store, _dir) = local_store().await;
        store.put("_staging/1/f.parquet", b"data".to_vec()).await.unwrap();
        store
            .promote("_staging/1/f.parquet", "events/t/dt=1/f.parquet")
            .await
            .unwrap();
        assert_eq!(store.get("events/t/dt=1/f.parquet").await.unwrap(), b"data");
        assert!(!store.exists("_staging/1/f.parquet").await.unwrap());
        // A restarted worker repeats the promotion: it finds it done.
        store
            .promote("_staging/1/f.parquet", "events/t/dt=1/f.parquet")
            .await
            .unwrap();
        assert_eq!(store.get("events/t/dt=1/f.parquet").await.unwrap(), b"data");
    }

    #[tokio::test]
    async fn promote_with_neither_source_nor_target_is_not_found() {
        let (store, _dir) = local_store().await;
        let err = store.promote("_staging/x", "final/x").await.unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { ref key, .. } if key == "_staging/x"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn delete_removes_the_object_and_a_missing_one_is_ok() {
        let (store, _dir) = local_store().await;
        store.put("a/b", b"x".to_vec()).await.unwrap();
        store.delete("a/b").await.unwrap();
        assert!(!store.exists("a/b").await.unwrap());
        store.delete("a/b").await.unwrap();
        store.delete("never/was").await.unwrap();
    }

    #[tokio::test]
    async fn keys_that_could_escape_the_root_or_hide_are_rejected() {
        let (store, _dir) = local_store().await;
        for key in [
            "",
            "/etc/passwd",
            "a//b",
            "a/",
            "..",
            "../x",
            "a/../../x",
            "./a",
            "a/.",
            "a/.tmp-x",
            "a\0b",
        ] {
            let err = store.put(key, b"x".to_vec()).await.unwrap_err();
            assert!(matches!(err, StoreError::InvalidKey { .. }), "{key:?}: {err}");
            assert!(!err.is_retryable());
            assert!(
                matches!(store.get(key).await, Err(StoreError::InvalidKey { .. })),
                "{key:?}"
            );
            assert!(
                matches!(store.promote("ok", key).await, Err(StoreError::InvalidKey { .. })),
                "{key:?}"
            );
        }
        for prefix in ["/", "../", "a/../", "a//"] {
            assert!(
                matches!(store.list(prefix).await, Err(StoreError::InvalidKey { .. })),
                "{prefix:?}"
            );
        }
        // A temp-file prefix is fine in folder names and list prefixes.
        store.put(".tmp-dir/a", b"x".to_vec()).await.unwrap();
        assert_eq!(keys(&store.list(".tmp-").await.unwrap()), [".tmp-dir/a"]);
    }

    #[test]
    fn s3_config_has_defaults_and_rejects_unknown_fields() {
        let config: StoreConfig =
            serde_json::from_str(r#"{"kind": "s3", "bucket": "b", "access_key_id": "k", "secret_access_key": "s"}"#)
                .unwrap();
        let StoreConfig::S3(s3) = &config else {
            panic!("{config:?}")
        };
        assert_eq!(s3.region, "us-east-1");
        assert!(s3.force_path_style);
        assert_eq!(s3.multipart_threshold_bytes, 16 * MIB);
        assert_eq!(s3.part_size_bytes, 8 * MIB);
        assert_eq!((s3.max_attempts, s3.timeout_ms, s3.create_bucket), (8, 30_000, false));
        assert_eq!(s3.endpoint, None);
        config.validate().unwrap();

        let err = serde_json::from_str::<StoreConfig>(r#"{"kind": "s3", "bucket": "b", "buckt": "c"}"#).unwrap_err();
        assert!(err.to_string().contains("buckt"), "{err}");
        let local: StoreConfig = serde_json::from_str(r#"{"kind": "local", "path": "./data"}"#).unwrap();
        assert!(matches!(local, StoreConfig::Local(LocalConfig { ref path }) if path == Path::new("./data")));
    }

    #[test]
    fn s3_config_validation_names_the_key() {
        let mut c = S3Config::new("b");
        c.access_key_id = "k".into();
        c.secret_access_key = "s".into();
        c.validate().unwrap();
        c.part_size_bytes = MIB;
        assert_eq!(c.validate().unwrap_err().0, "part_size_bytes");
        c.part_size_bytes = 5 * MIB;
        c.max_attempts = 0;
        assert_eq!(c.validate().unwrap_err().0, "max_attempts");
        c.max_attempts = 1;
        c.secret_access_key.clear();
        assert_eq!(c.validate().unwrap_err().0, "secret_access_key");
    }

    #[test]
    fn debug_output_hides_the_secret_key() {
        let mut c = S3Config::new("b");
        c.secret_access_key = "hunter2".into();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn copy_source_percent_encodes_the_key_but_not_slashes() {
        assert_eq!(
            copy_source("bkt", "events/t/dt=2026-11-26/hr=03/a b+c%.parquet"),
            "bkt/events/t/dt%3D2026-11-26/hr%3D03/a%20b%2Bc%25.parquet"
        );
        assert_eq!(copy_source("bkt", "é"), "bkt/%C3%A9");
    }

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
