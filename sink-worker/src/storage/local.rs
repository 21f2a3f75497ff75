//! The local folder implementation of [`Storage`]: a key is a file below the root folder.
//!
//! A put writes a temp file (named with [`TMP_PREFIX`]) beside its target, syncs it, renames it over
//! the target and syncs the folder, so an object is whole and durable or absent; promote is a
//! rename. File IO is blocking, so it runs on tokio's blocking pool.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{ObjectMeta, Storage, StoreError, StoreFuture, TMP_PREFIX, random_u64};

/// A store rooted at a folder.
#[derive(Debug)]
pub(super) struct Local {
    root: PathBuf,
    name: String,
}

impl Local {
    /// Creates the root folder if missing; the store is named by its canonical path.
    pub(super) async fn open(path: &Path) -> Result<Self, StoreError> {
        tokio::fs::create_dir_all(path)
            .await
            .map_err(|e| StoreError::io("create store folder", path, e))?;
        let root = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| StoreError::io("resolve store folder", path, e))?;
        let name = format!("file://{}", root.display());
        Ok(Self { root, name })
    }
}

impl Storage for Local {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn put<'a>(&'a self, key: &'a str, body: Vec<u8>) -> StoreFuture<'a, ()> {
        let root = self.root.clone();
        let key = key.to_owned();
        Box::pin(blocking(move || put_file(&root, &key, &body)))
    }

    fn promote<'a>(&'a self, from: &'a str, to: &'a str) -> StoreFuture<'a, ()> {
        let root = self.root.clone();
        let (from, to) = (from.to_owned(), to.to_owned());
        let name = self.name.clone();
        Box::pin(blocking(move || rename_file(&root, &name, &from, &to)))
    }

    fn get<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Vec<u8>> {
        Box::pin(async move {
            let path = key_path(&self.root, key);
            tokio::fs::read(&path).await.map_err(|e| match e.kind() {
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => StoreError::NotFound {
                    store: self.name.clone(),
                    key: key.to_owned(),
                },
                _ => StoreError::io("read", &path, e),
            })
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let path = key_path(&self.root, key);
            match tokio::fs::metadata(&path).await {
                Ok(m) => Ok(m.is_file()),
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(false),
                Err(e) => Err(StoreError::io("stat", &path, e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let path = key_path(&self.root, key);
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(()),
                Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => Ok(()),
                Err(e) => Err(StoreError::io("delete", &path, e)),
            }
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> StoreFuture<'a, Vec<ObjectMeta>> {
        let root = self.root.clone();
        let prefix = prefix.to_owned();
        Box::pin(blocking(move || list_files(&root, &prefix)))
    }
}

/// Runs blocking file IO off the async reactor.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Io {
        op: "run blocking file task",
        path: PathBuf::new(),
        source: io::Error::other(e),
    })?
}

/// The path of a checked key (or of a prefix's folders) below `root`.
fn key_path(root: &Path, key: &str) -> PathBuf {
    let mut path = root.to_path_buf();
    path.extend(key.split('/').filter(|s| !s.is_empty()));
    path
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("sync folder", dir, e))
}

/// Creates the folders from `root` down to `dir`, syncing each new folder's parent so that the
/// folder itself survives a crash.
fn create_dirs(root: &Path, dir: &Path) -> Result<(), StoreError> {
    let rel = dir.strip_prefix(root).expect("key paths are below the root");
    let mut current = root.to_path_buf();
    for part in rel.components() {
        let parent = current.clone();
        current.push(part);
        match std::fs::create_dir(&current) {
            Ok(()) => sync_dir(&parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::io("create folder", &current, e)),
        }
    }
    Ok(())
}

/// Writes a temp file next to the target, syncs it, renames it over the target and syncs the folder.
fn put_file(root: &Path, key: &str, body: &[u8]) -> Result<(), StoreError> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let target = key_path(root, key);
    let dir = target.parent().expect("a key has at least one segment");
    create_dirs(root, dir)?;
    let name = key.rsplit('/').next().unwrap_or(key);
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{:016x}-{}-{name}",
        random_u64(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::File::create_new(&tmp)
        .and_then(|mut f| {
            f.write_all(body)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, &target));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io("write", &target, e));
    }
    sync_dir(dir)
}

fn rename_file(root: &Path, store: &str, from: &str, to: &str) -> Result<(), StoreError> {
    let src = key_path(root, from);
    let dst = key_path(root, to);
    let dst_dir = dst.parent().expect("a key has at least one segment");
    create_dirs(root, dst_dir)?;
    match std::fs::rename(&src, &dst) {
        Ok(()) => {
            sync_dir(dst_dir)?;
            let src_dir = src.parent().expect("a key has at least one segment");
            if src_dir != dst_dir {
                sync_dir(src_dir)?;
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if dst.is_file() {
                Ok(())
            } else {
                Err(StoreError::NotFound {
                    store: store.to_owned(),
                    key: from.to_owned(),
                })
            }
        }
        Err(e) => Err(StoreError::io("rename", &src, e)),
    }
}

/// Walks the folders that can hold keys starting with `prefix`, skipping temp files.
fn list_files(root: &Path, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
    let folders = prefix.rsplit_once('/').map_or("", |(folders, _)| folders);
    let mut out = Vec::new();
    let mut pending = vec![(key_path(root, folders), folders.to_owned())];
    while let Some((dir, rel)) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory) => continue,
            Err(e) => return Err(StoreError::io("list", &dir, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| StoreError::io("list", &dir, e))?;
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                tracing::warn!(folder = %dir.display(), name = ?file_name, "skipping a file name that is not UTF-8");
                continue;
            };
            let key = if rel.is_empty() {
                name.to_owned()
            } else {
                format!("{rel}/{name}")
            };
            let file_type = entry
                .file_type()
                .map_err(|e| StoreError::io("list", &entry.path(), e))?;
            if file_type.is_dir() {
                if format!("{key}/").starts_with(prefix) {
                    pending.push((entry.path(), key));
                }
            } else if file_type.is_file() && !name.starts_with(TMP_PREFIX) && key.starts_with(prefix) {
                match entry.metadata() {
                    Ok(m) => out.push(ObjectMeta {
                        key,
                        size: m.len(),
                        modified: m.modified().ok(),
                    }),
                    // Promoted or deleted since the folder was read.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::io("list", &entry.path(), e)),
                }
            }
        }
    }
    out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::storage::{LocalConfig, StoreConfig};
    use crate::storage::ObjectStore;

    /// A folder removed when the test ends.
    struct TempDir(PathBuf);

    impl std::ops::Deref for TempDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn local_store() -> (ObjectStore, TempDir) {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "murron-object-store-{}-{}-{:x}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            random_u64()
        ));
        let store = ObjectStore::open(&StoreConfig::Local(LocalConfig { path: dir.clone() }))
            .await
            .unwrap();
        (store, TempDir(dir))
    }

    fn keys(listed: &[ObjectMeta]) -> Vec<&str> {
        listed.iter().map(|o| o.key.as_str()).collect()
    }

    #[tokio::test]
    async fn put_then_get_returns_the_bytes_and_put_replaces() {
        let (store, _dir) = local_store().await;
        store.put("a/b/c.json", b"one".to_vec()).await.unwrap();
        assert_eq!(store.get("a/b/c.json").await.unwrap(), b"one");
        store.put("a/b/c.json", b"two!".to_vec()).await.unwrap();
        assert_eq!(store.get("a/b/c.json").await.unwrap(), b"two!");
        assert!(store.exists("a/b/c.json").await.unwrap());
        assert!(!store.exists("a/b").await.unwrap(), "a folder is not an object");
    }

    #[tokio::test]
    async fn missing_object_is_not_found_and_not_retryable() {
        let (store, _dir) = local_store().await;
        let err = store.get("nope/x").await.unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { ref key, .. } if key == "nope/x"),
            "{err}"
        );
        assert!(!err.is_retryable());
        assert!(!store.exists("nope/x").await.unwrap());
    }

    #[tokio::test]
    async fn describe_is_an_absolute_file_url() {
        let (store, dir) = local_store().await;
        let name = store.describe();
        assert!(name.starts_with("file:///"), "{name}");
        assert_eq!(
            name,
            format!("file://{}", std::fs::canonicalize(&*dir).unwrap().display())
        );
    }

    #[tokio::test]
    async fn list_is_sorted_filtered_by_prefix_and_skips_temp_files() {
        let (store, dir) = local_store().await;
        for key in [
            "dt=2/b.json",
            "dt=1/z.json",
            "dt=1/a.json",
            "dt=10/a.json",
            "other/a.json",
        ] {
            store.put(key, key.as_bytes().to_vec()).await.unwrap();
        }
        // A put in flight (or left by a crash) is not an object.
        std::fs::write(dir.join("dt=1").join(".tmp-123-c.json"), b"partial").unwrap();

        let all = store.list("").await.unwrap();
        assert_eq!(
            keys(&all),
            [
                "dt=1/a.json",
                "dt=1/z.json",
                "dt=10/a.json",
                "dt=2/b.json",
                "other/a.json"
            ]
        );
        assert_eq!(all[0].size, "dt=1/a.json".len() as u64);
        assert_eq!(
            keys(&store.list("dt=1/").await.unwrap()),
            ["dt=1/a.json", "dt=1/z.json"]
        );
        assert_eq!(
            keys(&store.list("dt=1").await.unwrap()),
            ["dt=1/a.json", "dt=1/z.json", "dt=10/a.json"]
        );
        assert_eq!(keys(&store.list("dt=1/z").await.unwrap()), ["dt=1/z.json"]);
        assert!(store.list("missing/").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn promote_moves_the_object_and_repeating_it_is_ok() {
        let (store, _dir) = local_store().await;
        store.put("_staging/1/f.parquet", b"data".to_vec()).await.unwrap();
        store
            .promote("_staging/1/f.parquet", "events/t/dt=1/f.parquet")
            .await
            .unwrap();
        assert_eq!(store.get("events/t/dt=1/f.parquet").await.unwrap(), b"data");
        assert!(!store.exists("_staging/1/f.parquet").await.unwrap());
        // A restarted worker repeats the promotion: it finds it done.
        store
            .promote("_staging/1/f.parquet", "events/t/dt=1/f.parquet")
            .await
            .unwrap();
        assert_eq!(store.get("events/t/dt=1/f.parquet").await.unwrap(), b"data");
    }

    #[tokio::test]
    async fn promote_with_neither_source_nor_target_is_not_found() {
        let (store, _dir) = local_store().await;
        let err = store.promote("_staging/x", "final/x").await.unwrap_err();
        assert!(
            matches!(err, StoreError::NotFound { ref key, .. } if key == "_staging/x"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn delete_removes_the_object_and_a_missing_one_is_ok() {
        let (store, _dir) = local_store().await;
        store.put("a/b", b"x".to_vec()).await.unwrap();
        store.delete("a/b").await.unwrap();
        assert!(!store.exists("a/b").await.unwrap());
        store.delete("a/b").await.unwrap();
        store.delete("never/was").await.unwrap();
    }

    #[tokio::test]
    async fn keys_that_could_escape_the_root_or_hide_are_rejected() {
        let (store, _dir) = local_store().await;
        for key in [
            "",
            "/etc/passwd",
            "a//b",
            "a/",
            "..",
            "../x",
            "a/../../x",
            "./a",
            "a/.",
            "a/.tmp-x",
            "a\0b",
        ] {
            let err = store.put(key, b"x".to_vec()).await.unwrap_err();
            assert!(matches!(err, StoreError::InvalidKey { .. }), "{key:?}: {err}");
            assert!(!err.is_retryable());
            assert!(
                matches!(store.get(key).await, Err(StoreError::InvalidKey { .. })),
                "{key:?}"
            );
            assert!(
                matches!(store.promote("ok", key).await, Err(StoreError::InvalidKey { .. })),
                "{key:?}"
            );
        }
        for prefix in ["/", "../", "a/../", "a//"] {
            assert!(
                matches!(store.list(prefix).await, Err(StoreError::InvalidKey { .. })),
                "{prefix:?}"
            );
        }
        // A temp-file prefix is fine in folder names and list prefixes.
        store.put(".tmp-dir/a", b"x".to_vec()).await.unwrap();
        assert_eq!(keys(&store.list(".tmp-").await.unwrap()), [".tmp-dir/a"]);
    }
}
