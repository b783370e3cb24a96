//! Purge: only terminal entries, only old enough, never twice.

use std::time::Duration;

use pulse_extensibility::{Error, ReplayOutcome, Resolution, Statistics};

use super::{command, race, store};
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
    let rule = "purge deletes only Resolved and Dismissed entries resolved strictly before the cut-off";
    assert_eq!(h.store.purge(cutoff, 100).await.unwrap(), 2, "{rule}, and returns how many");
    assert_eq!(h.store.get_entry(old_resolved.id).await.unwrap(), None, "{rule}: a Resolved one goes");
    assert_eq!(h.store.get_entry(old_dismissed.id).await.unwrap(), None, "{rule}: a Dismissed one goes");
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { new: 1, replaying: 1, resolved: 0, dismissed: 1, total: 3 },
        "{rule}: New and Replaying entries and one resolved at the cut-off stay"
    );
    assert!(h.store.get_entry(new.id).await.unwrap().is_some(), "purge never touches a New entry");
    assert_eq!(
        h.store.purge(cutoff, 100).await.unwrap(),
        0,
        "a purge again at the same cut-off deletes nothing"
    );
}

/// Purge deletes at most `limit` entries a call.
pub async fn purge_respects_the_limit(h: Harness) {
    let receipts = h.store.store_many((0..10).map(|i| command(&format!("c{i}"))).collect()).await.unwrap();
    for receipt in &receipts {
        h.store.dismiss(receipt.id, None).await.unwrap();
    }
    h.clock.advance(Duration::from_secs(1));
    let cutoff = h.clock.now();
    let rule = "purge deletes up to `limit` entries a call and returns the count";
    assert_eq!(h.store.purge(cutoff, 4).await.unwrap(), 4, "{rule}");
    assert_eq!(h.store.purge(cutoff, 4).await.unwrap(), 4, "{rule}");
    assert_eq!(h.store.purge(cutoff, 4).await.unwrap(), 2, "{rule}");
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics::default(),
        "purges up to a limit together delete every entry they may"
    );
}

/// A limit of zero is rejected.
pub async fn purge_rejects_a_zero_limit(h: Harness) {
    assert!(
        matches!(h.store.purge(h.clock.now(), 0).await, Err(Error::InvalidInput { field: "limit", .. })),
        "a purge limit of zero is InvalidInput naming limit"
    );
}

/// A purge of 1,000 over 700 old terminal entries deletes exactly them, never more than the
/// limit a call, and leaves unresolved entries alone, however a backend splits the work.
pub async fn a_large_purge_deletes_exactly_what_it_may(h: Harness) {
    let receipts =
        h.store.store_many((0..700).map(|i| command(&format!("c{}", i % 7))).collect()).await.unwrap();
    h.store.request_replay_matching(pulse_extensibility::EntryFilter::default()).await.unwrap();
    let tickets = h.store.claim_requested(1000).await.unwrap();
    assert_eq!(
        tickets.len(),
        700,
        "a claim takes every requested entry whose slot has come, up to its limit"
    );
    for ticket in tickets {
        h.store.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await.unwrap();
    }
    let pending = store(&h.store, command("kept")).await;
    h.clock.advance(Duration::from_secs(1));
    let cutoff = h.clock.now();
    let rule = "purge deletes up to `limit` Resolved and Dismissed entries resolved before the cut-off, and returns the count";
    assert_eq!(h.store.purge(cutoff, 300).await.unwrap(), 300, "{rule}");
    assert_eq!(h.store.purge(cutoff, 1000).await.unwrap(), 400, "{rule}");
    assert_eq!(h.store.purge(cutoff, 1000).await.unwrap(), 0, "{rule}");
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { new: 1, replaying: 0, resolved: 0, dismissed: 0, total: 1 },
        "a large purge deletes every entry it may and never a New one"
    );
    assert_eq!(h.store.get_entry(receipts[0].id).await.unwrap(), None, "a purged entry reads as absent");
    assert!(h.store.get_entry(pending.id).await.unwrap().is_some(), "purge never touches a New entry");
}

/// Eight purges racing over 300 entries, released together by a barrier, never fail and together delete each entry once.
pub async fn concurrent_purges_delete_each_entry_once(h: Harness) {
    let receipts =
        h.store.store_many((0..300).map(|i| command(&format!("c{}", i % 5))).collect()).await.unwrap();
    h.store.request_replay_matching(pulse_extensibility::EntryFilter::default()).await.unwrap();
    for ticket in h.store.claim_requested(1000).await.unwrap() {
        h.store.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await.unwrap();
    }
    assert_eq!(
        h.store.statistics().await.unwrap().resolved,
        receipts.len() as u64,
        "every claimed entry whose replay succeeded is Resolved"
    );
    h.clock.advance(Duration::from_secs(1));
    let cutoff = h.clock.now();
    let purged = race(8, |_| {
        let store = h.store.clone();
        async move {
            let mut purged = 0;
            // Bounded: 300 entries in purges of 16 take at most 19 non-empty purges.
            for _ in 0..100 {
                match store.purge(cutoff, 16).await.expect("concurrent purges never fail") {
                    0 => return purged,
                    n => purged += n,
                }
            }
            panic!(
                "concurrent purges never delete a row twice, so 300 entries run dry within 100 purges of 16 (they did not)"
            );
        }
    })
    .await;
    let total: u64 = purged.iter().sum();
    assert_eq!(total, 300, "concurrent purges together count each entry they delete once");
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics::default(),
        "concurrent purges together delete every entry they may"
    );
}

/// An entry resolved, then replayed again (`begin_replay_resolved`), is not terminal while that
/// replay runs: a purge past its first resolution keeps it. Once the second replay resolves it,
/// its `resolved_at` is the second resolution, so a purge between the two keeps it and one past
/// the second deletes it.
pub async fn purge_keeps_an_entry_replayed_again_after_it_was_resolved(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let first = h.store.resolve(entry.id, Resolution::HandledExternally, None).await.unwrap();
    h.clock.advance(Duration::from_secs(10));
    let between = h.clock.now();
    let ticket = h.store.begin_replay_resolved(entry.id, first.revision).await.unwrap();
    h.clock.advance(Duration::from_secs(10));
    assert_eq!(h.store.purge(h.clock.now(), 100).await.unwrap(), 0, "purge never deletes a Replaying entry");
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap(),
        Some(ticket.entry.clone()),
        "purge never deletes a Replaying entry, whatever its earlier resolved_at"
    );
    let second = h.store.finish_replay(ticket, ReplayOutcome::Succeeded).await.unwrap();
    assert_eq!(second.resolved_at, Some(h.clock.now()), "a second resolution sets resolved_at again");
    h.clock.advance(Duration::from_secs(10));
    assert_eq!(
        h.store.purge(between, 100).await.unwrap(),
        0,
        "purge deletes only entries resolved strictly before the cut-off, by their latest resolution"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap(),
        Some(second),
        "purge keeps an entry whose latest resolution is at or after the cut-off"
    );
    assert_eq!(
        h.store.purge(h.clock.now(), 100).await.unwrap(),
        1,
        "past the second resolution it is purged"
    );
    assert_eq!(h.store.get_entry(entry.id).await.unwrap(), None, "the purged entry is gone");
}
