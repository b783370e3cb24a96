//! What every test shares: the server's URL, fresh schemas that clean up after themselves, the
//! conformance factory, and a few entries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pulse_conformance::BackendFactory;
use pulse_extensibility::{
    DeadLetterBackend, DeadLetters, Failure, ManualClock, NewDeadLetter, SqlIdentifier, Uuid,
};
use pulse_store_postgres::{PostgresConfig, PostgresStore};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};

/// The variable naming the test server.
pub(crate) const URL_VAR: &str = "PULSE_TEST_DATABASE_URL";

/// The test server's URL. Fails, never skips, when it is not set.
pub(crate) fn database_url() -> String {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "{URL_VAR} is not set. These tests need a PostgreSQL server: run `cargo xtask test`, which \
             starts a throwaway cluster and sets it, or set {URL_VAR}=postgres://user:password@host:port/database \
             yourself (the tests create and drop their own schemas there)."
        ),
    }
}

/// A fresh schema name no other test uses.
pub(crate) fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", Uuid::new_v4().simple())
}

/// A direct connection for looking behind the store's back.
pub(crate) async fn connect() -> PgConnection {
    PgConnection::connect(&database_url()).await.expect("connect to the test server")
}

/// Runs `sql` (test code: schema names are from [`unique_name`]) on `connection`.
pub(crate) async fn execute(connection: &mut PgConnection, sql: &str) {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(connection)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One `i64` from `sql`.
pub(crate) async fn scalar(connection: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query(AssertSqlSafe(sql.to_owned()))
        .fetch_one(connection)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .try_get::<i64, _>(0)
        .unwrap()
}

/// Drops `schema` and everything in it.
pub(crate) async fn drop_schema(schema: &str) {
    let mut connection = connect().await;
    // A session that still holds a lock on the schema fails the cleanup instead of hanging it.
    execute(&mut connection, "SET lock_timeout = '60s'").await;
    execute(&mut connection, &format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE")).await;
    connection.close().await.ok();
}

/// A schema for one test, dropped when the guard is, also when the test fails.
pub(crate) struct Schema {
    pub(crate) name: String,
}

impl Schema {
    pub(crate) fn new(prefix: &str) -> Self {
        Self { name: unique_name(prefix) }
    }

    pub(crate) fn identifier(&self) -> SqlIdentifier {
        SqlIdentifier::new(self.name.clone()).unwrap()
    }

    /// A config for this schema on the test server.
    pub(crate) fn config(&self) -> PostgresConfig {
        PostgresConfig::from_url(database_url()).schema(self.identifier()).max_connections(5)
    }

    /// A store in this schema.
    pub(crate) async fn open(&self) -> PostgresStore {
        PostgresStore::open(self.config()).await.expect("open the store")
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A runtime of its own: the test's may be shutting down, or this may run in a panic.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the cleanup")
                .block_on(drop_schema(&name));
        })
        .join();
        if dropped.is_err() && !std::thread::panicking() {
            panic!("dropping schema {} failed", self.name);
        }
    }
}

/// Opens each conformance case's store in a schema of its own (named after the case), with a
/// pool created inside the case's runtime.
pub(crate) struct PostgresFactory;

impl PostgresFactory {
    pub(crate) fn new() -> Self {
        Self
    }
}

#[async_trait]
impl BackendFactory for PostgresFactory {
    async fn open(&self, name: &str) -> Arc<dyn DeadLetterBackend> {
        let config = PostgresConfig::from_url(database_url())
            .schema(SqlIdentifier::new(name).expect("case names are identifiers"))
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(60));
        Arc::new(PostgresStore::open(config).await.expect("open the store for the case"))
    }

    async fn cleanup(&self, name: &str) {
        drop_schema(name).await;
    }
}

/// Pulse over `store` on a manual clock.
pub(crate) fn dead_letters(store: PostgresStore) -> (DeadLetters, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::default());
    (DeadLetters::new(Arc::new(store)).with_clock(clock.clone()), clock)
}

/// A failed command of `command_type`.
pub(crate) fn command(command_type: &str) -> NewDeadLetter {
    NewDeadLetter::new(command_type, r#"{"order_id":42}"#, Failure::new("TimeoutError", "order 42 timed out"))
}
