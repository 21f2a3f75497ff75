//! The optional on-disk spool: a write-ahead log of signed records and the streams' next offsets, so
//! that a restarted producer resends what was not acknowledged and never reuses an offset.
//!
//! Layout of the spool directory:
//!
//! ```text
//! LOCK            locked (File::try_lock) for the producer's lifetime: one spool, one producer
//! streams         JSON {"version":1,"host":h,"pid":p,"streams":[{"type":t,"host":h,"pid":p,"next":n}]},
//!                 replaced atomically (write streams.tmp, sync, rename)
//! {n:020}.seg     "MSPOOL1\n", then records: u32 BE len | u32 BE crc32(body) | body
//!                 body = u8 kind (1) | u16 BE topic_len | topic (empty: the server routes) | u16 BE key_len | key | value
//! ```
//!
//! - Records are appended before `send` returns; a segment rolls at `segment_bytes`, and is deleted
//!   when all its records are acknowledged or refused, after `streams` is rewritten, so offsets that
//!   only a deleted segment held are still known.
//! - Recovery takes the lock, reads `streams`, and reads every segment checking each CRC. A short or
//!   bad record at the end of the newest segment is a torn write: the file is truncated there.
//!   Elsewhere a bad record is skipped and counted. A stream's next offset is the larger of what
//!   `streams` says and its highest spooled offset + 1. Every record read is sent again (the sink
//!   drops the copies it already has).
//! - With a spool, the producer's host and pid are the spool's, so a restarted process continues
//!   its streams even as pid 1 in a container.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::metrics;
use crate::record::Record;

const MAGIC: &[u8; 8] = b"MSPOOL1\n";
const KIND_RECORD: u8 = 1;
/// A drained open segment older than this is retired, so an idle producer keeps no delivered
/// records on disk.
const RETIRE_IDLE_AFTER: Duration = Duration::from_secs(1);

/// When the spool's writes reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// Every append is synced before `send` returns: survives an OS crash, slowest (the sync runs
    /// on the sending task, under the stream's lock).
    Always,
    /// Synced in the background at this interval: an OS crash loses at most the interval. A crash of
    /// the process alone loses nothing in any mode.
    Interval(Duration),
    /// Left to the OS.
    Never,
}

/// Where and how to spool.
#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    pub fsync: Fsync,
    /// A segment rolls when it reaches this size.
    pub segment_bytes: u64,
}

impl SpoolConfig {
    /// A spool in `dir`, synced every 200 ms, with 64 MiB segments.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            fsync: Fsync::Interval(Duration::from_millis(200)),
            segment_bytes: 64 << 20,
        }
    }
}

/// A stream `(type, host, pid)`.
type StreamKey = (Arc<str>, Arc<str>, i32);

#[derive(Serialize, Deserialize)]
struct StreamsFile {
    version: u32,
    host: String,
    pid: i32,
    streams: Vec<StreamEntry>,
}

#[derive(Serialize, Deserialize)]
struct StreamEntry {
    #[serde(rename = "type")]
    event_type: String,
    host: String,
    pid: i32,
    next: i64,
}

/// A segment file and how many of its records are still unresolved.
#[derive(Debug)]
struct Segment {
    path: PathBuf,
    bytes: u64,
    pending: u64,
}

/// The segment being appended to.
#[derive(Debug)]
struct Open {
    file: File,
    first_seq: u64,
    len: u64,
    opened: Instant,
}

/// What recovery found.
#[derive(Debug)]
pub struct Recovered {
    /// The producer identity the spool belongs to.
    pub host: String,
    pub pid: i32,
    /// Records to send again, numbered `0..records.len()` by the sender.
    pub records: Vec<Record>,
    /// Records skipped because their CRC or contents were bad.
    pub corrupt: u64,
}

/// An open spool directory.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    /// Held until [`Spool::release`]; `None` after it, when nothing more is written.
    lock: Option<File>,
    config: SpoolConfig,
    host: String,
    pid: i32,
    next: HashMap<StreamKey, i64>,
    /// By the first sequence number written to each.
    segments: BTreeMap<u64, Segment>,
    open: Option<Open>,
    next_number: u64,
    /// Bytes appended since the last sync.
    dirty: bool,
}

/// The spool directory is held by another producer.
#[derive(Debug, thiserror::Error)]
#[error("spool directory {0} is in use by another producer")]
pub struct Locked(pub String);

/// Why a spool could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Locked(#[from] Locked),
    #[error("spool {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl Spool {
    /// Opens (or creates) the spool at `config.dir` and recovers it. `host` and `pid` are the
    /// identity for a new spool; an existing spool keeps its own.
    pub fn open(config: SpoolConfig, host: &str, pid: i32) -> Result<(Self, Recovered), OpenError> {
        let dir = config.dir.clone();
        let io_err = |source: io::Error| OpenError::Io {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(io_err)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))
            .map_err(io_err)?;
        if lock.try_lock().is_err() {
            return Err(Locked(dir.display().to_string()).into());
        }
        let (host, pid, mut next) = match std::fs::read(dir.join("streams")) {
            Ok(text) => read_streams(&text).map_err(io_err)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => (host.to_string(), pid, HashMap::new()),
            Err(e) => return Err(io_err(e)),
        };
        let mut spool = Self {
            dir: dir.clone(),
            lock: Some(lock),
            config,
            host,
            pid,
            next: HashMap::new(),
            segments: BTreeMap::new(),
            open: None,
            next_number: 0,
            dirty: false,
        };
        let mut numbers = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io_err)? {
            let name = entry.map_err(io_err)?.file_name();
            if let Some(n) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                numbers.push(n);
            }
        }
        numbers.sort_unstable();
        spool.next_number = numbers.last().map_or(0, |n| n + 1);
        let mut records = Vec::new();
        let mut corrupt = 0;
        let mut empty = Vec::new();
        for (i, number) in numbers.iter().enumerate() {
            let path = segment_path(&dir, *number);
            let newest = i + 1 == numbers.len();
            let first_seq = records.len() as u64;
            let (found, bad, len) = read_segment(&path, newest).map_err(io_err)?;
            corrupt += bad;
            for r in &found {
                let key = (r.event_type.clone(), r.host.clone(), r.pid);
                let n = next.entry(key).or_insert(0);
                *n = (*n).max(r.offset.saturating_add(1));
            }
            let pending = found.len() as u64;
            records.extend(found);
            if pending == 0 {
                empty.push(path);
            } else {
                spool.segments.insert(
                    first_seq,
                    Segment {
                        path,
                        bytes: len,
                        pending,
                    },
                );
            }
        }
        if corrupt > 0 {
            tracing::error!(corrupt, dir = %dir.display(), "spool: records with a bad CRC or contents were skipped");
            metrics::spool_corrupt(corrupt);
        }
        spool.next = next;
        spool.write_streams().map_err(io_err)?;
        for path in empty {
            std::fs::remove_file(&path).map_err(io_err)?;
        }
        metrics::spool_bytes(spool.bytes());
        let recovered = Recovered {
            host: spool.host.clone(),
            pid: spool.pid,
            records,
            corrupt,
        };
        Ok((spool, recovered))
    }

    /// The producer identity this spool belongs to.
    pub fn identity(&self) -> (&str, i32) {
        (&self.host, self.pid)
    }

    /// The next offset of stream `(event_type, host, pid)` as far as the spool knows (0 if new).
    pub fn next_offset(&self, event_type: &str, host: &str, pid: i32) -> i64 {
        self.next
            .get(&(Arc::from(event_type), Arc::from(host), pid))
            .copied()
            .unwrap_or(0)
    }

    /// Bytes on disk in segments.
    pub fn bytes(&self) -> u64 {
        self.segments.values().map(|s| s.bytes).sum()
    }

    /// Appends `records`, numbered from `first_seq`, with one write. On failure the segment is cut
    /// back to where it was, so no partial record stays in the middle of the log.
    pub fn append(&mut self, first_seq: u64, records: &[Record]) -> io::Result<()> {
        if self.lock.is_none() {
            return Err(io::Error::other("the spool was released"));
        }
        if records.is_empty() {
            return Ok(());
        }
        if self.open.as_ref().is_some_and(|o| o.len >= self.config.segment_bytes) {
            self.open = None;
        }
        if self.open.is_none() {
            let path = segment_path(&self.dir, self.next_number);
            let mut file = OpenOptions::new().create_new(true).append(true).open(&path)?;
            file.write_all(MAGIC)?;
            self.next_number += 1;
            self.segments.insert(
                first_seq,
                Segment {
                    path,
                    bytes: MAGIC.len() as u64,
                    pending: 0,
                },
            );
            self.open = Some(Open {
                file,
                first_seq,
                len: MAGIC.len() as u64,
                opened: Instant::now(),
            });
        }
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.value.len() + r.key.len() + 64).sum());
        for r in records {
            encode_record(r, &mut buf)?;
        }
        let open = self.open.as_mut().ok_or_else(|| io::Error::other("no open segment"))?;
        if let Err(e) = open.file.write_all(&buf) {
            let _ = open.file.set_len(open.len);
            return Err(e);
        }
        if self.config.fsync == Fsync::Always {
            open.file.sync_data()?;
        } else {
            self.dirty = true;
        }
        open.len += buf.len() as u64;
        let open_first = open.first_seq;
        if let Some(segment) = self.segments.get_mut(&open_first) {
            segment.pending += records.len() as u64;
            segment.bytes += buf.len() as u64;
        }
        for r in records {
            let n = self
                .next
                .entry((r.event_type.clone(), r.host.clone(), r.pid))
                .or_insert(0);
            *n = (*n).max(r.offset.saturating_add(1));
        }
        metrics::spool_bytes(self.bytes());
        Ok(())
    }

    /// Marks records acknowledged or refused; deletes the segments they drained.
    pub fn resolve(&mut self, seqs: &[u64]) -> io::Result<()> {
        if self.lock.is_none() {
            return Ok(());
        }
        let mut drained = false;
        for seq in seqs {
            if let Some((_, segment)) = self.segments.range_mut(..=seq).next_back() {
                segment.pending = segment.pending.saturating_sub(1);
                drained |= segment.pending == 0;
            }
        }
        if drained { self.retire(false) } else { Ok(()) }
    }

    /// Syncs pending writes (`Fsync::Interval`) and retires an idle drained segment.
    pub fn upkeep(&mut self) -> io::Result<()> {
        if self.lock.is_none() {
            return Ok(());
        }
        if matches!(self.config.fsync, Fsync::Interval(_)) {
            self.sync()?;
        }
        let idle = self
            .open
            .as_ref()
            .is_some_and(|o| o.opened.elapsed() >= RETIRE_IDLE_AFTER);
        self.retire(idle)
    }

    /// How often [`Spool::upkeep`] should run.
    pub fn upkeep_interval(&self) -> Duration {
        match self.config.fsync {
            Fsync::Interval(d) => d.min(RETIRE_IDLE_AFTER),
            Fsync::Always | Fsync::Never => RETIRE_IDLE_AFTER,
        }
    }

    /// Writes appended records to the disk.
    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty
            && let Some(open) = &self.open
        {
            open.file.sync_data()?;
        }
        self.dirty = false;
        Ok(())
    }

    /// Syncs, and lets another producer open the directory; nothing more is written.
    pub fn release(&mut self) -> io::Result<()> {
        self.sync()?;
        // A drained open segment need not wait to be idle: nothing more is appended.
        self.retire(true)?;
        self.open = None;
        self.lock = None;
        Ok(())
    }

    /// Deletes drained segments, after recording the streams' next offsets. The open segment goes
    /// too, if drained, when `open_too`.
    fn retire(&mut self, open_too: bool) -> io::Result<()> {
        let open_first = self.open.as_ref().map(|o| o.first_seq);
        let done: Vec<u64> = self
            .segments
            .iter()
            .filter(|(first, s)| s.pending == 0 && (Some(**first) != open_first || open_too))
            .map(|(first, _)| *first)
            .collect();
        if done.is_empty() {
            return Ok(());
        }
        self.write_streams()?;
        for first in done {
            if Some(first) == open_first {
                self.open = None;
            }
            if let Some(segment) = self.segments.remove(&first) {
                std::fs::remove_file(&segment.path)?;
            }
        }
        metrics::spool_bytes(self.bytes());
        Ok(())
    }

    fn write_streams(&self) -> io::Result<()> {
        let mut streams: Vec<StreamEntry> = self
            .next
            .iter()
            .map(|((t, h, p), n)| StreamEntry {
                event_type: t.to_string(),
                host: h.to_string(),
                pid: *p,
                next: *n,
            })
            .collect();
        streams.sort_by(|a, b| (&a.event_type, &a.host, a.pid).cmp(&(&b.event_type, &b.host, b.pid)));
        let body = serde_json::to_vec_pretty(&StreamsFile {
            version: 1,
            host: self.host.clone(),
            pid: self.pid,
            streams,
        })
        .map_err(io::Error::other)?;
        let tmp = self.dir.join("streams.tmp");
        let mut file = File::create(&tmp)?;
        file.write_all(&body)?;
        if self.config.fsync != Fsync::Never {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, self.dir.join("streams"))?;
        if self.config.fsync != Fsync::Never {
            File::open(&self.dir)?.sync_all()?;
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:020}.seg"))
}

fn read_streams(text: &[u8]) -> io::Result<(String, i32, HashMap<StreamKey, i64>)> {
    let file: StreamsFile = serde_json::from_slice(text).map_err(|e| io::Error::other(format!("streams: {e}")))?;
    let next = file
        .streams
        .into_iter()
        .map(|s| ((Arc::from(s.event_type), Arc::from(s.host), s.pid), s.next))
        .collect();
    Ok((file.host, file.pid, next))
}

fn encode_record(r: &Record, out: &mut Vec<u8>) -> io::Result<()> {
    let topic = r.topic.as_deref().unwrap_or("");
    let too_long = |what| io::Error::other(format!("{what} longer than 65535 bytes"));
    let topic_len = u16::try_from(topic.len()).map_err(|_| too_long("topic"))?;
    let key_len = u16::try_from(r.key.len()).map_err(|_| too_long("key"))?;
    let body_len = 1 + 2 + topic.len() + 2 + r.key.len() + r.value.len();
    let body_len = u32::try_from(body_len).map_err(|_| io::Error::other("record larger than 4 GiB"))?;
    let start = out.len();
    out.extend_from_slice(&body_len.to_be_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(KIND_RECORD);
    out.extend_from_slice(&topic_len.to_be_bytes());
    out.extend_from_slice(topic.as_bytes());
    out.extend_from_slice(&key_len.to_be_bytes());
    out.extend_from_slice(&r.key);
    out.extend_from_slice(&r.value);
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// A record's body back to a [`Record`]; `None` when it is not one this version wrote.
fn decode_body(body: &[u8]) -> Option<Record> {
    let (&kind, rest) = body.split_first()?;
    if kind != KIND_RECORD {
        return None;
    }
    let (topic, rest) = take_u16_prefixed(rest)?;
    let (key, value) = take_u16_prefixed(rest)?;
    let (_, envelope) = murron_wire::envelope::decode(value).ok()?;
    let topic = std::str::from_utf8(topic).ok()?;
    Some(Record {
        topic: (!topic.is_empty()).then(|| Arc::from(topic)),
        key: Bytes::copy_from_slice(key),
        value: Bytes::copy_from_slice(value),
        event_type: envelope.event_type.into(),
        host: envelope.host.into(),
        pid: envelope.pid,
        offset: envelope.offset,
    })
}

fn take_u16_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Reads a segment: its records, how many were bad, and its length after any truncation. A torn
/// tail of the newest segment is cut off.
fn read_segment(path: &Path, newest: bool) -> io::Result<(Vec<Record>, u64, u64)> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    let mut records = Vec::new();
    let mut corrupt = 0;
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        // A segment created but never written (torn header) when newest; else not ours.
        if !newest || !MAGIC.starts_with(&bytes) {
            tracing::error!(path = %path.display(), "spool: a segment without the spool header is skipped");
            corrupt += 1;
        }
        return Ok((records, corrupt, 0));
    }
    let mut pos = MAGIC.len();
    let mut torn_at = None;
    while pos < bytes.len() {
        let header = bytes.get(pos..pos + 8);
        let body_len = header.map(|h| u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize);
        let body = body_len.and_then(|len| bytes.get(pos + 8..pos + 8 + len));
        let (Some(h), Some(body)) = (header, body) else {
            // Runs past the end: the write was cut short.
            if !newest {
                corrupt += 1;
            }
            torn_at = Some(pos);
            break;
        };
        let end = pos + 8 + body.len();
        let crc_ok = crc32fast::hash(body) == u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
        match decode_body(body).filter(|_| crc_ok) {
            Some(record) => records.push(record),
            None if newest && end == bytes.len() => {
                torn_at = Some(pos);
                break;
            }
            None => corrupt += 1,
        }
        pos = end;
    }
    let mut len = bytes.len() as u64;
    if let Some(at) = torn_at {
        if newest {
            OpenOptions::new().write(true).open(path)?.set_len(at as u64)?;
            tracing::warn!(path = %path.display(), at, "spool: a torn write at the end was truncated");
        }
        len = at as u64;
    }
    Ok((records, corrupt, len))
}

#[cfg(test)]
mod tests {
    use murron_wire::envelope::KeyRing;

    use super::*;
    use crate::encode::{Encoder, Event, Identity, TypeTarget};

    /// A fresh directory under the system's temporary directory, removed when dropped.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(name: &str) -> Self {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!("murron-producer-{name}-{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn records(ty: &str, offsets: std::ops::Range<i64>) -> Vec<Record> {
        let encoder = Encoder::new(1, KeyRing::new([("default".into(), b"k".to_vec())]), None).unwrap();
        let identity = Identity::new("web-1", 1);
        let target = TypeTarget {
            name: ty.into(),
            payload_schema_id: 2,
            topic: Some("events".into()),
        };
        offsets
            .map(|o| {
                let event = Event {
                    timestamp: 1,
                    datum: b"datum",
                    tags: &[],
                };
                encoder.encode(&identity, &target, o, &event, &mut Vec::new()).unwrap()
            })
            .collect()
    }

    fn config(dir: &Path) -> SpoolConfig {
        SpoolConfig {
            dir: dir.to_path_buf(),
            fsync: Fsync::Never,
            segment_bytes: 1 << 20,
        }
    }

    #[test]
    fn unacknowledged_records_come_back_with_their_bytes_and_offsets_continue() {
        let dir = TempDir::new("recover");
        let sent = records("a", 0..5);
        {
            let (mut spool, recovered) = Spool::open(config(&dir.0), "web-1", 1).unwrap();
            assert!(recovered.records.is_empty());
            spool.append(0, &sent[..3]).unwrap();
            spool.append(3, &sent[3..]).unwrap();
            spool.resolve(&[0, 1]).unwrap();
        }
        let (spool, recovered) = Spool::open(config(&dir.0), "other-host", 99).unwrap();
        // Resolved records are still in the segment (it is not drained), so all five come back.
        assert_eq!(recovered.records, sent);
        assert_eq!((recovered.host.as_str(), recovered.pid), ("web-1", 1));
        assert_eq!(spool.next_offset("a", "web-1", 1), 5);
        assert_eq!(spool.next_offset("b", "web-1", 1), 0);
    }

    #[test]
    fn drained_segments_are_deleted_and_their_offsets_kept_in_streams() {
        let dir = TempDir::new("retire");
        let mut cfg = config(&dir.0);
        cfg.segment_bytes = 1;
        let sent = records("a", 0..4);
        {
            let (mut spool, _) = Spool::open(cfg.clone(), "web-1", 1).unwrap();
            for (i, r) in sent.iter().enumerate() {
                spool.append(i as u64, std::slice::from_ref(r)).unwrap();
            }
            assert_eq!(spool.segments.len(), 4);
            spool.resolve(&[0, 1, 2]).unwrap();
            assert_eq!(spool.segments.len(), 1);
        }
        let (spool, recovered) = Spool::open(cfg, "web-1", 1).unwrap();
        assert_eq!(recovered.records, sent[3..]);
        assert_eq!(spool.next_offset("a", "web-1", 1), 4);
        // Even with every segment gone, `streams` remembers where the stream is.
        drop(spool);
        let (mut spool, recovered) = Spool::open(config(&dir.0), "web-1", 1).unwrap();
        spool.resolve(&[0]).unwrap();
        spool.open = None;
        spool.retire(false).unwrap();
        assert_eq!(recovered.records.len(), 1);
        drop(spool);
        let (spool, recovered) = Spool::open(config(&dir.0), "web-1", 1).unwrap();
        assert!(recovered.records.is_empty());
        assert_eq!(spool.next_offset("a", "web-1", 1), 4);
    }

    #[test]
    fn a_torn_tail_is_truncated_and_the_records_before_it_survive() {
        let dir = TempDir::new("torn");
        let sent = records("a", 0..3);
        {
            let (mut spool, _) = Spool::open(config(&dir.0), "web-1", 1).unwrap();
            spool.append(0, &sent).unwrap();
        }
        let segment = segment_path(&dir.0, 0);
        let full = std::fs::metadata(&segment).unwrap().len();
        // Every cut inside the last record loses that record only.
        let last_len = 8 + 1 + 2 + 6 + 2 + sent[2].key.len() as u64 + sent[2].value.len() as u64;
        for cut in [1, 7, 8, 20, last_len - 1] {
            let bytes = std::fs::read(&segment).unwrap();
            let dir2 = TempDir::new("torn-copy");
            std::fs::write(segment_path(&dir2.0, 0), &bytes[..(full - cut) as usize]).unwrap();
            let (_, recovered) = Spool::open(config(&dir2.0), "web-1", 1).unwrap();
            assert_eq!(recovered.records, sent[..2], "cut {cut}");
            assert_eq!(recovered.corrupt, 0);
            assert_eq!(
                std::fs::metadata(segment_path(&dir2.0, 0)).unwrap().len(),
                full - last_len
            );
        }
    }

    #[test]
    fn a_bad_crc_inside_the_log_skips_that_record_only() {
        let dir = TempDir::new("crc");
        let sent = records("a", 0..3);
        {
            let (mut spool, _) = Spool::open(config(&dir.0), "web-1", 1).unwrap();
            spool.append(0, &sent).unwrap();
        }
        let segment = segment_path(&dir.0, 0);
        let mut bytes = std::fs::read(&segment).unwrap();
        // The last byte of the first record's value.
        let first_end = MAGIC.len() + 8 + 1 + 2 + 6 + 2 + sent[0].key.len() + sent[0].value.len();
        bytes[first_end - 1] ^= 0xff;
        std::fs::write(&segment, &bytes).unwrap();
        let (spool, recovered) = Spool::open(config(&dir.0), "web-1", 1).unwrap();
        assert_eq!(recovered.records, sent[1..]);
        assert_eq!(recovered.corrupt, 1);
        assert_eq!(spool.next_offset("a", "web-1", 1), 3);
    }

    #[test]
    fn a_second_producer_cannot_open_a_spool_in_use() {
        let dir = TempDir::new("lock");
        let (_spool, _) = Spool::open(config(&dir.0), "web-1", 1).unwrap();
        assert!(matches!(
            Spool::open(config(&dir.0), "web-1", 1),
            Err(OpenError::Locked(_))
        ));
    }
}
