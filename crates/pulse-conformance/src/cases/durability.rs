//! Durability: what was acknowledged is there after the store is closed and opened again.
//!
//! These cases run only on backends declared durable (`conformance_tests!(factory)`); with
//! `durable = false` they are reported as ignored, with the reason.

use pulse_extensibility::{Resolution, Statistics};

use super::{command, store};
use crate::Harness;

/// Entries and their states survive closing and reopening the store.
pub async fn reopen_keeps_entries_and_their_state(h: Harness) {
    h.assert_durable();
    let new = store(&h.store, command("a").message_id("m-1").metadata("k", "v")).await;
    let dismissed = store(&h.store, command("b")).await;
    let dismissed = h.store.dismiss(dismissed.id, Some("note".to_owned())).await.unwrap();
    let replaying = store(&h.store, command("c")).await;
    let ticket = h.store.begin_replay(replaying.id).await.unwrap();
    let h = h.reopen().await;
    let rule = "an acknowledged write survives closing and reopening the store, field for field";
    assert_eq!(h.store.get_entry(new.id).await.unwrap().as_ref(), Some(&new), "{rule}: a New entry");
    assert_eq!(
        h.store.get_entry(dismissed.id).await.unwrap().as_ref(),
        Some(&dismissed),
        "{rule}: a Dismissed entry"
    );
    assert_eq!(
        h.store.get_entry(replaying.id).await.unwrap().as_ref(),
        Some(&ticket.entry),
        "{rule}: a Replaying entry and its lease"
    );
    // The replay lease survives too: the replayer can still finish.
    let resolved = h
        .store
        .finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded)
        .await
        .expect("a replay lease survives reopening: its holder can still finish");
    assert_eq!(
        resolved.resolution,
        Some(Resolution::Replayed),
        "a replay finished after reopening resolves the entry as replayed"
    );
    // Idempotency keys survive.
    assert!(
        h.store.store(command("a").message_id("m-1")).await.unwrap().duplicate,
        "message ids survive reopening: storing one again is a duplicate"
    );
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { new: 1, replaying: 0, resolved: 1, dismissed: 1, total: 3 },
        "{rule}: nothing is lost or added"
    );
}
