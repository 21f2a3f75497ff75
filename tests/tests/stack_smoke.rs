//! The local stack is real and usable: a record goes through Kafka, an object through the S3
//! server (multipart included), and a row through PostgreSQL, each with an ordinary client (the S3
//! one built by the worker's one S3 client builder).

mod common;

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};

#[tokio::test]
async fn kafka_record_is_produced_and_consumed() {
    let brokers = common::kafka_brokers();
    common::require_service("Kafka", &brokers);
    let topic = common::unique("smoke");
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
    let created = admin
        .create_topics(
            [&NewTopic::new(&topic, 3, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");

    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", &brokers).create().unwrap();
    for i in 0..10 {
        let payload = format!("hello {i}");
        producer
            .send(
                FutureRecord::to(&topic).key("k").payload(&payload),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }

    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", common::unique("smoke-group"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&topic]).unwrap();
    let mut got = Vec::new();
    while got.len() < 10 {
        let msg = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("a record within 30 s")
            .unwrap();
        got.push(String::from_utf8(msg.payload().unwrap().to_vec()).unwrap());
    }
    // One key, so one partition, so produce order is kept.
    assert_eq!(got, (0..10).map(|i| format!("hello {i}")).collect::<Vec<_>>());
}

/// The SDK client of the stack's S3 server, built as the worker builds its own.
async fn s3_client() -> aws_sdk_s3::Client {
    common::require_service("S3 server", &common::s3_endpoint());
    let sink_worker::config::storage::StoreConfig::S3(config) = common::s3_store("smoke") else {
        unreachable!("s3_store is an S3 store")
    };
    sink_worker::storage::s3::S3Client::build(&config).await.client
}

#[tokio::test]
async fn s3_object_is_put_listed_and_read_back() {
    let s3 = s3_client().await;
    let bucket = common::unique("smoke");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    s3.put_object()
        .bucket(&bucket)
        .key("dt=2026-11-26/a.json")
        .body(ByteStream::from_static(b"{\"ok\":true}"))
        .send()
        .await
        .unwrap();

    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("dt=2026-11-26/")
        .send()
        .await
        .unwrap();
    let keys: Vec<_> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["dt=2026-11-26/a.json"]);

    let body = s3
        .get_object()
        .bucket(&bucket)
        .key("dt=2026-11-26/a.json")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    assert_eq!(body.into_bytes().as_ref(), b"{\"ok\":true}");
}

#[tokio::test]
async fn s3_multipart_upload_assembles_the_parts() {
    let s3 = s3_client().await;
    let bucket = common::unique("smoke-mp");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let upload = s3
        .create_multipart_upload()
        .bucket(&bucket)
        .key("big.bin")
        .send()
        .await
        .unwrap();
    let upload_id = upload.upload_id().unwrap();
    // S3 requires every part but the last to be at least 5 MiB.
    let parts_data = [vec![b'a'; 5 * 1024 * 1024], vec![b'b'; 1024]];
    let mut parts = Vec::new();
    for (i, data) in parts_data.iter().enumerate() {
        let n = i as i32 + 1;
        let part = s3
            .upload_part()
            .bucket(&bucket)
            .key("big.bin")
            .upload_id(upload_id)
            .part_number(n)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(part.e_tag().map(String::from))
                .build(),
        );
    }
    s3.complete_multipart_upload()
        .bucket(&bucket)
        .key("big.bin")
        .upload_id(upload_id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let body = s3
        .get_object()
        .bucket(&bucket)
        .key("big.bin")
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(body.len(), 5 * 1024 * 1024 + 1024);
    assert_eq!(&body[..5 * 1024 * 1024], &parts_data[0][..]);
    assert_eq!(&body[5 * 1024 * 1024..], &parts_data[1][..]);
}

#[tokio::test]
async fn postgres_row_is_written_and_read_back() {
    let url = common::fresh_database().await;
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE smoke (stream text PRIMARY KEY, received int8multirange NOT NULL)")
        .execute(&pool)
        .await
        .unwrap();
    // Multiranges are what reliability tracking will use: check the server has them (PostgreSQL 14+).
    sqlx::query("INSERT INTO smoke VALUES ('t:h:1', '{[0,10), [12,20)}')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE smoke SET received = received + '{[10,12)}' WHERE stream = 't:h:1'")
        .execute(&pool)
        .await
        .unwrap();
    let received: String = sqlx::query_scalar("SELECT received::text FROM smoke")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(received, "{[0,20)}");
}
