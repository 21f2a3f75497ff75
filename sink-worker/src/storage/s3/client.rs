//! The one place an S3 client is built: our HTTP client (rustls with ring), our timeouts, no SDK
//! retries, and credentials from one of two places:
//!
//! - **static keys**, when the store config sets `access_key_id` and `secret_access_key`;
//! - otherwise **the AWS SDK's default credential chain** (`aws-config`), first source that has
//!   credentials wins: the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//!   `AWS_SESSION_TOKEN`), the shared profile files (`AWS_PROFILE`, `AWS_CONFIG_FILE`,
//!   `AWS_SHARED_CREDENTIALS_FILE`; static keys, `role_arn` with `source_profile`,
//!   `web_identity_token_file`), a web identity token (`AWS_WEB_IDENTITY_TOKEN_FILE` with
//!   `AWS_ROLE_ARN`: IRSA), container credentials (ECS task roles, EKS Pod Identity) and the EC2
//!   instance metadata service. Temporary credentials are cached and refreshed by the SDK.
//!
//! The region is the config's `region`, else `AWS_REGION`/`AWS_DEFAULT_REGION`, else the profile's,
//! else (only when talking to AWS, not to an `endpoint`) the instance metadata's, else `us-east-1`.

use std::time::Duration;

use aws_config::default_provider::credentials::DefaultCredentialsChain;
use aws_config::environment::region::EnvironmentVariableRegionProvider;
use aws_config::imds::region::ImdsRegionProvider;
use aws_config::meta::region::RegionProviderChain;
use aws_config::profile::ProfileFileRegionProvider;
use aws_config::provider_config::ProviderConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    Credentials, ProvideCredentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider, SharedHttpClient,
};

use crate::config::storage::S3Config;
use crate::storage::{StoreError, error_chain};

/// The region S3-compatible servers expect when none is configured, and AWS's default.
const FALLBACK_REGION: &str = "us-east-1";

/// A built client and where its credentials come from.
#[derive(Debug, Clone)]
pub struct S3Client {
    pub client: aws_sdk_s3::Client,
    pub region: String,
    credentials: SharedCredentialsProvider,
    /// The static key id, or `None` for the default chain.
    static_key_id: Option<String>,
}

impl S3Client {
    /// Builds the client. Resolves the region (see the module doc) but not yet the credentials:
    /// [`S3Client::credential_source`] does that.
    pub async fn build(config: &S3Config) -> Self {
        let http = http_client();
        let timeout = Duration::from_millis(config.timeout_ms);
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .operation_attempt_timeout(timeout)
            .operation_timeout(timeout)
            .build();
        let providers = ProviderConfig::without_region()
            .with_http_client(http.clone())
            .with_timeout_config(timeouts.clone());
        let region = region(config, &providers).await;
        let (credentials, static_key_id) = match config.static_keys() {
            Some((key, secret)) => (
                SharedCredentialsProvider::new(Credentials::new(key, secret, None, None, "murron-config")),
                Some(key.to_owned()),
            ),
            None => {
                let chain = DefaultCredentialsChain::builder()
                    .configure(providers.with_region(Some(region.clone())))
                    // Set, so that building the chain does not look the region up again.
                    .region(region.clone())
                    .build()
                    .await;
                (SharedCredentialsProvider::new(chain), None)
            }
        };
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version_latest()
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .force_path_style(config.force_path_style)
            .http_client(http)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(endpoint) = &config.endpoint {
            // S3-compatible servers often lack the newer default checksums.
            builder = builder
                .endpoint_url(endpoint)
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        Self {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            region: region.to_string(),
            credentials,
            static_key_id,
        }
    }

    /// Resolves the credentials once and names their source for logs and error messages, e.g.
    /// `static keys from the config (access_key_id "AKIA…")` or `the default credential chain
    /// (WebIdentityToken)`; never the secret. An error says why no credentials could be had and
    /// whether trying again can help.
    pub async fn credential_source(&self, store: &str, bucket: &str) -> Result<String, StoreError> {
        if let Some(key_id) = &self.static_key_id {
            return Ok(format!("static keys from the config (access_key_id {key_id:?})"));
        }
        match self.credentials.provide_credentials().await {
            Ok(credentials) => Ok(format!(
                "the default credential chain ({})",
                provider_name(&credentials)
            )),
            Err(e) => Err(chain_error(store, bucket, &e)),
        }
    }
}

/// HTTPS with rustls and ring, for S3 and for the credential providers (STS, container, IMDS).
fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// The config's region, else the environment's, else the profile's, else (for AWS only: an
/// S3-compatible server has no instance metadata to ask) the instance metadata's, else us-east-1.
async fn region(config: &S3Config, providers: &ProviderConfig) -> Region {
    if let Some(region) = &config.region {
        return Region::new(region.clone());
    }
    let mut chain = RegionProviderChain::first_try(EnvironmentVariableRegionProvider::new())
        .or_else(ProfileFileRegionProvider::builder().configure(providers).build());
    if config.endpoint.is_none() {
        chain = chain.or_else(ImdsRegionProvider::builder().configure(providers).build());
    }
    chain
        .or_else(Region::from_static(FALLBACK_REGION))
        .region()
        .await
        .unwrap_or(Region::from_static(FALLBACK_REGION))
}

/// The name of the chain's source that provided `credentials` (`EnvironmentVariable`,
/// `ProfileFile`, `WebIdentityToken`, `EcsContainer`, `IMDSv2`, ...). `Credentials` has no accessor
/// for it, but its `Debug` output (which redacts the secret) starts with it; a unit test pins that.
fn provider_name(credentials: &Credentials) -> String {
    let shown = format!("{credentials:?}");
    shown
        .split_once("provider_name: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or_else(|| "unknown source".to_owned(), |(name, _)| name.to_owned())
}

/// A failure of the default chain as a store error: no source configured is a config problem; a
/// source that failed (STS or the metadata service unreachable or refusing) may succeed later.
fn chain_error(store: &str, bucket: &str, err: &CredentialsError) -> StoreError {
    let (store, key, op) = (store.to_owned(), bucket.to_owned(), "open");
    match err {
        CredentialsError::CredentialsNotLoaded(_) => StoreError::Rejected {
            store,
            op,
            key,
            message: format!(
                "no S3 credentials: access_key_id and secret_access_key are not set, and no source of the \
                 default credential chain (environment, profile files, web identity token, container \
                 credentials, instance metadata) has any: {}",
                error_chain(err)
            ),
        },
        CredentialsError::InvalidConfiguration(_) => StoreError::Rejected {
            store,
            op,
            key,
            message: format!("the default credential chain is misconfigured: {}", error_chain(err)),
        },
        _ => StoreError::Unavailable {
            store,
            op,
            key,
            message: format!("the default credential chain failed: {}", error_chain(err)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_name_is_read_from_the_credentials_without_the_secret() {
        let credentials = Credentials::new("AKID", "hunter2", Some("token".into()), None, "WebIdentityToken");
        assert_eq!(provider_name(&credentials), "WebIdentityToken");
        assert!(!format!("{credentials:?}").contains("hunter2"));
    }

    #[test]
    fn no_credentials_anywhere_is_a_config_error_that_names_the_sources() {
        let err = chain_error(
            "s3://b",
            "b",
            &CredentialsError::not_loaded("no providers in chain provided credentials"),
        );
        assert!(!err.is_retryable());
        let text = err.to_string();
        assert!(
            text.contains("access_key_id") && text.contains("web identity token"),
            "{text}"
        );
        let err = chain_error(
            "s3://b",
            "b",
            &CredentialsError::provider_error("STS: connection refused"),
        );
        assert!(err.is_retryable());
        assert!(err.to_string().contains("connection refused"), "{err}");
    }

    #[tokio::test]
    async fn the_configured_region_is_the_clients() {
        let mut config = S3Config::new("b");
        config.region = Some("eu-west-3".into());
        config.access_key_id = "k".into();
        config.secret_access_key = "s".into();
        assert_eq!(S3Client::build(&config).await.region, "eu-west-3");
    }
}
