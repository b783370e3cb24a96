//! What the file holds: plain SQLite values a person can read with the `sqlite3` shell, ids that
//! sort like Pulse's, corrupt values reported as errors, and writers in two handles at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use pulse_extensibility::{
    DeadLetterBackend, DeadLetterEntry, DeadLetterId, EntryFilter, EntryQuery, Error, Scope, SortOrder,
    Statistics, Timestamp, Uuid, fingerprint::fingerprint, validate::new_entry,
};
use rusqlite::types::Value;

use crate::common::{command, database, dead_letters, open, raw};

/// Every column of the row with `id`, by name.
fn stored_row(path: &std::path::Path, id: DeadLetterId) -> Vec<(String, Value)> {
    let conn = raw(path);
    let mut statement = conn.prepare(r#"SELECT * FROM "CommandDeadLetter" WHERE Id = ?1"#).unwrap();
    let names: Vec<String> = statement.column_names().into_iter().map(str::to_owned).collect();
    let values: Vec<Value> = statement
        .query_row([id.to_string()], |row| (0..names.len()).map(|i| row.get::<_, Value>(i)).collect())
        .unwrap();
    names.into_iter().zip(values).collect()
}

#[tokio::test]
async fn entries_are_stored_as_plain_sqlite_values() {
    let (_dir, path) = database();
    let (letters, clock) = dead_letters(open(&path).await);
    let stored_at = clock.now();
    let input = command(1)
        .message_id("msg-1")
        .source("orders-worker")
        .metadata("correlation_id", "c-1")
        .attempt_count(3);
    let id = letters.store(input).await.unwrap().id;
    clock.advance(Duration::from_secs(1));
    let ticket = letters.begin_replay(id).await.unwrap();
    drop(letters);

    let text = |s: &str| Value::Text(s.to_owned());
    let micros = |at: Timestamp| Value::Integer(at.as_micros());
    let expected: Vec<(String, Value)> = [
        ("Id", text(&id.to_string())),
        ("Tenant", text("default")),
        ("MessageId", text("msg-1")),
        ("CommandType", text("orders.create")),
        ("CommandVersion", Value::Integer(1)),
        ("Payload", text(r#"{"order_id":1}"#)),
        ("OriginalPayload", Value::Null),
        ("ExceptionType", text("TimeoutError")),
        ("ExceptionMessage", text("order 1 timed out")),
        ("ExceptionDetails", Value::Null),
        ("Fingerprint", text(fingerprint("orders.create", "TimeoutError", "order 1 timed out").as_str())),
        ("Source", text("orders-worker")),
        ("Metadata", text(r#"{"correlation_id":"c-1"}"#)),
        ("AttemptCount", Value::Integer(3)),
        ("FirstFailedAt", micros(stored_at)),
        ("OccurredAt", micros(stored_at)),
        ("Status", Value::Integer(1)),
        ("Resolution", Value::Null),
        ("Note", Value::Null),
        ("ResolvedAt", Value::Null),
        ("LeaseToken", text(&ticket.lease.token.to_string())),
        ("LeaseExpiresAt", micros(stored_at.saturating_add(Duration::from_secs(1 + 300)))),
        ("ReplayRequestedAt", Value::Null),
        ("CreatedAt", micros(stored_at)),
        ("UpdatedAt", micros(stored_at.saturating_add(Duration::from_secs(1)))),
        ("Revision", Value::Integer(2)),
        ("ReplayRequestId", Value::Null),
        ("ChangedBy", Value::Null),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    assert_eq!(stored_row(&path, id), expected);
    let id_text = id.to_string();
    assert_eq!(
        (id_text.len(), id_text.to_lowercase()),
        (36, id_text.clone()),
        "ids are lowercase hyphenated"
    );
}

#[tokio::test]
async fn ids_sort_in_sql_as_they_sort_in_rust() {
    let (_dir, path) = database();
    let store = open(&path).await;
    let at = Timestamp::from_micros(1_767_225_600_000_000);
    let mut entries: Vec<DeadLetterEntry> = (0..300)
        .map(|n| {
            let entry = new_entry(command(n), at, 1024).unwrap();
            DeadLetterEntry { id: DeadLetterId::from_uuid(Uuid::new_v4()), ..entry }
        })
        .collect();
    store.insert(entries.clone()).await.unwrap();
    entries.sort_by_key(|entry| entry.id);
    let query = EntryQuery {
        scope: Scope::AllTenants,
        filter: EntryFilter::default(),
        order: SortOrder::OldestFirst,
        after: None,
        offset: 0,
        limit: 1000,
    };
    assert_eq!(store.query(&query).await.unwrap(), entries);
}

#[tokio::test]
async fn corrupt_stored_values_are_errors_not_panics() {
    let (_dir, path) = database();
    let (letters, _) = dead_letters(open(&path).await);
    let mut ids = Vec::new();
    for n in 0..6 {
        ids.push(letters.store(command(n)).await.unwrap().id);
    }
    let damage = [
        "Revision = -1",
        "AttemptCount = 5000000000",
        "OccurredAt = 'yesterday'",
        "Metadata = '[1]'",
        "Tenant = ''",
        "LeaseToken = 'not-a-token', LeaseExpiresAt = 1",
    ];
    let conn = raw(&path);
    for (id, damage) in ids.iter().zip(damage) {
        conn.execute(&format!(r#"UPDATE "CommandDeadLetter" SET {damage} WHERE Id = ?1"#), [id.to_string()])
            .unwrap();
    }
    drop(conn);
    let mut errors = Vec::new();
    for id in &ids {
        match letters.get_entry(*id).await {
            Err(Error::Backend { message, retryable: false, source: None }) => errors.push(message),
            other => panic!("expected a corrupt-data error, got {other:?}"),
        }
    }
    let expected: Vec<String> = ids
        .iter()
        .zip([
            "Revision: -1 is out of range",
            "AttemptCount: 5000000000 is out of range",
            "OccurredAt: text where an integer belongs",
            "Metadata: not a JSON string map: invalid type: sequence, expected a map at line 1 column 0",
            "Tenant: invalid tenant: must not be empty",
            "LeaseToken: \"not-a-token\" is not a UUID",
        ])
        .map(|(id, detail)| format!("stored entry {id}: column {detail}"))
        .collect();
    assert_eq!(errors, expected);
    // Listing meets the same rows and fails the same way.
    assert!(matches!(letters.get_pending(10, 0).await, Err(Error::Backend { retryable: false, .. })));
}

#[tokio::test]
async fn two_handles_on_one_file_serialize_their_writes() {
    let (_dir, path) = database();
    let first = open(&path).await;
    let second = open(&path).await;
    let (a, _) = dead_letters(first.clone());
    let (b, _) = dead_letters(second.clone());
    let mut tasks = Vec::new();
    for n in 0..40 {
        let letters = if n % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let same = letters.store(command(n).message_id("the-same-message")).await.unwrap();
            let own = letters.store(command(n).message_id(format!("message-{n}"))).await.unwrap();
            (same, own)
        }));
    }
    let mut same = Vec::new();
    let mut own = BTreeMap::new();
    for task in tasks {
        let (s, o) = task.await.unwrap();
        same.push(s);
        own.insert(o.id, o.duplicate);
    }
    let winner = same.iter().find(|receipt| !receipt.duplicate).expect("one store wrote the entry").id;
    let mut expected: Vec<_> = same.iter().map(|receipt| (receipt.id, receipt.duplicate)).collect();
    expected.sort();
    let mut wanted = vec![(winner, true); 39];
    wanted.push((winner, false));
    wanted.sort();
    assert_eq!(expected, wanted);
    assert_eq!((own.len(), own.values().any(|duplicate| *duplicate)), (40, false));
    let statistics = Statistics { new: 41, total: 41, ..Statistics::default() };
    assert_eq!(
        (
            first.statistics(&Scope::AllTenants).await.unwrap(),
            second.statistics(&Scope::AllTenants).await.unwrap()
        ),
        (statistics, statistics)
    );
    drop((a, b, Arc::new(first), second));
}

/// The SQL block that follows `marker` in `docs/sqlite.md`.
fn documented_query(marker: &str) -> String {
    let docs = include_str!("../../../../docs/sqlite.md");
    let after = docs.split_once(marker).unwrap_or_else(|| panic!("docs/sqlite.md has no {marker}")).1;
    let block = after.split_once("```sql\n").expect("a sql block after the marker").1;
    block.split_once("```").expect("the sql block ends").0.to_owned()
}

#[tokio::test]
async fn the_documented_shell_query_lists_pending_entries() {
    let (_dir, path) = database();
    let (letters, clock) = dead_letters(open(&path).await);
    let first = letters.store(command(1)).await.unwrap().id;
    clock.advance(Duration::from_millis(1500));
    let dismissed = letters.store(command(2)).await.unwrap().id;
    letters.dismiss(dismissed, None).await.unwrap();
    let second = letters.store(command(3)).await.unwrap().id;
    drop(letters);

    let conn = raw(&path);
    let mut statement = conn.prepare(&documented_query("<!-- pending-entries-query -->")).unwrap();
    let rows: Vec<(String, String, String, String, i64, String)> = statement
        .query_map([], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let row = |id: DeadLetterId, message: &str, at: &str| {
        (
            id.to_string(),
            "default".to_owned(),
            "orders.create".to_owned(),
            message.to_owned(),
            1,
            at.to_owned(),
        )
    };
    assert_eq!(
        rows,
        [
            row(first, "order 1 timed out", "2026-01-01T00:00:00.000Z"),
            row(second, "order 3 timed out", "2026-01-01T00:00:01.500Z"),
        ]
    );
}

#[tokio::test]
async fn a_batch_that_fails_half_way_writes_nothing() {
    let (_dir, path) = database();
    let store = open(&path).await;
    let at = Timestamp::from_micros(1_767_225_600_000_000);
    let existing = new_entry(command(1), at, 1024).unwrap();
    store.insert(vec![existing.clone()]).await.unwrap();
    // The second entry reuses the first one's id: the primary key refuses it after the first
    // entry of the batch was already written inside the transaction.
    let fresh = new_entry(command(2), at, 1024).unwrap();
    let clash = DeadLetterEntry { id: existing.id, ..new_entry(command(3), at, 1024).unwrap() };
    let result = store.insert(vec![fresh.clone(), clash]).await;
    assert!(matches!(result, Err(Error::Conflict { id, .. }) if id == existing.id), "{result:?}");
    assert_eq!(store.get(&Scope::AllTenants, fresh.id).await.unwrap(), None);
    assert_eq!(
        store.statistics(&Scope::AllTenants).await.unwrap(),
        Statistics { new: 1, total: 1, ..Statistics::default() }
    );
}
