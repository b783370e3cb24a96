//! Statistics come from the counter table the triggers keep: always equal to a recount, never a
//! read of the entries table, fast at a million entries.

use std::time::Duration;

use pulse_extensibility::{
    CommandDeadLetterStatus, DeadLetterBackend, ReplayOutcome, Resolution, Scope, Statistics, TenantId,
};
use sqlx::{PgConnection, Row};

use crate::common::{Schema, command, connect, dead_letters, execute};

/// Statistics by counting the entries table itself.
async fn recount(connection: &mut PgConnection, schema: &str, tenant: Option<&str>) -> Statistics {
    let filter = tenant.map_or(String::new(), |t| format!("WHERE \"Tenant\" = '{t}'"));
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT \"Status\", count(*) FROM \"{schema}\".\"CommandDeadLetter\" {filter} GROUP BY \"Status\""
    )))
    .fetch_all(connection)
    .await
    .unwrap();
    let mut statistics = Statistics::default();
    for row in rows {
        let status = CommandDeadLetterStatus::from_i16(row.get(0)).unwrap();
        statistics.add(status, u64::try_from(row.get::<i64, _>(1)).unwrap());
    }
    statistics
}

fn tenant(name: &str) -> TenantId {
    TenantId::new(name).unwrap()
}

/// Checks the store's statistics against a recount, for all tenants and each of `tenants`.
async fn assert_counters_match(
    store: &dyn DeadLetterBackend,
    connection: &mut PgConnection,
    schema: &str,
    expected_all: Statistics,
) {
    assert_eq!(store.statistics(&Scope::AllTenants).await.unwrap(), expected_all);
    assert_eq!(recount(connection, schema, None).await, expected_all);
    for name in ["acme", "globex", "default"] {
        assert_eq!(
            store.statistics(&Scope::Tenant(tenant(name))).await.unwrap(),
            recount(connection, schema, Some(name)).await,
            "tenant {name}"
        );
    }
}

#[tokio::test]
async fn counters_follow_every_kind_of_change() {
    let schema = Schema::new("pulse_t_counters");
    let store = schema.open().await;
    let (pulse, clock) = dead_letters(store.clone());
    let mut db = connect().await;
    let s = &schema.name;
    let stats = |new, replaying, resolved, dismissed| Statistics {
        new,
        replaying,
        resolved,
        dismissed,
        total: new + replaying + resolved + dismissed,
    };

    let receipts = pulse
        .store_many(vec![
            command("a").tenant(tenant("acme")),
            command("a").tenant(tenant("acme")).message_id("k"),
            command("a").tenant(tenant("acme")).message_id("k"),
            command("b").tenant(tenant("globex")),
            command("c"),
            command("d"),
        ])
        .await
        .unwrap();
    let ids: Vec<_> = receipts.iter().map(|r| r.id).collect();
    assert_counters_match(&store, &mut db, s, stats(5, 0, 0, 0)).await;

    pulse.dismiss(ids[0], None).await.unwrap();
    let ticket = pulse.begin_replay(ids[1]).await.unwrap();
    assert_counters_match(&store, &mut db, s, stats(3, 1, 0, 1)).await;

    pulse.finish_replay(ticket, ReplayOutcome::Succeeded).await.unwrap();
    pulse.resolve(ids[3], Resolution::HandledExternally, None).await.unwrap();
    assert_counters_match(&store, &mut db, s, stats(2, 0, 2, 1)).await;

    assert_eq!(pulse.request_replay_matching(Default::default()).await.unwrap(), 2);
    assert_counters_match(&store, &mut db, s, stats(2, 0, 2, 1)).await;
    assert_eq!(pulse.claim_requested(10).await.unwrap().len(), 2);
    assert_counters_match(&store, &mut db, s, stats(0, 2, 2, 1)).await;

    clock.advance(Duration::from_secs(1));
    assert_eq!(pulse.purge(pulse.now(), 10).await.unwrap(), 3);
    assert_counters_match(&store, &mut db, s, stats(0, 2, 0, 0)).await;

    // An operator's own statements keep the counters right too.
    execute(&mut db, &format!("UPDATE \"{s}\".\"CommandDeadLetter\" SET \"Status\" = 0, \"LeaseToken\" = NULL, \"LeaseExpiresAt\" = NULL")).await;
    assert_counters_match(&store, &mut db, s, stats(2, 0, 0, 0)).await;
    execute(&mut db, &format!("DELETE FROM \"{s}\".\"CommandDeadLetter\" WHERE \"CommandType\" = 'c'")).await;
    assert_counters_match(&store, &mut db, s, stats(1, 0, 0, 0)).await;
    execute(&mut db, &format!("TRUNCATE \"{s}\".\"CommandDeadLetter\"")).await;
    assert_counters_match(&store, &mut db, s, stats(0, 0, 0, 0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statistics_never_read_the_entries_table() {
    let schema = Schema::new("pulse_t_nolock");
    let store = schema.open().await;
    let (pulse, _) = dead_letters(store.clone());
    pulse.store_many(vec![command("a"), command("b")]).await.unwrap();
    // While an operator holds the strongest lock on the entries table, anything that reads it
    // waits. Statistics must not.
    let mut operator = connect().await;
    execute(&mut operator, "BEGIN").await;
    execute(
        &mut operator,
        &format!("LOCK TABLE \"{}\".\"CommandDeadLetter\" IN ACCESS EXCLUSIVE MODE", schema.name),
    )
    .await;
    let statistics = tokio::time::timeout(Duration::from_secs(30), store.statistics(&Scope::AllTenants))
        .await
        .expect("statistics waited for the entries table")
        .unwrap();
    let in_tenant =
        tokio::time::timeout(Duration::from_secs(30), store.statistics(&Scope::Tenant(TenantId::default())))
            .await
            .expect("statistics waited for the entries table")
            .unwrap();
    execute(&mut operator, "ROLLBACK").await;
    let expected = Statistics { new: 2, replaying: 0, resolved: 0, dismissed: 0, total: 2 };
    assert_eq!((statistics, in_tenant), (expected, expected));
}

/// The counter table agrees with a recount over 200,000 entries in ten tenants. How fast it
/// answers at a million entries is measured by `cargo xtask bench`, not here.
#[tokio::test]
async fn statistics_match_a_recount_at_scale() {
    let schema = Schema::new("pulse_t_scale");
    let store = schema.open().await;
    let mut db = connect().await;
    // One statement: 200,000 entries over 10 tenants, a quarter in each status.
    execute(
        &mut db,
        &format!(
            "INSERT INTO \"{}\".\"CommandDeadLetter\" (\"Id\", \"Tenant\", \"CommandType\", \"CommandVersion\", \
             \"Payload\", \"ExceptionType\", \"ExceptionMessage\", \"Fingerprint\", \"Metadata\", \"AttemptCount\", \
             \"FirstFailedAt\", \"OccurredAt\", \"Status\", \"Resolution\", \"ResolvedAt\", \"CreatedAt\", \
             \"UpdatedAt\", \"Revision\") \
             SELECT gen_random_uuid(), 'tenant-' || (i / 4 % 10), 'orders.create', 1, '{{}}', 'TimeoutError', \
             'timed out', 'abcdef0123456789', '{{}}', 1, ts, ts, i % 4, \
             CASE i % 4 WHEN 2 THEN 'replayed' WHEN 3 THEN 'ignored' END, CASE WHEN i % 4 >= 2 THEN ts END, \
             ts, ts, 1 \
             FROM generate_series(1, 200000) AS i, \
             LATERAL (SELECT timestamptz '2026-01-01 00:00:00Z' + i * interval '1 millisecond') AS t(ts)",
            schema.name
        ),
    )
    .await;
    execute(&mut db, &format!("ANALYZE \"{}\".\"CommandDeadLetter\"", schema.name)).await;
    let quarter = 50_000;
    let all = Statistics {
        new: quarter,
        replaying: quarter,
        resolved: quarter,
        dismissed: quarter,
        total: 200_000,
    };
    let one = Statistics { new: 5_000, replaying: 5_000, resolved: 5_000, dismissed: 5_000, total: 20_000 };
    assert_eq!(store.statistics(&Scope::AllTenants).await.unwrap(), all);
    assert_eq!(store.statistics(&Scope::Tenant(tenant("tenant-7"))).await.unwrap(), one);
    assert_eq!(recount(&mut db, &schema.name, None).await, all);
}
