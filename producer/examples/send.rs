//! Sends `billing.member_active` events with murron-producer, straight to Kafka or through
//! murron-server:
//!
//! ```sh
//! cargo run -p murron-producer --example send -- --registry http://127.0.0.1:8081 \
//!     --kafka 127.0.0.1:9092 --topic events.billing --count 1000
//! cargo run -p murron-producer --features grpc --example send -- --registry http://127.0.0.1:8081 \
//!     --server http://127.0.0.1:9480 --count 1000
//! ```
//!
//! The payload is encoded with apache-avro from the schema in `schemas/billing/`; the producer
//! adds the registry header, the envelope, the offset and the signature.

use std::time::Duration;

use anyhow::{Context, bail};
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use clap::Parser;
use murron_producer::{KafkaConfig, KeyRing, Producer, RegistryConfig, SchemaRef, SpoolConfig, Topics};

const SCHEMA: &str = include_str!("../../schemas/billing/member_active.avsc");
const TYPE: &str = "billing.member_active";

#[derive(Parser)]
struct Args {
    /// The schema registry.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    registry: String,
    /// Kafka brokers: send straight to Kafka, to `--topic`.
    #[arg(long, conflicts_with = "server")]
    kafka: Option<String>,
    #[arg(long, default_value = "events.billing")]
    topic: String,
    /// Create `--topic` with this many partitions if it does not exist (records to a missing topic
    /// are refused).
    #[arg(long)]
    partitions: Option<i32>,
    /// murron-server's gRPC address (`http://host:9480`, or `https://` when it serves TLS): send
    /// through the server (feature `grpc`).
    #[arg(long)]
    server: Option<String>,
    /// Bearer token for the server.
    #[arg(long, env = "MURRON_SERVER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM file of the CA that signed the server's certificate (with an `https://` --server): only
    /// it is trusted; without it, the system's roots are.
    #[arg(long, requires = "server")]
    server_ca_file: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 1_000)]
    count: u64,
    /// The signing key's id, written in the `murron.key` tag.
    #[arg(long, default_value = "default")]
    key_id: String,
    #[arg(long, env = "MURRON_KEY_SECRET", default_value = "murron-demo-key")]
    key_secret: String,
    #[arg(long)]
    host: Option<String>,
    /// A random pid instead of the process id.
    #[arg(long)]
    random_pid: bool,
    /// Keep unacknowledged events and offsets here across restarts.
    #[arg(long)]
    spool: Option<std::path::PathBuf>,
}

/// One event's Avro datum.
fn member_active(writer: &GenericDatumWriter<'_>, n: u64) -> anyhow::Result<Vec<u8>> {
    let plans = ["FREE", "PRO", "BUSINESS", "ENTERPRISE"];
    let clients = ["DESKTOP", "WEB", "IOS", "ANDROID", "API", "OTHER"];
    let plan = (n % 4) as usize;
    let client = (n % 6) as usize;
    let value = Value::Record(vec![
        ("workspace_id".into(), Value::String(format!("ws-{}", n % 50))),
        ("user_id".into(), Value::String(format!("u-{n}"))),
        ("plan".into(), Value::Enum(plan as u32, plans[plan].into())),
        (
            "ts".into(),
            Value::TimestampMicros(murron_producer::encode::now_micros()),
        ),
        ("client".into(), Value::Enum(client as u32, clients[client].into())),
        ("seat_count".into(), Value::Int(1 + (n % 40) as i32)),
        ("is_guest".into(), Value::Boolean(n.is_multiple_of(9))),
        ("country".into(), Value::Union(1, Box::new(Value::String("NL".into())))),
    ]);
    Ok(writer.write_value_to_vec(value)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let schema = apache_avro::Schema::parse_str(SCHEMA)?;
    let writer = GenericDatumWriter::builder(&schema).build()?;
    let mut builder = Producer::builder()
        .registry(RegistryConfig {
            url: args.registry.clone(),
            timeout_ms: 5_000,
            ..RegistryConfig::default()
        })
        .keys(KeyRing::new([(
            args.key_id.clone(),
            args.key_secret.clone().into_bytes(),
        )]))
        .key_id(args.key_id.clone());
    if let Some(host) = &args.host {
        builder = builder.host(host);
    }
    if args.random_pid {
        builder = builder.random_pid();
    }
    if let Some(dir) = &args.spool {
        builder = builder.spool(SpoolConfig::new(dir));
    }
    builder = match (&args.kafka, &args.server) {
        (Some(brokers), None) => {
            let kafka = KafkaConfig {
                brokers: brokers.clone(),
                properties: Default::default(),
            };
            if let Some(partitions) = args.partitions {
                murron_connect::kafka::ensure_topic(&kafka, &args.topic, partitions).await?;
            }
            builder.kafka(kafka, Topics::Fixed(args.topic.clone()))
        }
        #[cfg(feature = "grpc")]
        (None, Some(url)) => {
            let mut server = murron_producer::transport::grpc::ServerConfig::new(url);
            server.token = args.token.clone();
            server.ca_file = args.server_ca_file.clone();
            builder.server(server)
        }
        #[cfg(not(feature = "grpc"))]
        (None, Some(_)) => bail!("--server needs the grpc feature (cargo run --features grpc)"),
        _ => bail!("give one of --kafka BROKERS or --server URL"),
    };
    let producer = builder.build().await.context("starting the producer")?;
    let billing = producer
        .event_type(
            TYPE,
            SchemaRef::Register {
                text: SCHEMA.into(),
                schema_type: None,
            },
        )
        .await?;
    let mut offsets = None;
    for n in 0..args.count {
        let ticket = producer.send(&billing, &member_active(&writer, n)?).await?;
        offsets.get_or_insert(ticket.offset..ticket.offset);
        if let Some(o) = offsets.as_mut() {
            o.end = ticket.offset + 1;
        }
    }
    let report = producer.close(Duration::from_secs(60)).await?;
    let (host, pid) = producer.identity();
    println!(
        "sent {} {TYPE} events as {host}:{pid}, offsets {:?}: {} acked, {} refused, {} pending",
        args.count,
        offsets.unwrap_or(0..0),
        report.acked,
        report.refused.len(),
        report.pending
    );
    for r in report.refused.iter().take(10) {
        println!("refused offset {}: {} ({})", r.offset, r.reason, r.detail);
    }
    if !report.refused.is_empty() {
        bail!("{} events were refused", report.refused.len());
    }
    Ok(())
}
