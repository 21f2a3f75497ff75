//! The application's API: [`Producer::builder`], event types, `send` and its variants, `flush` and
//! `close`. It ties the stream identity, the [`Encoder`], the schema ids and the [`Sender`] together.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use murron_connect::kafka::KafkaConfig;
use murron_connect::registry::{RegistryClient, RegistryConfig};
use murron_wire::envelope::{ENVELOPE_SCHEMA, ENVELOPE_SUBJECT, KEY_TAG, KeyRing};

use crate::encode::{Encoder, Event, Identity, TypeTarget};
use crate::error::ProducerError;
use crate::record::FlushReport;
use crate::route::Topics;
use crate::sender::{Backoff, BufferLimits, Reservation, Sender};
use crate::spool::{OpenError, Spool, SpoolConfig};
use crate::transport::Transport;
use crate::transport::kafka::KafkaTransport;

/// Which schema an event type's payloads are framed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaRef {
    /// The latest version registered under the type's subject, looked up once.
    Latest,
    /// This registry id, used as it is.
    Id(u32),
    /// Registered under the type's subject (idempotent): `schema_type` is `None` or `"AVRO"`, `"JSON"`,
    /// `"PROTOBUF"`.
    Register { text: String, schema_type: Option<String> },
}

/// How the producer's pid is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pid {
    /// `std::process::id()`.
    Process,
    /// A random positive number, unique per process lifetime with high probability.
    Random,
    Fixed(i32),
}

/// Where records go.
enum Destination {
    Kafka(KafkaConfig),
    #[cfg(feature = "grpc")]
    Server(crate::transport::grpc::ServerConfig),
    Custom(Arc<dyn Transport>),
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Kafka(c) => f.debug_tuple("Kafka").field(&c.brokers).finish(),
            #[cfg(feature = "grpc")]
            Self::Server(c) => f.debug_tuple("Server").field(&c.url).finish(),
            Self::Custom(t) => f.debug_tuple("Custom").field(t).finish(),
        }
    }
}

/// Settings of a [`Producer`]; see [`Producer::builder`].
#[derive(Debug)]
pub struct ProducerBuilder {
    registry: Option<RegistryConfig>,
    envelope_schema_id: Option<u32>,
    keys: Option<KeyRing>,
    key_id: Option<String>,
    host: Option<String>,
    pid: Pid,
    destination: Option<Destination>,
    topics: Option<Topics>,
    buffer: BufferLimits,
    spool: Option<SpoolConfig>,
    backoff: Backoff,
}

impl ProducerBuilder {
    /// The schema registry: the envelope schema is registered there, and payload schemas looked up.
    pub fn registry(mut self, config: RegistryConfig) -> Self {
        self.registry = Some(config);
        self
    }

    /// The envelope schema's registry id, when it is known: no registration at build.
    pub fn envelope_schema_id(mut self, id: u32) -> Self {
        self.envelope_schema_id = Some(id);
        self
    }

    /// The signing keys. Required.
    pub fn keys(mut self, keys: KeyRing) -> Self {
        self.keys = Some(keys);
        self
    }

    /// Signs with this key and names it in the `murron.key` tag; without it, the key `default`.
    pub fn key_id(mut self, id: impl Into<String>) -> Self {
        self.key_id = Some(id.into());
        self
    }

    /// The envelopes' `host`. Default: `$HOSTNAME`, then `/proc/sys/kernel/hostname`.
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The envelopes' `pid`; it must never be reused with the same host while the old process's
    /// offsets are alive (docs/INGESTION.md). Default: the process id.
    pub fn pid(mut self, pid: i32) -> Self {
        self.pid = Pid::Fixed(pid);
        self
    }

    /// A random pid: a restarted process starts new streams instead of reusing offsets.
    pub fn random_pid(mut self) -> Self {
        self.pid = Pid::Random;
        self
    }

    /// Sends straight to Kafka, to the topic `topics` gives each type.
    pub fn kafka(mut self, config: KafkaConfig, topics: Topics) -> Self {
        self.destination = Some(Destination::Kafka(config));
        self.topics = Some(topics);
        self
    }

    /// Sends to murron-server over gRPC (`http://host:9480`); the server routes by type.
    #[cfg(feature = "grpc")]
    pub fn server(mut self, config: crate::transport::grpc::ServerConfig) -> Self {
        self.destination = Some(Destination::Server(config));
        self.topics = None;
        self
    }

    /// Sends through another transport; records carry the topics `topics` gives, if any.
    pub fn transport(mut self, transport: Arc<dyn Transport>, topics: Option<Topics>) -> Self {
        self.destination = Some(Destination::Custom(transport));
        self.topics = topics;
        self
    }

    /// The buffer's bounds. Default: 100,000 events and 64 MiB.
    pub fn buffer(mut self, limits: BufferLimits) -> Self {
        self.buffer = limits;
        self
    }

    /// Keeps unacknowledged records and the streams' offsets on disk across restarts.
    pub fn spool(mut self, config: SpoolConfig) -> Self {
        self.spool = Some(config);
        self
    }

    /// The delay before a record's next attempt. Default: `murron_connect::retry::backoff_delay`.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Opens the spool (resending what it holds), registers the envelope schema, and checks that
    /// Kafka or the server answers.
    pub async fn build(self) -> Result<Producer, ProducerError> {
        let keys = self
            .keys
            .ok_or_else(|| ProducerError::Config("keys are required (ProducerBuilder::keys)".into()))?;
        let destination = self.destination.ok_or_else(|| {
            ProducerError::Config("a destination is required (ProducerBuilder::kafka or ::server)".into())
        })?;
        let host = match self.host {
            Some(h) => h,
            None => default_host()?,
        };
        let pid = match self.pid {
            Pid::Fixed(p) => p,
            Pid::Random => random_pid()?,
            Pid::Process => {
                let pid = i32::try_from(std::process::id())
                    .map_err(|_| ProducerError::Config("the process id does not fit 32 bits".into()))?;
                if pid == 1 && self.spool.is_none() {
                    tracing::warn!(
                        "pid 1 and no spool: a restarted container reuses pid 1 and offsets from 0, which the \
                         sink drops as duplicates; set a spool, .pid(..) or .random_pid()"
                    );
                }
                pid
            }
        };
        check_host(&host)?;
        let (spool, identity) = match self.spool {
            Some(config) => {
                let (spool, recovered) = Spool::open(config, &host, pid).map_err(|e| match e {
                    OpenError::Locked(l) => ProducerError::SpoolLocked(l.0),
                    OpenError::Io { source, .. } => ProducerError::Spool(source),
                })?;
                if (recovered.host.as_str(), recovered.pid) != (host.as_str(), pid) {
                    tracing::warn!(host = %recovered.host, pid = recovered.pid, given_host = %host, given_pid = pid,
                        "the spool continues the streams of the identity it was created with");
                }
                let identity = Identity::new(&recovered.host, recovered.pid);
                tracing::info!(
                    records = recovered.records.len(),
                    corrupt = recovered.corrupt,
                    "spool recovered; unacknowledged records are sent again"
                );
                (Some((spool, recovered.records)), identity)
            }
            None => (None, Identity::new(&host, pid)),
        };
        let registry = self.registry.as_ref().map(RegistryClient::new).transpose()?;
        let envelope_schema_id = match (self.envelope_schema_id, &registry) {
            (Some(id), _) => id,
            (None, Some(r)) => r.register(ENVELOPE_SUBJECT, ENVELOPE_SCHEMA).await?,
            (None, None) => {
                return Err(ProducerError::Config(
                    "a registry or an envelope schema id is required".into(),
                ));
            }
        };
        let encoder = Encoder::new(envelope_schema_id, keys, self.key_id)?;
        let transport: Arc<dyn Transport> = match destination {
            Destination::Kafka(config) => Arc::new(KafkaTransport::connect(&config, self.buffer).await?),
            #[cfg(feature = "grpc")]
            Destination::Server(config) => Arc::new(crate::transport::grpc::GrpcTransport::connect(&config).await?),
            Destination::Custom(t) => t,
        };
        let sender = Sender::start(transport.clone(), self.buffer, spool, self.backoff)?;
        Ok(Producer {
            inner: Arc::new(Inner {
                identity,
                encoder,
                sender,
                registry,
                transport,
                topics: self.topics,
                streams: Mutex::new(HashMap::new()),
            }),
        })
    }
}

/// Sends signed events at least once, to Kafka or murron-server. Cheap to clone; all clones share
/// the buffer and the streams.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("host", &self.inner.identity.host())
            .field("pid", &self.inner.identity.pid())
            .finish_non_exhaustive()
    }
}

struct Inner {
    identity: Identity,
    encoder: Encoder,
    sender: Sender,
    registry: Option<RegistryClient>,
    transport: Arc<dyn Transport>,
    topics: Option<Topics>,
    /// Every type's stream, shared by all its handles.
    streams: Mutex<HashMap<Arc<str>, Arc<Mutex<Cursor>>>>,
}

/// A stream's position: its next offset, and scratch space for framing payloads.
#[derive(Debug)]
struct Cursor {
    next: i64,
    message: Vec<u8>,
}

/// An event type opened for sending: its payload schema id, its topic and its stream.
#[derive(Debug, Clone)]
pub struct EventType {
    target: TypeTarget,
    cursor: Arc<Mutex<Cursor>>,
}

impl EventType {
    pub fn name(&self) -> &str {
        &self.target.name
    }

    pub fn payload_schema_id(&self) -> u32 {
        self.target.payload_schema_id
    }

    /// The Kafka topic, or `None` when the server routes.
    pub fn topic(&self) -> Option<&str> {
        self.target.topic.as_deref()
    }

    /// The offset the type's next event will take: where the stream stands, continued from the spool
    /// after a restart. An adaptor that records its input position beside it can tell which inputs a
    /// previous run already sent.
    pub fn next_offset(&self) -> i64 {
        self.cursor.lock().unwrap_or_else(PoisonError::into_inner).next
    }
}

/// Where a sent event is: its offset in its stream and its sequence number in the producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    pub offset: i64,
    pub seq: u64,
}

impl Producer {
    pub fn builder() -> ProducerBuilder {
        ProducerBuilder {
            registry: None,
            envelope_schema_id: None,
            keys: None,
            key_id: None,
            host: None,
            pid: Pid::Process,
            destination: None,
            topics: None,
            buffer: BufferLimits::default(),
            spool: None,
            backoff: murron_connect::retry::backoff_delay,
        }
    }

    /// The `(host, pid)` of every stream this producer writes.
    pub fn identity(&self) -> (&str, i32) {
        (self.inner.identity.host(), self.inner.identity.pid())
    }

    /// Opens an event type: resolves its payload schema id and its topic once (a topic Kafka does not
    /// have is an error here). Every handle of a type shares one stream of offsets.
    pub async fn event_type(&self, name: &str, schema: SchemaRef) -> Result<EventType, ProducerError> {
        check_type(name)?;
        let registry = || {
            self.inner
                .registry
                .as_ref()
                .ok_or_else(|| ProducerError::Config(format!("type {name}: {schema:?} needs a registry")))
        };
        let payload_schema_id = match &schema {
            SchemaRef::Id(id) => *id,
            SchemaRef::Latest => registry()?.latest(name).await?.id,
            SchemaRef::Register { text, schema_type } => {
                registry()?.register_typed(name, text, schema_type.as_deref()).await?
            }
        };
        let topic = match &self.inner.topics {
            None => None,
            Some(topics) => {
                let topic = topics
                    .topic(name)
                    .ok_or_else(|| ProducerError::Invalid(format!("no topic is routed for type {name:?}")))?;
                self.inner
                    .transport
                    .check_topic(&topic)
                    .await
                    .map_err(|e| ProducerError::Invalid(format!("type {name:?}: {e}")))?;
                Some(topic)
            }
        };
        let name: Arc<str> = name.into();
        let cursor = {
            let mut streams = self.inner.streams.lock().unwrap_or_else(PoisonError::into_inner);
            streams
                .entry(name.clone())
                .or_insert_with(|| {
                    let next = self.inner.sender.spooled_next_offset(
                        &name,
                        self.inner.identity.host(),
                        self.inner.identity.pid(),
                    );
                    Arc::new(Mutex::new(Cursor {
                        next,
                        message: Vec::new(),
                    }))
                })
                .clone()
        };
        Ok(EventType {
            target: TypeTarget {
                name,
                payload_schema_id,
                topic,
            },
            cursor,
        })
    }

    /// Sends `datum` (the payload without its header) as an event of `ty` happening now. Waits for
    /// room in the buffer. Returns once the event is queued (and spooled): delivery follows.
    pub async fn send(&self, ty: &EventType, datum: &[u8]) -> Result<Ticket, ProducerError> {
        self.send_with(ty, Event::now(datum)).await
    }

    /// Like [`Producer::send`], with the timestamp and tags given.
    pub async fn send_with(&self, ty: &EventType, event: Event<'_>) -> Result<Ticket, ProducerError> {
        check_tags(&event)?;
        let size = self.inner.encoder.size_bound(&self.inner.identity, &ty.target, &event);
        let room = self.inner.sender.reserve(1, size).await?;
        self.submit(ty, std::slice::from_ref(&event), room)
            .map(|(offsets, seq)| Ticket {
                offset: offsets.start,
                seq,
            })
    }

    /// Like [`Producer::send`], but fails with [`ProducerError::Full`] instead of waiting.
    pub fn try_send(&self, ty: &EventType, datum: &[u8]) -> Result<Ticket, ProducerError> {
        let event = Event::now(datum);
        let size = self.inner.encoder.size_bound(&self.inner.identity, &ty.target, &event);
        let room = self.inner.sender.try_reserve(1, size)?;
        self.submit(ty, std::slice::from_ref(&event), room)
            .map(|(offsets, seq)| Ticket {
                offset: offsets.start,
                seq,
            })
    }

    /// Sends several events of one type with one reservation and one spool write; returns their
    /// offsets, which are contiguous.
    pub async fn send_batch<'a>(
        &self,
        ty: &EventType,
        datums: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Range<i64>, ProducerError> {
        let now = crate::encode::now_micros();
        let events: Vec<Event<'a>> = datums
            .into_iter()
            .map(|datum| Event {
                timestamp: now,
                datum,
                tags: &[],
            })
            .collect();
        if events.is_empty() {
            return Ok(0..0);
        }
        let size = events
            .iter()
            .map(|e| self.inner.encoder.size_bound(&self.inner.identity, &ty.target, e))
            .sum();
        let room = self.inner.sender.reserve(events.len(), size).await?;
        self.submit(ty, &events, room).map(|(offsets, _)| offsets)
    }

    /// Takes the next offsets, encodes and signs, and hands the records to the sender, all under the
    /// stream's lock: offsets are never skipped (a failure takes none) and queue order is offset order.
    fn submit(
        &self,
        ty: &EventType,
        events: &[Event<'_>],
        room: Reservation,
    ) -> Result<(Range<i64>, u64), ProducerError> {
        let mut cursor = ty.cursor.lock().unwrap_or_else(PoisonError::into_inner);
        let first = cursor.next;
        let mut records = Vec::with_capacity(events.len());
        for (offset, event) in (first..).zip(events) {
            let record =
                self.inner
                    .encoder
                    .encode(&self.inner.identity, &ty.target, offset, event, &mut cursor.message)?;
            records.push(record);
        }
        let submitted = self.inner.sender.submit(room, records)?;
        let end = first + events.len() as i64;
        cursor.next = end;
        Ok((first..end, submitted.first_seq))
    }

    /// Waits until every event sent before this call is acknowledged or refused, or `timeout`
    /// passes. Reports what happened since the previous report; `pending` > 0 means time ran out.
    pub async fn flush(&self, timeout: Duration) -> FlushReport {
        self.inner.sender.flush(timeout).await
    }

    /// Stops sending: new sends fail with [`ProducerError::Closed`], and what is buffered gets up to
    /// `timeout` to be delivered. Without a spool, events still pending then are an error
    /// ([`ProducerError::Unsent`]); with one, they are sent at the next start.
    pub async fn close(&self, timeout: Duration) -> Result<FlushReport, ProducerError> {
        self.inner.sender.close(timeout).await
    }
}

// The API promises these; a change that breaks them fails to compile.
const _: () = {
    const fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Producer>();
    shareable::<EventType>();
};

fn check_tags(event: &Event<'_>) -> Result<(), ProducerError> {
    if event.tags.iter().any(|(k, _)| *k == KEY_TAG) {
        return Err(ProducerError::Invalid(format!(
            "the {KEY_TAG} tag is written by the producer (ProducerBuilder::key_id)"
        )));
    }
    Ok(())
}

/// A type must be usable as a folder name: the sink refuses the others as `invalid_stream`.
fn check_type(name: &str) -> Result<(), ProducerError> {
    murron_wire::check::check_type(name).map_err(|r| ProducerError::Invalid(r.to_string()))
}

fn check_host(host: &str) -> Result<(), ProducerError> {
    if host.is_empty() || host.contains('\0') {
        return Err(ProducerError::Config(format!("host {host:?} is empty or holds a NUL")));
    }
    Ok(())
}

/// `$HOSTNAME`, then the kernel's host name.
fn default_host() -> Result<String, ProducerError> {
    if let Ok(h) = std::env::var("HOSTNAME")
        && !h.trim().is_empty()
    {
        return Ok(h.trim().to_string());
    }
    match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(h) if !h.trim().is_empty() => Ok(h.trim().to_string()),
        _ => Err(ProducerError::Config(
            "no host name: set $HOSTNAME or ProducerBuilder::host".into(),
        )),
    }
}

fn random_pid() -> Result<i32, ProducerError> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|e| ProducerError::Config(format!("no randomness for a pid: {e}")))?;
    // Positive and never 0 or 1, which real init processes have.
    Ok(((u32::from_le_bytes(b) & 0x7fff_ffff) as i32).max(2))
}
