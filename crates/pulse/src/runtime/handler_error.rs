//! [`HandlerError`]: what a handler returns when a command fails, transient or permanent.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use pulse_extensibility::{BoxError, Failure};

/// A handler's error: the original error, kept whole, its name for grouping, and whether
/// retrying can help.
///
/// A handler returns `Result<(), E>` for any `E` that converts into a boxed error: every
/// `std::error::Error + Send + Sync`, `anyhow::Error`, `Box<dyn Error + Send + Sync>`, and
/// `HandlerError` itself. Pulse wraps what it gets as a transient `HandlerError`; wrap it
/// yourself with [`HandlerError::permanent`] when retrying cannot help (a validation failure, a
/// missing record), so the command is dead-lettered at once.
///
/// `HandlerError` is a `std::error::Error` whose source is the original error, so what
/// [`Pulse::dispatch_with`](crate::Pulse::dispatch_with) returns goes through `?` into
/// `anyhow::Error`, `Box<dyn Error + Send + Sync>`, or an error type of your own with a `From`.
///
/// # Names
///
/// The failure is stored, and grouped, under the error's name: by default the Rust type name of
/// what the handler returned (`std::io::error::Error`, `my_service::CardDeclined`, or
/// `anyhow::Error` for any `anyhow` error). A type path changes when code moves; give errors a
/// stable name with [`HandlerError::named`], as [`Command::NAME`](crate::Command::NAME) does for
/// commands.
///
/// # Examples
///
/// ```
/// use pulse::HandlerError;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("card of invoice {0} declined")]
/// struct CardDeclined(u64);
///
/// let error = HandlerError::permanent(CardDeclined(7)).named("billing.card_declined");
/// assert!(error.is_permanent());
/// assert_eq!(error.name(), "billing.card_declined");
/// assert_eq!(error.to_string(), "card of invoice 7 declined");
/// assert!(error.downcast_ref::<CardDeclined>().is_some());
/// ```
pub struct HandlerError {
    error: BoxError,
    name: Cow<'static, str>,
    permanent: bool,
}

impl HandlerError {
    /// An error that retrying may cure, named after `E`'s type.
    pub fn transient<E: Into<BoxError> + 'static>(error: E) -> Self {
        let name = std::any::type_name::<E>();
        #[cfg(feature = "anyhow")]
        let error = {
            let error: Box<dyn std::any::Any> = Box::new(error);
            match error.downcast::<anyhow::Error>() {
                Ok(error) => match (*error).downcast::<Self>() {
                    Ok(handler_error) => return handler_error,
                    Err(error) => return Self::from_box(error.into(), name),
                },
                Err(error) => *error.downcast::<E>().expect("the value boxed just above"),
            }
        };
        Self::from_box(error.into(), name)
    }

    /// `error`, named `name` unless it is a handler's error already.
    fn from_box(error: BoxError, name: &'static str) -> Self {
        match error.downcast::<Self>() {
            // Already a handler's error (through `anyhow` or a box): kept as it was made.
            Ok(error) => *error,
            Err(error) => Self { error, name: Cow::Borrowed(name), permanent: false },
        }
    }

    /// An error that retrying cannot cure: the command is dead-lettered without retries.
    pub fn permanent<E: Into<BoxError> + 'static>(error: E) -> Self {
        Self { permanent: true, ..Self::transient(error) }
    }

    /// The same error, stored and grouped under `name` instead of its type name.
    #[must_use]
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Whether the handler marked the error permanent.
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The name the failure is stored under: the one given to [`Self::named`], or the type
    /// name of the original error.
    pub fn name(&self) -> &str {
        &self.name
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

    /// The failure to record: the error's name, message and source chain.
    pub fn to_failure(&self) -> Failure {
        let mut chain = Vec::new();
        let mut source = self.error.source();
        while let Some(cause) = source {
            chain.push(format!("caused by: {cause}"));
            source = cause.source();
        }
        let failure = Failure::new(self.name.clone(), self.error.to_string());
        if chain.is_empty() { failure } else { failure.with_details(chain.join("\n")) }
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("name", &self.name)
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

impl StdError for HandlerError {
    /// The original error's own source: `HandlerError` shows as the original error, so a
    /// report of the chain does not name it twice.
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.error.source()
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pulse_extensibility::{DeadLetters, EntryFilter, ListQuery, SortOrder};
    use pulse_store_memory::MemoryStore;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::{Command, CommandRegistry, Envelope, Pulse, RetryPolicy};

    #[derive(Debug, thiserror::Error)]
    #[error("connection reset")]
    struct Reset;

    #[derive(Debug, thiserror::Error)]
    #[error("charging invoice 7 failed")]
    struct ChargeFailed(#[source] Reset);

    #[test]
    fn a_handler_error_is_a_std_error_with_the_original_chain() {
        let error = HandlerError::transient(ChargeFailed(Reset));
        assert_eq!(error.to_string(), "charging invoice 7 failed");
        assert_eq!(error.source().map(ToString::to_string).as_deref(), Some("connection reset"));
        assert_eq!(error.name(), std::any::type_name::<ChargeFailed>());
        // Into every error type a caller may use, with `?`.
        let boxed: BoxError = HandlerError::permanent(ChargeFailed(Reset)).into();
        assert_eq!(boxed.to_string(), "charging invoice 7 failed");
        let anyhow = anyhow::Error::from(HandlerError::transient(ChargeFailed(Reset)));
        assert_eq!(format!("{anyhow:#}"), "charging invoice 7 failed: connection reset");
        // Back from a box, a handler's error keeps what it was made with.
        let again = HandlerError::transient(boxed);
        assert!(again.is_permanent());
        assert_eq!(again.name(), std::any::type_name::<ChargeFailed>());
        assert!(again.downcast_ref::<ChargeFailed>().is_some());
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Charge {
        invoice: u64,
    }

    impl Command for Charge {
        const NAME: &'static str = "billing.charge";
    }

    #[derive(Clone, Serialize, Deserialize)]
    struct Refund {
        invoice: u64,
    }

    impl Command for Refund {
        const NAME: &'static str = "billing.refund";
    }

    /// Dispatches through `?` in a function returning `anyhow::Result`, as a service does.
    async fn charge(pulse: &Pulse, invoice: u64) -> anyhow::Result<()> {
        pulse.dispatch_with(Charge { invoice }, Envelope::message(format!("charge-{invoice}"))).await?;
        Ok(())
    }

    /// The same through `?` in a function returning a boxed error.
    async fn refund(pulse: &Pulse, invoice: u64) -> Result<(), Box<dyn StdError + Send + Sync>> {
        pulse.dispatch(Refund { invoice }).await?;
        Ok(())
    }

    #[tokio::test]
    async fn handlers_return_anyhow_boxed_or_named_errors_and_callers_get_them_with_question_marks() {
        let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
        let mut registry = CommandRegistry::new();
        let ledger = Arc::new(String::from("ledger"));
        // Shared state without a clone in the closure; an `anyhow` error with context.
        registry.register_with(ledger, |ledger: Arc<String>, charge: Charge| async move {
            let reset: Result<(), Reset> = Err(Reset);
            anyhow::Context::with_context(reset, || format!("{ledger}: charging invoice {}", charge.invoice))
        });
        // A boxed error, permanent and named, so it is stored at the first attempt.
        registry.register(|_: Refund| async {
            let error = HandlerError::permanent(ChargeFailed(Reset)).named("billing.refund_failed");
            Err::<(), BoxError>(error.into())
        });
        let pulse =
            Pulse::new(dead_letters.clone(), registry).with_retry(RetryPolicy::default().max_attempts(1));

        let charged = charge(&pulse, 7).await.unwrap_err();
        assert_eq!(format!("{charged:#}"), "ledger: charging invoice 7: connection reset");
        let refunded = refund(&pulse, 8).await.unwrap_err();
        assert_eq!(refunded.to_string(), "charging invoice 7 failed");

        let query = ListQuery::default().order(SortOrder::OldestFirst);
        let stored = dead_letters.list(query).await.unwrap().entries;
        let failures: Vec<(&str, &str, Option<&str>, u32)> = stored
            .iter()
            .map(|entry| {
                (
                    entry.exception_type.as_str(),
                    entry.exception_message.as_str(),
                    entry.exception_details.as_deref(),
                    entry.attempt_count,
                )
            })
            .collect();
        assert_eq!(
            failures,
            [
                ("anyhow::Error", "ledger: charging invoice 7", Some("caused by: connection reset"), 1),
                (
                    "billing.refund_failed",
                    "charging invoice 7 failed",
                    Some("caused by: connection reset"),
                    1
                ),
            ]
        );
        assert_eq!(dead_letters.count(&EntryFilter::default()).await.unwrap().new, 2);
    }
}
