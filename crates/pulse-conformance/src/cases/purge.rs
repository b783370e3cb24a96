//! Purge: only terminal entries, only old enough, never twice.

use std::time::Duration;

use pulse_extensibility::{Error, Resolution, Statistics};

use super::{command, store};
use crate::Harness;

/// Purge deletes Resolved and Dismissed entries resolved strictly before the cut-off, nothing else.
pub async fn purge_deletes_only_terminal_entries_resolved_strictly_before(h: Harness) {
    let old_resolved = store(&h.store, command("a")).await;
    let old_dismissed = store(&h.store, command("b")).await;
    let new = store(&h.store, command("c")).await;
    let replaying = store(&h.store, command("d")).await;
    let at_cutoff = store(&h.store, command("e")).await;
    h.store.resolve(old_resolved.id, Resolution::HandledExternally, None).await.unwrap();
    h.store.dismiss(old_dismissed.id, None).await.unwrap();
    let _ticket = h.store.begin_replay(replaying.id).await.unwrap();
    h.clock.advance(Duration::from_secs(60));
    let cutoff = h.clock.now();
    h.store.dismiss(at_cutoff.id, None).await.unwrap();
    h.clock.advance(Duration::from_secs(3600));
    assert_eq!(h.store.purge(cutoff, 100).await.unwrap(), 2);
    assert_eq!(h.store.get_entry(old_resolved.id).await.unwrap(), None);
    assert_eq!(h.store.get_entry(old_dismissed.id).await.unwrap(), None);
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { new: 1, replaying: 1, resolved: 0, dismissed: 1, total: 3 }
    );
    assert!(h.store.get_entry(new.id).await.unwrap().is_some());
    assert_eq!(h.store.purge(cutoff, 100).await.unwrap(), 0);
}

/// Purge deletes at most `limit` entries a call.
pub async fn purge_respects_the_limit(h: Harness) {
    let receipts = h.store.store_many((0..10).map(|i| command(&format!("c{i}"))).collect()).await.unwrap();
    for receipt in &receipts {
        h.store.dismiss(receipt.id, None).await.unwrap();
    }
    h.clock.advance(Duration::from_secs(1));
    let cutoff = h.clock.now();
    assert_eq!(h.store.purge(cutoff, 4).await.unwrap(), 4);
    assert_eq!(h.store.purge(cutoff, 4).await.unwrap(), 4);
    assert_eq!(h.store.purge(cutoff, 4).await.unwrap(), 2);
    assert_eq!(h.store.statistics().await.unwrap(), Statistics::default());
}

/// A limit of zero is rejected.
pub async fn purge_rejects_a_zero_limit(h: Harness) {
    assert!(matches!(h.store.purge(h.clock.now(), 0).await, Err(Error::InvalidInput { field: "limit", .. })));
}

/// A purge of 1,000 over 700 old terminal entries deletes exactly them, never more than the
/// limit a call, and leaves unresolved entries alone, however a backend splits the work.
pub async fn a_large_purge_deletes_exactly_what_it_may(h: Harness) {
    let receipts =
        h.store.store_many((0..700).map(|i| command(&format!("c{}", i % 7))).collect()).await.unwrap();
    h.store.request_replay_matching(pulse_extensibility::EntryFilter::default()).await.unwrap();
    let tickets = h.store.claim_requested(1000).await.unwrap();
    assert_eq!(tickets.len(), 700);
    for ticket in tickets {
        h.store.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await.unwrap();
    }
    let pending = store(&h.store, command("kept")).await;
    h.clock.advance(Duration::from_secs(1));
    let cutoff = h.clock.now();
    assert_eq!(h.store.purge(cutoff, 300).await.unwrap(), 300);
    assert_eq!(h.store.purge(cutoff, 1000).await.unwrap(), 400);
    assert_eq!(h.store.purge(cutoff, 1000).await.unwrap(), 0);
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { new: 1, replaying: 0, resolved: 0, dismissed: 0, total: 1 }
    );
    assert_eq!(h.store.get_entry(receipts[0].id).await.unwrap(), None);
    assert!(h.store.get_entry(pending.id).await.unwrap().is_some());
}

/// Eight purges racing over 300 entries never fail and together delete each entry once.
pub async fn concurrent_purges_delete_each_entry_once(h: Harness) {
    let receipts =
        h.store.store_many((0..300).map(|i| command(&format!("c{}", i % 5))).collect()).await.unwrap();
    h.store.request_replay_matching(pulse_extensibility::EntryFilter::default()).await.unwrap();
    for ticket in h.store.claim_requested(1000).await.unwrap() {
        h.store.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await.unwrap();
    }
    assert_eq!(h.store.statistics().await.unwrap().resolved, receipts.len() as u64);
    h.clock.advance(Duration::from_secs(1));
    let cutoff = h.clock.now();
    let purgers: Vec<_> = (0..8)
        .map(|_| {
            let store = h.store.clone();
            tokio::spawn(async move {
                let mut purged = 0;
                // Bounded: 300 entries in purges of 16 take at most 19 non-empty purges.
                for _ in 0..100 {
                    match store.purge(cutoff, 16).await.unwrap() {
                        0 => return purged,
                        n => purged += n,
                    }
                }
                panic!("purges never ran dry: rows are counted more than once");
            })
        })
        .collect();
    let mut total = 0;
    for purger in purgers {
        total += purger.await.unwrap();
    }
    assert_eq!(total, 300);
    assert_eq!(h.store.statistics().await.unwrap(), Statistics::default());
}
