//! Migrations: recorded once with their checksum, verified on every open, per table.

use pulse_extensibility::{DeadLetterBackend, EntryFilter, Error, Scope, SqlIdentifier, Statistics};
use pulse_store_sqlite::{SqliteConfig, SqliteStore};

use crate::common::{command, database, dead_letters, open, raw, snapshot};

/// `(table_name, version, name, checksum)` of every recorded migration.
fn recorded(path: &std::path::Path) -> Vec<(String, i64, String, String, i64)> {
    let conn = raw(path);
    let mut statement = conn
        .prepare(
            r#"SELECT "table_name", "version", "name", "checksum", "applied_at" FROM "_pulse_migrations"
               ORDER BY "table_name", "version""#,
        )
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

/// The schema objects of the file: `(type, name)`, Pulse's and SQLite's own.
fn objects(path: &std::path::Path) -> Vec<(String, String)> {
    let conn = raw(path);
    let mut statement = conn.prepare("SELECT type, name FROM sqlite_schema ORDER BY type, name").unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

const CHECKSUM_1: &str = "df045f8fd0fe2727";
const CHECKSUM_2: &str = "0634c2e7397f6ab7";
const CHECKSUM_3: &str = "71da314a8aff9910";
const CHECKSUM_4: &str = "74d7295827aa07b0";

#[tokio::test]
async fn opening_again_migrates_nothing_and_keeps_the_record() {
    let (_dir, path) = database();
    drop(open(&path).await);
    let first = recorded(&path);
    let records: Vec<(&str, i64, &str, &str)> = first
        .iter()
        .map(|(table, version, name, checksum, _)| {
            (table.as_str(), *version, name.as_str(), checksum.as_str())
        })
        .collect();
    assert_eq!(
        records,
        [
            ("CommandDeadLetter", 1, "create_dead_letter_table", CHECKSUM_1),
            ("CommandDeadLetter", 2, "count_entries_per_tenant_and_status", CHECKSUM_2),
            ("CommandDeadLetter", 3, "index_claimable_replay_requests", CHECKSUM_3),
            ("CommandDeadLetter", 4, "record_replay_requests_and_actors", CHECKSUM_4),
        ]
    );
    for (.., applied_at) in &first {
        assert!(
            *applied_at > 1_700_000_000_000_000,
            "applied_at is microseconds since the epoch: {applied_at}"
        );
    }
    let schema = objects(&path);

    drop(open(&path).await);
    drop(open(&path).await);
    assert_eq!(recorded(&path), first);
    assert_eq!(objects(&path), schema);
}

#[tokio::test]
async fn the_schema_has_the_table_its_indexes_and_the_migration_record() {
    let (_dir, path) = database();
    drop(open(&path).await);
    let expected: Vec<(String, String)> = [
        ("index", "CommandDeadLetter_ClaimExpired"),
        ("index", "CommandDeadLetter_Claimable"),
        ("index", "CommandDeadLetter_CommandType_Status"),
        ("index", "CommandDeadLetter_Fingerprint_Status"),
        ("index", "CommandDeadLetter_OccurredAt_Id"),
        ("index", "CommandDeadLetter_ReplayRequestId_Status"),
        ("index", "CommandDeadLetter_ReplayRequests_Tenant_Id"),
        ("index", "CommandDeadLetter_Status_OccurredAt_Id"),
        ("index", "CommandDeadLetter_Status_ResolvedAt"),
        ("index", "CommandDeadLetter_Tenant_MessageId"),
        ("index", "CommandDeadLetter_Tenant_OccurredAt_Id"),
        ("index", "CommandDeadLetter_Tenant_Status_OccurredAt_Id"),
        ("index", "CommandDeadLetter_Unresolved_Fingerprint"),
        ("index", "sqlite_autoindex_CommandDeadLetter_1"),
        ("index", "sqlite_autoindex__pulse_migrations_1"),
        ("table", "CommandDeadLetter"),
        ("table", "CommandDeadLetter_Counts"),
        ("table", "CommandDeadLetter_ReplayRequests"),
        ("table", "_pulse_migrations"),
        ("trigger", "CommandDeadLetter_Counts_Delete"),
        ("trigger", "CommandDeadLetter_Counts_Insert"),
        ("trigger", "CommandDeadLetter_Counts_Update"),
    ]
    .into_iter()
    .map(|(kind, name)| (kind.to_owned(), name.to_owned()))
    .collect();
    assert_eq!(objects(&path), expected);
}

#[tokio::test]
async fn tables_in_one_file_migrate_and_store_independently() {
    let (_dir, path) = database();
    let orders = SqliteStore::open(SqliteConfig::new(&path).table(SqlIdentifier::new("Orders").unwrap()))
        .await
        .unwrap();
    let billing = SqliteStore::open(SqliteConfig::new(&path).table(SqlIdentifier::new("Billing").unwrap()))
        .await
        .unwrap();
    let (orders_letters, _) = dead_letters(orders.clone());
    orders_letters.store(command(1)).await.unwrap();
    orders_letters.store(command(2)).await.unwrap();
    assert_eq!(
        (
            orders.statistics(&Scope::AllTenants).await.unwrap(),
            billing.statistics(&Scope::AllTenants).await.unwrap()
        ),
        (Statistics { new: 2, total: 2, ..Statistics::default() }, Statistics::default())
    );
    // The statements that name the table's indexes work on a configured table too.
    let groups: Vec<u64> =
        orders_letters.error_groups(10).await.unwrap().iter().map(|group| group.count).collect();
    assert_eq!(groups, [2]);
    assert_eq!(orders_letters.request_replay_matching(EntryFilter::default()).await.unwrap(), 2);
    assert_eq!(orders_letters.claim_requested(10).await.unwrap().len(), 2);
    drop((orders, billing, orders_letters));
    let tables: Vec<(String, i64)> =
        recorded(&path).into_iter().map(|(table, version, ..)| (table, version)).collect();
    let expected = [1, 2, 3, 4]
        .map(|v| ("Billing".to_owned(), v))
        .into_iter()
        .chain([1, 2, 3, 4].map(|v| ("Orders".to_owned(), v)));
    let expected: Vec<(String, i64)> = expected.collect();
    assert_eq!(tables, expected);
}

/// Opens `path` and expects an `InvalidConfig` whose reason is `reason`, with every file in the
/// directory exactly as before.
async fn refused(path: &std::path::Path, reason: &str) {
    let dir = path.parent().unwrap();
    let before = snapshot(dir);
    let error = SqliteStore::open(SqliteConfig::new(path)).await.unwrap_err();
    match error {
        Error::InvalidConfig { reason: actual } => assert_eq!(actual, reason),
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
    assert!(snapshot(dir) == before, "the open that was refused changed the files");
}

#[tokio::test]
async fn a_file_of_a_newer_schema_version_is_refused_and_left_unchanged() {
    let (_dir, path) = database();
    let (letters, _) = dead_letters(open(&path).await);
    letters.store(command(1)).await.unwrap();
    drop(letters);
    raw(&path)
        .execute(
            r#"INSERT INTO "_pulse_migrations" VALUES ('CommandDeadLetter', 5, 'from_the_future', 'ffff', 0)"#,
            [],
        )
        .unwrap();
    refused(
        &path,
        "table CommandDeadLetter is at schema version 5, written by a newer Pulse; this Pulse knows versions \
         up to 4: upgrade Pulse to open it",
    )
    .await;
}

#[tokio::test]
async fn a_changed_migration_checksum_is_refused_and_left_unchanged() {
    let (_dir, path) = database();
    drop(open(&path).await);
    raw(&path)
        .execute(r#"UPDATE "_pulse_migrations" SET "checksum" = '0123456789abcdef' WHERE "version" = 1"#, [])
        .unwrap();
    refused(
        &path,
        &format!(
            "migration 1 of table CommandDeadLetter was recorded as \"create_dead_letter_table\" with checksum \
             0123456789abcdef, but this Pulse's migration 1 is \"create_dead_letter_table\" with checksum \
             {CHECKSUM_1}: the migration history was changed"
        ),
    )
    .await;
}

#[tokio::test]
async fn an_unrelated_table_of_the_same_name_is_refused_and_left_unchanged() {
    let (_dir, path) = database();
    raw(&path)
        .execute_batch("CREATE TABLE commanddeadletter (Id INTEGER PRIMARY KEY, Body TEXT); INSERT INTO commanddeadletter VALUES (1, 'mine');")
        .unwrap();
    refused(
        &path,
        "the database already has a table named CommandDeadLetter that Pulse did not create; configure another \
         table name with SqliteConfig::table",
    )
    .await;
}

#[tokio::test]
async fn a_pulse_table_whose_columns_were_changed_is_refused() {
    let (_dir, path) = database();
    drop(open(&path).await);
    raw(&path).execute_batch(r#"ALTER TABLE "CommandDeadLetter" DROP COLUMN Note"#).unwrap();
    let error = SqliteStore::open(SqliteConfig::new(&path)).await.unwrap_err();
    let Error::InvalidConfig { reason } = error else { panic!("expected InvalidConfig, got {error:?}") };
    assert!(
        reason
            .starts_with("table CommandDeadLetter does not have the columns of a Pulse dead-letter table: "),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_of_a_new_file_migrate_it_once() {
    let (_dir, path) = database();
    let opens: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            tokio::spawn(async move { SqliteStore::open(SqliteConfig::new(path)).await })
        })
        .collect();
    let mut stores = Vec::new();
    for open in opens {
        stores.push(open.await.unwrap().expect("every concurrent open succeeds"));
    }
    drop(stores);
    let versions: Vec<(String, i64)> =
        recorded(&path).into_iter().map(|(table, version, ..)| (table, version)).collect();
    let expected = [1, 2, 3, 4].map(|version| ("CommandDeadLetter".to_owned(), version));
    assert_eq!(versions, expected);
}

/// With migrations off, a table at this Pulse's version opens, and one that is not (here: a new
/// file) is `InvalidConfig` and gets no table: a tool that must not migrate a service's
/// database says so instead.
#[tokio::test]
async fn with_migrations_off_only_a_current_table_opens() {
    let (_dir, path) = database();
    let error = SqliteStore::open(SqliteConfig::new(&path).run_migrations(false)).await.unwrap_err();
    let Error::InvalidConfig { reason } = error else { panic!("expected InvalidConfig, got {error:?}") };
    assert_eq!(
        reason,
        format!(
            "table CommandDeadLetter of {} is at schema version 0, and this Pulse writes version 4: open it \
             once with migrations on (`pulse migrate apply`)",
            path.display()
        )
    );
    let tables: i64 =
        raw(&path).query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0)).unwrap();
    assert_eq!(tables, 0, "nothing was created");
    drop(open(&path).await);
    let store = SqliteStore::open(SqliteConfig::new(&path).run_migrations(false)).await.unwrap();
    assert!(!store.config().runs_migrations());
}
