//! Fingerprints and error groups over unresolved entries.

use std::collections::BTreeMap;
use std::time::Duration;

use pulse_extensibility::{
    DeadLetterEntry, DeadLetterId, Error, ErrorGroup, Failure, NewDeadLetter, Resolution, Timestamp,
    fingerprint::fingerprint, validate::new_entry,
};

use super::{store, timeout};
use crate::Harness;

fn failed(command_type: &str, exception_type: &str, message: &str) -> NewDeadLetter {
    NewDeadLetter::new(command_type, "{}", Failure::new(exception_type, message))
}

/// The stored fingerprint is the contract's function of command type, exception type and message.
pub async fn stored_fingerprint_is_the_contract_fingerprint(h: Harness) {
    let entry = store(&h.store, failed("billing.charge", "CardDeclined", "card 'visa-1234' declined")).await;
    assert_eq!(
        entry.fingerprint.as_str(),
        "b0bcf57126634171",
        "the stored fingerprint is FNV-1a 64 of command type, exception type and masked message, as 16 hex digits"
    );
    assert_eq!(
        entry.fingerprint,
        fingerprint("billing.charge", "CardDeclined", "card 'visa-1234' declined"),
        "the stored fingerprint is the contract's function of command type, exception type and message"
    );
}

/// Messages that differ only in numbers, ids or quoted values fall in one group.
pub async fn error_groups_merge_messages_that_differ_in_volatile_parts(h: Harness) {
    store(&h.store, failed("orders.create", "Timeout", "order 42 timed out after 30s")).await;
    store(&h.store, failed("orders.create", "Timeout", "order 97 timed out after 31s")).await;
    store(&h.store, failed("orders.create", "Timeout", "order 'x' rejected")).await;
    let groups = h.store.error_groups(10).await.unwrap();
    assert_eq!(
        groups.iter().map(|g| g.count).collect::<Vec<_>>(),
        [2, 1],
        "messages that differ only in numbers fall in one error group; another wording is another group"
    );
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
        }],
        "a group carries its key, its count, the earliest first failure, the latest failure and that failure's message"
    );
    assert!(b.occurred_at < c.occurred_at, "an entry's latest failure is the instant it was stored");
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
    assert_eq!(
        groups.iter().map(|g| g.command_type.as_str()).collect::<Vec<_>>(),
        ["c"],
        "error groups count only unresolved entries: Replaying ones, not Resolved or Dismissed ones"
    );
    // A group whose latest failures are resolved: its sample and last seen come from the
    // latest unresolved one.
    let open = store(&h.store, failed("d", "E", "order 1 failed")).await;
    h.clock.advance(std::time::Duration::from_millis(5));
    for n in 2..4 {
        let later = store(&h.store, failed("d", "E", &format!("order {n} failed"))).await;
        h.store.dismiss(later.id, None).await.unwrap();
    }
    let group = h.store.error_groups(10).await.unwrap().into_iter().find(|g| g.command_type == "d");
    assert_eq!(
        group.map(|g| (g.sample_message, g.count, g.last_seen)),
        Some(("order 1 failed".to_owned(), 1, open.occurred_at)),
        "a group's sample, count and last seen come from its unresolved entries only"
    );
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
    assert_eq!(
        groups.iter().map(|g| g.command_type.as_str()).collect::<Vec<_>>(),
        ["big", "recent", "old"],
        "error groups come largest first, then most recent"
    );
    let top = h.store.error_groups(2).await.unwrap();
    assert_eq!(top, groups[..2], "error_groups(limit) returns the first `limit` groups of that order");
}

/// The group limit must be 1 to 1000.
pub async fn error_groups_reject_limits_outside_1_to_1000(h: Harness) {
    for bad in [0, 1001] {
        assert!(
            matches!(h.store.error_groups(bad).await, Err(Error::InvalidInput { field: "limit", .. })),
            "the error group limit is 1 to 1000; {bad} is InvalidInput naming limit"
        );
    }
    assert_eq!(h.store.error_groups(1000).await.unwrap(), [], "an error group limit of 1000 is accepted");
}

/// Fixed vectors of the masking rules, with their fingerprints written out (computed apart from
/// the library): each message stored as a failure of `billing.charge` / `GatewayError`.
const PINNED: &[(&str, &str)] = &[
    ("order 42 timed out after 30s", "da2781e06f86ac96"),
    ("order 97 timed out after 31s", "da2781e06f86ac96"),
    ("took 1.25 seconds", "6d9230cbb1ec7a96"),
    ("user 'alice' not found", "d2fced9b6c5c8915"),
    ("user 'id 42' not found", "d2fced9b6c5c8915"),
    (r#"key "a-1" exists"#, "c96577ef770b1a74"),
    ("entity 3f2504e0-4f89-11d3-9a0c-0305e82c3301 missing", "2a82d8af11e5d6f2"),
    ("entity 3F2504E0-4F89-11D3-9A0C-0305E82C3301 missing", "2a82d8af11e5d6f2"),
    ("pointer 0x7ffd1234 invalid", "c66ea220520a8523"),
    ("commit a3f9c2e1 rejected", "80a97dd8a5a11d56"),
    ("commit 0b1c2d3e4f rejected", "80a97dd8a5a11d56"),
    ("commit a3f9c2 rejected", "80a97dd8a5a11d56"),
    ("commit b71e04f rejected", "80a97dd8a5a11d56"),
    ("commit a3f9c rejected", "4ce67c2042c1cc2d"),
    ("code deadbeef", "65af9b056228967b"),
    ("build 123456 failed", "d1b4ba9694311cd9"),
    ("build 7 failed", "d1b4ba9694311cd9"),
    ("order 42 for 'bob' at 0xFF (id 3f2504e0-4f89-11d3-9a0c-0305e82c3301)", "9a8f99b7efbc6f1f"),
    ("retry 3 of 5 in 2.5s", "251ed5e669e1765f"),
    ("token abc123xyz", "c6da54b57791572e"),
    ("deadline exceeded", "0ef0f724e1e6c195"),
];

/// Every pinned vector, stored through the backend, keeps its fingerprint exactly, and the error
/// groups put together exactly the messages whose pinned fingerprints are equal: numbers, quoted
/// values, UUIDs in either case and hex ids of six or more mixed characters (six, seven, eight
/// and ten are pinned) or `0x…` are masked; five-character or letters-only hex words are not.
pub async fn stored_fingerprints_match_the_pinned_vectors(h: Harness) {
    let mut expected_counts = BTreeMap::<&str, u64>::new();
    for (message, pinned) in PINNED {
        let entry = store(&h.store, failed("billing.charge", "GatewayError", message)).await;
        assert_eq!(
            entry.fingerprint.as_str(),
            *pinned,
            "the stored fingerprint of {message:?} is the pinned one (masking: docs/contract.md, Fingerprints)"
        );
        *expected_counts.entry(pinned).or_default() += 1;
    }
    let groups = h.store.error_groups(100).await.unwrap();
    let counts: BTreeMap<&str, u64> =
        groups.iter().map(|group| (group.fingerprint.as_str(), group.count)).collect();
    assert_eq!(counts, expected_counts, "error groups gather exactly the entries of one fingerprint");
}

/// Groups of equal count and equal last seen come in ascending order of fingerprint, whatever
/// the order they were stored in.
pub async fn error_groups_tied_on_count_and_last_seen_are_ordered_by_fingerprint(h: Harness) {
    let mut inputs: Vec<NewDeadLetter> =
        ["alpha", "bravo", "charlie", "delta", "echo"].iter().map(|kind| failed(kind, "E", "tied")).collect();
    // Stored in descending order of fingerprint, so neither storing order nor id order is the
    // expected one.
    inputs.sort_by_key(|input| std::cmp::Reverse(fingerprint(&input.command_type, "E", "tied")));
    h.clock.advance(Duration::from_secs(1));
    for input in &inputs {
        store(&h.store, input.clone()).await;
        store(&h.store, input.clone()).await;
    }
    h.clock.advance(Duration::from_secs(1));
    let largest = store(&h.store, failed("largest", "E", "tied")).await;
    store(&h.store, failed("largest", "E", "tied")).await;
    store(&h.store, failed("largest", "E", "tied")).await;
    let groups = h.store.error_groups(10).await.unwrap();
    let mut tied: Vec<String> = inputs
        .iter()
        .map(|input| fingerprint(&input.command_type, "E", "tied").as_str().to_owned())
        .collect();
    tied.sort();
    let mut expected = vec![largest.fingerprint.as_str().to_owned()];
    expected.extend(tied);
    assert_eq!(
        groups.iter().map(|group| group.fingerprint.as_str().to_owned()).collect::<Vec<_>>(),
        expected,
        "error groups are ordered by count descending, then last seen descending, then fingerprint ascending"
    );
    assert_eq!(
        groups.iter().map(|group| group.count).collect::<Vec<_>>(),
        [3, 2, 2, 2, 2, 2],
        "an error group counts every unresolved entry of its fingerprint"
    );
    for limit in 1..=groups.len() {
        assert_eq!(
            h.store.error_groups(u32::try_from(limit).unwrap()).await.unwrap(),
            groups[..limit],
            "a limit keeps the first groups of the full order, ties cut by fingerprint ascending"
        );
    }
}

/// A group's sample message is the message of its latest failure; among entries whose latest
/// failure is the same microsecond, the one with the highest id. Checked on two groups, one
/// where that entry is stored first and one where it is stored last, each with an older entry
/// of a still higher id.
pub async fn error_group_sample_is_the_latest_failure_with_the_highest_id(h: Harness) {
    let older = h.clock.now();
    h.clock.advance(Duration::from_micros(1_000_001));
    let latest = h.clock.now();
    for (command_type, highest_first) in [("orders.create", true), ("orders.cancel", false)] {
        let mut ids: Vec<DeadLetterId> = (0..3).map(|_| DeadLetterId::new_at(latest)).collect();
        ids.sort();
        let entry = |id, at, message: &str| DeadLetterEntry {
            id,
            occurred_at: at,
            first_failed_at: older,
            created_at: at,
            updated_at: at,
            ..new_entry(failed(command_type, "Timeout", message), latest, 64 * 1024).expect("a valid entry")
        };
        let low = entry(ids[0], latest, "order 1 timed out");
        let high = entry(ids[1], latest, "order 2 timed out");
        let oldest_highest_id = entry(ids[2], older, "order 3 timed out");
        let batch =
            if highest_first { [high, low, oldest_highest_id] } else { [low, high, oldest_highest_id] };
        h.store.backend().insert(batch.to_vec()).await.unwrap();
    }
    let groups = h.store.error_groups(10).await.unwrap();
    let samples: BTreeMap<&str, (&str, u64, Timestamp)> = groups
        .iter()
        .map(|group| {
            (group.command_type.as_str(), (group.sample_message.as_str(), group.count, group.last_seen))
        })
        .collect();
    let expected = BTreeMap::from([
        ("orders.cancel", ("order 2 timed out", 3, latest)),
        ("orders.create", ("order 2 timed out", 3, latest)),
    ]);
    assert_eq!(
        samples, expected,
        "a group's sample is the message of its latest failure, the highest id among entries failing at the same microsecond"
    );
}
