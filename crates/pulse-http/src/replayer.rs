//! [`Replayer`]: a runtime in this process that can run a replay now and check an edited
//! payload against its command.

use async_trait::async_trait;
use pulse::{
    DeadLetterEntry, DeadLetterId, DeadLetters, Error, PayloadSerializer, Pulse, ReplayReport, Result,
};

/// Runs replays in this process. Without one, `POST entries/{id}/replay` only requests the
/// replay from the services' workers.
///
/// `dead_letters` is the store as the calling principal may see it; an implementation must not
/// touch an entry outside its scope. [`Pulse`] implements it: give
/// [`AdminApi::with_replayer`](crate::AdminApi::with_replayer) the runtime of the service, over
/// the same store as the API.
#[async_trait]
pub trait Replayer: Send + Sync + 'static {
    /// Replays entry `id` now, through its handler.
    ///
    /// # Errors
    ///
    /// As [`Pulse::replay`]: [`Error::NotFound`] (also for an entry outside `dead_letters`'
    /// scope), [`Error::Dismissed`], [`Error::Conflict`], [`Error::LeaseLost`], the store's error.
    async fn replay(&self, dead_letters: &DeadLetters, id: DeadLetterId) -> Result<ReplayReport>;

    /// Replaces entry `id`'s payload with `payload` after checking that it deserializes into the
    /// entry's command, at the command's current version.
    ///
    /// # Errors
    ///
    /// As [`Pulse::edit_payload`], and [`Error::NotFound`] for an entry outside `dead_letters`'
    /// scope.
    async fn edit_payload(
        &self,
        dead_letters: &DeadLetters,
        id: DeadLetterId,
        payload: String,
    ) -> Result<DeadLetterEntry>;

    /// The current version of command `command_type`, `None` when this runtime has no handler
    /// for it; the dashboard shows whether a replay will upcast an entry's payload.
    fn command_version(&self, command_type: &str) -> Option<u32> {
        let _ = command_type;
        None
    }
}

/// `Error::NotFound` unless `id` is visible in `dead_letters`' scope.
///
/// A [`Pulse`] runs in the scope it was built with, usually every tenant; this keeps a tenant's
/// principal from reaching another tenant's entry through it. An entry's tenant never changes,
/// so the check cannot go stale.
async fn ensure_visible(dead_letters: &DeadLetters, id: DeadLetterId) -> Result<()> {
    dead_letters.get_entry(id).await?.map(drop).ok_or(Error::NotFound { id })
}

#[async_trait]
impl<S: PayloadSerializer + 'static> Replayer for Pulse<S> {
    async fn replay(&self, dead_letters: &DeadLetters, id: DeadLetterId) -> Result<ReplayReport> {
        ensure_visible(dead_letters, id).await?;
        Pulse::replay(self, id).await
    }

    async fn edit_payload(
        &self,
        dead_letters: &DeadLetters,
        id: DeadLetterId,
        payload: String,
    ) -> Result<DeadLetterEntry> {
        ensure_visible(dead_letters, id).await?;
        Pulse::edit_payload(self, id, payload).await
    }

    fn command_version(&self, command_type: &str) -> Option<u32> {
        Pulse::command_version(self, command_type)
    }
}
