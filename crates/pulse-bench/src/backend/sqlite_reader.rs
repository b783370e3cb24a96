//! The SQLite read baseline: the store's page queries, their text and parameters taken from
//! `pulse_store_sqlite::bench`, sent on a plain connection opened as the store opens its readers,
//! every column read into an owned value.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result, ensure};
use pulse_extensibility::{SqlIdentifier, Uuid};
use pulse_store_sqlite::SqliteConfig;
use rusqlite::types::Value;
use rusqlite::{Connection, params_from_iter};

use super::Page;

pub(crate) struct Reader {
    inner: Arc<Inner>,
}

/// One statement: its text and its parameters.
type Statement = (String, Vec<Value>);

struct Inner {
    connection: Mutex<Connection>,
    pending: Statement,
    list: Statement,
}

impl Reader {
    /// Opens the store's file at `path` as the store opens its readers: read-write, then
    /// `query_only`, with the store's busy timeout and synchronous level.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let connection = Connection::open(path)?;
        connection.busy_timeout(SqliteConfig::DEFAULT_BUSY_TIMEOUT)?;
        connection.pragma_update(None, "query_only", "ON")?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        let [pending, list] = [Page::Pending, Page::List].map(page_statement);
        Ok(Self { inner: Arc::new(Inner { connection: Mutex::new(connection), pending, list }) })
    }

    /// Reads one page; returns how many rows it had.
    pub(crate) async fn page(&self, page: Page) -> Result<usize> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || Ok(std::hint::black_box(inner.read(page)?).len())).await?
    }

    /// Reads one page; returns the id of each row.
    pub(crate) async fn ids(&self, page: Page) -> Result<Vec<Uuid>> {
        let inner = self.inner.clone();
        let rows = tokio::task::spawn_blocking(move || inner.read(page)).await??;
        rows.iter()
            .map(|row| match row.first() {
                Some(Value::Text(id)) => Ok(Uuid::parse_str(id)?),
                other => anyhow::bail!("a row whose first column is not an id: {other:?}"),
            })
            .collect()
    }
}

/// The store's statement for `page` on its default table.
pub(crate) fn page_statement(page: Page) -> Statement {
    pulse_store_sqlite::bench::query(&SqlIdentifier::default_table(), &page.query())
}

impl Inner {
    /// Every column of every row of `page`.
    fn read(&self, page: Page) -> Result<Vec<Vec<Value>>> {
        let connection = self.connection.lock().unwrap_or_else(PoisonError::into_inner);
        let (sql, params) = match page {
            Page::Pending => &self.pending,
            Page::List => &self.list,
        };
        let mut statement = connection.prepare_cached(sql).with_context(|| sql.clone())?;
        let columns = statement.column_count();
        let mut rows = statement.query(params_from_iter(params))?;
        let mut read: Vec<Vec<Value>> = Vec::with_capacity(51);
        while let Some(row) = rows.next()? {
            read.push((0..columns).map(|i| row.get::<_, Value>(i)).collect::<rusqlite::Result<_>>()?);
        }
        ensure!(!read.is_empty(), "an empty page");
        Ok(read)
    }
}
