//! A fresh store of each kind for one test, shared by the API's tests (`tests/it`) and the
//! browser tests (`tests/browser`) through `#[path]`.

use std::sync::Arc;

use pulse::{DeadLetterBackend, SqlIdentifier, Uuid};
use pulse_store_postgres::{PostgresConfig, PostgresStore};
use pulse_store_sqlite::{SqliteConfig, SqliteStore};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Which store a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    #[allow(dead_code, reason = "the browser tests run on the durable stores only")]
    Memory,
    Sqlite,
    Postgres,
}

/// The variable naming the PostgreSQL test server.
const URL_VAR: &str = "PULSE_TEST_DATABASE_URL";

/// The test server's URL. Fails, never skips, when it is not set.
fn database_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set. The PostgreSQL cases need a server: run `cargo xtask test`, which \
             starts a throwaway cluster and sets it, or set {URL_VAR}=postgres://user:password@host:port/database \
             yourself (each case creates and drops a schema of its own there)."
        ),
    }
}

/// A PostgreSQL schema for one test, dropped when the guard is, also when the test fails.
struct Schema(String);

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.0.clone();
        // A runtime of its own: the test's may be shutting down, or this may run in a panic.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(
                async move {
                    let mut connection = PgConnection::connect(&database_url()).await.expect("connect");
                    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")))
                        .execute(&mut connection)
                        .await
                        .expect("drop the test's schema");
                },
            );
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("dropping schema {} failed", self.0);
        }
    }
}

/// What keeps a store's data until the test ends: the SQLite file's directory or the
/// PostgreSQL schema, removed when dropped.
pub(crate) struct StoreGuard {
    _directory: Option<tempfile::TempDir>,
    _schema: Option<Schema>,
}

/// A fresh, empty store of `kind`, and its guard.
pub(crate) async fn open_store(kind: StoreKind) -> (Arc<dyn DeadLetterBackend>, StoreGuard) {
    match kind {
        StoreKind::Memory => {
            (Arc::new(pulse::MemoryStore::new()), StoreGuard { _directory: None, _schema: None })
        }
        StoreKind::Sqlite => {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let store =
                SqliteStore::open(SqliteConfig::new(dir.path().join("pulse.db"))).await.expect("open SQLite");
            (Arc::new(store), StoreGuard { _directory: Some(dir), _schema: None })
        }
        StoreKind::Postgres => {
            let url = database_url();
            let schema = Schema(format!("pulse_http_{}", Uuid::new_v4().simple()));
            let config = PostgresConfig::from_url(url)
                .schema(SqlIdentifier::new(schema.0.clone()).expect("a valid schema name"))
                .max_connections(4);
            let store = PostgresStore::open(config).await.expect("open PostgreSQL");
            (Arc::new(store), StoreGuard { _directory: None, _schema: Some(schema) })
        }
    }
}
