//! Histograms: entries counted per time bucket by latest failure, as a dashboard charts them,
//! without reading them.

use std::time::Duration;

use pulse_extensibility::{
    CommandDeadLetterStatus as Status, DeadLetterEntry, EntryFilter, Error, Failure, MAX_BUCKETS,
    NewDeadLetter, Resolution, TimeBuckets, Timestamp,
};

use super::{command, ids, store, tenant};
use crate::Harness;

/// An hour and 17 µs: no bucket boundary falls on a round instant.
const WIDTH: Duration = Duration::from_micros(3_600_000_017);

/// `count` buckets of [`WIDTH`], the first starting 1.234567 s after the clock's instant.
fn buckets(h: &Harness, count: u32) -> TimeBuckets {
    TimeBuckets::new(h.clock.now().saturating_add(Duration::from_micros(1_234_567)), WIDTH, count)
}

/// `micros` microseconds after the start of bucket `index` (before it, when negative).
fn at(buckets: &TimeBuckets, index: u32, micros: i64) -> Timestamp {
    Timestamp::from_micros(buckets.bucket_start(index).as_micros() + micros)
}

/// Stores `input` with the clock at `instant`, so that its latest failure is `instant`.
async fn store_at(h: &Harness, instant: Timestamp, input: NewDeadLetter) -> DeadLetterEntry {
    h.clock.set(instant);
    let entry = store(&h.store, input).await;
    assert_eq!(
        entry.occurred_at, instant,
        "a new entry's latest failure is the clock's instant when it is stored"
    );
    entry
}

/// A command whose failure has its own fingerprint.
fn refused(command_type: &str) -> NewDeadLetter {
    NewDeadLetter::new(command_type, "{}", Failure::new("ConnectionRefused", "the database refused"))
}

/// An entry at a bucket's first instant counts in that bucket, one at its last instant too, and
/// one at its end in the next bucket; entries before the first bucket or from the end of the last
/// are not counted.
pub async fn histogram_buckets_are_half_open(h: Harness) {
    let buckets = buckets(&h, 3);
    let instants = [
        at(&buckets, 0, -1),
        at(&buckets, 0, 0),
        at(&buckets, 0, 1),
        at(&buckets, 1, -1),
        at(&buckets, 1, 0),
        at(&buckets, 2, 0),
        at(&buckets, 2, 5),
        at(&buckets, 3, -1),
        at(&buckets, 3, 0),
        at(&buckets, 3, 1),
    ];
    for instant in instants {
        store_at(&h, instant, command("orders.create")).await;
    }
    let every = EntryFilter::default();
    let rule = "bucket i runs from start + i × width, inclusive, to start + (i + 1) × width, exclusive; entries outside every bucket are not counted";
    assert_eq!(h.store.histogram(&every, &buckets).await.unwrap(), [3, 1, 3], "{rule}");
    let microseconds = TimeBuckets::new(at(&buckets, 1, -1), Duration::from_micros(1), 3);
    assert_eq!(
        h.store.histogram(&every, &microseconds).await.unwrap(),
        [1, 1, 0],
        "{rule} (buckets one microsecond wide)"
    );
    let before_every_entry = TimeBuckets::new(at(&buckets, 0, -1_000_000), Duration::from_micros(997), 1000);
    assert_eq!(
        h.store.histogram(&every, &before_every_entry).await.unwrap(),
        vec![0; 1000],
        "{rule} (buckets before every entry count nothing)"
    );
}

/// The filter's statuses, command type, exception type, fingerprint, ids, pending requests and
/// resolution cut-off narrow what each bucket counts.
pub async fn histogram_applies_the_filter(h: Harness) {
    let buckets = buckets(&h, 4);
    let a = store_at(&h, at(&buckets, 0, 11), command("orders.create")).await;
    let b = store_at(&h, at(&buckets, 0, 13), command("orders.cancel")).await;
    let c = store_at(&h, at(&buckets, 1, 17), command("orders.create")).await;
    store_at(&h, at(&buckets, 1, 19), refused("orders.create")).await;
    let e = store_at(&h, at(&buckets, 2, 23), command("orders.create")).await;
    let f = store_at(&h, at(&buckets, 2, 29), command("orders.cancel")).await;
    store_at(&h, at(&buckets, 3, 31), command("orders.create")).await;
    h.store.dismiss(c.id, None).await.unwrap();
    h.store.resolve(e.id, Resolution::HandledExternally, None).await.unwrap();
    let _ticket = h.store.begin_replay(f.id).await.unwrap();
    h.store.request_replay(b.id).await.unwrap();
    let unresolved = vec![Status::New, Status::Replaying];
    let cases = [
        (EntryFilter::default(), [2, 2, 2, 1]),
        (EntryFilter::default().command_type("orders.create"), [1, 2, 1, 1]),
        (EntryFilter::default().exception_type("ConnectionRefused"), [0, 1, 0, 0]),
        (EntryFilter::default().statuses([Status::New]), [2, 1, 0, 1]),
        (EntryFilter::default().statuses(unresolved.clone()), [2, 1, 1, 1]),
        (EntryFilter::default().statuses([Status::Resolved, Status::Dismissed]), [0, 1, 1, 0]),
        (EntryFilter::default().fingerprint(a.fingerprint.clone()), [1, 1, 1, 1]),
        (
            EntryFilter::default().fingerprint(a.fingerprint.clone()).statuses(unresolved.clone()),
            [1, 0, 0, 1],
        ),
        (
            EntryFilter::default().fingerprint(f.fingerprint.clone()).statuses([Status::Replaying]),
            [0, 0, 1, 0],
        ),
        (EntryFilter::default().ids([a.id, e.id]), [1, 0, 1, 0]),
        (EntryFilter::default().replay_pending(true), [1, 0, 0, 0]),
        (
            EntryFilter::default().resolved_before(h.clock.now().saturating_add(Duration::from_secs(1))),
            [0, 1, 1, 0],
        ),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            h.store.histogram(&filter, &buckets).await.unwrap(),
            expected,
            "each bucket counts only the entries the filter admits ({filter})"
        );
    }
}

/// The filter's own `occurred_from` and `occurred_before` intersect the buckets: a bucket counts
/// only what lies in both, and a range that misses every bucket counts nothing.
pub async fn histogram_intersects_the_filters_time_range(h: Harness) {
    let buckets = buckets(&h, 6);
    for index in 0..6 {
        store_at(&h, at(&buckets, index, 7), command("orders.create")).await;
        store_at(&h, at(&buckets, index + 1, -3), command("orders.create")).await;
    }
    let range = |from: Option<Timestamp>, before: Option<Timestamp>| {
        EntryFilter::default().occurred_from(from).occurred_before(before)
    };
    let cases = [
        (range(None, None), [2, 2, 2, 2, 2, 2]),
        (range(Some(at(&buckets, 1, 8)), Some(at(&buckets, 4, 8))), [0, 1, 2, 2, 1, 0]),
        (range(Some(at(&buckets, 1, 7)), Some(at(&buckets, 4, 7))), [0, 2, 2, 2, 0, 0]),
        (range(Some(at(&buckets, 0, -1_000_000)), Some(at(&buckets, 9, 0))), [2, 2, 2, 2, 2, 2]),
        (range(None, Some(at(&buckets, 0, 7))), [0; 6]),
        (range(Some(at(&buckets, 6, -2)), None), [0; 6]),
        (range(Some(at(&buckets, 3, 0)), Some(at(&buckets, 2, 0))), [0; 6]),
    ];
    for (filter, expected) in cases {
        assert_eq!(
            h.store.histogram(&filter, &buckets).await.unwrap(),
            expected,
            "the filter's occurred_from and occurred_before intersect the buckets ({filter})"
        );
    }
}

/// A tenant's histogram counts only its own entries, also with a filter; the all-tenants view
/// counts every tenant's.
pub async fn histogram_counts_only_the_scopes_tenant(h: Harness) {
    let buckets = buckets(&h, 3);
    for (index, micros) in [(0, 101), (0, 103), (2, 107)] {
        store_at(&h, at(&buckets, index, micros), command("orders.create").tenant(tenant("a"))).await;
    }
    let mut of_b = Vec::new();
    for (index, micros) in [(1, 109), (1, 113), (1, 127), (2, 131)] {
        of_b.push(
            store_at(&h, at(&buckets, index, micros), command("orders.create").tenant(tenant("b"))).await,
        );
    }
    let only_b = h.store.for_tenant(tenant("b"));
    only_b.dismiss(of_b[0].id, None).await.unwrap();
    let every = EntryFilter::default();
    let group = EntryFilter::default()
        .fingerprint(of_b[1].fingerprint.clone())
        .statuses([Status::New, Status::Replaying]);
    let only_a = h.store.for_tenant(tenant("a"));
    let rule = "a tenant's histogram counts only that tenant's entries, also with a filter";
    assert_eq!(only_a.histogram(&every, &buckets).await.unwrap(), [2, 0, 1], "{rule}");
    assert_eq!(only_a.histogram(&group, &buckets).await.unwrap(), [2, 0, 1], "{rule}");
    assert_eq!(only_b.histogram(&every, &buckets).await.unwrap(), [0, 3, 1], "{rule}");
    assert_eq!(only_b.histogram(&group, &buckets).await.unwrap(), [0, 2, 1], "{rule}");
    let all = "the all-tenants histogram counts every tenant's entries";
    assert_eq!(h.store.histogram(&every, &buckets).await.unwrap(), [2, 3, 2], "{all}");
    assert_eq!(h.store.histogram(&group, &buckets).await.unwrap(), [2, 2, 2], "{all}");
    let nobody = h.store.for_tenant(tenant("nobody"));
    assert_eq!(nobody.histogram(&every, &buckets).await.unwrap(), [0, 0, 0], "{rule}");
}

/// Each bucket of a histogram equals `count` of the filter narrowed to that bucket, for many
/// filters, scopes and shapes of buckets.
pub async fn histogram_equals_the_counts_of_its_buckets(h: Harness) {
    let buckets = buckets(&h, 10);
    let span = buckets.end().as_micros() - buckets.start.as_micros();
    let mut stored = Vec::new();
    for n in 0..60_i64 {
        // Spread over the buckets and a little beyond them on either side, in an odd order.
        let offset = (n * 7_919_000_003).rem_euclid(span + 2 * 3_600_000_000) - 3_600_000_000;
        let input = match n % 3 {
            0 => command("orders.create"),
            1 => command("orders.cancel"),
            _ => refused("orders.create"),
        };
        let input = input.tenant(tenant(if n % 4 == 0 { "a" } else { "b" }));
        let instant = Timestamp::from_micros(buckets.start.as_micros() + offset);
        stored.push(store_at(&h, instant, input).await);
    }
    for (n, entry) in stored.iter().enumerate() {
        if n % 5 == 0 {
            h.store.dismiss(entry.id, None).await.unwrap();
        } else if n % 7 == 1 {
            h.store.resolve(entry.id, Resolution::HandledExternally, None).await.unwrap();
        }
    }
    let _ticket = h.store.begin_replay(stored[2].id).await.unwrap();
    let unresolved = vec![Status::New, Status::Replaying];
    let filters = [
        EntryFilter::default(),
        EntryFilter::default().statuses(unresolved.clone()),
        EntryFilter::default().statuses([Status::Dismissed]),
        EntryFilter::default().fingerprint(stored[0].fingerprint.clone()).statuses(unresolved),
        EntryFilter::default().fingerprint(stored[2].fingerprint.clone()),
        EntryFilter::default().command_type("orders.cancel"),
        EntryFilter::default()
            .occurred_from(at(&buckets, 2, 1_000_003))
            .occurred_before(at(&buckets, 7, -999_997)),
        EntryFilter::default().ids(ids(&stored[10..30])),
    ];
    let shapes =
        [buckets, TimeBuckets::new(at(&buckets, 3, 499), WIDTH * 3, 3), TimeBuckets { count: 1, ..buckets }];
    for scope in [h.store.clone(), h.store.for_tenant(tenant("a")), h.store.for_tenant(tenant("b"))] {
        for filter in &filters {
            for shape in &shapes {
                let mut expected = Vec::new();
                for index in 0..shape.count {
                    let bucket =
                        filter.occurred_within(shape.bucket_start(index), shape.bucket_start(index + 1));
                    expected.push(match bucket {
                        Some(bucket) => scope.count(&bucket).await.unwrap().total,
                        None => 0,
                    });
                }
                let histogram = scope.histogram(filter, shape).await.unwrap();
                assert_eq!(
                    histogram,
                    expected,
                    "each bucket equals count of the filter narrowed to it ({filter} in {:?} over {shape:?})",
                    scope.scope()
                );
            }
        }
    }
}

/// Buckets of no width, of a fraction of a microsecond, none or more than [`MAX_BUCKETS`], or
/// reaching outside the supported instants are `InvalidInput` naming the field, as is a bad
/// filter; buckets ending exactly at the end of time are accepted.
pub async fn histogram_rejects_bad_buckets(h: Harness) {
    let fine = buckets(&h, 3);
    let last = Timestamp::MAX;
    let rejected = [
        (TimeBuckets { width: Duration::ZERO, ..fine }, "width"),
        (TimeBuckets { width: Duration::from_nanos(1500), ..fine }, "width"),
        (TimeBuckets { count: 0, ..fine }, "count"),
        (TimeBuckets { count: MAX_BUCKETS + 1, ..fine }, "count"),
        (TimeBuckets { start: Timestamp::from_micros(Timestamp::MIN.as_micros() - 1), ..fine }, "start"),
        (TimeBuckets { start: Timestamp::from_micros(i64::MAX), ..fine }, "start"),
        (TimeBuckets { width: Duration::MAX, ..fine }, "width"),
        (TimeBuckets::new(at_micros(last, -9), Duration::from_micros(5), 3), "count"),
        (TimeBuckets::new(at_micros(last, -9), Duration::from_micros(11), 1), "width"),
    ];
    let every = EntryFilter::default();
    for (buckets, field) in rejected {
        match h.store.histogram(&every, &buckets).await {
            Err(Error::InvalidInput { field: rejected, .. }) => assert_eq!(
                rejected, field,
                "buckets of a bad width or count, or reaching outside the supported instants, are InvalidInput naming the field at fault ({buckets:?})"
            ),
            other => panic!(
                "buckets of a bad width or count, or reaching outside the supported instants, are InvalidInput naming {field} ({buckets:?}); got {other:?}"
            ),
        }
    }
    let bad_filters = [
        (every.clone().command_type("orders\0create"), "command_type"),
        (every.clone().occurred_from(Timestamp::from_micros(i64::MIN)), "occurred_from"),
    ];
    for (filter, field) in bad_filters {
        match h.store.histogram(&filter, &fine).await {
            Err(Error::InvalidInput { field: rejected, .. }) => assert_eq!(
                rejected, field,
                "a histogram's bad filter is InvalidInput naming the field at fault ({filter})"
            ),
            other => {
                panic!("a histogram's bad filter is InvalidInput naming {field} ({filter}); got {other:?}")
            }
        }
    }
    let most = TimeBuckets::new(fine.start, Duration::from_micros(1_000_003), MAX_BUCKETS);
    store_at(&h, at(&most, 999, 0), command("orders.create")).await;
    let mut expected = vec![0; 1000];
    expected[999] = 1;
    assert_eq!(
        h.store.histogram(&every, &most).await.unwrap(),
        expected,
        "a histogram of MAX_BUCKETS buckets is accepted, and counts into its last bucket"
    );
    // Its last instant is the last supported one. (No entry is stored there: ids are made from
    // the instant, and would carry the year 9999 into every id made after them.)
    let to_the_end = TimeBuckets::new(at_micros(last, -9), Duration::from_micros(5), 2);
    assert_eq!(to_the_end.end(), at_micros(last, 1), "these buckets' last instant is Timestamp::MAX");
    assert_eq!(
        h.store.histogram(&every, &to_the_end).await.unwrap(),
        [0, 0],
        "buckets ending exactly at the end of the supported range are accepted"
    );
}

/// `micros` microseconds after `instant`.
fn at_micros(instant: Timestamp, micros: i64) -> Timestamp {
    Timestamp::from_micros(instant.as_micros() + micros)
}
