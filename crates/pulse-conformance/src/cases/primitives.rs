//! The backend's compare-and-swap, called directly: the primitive every transition rests on.

use pulse_extensibility::{DeadLetterEntry, DeadLetterId, Scope, Timestamp};

use super::{command, store, tenant};
use crate::Harness;

/// A swap from the stored revision writes every mutable field; the identity fields stay.
pub async fn swap_from_the_stored_revision_writes(h: Harness) {
    let entry = store(&h.store, command("orders.create").message_id("m-1")).await;
    let mut next = entry.clone();
    next.revision += 1;
    next.payload = r#"{"order_id":43}"#.to_owned();
    next.original_payload = Some(entry.payload.clone());
    next.note = Some("edited".to_owned());
    next.command_version = 2;
    next.updated_at = Timestamp::from_micros(entry.updated_at.as_micros() + 1);
    assert!(h.store.backend().swap(&next).await.unwrap());
    assert_eq!(h.store.get_entry(entry.id).await.unwrap(), Some(next));
}

/// A swap from an older or newer revision writes nothing.
pub async fn swap_from_another_revision_writes_nothing(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    for revision in [entry.revision, entry.revision + 2] {
        let stale = DeadLetterEntry { revision, note: Some("stale".to_owned()), ..entry.clone() };
        assert!(!h.store.backend().swap(&stale).await.unwrap(), "revision {revision}");
    }
    assert_eq!(h.store.get_entry(entry.id).await.unwrap(), Some(entry));
}

/// A swap of a missing entry, or of an entry under another tenant, writes nothing.
pub async fn swap_of_a_missing_or_foreign_entry_writes_nothing(h: Harness) {
    let entry = store(&h.store, command("orders.create").tenant(tenant("a"))).await;
    let missing =
        DeadLetterEntry { id: DeadLetterId::new_at(Timestamp::from_micros(0)), revision: 2, ..entry.clone() };
    assert!(!h.store.backend().swap(&missing).await.unwrap());
    let foreign = DeadLetterEntry { tenant: tenant("b"), revision: 2, ..entry.clone() };
    assert!(!h.store.backend().swap(&foreign).await.unwrap());
    assert_eq!(h.store.backend().get(&Scope::AllTenants, entry.id).await.unwrap(), Some(entry));
}
