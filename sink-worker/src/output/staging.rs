//! The staging area of a batch: every object an output uploads before the commit goes under
//! `_murron/staging/{pipeline}/{batch id}/`, and is listed here for the manifest. What stays there
//! after a crash is an orphan, which [`staging_prefix`] lets the writer find and remove.

use crate::state::NewFile;
use crate::storage::{ObjectStore, StoreError};

/// Where a pipeline's staged objects are kept in each store.
pub fn staging_prefix(pipeline: &str) -> String {
    format!("_murron/staging/{pipeline}/")
}

/// A row an output refused as data (a warehouse constraint, say): it becomes a dead letter.
#[derive(Debug)]
pub struct Refused {
    /// Index into the batch's rows.
    pub row: usize,
    pub reason: &'static str,
    pub detail: String,
}

/// What a batch staged: the manifest entries to record in its transaction, and the refused rows.
#[derive(Debug)]
pub struct Staging {
    prefix: String,
    file_no: usize,
    pub files: Vec<NewFile>,
    pub refused: Vec<Refused>,
}

impl Staging {
    pub fn new(pipeline: &str, batch_id: &str) -> Self {
        Self {
            prefix: format!("{}{batch_id}/", staging_prefix(pipeline)),
            file_no: 0,
            files: Vec::new(),
            refused: Vec::new(),
        }
    }

    /// A new staging key for an object of this batch, with file name extension `extension`.
    pub fn next_key(&mut self, extension: &str) -> String {
        self.file_no += 1;
        format!("{}{}.{extension}", self.prefix, self.file_no)
    }

    /// Uploads a file of `events` events to a new staging key, counts it for `store`'s output, and
    /// lists it for promotion to `final_key`.
    pub async fn upload(
        &mut self,
        store: &ObjectStore,
        extension: &str,
        final_key: String,
        body: Vec<u8>,
        events: usize,
    ) -> Result<(), StoreError> {
        let staging_key = self.next_key(extension);
        let bytes = body.len() as u64;
        self.put(store, store.describe(), staging_key, final_key, body, events)
            .await?;
        metrics::counter!("murron_sink_written_bytes_total", "output" => store.describe()).increment(bytes);
        metrics::counter!("murron_sink_written_events_total", "output" => store.describe()).increment(events as u64);
        Ok(())
    }

    /// Uploads `body` to `staging_key` in `store` and lists it in the manifest under `output`'s name,
    /// for its publish to `final_key` (for a Kafka blob, the source ends it covers).
    pub async fn put(
        &mut self,
        store: &ObjectStore,
        output: String,
        staging_key: String,
        final_key: String,
        body: Vec<u8>,
        events: usize,
    ) -> Result<(), StoreError> {
        let bytes = body.len() as i64;
        store.put(&staging_key, body).await?;
        self.files.push(NewFile {
            store: output,
            staging_key,
            final_key,
            events: events as i64,
            bytes,
        });
        Ok(())
    }

    /// The staging key of the batch's dead letters.
    pub fn dead_letter_key(&self) -> String {
        format!("{}dlq.jsonl", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_keys_are_numbered_under_the_batch() {
        let mut s = Staging::new("p", "0000000001000-aa-000001");
        assert_eq!(
            s.next_key("parquet"),
            "_murron/staging/p/0000000001000-aa-000001/1.parquet"
        );
        assert_eq!(s.next_key("kafka"), "_murron/staging/p/0000000001000-aa-000001/2.kafka");
        assert_eq!(
            s.dead_letter_key(),
            "_murron/staging/p/0000000001000-aa-000001/dlq.jsonl"
        );
    }
}
