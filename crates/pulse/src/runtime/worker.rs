//! [`ReplayWorker`]: claims requested replays, from any process, and runs them.

use std::sync::Arc;
use std::time::Duration;

use pulse_extensibility::{
    CommandDispatcher, DeadLetters, Error, PayloadSerializer, ReplayReport, ReplayTicket, Result,
};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use super::pace::Pace;
use super::pulse::Pulse;
use super::replay;

/// Settings of a [`ReplayWorker`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WorkerOptions {
    /// Replays running at once; 4 by default.
    pub concurrency: usize,
    /// Replays started per second at most, in this process; `None` (the default) for no limit.
    pub rate_limit: Option<f64>,
    /// How long to wait before claiming again when nothing was requested; 1 second by default.
    pub poll_interval: Duration,
    /// On shutdown, how long running replays may take to finish; 30 seconds by default.
    pub shutdown_deadline: Duration,
    /// How long a handler may run before its replay is failed. Whatever it says, a handler
    /// stops at its replay's deadline: the lease's expiry minus
    /// [`DeadLettersOptions::lease_margin`](pulse_extensibility::DeadLettersOptions), so it is
    /// never still running when another worker may take the entry. `None` (the default): only that
    /// deadline.
    pub handler_timeout: Option<Duration>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            rate_limit: None,
            poll_interval: Duration::from_secs(1),
            shutdown_deadline: Duration::from_secs(30),
            handler_timeout: None,
        }
    }
}

impl WorkerOptions {
    /// Sets how many replays run at once (at least 1).
    #[must_use]
    pub fn concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Sets the most replays started per second.
    #[must_use]
    pub fn rate_limit(mut self, per_second: f64) -> Self {
        self.rate_limit = Some(per_second);
        self
    }

    /// Sets the wait between claims when nothing was requested.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Sets how long running replays may take to finish on shutdown.
    #[must_use]
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = deadline;
        self
    }

    /// Sets how long a handler may run.
    #[must_use]
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.handler_timeout = Some(timeout);
        self
    }
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerTally {
    /// Replays that succeeded.
    pub replayed: u64,
    /// Replays that failed again (recorded on their entries).
    pub failed: u64,
    /// Replays whose lease was lost before they finished (another worker took the entry), or
    /// that were claimed with too little of their lease left to start.
    pub lost: u64,
    /// Replays whose end could not be recorded (a store error): their entries are replayable
    /// again when the lease expires, so their handlers may run again.
    pub unrecorded: u64,
}

impl WorkerTally {
    fn add(&mut self, other: Self) {
        self.replayed += other.replayed;
        self.failed += other.failed;
        self.lost += other.lost;
        self.unrecorded += other.unrecorded;
    }
}

/// Claims requested replays (made by any process: an operator tool, another service) and runs
/// them through the runtime's handlers, with bounded concurrency and an optional rate limit.
///
/// Several workers, in one process or many, share the work: claims are disjoint, and a claim
/// whose worker died becomes claimable again when its lease expires.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use pulse::{Pulse, ReplayWorker, WorkerOptions};
///
/// /// Runs the service's worker until `stop` resolves, then lets the replays in flight finish.
/// async fn replay_in_the_background(pulse: Pulse, stop: impl Future<Output = ()>) -> pulse::Result<()> {
///     let options = WorkerOptions::default()
///         .concurrency(8) // default 4
///         .rate_limit(50.0) // replays started per second in this process; default none
///         .poll_interval(Duration::from_secs(1));
///     let worker = ReplayWorker::new(pulse, options).spawn();
///     stop.await;
///     let tally = worker.shutdown().await?;
///     println!("replayed {}, failed again {}", tally.replayed, tally.failed);
///     Ok(())
/// }
/// ```
pub struct ReplayWorker<S> {
    pulse: Pulse<S>,
    options: WorkerOptions,
}

impl<S: PayloadSerializer + 'static> ReplayWorker<S> {
    /// A worker running `pulse`'s handlers.
    pub fn new(pulse: Pulse<S>, options: WorkerOptions) -> Self {
        Self { pulse, options }
    }

    /// Replays requested entries until none is left to claim, none is running, and none waits
    /// for a later slot of a paced request (the worker polls for those).
    ///
    /// # Errors
    ///
    /// A store error on claiming.
    pub async fn drain(&self) -> Result<WorkerTally> {
        let (_never, stop) = watch::channel(false);
        self.run(stop, true).await
    }

    /// Starts the worker on the current tokio runtime.
    pub fn spawn(self) -> WorkerHandle {
        let (stop_sender, stop) = watch::channel(false);
        let task = tokio::spawn(async move { self.run(stop, false).await });
        WorkerHandle { stop: stop_sender, task }
    }

    async fn run(&self, mut stop: watch::Receiver<bool>, until_idle: bool) -> Result<WorkerTally> {
        let permits = Arc::new(Semaphore::new(self.options.concurrency));
        let mut pace =
            Pace::new(self.options.rate_limit, u32::try_from(self.options.concurrency).unwrap_or(u32::MAX));
        let mut running: JoinSet<WorkerTally> = JoinSet::new();
        let mut tally = WorkerTally::default();
        loop {
            if *stop.borrow() {
                break;
            }
            let free = u32::try_from(permits.available_permits()).unwrap_or(u32::MAX).min(1000);
            if free == 0 {
                if let Some(done) = running.join_next().await {
                    tally.add(done.unwrap_or_default());
                }
                continue;
            }
            let wanted = pace.take(free).await;
            let tickets = match self.pulse.dead_letters().claim_requested(wanted).await {
                Ok(tickets) => tickets,
                Err(error) if error.is_retryable() && !until_idle => {
                    tracing::warn!(%error, "claiming requested replays failed; trying again");
                    Vec::new()
                }
                Err(error) => return Err(error),
            };
            pace.refund(wanted - u32::try_from(tickets.len()).unwrap_or(wanted));
            if tickets.is_empty() {
                if until_idle {
                    match running.join_next().await {
                        Some(done) => tally.add(done.unwrap_or_default()),
                        None if self.waits_for_a_slot().await? => {
                            tokio::time::sleep(self.options.poll_interval).await;
                        }
                        None => break,
                    }
                    continue;
                }
                tokio::select! {
                    Some(done) = running.join_next() => tally.add(done.unwrap_or_default()),
                    () = tokio::time::sleep(self.options.poll_interval) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
            for ticket in tickets {
                let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
                let (dead_letters, dispatcher) = (self.pulse.dead_letters().clone(), self.pulse.dispatcher());
                let timeout = self.options.handler_timeout;
                running.spawn(async move {
                    let tally = replay_one(&dead_letters, dispatcher, ticket, timeout).await;
                    drop(permit);
                    tally
                });
            }
        }
        let finishing = async {
            while let Some(done) = running.join_next().await {
                tally.add(done.unwrap_or_default());
            }
        };
        if tokio::time::timeout(self.options.shutdown_deadline, finishing).await.is_err() {
            tracing::warn!(
                unfinished = running.len(),
                "shutdown deadline passed; unfinished replays become replayable when their lease expires"
            );
            running.abort_all();
        }
        Ok(tally)
    }
}

impl<S: PayloadSerializer + 'static> ReplayWorker<S> {
    /// Whether a requested replay waits for a slot of its request's pace that has not come.
    async fn waits_for_a_slot(&self) -> Result<bool> {
        Ok(self.pulse.dead_letters().earliest_waiting_replay().await?.is_some())
    }
}

/// Runs one claimed replay through the one replay path and counts how it ended.
async fn replay_one(
    dead_letters: &DeadLetters,
    dispatcher: Arc<dyn CommandDispatcher>,
    ticket: ReplayTicket,
    timeout: Option<Duration>,
) -> WorkerTally {
    let id = ticket.entry.id;
    match replay::run(dead_letters, dispatcher, ticket, timeout).await {
        Ok(ReplayReport::Succeeded(_)) => WorkerTally { replayed: 1, ..WorkerTally::default() },
        Ok(ReplayReport::Failed { .. }) => WorkerTally { failed: 1, ..WorkerTally::default() },
        Err(Error::LeaseLost { .. }) => WorkerTally { lost: 1, ..WorkerTally::default() },
        Err(error) => {
            tracing::error!(%id, %error, "finishing a replay failed; the entry is replayable when its lease expires");
            WorkerTally { unrecorded: 1, ..WorkerTally::default() }
        }
    }
}

/// A running [`ReplayWorker`].
pub struct WorkerHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<WorkerTally>>,
}

impl WorkerHandle {
    /// Stops claiming, lets running replays finish within the shutdown deadline, and returns
    /// what the worker did. Replays still running at the deadline are abandoned: their entries
    /// become replayable when their lease expires.
    ///
    /// # Errors
    ///
    /// A store error that stopped the worker.
    pub async fn shutdown(self) -> Result<WorkerTally> {
        let _ = self.stop.send(true);
        self.task.await.unwrap_or_else(|join_error| {
            Err(Error::Backend {
                message: format!("the replay worker panicked: {join_error}"),
                retryable: false,
                source: None,
            })
        })
    }

    /// Stops the worker at once, as if its process died: claims it holds become replayable
    /// when their leases expire.
    pub fn abort(self) {
        self.task.abort();
    }
}
