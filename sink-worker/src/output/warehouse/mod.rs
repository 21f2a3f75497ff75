//! The warehouse output (`kind = "postgres"`): each converted group is inserted into its event type's
//! table in the batch's own transaction, so rows appear exactly when the commit points move. The
//! tables and their SQL are [`crate::state::warehouse`]'s. Rows PostgreSQL refuses as data become dead
//! letters (`unstorable`) instead of stopping the pipeline.

use sqlx::PgConnection;

use super::{Output, OutputFuture, Prepared, Refused, Staging};
use crate::config::outputs::WarehouseConfig;
use crate::state::FileRecord;
use crate::state::warehouse::Warehouse;

/// The PostgreSQL warehouse, in the state database.
#[derive(Debug)]
pub struct WarehouseOutput {
    warehouse: Warehouse,
}

impl WarehouseOutput {
    pub fn new(config: WarehouseConfig) -> Self {
        Self {
            warehouse: Warehouse::new(config),
        }
    }
}

impl Output for WarehouseOutput {
    fn name(&self) -> String {
        "postgres".to_owned()
    }

    fn stage<'a>(
        &'a self,
        batch: &'a Prepared<'a>,
        conn: &'a mut PgConnection,
        staging: &'a mut Staging,
    ) -> OutputFuture<'a, ()> {
        Box::pin(async move {
            for converted in batch.converted {
                let group = &batch.groups[converted.group];
                let rb = &converted.batch;
                self.warehouse
                    .ensure_table(conn, group.event_type, &rb.schema())
                    .await?;
                let (n, refused) = self.warehouse.insert_isolating(conn, group.event_type, rb).await?;
                metrics::counter!("murron_sink_written_events_total", "output" => "postgres").increment(n);
                for (row, detail) in refused {
                    staging.refused.push(Refused {
                        row: group.rows[row],
                        reason: "unstorable",
                        detail,
                    });
                }
            }
            Ok(())
        })
    }

    /// Nothing to publish: the rows committed with the batch.
    fn publish<'a>(&'a self, _file: &'a FileRecord) -> OutputFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}
