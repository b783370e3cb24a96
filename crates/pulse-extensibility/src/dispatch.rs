//! Running a stored command again.

use async_trait::async_trait;

use crate::entry::{DeadLetterEntry, Failure};

/// Runs a stored command: replay goes through it.
///
/// An implementation looks up the handler for `entry.command_type`, deserializes the payload and
/// runs it. It returns the [`Failure`] to record when the command fails again.
#[async_trait]
pub trait CommandDispatcher: Send + Sync {
    /// Runs the command stored in `entry`.
    ///
    /// # Errors
    ///
    /// The failure to record on the entry: an unknown command type, a payload that does not
    /// deserialize, or the handler's own error.
    async fn dispatch(&self, entry: &DeadLetterEntry) -> Result<(), Failure>;
}
