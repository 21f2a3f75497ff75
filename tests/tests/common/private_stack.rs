//! Private copies of the stack's services, for tests that stop and start a service under load: a
//! Kafka broker and a PostgreSQL cluster, each started by the project's own script
//! (`deploy/local/kafka.sh`, `deploy/local/postgres.sh`) on free ports with a state folder of its own,
//! so the shared stack is never disturbed. Each is removed when dropped, also when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `deploy/local/<script> <action>` with `env`, blocking; panics with its output when it fails.
fn script(script: &str, action: &str, env: &[(&str, String)]) {
    let mut cmd = Command::new("bash");
    cmd.arg(super::workspace_path(&format!("deploy/local/{script}")))
        .arg(action)
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::block_in_place(|| cmd.output()).expect("run a deploy/local script");
    assert!(
        out.status.success(),
        "{script} {action} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a command, blocking; panics with its output when it fails.
fn command(program: &str, args: &[&str]) {
    let out = tokio::task::block_in_place(|| Command::new(program).args(args).stdin(Stdio::null()).output())
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether something accepts TCP connections on 127.0.0.1:`port`.
fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(500)).is_ok()
}

/// A state folder under the temp directory that the `postgres` user can traverse.
fn state_dir(prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(super::unique(prefix));
    std::fs::create_dir_all(&dir).expect("create a state folder");
    dir
}

/// A single-node Kafka broker of our own (KRaft, 256 MB heap), data in a temp folder.
pub struct PrivateKafka {
    /// `127.0.0.1:port`, for `kafka.brokers`.
    pub brokers: String,
    port: u16,
    state: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl PrivateKafka {
    /// Starts the broker with `kafka.sh start` and waits until it serves metadata (the script does).
    pub fn start() -> PrivateKafka {
        let state = state_dir("murron-private-kafka");
        let port = super::free_port();
        let env = vec![
            ("MURRON_STATE", state.display().to_string()),
            ("KAFKA_PORT", port.to_string()),
            ("KAFKA_CONTROLLER_PORT", super::free_port().to_string()),
            ("KAFKA_SSL_PORT", super::free_port().to_string()),
            ("KAFKA_HEAP", "256m".to_string()),
        ];
        let kafka = PrivateKafka {
            brokers: format!("127.0.0.1:{port}"),
            port,
            state,
            env,
        };
        kafka.start_again();
        kafka
    }

    /// `kafka.sh start` on the same data: after [`Self::kill9`] or [`Self::stop`].
    pub fn start_again(&self) {
        script("kafka.sh", "start", &self.env);
    }

    /// The clean stop: `kafka.sh stop` (SIGTERM, then SIGKILL after 30 s).
    pub fn stop(&self) {
        script("kafka.sh", "stop", &self.env);
        assert!(!port_open(self.port), "the broker still listens after kafka.sh stop");
    }

    /// A crash: SIGKILL to the broker, then waits until its port is closed.
    pub fn kill9(&self) {
        let pid = self.pid().expect("the private broker is running");
        command("kill", &["-9", &pid.to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while port_open(self.port) {
            assert!(Instant::now() < deadline, "the broker still listens 10 s after SIGKILL");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pid_file()).ok()?.trim().parse().ok()
    }

    fn pid_file(&self) -> PathBuf {
        self.state.join("kafka").join("kafka.pid")
    }

    /// The `[kafka]` config of a client of this broker.
    pub fn config(&self) -> sink_worker::config::KafkaConfig {
        sink_worker::config::KafkaConfig {
            brokers: self.brokers.clone(),
            ..Default::default()
        }
    }

    /// Creates `topic` with `partitions` partitions unless it exists.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        murron_connect::kafka::ensure_topic(&self.config(), topic, partitions)
            .await
            .expect("create topic on the private broker");
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        // SIGKILL: a graceful stop is not worth waiting for, the data goes with the folder.
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// A PostgreSQL cluster of our own (`pg_createcluster`), with the `murron` role and database.
pub struct PrivatePostgres {
    /// `postgres://murron:murron@127.0.0.1:port/murron`.
    pub url: String,
    version: String,
    cluster: String,
    state: PathBuf,
}

impl PrivatePostgres {
    /// Creates and starts the cluster with `postgres.sh start`.
    pub fn start() -> PrivatePostgres {
        let state = state_dir("murron-private-pg");
        let port = super::free_port();
        // Cluster names end up in paths under /etc/postgresql: letters and digits only.
        let cluster = super::unique("murronfault").replace(['-', '_'], "");
        let version = std::env::var("PG_VERSION").ok().unwrap_or_else(newest_postgres);
        let pg = PrivatePostgres {
            url: format!("postgres://murron:murron@127.0.0.1:{port}/murron"),
            version,
            cluster,
            state,
        };
        let env = vec![
            ("MURRON_STATE", pg.state.display().to_string()),
            ("PG_CLUSTER", pg.cluster.clone()),
            ("PG_PORT", port.to_string()),
            ("PG_VERSION", pg.version.clone()),
        ];
        script("postgres.sh", "start", &env);
        pg
    }

    /// A crash of the database server: `pg_ctlcluster … stop -m immediate` (no checkpoint).
    pub fn stop_immediate(&self) {
        command(
            "pg_ctlcluster",
            &[&self.version, &self.cluster, "stop", "-m", "immediate"],
        );
    }

    /// `pg_ctlcluster … start`: crash recovery, then accepting connections.
    pub fn start_again(&self) {
        command("pg_ctlcluster", &[&self.version, &self.cluster, "start"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new("pg_dropcluster")
            .args(["--stop", &self.version, &self.cluster])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// The newest PostgreSQL installed (`/usr/lib/postgresql/<version>`), as `postgres.sh` picks it.
fn newest_postgres() -> String {
    let dir = Path::new("/usr/lib/postgresql");
    std::fs::read_dir(dir)
        .expect("PostgreSQL is installed (/usr/lib/postgresql); run deploy/local/postgres.sh install")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .max()
        .expect("a PostgreSQL version under /usr/lib/postgresql")
        .to_string()
}
