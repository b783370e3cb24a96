//! The backend's primitives called directly: compare-and-swap, which every transition rests
//! on, and insert, which every capture rests on.

use pulse_extensibility::{
    DeadLetterEntry, DeadLetterId, Error, Scope, Statistics, Timestamp, validate::new_entry,
};

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
    assert!(
        h.store.backend().swap(&next).await.unwrap(),
        "a swap from the stored revision writes and says so"
    );
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap(),
        Some(next.clone()),
        "a swap from the stored revision writes every mutable field"
    );
    let mut renamed = next.clone();
    renamed.revision += 1;
    renamed.note = Some("renamed".to_owned());
    renamed.message_id = Some("m-2".to_owned());
    renamed.created_at = Timestamp::from_micros(entry.created_at.as_micros() + 7);
    assert!(h.store.backend().swap(&renamed).await.unwrap(), "a swap from the stored revision writes");
    let expected = DeadLetterEntry { message_id: next.message_id, created_at: next.created_at, ..renamed };
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap(),
        Some(expected),
        "a swap never writes the identity fields: id, tenant, message id and created_at stay as stored"
    );
}

/// A swap from an older or newer revision writes nothing.
pub async fn swap_from_another_revision_writes_nothing(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    for revision in [entry.revision, entry.revision + 2] {
        let stale = DeadLetterEntry { revision, note: Some("stale".to_owned()), ..entry.clone() };
        assert!(
            !h.store.backend().swap(&stale).await.unwrap(),
            "a swap from a revision other than the stored one writes nothing and says so (revision {revision})"
        );
    }
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap(),
        Some(entry),
        "a swap from a revision other than the stored one writes nothing"
    );
}

/// A swap of a missing entry, or of an entry under another tenant, writes nothing.
pub async fn swap_of_a_missing_or_foreign_entry_writes_nothing(h: Harness) {
    let entry = store(&h.store, command("orders.create").tenant(tenant("a"))).await;
    let missing =
        DeadLetterEntry { id: DeadLetterId::new_at(Timestamp::from_micros(0)), revision: 2, ..entry.clone() };
    assert!(
        !h.store.backend().swap(&missing).await.unwrap(),
        "a swap of an entry that is not stored writes nothing"
    );
    let foreign = DeadLetterEntry { tenant: tenant("b"), revision: 2, ..entry.clone() };
    assert!(
        !h.store.backend().swap(&foreign).await.unwrap(),
        "a swap of an entry under another tenant than the stored one writes nothing"
    );
    assert_eq!(
        h.store.backend().get(&Scope::AllTenants, entry.id).await.unwrap(),
        Some(entry),
        "a swap of an entry under another tenant leaves the stored entry as it was"
    );
}

/// A batch that fails part-way writes nothing: 70 fresh entries, some with message ids, then
/// one whose id is already stored under another key, past the first statement of a backend that
/// writes a batch in several (SQLite writes 64 rows a statement). The insert is a `Conflict` on
/// that id, and the store holds exactly what it held before; the same batch without the clash
/// is then written whole. The clashing entry alone, a batch of one (which a backend may write
/// as a single statement outside a transaction), is a `Conflict` too and writes nothing.
pub async fn insert_failing_part_way_writes_nothing(h: Harness) {
    let stored = store(&h.store, command("orders.create").message_id("m-stored")).await;
    let now = h.clock.now();
    let fresh: Vec<DeadLetterEntry> = (0..70)
        .map(|i| {
            let input = command("orders.create").tenant(tenant("b"));
            let input = if i % 2 == 0 { input.message_id(format!("m-{i}")) } else { input };
            new_entry(input, now, 64 * 1024).expect("a valid entry")
        })
        .collect();
    let alone = DeadLetterEntry {
        id: stored.id,
        ..new_entry(command("orders.create").tenant(tenant("c")).message_id("m-alone"), now, 64 * 1024)
            .expect("a valid entry")
    };
    let result = h.store.backend().insert(vec![alone]).await;
    assert!(
        matches!(result, Err(Error::Conflict { id, .. }) if id == stored.id),
        "an insert of one entry whose id is already stored is Conflict naming that id; got {result:?}"
    );
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { total: 1, new: 1, ..Statistics::default() },
        "an insert of one clashing entry writes nothing"
    );
    for clash_at in [fresh.len(), 0, 40] {
        let clashing = DeadLetterEntry {
            id: stored.id,
            ..new_entry(command("orders.create").tenant(tenant("c")).message_id("m-other"), now, 64 * 1024)
                .expect("a valid entry")
        };
        let mut batch = fresh.clone();
        batch.insert(clash_at, clashing);
        let result = h.store.backend().insert(batch).await;
        assert!(
            matches!(result, Err(Error::Conflict { id, .. }) if id == stored.id),
            "an insert of an entry whose id is already stored is Conflict naming that id (clash at {clash_at}); got {result:?}"
        );
        let rule = format!("an insert that fails part-way writes nothing (clash at {clash_at})");
        assert_eq!(
            h.store.statistics().await.unwrap(),
            Statistics { total: 1, new: 1, ..Statistics::default() },
            "{rule}"
        );
        assert_eq!(
            h.store.get_entry(stored.id).await.unwrap(),
            Some(stored.clone()),
            "{rule}, and leaves the entry it clashed with as it was"
        );
        assert_eq!(h.store.get_entry(fresh[1].id).await.unwrap(), None, "{rule}");
    }
    let receipts = h
        .store
        .backend()
        .insert(fresh.clone())
        .await
        .expect("the batch without the clash is inserted after the failures");
    let whole = "an insert writes every new entry of its batch";
    assert_eq!(receipts.iter().filter(|receipt| !receipt.duplicate).count(), 70, "{whole}");
    assert_eq!(h.store.statistics().await.unwrap().total, 71, "{whole}");
}
