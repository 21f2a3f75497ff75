//! Graceful shutdown against the local Kafka: a publish in progress when the server is told to stop
//! is still answered, after Kafka acknowledged it. Its own test binary, so the metrics it watches are
//! its own.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use murron_ingest_proto::ingest_client::IngestClient;
use murron_ingest_proto::{PublishRequest, Status};
use murron_server::config::{IngestPipeline, topic};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_a_publish_in_progress_to_be_acknowledged() {
    let t = unique("h22-drain");
    create_topics(&[&t]).await;
    let server = start(config(vec![
        IngestPipeline::new("all").default_route().output(topic(&t)),
    ]))
    .await;
    let good = keys(SECRET);
    let events: Vec<Bytes> = (0..5000).map(|o| envelope(&good, "drain.x", "h", 9, o)).collect();
    let mut grpc = IngestClient::connect(format!("http://{}", server.addrs.grpc))
        .await
        .expect("gRPC connect");
    let call = tokio::spawn(async move { grpc.publish(PublishRequest { batch_id: 5, events }).await });
    // Stop as soon as the server holds the batch.
    let http = reqwest::Client::new();
    let metrics = server.http("/metrics");
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let text = http
            .get(&metrics)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        if text.contains("murron_ingest_received_total{input=\"grpc\"} 5000") || Instant::now() > until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.stop().await;
    let answer = call
        .await
        .expect("call task")
        .expect("answered, not cut off")
        .into_inner();
    assert_eq!(statuses(&answer), [Status::Accepted; 5000]);
    assert_eq!(read_topic(&t, 5000).len(), 5000);
}
