//! A handler never outlives its lease: its deadline is the lease's expiry as stored, so a slow
//! claim eats into the handler's time and never lets a second worker run the entry alongside.
//!
//! Deterministic: tokio's paused clock drives both the handlers and Pulse's clock, on the memory
//! store, where no real I/O runs while time is paused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulse::{
    Capabilities, Clock, CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetterId, DeadLetters,
    DeadLettersOptions, EntryQuery, ErrorGroup, MemoryStore, ReplayLease, ReplayWorker, Result, Scope,
    Statistics, StoreReceipt, Timestamp, WorkerOptions, WorkerTally,
};
use tokio::time::Instant;

use crate::env::TokioClock;

/// A store whose claims come back `delay` after they were made: a slow round trip, after the
/// lease's expiry was fixed.
#[derive(Debug)]
struct SlowClaims {
    inner: Arc<MemoryStore>,
    delay: Duration,
}

crate::env::backend_forwarding_requests!(SlowClaims, |self| self.inner, {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn insert(&self, entries: Vec<DeadLetterEntry>) -> Result<Vec<StoreReceipt>> {
        self.inner.insert(entries).await
    }
    async fn get(&self, scope: &Scope, id: DeadLetterId) -> Result<Option<DeadLetterEntry>> {
        self.inner.get(scope, id).await
    }
    async fn swap(&self, entry: &DeadLetterEntry) -> Result<bool> {
        self.inner.swap(entry).await
    }
    async fn query(&self, query: &EntryQuery) -> Result<Vec<DeadLetterEntry>> {
        self.inner.query(query).await
    }
    async fn statistics(&self, scope: &Scope) -> Result<Statistics> {
        self.inner.statistics(scope).await
    }
    async fn error_groups(&self, scope: &Scope, limit: u32) -> Result<Vec<ErrorGroup>> {
        self.inner.error_groups(scope, limit).await
    }
    async fn claim_requested(
        &self,
        scope: &Scope,
        now: Timestamp,
        lease: ReplayLease,
        limit: u32,
    ) -> Result<Vec<DeadLetterEntry>> {
        let claimed = self.inner.claim_requested(scope, now, lease, limit).await;
        tokio::time::sleep(self.delay).await;
        claimed
    }
    async fn purge(&self, scope: &Scope, resolved_before: Timestamp, limit: u32) -> Result<u64> {
        self.inner.purge(scope, resolved_before, limit).await
    }
});

/// Handler runs as (start, end) on tokio's clock; a run that is aborted ends when it is dropped.
type Runs = Arc<Mutex<Vec<(Duration, Duration)>>>;

struct RecordRun {
    runs: Runs,
    start: Instant,
    origin: Instant,
}

impl Drop for RecordRun {
    fn drop(&mut self) {
        let span = (self.start - self.origin, self.origin.elapsed());
        self.runs.lock().unwrap().push(span);
    }
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Export {
    batch: u64,
}

impl pulse::Command for Export {
    const NAME: &'static str = "exports.run";
}

/// Runtimes over one memory store, on tokio's paused clock, whose handlers record their runs.
struct Setting {
    origin: Instant,
    clock: Arc<dyn Clock>,
    store: Arc<MemoryStore>,
    runs: Runs,
}

impl Setting {
    fn new() -> Self {
        let origin = Instant::now();
        let clock = Arc::new(TokioClock { start: origin });
        Self { origin, clock, store: Arc::new(MemoryStore::new()), runs: Runs::default() }
    }

    /// A runtime with a lease of 100 ms whose claims answer `claim_delay` late and whose handler
    /// takes `handler_time`.
    fn runtime(&self, claim_delay: Duration, handler_time: Duration) -> pulse::Pulse {
        let backend = Arc::new(SlowClaims { inner: self.store.clone(), delay: claim_delay });
        let dead_letters = DeadLetters::new(backend)
            .with_clock(self.clock.clone())
            .with_options(DeadLettersOptions::default().lease_duration(Duration::from_millis(100)));
        let mut registry = pulse::CommandRegistry::new();
        let (runs, origin) = (self.runs.clone(), self.origin);
        registry.register(move |_: Export| {
            let record = RecordRun { runs: runs.clone(), start: Instant::now(), origin };
            async move {
                let _record = record;
                tokio::time::sleep(handler_time).await;
                Ok::<(), pulse::HandlerError>(())
            }
        });
        pulse::Pulse::new(dead_letters, registry)
    }

    /// Stores one export and requests its replay.
    async fn requested_entry(pulse: &pulse::Pulse) -> DeadLetterId {
        let failure = pulse::Failure::new("Io", "disk full");
        let input = pulse::NewDeadLetter::new("exports.run", r#"{"batch":1}"#, failure);
        let id = pulse.dead_letters().store(input).await.unwrap().id;
        pulse.dead_letters().request_replay(id).await.unwrap();
        id
    }
}

/// The setting of issue 11's first report: a lease of 100 ms, a handler of 110 ms, and a claim
/// whose answer takes 30 ms for one worker and nothing for the other. The slow worker's handler
/// stops at the lease's expiry minus the margin (10 ms), 60 ms after it started; the entry is
/// failed before the lease runs out, so the fast worker never takes it: one run, no overlap.
#[tokio::test(start_paused = true)]
async fn a_slow_claim_never_lets_two_workers_run_one_entry() {
    let setting = Setting::new();
    let handler_time = Duration::from_millis(110);
    let slow = setting.runtime(Duration::from_millis(30), handler_time);
    let fast = setting.runtime(Duration::ZERO, handler_time);
    let id = Setting::requested_entry(&slow).await;

    let options = WorkerOptions::default().concurrency(1).poll_interval(Duration::from_millis(10));
    // The slow worker claims first: the fast one's task starts only when this one first waits.
    let slow_worker = ReplayWorker::new(slow.clone(), options.clone());
    let slow_tally = slow_worker.drain();
    let fast_worker = ReplayWorker::new(fast, options).spawn();
    let slow_tally = slow_tally.await.unwrap();
    let fast_tally = fast_worker.shutdown().await.unwrap();

    assert_eq!(*setting.runs.lock().unwrap(), vec![(Duration::from_millis(30), Duration::from_millis(90))]);
    assert_eq!(slow_tally, WorkerTally { failed: 1, ..WorkerTally::default() });
    assert_eq!(fast_tally, WorkerTally::default());
    let stored = slow.dead_letters().get_entry(id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.attempt_count, stored.exception_type.as_str(), stored.lease),
        (Status::New, 2, "pulse::ReplayTimedOut", None)
    );
}

/// A claim whose answer arrives after the lease's deadline does not start the handler at all:
/// the entry stays claimed, its request kept, until its lease expires.
#[tokio::test(start_paused = true)]
async fn a_claim_that_arrives_too_late_does_not_start_the_handler() {
    let setting = Setting::new();
    let late = setting.runtime(Duration::from_millis(95), Duration::ZERO);
    let id = Setting::requested_entry(&late).await;
    let options = WorkerOptions::default().concurrency(1);
    let tally = ReplayWorker::new(late.clone(), options).drain().await.unwrap();
    assert_eq!(tally, WorkerTally { lost: 1, ..WorkerTally::default() });
    assert!(setting.runs.lock().unwrap().is_empty(), "no handler started");
    let stored = late.dead_letters().get_entry(id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempt_count), (Status::Replaying, 1));
    assert!(stored.replay_requested_at.is_some(), "the request is kept for the next claim");
}
