//! A `murron-server` process for the end-to-end and fault tests: its own config file and ports, kept
//! across a restart so that producers reconnect to the same address.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{binary, free_port, unique};

/// A running `murron-server serve`.
pub struct IngestServer {
    child: Option<Child>,
    config: PathBuf,
    brokers: String,
    keys: Vec<(String, String)>,
    /// `http://127.0.0.1:{port}`: the gRPC endpoint.
    pub grpc_url: String,
    /// `http://127.0.0.1:{port}`: HTTP publish, /readyz, /metrics.
    pub http_url: String,
}

impl IngestServer {
    /// Starts the server on free ports with `pipelines` (TOML `[[pipelines]]` tables) in front of
    /// `brokers`, verifying with `keys`; waits for `/readyz`.
    pub async fn start(brokers: &str, keys: &[(&str, &str)], pipelines: &str) -> IngestServer {
        let (grpc, http) = (free_port(), free_port());
        let dir = std::env::temp_dir().join(unique("murron-server-config"));
        std::fs::create_dir_all(&dir).expect("config dir");
        let config = dir.join("murron-server.toml");
        let text =
            format!("[server]\ngrpc_listen = \"127.0.0.1:{grpc}\"\nhttp_listen = \"127.0.0.1:{http}\"\n\n{pipelines}");
        std::fs::write(&config, text).expect("write config");
        let mut server = IngestServer {
            child: None,
            config,
            brokers: brokers.to_string(),
            keys: keys.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            grpc_url: format!("http://127.0.0.1:{grpc}"),
            http_url: format!("http://127.0.0.1:{http}"),
        };
        server.spawn_and_wait().await;
        server
    }

    async fn spawn_and_wait(&mut self) {
        let mut cmd = Command::new(binary("murron-server"));
        cmd.args(["--config", self.config.to_str().expect("utf-8 path"), "serve"])
            .env("MURRON_SERVER_KAFKA__BROKERS", &self.brokers)
            .env("RUST_LOG", std::env::var("SINK_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(Stdio::null());
        for (id, secret) in &self.keys {
            cmd.env(format!("MURRON_SERVER_KEYS__{}", id.to_uppercase()), secret);
        }
        let mut child = cmd.spawn().expect("spawn murron-server");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self.ready().await {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("murron-server exited during start-up with {status}");
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("murron-server not ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.child = Some(child);
    }

    /// Whether `/readyz` answers 200.
    pub async fn ready(&self) -> bool {
        let ready = reqwest::get(format!("{}/readyz", self.http_url)).await;
        ready.is_ok_and(|r| r.status().is_success())
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again with the same configuration and ports; waits for `/readyz`.
    pub async fn restart(&mut self) {
        self.kill();
        self.spawn_and_wait().await;
    }

    /// SIGTERM, and asserts a clean exit (the drain finished).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
            assert!(status.success());
            let status = child.wait().expect("wait for murron-server");
            assert!(status.success(), "murron-server exited with {status} after SIGTERM");
        }
    }

    /// The sum of the Prometheus samples whose line starts with `name` (labels included).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.http_url))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics body");
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for IngestServer {
    fn drop(&mut self) {
        self.kill();
    }
}
