//! Real parallel tasks racing on one store, released together by a barrier and repeated, so
//! they overlap on every backend.

use std::collections::HashSet;
use std::sync::Arc;

use pulse_extensibility::{
    CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetterId, DeadLetters, Error, ReplayOutcome,
    ReplayTicket, Resolution,
};

use super::{LIVE_LEASE, command, race, store};
use crate::Harness;
use crate::interleave::Interleaved;

/// 100 concurrent stores of distinct commands all land, with distinct ids.
pub async fn concurrent_stores_all_land(h: Harness) {
    let results = race(100, |i| {
        let store = h.store.clone();
        async move { store.store(command(&format!("c{i}")).message_id(format!("m-{i}"))).await }
    })
    .await;
    let ids: HashSet<_> =
        results.into_iter().map(|result| result.expect("a concurrent store succeeds").id).collect();
    assert_eq!(ids.len(), 100, "concurrent stores of distinct commands get distinct ids");
    assert_eq!(h.store.statistics().await.unwrap().new, 100, "every concurrent store lands");
}

/// A dismiss racing a replay on each of 30 entries: per entry, exactly one of them wins, and the
/// loser is told why: a replay that lost to the dismiss is `Dismissed`; a dismiss that lost to
/// the replay is a `Conflict` because of the replay's live lease.
pub async fn concurrent_dismiss_and_replay_exactly_one_wins(h: Harness) {
    for i in 0..30 {
        let entry = store(&h.store, command(&format!("c{i}"))).await;
        let mut results = race(2, |task| {
            let store = h.store.clone();
            async move {
                if task == 0 {
                    store.dismiss(entry.id, None).await.map(|dismissed| (dismissed, None))
                } else {
                    store.begin_replay(entry.id).await.map(|ticket| (ticket.entry, Some(ticket.lease)))
                }
            }
        })
        .await;
        let (replayed, dismissed) = (results.pop().unwrap(), results.pop().unwrap());
        let stored = h.store.get_entry(entry.id).await.unwrap().unwrap();
        match (dismissed, replayed) {
            (Ok((d, _)), Err(Error::Dismissed { id })) => {
                assert_eq!(id, entry.id, "a replay that lost to a dismiss is Dismissed naming the entry");
                assert_eq!(
                    (d.status, &stored),
                    (Status::Dismissed, &d),
                    "the winning dismiss is what is stored"
                );
            }
            (Err(Error::Conflict { reason, .. }), Ok((t, _))) => {
                assert_eq!(
                    reason, LIVE_LEASE,
                    "a dismiss that lost to a replay conflicts on the replay's live lease"
                );
                assert_eq!(
                    (t.status, &stored),
                    (Status::Replaying, &t),
                    "the winning replay is what is stored"
                );
            }
            other => panic!("of a dismiss and a replay racing on one entry, exactly one wins: {other:?}"),
        }
    }
}

/// Two finishes racing with the same lease, 20 times over: one applies, the other is
/// `LeaseLost`; the failure is counted once.
pub async fn concurrent_finishes_with_one_token_apply_once(h: Harness) {
    for i in 0..20 {
        let entry = store(&h.store, command(&format!("c{i}"))).await;
        let ticket = h.store.begin_replay(entry.id).await.unwrap();
        let results = race(2, |task| {
            let store = h.store.clone();
            let twin = ReplayTicket { entry: ticket.entry.clone(), lease: ticket.lease };
            async move {
                store
                    .finish_replay(twin, ReplayOutcome::Failed(super::timeout(if task == 0 { 1 } else { 2 })))
                    .await
            }
        })
        .await;
        let applied: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(applied.len(), 1, "of two finishes with one lease, exactly one applies: {results:?}");
        assert!(
            results.iter().any(|r| matches!(r, Err(Error::LeaseLost { .. }))),
            "the other finish is LeaseLost: {results:?}"
        );
        let stored = h.store.get_entry(entry.id).await.unwrap().unwrap();
        assert_eq!((&stored, stored.attempt_count), (applied[0], 2), "the failed replay is counted once");
    }
}

/// An operator's change whose compare-and-swap loses (a replay began between its read and its
/// write, made to happen every time, by `begin_replay` or by a worker's claim of a requested
/// entry) reads the entry again and decides again: dismiss, resolve and an edit each get a
/// `Conflict` on the replay's live lease, and the store holds the replay's entry, unchanged by
/// them. So a replay's start, a claim included, advances the revision, and a change that
/// reported success without having written is caught, which races that happen not to overlap
/// would miss.
pub async fn a_change_that_loses_its_swap_reads_and_decides_again(h: Harness) {
    type Change = fn(DeadLetters, DeadLetterId) -> BoxedChange;
    let changes: [(&str, Change); 3] = [
        ("dismiss", |s, id| Box::pin(async move { s.dismiss(id, None).await })),
        ("resolve", |s, id| {
            Box::pin(async move { s.resolve(id, Resolution::HandledExternally, None).await })
        }),
        ("edit_payload", |s, id| Box::pin(async move { s.edit_payload(id, "{}".to_owned(), 1).await })),
    ];
    for (name, change) in changes {
        for by_claim in [false, true] {
            let rival_name = if by_claim { "a claim" } else { "begin_replay" };
            let entry = store(&h.store, command(name)).await;
            if by_claim {
                h.store.request_replay(entry.id).await.unwrap();
            }
            let rival = h.store.clone();
            let won = Arc::new(std::sync::Mutex::new(None));
            let record = won.clone();
            let interleaved = Interleaved::new(h.store.backend().clone(), async move {
                let ticket = if by_claim {
                    rival.claim_requested(10).await.ok().and_then(|mut claimed| claimed.pop())
                } else {
                    rival.begin_replay(entry.id).await.ok()
                };
                *record.lock().unwrap() = ticket.map(|ticket| ticket.entry);
            });
            let loser = h.dead_letters_over(Arc::new(interleaved));
            let result = change(loser, entry.id).await;
            let replaying = won
                .lock()
                .unwrap()
                .clone()
                .unwrap_or_else(|| panic!("{rival_name} takes the entry before {name} swaps"));
            assert_eq!(
                replaying.revision,
                entry.revision + 1 + u64::from(by_claim),
                "{rival_name} advances the entry's revision"
            );
            match result {
                Err(Error::Conflict { reason, .. }) => assert_eq!(
                    reason, LIVE_LEASE,
                    "{name} that lost its swap to {rival_name} reads again and conflicts on the replay's live lease"
                ),
                other => panic!(
                    "{name} that lost its swap to {rival_name} reads again and conflicts, never reports a change it did not write: {other:?}"
                ),
            }
            assert_eq!(
                h.store.get_entry(entry.id).await.unwrap(),
                Some(replaying),
                "{name} that lost its swap to {rival_name} leaves the replay's entry as the replay wrote it"
            );
        }
    }
}

type BoxedChange =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<DeadLetterEntry, Error>> + Send>>;
