//! The state database's error, in a leaf of its own so that every table's module can return it while
//! `state` re-exports it.

use murron_wire::stream::StreamKey;

/// A state-database failure. Always worth retrying: the database may be restarting.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("state database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored offsets of stream {0:?} do not parse: {1:?}")]
    Corrupt(StreamKey, String),
}
