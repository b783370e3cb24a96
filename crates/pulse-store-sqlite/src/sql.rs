//! Every SQL statement of the store, rendered in one place.
//!
//! The table name reaches SQL only through [`SqlIdentifier::quoted`] (index names are the
//! validated table name plus a fixed suffix, inside double quotes). Every value is a bound
//! parameter, except statuses where a statement names them to match a partial index or to
//! reach an index: integer literals from [`Status::as_i16`], the code's own constants.

use std::collections::BTreeSet;

use pulse_extensibility::{
    Actor, CommandDeadLetterStatus as Status, EntryFilter, EntryQuery, ReplayRequest, ReplayRequestId, Scope,
    SortOrder, SqlIdentifier, TenantId, TimeBuckets, Timestamp, columns as c, request_columns as rc,
};
use rusqlite::types::Value;

use crate::config::Synchronous;

/// The most rows one `INSERT` writes: 1,792 parameters, well within SQLite's 32,766.
pub(crate) const MAX_INSERT_ROWS: usize = 64;

/// The entry columns, in the order [`crate::row`] binds and reads them.
pub(crate) const COLUMNS: [&str; 28] = c::ALL;

/// The columns a swap leaves alone: identity and creation.
const IMMUTABLE: [&str; 4] = [c::ID, c::TENANT, c::MESSAGE_ID, c::CREATED_AT];

/// Pulse's own bookkeeping table: which migrations ran on which entry table.
pub(crate) const MIGRATIONS_TABLE: &str = "_pulse_migrations";

/// The columns of [`MIGRATIONS_TABLE`], in order.
pub(crate) const MIGRATIONS_COLUMNS: [&str; 5] = ["table_name", "version", "name", "checksum", "applied_at"];

/// Creates [`MIGRATIONS_TABLE`].
pub(crate) const CREATE_MIGRATIONS_TABLE: &str = r#"CREATE TABLE IF NOT EXISTS "_pulse_migrations" (
    "table_name" TEXT NOT NULL,
    "version"    INTEGER NOT NULL,
    "name"       TEXT NOT NULL,
    "checksum"   TEXT NOT NULL,
    "applied_at" INTEGER NOT NULL,
    PRIMARY KEY ("table_name", "version")
)"#;

/// Whether a table (of any letter case: SQLite names are case-insensitive) exists.
pub(crate) const TABLE_EXISTS: &str =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1 COLLATE NOCASE";

/// The column names of a table, in order.
pub(crate) const TABLE_COLUMNS: &str = "SELECT name FROM pragma_table_info(?1) ORDER BY cid";

/// The migrations recorded for one entry table.
pub(crate) const APPLIED_MIGRATIONS: &str = r#"SELECT "version", "name", "checksum" FROM "_pulse_migrations"
WHERE "table_name" = ?1 ORDER BY "version""#;

/// Records one migration; `applied_at` is SQLite's clock in microseconds, for people only.
pub(crate) const RECORD_MIGRATION: &str = r#"INSERT INTO "_pulse_migrations"
    ("table_name", "version", "name", "checksum", "applied_at")
VALUES (?1, ?2, ?3, ?4, CAST(unixepoch('subsec') * 1000000 AS INTEGER))"#;

/// Ends the transaction a failed job left open.
pub(crate) const ROLLBACK: &str = "ROLLBACK";

/// Reads the header: fails on a file that is not a database, writes nothing.
pub(crate) const PROBE: &str = "SELECT count(*) FROM sqlite_schema";

/// Switches the file to write-ahead logging; returns the mode now in force.
pub(crate) const SET_JOURNAL_MODE_WAL: &str = "PRAGMA journal_mode = WAL";

/// The journal mode in force.
pub(crate) const JOURNAL_MODE: &str = "PRAGMA journal_mode";

/// The synchronous level in force: 0 off, 1 normal, 2 full, 3 extra.
pub(crate) const SYNCHRONOUS: &str = "PRAGMA synchronous";

/// The busy timeout in force, in milliseconds.
pub(crate) const BUSY_TIMEOUT: &str = "PRAGMA busy_timeout";

/// Makes a connection refuse every write.
pub(crate) const QUERY_ONLY: &str = "PRAGMA query_only = ON";

/// Whether the connection refuses writes: 1 or 0.
pub(crate) const QUERY_ONLY_STATE: &str = "PRAGMA query_only";

/// Copies what it can of the WAL into the database file without waiting for a lock; returns a
/// row of three counts.
pub(crate) const CHECKPOINT_PASSIVE: &str = "PRAGMA wal_checkpoint(PASSIVE)";

/// Keeps temporary files (statement journals among them) in memory.
pub(crate) const TEMP_STORE_MEMORY: &str = "PRAGMA temp_store = MEMORY";

/// Reads the temporary storage setting: 0 default, 1 file, 2 memory.
pub(crate) const TEMP_STORE: &str = "PRAGMA temp_store";

/// Sets the synchronous level.
pub(crate) fn set_synchronous(level: Synchronous) -> String {
    format!("PRAGMA synchronous = {}", level.keyword())
}

/// Migration 1: the entry table and its indexes. A template: `{table}` is the quoted table
/// name, `{name}` the bare (validated) one for index names. Never edit a released migration:
/// its checksum is verified on every open. Add a new one instead.
pub(crate) const MIGRATION_1: &str = r#"
CREATE TABLE {table} (
    Id                TEXT    NOT NULL PRIMARY KEY,
    Tenant            TEXT    NOT NULL,
    MessageId         TEXT,
    CommandType       TEXT    NOT NULL,
    CommandVersion    INTEGER NOT NULL,
    Payload           TEXT    NOT NULL,
    OriginalPayload   TEXT,
    ExceptionType     TEXT    NOT NULL,
    ExceptionMessage  TEXT    NOT NULL,
    ExceptionDetails  TEXT,
    Fingerprint       TEXT    NOT NULL,
    Source            TEXT,
    Metadata          TEXT    NOT NULL CHECK (json_valid(Metadata)),
    AttemptCount      INTEGER NOT NULL,
    FirstFailedAt     INTEGER NOT NULL,
    OccurredAt        INTEGER NOT NULL,
    Status            INTEGER NOT NULL CHECK (Status IN (0, 1, 2, 3)),
    Resolution        TEXT    CHECK (Resolution IN ('replayed', 'handled_externally', 'ignored')),
    Note              TEXT,
    ResolvedAt        INTEGER,
    LeaseToken        TEXT,
    LeaseExpiresAt    INTEGER,
    ReplayRequestedAt INTEGER,
    CreatedAt         INTEGER NOT NULL,
    UpdatedAt         INTEGER NOT NULL,
    Revision          INTEGER NOT NULL,
    CHECK ((LeaseToken IS NULL) = (LeaseExpiresAt IS NULL))
);
CREATE INDEX "{name}_Status_OccurredAt_Id" ON {table} (Status, OccurredAt, Id);
CREATE INDEX "{name}_OccurredAt_Id" ON {table} (OccurredAt, Id);
CREATE INDEX "{name}_Tenant_Status_OccurredAt_Id" ON {table} (Tenant, Status, OccurredAt, Id);
CREATE INDEX "{name}_Tenant_OccurredAt_Id" ON {table} (Tenant, OccurredAt, Id);
CREATE UNIQUE INDEX "{name}_Tenant_MessageId" ON {table} (Tenant, MessageId);
CREATE INDEX "{name}_Unresolved_Fingerprint" ON {table} (Fingerprint, OccurredAt, Id)
    WHERE Status IN (0, 1);
CREATE INDEX "{name}_Status_ResolvedAt" ON {table} (Status, ResolvedAt);
CREATE INDEX "{name}_ReplayRequestedAt" ON {table} (ReplayRequestedAt, Id)
    WHERE ReplayRequestedAt IS NOT NULL;
"#;

/// Migration 2: a count of entries per tenant and status, kept by triggers in the same
/// transaction as every change, so statistics read a handful of rows instead of the table.
pub(crate) const MIGRATION_2: &str = r#"
CREATE TABLE "{name}_Counts" (
    Tenant TEXT    NOT NULL,
    Status INTEGER NOT NULL,
    Count  INTEGER NOT NULL,
    PRIMARY KEY (Tenant, Status)
) WITHOUT ROWID;
INSERT INTO "{name}_Counts" (Tenant, Status, Count)
    SELECT Tenant, Status, count(*) FROM {table} GROUP BY Tenant, Status;
CREATE TRIGGER "{name}_Counts_Insert" AFTER INSERT ON {table}
BEGIN
    INSERT OR IGNORE INTO "{name}_Counts" (Tenant, Status, Count) VALUES (NEW.Tenant, NEW.Status, 0);
    UPDATE "{name}_Counts" SET Count = Count + 1 WHERE Tenant = NEW.Tenant AND Status = NEW.Status;
END;
CREATE TRIGGER "{name}_Counts_Delete" AFTER DELETE ON {table}
BEGIN
    UPDATE "{name}_Counts" SET Count = Count - 1 WHERE Tenant = OLD.Tenant AND Status = OLD.Status;
END;
CREATE TRIGGER "{name}_Counts_Update" AFTER UPDATE OF Status, Tenant ON {table}
    WHEN OLD.Status IS NOT NEW.Status OR OLD.Tenant IS NOT NEW.Tenant
BEGIN
    UPDATE "{name}_Counts" SET Count = Count - 1 WHERE Tenant = OLD.Tenant AND Status = OLD.Status;
    INSERT OR IGNORE INTO "{name}_Counts" (Tenant, Status, Count) VALUES (NEW.Tenant, NEW.Status, 0);
    UPDATE "{name}_Counts" SET Count = Count + 1 WHERE Tenant = NEW.Tenant AND Status = NEW.Status;
END;
"#;

/// Migration 3: claims read two partial indexes that hold only what a claim can take, in place
/// of one index over every requested entry, which made each claim walk past the entries other
/// replayers hold.
pub(crate) const MIGRATION_3: &str = r#"
CREATE INDEX "{name}_Claimable" ON {table} (ReplayRequestedAt, Id)
    WHERE ReplayRequestedAt IS NOT NULL AND Status IN (0, 2);
CREATE INDEX "{name}_ClaimExpired" ON {table} (LeaseExpiresAt)
    WHERE ReplayRequestedAt IS NOT NULL AND Status = 1;
DROP INDEX "{name}_ReplayRequestedAt";
"#;

/// Migration 4: durable replay requests and who changed an entry. Each entry records its
/// latest request and the actor of its latest operator change; the requests live in a table
/// of their own. Counts for a command type, an error group or a request read an index, and
/// the index of unresolved entries by error group carries the first failure too, so error
/// groups are counted from the index alone.
pub(crate) const MIGRATION_4: &str = r#"
ALTER TABLE {table} ADD COLUMN ReplayRequestId TEXT;
ALTER TABLE {table} ADD COLUMN ChangedBy TEXT;
CREATE INDEX "{name}_ReplayRequestId_Status" ON {table} (ReplayRequestId, Status)
    WHERE ReplayRequestId IS NOT NULL;
CREATE INDEX "{name}_CommandType_Status" ON {table} (CommandType, Status);
CREATE INDEX "{name}_Fingerprint_Status" ON {table} (Fingerprint, Status);
CREATE TABLE "{name}_ReplayRequests" (
    Id          TEXT    NOT NULL PRIMARY KEY,
    Tenant      TEXT,
    Selection   TEXT    NOT NULL,
    RequestedBy TEXT,
    RequestedAt INTEGER NOT NULL,
    Note        TEXT,
    PerSecond   INTEGER CHECK (PerSecond > 0),
    Requested   INTEGER NOT NULL,
    CancelledAt INTEGER,
    CancelledBy TEXT,
    Cancelled   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX "{name}_ReplayRequests_Tenant_Id" ON "{name}_ReplayRequests" (Tenant, Id);
DROP INDEX "{name}_Unresolved_Fingerprint";
CREATE INDEX "{name}_Unresolved_Fingerprint" ON {table} (Fingerprint, OccurredAt, Id, FirstFailedAt)
    WHERE Status IN (0, 1);
"#;

/// `template` for `table`: see [`MIGRATION_1`].
pub(crate) fn render_migration(template: &str, table: &SqlIdentifier) -> String {
    // `as_str` is only ASCII letters, digits and '_': safe inside the template's double quotes.
    template.replace("{table}", &table.quoted()).replace("{name}", table.as_str())
}

/// SQL text and the values bound to its numbered parameters.
#[derive(Debug, Default)]
pub(crate) struct Statement {
    /// The text.
    pub(crate) sql: String,
    /// The value of `?1`, `?2`, ...
    pub(crate) params: Vec<Value>,
}

impl Statement {
    /// Adds `value` as the next parameter and returns its placeholder.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.params.push(value.into());
        format!("?{}", self.params.len())
    }
}

/// The statements of one entry table: the fixed ones rendered once, the others per call.
#[derive(Debug, Clone)]
pub(crate) struct Sql {
    table: String,
    /// The per-tenant, per-status counts of migration 2.
    counts: String,
    /// The replay requests of migration 4.
    requests: String,
    /// The indexes serving [`Sql::claim_candidates`]: requested New and Resolved entries, and
    /// requested entries under a replay lease.
    claimable_index: String,
    expired_index: String,
    /// The index serving [`Sql::error_groups`].
    groups_index: String,
    /// The indexes by failure time that serve [`Sql::histogram`].
    time_indexes: TimeIndexes,
    select: String,
    /// `INSERT` statements of 1, 2, 4, ... [`MAX_INSERT_ROWS`] rows, by the base-2 logarithm
    /// of their row count.
    inserts: Vec<String>,
    find_key: String,
    get: String,
    get_in_tenant: String,
    swap: String,
    claim_one: String,
}

/// Whether a swap writes `column`.
pub(crate) fn is_mutable(column: &str) -> bool {
    !IMMUTABLE.contains(&column)
}

impl Sql {
    /// The statements for `table`.
    pub(crate) fn new(table: &SqlIdentifier) -> Self {
        // As in the migrations: the validated bare name plus a fixed suffix, in double quotes.
        let claimable_index = format!("\"{}_Claimable\"", table.as_str());
        let expired_index = format!("\"{}_ClaimExpired\"", table.as_str());
        let groups_index = format!("\"{}_Unresolved_Fingerprint\"", table.as_str());
        let time_indexes = TimeIndexes::new(table);
        let counts = format!("\"{}_Counts\"", table.as_str());
        let requests = format!("\"{}_ReplayRequests\"", table.as_str());
        let table = table.quoted();
        let columns = COLUMNS.join(", ");
        let select = format!("SELECT {columns} FROM {table}");
        let inserts = std::iter::successors(Some(1), |rows| Some(rows * 2))
            .take_while(|rows| *rows <= MAX_INSERT_ROWS)
            .map(|rows| {
                let values: Vec<String> = (0..rows)
                    .map(|row| {
                        let first = row * COLUMNS.len();
                        let placeholders: Vec<String> =
                            (1..=COLUMNS.len()).map(|i| format!("?{}", first + i)).collect();
                        format!("({})", placeholders.join(", "))
                    })
                    .collect();
                // No conflict target: a row whose key or id is taken is skipped, and `insert`
                // tells the two apart (a duplicate, or a clash that rolls the batch back).
                format!(
                    "INSERT INTO {table} ({columns}) VALUES {} ON CONFLICT DO NOTHING RETURNING {}",
                    values.join(", "),
                    c::ID,
                )
            })
            .collect();
        let find_key =
            format!("SELECT {} FROM {table} WHERE {} = ?1 AND {} = ?2", c::ID, c::TENANT, c::MESSAGE_ID);
        let get = format!("{select} WHERE {} = ?1", c::ID);
        let get_in_tenant = format!("{get} AND {} = ?2", c::TENANT);
        let mutable: Vec<&str> = COLUMNS.into_iter().filter(|column| is_mutable(column)).collect();
        let set: Vec<String> =
            mutable.iter().enumerate().map(|(i, column)| format!("{column} = ?{}", i + 1)).collect();
        let n = mutable.len();
        let swap = format!(
            "UPDATE {table} SET {} WHERE {} = ?{} AND {} = ?{} AND {} = ?{}",
            set.join(", "),
            c::ID,
            n + 1,
            c::TENANT,
            n + 2,
            c::REVISION,
            n + 3
        );
        let claim_one = format!(
            "UPDATE {table} SET {} = {}, {} = ?2, {} = ?3, {} = ?4, {revision} = {revision} + 1 \
             WHERE {} = ?1 RETURNING {columns}",
            c::STATUS,
            Status::Replaying.as_i16(),
            c::LEASE_TOKEN,
            c::LEASE_EXPIRES_AT,
            c::UPDATED_AT,
            c::ID,
            revision = c::REVISION,
        );
        Self {
            table,
            counts,
            requests,
            claimable_index,
            expired_index,
            groups_index,
            time_indexes,
            select,
            inserts,
            find_key,
            get,
            get_in_tenant,
            swap,
            claim_one,
        }
    }

    /// Inserts `rows` entries, a power of two up to [`MAX_INSERT_ROWS`] (every column of each
    /// bound in [`COLUMNS`] order, one row after the other), except those whose
    /// `(Tenant, MessageId)` is taken; returns the `Id` of each row inserted.
    pub(crate) fn insert(&self, rows: usize) -> &str {
        debug_assert!(rows.is_power_of_two() && rows <= MAX_INSERT_ROWS, "{rows} rows");
        &self.inserts[rows.trailing_zeros() as usize]
    }

    /// The id holding the key `(?1, ?2)`: tenant and message id.
    pub(crate) fn find_key(&self) -> &str {
        &self.find_key
    }

    /// The entry with id `?1`, in tenant `?2` when `in_tenant`.
    pub(crate) fn get(&self, in_tenant: bool) -> &str {
        if in_tenant { &self.get_in_tenant } else { &self.get }
    }

    /// Writes the mutable columns (bound in [`COLUMNS`] order, the others left out) of the entry
    /// whose `Id`, `Tenant` and `Revision` are bound after them.
    pub(crate) fn swap(&self) -> &str {
        &self.swap
    }

    /// Claims entry `?1`: status Replaying, lease token `?2` expiring at `?3`, `UpdatedAt = ?4`,
    /// the next revision; returns the entry as stored.
    pub(crate) fn claim_one(&self) -> &str {
        &self.claim_one
    }

    /// Entries matching `query`, in its order, as [`EntryQuery`] describes.
    pub(crate) fn query(&self, query: &EntryQuery) -> Statement {
        let mut statement = Statement::default();
        let mut conditions = Vec::new();
        scope_condition(&mut statement, &mut conditions, &query.scope);
        filter_conditions(&mut statement, &mut conditions, &query.filter, Reading::InOrder);
        // An error group's unresolved entries are read from the group's partial index, in
        // order; it needs its own condition, word for word, to be usable. Otherwise the
        // planner reads every entry of the group, in any status, and sorts them.
        let group = query.filter.fingerprint.is_some()
            && !query.filter.statuses.is_empty()
            && query.filter.statuses.iter().all(|status| status.is_unresolved());
        let indexed = if group {
            conditions.push(unresolved());
            format!(" INDEXED BY {}", self.groups_index)
        } else {
            String::new()
        };
        let direction = match query.order {
            SortOrder::OldestFirst => "ASC",
            SortOrder::NewestFirst => "DESC",
        };
        if let Some(after) = query.after {
            let comparison = match query.order {
                SortOrder::OldestFirst => ">",
                SortOrder::NewestFirst => "<",
            };
            let occurred_at = statement.bind(after.occurred_at.as_micros());
            let id = statement.bind(crate::row::id_text(after.id));
            conditions.push(format!("({}, {}) {comparison} ({occurred_at}, {id})", c::OCCURRED_AT, c::ID));
        }
        let limit = statement.bind(i64::from(query.limit));
        let offset = statement.bind(i64::try_from(query.offset).unwrap_or(i64::MAX));
        statement.sql = format!(
            "{}{indexed}{} ORDER BY {} {direction}, {} {direction} LIMIT {limit} OFFSET {offset}",
            self.select,
            where_clause(&conditions),
            c::OCCURRED_AT,
            c::ID,
        );
        statement
    }

    /// How many entries stand in each status in `scope`: rows of `(Status, count)`, read from
    /// the counts the triggers of migration 2 keep.
    pub(crate) fn statistics(&self, scope: &Scope) -> Statement {
        let mut statement = Statement::default();
        let mut conditions = Vec::new();
        scope_condition(&mut statement, &mut conditions, scope);
        statement.sql = format!(
            "SELECT {status}, sum(Count) FROM {}{} GROUP BY {status}",
            self.counts,
            where_clause(&conditions),
            status = c::STATUS
        );
        statement
    }

    /// The error groups of `scope`: rows of `(Fingerprint, CommandType, ExceptionType,
    /// sample message, count, first seen, last seen)`, largest first, at most `limit`. The
    /// sample is the message of the group's latest `(OccurredAt, Id)`. Groups by walking the
    /// partial index of unresolved entries in fingerprint order, which the planner, without
    /// statistics, may not pick by itself.
    pub(crate) fn error_groups(&self, scope: &Scope, limit: u32) -> Statement {
        let mut statement = Statement::default();
        let mut conditions = vec![unresolved()];
        scope_condition(&mut statement, &mut conditions, scope);
        let mut latest_conditions = vec![format!("latest.{} = groups.{}", c::FINGERPRINT, c::FINGERPRINT)];
        latest_conditions.extend(conditions.iter().map(|condition| format!("latest.{condition}")));
        let limit = statement.bind(i64::from(limit));
        statement.sql = format!(
            "WITH groups AS (
    SELECT {fingerprint}, count(*) AS n, min({first_failed_at}) AS first_seen, max({occurred_at}) AS last_seen
    FROM {table} INDEXED BY {groups_index}{where_clause}
    GROUP BY {fingerprint}
    ORDER BY n DESC, last_seen DESC, {fingerprint} ASC
    LIMIT {limit}
)
SELECT groups.{fingerprint}, sample.{command_type}, sample.{exception_type}, sample.{exception_message},
    groups.n, groups.first_seen, groups.last_seen
FROM groups JOIN {table} AS sample ON sample.{id} = (
    SELECT latest.{id} FROM {table} AS latest
    WHERE {latest_conditions}
    ORDER BY latest.{occurred_at} DESC, latest.{id} DESC LIMIT 1
)
ORDER BY groups.n DESC, groups.last_seen DESC, groups.{fingerprint} ASC",
            table = self.table,
            groups_index = self.groups_index,
            where_clause = where_clause(&conditions),
            latest_conditions = latest_conditions.join(" AND "),
            fingerprint = c::FINGERPRINT,
            first_failed_at = c::FIRST_FAILED_AT,
            occurred_at = c::OCCURRED_AT,
            command_type = c::COMMAND_TYPE,
            exception_type = c::EXCEPTION_TYPE,
            exception_message = c::EXCEPTION_MESSAGE,
            id = c::ID,
        );
        statement
    }

    /// Marks every entry of `scope` matching `filter` without a pending request for `request`:
    /// numbered oldest failure first, each due at its slot of the request's pace.
    pub(crate) fn request_replay(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        request: &ReplayRequest,
    ) -> Statement {
        let mut statement = Statement::default();
        let at = statement.bind(request.requested_at.as_micros());
        let pace = statement.bind(request.per_second.map(|pace| i64::from(pace.get())));
        let id = statement.bind(request.id.as_uuid().hyphenated().to_string());
        let by = statement.bind(request.requested_by.as_ref().map(|actor| actor.as_str().to_owned()));
        let mut conditions = vec![format!("{} IS NULL", c::REPLAY_REQUESTED_AT)];
        scope_condition(&mut statement, &mut conditions, scope);
        filter_conditions(&mut statement, &mut conditions, filter, Reading::InOrder);
        // The slot of the n-th entry (from 0) is `at + ceil(n * 1e6 / pace)` microseconds, as
        // `ReplayRequest::slot` computes it.
        statement.sql = format!(
            "UPDATE {table} SET {requested_at} = {at} + CASE WHEN {pace} IS NULL THEN 0 \
             ELSE ((marked.n - 1) * 1000000 + {pace} - 1) / {pace} END, \
             {request_id} = {id}, {changed_by} = {by}, {updated} = {at}, {revision} = {revision} + 1 \
             FROM (SELECT {c_id} AS MarkedId, row_number() OVER (ORDER BY {occurred}, {c_id}) AS n \
             FROM {table}{where_clause}) AS marked WHERE {table}.{c_id} = marked.MarkedId",
            table = self.table,
            requested_at = c::REPLAY_REQUESTED_AT,
            request_id = c::REPLAY_REQUEST_ID,
            changed_by = c::CHANGED_BY,
            updated = c::UPDATED_AT,
            revision = c::REVISION,
            c_id = c::ID,
            occurred = c::OCCURRED_AT,
            where_clause = where_clause(&conditions),
        );
        statement
    }

    /// Stores `request` with `requested` entries marked.
    pub(crate) fn insert_request(&self, request: &ReplayRequest, requested: u64) -> Statement {
        let mut statement = Statement::default();
        let mut values = request_values(request);
        values[7] = Value::Integer(i64::try_from(requested).unwrap_or(i64::MAX));
        let placeholders: Vec<String> = values.into_iter().map(|value| statement.bind(value)).collect();
        statement.sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            self.requests,
            REQUEST_COLUMNS.join(", "),
            placeholders.join(", ")
        );
        statement
    }

    /// The request `id`, if `scope` sees it.
    pub(crate) fn get_request(&self, scope: &Scope, id: ReplayRequestId) -> Statement {
        let mut statement = Statement::default();
        let id = statement.bind(id.as_uuid().hyphenated().to_string());
        let mut conditions = vec![format!("{} = {id}", rc::ID)];
        request_scope_condition(&mut statement, &mut conditions, scope);
        statement.sql = format!(
            "SELECT {} FROM {}{}",
            REQUEST_COLUMNS.join(", "),
            self.requests,
            where_clause(&conditions)
        );
        statement
    }

    /// Up to `limit` requests `scope` sees, newest first, below `before`.
    pub(crate) fn list_requests(
        &self,
        scope: &Scope,
        before: Option<ReplayRequestId>,
        limit: u32,
    ) -> Statement {
        let mut statement = Statement::default();
        let mut conditions = Vec::new();
        request_scope_condition(&mut statement, &mut conditions, scope);
        if let Some(before) = before {
            conditions.push(format!(
                "{} < {}",
                rc::ID,
                statement.bind(before.as_uuid().hyphenated().to_string())
            ));
        }
        let limit = statement.bind(i64::from(limit));
        statement.sql = format!(
            "SELECT {} FROM {}{} ORDER BY {} DESC LIMIT {limit}",
            REQUEST_COLUMNS.join(", "),
            self.requests,
            where_clause(&conditions),
            rc::ID,
        );
        statement
    }

    /// Takes request `id` from its New entries in `scope` that have not been claimed.
    pub(crate) fn cancel_entries(
        &self,
        scope: &Scope,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
    ) -> Statement {
        let mut statement = Statement::default();
        let at = statement.bind(at.as_micros());
        let by = statement.bind(by.map(|actor| actor.as_str().to_owned()));
        let id = statement.bind(id.as_uuid().hyphenated().to_string());
        let mut conditions = vec![
            format!("{} = {id}", c::REPLAY_REQUEST_ID),
            format!("{} IS NOT NULL", c::REPLAY_REQUESTED_AT),
            format!("{} = {}", c::STATUS, Status::New.as_i16()),
        ];
        scope_condition(&mut statement, &mut conditions, scope);
        statement.sql = format!(
            "UPDATE {} SET {} = NULL, {} = NULL, {} = {by}, {} = {at}, {revision} = {revision} + 1{}",
            self.table,
            c::REPLAY_REQUESTED_AT,
            c::REPLAY_REQUEST_ID,
            c::CHANGED_BY,
            c::UPDATED_AT,
            where_clause(&conditions),
            revision = c::REVISION,
        );
        statement
    }

    /// Records the cancellation of request `id`.
    pub(crate) fn cancel_request(
        &self,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
        cancelled: u64,
    ) -> Statement {
        let mut statement = Statement::default();
        let at = statement.bind(at.as_micros());
        let by = statement.bind(by.map(|actor| actor.as_str().to_owned()));
        let cancelled = statement.bind(i64::try_from(cancelled).unwrap_or(i64::MAX));
        let id = statement.bind(id.as_uuid().hyphenated().to_string());
        statement.sql = format!(
            "UPDATE {} SET {} = {at}, {} = {by}, {} = {cancelled} WHERE {} = {id}",
            self.requests,
            rc::CANCELLED_AT,
            rc::CANCELLED_BY,
            rc::CANCELLED,
            rc::ID,
        );
        statement
    }

    /// How many entries of `scope` match `filter`: rows of `(Status, count)`.
    pub(crate) fn count(&self, scope: &Scope, filter: &EntryFilter) -> Statement {
        let mut statement = Statement::default();
        let mut conditions = Vec::new();
        scope_condition(&mut statement, &mut conditions, scope);
        filter_conditions(&mut statement, &mut conditions, filter, Reading::Counting);
        statement.sql = format!(
            "SELECT {status}, count(*) FROM {}{} GROUP BY {status}",
            self.table,
            where_clause(&conditions),
            status = c::STATUS
        );
        statement
    }

    /// How many entries of `scope` match `filter` in each of `buckets`: rows of `(bucket index,
    /// count)`, one per bucket. `filter`'s latest-failure range must lie within the buckets
    /// ([`EntryFilter::occurred_within`]).
    ///
    /// Each bucket is counted by a range of its own over an index whose keys are the filter's
    /// equalities and then `OccurredAt`, named with `INDEXED BY`: the entries in range are read
    /// once, in index order, and never sorted to be grouped. Without statistics, the planner
    /// would reach for the command-type or fingerprint index for every bucket, which reads all
    /// of that command's or group's entries each time.
    pub(crate) fn histogram(&self, scope: &Scope, filter: &EntryFilter, buckets: &TimeBuckets) -> Statement {
        let mut statement = Statement::default();
        let start = statement.bind(buckets.start.as_micros());
        let width = statement.bind(buckets.width_micros());
        let count = statement.bind(i64::from(buckets.count));
        let from = statement.bind(filter.occurred_from.unwrap_or(buckets.start).as_micros());
        let before = statement.bind(filter.occurred_before.unwrap_or_else(|| buckets.end()).as_micros());
        let mut conditions = vec![
            format!("{} >= max({start} + bucket.i * {width}, {from})", c::OCCURRED_AT),
            format!("{} < min({start} + (bucket.i + 1) * {width}, {before})", c::OCCURRED_AT),
        ];
        scope_condition(&mut statement, &mut conditions, scope);
        let others = filter.clone().statuses([]).occurred_from(None).occurred_before(None);
        filter_conditions(&mut statement, &mut conditions, &others, Reading::Counting);
        // Statuses as literals, without a unary `+`: the status indexes are walked status by
        // status, and the partial index of unresolved entries needs its own condition, word for
        // word, to be usable.
        let statuses: BTreeSet<i16> = filter.statuses.iter().map(|status| status.as_i16()).collect();
        if !statuses.is_empty() {
            let list: Vec<String> = statuses.iter().map(i16::to_string).collect();
            conditions.push(format!("{} IN ({})", c::STATUS, list.join(", ")));
        }
        let unresolved_only =
            !statuses.is_empty() && filter.statuses.iter().all(|status| status.is_unresolved());
        let index = if filter.fingerprint.is_some() && unresolved_only {
            if !conditions.contains(&unresolved()) {
                conditions.push(unresolved());
            }
            &self.groups_index
        } else {
            self.time_indexes.pick(scope.tenant().is_some(), !statuses.is_empty())
        };
        statement.sql = format!(
            "WITH RECURSIVE bucket(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM bucket WHERE i + 1 < {count}) \
             SELECT bucket.i, (SELECT count(*) FROM {} INDEXED BY {index}{}) FROM bucket",
            self.table,
            where_clause(&conditions),
        );
        statement
    }

    /// The earliest due `ReplayRequestedAt` of a New entry of `scope` at `now`, or NULL. The
    /// status list repeats the claim index's, so SQLite reads that index.
    pub(crate) fn oldest_due_replay(&self, scope: &Scope, now: Timestamp) -> Statement {
        let mut statement = Statement::default();
        let now = statement.bind(now.as_micros());
        let mut conditions = vec![
            format!("{} IS NOT NULL", c::REPLAY_REQUESTED_AT),
            format!("{} IN ({}, {})", c::STATUS, Status::New.as_i16(), Status::Resolved.as_i16()),
            format!("{} = {}", c::STATUS, Status::New.as_i16()),
            format!("{} <= {now}", c::REPLAY_REQUESTED_AT),
        ];
        scope_condition(&mut statement, &mut conditions, scope);
        statement.sql = format!(
            "SELECT min({}) FROM {} INDEXED BY {}{}",
            c::REPLAY_REQUESTED_AT,
            self.table,
            self.claimable_index,
            where_clause(&conditions)
        );
        statement
    }

    /// The ids of up to `limit` requested entries of `scope` that can be claimed at `now`,
    /// oldest request first.
    pub(crate) fn claim_candidates(&self, scope: &Scope, now: Timestamp, limit: u32) -> Statement {
        let mut statement = Statement::default();
        let now = statement.bind(now.as_micros());
        let limit = statement.bind(i64::from(limit));
        let requested = format!("{} <= {now}", c::REPLAY_REQUESTED_AT);
        // The status lists are literals, as in the partial indexes, so SQLite can use them.
        let mut open = vec![
            requested.clone(),
            format!("{} IN ({}, {})", c::STATUS, Status::New.as_i16(), Status::Resolved.as_i16()),
        ];
        scope_condition(&mut statement, &mut open, scope);
        let mut expired = vec![
            requested,
            format!("{} = {}", c::STATUS, Status::Replaying.as_i16()),
            format!("{} <= {now}", c::LEASE_EXPIRES_AT),
        ];
        scope_condition(&mut statement, &mut expired, scope);
        let candidates = |index: &str, conditions: &[String]| {
            format!(
                "SELECT * FROM (SELECT {id}, {requested} FROM {} INDEXED BY {index}{} \
                 ORDER BY {requested}, {id} LIMIT {limit})",
                self.table,
                where_clause(conditions),
                id = c::ID,
                requested = c::REPLAY_REQUESTED_AT,
            )
        };
        statement.sql = format!(
            "SELECT {id} FROM ({} UNION ALL {}) ORDER BY {requested}, {id} LIMIT {limit}",
            candidates(&self.claimable_index, &open),
            candidates(&self.expired_index, &expired),
            id = c::ID,
            requested = c::REPLAY_REQUESTED_AT,
        );
        statement
    }

    /// Deletes up to `limit` terminal entries of `scope` resolved strictly before `before`.
    pub(crate) fn purge(&self, scope: &Scope, before: Timestamp, limit: u64) -> Statement {
        let mut statement = Statement::default();
        let before = statement.bind(before.as_micros());
        let mut conditions = vec![
            format!("{} IN ({}, {})", c::STATUS, Status::Resolved.as_i16(), Status::Dismissed.as_i16()),
            format!("{} < {before}", c::RESOLVED_AT),
        ];
        scope_condition(&mut statement, &mut conditions, scope);
        let limit = statement.bind(i64::try_from(limit).unwrap_or(i64::MAX));
        statement.sql = format!(
            "DELETE FROM {table} WHERE {id} IN (SELECT {id} FROM {table}{} LIMIT {limit})",
            where_clause(&conditions),
            table = self.table,
            id = c::ID,
        );
        statement
    }
}

/// The indexes of migration 1 whose last keys are `(OccurredAt, Id)`, quoted.
#[derive(Debug, Clone)]
struct TimeIndexes {
    all: String,
    by_status: String,
    by_tenant: String,
    by_tenant_and_status: String,
}

impl TimeIndexes {
    fn new(table: &SqlIdentifier) -> Self {
        let index = |keys: &str| format!("\"{}_{keys}OccurredAt_Id\"", table.as_str());
        Self {
            all: index(""),
            by_status: index("Status_"),
            by_tenant: index("Tenant_"),
            by_tenant_and_status: index("Tenant_Status_"),
        }
    }

    /// The one led by the equalities a statement has: a tenant, statuses, both or neither.
    fn pick(&self, tenant: bool, statuses: bool) -> &str {
        match (tenant, statuses) {
            (false, false) => &self.all,
            (false, true) => &self.by_status,
            (true, false) => &self.by_tenant,
            (true, true) => &self.by_tenant_and_status,
        }
    }
}

/// `Status IN (New, Replaying)`.
fn unresolved() -> String {
    format!("{} IN ({}, {})", c::STATUS, Status::New.as_i16(), Status::Replaying.as_i16())
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) }
}

fn scope_condition(statement: &mut Statement, conditions: &mut Vec<String>, scope: &Scope) {
    if let Some(tenant) = scope.tenant() {
        let tenant = statement.bind(tenant.as_str().to_owned());
        conditions.push(format!("{} = {tenant}", c::TENANT));
    }
}

/// Whether a statement reads entries in `(OccurredAt, Id)` order, or only counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    InOrder,
    Counting,
}

fn filter_conditions(
    statement: &mut Statement,
    conditions: &mut Vec<String>,
    filter: &EntryFilter,
    reading: Reading,
) {
    if !filter.statuses.is_empty() {
        let statuses: Vec<String> =
            filter.statuses.iter().map(|status| statement.bind(i64::from(status.as_i16()))).collect();
        // One status is an equality the (Status, OccurredAt, Id) indexes serve in order. Several
        // are not: the planner would read every entry in them and sort, so the unary `+` keeps
        // it off the status indexes and it walks (OccurredAt, Id) in order instead. A count has
        // no order to keep: there the statuses are ranges of the (…, Status) indexes.
        let column = if statuses.len() == 1 || reading == Reading::Counting {
            c::STATUS.to_owned()
        } else {
            format!("+{}", c::STATUS)
        };
        conditions.push(format!("{column} IN ({})", statuses.join(", ")));
    }
    if let Some(command_type) = &filter.command_type {
        conditions.push(format!("{} = {}", c::COMMAND_TYPE, statement.bind(command_type.clone())));
    }
    if let Some(exception_type) = &filter.exception_type {
        conditions.push(format!("{} = {}", c::EXCEPTION_TYPE, statement.bind(exception_type.clone())));
    }
    if let Some(fingerprint) = &filter.fingerprint {
        conditions.push(format!("{} = {}", c::FINGERPRINT, statement.bind(fingerprint.as_str().to_owned())));
    }
    if let Some(from) = filter.occurred_from {
        conditions.push(format!("{} >= {}", c::OCCURRED_AT, statement.bind(from.as_micros())));
    }
    if let Some(before) = filter.occurred_before {
        conditions.push(format!("{} < {}", c::OCCURRED_AT, statement.bind(before.as_micros())));
    }
    if !filter.ids.is_empty() {
        let ids: Vec<String> = filter.ids.iter().map(|id| statement.bind(crate::row::id_text(*id))).collect();
        conditions.push(format!("{} IN ({})", c::ID, ids.join(", ")));
    }
    if let Some(request) = filter.replay_request {
        let request = statement.bind(request.as_uuid().hyphenated().to_string());
        conditions.push(format!("{} = {request}", c::REPLAY_REQUEST_ID));
    }
    if let Some(pending) = filter.replay_pending {
        let null = if pending { "IS NOT NULL" } else { "IS NULL" };
        conditions.push(format!("{} {null}", c::REPLAY_REQUESTED_AT));
    }
    if let Some(before) = filter.resolved_before {
        conditions.push(format!("{} < {}", c::RESOLVED_AT, statement.bind(before.as_micros())));
    }
}

/// ` Tenant = ?` for a tenant scope: a tenant sees only the requests made in it.
fn request_scope_condition(statement: &mut Statement, conditions: &mut Vec<String>, scope: &Scope) {
    if let Some(tenant) = scope.tenant() {
        let tenant = statement.bind(tenant.as_str().to_owned());
        conditions.push(format!("{} = {tenant}", rc::TENANT));
    }
}

/// The columns of the replay-request table, in the order [`request_values`] binds them and
/// [`crate::row::request_from_row`] reads them.
pub(crate) const REQUEST_COLUMNS: [&str; 11] = rc::ALL;

/// The value of every column of `request`, in [`REQUEST_COLUMNS`] order.
fn request_values(request: &ReplayRequest) -> Vec<Value> {
    let text = |value: Option<&str>| value.map_or(Value::Null, |value| Value::Text(value.to_owned()));
    let int = |value: u64| Value::Integer(i64::try_from(value).unwrap_or(i64::MAX));
    vec![
        Value::Text(request.id.as_uuid().hyphenated().to_string()),
        text(request.tenant.as_ref().map(TenantId::as_str)),
        Value::Text(request.selection.clone()),
        text(request.requested_by.as_ref().map(Actor::as_str)),
        Value::Integer(request.requested_at.as_micros()),
        text(request.note.as_deref()),
        request.per_second.map_or(Value::Null, |pace| Value::Integer(i64::from(pace.get()))),
        int(request.requested),
        request.cancelled_at.map_or(Value::Null, |at| Value::Integer(at.as_micros())),
        text(request.cancelled_by.as_ref().map(Actor::as_str)),
        int(request.cancelled),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use pulse_extensibility::{DeadLetterId, SortKey, TenantId};

    #[test]
    fn the_table_name_is_quoted_and_values_are_parameters() {
        let sql = Sql::new(&SqlIdentifier::new("Letters").unwrap());
        let query = EntryQuery {
            scope: Scope::Tenant(TenantId::new("acme'; DROP TABLE x; --").unwrap()),
            filter: EntryFilter::default()
                .statuses([Status::New, Status::Replaying])
                .command_type("orders.create"),
            order: SortOrder::NewestFirst,
            after: Some(SortKey {
                occurred_at: Timestamp::from_micros(7),
                id: DeadLetterId::new_at(Timestamp::UNIX_EPOCH),
            }),
            offset: 3,
            limit: 10,
        };
        let statement = sql.query(&query);
        assert!(statement.sql.starts_with("SELECT Id, Tenant, MessageId,"), "{}", statement.sql);
        assert!(
            statement.sql.ends_with(
                " FROM \"Letters\" WHERE Tenant = ?1 AND +Status IN (?2, ?3) AND CommandType = ?4 \
                 AND (OccurredAt, Id) < (?5, ?6) ORDER BY OccurredAt DESC, Id DESC LIMIT ?7 OFFSET ?8"
            ),
            "{}",
            statement.sql
        );
        assert_eq!(statement.params.len(), 8);
        assert!(!statement.sql.contains("acme"));
    }

    #[test]
    fn swap_binds_mutable_columns_then_the_key() {
        let sql = Sql::new(&SqlIdentifier::default_table()).swap().to_owned();
        assert!(sql.starts_with("UPDATE \"CommandDeadLetter\" SET CommandType = ?1, CommandVersion = ?2,"));
        assert!(sql.ends_with(
            "Revision = ?22, ReplayRequestId = ?23, ChangedBy = ?24 WHERE Id = ?25 AND Tenant = ?26 \
                 AND Revision = ?27"
        ));
        let (set, _) = sql.split_once(" WHERE ").unwrap();
        for column in IMMUTABLE {
            assert!(!set.contains(&format!(" {column} = ?")), "{column} is written");
        }
    }

    #[test]
    fn migrations_render_the_table_name() {
        let rendered = render_migration(MIGRATION_1, &SqlIdentifier::new("Letters").unwrap());
        assert!(rendered.contains("CREATE TABLE \"Letters\" ("));
        assert!(rendered.contains("CREATE INDEX \"Letters_OccurredAt_Id\" ON \"Letters\" (OccurredAt, Id);"));
        assert!(!rendered.contains('{'));
    }
}
