//! The adaptor's position, kept in the spool directory beside the producer's spool as `tail.state`:
//! a point in the file (its id and a byte position at a line start) and the offset its stream had
//! reached there. Every line before the point was sent with an offset below `next_offset`; the lines
//! after it produce the offsets `next_offset`, `next_offset + 1`, … in order.
//!
//! A restart reads the spool's next offset S for the stream, which counts every event the previous
//! run spooled, also those after the last state write. The first `S - next_offset` events read again
//! from the point were already sent (the spool holds them, with their UIDs): they are skipped
//! ([`State::already_sent`]). So no line is read twice into two events, and none is skipped.
//!
//! The file is replaced atomically (write `tail.state.tmp`, rename). It is written after the events
//! before its position are spooled and synced, so it is never ahead of the spool, even after an OS
//! crash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::follow::FileId;

/// The state file's name in the spool directory.
pub const FILE_NAME: &str = "tail.state";

/// Where a tail stood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// The event type and the followed path, as given: a state for another type or path is not used.
    #[serde(rename = "type")]
    pub event_type: String,
    pub path: PathBuf,
    pub file: FileId,
    /// A line start in that file.
    pub position: u64,
    /// The offset of the first event from the line at `position`.
    pub next_offset: i64,
}

impl State {
    /// How many events after the point the previous run already sent, given the stream's next
    /// offset from the spool. Negative means the spool does not hold what the state saw (it was
    /// emptied or replaced): nothing can be skipped then.
    pub fn already_sent(&self, spool_next: i64) -> i64 {
        spool_next - self.next_offset
    }

    /// Reads the state in `dir`; `None` when there is none.
    pub fn read(dir: &Path) -> std::io::Result<Option<State>> {
        match std::fs::read(dir.join(FILE_NAME)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| std::io::Error::other(format!("{}: {e}", dir.join(FILE_NAME).display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the state in `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join(format!("{FILE_NAME}.tmp"));
        let body = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, body)?;
        std::fs::rename(&tmp, dir.join(FILE_NAME))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> State {
        State {
            version: 1,
            event_type: "app.log".into(),
            path: "/var/log/app.log".into(),
            file: FileId { dev: 1, ino: 2 },
            position: 4096,
            next_offset: 10,
        }
    }

    #[test]
    fn events_spooled_after_the_last_write_are_counted_as_already_sent() {
        assert_eq!(state().already_sent(10), 0);
        assert_eq!(state().already_sent(13), 3);
        assert_eq!(state().already_sent(7), -3);
    }

    #[test]
    fn a_written_state_reads_back_and_a_missing_one_is_none() {
        let dir = std::env::temp_dir().join(format!("murron-tail-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(State::read(&dir).unwrap(), None);
        state().write(&dir).unwrap();
        assert_eq!(State::read(&dir).unwrap(), Some(state()));
        std::fs::write(dir.join(FILE_NAME), "{").unwrap();
        assert!(State::read(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
