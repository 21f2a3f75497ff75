//! S3 credentials from the AWS SDK's default chain, end to end: the real `sink-worker` binary
//! (`gen --archive`, which opens the archive store and writes to it) against the stack's S3 server,
//! with no keys in its config and each source of the chain set up in turn: the environment, a
//! profile file, a web identity token exchanged at a local STS stand-in (IRSA), and a container
//! credentials endpoint (EKS Pod Identity). Wrong or missing credentials fail at start-up with a
//! message that names the source.
//!
//! Every run gets a clean AWS environment (none of the test process's `AWS_*`, no profile files,
//! instance metadata off), so only the source under test can answer and nothing leaves loopback.

mod common;

use std::path::PathBuf;
use std::process::Output;
use std::sync::{Arc, Mutex};

use common::Registry;
use sink_worker::storage::ObjectStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEYS: [(&str, &str); 1] = [("default", "s3cret")];
const BILLING: &str = "billing.member_active";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/murron-sink";

/// A registry with one type, a topic, a bucket, and a config whose archive is that bucket with no
/// keys in it.
struct Case {
    registry: Registry,
    topic: String,
    bucket: String,
    dir: PathBuf,
    config: PathBuf,
}

impl Case {
    async fn new() -> Case {
        common::require_service("Kafka", &common::kafka_brokers());
        common::require_service("S3 server", &common::s3_endpoint());
        let registry = Registry::start().await;
        registry.register_file(BILLING, "billing/member_active.avsc").await;
        let topic = common::unique("events.creds");
        let bucket = common::unique("creds").replace('.', "-").to_lowercase();
        let dir = std::env::temp_dir().join(common::unique("murron-creds"));
        std::fs::create_dir_all(&dir).expect("test dir");
        let config = dir.join("sink.toml");
        // max_attempts = 1: a refusal is final anyway, and a failing run should end at once.
        let text = format!(
            r#"
[archive]
store = {{ kind = "s3", bucket = "{bucket}", endpoint = "{}", create_bucket = true, max_attempts = 1 }}
"#,
            common::s3_endpoint()
        );
        std::fs::write(&config, text).expect("write config");
        // Empty profile files, so that no profile is found unless a test writes one.
        for empty in ["no-config", "no-credentials"] {
            std::fs::write(dir.join(empty), "").expect("write profile file");
        }
        Case {
            registry,
            topic,
            bucket,
            dir,
            config,
        }
    }

    /// `sink-worker gen --archive` with a clean AWS environment plus `env`, at info level so that
    /// the log names the credentials' source.
    async fn generate(&self, env: &[(&str, &str)]) -> Output {
        let config = self.config.to_str().expect("utf-8 path");
        let mut cmd = common::sink_worker_command(
            &self.registry,
            &KEYS,
            &[
                "--config",
                config,
                "gen",
                "--topic",
                &self.topic,
                "--type",
                BILLING,
                "--count",
                "20",
                "--streams",
                "2",
                "--partitions",
                "1",
                "--archive",
            ],
        );
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(name);
            }
        }
        cmd.env("RUST_LOG", "info,rdkafka=warn")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", self.dir.join("no-config"))
            .env("AWS_SHARED_CREDENTIALS_FILE", self.dir.join("no-credentials"));
        for (name, value) in env {
            cmd.env(name, value);
        }
        // Blocking, off the runtime: the STS and container stand-ins answer on it meanwhile.
        tokio::task::spawn_blocking(move || cmd.output().expect("run sink-worker"))
            .await
            .expect("join")
    }

    /// Runs [`Case::generate`], asserts that it succeeded and logged `source`, and that the bucket
    /// now holds archive files; returns the log.
    async fn assert_archived_with(&self, env: &[(&str, &str)], source: &str) -> String {
        let out = self.generate(env).await;
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "gen failed ({}):\n{log}", out.status);
        assert!(log.contains(source), "the log does not name {source:?}:\n{log}");
        let store = ObjectStore::open(&common::s3_store(&self.bucket))
            .await
            .expect("open the bucket with the stack's keys");
        let files = store.list("archive/").await.expect("list");
        assert!(
            files.iter().any(|f| f.size > 0),
            "no archive file in {}: {files:?}",
            self.bucket
        );
        log.into_owned()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8 path").to_owned()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_credentials_write_the_archive_to_s3() {
    let case = Case::new().await;
    let (access, secret) = common::s3_credentials();
    case.assert_archived_with(
        &[("AWS_ACCESS_KEY_ID", &access), ("AWS_SECRET_ACCESS_KEY", &secret)],
        "default credential chain (EnvironmentVariable)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn profile_file_credentials_write_the_archive_to_s3() {
    let case = Case::new().await;
    let (access, secret) = common::s3_credentials();
    let credentials = case.write(
        "credentials",
        &format!("[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n[murron]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n"),
    );
    let config = case.write("config", "[profile murron]\nregion = us-east-1\n");
    case.assert_archived_with(
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", &credentials),
            ("AWS_CONFIG_FILE", &config),
            ("AWS_PROFILE", "murron"),
        ],
        "default credential chain (ProfileFile)",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn web_identity_token_is_exchanged_at_sts_and_its_credentials_write_the_archive() {
    let case = Case::new().await;
    let (access, secret) = common::s3_credentials();
    let sts = StandIn::start(
        "text/xml",
        format!(
            r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>{access}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>murron-session-token</SessionToken>
      <Expiration>2099-01-01T00:00:00Z</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <Arn>{ROLE_ARN}/murron-test</Arn>
      <AssumedRoleId>AROATEST:murron-test</AssumedRoleId>
    </AssumedRoleUser>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>murron-test</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>"#
        ),
    )
    .await;
    let token = format!("eyJ.{}.sig", common::unique("token"));
    let token_file = case.write("token", &token);
    let log = case
        .assert_archived_with(
            &[
                ("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file),
                ("AWS_ROLE_ARN", ROLE_ARN),
                ("AWS_ROLE_SESSION_NAME", "murron-test"),
                ("AWS_ENDPOINT_URL_STS", &sts.url),
            ],
            "default credential chain (WebIdentityToken)",
        )
        .await;
    assert!(!log.contains(&token), "the web identity token reached the log:\n{log}");
    let requests = sts.requests();
    let form = form_fields(requests.first().expect("STS was called").body());
    assert_eq!(
        form.get("Action").map(String::as_str),
        Some("AssumeRoleWithWebIdentity"),
        "{form:?}"
    );
    assert_eq!(form.get("RoleArn").map(String::as_str), Some(ROLE_ARN), "{form:?}");
    assert_eq!(form.get("WebIdentityToken"), Some(&token), "{form:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn container_credentials_endpoint_as_with_eks_pod_identity_writes_the_archive() {
    let case = Case::new().await;
    let (access, secret) = common::s3_credentials();
    let agent = StandIn::start(
        "application/json",
        format!(
            r#"{{"AccessKeyId": "{access}", "SecretAccessKey": "{secret}", "Token": "murron-session-token", "Expiration": "2099-01-01T00:00:00Z"}}"#
        ),
    )
    .await;
    let token = common::unique("pod-identity-token");
    let token_file = case.write("pod-token", &token);
    let log = case
        .assert_archived_with(
            &[
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    &format!("{}/v1/credentials", agent.url),
                ),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", &token_file),
            ],
            "default credential chain (EcsContainer)",
        )
        .await;
    assert!(!log.contains(&token), "the authorization token reached the log:\n{log}");
    let requests = agent.requests();
    let head = requests
        .first()
        .expect("the agent was called")
        .head()
        .to_ascii_lowercase();
    assert!(head.starts_with("get /v1/credentials "), "{head}");
    assert!(
        head.contains(&format!("authorization: {}", token.to_ascii_lowercase())),
        "{head}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_or_missing_credentials_fail_at_startup_naming_the_source() {
    let case = Case::new().await;
    let (access, _) = common::s3_credentials();
    let failure = async |env: &[(&str, &str)]| {
        let out = case.generate(env).await;
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "gen should fail cleanly:\n{log}");
        assert!(!log.contains("panicked"), "{log}");
        log
    };

    let log = failure(&[
        ("AWS_ACCESS_KEY_ID", &access),
        ("AWS_SECRET_ACCESS_KEY", "wrong-secret"),
    ])
    .await;
    assert!(log.contains("HTTP 403"), "{log}");
    assert!(
        log.contains("credentials: the default credential chain (EnvironmentVariable)"),
        "{log}"
    );

    let log = failure(&[]).await;
    assert!(log.contains("no S3 credentials"), "{log}");
    assert!(log.contains("web identity token"), "{log}");

    let static_keys = std::fs::read_to_string(&case.config).expect("config").replace(
        "max_attempts = 1",
        r#"max_attempts = 1, access_key_id = "murron-wrong", secret_access_key = "wrong""#,
    );
    std::fs::write(&case.config, static_keys).expect("write config");
    let log = failure(&[]).await;
    assert!(log.contains("HTTP 403"), "{log}");
    assert!(
        log.contains(r#"credentials: static keys from the config (access_key_id "murron-wrong")"#),
        "{log}"
    );
    assert!(!log.contains("\"wrong\""), "the secret reached the log:\n{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_identity_token_that_sts_refuses_fails_at_startup_with_the_refusal() {
    let case = Case::new().await;
    let sts = StandIn::start_with_status(
        "403 Forbidden",
        "text/xml",
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error>
  <RequestId>murron-test</RequestId>
</ErrorResponse>"#
            .into(),
    )
    .await;
    let token_file = case.write("token", "eyJ.refused.sig");
    let out = case
        .generate(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", &token_file),
            ("AWS_ROLE_ARN", ROLE_ARN),
            ("AWS_ENDPOINT_URL_STS", &sts.url),
        ])
        .await;
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "gen should fail cleanly:\n{log}");
    assert!(log.contains("the default credential chain failed"), "{log}");
    assert!(log.contains("AccessDenied"), "{log}");
    // aws-config's own warning names the source that failed.
    assert!(log.contains("provider=WebIdentityToken"), "{log}");
    assert!(!sts.requests().is_empty(), "STS was not asked");
}

/// A one-answer HTTP server on loopback standing in for STS or the Pod Identity agent: it records
/// every request and answers each with the same body.
struct StandIn {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    task: tokio::task::JoinHandle<()>,
}

/// A request as received: the head (request line and headers) and the body.
#[derive(Debug, Clone)]
struct Request(String, String);

impl Request {
    fn head(&self) -> &str {
        &self.0
    }

    fn body(&self) -> &str {
        &self.1
    }
}

impl StandIn {
    async fn start(content_type: &'static str, body: String) -> StandIn {
        Self::start_with_status("200 OK", content_type, body).await
    }

    async fn start_with_status(status: &'static str, content_type: &'static str, body: String) -> StandIn {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let request = read_request(&mut socket).await;
                seen.lock().expect("requests").push(request);
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        StandIn { url, requests, task }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().expect("requests").clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads one HTTP/1.1 request: the head, then `content-length` bytes of body.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Request {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.unwrap_or(0);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")?
                        .trim()
                        .parse()
                        .ok()
                })
                .unwrap_or(0usize);
            if buf.len() >= end + 4 + length || n == 0 {
                let body = String::from_utf8_lossy(&buf[end + 4..buf.len().min(end + 4 + length)]).into_owned();
                return Request(head, body);
            }
        } else if n == 0 {
            return Request(String::from_utf8_lossy(&buf).into_owned(), String::new());
        }
    }
}

/// The fields of an `application/x-www-form-urlencoded` body, decoded.
fn form_fields(body: &str) -> std::collections::HashMap<String, String> {
    let decode = |s: &str| {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("ascii");
                    out.push(u8::from_str_radix(hex, 16).expect("percent escape"));
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).expect("utf-8 field")
    };
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}
