//! Dismiss and resolve: terminal states never roll back.

use std::time::Duration;

use pulse_extensibility::{
    CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetterId, Error, Resolution, Timestamp,
};

use super::{command, store};
use crate::{Harness, LEASE};

/// New becomes Dismissed: resolution ignored, the note kept, resolved now.
pub async fn dismiss_records_note_and_time(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    h.store.request_replay(entry.id).await.unwrap();
    h.clock.advance(Duration::from_secs(3));
    let dismissed = h
        .store
        .dismiss(entry.id, Some("customer cancelled".to_owned()))
        .await
        .expect("dismissing a New entry succeeds");
    let now = h.clock.now();
    let expected = DeadLetterEntry {
        status: Status::Dismissed,
        resolution: Some(Resolution::Ignored),
        note: Some("customer cancelled".to_owned()),
        resolved_at: Some(now),
        updated_at: now,
        replay_requested_at: None,
        revision: entry.revision + 2,
        ..entry.clone()
    };
    let rule = "dismiss makes a New entry Dismissed: resolution ignored, the note kept, resolved now, its request cleared";
    assert_eq!(dismissed, expected, "{rule}");
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), expected, "{rule}");
}

/// Dismissing a dismissed entry succeeds and changes nothing, not even the note.
pub async fn dismissing_twice_changes_nothing(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let first = h.store.dismiss(entry.id, Some("first".to_owned())).await.unwrap();
    h.clock.advance(Duration::from_secs(1));
    let second = h
        .store
        .dismiss(entry.id, Some("second".to_owned()))
        .await
        .expect("dismissing a Dismissed entry succeeds");
    let rule = "dismissing a Dismissed entry changes nothing, not even the note or resolved-at";
    assert_eq!(second, first, "{rule}");
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), first, "{rule}");
}

/// A resolved entry cannot be dismissed.
pub async fn dismissing_a_resolved_entry_conflicts(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let resolved = h.store.resolve(entry.id, Resolution::HandledExternally, None).await.unwrap();
    assert!(
        matches!(h.store.dismiss(entry.id, None).await, Err(Error::Conflict { id, .. }) if id == entry.id),
        "dismissing a Resolved entry is Conflict"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap(),
        resolved,
        "a refused dismiss changes nothing"
    );
}

/// An entry under a live replay lease cannot be dismissed.
pub async fn dismiss_during_a_live_lease_conflicts(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    assert!(
        matches!(h.store.dismiss(entry.id, None).await, Err(Error::Conflict { .. })),
        "dismissing an entry under a live lease is Conflict"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap(),
        ticket.entry,
        "a refused dismiss changes nothing"
    );
}

/// After the lease expires the abandoned replay no longer protects the entry.
pub async fn dismiss_after_the_lease_expires_succeeds(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    h.clock.advance(LEASE);
    let dismissed = h.store.dismiss(entry.id, None).await.expect("dismiss after the lease expired succeeds");
    assert_eq!(
        (dismissed.status, dismissed.lease),
        (Status::Dismissed, None),
        "dismiss after the lease expired makes the entry Dismissed and clears the lease"
    );
    assert!(
        matches!(
            h.store.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await,
            Err(Error::LeaseLost { .. })
        ),
        "the abandoned replay's finish is LeaseLost after the entry was dismissed"
    );
}

/// Resolve records the given resolution and note.
pub async fn resolve_records_resolution_and_note(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    h.clock.advance(Duration::from_secs(1));
    let resolved = h
        .store
        .resolve(entry.id, Resolution::HandledExternally, Some("refunded by hand".to_owned()))
        .await
        .expect("resolving a New entry succeeds");
    let now = h.clock.now();
    let expected = DeadLetterEntry {
        status: Status::Resolved,
        resolution: Some(Resolution::HandledExternally),
        note: Some("refunded by hand".to_owned()),
        resolved_at: Some(now),
        updated_at: now,
        revision: entry.revision + 1,
        ..entry.clone()
    };
    let rule = "resolve makes a New entry Resolved with the given resolution and note, resolved now";
    assert_eq!(resolved, expected, "{rule}");
    assert_eq!(h.store.get_entry(entry.id).await.unwrap().unwrap(), expected, "{rule}");
}

/// Resolving as ignored is what dismiss is for.
pub async fn resolve_with_ignored_is_invalid_input(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    assert!(
        matches!(
            h.store.resolve(entry.id, Resolution::Ignored, None).await,
            Err(Error::InvalidInput { field: "resolution", .. })
        ),
        "resolving with ignored is InvalidInput naming resolution: that is what dismiss records"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap().unwrap(),
        entry,
        "a refused resolve changes nothing"
    );
}

/// Resolved and Dismissed entries cannot be resolved.
pub async fn resolving_a_terminal_entry_conflicts(h: Harness) {
    let a = store(&h.store, command("a")).await;
    let b = store(&h.store, command("b")).await;
    let a = h.store.resolve(a.id, Resolution::HandledExternally, None).await.unwrap();
    let b = h.store.dismiss(b.id, None).await.unwrap();
    for entry in [a, b] {
        assert!(
            matches!(
                h.store.resolve(entry.id, Resolution::Replayed, None).await,
                Err(Error::Conflict { .. })
            ),
            "resolving a Resolved or Dismissed entry is Conflict ({:?})",
            entry.status
        );
        assert_eq!(
            h.store.get_entry(entry.id).await.unwrap().unwrap(),
            entry,
            "a refused resolve changes nothing ({:?})",
            entry.status
        );
    }
}

/// Every change to an unknown id is NotFound.
pub async fn changes_to_an_unknown_id_are_not_found(h: Harness) {
    let id = DeadLetterId::new_at(Timestamp::from_micros(0));
    assert!(
        matches!(h.store.dismiss(id, None).await, Err(Error::NotFound { .. })),
        "dismissing an unknown id is NotFound"
    );
    assert!(
        matches!(h.store.resolve(id, Resolution::HandledExternally, None).await, Err(Error::NotFound { .. })),
        "resolving an unknown id is NotFound"
    );
    assert!(
        matches!(h.store.request_replay(id).await, Err(Error::NotFound { .. })),
        "request replay of an unknown id is NotFound"
    );
}

/// A note with a NUL character or over 4,000 characters is rejected and changes nothing; one of
/// exactly 4,000 is kept.
pub async fn notes_are_validated(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    for bad in ["a\0b".to_owned(), "n".repeat(4001)] {
        let chars = bad.chars().count();
        assert!(
            matches!(
                h.store.dismiss(entry.id, Some(bad.clone())).await,
                Err(Error::InvalidInput { field: "note", .. })
            ),
            "a dismiss note has at most 4,000 characters and no NUL, else InvalidInput naming note ({chars} characters)"
        );
        assert!(
            matches!(
                h.store.resolve(entry.id, Resolution::HandledExternally, Some(bad)).await,
                Err(Error::InvalidInput { field: "note", .. })
            ),
            "a resolve note has at most 4,000 characters and no NUL, else InvalidInput naming note ({chars} characters)"
        );
    }
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap(),
        Some(entry.clone()),
        "a change refused for its note changes nothing"
    );
    let dismissed = h
        .store
        .dismiss(entry.id, Some("é".repeat(4000)))
        .await
        .expect("a note of exactly 4,000 characters is accepted");
    assert_eq!(dismissed.note, Some("é".repeat(4000)), "a note of 4,000 characters is kept whole");
}

/// An entry under a live replay lease cannot be resolved by hand, up to the last microsecond of
/// the lease; from the lease's expiry on it can, and the abandoned replay's finish is then
/// `LeaseLost`.
pub async fn resolve_during_a_live_lease_conflicts(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let ticket = h.store.begin_replay(entry.id).await.unwrap();
    let expires_at = ticket.lease.expires_at;
    h.clock.set(Timestamp::from_micros(expires_at.as_micros() - 1));
    let resolved = h.store.resolve(entry.id, Resolution::HandledExternally, None).await;
    assert!(
        matches!(resolved, Err(Error::Conflict { id, .. }) if id == entry.id),
        "resolving an entry under a live lease is a Conflict: {resolved:?}"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap(),
        Some(ticket.entry.clone()),
        "a refused resolve changes nothing"
    );
    h.clock.set(expires_at);
    let resolved = h
        .store
        .resolve(entry.id, Resolution::HandledExternally, Some("by hand".to_owned()))
        .await
        .expect("resolve from the lease's expiry on succeeds");
    let expected = DeadLetterEntry {
        status: Status::Resolved,
        resolution: Some(Resolution::HandledExternally),
        note: Some("by hand".to_owned()),
        resolved_at: Some(expires_at),
        lease: None,
        updated_at: expires_at,
        revision: ticket.entry.revision + 1,
        ..ticket.entry.clone()
    };
    assert_eq!(resolved, expected, "once the lease has expired, resolve applies");
    assert!(
        matches!(
            h.store.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await,
            Err(Error::LeaseLost { .. })
        ),
        "the abandoned replay's finish is LeaseLost after the entry was resolved"
    );
}
