//! A handler never outlives its lease: its deadline is the lease's expiry as stored, so a slow
//! claim eats into the handler's time and never lets a second worker run the entry alongside.
//!
//! Deterministic: tokio's paused clock drives both the handlers and Pulse's clock, on the memory
//! store, where no real I/O runs while time is paused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulse::{
    Capabilities, Clock, CommandDeadLetterStatus as Status, DeadLetterBackend, DeadLetterEntry, DeadLetterId,
    DeadLetters, DeadLettersOptions, EntryFilter, EntryQuery, ErrorGroup, MemoryStore, ReplayLease,
    ReplayWorker, Result, Scope, Statistics, StoreReceipt, Timestamp, WorkerOptions, WorkerTally,
};
use tokio::time::Instant;

/// Pulse's clock on tokio's clock, so paused time moves both.
#[derive(Debug)]
struct TokioClock {
    start: Instant,
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        let micros = i64::try_from(self.start.elapsed().as_micros()).expect("a short test");
        Timestamp::from_micros(1_767_225_600_000_000 + micros)
    }
}

/// A store whose claims come back `delay` after they were made: a slow round trip, after the
/// lease's expiry was fixed.
#[derive(Debug)]
struct SlowClaims {
    inner: Arc<MemoryStore>,
    delay: Duration,
}

#[async_trait::async_trait]
impl DeadLetterBackend for SlowClaims {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    async fn insert(&self, entries: &[DeadLetterEntry]) -> Result<Vec<StoreReceipt>> {
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
    async fn request_replay(&self, scope: &Scope, filter: &EntryFilter, at: Timestamp) -> Result<u64> {
        self.inner.request_replay(scope, filter, at).await
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
}

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

/// The setting of issue 11's first report: a lease of 100 ms, a handler of 110 ms, and a claim
/// whose answer takes 30 ms for one worker and nothing for the other. The slow worker's handler
/// stops at the lease's expiry minus the margin (10 ms), 60 ms after it started; the entry is
/// failed before the lease runs out, so the fast worker never takes it: one run, no overlap.
#[tokio::test(start_paused = true)]
async fn a_slow_claim_never_lets_two_workers_run_one_entry() {
    let origin = Instant::now();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock { start: origin });
    let store = Arc::new(MemoryStore::new());
    let runs: Runs = Arc::default();
    let runtime = |delay: Duration| {
        let backend = Arc::new(SlowClaims { inner: store.clone(), delay });
        let dead_letters = DeadLetters::new(backend)
            .with_clock(clock.clone())
            .with_options(DeadLettersOptions::default().lease_duration(Duration::from_millis(100)));
        let mut registry = pulse::CommandRegistry::new();
        let runs = runs.clone();
        registry.register(move |_: Export| {
            let _record = RecordRun { runs: runs.clone(), start: Instant::now(), origin };
            async move {
                let _record = _record;
                tokio::time::sleep(Duration::from_millis(110)).await;
                Ok::<(), pulse::HandlerError>(())
            }
        });
        pulse::Pulse::new(dead_letters, registry)
    };
    let (slow, fast) = (runtime(Duration::from_millis(30)), runtime(Duration::ZERO));
    let entry = slow
        .dead_letters()
        .store(pulse::NewDeadLetter::new(
            "exports.run",
            r#"{"batch":1}"#,
            pulse::Failure::new("Io", "disk full"),
        ))
        .await
        .unwrap();
    slow.dead_letters().request_replay(entry.id).await.unwrap();

    let options = WorkerOptions::default().concurrency(1).poll_interval(Duration::from_millis(10));
    // The slow worker claims first: the fast one's task starts only when this one first waits.
    let slow_worker = ReplayWorker::new(slow.clone(), options.clone());
    let slow_tally = slow_worker.drain();
    let fast_worker = ReplayWorker::new(fast, options).spawn();
    let slow_tally = slow_tally.await.unwrap();
    let fast_tally = fast_worker.shutdown().await.unwrap();

    assert_eq!(*runs.lock().unwrap(), vec![(Duration::from_millis(30), Duration::from_millis(90))]);
    assert_eq!(slow_tally, WorkerTally { failed: 1, ..WorkerTally::default() });
    assert_eq!(fast_tally, WorkerTally::default());
    let stored = slow.dead_letters().get_entry(entry.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.attempt_count, stored.exception_type.as_str(), stored.lease),
        (Status::New, 2, "pulse::ReplayTimedOut", None)
    );
}

/// A claim whose answer arrives after the lease's deadline does not start the handler at all:
/// the entry stays claimed until its lease expires and is then claimed again, whole.
#[tokio::test(start_paused = true)]
async fn a_claim_that_arrives_too_late_does_not_start_the_handler() {
    let origin = Instant::now();
    let clock: Arc<dyn Clock> = Arc::new(TokioClock { start: origin });
    let store = Arc::new(MemoryStore::new());
    let backend = Arc::new(SlowClaims { inner: store.clone(), delay: Duration::from_millis(95) });
    let dead_letters = DeadLetters::new(backend)
        .with_clock(clock.clone())
        .with_options(DeadLettersOptions::default().lease_duration(Duration::from_millis(100)));
    let runs: Runs = Arc::default();
    let mut registry = pulse::CommandRegistry::new();
    let record = runs.clone();
    registry.register(move |_: Export| {
        let _record = RecordRun { runs: record.clone(), start: Instant::now(), origin };
        async move {
            let _record = _record;
            Ok::<(), pulse::HandlerError>(())
        }
    });
    let late = pulse::Pulse::new(dead_letters, registry);
    let entry = late
        .dead_letters()
        .store(pulse::NewDeadLetter::new(
            "exports.run",
            r#"{"batch":2}"#,
            pulse::Failure::new("Io", "disk full"),
        ))
        .await
        .unwrap();
    late.dead_letters().request_replay(entry.id).await.unwrap();
    let options = WorkerOptions::default().concurrency(1);
    let tally = ReplayWorker::new(late.clone(), options).drain().await.unwrap();
    assert_eq!(tally, WorkerTally { lost: 1, ..WorkerTally::default() });
    assert!(runs.lock().unwrap().is_empty(), "no handler started");
    let stored = late.dead_letters().get_entry(entry.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.attempt_count), (Status::Replaying, 1));
    assert!(stored.replay_requested_at.is_some(), "the request is kept for the next claim");
}
