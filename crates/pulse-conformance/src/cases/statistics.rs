//! Statistics: a count per status, overall or per tenant.

use pulse_extensibility::{Resolution, Statistics};

use super::{command, store, tenant};
use crate::Harness;

/// An empty store counts zero in every status.
pub async fn statistics_of_an_empty_store_are_zero(h: Harness) {
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics::default(),
        "statistics count zero in every status when there are no entries"
    );
    assert_eq!(h.store.unresolved_count().await.unwrap(), 0, "an empty store has no unresolved entries");
}

/// Each status is counted, and a status with no entries counts zero.
pub async fn statistics_count_each_status(h: Harness) {
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(store(&h.store, command(&format!("c{i}"))).await.id);
    }
    let _ticket = h.store.begin_replay(ids[0]).await.unwrap();
    h.store.dismiss(ids[1], None).await.unwrap();
    h.store.dismiss(ids[2], None).await.unwrap();
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { new: 4, replaying: 1, resolved: 0, dismissed: 2, total: 7 },
        "statistics count each status, zero where there are none, and the total"
    );
    h.store.resolve(ids[3], Resolution::HandledExternally, None).await.unwrap();
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { new: 3, replaying: 1, resolved: 1, dismissed: 2, total: 7 },
        "statistics count each status, zero where there are none, and the total"
    );
}

/// A tenant's statistics count only its entries; the operator's view counts all.
pub async fn statistics_per_tenant(h: Harness) {
    for _ in 0..3 {
        store(&h.store, command("x").tenant(tenant("a"))).await;
    }
    let b = store(&h.store, command("x").tenant(tenant("b"))).await;
    h.store.dismiss(b.id, None).await.unwrap();
    let only_a = h.store.for_tenant(tenant("a")).statistics().await.unwrap();
    let rule = "a tenant's statistics count only that tenant's entries";
    assert_eq!(only_a, Statistics { new: 3, replaying: 0, resolved: 0, dismissed: 0, total: 3 }, "{rule}");
    let only_b = h.store.for_tenant(tenant("b")).statistics().await.unwrap();
    assert_eq!(only_b, Statistics { new: 0, replaying: 0, resolved: 0, dismissed: 1, total: 1 }, "{rule}");
    let nobody = h.store.for_tenant(tenant("c")).statistics().await.unwrap();
    assert_eq!(nobody, Statistics::default(), "{rule}");
    assert_eq!(
        h.store.statistics().await.unwrap().total,
        4,
        "the unscoped store's statistics count every tenant"
    );
}

/// The unresolved count is New plus Replaying.
pub async fn unresolved_count_is_new_plus_replaying(h: Harness) {
    let a = store(&h.store, command("a")).await;
    let b = store(&h.store, command("b")).await;
    store(&h.store, command("c")).await;
    let _ticket = h.store.begin_replay(a.id).await.unwrap();
    h.store.dismiss(b.id, None).await.unwrap();
    assert_eq!(h.store.unresolved_count().await.unwrap(), 2, "the unresolved count is New plus Replaying");
}
