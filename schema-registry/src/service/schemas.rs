//! Schemas by their global id: ids never change, so a schema read once is served from the cache.

use std::sync::Arc;

use super::{Registry, ServiceError, TextFormat};
use crate::store::StoredSchema;
use murron_schema_types::schema::{self, ParsedSchema, Reference, SchemaType};

impl Registry {
    /// The schema with id `id`, as the caller wrote it: an id that is not a number is not found.
    pub async fn schema(&self, id: &str) -> Result<Arc<StoredSchema>, ServiceError> {
        let not_found = || ServiceError::SchemaNotFound(id.to_string());
        let parsed: i32 = id.parse().map_err(|_| not_found())?;
        if let Some(hit) = self.caches.schema(parsed) {
            return Ok(hit);
        }
        let stored = self.store.schema_by_id(parsed).await?.ok_or_else(not_found)?;
        Ok(self.caches.put_schema(stored))
    }

    /// The text of the stored schema `id` (of `schema_type`, with `text` and `references`) in
    /// `format`. The serialized form comes from the parsed schema, which is cached by id.
    pub async fn text_in(
        &self,
        format: TextFormat,
        id: i32,
        schema_type: SchemaType,
        text: &str,
        references: &[Reference],
    ) -> Result<String, ServiceError> {
        if format == TextFormat::Stored || schema_type != SchemaType::Protobuf {
            return Ok(text.to_string());
        }
        let referenced = if self.caches.is_parsed(id) {
            Vec::new()
        } else {
            self.store
                .referenced(references)
                .await?
                .ok_or(ServiceError::MissingReference)?
        };
        let parsed = self
            .caches
            .parsed(id, || schema::parse_stored(schema_type, text, &referenced))?;
        Ok(match parsed {
            ParsedSchema::Protobuf(p) => p.serialized(),
            _ => text.to_string(),
        })
    }

    /// The (subject, version) pairs that use the schema with id `id`.
    pub async fn usages(&self, id: &str, include_deleted: bool) -> Result<Vec<(String, i32)>, ServiceError> {
        let schema = self.schema(id).await?;
        Ok(self.store.usages(schema.id, include_deleted).await?)
    }
}
