//! [`SqliteStore`]: one writer connection on its own thread, a few reader connections on theirs,
//! and async callers that send them jobs and await the replies.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use pulse_extensibility::{
    Actor, Capabilities, CommandDeadLetterStatus, DeadLetterBackend, DeadLetterEntry, DeadLetterId,
    EntryFilter, EntryQuery, Error, ErrorGroup, Fingerprint, ReplayLease, ReplayRequest, ReplayRequestId,
    Result, Scope, Statistics, StoreReceipt, TimeBuckets, Timestamp,
};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params_from_iter};

use crate::checkpoint;
use crate::config::SqliteConfig;
use crate::connection::{open_checkpointer, open_reader, open_writer};
use crate::error::Context;
use crate::pool::Pool;
use crate::row::{count, entry_from_row, entry_values, id_text, parse_id, request_from_row};
use crate::sql::{self, COLUMNS, MAX_INSERT_ROWS, Sql};

/// The most entries one purge transaction deletes. A larger purge is several transactions, one
/// after the other, so a store that arrives meanwhile waits behind one of them, not all.
const PURGE_STEP: u32 = 250;

/// A dead-letter store in one SQLite file, in WAL mode.
///
/// Writes run one at a time on a dedicated writer thread, each in a `BEGIN IMMEDIATE`
/// transaction; reads run on a small pool of reader threads, each with its own connection, and
/// never wait behind the writer. No database work runs on the async runtime's threads.
///
/// Clones share the connections. Dropping the last clone closes them, waiting for the job in
/// progress, if any; [`SqliteStore::close`] does the same off the async runtime. Several stores
/// (in one or many processes) may open the same file: SQLite's locks serialize their writes.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use pulse_extensibility::DeadLetters;
/// use pulse_store_sqlite::{SqliteConfig, SqliteStore};
///
/// # async fn run() -> pulse_extensibility::Result<()> {
/// let store = SqliteStore::open(SqliteConfig::new("dead-letters.db")).await?;
/// let dead_letters = DeadLetters::new(Arc::new(store));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    config: SqliteConfig,
    sql: Arc<Sql>,
    writer: Pool,
    readers: Pool,
    /// Runs the writer's WAL checkpoints (see [`checkpoint`]); closes after the writer.
    #[cfg_attr(not(test), expect(dead_code, reason = "held for its drop, after the writer's"))]
    checkpointer: Pool,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.config.path())
            .field("table", self.inner.config.table_name())
            .finish_non_exhaustive()
    }
}

/// Runs `work` in a `BEGIN IMMEDIATE` transaction: it takes the write lock first (waiting up to
/// the busy timeout), so it never fails half-way for a concurrent writer. Commits on `Ok`, rolls
/// back on `Err`.
fn write_transaction<T>(
    connection: &mut Connection,
    what: &str,
    work: impl FnOnce(&Transaction<'_>) -> Result<T>,
) -> Result<T> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).context(what)?;
    let result = work(&transaction)?;
    transaction.commit().context(what)?;
    Ok(result)
}

/// Every entry `statement` returns.
fn entries(connection: &Connection, what: &str, sql: &str, params: &[Value]) -> Result<Vec<DeadLetterEntry>> {
    let mut statement = connection.prepare_cached(sql).context(what)?;
    let mut rows = statement.query(params_from_iter(params)).context(what)?;
    let mut entries = Vec::new();
    while let Some(row) = rows.next().context(what)? {
        entries.push(entry_from_row(row)?);
    }
    Ok(entries)
}

/// The statistics of rows of `(Status, count)` that `sql` returns.
fn status_counts(connection: &Connection, what: &str, sql: &str, params: &[Value]) -> Result<Statistics> {
    let mut prepared = connection.prepare_cached(sql).context(what)?;
    let mut rows = prepared.query(params_from_iter(params)).context(what)?;
    let mut statistics = Statistics::default();
    while let Some(row) = rows.next().context(what)? {
        let status: i64 = row.get(0).context(what)?;
        let status = i16::try_from(status)
            .map_err(|_| Error::corrupt(format!("unknown stored status {status}")))
            .and_then(CommandDeadLetterStatus::from_i16)?;
        statistics.add(status, count(row.get(1).context(what)?)?);
    }
    Ok(statistics)
}

/// Every replay request `statement` returns.
fn requests(connection: &Connection, what: &str, statement: &sql::Statement) -> Result<Vec<ReplayRequest>> {
    let mut prepared = connection.prepare_cached(&statement.sql).context(what)?;
    let mut rows = prepared.query(params_from_iter(&statement.params)).context(what)?;
    let mut requests = Vec::new();
    while let Some(row) = rows.next().context(what)? {
        requests.push(request_from_row(row)?);
    }
    Ok(requests)
}

fn changes(changed: usize) -> Result<u64> {
    u64::try_from(changed).map_err(|_| Error::corrupt(format!("{changed} rows changed")))
}

impl SqliteStore {
    /// Opens (creating if missing) the database file of `config`: checks it, switches it to WAL
    /// mode, sets and reads back the pragmas, applies the missing migrations, and starts the
    /// writer and reader threads.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidConfig`]: an empty path; a bad setting; a table name SQLite or Pulse reserves (starting
    ///   with `sqlite_`, or `_pulse_migrations`), refused before any I/O; the file is not a SQLite database; it was
    ///   written by a newer Pulse; its migration history differs from this Pulse's; it has a
    ///   table of the configured name that Pulse did not create; it cannot use WAL mode. The file
    ///   is left as it was.
    /// - [`Error::Backend`]: the file is read-only, or the driver failed (retryable when another
    ///   process held the write lock past the busy timeout).
    /// - [`Error::Unavailable`]: the file cannot be opened, the disk is full or failing.
    pub async fn open(config: SqliteConfig) -> Result<Self> {
        // SQLite reads an empty name as a private, temporary database, which has no WAL.
        if config.path().as_os_str().is_empty() {
            return Err(Error::InvalidConfig {
                reason: "the SQLite path is empty: name the database file to open".to_owned(),
            });
        }
        config.check_table()?;
        if !(1..=SqliteConfig::MAX_READERS).contains(&config.reader_count()) {
            return Err(Error::InvalidConfig {
                reason: format!(
                    "readers must be between 1 and {}, was {}",
                    SqliteConfig::MAX_READERS,
                    config.reader_count()
                ),
            });
        }
        if i32::try_from(config.busy_timeout_duration().as_millis()).is_err() {
            return Err(Error::InvalidConfig { reason: "busy_timeout must be below 2^31 ms".to_owned() });
        }
        let writer_config = config.clone();
        let writer = Pool::start("pulse-sqlite-writer", 1, move || open_writer(&writer_config)).await?;
        let checkpointer_config = config.clone();
        let checkpointer =
            Pool::start("pulse-sqlite-checkpointer", 1, move || open_checkpointer(&checkpointer_config))
                .await?;
        let queue = checkpointer.queue();
        writer
            .run("handing checkpoints off", move |connection| {
                if let Some(queue) = queue {
                    checkpoint::hand_off(connection, queue);
                }
                Ok(())
            })
            .await?;
        let reader_config = config.clone();
        let readers =
            Pool::start("pulse-sqlite-reader", config.reader_count(), move || open_reader(&reader_config))
                .await?;
        let sql = Arc::new(Sql::new(config.table_name()));
        Ok(Self { inner: Arc::new(Inner { config, sql, writer, readers, checkpointer }) })
    }

    /// Closes this handle. When it is the last one, the connections close on a blocking thread
    /// of the Tokio runtime, after the job in progress, so the runtime's workers never wait for
    /// them; dropping the last handle instead closes them on the dropping thread.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub async fn close(self) {
        let inner = self.inner;
        if let Err(error) = tokio::task::spawn_blocking(move || drop(inner)).await {
            tracing::error!(%error, "closing the SQLite store failed");
        }
    }

    /// The settings the store was opened with.
    pub fn config(&self) -> &SqliteConfig {
        &self.inner.config
    }

    /// Runs `job` on the writer connection.
    async fn write<T, F>(&self, what: &'static str, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Sql) -> Result<T> + Send + 'static,
    {
        let sql = self.inner.sql.clone();
        self.inner.writer.run(what, move |connection| job(connection, &sql)).await
    }

    /// Runs `job` on a reader connection.
    async fn read<T, F>(&self, what: &'static str, job: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection, &Sql) -> Result<T> + Send + 'static,
    {
        let sql = self.inner.sql.clone();
        self.inner.readers.run(what, move |connection| job(connection, &sql)).await
    }
}

#[async_trait]
impl DeadLetterBackend for SqliteStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(true)
    }

    async fn insert(&self, entries: Vec<DeadLetterEntry>) -> Result<Vec<StoreReceipt>> {
        const WHAT: &str = "inserting entries";
        /// What the writer needs of one entry: its values, and its key to look up a duplicate.
        struct Insert {
            id: DeadLetterId,
            id_text: String,
            tenant: String,
            message_id: Option<String>,
            values: Vec<Value>,
        }
        let rows = entries
            .into_iter()
            .map(|entry| {
                Ok(Insert {
                    id: entry.id,
                    id_text: id_text(entry.id),
                    tenant: entry.tenant.as_str().to_owned(),
                    message_id: entry.message_id.clone(),
                    values: entry_values(entry)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.write(WHAT, move |connection, sql| {
            // One row is one statement, atomic by itself: it needs no transaction around it
            // unless its key or id is taken, which the transaction below sorts out.
            if let [row] = rows.as_slice() {
                let mut insert = connection.prepare_cached(sql.insert(1)).context(WHAT)?;
                let mut returned = insert.query(params_from_iter(&row.values)).context(WHAT)?;
                let inserted = returned.next().context(WHAT)?.is_some();
                // The statement commits when it runs to its end: a failed commit is its error.
                while returned.next().context(WHAT)?.is_some() {}
                if inserted {
                    return Ok(vec![StoreReceipt { id: row.id, duplicate: false }]);
                }
            }
            write_transaction(connection, WHAT, |transaction| {
                // Rows go in by statements of 64, 32, ... 1 rows: few round trips through
                // SQLite's parser and few distinct statements to keep prepared.
                let mut inserted = HashSet::with_capacity(rows.len());
                let mut rest = rows.as_slice();
                while !rest.is_empty() {
                    let size = MAX_INSERT_ROWS.min(1 << rest.len().ilog2());
                    let (chunk, after) = rest.split_at(size);
                    let mut insert = transaction.prepare_cached(sql.insert(size)).context(WHAT)?;
                    let mut returned = insert
                        .query(params_from_iter(chunk.iter().flat_map(|row| &row.values)))
                        .context(WHAT)?;
                    while let Some(id) = returned.next().context(WHAT)? {
                        inserted.insert(id.get::<_, String>(0).context(WHAT)?);
                    }
                    rest = after;
                }
                let mut find = transaction.prepare_cached(sql.find_key()).context(WHAT)?;
                rows.iter()
                    .map(|row| {
                        if inserted.contains(&row.id_text) {
                            return Ok(StoreReceipt { id: row.id, duplicate: false });
                        }
                        // Not inserted: its key is held (a duplicate), or else its id is. An
                        // error here rolls the whole batch back.
                        let existing: Option<String> = match row.message_id.as_deref() {
                            Some(message_id) => find
                                .query_row([row.tenant.as_str(), message_id], |found| found.get(0))
                                .optional()
                                .context("looking up a duplicate message id")?,
                            None => None,
                        };
                        match existing {
                            Some(existing) => Ok(StoreReceipt { id: parse_id(&existing)?, duplicate: true }),
                            None => Err(Error::conflict(row.id, "an entry with this id is already stored")),
                        }
                    })
                    .collect()
            })
        })
        .await
    }

    async fn get(&self, scope: &Scope, id: DeadLetterId) -> Result<Option<DeadLetterEntry>> {
        const WHAT: &str = "reading an entry";
        let mut params = vec![Value::Text(id_text(id))];
        params.extend(scope.tenant().map(|tenant| Value::Text(tenant.as_str().to_owned())));
        let in_tenant = scope.tenant().is_some();
        self.read(WHAT, move |connection, sql| {
            Ok(entries(connection, WHAT, sql.get(in_tenant), &params)?.pop())
        })
        .await
    }

    async fn swap(&self, entry: &DeadLetterEntry) -> Result<bool> {
        const WHAT: &str = "updating an entry";
        let Some(expected) = entry.revision.checked_sub(1).and_then(|revision| i64::try_from(revision).ok())
        else {
            return Ok(false);
        };
        let mut params: Vec<Value> = COLUMNS
            .iter()
            .zip(entry_values(entry.clone())?)
            .filter(|(column, _)| sql::is_mutable(column))
            .map(|(_, value)| value)
            .collect();
        params.extend([
            Value::Text(id_text(entry.id)),
            Value::Text(entry.tenant.as_str().to_owned()),
            Value::Integer(expected),
        ]);
        self.write(WHAT, move |connection, sql| {
            write_transaction(connection, WHAT, |transaction| {
                let mut statement = transaction.prepare_cached(sql.swap()).context(WHAT)?;
                Ok(statement.execute(params_from_iter(&params)).context(WHAT)? == 1)
            })
        })
        .await
    }

    async fn query(&self, query: &EntryQuery) -> Result<Vec<DeadLetterEntry>> {
        const WHAT: &str = "listing entries";
        let statement = self.inner.sql.query(query);
        self.read(WHAT, move |connection, _| entries(connection, WHAT, &statement.sql, &statement.params))
            .await
    }

    async fn statistics(&self, scope: &Scope) -> Result<Statistics> {
        const WHAT: &str = "counting entries";
        let statement = self.inner.sql.statistics(scope);
        self.read(WHAT, move |connection, _| {
            status_counts(connection, WHAT, &statement.sql, &statement.params)
        })
        .await
    }

    async fn error_groups(&self, scope: &Scope, limit: u32) -> Result<Vec<ErrorGroup>> {
        const WHAT: &str = "grouping errors";
        let statement = self.inner.sql.error_groups(scope, limit);
        self.read(WHAT, move |connection, _| {
            let mut prepared = connection.prepare_cached(&statement.sql).context(WHAT)?;
            let mut rows = prepared.query(params_from_iter(&statement.params)).context(WHAT)?;
            let mut groups = Vec::new();
            while let Some(row) = rows.next().context(WHAT)? {
                groups.push(ErrorGroup {
                    fingerprint: Fingerprint::from_stored(row.get(0).context(WHAT)?),
                    command_type: row.get(1).context(WHAT)?,
                    exception_type: row.get(2).context(WHAT)?,
                    sample_message: row.get(3).context(WHAT)?,
                    count: count(row.get(4).context(WHAT)?)?,
                    first_seen: Timestamp::from_micros(row.get(5).context(WHAT)?),
                    last_seen: Timestamp::from_micros(row.get(6).context(WHAT)?),
                });
            }
            Ok(groups)
        })
        .await
    }

    async fn count(&self, scope: &Scope, filter: &EntryFilter) -> Result<Statistics> {
        const WHAT: &str = "counting matching entries";
        let statement = self.inner.sql.count(scope, filter);
        self.read(WHAT, move |connection, _| {
            status_counts(connection, WHAT, &statement.sql, &statement.params)
        })
        .await
    }

    async fn histogram(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        buckets: &TimeBuckets,
    ) -> Result<Vec<u64>> {
        const WHAT: &str = "counting entries per time bucket";
        let mut counts = vec![0; buckets.count as usize];
        let Some(filter) = filter.occurred_within(buckets.start, buckets.end()) else {
            return Ok(counts);
        };
        let statement = self.inner.sql.histogram(scope, &filter, buckets);
        self.read(WHAT, move |connection, _| {
            let mut prepared = connection.prepare_cached(&statement.sql).context(WHAT)?;
            let mut rows = prepared.query(params_from_iter(&statement.params)).context(WHAT)?;
            while let Some(row) = rows.next().context(WHAT)? {
                let index: i64 = row.get(0).context(WHAT)?;
                let bucket = usize::try_from(index)
                    .ok()
                    .and_then(|index| counts.get_mut(index))
                    .ok_or_else(|| Error::corrupt(format!("a histogram returned bucket {index}")))?;
                *bucket = count(row.get(1).context(WHAT)?)?;
            }
            Ok(counts)
        })
        .await
    }

    async fn request_replay(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        request: &ReplayRequest,
    ) -> Result<u64> {
        const WHAT: &str = "requesting replays";
        let mark = self.inner.sql.request_replay(scope, filter, request);
        let request = request.clone();
        self.write(WHAT, move |connection, sql| {
            write_transaction(connection, WHAT, |transaction| {
                let mut prepared = transaction.prepare_cached(&mark.sql).context(WHAT)?;
                let marked = changes(prepared.execute(params_from_iter(&mark.params)).context(WHAT)?)?;
                let insert = sql.insert_request(&request, marked);
                transaction
                    .prepare_cached(&insert.sql)
                    .context(WHAT)?
                    .execute(params_from_iter(&insert.params))
                    .context(WHAT)?;
                Ok(marked)
            })
        })
        .await
    }

    async fn replay_request(&self, scope: &Scope, id: ReplayRequestId) -> Result<Option<ReplayRequest>> {
        const WHAT: &str = "reading a replay request";
        let statement = self.inner.sql.get_request(scope, id);
        self.read(WHAT, move |connection, _| Ok(requests(connection, WHAT, &statement)?.pop())).await
    }

    async fn replay_requests(
        &self,
        scope: &Scope,
        before: Option<ReplayRequestId>,
        limit: u32,
    ) -> Result<Vec<ReplayRequest>> {
        const WHAT: &str = "listing replay requests";
        let statement = self.inner.sql.list_requests(scope, before, limit);
        self.read(WHAT, move |connection, _| requests(connection, WHAT, &statement)).await
    }

    async fn cancel_replay_request(
        &self,
        scope: &Scope,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
    ) -> Result<Option<ReplayRequest>> {
        const WHAT: &str = "cancelling a replay request";
        let get = self.inner.sql.get_request(scope, id);
        let entries = self.inner.sql.cancel_entries(scope, id, at, by);
        let by = by.cloned();
        self.write(WHAT, move |connection, sql| {
            write_transaction(connection, WHAT, |transaction| {
                let Some(request) = requests(transaction, WHAT, &get)?.pop() else { return Ok(None) };
                if request.cancelled_at.is_some() {
                    return Ok(Some(request));
                }
                let mut prepared = transaction.prepare_cached(&entries.sql).context(WHAT)?;
                let cancelled = changes(prepared.execute(params_from_iter(&entries.params)).context(WHAT)?)?;
                let record = sql.cancel_request(id, at, by.as_ref(), cancelled);
                transaction
                    .prepare_cached(&record.sql)
                    .context(WHAT)?
                    .execute(params_from_iter(&record.params))
                    .context(WHAT)?;
                Ok(requests(transaction, WHAT, &get)?.pop())
            })
        })
        .await
    }

    async fn oldest_due_replay(&self, scope: &Scope, now: Timestamp) -> Result<Option<Timestamp>> {
        const WHAT: &str = "finding the oldest due replay";
        let statement = self.inner.sql.oldest_due_replay(scope, now);
        self.read(WHAT, move |connection, _| {
            let mut prepared = connection.prepare_cached(&statement.sql).context(WHAT)?;
            let oldest: Option<i64> =
                prepared.query_row(params_from_iter(&statement.params), |row| row.get(0)).context(WHAT)?;
            Ok(oldest.map(Timestamp::from_micros))
        })
        .await
    }

    async fn claim_requested(
        &self,
        scope: &Scope,
        now: Timestamp,
        lease: ReplayLease,
        limit: u32,
    ) -> Result<Vec<DeadLetterEntry>> {
        const WHAT: &str = "claiming requested replays";
        let candidates = self.inner.sql.claim_candidates(scope, now, limit);
        self.write(WHAT, move |connection, sql| {
            write_transaction(connection, WHAT, |transaction| {
                let ids: Vec<String> = {
                    let mut prepared = transaction.prepare_cached(&candidates.sql).context(WHAT)?;
                    prepared
                        .query_map(params_from_iter(&candidates.params), |row| row.get(0))
                        .context(WHAT)?
                        .collect::<rusqlite::Result<_>>()
                        .context(WHAT)?
                };
                let mut claimed = Vec::with_capacity(ids.len());
                for id in ids {
                    let params = [
                        Value::Text(id),
                        Value::Text(lease.token.hyphenated().to_string()),
                        Value::Integer(lease.expires_at.as_micros()),
                        Value::Integer(now.as_micros()),
                    ];
                    let entry = entries(transaction, WHAT, sql.claim_one(), &params)?
                        .pop()
                        .ok_or_else(|| Error::corrupt("a claimed entry vanished inside its transaction"))?;
                    claimed.push(entry);
                }
                Ok(claimed)
            })
        })
        .await
    }

    async fn purge(&self, scope: &Scope, resolved_before: Timestamp, limit: u32) -> Result<u64> {
        const WHAT: &str = "purging entries";
        let mut purged = 0;
        while purged < u64::from(limit) {
            let step = (u64::from(limit) - purged).min(u64::from(PURGE_STEP));
            let statement = self.inner.sql.purge(scope, resolved_before, step);
            let deleted = self
                .write(WHAT, move |connection, _| {
                    write_transaction(connection, WHAT, |transaction| {
                        let mut prepared = transaction.prepare_cached(&statement.sql).context(WHAT)?;
                        changes(prepared.execute(params_from_iter(&statement.params)).context(WHAT)?)
                    })
                })
                .await;
            match deleted {
                Ok(deleted) => {
                    purged += deleted;
                    if deleted < step {
                        break;
                    }
                }
                // The steps before this one are committed: report them; the next purge meets
                // the error again if it persists.
                Err(error) if purged > 0 => {
                    tracing::warn!(%error, purged, "a purge stopped part-way");
                    break;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use pulse_extensibility::{
        CommandDeadLetterStatus as Status, DeadLetters, Failure, ManualClock, NewDeadLetter, SortKey,
        SortOrder, TenantId,
    };

    use std::time::Duration;

    use super::*;
    use crate::connection::pragma_int;

    async fn open(dir: &tempfile::TempDir, config: impl FnOnce(SqliteConfig) -> SqliteConfig) -> SqliteStore {
        SqliteStore::open(config(SqliteConfig::new(dir.path().join("pulse.db")))).await.expect("open")
    }

    fn entry(store: &SqliteStore, message_id: &str) -> DeadLetterEntry {
        let input = NewDeadLetter::new("orders.create", "{}", Failure::new("TimeoutError", "timed out"))
            .message_id(message_id);
        pulse_extensibility::validate::new_entry(input, Timestamp::from_micros(1_000_000), 1024)
            .map(|entry| DeadLetterEntry { tenant: TenantId::default(), ..entry })
            .unwrap_or_else(|error| panic!("{store:?}: {error}"))
    }

    #[tokio::test]
    async fn an_empty_path_is_refused_for_what_it_is() {
        match SqliteStore::open(SqliteConfig::new("")).await {
            Err(Error::InvalidConfig { reason }) => {
                assert_eq!(reason, "the SQLite path is empty: name the database file to open");
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_panicking_job_rolls_back_and_poisons_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, |config| config.readers(1)).await;
        let doomed = entry(&store, "doomed");
        let values = entry_values(doomed.clone()).unwrap();
        let error = store
            .write("a test job", move |connection, sql| -> Result<()> {
                connection.execute_batch("BEGIN IMMEDIATE").unwrap();
                connection.query_row(sql.insert(1), params_from_iter(&values), |_| Ok(())).unwrap();
                panic!("boom");
            })
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "backend error: a test job: the database job panicked: boom");
        let error = store.read("a test read", |_, _| -> Result<()> { panic!("bang") }).await.unwrap_err();
        assert_eq!(error.to_string(), "backend error: a test read: the database job panicked: bang");

        // The half-written insert is gone, and both connections keep working.
        assert_eq!(store.get(&Scope::AllTenants, doomed.id).await.unwrap(), None);
        let kept = entry(&store, "kept");
        let receipts = store.insert(vec![kept.clone()]).await.unwrap();
        assert_eq!(receipts, [StoreReceipt { id: kept.id, duplicate: false }]);
        assert_eq!(store.get(&Scope::AllTenants, kept.id).await.unwrap(), Some(kept));
    }

    /// `(message, retryable)` of a backend error; panics on any other result.
    fn backend_error<T: fmt::Debug>(result: Result<T>) -> (String, bool) {
        match result {
            Err(Error::Backend { message, retryable, source: Some(_) }) => (message, retryable),
            other => panic!("expected a backend error with a source, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn writes_the_database_refuses_are_typed_errors() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, |config| config).await;
        // What a file that became read-only under the store returns: SQLITE_READONLY.
        store
            .inner
            .writer
            .run("setup", |connection| connection.execute_batch(sql::QUERY_ONLY).context("setup"))
            .await
            .unwrap();
        let refused = store.insert(vec![entry(&store, "refused")]).await;
        assert_eq!(
            backend_error(refused),
            ("inserting entries: the database is read-only".to_owned(), false)
        );
    }

    #[tokio::test]
    async fn a_full_disk_is_unavailable() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, |config| config).await;
        // Cap the file at its current size: the next page SQLite needs is a full disk to it.
        store
            .inner
            .writer
            .run("setup", |connection| {
                let pages = pragma_int(connection, "PRAGMA page_count")?;
                connection.execute_batch(&format!("PRAGMA max_page_count = {pages}")).context("capping")
            })
            .await
            .unwrap();
        let big = DeadLetterEntry { payload: "x".repeat(64 * 1024), ..entry(&store, "big") };
        match store.insert(vec![big]).await {
            Err(Error::Unavailable { message, source: Some(_) }) => {
                assert_eq!(message, "inserting entries: the disk is full");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        // Nothing was written, and reads still work.
        assert_eq!(store.statistics(&Scope::AllTenants).await.unwrap(), Statistics::default());
    }

    /// The plan SQLite picks for `statement`, one line per step.
    fn plan(connection: &Connection, statement: &str, params: &[Value]) -> String {
        let mut explain = connection.prepare(&format!("EXPLAIN QUERY PLAN {statement}")).unwrap();
        let rows = explain.query_map(params_from_iter(params), |row| row.get::<_, String>(3)).unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>().unwrap().join("\n")
    }

    #[tokio::test]
    async fn hot_queries_use_their_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, |config| config).await;
        // Give the planner some rows to reason about.
        let dead_letters =
            DeadLetters::new(Arc::new(store.clone())).with_clock(Arc::new(ManualClock::default()));
        for n in 0..50 {
            let input =
                NewDeadLetter::new("orders.create", "{}", Failure::new("TimeoutError", format!("order {n}")));
            dead_letters.store(input).await.unwrap();
        }
        let sql = store.inner.sql.clone();
        let now = Timestamp::from_micros(0);
        let tenant = Scope::Tenant(TenantId::default());
        // A later page of a listing: keyset paging from where the last page ended.
        let after = Some(SortKey { occurred_at: now, id: DeadLetterId::new_at(now) });
        let listing = |scope: &Scope, statuses: &[Status], order, after| {
            let filter = EntryFilter::default().statuses(statuses.iter().copied());
            sql.query(&EntryQuery { scope: scope.clone(), filter, order, after, offset: 0, limit: 10 })
        };
        let key = sql::Statement {
            sql: sql.find_key().to_owned(),
            params: vec![Value::Text("default".to_owned()), Value::Text("m".to_owned())],
        };
        let oldest = SortOrder::OldestFirst;
        let newest = SortOrder::NewestFirst;
        // A dashboard's error group: its entries of some unresolved statuses.
        let group_filter = |statuses: &[Status]| {
            EntryFilter::default()
                .statuses(statuses.iter().copied())
                .fingerprint(Fingerprint::from_stored("0123456789abcdef".to_owned()))
        };
        let group_listing = |statuses: &[Status]| {
            let query = EntryQuery {
                scope: Scope::AllTenants,
                filter: group_filter(statuses),
                order: newest,
                after: None,
                offset: 0,
                limit: 200,
            };
            sql.query(&query)
        };
        // A week by the hour; each bucket a range of an index ending in (OccurredAt, Id).
        let week = TimeBuckets::new(now, Duration::from_secs(3600), 168);
        let unresolved = [Status::New, Status::Replaying];
        let histogram = |scope: &Scope, statuses: &[Status], fingerprint: Option<&str>| {
            let filter = EntryFilter::default()
                .statuses(statuses.iter().copied())
                .fingerprint(fingerprint.map(|fingerprint| Fingerprint::from_stored(fingerprint.to_owned())));
            sql.histogram(scope, &filter, &week)
        };
        let cases = [
            ("pending", listing(&Scope::AllTenants, &[Status::New], oldest, None), "Status_OccurredAt_Id"),
            (
                "pending of a tenant",
                listing(&tenant, &[Status::New], oldest, None),
                "Tenant_Status_OccurredAt_Id",
            ),
            ("a listing page", listing(&Scope::AllTenants, &[], newest, after), "OccurredAt_Id"),
            ("a tenant's listing page", listing(&tenant, &[], newest, after), "Tenant_OccurredAt_Id"),
            (
                "unresolved",
                listing(&Scope::AllTenants, &[Status::New, Status::Replaying], newest, after),
                "OccurredAt_Id",
            ),
            ("an idempotency key", key, "Tenant_MessageId"),
            (
                "an error group's unresolved entries, newest first",
                group_listing(&[Status::New, Status::Replaying]),
                "Unresolved_Fingerprint",
            ),
            (
                "an error group's New entries, newest first",
                group_listing(&[Status::New]),
                "Unresolved_Fingerprint",
            ),
            (
                "counting an error group's unresolved entries",
                sql.count(&Scope::AllTenants, &group_filter(&[Status::New, Status::Replaying])),
                "Fingerprint_Status",
            ),
            ("error groups", sql.error_groups(&Scope::AllTenants, 10), "Unresolved_Fingerprint"),
            ("claiming", sql.claim_candidates(&Scope::AllTenants, now, 10), "Claimable"),
            ("claiming expired leases", sql.claim_candidates(&Scope::AllTenants, now, 10), "ClaimExpired"),
            ("purging", sql.purge(&Scope::AllTenants, now, 10), "Status_ResolvedAt"),
            ("a histogram", histogram(&Scope::AllTenants, &[], None), "OccurredAt_Id"),
            ("a tenant's histogram", histogram(&tenant, &[], None), "Tenant_OccurredAt_Id"),
            (
                "a histogram of unresolved entries",
                histogram(&Scope::AllTenants, &unresolved, None),
                "Status_OccurredAt_Id",
            ),
            (
                "a tenant's histogram of New entries",
                histogram(&tenant, &[Status::New], None),
                "Tenant_Status_OccurredAt_Id",
            ),
            (
                "an error group's histogram",
                histogram(&Scope::AllTenants, &unresolved, Some("0123456789abcdef")),
                "Unresolved_Fingerprint",
            ),
            (
                "an error group's histogram of Replaying entries in a tenant",
                histogram(&tenant, &[Status::Replaying], Some("0123456789abcdef")),
                "Unresolved_Fingerprint",
            ),
            (
                "a command type's histogram",
                {
                    let filter = EntryFilter::default().command_type("orders.create");
                    sql.histogram(&Scope::AllTenants, &filter, &week)
                },
                "OccurredAt_Id",
            ),
        ];
        let names: Vec<(&str, &str)> = cases.iter().map(|(name, _, index)| (*name, *index)).collect();
        let statements: Vec<sql::Statement> = cases.into_iter().map(|(_, statement, _)| statement).collect();
        let plans = store
            .read("explaining", move |connection, _| {
                Ok(statements.iter().map(|s| plan(connection, &s.sql, &s.params)).collect::<Vec<_>>())
            })
            .await
            .unwrap();
        for ((name, index), plan) in names.into_iter().zip(plans) {
            let index = format!("CommandDeadLetter_{index}");
            let words: Vec<&str> = plan.split_whitespace().collect();
            let used = words.windows(2).any(|pair| pair == ["INDEX", index.as_str()]);
            assert!(used, "{name}: expected {index} in:\n{plan}");
            let full_scan = plan.lines().any(|line| line.trim() == "SCAN CommandDeadLetter");
            assert!(!full_scan, "{name}: a full table scan:\n{plan}");
            assert!(!plan.contains("TEMP B-TREE FOR GROUP BY"), "{name}: groups with a sort:\n{plan}");
            // Only small sets are sorted, never the entries: the groups, and a claim's candidates
            // (at most `limit` of each kind, plus the entries whose lease has expired).
            let small_sort = (index.ends_with("Fingerprint") && !name.ends_with("newest first"))
                || index.contains("Claim");
            assert!(!plan.contains("TEMP B-TREE FOR ORDER BY") || small_sort, "{name}: sorts:\n{plan}");
        }
    }

    #[tokio::test]
    async fn checkpoints_run_off_the_writer_and_keep_the_wal_bounded() {
        const PAGE: u64 = 4096;
        const FRAME: u64 = PAGE + 24;
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir, |config| config.readers(1)).await;
        let disabled = store
            .write("reading wal_autocheckpoint", |connection, _| {
                pragma_int(connection, "PRAGMA wal_autocheckpoint")
            })
            .await
            .unwrap();
        assert_eq!(disabled, 0, "the writer must not checkpoint on its own");

        // 80 entries of 100 KiB, 10 per commit: about 2,000 pages through the WAL. After each
        // commit, whatever checkpoint it asked for has run before the next one starts.
        let payload = "x".repeat(100 * 1024);
        for batch in 0..8 {
            let entries: Vec<DeadLetterEntry> = (0..10)
                .map(|i| {
                    let input = NewDeadLetter::new("orders.create", payload.clone(), Failure::new("E", "m"))
                        .message_id(format!("m-{batch}-{i}"));
                    pulse_extensibility::validate::new_entry(input, Timestamp::from_micros(1), 1 << 20)
                        .unwrap()
                })
                .collect();
            store.insert(entries.clone()).await.unwrap();
            store.inner.checkpointer.run("waiting for the checkpoint", |_| Ok(())).await.unwrap();
        }
        assert_eq!(store.statistics(&Scope::AllTenants).await.unwrap().total, 80);
        let wal = std::fs::metadata(dir.path().join("pulse.db-wal")).unwrap().len();
        let written = 80 * payload.len() as u64 / PAGE;
        assert!(written > 1900, "{written} pages written");
        // At most the threshold plus the commit that crossed it: the WAL was reset after each
        // checkpoint instead of growing with every page written.
        let bound = (u64::try_from(checkpoint::THRESHOLD_PAGES).unwrap() + 300) * FRAME;
        assert!(wal <= bound, "the WAL holds {} frames after {written} pages were written", wal / FRAME);
    }
}
