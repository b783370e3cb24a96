//! [`HandlerError`]: what a handler returns when a command fails, transient or permanent.

use std::error::Error as StdError;
use std::fmt;

use pulse_extensibility::{BoxError, Failure};

/// A handler's error: the original error, kept whole, and whether retrying can help.
///
/// Any error converts into a transient `HandlerError` with `?`; wrap it with
/// [`HandlerError::permanent`] when retrying cannot help (a validation failure, a missing
/// record), so the command is dead-lettered at once.
pub struct HandlerError {
    error: BoxError,
    type_name: &'static str,
    permanent: bool,
}

impl HandlerError {
    /// An error that retrying may cure.
    pub fn transient<E: StdError + Send + Sync + 'static>(error: E) -> Self {
        Self { error: Box::new(error), type_name: std::any::type_name::<E>(), permanent: false }
    }

    /// An error that retrying cannot cure: the command is dead-lettered without retries.
    pub fn permanent<E: StdError + Send + Sync + 'static>(error: E) -> Self {
        Self { permanent: true, ..Self::transient(error) }
    }

    /// Whether the handler marked the error permanent.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The original error's type name.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The original error.
    pub fn get_ref(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }

    /// The original error, if it is an `E`.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        self.error.downcast_ref()
    }

    /// The original error, unwrapped.
    pub fn into_inner(self) -> BoxError {
        self.error
    }

    /// The failure to record: the original error's type, message and source chain.
    pub fn to_failure(&self) -> Failure {
        let mut chain = Vec::new();
        let mut source = self.error.source();
        while let Some(cause) = source {
            chain.push(format!("caused by: {cause}"));
            source = cause.source();
        }
        let failure = Failure::new(self.type_name, self.error.to_string());
        if chain.is_empty() { failure } else { failure.with_details(chain.join("\n")) }
    }
}

impl<E: StdError + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::transient(error)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("type_name", &self.type_name)
            .field("permanent", &self.permanent)
            .field("error", &self.error)
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

/// Failures Pulse itself records when a replay cannot reach the handler.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// No handler is registered for the stored command type.
    #[error("no handler is registered for command type {command_type:?}")]
    UnknownCommandType {
        /// The stored command type.
        command_type: String,
    },
    /// The stored payload does not deserialize into the command.
    #[error("payload of {command_type:?} does not deserialize: {reason}")]
    UndeserializablePayload {
        /// The command type.
        command_type: String,
        /// What the serializer said.
        reason: String,
    },
    /// No chain of upcasters leads from the stored version to the current one.
    #[error("no upcaster takes {command_type:?} from version {from} towards version {current}")]
    NoUpcastPath {
        /// The command type.
        command_type: String,
        /// The version with no upcaster registered.
        from: u32,
        /// The command's current version.
        current: u32,
    },
    /// An upcaster rejected the payload.
    #[error("upcasting {command_type:?} from version {from} failed: {reason}")]
    UpcastFailed {
        /// The command type.
        command_type: String,
        /// The version being upcast.
        from: u32,
        /// What the upcaster said.
        reason: String,
    },
}

impl ReplayError {
    /// The failure recorded on the entry.
    pub(crate) fn failure(&self) -> Failure {
        let kind = match self {
            Self::UnknownCommandType { .. } => "pulse::UnknownCommandType",
            Self::UndeserializablePayload { .. } => "pulse::UndeserializablePayload",
            Self::NoUpcastPath { .. } => "pulse::NoUpcastPath",
            Self::UpcastFailed { .. } => "pulse::UpcastFailed",
        };
        Failure::new(kind, self.to_string())
    }
}
