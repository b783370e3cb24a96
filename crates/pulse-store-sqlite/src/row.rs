//! Entries to column values and back, in [`crate::sql::COLUMNS`] order.
//!
//! Ids and lease tokens are lowercase hyphenated UUID text, which sorts like the UUID's bytes;
//! instants are INTEGER microseconds since the Unix epoch (UTC); metadata is a JSON object.
//! A stored value that cannot be read back is [`Error::corrupt`], never a panic.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use pulse_extensibility::{
    Actor, CommandDeadLetterStatus, DeadLetterEntry, DeadLetterId, Error, Fingerprint, ReplayLease,
    ReplayRequest, ReplayRequestId, Resolution, Result, TenantId, Timestamp, Uuid,
};
use rusqlite::Row;
use rusqlite::types::{Value, ValueRef};

use crate::sql::COLUMNS;

/// The stored text of an id.
pub(crate) fn id_text(id: DeadLetterId) -> String {
    uuid_text(*id.as_uuid())
}

fn uuid_text(uuid: Uuid) -> String {
    uuid.hyphenated().to_string()
}

fn timestamp(at: Timestamp) -> Value {
    Value::Integer(at.as_micros())
}

fn optional<T>(value: Option<T>, into: impl FnOnce(T) -> Value) -> Value {
    value.map_or(Value::Null, into)
}

fn text(value: impl Into<String>) -> Value {
    Value::Text(value.into())
}

/// The value of every column of `entry`, in [`COLUMNS`] order; its text moves into the values.
///
/// # Errors
///
/// [`Error::Backend`] for a revision beyond SQLite's integers (no entry gets there).
pub(crate) fn entry_values(entry: DeadLetterEntry) -> Result<Vec<Value>> {
    let revision = i64::try_from(entry.revision).map_err(|_| {
        Error::corrupt(format!("revision {} of entry {} is out of range", entry.revision, entry.id))
    })?;
    let metadata = serde_json::to_string(&entry.metadata)
        .map_err(|e| Error::backend("encoding metadata as JSON", false, e))?;
    let values = vec![
        Value::Text(id_text(entry.id)),
        text(entry.tenant),
        optional(entry.message_id, text),
        text(entry.command_type),
        Value::Integer(i64::from(entry.command_version)),
        text(entry.payload),
        optional(entry.original_payload, text),
        text(entry.exception_type),
        text(entry.exception_message),
        optional(entry.exception_details, text),
        text(entry.fingerprint.as_str()),
        optional(entry.source, text),
        Value::Text(metadata),
        Value::Integer(i64::from(entry.attempt_count)),
        timestamp(entry.first_failed_at),
        timestamp(entry.occurred_at),
        Value::Integer(i64::from(entry.status.as_i16())),
        optional(entry.resolution, |resolution| text(resolution.as_str())),
        optional(entry.note, text),
        optional(entry.resolved_at, timestamp),
        optional(entry.lease, |lease| Value::Text(uuid_text(lease.token))),
        optional(entry.lease, |lease| timestamp(lease.expires_at)),
        optional(entry.replay_requested_at, timestamp),
        timestamp(entry.created_at),
        timestamp(entry.updated_at),
        Value::Integer(revision),
        optional(entry.replay_request, |request| Value::Text(uuid_text(*request.as_uuid()))),
        optional(entry.changed_by, text),
    ];
    debug_assert_eq!(values.len(), COLUMNS.len());
    Ok(values)
}

/// Reads the columns of one stored row.
struct Reader<'a, 'r> {
    row: &'a Row<'r>,
}

impl Reader<'_, '_> {
    fn corrupt(&self, index: usize, what: impl std::fmt::Display) -> Error {
        let id = match self.row.get_ref(0) {
            Ok(ValueRef::Text(id)) => String::from_utf8_lossy(id).into_owned(),
            _ => "?".to_owned(),
        };
        Error::corrupt(format!("stored entry {id}: column {}: {what}", COLUMNS[index]))
    }

    fn value(&self, index: usize) -> Result<ValueRef<'_>> {
        self.row.get_ref(index).map_err(|e| self.corrupt(index, format_args!("cannot be read: {e}")))
    }

    fn opt_text(&self, index: usize) -> Result<Option<String>> {
        match self.value(index)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(bytes) => String::from_utf8(bytes.to_vec())
                .map(Some)
                .map_err(|_| self.corrupt(index, "text that is not UTF-8")),
            other => Err(self.corrupt(index, format_args!("{} where text belongs", type_name(other)))),
        }
    }

    fn text(&self, index: usize) -> Result<String> {
        self.opt_text(index)?.ok_or_else(|| self.corrupt(index, "NULL where a value belongs"))
    }

    fn opt_int(&self, index: usize) -> Result<Option<i64>> {
        match self.value(index)? {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(value) => Ok(Some(value)),
            other => Err(self.corrupt(index, format_args!("{} where an integer belongs", type_name(other)))),
        }
    }

    fn int(&self, index: usize) -> Result<i64> {
        self.opt_int(index)?.ok_or_else(|| self.corrupt(index, "NULL where a value belongs"))
    }

    fn int_as<T: TryFrom<i64>>(&self, index: usize) -> Result<T> {
        let value = self.int(index)?;
        T::try_from(value).map_err(|_| self.corrupt(index, format_args!("{value} is out of range")))
    }

    fn opt_timestamp(&self, index: usize) -> Result<Option<Timestamp>> {
        Ok(self.opt_int(index)?.map(Timestamp::from_micros))
    }

    fn timestamp(&self, index: usize) -> Result<Timestamp> {
        Ok(Timestamp::from_micros(self.int(index)?))
    }

    fn opt_uuid(&self, index: usize) -> Result<Option<Uuid>> {
        self.opt_text(index)?
            .map(|text| {
                Uuid::parse_str(&text)
                    .map_err(|_| self.corrupt(index, format_args!("{text:?} is not a UUID")))
            })
            .transpose()
    }
}

/// The name of a stored value's type, as `typeof()` says it.
fn type_name(value: ValueRef<'_>) -> &'static str {
    match value {
        ValueRef::Null => "null",
        ValueRef::Integer(_) => "integer",
        ValueRef::Real(_) => "real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "blob",
    }
}

/// The entry stored in `row`, whose columns are [`COLUMNS`].
///
/// # Errors
///
/// [`Error::corrupt`] for a value no entry can hold.
pub(crate) fn entry_from_row(row: &Row<'_>) -> Result<DeadLetterEntry> {
    let r = Reader { row };
    let id = r.opt_uuid(0)?.ok_or_else(|| r.corrupt(0, "NULL where a value belongs"))?;
    let tenant = r.text(1)?;
    let tenant = TenantId::new(tenant).map_err(|e| r.corrupt(1, e))?;
    let metadata = r.text(12)?;
    let metadata: BTreeMap<String, String> = serde_json::from_str(&metadata)
        .map_err(|e| r.corrupt(12, format_args!("not a JSON string map: {e}")))?;
    let status = r.int(16)?;
    let status = i16::try_from(status)
        .ok()
        .and_then(|status| CommandDeadLetterStatus::from_i16(status).ok())
        .ok_or_else(|| r.corrupt(16, format_args!("unknown status {status}")))?;
    let resolution = r
        .opt_text(17)?
        .map(|text| {
            text.parse::<Resolution>().map_err(|_| r.corrupt(17, format_args!("unknown resolution {text:?}")))
        })
        .transpose()?;
    let lease = match (r.opt_uuid(20)?, r.opt_timestamp(21)?) {
        (Some(token), Some(expires_at)) => Some(ReplayLease { token, expires_at }),
        (None, None) => None,
        _ => return Err(r.corrupt(20, "set without LeaseExpiresAt, or the other way round")),
    };
    Ok(DeadLetterEntry {
        id: DeadLetterId::from_uuid(id),
        tenant,
        message_id: r.opt_text(2)?,
        command_type: r.text(3)?,
        command_version: r.int_as(4)?,
        payload: r.text(5)?,
        original_payload: r.opt_text(6)?,
        exception_type: r.text(7)?,
        exception_message: r.text(8)?,
        exception_details: r.opt_text(9)?,
        fingerprint: Fingerprint::from_stored(r.text(10)?),
        source: r.opt_text(11)?,
        metadata,
        attempt_count: r.int_as(13)?,
        first_failed_at: r.timestamp(14)?,
        occurred_at: r.timestamp(15)?,
        status,
        resolution,
        note: r.opt_text(18)?,
        resolved_at: r.opt_timestamp(19)?,
        lease,
        replay_requested_at: r.opt_timestamp(22)?,
        created_at: r.timestamp(23)?,
        updated_at: r.timestamp(24)?,
        revision: r.int_as(25)?,
        replay_request: r.opt_uuid(26)?.map(ReplayRequestId::from_uuid),
        changed_by: r.opt_text(27)?.map(|name| Actor::new(name).map_err(|e| r.corrupt(27, e))).transpose()?,
    })
}

/// The replay request stored in `row`, whose columns are [`crate::sql::REQUEST_COLUMNS`].
///
/// # Errors
///
/// [`Error::corrupt`] for a value no request can hold.
pub(crate) fn request_from_row(row: &Row<'_>) -> Result<ReplayRequest> {
    let r = Reader { row };
    let corrupt = |what: String| Error::corrupt(format!("stored replay request: {what}"));
    let id = r.opt_uuid(0)?.ok_or_else(|| corrupt("NULL id".to_owned()))?;
    let tenant = r.opt_text(1)?.map(TenantId::new).transpose().map_err(|e| corrupt(e.to_string()))?;
    let actor = |index| r.opt_text(index)?.map(Actor::new).transpose().map_err(|e| corrupt(e.to_string()));
    let per_second = r
        .opt_int(6)?
        .map(|pace| {
            u32::try_from(pace).ok().and_then(NonZeroU32::new).ok_or_else(|| corrupt(format!("pace {pace}")))
        })
        .transpose()?;
    Ok(ReplayRequest {
        id: ReplayRequestId::from_uuid(id),
        tenant,
        selection: r.text(2)?,
        requested_by: actor(3)?,
        requested_at: r.timestamp(4)?,
        note: r.opt_text(5)?,
        per_second,
        requested: count(r.int(7)?)?,
        cancelled_at: r.opt_timestamp(8)?,
        cancelled_by: actor(9)?,
        cancelled: count(r.int(10)?)?,
    })
}

/// The id stored as `text`.
///
/// # Errors
///
/// [`Error::corrupt`] when it is not a UUID.
pub(crate) fn parse_id(text: &str) -> Result<DeadLetterId> {
    Uuid::parse_str(text)
        .map(DeadLetterId::from_uuid)
        .map_err(|_| Error::corrupt(format!("stored id {text:?} is not a UUID")))
}

/// A stored count as `u64`.
///
/// # Errors
///
/// [`Error::corrupt`] for a negative count.
pub(crate) fn count(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::corrupt(format!("negative count {value}")))
}
