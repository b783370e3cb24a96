//! Faults: a connection killed mid-call, connections killed between calls, an exhausted pool, and
//! a hundred callers on ten connections.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use pulse_extensibility::{DeadLetterBackend, DeadLetterEntry, Error, Scope, Statistics, TenantId, Uuid};
use pulse_store_postgres::PostgresStore;
use sqlx::{PgConnection, Row};

use crate::common::{Schema, command, connect, database_url, dead_letters, execute, scalar};

/// An operator's transaction holding the row of `entry` locked, so the store's next write to it
/// waits: a call that is certainly in flight on a known connection.
struct RowLock {
    connection: PgConnection,
    pid: i32,
}

impl RowLock {
    async fn take(schema: &str, entry: &DeadLetterEntry) -> Self {
        let mut connection = connect().await;
        let pid = i32::try_from(scalar(&mut connection, "SELECT pg_backend_pid()::int8").await).unwrap();
        execute(&mut connection, "BEGIN").await;
        execute(
            &mut connection,
            &format!(
                "SELECT 1 FROM \"{schema}\".\"CommandDeadLetter\" WHERE \"Id\" = '{}' FOR UPDATE",
                entry.id
            ),
        )
        .await;
        Self { connection, pid }
    }

    /// The backend that waits for this lock, once there is one.
    async fn waiter(&self) -> i32 {
        let mut watcher = connect().await;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiter =
                sqlx::query("SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))")
                    .bind(self.pid)
                    .fetch_optional(&mut watcher)
                    .await
                    .unwrap();
            if let Some(row) = waiter {
                return row.get(0);
            }
            assert!(Instant::now() < deadline, "no call started waiting for the locked row");
            tokio::task::yield_now().await;
        }
    }

    async fn release(mut self) {
        execute(&mut self.connection, "ROLLBACK").await;
    }
}

/// `entry` with a note, as the next revision.
fn noted(entry: &DeadLetterEntry, note: &str) -> DeadLetterEntry {
    DeadLetterEntry { note: Some(note.to_owned()), revision: entry.revision + 1, ..entry.clone() }
}

async fn stored_entry(store: &PostgresStore) -> DeadLetterEntry {
    let (pulse, _) = dead_letters(store.clone());
    let receipt = pulse.store(command("a")).await.unwrap();
    store.get(&Scope::AllTenants, receipt.id).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_call_is_a_retryable_error_and_the_next_call_succeeds() {
    let schema = Schema::new("pulse_t_kill");
    let store = schema.open().await;
    let entry = stored_entry(&store).await;
    let next = noted(&entry, "after the fault");

    let lock = RowLock::take(&schema.name, &entry).await;
    let call = tokio::spawn({
        let (store, next) = (store.clone(), next.clone());
        async move { store.swap(&next).await }
    });
    let victim = lock.waiter().await;
    let mut operator = connect().await;
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(victim)
        .fetch_one(&mut operator)
        .await
        .unwrap();
    assert!(terminated);
    let error = call.await.unwrap().unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    lock.release().await;

    // Nothing was written by the killed call; the retry writes.
    assert_eq!(store.get(&Scope::AllTenants, entry.id).await.unwrap(), Some(entry.clone()));
    assert!(store.swap(&next).await.unwrap());
    assert_eq!(store.get(&Scope::AllTenants, entry.id).await.unwrap(), Some(next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_between_calls_are_replaced() {
    let schema = Schema::new("pulse_t_idle");
    let application = format!("pulse_t_{}", Uuid::new_v4().simple());
    let url = database_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let config = pulse_store_postgres::PostgresConfig::from_url(format!(
        "{url}{separator}application_name={application}"
    ))
    .schema(schema.identifier())
    .max_connections(3);
    let store = PostgresStore::open(config).await.unwrap();
    let entry = stored_entry(&store).await;

    let mut operator = connect().await;
    let killed = scalar(
        &mut operator,
        &format!("SELECT count(pg_terminate_backend(pid))::int8 FROM pg_stat_activity WHERE application_name = '{application}'"),
    )
    .await;
    assert!(killed >= 1, "the store had no open connection");
    // The pool notices the dead connection when it hands it out. If a call still meets it, the
    // call fails as retryable; the one after it succeeds.
    match store.get(&Scope::AllTenants, entry.id).await {
        Ok(found) => assert_eq!(found, Some(entry.clone())),
        Err(error) => assert!(error.is_retryable(), "{error:?}"),
    }
    assert_eq!(store.get(&Scope::AllTenants, entry.id).await.unwrap(), Some(entry));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_pool_is_unavailable_until_a_connection_frees_up() {
    let schema = Schema::new("pulse_t_pool");
    let store =
        PostgresStore::open(schema.config().max_connections(1).acquire_timeout(Duration::from_millis(300)))
            .await
            .unwrap();
    let entry = stored_entry(&store).await;
    let next = noted(&entry, "waited");

    let lock = RowLock::take(&schema.name, &entry).await;
    let call = tokio::spawn({
        let (store, next) = (store.clone(), next.clone());
        async move { store.swap(&next).await }
    });
    lock.waiter().await;
    // The only connection is busy: a second call gives up after the acquire timeout.
    let error = store.get(&Scope::AllTenants, entry.id).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }) && error.is_retryable(), "{error:?}");
    lock.release().await;
    assert!(call.await.unwrap().unwrap());
    assert_eq!(store.get(&Scope::AllTenants, entry.id).await.unwrap(), Some(next));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_callers_on_ten_connections_neither_deadlock_nor_lose_anything() {
    let schema = Schema::new("pulse_t_crowd");
    let store =
        PostgresStore::open(schema.config().max_connections(10).acquire_timeout(Duration::from_secs(60)))
            .await
            .unwrap();
    let (pulse, _) = dead_letters(store.clone());

    let callers: Vec<_> = (0..100)
        .map(|caller| {
            let pulse = pulse.clone();
            tokio::spawn(async move {
                let tenant = TenantId::new(format!("tenant-{}", caller % 5)).unwrap();
                let key = format!("message-{caller}");
                let inputs = vec![
                    command("dismissed").tenant(tenant.clone()),
                    command("requested").tenant(tenant.clone()).message_id(key.clone()),
                    command("kept").tenant(tenant.clone()),
                ];
                let receipts = pulse.store_many(inputs).await.unwrap();
                // The same key again, concurrently with everyone else: a duplicate of ours.
                let again = pulse.store(command("requested").tenant(tenant).message_id(key)).await.unwrap();
                assert_eq!((again.id, again.duplicate), (receipts[1].id, true));
                pulse.dismiss(receipts[0].id, None).await.unwrap();
                pulse.request_replay(receipts[1].id).await.unwrap();
                let claimed = pulse.claim_requested(1).await.unwrap();
                claimed.into_iter().map(|ticket| ticket.entry.id).collect::<Vec<_>>()
            })
        })
        .collect();
    let all = async {
        let mut claimed = Vec::new();
        for caller in callers {
            claimed.extend(caller.await.unwrap());
        }
        claimed
    };
    let mut claimed =
        tokio::time::timeout(Duration::from_secs(300), all).await.expect("the callers deadlocked");
    // Claims skip rows others hold, so some callers may have come away empty: collect the rest.
    claimed.extend(pulse.claim_requested(1000).await.unwrap().into_iter().map(|ticket| ticket.entry.id));
    let distinct: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!((claimed.len(), distinct.len()), (100, 100), "every request claimed exactly once");

    let expected = Statistics { new: 100, replaying: 100, resolved: 0, dismissed: 100, total: 300 };
    assert_eq!(store.statistics(&Scope::AllTenants).await.unwrap(), expected);
    let mut db = connect().await;
    let table = format!("\"{}\".\"CommandDeadLetter\"", schema.name);
    assert_eq!(scalar(&mut db, &format!("SELECT count(*) FROM {table}")).await, 300);
    assert_eq!(scalar(&mut db, &format!("SELECT count(DISTINCT \"MessageId\") FROM {table}")).await, 100);
}
