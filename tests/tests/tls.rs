//! HTTPS on our own servers (`[tls]`), driven by curl with a private CA: the schema registry and the
//! reliability monitor serve their APIs over TLS, refuse plain HTTP on that port, pick up a renewed
//! certificate for new connections without a restart, and refuse to start on a key that is not the
//! certificate's. murron-server's gRPC and HTTP over TLS are in server/tests/tls.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::world::World;
use common::{ChildGuard, binary, free_port, fresh_database, unique};
use murron_tls::TlsConfig;
use murron_tls::test_ca::TestCa;

/// A directory for one test's certificates.
fn cert_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("murron-tls-e2e"));
    std::fs::create_dir_all(&dir).expect("cert dir");
    dir
}

/// curl with `ca` as its only root (`None`: plain HTTP): the body, or curl's error.
fn curl(url: &str, ca: Option<&TestCa>, dir: &Path, extra: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("curl");
    cmd.args(["--silent", "--show-error", "--fail", "--max-time", "5"])
        .args(extra);
    if let Some(ca) = ca {
        let file = dir.join(format!("{}.pem", unique("ca")));
        std::fs::write(&file, &ca.pem).expect("write CA");
        cmd.arg("--cacert").arg(file);
    }
    let out = cmd.arg(url).output().expect("run curl");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Waits until `GET url` answers over TLS with `ca`, or fails the test after `secs`.
async fn until_served(url: &str, ca: &TestCa, dir: &Path, secs: u64, child: &mut ChildGuard) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match curl(url, Some(ca), dir, &[]) {
            Ok(body) => return body,
            Err(e) => {
                if let Ok(Some(status)) = child.0.try_wait() {
                    panic!("the server exited with {status}");
                }
                assert!(Instant::now() < deadline, "{url} not served within {secs} s: {e}");
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `[tls]` settings as `<PREFIX>TLS__*` environment variables.
fn tls_env(prefix: &str, tls: &TlsConfig) -> Vec<(String, String)> {
    vec![
        (format!("{prefix}TLS__CERT_FILE"), tls.cert_file.display().to_string()),
        (format!("{prefix}TLS__KEY_FILE"), tls.key_file.display().to_string()),
        (format!("{prefix}TLS__RELOAD_SECS"), tls.reload_secs.to_string()),
    ]
}

fn registry(port: u16, database_url: &str, tls: &TlsConfig) -> Command {
    let mut cmd = Command::new(binary("schema-registry"));
    cmd.env("SCHEMA_REGISTRY_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("SCHEMA_REGISTRY_DATABASE__URL", database_url)
        .envs(tls_env("SCHEMA_REGISTRY_", tls))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_serves_https_and_new_connections_get_a_renewed_certificate() {
    let dir = cert_dir();
    let ca = TestCa::new();
    let tls = ca.write_pair(&dir);
    let port = free_port();
    let mut child = ChildGuard(registry(port, &fresh_database().await, &tls).spawn().expect("spawn"));
    let url = |path: &str| format!("https://localhost:{port}{path}");
    until_served(&url("/readyz"), &ca, &dir, 30, &mut child).await;

    // The API over HTTPS: register, then read back.
    let schema = r#"{"schema": "{\"type\": \"string\"}"}"#;
    let post = [
        "-X",
        "POST",
        "-H",
        "content-type: application/vnd.schemaregistry.v1+json",
        "--data",
        schema,
    ];
    let registered = curl(&url("/subjects/tls-value/versions"), Some(&ca), &dir, &post).expect("register");
    assert!(registered.contains("\"id\""), "{registered}");
    assert_eq!(
        curl(&url("/subjects"), Some(&ca), &dir, &[]).as_deref(),
        Ok(r#"["tls-value"]"#)
    );
    // Not trusted without the CA; no plain HTTP on the TLS port.
    assert!(curl(&url("/subjects"), Some(&TestCa::new()), &dir, &[]).is_err());
    assert!(curl(&format!("http://127.0.0.1:{port}/subjects"), None, &dir, &[]).is_err());

    // Renewal by another CA: new connections get the new certificate; the process never stopped.
    let renewed = TestCa::new();
    renewed.write_pair(&dir);
    let subjects = until_served(&url("/subjects"), &renewed, &dir, 10, &mut child).await;
    assert_eq!(subjects, r#"["tls-value"]"#);
    assert!(
        curl(&url("/subjects"), Some(&ca), &dir, &[]).is_err(),
        "the old certificate is still served"
    );
    assert!(child.0.try_wait().expect("wait").is_none(), "the registry restarted");
}

#[test]
fn a_key_that_is_not_the_certificates_stops_the_start_with_both_file_names() {
    let dir = cert_dir();
    let tls = TestCa::new().write_pair(&dir);
    let other = TestCa::new().write_pair(&dir.join("other"));
    let mismatched = TlsConfig {
        key_file: other.key_file.clone(),
        ..tls
    };
    let out = registry(free_port(), &common::database_url(), &mismatched)
        .stderr(Stdio::piped())
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("does not belong to the certificate")
            && stderr.contains(&other.key_file.display().to_string())
            && stderr.contains(&mismatched.cert_file.display().to_string()),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_serves_its_dashboard_api_and_metrics_over_https() {
    let world = World::new().await;
    let dir = cert_dir();
    let ca = TestCa::new();
    let tls = ca.write_pair(&dir);
    let port = free_port();
    let child = Command::new(binary("sink-worker"))
        .args(["--config", &world.config_path.display().to_string(), "monitor"])
        .env("SINK_WORKER_MONITOR__LISTEN", format!("127.0.0.1:{port}"))
        .envs(tls_env("SINK_WORKER_", &tls))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn sink-worker monitor");
    let mut child = ChildGuard(child);
    let url = |path: &str| format!("https://localhost:{port}{path}");
    until_served(&url("/readyz"), &ca, &dir, 60, &mut child).await;

    let dashboard = curl(&url("/"), Some(&ca), &dir, &[]).expect("dashboard");
    assert!(dashboard.contains("<html"), "{dashboard}");
    let rel = curl(&url("/api/reliability"), Some(&ca), &dir, &[]).expect("api");
    let rel: serde_json::Value = serde_json::from_str(&rel).expect("JSON");
    assert!(rel.get("overall").is_some(), "{rel}");
    let metrics = curl(&url("/metrics"), Some(&ca), &dir, &[]).expect("metrics");
    for gauge in [
        "murron_tls_certificate_loaded_timestamp_seconds",
        "murron_tls_certificate_expiry_timestamp_seconds",
    ] {
        assert!(metrics.contains(gauge), "{gauge} missing from:\n{metrics}");
    }
    assert!(curl(&format!("http://127.0.0.1:{port}/readyz"), None, &dir, &[]).is_err());
}
