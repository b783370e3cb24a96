//! Files and settings the store must refuse with a typed error, without a panic, leaving the
//! file as it was.

use pulse_extensibility::{Error, SqlIdentifier};
use pulse_store_sqlite::{SqliteConfig, SqliteStore};

use crate::common::{command, database, dead_letters, open, snapshot};

/// The error of opening `config`.
async fn open_error(config: SqliteConfig) -> Error {
    SqliteStore::open(config).await.expect_err("the open must fail")
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_and_left_unchanged() {
    let (dir, path) = database();
    std::fs::write(&path, "order_id,amount\n42,17.50\n".repeat(200)).unwrap();
    let before = snapshot(dir.path());
    let error = open_error(SqliteConfig::new(&path)).await;
    let Error::InvalidConfig { reason } = error else { panic!("expected InvalidConfig, got {error:?}") };
    assert_eq!(reason, format!("{} is not a SQLite database", path.display()));
    assert!(snapshot(dir.path()) == before, "the refused file or its directory changed");
}

#[tokio::test]
async fn a_read_only_database_is_a_typed_error() {
    let (_dir, path) = database();
    let (letters, _) = dead_letters(open(&path).await);
    letters.store(command(1)).await.unwrap();
    drop(letters);
    // `mode=ro` makes SQLite open the file read-only for every user; file permissions would not
    // stop root, who runs these tests in CI.
    let uri = format!("file:{}?mode=ro", path.display());
    let error = open_error(SqliteConfig::new(&uri)).await;
    let Error::Backend { message, retryable: false, .. } = error else {
        panic!("expected Backend, got {error:?}")
    };
    assert_eq!(message, format!("{uri} is read-only: Pulse must be able to write its database"));
}

#[tokio::test]
async fn a_file_in_a_missing_directory_is_unavailable() {
    let (dir, _) = database();
    let path = dir.path().join("missing").join("pulse.db");
    let error = open_error(SqliteConfig::new(&path)).await;
    let Error::Unavailable { message, source: Some(_) } = error else {
        panic!("expected Unavailable, got {error:?}")
    };
    assert_eq!(message, format!("opening {}: cannot open the database file", path.display()));
}

#[tokio::test]
async fn a_database_that_cannot_use_wal_is_refused() {
    let error = open_error(SqliteConfig::new(":memory:")).await;
    let Error::InvalidConfig { reason } = error else { panic!("expected InvalidConfig, got {error:?}") };
    assert_eq!(
        reason,
        ":memory: cannot use write-ahead logging (journal_mode is \"memory\"); Pulse needs a database file on \
         a local file system"
    );
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let (_dir, path) = database();
    let configs = [
        SqliteConfig::new(&path).readers(0),
        SqliteConfig::new(&path).readers(65),
        SqliteConfig::new(&path).busy_timeout(std::time::Duration::from_secs(100 * 86_400)),
    ];
    let mut reasons = Vec::new();
    for config in configs {
        match open_error(config).await {
            Error::InvalidConfig { reason } => reasons.push(reason),
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }
    assert_eq!(
        reasons,
        [
            "readers must be between 1 and 64, was 0",
            "readers must be between 1 and 64, was 65",
            "busy_timeout must be below 2^31 ms",
        ]
    );
    assert!(!path.exists(), "a refused configuration created the file");
}

#[tokio::test]
async fn reserved_table_names_are_refused_before_any_io() {
    let (dir, path) = database();
    let reasons = reserved_table_reasons(&path).await;
    assert!(!path.exists(), "a refused table name created the file");
    // In a database that already holds a store, nothing changes either.
    drop(open(&path).await);
    let before = snapshot(dir.path());
    assert_eq!(reserved_table_reasons(&path).await, reasons);
    assert!(snapshot(dir.path()) == before, "a refused table name changed the database");
    assert_eq!(
        reasons,
        [
            "table \"sqlite_master\" is reserved: SQLite reserves every name starting with sqlite_",
            "table \"SQLITE_sequence\" is reserved: SQLite reserves every name starting with sqlite_",
            "table \"_pulse_migrations\" is reserved: the name of Pulse's migration history",
            "table \"_Pulse_Migrations\" is reserved: the name of Pulse's migration history",
            "table \"sqlite\" is reserved: its counter table would be named \"sqlite_Counts\", SQLite reserves \
             every name starting with sqlite_",
        ]
    );
}

/// The reasons opening `path` with each reserved table name gives.
async fn reserved_table_reasons(path: &std::path::Path) -> Vec<String> {
    let mut reasons = Vec::new();
    for table in ["sqlite_master", "SQLITE_sequence", "_pulse_migrations", "_Pulse_Migrations", "sqlite"] {
        let config = SqliteConfig::new(path).table(SqlIdentifier::new(table).unwrap());
        match open_error(config).await {
            Error::InvalidConfig { reason } => reasons.push(reason),
            other => panic!("{table}: expected InvalidConfig, got {other:?}"),
        }
    }
    reasons
}

#[tokio::test]
async fn a_write_lock_held_past_the_busy_timeout_is_retryable() {
    let (_dir, path) = database();
    let store =
        SqliteStore::open(SqliteConfig::new(&path).busy_timeout(std::time::Duration::from_millis(50)))
            .await
            .unwrap();
    let (letters, _) = dead_letters(store);
    let holder = crate::common::raw(&path);
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    match letters.store(command(1)).await {
        Err(error @ Error::Backend { retryable: true, .. }) => {
            assert_eq!(
                error.to_string(),
                "backend error: inserting entries: the database is locked by another connection"
            );
        }
        other => panic!("expected a retryable backend error, got {other:?}"),
    }
    // Reads do not wait for the lock, and once it is released the same write succeeds.
    assert_eq!(letters.statistics().await.unwrap().total, 0);
    holder.execute_batch("COMMIT").unwrap();
    letters.store(command(1)).await.unwrap();
    assert_eq!(letters.statistics().await.unwrap().total, 1);
}
