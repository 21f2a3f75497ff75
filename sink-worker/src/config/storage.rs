//! Settings of the object stores (a local folder or S3) that file outputs, dead letters and the raw
//! archive write to; [`crate::storage`] opens them.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub const MIB: u64 = 1024 * 1024;
/// S3 limits: every part but the last is at least 5 MiB and at most 5 GiB.
pub const MIN_PART_BYTES: u64 = 5 * MIB;
pub const MAX_PART_BYTES: u64 = 5 * 1024 * MIB;

/// Configuration of one store, tagged by `kind` (`local` or `s3`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum StoreConfig {
    Local(LocalConfig),
    S3(S3Config),
}

impl StoreConfig {
    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        match self {
            StoreConfig::Local(c) => c.validate(),
            StoreConfig::S3(c) => c.validate(),
        }
    }
}

/// A folder on a local (or mounted) file system.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Root folder of the store; created if missing.
    pub path: PathBuf,
}

impl LocalConfig {
    /// Checks what serde cannot; the error names the key.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.path.as_os_str().is_empty() {
            return Err(("path", "must not be empty".into()));
        }
        Ok(())
    }
}

/// An S3 bucket, on AWS or an S3-compatible server.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    /// Endpoint URL of an S3-compatible server, e.g. `http://127.0.0.1:9000`; unset means AWS.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Unset: `AWS_REGION`, the profile's, the instance metadata's (AWS only), else `us-east-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Static keys: both set, or both empty to take credentials from the AWS SDK's default chain
    /// (environment, profile files, web identity/IRSA, container/Pod Identity, instance metadata).
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
    /// The static keys, when the config sets them; `None` means the default credential chain.
    pub fn static_keys(&self) -> Option<(&str, &str)> {
        (!self.access_key_id.is_empty()).then_some((self.access_key_id.as_str(), self.secret_access_key.as_str()))
    }

    /// An S3 config for `bucket` with every other field at its default.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            endpoint: None,
            region: None,
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
        if self.region.as_ref().is_some_and(String::is_empty) {
            return Err((
                "region",
                "must not be empty (omit it to take the region from AWS_REGION)".into(),
            ));
        }
        // Half a key pair is a mistake, not a request for the default chain.
        let both = "static keys need both access_key_id and secret_access_key; set neither to use the \
                    default credential chain";
        match (self.access_key_id.is_empty(), self.secret_access_key.is_empty()) {
            (true, false) => return Err(("access_key_id", format!("is empty: {both}"))),
            (false, true) => return Err(("secret_access_key", format!("is empty: {both}"))),
            _ => {}
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
