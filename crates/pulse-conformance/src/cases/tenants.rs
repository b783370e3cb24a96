//! Tenants: a scoped store sees and changes only its own tenant's entries.

use std::time::Duration;

use pulse_extensibility::{EntryFilter, Error, ListQuery, Resolution, Statistics};

use super::{command, ids, store, tenant};
use crate::Harness;

/// Reads in a tenant scope never show another tenant's entries.
pub async fn tenant_scope_reads_only_its_own_entries(h: Harness) {
    let mine = store(&h.store, command("x").tenant(tenant("a"))).await;
    let theirs = store(&h.store, command("x").tenant(tenant("b"))).await;
    let a = h.store.for_tenant(tenant("a"));
    assert_eq!(a.get_entry(theirs.id).await.unwrap(), None);
    assert_eq!(a.get_entry(mine.id).await.unwrap().as_ref(), Some(&mine));
    assert_eq!(ids(&a.get_pending(10, 0).await.unwrap()), [mine.id]);
    assert_eq!(ids(&a.list(ListQuery::default()).await.unwrap().entries), [mine.id]);
    let groups = a.error_groups(10).await.unwrap();
    assert_eq!(groups.iter().map(|g| g.count).collect::<Vec<_>>(), [1]);
    assert_eq!(h.store.error_groups(10).await.unwrap()[0].count, 2, "the operator's view sees both");
}

/// Changes in a tenant scope to another tenant's entry are NotFound and change nothing.
pub async fn tenant_scope_cannot_change_another_tenants_entries(h: Harness) {
    let theirs = store(&h.store, command("x").tenant(tenant("b"))).await;
    let a = h.store.for_tenant(tenant("a"));
    assert!(matches!(a.begin_replay(theirs.id).await, Err(Error::NotFound { .. })));
    assert!(matches!(a.dismiss(theirs.id, None).await, Err(Error::NotFound { .. })));
    assert!(matches!(
        a.resolve(theirs.id, Resolution::HandledExternally, None).await,
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(a.request_replay(theirs.id).await, Err(Error::NotFound { .. })));
    assert_eq!(h.store.get_entry(theirs.id).await.unwrap().unwrap(), theirs);
}

/// A tenant-scoped store refuses to store an entry of another tenant.
pub async fn tenant_scope_stores_only_its_own_tenant(h: Harness) {
    let a = h.store.for_tenant(tenant("a"));
    assert!(matches!(
        a.store(command("x").tenant(tenant("b"))).await,
        Err(Error::InvalidInput { field: "tenant", .. })
    ));
    let stored = store(&a, command("x").tenant(tenant("a"))).await;
    assert_eq!(stored.tenant, tenant("a"));
    assert_eq!(h.store.statistics().await.unwrap().total, 1);
}

/// Bulk requests, claims and purges in a tenant scope touch only that tenant's entries.
pub async fn tenant_scope_requests_claims_and_purges_only_its_own(h: Harness) {
    let a = h.store.for_tenant(tenant("a"));
    let b = h.store.for_tenant(tenant("b"));
    for scoped in [&a, &b] {
        let tenant = scoped.scope().tenant().unwrap().clone();
        scoped.store_many((0..3).map(|_| command("x").tenant(tenant.clone())).collect()).await.unwrap();
    }
    assert_eq!(a.request_replay_matching(EntryFilter::default()).await.unwrap(), 3);
    assert_eq!(b.claim_requested(10).await.unwrap(), Vec::new());
    let claimed = a.claim_requested(10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    for ticket in claimed {
        a.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await.unwrap();
    }
    for entry in b.get_pending(10, 0).await.unwrap() {
        b.dismiss(entry.id, None).await.unwrap();
    }
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(a.purge(h.clock.now(), 100).await.unwrap(), 3);
    assert_eq!(a.statistics().await.unwrap(), Statistics::default());
    assert_eq!(b.statistics().await.unwrap(), Statistics { dismissed: 3, total: 3, ..Statistics::default() });
}
