//! Replay requests: asked for by one process, claimed by another.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use pulse_extensibility::{
    Actor, CommandDeadLetterStatus as Status, DeadLetterEntry, EntryFilter, Error, ReplayOutcome,
    ReplayRequest, ReplayRequestSpec, ReplaySelection, Resolution,
};

use super::{command, ids, race, store, store_tick, timeout};
use crate::{Harness, LEASE};

/// Requesting replay of one entry records a request for it, and marks the entry with when and
/// which request, changing nothing else but the revision.
pub async fn request_replay_marks_the_entry(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    h.clock.advance(Duration::from_secs(1));
    let requested = h.store.request_replay(entry.id).await.expect("request replay of a New entry succeeds");
    let now = h.clock.now();
    let request = requested.replay_request.expect("a requested entry names its request");
    let expected = DeadLetterEntry {
        replay_requested_at: Some(now),
        replay_request: Some(request),
        updated_at: now,
        revision: entry.revision + 1,
        ..entry.clone()
    };
    assert_eq!(
        requested, expected,
        "request replay marks the entry with its slot (now, without a pace) and its request, changing nothing else but updated-at and the revision"
    );
    let recorded = ReplayRequest {
        id: request,
        tenant: None,
        selection: format!("entry {}", entry.id),
        requested_by: None,
        requested_at: now,
        note: None,
        per_second: None,
        requested: 1,
        cancelled_at: None,
        cancelled_by: None,
        cancelled: 0,
    };
    assert_eq!(
        h.store.replay_requests(None, 10).await.unwrap(),
        std::slice::from_ref(&recorded),
        "a replay request is recorded in the store: one entry selected, when, and how many it marked"
    );
    // Asking again keeps the entry's place in the queue and records no second request.
    h.clock.advance(Duration::from_secs(1));
    let pending = "asking again while a request is pending keeps the entry's place and changes nothing";
    assert_eq!(h.store.request_replay(entry.id).await.unwrap(), expected, "{pending}");
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), expected, "{pending}");
    let again =
        h.store.request_replays(ReplayRequestSpec::new(ReplaySelection::Entry(entry.id))).await.unwrap();
    assert_eq!(again, recorded, "asking again while a request is pending returns the pending request");
    assert_eq!(
        h.store.replay_requests(None, 10).await.unwrap(),
        [recorded],
        "asking again while a request is pending records no second request"
    );
}

/// Dismissed entries cannot be requested; entries under a live lease conflict.
pub async fn request_replay_refuses_dismissed_and_leased_entries(h: Harness) {
    let dismissed = store(&h.store, command("a")).await;
    h.store.dismiss(dismissed.id, None).await.unwrap();
    assert!(
        matches!(h.store.request_replay(dismissed.id).await, Err(Error::Dismissed { .. })),
        "request replay of a Dismissed entry is Dismissed"
    );
    let leased = store(&h.store, command("b")).await;
    let _ticket = h.store.begin_replay(leased.id).await.unwrap();
    assert!(
        matches!(h.store.request_replay(leased.id).await, Err(Error::Conflict { .. })),
        "request replay of an entry under a live lease is Conflict"
    );
}

/// A Resolved entry cannot be requested: a request asks for an open failure to be replayed, and
/// one that a replay already resolved is not run again by a second request. Nothing changes.
pub async fn request_replay_of_a_resolved_entry_conflicts(h: Harness) {
    let entry = store(&h.store, command("a")).await;
    h.store.request_replay(entry.id).await.unwrap();
    let ticket = h
        .store
        .claim_requested(10)
        .await
        .unwrap()
        .pop()
        .expect("a requested entry whose slot has come is claimed");
    let resolved =
        h.store.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await.unwrap();
    assert!(
        matches!(h.store.request_replay(entry.id).await, Err(Error::Conflict { id, .. }) if id == entry.id),
        "request replay of a Resolved entry is Conflict"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap(),
        resolved,
        "a refused request replay changes nothing"
    );
    assert!(
        h.store.claim_requested(10).await.unwrap().is_empty(),
        "a refused request replay leaves nothing to claim"
    );
}

/// A bulk request marks the matching New entries only, and counts them.
pub async fn request_replay_matching_marks_only_matching_new_entries(h: Harness) {
    let a = store_tick(&h, "orders.create").await;
    let b = store_tick(&h, "orders.create").await;
    let _other = store_tick(&h, "orders.cancel").await;
    let dismissed = store_tick(&h, "orders.create").await;
    h.store.dismiss(dismissed.id, None).await.unwrap();
    let filter = EntryFilter::default().command_type("orders.create");
    assert_eq!(
        h.store.request_replay_matching(filter.clone()).await.unwrap(),
        2,
        "a bulk request marks the matching New entries and counts them"
    );
    assert_eq!(
        h.store.request_replay_matching(filter).await.unwrap(),
        0,
        "a bulk request marks only entries without a pending request"
    );
    let requested: Vec<_> = h
        .store
        .list(pulse_extensibility::ListQuery::default().order(pulse_extensibility::SortOrder::OldestFirst))
        .await
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.replay_requested_at.is_some())
        .collect();
    assert_eq!(
        ids(&requested),
        [a.id, b.id],
        "a bulk request marks only New entries its filter matches: not another command type, not Dismissed ones"
    );
    let only_dismissed = EntryFilter::default().statuses([Status::Dismissed]);
    assert_eq!(
        h.store.request_replay_matching(only_dismissed).await.unwrap(),
        0,
        "request_replay_matching with a filter that admits no New entry marks none and counts 0"
    );
}

/// Claiming begins replay of requested entries, oldest request first, up to the limit.
pub async fn claim_takes_requested_entries_oldest_request_first(h: Harness) {
    let a = store_tick(&h, "a").await;
    let b = store_tick(&h, "b").await;
    let c = store_tick(&h, "c").await;
    let _unrequested = store_tick(&h, "d").await;
    for id in [c.id, a.id, b.id] {
        h.store.request_replay(id).await.unwrap();
        h.clock.advance(Duration::from_millis(1));
    }
    let first = h.store.claim_requested(2).await.unwrap();
    let order = "a claim takes up to `limit` requested entries, earliest slot first";
    assert_eq!(first.iter().map(|t| t.entry.id).collect::<Vec<_>>(), [c.id, a.id], "{order}");
    for ticket in &first {
        let begun = "a claim begins replay of each entry it takes: Replaying, under a fresh lease";
        assert_eq!(ticket.entry.status, Status::Replaying, "{begun}");
        assert_eq!(ticket.entry.lease, Some(ticket.lease), "{begun}");
        assert_eq!(
            ticket.lease.expires_at,
            h.clock.now().saturating_add(LEASE),
            "a claimed entry's lease expires one lease duration after the claim"
        );
        assert_eq!(
            h.store.get_entry(ticket.entry.id).await.unwrap().as_ref(),
            Some(&ticket.entry),
            "a claim's tickets carry the entries as stored"
        );
    }
    let second = h.store.claim_requested(10).await.unwrap();
    assert_eq!(second.iter().map(|t| t.entry.id).collect::<Vec<_>>(), [b.id], "{order}");
    assert_eq!(
        h.store.claim_requested(10).await.unwrap(),
        Vec::new(),
        "unrequested entries and entries under a live lease are not claimed"
    );
}

/// A claimed entry under a live lease is not claimed again; once the lease expires it is.
pub async fn claim_skips_live_leases_and_takes_expired_ones(h: Harness) {
    let entry = store(&h.store, command("a")).await;
    h.store.request_replay(entry.id).await.unwrap();
    let first = h.store.claim_requested(10).await.unwrap();
    assert_eq!(first.len(), 1, "a requested entry whose slot has come is claimed");
    assert_eq!(
        h.store.claim_requested(10).await.unwrap(),
        Vec::new(),
        "a claim skips entries under a live lease"
    );
    h.clock.advance(LEASE);
    let again = h.store.claim_requested(10).await.unwrap();
    assert_eq!(
        ids(&again.iter().map(|t| t.entry.clone()).collect::<Vec<_>>()),
        [entry.id],
        "a claim takes a requested entry whose lease expired"
    );
    assert_ne!(again[0].lease.token, first[0].lease.token, "a claim of an expired lease takes a fresh lease");
    // The first claimer has lost its lease.
    let stale = first.into_iter().next().unwrap();
    assert!(
        matches!(h.store.finish_replay(stale, ReplayOutcome::Succeeded).await, Err(Error::LeaseLost { .. })),
        "finishing with a lease another claimer took over is LeaseLost"
    );
}

/// Finishing a claimed replay, either way, clears the request so it is not claimed again.
pub async fn finished_replay_clears_the_request(h: Harness) {
    let a = store(&h.store, command("a")).await;
    let b = store(&h.store, command("b")).await;
    h.store.request_replay(a.id).await.unwrap();
    h.store.request_replay(b.id).await.unwrap();
    let mut tickets = h.store.claim_requested(10).await.unwrap().into_iter();
    let done = h.store.finish_replay(tickets.next().unwrap(), ReplayOutcome::Succeeded).await.unwrap();
    let failed =
        h.store.finish_replay(tickets.next().unwrap(), ReplayOutcome::Failed(timeout(1))).await.unwrap();
    assert_eq!(
        (done.replay_requested_at, failed.replay_requested_at),
        (None, None),
        "a finish, successful or failed, clears the entry's request"
    );
    assert_eq!(
        (done.resolution, failed.status),
        (Some(Resolution::Replayed), Status::New),
        "a successful finish resolves as replayed; a failed one returns the entry to New"
    );
    h.clock.advance(LEASE);
    assert_eq!(
        h.store.claim_requested(10).await.unwrap(),
        Vec::new(),
        "an entry whose replay finished is not claimed again for the same request"
    );
}

/// Four claimers racing over 200 requested entries, released together by a barrier, receive disjoint sets that cover them all.
pub async fn concurrent_claimers_receive_disjoint_sets(h: Harness) {
    let inputs = (0..200).map(|i| command(&format!("c{}", i % 7))).collect();
    h.store.store_many(inputs).await.unwrap();
    assert_eq!(
        h.store.request_replay_matching(EntryFilter::default()).await.unwrap(),
        200,
        "a bulk request marks every matching New entry and counts them"
    );
    let claimed = race(4, |_| {
        let store = h.store.clone();
        async move {
            let mut mine = Vec::new();
            // Bounded: 200 entries in claims of 7 take at most 29 non-empty claims.
            for _ in 0..100 {
                let batch = store.claim_requested(7).await.expect("a claim racing other claimers succeeds");
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|t| t.entry.id));
            }
            panic!(
                "concurrent claimers receive disjoint sets, so 200 entries run dry within 100 claims of 7 (they did not)"
            );
        }
    })
    .await;
    let all: Vec<_> = claimed.into_iter().flatten().collect();
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(
        (all.len(), unique.len()),
        (200, 200),
        "concurrent claimers receive disjoint sets that cover every requested entry"
    );
    assert_eq!(h.store.statistics().await.unwrap().replaying, 200, "every claimed entry is Replaying");
}

/// A bulk request writes on each entry it marks exactly what a transition would: the request,
/// its slot, who asked, `updated_at` = the request's instant and the next revision; entries it
/// does not mark are untouched. A compare-and-swap from a revision read before the request then
/// writes nothing, so no change made meanwhile can overwrite the request.
pub async fn request_replay_matching_advances_the_revision_of_each_marked_entry(h: Harness) {
    let a = store_tick(&h, "orders.create").await;
    let b = store_tick(&h, "orders.create").await;
    let other = store_tick(&h, "orders.cancel").await;
    h.clock.advance(Duration::from_micros(1_234_567));
    let now = h.clock.now();
    let ana = h.store.acting_as(Actor::new("ana").unwrap());
    let filter = EntryFilter::default().command_type("orders.create");
    let request =
        ana.request_replays(ReplayRequestSpec::new(ReplaySelection::Matching(filter))).await.unwrap();
    assert_eq!(request.requested, 2, "a bulk request counts the entries it marked");
    for before in [&a, &b] {
        let expected = DeadLetterEntry {
            replay_requested_at: Some(now),
            replay_request: Some(request.id),
            changed_by: Some(Actor::new("ana").unwrap()),
            updated_at: now,
            revision: before.revision + 1,
            ..before.clone()
        };
        assert_eq!(
            h.store.get_entry(before.id).await.unwrap(),
            Some(expected),
            "a bulk request sets the request, its slot, who asked, updated_at and the next revision on each entry it marks"
        );
        let stale = DeadLetterEntry {
            revision: before.revision + 1,
            note: Some("lost".to_owned()),
            ..before.clone()
        };
        assert!(
            !h.store.backend().swap(&stale).await.unwrap(),
            "a swap from the revision read before a bulk request writes nothing"
        );
    }
    assert_eq!(
        h.store.get_entry(other.id).await.unwrap(),
        Some(other),
        "a bulk request leaves entries it does not mark untouched"
    );
}

/// A bulk request racing a dismiss of each of its entries, released together by a barrier, 10
/// times over: every dismiss succeeds and every entry ends Dismissed, and each entry's revision
/// counts exactly the changes made to it (the request's where it marked the entry first), so
/// neither write was lost.
pub async fn a_bulk_request_racing_dismisses_loses_no_write(h: Harness) {
    for round in 0..10 {
        let kind = format!("round.{round}");
        let receipts = h.store.store_many((0..20).map(|_| command(&kind)).collect()).await.unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(receipts.len() + 1));
        let filter = EntryFilter::default().command_type(kind.clone());
        let requester = {
            let (store, barrier) = (h.store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store.request_replay_matching(filter).await
            })
        };
        let dismissers: Vec<_> = receipts
            .iter()
            .map(|receipt| {
                let (store, barrier, id) = (h.store.clone(), barrier.clone(), receipt.id);
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.dismiss(id, None).await
                })
            })
            .collect();
        let marked = requester.await.unwrap().expect("a bulk request racing dismisses succeeds");
        for dismisser in dismissers {
            let dismissed = dismisser.await.unwrap();
            assert!(
                dismissed.is_ok(),
                "a dismiss of a New entry succeeds while a bulk request runs: {dismissed:?}"
            );
        }
        let mut changes_by_the_request = 0;
        for receipt in &receipts {
            let entry = h.store.get_entry(receipt.id).await.unwrap().unwrap();
            assert_eq!(
                entry.status,
                Status::Dismissed,
                "a dismiss that succeeded is never overwritten by a bulk request"
            );
            assert!(
                matches!(entry.revision, 2 | 3),
                "an entry's revision counts the dismiss and, at most once, the request: {}",
                entry.revision
            );
            changes_by_the_request += entry.revision - 2;
        }
        assert_eq!(
            changes_by_the_request, marked,
            "a bulk request's count is the number of entries whose revision it advanced"
        );
    }
}
