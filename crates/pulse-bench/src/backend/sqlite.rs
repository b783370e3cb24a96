//! The SQLite baseline, the limit a simple program reaches: prepared inserts on rusqlite, with
//! the store's pragmas, into a table that Pulse's migration laid out, one connection, run on the
//! calling thread (no hand-off to another thread; with several tasks they take turns on the one
//! connection, as a loop would). The plain raw insert is written here by hand; the
//! store-shaped writes send the store's own `INSERT`s, from `pulse_store_sqlite::bench`, split as
//! `SqliteStore::insert` splits a batch (64, 32, ... 1 rows): that rule is restated here, in
//! [`Inner::insert_rows`], as it is a loop in the store's writer and not a statement to share.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, ensure};
use pulse_extensibility::{CommandDeadLetterStatus, DeadLetterEntry, SqlIdentifier, columns};
use pulse_store_sqlite::bench::{self as store_sql, MAX_INSERT_ROWS};
use pulse_store_sqlite::{SqliteConfig, SqliteStore, Synchronous};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior, params_from_iter};

use super::{BATCH, COLUMNS, insert_sql};
use crate::entries::{Fresh, Template};

/// The baseline's table.
const TABLE: &str = "RawBaseline";

/// Opens the Pulse store in the file at `path`, with the store's defaults.
pub(crate) async fn open_store(path: &Path) -> Result<SqliteStore> {
    SqliteStore::open(SqliteConfig::new(path)).await.with_context(|| format!("opening {}", path.display()))
}

pub(crate) struct Raw {
    inner: Arc<Inner>,
}

struct Inner {
    template: Arc<Template>,
    connection: Mutex<Connection>,
    one: String,
    batch: String,
    /// The store's own statements: `INSERT`s of 1, 2, 4, ... 64 rows that skip a taken key and
    /// return the ids they inserted, by the base-2 logarithm of their row count.
    like_the_store: Vec<String>,
}

/// How a baseline write is sent.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// One statement, in autocommit.
    Plain,
    /// In the store's own statements: `BEGIN IMMEDIATE`, its `INSERT`s of 64, 32, ... 1 rows,
    /// `COMMIT`; one row in autocommit.
    LikeTheStore,
}

impl Raw {
    /// Lets Pulse's migration create the table in a new file at `path`, then opens it again with
    /// a plain connection set up as the store sets up its writer.
    pub(crate) async fn open(path: &Path, template: Arc<Template>) -> Result<Self> {
        let table = SqlIdentifier::new(TABLE)?;
        let config = SqliteConfig::new(path).table(table.clone());
        let (busy_timeout, synchronous) = (config.busy_timeout_duration(), config.synchronous_level());
        SqliteStore::open(config).await?.close().await;
        ensure!(synchronous == Synchronous::Normal, "the store's default synchronous level changed");
        let connection = Connection::open(path)?;
        connection.busy_timeout(busy_timeout)?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        let mode: String = connection.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        ensure!(mode.eq_ignore_ascii_case("wal"), "the baseline's file is not in WAL mode but {mode}");
        let placeholder = |n: usize| format!("?{n}");
        let inner = Inner {
            template,
            connection: Mutex::new(connection),
            one: insert_sql(&table.quoted(), 1, placeholder),
            batch: insert_sql(&table.quoted(), BATCH, placeholder),
            like_the_store: std::iter::successors(Some(1), |rows| Some(rows * 2))
                .take_while(|rows| *rows <= MAX_INSERT_ROWS)
                .map(|rows| store_sql::insert(&table, rows))
                .collect(),
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// One row, in one autocommit statement.
    pub(crate) async fn insert_one(&self) -> Result<()> {
        self.run(1, Shape::Plain).await
    }

    /// [`BATCH`] rows in one statement.
    pub(crate) async fn insert_batch(&self) -> Result<()> {
        self.run(BATCH, Shape::Plain).await
    }

    /// `rows` rows the way the store writes them: by its `INSERT`s of 64, 32, ... 1 rows, in a
    /// `BEGIN IMMEDIATE` transaction unless there is one row.
    pub(crate) async fn insert_like_the_store(&self, rows: usize) -> Result<()> {
        self.run(rows, Shape::LikeTheStore).await
    }

    /// Sets `PRAGMA wal_autocheckpoint` (0 turns automatic checkpoints off).
    pub(crate) fn set_autocheckpoint(&self, pages: i64) -> Result<()> {
        let connection = self.inner.connection.lock().unwrap_or_else(PoisonError::into_inner);
        connection.pragma_update(None, "wal_autocheckpoint", pages)?;
        Ok(())
    }

    /// Runs on the calling thread: the simplest program does no hand-off.
    #[allow(clippy::unused_async, reason = "called like every other baseline")]
    async fn run(&self, rows: usize, shape: Shape) -> Result<()> {
        let inner = &self.inner;
        match shape {
            Shape::Plain if rows == 1 => inner.insert(&inner.one, 1),
            Shape::Plain => inner.insert(&inner.batch, rows),
            Shape::LikeTheStore => inner.insert_rows(rows),
        }
    }
}

impl Inner {
    /// The fresh parts of `rows` rows, and each id as text.
    fn fresh(&self, rows: usize) -> Vec<(Fresh, String)> {
        (0..rows)
            .map(|_| {
                let fresh = self.template.fresh();
                let id = fresh.id.to_string();
                (fresh, id)
            })
            .collect()
    }

    /// `rows` rows in one statement, `sql`.
    fn insert(&self, sql: &str, rows: usize) -> Result<()> {
        let fresh = self.fresh(rows);
        let (entry, json) = (self.template.entry(), self.template.metadata_json());
        let values = fresh
            .iter()
            .flat_map(|(fresh, id)| row(entry, json, fresh, id).into_iter().take(COLUMNS.len()))
            .map(ToSqlOutput::Borrowed);
        let connection = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        let inserted = connection.prepare_cached(sql)?.execute(params_from_iter(values))?;
        ensure!(inserted == rows, "inserted {inserted} rows, not {rows}");
        Ok(())
    }

    /// `rows` rows by the store's statements of 64, 32, ... 1 rows, each returning the ids it
    /// inserted, in one `BEGIN IMMEDIATE` transaction unless there is one row, which is one
    /// statement in autocommit: the split of `SqliteStore::insert`.
    fn insert_rows(&self, rows: usize) -> Result<()> {
        let fresh = self.fresh(rows);
        let mut connection = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        let inserted = if rows == 1 {
            self.send_rows(&connection, &fresh)?
        } else {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = self.send_rows(&transaction, &fresh)?;
            transaction.commit()?;
            inserted
        };
        ensure!(inserted == rows, "inserted {inserted} rows, not {rows}");
        Ok(())
    }

    /// Sends `fresh` rows by the store's statements; how many ids came back.
    fn send_rows(&self, connection: &Connection, fresh: &[(Fresh, String)]) -> Result<usize> {
        let (entry, json) = (self.template.entry(), self.template.metadata_json());
        let mut inserted = Vec::with_capacity(fresh.len());
        let mut rest = fresh;
        while !rest.is_empty() {
            let size = MAX_INSERT_ROWS.min(1 << rest.len().ilog2());
            let (chunk, after) = rest.split_at(size);
            let mut insert =
                connection.prepare_cached(&self.like_the_store[size.trailing_zeros() as usize])?;
            let values =
                chunk.iter().flat_map(|(fresh, id)| row(entry, json, fresh, id)).map(ToSqlOutput::Borrowed);
            let mut ids = insert.query(params_from_iter(values))?;
            while let Some(id) = ids.next()? {
                inserted.push(id.get::<_, String>(0)?);
            }
            rest = after;
        }
        Ok(inserted.len())
    }
}

/// The values of one New row, every column in the stores' order, as the store encodes them; the
/// plain raw insert binds the first [`COLUMNS`] of them.
fn row<'a>(
    e: &'a DeadLetterEntry,
    json: &'a str,
    fresh: &'a Fresh,
    id: &'a str,
) -> [ValueRef<'a>; columns::ALL.len()] {
    let text = |value: &'a str| ValueRef::Text(value.as_bytes());
    let optional = |value: Option<&'a str>| value.map_or(ValueRef::Null, text);
    let at = ValueRef::Integer(fresh.at.as_micros());
    [
        text(id),
        text(e.tenant.as_str()),
        text(&fresh.message_id),
        text(&e.command_type),
        ValueRef::Integer(i64::from(e.command_version)),
        text(&e.payload),
        ValueRef::Null,
        text(&e.exception_type),
        text(&e.exception_message),
        optional(e.exception_details.as_deref()),
        text(e.fingerprint.as_str()),
        optional(e.source.as_deref()),
        text(json),
        ValueRef::Integer(i64::from(e.attempt_count)),
        at,
        at,
        ValueRef::Integer(i64::from(CommandDeadLetterStatus::New.as_i16())),
        ValueRef::Null,
        ValueRef::Null,
        ValueRef::Null,
        ValueRef::Null,
        ValueRef::Null,
        ValueRef::Null,
        at,
        at,
        ValueRef::Integer(1),
        ValueRef::Null,
        ValueRef::Null,
    ]
}
