//! The dead-letter entry, the input that creates one, and the small types it is made of.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::request::{Actor, ReplayRequestId};
use crate::schema::MAX_KEY_LEN;
use crate::status::{CommandDeadLetterStatus, Resolution};
use crate::time::Timestamp;

/// A UUID v7 for `at`: UUIDs made in one process are strictly increasing, even within one
/// millisecond.
pub(crate) fn uuid_v7_at(at: Timestamp) -> Uuid {
    static CONTEXT: Mutex<uuid::ContextV7> = Mutex::new(uuid::ContextV7::new());
    let micros = at.as_micros().max(0).unsigned_abs();
    let nanos = u32::try_from(micros % 1_000_000 * 1_000).expect("below one second");
    Uuid::new_v7(uuid::Timestamp::from_unix(&CONTEXT, micros / 1_000_000, nanos))
}

/// A time-ordered id type over a UUID v7: `new_at`, `from_uuid`, `as_uuid`, the UUID's text for
/// `Debug` and `Display`, and `FromStr` whose error is `InvalidInput` on `$field`.
macro_rules! uuid_v7_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh id for something made at `at`. Ids made in one process are strictly
            /// increasing, even within one millisecond.
            pub fn new_at(at: $crate::time::Timestamp) -> Self {
                Self($crate::entry::uuid_v7_at(at))
            }

            /// Wraps a stored UUID.
            pub const fn from_uuid(uuid: uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID.
            pub const fn as_uuid(&self) -> &uuid::Uuid {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::Error;

            fn from_str(s: &str) -> $crate::error::Result<Self> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|e| $crate::error::Error::invalid_input($field, format!("not a UUID: {e}")))
            }
        }
    };
}
pub(crate) use uuid_v7_id;

uuid_v7_id!(
    /// The id of an entry: a UUID v7, so ids sort by creation time.
    DeadLetterId,
    "id"
);

/// The tenant an entry belongs to: non-empty, at most 500 characters, no control characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// The tenant of entries stored without one.
    pub const DEFAULT: &'static str = "default";

    /// Validates `tenant`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or over-long tenant, or one with a control character.
    pub fn new(tenant: impl Into<String>) -> Result<Self> {
        let tenant = tenant.into();
        let reason = if tenant.is_empty() {
            "must not be empty"
        } else if tenant.chars().count() > MAX_KEY_LEN {
            "must have at most 500 characters"
        } else if tenant.chars().any(char::is_control) {
            "must not contain control characters"
        } else {
            return Ok(Self(tenant));
        };
        Err(Error::invalid_input("tenant", reason))
    }

    /// The tenant's name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self(Self::DEFAULT.to_owned())
    }
}

impl fmt::Debug for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = Error;

    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

impl From<TenantId> for String {
    fn from(value: TenantId) -> Self {
        value.0
    }
}

/// The error-group key of an entry: 16 lowercase hex digits. See [`crate::fingerprint`].
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Wraps a stored fingerprint.
    pub fn from_stored(value: String) -> Self {
        Self(value)
    }

    /// The fingerprint's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a command failed: the error's type, message and details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The error's type name, truncated to 500 characters when stored.
    pub exception_type: String,
    /// The error's message.
    pub exception_message: String,
    /// The error's source chain or backtrace.
    pub exception_details: Option<String>,
}

impl Failure {
    /// A failure with a type and a message and no details.
    pub fn new(exception_type: impl Into<String>, exception_message: impl Into<String>) -> Self {
        Self {
            exception_type: exception_type.into(),
            exception_message: exception_message.into(),
            exception_details: None,
        }
    }

    /// The failure `error` describes: its type name, its message, and its source chain as
    /// details (one `caused by: ...` line per source).
    pub fn from_error<E: std::error::Error + 'static>(error: &E) -> Self {
        let mut chain = String::new();
        let mut source = error.source();
        while let Some(cause) = source {
            if !chain.is_empty() {
                chain.push('\n');
            }
            chain.push_str("caused by: ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        Self {
            exception_type: std::any::type_name::<E>().to_owned(),
            exception_message: error.to_string(),
            exception_details: (!chain.is_empty()).then_some(chain),
        }
    }

    /// Sets the details.
    #[must_use]
    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.exception_details = Some(details.into());
        self
    }
}

/// What a service hands Pulse when a command finally fails.
///
/// # Examples
///
/// ```
/// use pulse_extensibility::{Failure, NewDeadLetter};
///
/// let entry = NewDeadLetter::new(
///     "orders.create",
///     r#"{"order_id":42}"#,
///     Failure::new("TimeoutError", "order 42 timed out after 30s"),
/// )
/// .message_id("msg-42")
/// .source("orders-worker")
/// .metadata("correlation_id", "c-1")
/// .attempt_count(3);
/// assert_eq!(entry.attempt_count, 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeadLetter {
    /// The tenant; [`TenantId::DEFAULT`] unless set.
    pub tenant: TenantId,
    /// The idempotency key: storing a second entry with the same tenant and message id stores
    /// nothing and returns the first entry's id.
    pub message_id: Option<String>,
    /// The command's stable name, 1 to 500 characters.
    pub command_type: String,
    /// The version of the command the payload was written with, at least 1.
    pub command_version: u32,
    /// The serialized command: non-empty, no NUL, at most the configured size.
    pub payload: String,
    /// Why the command failed.
    pub failure: Failure,
    /// Which handler or queue failed.
    pub source: Option<String>,
    /// Correlation id, causation id, trace id, ...: keys non-empty.
    pub metadata: BTreeMap<String, String>,
    /// How many times the command failed, at least 1.
    pub attempt_count: u32,
    /// When the command failed first; now unless set. Must not be in the future.
    pub first_failed_at: Option<Timestamp>,
}

impl NewDeadLetter {
    /// An entry for `command_type` with `payload`, failed once with `failure`.
    pub fn new(command_type: impl Into<String>, payload: impl Into<String>, failure: Failure) -> Self {
        Self {
            tenant: TenantId::default(),
            message_id: None,
            command_type: command_type.into(),
            command_version: 1,
            payload: payload.into(),
            failure,
            source: None,
            metadata: BTreeMap::new(),
            attempt_count: 1,
            first_failed_at: None,
        }
    }

    /// Sets the tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: TenantId) -> Self {
        self.tenant = tenant;
        self
    }

    /// Sets the idempotency key.
    #[must_use]
    pub fn message_id(mut self, message_id: impl Into<String>) -> Self {
        self.message_id = Some(message_id.into());
        self
    }

    /// Sets the command version.
    #[must_use]
    pub fn command_version(mut self, version: u32) -> Self {
        self.command_version = version;
        self
    }

    /// Sets the source.
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Adds one metadata pair.
    #[must_use]
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the attempt count.
    #[must_use]
    pub fn attempt_count(mut self, attempts: u32) -> Self {
        self.attempt_count = attempts;
        self
    }

    /// Sets when the command failed first.
    #[must_use]
    pub fn first_failed_at(mut self, at: Timestamp) -> Self {
        self.first_failed_at = Some(at);
        self
    }
}

/// The right to finish one replay: who holds the entry, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReplayLease {
    /// Identifies the holder; a finish must present it.
    pub token: Uuid,
    /// After this instant another replayer may take the entry.
    pub expires_at: Timestamp,
}

impl ReplayLease {
    /// A fresh lease that expires at `expires_at`.
    pub fn new(expires_at: Timestamp) -> Self {
        Self { token: Uuid::new_v4(), expires_at }
    }

    /// Whether the lease still holds at `now`.
    pub fn is_live_at(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

/// A stored dead letter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterEntry {
    /// The id, time-ordered.
    pub id: DeadLetterId,
    /// The tenant.
    pub tenant: TenantId,
    /// The idempotency key.
    pub message_id: Option<String>,
    /// The command's stable name.
    pub command_type: String,
    /// The version of the command the payload was written with.
    pub command_version: u32,
    /// The serialized command.
    pub payload: String,
    /// The payload as first captured, when an operator has edited it since.
    pub original_payload: Option<String>,
    /// The type of the latest error.
    pub exception_type: String,
    /// The message of the latest error.
    pub exception_message: String,
    /// The source chain or backtrace of the latest error.
    pub exception_details: Option<String>,
    /// The error-group key.
    pub fingerprint: Fingerprint,
    /// Which handler or queue failed.
    pub source: Option<String>,
    /// Correlation id, causation id, trace id, ...
    pub metadata: BTreeMap<String, String>,
    /// How many times the command failed, at least 1.
    pub attempt_count: u32,
    /// When the command failed first.
    pub first_failed_at: Timestamp,
    /// When the command failed last.
    pub occurred_at: Timestamp,
    /// Where the entry stands.
    pub status: CommandDeadLetterStatus,
    /// Why it left New, for Resolved and Dismissed entries.
    pub resolution: Option<Resolution>,
    /// The operator's note.
    pub note: Option<String>,
    /// When it was resolved or dismissed.
    pub resolved_at: Option<Timestamp>,
    /// The replay lease, while Replaying.
    pub lease: Option<ReplayLease>,
    /// While a replay is requested: the instant from which it may start (when it was
    /// requested, or its slot in a paced request). Cleared when a replay finishes.
    pub replay_requested_at: Option<Timestamp>,
    /// The latest request that asked for this entry's replay; kept after the replay finishes, so
    /// the request's progress can count how it ended. Cleared by dismiss, resolve and cancel.
    pub replay_request: Option<ReplayRequestId>,
    /// Who made the latest operator change (request, dismiss, resolve, edit), when known.
    pub changed_by: Option<Actor>,
    /// When the entry was stored.
    pub created_at: Timestamp,
    /// When the entry last changed.
    pub updated_at: Timestamp,
    /// Incremented by every change; backends compare it to apply changes atomically.
    pub revision: u64,
}

/// What storing one entry did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreReceipt {
    /// The stored entry, or the entry that already had this message id.
    pub id: DeadLetterId,
    /// `true` when nothing was written because the message id was already stored.
    pub duplicate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_increase_within_one_millisecond() {
        let at = Timestamp::from_micros(1_767_225_600_000_000);
        let ids: Vec<_> = (0..1000).map(|_| DeadLetterId::new_at(at)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(ids[0].as_uuid().get_version_num(), 7);
    }

    #[test]
    fn tenants_are_validated() {
        assert_eq!(TenantId::new("acme").unwrap().as_str(), "acme");
        assert_eq!(TenantId::default().as_str(), "default");
        for bad in [String::new(), "a\nb".to_owned(), "x".repeat(501)] {
            assert!(matches!(TenantId::new(bad), Err(Error::InvalidInput { field: "tenant", .. })));
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("connection reset")]
    struct Inner;

    #[derive(Debug, thiserror::Error)]
    #[error("order 42 failed")]
    struct Outer(#[source] Inner);

    #[test]
    fn failure_from_error_keeps_the_source_chain() {
        let failure = Failure::from_error(&Outer(Inner));
        assert_eq!(
            failure,
            Failure {
                exception_type: "pulse_extensibility::entry::tests::Outer".to_owned(),
                exception_message: "order 42 failed".to_owned(),
                exception_details: Some("caused by: connection reset".to_owned()),
            }
        );
    }
}
