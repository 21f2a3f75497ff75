//! Schemas by their global id: ids never change, so a schema read once is served from the cache.

use std::sync::Arc;

use super::{Registry, ServiceError};
use crate::store::StoredSchema;

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

    /// The (subject, version) pairs that use the schema with id `id`.
    pub async fn usages(&self, id: &str, include_deleted: bool) -> Result<Vec<(String, i32)>, ServiceError> {
        let schema = self.schema(id).await?;
        Ok(self.store.usages(schema.id, include_deleted).await?)
    }
}
