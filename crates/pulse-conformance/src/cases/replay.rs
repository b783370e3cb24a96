//! Replay: leases, finishing, which state a replay starts from, and what happens when a
//! replayer goes away. Running handlers is the runtime's; its tests are in `pulse-e2e`.

use std::sync::Arc;

use pulse_extensibility::{
    CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetterId, Error, Failure, ReplayOutcome,
    Resolution, Timestamp, fingerprint::fingerprint,
};

use super::{LIVE_LEASE, command, race, store, timeout};
use crate::{Harness, LEASE};

/// New becomes Replaying with a lease that expires one lease duration from now.
pub async fn begin_replay_takes_a_lease(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let ticket = h.store.begin_replay(entry.id).await.expect("begin replay of a New entry succeeds");
    assert_eq!(
        ticket.lease.expires_at,
        h.clock.now().saturating_add(LEASE),
        "a lease expires one lease duration after it was taken"
    );
    let expected = DeadLetterEntry {
        status: Status::Replaying,
        lease: Some(ticket.lease),
        updated_at: h.clock.now(),
        revision: entry.revision + 1,
        ..entry.clone()
    };
    let rule = "begin replay turns New into Replaying with a fresh lease, and changes nothing else but updated-at and the revision";
    assert_eq!(ticket.entry, expected, "{rule}");
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), expected, "{rule}");
}

/// A dismissed entry cannot be replayed.
pub async fn begin_replay_of_a_dismissed_entry_is_dismissed(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let dismissed = h.store.dismiss(entry.id, None).await.unwrap();
    assert!(
        matches!(h.store.begin_replay(entry.id).await, Err(Error::Dismissed { id }) if id == entry.id),
        "begin replay of a Dismissed entry is Dismissed"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap(),
        dismissed,
        "a refused begin replay changes nothing"
    );
}

/// While a lease is live, another begin conflicts and changes nothing.
pub async fn begin_replay_during_a_live_lease_conflicts(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(LEASE - std::time::Duration::from_micros(1));
    assert!(
        matches!(h.store.begin_replay(entry.id).await, Err(Error::Conflict { id, .. }) if id == entry.id),
        "begin replay during a live lease (expiry after now, by one microsecond) is Conflict"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap(),
        ticket.entry,
        "a begin replay refused for a live lease changes nothing"
    );
}

/// Once the lease has expired, another replayer may take the entry with a fresh lease.
pub async fn begin_replay_after_the_lease_expires_succeeds(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let first = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(LEASE);
    let second = h.store.begin_replay(entry.id).await.expect("begin replay after the lease expired succeeds");
    assert_ne!(
        first.lease.token, second.lease.token,
        "begin replay after the lease expired takes a fresh lease"
    );
    assert_eq!(second.entry.lease, Some(second.lease), "the entry holds the fresh lease");
    assert_eq!(second.entry.status, Status::Replaying, "an entry taken after its lease expired is Replaying");
}

/// An unknown id is NotFound.
pub async fn begin_replay_of_an_unknown_id_is_not_found(h: Harness) {
    let id = DeadLetterId::new_at(Timestamp::from_micros(0));
    assert!(
        matches!(h.store.begin_replay(id).await, Err(Error::NotFound { id: missing }) if missing == id),
        "begin replay of an unknown id is NotFound naming the id"
    );
}

/// A plain replay starts only from an unresolved entry: once one caller's replay resolved the
/// entry, a second caller who asked to replay the same failure conflicts and changes nothing.
pub async fn begin_replay_of_a_resolved_entry_conflicts(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let first = h.store.begin_replay(entry.id).await.unwrap();
    let resolved = h.store.finish_replay(first, ReplayOutcome::Succeeded).await.unwrap();
    assert!(
        matches!(h.store.begin_replay(entry.id).await, Err(Error::Conflict { id, .. }) if id == entry.id),
        "a plain replay starts only from an unresolved entry: begin replay of a replayed entry is Conflict"
    );
    let other = store(&h.store, command("orders.create")).await;
    let fixed = h
        .store
        .resolve(other.id, Resolution::HandledExternally, Some("fixed by hand".to_owned()))
        .await
        .unwrap();
    assert!(
        matches!(h.store.begin_replay(other.id).await, Err(Error::Conflict { .. })),
        "a plain replay starts only from an unresolved entry: begin replay of an entry resolved by hand is Conflict"
    );
    let unchanged = "a begin replay refused for a Resolved entry changes nothing";
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), resolved, "{unchanged}");
    assert_eq!(h.store.get_entry(other.id).await.unwrap().unwrap(), fixed, "{unchanged}");
}

/// An explicit replay of a resolved entry starts only from the revision its caller saw: of two
/// callers who saw one revision, one begins, the other conflicts, also after the first finished.
/// It never starts from an entry that is not Resolved.
pub async fn replaying_a_resolved_entry_needs_the_revision_seen(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    assert!(
        matches!(h.store.begin_replay_resolved(entry.id, entry.revision).await, Err(Error::Conflict { .. })),
        "an explicit replay of a resolved entry never starts from a New entry: Conflict"
    );
    let seen = h
        .store
        .resolve(entry.id, Resolution::HandledExternally, Some("fixed by hand".to_owned()))
        .await
        .unwrap();
    assert!(
        matches!(
            h.store.begin_replay_resolved(entry.id, seen.revision - 1).await,
            Err(Error::Conflict { .. })
        ),
        "an explicit replay of a resolved entry at a revision other than the current one is Conflict"
    );
    let ticket = h
        .store
        .begin_replay_resolved(entry.id, seen.revision)
        .await
        .expect("an explicit replay of a Resolved entry at the revision seen begins");
    let expected = DeadLetterEntry {
        status: Status::Replaying,
        lease: Some(ticket.lease),
        revision: seen.revision + 1,
        ..seen.clone()
    };
    assert_eq!(
        ticket.entry, expected,
        "an explicit replay of a Resolved entry makes it Replaying with a fresh lease, keeping the rest"
    );
    let again = h.store.finish_replay(ticket, ReplayOutcome::Succeeded).await.unwrap();
    assert_eq!(
        (again.status, again.resolution),
        (Status::Resolved, Some(Resolution::Replayed)),
        "a successful finish resolves the entry as replayed"
    );
    assert!(
        matches!(h.store.begin_replay_resolved(entry.id, seen.revision).await, Err(Error::Conflict { .. })),
        "a second explicit replay at the revision already used is Conflict, also after the first finished"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap(),
        again,
        "a refused explicit replay changes nothing"
    );
}

/// Two callers replay one failure at once, 16 times over: each time exactly one begins and
/// finishes; the other conflicts, whether it came before or after the first one resolved it.
pub async fn concurrent_replays_of_one_failure_resolve_it_once(h: Harness) {
    for _ in 0..16 {
        let entry = store(&h.store, command("orders.create")).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let (store, barrier) = (h.store.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let ticket = store.begin_replay(entry.id).await?;
                    store.finish_replay(ticket, ReplayOutcome::Succeeded).await
                })
            })
            .collect();
        let mut resolved = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(entry) => resolved.push(entry),
                Err(Error::Conflict { .. }) => {}
                Err(other) => {
                    panic!(
                        "of two replays of one failure, the one that does not resolve it conflicts; got {other:?}"
                    )
                }
            }
        }
        assert_eq!(resolved.len(), 1, "two replays of one failure at once resolve it exactly once");
        assert_eq!(
            resolved[0].revision,
            entry.revision + 2,
            "the one replay that resolved the failure made the only two writes: begin and finish"
        );
        assert_eq!(
            h.store.get_entry(entry.id).await.unwrap().unwrap(),
            resolved[0],
            "the stored entry is the one replay's result"
        );
    }
}

/// Success resolves: resolution replayed, resolved now, lease cleared, attempts unchanged.
pub async fn finish_with_success_resolves(h: Harness) {
    let entry = store(&h.store, command("orders.create").attempt_count(3)).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(std::time::Duration::from_secs(2));
    let finished = h
        .store
        .finish_replay(ticket, ReplayOutcome::Succeeded)
        .await
        .expect("finishing with the current lease's token succeeds");
    let now = h.clock.now();
    let expected = DeadLetterEntry {
        status: Status::Resolved,
        resolution: Some(Resolution::Replayed),
        resolved_at: Some(now),
        updated_at: now,
        revision: entry.revision + 2,
        ..entry.clone()
    };
    let rule = "a successful finish sets resolution replayed and resolved-at now, clears the lease and keeps the attempt count";
    assert_eq!(finished, expected, "{rule}");
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), expected, "{rule}");
}

/// Failure returns the entry to New with one more attempt and the new failure recorded.
pub async fn finish_with_failure_returns_to_new_with_one_more_attempt(h: Harness) {
    let entry = store(&h.store, command("orders.create").attempt_count(2)).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(std::time::Duration::from_secs(2));
    let failure = Failure::new(format!("{}Ж", "E".repeat(500)), "card 4242 declined").with_details("gateway");
    let finished = h
        .store
        .finish_replay(ticket, ReplayOutcome::Failed(failure))
        .await
        .expect("finishing a failed replay with the current lease's token succeeds");
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
    let rule = "a failed finish returns the entry to New with one more attempt, the new failure (truncated as on store), its fingerprint, latest failure now, and no lease";
    assert_eq!(finished, expected, "{rule}");
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), expected, "{rule}");
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
        assert!(
            matches!(
                h.store.finish_replay(stale_ticket, outcome).await,
                Err(Error::LeaseLost { id }) if id == entry.id
            ),
            "finishing with a token that is not the entry's current lease is LeaseLost"
        );
    }
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap(),
        current.entry,
        "a finish refused as LeaseLost writes nothing"
    );
    h.store
        .finish_replay(current, ReplayOutcome::Succeeded)
        .await
        .expect("the current lease's holder can still finish after a stale finish was refused");
}

/// However often a replay fails, there is one entry for the command.
pub async fn failed_replays_never_create_a_second_entry(h: Harness) {
    let entry = store(&h.store, command("orders.create").message_id("m-1")).await;
    for _ in 0..3 {
        let ticket = h
            .store
            .begin_replay(entry.id)
            .await
            .expect("an entry back in New after a failed replay can be replayed again");
        h.store.finish_replay(ticket, ReplayOutcome::Failed(timeout(7))).await.unwrap();
    }
    let stats = h.store.statistics().await.unwrap();
    assert_eq!(
        (stats.total, stats.new),
        (1, 1),
        "a failed finish never creates a second entry: the one entry is back in New"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap().attempt_count,
        4,
        "each failed replay adds one attempt"
    );
}

/// Of 16 concurrent begins on one entry, exactly one succeeds; every other one conflicts
/// because of the winner's live lease (not after giving up on lost swaps). Repeated on 10
/// entries, the tasks released together by a barrier.
pub async fn concurrent_begins_on_one_entry_exactly_one_wins(h: Harness) {
    for _ in 0..10 {
        let entry = store(&h.store, command("orders.create")).await;
        let results = race(16, |_| {
            let store = h.store.clone();
            async move { store.begin_replay(entry.id).await }
        })
        .await;
        let mut won = Vec::new();
        for result in results {
            match result {
                Ok(ticket) => won.push(ticket),
                Err(Error::Conflict { reason, .. }) => assert_eq!(
                    reason, LIVE_LEASE,
                    "a begin that lost the race conflicts on the winner's live lease"
                ),
                Err(other) => panic!("a concurrent begin either wins or conflicts: {other:?}"),
            }
        }
        assert_eq!(won.len(), 1, "of concurrent begins on one entry, exactly one wins");
        assert_eq!(
            h.store.get_entry(entry.id).await.unwrap().unwrap(),
            won[0].entry,
            "the winner's lease is what is stored"
        );
    }
}

/// A replay abandoned mid-way (its future dropped) holds the entry only until the lease expires.
pub async fn dropped_replay_is_replayable_after_the_lease(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let abandoned = h.store.begin_replay(entry.id).await.unwrap();
    drop(abandoned);
    assert!(
        matches!(h.store.begin_replay(entry.id).await, Err(Error::Conflict { .. })),
        "a dropped replay still holds the entry until its lease expires"
    );
    h.clock.advance(LEASE);
    let ticket =
        h.store.begin_replay(entry.id).await.expect(
            "a dropped replay holds the entry only until its lease expires: then begin replay succeeds",
        );
    let resolved = h.store.finish_replay(ticket, ReplayOutcome::Succeeded).await.unwrap();
    assert_eq!(resolved.status, Status::Resolved, "the new replayer's successful finish resolves the entry");
}
