//! Edge input that databases disagree on, which the shared layer settles once: instants outside
//! the years 1 to 9999 and NUL characters in filters are `InvalidInput` before any backend sees
//! them; instants at either end of the range are stored and compared exactly.

use std::num::NonZeroU32;
use std::time::Duration;

use pulse_extensibility::{
    Cursor, DeadLetterEntry, EntryFilter, Error, Fingerprint, ListQuery, ReplayOutcome, ReplayRequestSpec,
    ReplaySelection, Resolution, SortOrder, Statistics, Timestamp,
};

use super::{command, store};
use crate::{Harness, LEASE};

/// Instants just outside the supported range, and the extremes of `i64`.
fn out_of_range() -> [Timestamp; 4] {
    [
        Timestamp::from_micros(i64::MIN),
        Timestamp::from_micros(Timestamp::MIN.as_micros() - 1),
        Timestamp::from_micros(Timestamp::MAX.as_micros() + 1),
        Timestamp::from_micros(i64::MAX),
    ]
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, Error>, field: &str) {
    match result {
        Err(Error::InvalidInput { field: rejected, .. }) => assert_eq!(
            rejected, field,
            "an instant outside the supported range, or NUL in filter text, is InvalidInput naming the field at fault"
        ),
        other => panic!(
            "an instant outside the supported range, or NUL in filter text, is InvalidInput naming the field ({field}); got {other:?}"
        ),
    }
}

/// A cursor at `occurred_at` and `entry`'s id, as a caller could send it back.
fn cursor(order: SortOrder, occurred_at: Timestamp, entry: &DeadLetterEntry) -> Cursor {
    let order = if order == SortOrder::OldestFirst { 'a' } else { 'd' };
    format!("{order}.{}.{}", occurred_at.as_micros(), entry.id).parse().expect("a well-formed cursor")
}

fn page_query(filter: EntryFilter) -> ListQuery {
    ListQuery::default().filter(filter).order(SortOrder::OldestFirst).limit(10)
}

/// A first failure, a filter bound, a cursor or a purge bound outside 0001-01-01 to
/// 9999-12-31 is rejected the same way on every backend, and nothing changes.
pub async fn instants_outside_the_years_1_to_9999_are_invalid_input(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    for instant in out_of_range() {
        assert_invalid(
            h.store.store(command("orders.create").first_failed_at(instant)).await,
            "first_failed_at",
        );
        let from = EntryFilter::default().occurred_from(instant);
        assert_invalid(h.store.list(page_query(from.clone())).await, "occurred_from");
        assert_invalid(h.store.request_replay_matching(from).await, "occurred_from");
        let before = EntryFilter::default().occurred_before(instant);
        assert_invalid(h.store.list(page_query(before)).await, "occurred_before");
        let cursor = cursor(SortOrder::OldestFirst, instant, &entry);
        let query = page_query(EntryFilter::default()).cursor(cursor);
        assert_invalid(h.store.list(query).await, "cursor");
        assert_invalid(h.store.purge(instant, 10).await, "resolved_before");
    }
    let rule = "input rejected as InvalidInput writes nothing";
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics { total: 1, new: 1, ..Statistics::default() },
        "{rule}"
    );
    assert_eq!(h.store.get_entry(entry.id).await.unwrap(), Some(entry), "{rule}");
}

/// The first and last supported instants are stored exactly and work as filter, cursor and
/// purge bounds.
pub async fn instants_at_the_ends_of_the_range_are_kept_and_compared(h: Harness) {
    let oldest = store(&h.store, command("orders.create").first_failed_at(Timestamp::MIN)).await;
    assert_eq!(oldest.first_failed_at, Timestamp::MIN, "Timestamp::MIN is stored exactly");
    let all = EntryFilter::default().occurred_from(Timestamp::MIN).occurred_before(Timestamp::MAX);
    let page = h.store.list(page_query(all)).await.unwrap();
    assert_eq!(
        page.entries,
        vec![oldest.clone()],
        "Timestamp::MIN and Timestamp::MAX work as a listing's occurred_from and occurred_before"
    );
    let cursor = cursor(SortOrder::NewestFirst, Timestamp::MAX, &oldest);
    let query = page_query(EntryFilter::default()).order(SortOrder::NewestFirst).cursor(cursor);
    assert_eq!(
        h.store.list(query).await.unwrap().entries,
        vec![oldest.clone()],
        "a cursor at Timestamp::MAX continues a newest-first listing"
    );
    h.store.dismiss(oldest.id, None).await.unwrap();
    assert_eq!(
        h.store.purge(Timestamp::MIN, 10).await.unwrap(),
        0,
        "a purge at Timestamp::MIN deletes nothing: no entry is resolved strictly before it"
    );
    assert_eq!(
        h.store.purge(Timestamp::MAX, 10).await.unwrap(),
        1,
        "a purge at Timestamp::MAX deletes a terminal entry resolved before it"
    );
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics::default(),
        "a purge at Timestamp::MAX deletes a terminal entry resolved before it"
    );
}

/// A NUL character in a filter's command type, exception type or fingerprint is rejected the
/// same way on every backend, for listing and for requesting replays.
pub async fn nul_in_filter_strings_is_invalid_input(h: Harness) {
    let entry = store(&h.store, command("orders.create")).await;
    let filters = [
        ("command_type", EntryFilter::default().command_type("orders\0create")),
        ("exception_type", EntryFilter::default().exception_type("Timeout\0")),
        ("fingerprint", EntryFilter::default().fingerprint(Fingerprint::from_stored("ab\0cd".to_owned()))),
    ];
    for (field, filter) in filters {
        assert_invalid(h.store.list(page_query(filter.clone())).await, field);
        assert_invalid(h.store.request_replay_matching(filter).await, field);
    }
    assert_eq!(
        h.store.get_entry(entry.id).await.unwrap(),
        Some(entry),
        "a request refused for NUL in its filter marks nothing"
    );
}

/// Every instant a transition writes keeps its microseconds: the lease's expiry and
/// `updated_at` of a begun replay, the latest failure of a failed one, `resolved_at` of a
/// replayed, dismissed or resolved entry, a request's slots (paced ones too) and its
/// cancellation. The clock moves by odd microseconds, so a backend that rounds any of them to
/// the millisecond fails; a purge at exactly a `resolved_at` keeps the entry and one a
/// microsecond later deletes it.
pub async fn transitions_write_instants_to_the_microsecond(h: Harness) {
    let tick = |micros| {
        h.clock.advance(Duration::from_micros(micros));
        let now = h.clock.now();
        assert_ne!(now.as_micros() % 1_000, 0, "the case's instants are not whole milliseconds");
        now
    };
    h.clock.set(Timestamp::from_micros(1_767_225_600_123_457));
    let [a, b, c] = [
        store(&h.store, command("a")).await,
        store(&h.store, command("b")).await,
        store(&h.store, command("c")).await,
    ];
    let begun = tick(1_001);
    let ticket = h.store.begin_replay(a.id).await.unwrap();
    let stored = h.store.get_entry(a.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.lease.map(|lease| lease.expires_at), stored.updated_at),
        (Some(begun.saturating_add(LEASE)), begun),
        "begin_replay stores the lease's expiry and updated_at to the microsecond"
    );
    let failed = tick(2_003);
    h.store.finish_replay(ticket, ReplayOutcome::Failed(super::timeout(1))).await.unwrap();
    let stored = h.store.get_entry(a.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.occurred_at, stored.updated_at),
        (failed, failed),
        "a failed replay stores its failure time and updated_at to the microsecond"
    );
    let requested = tick(3_005);
    let request = h
        .store
        .request_replays(
            ReplayRequestSpec::new(ReplaySelection::Entries(vec![a.id, b.id]))
                .per_second(NonZeroU32::new(3).unwrap()),
        )
        .await
        .unwrap();
    let mut stored_slots = Vec::new();
    for id in [b.id, a.id] {
        let entry = h.store.get_entry(id).await.unwrap().unwrap();
        stored_slots.push((entry.replay_requested_at, entry.updated_at));
    }
    assert_eq!(
        stored_slots,
        [
            (Some(requested), requested),
            (Some(Timestamp::from_micros(requested.as_micros() + 333_334)), requested)
        ],
        "a request stores each slot (the request's instant plus ceil(n × 1,000,000 / pace) µs) and updated_at to the microsecond"
    );
    let cancelled = tick(4_007);
    let request = h.store.cancel_replay_request(request.id).await.unwrap();
    assert_eq!(request.cancelled_at, Some(cancelled), "a cancellation is recorded to the microsecond");
    let replayed = tick(5_009);
    let ticket = h.store.begin_replay(a.id).await.unwrap();
    h.store.finish_replay(ticket, ReplayOutcome::Succeeded).await.unwrap();
    let dismissed = tick(6_011);
    h.store.dismiss(b.id, None).await.unwrap();
    let resolved = tick(7_013);
    h.store.resolve(c.id, Resolution::HandledExternally, None).await.unwrap();
    let mut resolved_at = Vec::new();
    for id in [a.id, b.id, c.id] {
        resolved_at.push(h.store.get_entry(id).await.unwrap().unwrap().resolved_at);
    }
    assert_eq!(
        resolved_at,
        [Some(replayed), Some(dismissed), Some(resolved)],
        "replayed, dismissed and resolved entries store resolved_at to the microsecond"
    );
    tick(1_000_001);
    for (cutoff, id) in [(replayed, a.id), (dismissed, b.id), (resolved, c.id)] {
        assert_eq!(
            h.store.purge(cutoff, 10).await.unwrap(),
            0,
            "a purge keeps an entry resolved exactly at its cut-off"
        );
        assert_eq!(
            h.store.purge(Timestamp::from_micros(cutoff.as_micros() + 1), 10).await.unwrap(),
            1,
            "a purge deletes an entry resolved a microsecond before its cut-off"
        );
        assert_eq!(h.store.get_entry(id).await.unwrap(), None, "the purged entry is gone");
    }
}
