//! Every way to replay (`Pulse::replay`, bulk replay, the worker) takes the one replay path: a
//! replay asked for once runs its handler once, a panicking handler is a recorded failure, and
//! the handler knows which replay it runs in.

use std::sync::{Arc, Mutex};

use pulse::{
    BulkOptions, BulkProgress, Command, CommandDeadLetterStatus as Status, CommandRegistry, EntryFilter,
    Error, HandlerError, Pulse, ReplayContext, ReplayReport, Resolution, Selection, current_replay,
};
use serde::{Deserialize, Serialize};

use crate::env::Env;
use crate::operations::{Behaviour, bank_runtime, store_refunds};

/// Two operators press Replay on each of 20 failures at the same instant: each handler runs
/// once; one press resolves the entry and the other is a `Conflict`, whether it came while the
/// first ran or after it had resolved the entry.
pub(crate) async fn two_replays_of_one_failure_run_its_handler_once(env: &Env) {
    let (pulse, bank, _announcements) =
        bank_runtime(env.dead_letters(), Behaviour::Complete { fail_odd: false });
    let ids = store_refunds(pulse.dead_letters(), 0..20).await;
    for id in &ids {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let presses: Vec<_> = (0..2)
            .map(|_| {
                let (pulse, barrier, id) = (pulse.clone(), barrier.clone(), *id);
                tokio::spawn(async move {
                    barrier.wait().await;
                    pulse.replay(id).await
                })
            })
            .collect();
        let (mut succeeded, mut conflicts) = (0, 0);
        for press in presses {
            match press.await.unwrap() {
                Ok(ReplayReport::Succeeded(entry)) => {
                    assert_eq!(
                        (entry.status, entry.resolution),
                        (Status::Resolved, Some(Resolution::Replayed))
                    );
                    succeeded += 1;
                }
                Err(Error::Conflict { .. }) => conflicts += 1,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        assert_eq!((succeeded, conflicts), (1, 1));
    }
    let completed = bank.completed.lock().unwrap().clone();
    assert_eq!(completed, (0..20).map(|n| (n, 1)).collect());
    // Running a resolved command again is an explicit call, bound to the revision seen.
    let resolved = pulse.dead_letters().get_entry(ids[0]).await.unwrap().unwrap();
    assert!(matches!(pulse.replay(ids[0]).await, Err(Error::Conflict { .. })));
    assert!(matches!(pulse.replay_resolved(ids[0], resolved.revision).await, Ok(ReplayReport::Succeeded(_))));
    assert!(matches!(pulse.replay_resolved(ids[0], resolved.revision).await, Err(Error::Conflict { .. })));
    assert_eq!(bank.completed.lock().unwrap()[&0], 2);
}

/// A handler that panics is a failure recorded on its entry, in every replay path: a bulk
/// replay goes on past it, and `Pulse::replay` reports it; no entry is left Replaying.
pub(crate) async fn a_panicking_handler_is_a_recorded_failure_in_every_replay_path(env: &Env) {
    let (pulse, bank, _announcements) = bank_runtime(env.dead_letters(), Behaviour::PanicOnEven);
    let ids = store_refunds(pulse.dead_letters(), 0..6).await;
    let plan = pulse.plan(Selection::Query(EntryFilter::default())).await.unwrap();
    let progress = pulse.bulk_replay(plan, BulkOptions::default()).wait().await;
    assert_eq!(progress, BulkProgress { total: 6, done: 3, failed: 3, skipped: 0, remaining: 0 });
    for (n, id) in ids.iter().enumerate() {
        let entry = pulse.dead_letters().get_entry(*id).await.unwrap().unwrap();
        let expected = if n.is_multiple_of(2) {
            (Status::New, 2, "pulse::HandlerPanicked")
        } else {
            (Status::Resolved, 1, "Timeout")
        };
        assert_eq!(
            (entry.status, entry.attempt_count, entry.exception_type.as_str()),
            expected,
            "refund {n}"
        );
        assert_eq!(entry.lease, None);
    }
    let Ok(ReplayReport::Failed { entry, failure }) = pulse.replay(ids[0]).await else {
        panic!("a panicking handler is a failed replay");
    };
    assert_eq!(failure.exception_type, "pulse::HandlerPanicked");
    assert!(failure.exception_message.contains("refund 0 hit a bug"), "{}", failure.exception_message);
    assert_eq!((entry.status, entry.attempt_count, entry.lease), (Status::New, 3, None));
    assert_eq!(bank.completed.lock().unwrap().len(), 3);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SendInvoice {
    invoice: u64,
}

impl Command for SendInvoice {
    const NAME: &'static str = "invoices.send";
}

/// A handler sees which replay it runs in: the entry, this run's id (its lease token) and the
/// attempt; a first dispatch sees none.
pub(crate) async fn a_handler_knows_the_replay_it_runs_in(env: &Env) {
    let seen: Arc<Mutex<Vec<Option<ReplayContext>>>> = Arc::default();
    let mut registry = CommandRegistry::new();
    let record = seen.clone();
    registry.register(move |_: SendInvoice| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(current_replay());
            Err::<(), _>(HandlerError::transient(std::io::Error::other("mail server down")))
        }
    });
    let pulse = Pulse::new(env.dead_letters(), registry).with_retry(pulse::RetryPolicy::no_retries());
    pulse.dispatch(SendInvoice { invoice: 7 }).await.unwrap_err();
    let id = pulse.dead_letters().list(pulse::ListQuery::default()).await.unwrap().entries[0].id;
    let ticket = pulse.dead_letters().begin_replay(id).await.unwrap();
    let token = ticket.lease.token;
    drop(ticket);
    env.clock.advance(pulse.dead_letters().options().lease_duration);
    pulse.replay(id).await.unwrap();
    pulse.replay(id).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], None, "a first dispatch is no replay");
    let (second, third) = (seen[1].expect("a replay"), seen[2].expect("a replay"));
    assert_eq!((second.entry_id, second.attempt, third.entry_id, third.attempt), (id, 2, id, 3));
    assert!(second.replay_id != third.replay_id && second.replay_id != token, "each run has its own id");
}
