//! The one error type of Pulse. Callers match on its variants, never on messages.

use crate::entry::DeadLetterId;
use crate::request::ReplayRequestId;

/// A boxed error from below Pulse: a driver, the file system, a serializer.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Pulse.
///
/// No driver's error type appears here: backends map their driver's errors once, into
/// [`Error::Unavailable`] or [`Error::Backend`], and keep the driver's error as the `source`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No entry with this id is visible in the caller's scope.
    #[error("dead letter {id} not found")]
    NotFound {
        /// The id asked for.
        id: DeadLetterId,
    },

    /// No replay request with this id is visible in the caller's scope.
    #[error("replay request {id} not found")]
    RequestNotFound {
        /// The id asked for.
        id: ReplayRequestId,
    },

    /// The entry was dismissed; it cannot be replayed.
    #[error("dead letter {id} is dismissed and cannot be replayed")]
    Dismissed {
        /// The dismissed entry.
        id: DeadLetterId,
    },

    /// The entry's state does not allow the operation: a replay holds a live lease, or the
    /// entry is terminal and never rolls back.
    #[error("dead letter {id}: {reason}")]
    Conflict {
        /// The entry.
        id: DeadLetterId,
        /// Why the operation conflicts.
        reason: String,
    },

    /// The caller's replay lease expired and another replayer took the entry.
    #[error("replay lease on dead letter {id} was lost")]
    LeaseLost {
        /// The entry.
        id: DeadLetterId,
    },

    /// An argument was rejected. Nothing was written.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field or parameter that was rejected.
        field: &'static str,
        /// Why.
        reason: String,
    },

    /// The configuration cannot work: a bad identifier, a database written by a newer Pulse.
    #[error("invalid configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },

    /// The store cannot be reached right now. Retrying later may succeed.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },

    /// The backend failed.
    #[error("backend error: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// Whether the same call may succeed if retried (a lock timeout, a serialization
        /// failure, a deadlock).
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Option<BoxError>,
    },
}

impl Error {
    /// Whether retrying the same call may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Backend { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid_input(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput { field, reason: reason.into() }
    }

    /// An [`Error::Conflict`] on `id`.
    pub fn conflict(id: DeadLetterId, reason: impl Into<String>) -> Self {
        Self::Conflict { id, reason: reason.into() }
    }

    /// A non-retryable [`Error::Backend`] for stored data that cannot be read back.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::Backend { message: message.into(), retryable: false, source: None }
    }

    /// An [`Error::Backend`] wrapping `source`.
    pub fn backend(message: impl Into<String>, retryable: bool, source: impl Into<BoxError>) -> Self {
        Self::Backend { message: message.into(), retryable, source: Some(source.into()) }
    }

    /// An [`Error::Unavailable`] wrapping `source`.
    pub fn unavailable(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Unavailable { message: message.into(), source: Some(source.into()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_is_part_of_the_error() {
        let io = || std::io::Error::other("reset");
        assert!(Error::unavailable("connection lost", io()).is_retryable());
        assert!(Error::backend("database is locked", true, io()).is_retryable());
        assert!(!Error::backend("syntax", false, io()).is_retryable());
        assert!(!Error::invalid_input("payload", "empty").is_retryable());
    }

    #[test]
    fn messages_are_lowercase_and_keep_the_source() {
        let err = Error::unavailable("connection lost", std::io::Error::other("reset by peer"));
        assert_eq!(err.to_string(), "store unavailable: connection lost");
        let source = std::error::Error::source(&err).unwrap();
        assert_eq!(source.to_string(), "reset by peer");
        assert_eq!(
            Error::invalid_input("payload", "must not be empty").to_string(),
            "invalid payload: must not be empty"
        );
    }
}
