//! The statements on entries: the insert, reads by id and by filter, the compare-and-swap, counts
//! and the histogram, claims, purges, statistics and error groups.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use pulse_extensibility::{
    CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetterId, EntryFilter, EntryQuery, ReplayLease,
    Resolution, Result, Scope, SortOrder, TimeBuckets, Timestamp, Uuid, columns,
};

use super::{
    Bound, Builder, ENTRY_COLUMNS, Names, Statement, col, datetime, metadata, optional_datetime, revision,
    status_list,
};

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

/// `ty` of an array type, `text` of `text[]`.
fn scalar(ty: &str) -> &str {
    ty.strip_suffix("[]").unwrap_or(ty)
}

/// The two inserts into `entries` (the qualified table), whose columns are `select_list`,
/// rendered once per store: one entry as one row of parameters, and a batch as one array per
/// column.
pub(super) fn inserts(entries: &str, select_list: &str) -> (Arc<str>, Arc<str>) {
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
    (insert(&|ty| scalar(ty).to_owned(), "VALUES "), insert(&|ty| ty.to_owned(), "SELECT * FROM UNNEST"))
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
    pub(super) fn push_scope(&self, b: &mut Builder, scope: &Scope) -> Result<()> {
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
    pub(super) fn push_filter(&self, b: &mut Builder, filter: &EntryFilter) -> Result<()> {
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
}

#[cfg(test)]
mod tests {
    use pulse_extensibility::TenantId;
    use sqlx::Arguments as _;

    use super::*;

    fn names() -> Names {
        Names::canonical()
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
            filter: EntryFilter::default().statuses([Status::New]).command_type("orders.create"),
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
}
