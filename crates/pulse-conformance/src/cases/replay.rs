//! Replay: leases, finishing, the dispatcher, and what happens when a replayer goes away.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use pulse_extensibility::{
    CommandDeadLetterStatus as Status, CommandDispatcher, DeadLetterEntry, DeadLetterId, Error, Failure,
    ReplayOutcome, ReplayReport, Resolution, Timestamp, fingerprint::fingerprint,
};

use super::{command, store, timeout};
use crate::{Harness, LEASE};

/// A dispatcher that fails the first `failures` calls, then succeeds, and counts calls.
struct Scripted {
    failures: usize,
    calls: AtomicUsize,
}

#[async_trait]
impl CommandDispatcher for Scripted {
    async fn dispatch(&self, _entry: &DeadLetterEntry) -> Result<(), Failure> {
        if self.calls.fetch_add(1, Ordering::SeqCst) < self.failures {
            Err(Failure::new("PaymentDeclined", "card 4242 declined").with_details("caused by: gateway"))
        } else {
            Ok(())
        }
    }
}

/// A dispatcher whose handler panics.
struct Panicking;

#[async_trait]
impl CommandDispatcher for Panicking {
    async fn dispatch(&self, _entry: &DeadLetterEntry) -> Result<(), Failure> {
        panic!("handler panicked");
    }
}

/// New becomes Replaying with a lease that expires one lease duration from now.
pub async fn begin_replay_takes_a_lease(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    assert_eq!(ticket.lease.expires_at, h.clock.now().saturating_add(LEASE));
    let expected = DeadLetterEntry {
        status: Status::Replaying,
        lease: Some(ticket.lease),
        updated_at: h.clock.now(),
        revision: entry.revision + 1,
        ..entry.clone()
    };
    assert_eq!(ticket.entry, expected);
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), expected);
}

/// A dismissed entry cannot be replayed.
pub async fn begin_replay_of_a_dismissed_entry_is_dismissed(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let dismissed = h.store.dismiss(entry.id, None).await.unwrap();
    assert!(matches!(h.store.begin_replay(entry.id).await, Err(Error::Dismissed { id }) if id == entry.id));
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), dismissed);
}

/// While a lease is live, another begin conflicts and changes nothing.
pub async fn begin_replay_during_a_live_lease_conflicts(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(LEASE - std::time::Duration::from_micros(1));
    assert!(
        matches!(h.store.begin_replay(entry.id).await, Err(Error::Conflict { id, .. }) if id == entry.id)
    );
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), ticket.entry);
}

/// Once the lease has expired, another replayer may take the entry with a fresh lease.
pub async fn begin_replay_after_the_lease_expires_succeeds(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let first = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(LEASE);
    let second = h.store.begin_replay(entry.id).await.unwrap();
    assert_ne!(first.lease.token, second.lease.token);
    assert_eq!(second.entry.lease, Some(second.lease));
    assert_eq!(second.entry.status, Status::Replaying);
}

/// An unknown id is NotFound.
pub async fn begin_replay_of_an_unknown_id_is_not_found(h: Harness) {
    let id = DeadLetterId::new_at(Timestamp::from_micros(0));
    assert!(matches!(h.store.begin_replay(id).await, Err(Error::NotFound { id: missing }) if missing == id));
}

/// A resolved entry may be replayed again.
pub async fn begin_replay_of_a_resolved_entry_succeeds(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    h.store.resolve(entry.id, Resolution::HandledExternally, Some("fixed by hand".to_owned())).await.unwrap();
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    assert_eq!(ticket.entry.status, Status::Replaying);
}

/// Success resolves: resolution replayed, resolved now, lease cleared, attempts unchanged.
pub async fn finish_with_success_resolves(h: Harness) {
    let entry = store(&h.store, command("orders.create").attempt_count(3)).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(std::time::Duration::from_secs(2));
    let finished = h.store.finish_replay(ticket, ReplayOutcome::Succeeded).await.unwrap();
    let now = h.clock.now();
    let expected = DeadLetterEntry {
        status: Status::Resolved,
        resolution: Some(Resolution::Replayed),
        resolved_at: Some(now),
        updated_at: now,
        revision: entry.revision + 2,
        ..entry.clone()
    };
    assert_eq!(finished, expected);
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), expected);
}

/// Failure returns the entry to New with one more attempt and the new failure recorded.
pub async fn finish_with_failure_returns_to_new_with_one_more_attempt(h: Harness) {
    let entry = store(&h.store, command("orders.create").attempt_count(2)).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(std::time::Duration::from_secs(2));
    let failure = Failure::new(format!("{}Ж", "E".repeat(500)), "card 4242 declined").with_details("gateway");
    let finished = h.store.finish_replay(ticket, ReplayOutcome::Failed(failure)).await.unwrap();
    let now = h.clock.now();
    let exception_type = "E".repeat(500);
    let expected = DeadLetterEntry {
        attempt_count: 3,
        fingerprint: fingerprint("orders.create", &exception_type, "card 4242 declined"),
        exception_type,
        exception_message: "card 4242 declined".to_owned(),
        exception_details: Some("gateway".to_owned()),
        occurred_at: now,
        updated_at: now,
        revision: entry.revision + 2,
        ..entry.clone()
    };
    assert_eq!(finished, expected);
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), expected);
}

/// After the lease expired and another replayer took the entry, the first finish is LeaseLost
/// and writes nothing.
pub async fn finish_with_a_stale_token_is_lease_lost(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let stale = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(LEASE);
    let current = h.store.begin_replay(entry.id).await.unwrap();
    for outcome in [ReplayOutcome::Succeeded, ReplayOutcome::Failed(timeout(1))] {
        let stale_ticket =
            pulse_extensibility::ReplayTicket { entry: stale.entry.clone(), lease: stale.lease };
        assert!(matches!(
            h.store.finish_replay(stale_ticket, outcome).await,
            Err(Error::LeaseLost { id }) if id == entry.id
        ));
    }
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), current.entry);
    h.store.finish_replay(current, ReplayOutcome::Succeeded).await.unwrap();
}

/// However often a replay fails, there is one entry for the command.
pub async fn failed_replays_never_create_a_second_entry(h: Harness) {
    let entry = store(&h.store, command("orders.create").message_id("m-1")).await;
    for _ in 0..3 {
        let ticket = h.store.begin_replay(entry.id).await.unwrap();
        h.store.finish_replay(ticket, ReplayOutcome::Failed(timeout(7))).await.unwrap();
    }
    let stats = h.store.statistics().await.unwrap();
    assert_eq!((stats.total, stats.new), (1, 1));
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap().attempt_count, 4);
}

/// Of 16 concurrent begins on one entry, exactly one succeeds; the others conflict.
/// Repeated on 10 entries, the tasks released together by a barrier.
pub async fn concurrent_begins_on_one_entry_exactly_one_wins(h: Harness) {
    for _ in 0..10 {
        let entry = store(&h.store, command("orders.create")).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(16));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (store, barrier) = (h.store.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.begin_replay(entry.id).await
                })
            })
            .collect();
        let mut won = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(ticket) => won.push(ticket),
                Err(Error::Conflict { .. }) => {}
                Err(other) => panic!("unexpected error {other:?}"),
            }
        }
        assert_eq!(won.len(), 1);
        assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), won[0].entry);
    }
}

/// `replay` runs the dispatcher and resolves the entry when it succeeds.
pub async fn replay_through_the_dispatcher_resolves(h: Harness) {
    let dispatcher = Arc::new(Scripted { failures: 0, calls: AtomicUsize::new(0) });
    let store_ = h.store.clone().with_dispatcher(dispatcher.clone());
    let entry = store(&store_, command("orders.create")).await;
    let ReplayReport::Succeeded(resolved) = store_.replay(entry.id).await.unwrap() else {
        panic!("the replay should succeed");
    };
    assert_eq!((resolved.status, resolved.resolution), (Status::Resolved, Some(Resolution::Replayed)));
    assert_eq!(dispatcher.calls.load(Ordering::SeqCst), 1);
}

/// A dispatcher failure is recorded on the same entry, which returns to New.
pub async fn replay_through_the_dispatcher_records_the_failure(h: Harness) {
    let dispatcher = Arc::new(Scripted { failures: 1, calls: AtomicUsize::new(0) });
    let store_ = h.store.clone().with_dispatcher(dispatcher);
    let entry = store(&store_, command("orders.create")).await;
    let report = store_.replay(entry.id).await.unwrap();
    let ReplayReport::Failed { entry: failed, failure } = report else { panic!("the replay should fail") };
    assert_eq!(
        failure,
        Failure::new("PaymentDeclined", "card 4242 declined").with_details("caused by: gateway")
    );
    assert_eq!(
        (failed.status, failed.attempt_count, failed.exception_type.as_str()),
        (Status::New, 2, "PaymentDeclined")
    );
    assert!(matches!(store_.replay(entry.id).await.unwrap(), ReplayReport::Succeeded(_)));
    assert_eq!(h.store.statistics().await.unwrap().total, 1);
}

/// A replay abandoned mid-way (its future dropped) holds the entry only until the lease expires.
pub async fn dropped_replay_is_replayable_after_the_lease(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let abandoned = h.store.begin_replay(entry.id).await.unwrap();
    drop(abandoned);
    assert!(matches!(h.store.begin_replay(entry.id).await, Err(Error::Conflict { .. })));
    h.clock.advance(LEASE);
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    let resolved = h.store.finish_replay(ticket, ReplayOutcome::Succeeded).await.unwrap();
    assert_eq!(resolved.status, Status::Resolved);
}

/// A handler that panics leaves the entry replayable no later than the lease expiry.
pub async fn panicking_handler_leaves_the_entry_replayable(h: Harness) {
    let store_ = h.store.clone().with_dispatcher(Arc::new(Panicking));
    let entry = store(&store_, command("orders.create")).await;
    let outcome = tokio::spawn(async move { store_.replay(entry.id).await }).await;
    assert!(outcome.unwrap_err().is_panic());
    h.clock.advance(LEASE);
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    assert_eq!(ticket.entry.status, Status::Replaying);
    assert_eq!(h.store.statistics().await.unwrap().total, 1);
}

/// `replay` without a dispatcher is a configuration error and changes nothing.
pub async fn replay_without_a_dispatcher_is_a_config_error(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    assert!(matches!(h.store.replay(entry.id).await, Err(Error::InvalidConfig { .. })));
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), entry);
}
