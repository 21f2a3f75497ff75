//! Payload schemas by registry id, compiled once ([`murron_payload::PayloadSchema`]), with the subjects
//! the id is registered under (to check the envelope's `type`).

use std::collections::HashMap;
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
    registry: RegistryClient,
    found: HashMap<u32, Arc<KnownSchema>>,
    rejected: HashMap<u32, (Instant, Lookup)>,
}

impl SchemaCache {
    pub fn new(registry: RegistryClient) -> Self {
        Self {
            registry,
            found: HashMap::new(),
            rejected: HashMap::new(),
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

    /// Asks the registry. An `Err` is an outage (retry later, never dead-letter for it).
    pub async fn fetch(&mut self, id: u32) -> Result<Lookup, RegistryError> {
        let lookup = match self.registry.schema_with_subjects(id).await {
            Ok(registered) => match compile(id, registered) {
                Ok(s) => {
                    let s = Arc::new(s);
                    self.found.insert(id, s.clone());
                    return Ok(Lookup::Found(s));
                }
                Err(reason) => Lookup::Unusable(reason),
            },
            Err(RegistryError::Api { status: 404, .. }) => Lookup::Unknown,
            Err(e @ RegistryError::InvalidSchema { .. }) => Lookup::Unusable(e.to_string()),
            // Anything else (unreachable, 5xx, 401/403/429, a proxy's HTML page) is our outage.
            Err(e) => return Err(e),
        };
        self.rejected.insert(id, (Instant::now(), lookup.clone()));
        Ok(lookup)
    }
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
