//! Rows to entries, replay requests, statistics and error groups, read by column name.
//!
//! Instants are `timestamptz`, read to the microsecond; integers are `int8` and `int2`, narrowed to
//! the types of the entry; metadata is a JSON object of strings. A stored value that no entry or
//! request can hold is [`Error::corrupt`], never a panic. The other way, from an entry to bound
//! values, is the `Row` of `sql::entries`.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use pulse_extensibility::{
    Actor, CommandDeadLetterStatus, DeadLetterEntry, DeadLetterId, Error, ErrorGroup, Fingerprint,
    ReplayLease, ReplayRequest, ReplayRequestId, Resolution, Result, Statistics, TenantId, Timestamp, Uuid,
    columns, request_columns as rc,
};
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::map;

/// A stored instant.
pub(crate) fn timestamp(value: DateTime<Utc>) -> Timestamp {
    Timestamp::from_micros(value.timestamp_micros())
}

/// The error of a column that cannot be read as the type asked for.
pub(crate) fn read(error: sqlx::Error) -> Error {
    map("read a row", error)
}

/// A stored integer as `T`, or [`Error::corrupt`] when it does not fit.
pub(crate) fn narrow<T: TryFrom<i64>>(column: &str, value: i64) -> Result<T> {
    T::try_from(value).map_err(|_| Error::corrupt(format!("stored {column} {value} is out of range")))
}

/// The entry in `row`, which holds every entry column.
pub(crate) fn entry_from_row(row: &PgRow) -> Result<DeadLetterEntry> {
    let tenant: String = row.try_get(columns::TENANT).map_err(read)?;
    let metadata: serde_json::Value = row.try_get(columns::METADATA).map_err(read)?;
    let metadata: BTreeMap<String, String> = serde_json::from_value(metadata)
        .map_err(|e| Error::corrupt(format!("stored metadata is not a map of strings: {e}")))?;
    let lease_token: Option<Uuid> = row.try_get(columns::LEASE_TOKEN).map_err(read)?;
    let lease_expires_at: Option<DateTime<Utc>> = row.try_get(columns::LEASE_EXPIRES_AT).map_err(read)?;
    let lease = match (lease_token, lease_expires_at) {
        (Some(token), Some(expires_at)) => Some(ReplayLease { token, expires_at: timestamp(expires_at) }),
        (None, None) => None,
        _ => return Err(Error::corrupt("stored lease has a token or an expiry, not both")),
    };
    let resolution: Option<String> = row.try_get(columns::RESOLUTION).map_err(read)?;
    let time = |column: &str| -> Result<Timestamp> {
        Ok(timestamp(row.try_get::<DateTime<Utc>, _>(column).map_err(read)?))
    };
    let optional_time = |column: &str| -> Result<Option<Timestamp>> {
        Ok(row.try_get::<Option<DateTime<Utc>>, _>(column).map_err(read)?.map(timestamp))
    };
    Ok(DeadLetterEntry {
        id: DeadLetterId::from_uuid(row.try_get(columns::ID).map_err(read)?),
        tenant: TenantId::new(tenant)
            .map_err(|e| Error::corrupt(format!("stored tenant is invalid: {e}")))?,
        message_id: row.try_get(columns::MESSAGE_ID).map_err(read)?,
        command_type: row.try_get(columns::COMMAND_TYPE).map_err(read)?,
        command_version: narrow(
            columns::COMMAND_VERSION,
            row.try_get(columns::COMMAND_VERSION).map_err(read)?,
        )?,
        payload: row.try_get(columns::PAYLOAD).map_err(read)?,
        original_payload: row.try_get(columns::ORIGINAL_PAYLOAD).map_err(read)?,
        exception_type: row.try_get(columns::EXCEPTION_TYPE).map_err(read)?,
        exception_message: row.try_get(columns::EXCEPTION_MESSAGE).map_err(read)?,
        exception_details: row.try_get(columns::EXCEPTION_DETAILS).map_err(read)?,
        fingerprint: Fingerprint::from_stored(row.try_get(columns::FINGERPRINT).map_err(read)?),
        source: row.try_get(columns::SOURCE).map_err(read)?,
        metadata,
        attempt_count: narrow(columns::ATTEMPT_COUNT, row.try_get(columns::ATTEMPT_COUNT).map_err(read)?)?,
        first_failed_at: time(columns::FIRST_FAILED_AT)?,
        occurred_at: time(columns::OCCURRED_AT)?,
        status: CommandDeadLetterStatus::from_i16(row.try_get(columns::STATUS).map_err(read)?)?,
        resolution: resolution.as_deref().map(Resolution::from_str).transpose()?,
        note: row.try_get(columns::NOTE).map_err(read)?,
        resolved_at: optional_time(columns::RESOLVED_AT)?,
        lease,
        replay_requested_at: optional_time(columns::REPLAY_REQUESTED_AT)?,
        created_at: time(columns::CREATED_AT)?,
        updated_at: time(columns::UPDATED_AT)?,
        revision: narrow(columns::REVISION, row.try_get(columns::REVISION).map_err(read)?)?,
        replay_request: row
            .try_get::<Option<Uuid>, _>(columns::REPLAY_REQUEST_ID)
            .map_err(read)?
            .map(ReplayRequestId::from_uuid),
        changed_by: actor(row.try_get(columns::CHANGED_BY).map_err(read)?)?,
    })
}

/// A stored actor's name.
fn actor(name: Option<String>) -> Result<Option<Actor>> {
    name.map(Actor::new).transpose().map_err(|e| Error::corrupt(format!("stored actor is invalid: {e}")))
}

/// The replay request in `row`, which holds every request column.
pub(crate) fn request_from_row(row: &PgRow) -> Result<ReplayRequest> {
    let tenant: Option<String> = row.try_get(rc::TENANT).map_err(read)?;
    let per_second: Option<i64> = row.try_get(rc::PER_SECOND).map_err(read)?;
    let per_second = per_second
        .map(|pace| {
            u32::try_from(pace)
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or_else(|| Error::corrupt(format!("stored pace {pace} is out of range")))
        })
        .transpose()?;
    Ok(ReplayRequest {
        id: ReplayRequestId::from_uuid(row.try_get(rc::ID).map_err(read)?),
        tenant: tenant
            .map(TenantId::new)
            .transpose()
            .map_err(|e| Error::corrupt(format!("stored tenant is invalid: {e}")))?,
        selection: row.try_get(rc::SELECTION).map_err(read)?,
        requested_by: actor(row.try_get(rc::REQUESTED_BY).map_err(read)?)?,
        requested_at: timestamp(row.try_get(rc::REQUESTED_AT).map_err(read)?),
        note: row.try_get(rc::NOTE).map_err(read)?,
        per_second,
        requested: narrow(rc::REQUESTED, row.try_get(rc::REQUESTED).map_err(read)?)?,
        cancelled_at: row.try_get::<Option<DateTime<Utc>>, _>(rc::CANCELLED_AT).map_err(read)?.map(timestamp),
        cancelled_by: actor(row.try_get(rc::CANCELLED_BY).map_err(read)?)?,
        cancelled: narrow(rc::CANCELLED, row.try_get(rc::CANCELLED).map_err(read)?)?,
    })
}

/// Statistics from rows of `Status`, `Count`.
pub(crate) fn status_counts(rows: &[PgRow]) -> Result<Statistics> {
    let mut statistics = Statistics::default();
    for row in rows {
        let status = CommandDeadLetterStatus::from_i16(row.try_get(columns::STATUS).map_err(read)?)?;
        let count: i64 = row.try_get("Count").map_err(read)?;
        statistics.add(status, narrow("count", count)?);
    }
    Ok(statistics)
}

/// The entries in `rows`, each of which holds every entry column.
pub(crate) fn entries_from_rows(rows: &[PgRow]) -> Result<Vec<DeadLetterEntry>> {
    rows.iter().map(entry_from_row).collect()
}

/// The error group in `row`, of the columns [`Names::error_groups`](crate::sql::Names::error_groups)
/// returns.
pub(crate) fn error_group_from_row(row: &PgRow) -> Result<ErrorGroup> {
    Ok(ErrorGroup {
        fingerprint: Fingerprint::from_stored(row.try_get("Fingerprint").map_err(read)?),
        command_type: row.try_get(columns::COMMAND_TYPE).map_err(read)?,
        exception_type: row.try_get(columns::EXCEPTION_TYPE).map_err(read)?,
        sample_message: row.try_get(columns::EXCEPTION_MESSAGE).map_err(read)?,
        count: narrow("group count", row.try_get("Count").map_err(read)?)?,
        first_seen: timestamp(row.try_get("FirstSeen").map_err(read)?),
        last_seen: timestamp(row.try_get("LastSeen").map_err(read)?),
    })
}
