//! What runs unattended and what operators lean on: the replay worker, bulk operations,
//! retention, health, metrics and events.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulse::{
    AutoDismissRule, BulkOptions, BulkProgress, Command, CommandDeadLetterStatus as Status, CommandRegistry,
    DeadLetterId, DeadLetters, EntryFilter, Failure, HandlerError, HealthCheck, HealthStatus, NewDeadLetter,
    Pulse, ReplayWorker, Resolution, RetentionPolicy, RetryPolicy, Selection, Statistics, Sweeper, TenantId,
    WorkerOptions, WorkerTally,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{Semaphore, mpsc};

use crate::env::Env;

/// The lease of `DeadLetters` by default.
const LEASE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IssueRefund {
    refund: u64,
}

impl Command for IssueRefund {
    const NAME: &'static str = "refunds.issue";
}

#[derive(Debug, thiserror::Error)]
#[error("refund {0} rejected by the bank")]
struct Rejected(u64);

/// How a test's refund handler behaves.
#[derive(Clone, Copy)]
pub(crate) enum Behaviour {
    /// Completes at once; odd refunds fail when `fail_odd`.
    Complete { fail_odd: bool },
    /// Announces itself, then waits for a permit of the gate.
    Gated,
    /// Announces itself, then never completes.
    Hang,
    /// Announces itself, then panics on even refunds and completes odd ones.
    PanicOnEven,
}

/// A refund handler that counts completed refunds, and announces each call.
pub(crate) struct Bank {
    pub(crate) completed: Mutex<HashMap<u64, u32>>,
    entered: mpsc::UnboundedSender<u64>,
    gate: Semaphore,
}

pub(crate) fn bank_runtime(
    dead_letters: DeadLetters,
    behaviour: Behaviour,
) -> (Pulse, Arc<Bank>, mpsc::UnboundedReceiver<u64>) {
    let (entered, announcements) = mpsc::unbounded_channel();
    let bank = Arc::new(Bank { completed: Mutex::new(HashMap::new()), entered, gate: Semaphore::new(0) });
    let mut registry = CommandRegistry::new();
    let handler_bank = bank.clone();
    registry.register(move |refund: IssueRefund| {
        let bank = handler_bank.clone();
        async move {
            let _ = bank.entered.send(refund.refund);
            match behaviour {
                Behaviour::Complete { fail_odd: true } if refund.refund % 2 == 1 => {
                    return Err(HandlerError::transient(Rejected(refund.refund)));
                }
                Behaviour::Complete { .. } => {}
                Behaviour::Gated => bank.gate.acquire().await.expect("the gate stays open").forget(),
                Behaviour::Hang => std::future::pending::<()>().await,
                Behaviour::PanicOnEven if refund.refund.is_multiple_of(2) => {
                    panic!("refund {} hit a bug", refund.refund)
                }
                Behaviour::PanicOnEven => {}
            }
            *bank.completed.lock().unwrap().entry(refund.refund).or_default() += 1;
            Ok::<(), HandlerError>(())
        }
    });
    let pulse = Pulse::new(dead_letters, registry).with_retry(RetryPolicy::no_retries());
    (pulse, bank, announcements)
}

fn refund(n: u64) -> NewDeadLetter {
    NewDeadLetter::new(
        "refunds.issue",
        format!(r#"{{"refund":{n}}}"#),
        Failure::new("Timeout", format!("refund {n} timed out")),
    )
}

/// Stores refunds `range` in batches and returns their ids in order.
pub(crate) async fn store_refunds(
    dead_letters: &DeadLetters,
    range: std::ops::Range<u64>,
) -> Vec<DeadLetterId> {
    let mut ids = Vec::new();
    let all: Vec<u64> = range.collect();
    for chunk in all.chunks(500) {
        let receipts = dead_letters.store_many(chunk.iter().map(|n| refund(*n)).collect()).await.unwrap();
        ids.extend(receipts.into_iter().map(|r| r.id));
    }
    ids
}

/// A worker replays every requested entry, and `drain` returns when none is left.
pub(crate) async fn worker_replays_requested_entries_and_stops_when_idle(env: &Env) {
    let (pulse, bank, _announcements) =
        bank_runtime(env.dead_letters(), Behaviour::Complete { fail_odd: true });
    let requested = store_refunds(pulse.dead_letters(), 0..20).await;
    store_refunds(pulse.dead_letters(), 100..105).await; // never requested
    for id in requested {
        pulse.dead_letters().request_replay(id).await.unwrap();
    }
    let tally =
        ReplayWorker::new(pulse.clone(), WorkerOptions::default().concurrency(3)).drain().await.unwrap();
    assert_eq!(tally, WorkerTally { replayed: 10, failed: 10, lost: 0, unrecorded: 0 });
    assert_eq!(bank.completed.lock().unwrap().len(), 10);
    let stats = pulse.dead_letters().statistics().await.unwrap();
    assert_eq!(stats, Statistics { new: 15, resolved: 10, total: 25, ..Statistics::default() });
    let again = ReplayWorker::new(pulse.clone(), WorkerOptions::default()).drain().await.unwrap();
    assert_eq!(again, WorkerTally::default(), "failed replays are not requested again");
}

/// Four workers share 10,000 requested entries after a fifth died holding claims: every entry is
/// replayed exactly once.
pub(crate) async fn workers_replay_ten_thousand_entries_exactly_once_despite_a_dead_worker(env: &Env) {
    let (good, bank, _announcements) =
        bank_runtime(env.dead_letters(), Behaviour::Complete { fail_odd: false });
    store_refunds(good.dead_letters(), 0..10_000).await;
    assert_eq!(good.dead_letters().request_replay_matching(EntryFilter::default()).await.unwrap(), 10_000);

    // A worker claims 8 entries, then its process dies with its handlers still running.
    let (doomed, _, mut entered) = bank_runtime(env.dead_letters(), Behaviour::Hang);
    let dying = ReplayWorker::new(doomed, WorkerOptions::default().concurrency(8)).spawn();
    for _ in 0..8 {
        entered.recv().await.expect("the doomed worker's handlers start");
    }
    dying.abort();
    assert_eq!(good.dead_letters().statistics().await.unwrap().replaying, 8);
    // Its leases run out.
    env.clock.advance(LEASE);

    let workers: Vec<_> = (0..4)
        .map(|_| {
            let worker = ReplayWorker::new(good.clone(), WorkerOptions::default().concurrency(8));
            tokio::spawn(async move { worker.drain().await.unwrap() })
        })
        .collect();
    let mut replayed = 0;
    for worker in workers {
        let tally = worker.await.unwrap();
        assert_eq!((tally.failed, tally.lost), (0, 0));
        replayed += tally.replayed;
    }
    assert_eq!(replayed, 10_000);
    let completed = bank.completed.lock().unwrap().clone();
    assert_eq!(completed.len(), 10_000);
    assert!(completed.values().all(|count| *count == 1), "an entry was replayed twice");
    let stats = good.dead_letters().statistics().await.unwrap();
    assert_eq!(stats, Statistics { resolved: 10_000, total: 10_000, ..Statistics::default() });
}

/// Shutdown stops claiming, lets a running replay finish within the deadline, and leaves the one
/// it could not finish replayable after its lease.
pub(crate) async fn worker_shutdown_finishes_what_it_can_and_leaves_the_rest_replayable(env: &Env) {
    let (pulse, bank, mut entered) = bank_runtime(env.dead_letters(), Behaviour::Gated);
    let ids = store_refunds(pulse.dead_letters(), 0..2).await;
    pulse.dead_letters().request_replay_matching(EntryFilter::default()).await.unwrap();
    let options = WorkerOptions::default().concurrency(2).shutdown_deadline(Duration::from_millis(300));
    let worker = ReplayWorker::new(pulse.clone(), options).spawn();
    let first = entered.recv().await.unwrap();
    let second = entered.recv().await.unwrap();
    bank.gate.add_permits(1);
    let tally = worker.shutdown().await.unwrap();
    assert_eq!(tally, WorkerTally { replayed: 1, failed: 0, lost: 0, unrecorded: 0 });
    let stats = pulse.dead_letters().statistics().await.unwrap();
    assert_eq!((stats.resolved, stats.replaying), (1, 1));
    assert_eq!(bank.completed.lock().unwrap().len(), 1);
    assert_ne!(first, second);
    let replaying = EntryFilter::default().statuses([Status::Replaying]);
    let stuck = pulse.dead_letters().list(pulse::ListQuery::default().filter(replaying));
    let stuck = stuck.await.unwrap().entries.remove(0).id;
    assert!(ids.contains(&stuck));
    assert!(matches!(pulse.dead_letters().begin_replay(stuck).await, Err(pulse::Error::Conflict { .. })));
    env.clock.advance(LEASE);
    let ticket = pulse.dead_letters().begin_replay(stuck).await.unwrap();
    assert_eq!(ticket.entry.status, Status::Replaying);
}

/// A handler that would outlive its lease is stopped and its replay failed, so no second worker
/// ever runs the entry while the first still is.
pub(crate) async fn a_handler_outliving_its_time_limit_is_failed_not_doubled(env: &Env) {
    let (pulse, bank, _announcements) = bank_runtime(env.dead_letters(), Behaviour::Hang);
    let ids = store_refunds(pulse.dead_letters(), 0..1).await;
    pulse.dead_letters().request_replay(ids[0]).await.unwrap();
    let options = WorkerOptions::default().handler_timeout(Duration::from_millis(50));
    let tally = ReplayWorker::new(pulse.clone(), options).drain().await.unwrap();
    assert_eq!(tally, WorkerTally { replayed: 0, failed: 1, lost: 0, unrecorded: 0 });
    let entry = pulse.dead_letters().get_entry(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (entry.status, entry.attempt_count, entry.exception_type.as_str()),
        (Status::New, 2, "pulse::ReplayTimedOut")
    );
    assert_eq!(entry.lease, None);
    assert!(bank.completed.lock().unwrap().is_empty());
}

/// A dry run counts what a bulk operation would touch, by command type and tenant.
pub(crate) async fn dry_run_counts_by_command_type_and_tenant(env: &Env) {
    let dead_letters = env.dead_letters();
    let (pulse, _, _) = bank_runtime(dead_letters.clone(), Behaviour::Complete { fail_odd: false });
    for (tenant, n) in [("acme", 3), ("globex", 2)] {
        let tenant = TenantId::new(tenant).unwrap();
        for i in 0..n {
            dead_letters.store(refund(i).tenant(tenant.clone())).await.unwrap();
        }
    }
    dead_letters
        .store(NewDeadLetter::new("orders.create", "{}", Failure::new("Timeout", "refund 1 timed out")))
        .await
        .unwrap();
    let resolved = dead_letters.store(refund(9)).await.unwrap();
    dead_letters.resolve(resolved.id, Resolution::HandledExternally, None).await.unwrap();
    let plan = pulse.plan(Selection::Query(EntryFilter::default())).await.unwrap();
    assert_eq!(plan.len(), 6, "New entries only");
    assert_eq!(
        plan.by_command_type,
        [("orders.create".to_owned(), 1), ("refunds.issue".to_owned(), 5)].into()
    );
    assert_eq!(
        plan.by_tenant,
        [("acme".to_owned(), 3), ("default".to_owned(), 1), ("globex".to_owned(), 2)].into()
    );
    assert_eq!(pulse.dead_letters().statistics().await.unwrap().new, 6, "a dry run changes nothing");
}

/// A bulk dismiss applies to the entries of its plan only, and records the note on each.
pub(crate) async fn bulk_dismiss_is_bound_to_the_plan_and_records_the_note(env: &Env) {
    let (pulse, _, _) = bank_runtime(env.dead_letters(), Behaviour::Complete { fail_odd: false });
    let planned = store_refunds(pulse.dead_letters(), 0..5).await;
    let group = pulse.dead_letters().error_groups(1).await.unwrap().remove(0).fingerprint;
    let plan = pulse.plan(Selection::ErrorGroup(group)).await.unwrap();
    assert_eq!(plan.ids, planned);
    // More of the same failure arrive after the operator looked.
    env.clock.advance(Duration::from_secs(1));
    let later = store_refunds(pulse.dead_letters(), 5..8).await;
    let job = pulse.bulk_dismiss(plan, "bank outage, refunds reissued by hand", BulkOptions::default());
    assert_eq!(job.wait().await, BulkProgress { total: 5, done: 5, failed: 0, skipped: 0, remaining: 0 });
    for id in planned {
        let entry = pulse.dead_letters().get_entry(id).await.unwrap().unwrap();
        assert_eq!(
            (entry.status, entry.note.as_deref()),
            (Status::Dismissed, Some("bank outage, refunds reissued by hand"))
        );
    }
    for id in later {
        assert_eq!(pulse.dead_letters().get_entry(id).await.unwrap().unwrap().status, Status::New);
    }
}

/// A bulk replay by error group reports its progress while it runs, and skips entries that are
/// no longer New when their turn comes.
pub(crate) async fn bulk_replay_reports_progress_while_it_runs(env: &Env) {
    let (pulse, bank, mut entered) = bank_runtime(env.dead_letters(), Behaviour::Gated);
    let ids = store_refunds(pulse.dead_letters(), 0..4).await;
    let plan = pulse.plan(Selection::Query(EntryFilter::default())).await.unwrap();
    pulse.dead_letters().resolve(ids[3], Resolution::HandledExternally, None).await.unwrap();
    let job = pulse.bulk_replay(plan, BulkOptions::default());
    assert_eq!(entered.recv().await, Some(0));
    assert_eq!(job.progress(), BulkProgress { total: 4, done: 0, failed: 0, skipped: 0, remaining: 4 });
    bank.gate.add_permits(1);
    assert_eq!(entered.recv().await, Some(1));
    assert_eq!(job.progress(), BulkProgress { total: 4, done: 1, failed: 0, skipped: 0, remaining: 3 });
    bank.gate.add_permits(2);
    assert_eq!(job.wait().await, BulkProgress { total: 4, done: 3, failed: 0, skipped: 1, remaining: 0 });
    assert_eq!(bank.completed.lock().unwrap().len(), 3);
}

/// Retention purges Resolved and Dismissed entries older than the period, and never an
/// unresolved one, however old.
pub(crate) async fn retention_purges_old_terminal_entries_and_never_unresolved_ones(env: &Env) {
    let dead_letters = env.dead_letters();
    let ids = store_refunds(&dead_letters, 0..6).await;
    dead_letters.dismiss(ids[0], None).await.unwrap();
    dead_letters.resolve(ids[1], Resolution::HandledExternally, None).await.unwrap();
    let _lease = dead_letters.begin_replay(ids[2]).await.unwrap();
    env.clock.advance(Duration::from_secs(6 * 24 * 3600));
    dead_letters.dismiss(ids[3], None).await.unwrap();
    env.clock.advance(Duration::from_secs(2 * 24 * 3600));
    let sweeper = Sweeper::new(dead_letters.clone(), RetentionPolicy::default().batch(1));
    let report = sweeper.sweep_once().await.unwrap();
    assert_eq!((report.dismissed, report.purged), (0, 2));
    assert_eq!(
        dead_letters.statistics().await.unwrap(),
        Statistics { new: 2, replaying: 1, dismissed: 1, total: 4, ..Statistics::default() }
    );
    assert_eq!(sweeper.sweep_once().await.unwrap().purged, 0);
}

/// An auto-dismiss rule dismisses old matching entries with its name as the note; they stay
/// visible until the terminal retention purges them.
pub(crate) async fn auto_dismiss_rules_record_their_name_and_keep_entries_visible(env: &Env) {
    let dead_letters = env.dead_letters();
    let old = store_refunds(&dead_letters, 0..2).await;
    let other =
        dead_letters.store(NewDeadLetter::new("orders.create", "{}", Failure::new("E", "m"))).await.unwrap();
    env.clock.advance(Duration::from_secs(2 * 3600));
    let young = store_refunds(&dead_letters, 2..3).await;
    let rule = AutoDismissRule {
        name: "stale refunds".to_owned(),
        command_type: Some("refunds.issue".to_owned()),
        fingerprint: None,
        older_than: Duration::from_secs(3600),
    };
    let sweeper = Sweeper::new(dead_letters.clone(), RetentionPolicy::default().rules([rule]));
    assert_eq!(sweeper.sweep_once().await.unwrap().dismissed, 2);
    for id in &old {
        let entry = dead_letters.get_entry(*id).await.unwrap().unwrap();
        assert_eq!(
            (entry.status, entry.note.as_deref()),
            (Status::Dismissed, Some("auto-dismissed by retention rule 'stale refunds'"))
        );
    }
    assert_eq!(dead_letters.get_entry(young[0]).await.unwrap().unwrap().status, Status::New);
    assert_eq!(dead_letters.get_entry(other.id).await.unwrap().unwrap().status, Status::New);
    env.clock.advance(Duration::from_secs(8 * 24 * 3600));
    assert_eq!(sweeper.sweep_once().await.unwrap().purged, 2);
}

/// Three sweepers at once purge each old entry exactly once between them.
pub(crate) async fn concurrent_sweepers_purge_each_entry_once(env: &Env) {
    let dead_letters = env.dead_letters();
    let ids = store_refunds(&dead_letters, 0..120).await;
    for id in &ids {
        dead_letters.dismiss(*id, None).await.unwrap();
    }
    env.clock.advance(Duration::from_secs(8 * 24 * 3600));
    let sweepers: Vec<_> = (0..3)
        .map(|_| {
            let sweeper = Sweeper::new(dead_letters.clone(), RetentionPolicy::default().batch(7));
            tokio::spawn(async move { sweeper.sweep_once().await.unwrap().purged })
        })
        .collect();
    let mut purged = 0;
    for sweeper in sweepers {
        purged += sweeper.await.unwrap();
    }
    assert_eq!(purged, 120);
    assert_eq!(dead_letters.statistics().await.unwrap(), Statistics::default());
}

/// The health check reports the backlog, trips its thresholds, and reports an unreachable store.
pub(crate) async fn health_check_reports_backlog_and_thresholds(env: &Env) {
    let dead_letters = env.dead_letters();
    let check = HealthCheck::default().max_unresolved(2).max_oldest_age(Duration::from_secs(600));
    let empty = check.check(&dead_letters).await;
    assert_eq!(
        (empty.status, empty.unresolved, empty.oldest_unresolved_age),
        (HealthStatus::Healthy, Some(0), None)
    );
    store_refunds(&dead_letters, 0..3).await;
    env.clock.advance(Duration::from_secs(900));
    let report = check.check(&dead_letters).await;
    assert_eq!(report.status, HealthStatus::Degraded);
    assert_eq!((report.unresolved, report.oldest_unresolved_age), (Some(3), Some(Duration::from_secs(900))));
    assert_eq!(
        report.breaches,
        [
            "3 unresolved entries, more than 2".to_owned(),
            "the oldest unresolved entry failed 900s ago, longer than 600s".to_owned(),
        ]
    );
    let lenient = HealthCheck::default().max_unresolved(3);
    assert_eq!(lenient.check(&dead_letters).await.status, HealthStatus::Healthy);
    let unreachable = DeadLetters::new(Arc::new(crate::env::Unreachable)).with_clock(env.clock.clone());
    let report = check.check(&unreachable).await;
    assert_eq!((report.status, report.unresolved), (HealthStatus::Unavailable, None));
    assert_eq!(report.error.as_deref(), Some("store unavailable: the database is down"));
}

/// The health check reports how long requested replays have waited for a worker, and trips
/// when no worker claims them: replays requested, nobody replaying.
pub(crate) async fn health_check_reports_replays_nobody_claims(env: &Env) {
    let dead_letters = env.dead_letters();
    let check = HealthCheck::default().max_replay_wait(Duration::from_secs(60));
    store_refunds(&dead_letters, 0..2).await;
    let report = check.check(&dead_letters).await;
    assert_eq!((report.status, report.oldest_replay_wait), (HealthStatus::Healthy, None));
    dead_letters.request_replay_matching(EntryFilter::default()).await.unwrap();
    env.clock.advance(Duration::from_secs(61));
    let report = check.check(&dead_letters).await;
    assert_eq!(
        (report.status, report.oldest_replay_wait),
        (HealthStatus::Degraded, Some(Duration::from_secs(61)))
    );
    assert_eq!(
        report.breaches,
        ["a requested replay has waited 61s for a worker, longer than 60s: is a replay worker running?"
            .to_owned()]
    );
    let claimed = dead_letters.claim_requested(10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let report = check.check(&dead_letters).await;
    assert_eq!((report.status, report.oldest_replay_wait), (HealthStatus::Healthy, None));
}

/// Counters, a histogram and a gauge follow captures, duplicates, replays, dismissals and purges;
/// events carry the entry id, command type and tenant, never the payload.
pub(crate) async fn metrics_and_events_follow_each_operation(env: &Env) {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let _metrics = metrics::set_default_local_recorder(&recorder);
    let log = crate::env::LogCapture::default();
    let _events = tracing::subscriber::set_default(log.subscriber());
    // Other tests of this binary, on threads without this subscriber, may have registered an
    // event's callsite at the same moment, caching it as never wanted; rebuilding the cache now
    // that this subscriber exists makes every event this test causes reach it.
    tracing::callsite::rebuild_interest_cache();

    let (pulse, _, _) = bank_runtime(env.dead_letters(), Behaviour::Complete { fail_odd: true });
    let dead_letters = pulse.dead_letters();
    let odd = dead_letters.store(refund(1).message_id("m-1")).await.unwrap().id;
    dead_letters.store(refund(1).message_id("m-1")).await.unwrap();
    let even = dead_letters.store(refund(2)).await.unwrap().id;
    let other = dead_letters.store(refund(4)).await.unwrap().id;
    pulse.replay(odd).await.unwrap();
    pulse.replay(even).await.unwrap();
    dead_letters.dismiss(other, None).await.unwrap();
    dead_letters.dismiss(other, None).await.unwrap();
    env.clock.advance(Duration::from_secs(8 * 24 * 3600));
    Sweeper::new(dead_letters.clone(), RetentionPolicy::default()).sweep_once().await.unwrap();
    HealthCheck::default().check(dead_letters).await;

    let mut counters: HashMap<String, u64> = HashMap::new();
    let mut histogram_samples = 0;
    let mut gauges = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let name = key.key().name().to_owned();
        match value {
            DebugValue::Counter(n) => *counters.entry(name).or_default() += n,
            DebugValue::Histogram(samples) => histogram_samples += samples.len(),
            DebugValue::Gauge(value) => gauges.push((
                name,
                key.key().labels().map(|l| l.value().to_owned()).collect::<Vec<_>>(),
                value.into_inner(),
            )),
        }
    }
    let expected: HashMap<String, u64> = [
        ("pulse_captured_total", 3),
        ("pulse_duplicates_total", 1),
        ("pulse_replay_failed_total", 1),
        ("pulse_replayed_total", 1),
        ("pulse_dismissed_total", 1),
        ("pulse_purged_total", 2),
    ]
    .into_iter()
    .map(|(name, n)| (name.to_owned(), n))
    .collect();
    assert_eq!(counters, expected);
    assert_eq!(histogram_samples, 2, "one duration per replay");
    assert_eq!(gauges, [("pulse_unresolved".to_owned(), vec!["*".to_owned()], 1.0)]);

    let lines = log.lines();
    let stored: Vec<_> = lines.iter().filter(|line| line.contains("dead letter stored")).collect();
    assert_eq!(stored.len(), 4, "{lines:#?}");
    for line in &stored {
        assert!(line.contains("command_type=refunds.issue") && line.contains("tenant=default"), "{line}");
    }
    assert!(
        lines.iter().any(|line| line.contains("pulse.replay")
            && line.contains("replay finished")
            && line.contains(&format!("id={even}"))),
        "{lines:#?}"
    );
    assert!(lines.iter().all(|line| !line.contains("\"refund\":")), "a payload reached the log: {lines:#?}");
}

/// A runtime whose refunds always succeed, with `n` refunds stored: for the pacing tests.
pub(crate) async fn refunds_for_pacing(env: &Env, n: u64) -> (Pulse, Arc<Bank>) {
    let (pulse, bank, _) = bank_runtime(env.dead_letters(), Behaviour::Complete { fail_odd: false });
    store_refunds(pulse.dead_letters(), 0..n).await;
    (pulse, bank)
}
