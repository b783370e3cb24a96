//! Durability: what was acknowledged is there after a reopen, and to a second handle.

use pulse_extensibility::{Resolution, Statistics};

use super::{command, store};
use crate::Harness;

/// Entries and their states survive closing and reopening the store.
pub async fn reopen_keeps_entries_and_their_state(h: Harness) {
    if !h.requires_durability("reopen_keeps_entries_and_their_state") {
        return;
    }
    let new = store(&h.store, command("a").message_id("m-1").metadata("k", "v")).await;
    let dismissed = store(&h.store, command("b")).await;
    let dismissed = h.store.dismiss(dismissed.id, Some("note".to_owned())).await.unwrap();
    let replaying = store(&h.store, command("c")).await;
    let ticket = h.store.begin_replay(replaying.id).await.unwrap();
    let h = h.reopen().await;
    assert_eq!(h.store.get_entry(new.id).await.unwrap().as_ref(), Some(&new));
    assert_eq!(h.store.get_entry(dismissed.id).await.unwrap().as_ref(), Some(&dismissed));
    assert_eq!(h.store.get_entry(replaying.id).await.unwrap().as_ref(), Some(&ticket.entry));
    // The replay lease survives too: the replayer can still finish.
    let resolved =
        h.store.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await.unwrap();
    assert_eq!(resolved.resolution, Some(Resolution::Replayed));
    // Idempotency keys survive.
    assert!(h.store.store(command("a").message_id("m-1")).await.unwrap().duplicate);
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { new: 1, replaying: 0, resolved: 1, dismissed: 1, total: 3 }
    );
}

/// A second handle on the same store, as another process would open it, sees every write.
pub async fn a_second_handle_sees_every_write(h: Harness) {
    let other = h.open_again().await;
    let entry = store(&h.store, command("a")).await;
    assert_eq!(other.get_entry(entry.id).await.unwrap().as_ref(), Some(&entry));
    let dismissed = other.dismiss(entry.id, None).await.unwrap();
    assert_eq!(h.store.get_entry(entry.id).await.unwrap(), Some(dismissed));
}
