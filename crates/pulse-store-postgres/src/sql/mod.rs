//! Every SQL text the store sends, rendered in this one audited module.
//!
//! # Audit rules
//!
//! - Schema, table and the names derived from them (indexes, the counter table, the trigger
//!   function) reach SQL only through [`SqlIdentifier::quoted`]; [`SqlIdentifier`] admits ASCII
//!   letters, digits and `_` only, so a quoted name cannot close its quotes.
//! - Column names come from [`columns`], compile-time constants, also quoted through
//!   [`SqlIdentifier`].
//! - Every value is a bound parameter (`$n`), added by [`Builder::param`] together with its
//!   placeholder, so text and arguments cannot drift apart.
//! - The one exception are statuses, written as integer literals from
//!   [`Status::as_i16`]: a closed set of code constants, never caller text. Literals let
//!   Postgres match the partial indexes (`WHERE "Status" = 0`) even in generic plans.
//! - Resolution names in the `CHECK` constraint are likewise the code's own constants.
//!
//! Only this module calls [`AssertSqlSafe`].

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pulse_extensibility::hash::fnv1a;
use pulse_extensibility::migration;
use pulse_extensibility::{
    Actor, CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetterId, EntryFilter, EntryQuery, Error,
    ReplayLease, ReplayRequest, ReplayRequestId, Resolution, Result, Scope, SortOrder, SqlIdentifier,
    TimeBuckets, Timestamp, Uuid, columns, request_columns as rc,
};
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;
use sqlx::{Arguments as _, AssertSqlSafe, Encode, Type};

/// How many counter rows each `(tenant, status)` pair spreads over, so concurrent writers in one
/// tenant rarely wait for each other's counter row.
pub(crate) const COUNTER_SLOTS: i16 = 16;

/// The columns of the dead-letter table, in the order the store selects and inserts them.
const ENTRY_COLUMNS: [&str; 28] = columns::ALL;

/// The Postgres array types of [`ENTRY_COLUMNS`], for the `UNNEST` insert.
const ENTRY_ARRAY_TYPES: [&str; 28] = [
    "uuid[]",
    "text[]",
    "text[]",
    "text[]",
    "int8[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "jsonb[]",
    "int8[]",
    "timestamptz[]",
    "timestamptz[]",
    "int2[]",
    "text[]",
    "text[]",
    "timestamptz[]",
    "uuid[]",
    "timestamptz[]",
    "timestamptz[]",
    "timestamptz[]",
    "timestamptz[]",
    "int8[]",
    "uuid[]",
    "text[]",
];

/// A column name, quoted. Column names are constants; a bad one is a bug caught by every test.
fn col(name: &str) -> String {
    SqlIdentifier::new(name).expect("column names are valid identifiers").quoted()
}

/// `schema.name`, both quoted.
fn qualified(schema: &SqlIdentifier, name: &SqlIdentifier) -> String {
    format!("{}.{}", schema.quoted(), name.quoted())
}

/// Pulse's migration history of every table in a schema: one table per schema.
pub(crate) const MIGRATIONS_TABLE: &str = "PulseMigrations";

/// A name derived from `table` by appending `suffix`, shortened with a hash when it would pass
/// Postgres's 63-byte limit (which would otherwise truncate it silently and could collide).
pub(crate) fn derived(table: &SqlIdentifier, suffix: &str) -> SqlIdentifier {
    let name = format!("{}{suffix}", table.as_str());
    let name = if name.len() <= pulse_extensibility::MAX_IDENTIFIER_LEN {
        name
    } else {
        let keep = pulse_extensibility::MAX_IDENTIFIER_LEN - suffix.len() - 9;
        // Identifiers are ASCII, so any byte index is a character boundary.
        format!("{}_{:08x}{suffix}", &table.as_str()[..keep], fnv1a(table.as_str().as_bytes()) >> 32)
    };
    SqlIdentifier::new(name).expect("derived from a valid identifier with a valid suffix")
}

/// The names of every database object of one store, quoted and ready for SQL.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    schema: SqlIdentifier,
    table: SqlIdentifier,
    /// `"schema"."table"`.
    entries: String,
    /// The per-tenant, per-status counters.
    counts: String,
    /// The replay requests.
    requests: String,
    /// Pulse's migration history of every table in the schema.
    migrations: String,
    /// The trigger function that maintains the counters.
    count_function: String,
    /// `"Id", "Tenant", ...`: every entry column.
    select_list: String,
    /// The insert of one entry, as one row of parameters: rendered once, at open.
    insert_one: Arc<str>,
    /// The insert of a batch, as one array per column: rendered once, at open.
    insert_many: Arc<str>,
}

impl Names {
    pub(crate) fn new(schema: &SqlIdentifier, table: &SqlIdentifier) -> Self {
        let select_list = ENTRY_COLUMNS.iter().map(|c| col(c)).collect::<Vec<_>>().join(", ");
        let entries = qualified(schema, table);
        let insert = |cast: &dyn Fn(&str) -> String, source: &str| -> Arc<str> {
            let placeholders = (1..=ENTRY_ARRAY_TYPES.len()).zip(ENTRY_ARRAY_TYPES);
            let values = placeholders.map(|(n, ty)| format!("${n}::{}", cast(ty))).collect::<Vec<_>>();
            format!(
                "INSERT INTO {entries} ({select_list}) {source}({}) ON CONFLICT DO NOTHING RETURNING {}",
                values.join(", "),
                col(columns::ID)
            )
            .into()
        };
        let insert_one = insert(&|ty| scalar(ty).to_owned(), "VALUES ");
        let insert_many = insert(&|ty| ty.to_owned(), "SELECT * FROM UNNEST");
        Self {
            schema: schema.clone(),
            table: table.clone(),
            insert_one,
            insert_many,
            entries,
            counts: qualified(schema, &derived(table, "_Counts")),
            requests: qualified(schema, &derived(table, "_ReplayRequests")),
            migrations: qualified(schema, &SqlIdentifier::new(MIGRATIONS_TABLE).expect("valid")),
            count_function: qualified(schema, &derived(table, "_Count")),
            select_list,
        }
    }

    /// The names every migration checksum is computed with, so checksums do not depend on the
    /// configured schema and table.
    fn canonical() -> Self {
        Self::new(&SqlIdentifier::default_schema(), &SqlIdentifier::default_table())
    }

    /// An index name in this store's schema: unique per table, quoted, unqualified (Postgres
    /// creates an index in its table's schema).
    fn index(&self, suffix: &str) -> String {
        derived(&self.table, suffix).quoted()
    }

    /// The key of the advisory lock that serialises migrations of this schema and table.
    pub(crate) fn migration_lock_key(&self) -> i64 {
        let key = format!("pulse-migrate:{}.{}", self.schema.as_str(), self.table.as_str());
        i64::from_be_bytes(fnv1a(key.as_bytes()).to_be_bytes())
    }

    /// `schema.table`, unquoted: how messages name this store's table.
    pub(crate) fn qualified_table_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// The qualified migrations table as text, for `to_regclass`.
    pub(crate) fn migrations_table_name(&self) -> &str {
        &self.migrations
    }
}

/// A statement and its arguments, ready to run.
pub(crate) struct Statement {
    sql: Arc<str>,
    args: PgArguments,
}

impl Statement {
    /// The statement as a sqlx query. The text was rendered under this module's audit rules.
    pub(crate) fn query(self) -> Query<'static, Postgres, PgArguments> {
        sqlx::query_with(AssertSqlSafe(self.sql), self.args)
    }

    #[cfg(test)]
    fn text(&self) -> &str {
        &self.sql
    }
}

/// Builds one statement: text and arguments side by side.
struct Builder {
    sql: String,
    args: Bound,
}

impl Builder {
    fn new() -> Self {
        Self { sql: String::with_capacity(512), args: Bound::default() }
    }

    /// Binds `value` and returns its placeholder.
    fn param<'t, T: Encode<'t, Postgres> + Type<Postgres>>(&mut self, value: T) -> Result<String> {
        self.args.bind(value)?;
        Ok(format!("${}", self.args.0.len()))
    }

    fn push(&mut self, text: &str) {
        self.sql.push_str(text);
    }

    fn finish(self) -> Statement {
        self.args.finish(self.sql.into())
    }
}

/// The arguments of a statement whose text is rendered already.
#[derive(Default)]
struct Bound(PgArguments);

impl Bound {
    /// Binds `value` as the next placeholder.
    fn bind<'t, T: Encode<'t, Postgres> + Type<Postgres>>(&mut self, value: T) -> Result<()> {
        self.0.add(value).map_err(|e| Error::Backend {
            message: format!("cannot encode a value: {e}"),
            retryable: false,
            source: Some(e),
        })
    }

    fn finish(self, sql: Arc<str>) -> Statement {
        Statement { sql, args: self.0 }
    }
}

/// A fixed statement without arguments.
fn fixed(sql: String) -> Statement {
    Statement { sql: sql.into(), args: PgArguments::default() }
}

/// `instant` as a Postgres `timestamptz` value.
pub(crate) fn datetime(instant: Timestamp) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(instant.as_micros()).ok_or_else(|| {
        Error::invalid_input(
            "timestamp",
            format!("{} µs since the epoch cannot be stored", instant.as_micros()),
        )
    })
}

fn optional_datetime(instant: Option<Timestamp>) -> Result<Option<DateTime<Utc>>> {
    instant.map(datetime).transpose()
}

fn revision(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::invalid_input("revision", "exceeds the stored range"))
}

fn metadata(entry: &DeadLetterEntry) -> serde_json::Value {
    serde_json::Value::Object(
        entry.metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
    )
}

/// `IN (0, 1)`: statuses as literals, see the module's audit rules.
fn status_list(statuses: impl IntoIterator<Item = Status>) -> String {
    let set: BTreeSet<i16> = statuses.into_iter().map(Status::as_i16).collect();
    let list = set.iter().map(i16::to_string).collect::<Vec<_>>().join(", ");
    format!("{} IN ({list})", col(columns::STATUS))
}

/// The `CHECK` list of stored resolutions: the code's own constants.
fn resolution_list() -> String {
    Resolution::ALL.iter().map(|r| format!("'{}'", r.as_str())).collect::<Vec<_>>().join(", ")
}

/// `ty` of an array type, `text` of `text[]`.
fn scalar(ty: &str) -> &str {
    ty.strip_suffix("[]").unwrap_or(ty)
}

/// One entry's columns as bound, in the order of the select list and [`ENTRY_ARRAY_TYPES`].
struct Row {
    id: Uuid,
    tenant: String,
    message_id: Option<String>,
    command_type: String,
    command_version: i64,
    payload: String,
    original_payload: Option<String>,
    exception_type: String,
    exception_message: String,
    exception_details: Option<String>,
    fingerprint: String,
    source: Option<String>,
    metadata: serde_json::Value,
    attempt_count: i64,
    first_failed_at: DateTime<Utc>,
    occurred_at: DateTime<Utc>,
    status: i16,
    resolution: Option<String>,
    note: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    lease_token: Option<Uuid>,
    lease_expires_at: Option<DateTime<Utc>>,
    replay_requested_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    revision: i64,
    replay_request: Option<Uuid>,
    changed_by: Option<String>,
}

/// Binds every column, in [`Row`]'s order, as `$wrap`, given `$take`: a function that moves
/// that column's value out of a row, into `$args` (a [`Bound`]).
macro_rules! bind_columns {
    ($args:expr, |$take:ident| $wrap:expr) => {{
        macro_rules! one {
            ($name:ident) => {{
                let $take = |row: &mut Row| std::mem::take(&mut row.$name);
                $args.bind($wrap)?;
            }};
        }
        one!(id);
        one!(tenant);
        one!(message_id);
        one!(command_type);
        one!(command_version);
        one!(payload);
        one!(original_payload);
        one!(exception_type);
        one!(exception_message);
        one!(exception_details);
        one!(fingerprint);
        one!(source);
        one!(metadata);
        one!(attempt_count);
        one!(first_failed_at);
        one!(occurred_at);
        one!(status);
        one!(resolution);
        one!(note);
        one!(resolved_at);
        one!(lease_token);
        one!(lease_expires_at);
        one!(replay_requested_at);
        one!(created_at);
        one!(updated_at);
        one!(revision);
        one!(replay_request);
        one!(changed_by);
    }};
}

impl Row {
    fn of(e: &DeadLetterEntry) -> Result<Self> {
        Ok(Self {
            id: *e.id.as_uuid(),
            tenant: e.tenant.as_str().to_owned(),
            message_id: e.message_id.clone(),
            command_type: e.command_type.clone(),
            command_version: i64::from(e.command_version),
            payload: e.payload.clone(),
            original_payload: e.original_payload.clone(),
            exception_type: e.exception_type.clone(),
            exception_message: e.exception_message.clone(),
            exception_details: e.exception_details.clone(),
            fingerprint: e.fingerprint.as_str().to_owned(),
            source: e.source.clone(),
            metadata: metadata(e),
            attempt_count: i64::from(e.attempt_count),
            first_failed_at: datetime(e.first_failed_at)?,
            occurred_at: datetime(e.occurred_at)?,
            status: e.status.as_i16(),
            resolution: e.resolution.map(|r| r.as_str().to_owned()),
            note: e.note.clone(),
            resolved_at: optional_datetime(e.resolved_at)?,
            lease_token: e.lease.map(|l| l.token),
            lease_expires_at: optional_datetime(e.lease.map(|l| l.expires_at))?,
            replay_requested_at: optional_datetime(e.replay_requested_at)?,
            created_at: datetime(e.created_at)?,
            updated_at: datetime(e.updated_at)?,
            revision: revision(e.revision)?,
            replay_request: e.replay_request.map(|request| *request.as_uuid()),
            changed_by: e.changed_by.as_ref().map(|actor| actor.as_str().to_owned()),
        })
    }
}

impl Names {
    // ----- Entries -----

    /// Inserts a batch in one statement; conflicting rows (an existing message id, or an id
    /// already stored by an earlier attempt of the same write) are skipped. Returns inserted ids.
    ///
    /// One entry goes in as one row of parameters, the plainest statement there is; a batch as
    /// one array per column through `UNNEST`, so every batch size shares one prepared statement.
    pub(crate) fn insert(&self, entries: &[&DeadLetterEntry]) -> Result<Statement> {
        let mut rows = entries.iter().map(|entry| Row::of(entry)).collect::<Result<Vec<_>>>()?;
        let mut args = Bound::default();
        let sql = if let [row] = rows.as_mut_slice() {
            bind_columns!(args, |take| take(row));
            &self.insert_one
        } else {
            bind_columns!(args, |take| rows.iter_mut().map(take).collect::<Vec<_>>());
            &self.insert_many
        };
        Ok(args.finish(sql.clone()))
    }

    /// The stored rows that hold one of `ids` or one of the `(tenant, message id)` keys:
    /// id, tenant and message id of each.
    pub(crate) fn existing(
        &self,
        ids: Vec<Uuid>,
        tenants: Vec<String>,
        message_ids: Vec<String>,
    ) -> Result<Statement> {
        let mut b = Builder::new();
        let ids = b.param(ids)?;
        let tenants = b.param(tenants)?;
        let message_ids = b.param(message_ids)?;
        let (id, tenant, message_id) = (col(columns::ID), col(columns::TENANT), col(columns::MESSAGE_ID));
        b.push(&format!(
            "SELECT {id}, {tenant}, {message_id} FROM {table} \
             WHERE {id} = ANY({ids}::uuid[]) \
                OR ({tenant}, {message_id}) IN (SELECT * FROM UNNEST({tenants}::text[], {message_ids}::text[]))",
            table = self.entries,
        ));
        Ok(b.finish())
    }

    /// One entry by id, in scope.
    pub(crate) fn get(&self, scope: &Scope, id: DeadLetterId) -> Result<Statement> {
        let mut b = Builder::new();
        let id = b.param(*id.as_uuid())?;
        b.push(&format!(
            "SELECT {} FROM {} WHERE {} = {id}",
            self.select_list,
            self.entries,
            col(columns::ID)
        ));
        self.push_scope(&mut b, scope)?;
        Ok(b.finish())
    }

    /// Compare-and-swap of every mutable column, by id, tenant and previous revision.
    pub(crate) fn swap(&self, entry: &DeadLetterEntry, expected_revision: u64) -> Result<Statement> {
        let mut b = Builder::new();
        let sets = [
            (columns::COMMAND_TYPE, b.param(entry.command_type.as_str())?),
            (columns::COMMAND_VERSION, b.param(i64::from(entry.command_version))?),
            (columns::PAYLOAD, b.param(entry.payload.as_str())?),
            (columns::ORIGINAL_PAYLOAD, b.param(entry.original_payload.as_deref())?),
            (columns::EXCEPTION_TYPE, b.param(entry.exception_type.as_str())?),
            (columns::EXCEPTION_MESSAGE, b.param(entry.exception_message.as_str())?),
            (columns::EXCEPTION_DETAILS, b.param(entry.exception_details.as_deref())?),
            (columns::FINGERPRINT, b.param(entry.fingerprint.as_str())?),
            (columns::SOURCE, b.param(entry.source.as_deref())?),
            (columns::METADATA, b.param(metadata(entry))?),
            (columns::ATTEMPT_COUNT, b.param(i64::from(entry.attempt_count))?),
            (columns::FIRST_FAILED_AT, b.param(datetime(entry.first_failed_at)?)?),
            (columns::OCCURRED_AT, b.param(datetime(entry.occurred_at)?)?),
            (columns::STATUS, b.param(entry.status.as_i16())?),
            (columns::RESOLUTION, b.param(entry.resolution.map(Resolution::as_str))?),
            (columns::NOTE, b.param(entry.note.as_deref())?),
            (columns::RESOLVED_AT, b.param(optional_datetime(entry.resolved_at)?)?),
            (columns::LEASE_TOKEN, b.param(entry.lease.map(|l| l.token))?),
            (columns::LEASE_EXPIRES_AT, b.param(optional_datetime(entry.lease.map(|l| l.expires_at))?)?),
            (columns::REPLAY_REQUESTED_AT, b.param(optional_datetime(entry.replay_requested_at)?)?),
            (columns::UPDATED_AT, b.param(datetime(entry.updated_at)?)?),
            (columns::REVISION, b.param(revision(entry.revision)?)?),
            (columns::REPLAY_REQUEST_ID, b.param(entry.replay_request.map(|request| *request.as_uuid()))?),
            (columns::CHANGED_BY, b.param(entry.changed_by.as_ref().map(|actor| actor.as_str().to_owned()))?),
        ];
        let id = b.param(*entry.id.as_uuid())?;
        let tenant = b.param(entry.tenant.as_str())?;
        let expected = b.param(revision(expected_revision)?)?;
        let sets = sets.iter().map(|(c, p)| format!("{} = {p}", col(c))).collect::<Vec<_>>().join(", ");
        b.push(&format!(
            "UPDATE {table} SET {sets} WHERE {id_col} = {id} AND {tenant_col} = {tenant} AND {rev_col} = {expected}",
            table = self.entries,
            id_col = col(columns::ID),
            tenant_col = col(columns::TENANT),
            rev_col = col(columns::REVISION),
        ));
        Ok(b.finish())
    }

    /// ` AND "Tenant" = $n` for a tenant scope; nothing for all tenants.
    fn push_scope(&self, b: &mut Builder, scope: &Scope) -> Result<()> {
        self.push_scope_as(b, scope, "")
    }

    /// As [`Self::push_scope`], with the column qualified by `alias` (`e.`).
    fn push_scope_as(&self, b: &mut Builder, scope: &Scope, alias: &str) -> Result<()> {
        if let Some(tenant) = scope.tenant() {
            let p = b.param(tenant.as_str().to_owned())?;
            b.push(&format!(" AND {alias}{} = {p}", col(columns::TENANT)));
        }
        Ok(())
    }

    /// ` AND ...` for every narrowing field of `filter`.
    fn push_filter(&self, b: &mut Builder, filter: &EntryFilter) -> Result<()> {
        if !filter.statuses.is_empty() {
            b.push(&format!(" AND {}", status_list(filter.statuses.iter().copied())));
        }
        if let Some(command_type) = &filter.command_type {
            let p = b.param(command_type.as_str())?;
            b.push(&format!(" AND {} = {p}", col(columns::COMMAND_TYPE)));
        }
        if let Some(exception_type) = &filter.exception_type {
            let p = b.param(exception_type.as_str())?;
            b.push(&format!(" AND {} = {p}", col(columns::EXCEPTION_TYPE)));
        }
        if let Some(fingerprint) = &filter.fingerprint {
            let p = b.param(fingerprint.as_str())?;
            b.push(&format!(" AND {} = {p}", col(columns::FINGERPRINT)));
        }
        if let Some(from) = filter.occurred_from {
            let p = b.param(datetime(from)?)?;
            b.push(&format!(" AND {} >= {p}", col(columns::OCCURRED_AT)));
        }
        if let Some(before) = filter.occurred_before {
            let p = b.param(datetime(before)?)?;
            b.push(&format!(" AND {} < {p}", col(columns::OCCURRED_AT)));
        }
        if !filter.ids.is_empty() {
            let ids: Vec<Uuid> = filter.ids.iter().map(|id| *id.as_uuid()).collect();
            let p = b.param(ids)?;
            b.push(&format!(" AND {} = ANY({p}::uuid[])", col(columns::ID)));
        }
        if let Some(request) = filter.replay_request {
            let p = b.param(*request.as_uuid())?;
            b.push(&format!(" AND {} = {p}", col(columns::REPLAY_REQUEST_ID)));
        }
        if let Some(pending) = filter.replay_pending {
            let null = if pending { "IS NOT NULL" } else { "IS NULL" };
            b.push(&format!(" AND {} {null}", col(columns::REPLAY_REQUESTED_AT)));
        }
        if let Some(before) = filter.resolved_before {
            let p = b.param(datetime(before)?)?;
            b.push(&format!(" AND {} < {p}", col(columns::RESOLVED_AT)));
        }
        Ok(())
    }

    /// A page of entries: keyset on `("OccurredAt", "Id")`, then offset and limit.
    pub(crate) fn query(&self, query: &EntryQuery) -> Result<Statement> {
        let mut b = Builder::new();
        b.push(&format!("SELECT {} FROM {} WHERE TRUE", self.select_list, self.entries));
        self.push_scope(&mut b, &query.scope)?;
        self.push_filter(&mut b, &query.filter)?;
        let (occurred, id) = (col(columns::OCCURRED_AT), col(columns::ID));
        let (direction, comparison) = match query.order {
            SortOrder::OldestFirst => ("ASC", ">"),
            SortOrder::NewestFirst => ("DESC", "<"),
        };
        if let Some(after) = query.after {
            let at = b.param(datetime(after.occurred_at)?)?;
            let after_id = b.param(*after.id.as_uuid())?;
            b.push(&format!(" AND ({occurred}, {id}) {comparison} ({at}, {after_id})"));
        }
        let offset = b.param(i64::try_from(query.offset).unwrap_or(i64::MAX))?;
        let limit = b.param(i64::from(query.limit))?;
        b.push(&format!(" ORDER BY {occurred} {direction}, {id} {direction} OFFSET {offset} LIMIT {limit}"));
        Ok(b.finish())
    }

    /// Records `request` and marks the matching entries without a pending request, numbered
    /// oldest failure first, each due at its slot of the request's pace: one statement, which
    /// returns the number marked (column `Requested`).
    pub(crate) fn request_replay(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        request: &ReplayRequest,
    ) -> Result<Statement> {
        let mut b = Builder::new();
        let at = b.param(datetime(request.requested_at)?)?;
        let pace = b.param(request.per_second.map(|pace| i64::from(pace.get())))?;
        let request_id = b.param(*request.id.as_uuid())?;
        let by = b.param(request.requested_by.as_ref().map(|actor| actor.as_str().to_owned()))?;
        let (id, requested, occurred) =
            (col(columns::ID), col(columns::REPLAY_REQUESTED_AT), col(columns::OCCURRED_AT));
        let revision = col(columns::REVISION);
        b.push(&format!(
            "WITH candidates AS (SELECT {id}, row_number() OVER (ORDER BY {occurred}, {id}) AS n \
             FROM {table} WHERE {requested} IS NULL",
            table = self.entries,
        ));
        self.push_scope(&mut b, scope)?;
        self.push_filter(&mut b, filter)?;
        // The slot of the n-th entry (from 0) is `at + ceil(n * 1e6 / pace)` microseconds, as
        // `ReplayRequest::slot` computes it. The recheck of `IS NULL` on the row itself keeps
        // a concurrent request from marking it twice.
        b.push(&format!(
            "), marked AS (UPDATE {table} AS e SET {requested} = {at}::timestamptz + CASE WHEN {pace}::int8 IS NULL \
             THEN interval '0' ELSE ((c.n - 1) * 1000000 + {pace}::int8 - 1) / {pace}::int8 * interval '1 microsecond' END, \
             {request_col} = {request_id}, {changed} = {by}, {updated} = {at}::timestamptz, {revision} = e.{revision} + 1 \
             FROM candidates AS c WHERE e.{id} = c.{id} AND e.{requested} IS NULL RETURNING 1) ",
            table = self.entries,
            request_col = col(columns::REPLAY_REQUEST_ID),
            changed = col(columns::CHANGED_BY),
            updated = col(columns::UPDATED_AT),
        ));
        let values = self.request_values(&mut b, request)?;
        b.push(&format!(
            "INSERT INTO {requests} ({cols}) SELECT {values}, (SELECT count(*) FROM marked), {rest} \
             RETURNING {requested_count}",
            requests = self.requests,
            cols = request_cols(),
            values = values[..7].join(", "),
            rest = values[8..].join(", "),
            requested_count = col(rc::REQUESTED),
        ));
        Ok(b.finish())
    }

    /// Binds every column of `request` in [`REQUEST_COLUMNS`] order; returns the placeholders,
    /// typed.
    fn request_values(&self, b: &mut Builder, request: &ReplayRequest) -> Result<Vec<String>> {
        let count = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        Ok(vec![
            format!("{}::uuid", b.param(*request.id.as_uuid())?),
            format!("{}::text", b.param(request.tenant.as_ref().map(|t| t.as_str().to_owned()))?),
            format!("{}::text", b.param(request.selection.as_str())?),
            format!("{}::text", b.param(request.requested_by.as_ref().map(|a| a.as_str().to_owned()))?),
            format!("{}::timestamptz", b.param(datetime(request.requested_at)?)?),
            format!("{}::text", b.param(request.note.as_deref())?),
            format!("{}::int8", b.param(request.per_second.map(|pace| i64::from(pace.get())))?),
            format!("{}::int8", b.param(count(request.requested))?),
            format!("{}::timestamptz", b.param(optional_datetime(request.cancelled_at)?)?),
            format!("{}::text", b.param(request.cancelled_by.as_ref().map(|a| a.as_str().to_owned()))?),
            format!("{}::int8", b.param(count(request.cancelled))?),
        ])
    }

    /// ` AND "Tenant" = $n` for a tenant scope: a tenant sees only the requests made in it.
    fn push_request_scope(&self, b: &mut Builder, scope: &Scope) -> Result<()> {
        if let Some(tenant) = scope.tenant() {
            let p = b.param(tenant.as_str().to_owned())?;
            b.push(&format!(" AND {} = {p}", col(rc::TENANT)));
        }
        Ok(())
    }

    /// The request `id`, if `scope` sees it; `FOR UPDATE` when `lock`.
    pub(crate) fn get_request(&self, scope: &Scope, id: ReplayRequestId, lock: bool) -> Result<Statement> {
        let mut b = Builder::new();
        let id = b.param(*id.as_uuid())?;
        b.push(&format!("SELECT {} FROM {} WHERE {} = {id}", request_cols(), self.requests, col(rc::ID)));
        self.push_request_scope(&mut b, scope)?;
        if lock {
            b.push(" FOR UPDATE");
        }
        Ok(b.finish())
    }

    /// Up to `limit` requests `scope` sees, newest first, below `before`.
    pub(crate) fn list_requests(
        &self,
        scope: &Scope,
        before: Option<ReplayRequestId>,
        limit: u32,
    ) -> Result<Statement> {
        let mut b = Builder::new();
        b.push(&format!("SELECT {} FROM {} WHERE TRUE", request_cols(), self.requests));
        self.push_request_scope(&mut b, scope)?;
        if let Some(before) = before {
            let p = b.param(*before.as_uuid())?;
            b.push(&format!(" AND {} < {p}", col(rc::ID)));
        }
        let limit = b.param(i64::from(limit))?;
        b.push(&format!(" ORDER BY {} DESC LIMIT {limit}", col(rc::ID)));
        Ok(b.finish())
    }

    /// Takes request `id` from its New entries in `scope` that have not been claimed.
    pub(crate) fn cancel_entries(
        &self,
        scope: &Scope,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
    ) -> Result<Statement> {
        let mut b = Builder::new();
        let at = b.param(datetime(at)?)?;
        let by = b.param(by.map(|actor| actor.as_str().to_owned()))?;
        let id = b.param(*id.as_uuid())?;
        let (requested, request, revision) =
            (col(columns::REPLAY_REQUESTED_AT), col(columns::REPLAY_REQUEST_ID), col(columns::REVISION));
        b.push(&format!(
            "UPDATE {table} SET {requested} = NULL, {request} = NULL, {changed} = {by}, {updated} = {at}, \
             {revision} = {revision} + 1 WHERE {request} = {id} AND {requested} IS NOT NULL AND {new}",
            table = self.entries,
            changed = col(columns::CHANGED_BY),
            updated = col(columns::UPDATED_AT),
            new = status_list([Status::New]),
        ));
        self.push_scope(&mut b, scope)?;
        Ok(b.finish())
    }

    /// Records the cancellation of request `id`; returns the request.
    pub(crate) fn cancel_request(
        &self,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
        cancelled: u64,
    ) -> Result<Statement> {
        let mut b = Builder::new();
        let at = b.param(datetime(at)?)?;
        let by = b.param(by.map(|actor| actor.as_str().to_owned()))?;
        let cancelled = b.param(i64::try_from(cancelled).unwrap_or(i64::MAX))?;
        let id = b.param(*id.as_uuid())?;
        b.push(&format!(
            "UPDATE {} SET {} = {at}, {} = {by}, {} = {cancelled} WHERE {} = {id} RETURNING {}",
            self.requests,
            col(rc::CANCELLED_AT),
            col(rc::CANCELLED_BY),
            col(rc::CANCELLED),
            col(rc::ID),
            request_cols(),
        ));
        Ok(b.finish())
    }

    /// Entries in scope matching `filter`, per status: columns `Status`, `Count`.
    pub(crate) fn count(&self, scope: &Scope, filter: &EntryFilter) -> Result<Statement> {
        let mut b = Builder::new();
        let status = col(columns::STATUS);
        b.push(&format!("SELECT {status}, count(*)::int8 AS \"Count\" FROM {} WHERE TRUE", self.entries));
        self.push_scope(&mut b, scope)?;
        self.push_filter(&mut b, filter)?;
        b.push(&format!(" GROUP BY {status}"));
        Ok(b.finish())
    }

    /// Entries in scope matching `filter` per bucket of `buckets`: columns `Bucket` (from 0) and
    /// `Count`, for the buckets that have entries. `filter`'s latest-failure range must lie
    /// within the buckets ([`EntryFilter::occurred_within`]): it is the range read from an index
    /// by `OccurredAt`, and `width_bucket` places each entry by binary search over the buckets'
    /// starts, exactly, in microseconds.
    pub(crate) fn histogram(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        buckets: &TimeBuckets,
    ) -> Result<Statement> {
        let mut b = Builder::new();
        let starts = (0..buckets.count)
            .map(|index| datetime(buckets.bucket_start(index)))
            .collect::<Result<Vec<DateTime<Utc>>>>()?;
        let starts = b.param(starts)?;
        b.push(&format!(
            "SELECT width_bucket({}, {starts}::timestamptz[]) - 1 AS \"Bucket\", count(*)::int8 AS \"Count\" \
             FROM {} WHERE TRUE",
            col(columns::OCCURRED_AT),
            self.entries
        ));
        self.push_scope(&mut b, scope)?;
        self.push_filter(&mut b, filter)?;
        b.push(" GROUP BY 1");
        Ok(b.finish())
    }

    /// The earliest due `ReplayRequestedAt` of a New entry in scope at `now`, or NULL. The
    /// status list repeats the claim index's predicate, so Postgres can read that index.
    pub(crate) fn oldest_due_replay(&self, scope: &Scope, now: Timestamp) -> Result<Statement> {
        let mut b = Builder::new();
        let now = b.param(datetime(now)?)?;
        let requested = col(columns::REPLAY_REQUESTED_AT);
        b.push(&format!(
            "SELECT min({requested}) FROM {table} WHERE {requested} IS NOT NULL AND {open} AND {new} \
             AND {requested} <= {now}",
            table = self.entries,
            open = status_list([Status::New, Status::Resolved]),
            new = status_list([Status::New]),
        ));
        self.push_scope(&mut b, scope)?;
        Ok(b.finish())
    }

    /// Claims requested, replayable entries in one statement; `FOR UPDATE SKIP LOCKED` keeps
    /// concurrent claimers disjoint.
    pub(crate) fn claim_requested(
        &self,
        scope: &Scope,
        now: Timestamp,
        lease: ReplayLease,
        limit: u32,
    ) -> Result<Statement> {
        let mut b = Builder::new();
        let now = b.param(datetime(now)?)?;
        let limit = b.param(i64::from(limit))?;
        let (id, requested, expires, status) = (
            col(columns::ID),
            col(columns::REPLAY_REQUESTED_AT),
            col(columns::LEASE_EXPIRES_AT),
            col(columns::STATUS),
        );
        // Two candidate sets, each served by a partial index of migration 3, so a claim never
        // walks past entries other replayers hold: requested entries that are New or Resolved,
        // oldest request first; and requested entries whose replay lease has expired.
        b.push(&format!(
            "WITH open AS MATERIALIZED (SELECT {id}, {requested} FROM {table} WHERE {requested} <= {now} \
             AND {open}",
            table = self.entries,
            open = status_list([Status::New, Status::Resolved]),
        ));
        self.push_scope(&mut b, scope)?;
        b.push(&format!(
            " ORDER BY {requested}, {id} LIMIT {limit} FOR UPDATE SKIP LOCKED), \
             expired AS MATERIALIZED (SELECT {id}, {requested} FROM {table} WHERE {requested} <= {now} \
             AND {status} = {replaying} AND {expires} <= {now}",
            table = self.entries,
            replaying = Status::Replaying.as_i16(),
        ));
        self.push_scope(&mut b, scope)?;
        let token = b.param(lease.token)?;
        let expires_at = b.param(datetime(lease.expires_at)?)?;
        let returning = ENTRY_COLUMNS.iter().map(|c| format!("e.{}", col(c))).collect::<Vec<_>>().join(", ");
        b.push(&format!(
            " ORDER BY {requested}, {id} LIMIT {limit} FOR UPDATE SKIP LOCKED), \
             claimed AS (SELECT {id} FROM (SELECT * FROM open UNION ALL SELECT * FROM expired) AS candidates \
             ORDER BY {requested}, {id} LIMIT {limit}) \
             UPDATE {table} AS e SET {status} = {replaying}, {token_col} = {token}, {expires} = {expires_at}, \
             {updated} = {now}, {revision} = e.{revision} + 1 \
             FROM claimed WHERE e.{id} = claimed.{id} RETURNING {returning}",
            table = self.entries,
            replaying = Status::Replaying.as_i16(),
            token_col = col(columns::LEASE_TOKEN),
            updated = col(columns::UPDATED_AT),
            revision = col(columns::REVISION),
        ));
        Ok(b.finish())
    }

    /// Deletes up to `limit` terminal entries resolved before `before`, skipping rows another
    /// purge (or any writer) holds.
    ///
    /// The `SKIP LOCKED` subselect sits in a `MATERIALIZED` CTE so it runs exactly once: as a
    /// plain `IN (SELECT ...)` Postgres may re-run it per row, and each run, skipping the rows
    /// this statement already deleted, picks the next `limit`: the limit would not hold.
    pub(crate) fn purge(&self, scope: &Scope, before: Timestamp, limit: u32) -> Result<Statement> {
        let mut b = Builder::new();
        let before = b.param(datetime(before)?)?;
        let (id, resolved) = (col(columns::ID), col(columns::RESOLVED_AT));
        let terminal = status_list([Status::Resolved, Status::Dismissed]);
        b.push(&format!(
            "WITH doomed AS MATERIALIZED (SELECT {id} FROM {table} WHERE {terminal} AND {resolved} < {before}",
            table = self.entries,
        ));
        self.push_scope(&mut b, scope)?;
        let limit = b.param(i64::from(limit))?;
        b.push(&format!(
            " ORDER BY {resolved}, {id} LIMIT {limit} FOR UPDATE SKIP LOCKED) \
             DELETE FROM {table} WHERE {id} IN (SELECT {id} FROM doomed) AND {terminal} AND {resolved} < {before}",
            table = self.entries,
        ));
        Ok(b.finish())
    }

    // ----- Reads over many entries -----

    /// Entries per status in scope, from the counter table: columns `Status`, `Count`.
    pub(crate) fn statistics(&self, scope: &Scope) -> Result<Statement> {
        let mut b = Builder::new();
        let status = col(columns::STATUS);
        b.push(&format!(
            "SELECT {status}, sum(\"Count\")::int8 AS \"Count\" FROM {} WHERE TRUE",
            self.counts
        ));
        self.push_scope(&mut b, scope)?;
        b.push(&format!(" GROUP BY {status}"));
        Ok(b.finish())
    }

    /// Error groups over New and Replaying entries: columns `Fingerprint`, `Count`, `FirstSeen`,
    /// `LastSeen`, and `CommandType`, `ExceptionType`, `ExceptionMessage` of the latest entry.
    pub(crate) fn error_groups(&self, scope: &Scope, limit: u32) -> Result<Statement> {
        let mut b = Builder::new();
        let (fingerprint, occurred, id) =
            (col(columns::FINGERPRINT), col(columns::OCCURRED_AT), col(columns::ID));
        let unresolved = status_list([Status::New, Status::Replaying]);
        b.push(&format!(
            "WITH g AS (SELECT {fingerprint} AS fp, count(*)::int8 AS n, min({first}) AS first_seen, \
             max({occurred}) AS last_seen FROM {table} WHERE {unresolved}",
            first = col(columns::FIRST_FAILED_AT),
            table = self.entries,
        ));
        self.push_scope(&mut b, scope)?;
        let limit = b.param(i64::from(limit))?;
        b.push(&format!(
            " GROUP BY {fingerprint} ORDER BY n DESC, last_seen DESC, {fingerprint} COLLATE \"C\" ASC LIMIT {limit}) \
             SELECT g.fp AS \"Fingerprint\", g.n AS \"Count\", g.first_seen AS \"FirstSeen\", \
             g.last_seen AS \"LastSeen\", s.{command}, s.{exception}, s.{message} \
             FROM g CROSS JOIN LATERAL (SELECT e.{command}, e.{exception}, e.{message} FROM {table} AS e \
             WHERE e.{fingerprint} = g.fp AND e.{unresolved}",
            command = col(columns::COMMAND_TYPE),
            exception = col(columns::EXCEPTION_TYPE),
            message = col(columns::EXCEPTION_MESSAGE),
            table = self.entries,
        ));
        // The same tenant again: a second parameter keeps each placeholder's type simple.
        self.push_scope_as(&mut b, scope, "e.")?;
        b.push(&format!(
            " ORDER BY e.{occurred} DESC, e.{id} DESC LIMIT 1) AS s \
             ORDER BY g.n DESC, g.last_seen DESC, g.fp COLLATE \"C\" ASC"
        ));
        Ok(b.finish())
    }

    // ----- Migrations -----

    /// Serialises migrations of this schema and table until the transaction ends.
    pub(crate) fn migration_lock(&self) -> Result<Statement> {
        let mut b = Builder::new();
        let key = b.param(self.migration_lock_key())?;
        b.push(&format!("SELECT pg_advisory_xact_lock({key})"));
        Ok(b.finish())
    }

    /// Whether the schema exists (checked first, so a role without `CREATE` on the database can
    /// open a store whose schema an operator made).
    pub(crate) fn schema_exists(&self) -> Result<Statement> {
        let mut b = Builder::new();
        let name = b.param(self.schema.as_str())?;
        b.push(&format!("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = {name})"));
        Ok(b.finish())
    }

    pub(crate) fn create_schema(&self) -> Statement {
        fixed(format!("CREATE SCHEMA {}", self.schema.quoted()))
    }

    pub(crate) fn create_migrations_table(&self) -> Statement {
        fixed(format!(
            "CREATE TABLE IF NOT EXISTS {} (\
             \"Table\" TEXT NOT NULL, \
             \"Version\" INTEGER NOT NULL, \
             \"Description\" TEXT NOT NULL, \
             \"Checksum\" TEXT NOT NULL, \
             \"AppliedAt\" TIMESTAMPTZ NOT NULL DEFAULT now(), \
             PRIMARY KEY (\"Table\", \"Version\"))",
            self.migrations
        ))
    }

    /// Whether the migrations table exists: one boolean column.
    pub(crate) fn migrations_table_exists(&self) -> Result<Statement> {
        let mut b = Builder::new();
        let name = b.param(self.migrations_table_name())?;
        b.push(&format!("SELECT to_regclass({name}) IS NOT NULL"));
        Ok(b.finish())
    }

    /// The migrations applied to this table, oldest first: columns `Version`, `Description`,
    /// `Checksum`.
    pub(crate) fn applied_migrations(&self) -> Result<Statement> {
        let mut b = Builder::new();
        let table = b.param(self.table.as_str())?;
        b.push(&format!(
            "SELECT \"Version\", \"Description\", \"Checksum\" FROM {} WHERE \"Table\" = {table} \
             ORDER BY \"Version\"",
            self.migrations
        ));
        Ok(b.finish())
    }

    pub(crate) fn record_migration(&self, migration: &Migration) -> Result<Statement> {
        let mut b = Builder::new();
        let table = b.param(self.table.as_str())?;
        // Every known migration's version comes from `MIGRATIONS`, an `i32`.
        let version = b.param(i32::try_from(migration.version).expect("migration versions are i32"))?;
        let description = b.param(migration.name)?;
        let checksum = b.param(migration.checksum.to_string())?;
        b.push(&format!(
            "INSERT INTO {} (\"Table\", \"Version\", \"Description\", \"Checksum\") \
             VALUES ({table}, {version}, {description}, {checksum})",
            self.migrations
        ));
        Ok(b.finish())
    }

    /// Every migration of this store, rendered for its names, in order. Each checksum is that of
    /// the script rendered for the default schema and table, so it does not depend on the
    /// configured names.
    pub(crate) fn migrations(&self) -> Vec<Migration> {
        let canonical = Self::canonical();
        MIGRATIONS
            .iter()
            .map(|(version, description, render)| {
                Migration::new(i64::from(*version), description, &render(&canonical), render(self).into())
            })
            .collect()
    }

    /// Migration 1: the dead-letter table and its indexes.
    fn create_entries(&self) -> String {
        let c = |name: &str| col(name);
        let t = &self.entries;
        let mut sql = format!(
            "CREATE TABLE {t} (\n\
             {id} UUID NOT NULL,\n\
             {tenant} TEXT NOT NULL,\n\
             {message_id} TEXT NULL,\n\
             {command_type} TEXT NOT NULL,\n\
             {command_version} BIGINT NOT NULL CHECK ({command_version} BETWEEN 1 AND 4294967295),\n\
             {payload} TEXT NOT NULL,\n\
             {original_payload} TEXT NULL,\n\
             {exception_type} TEXT NOT NULL,\n\
             {exception_message} TEXT NOT NULL,\n\
             {exception_details} TEXT NULL,\n\
             {fingerprint} TEXT NOT NULL,\n\
             {source} TEXT NULL,\n\
             {metadata} JSONB NOT NULL DEFAULT '{{}}' CHECK (jsonb_typeof({metadata}) = 'object'),\n\
             {attempt_count} BIGINT NOT NULL CHECK ({attempt_count} BETWEEN 1 AND 4294967295),\n\
             {first_failed_at} TIMESTAMPTZ NOT NULL,\n\
             {occurred_at} TIMESTAMPTZ NOT NULL,\n\
             {status} SMALLINT NOT NULL CHECK ({status} BETWEEN 0 AND 3),\n\
             {resolution} TEXT NULL CHECK ({resolution} IN ({resolutions})),\n\
             {note} TEXT NULL,\n\
             {resolved_at} TIMESTAMPTZ NULL,\n\
             {lease_token} UUID NULL,\n\
             {lease_expires_at} TIMESTAMPTZ NULL,\n\
             {replay_requested_at} TIMESTAMPTZ NULL,\n\
             {created_at} TIMESTAMPTZ NOT NULL,\n\
             {updated_at} TIMESTAMPTZ NOT NULL,\n\
             {revision} BIGINT NOT NULL CHECK ({revision} >= 0),\n\
             CONSTRAINT {pkey} PRIMARY KEY ({id}),\n\
             CONSTRAINT \"LeaseComplete\" CHECK (({lease_token} IS NULL) = ({lease_expires_at} IS NULL))\n\
             );\n",
            id = c(columns::ID),
            tenant = c(columns::TENANT),
            message_id = c(columns::MESSAGE_ID),
            command_type = c(columns::COMMAND_TYPE),
            command_version = c(columns::COMMAND_VERSION),
            payload = c(columns::PAYLOAD),
            original_payload = c(columns::ORIGINAL_PAYLOAD),
            exception_type = c(columns::EXCEPTION_TYPE),
            exception_message = c(columns::EXCEPTION_MESSAGE),
            exception_details = c(columns::EXCEPTION_DETAILS),
            fingerprint = c(columns::FINGERPRINT),
            source = c(columns::SOURCE),
            metadata = c(columns::METADATA),
            attempt_count = c(columns::ATTEMPT_COUNT),
            first_failed_at = c(columns::FIRST_FAILED_AT),
            occurred_at = c(columns::OCCURRED_AT),
            status = c(columns::STATUS),
            resolution = c(columns::RESOLUTION),
            resolutions = resolution_list(),
            note = c(columns::NOTE),
            resolved_at = c(columns::RESOLVED_AT),
            lease_token = c(columns::LEASE_TOKEN),
            lease_expires_at = c(columns::LEASE_EXPIRES_AT),
            replay_requested_at = c(columns::REPLAY_REQUESTED_AT),
            created_at = c(columns::CREATED_AT),
            updated_at = c(columns::UPDATED_AT),
            revision = c(columns::REVISION),
            pkey = self.index("_pkey"),
        );
        let indexes = [
            (
                "",
                "_Pending",
                format!("{}, {}, {}", c(columns::STATUS), c(columns::OCCURRED_AT), c(columns::ID)),
                Some(status_list([Status::New])),
            ),
            ("", "_OccurredAt", format!("{}, {}", c(columns::OCCURRED_AT), c(columns::ID)), None),
            (
                "UNIQUE ",
                "_MessageId",
                format!("{}, {}", c(columns::TENANT), c(columns::MESSAGE_ID)),
                Some(format!("{} IS NOT NULL", c(columns::MESSAGE_ID))),
            ),
            (
                "",
                "_ErrorGroups",
                format!("{}, {}, {}", c(columns::FINGERPRINT), c(columns::OCCURRED_AT), c(columns::ID)),
                Some(status_list([Status::New, Status::Replaying])),
            ),
            ("", "_Purge", c(columns::RESOLVED_AT), Some(status_list([Status::Resolved, Status::Dismissed]))),
            (
                "",
                "_ReplayRequests",
                format!("{}, {}", c(columns::REPLAY_REQUESTED_AT), c(columns::ID)),
                Some(format!("{} IS NOT NULL", c(columns::REPLAY_REQUESTED_AT))),
            ),
        ];
        for (unique, suffix, keys, predicate) in indexes {
            let _ = write!(sql, "CREATE {unique}INDEX {} ON {t} ({keys})", self.index(suffix));
            if let Some(predicate) = predicate {
                let _ = write!(sql, " WHERE {predicate}");
            }
            sql.push_str(";\n");
        }
        sql
    }

    /// Migration 3: claims read two partial indexes that hold only what a claim can take, in
    /// place of one index over every requested entry (which made each claim walk past the
    /// entries other replayers hold).
    fn index_claimable_requests(&self) -> String {
        let c = col;
        format!(
            "CREATE INDEX {claimable} ON {t} ({requested}, {id}) WHERE {requested} IS NOT NULL AND {open};\n\
             CREATE INDEX {expiring} ON {t} ({expires}) WHERE {requested} IS NOT NULL AND {status} = {replaying};\n\
             DROP INDEX {schema}.{old};\n",
            t = self.entries,
            claimable = self.index("_Claimable"),
            expiring = self.index("_ClaimExpired"),
            old = self.index("_ReplayRequests"),
            schema = self.schema.quoted(),
            requested = c(columns::REPLAY_REQUESTED_AT),
            id = c(columns::ID),
            expires = c(columns::LEASE_EXPIRES_AT),
            status = c(columns::STATUS),
            open = status_list([Status::New, Status::Resolved]),
            replaying = Status::Replaying.as_i16(),
        )
    }

    /// Migration 4: New entries by failure time, across tenants and per tenant, in place of an
    /// index led by the status. Its keys are the order `get_pending` reads in, so the planner
    /// takes it over walking every entry by time and skipping the settled ones.
    fn index_pending_by_time(&self) -> String {
        let c = col;
        format!(
            "CREATE INDEX {pending} ON {t} ({occurred}, {id}) WHERE {new};\n\
             CREATE INDEX {tenant_pending} ON {t} ({tenant}, {occurred}, {id}) WHERE {new};\n\
             DROP INDEX {schema}.{old};\n",
            t = self.entries,
            pending = self.index("_PendingByTime"),
            tenant_pending = self.index("_TenantPending"),
            old = self.index("_Pending"),
            schema = self.schema.quoted(),
            occurred = c(columns::OCCURRED_AT),
            id = c(columns::ID),
            tenant = c(columns::TENANT),
            new = status_list([Status::New]),
        )
    }

    /// Migration 5: each entry records its latest replay request and who made the latest
    /// operator change; requests live in a table of their own; counts for a command type, an
    /// error group or a request read an index; and the index of unresolved entries by error
    /// group carries the first failure too, so error groups are counted from the index alone.
    fn record_replay_requests(&self) -> String {
        let c = col;
        format!(
            "ALTER TABLE {t} ADD COLUMN {request} UUID NULL, ADD COLUMN {changed} TEXT NULL;\n\
             CREATE INDEX {by_request} ON {t} ({request}, {status}) WHERE {request} IS NOT NULL;\n\
             CREATE INDEX {by_command} ON {t} ({command}, {status});\n\
             CREATE INDEX {by_group} ON {t} ({fingerprint}, {status});\n\
             CREATE TABLE {requests} (\n\
             {r_id} UUID NOT NULL,\n\
             {r_tenant} TEXT NULL,\n\
             {r_selection} TEXT NOT NULL,\n\
             {r_by} TEXT NULL,\n\
             {r_at} TIMESTAMPTZ NOT NULL,\n\
             {r_note} TEXT NULL,\n\
             {r_pace} BIGINT NULL CHECK ({r_pace} > 0),\n\
             {r_requested} BIGINT NOT NULL,\n\
             {r_cancelled_at} TIMESTAMPTZ NULL,\n\
             {r_cancelled_by} TEXT NULL,\n\
             {r_cancelled} BIGINT NOT NULL,\n\
             CONSTRAINT {r_pkey} PRIMARY KEY ({r_id})\n\
             );\n\
             CREATE INDEX {r_tenant_index} ON {requests} ({r_tenant}, {r_id});\n\
             CREATE INDEX {groups} ON {t} ({fingerprint}, {occurred}, {id}) INCLUDE ({first_failed}) WHERE {unresolved};\n\
             DROP INDEX {schema}.{old_groups};\n",
            t = self.entries,
            requests = self.requests,
            request = c(columns::REPLAY_REQUEST_ID),
            changed = c(columns::CHANGED_BY),
            status = c(columns::STATUS),
            command = c(columns::COMMAND_TYPE),
            fingerprint = c(columns::FINGERPRINT),
            by_request = self.index("_ByRequest"),
            by_command = self.index("_ByCommandType"),
            by_group = self.index("_ByFingerprint"),
            r_id = c(rc::ID),
            r_tenant = c(rc::TENANT),
            r_selection = c(rc::SELECTION),
            r_by = c(rc::REQUESTED_BY),
            r_at = c(rc::REQUESTED_AT),
            r_note = c(rc::NOTE),
            r_pace = c(rc::PER_SECOND),
            r_requested = c(rc::REQUESTED),
            r_cancelled_at = c(rc::CANCELLED_AT),
            r_cancelled_by = c(rc::CANCELLED_BY),
            r_cancelled = c(rc::CANCELLED),
            r_pkey = derived(&self.table, "_ReplayRequests_pkey").quoted(),
            r_tenant_index = self.index("_ReplayRequests_Tenant"),
            groups = self.index("_Groups"),
            old_groups = self.index("_ErrorGroups"),
            schema = self.schema.quoted(),
            occurred = c(columns::OCCURRED_AT),
            id = c(columns::ID),
            first_failed = c(columns::FIRST_FAILED_AT),
            unresolved = status_list([Status::New, Status::Replaying]),
        )
    }

    /// Migration 2: per-tenant, per-status counters kept by statement-level triggers, so
    /// statistics read a few rows instead of counting the table.
    fn create_counters(&self) -> String {
        let t = &self.entries;
        let counts = &self.counts;
        let function = &self.count_function;
        let (tenant, status) = (col(columns::TENANT), col(columns::STATUS));
        // Each statement adds its net change per (tenant, status) to one slot, chosen per
        // connection so one transaction always uses the same slot. Rows are upserted in
        // (tenant, status) order, so two transactions never lock counter rows in opposite orders.
        let upsert = |source: &str| {
            format!(
                "INSERT INTO {counts} AS c ({tenant}, {status}, \"Slot\", \"Count\") \
                 SELECT d.{tenant}, d.{status}, v_slot, sum(d.delta) FROM ({source}) AS d \
                 GROUP BY d.{tenant}, d.{status} HAVING sum(d.delta) <> 0 \
                 ORDER BY d.{tenant}, d.{status} \
                 ON CONFLICT ({tenant}, {status}, \"Slot\") DO UPDATE SET \"Count\" = c.\"Count\" + EXCLUDED.\"Count\";"
            )
        };
        let inserted = upsert(&format!("SELECT {tenant}, {status}, 1 AS delta FROM pulse_new_rows"));
        let deleted = upsert(&format!("SELECT {tenant}, {status}, -1 AS delta FROM pulse_old_rows"));
        let updated = upsert(&format!(
            "SELECT {tenant}, {status}, -1 AS delta FROM pulse_old_rows \
             UNION ALL SELECT {tenant}, {status}, 1 AS delta FROM pulse_new_rows"
        ));
        format!(
            "LOCK TABLE {t} IN SHARE ROW EXCLUSIVE MODE;\n\
             CREATE TABLE {counts} (\n\
             {tenant} TEXT NOT NULL,\n\
             {status} SMALLINT NOT NULL,\n\
             \"Slot\" SMALLINT NOT NULL,\n\
             \"Count\" BIGINT NOT NULL,\n\
             CONSTRAINT {pkey} PRIMARY KEY ({tenant}, {status}, \"Slot\")\n\
             );\n\
             INSERT INTO {counts} ({tenant}, {status}, \"Slot\", \"Count\") \
             SELECT {tenant}, {status}, 0, count(*) FROM {t} GROUP BY {tenant}, {status};\n\
             CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $pulse$\n\
             DECLARE\n\
               v_slot smallint := (pg_backend_pid() % {slots})::smallint;\n\
             BEGIN\n\
               IF TG_OP = 'INSERT' THEN\n\
                 {inserted}\n\
               ELSIF TG_OP = 'UPDATE' THEN\n\
                 {updated}\n\
               ELSIF TG_OP = 'DELETE' THEN\n\
                 {deleted}\n\
               ELSE\n\
                 DELETE FROM {counts};\n\
               END IF;\n\
               RETURN NULL;\n\
             END;\n\
             $pulse$;\n\
             CREATE TRIGGER \"PulseCountInsert\" AFTER INSERT ON {t} \
             REFERENCING NEW TABLE AS pulse_new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n\
             CREATE TRIGGER \"PulseCountUpdate\" AFTER UPDATE ON {t} \
             REFERENCING OLD TABLE AS pulse_old_rows NEW TABLE AS pulse_new_rows \
             FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n\
             CREATE TRIGGER \"PulseCountDelete\" AFTER DELETE ON {t} \
             REFERENCING OLD TABLE AS pulse_old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n\
             CREATE TRIGGER \"PulseCountTruncate\" AFTER TRUNCATE ON {t} \
             FOR EACH STATEMENT EXECUTE FUNCTION {function}();\n",
            pkey = derived(&self.table, "_Counts_pkey").quoted(),
            slots = COUNTER_SLOTS,
        )
    }
}

/// One schema migration, its statements rendered for a store; its name is recorded as
/// `Description`.
pub(crate) type Migration = migration::Migration<Arc<str>>;

/// The script of `migration` as a multi-statement sqlx query (simple protocol, no parameters).
/// Rendered under this module's audit rules.
pub(crate) fn script(migration: &Migration) -> sqlx::RawSql {
    sqlx::raw_sql(AssertSqlSafe(migration.script.clone()))
}

type Render = fn(&Names) -> String;

/// Every migration Pulse knows. Never edit a released one: add the next.
const MIGRATIONS: [(i32, &str, Render); 5] = [
    (1, "dead-letter table and indexes", Names::create_entries),
    (2, "per-tenant status counters maintained by triggers", Names::create_counters),
    (3, "partial indexes of claimable replay requests", Names::index_claimable_requests),
    (4, "partial indexes of pending entries by failure time", Names::index_pending_by_time),
    (5, "replay requests, actors, and indexes for counts", Names::record_replay_requests),
];

/// The columns of the replay-request table, in the order [`Names::request_values`] binds them.
const REQUEST_COLUMNS: [&str; 11] = rc::ALL;

/// `"Id", "Tenant", ...`: every request column, quoted.
fn request_cols() -> String {
    REQUEST_COLUMNS.iter().map(|c| col(c)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use pulse_extensibility::TenantId;

    use super::*;

    fn names() -> Names {
        Names::canonical()
    }

    #[test]
    fn derived_names_stay_within_63_bytes_and_differ() {
        let long = SqlIdentifier::new("a".repeat(63)).unwrap();
        let other = SqlIdentifier::new(format!("{}b", "a".repeat(62))).unwrap();
        let a = derived(&long, "_ReplayRequests");
        let b = derived(&other, "_ReplayRequests");
        assert!(a.as_str().len() <= 63 && b.as_str().len() <= 63);
        assert_ne!(a, b);
        assert_eq!(
            derived(&SqlIdentifier::default_table(), "_Pending").as_str(),
            "CommandDeadLetter_Pending"
        );
    }

    #[test]
    fn inserts_are_rendered_once_and_bind_every_column() {
        let names = names();
        let entry = pulse_extensibility::validate::new_entry(
            pulse_extensibility::NewDeadLetter::new(
                "orders.create",
                "{}",
                pulse_extensibility::Failure::new("E", "m"),
            ),
            Timestamp::from_micros(0),
            1024,
        )
        .unwrap();
        let one = names.insert(&[&entry]).unwrap();
        let many = names.insert(&[&entry, &entry]).unwrap();
        assert!(Arc::ptr_eq(&one.sql, &names.insert_one), "a single row uses the text rendered at open");
        assert!(Arc::ptr_eq(&many.sql, &names.insert_many), "a batch uses the text rendered at open");
        let columns = ENTRY_COLUMNS.len();
        assert_eq!((one.args.len(), many.args.len()), (columns, columns));
        let prefix = format!(r#"INSERT INTO "pulse"."CommandDeadLetter" ({}) "#, names.select_list);
        assert_eq!(
            one.text(),
            format!(
                r#"{prefix}VALUES ($1::uuid, $2::text, $3::text, $4::text, $5::int8, $6::text, $7::text, $8::text, $9::text, $10::text, $11::text, $12::text, $13::jsonb, $14::int8, $15::timestamptz, $16::timestamptz, $17::int2, $18::text, $19::text, $20::timestamptz, $21::uuid, $22::timestamptz, $23::timestamptz, $24::timestamptz, $25::timestamptz, $26::int8, $27::uuid, $28::text) ON CONFLICT DO NOTHING RETURNING "Id""#
            )
        );
        assert!(one.text().ends_with(r#"ON CONFLICT DO NOTHING RETURNING "Id""#));
        assert!(many.text().starts_with(&format!("{prefix}SELECT * FROM UNNEST($1::uuid[], $2::text[], ")));
    }

    #[test]
    fn query_binds_every_value() {
        let query = EntryQuery {
            scope: Scope::Tenant(TenantId::new("acme'; DROP TABLE x; --").unwrap()),
            filter: EntryFilter {
                statuses: vec![Status::New],
                command_type: Some("orders.create".to_owned()),
                ..EntryFilter::default()
            },
            order: SortOrder::NewestFirst,
            after: None,
            offset: 3,
            limit: 10,
        };
        let statement = names().query(&query).unwrap();
        let text = statement.text();
        assert!(!text.contains("acme"), "{text}");
        assert!(!text.contains("orders.create"), "{text}");
        assert!(
            text.ends_with(
                "WHERE TRUE AND \"Tenant\" = $1 AND \"Status\" IN (0) AND \"CommandType\" = $2 \
             ORDER BY \"OccurredAt\" DESC, \"Id\" DESC OFFSET $3 LIMIT $4"
            ),
            "{text}"
        );
    }

    #[test]
    fn checksums_do_not_depend_on_the_configured_names() {
        let custom =
            Names::new(&SqlIdentifier::new("other").unwrap(), &SqlIdentifier::new("Letters").unwrap());
        let sums = |n: &Names| n.migrations().into_iter().map(|m| m.checksum).collect::<Vec<_>>();
        assert_eq!(sums(&custom), sums(&names()));
        assert_eq!(custom.migrations().len(), MIGRATIONS.len());
    }

    #[test]
    fn checksums_are_pinned() {
        // A released migration never changes (these are the checksums release 0.1.0 recorded).
        // If this fails, add a new migration instead.
        let checksums: Vec<(i64, String)> =
            names().migrations().iter().map(|m| (m.version, m.checksum.to_string())).collect();
        let expected = [
            (1, "64b509f100fc228f"),
            (2, "decc323d0f407d2e"),
            (3, "bd1045f5da5753e2"),
            (4, "682b67419f4b32c1"),
            (5, "97694c96f0f7e9cd"),
        ]
        .map(|(version, checksum)| (version, checksum.to_owned()));
        assert_eq!(checksums, expected);
    }

    #[test]
    fn the_lock_key_depends_on_schema_and_table() {
        let a = Names::new(&SqlIdentifier::new("a").unwrap(), &SqlIdentifier::new("t").unwrap());
        let b = Names::new(&SqlIdentifier::new("b").unwrap(), &SqlIdentifier::new("t").unwrap());
        assert_ne!(a.migration_lock_key(), b.migration_lock_key());
        assert_eq!(a.migration_lock_key(), a.clone().migration_lock_key());
    }
}
