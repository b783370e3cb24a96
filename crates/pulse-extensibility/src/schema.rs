//! Schema constants shared by every backend, and the validated SQL identifier.
//!
//! Schema and table names reach SQL only through [`SqlIdentifier`], which validates them once
//! and quotes them once.

use std::fmt;

use crate::error::{Error, Result};

/// The schema Pulse uses when none is configured.
pub const DEFAULT_SCHEMA: &str = "pulse";

/// The table Pulse uses when none is configured.
pub const DEFAULT_TABLE: &str = "CommandDeadLetter";

/// The most characters a command type may have.
pub const MAX_COMMAND_TYPE_LEN: usize = 500;

/// The most characters an exception type keeps; longer ones are truncated.
pub const MAX_EXCEPTION_TYPE_LEN: usize = 500;

/// The most characters an exception message keeps; longer ones are truncated.
pub const MAX_EXCEPTION_MESSAGE_LEN: usize = 16 * 1024;

/// The most characters exception details keep; longer ones are truncated.
pub const MAX_EXCEPTION_DETAILS_LEN: usize = 64 * 1024;

/// The most characters a tenant, message id, source, or metadata key may have.
pub const MAX_KEY_LEN: usize = 500;

/// The most characters an operator's note may have.
pub const MAX_NOTE_LEN: usize = 4000;

/// The largest payload accepted by default, in bytes.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1024 * 1024;

/// The most bytes a SQL identifier may have (PostgreSQL's limit).
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Column names of the dead-letter table, the same on every backend.
pub mod columns {
    /// Primary key, a time-ordered UUID v7.
    pub const ID: &str = "Id";
    /// The tenant the entry belongs to.
    pub const TENANT: &str = "Tenant";
    /// The idempotency key: the failed message's id, when it has one.
    pub const MESSAGE_ID: &str = "MessageId";
    /// The stable name of the command.
    pub const COMMAND_TYPE: &str = "CommandType";
    /// The version of the command the payload was written with.
    pub const COMMAND_VERSION: &str = "CommandVersion";
    /// The serialized command.
    pub const PAYLOAD: &str = "Payload";
    /// The payload as first captured, kept when an operator edits it.
    pub const ORIGINAL_PAYLOAD: &str = "OriginalPayload";
    /// The type of the error that failed the command.
    pub const EXCEPTION_TYPE: &str = "ExceptionType";
    /// The error's message.
    pub const EXCEPTION_MESSAGE: &str = "ExceptionMessage";
    /// The error's source chain or backtrace.
    pub const EXCEPTION_DETAILS: &str = "ExceptionDetails";
    /// The error-group fingerprint.
    pub const FINGERPRINT: &str = "Fingerprint";
    /// Which handler or queue failed.
    pub const SOURCE: &str = "Source";
    /// String map: correlation id, causation id, trace id, ...
    pub const METADATA: &str = "Metadata";
    /// How many times the command failed.
    pub const ATTEMPT_COUNT: &str = "AttemptCount";
    /// When the command failed first.
    pub const FIRST_FAILED_AT: &str = "FirstFailedAt";
    /// When the command failed last.
    pub const OCCURRED_AT: &str = "OccurredAt";
    /// The [`crate::CommandDeadLetterStatus`] as an integer.
    pub const STATUS: &str = "Status";
    /// The [`crate::Resolution`], for terminal entries.
    pub const RESOLUTION: &str = "Resolution";
    /// The operator's note.
    pub const NOTE: &str = "Note";
    /// When the entry was resolved or dismissed.
    pub const RESOLVED_AT: &str = "ResolvedAt";
    /// The replay lease token.
    pub const LEASE_TOKEN: &str = "LeaseToken";
    /// When the replay lease expires.
    pub const LEASE_EXPIRES_AT: &str = "LeaseExpiresAt";
    /// When a replay was requested.
    pub const REPLAY_REQUESTED_AT: &str = "ReplayRequestedAt";
    /// When the entry was created.
    pub const CREATED_AT: &str = "CreatedAt";
    /// When the entry last changed.
    pub const UPDATED_AT: &str = "UpdatedAt";
    /// Optimistic-concurrency revision, incremented by every change.
    pub const REVISION: &str = "Revision";
    /// The latest replay request that asked for the entry.
    pub const REPLAY_REQUEST_ID: &str = "ReplayRequestId";
    /// Who made the latest operator change.
    pub const CHANGED_BY: &str = "ChangedBy";

    /// Every column, in the order backends select and insert them. The last two are set only by
    /// an operator's change (a replay request, an actor): a freshly stored entry has them NULL.
    pub const ALL: [&str; 28] = [
        ID,
        TENANT,
        MESSAGE_ID,
        COMMAND_TYPE,
        COMMAND_VERSION,
        PAYLOAD,
        ORIGINAL_PAYLOAD,
        EXCEPTION_TYPE,
        EXCEPTION_MESSAGE,
        EXCEPTION_DETAILS,
        FINGERPRINT,
        SOURCE,
        METADATA,
        ATTEMPT_COUNT,
        FIRST_FAILED_AT,
        OCCURRED_AT,
        STATUS,
        RESOLUTION,
        NOTE,
        RESOLVED_AT,
        LEASE_TOKEN,
        LEASE_EXPIRES_AT,
        REPLAY_REQUESTED_AT,
        CREATED_AT,
        UPDATED_AT,
        REVISION,
        REPLAY_REQUEST_ID,
        CHANGED_BY,
    ];
}

/// Column names of the replay-request table, the same on every backend.
pub mod request_columns {
    /// Primary key, a time-ordered UUID v7.
    pub const ID: &str = "Id";
    /// The tenant whose handle made the request; NULL across all tenants.
    pub const TENANT: &str = "Tenant";
    /// What was asked for, for people.
    pub const SELECTION: &str = "Selection";
    /// Who asked.
    pub const REQUESTED_BY: &str = "RequestedBy";
    /// When.
    pub const REQUESTED_AT: &str = "RequestedAt";
    /// Why.
    pub const NOTE: &str = "Note";
    /// The pace, in replay starts per second.
    pub const PER_SECOND: &str = "PerSecond";
    /// How many entries it marked.
    pub const REQUESTED: &str = "Requested";
    /// When it was cancelled.
    pub const CANCELLED_AT: &str = "CancelledAt";
    /// Who cancelled it.
    pub const CANCELLED_BY: &str = "CancelledBy";
    /// How many entries the cancellation took it from.
    pub const CANCELLED: &str = "Cancelled";

    /// Every column, in the order backends select and insert them.
    pub const ALL: [&str; 11] = [
        ID,
        TENANT,
        SELECTION,
        REQUESTED_BY,
        REQUESTED_AT,
        NOTE,
        PER_SECOND,
        REQUESTED,
        CANCELLED_AT,
        CANCELLED_BY,
        CANCELLED,
    ];
}

/// A schema or table name that is safe to put into SQL.
///
/// Valid names start with an ASCII letter or `_`, continue with ASCII letters, digits or `_`,
/// and have at most [`MAX_IDENTIFIER_LEN`] bytes.
/// Backends render it only through [`SqlIdentifier::quoted`].
///
/// # Examples
///
/// ```
/// use pulse_extensibility::SqlIdentifier;
///
/// let table = SqlIdentifier::new("CommandDeadLetter")?;
/// assert_eq!(table.quoted(), "\"CommandDeadLetter\"");
/// assert!(SqlIdentifier::new("x; DROP TABLE y").is_err());
/// # Ok::<(), pulse_extensibility::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SqlIdentifier(String);

impl SqlIdentifier {
    /// Validates `name`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the name is empty, too long, or has a character other than
    /// ASCII letters, digits and `_`, or starts with a digit.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let invalid = |reason: &str| {
            Err(Error::InvalidConfig { reason: format!("invalid SQL identifier {name:?}: {reason}") })
        };
        let Some(first) = name.chars().next() else {
            return invalid("it is empty");
        };
        if name.len() > MAX_IDENTIFIER_LEN {
            return invalid("it is longer than 63 bytes");
        }
        if !(first.is_ascii_alphabetic() || first == '_') {
            return invalid("it must start with an ASCII letter or '_'");
        }
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return invalid("only ASCII letters, digits and '_' are allowed");
        }
        Ok(Self(name))
    }

    /// The default schema, `pulse`.
    pub fn default_schema() -> Self {
        Self(DEFAULT_SCHEMA.to_owned())
    }

    /// The default table, `CommandDeadLetter`.
    pub fn default_table() -> Self {
        Self(DEFAULT_TABLE.to_owned())
    }

    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name in double quotes, ready for SQL. Validation rules out quotes inside the name.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Debug for SqlIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SqlIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_validated() {
        for good in ["pulse", "_x", "CommandDeadLetter", "a1_b2", &"a".repeat(63)] {
            assert_eq!(SqlIdentifier::new(good).unwrap().as_str(), good);
        }
        for bad in ["", "1abc", "a-b", "a b", "a\"b", "é", "x;drop", &"a".repeat(64)] {
            assert!(
                matches!(SqlIdentifier::new(bad), Err(Error::InvalidConfig { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn quoting_wraps_in_double_quotes() {
        assert_eq!(SqlIdentifier::default_table().quoted(), "\"CommandDeadLetter\"");
    }
}
