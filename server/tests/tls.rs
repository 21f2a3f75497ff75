//! murron-server with `[tls]` against the real local Kafka: gRPC and HTTP over TLS with a private
//! CA, and a renewed certificate served to new connections while the server keeps running (and its
//! open connections keep working). A missing Kafka fails the test, never skips it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use murron_ingest_proto::PublishRequest;
use murron_ingest_proto::Status;
use murron_ingest_proto::ingest_client::IngestClient;
use murron_server::config::{IngestPipeline, topic};
use murron_tls::test_ca::TestCa;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

/// A gRPC client that trusts only `ca`, on a new connection.
async fn client(port: u16, ca: &TestCa) -> Result<IngestClient<Channel>, tonic::transport::Error> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca.pem))
        .domain_name("localhost");
    let channel = Channel::from_shared(format!("https://localhost:{port}"))
        .expect("uri")
        .tls_config(tls)?
        .connect()
        .await?;
    Ok(IngestClient::new(channel))
}

/// Publishes one event; true when it was accepted.
async fn publish(client: &mut IngestClient<Channel>, offset: i64) -> bool {
    let event = envelope(&keys(SECRET), "tls.check", "tls-host", 1, offset);
    let answer = client
        .publish(PublishRequest {
            batch_id: offset as u64,
            events: vec![event],
        })
        .await
        .expect("publish over TLS")
        .into_inner();
    statuses(&answer) == [Status::Accepted]
}

/// curl over HTTPS with `ca` as its only root: the body, or curl's error.
fn curl(url: &str, ca: &TestCa, dir: &std::path::Path) -> Result<String, String> {
    let ca_file = dir.join(format!("ca-{}.pem", unique("curl")));
    std::fs::write(&ca_file, &ca.pem).expect("write CA");
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--fail", "--max-time", "5", "--cacert"])
        .arg(&ca_file)
        .arg(url)
        .output()
        .expect("run curl");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_and_http_serve_tls_and_new_connections_get_a_renewed_certificate() {
    let t = unique("h26-tls");
    create_topics(&[&t]).await;
    let dir = std::env::temp_dir().join(unique("murron-server-tls"));
    let ca = TestCa::new();
    let mut c = config(vec![IngestPipeline::new("all").default_route().output(topic(&t))]);
    c.tls = Some(ca.write_pair(&dir));
    let server = start(c).await;
    let (grpc_port, http_port) = (server.addrs.grpc.port(), server.addrs.http.port());

    // gRPC over TLS (ALPN h2), trusted through the private CA.
    let mut first = client(grpc_port, &ca).await.expect("TLS connect with the private CA");
    assert!(publish(&mut first, 0).await);
    // A client that does not trust the CA, and one that speaks plain text, get nowhere.
    assert!(client(grpc_port, &TestCa::new()).await.is_err());
    let mut plain = IngestClient::connect(format!("http://{}", server.addrs.grpc))
        .await
        .expect("a plain channel connects lazily");
    assert!(
        plain.publish(PublishRequest::default()).await.is_err(),
        "plain-text gRPC to a TLS port"
    );

    // HTTP over TLS, with curl.
    let https = |path: &str| format!("https://localhost:{http_port}{path}");
    assert_eq!(curl(&https("/readyz"), &ca, &dir).as_deref(), Ok("ready"));
    let metrics = curl(&https("/metrics"), &ca, &dir).expect("metrics over https");
    assert!(
        metrics.contains("murron_tls_certificate_loaded_timestamp_seconds"),
        "{metrics}"
    );

    // Renewal: a certificate from another CA replaces the files. New connections get it; the open
    // connection keeps working; the server never stopped.
    let renewed = TestCa::new();
    renewed.write_pair(&dir);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut second = loop {
        if let Ok(c) = client(grpc_port, &renewed).await {
            break c;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not served within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(publish(&mut second, 1).await);
    assert!(publish(&mut first, 2).await, "the connection opened before the renewal");
    assert!(
        client(grpc_port, &ca).await.is_err(),
        "new connections no longer get the old certificate"
    );
    assert_eq!(curl(&https("/readyz"), &renewed, &dir).as_deref(), Ok("ready"));
    assert!(curl(&https("/readyz"), &ca, &dir).is_err());

    let got = read_topic(&t, 3);
    let offsets: Vec<i64> = got.iter().map(|(_, _, _, o)| *o).collect();
    assert_eq!(offsets, [0, 1, 2]);
    server.stop().await;
}
