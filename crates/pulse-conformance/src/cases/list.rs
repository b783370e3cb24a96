//! Listing with filters, both orders and a keyset cursor.

use std::time::Duration;

use pulse_extensibility::{
    CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetterId, EntryFilter, Error, Failure, ListQuery,
    NewDeadLetter, Resolution, SortOrder, Statistics, Timestamp,
};

use super::{ids, store_tick};
use crate::Harness;

fn query(filter: EntryFilter, order: SortOrder, limit: u32) -> ListQuery {
    ListQuery::default().filter(filter).order(order).limit(limit)
}

/// Every entry `query` reaches, page by page.
async fn walk(h: &Harness, mut query: ListQuery) -> Vec<DeadLetterId> {
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let page = h.store.list(query.clone()).await.unwrap();
        assert!(page.entries.len() <= query.limit as usize, "a page holds at most `limit` entries");
        seen.extend(ids(&page.entries));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return seen,
        }
    }
    panic!("every cursor advances the listing, so paging ends (it had not after 1000 pages)")
}

async fn ids_matching(h: &Harness, filter: EntryFilter) -> Vec<DeadLetterId> {
    ids(&h.store.list(query(filter, SortOrder::OldestFirst, 100)).await.unwrap().entries)
}

/// Four entries, one in each status, stored a millisecond apart.
async fn one_of_each_status(h: &Harness) -> [DeadLetterEntry; 4] {
    let new = store_tick(h, "new").await;
    let replaying = store_tick(h, "replaying").await;
    let resolved = store_tick(h, "resolved").await;
    let dismissed = store_tick(h, "dismissed").await;
    let replaying = h.store.begin_replay(replaying.id).await.unwrap().entry;
    let resolved =
        h.store.resolve(resolved.id, pulse_extensibility::Resolution::HandledExternally, None).await.unwrap();
    let dismissed = h.store.dismiss(dismissed.id, None).await.unwrap();
    [new, replaying, resolved, dismissed]
}

/// A status filter returns exactly the entries in those statuses.
pub async fn list_filters_by_status(h: Harness) {
    let [new, replaying, resolved, dismissed] = one_of_each_status(&h).await;
    let by = |statuses: Vec<Status>| EntryFilter::default().statuses(statuses);
    let rule = "a status filter lists exactly the entries in the statuses given";
    assert_eq!(ids_matching(&h, by(vec![Status::New])).await, [new.id], "{rule}");
    assert_eq!(
        ids_matching(&h, by(vec![Status::Replaying, Status::Dismissed])).await,
        [replaying.id, dismissed.id],
        "{rule}"
    );
    assert_eq!(ids_matching(&h, by(vec![Status::Resolved])).await, [resolved.id], "{rule}");
    assert_eq!(
        ids_matching(&h, by(vec![])).await,
        [new.id, replaying.id, resolved.id, dismissed.id],
        "an empty status filter lists entries in every status"
    );
}

/// Command type and exception type filters match exactly.
pub async fn list_filters_by_command_and_exception_type(h: Harness) {
    let a = store_tick(&h, "orders.create").await;
    let b = h
        .store
        .store(NewDeadLetter::new("orders.create", "{}", Failure::new("IoError", "disk")))
        .await
        .unwrap();
    let _c = store_tick(&h, "orders.cancel").await;
    let by_command = EntryFilter::default().command_type("orders.create");
    assert_eq!(
        ids_matching(&h, by_command.clone()).await,
        [a.id, b.id],
        "a command type filter lists exactly the entries of that command type"
    );
    let by_both = by_command.exception_type("IoError");
    assert_eq!(
        ids_matching(&h, by_both).await,
        [b.id],
        "command type and exception type filters together list the entries matching both"
    );
    let none = EntryFilter::default().command_type("orders");
    assert_eq!(
        ids_matching(&h, none).await,
        [],
        "a command type filter matches the whole command type, not a prefix"
    );
}

/// A fingerprint filter returns the error group's entries.
pub async fn list_filters_by_fingerprint(h: Harness) {
    let a = store_tick(&h, "orders.create").await;
    let _other =
        h.store.store(NewDeadLetter::new("orders.create", "{}", Failure::new("IoError", "disk"))).await;
    let b = store_tick(&h, "orders.create").await;
    let filter = EntryFilter::default().fingerprint(a.fingerprint.clone());
    assert_eq!(
        ids_matching(&h, filter).await,
        [a.id, b.id],
        "a fingerprint filter lists exactly the entries of that error group"
    );
}

/// `occurred_from` is inclusive and `occurred_before` exclusive.
pub async fn list_filters_by_time_range(h: Harness) {
    let a = store_tick(&h, "a").await;
    let b = store_tick(&h, "b").await;
    let c = store_tick(&h, "c").await;
    let filter = EntryFilter::default().occurred_from(b.occurred_at).occurred_before(c.occurred_at);
    assert_eq!(
        ids_matching(&h, filter).await,
        [b.id],
        "occurred_from is inclusive and occurred_before exclusive"
    );
    let from_a = EntryFilter::default().occurred_from(a.occurred_at);
    assert_eq!(
        ids_matching(&h, from_a).await,
        [a.id, b.id, c.id],
        "occurred_from alone lists every entry that failed at or after it"
    );
    let empty = EntryFilter::default().occurred_from(b.occurred_at).occurred_before(b.occurred_at);
    assert_eq!(
        ids_matching(&h, empty).await,
        [],
        "a time range with occurred_from equal to occurred_before is empty"
    );
}

/// Newest first is the reverse of oldest first.
pub async fn list_orders_newest_or_oldest_first(h: Harness) {
    let mut stored = Vec::new();
    for i in 0..4 {
        stored.push(store_tick(&h, &format!("c{i}")).await.id);
    }
    let oldest = h.store.list(query(EntryFilter::default(), SortOrder::OldestFirst, 10)).await.unwrap();
    assert_eq!(ids(&oldest.entries), stored, "oldest first lists by latest failure, earliest first");
    stored.reverse();
    let newest = h.store.list(ListQuery::default()).await.unwrap();
    assert_eq!(ids(&newest.entries), stored, "newest first (the default) is the reverse of oldest first");
    assert_eq!(newest.next_cursor, None, "a listing that returned every entry carries no cursor");
}

/// Paging through 23 entries in pages of 5 visits each exactly once, in order, both ways;
/// entries with equal failure times are ordered by id.
pub async fn list_pages_visit_every_entry_once(h: Harness) {
    let mut expected = Vec::new();
    for batch in 0..6 {
        let inputs = (0..4).map(|i| super::command(&format!("c{batch}.{i}"))).collect();
        let mut receipts: Vec<_> =
            h.store.store_many(inputs).await.unwrap().into_iter().map(|r| r.id).collect();
        receipts.sort();
        expected.extend(receipts);
        h.clock.advance(Duration::from_millis(1));
    }
    expected.truncate(23);
    let extra = h.store.list(query(EntryFilter::default(), SortOrder::NewestFirst, 1)).await.unwrap();
    h.store.dismiss(extra.entries[0].id, None).await.unwrap();
    let filter = EntryFilter::default().statuses([Status::New]);
    assert_eq!(
        walk(&h, query(filter.clone(), SortOrder::OldestFirst, 5)).await,
        expected,
        "paging oldest first visits every matching entry once, in (occurred_at, id) order"
    );
    expected.reverse();
    assert_eq!(
        walk(&h, query(filter, SortOrder::NewestFirst, 5)).await,
        expected,
        "paging newest first visits every matching entry once, in reverse (occurred_at, id) order"
    );
}

/// Entries stored while a listing is paged never make it repeat or skip an entry.
pub async fn list_paging_survives_new_arrivals(h: Harness) {
    let mut before = Vec::new();
    for i in 0..6 {
        before.push(store_tick(&h, &format!("c{i}")).await.id);
    }
    for order in [SortOrder::NewestFirst, SortOrder::OldestFirst] {
        let mut q = query(EntryFilter::default(), order, 2);
        let mut seen = Vec::new();
        let mut arrived = Vec::new();
        for _ in 0..100 {
            let page = h.store.list(q.clone()).await.unwrap();
            seen.extend(ids(&page.entries));
            arrived.push(store_tick(&h, "arrival").await.id);
            match page.next_cursor {
                Some(cursor) => q.cursor = Some(cursor),
                None => break,
            }
        }
        assert!(arrived.len() < 100, "paging {order:?} ends while new entries arrive");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            seen.len(),
            "paging {order:?} never repeats an entry while new entries arrive"
        );
        assert!(
            before.iter().all(|id| seen.contains(id)),
            "paging {order:?} never skips an entry while new entries arrive"
        );
    }
}

/// A listing that ends exactly at a page boundary says so on that page: the page that holds the
/// last entry never carries a cursor, also when it is full.
pub async fn list_last_page_has_no_cursor(h: Harness) {
    for i in 0..4 {
        store_tick(&h, &format!("c{i}")).await;
    }
    let first = h.store.list(query(EntryFilter::default(), SortOrder::OldestFirst, 2)).await.unwrap();
    let cursor = first.next_cursor.expect("a page with entries after it carries a cursor");
    let second =
        h.store.list(query(EntryFilter::default(), SortOrder::OldestFirst, 2).cursor(cursor)).await.unwrap();
    assert_eq!(
        (second.entries.len(), second.next_cursor),
        (2, None),
        "the page that holds the last entry carries no cursor, also when it is full"
    );
    let all = h.store.list(query(EntryFilter::default(), SortOrder::OldestFirst, 4)).await.unwrap();
    assert_eq!(
        (all.entries.len(), all.next_cursor),
        (4, None),
        "the page that holds the last entry carries no cursor, also when it is full"
    );
}

/// The page size must be 1 to 1000.
pub async fn list_rejects_limits_outside_1_to_1000(h: Harness) {
    for bad in [0, 1001] {
        assert!(
            matches!(
                h.store.list(query(EntryFilter::default(), SortOrder::NewestFirst, bad)).await,
                Err(Error::InvalidInput { field: "limit", .. })
            ),
            "a page size is 1 to 1000; {bad} is InvalidInput naming limit"
        );
    }
    assert_eq!(
        h.store.list(query(EntryFilter::default(), SortOrder::NewestFirst, 1000)).await.unwrap().entries,
        [],
        "a page size of 1000 is accepted"
    );
}

/// A cursor from a newest-first listing cannot continue an oldest-first one, and a forged cursor
/// does not parse.
pub async fn list_rejects_a_cursor_of_the_other_order(h: Harness) {
    for i in 0..3 {
        store_tick(&h, &format!("c{i}")).await;
    }
    let page = h.store.list(query(EntryFilter::default(), SortOrder::NewestFirst, 1)).await.unwrap();
    let cursor = page.next_cursor.expect("a page with entries after it carries a cursor");
    let result = h.store.list(query(EntryFilter::default(), SortOrder::OldestFirst, 1).cursor(cursor)).await;
    assert!(
        matches!(result, Err(Error::InvalidInput { field: "cursor", .. })),
        "a cursor only continues a listing in its own order: newest-first in an oldest-first listing is InvalidInput naming cursor; got {result:?}"
    );
    assert!(
        matches!(
            "garbage".parse::<pulse_extensibility::Cursor>(),
            Err(Error::InvalidInput { field: "cursor", .. })
        ),
        "a forged cursor does not parse: InvalidInput naming cursor"
    );
}

/// A time range whose start is after its end is rejected.
pub async fn list_rejects_an_inverted_time_range(h: Harness) {
    let now = h.clock.now();
    let filter =
        EntryFilter::default().occurred_from(now.saturating_add(Duration::from_secs(1))).occurred_before(now);
    assert!(
        matches!(
            h.store.list(query(filter, SortOrder::NewestFirst, 10)).await,
            Err(Error::InvalidInput { field: "occurred_from", .. })
        ),
        "a time range whose occurred_from is after its occurred_before is InvalidInput naming occurred_from"
    );
}

/// `resolved_before` selects Resolved and Dismissed entries resolved strictly before it, in
/// `list` and `count` alike (a purge's dry run counts with it): an entry resolved exactly at the
/// bound is left out, and an unresolved entry never matches.
pub async fn list_and_count_select_entries_resolved_strictly_before(h: Harness) {
    let resolved = store_tick(&h, "a").await;
    let dismissed = store_tick(&h, "b").await;
    let open = store_tick(&h, "c").await;
    h.store.resolve(resolved.id, Resolution::HandledExternally, None).await.unwrap();
    h.clock.advance(Duration::from_micros(1_001));
    let bound = h.clock.now();
    h.store.dismiss(dismissed.id, None).await.unwrap();
    h.clock.advance(Duration::from_secs(1));
    let cases = [
        (bound, vec![resolved.id], Statistics { resolved: 1, total: 1, ..Statistics::default() }),
        (
            Timestamp::from_micros(bound.as_micros() + 1),
            vec![resolved.id, dismissed.id],
            Statistics { resolved: 1, dismissed: 1, total: 2, ..Statistics::default() },
        ),
    ];
    for (before, expected_ids, expected_counts) in cases {
        let filter = EntryFilter::default().resolved_before(before);
        assert_eq!(
            walk(&h, query(filter.clone(), SortOrder::OldestFirst, 10)).await,
            expected_ids,
            "resolved_before lists entries resolved strictly before it, never an unresolved one"
        );
        assert_eq!(
            h.store.count(&filter).await.unwrap(),
            expected_counts,
            "resolved_before counts what it lists: entries resolved strictly before it"
        );
    }
    assert!(h.store.get_entry(open.id).await.unwrap().is_some_and(|e| e.resolved_at.is_none()));
}
