//! Idempotent capture: one message id, one entry per tenant.

use std::collections::HashSet;

use pulse_extensibility::StoreReceipt;

use super::{command, race, store, tenant};
use crate::Harness;

/// A second store with the same message id returns the first entry's id, marked duplicate.
pub async fn duplicate_message_id_returns_the_existing_id(h: Harness) {
    let first = h.store.store(command("orders.create").message_id("m-1")).await.unwrap();
    let second = h.store.store(command("orders.cancel").message_id("m-1")).await.unwrap();
    assert_eq!(
        second,
        StoreReceipt { id: first.id, duplicate: true },
        "storing a message id that already exists in the tenant returns the existing id with duplicate: true"
    );
}

/// A duplicate changes nothing about the stored entry and adds none.
pub async fn duplicate_changes_nothing(h: Harness) {
    let original = store(&h.store, command("orders.create").message_id("m-1")).await;
    h.clock.advance(std::time::Duration::from_secs(5));
    h.store.store(command("orders.create").message_id("m-1").attempt_count(9)).await.unwrap();
    assert_eq!(
        h.store.get_entry(original.id).await.unwrap().unwrap(),
        original,
        "a duplicate store changes nothing about the existing entry"
    );
    assert_eq!(h.store.statistics().await.unwrap().total, 1, "a duplicate store writes no entry");
}

/// The same message id in another tenant is another entry.
pub async fn same_message_id_in_another_tenant_is_a_new_entry(h: Harness) {
    let a = h.store.store(command("x").message_id("m-1").tenant(tenant("a"))).await.unwrap();
    let b = h.store.store(command("x").message_id("m-1").tenant(tenant("b"))).await.unwrap();
    let rule = "a message id is unique per tenant: the same one in another tenant is a new entry";
    assert!(!a.duplicate && !b.duplicate, "{rule}");
    assert_ne!(a.id, b.id, "{rule}");
    assert_eq!(h.store.statistics().await.unwrap().total, 2, "{rule}");
}

/// A message id repeated inside one batch is stored once; later receipts name the first.
pub async fn duplicate_within_one_batch_is_stored_once(h: Harness) {
    let receipts = h
        .store
        .store_many(vec![command("a").message_id("m-1"), command("b"), command("c").message_id("m-1")])
        .await
        .unwrap();
    assert_eq!(
        receipts.iter().map(|r| r.duplicate).collect::<Vec<_>>(),
        [false, false, true],
        "a message id repeated within one batch is a duplicate from its second occurrence"
    );
    assert_eq!(receipts[2].id, receipts[0].id, "a duplicate within a batch names the batch's first entry");
    assert_eq!(
        h.store.statistics().await.unwrap().total,
        2,
        "a message id repeated within one batch is stored once"
    );
}

/// A batch of 150 mixing new entries, entries without a message id, duplicates of stored
/// entries and duplicates of earlier entries in the batch gets one receipt per input, in input
/// order, each naming the entry that holds its message id.
pub async fn large_batch_with_duplicates_keeps_order_and_ids(h: Harness) {
    let stored = h.store.store(command("x").message_id("stored")).await.unwrap();
    let inputs = (0..150).map(|i| match i % 5 {
        0 => command("x"),
        1 => command("x").message_id("stored"),
        2 => command("x").message_id(format!("repeated-{}", i % 3)),
        _ => command("x").message_id(format!("unique-{i}")),
    });
    let receipts = h.store.store_many(inputs.collect()).await.unwrap();
    let mut first_of_repeated = std::collections::HashMap::new();
    let mut ids = HashSet::new();
    for (i, receipt) in receipts.iter().enumerate() {
        let expected = match i % 5 {
            1 => Some(stored.id),
            2 => first_of_repeated.get(&(i % 3)).copied(),
            _ => None,
        };
        match expected {
            Some(id) => assert_eq!(
                *receipt,
                StoreReceipt { id, duplicate: true },
                "a duplicate's receipt names the entry that holds its message id (input {i})"
            ),
            None => {
                assert!(
                    !receipt.duplicate,
                    "an input with a new message id or none is not a duplicate (input {i})"
                );
                assert!(
                    ids.insert(receipt.id),
                    "every new entry of a batch gets its own id (input {i}: id {} given twice)",
                    receipt.id
                );
                if i % 5 == 2 {
                    first_of_repeated.insert(i % 3, receipt.id);
                }
            }
        }
    }
    assert_eq!(
        (receipts.len(), ids.len()),
        (150, 30 + 3 + 60),
        "store_many returns one receipt per input, and one new entry per new message id"
    );
    assert_eq!(
        h.store.statistics().await.unwrap().total,
        1 + 30 + 3 + 60,
        "a batch writes its new entries and nothing for its duplicates"
    );
    for id in ids {
        assert_eq!(
            h.store.get_entry(id).await.unwrap().map(|entry| entry.id),
            Some(id),
            "every id a batch's receipts name reads back as a stored entry"
        );
    }
}

/// Entries without a message id are never duplicates of each other.
pub async fn entries_without_message_id_are_never_duplicates(h: Harness) {
    for _ in 0..3 {
        assert!(
            !h.store.store(command("orders.create")).await.unwrap().duplicate,
            "an entry without a message id is never a duplicate"
        );
    }
    assert_eq!(
        h.store.statistics().await.unwrap().total,
        3,
        "every store without a message id writes a new entry"
    );
}

/// 50 concurrent stores of one message id, released together by a barrier, leave exactly one entry, and every caller learns its id.
pub async fn concurrent_duplicates_leave_exactly_one_entry(h: Harness) {
    let receipts: Vec<StoreReceipt> = race(50, |_| {
        let store = h.store.clone();
        async move {
            store
                .store(command("orders.create").message_id("m-1"))
                .await
                .expect("concurrent stores of one message id all succeed, the losers as duplicates")
        }
    })
    .await;
    let ids: HashSet<_> = receipts.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 1, "every caller gets the one entry's id");
    assert_eq!(receipts.iter().filter(|r| !r.duplicate).count(), 1, "exactly one store wrote");
    assert_eq!(
        h.store.statistics().await.unwrap().total,
        1,
        "concurrent stores of one message id leave exactly one entry"
    );
}

/// A message id whose entry was purged is free again: storing it writes a new entry.
pub async fn a_message_id_stored_again_after_its_entry_was_purged_is_a_new_entry(h: Harness) {
    let first = store(&h.store, command("orders.create").message_id("m-1").tenant(tenant("a"))).await;
    h.store.dismiss(first.id, None).await.unwrap();
    h.clock.advance(std::time::Duration::from_secs(1));
    assert_eq!(h.store.purge(h.clock.now(), 10).await.unwrap(), 1, "the dismissed entry is purged");
    let again = h.store.store(command("orders.create").message_id("m-1").tenant(tenant("a"))).await.unwrap();
    assert!(!again.duplicate, "a message id whose entry was purged is not a duplicate");
    assert_ne!(again.id, first.id, "the message id stored again is a new entry");
    let stored = h.store.get_entry(again.id).await.unwrap();
    assert_eq!(
        stored.map(|entry| (entry.message_id, entry.status)),
        Some((Some("m-1".to_owned()), pulse_extensibility::CommandDeadLetterStatus::New)),
        "the new entry holds the message id"
    );
    let third = h.store.store(command("orders.create").message_id("m-1").tenant(tenant("a"))).await.unwrap();
    assert_eq!(
        third,
        StoreReceipt { id: again.id, duplicate: true },
        "and is its duplicate's entry from then on"
    );
}

/// When two tenants hold one message id, a duplicate names the entry of its own tenant, whichever
/// was stored first, alone or in a batch; the tenant-less key is a third entry.
pub async fn duplicates_name_the_entry_of_their_own_tenant(h: Harness) {
    let a = h.store.store(command("x").message_id("m-1").tenant(tenant("a"))).await.unwrap();
    let b = h.store.store(command("x").message_id("m-1").tenant(tenant("b"))).await.unwrap();
    let none = h.store.store(command("x").message_id("m-1")).await.unwrap();
    assert!(!none.duplicate, "a message id without a tenant is another key than with one");
    for (tenant_name, id) in [("b", b.id), ("a", a.id)] {
        let again = h.store.store(command("x").message_id("m-1").tenant(tenant(tenant_name))).await.unwrap();
        assert_eq!(
            again,
            StoreReceipt { id, duplicate: true },
            "a duplicate in tenant {tenant_name} names that tenant's entry"
        );
    }
    let batch = h
        .store
        .store_many(vec![
            command("x").message_id("m-1").tenant(tenant("b")),
            command("x").message_id("m-1"),
            command("x").message_id("m-1").tenant(tenant("a")),
        ])
        .await
        .unwrap();
    assert_eq!(
        batch,
        [
            StoreReceipt { id: b.id, duplicate: true },
            StoreReceipt { id: none.id, duplicate: true },
            StoreReceipt { id: a.id, duplicate: true }
        ],
        "duplicates in a batch name the entry of their own tenant"
    );
    let scoped = h
        .store
        .for_tenant(tenant("a"))
        .store(command("x").message_id("m-1").tenant(tenant("a")))
        .await
        .unwrap();
    assert_eq!(
        scoped,
        StoreReceipt { id: a.id, duplicate: true },
        "a tenant's handle finds its own tenant's entry"
    );
    assert_eq!(h.store.statistics().await.unwrap().total, 3, "duplicates write nothing");
}
