//! The S3 implementation of [`Storage`], for AWS or an S3-compatible server; the client and its
//! credentials come from [`client`].
//!
//! Objects above `multipart_threshold_bytes` go up as a multipart upload that is aborted when any
//! step fails; promote is CopyObject then DeleteObject, since S3 has no rename. Every request goes
//! through `S3::retry`, the one retry layer (bounded, jittered, only for errors that say retrying can
//! help); the SDK's own retries are disabled.

use std::future::Future;
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, SdkBody};
use aws_sdk_s3::types::{BucketLocationConstraint, CompletedMultipartUpload, CompletedPart, CreateBucketConfiguration};
use backon::{ExponentialBuilder, Retryable};

pub use self::client::S3Client;
use super::{ObjectMeta, Storage, StoreError, StoreFuture, error_chain, random_u64};
use crate::config::storage::S3Config;

pub mod client;

/// S3 limit: an upload has at most 10 000 parts (the part sizes are in [`crate::config::storage`]).
const MAX_PARTS: u64 = 10_000;

/// A bucket and the client that reaches it.
#[derive(Debug)]
pub(super) struct S3 {
    client: aws_sdk_s3::Client,
    bucket: String,
    endpoint: String,
    name: String,
    multipart_threshold: u64,
    part_size: u64,
    max_attempts: u32,
    timeout: Duration,
}

impl S3 {
    /// Builds the client, resolves its credentials, creates the bucket when `create_bucket` is set,
    /// and checks that the bucket is reachable. Errors name the credentials' source.
    pub(super) async fn open(config: &S3Config) -> Result<Self, StoreError> {
        let client = S3Client::build(config).await;
        let endpoint = config
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("AWS {}", client.region));
        let name = match &config.endpoint {
            Some(e) => format!("s3://{} ({e})", config.bucket),
            None => format!("s3://{}", config.bucket),
        };
        let s3 = Self {
            client: client.client.clone(),
            bucket: config.bucket.clone(),
            endpoint,
            name,
            multipart_threshold: config.multipart_threshold_bytes,
            part_size: config.part_size_bytes,
            max_attempts: config.max_attempts,
            timeout: Duration::from_millis(config.timeout_ms),
        };
        let credentials = s3
            .retry("open", &s3.bucket, || client.credential_source(&s3.name, &s3.bucket))
            .await?;
        let with_source = |e: StoreError| with_credential_source(e, &credentials);
        if config.create_bucket {
            s3.create_bucket(&client.region).await.map_err(with_source)?;
        }
        s3.check_bucket().await.map_err(with_source)?;
        tracing::info!(store = %s3.name, %credentials, "S3 store open");
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

    /// HeadObject: whether the object exists. `op` names the caller's operation in errors.
    async fn head_object(&self, op: &'static str, key: &str) -> Result<bool, StoreError> {
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

    /// DeleteObject; `Ok` when there is nothing to delete. `op` names the caller's operation in errors.
    async fn delete_object(&self, op: &'static str, key: &str) -> Result<(), StoreError> {
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

impl Storage for S3 {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
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
        })
    }

    /// CopyObject then DeleteObject. A missing source with an existing target means a previous
    /// attempt got past the copy.
    fn promote<'a>(&'a self, from: &'a str, to: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
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
                Ok(()) => self.delete_object("promote", from).await,
                Err(e @ StoreError::NotFound { .. }) => match self.head_object("promote", to).await? {
                    true => Ok(()),
                    false => Err(e),
                },
                Err(e) => Err(e),
            }
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Vec<u8>> {
        Box::pin(async move {
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
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(self.head_object("exists", key))
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(self.delete_object("delete", key))
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>> {
        Box::pin(async move {
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
                        modified: o.last_modified().and_then(|t| std::time::SystemTime::try_from(*t).ok()),
                    })
                }));
                match (page.is_truncated(), page.next_continuation_token()) {
                    (Some(true), Some(next)) => token = Some(next.to_owned()),
                    _ => break,
                }
            }
            out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
            Ok(out)
        })
    }
}

/// Adds where the credentials came from to a refusal, the likely cause of an HTTP 403.
fn with_credential_source(err: StoreError, source: &str) -> StoreError {
    match err {
        StoreError::Rejected {
            store,
            op,
            key,
            message,
        } => StoreError::Rejected {
            store,
            op,
            key,
            message: format!("{message} (credentials: {source})"),
        },
        other => other,
    }
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
    use std::path::Path;

    use super::*;
    use crate::config::storage::{LocalConfig, MIB, StoreConfig};

    #[test]
    fn s3_config_has_defaults_and_rejects_unknown_fields() {
        let config: StoreConfig =
            serde_json::from_str(r#"{"kind": "s3", "bucket": "b", "access_key_id": "k", "secret_access_key": "s"}"#)
                .unwrap();
        let StoreConfig::S3(s3) = &config else {
            panic!("{config:?}")
        };
        assert_eq!(s3.region, None);
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
    fn s3_config_without_keys_is_valid_and_uses_the_default_chain() {
        let c = S3Config::new("b");
        c.validate().unwrap();
        assert_eq!(c.static_keys(), None);
    }

    #[test]
    fn s3_config_validation_names_the_key() {
        let mut c = S3Config::new("b");
        c.access_key_id = "k".into();
        c.secret_access_key = "s".into();
        c.validate().unwrap();
        assert_eq!(c.static_keys(), Some(("k", "s")));
        c.region = Some(String::new());
        assert_eq!(c.validate().unwrap_err().0, "region");
        c.region = None;
        c.part_size_bytes = MIB;
        assert_eq!(c.validate().unwrap_err().0, "part_size_bytes");
        c.part_size_bytes = 5 * MIB;
        c.max_attempts = 0;
        assert_eq!(c.validate().unwrap_err().0, "max_attempts");
        c.max_attempts = 1;
        c.secret_access_key.clear();
        assert_eq!(c.validate().unwrap_err().0, "secret_access_key");
        c.access_key_id.clear();
        c.secret_access_key = "s".into();
        let (key, reason) = c.validate().unwrap_err();
        assert_eq!(key, "access_key_id");
        assert!(reason.contains("default credential chain"), "{reason}");
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
}
