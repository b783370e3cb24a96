//! The SQLite read baseline: the store's page queries, written by hand on a plain read-only
//! connection, every column read into an owned value.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Result, ensure};
use pulse_extensibility::{CommandDeadLetterStatus, DEFAULT_TABLE};
use pulse_store_sqlite::SqliteConfig;
use rusqlite::types::Value;
use rusqlite::{Connection, params};

use super::{COLUMNS, Page, column_list};

pub(crate) struct Reader {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Mutex<Connection>,
    pending: String,
    list: String,
}

impl Reader {
    /// Opens the store's file at `path` as the store opens its readers: read-write, then
    /// `query_only`, with the store's busy timeout and synchronous level.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(SqliteConfig::DEFAULT_BUSY_TIMEOUT)?;
        connection.pragma_update(None, "query_only", "ON")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        let (columns, table) = (column_list(), format!("\"{DEFAULT_TABLE}\""));
        let pending = format!(
            "SELECT {columns} FROM {table} WHERE \"Status\" IN (?1) \
             ORDER BY \"OccurredAt\" ASC, \"Id\" ASC LIMIT ?2 OFFSET ?3"
        );
        let list = format!(
            "SELECT {columns} FROM {table} ORDER BY \"OccurredAt\" DESC, \"Id\" DESC LIMIT ?1 OFFSET ?2"
        );
        Ok(Self { inner: Arc::new(Inner { connection: Mutex::new(connection), pending, list }) })
    }

    /// Reads one page; returns how many rows it had.
    pub(crate) async fn page(&self, page: Page) -> Result<usize> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.page(page)).await?
    }
}

impl Inner {
    fn page(&self, page: Page) -> Result<usize> {
        let connection = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        let new = i64::from(CommandDeadLetterStatus::New.as_i16());
        let mut statement = match page {
            Page::Pending => connection.prepare_cached(&self.pending)?,
            Page::List => connection.prepare_cached(&self.list)?,
        };
        let mut rows = match page {
            Page::Pending => statement.query(params![new, 50, 0])?,
            Page::List => statement.query(params![51, 0])?,
        };
        let mut read: Vec<Vec<Value>> = Vec::with_capacity(51);
        while let Some(row) = rows.next()? {
            read.push((0..COLUMNS.len()).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()?);
        }
        ensure!(!read.is_empty(), "an empty page");
        Ok(std::hint::black_box(read).len())
    }
}
