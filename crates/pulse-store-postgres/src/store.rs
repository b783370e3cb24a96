//! [`PostgresStore`]: the dead-letter backend on Postgres.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use pulse_extensibility::{
    Actor, Capabilities, DeadLetterBackend, DeadLetterEntry, DeadLetterId, EntryFilter, EntryQuery, Error,
    ErrorGroup, ReplayLease, ReplayRequest, ReplayRequestId, Result, Scope, SqlIdentifier, Statistics,
    StoreReceipt, TimeBuckets, Timestamp, Uuid, request_columns as rc,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};

use crate::config::{Connection, PostgresConfig};
use crate::database_url::DatabaseUrl;
use crate::error::map;
use crate::liveness;
use crate::migrate;
use crate::row::{
    entries_from_rows, entry_from_row, error_group_from_row, narrow, read, request_from_row, status_counts,
    timestamp,
};
use crate::sql::Names;
use crate::tls;

/// How many rounds `insert` makes when a conflicting row disappears (purged) between the
/// conflict and the look-up of its id.
const MAX_INSERT_ROUNDS: usize = 5;

/// A dead-letter store in Postgres: durable, shared by every instance of a service.
///
/// Cheap to clone; clones share the pool. Open it with [`PostgresStore::open`], then hand it to
/// [`pulse_extensibility::DeadLetters::new`].
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    owns_pool: bool,
    names: Arc<Names>,
    schema: SqlIdentifier,
    table: SqlIdentifier,
    applied_migrations: Arc<[u32]>,
}

impl PostgresStore {
    /// Connects as `config` says and brings the schema up to date (or, with
    /// [`PostgresConfig::run_migrations`] off, checks that it is).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a URL that does not parse, is not a `postgres://` URL, or has
    /// a query parameter sqlx does not understand (see [`PostgresConfig::from_url`]), all before
    /// any connection is tried and without quoting the URL or its values; a root certificate
    /// file that does not exist, or TLS settings on a shared pool's config, also before any
    /// connection is tried; a server that refuses the connection (`pg_hba.conf`, a wrong
    /// password, no TLS where the mode demands it) or whose certificate does not verify; a schema
    /// written by a newer Pulse or with an altered history; a schema or table name reserved by
    /// PostgreSQL or Pulse (a `pg_` schema, `information_schema`, a table named
    /// `PulseMigrations`), before any I/O; [`Error::Unavailable`] when the server cannot be
    /// reached; other backend errors.
    pub async fn open(config: PostgresConfig) -> Result<Self> {
        config.check_names()?;
        config.check_pool_size()?;
        let (pool, owns_pool) = match &config.connection {
            Connection::Url(url) => (connect(&config, url).await?, true),
            Connection::Pool(pool) => {
                config.check_shared_pool_has_no_tls()?;
                (pool.clone(), false)
            }
        };
        let names = Names::new(&config.schema, &config.table);
        let migrated = if config.run_migrations {
            migrate::run(&pool, &names).await
        } else {
            migrate::verify(&pool, &names).await.map(|()| Vec::new())
        };
        let applied = match migrated {
            Ok(applied) => applied,
            Err(error) => {
                if owns_pool {
                    pool.close().await;
                }
                return Err(error);
            }
        };
        let applied_migrations = applied
            .into_iter()
            .map(|v| u32::try_from(v).map_err(|_| Error::corrupt(format!("negative migration version {v}"))))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            pool,
            owns_pool,
            names: Arc::new(names),
            schema: config.schema,
            table: config.table,
            applied_migrations: applied_migrations.into(),
        })
    }

    /// Connects to `url` with the default schema, table and pool size.
    ///
    /// # Errors
    ///
    /// As [`Self::open`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::open(PostgresConfig::from_url(url)).await
    }

    /// Uses the application's `pool`, with the default schema and table.
    ///
    /// # Errors
    ///
    /// As [`Self::open`].
    pub async fn with_pool(pool: PgPool) -> Result<Self> {
        Self::open(PostgresConfig::from_pool(pool)).await
    }

    /// The schema of the dead-letter table.
    pub fn schema(&self) -> &SqlIdentifier {
        &self.schema
    }

    /// The dead-letter table.
    pub fn table(&self) -> &SqlIdentifier {
        &self.table
    }

    /// The migration versions that opening this store applied: empty when another instance had
    /// already applied them all.
    pub fn applied_migrations(&self) -> &[u32] {
        &self.applied_migrations
    }

    /// Closes the pool if the store opened it; a shared pool stays open for its application.
    /// Takes the handle, as `SqliteStore::close` does: the pool is shared by every clone of the
    /// store, and none may use it afterwards.
    pub async fn close(self) {
        if self.owns_pool {
            self.pool.close().await;
        }
    }
}

/// Opens the store's own pool from `url` the first way of [`tls::Tls::attempts`], or the second
/// when the server refused the first; every connection of the pool then connects that way.
async fn connect(config: &PostgresConfig, url: &DatabaseUrl) -> Result<PgPool> {
    let options = url.connect_options()?;
    let tls = config.tls(url)?;
    let options = match options.get_application_name() {
        Some(_) => options,
        None => options.application_name("pulse"),
    };
    let pool = |mode| {
        // No ping before every acquire, only after a connection broke (see `liveness`).
        PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if liveness::released_before_a_break(meta.idle_for) {
                        return Ok(sqlx::Connection::ping(connection).await.is_ok());
                    }
                    Ok(true)
                })
            })
            .connect_with(tls.apply(options.clone(), mode))
    };
    let attempts = tls.attempts();
    let mut connected = pool(attempts.first).await;
    if let (Err(error), Some(fallback)) = (&connected, attempts.fallback)
        && tls::may_fall_back(error)
    {
        tracing::debug!(sslmode = %tls.mode, %error, "connecting failed; trying once more without or with TLS");
        connected = pool(fallback).await;
    }
    connected.map_err(|e| map("connect", e))
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("pool_size", &self.pool.size())
            .field("owns_pool", &self.owns_pool)
            .finish_non_exhaustive()
    }
}

/// The receipts in input order: each entry's own, or, for a later entry with a key that appears
/// earlier in the batch, the first one's as a duplicate.
fn assemble(receipts: &[Option<StoreReceipt>], duplicate_of: &[Option<usize>]) -> Vec<StoreReceipt> {
    receipts
        .iter()
        .zip(duplicate_of)
        .map(|(receipt, first)| match (receipt, first) {
            (Some(receipt), _) => *receipt,
            (None, Some(first)) => {
                let first = receipts[*first].expect("the first entry with a key has a receipt");
                StoreReceipt { id: first.id, duplicate: true }
            }
            (None, None) => unreachable!("every entry is inserted, found, or a duplicate in the batch"),
        })
        .collect()
}

#[async_trait]
impl DeadLetterBackend for PostgresStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(true)
    }

    async fn insert(&self, entries: Vec<DeadLetterEntry>) -> Result<Vec<StoreReceipt>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        // A later entry with a key that appears earlier in the batch is that entry's duplicate.
        let mut first_with_key: HashMap<(&str, &str), usize> = HashMap::new();
        let mut duplicate_of = vec![None; entries.len()];
        for (i, entry) in entries.iter().enumerate() {
            if let Some(message_id) = &entry.message_id {
                match first_with_key.entry((entry.tenant.as_str(), message_id.as_str())) {
                    Entry::Occupied(first) => duplicate_of[i] = Some(*first.get()),
                    Entry::Vacant(slot) => {
                        slot.insert(i);
                    }
                }
            }
        }
        let mut receipts: Vec<Option<StoreReceipt>> = vec![None; entries.len()];
        let mut todo: Vec<usize> = (0..entries.len()).filter(|i| duplicate_of[*i].is_none()).collect();
        // One entry in one round trip: a single-row INSERT is written whole or, on a conflict,
        // not at all. A batch of several is one transaction from the start, so that an error
        // part-way (a conflict, a dropped connection) leaves nothing of it written.
        if let [only] = todo[..] {
            let inserted = self
                .names
                .insert(&[&entries[only]])?
                .query()
                .fetch_all(&self.pool)
                .await
                .map_err(|e| map("insert", e))?;
            if inserted.len() == 1 {
                receipts[only] = Some(StoreReceipt { id: entries[only].id, duplicate: false });
                return Ok(assemble(&receipts, &duplicate_of));
            }
        }
        let mut tx = self.pool.begin().await.map_err(|e| map("insert: begin", e))?;
        for _ in 0..MAX_INSERT_ROUNDS {
            let batch: Vec<&DeadLetterEntry> = todo.iter().map(|i| &entries[*i]).collect();
            let rows =
                self.names.insert(&batch)?.query().fetch_all(&mut *tx).await.map_err(|e| map("insert", e))?;
            let inserted = rows
                .iter()
                .map(|row| row.try_get::<Uuid, _>(0))
                .collect::<Result<HashSet<_>, _>>()
                .map_err(read)?;
            let conflicted: Vec<usize> =
                todo.iter().copied().filter(|i| !inserted.contains(entries[*i].id.as_uuid())).collect();
            for i in todo.iter().filter(|i| inserted.contains(entries[**i].id.as_uuid())) {
                receipts[*i] = Some(StoreReceipt { id: entries[*i].id, duplicate: false });
            }
            if conflicted.is_empty() {
                todo = conflicted;
                break;
            }
            // Who holds the conflicting key (or id)? Each statement sees every committed row, and
            // ON CONFLICT waited for the competing transaction to finish.
            let (mut tenants, mut message_ids) = (Vec::new(), Vec::new());
            for entry in conflicted.iter().map(|i| &entries[*i]) {
                if let Some(message_id) = &entry.message_id {
                    tenants.push(entry.tenant.as_str().to_owned());
                    message_ids.push(message_id.clone());
                }
            }
            let ids = conflicted.iter().map(|i| *entries[*i].id.as_uuid()).collect();
            // Nothing of the batch is committed before `tx` is: leaving early rolls it back.
            let rows = self
                .names
                .existing(ids, tenants, message_ids)?
                .query()
                .fetch_all(&mut *tx)
                .await
                .map_err(|e| map("insert: look up existing entries", e))?;
            let mut by_key = HashMap::new();
            let mut by_id = HashSet::new();
            for row in &rows {
                let id: Uuid = row.try_get(0).map_err(read)?;
                let tenant: String = row.try_get(1).map_err(read)?;
                let message_id: Option<String> = row.try_get(2).map_err(read)?;
                by_id.insert(id);
                if let Some(message_id) = message_id {
                    by_key.insert((tenant, message_id), id);
                }
            }
            todo = Vec::new();
            for i in conflicted {
                let entry = &entries[i];
                let holder = entry
                    .message_id
                    .as_ref()
                    .and_then(|m| by_key.get(&(entry.tenant.as_str().to_owned(), m.clone())).copied());
                match holder {
                    Some(id) => {
                        receipts[i] = Some(StoreReceipt { id: DeadLetterId::from_uuid(id), duplicate: true });
                    }
                    None if by_id.contains(entry.id.as_uuid()) => {
                        return Err(Error::conflict(entry.id, "an entry with this id is already stored"));
                    }
                    // The holder was deleted in between: try again.
                    None => todo.push(i),
                }
            }
            if todo.is_empty() {
                break;
            }
        }
        if !todo.is_empty() {
            return Err(Error::Backend {
                message: "insert: entries kept conflicting with rows that were deleted in between".to_owned(),
                retryable: true,
                source: None,
            });
        }
        tx.commit().await.map_err(|e| map("insert: commit", e))?;
        Ok(assemble(&receipts, &duplicate_of))
    }

    async fn get(&self, scope: &Scope, id: DeadLetterId) -> Result<Option<DeadLetterEntry>> {
        let row =
            self.names.get(scope, id)?.query().fetch_optional(&self.pool).await.map_err(|e| map("get", e))?;
        row.as_ref().map(entry_from_row).transpose()
    }

    async fn swap(&self, entry: &DeadLetterEntry) -> Result<bool> {
        let Some(expected) = entry.revision.checked_sub(1) else {
            return Ok(false);
        };
        let result = self
            .names
            .swap(entry, expected)?
            .query()
            .execute(&self.pool)
            .await
            .map_err(|e| map("swap", e))?;
        Ok(result.rows_affected() == 1)
    }

    async fn query(&self, query: &EntryQuery) -> Result<Vec<DeadLetterEntry>> {
        let rows =
            self.names.query(query)?.query().fetch_all(&self.pool).await.map_err(|e| map("query", e))?;
        entries_from_rows(&rows)
    }

    async fn statistics(&self, scope: &Scope) -> Result<Statistics> {
        let rows = self
            .names
            .statistics(scope)?
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map("statistics", e))?;
        status_counts(&rows)
    }

    async fn error_groups(&self, scope: &Scope, limit: u32) -> Result<Vec<ErrorGroup>> {
        let rows = self
            .names
            .error_groups(scope, limit)?
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map("error groups", e))?;
        rows.iter().map(error_group_from_row).collect()
    }

    async fn count(&self, scope: &Scope, filter: &EntryFilter) -> Result<Statistics> {
        let rows = self
            .names
            .count(scope, filter)?
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map("count", e))?;
        status_counts(&rows)
    }

    async fn histogram(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        buckets: &TimeBuckets,
    ) -> Result<Vec<u64>> {
        let mut counts = vec![0; buckets.count as usize];
        let Some(filter) = filter.occurred_within(buckets.start, buckets.end()) else {
            return Ok(counts);
        };
        let rows = self
            .names
            .histogram(scope, &filter, buckets)?
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map("histogram", e))?;
        for row in &rows {
            let index: i32 = row.try_get("Bucket").map_err(read)?;
            let bucket = usize::try_from(index)
                .ok()
                .and_then(|index| counts.get_mut(index))
                .ok_or_else(|| Error::corrupt(format!("a histogram returned bucket {index}")))?;
            *bucket = narrow("count", row.try_get("Count").map_err(read)?)?;
        }
        Ok(counts)
    }

    async fn request_replay(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        request: &ReplayRequest,
    ) -> Result<u64> {
        let row = self
            .names
            .request_replay(scope, filter, request)?
            .query()
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map("request replay", e))?;
        narrow(rc::REQUESTED, row.try_get(0).map_err(read)?)
    }

    async fn replay_request(&self, scope: &Scope, id: ReplayRequestId) -> Result<Option<ReplayRequest>> {
        let row = self
            .names
            .get_request(scope, id, false)?
            .query()
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| map("get replay request", e))?;
        row.as_ref().map(request_from_row).transpose()
    }

    async fn replay_requests(
        &self,
        scope: &Scope,
        before: Option<ReplayRequestId>,
        limit: u32,
    ) -> Result<Vec<ReplayRequest>> {
        let rows = self
            .names
            .list_requests(scope, before, limit)?
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map("list replay requests", e))?;
        rows.iter().map(request_from_row).collect()
    }

    async fn cancel_replay_request(
        &self,
        scope: &Scope,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
    ) -> Result<Option<ReplayRequest>> {
        let mut tx = self.pool.begin().await.map_err(|e| map("cancel: begin", e))?;
        let row = self
            .names
            .get_request(scope, id, true)?
            .query()
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| map("cancel: lock the request", e))?;
        let Some(request) = row.as_ref().map(request_from_row).transpose()? else {
            return Ok(None);
        };
        if request.cancelled_at.is_some() {
            return Ok(Some(request));
        }
        let cancelled = self
            .names
            .cancel_entries(scope, id, at, by)?
            .query()
            .execute(&mut *tx)
            .await
            .map_err(|e| map("cancel: release the entries", e))?
            .rows_affected();
        let row = self
            .names
            .cancel_request(id, at, by, cancelled)?
            .query()
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| map("cancel: record", e))?;
        let request = request_from_row(&row)?;
        tx.commit().await.map_err(|e| map("cancel: commit", e))?;
        Ok(Some(request))
    }

    async fn oldest_due_replay(&self, scope: &Scope, now: Timestamp) -> Result<Option<Timestamp>> {
        let row = self
            .names
            .oldest_due_replay(scope, now)?
            .query()
            .fetch_one(&self.pool)
            .await
            .map_err(|e| map("oldest due replay", e))?;
        Ok(row.try_get::<Option<DateTime<Utc>>, _>(0).map_err(read)?.map(timestamp))
    }

    async fn claim_requested(
        &self,
        scope: &Scope,
        now: Timestamp,
        lease: ReplayLease,
        limit: u32,
    ) -> Result<Vec<DeadLetterEntry>> {
        let rows = self
            .names
            .claim_requested(scope, now, lease, limit)?
            .query()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| map("claim requested replays", e))?;
        let mut claimed = entries_from_rows(&rows)?;
        claimed.sort_by_key(|entry| (entry.replay_requested_at, entry.id));
        Ok(claimed)
    }

    async fn purge(&self, scope: &Scope, resolved_before: Timestamp, limit: u32) -> Result<u64> {
        let result = self
            .names
            .purge(scope, resolved_before, limit)?
            .query()
            .execute(&self.pool)
            .await
            .map_err(|e| map("purge", e))?;
        Ok(result.rows_affected())
    }
}
