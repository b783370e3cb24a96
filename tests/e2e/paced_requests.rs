//! Paced replay requests with real workers: the pace holds across every worker together, a
//! cancelled request stops, and any handle reads the same progress. On tokio's paused clock,
//! which Pulse's clock follows, so instants are exact and nothing waits in real time.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulse::{
    DeadLetters, EntryFilter, MemoryStore, ReplayProgress, ReplayRequestSpec, ReplaySelection, ReplayWorker,
    Timestamp, WorkerOptions, WorkerTally,
};
use tokio::sync::Semaphore;

use crate::env::TokioClock;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct NotifyCustomer {
    n: u64,
}

impl pulse::Command for NotifyCustomer {
    const NAME: &'static str = "customers.notify";
}

/// Runtimes over one memory store whose handlers record when each replay started.
struct Setting {
    clock: Arc<TokioClock>,
    store: Arc<MemoryStore>,
    starts: Arc<Mutex<Vec<Timestamp>>>,
    /// One permit more at every start.
    started: Arc<Semaphore>,
}

impl Setting {
    fn new() -> Self {
        Self {
            clock: Arc::new(TokioClock { start: tokio::time::Instant::now() }),
            store: Arc::new(MemoryStore::new()),
            starts: Arc::default(),
            started: Arc::new(Semaphore::new(0)),
        }
    }

    fn dead_letters(&self) -> DeadLetters {
        DeadLetters::new(self.store.clone()).with_clock(self.clock.clone())
    }

    /// One runtime: its own registry and handle on the shared store.
    fn runtime(&self) -> pulse::Pulse {
        let mut registry = pulse::CommandRegistry::new();
        let (starts, started, clock) = (self.starts.clone(), self.started.clone(), self.clock.clone());
        registry.register(move |_: NotifyCustomer| {
            starts.lock().unwrap().push(pulse::Clock::now(&*clock));
            started.add_permits(1);
            async { Ok::<(), pulse::HandlerError>(()) }
        });
        pulse::Pulse::new(self.dead_letters(), registry)
    }

    async fn store(&self, count: u64) {
        let inputs = (0..count)
            .map(|n| {
                let failure = pulse::Failure::new("SmtpError", "mail server refused the connection");
                pulse::NewDeadLetter::new("customers.notify", format!(r#"{{"n":{n}}}"#), failure)
            })
            .collect();
        self.dead_letters().store_many(inputs).await.unwrap();
    }

    fn starts(&self) -> Vec<Timestamp> {
        let mut starts = self.starts.lock().unwrap().clone();
        starts.sort_unstable();
        starts
    }
}

fn paced(per_second: u32) -> ReplayRequestSpec {
    ReplayRequestSpec::new(ReplaySelection::Matching(EntryFilter::default()))
        .per_second(NonZeroU32::new(per_second).unwrap())
}

/// The most starts within any one second.
fn busiest_second(starts: &[Timestamp]) -> usize {
    starts
        .iter()
        .map(|first| {
            let end = first.saturating_add(Duration::from_secs(1));
            starts.iter().filter(|at| *at >= first && *at < &end).count()
        })
        .max()
        .unwrap_or(0)
}

fn options(poll_every_ms: u64) -> WorkerOptions {
    WorkerOptions::default().concurrency(8).poll_interval(Duration::from_millis(poll_every_ms))
}

/// Two workers in two runtimes replay a request of 20 entries at 4 per second: never more than
/// 4 starts in any second, the last one no earlier than its slot (4.75 s in), and every entry
/// replayed once.
#[tokio::test(start_paused = true)]
async fn two_workers_together_keep_to_the_pace() {
    let setting = Setting::new();
    setting.store(20).await;
    let request = setting.dead_letters().request_replays(paced(4)).await.unwrap();
    // Polling at different intervals, whichever looks first after a slot has come takes it.
    let first = ReplayWorker::new(setting.runtime(), options(10));
    let second = ReplayWorker::new(setting.runtime(), options(7));
    let (a, b) = tokio::join!(first.drain(), second.drain());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.replayed + b.replayed, 20);
    assert!(a.replayed > 0 && b.replayed > 0, "both workers took part: {a:?} {b:?}");
    let starts = setting.starts();
    assert_eq!(starts.len(), 20);
    assert_eq!(busiest_second(&starts), 4, "starts: {starts:?}");
    for (n, start) in (0..).zip(&starts) {
        assert!(*start >= request.slot(n), "start {n} at {start}, before its slot {}", request.slot(n));
    }
    let progress = setting.dead_letters().replay_progress(request.id).await.unwrap();
    assert_eq!(
        progress,
        ReplayProgress { request, remaining: 0, claimed: 0, replayed: 20, failed: 0, cancelled: 0, other: 0 }
    );
}

/// A request cancelled after its fifth start stops there: the workers start nothing more, and
/// the progress any handle reads says 5 replayed and 15 cancelled.
#[tokio::test(start_paused = true)]
async fn a_cancelled_request_stops() {
    let setting = Setting::new();
    setting.store(20).await;
    let request = setting.dead_letters().request_replays(paced(2)).await.unwrap();
    let worker = ReplayWorker::new(setting.runtime(), options(10));
    let drained = tokio::spawn(async move { worker.drain().await });
    setting.started.acquire_many(5).await.unwrap().forget();
    let operator = setting.dead_letters().acting_as(pulse::Actor::new("ana").unwrap());
    let cancelled = operator.cancel_replay_request(request.id).await.unwrap();
    assert_eq!(cancelled.cancelled, 15);
    let tally = drained.await.unwrap().unwrap();
    assert_eq!(tally, WorkerTally { replayed: 5, ..WorkerTally::default() });
    assert_eq!(setting.starts().len(), 5);
    let another_handle = DeadLetters::new(setting.store.clone()).with_clock(setting.clock.clone());
    let progress = another_handle.replay_progress(request.id).await.unwrap();
    assert_eq!(
        progress,
        ReplayProgress {
            request: cancelled,
            remaining: 0,
            claimed: 0,
            replayed: 5,
            failed: 0,
            cancelled: 15,
            other: 0
        }
    );
}
