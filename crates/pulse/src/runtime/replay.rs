//! Running one replay: the single path that [`Pulse::replay`](super::pulse::Pulse::replay), bulk
//! replay and the [`ReplayWorker`](super::worker::ReplayWorker) all take, so each gives the same
//! guarantees.
//!
//! - The handler runs in a task of its own: a panic is a recorded failure, never a lost entry.
//! - It must stop by a deadline taken from the lease as stored (its expiry minus
//!   [`DeadLettersOptions::lease_margin`](pulse_extensibility::DeadLettersOptions::lease_margin)),
//!   not from when the handler started: time spent claiming eats into the handler's time, never
//!   into the margin. A handler that would start with no time left does not start. So no two
//!   holders of an entry ever run its handler at once.
//! - Past the deadline the handler is aborted, and the replay is finished only once the handler
//!   has stopped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pulse_extensibility::{
    CommandDispatcher, DeadLetterEntry, DeadLetterId, DeadLetters, Error, Failure, ReplayOutcome,
    ReplayReport, ReplayTicket, Result, Timestamp, Uuid, observe,
};

/// What a handler knows of the replay it runs in; read it with [`current_replay`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplayContext {
    /// The entry being replayed: the same for every run of this failure, so a handler with side
    /// effects that must happen once can record it.
    pub entry_id: DeadLetterId,
    /// This run of the entry: the token of the lease it holds, different for every run.
    pub replay_id: Uuid,
    /// Which attempt this run is: one more than the failures recorded so far.
    pub attempt: u32,
}

impl ReplayContext {
    /// The context of a replay of `entry`, which holds its lease.
    pub(crate) fn of(entry: &DeadLetterEntry) -> Self {
        Self {
            entry_id: entry.id,
            replay_id: entry.lease.map_or_else(Uuid::nil, |lease| lease.token),
            attempt: entry.attempt_count.saturating_add(1),
        }
    }
}

tokio::task_local! {
    /// The replay running on this task, so a dispatch inside it is not captured again.
    pub(crate) static REPLAYING: ReplayContext;
}

/// The replay the calling handler runs in, or `None` outside a replay (a first dispatch).
///
/// A replay runs a handler once per run, but a run can be repeated: when the process dies or
/// the connection drops after the handler succeeded and before the replay was recorded, the
/// entry is replayed again once its lease expires. A handler whose effect must happen once
/// deduplicates on [`ReplayContext::entry_id`].
pub fn current_replay() -> Option<ReplayContext> {
    REPLAYING.try_with(|context| *context).ok()
}

/// Runs the handler of `ticket`'s entry within the lease, then finishes the replay.
/// `handler_timeout` caps the handler's time further.
///
/// # Errors
///
/// [`Error::LeaseLost`] when the lease leaves no time to run the handler (it does not start; the
/// entry is replayable when the lease expires) or when another replayer took the entry; the
/// errors of [`DeadLetters::finish_replay`].
pub(crate) async fn run(
    dead_letters: &DeadLetters,
    dispatcher: Arc<dyn CommandDispatcher>,
    ticket: ReplayTicket,
    handler_timeout: Option<Duration>,
) -> Result<ReplayReport> {
    let id = ticket.entry.id;
    let deadline = dead_letters.options().handler_deadline(&ticket.lease);
    let Some(budget) = time_between(dead_letters.now(), deadline) else {
        tracing::warn!(%id, "the lease ran out before the handler could start; the entry is replayable when it expires");
        return Err(Error::LeaseLost { id });
    };
    let budget = handler_timeout.map_or(budget, |timeout| timeout.min(budget));
    let started = Instant::now();
    let outcome = run_handler(dispatcher, &ticket.entry, budget).await;
    observe::replay_duration(&ticket.entry, started.elapsed());
    let failure = match &outcome {
        ReplayOutcome::Succeeded => None,
        ReplayOutcome::Failed(failure) => Some(failure.clone()),
    };
    let entry = dead_letters.finish_replay(ticket, outcome).await?;
    Ok(match failure {
        None => ReplayReport::Succeeded(entry),
        Some(failure) => ReplayReport::Failed { entry, failure },
    })
}

/// The time from `now` to `deadline`, if there is any.
fn time_between(now: Timestamp, deadline: Timestamp) -> Option<Duration> {
    let micros = deadline.as_micros().checked_sub(now.as_micros())?;
    u64::try_from(micros).ok().filter(|micros| *micros > 0).map(Duration::from_micros)
}

/// Runs the handler in a task of its own for at most `budget`; returns once it has stopped.
async fn run_handler(
    dispatcher: Arc<dyn CommandDispatcher>,
    entry: &DeadLetterEntry,
    budget: Duration,
) -> ReplayOutcome {
    let entry = entry.clone();
    let mut handler = tokio::spawn(async move { dispatcher.dispatch(&entry).await });
    // If this replay is itself stopped (a shutdown deadline, a dropped future), its handler
    // stops with it.
    let _stop_handler_with_replay = AbortOnDrop(handler.abort_handle());
    match tokio::time::timeout(budget, &mut handler).await {
        Ok(Ok(Ok(()))) => ReplayOutcome::Succeeded,
        Ok(Ok(Err(failure))) => ReplayOutcome::Failed(failure),
        Ok(Err(join_error)) => ReplayOutcome::Failed(Failure::new(
            "pulse::HandlerPanicked",
            format!("the handler panicked: {join_error}"),
        )),
        Err(_elapsed) => {
            handler.abort();
            // An abort takes effect when the handler next yields: wait for it, so the replay is
            // finished (and the entry freed for another run) only once this run has stopped.
            let _cancelled = handler.await;
            ReplayOutcome::Failed(Failure::new(
                "pulse::ReplayTimedOut",
                format!(
                    "the handler was still running {budget:?} after it started, at the replay's deadline"
                ),
            ))
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_between_is_positive_or_none() {
        let at = Timestamp::from_micros;
        assert_eq!(time_between(at(10), at(2_010)), Some(Duration::from_millis(2)));
        assert_eq!(time_between(at(10), at(10)), None);
        assert_eq!(time_between(at(10), at(9)), None);
        assert_eq!(time_between(at(i64::MIN), at(i64::MAX)), None);
    }
}
