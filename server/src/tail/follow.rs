//! Following a file by name across rotation, as `tail -F` does, by polling (no inotify):
//!
//! - Read the open file to its end; then, every poll, look at what the path names now ([`change`]).
//! - The same file, as long or longer: keep reading it.
//! - The same file, shorter than what was read: it was truncated in place (copytruncate); read it
//!   again from the start.
//! - Another file (a new inode): the old one was rotated away. Read the old one to its end (its last
//!   line, even without a newline, is finished), then open the new one from its start.
//! - Nothing: the old file was moved and the new one is not there yet; keep reading the old one.
//!
//! Limits, as for any polling follower: a file truncated and then written past the old position
//! within one poll looks grown, not truncated; lines written to a rotated file after it was drained
//! are not read.

use std::io::SeekFrom;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use tokio::fs::File;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

/// Which file a handle or a path is: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// What the followed path names now, compared with the open file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The open file, not shorter than what was read.
    Same,
    /// The open file, shorter than what was read: truncated in place.
    Truncated,
    /// Another file: the open one was rotated away.
    Replaced,
    /// No file at the path for now.
    Missing,
}

/// Decides what happened to the path, from the open file's id, the bytes read from it, and what the
/// path names now (its id and length).
pub fn change(open: FileId, read: u64, at_path: Option<(FileId, u64)>) -> Change {
    match at_path {
        None => Change::Missing,
        Some((id, _)) if id != open => Change::Replaced,
        Some((_, len)) if len < read => Change::Truncated,
        Some(_) => Change::Same,
    }
}

/// An open file being read, and where.
#[derive(Debug)]
pub struct Opened {
    pub file: File,
    pub id: FileId,
    /// Bytes read so far: the position of the next read.
    pub pos: u64,
}

impl Opened {
    /// Opens `path` at `pos` (clamped to its length); returns it and its length.
    pub async fn open(path: &Path, pos: u64) -> std::io::Result<(Self, u64)> {
        let mut file = File::open(path).await?;
        let meta = file.metadata().await?;
        let pos = pos.min(meta.len());
        file.seek(SeekFrom::Start(pos)).await?;
        Ok((
            Self {
                file,
                id: FileId::of(&meta),
                pos,
            },
            meta.len(),
        ))
    }

    /// Reads what is there into `buf`; 0 at the end for now.
    pub async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf).await?;
        self.pos += n as u64;
        Ok(n)
    }

    /// Reads again from the start (after a truncation).
    pub async fn rewind(&mut self) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(0)).await?;
        self.pos = 0;
        Ok(())
    }
}

/// What the path names now: its id and length, or `None` when there is no file.
pub async fn stat(path: &Path) -> std::io::Result<Option<(FileId, u64)>> {
    match tokio::fs::metadata(path).await {
        Ok(meta) => Ok(Some((FileId::of(&meta), meta.len()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The file with id `id` in the directory of `path`, under any name: where a rotated log went
/// (`app.log.1`, `app.log-20261207`). Compressed copies are other files and are not found.
pub async fn find_rotated(path: &Path, id: FileId) -> std::io::Result<Option<PathBuf>> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut entries = tokio::fs::read_dir(&dir).await?;
    while let Some(entry) = entries.next_entry().await? {
        // A file that vanished meanwhile is simply not the one.
        if let Ok(meta) = tokio::fs::metadata(entry.path()).await
            && meta.is_file()
            && FileId::of(&meta) == id
        {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: FileId = FileId { dev: 1, ino: 10 };
    const B: FileId = FileId { dev: 1, ino: 11 };

    #[test]
    fn the_same_file_grown_or_unchanged_is_read_on() {
        assert_eq!(change(A, 100, Some((A, 100))), Change::Same);
        assert_eq!(change(A, 100, Some((A, 250))), Change::Same);
    }

    #[test]
    fn the_same_file_shorter_than_what_was_read_was_truncated() {
        assert_eq!(change(A, 100, Some((A, 99))), Change::Truncated);
        assert_eq!(change(A, 100, Some((A, 0))), Change::Truncated);
    }

    #[test]
    fn another_inode_or_device_at_the_path_is_a_rotation_whatever_its_length() {
        for len in [0, 100, 1_000] {
            assert_eq!(change(A, 100, Some((B, len))), Change::Replaced);
        }
        assert_eq!(change(A, 0, Some((FileId { dev: 2, ino: 10 }, 0))), Change::Replaced);
    }

    #[test]
    fn no_file_at_the_path_is_missing_not_rotated() {
        assert_eq!(change(A, 100, None), Change::Missing);
    }

    #[tokio::test]
    async fn a_renamed_file_is_found_by_its_inode_and_the_new_one_differs() {
        let dir = std::env::temp_dir().join(format!("murron-tail-follow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("app.log");
        std::fs::write(&log, "one\n").unwrap();
        let (opened, len) = Opened::open(&log, u64::MAX).await.unwrap();
        assert_eq!((opened.pos, len), (4, 4));
        std::fs::rename(&log, dir.join("app.log.1")).unwrap();
        assert_eq!(stat(&log).await.unwrap(), None);
        std::fs::write(&log, "").unwrap();
        let (new, _) = stat(&log).await.unwrap().unwrap();
        assert_eq!(change(opened.id, opened.pos, Some((new, 0))), Change::Replaced);
        assert_eq!(
            find_rotated(&log, opened.id).await.unwrap(),
            Some(dir.join("app.log.1"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
