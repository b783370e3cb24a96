//! Editing a payload before replay: the first payload is kept for audit.

use std::time::Duration;

use pulse_extensibility::{DeadLetterEntry, Error};

use super::{command, store};
use crate::{Harness, LEASE};

/// An edit replaces the payload and version and keeps the captured payload.
pub async fn edit_replaces_the_payload_and_keeps_the_original(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    h.clock.advance(Duration::from_secs(1));
    let edited = h
        .store
        .edit_payload(entry.id, r#"{"order_id":43}"#.to_owned(), 2)
        .await
        .expect("editing the payload of a New entry succeeds");
    let now = h.clock.now();
    let expected = DeadLetterEntry {
        payload: r#"{"order_id":43}"#.to_owned(),
        original_payload: Some(entry.payload.clone()),
        command_version: 2,
        updated_at: now,
        revision: entry.revision + 1,
        ..entry.clone()
    };
    assert_eq!(
        edited, expected,
        "an edit replaces the payload, sets the command version given and keeps the captured payload as original_payload"
    );
    // A second edit keeps the payload as first captured.
    let again = h.store.edit_payload(entry.id, r#"{"order_id":44}"#.to_owned(), 2).await.unwrap();
    assert_eq!(
        again.original_payload.as_deref(),
        Some(entry.payload.as_str()),
        "original_payload stays the payload as first captured, whatever the edits after"
    );
    assert_eq!(h.store.get_entry(entry.id).await.unwrap(), Some(again), "an edit is stored as returned");
}

/// An edit the store would reject at capture changes nothing.
pub async fn edit_rejects_a_bad_payload(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    for bad in [String::new(), "a\0b".to_owned(), "x".repeat(64 * 1024 + 1)] {
        let bytes = bad.len();
        assert!(
            matches!(
                h.store.edit_payload(entry.id, bad, 1).await,
                Err(Error::InvalidInput { field: "payload", .. })
            ),
            "an edited payload must pass the capture checks (non-empty, no NUL, at most the maximum), else InvalidInput naming payload ({bytes} bytes)"
        );
    }
    assert!(
        matches!(
            h.store.edit_payload(entry.id, "{}".to_owned(), 0).await,
            Err(Error::InvalidInput { field: "command_version", .. })
        ),
        "an edit's command version of 0 is InvalidInput naming command_version"
    );
    assert_eq!(h.store.get_entry(entry.id).await.unwrap(), Some(entry), "a refused edit changes nothing");
}

/// Dismissed entries and entries under a live replay cannot be edited.
pub async fn edit_refuses_dismissed_and_leased_entries(h: Harness) {
    let dismissed = store(&h.store, command("a")).await;
    h.store.dismiss(dismissed.id, None).await.unwrap();
    assert!(
        matches!(h.store.edit_payload(dismissed.id, "{}".to_owned(), 1).await, Err(Error::Dismissed { .. })),
        "editing a Dismissed entry's payload is Dismissed"
    );
    let leased = store(&h.store, command("b")).await;
    let _ticket = h.store.begin_replay(leased.id).await.unwrap();
    assert!(
        matches!(h.store.edit_payload(leased.id, "{}".to_owned(), 1).await, Err(Error::Conflict { .. })),
        "editing the payload of an entry under a live lease is Conflict"
    );
    h.clock.advance(LEASE);
    let edited = h
        .store
        .edit_payload(leased.id, "{}".to_owned(), 1)
        .await
        .expect("editing the payload after the lease expired succeeds");
    assert_eq!(edited.payload, "{}", "an edit after the lease expired replaces the payload");
}
