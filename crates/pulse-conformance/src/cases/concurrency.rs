//! Real parallel tasks racing on one store.

use std::collections::HashSet;

use pulse_extensibility::{CommandDeadLetterStatus as Status, Error, ReplayOutcome, ReplayTicket};

use super::{command, store};
use crate::Harness;

/// 100 concurrent stores of distinct commands all land, with distinct ids.
pub async fn concurrent_stores_all_land(h: Harness) {
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = h.store.clone();
            tokio::spawn(
                async move { store.store(command(&format!("c{i}")).message_id(format!("m-{i}"))).await },
            )
        })
        .collect();
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap().unwrap().id);
    }
    assert_eq!(ids.len(), 100);
    assert_eq!(h.store.statistics().await.unwrap().new, 100);
}

/// A dismiss racing a replay on each of 20 entries: per entry, exactly one of them wins.
pub async fn concurrent_dismiss_and_replay_exactly_one_wins(h: Harness) {
    for i in 0..20 {
        let entry = store(&h.store, command(&format!("c{i}"))).await;
        let (dismisser, replayer) = (h.store.clone(), h.store.clone());
        let dismiss = tokio::spawn(async move { dismisser.dismiss(entry.id, None).await });
        let replay = tokio::spawn(async move { replayer.begin_replay(entry.id).await });
        let (dismissed, replayed) = (dismiss.await.unwrap(), replay.await.unwrap());
        let stored = h.store.get_entry(entry.id).await.unwrap().unwrap();
        match (dismissed, replayed) {
            (Ok(d), Err(Error::Dismissed { .. })) => assert_eq!((d.status, &stored), (Status::Dismissed, &d)),
            (Err(Error::Conflict { .. }), Ok(t)) => {
                assert_eq!((t.entry.status, &stored), (Status::Replaying, &t.entry));
            }
            other => panic!("both or neither won: {other:?}"),
        }
    }
}

/// Two finishes racing with the same lease: one applies, the other is LeaseLost; one attempt.
pub async fn concurrent_finishes_with_one_token_apply_once(h: Harness) {
    for i in 0..10 {
        let entry = store(&h.store, command(&format!("c{i}"))).await;
        let ticket = h.store.begin_replay(entry.id).await.unwrap();
        let twin = ReplayTicket { entry: ticket.entry.clone(), lease: ticket.lease };
        let (a, b) = (h.store.clone(), h.store.clone());
        let first =
            tokio::spawn(
                async move { a.finish_replay(ticket, ReplayOutcome::Failed(super::timeout(1))).await },
            );
        let second =
            tokio::spawn(
                async move { b.finish_replay(twin, ReplayOutcome::Failed(super::timeout(2))).await },
            );
        let results = [first.await.unwrap(), second.await.unwrap()];
        let applied: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(applied.len(), 1, "{results:?}");
        assert!(results.iter().any(|r| matches!(r, Err(Error::LeaseLost { .. }))));
        let stored = h.store.get_entry(entry.id).await.unwrap().unwrap();
        assert_eq!((&stored, stored.attempt_count), (applied[0], 2));
    }
}
