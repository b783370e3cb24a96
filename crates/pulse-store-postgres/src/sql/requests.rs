//! The statements on replay requests: recording one together with the marks on its entries,
//! reading and listing requests, and cancelling one.

use pulse_extensibility::{
    Actor, CommandDeadLetterStatus as Status, EntryFilter, ReplayRequest, ReplayRequestId, Result, Scope,
    Timestamp, columns, request_columns as rc,
};

use super::{Builder, Names, Statement, col, datetime, optional_datetime, status_list};

/// The columns of the replay-request table, in the order [`Names::request_values`] binds them.
const REQUEST_COLUMNS: [&str; 11] = rc::ALL;

/// `"Id", "Tenant", ...`: every request column, quoted.
fn request_cols() -> String {
    REQUEST_COLUMNS.iter().map(|c| col(c)).collect::<Vec<_>>().join(", ")
}

impl Names {
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
}
