//! The backends under test: Pulse over each store, and beside it the hand-written baseline that
//! writes the same rows straight through the same driver.
//!
//! The plain raw insert is the benchmark's own, the limit a simple program reaches: a prepared
//! `INSERT` of every column a fresh entry sets ([`COLUMNS`]), in autocommit. Every other
//! statement sent by hand, the inserts shaped as the store's and the page reads, is the store's
//! own text, taken from its `bench` module, so it cannot drift from what the store sends.

mod memory;
mod pgbench;
mod postgres;
mod postgres_reader;
mod postgres_unnest;
mod sqlite;
mod sqlite_reader;

use std::sync::Arc;

use anyhow::Result;
use pulse_extensibility::{
    CommandDeadLetterStatus, DeadLetters, EntryFilter, EntryQuery, Scope, SortOrder, Uuid, columns as c,
};
use pulse_store_postgres::PostgresStore;
use pulse_store_sqlite::SqliteStore;
use tempfile::TempDir;

pub(crate) use pgbench::{Pgbench, PgbenchInsert};
pub(crate) use postgres::{POOL_SIZE, PgLab};
pub(crate) use postgres_reader::page_sql;
pub(crate) use sqlite_reader::page_statement as sqlite_page_statement;

use crate::entries::Template;

/// Entries per batch in the batch figures.
pub(crate) const BATCH: usize = 100;

/// The entry columns the plain raw insert binds, in the stores' own order: all but the last two,
/// which only a replay request or an operator's change sets, so a freshly stored row has them
/// NULL.
const COLUMNS: &[&str] = c::ALL.split_at(26).0;

/// Every entry column, quoted, comma-separated.
fn column_list() -> String {
    COLUMNS.iter().map(|column| format!("\"{column}\"")).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO {table} (every column) VALUES (...), ...` for `rows` rows; `placeholder(n)` is
/// the text of the `n`th parameter, from 1.
fn insert_sql(table: &str, rows: usize, placeholder: impl Fn(usize) -> String) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let params: Vec<String> =
                (1..=COLUMNS.len()).map(|column| placeholder(row * COLUMNS.len() + column)).collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!("INSERT INTO {table} ({}) VALUES {}", column_list(), values.join(", "))
}

/// One of the three stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Memory,
    Sqlite,
    Postgres,
}

impl Kind {
    /// In the order they run: memory first, while the process is fresh, for its resident-memory
    /// figure.
    pub(crate) const ALL: [Self; 3] = [Self::Memory, Self::Sqlite, Self::Postgres];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// Where this run keeps its data: SQLite files in a temporary directory, PostgreSQL tables in
/// a fresh schema.
pub(crate) struct Lab {
    dir: TempDir,
    pub(crate) pg: PgLab,
    pub(crate) template: Arc<Template>,
}

/// Pulse over one store, and the handle that closes the store.
pub(crate) struct Subject {
    pub(crate) dead_letters: DeadLetters,
    store: Store,
}

enum Store {
    Memory,
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

impl Subject {
    /// Closes the store's connections.
    pub(crate) async fn close(self) {
        drop(self.dead_letters);
        match self.store {
            Store::Memory => {}
            Store::Sqlite(store) => store.close().await,
            Store::Postgres(store) => store.close().await,
        }
    }
}

/// The hand-written baseline of one store.
pub(crate) enum Baseline {
    Memory(memory::Raw),
    Sqlite(sqlite::Raw),
    Postgres(postgres::Raw),
}

impl Baseline {
    /// Writes one row.
    pub(crate) async fn insert_one(&self) -> Result<()> {
        match self {
            Self::Memory(raw) => {
                raw.insert(1);
                Ok(())
            }
            Self::Sqlite(raw) => raw.insert_one().await,
            Self::Postgres(raw) => raw.insert_one().await,
        }
    }

    /// Writes [`BATCH`] rows in one statement.
    pub(crate) async fn insert_batch(&self) -> Result<()> {
        match self {
            Self::Memory(raw) => {
                raw.insert(BATCH);
                Ok(())
            }
            Self::Sqlite(raw) => raw.insert_batch().await,
            Self::Postgres(raw) => raw.insert_batch().await,
        }
    }

    /// `rows` rows sent in the store's own statements: on SQLite its `INSERT`s of 64, 32, ... 1
    /// rows in a `BEGIN IMMEDIATE` transaction (one row in autocommit); on PostgreSQL its one statement, of one row of
    /// values or of arrays through `UNNEST`. `None` for memory, which has no statements.
    pub(crate) async fn insert_like_the_store(&self, rows: usize) -> Option<Result<()>> {
        match self {
            Self::Sqlite(raw) => Some(raw.insert_like_the_store(rows).await),
            Self::Postgres(raw) => Some(raw.insert_like_the_store(rows).await),
            Self::Memory(_) => None,
        }
    }

    /// PostgreSQL: the plain raw insert with `ON CONFLICT DO NOTHING RETURNING "Id"`, a step
    /// between it and the store's statement; `None` for the others.
    pub(crate) async fn insert_idempotent(&self, rows: usize) -> Option<Result<()>> {
        match self {
            Self::Postgres(raw) => Some(raw.insert_idempotent(rows).await),
            Self::Memory(_) | Self::Sqlite(_) => None,
        }
    }

    /// Sets SQLite's `wal_autocheckpoint` on the baseline's connection; `None` for the others.
    pub(crate) fn set_autocheckpoint(&self, pages: i64) -> Option<Result<()>> {
        match self {
            Self::Sqlite(raw) => Some(raw.set_autocheckpoint(pages)),
            Self::Memory(_) | Self::Postgres(_) => None,
        }
    }

    /// Closes the baseline's connections.
    pub(crate) async fn close(self) {
        if let Self::Postgres(raw) = self {
            raw.close().await;
        }
    }
}

/// A page the read baselines fetch.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Page {
    /// As `get_pending(50, 0)`: New entries, oldest first.
    Pending,
    /// As the first page of the default listing: 50 entries and one more (to tell whether more
    /// follow), newest first.
    List,
}

impl Page {
    /// The query `DeadLetters` hands the store for this page.
    pub(crate) fn query(self) -> EntryQuery {
        let (filter, order, limit) = match self {
            Self::Pending => {
                (EntryFilter::default().statuses([CommandDeadLetterStatus::New]), SortOrder::OldestFirst, 50)
            }
            Self::List => (EntryFilter::default(), SortOrder::NewestFirst, 51),
        };
        EntryQuery { scope: Scope::AllTenants, filter, order, after: None, offset: 0, limit }
    }
}

/// The read baseline of a database store: the store's own page queries, sent by hand on a plain
/// connection, every column read into an owned value.
pub(crate) enum Reader {
    Sqlite(sqlite_reader::Reader),
    Postgres(postgres_reader::Reader),
}

impl Reader {
    /// Reads `page` by hand; returns how many rows it had.
    pub(crate) async fn page(&self, page: Page) -> Result<usize> {
        match self {
            Self::Sqlite(reader) => reader.page(page).await,
            Self::Postgres(reader) => reader.page(page).await,
        }
    }

    /// Reads `page` by hand; returns the id of each row, in order.
    pub(crate) async fn ids(&self, page: Page) -> Result<Vec<Uuid>> {
        match self {
            Self::Sqlite(reader) => reader.ids(page).await,
            Self::Postgres(reader) => reader.ids(page).await,
        }
    }

    pub(crate) async fn close(self) {
        if let Self::Postgres(reader) = self {
            reader.close().await;
        }
    }
}

impl Lab {
    /// A lab for this run; `pg` is the server's.
    pub(crate) fn new(pg: PgLab) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("pulse-bench-").tempdir()?;
        Ok(Self { dir, pg, template: Arc::new(Template::new()?) })
    }

    /// Where the SQLite files live.
    pub(crate) fn sqlite_dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Pulse over a new, empty store of `kind`, in a table (or file) called `name`.
    pub(crate) async fn pulse(&self, kind: Kind, name: &str) -> Result<Subject> {
        let (backend, store): (Arc<dyn pulse_extensibility::DeadLetterBackend>, Store) = match kind {
            Kind::Memory => (Arc::new(pulse_store_memory::MemoryStore::new()), Store::Memory),
            Kind::Sqlite => {
                let store = sqlite::open_store(&self.dir.path().join(format!("{name}.db"))).await?;
                (Arc::new(store.clone()), Store::Sqlite(store))
            }
            Kind::Postgres => {
                let store = self.pg.open_store(name).await?;
                (Arc::new(store.clone()), Store::Postgres(store))
            }
        };
        Ok(Subject { dead_letters: DeadLetters::new(backend), store })
    }

    /// The read baseline on the store `name` of `kind`; `None` for the memory store.
    pub(crate) async fn reader(&self, kind: Kind, name: &str) -> Result<Option<Reader>> {
        Ok(match kind {
            Kind::Memory => None,
            Kind::Sqlite => Some(Reader::Sqlite(sqlite_reader::Reader::open(
                &self.dir.path().join(format!("{name}.db")),
            )?)),
            Kind::Postgres => Some(Reader::Postgres(postgres_reader::Reader::open(&self.pg, name).await?)),
        })
    }

    /// The baseline of `kind`, writing to a new table (or file) called `name`, laid out by
    /// Pulse's own migrations.
    pub(crate) async fn baseline(&self, kind: Kind, name: &str) -> Result<Baseline> {
        let template = self.template.clone();
        Ok(match kind {
            Kind::Memory => Baseline::Memory(memory::Raw::new(template)),
            Kind::Sqlite => {
                let path = self.dir.path().join(format!("{name}.db"));
                Baseline::Sqlite(sqlite::Raw::open(&path, template).await?)
            }
            Kind::Postgres => Baseline::Postgres(postgres::Raw::open(&self.pg, name, template).await?),
        })
    }
}
