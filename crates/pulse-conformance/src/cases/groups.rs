//! Fingerprints and error groups over unresolved entries.

use std::time::Duration;

use pulse_extensibility::{Error, ErrorGroup, Failure, NewDeadLetter, Resolution, fingerprint::fingerprint};

use super::{store, timeout};
use crate::Harness;

fn failed(command_type: &str, exception_type: &str, message: &str) -> NewDeadLetter {
    NewDeadLetter::new(command_type, "{}", Failure::new(exception_type, message))
}

/// The stored fingerprint is the contract's function of command type, exception type and message.
pub async fn stored_fingerprint_is_the_contract_fingerprint(h: Harness) {
    let entry = store(&h.store, failed("billing.charge", "CardDeclined", "card 'visa-1234' declined")).await;
    assert_eq!(entry.fingerprint.as_str(), "b0bcf57126634171");
    assert_eq!(entry.fingerprint, fingerprint("billing.charge", "CardDeclined", "card 'visa-1234' declined"));
}

/// Messages that differ only in numbers, ids or quoted values fall in one group.
pub async fn error_groups_merge_messages_that_differ_in_volatile_parts(h: Harness) {
    store(&h.store, failed("orders.create", "Timeout", "order 42 timed out after 30s")).await;
    store(&h.store, failed("orders.create", "Timeout", "order 97 timed out after 31s")).await;
    store(&h.store, failed("orders.create", "Timeout", "order 'x' rejected")).await;
    let groups = h.store.error_groups(10).await.unwrap();
    assert_eq!(groups.iter().map(|g| g.count).collect::<Vec<_>>(), [2, 1]);
}

/// A group carries its key, its count, its first and last failure, and the latest message.
pub async fn error_groups_have_counts_times_and_latest_sample(h: Harness) {
    let first_failure = h.clock.now();
    h.clock.advance(Duration::from_secs(10));
    let a =
        store(&h.store, NewDeadLetter::new("orders.create", "{}", timeout(1)).first_failed_at(first_failure))
            .await;
    h.clock.advance(Duration::from_secs(10));
    let b = store(&h.store, NewDeadLetter::new("orders.create", "{}", timeout(2))).await;
    h.clock.advance(Duration::from_secs(10));
    let c = store(&h.store, NewDeadLetter::new("orders.create", "{}", timeout(3))).await;
    let groups = h.store.error_groups(10).await.unwrap();
    assert_eq!(
        groups,
        vec![ErrorGroup {
            fingerprint: a.fingerprint.clone(),
            command_type: "orders.create".to_owned(),
            exception_type: "TimeoutError".to_owned(),
            sample_message: "order 3 timed out after 30s".to_owned(),
            count: 3,
            first_seen: first_failure,
            last_seen: c.occurred_at,
        }]
    );
    assert!(b.occurred_at < c.occurred_at);
}

/// Resolved and Dismissed entries are not in any group; Replaying ones are.
pub async fn error_groups_leave_out_terminal_entries(h: Harness) {
    let a = store(&h.store, failed("a", "E", "m")).await;
    let b = store(&h.store, failed("b", "E", "m")).await;
    let c = store(&h.store, failed("c", "E", "m")).await;
    h.store.dismiss(a.id, None).await.unwrap();
    h.store.resolve(b.id, Resolution::HandledExternally, None).await.unwrap();
    let _ticket = h.store.begin_replay(c.id).await.unwrap();
    let groups = h.store.error_groups(10).await.unwrap();
    assert_eq!(groups.iter().map(|g| g.command_type.as_str()).collect::<Vec<_>>(), ["c"]);
}

/// Groups come largest first, then most recent, then by fingerprint, and `limit` bounds them.
pub async fn error_groups_are_largest_first_and_limited(h: Harness) {
    for _ in 0..3 {
        store(&h.store, failed("big", "E", "m")).await;
    }
    store(&h.store, failed("old", "E", "m")).await;
    h.clock.advance(Duration::from_secs(1));
    store(&h.store, failed("recent", "E", "m")).await;
    let groups = h.store.error_groups(10).await.unwrap();
    assert_eq!(groups.iter().map(|g| g.command_type.as_str()).collect::<Vec<_>>(), ["big", "recent", "old"]);
    let top = h.store.error_groups(2).await.unwrap();
    assert_eq!(top, groups[..2]);
}

/// The group limit must be 1 to 1000.
pub async fn error_groups_reject_limits_outside_1_to_1000(h: Harness) {
    for bad in [0, 1001] {
        assert!(matches!(h.store.error_groups(bad).await, Err(Error::InvalidInput { field: "limit", .. })));
    }
    assert_eq!(h.store.error_groups(1000).await.unwrap(), []);
}
