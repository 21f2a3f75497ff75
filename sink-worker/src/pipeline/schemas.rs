//! Payload schemas by registry id, compiled once ([`murron_payload::PayloadSchema`]), with the subjects
//! the id is registered under (to check the envelope's `type`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use murron_payload::{CompileError, PayloadSchema, Referenced, SchemaType, avro};

use murron_connect::registry::{ReferencedSchema, RegisteredSchema, RegistryClient, RegistryError};

/// A payload schema ready for the hot path, and the subjects it is registered under.
#[derive(Debug)]
pub struct KnownSchema {
    pub subjects: Vec<String>,
    pub schema: PayloadSchema,
}

/// What the registry says about an id.
#[derive(Debug, Clone)]
pub enum Lookup {
    Found(Arc<KnownSchema>),
    /// The registry does not know the id: the event is dead-lettered as `unknown_schema`.
    Unknown,
    /// The id names a schema we cannot use (a type or a construct the sink does not read):
    /// `unusable_schema`.
    Unusable(String),
}

/// How long an unknown id is remembered: it may be registered by an import shortly after.
const NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// Cache of payload schemas by id. Ids are immutable, so found schemas are kept forever.
#[derive(Debug)]
pub struct SchemaCache {
    /// Shared with lookups that run in tasks of their own ([`Self::lookup`]).
    registry: Arc<RegistryClient>,
    found: HashMap<u32, Arc<KnownSchema>>,
    rejected: HashMap<u32, (Instant, Lookup)>,
    /// Whether the last lookup met an outage: until one is answered again, [`Self::failing`] tells the
    /// run loop not to wait for the registry on its own task.
    failing: bool,
}

impl SchemaCache {
    pub fn new(registry: RegistryClient) -> Self {
        Self {
            registry: Arc::new(registry),
            found: HashMap::new(),
            rejected: HashMap::new(),
            failing: false,
        }
    }

    /// The cached answer for `id`, if any; the hot path calls this first.
    pub fn cached(&self, id: u32) -> Option<Lookup> {
        if let Some(s) = self.found.get(&id) {
            return Some(Lookup::Found(s.clone()));
        }
        self.rejected
            .get(&id)
            .filter(|(at, _)| at.elapsed() < NEGATIVE_TTL)
            .map(|(_, l)| l.clone())
    }

    /// Whether the registry's last answer was an outage.
    pub fn failing(&self) -> bool {
        self.failing
    }

    /// Asks the registry and remembers the answer. An `Err` is an outage (retry later, never
    /// dead-letter for it).
    pub async fn fetch(&mut self, id: u32) -> Result<Lookup, RegistryError> {
        let answer = resolve(&self.registry, id).await;
        self.remember(id, answer)
    }

    /// A lookup of `id` that runs apart from the cache (in a task of its own, so that a slow registry
    /// holds up nobody); hand its answer to [`Self::remember`].
    pub fn lookup(&self, id: u32) -> impl Future<Output = Result<Lookup, RegistryError>> + Send + 'static {
        let registry = self.registry.clone();
        async move { resolve(&registry, id).await }
    }

    /// Records what the registry answered about `id` and passes it on.
    pub fn remember(&mut self, id: u32, answer: Result<Lookup, RegistryError>) -> Result<Lookup, RegistryError> {
        self.failing = answer.is_err();
        match &answer {
            Err(e) => {
                metrics::counter!("murron_sink_retries_total", "op" => "registry").increment(1);
                if e.is_configuration() {
                    // Trust or credentials changed under a running worker: only an operator can fix
                    // it, so say so loudly while the partition waits.
                    tracing::error!(schema_id = id, error = %e, "schema registry refuses our TLS trust or credentials; fix the registry settings; waiting");
                } else {
                    tracing::warn!(schema_id = id, error = %e, "schema registry unavailable");
                }
            }
            Ok(Lookup::Found(s)) => {
                self.found.insert(id, s.clone());
            }
            Ok(rejected) => {
                self.rejected.insert(id, (Instant::now(), rejected.clone()));
            }
        }
        answer
    }
}

/// What the registry says about `id`; an `Err` is an outage.
async fn resolve(registry: &RegistryClient, id: u32) -> Result<Lookup, RegistryError> {
    Ok(match registry.schema_with_subjects(id).await {
        Ok(registered) => match compile(id, registered) {
            Ok(s) => Lookup::Found(Arc::new(s)),
            Err(reason) => Lookup::Unusable(reason),
        },
        Err(RegistryError::Api { status: 404, .. }) => Lookup::Unknown,
        Err(e @ RegistryError::InvalidSchema { .. }) => Lookup::Unusable(e.to_string()),
        // Anything else (unreachable, 5xx, 401/403/429, a proxy's HTML page) is our outage.
        Err(e) => return Err(e),
    })
}

fn compile(id: u32, registered: RegisteredSchema) -> Result<KnownSchema, String> {
    let kind = SchemaType::from_request(registered.schema_type.as_deref()).map_err(|e| format!("schema {id}: {e}"))?;
    let referenced = payload_references(registered.referenced).map_err(|e| format!("schema {id}: {e}"))?;
    let compiled = PayloadSchema::compile(id, kind, &registered.text, &referenced);
    match compiled {
        Ok(schema) => Ok(KnownSchema {
            subjects: registered.subjects,
            schema,
        }),
        Err(CompileError::Avro(avro::CompileError::Parse(e))) => Err(format!("schema {id} is not valid Avro: {e}")),
        Err(e) => Err(format!("schema {id}: {e}")),
    }
}

/// The registry's references as the payload compiler takes them; a reference of a type the sink
/// cannot read makes the schema unusable.
pub fn payload_references(references: Vec<ReferencedSchema>) -> Result<Vec<Referenced>, String> {
    references
        .into_iter()
        .map(|r| {
            let schema_type = SchemaType::from_request(r.schema_type.as_deref())
                .map_err(|e| format!("reference {:?}: {e}", r.name))?;
            Ok(Referenced {
                name: r.name,
                schema_type,
                text: r.text,
            })
        })
        .collect()
}
