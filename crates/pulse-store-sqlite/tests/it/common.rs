//! Helpers shared by the tests: the conformance factory, database files, entries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use pulse_conformance::BackendFactory;
use pulse_extensibility::{DeadLetterBackend, DeadLetters, Failure, ManualClock, NewDeadLetter};
use pulse_store_sqlite::{SqliteConfig, SqliteStore};
use tempfile::TempDir;

/// Opens conformance stores as files `<name>.db` in a temporary directory it owns.
pub(crate) struct SqliteFactory {
    dir: TempDir,
}

impl SqliteFactory {
    pub(crate) fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("a temporary directory") }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.db"))
    }
}

#[async_trait]
impl BackendFactory for SqliteFactory {
    async fn open(&self, name: &str) -> Arc<dyn DeadLetterBackend> {
        let store =
            SqliteStore::open(SqliteConfig::new(self.path(name))).await.expect("open the SQLite store");
        Arc::new(store)
    }

    async fn cleanup(&self, name: &str) {
        let path = self.path(name);
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.clone().into_os_string();
            file.push(suffix);
            let _ = std::fs::remove_file(file);
        }
    }
}

/// A fresh directory and the path of `pulse.db` in it.
pub(crate) fn database() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("pulse.db");
    (dir, path)
}

/// Opens the store at `path` with the default settings.
pub(crate) async fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(SqliteConfig::new(path)).await.expect("open the SQLite store")
}

/// Pulse over `store`, on a manual clock.
pub(crate) fn dead_letters(store: SqliteStore) -> (DeadLetters, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    (DeadLetters::new(Arc::new(store)).with_clock(clock.clone()), clock)
}

/// A failed `orders.create` for order `n`.
pub(crate) fn command(n: u32) -> NewDeadLetter {
    NewDeadLetter::new(
        "orders.create",
        format!(r#"{{"order_id":{n}}}"#),
        Failure::new("TimeoutError", format!("order {n} timed out")),
    )
}

/// A plain connection to the file, as the `sqlite3` shell would open it.
pub(crate) fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).expect("open the file with rusqlite")
}

/// Every file in `dir` with its bytes.
pub(crate) fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("list the directory")
        .map(|file| {
            let file = file.expect("a directory entry");
            (
                file.file_name().to_string_lossy().into_owned(),
                std::fs::read(file.path()).expect("read a file"),
            )
        })
        .collect()
}
