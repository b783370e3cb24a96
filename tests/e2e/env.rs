//! The store each scenario runs on, on a manual clock, and its clean-up.

use std::sync::Arc;

use pulse::{DeadLetterBackend, DeadLetters, ManualClock, SqlIdentifier, Uuid};
use pulse_store_postgres::{PostgresConfig, PostgresStore};
use pulse_store_sqlite::{SqliteConfig, SqliteStore};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreKind {
    Memory,
    Sqlite,
    Postgres,
}

/// A fresh, empty store.
pub(crate) struct Env {
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) backend: Arc<dyn DeadLetterBackend>,
    cleanup: Cleanup,
}

enum Cleanup {
    Nothing,
    Directory(tempfile::TempDir),
    Schema(String),
}

fn database_url() -> String {
    std::env::var("PULSE_TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "PULSE_TEST_DATABASE_URL is not set: run `cargo xtask test`, which starts a throwaway \
             PostgreSQL, or point the variable at a server"
        )
    })
}

impl Env {
    pub(crate) async fn open(kind: StoreKind) -> Self {
        let clock = Arc::new(ManualClock::default());
        let (backend, cleanup): (Arc<dyn DeadLetterBackend>, _) = match kind {
            StoreKind::Memory => (Arc::new(pulse::MemoryStore::new()), Cleanup::Nothing),
            StoreKind::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let store = SqliteStore::open(SqliteConfig::new(dir.path().join("pulse.db")))
                    .await
                    .expect("open SQLite");
                (Arc::new(store), Cleanup::Directory(dir))
            }
            StoreKind::Postgres => {
                let schema = format!("pulse_e2e_{}", Uuid::new_v4().simple());
                let config = PostgresConfig::from_url(database_url())
                    .schema(SqlIdentifier::new(schema.clone()).expect("valid schema"))
                    .max_connections(4);
                let store = PostgresStore::open(config).await.expect("open PostgreSQL");
                (Arc::new(store), Cleanup::Schema(schema))
            }
        };
        Self { clock, backend, cleanup }
    }

    /// `DeadLetters` over this store and clock.
    pub(crate) fn dead_letters(&self) -> DeadLetters {
        DeadLetters::new(self.backend.clone()).with_clock(self.clock.clone())
    }

    pub(crate) async fn close(self) {
        let Self { backend, cleanup, .. } = self;
        drop(backend);
        match cleanup {
            Cleanup::Nothing => {}
            Cleanup::Directory(dir) => dir.close().expect("remove the scenario's directory"),
            Cleanup::Schema(schema) => {
                let mut connection = PgConnection::connect(&database_url()).await.expect("connect");
                sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
                    .execute(&mut connection)
                    .await
                    .expect("drop the scenario's schema");
            }
        }
    }
}
