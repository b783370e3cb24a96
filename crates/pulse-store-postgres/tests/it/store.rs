//! What the conformance suite cannot see: every column round-trips exactly, inserts race across
//! processes, retries of a write are not duplicates, and values Postgres cannot hold are
//! rejected as input.

use std::collections::BTreeMap;

use pulse_extensibility::{
    Actor, CommandDeadLetterStatus, DeadLetterBackend, DeadLetterEntry, DeadLetterId, Error, Fingerprint,
    ReplayLease, ReplayRequestId, Resolution, Scope, StoreReceipt, TenantId, Timestamp, Uuid,
};
use pulse_store_postgres::PostgresStore;

use crate::common::{Schema, command, connect, dead_letters, scalar};

/// An entry with every optional field set, odd text, and microsecond instants.
pub(crate) fn full_entry(at: i64) -> DeadLetterEntry {
    let t = |offset: i64| Timestamp::from_micros(at + offset);
    DeadLetterEntry {
        id: DeadLetterId::new_at(t(0)),
        tenant: TenantId::new("tenänt ✓").unwrap(),
        message_id: Some("msg-'quoted'\"-1".to_owned()),
        command_type: "orders.create".to_owned(),
        command_version: u32::MAX,
        payload: "{\"emoji\":\"🦀\",\"big\":\"".to_owned() + &"x".repeat(100_000) + "\"}",
        original_payload: Some("{}".to_owned()),
        exception_type: "TimeoutError".to_owned(),
        exception_message: "line 1\nline 2\t€".to_owned(),
        exception_details: Some("caused by: reset".to_owned()),
        fingerprint: Fingerprint::from_stored("0123456789abcdef".to_owned()),
        source: Some("orders-worker".to_owned()),
        metadata: BTreeMap::from([
            ("correlation_id".to_owned(), "c-1".to_owned()),
            ("ключ".to_owned(), "значение \"quoted\"".to_owned()),
            ("empty".to_owned(), String::new()),
        ]),
        attempt_count: u32::MAX,
        first_failed_at: t(-1),
        occurred_at: t(1),
        status: CommandDeadLetterStatus::Replaying,
        resolution: Some(Resolution::HandledExternally),
        note: Some("note".to_owned()),
        resolved_at: Some(t(2)),
        lease: Some(ReplayLease { token: Uuid::new_v4(), expires_at: t(3) }),
        replay_requested_at: Some(t(4)),
        replay_request: Some(ReplayRequestId::from_uuid(Uuid::new_v4())),
        changed_by: Some(Actor::new("óperator \"night\"").unwrap()),
        created_at: t(5),
        updated_at: t(6),
        revision: 7,
    }
}

#[tokio::test]
async fn every_field_round_trips_exactly() {
    let schema = Schema::new("pulse_t_fields");
    let store = schema.open().await;
    let instants = [1_767_225_600_123_457, 1, -62_135_596_800_000_000, 253_402_300_799_999_999];
    let entries: Vec<_> = instants.iter().map(|at| full_entry(*at)).collect();
    let entries: Vec<_> = entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| DeadLetterEntry { message_id: Some(format!("m-{i}")), ..e })
        .collect();
    let receipts = store.insert(entries.clone()).await.unwrap();
    let expected: Vec<_> = entries.iter().map(|e| StoreReceipt { id: e.id, duplicate: false }).collect();
    assert_eq!(receipts, expected);
    for entry in &entries {
        assert_eq!(store.get(&Scope::AllTenants, entry.id).await.unwrap().as_ref(), Some(entry));
    }
    let minimal = DeadLetterEntry {
        id: DeadLetterId::new_at(Timestamp::UNIX_EPOCH),
        tenant: TenantId::default(),
        message_id: None,
        original_payload: None,
        exception_details: None,
        source: None,
        metadata: BTreeMap::new(),
        status: CommandDeadLetterStatus::New,
        resolution: None,
        note: None,
        resolved_at: None,
        lease: None,
        replay_requested_at: None,
        replay_request: None,
        changed_by: None,
        ..full_entry(0)
    };
    store.insert(vec![minimal.clone()]).await.unwrap();
    assert_eq!(store.get(&Scope::AllTenants, minimal.id).await.unwrap(), Some(minimal));
}

#[tokio::test]
async fn duplicates_in_a_batch_and_in_the_table_name_the_first_entry() {
    let schema = Schema::new("pulse_t_dups");
    let store = schema.open().await;
    let (pulse, _) = dead_letters(store.clone());
    let first = pulse.store(command("a").message_id("k1")).await.unwrap();
    let receipts = pulse
        .store_many(vec![
            command("a").message_id("k1"),
            command("a").message_id("k2"),
            command("a"),
            command("a").message_id("k2"),
            command("a").message_id("k1").tenant(TenantId::new("other").unwrap()),
        ])
        .await
        .unwrap();
    assert_eq!(receipts[0], StoreReceipt { id: first.id, duplicate: true });
    assert!(!receipts[1].duplicate && !receipts[2].duplicate && !receipts[4].duplicate);
    assert_eq!(receipts[3], StoreReceipt { id: receipts[1].id, duplicate: true });
    let mut db = connect().await;
    assert_eq!(
        scalar(&mut db, &format!("SELECT count(*) FROM \"{}\".\"CommandDeadLetter\"", schema.name)).await,
        4
    );
}

#[tokio::test]
async fn a_retried_insert_of_the_same_entries_never_writes_them_twice() {
    let schema = Schema::new("pulse_t_retry");
    let store = schema.open().await;
    // As after a commit whose acknowledgement was lost: the caller sends the same entries again.
    // The entry without a key is recognised by its id, which is taken: the retry is a conflict
    // and writes nothing.
    let with_key = DeadLetterEntry { message_id: Some("k".to_owned()), ..full_entry(1_767_225_600_000_000) };
    let without_key = DeadLetterEntry { message_id: None, ..full_entry(1_767_225_600_000_001) };
    let batch = [with_key.clone(), without_key.clone()];
    let expected = vec![
        StoreReceipt { id: with_key.id, duplicate: false },
        StoreReceipt { id: without_key.id, duplicate: false },
    ];
    assert_eq!(store.insert(batch.to_vec()).await.unwrap(), expected);
    let retried = store.insert(batch.to_vec()).await;
    assert!(matches!(retried, Err(Error::Conflict { id, .. }) if id == without_key.id), "{retried:?}");
    let mut db = connect().await;
    assert_eq!(
        scalar(&mut db, &format!("SELECT count(*) FROM \"{}\".\"CommandDeadLetter\"", schema.name)).await,
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_inserts_of_one_key_from_several_processes_store_one_entry() {
    let schema = Schema::new("pulse_t_race");
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(PostgresStore::open(schema.config().max_connections(3)).await.unwrap());
    }
    for round in 0..5 {
        let key = format!("race-{round}");
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let (pulse, _) = dead_letters(stores[i % stores.len()].clone());
                let key = key.clone();
                tokio::spawn(async move { pulse.store(command("a").message_id(key)).await.unwrap() })
            })
            .collect();
        let mut receipts = Vec::new();
        for task in tasks {
            receipts.push(task.await.unwrap());
        }
        let winner = receipts.iter().find(|r| !r.duplicate).expect("one insert wins").id;
        let mut expected = vec![StoreReceipt { id: winner, duplicate: true }; 23];
        expected.push(StoreReceipt { id: winner, duplicate: false });
        receipts.sort_by_key(|r| r.duplicate);
        receipts.reverse();
        assert_eq!(receipts, expected, "round {round}");
    }
    let mut db = connect().await;
    assert_eq!(
        scalar(&mut db, &format!("SELECT count(*) FROM \"{}\".\"CommandDeadLetter\"", schema.name)).await,
        5
    );
}

#[tokio::test]
async fn text_and_instants_postgres_cannot_hold_are_invalid_input() {
    let schema = Schema::new("pulse_t_invalid");
    let store = schema.open().await;
    let (pulse, _) = dead_letters(store.clone());
    let receipt = pulse.store(command("a")).await.unwrap();
    // `DeadLetters` rejects a NUL in a note before the backend sees it.
    let error = pulse.dismiss(receipt.id, Some("a\0b".to_owned())).await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { field: "note", .. }), "{error:?}");
    let entry = store.get(&Scope::AllTenants, receipt.id).await.unwrap().unwrap();
    // Handed to the backend directly, it is still a typed error: PostgreSQL text cannot hold NUL.
    let nul =
        DeadLetterEntry { note: Some("a\0b".to_owned()), revision: entry.revision + 1, ..entry.clone() };
    let error = store.swap(&nul).await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { field: "text", .. }), "{error:?}");
    let far = DeadLetterEntry {
        lease: Some(ReplayLease { token: Uuid::new_v4(), expires_at: Timestamp::from_micros(i64::MAX) }),
        revision: entry.revision + 1,
        ..entry.clone()
    };
    let error = store.swap(&far).await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { field: "timestamp", .. }), "{error:?}");
    let ancient = DeadLetterEntry { occurred_at: Timestamp::from_micros(-250_000_000_000_000_000), ..far };
    let error = store.swap(&ancient).await.unwrap_err();
    assert!(matches!(error, Error::InvalidInput { field: "timestamp", .. }), "{error:?}");
    // Nothing changed.
    assert_eq!(store.get(&Scope::AllTenants, receipt.id).await.unwrap(), Some(entry));
}
