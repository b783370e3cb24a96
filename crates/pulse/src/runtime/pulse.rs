//! [`Pulse`]: run typed commands with retries, capture the ones that fail for good, replay them.

use std::fmt;
use std::sync::Arc;

use pulse_extensibility::{
    DeadLetterEntry, DeadLetterId, DeadLetters, Error, JsonSerializer, NewDeadLetter, PayloadSerializer,
    ReplayReport, ReplayTicket, Result, Timestamp,
};
use tracing::Instrument;

use super::command::{Command, Envelope};
use super::handler_error::{HandlerError, ReplayError};
use super::registry::{CommandRegistry, TypedHandler};
use super::replay::{self, REPLAYING};
use super::retry::RetryPolicy;

/// The runtime a service holds: it runs commands through their registered handlers, retries
/// them, and when a command fails for good stores it as a dead letter and hands the caller the
/// handler's own error. Replays run through the same handlers.
///
/// Cheap to clone.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// use pulse::{Command, CommandRegistry, DeadLetters, MemoryStore, Pulse, ReplayReport, RetryPolicy};
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct SendInvoice {
///     invoice: u64,
/// }
///
/// impl Command for SendInvoice {
///     const NAME: &'static str = "invoices.send";
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> anyhow::Result<()> {
/// let mut registry = CommandRegistry::new();
/// registry.register(|invoice: SendInvoice| async move {
///     anyhow::ensure!(invoice.invoice != 13, "mail server refused invoice {}", invoice.invoice);
///     Ok(())
/// });
/// let pulse = Pulse::new(DeadLetters::new(Arc::new(MemoryStore::new())), registry)
///     .with_retry(RetryPolicy::default().max_attempts(1));
///
/// pulse.dispatch(SendInvoice { invoice: 7 }).await?;
/// assert!(pulse.dispatch(SendInvoice { invoice: 13 }).await.is_err());
///
/// // The failure is kept; replaying it runs the handler again (and fails again here).
/// let page = pulse.dead_letters().list(Default::default()).await?;
/// let report = pulse.replay(page.entries[0].id).await?;
/// assert!(matches!(report, ReplayReport::Failed { .. }));
/// # Ok(())
/// # }
/// ```
pub struct Pulse<S = JsonSerializer> {
    dead_letters: DeadLetters,
    registry: Arc<CommandRegistry<S>>,
    retry: RetryPolicy,
}

impl<S> Clone for Pulse<S> {
    fn clone(&self) -> Self {
        Self { dead_letters: self.dead_letters.clone(), registry: self.registry.clone(), retry: self.retry }
    }
}

impl<S> fmt::Debug for Pulse<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pulse")
            .field("dead_letters", &self.dead_letters)
            .field("registry", &self.registry)
            .field("retry", &self.retry)
            .finish()
    }
}

impl<S: PayloadSerializer + 'static> Pulse<S> {
    /// A runtime storing dead letters in `dead_letters` and running `registry`'s handlers, with the
    /// default [`RetryPolicy`].
    pub fn new(dead_letters: DeadLetters, registry: CommandRegistry<S>) -> Self {
        let registry = Arc::new(registry);
        Self { dead_letters, registry, retry: RetryPolicy::default() }
    }

    /// Retries commands without a policy of their own with `policy`.
    #[must_use]
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The dead-letter store, for reads and operator actions; its replays use this runtime's
    /// handlers.
    pub fn dead_letters(&self) -> &DeadLetters {
        &self.dead_letters
    }

    /// The current version of command `command_type`, `None` when this runtime has no handler
    /// for it. A replay of an entry stored at an older version runs its payload through the
    /// registered upcasters first.
    pub fn command_version(&self, command_type: &str) -> Option<u32> {
        self.registry.version(command_type)
    }

    /// The dispatcher replays run through: the registry.
    pub(crate) fn dispatcher(&self) -> Arc<dyn pulse_extensibility::CommandDispatcher> {
        self.registry.clone()
    }

    /// Runs `command` with no message id, in the default tenant. See [`Self::dispatch_with`].
    ///
    /// # Errors
    ///
    /// The handler's error, after the retries, once the command is stored as a dead letter.
    pub async fn dispatch<C: Command>(&self, command: C) -> Result<(), HandlerError> {
        self.dispatch_with(command, Envelope::default()).await
    }

    /// Runs `command` through its handler, retrying as its policy says. When it fails for good
    /// (out of attempts, or a permanent error), stores it as a dead letter and returns the
    /// handler's error unchanged. If storing fails, that is logged at error level and the
    /// handler's error is still returned.
    ///
    /// Inside a replay, the command runs once and its failure is left to the replay, which records
    /// it on the replayed entry.
    ///
    /// # Errors
    ///
    /// The handler's error. A command type with no registered handler fails permanently.
    pub async fn dispatch_with<C: Command>(
        &self,
        command: C,
        envelope: Envelope,
    ) -> Result<(), HandlerError> {
        let span = tracing::info_span!("pulse.dispatch", command_type = C::NAME, tenant = %envelope.tenant);
        self.dispatch_in_span(command, envelope).instrument(span).await
    }

    async fn dispatch_in_span<C: Command>(&self, command: C, envelope: Envelope) -> Result<(), HandlerError> {
        let Some(handler) = self.handler::<C>() else {
            let error =
                HandlerError::permanent(ReplayError::UnknownCommandType { command_type: C::NAME.to_owned() });
            self.capture(&command, envelope, &error, 1, self.dead_letters.now()).await;
            return Err(error);
        };
        if REPLAYING.try_with(|_| ()).is_ok() {
            return handler(command).await;
        }
        let policy = self.registry.get(C::NAME).and_then(|r| r.retry).unwrap_or(self.retry);
        let mut first_failed_at = None;
        let mut attempt = 1;
        loop {
            let Err(error) = handler(command.clone()).await else {
                return Ok(());
            };
            let failed_at = *first_failed_at.get_or_insert_with(|| self.dead_letters.now());
            if error.is_permanent() || attempt >= policy.attempts() {
                self.capture(&command, envelope, &error, attempt, failed_at).await;
                return Err(error);
            }
            tracing::debug!(command_type = C::NAME, attempt, error = %error, "command failed; retrying");
            // The thread's generator, seeded once per thread: a dispatch that succeeds, or fails
            // for good at once, draws nothing.
            let backoff = policy.backoff(attempt, &mut rand::rng());
            tokio::time::sleep(backoff).await;
            attempt += 1;
        }
    }

    fn handler<C: Command>(&self) -> Option<TypedHandler<C>> {
        self.registry.get(C::NAME)?.typed.downcast_ref::<TypedHandler<C>>().cloned()
    }

    async fn capture<C: Command>(
        &self,
        command: &C,
        envelope: Envelope,
        error: &HandlerError,
        attempts: u32,
        first_failed_at: Timestamp,
    ) {
        let stored = async {
            let payload = self.registry.serializer().serialize(command)?;
            let mut input = NewDeadLetter::new(C::NAME, payload, error.to_failure())
                .command_version(C::VERSION)
                .tenant(envelope.tenant)
                .attempt_count(attempts)
                .first_failed_at(first_failed_at);
            input.message_id = envelope.message_id;
            input.source = envelope.source;
            input.metadata = envelope.metadata;
            self.dead_letters.store(input).await
        }
        .await;
        match stored {
            Ok(receipt) => tracing::warn!(
                id = %receipt.id,
                duplicate = receipt.duplicate,
                command_type = C::NAME,
                attempts,
                "command failed for good and was dead-lettered"
            ),
            Err(store_error) => tracing::error!(
                command_type = C::NAME,
                error = %error,
                store_error = %store_error,
                "command failed for good and could not be dead-lettered"
            ),
        }
    }

    /// Replays a dead letter through its registered handler, after upcasting an old payload.
    ///
    /// The entry must be unresolved (New, or Replaying with an expired lease): of two callers
    /// replaying one failure at once, one runs it and the other gets [`Error::Conflict`], also
    /// when the first has already resolved it. To run a resolved entry's command again, use
    /// [`Self::replay_resolved`].
    ///
    /// The handler runs in a task of its own, and must finish before the replay's lease runs
    /// out (minus [`DeadLettersOptions::lease_margin`](pulse_extensibility::DeadLettersOptions));
    /// a panic or an overrun is recorded on the entry as a failure. Inside the handler,
    /// [`current_replay`](crate::current_replay) tells which replay it runs in.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::Dismissed`]; [`Error::Conflict`] for a Resolved entry or
    /// while another replay holds the entry; [`Error::LeaseLost`] when the lease was lost before
    /// the replay could be recorded; the store's error. A handler failure is not an error: it is
    /// recorded on the entry and reported as [`ReplayReport::Failed`].
    pub async fn replay(&self, id: DeadLetterId) -> Result<ReplayReport> {
        let span = tracing::info_span!("pulse.replay", %id);
        async { self.run_replay(self.dead_letters.begin_replay(id).await?).await }.instrument(span).await
    }

    /// Replays an entry that is already Resolved, at `revision`: the revision the caller saw,
    /// so two operators who both asked to run a resolved command again run it once.
    ///
    /// # Errors
    ///
    /// As [`Self::replay`], with [`Error::Conflict`] unless the entry is Resolved at `revision`.
    pub async fn replay_resolved(&self, id: DeadLetterId, revision: u64) -> Result<ReplayReport> {
        let span = tracing::info_span!("pulse.replay", %id, revision);
        async { self.run_replay(self.dead_letters.begin_replay_resolved(id, revision).await?).await }
            .instrument(span)
            .await
    }

    /// Runs a begun replay to its end, through the one replay path.
    pub(crate) async fn run_replay(&self, ticket: ReplayTicket) -> Result<ReplayReport> {
        replay::run(&self.dead_letters, self.dispatcher(), ticket, None).await
    }

    /// Replaces a dead letter's payload with `payload`, which must deserialize into the current
    /// version of the entry's command. The payload as first captured is kept.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (nothing changes) when the payload does not deserialize or the
    /// command type has no handler; otherwise as [`DeadLetters::edit_payload`].
    pub async fn edit_payload(&self, id: DeadLetterId, payload: String) -> Result<DeadLetterEntry> {
        let entry = self.dead_letters.get_entry(id).await?.ok_or(Error::NotFound { id })?;
        let registered = self.registry.get(&entry.command_type).ok_or_else(|| {
            Error::invalid_input(
                "command_type",
                format!("no handler is registered for {:?}", entry.command_type),
            )
        })?;
        (registered.check)(&payload).map_err(|reason| {
            Error::invalid_input(
                "payload",
                format!("does not deserialize into {}: {reason}", entry.command_type),
            )
        })?;
        self.dead_letters.edit_payload(id, payload, registered.version).await
    }

    /// Replaces a dead letter's payload with `command`, the corrected command.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] when the entry holds another command type; otherwise as
    /// [`Self::edit_payload`].
    pub async fn edit_command<C: Command>(&self, id: DeadLetterId, command: &C) -> Result<DeadLetterEntry> {
        let entry = self.dead_letters.get_entry(id).await?.ok_or(Error::NotFound { id })?;
        if entry.command_type != C::NAME {
            return Err(Error::invalid_input(
                "command_type",
                format!("the entry holds {:?}, not {:?}", entry.command_type, C::NAME),
            ));
        }
        let payload = self.registry.serializer().serialize(command)?;
        self.dead_letters.edit_payload(id, payload, C::VERSION).await
    }
}
