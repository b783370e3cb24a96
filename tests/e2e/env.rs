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

pub(crate) fn database_url() -> String {
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

/// `impl DeadLetterBackend for $ty` with the methods given, and those of replay requests and
/// counts forwarded to `$inner` (an expression of `self`): for test backends that change a few
/// primitives and keep the rest.
macro_rules! backend_forwarding_requests {
    ($ty:ty, |$this:ident| $inner:expr, { $($methods:tt)* }) => {
        #[async_trait::async_trait]
        impl pulse::DeadLetterBackend for $ty {
        $($methods)*
        async fn count(&$this, scope: &pulse::Scope, filter: &pulse::EntryFilter) -> pulse::Result<pulse::Statistics> {
            $inner.count(scope, filter).await
        }
        async fn request_replay(
            &$this,
            scope: &pulse::Scope,
            filter: &pulse::EntryFilter,
            request: &pulse::ReplayRequest,
        ) -> pulse::Result<u64> {
            $inner.request_replay(scope, filter, request).await
        }
        async fn replay_request(
            &$this,
            scope: &pulse::Scope,
            id: pulse::ReplayRequestId,
        ) -> pulse::Result<Option<pulse::ReplayRequest>> {
            $inner.replay_request(scope, id).await
        }
        async fn replay_requests(
            &$this,
            scope: &pulse::Scope,
            before: Option<pulse::ReplayRequestId>,
            limit: u32,
        ) -> pulse::Result<Vec<pulse::ReplayRequest>> {
            $inner.replay_requests(scope, before, limit).await
        }
        async fn cancel_replay_request(
            &$this,
            scope: &pulse::Scope,
            id: pulse::ReplayRequestId,
            at: pulse::Timestamp,
            by: Option<&pulse::Actor>,
        ) -> pulse::Result<Option<pulse::ReplayRequest>> {
            $inner.cancel_replay_request(scope, id, at, by).await
        }
        async fn oldest_due_replay(
            &$this,
            scope: &pulse::Scope,
            now: pulse::Timestamp,
        ) -> pulse::Result<Option<pulse::Timestamp>> {
            $inner.oldest_due_replay(scope, now).await
        }
        }
    };
}
pub(crate) use backend_forwarding_requests;

/// Pulse's clock on tokio's clock, so paused time moves both.
#[derive(Debug)]
pub(crate) struct TokioClock {
    pub(crate) start: tokio::time::Instant,
}

impl pulse::Clock for TokioClock {
    fn now(&self) -> pulse::Timestamp {
        let micros = i64::try_from(self.start.elapsed().as_micros()).expect("a short test");
        pulse::Timestamp::from_micros(1_767_225_600_000_000 + micros)
    }
}

/// A store that cannot be reached: every call fails as if the database were down.
#[derive(Debug)]
pub(crate) struct Unreachable;

fn down<T>() -> pulse::Result<T> {
    Err(pulse::Error::unavailable("the database is down", std::io::Error::other("connection refused")))
}

backend_forwarding_requests!(Unreachable, |self| Down, {
    fn capabilities(&self) -> pulse::Capabilities {
        pulse::Capabilities::new(true)
    }
    async fn insert(&self, _: Vec<pulse::DeadLetterEntry>) -> pulse::Result<Vec<pulse::StoreReceipt>> {
        down()
    }
    async fn get(
        &self,
        _: &pulse::Scope,
        _: pulse::DeadLetterId,
    ) -> pulse::Result<Option<pulse::DeadLetterEntry>> {
        down()
    }
    async fn swap(&self, _: &pulse::DeadLetterEntry) -> pulse::Result<bool> {
        down()
    }
    async fn query(&self, _: &pulse::EntryQuery) -> pulse::Result<Vec<pulse::DeadLetterEntry>> {
        down()
    }
    async fn statistics(&self, _: &pulse::Scope) -> pulse::Result<pulse::Statistics> {
        down()
    }
    async fn error_groups(&self, _: &pulse::Scope, _: u32) -> pulse::Result<Vec<pulse::ErrorGroup>> {
        down()
    }
    async fn claim_requested(
        &self,
        _: &pulse::Scope,
        _: pulse::Timestamp,
        _: pulse::ReplayLease,
        _: u32,
    ) -> pulse::Result<Vec<pulse::DeadLetterEntry>> {
        down()
    }
    async fn purge(&self, _: &pulse::Scope, _: pulse::Timestamp, _: u32) -> pulse::Result<u64> {
        down()
    }
});

/// What [`Unreachable`] forwards its replay requests to: the same outage.
struct Down;

impl Down {
    async fn count(&self, _: &pulse::Scope, _: &pulse::EntryFilter) -> pulse::Result<pulse::Statistics> {
        down()
    }
    async fn request_replay(
        &self,
        _: &pulse::Scope,
        _: &pulse::EntryFilter,
        _: &pulse::ReplayRequest,
    ) -> pulse::Result<u64> {
        down()
    }
    async fn replay_request(
        &self,
        _: &pulse::Scope,
        _: pulse::ReplayRequestId,
    ) -> pulse::Result<Option<pulse::ReplayRequest>> {
        down()
    }
    async fn replay_requests(
        &self,
        _: &pulse::Scope,
        _: Option<pulse::ReplayRequestId>,
        _: u32,
    ) -> pulse::Result<Vec<pulse::ReplayRequest>> {
        down()
    }
    async fn cancel_replay_request(
        &self,
        _: &pulse::Scope,
        _: pulse::ReplayRequestId,
        _: pulse::Timestamp,
        _: Option<&pulse::Actor>,
    ) -> pulse::Result<Option<pulse::ReplayRequest>> {
        down()
    }
    async fn oldest_due_replay(
        &self,
        _: &pulse::Scope,
        _: pulse::Timestamp,
    ) -> pulse::Result<Option<pulse::Timestamp>> {
        down()
    }
}

/// Collects formatted log lines, spans included, for assertions.
#[derive(Clone, Default)]
pub(crate) struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    pub(crate) fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + use<> {
        let sink = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish()
    }

    pub(crate) fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap()).lines().map(str::to_owned).collect()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
