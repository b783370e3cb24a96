//! Durable replay requests: recorded with who asked, paced across every worker, cancelled,
//! and followed from any handle; counts for a filter; who made each change.

use std::collections::{BTreeMap, HashSet};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use pulse_extensibility::{
    Actor, CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetterId, EntryFilter, Error, ListQuery,
    ReplayOutcome, ReplayProgress, ReplayRequest, ReplayRequestSpec, ReplaySelection, Resolution, SortOrder,
    Statistics,
};

use super::{command, ids, store, store_tick, tenant, timeout};
use crate::Harness;

fn actor(name: &str) -> Actor {
    Actor::new(name).expect("valid actor")
}

fn pace(per_second: u32) -> NonZeroU32 {
    NonZeroU32::new(per_second).expect("a pace above zero")
}

fn every_new() -> ReplaySelection {
    ReplaySelection::Matching(EntryFilter::default())
}

/// Every entry, oldest failure first.
async fn all_entries(h: &Harness) -> Vec<DeadLetterEntry> {
    let query = ListQuery::default().order(SortOrder::OldestFirst).limit(1000);
    h.store.list(query).await.unwrap().entries
}

/// A request is recorded whole, with who asked, why and at what pace; its entries name it, get
/// slots at the pace oldest failure first, and record who asked.
pub async fn a_request_is_recorded_and_its_entries_get_slots_at_its_pace(h: Harness) {
    let entries = [
        store_tick(&h, "a").await,
        store_tick(&h, "b").await,
        store_tick(&h, "c").await,
        store_tick(&h, "d").await,
        store_tick(&h, "e").await,
    ];
    let ana = h.store.acting_as(actor("ana"));
    let spec = ReplayRequestSpec::new(every_new()).note("gateway fixed").per_second(pace(2));
    let request = ana.request_replays(spec).await.unwrap();
    let now = h.clock.now();
    let expected = ReplayRequest {
        id: request.id,
        tenant: None,
        selection: "every entry".to_owned(),
        requested_by: Some(actor("ana")),
        requested_at: now,
        note: Some("gateway fixed".to_owned()),
        per_second: Some(pace(2)),
        requested: 5,
        cancelled_at: None,
        cancelled_by: None,
        cancelled: 0,
    };
    assert_eq!(
        request, expected,
        "a request records its tenant, selection, who asked, when, its note, its pace and how many entries it marked"
    );
    assert_eq!(
        h.store.replay_request(request.id).await.unwrap(),
        expected,
        "a request is recorded in the store as it was returned"
    );
    let stored = all_entries(&h).await;
    let expected_entries: Vec<DeadLetterEntry> = entries
        .iter()
        .zip(0..)
        .map(|(entry, n)| DeadLetterEntry {
            replay_requested_at: Some(now.saturating_add(Duration::from_millis(500 * n))),
            replay_request: Some(request.id),
            changed_by: Some(actor("ana")),
            updated_at: now,
            revision: entry.revision + 1,
            ..entry.clone()
        })
        .collect();
    assert_eq!(
        stored, expected_entries,
        "each marked entry names its request, records who asked, and gets the slot requested_at + ceil(n × 1,000,000 / pace) µs, oldest failure first"
    );
}

/// Claims take only entries whose slot has come, earliest first: a paced request never starts
/// more replays in a second than its pace, whoever claims.
pub async fn claims_take_only_entries_whose_slot_has_come(h: Harness) {
    for name in ["a", "b", "c", "d", "e"] {
        store_tick(&h, name).await;
    }
    let request =
        h.store.request_replays(ReplayRequestSpec::new(every_new()).per_second(pace(2))).await.unwrap();
    let entries = all_entries(&h).await;
    let claimed = |tickets: Vec<pulse_extensibility::ReplayTicket>| -> Vec<DeadLetterId> {
        tickets.into_iter().map(|ticket| ticket.entry.id).collect()
    };
    let other = h.open_again().await;
    let due = "a claim takes only entries whose slot has come, earliest slot first, whoever claims";
    assert_eq!(claimed(h.store.claim_requested(10).await.unwrap()), [entries[0].id], "{due}");
    assert_eq!(claimed(other.claim_requested(10).await.unwrap()), Vec::<DeadLetterId>::new(), "{due}");
    h.clock.advance(Duration::from_millis(499));
    assert_eq!(
        claimed(other.claim_requested(10).await.unwrap()),
        Vec::<DeadLetterId>::new(),
        "{due} (a millisecond before the second slot)"
    );
    h.clock.advance(Duration::from_millis(1));
    assert_eq!(
        claimed(other.claim_requested(10).await.unwrap()),
        [entries[1].id],
        "{due} (exactly at the second slot)"
    );
    h.clock.advance(Duration::from_secs(10));
    let passed = "slots that passed while nobody claimed are all due at once, taken up to each claim's limit";
    assert_eq!(
        claimed(h.store.claim_requested(2).await.unwrap()),
        [entries[2].id, entries[3].id],
        "{passed}"
    );
    assert_eq!(claimed(h.store.claim_requested(2).await.unwrap()), [entries[4].id], "{passed}");
    assert_eq!(
        h.store.replay_progress(request.id).await.unwrap().claimed,
        5,
        "progress counts every claimed entry of the request as replaying"
    );
}

/// Cancelling takes the request from its entries not yet claimed, records who and how many, and
/// changes nothing when repeated; a claimed entry keeps it and its replay finishes.
pub async fn cancel_takes_the_request_from_unclaimed_entries(h: Harness) {
    let [a, b, c] = [store_tick(&h, "a").await, store_tick(&h, "b").await, store_tick(&h, "c").await];
    let request =
        h.store.request_replays(ReplayRequestSpec::new(every_new()).per_second(pace(1))).await.unwrap();
    let ticket =
        h.store.claim_requested(10).await.unwrap().pop().expect("a request's first slot is due at once");
    assert_eq!(ticket.entry.id, a.id, "the first slot is the oldest failure's");
    h.clock.advance(Duration::from_secs(1));
    let bo = h.store.acting_as(actor("bo"));
    let cancelled = bo.cancel_replay_request(request.id).await.expect("cancelling a request succeeds");
    let now = h.clock.now();
    let expected = ReplayRequest {
        cancelled_at: Some(now),
        cancelled_by: Some(actor("bo")),
        cancelled: 2,
        ..request.clone()
    };
    assert_eq!(
        cancelled, expected,
        "a cancel records who cancelled, when, and how many unclaimed entries it took the request from"
    );
    for entry in [&b, &c] {
        let expected_entry = DeadLetterEntry {
            changed_by: Some(actor("bo")),
            updated_at: now,
            revision: entry.revision + 2,
            ..entry.clone()
        };
        assert_eq!(
            h.store.get_entry(entry.id).await.unwrap().unwrap(),
            expected_entry,
            "a cancel takes the request and its slot from each unclaimed entry and records who cancelled"
        );
    }
    h.clock.advance(Duration::from_secs(10));
    assert_eq!(
        h.store.claim_requested(10).await.unwrap(),
        Vec::new(),
        "entries a cancel took the request from are not claimed, even after their slots"
    );
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(
        h.store.cancel_replay_request(request.id).await.unwrap(),
        expected,
        "a second cancel changes nothing"
    );
    let finished = h
        .store
        .finish_replay(ticket, ReplayOutcome::Succeeded)
        .await
        .expect("a replay claimed before the cancel finishes");
    assert_eq!(
        (finished.status, finished.replay_request),
        (Status::Resolved, Some(request.id)),
        "a replay claimed before the cancel finishes, and its entry keeps naming the request"
    );
    let progress = h.store.replay_progress(request.id).await.unwrap();
    assert_eq!(
        progress,
        ReplayProgress {
            request: expected,
            remaining: 0,
            claimed: 0,
            replayed: 1,
            failed: 0,
            cancelled: 2,
            other: 0
        },
        "progress counts the replayed entry and the cancelled ones"
    );
}

/// Progress counts, from the entries, how each entry of a request stands: waiting, being
/// replayed, replayed, failed, or taken from the request another way.
pub async fn progress_counts_how_each_entry_of_a_request_stands(h: Harness) {
    for name in ["a", "b", "c", "d", "e", "f"] {
        store_tick(&h, name).await;
    }
    let request = h.store.request_replays(ReplayRequestSpec::new(every_new())).await.unwrap();
    let mut tickets = h.store.claim_requested(3).await.unwrap().into_iter();
    h.store.finish_replay(tickets.next().unwrap(), ReplayOutcome::Succeeded).await.unwrap();
    h.store.finish_replay(tickets.next().unwrap(), ReplayOutcome::Failed(timeout(1))).await.unwrap();
    let entries = all_entries(&h).await;
    h.store.dismiss(entries[3].id, Some("not needed".to_owned())).await.unwrap();
    h.store.resolve(entries[4].id, Resolution::HandledExternally, None).await.unwrap();
    // Read from a second handle: progress is in the store, not in the process that asked.
    let progress = h.open_again().await.replay_progress(request.id).await.unwrap();
    assert_eq!(
        progress,
        ReplayProgress { request, remaining: 1, claimed: 1, replayed: 1, failed: 1, cancelled: 0, other: 2 },
        "progress counts, from any handle, each entry as waiting, replaying, replayed, failed, cancelled or other (dismissed or resolved by hand)"
    );
    assert!(!progress.is_done(), "a request with entries waiting or replaying is not done");
}

/// Requests are listed newest first and paged with the last id of a page; an unknown id is
/// `RequestNotFound`.
pub async fn requests_are_listed_newest_first_and_paged(h: Harness) {
    let mut made = Vec::new();
    for name in ["a", "b", "c"] {
        let entry = store_tick(&h, name).await;
        made.push(
            h.store.request_replays(ReplayRequestSpec::new(ReplaySelection::Entry(entry.id))).await.unwrap(),
        );
    }
    made.reverse();
    assert_eq!(h.store.replay_requests(None, 10).await.unwrap(), made, "requests are listed newest first");
    assert_eq!(
        h.store.replay_requests(None, 2).await.unwrap(),
        made[..2],
        "a listing of requests holds at most `limit` of them"
    );
    assert_eq!(
        h.store.replay_requests(Some(made[1].id), 2).await.unwrap(),
        made[2..],
        "a listing of requests continues after the last id of the previous page"
    );
    let unknown = pulse_extensibility::ReplayRequestId::new_at(h.clock.now());
    assert!(
        matches!(h.store.replay_request(unknown).await, Err(Error::RequestNotFound { id }) if id == unknown),
        "reading an unknown request is RequestNotFound naming its id"
    );
    assert!(
        matches!(h.store.cancel_replay_request(unknown).await, Err(Error::RequestNotFound { .. })),
        "cancelling an unknown request is RequestNotFound"
    );
    assert!(
        matches!(h.store.replay_progress(unknown).await, Err(Error::RequestNotFound { .. })),
        "the progress of an unknown request is RequestNotFound"
    );
    assert!(
        matches!(h.store.replay_requests(None, 0).await, Err(Error::InvalidInput { field: "limit", .. })),
        "a listing of requests with a limit of 0 is InvalidInput naming limit"
    );
}

/// A tenant's handle sees, cancels and follows only the requests made in the tenant, and its
/// requests mark only its entries; the all-tenants handle sees every request.
pub async fn a_tenant_sees_only_the_requests_made_in_it(h: Harness) {
    let acme = h.store.for_tenant(tenant("acme"));
    let globex = h.store.for_tenant(tenant("globex"));
    let acme_entry = store(&acme, command("a").tenant(tenant("acme"))).await;
    let globex_entry = store(&globex, command("a").tenant(tenant("globex"))).await;
    let request = acme.request_replays(ReplayRequestSpec::new(every_new())).await.unwrap();
    assert_eq!(
        (request.tenant.clone(), request.requested),
        (Some(tenant("acme")), 1),
        "a request records the tenant whose handle made it, and marks only that tenant's entries"
    );
    assert_eq!(
        h.store.get_entry(globex_entry.id).await.unwrap().unwrap(),
        globex_entry,
        "a tenant's request leaves another tenant's entries untouched"
    );
    assert_eq!(
        h.store.get_entry(acme_entry.id).await.unwrap().unwrap().replay_request,
        Some(request.id),
        "a tenant's request marks that tenant's entries"
    );
    let hidden = "another tenant's handle does not see, cancel or follow a tenant's request: RequestNotFound";
    assert!(
        matches!(globex.replay_request(request.id).await, Err(Error::RequestNotFound { .. })),
        "{hidden}"
    );
    assert!(
        matches!(globex.cancel_replay_request(request.id).await, Err(Error::RequestNotFound { .. })),
        "{hidden}"
    );
    assert!(
        matches!(globex.replay_progress(request.id).await, Err(Error::RequestNotFound { .. })),
        "{hidden}"
    );
    assert_eq!(
        globex.replay_requests(None, 10).await.unwrap(),
        Vec::new(),
        "a tenant's handle lists only the requests made in that tenant"
    );
    let everyone = h.store.request_replays(ReplayRequestSpec::new(every_new())).await.unwrap();
    assert_eq!(
        (everyone.tenant.clone(), everyone.requested),
        (None, 1),
        "an all-tenants request has no tenant and marks unrequested New entries of every tenant (only globex's was left)"
    );
    assert_eq!(
        acme.replay_requests(None, 10).await.unwrap(),
        std::slice::from_ref(&request),
        "a tenant's handle lists only the requests made in that tenant"
    );
    assert!(
        matches!(acme.replay_request(everyone.id).await, Err(Error::RequestNotFound { .. })),
        "a tenant's handle does not see an all-tenants request: RequestNotFound"
    );
    assert_eq!(
        h.store.replay_requests(None, 10).await.unwrap(),
        [everyone, request],
        "the all-tenants handle sees every request"
    );
}

/// Bad requests are `InvalidInput` and record nothing.
pub async fn bad_requests_are_invalid_input_and_record_nothing(h: Harness) {
    let entry = store(&h.store, command("a")).await;
    let too_many: Vec<DeadLetterId> = (0..1001).map(|_| entry.id).collect();
    let cases = [
        (ReplayRequestSpec::new(ReplaySelection::Entries(Vec::new())), "ids"),
        (ReplayRequestSpec::new(ReplaySelection::Entries(too_many)), "ids"),
        (ReplayRequestSpec::new(every_new()).per_second(pace(1_000_001)), "per_second"),
        (ReplayRequestSpec::new(every_new()).note("x".repeat(4001)), "note"),
        (
            ReplayRequestSpec::new(ReplaySelection::Matching(
                EntryFilter::default().statuses([Status::Dismissed]),
            )),
            "statuses",
        ),
        (
            ReplayRequestSpec::new(ReplaySelection::Matching(EntryFilter::default().command_type("a\0"))),
            "command_type",
        ),
    ];
    for (spec, field) in cases {
        let result = h.store.request_replays(spec).await;
        assert!(
            matches!(&result, Err(Error::InvalidInput { field: f, .. }) if *f == field),
            "a bad request is InvalidInput naming {field}; got {result:?}"
        );
    }
    assert_eq!(
        h.store.replay_requests(None, 10).await.unwrap(),
        Vec::new(),
        "a request rejected as InvalidInput records nothing"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap(),
        entry,
        "a request rejected as InvalidInput marks nothing"
    );
}

/// A request for named entries marks those that are New without a pending request, and counts
/// only them.
pub async fn a_request_for_named_entries_marks_only_new_unrequested_ones(h: Harness) {
    let [a, b, c, d] = [
        store_tick(&h, "a").await,
        store_tick(&h, "b").await,
        store_tick(&h, "c").await,
        store_tick(&h, "d").await,
    ];
    h.store.dismiss(b.id, None).await.unwrap();
    let first = h
        .store
        .request_replay(c.id)
        .await
        .unwrap()
        .replay_request
        .expect("a requested entry names its request");
    let request = h
        .store
        .request_replays(ReplayRequestSpec::new(ReplaySelection::Entries(vec![a.id, b.id, c.id])))
        .await
        .unwrap();
    assert_eq!(
        (request.requested, request.selection.as_str()),
        (1, "3 entries"),
        "a request for named entries records how many were named and counts only those it marked"
    );
    let requests: BTreeMap<DeadLetterId, Option<_>> =
        all_entries(&h).await.into_iter().map(|entry| (entry.id, entry.replay_request)).collect();
    assert_eq!(
        requests,
        BTreeMap::from([(a.id, Some(request.id)), (b.id, None), (c.id, Some(first)), (d.id, None)]),
        "a request marks only New entries without a pending request; entries already requested keep theirs"
    );
}

/// Concurrent requests over the same entries mark each entry once: their counts add up to the
/// number of entries, and each entry names the request that counted it.
pub async fn concurrent_requests_mark_each_entry_once(h: Harness) {
    h.store.store_many((0..100).map(|i| command(&format!("c{}", i % 5))).collect()).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (store, barrier) = (h.store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .request_replays(ReplayRequestSpec::new(every_new()))
                    .await
                    .expect("concurrent requests over the same entries all succeed")
            })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        let request = task.await.unwrap();
        let of_request = EntryFilter::default().replay_request(request.id);
        assert_eq!(
            h.store.count(&of_request).await.unwrap().new,
            request.requested,
            "a request's count is the number of entries that name it"
        );
        total += request.requested;
    }
    assert_eq!(
        total, 100,
        "concurrent requests never mark one entry twice: their counts add up to the entries"
    );
    let named: HashSet<_> =
        all_entries(&h).await.into_iter().map(|entry| entry.replay_request.is_some()).collect();
    assert_eq!(named, HashSet::from([true]), "concurrent requests together mark every New entry");
}

/// A cancel racing three claimers and a second cancel, behind a barrier: every entry of the
/// request ends either claimed (Replaying, keeping the request) or cancelled (New, without it),
/// never both; the claims and the cancel's count add up to the request; both cancels answer the
/// same record.
pub async fn a_cancel_racing_claims_takes_each_entry_once(h: Harness) {
    h.store.store_many((0..60).map(|i| command(&format!("c{}", i % 3))).collect()).await.unwrap();
    let request = h.store.request_replays(ReplayRequestSpec::new(every_new())).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(5));
    let claimers: Vec<_> = (0..3)
        .map(|_| {
            let (store, barrier) = (h.store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let mut claimed = 0;
                for _ in 0..10 {
                    claimed += store.claim_requested(4).await.expect("a claim racing a cancel succeeds").len()
                        as u64;
                }
                claimed
            })
        })
        .collect();
    let cancels: Vec<_> = (0..2)
        .map(|_| {
            let (store, barrier) = (h.store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                store
                    .cancel_replay_request(request.id)
                    .await
                    .expect("a cancel racing claims and a cancel succeeds")
            })
        })
        .collect();
    let mut claimed = 0;
    for claimer in claimers {
        claimed += claimer.await.unwrap();
    }
    let mut answers = Vec::new();
    for cancel in cancels {
        answers.push(cancel.await.unwrap());
    }
    assert_eq!(answers[0], answers[1], "both cancels answer the one record");
    assert_eq!(
        claimed + answers[0].cancelled,
        60,
        "each entry of a request is either claimed or cancelled, never both: the counts add up to the request"
    );
    let entries = all_entries(&h).await;
    let replaying: Vec<_> = entries.iter().filter(|entry| entry.status == Status::Replaying).collect();
    let released: Vec<_> = entries.iter().filter(|entry| entry.status == Status::New).collect();
    assert_eq!(
        (replaying.len() as u64, released.len() as u64),
        (claimed, answers[0].cancelled),
        "claimed entries are Replaying and cancelled ones New, as many as the claims and the cancel counted"
    );
    assert!(
        replaying
            .iter()
            .all(|entry| entry.replay_request == Some(request.id) && entry.replay_requested_at.is_some()),
        "a claimed entry keeps its request and slot when the request is cancelled"
    );
    assert!(
        released.iter().all(|entry| entry.replay_request.is_none() && entry.replay_requested_at.is_none()),
        "a cancel takes the request and slot from every entry not yet claimed"
    );
    assert_eq!(
        h.store.claim_requested(100).await.unwrap(),
        Vec::new(),
        "nothing of the request is left to claim"
    );
}

/// Counts for a filter equal what a listing with the same filter returns, status by status,
/// for every field of the filter.
pub async fn count_matches_the_listing_for_every_filter(h: Harness) {
    let mut stored = Vec::new();
    for i in 0..12 {
        stored.push(store_tick(&h, ["orders.create", "orders.cancel", "billing.charge"][i % 3]).await);
    }
    h.store.dismiss(stored[0].id, None).await.unwrap();
    h.store.resolve(stored[1].id, Resolution::HandledExternally, None).await.unwrap();
    let _ticket = h.store.begin_replay(stored[2].id).await.unwrap();
    let request = h
        .store
        .request_replays(ReplayRequestSpec::new(ReplaySelection::Entries(ids(&stored[3..6]))))
        .await
        .unwrap();
    let filters = [
        EntryFilter::default(),
        EntryFilter::default().command_type("orders.create"),
        EntryFilter::default().fingerprint(stored[4].fingerprint.clone()),
        EntryFilter::default().replay_request(request.id),
        EntryFilter::default().replay_pending(false),
        EntryFilter::default().statuses([Status::New, Status::Dismissed]),
        EntryFilter::default().occurred_before(stored[6].occurred_at),
        EntryFilter::default().ids(ids(&stored[..4])),
        EntryFilter::default().resolved_before(h.clock.now().saturating_add(Duration::from_secs(1))),
        EntryFilter::default().resolved_before(stored[0].created_at),
    ];
    for filter in filters {
        let query = ListQuery::default().filter(filter.clone()).limit(1000);
        let mut expected = Statistics::default();
        for entry in h.store.list(query).await.unwrap().entries {
            expected.add(entry.status, 1);
        }
        assert_eq!(
            h.store.count(&filter).await.unwrap(),
            expected,
            "count gives the count per status of exactly the entries list returns for the filter ({filter})"
        );
    }
    let tenant_view = h.store.for_tenant(tenant("nobody"));
    assert_eq!(
        tenant_view.count(&EntryFilter::default()).await.unwrap(),
        Statistics::default(),
        "count in a tenant scope counts only that tenant's entries"
    );
}

/// The oldest due replay is the earliest slot that has come among New entries still waiting:
/// how long replays have waited with no worker claiming them.
pub async fn oldest_due_replay_is_the_earliest_waiting_slot(h: Harness) {
    assert_eq!(h.store.oldest_due_replay().await.unwrap(), None, "with no replay requested, none is due");
    for name in ["a", "b", "c"] {
        store_tick(&h, name).await;
    }
    let request =
        h.store.request_replays(ReplayRequestSpec::new(every_new()).per_second(pace(1))).await.unwrap();
    let rule = "the oldest due replay is the earliest slot that has come among New entries still waiting";
    assert_eq!(h.store.oldest_due_replay().await.unwrap(), Some(request.requested_at), "{rule}");
    h.clock.advance(Duration::from_secs(5));
    assert_eq!(h.store.oldest_due_replay().await.unwrap(), Some(request.requested_at), "{rule}");
    let _tickets = h.store.claim_requested(1).await.unwrap();
    assert_eq!(
        h.store.oldest_due_replay().await.unwrap(),
        Some(request.slot(1)),
        "{rule}: a claimed entry no longer waits"
    );
    let _rest = h.store.claim_requested(10).await.unwrap();
    assert_eq!(h.store.oldest_due_replay().await.unwrap(), None, "{rule}: none when every entry was claimed");
}

/// Every operator change records who made it: request, dismiss, resolve, edit; a handle without
/// an actor records none, and a replay finishing keeps who asked for it.
pub async fn every_operator_change_records_who_made_it(h: Harness) {
    let ana = h.store.acting_as(actor("ana"));
    let [a, b, c] = [store_tick(&h, "a").await, store_tick(&h, "b").await, store_tick(&h, "c").await];
    let rule =
        "every operator change through a handle made with acting_as(actor) records the actor on the entry";
    assert_eq!(ana.dismiss(a.id, None).await.unwrap().changed_by, Some(actor("ana")), "{rule}: dismiss");
    assert_eq!(
        ana.resolve(b.id, Resolution::HandledExternally, None).await.unwrap().changed_by,
        Some(actor("ana")),
        "{rule}: resolve"
    );
    assert_eq!(
        ana.edit_payload(c.id, "{}".to_owned(), 1).await.unwrap().changed_by,
        Some(actor("ana")),
        "{rule}: edit"
    );
    assert_eq!(
        h.store.edit_payload(c.id, "{}".to_owned(), 2).await.unwrap().changed_by,
        None,
        "a change through a handle without an actor records none"
    );
    assert_eq!(ana.request_replay(c.id).await.unwrap().changed_by, Some(actor("ana")), "{rule}: request");
    let ticket = h
        .store
        .claim_requested(1)
        .await
        .unwrap()
        .pop()
        .expect("a requested entry whose slot has come is claimed");
    let finished = h.store.finish_replay(ticket, ReplayOutcome::Succeeded).await.unwrap();
    assert_eq!(
        finished.changed_by,
        Some(actor("ana")),
        "a replay finishing keeps the actor who asked for it"
    );
    for bad in ["", "  ", "a\nb"] {
        assert!(
            matches!(Actor::new(bad), Err(Error::InvalidInput { field: "actor", .. })),
            "an empty or blank actor, or one with a control character, is InvalidInput naming actor ({bad:?})"
        );
    }
    assert!(Actor::new("x".repeat(201)).is_err(), "an actor of more than 200 characters is rejected");
}
