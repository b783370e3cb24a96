//! Tenants: a scoped store sees and changes only its own tenant's entries.

use std::time::Duration;

use pulse_extensibility::{
    DeadLetterEntry, EntryFilter, Error, ErrorGroup, Failure, ListQuery, NewDeadLetter, Resolution,
    Statistics, Timestamp,
};

use super::{command, store, tenant};
use crate::Harness;

/// Reads in a tenant scope never show another tenant's entries. The two tenants' entries
/// differ in every field a read returns, so a value taken from the wrong tenant shows.
pub async fn tenant_scope_reads_only_its_own_entries(h: Harness) {
    let mine = store(&h.store, of_tenant("a", 1)).await;
    h.clock.advance(Duration::from_micros(1_001));
    let theirs = store(&h.store, of_tenant("b", 2)).await;
    let a = h.store.for_tenant(tenant("a"));
    assert_eq!(
        a.get_entry(theirs.id).await.unwrap(),
        None,
        "a tenant scope reads another tenant's entry as absent"
    );
    assert_eq!(
        a.get_entry(mine.id).await.unwrap().as_ref(),
        Some(&mine),
        "a tenant scope reads its own entry whole"
    );
    assert_eq!(
        a.get_pending(10, 0).await.unwrap(),
        std::slice::from_ref(&mine),
        "get_pending in a tenant scope returns only its entries"
    );
    assert_eq!(
        a.list(ListQuery::default()).await.unwrap().entries,
        [mine],
        "list in a tenant scope returns only its entries"
    );
}

/// Error groups in a tenant scope are computed from that tenant's entries alone: its count, its
/// first and last failure and its latest message, even where another tenant's failures share
/// the fingerprint and are more recent.
pub async fn tenant_scope_error_groups_show_only_its_failures(h: Harness) {
    let first_a = store(&h.store, of_tenant("a", 1)).await;
    h.clock.advance(Duration::from_micros(1_001));
    let latest_a = store(&h.store, of_tenant("a", 3)).await;
    h.clock.advance(Duration::from_micros(2_003));
    let first_b = store(&h.store, of_tenant("b", 2).first_failed_at(Timestamp::from_micros(0))).await;
    h.clock.advance(Duration::from_micros(3_005));
    let latest_b = store(&h.store, of_tenant("b", 4)).await;
    assert_eq!(first_a.fingerprint, first_b.fingerprint, "the tenants' failures share one fingerprint");
    let group = |sample: &DeadLetterEntry, first: &DeadLetterEntry, count| ErrorGroup {
        fingerprint: sample.fingerprint.clone(),
        command_type: sample.command_type.clone(),
        exception_type: sample.exception_type.clone(),
        sample_message: sample.exception_message.clone(),
        count,
        first_seen: first.first_failed_at,
        last_seen: sample.occurred_at,
    };
    assert_eq!(
        h.store.for_tenant(tenant("a")).error_groups(10).await.unwrap(),
        [group(&latest_a, &first_a, 2)],
        "a tenant's error group counts, dates and samples only its own entries"
    );
    assert_eq!(
        h.store.for_tenant(tenant("b")).error_groups(10).await.unwrap(),
        [group(&latest_b, &first_b, 2)],
        "a tenant's error group counts, dates and samples only its own entries"
    );
    assert_eq!(
        h.store.error_groups(10).await.unwrap(),
        [group(&latest_b, &first_b, 4)],
        "the operator's view groups every tenant's entries"
    );
}

/// A failure of `tenant`, numbered `n` in its message, payload, message id and metadata.
fn of_tenant(tenant_name: &str, n: u32) -> NewDeadLetter {
    NewDeadLetter::new(
        "orders.create",
        format!(r#"{{"order_id":{n},"tenant":"{tenant_name}"}}"#),
        Failure::new("TimeoutError", format!("order {n} timed out"))
            .with_details(format!("at {tenant_name}")),
    )
    .tenant(tenant(tenant_name))
    .message_id(format!("{tenant_name}-{n}"))
    .source(format!("{tenant_name}-worker"))
    .metadata("tenant", tenant_name)
}

/// Changes in a tenant scope to another tenant's entry are NotFound and change nothing.
pub async fn tenant_scope_cannot_change_another_tenants_entries(h: Harness) {
    let theirs = store(&h.store, command("x").tenant(tenant("b"))).await;
    let a = h.store.for_tenant(tenant("a"));
    let rule = "in a tenant scope, a change to another tenant's entry is NotFound";
    assert!(matches!(a.begin_replay(theirs.id).await, Err(Error::NotFound { .. })), "{rule}: begin replay");
    assert!(matches!(a.dismiss(theirs.id, None).await, Err(Error::NotFound { .. })), "{rule}: dismiss");
    assert!(
        matches!(
            a.resolve(theirs.id, Resolution::HandledExternally, None).await,
            Err(Error::NotFound { .. })
        ),
        "{rule}: resolve"
    );
    assert!(
        matches!(a.request_replay(theirs.id).await, Err(Error::NotFound { .. })),
        "{rule}: request replay"
    );
    assert_eq!(
        h.store.get_entry(theirs.id).await.unwrap().unwrap(),
        theirs,
        "a change refused across tenants changes nothing"
    );
}

/// A tenant-scoped store refuses to store an entry of another tenant.
pub async fn tenant_scope_stores_only_its_own_tenant(h: Harness) {
    let a = h.store.for_tenant(tenant("a"));
    assert!(
        matches!(
            a.store(command("x").tenant(tenant("b"))).await,
            Err(Error::InvalidInput { field: "tenant", .. })
        ),
        "storing an entry of another tenant through a tenant's handle is InvalidInput naming tenant"
    );
    let stored = store(&a, command("x").tenant(tenant("a"))).await;
    assert_eq!(stored.tenant, tenant("a"), "a tenant's handle stores an entry of its own tenant");
    assert_eq!(
        h.store.statistics().await.unwrap().total,
        1,
        "a store refused for another tenant writes nothing"
    );
}

/// Bulk requests, claims and purges in a tenant scope touch only that tenant's entries.
pub async fn tenant_scope_requests_claims_and_purges_only_its_own(h: Harness) {
    let a = h.store.for_tenant(tenant("a"));
    let b = h.store.for_tenant(tenant("b"));
    for scoped in [&a, &b] {
        let tenant = scoped.scope().tenant().unwrap().clone();
        scoped.store_many((0..3).map(|_| command("x").tenant(tenant.clone())).collect()).await.unwrap();
    }
    assert_eq!(
        a.request_replay_matching(EntryFilter::default()).await.unwrap(),
        3,
        "a bulk request in a tenant scope marks only that tenant's entries"
    );
    assert_eq!(
        b.claim_requested(10).await.unwrap(),
        Vec::new(),
        "a claim in a tenant scope takes only that tenant's requested entries"
    );
    let claimed = a.claim_requested(10).await.unwrap();
    assert_eq!(claimed.len(), 3, "a claim in a tenant scope takes that tenant's requested entries");
    for ticket in claimed {
        a.finish_replay(ticket, pulse_extensibility::ReplayOutcome::Succeeded).await.unwrap();
    }
    for entry in b.get_pending(10, 0).await.unwrap() {
        b.dismiss(entry.id, None).await.unwrap();
    }
    h.clock.advance(Duration::from_secs(1));
    assert_eq!(
        a.purge(h.clock.now(), 100).await.unwrap(),
        3,
        "a purge in a tenant scope deletes only that tenant's entries"
    );
    assert_eq!(
        a.statistics().await.unwrap(),
        Statistics::default(),
        "a purge in a tenant scope deletes every entry of that tenant it may"
    );
    assert_eq!(
        b.statistics().await.unwrap(),
        Statistics { dismissed: 3, total: 3, ..Statistics::default() },
        "a purge in one tenant's scope leaves another tenant's entries"
    );
}
