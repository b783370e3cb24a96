//! Reading single entries and the pending queue.

use std::time::Duration;

use pulse_extensibility::{DeadLetterId, Error, Resolution, Timestamp};

use super::{command, ids, store, store_tick};
use crate::Harness;

/// An id that was never stored reads as `None`.
pub async fn get_entry_of_an_unknown_id_is_none(h: Harness) {
    store(&h.store, command("orders.create")).await;
    let unknown = DeadLetterId::new_at(Timestamp::from_micros(0));
    assert_eq!(h.store.get_entry(unknown).await.unwrap(), None, "get_entry of an id never stored is None");
}

/// `get_entry` returns entries whatever their status.
pub async fn get_entry_returns_entries_in_every_status(h: Harness) {
    let dismissed = store(&h.store, command("a")).await;
    let resolved = store(&h.store, command("b")).await;
    let replaying = store(&h.store, command("c")).await;
    let dismissed = h.store.dismiss(dismissed.id, None).await.unwrap();
    let resolved = h.store.resolve(resolved.id, Resolution::HandledExternally, None).await.unwrap();
    let ticket = h.store.begin_replay(replaying.id).await.unwrap();
    for expected in [dismissed, resolved, ticket.entry] {
        assert_eq!(
            h.store.get_entry(expected.id).await.unwrap(),
            Some(expected),
            "get_entry returns the entry in any status"
        );
    }
}

/// Pending entries come oldest failure first.
pub async fn get_pending_returns_new_entries_oldest_first(h: Harness) {
    let a = store_tick(&h, "a").await;
    let b = store_tick(&h, "b").await;
    let c = store_tick(&h, "c").await;
    // A failed replay moves `a` to the back: its latest failure is now.
    let ticket = h.store.begin_replay(a.id).await.unwrap();
    let a = h
        .store
        .finish_replay(ticket, pulse_extensibility::ReplayOutcome::Failed(super::timeout(1)))
        .await
        .unwrap();
    let pending = h.store.get_pending(10, 0).await.unwrap();
    assert_eq!(pending, vec![b, c, a], "get_pending returns New entries, oldest latest failure first");
}

/// Entries that failed in the same microsecond come in id order.
pub async fn get_pending_breaks_ties_by_id(h: Harness) {
    let receipts = h.store.store_many((0..5).map(|i| command(&format!("c{i}"))).collect()).await.unwrap();
    let mut expected: Vec<_> = receipts.iter().map(|r| r.id).collect();
    expected.sort();
    assert_eq!(
        ids(&h.store.get_pending(10, 0).await.unwrap()),
        expected,
        "get_pending orders entries that failed at the same instant by id"
    );
}

/// `count` bounds the page and `skip` skips from the oldest.
pub async fn get_pending_counts_and_skips(h: Harness) {
    let mut all = Vec::new();
    for i in 0..7 {
        all.push(store_tick(&h, &format!("c{i}")).await.id);
    }
    let rule = "get_pending returns at most `count` entries after skipping the `skip` oldest";
    assert_eq!(ids(&h.store.get_pending(3, 0).await.unwrap()), all[0..3], "{rule}");
    assert_eq!(ids(&h.store.get_pending(3, 3).await.unwrap()), all[3..6], "{rule}");
    assert_eq!(ids(&h.store.get_pending(3, 6).await.unwrap()), all[6..7], "{rule}");
    assert_eq!(h.store.get_pending(3, 7).await.unwrap(), Vec::new(), "{rule}");
    assert_eq!(h.store.get_pending(3, u64::MAX).await.unwrap(), Vec::new(), "{rule}");
}

/// `count` must be 1 to 1000.
pub async fn get_pending_rejects_counts_outside_1_to_1000(h: Harness) {
    store(&h.store, command("a")).await;
    for bad in [0, 1001, u32::MAX] {
        assert!(
            matches!(h.store.get_pending(bad, 0).await, Err(Error::InvalidInput { field: "count", .. })),
            "get_pending's count is 1 to 1000; {bad} is InvalidInput naming count"
        );
    }
    let rule = "get_pending accepts a count of 1 and of 1000";
    assert_eq!(h.store.get_pending(1000, 0).await.unwrap().len(), 1, "{rule}");
    assert_eq!(h.store.get_pending(1, 0).await.unwrap().len(), 1, "{rule}");
}

/// Replaying, Resolved and Dismissed entries are not pending.
pub async fn get_pending_leaves_out_entries_that_are_not_new(h: Harness) {
    let new = store_tick(&h, "new").await;
    let replaying = store_tick(&h, "replaying").await;
    let resolved = store_tick(&h, "resolved").await;
    let dismissed = store_tick(&h, "dismissed").await;
    let _ticket = h.store.begin_replay(replaying.id).await.unwrap();
    h.store.resolve(resolved.id, Resolution::HandledExternally, None).await.unwrap();
    h.store.dismiss(dismissed.id, None).await.unwrap();
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(
        h.store.get_pending(10, 0).await.unwrap(),
        vec![new],
        "get_pending returns only New entries: not Replaying, Resolved or Dismissed ones"
    );
}
