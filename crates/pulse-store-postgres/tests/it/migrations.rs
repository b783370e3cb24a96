//! Migrations: once under a crowd, refused when the database is newer or was altered, names
//! configurable, and what opening does when the server or the URL is wrong.

use std::time::Duration;

use pulse_extensibility::{DeadLetterBackend, Error, Scope, SqlIdentifier, Statistics};
use pulse_store_postgres::{PostgresConfig, PostgresStore};

use crate::common::{Schema, command, connect, database_url, dead_letters, execute, scalar};

/// What the migrations table holds for `table` in `schema`: version, description.
async fn history(schema: &str, table: &str) -> Vec<(i32, String)> {
    let mut connection = connect().await;
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT \"Version\", \"Description\" FROM \"{schema}\".\"PulseMigrations\" \
         WHERE \"Table\" = '{table}' ORDER BY \"Version\""
    )))
    .fetch_all(&mut connection)
    .await
    .unwrap()
}

fn expected_history() -> Vec<(i32, String)> {
    vec![
        (1, "dead-letter table and indexes".to_owned()),
        (2, "per-tenant status counters maintained by triggers".to_owned()),
        (3, "partial indexes of claimable replay requests".to_owned()),
        (4, "partial indexes of pending entries by failure time".to_owned()),
        (5, "replay requests, actors, and indexes for counts".to_owned()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_opens_migrate_exactly_once() {
    let schema = Schema::new("pulse_t_migrate");
    let opens: Vec<_> = (0..10)
        .map(|_| {
            let config = schema.config().max_connections(2);
            tokio::spawn(async move { PostgresStore::open(config).await })
        })
        .collect();
    let mut applied = Vec::new();
    for open in opens {
        let store = open.await.unwrap().expect("every open succeeds");
        applied.push(store.applied_migrations().to_vec());
        store.close().await;
    }
    applied.sort();
    let mut expected = vec![Vec::new(); 9];
    expected.push(vec![1, 2, 3, 4, 5]);
    assert_eq!(applied, expected, "exactly one open applies the migrations");
    assert_eq!(history(&schema.name, "CommandDeadLetter").await, expected_history());
}

#[tokio::test]
async fn reopening_applies_nothing_and_keeps_the_data() {
    let schema = Schema::new("pulse_t_reopen");
    let first = schema.open().await;
    assert_eq!(first.applied_migrations(), [1, 2, 3, 4, 5]);
    let (dead_letters, _) = crate::common::dead_letters(first.clone());
    let receipt = dead_letters.store(command("a")).await.unwrap();
    first.close().await;
    let second = schema.open().await;
    assert_eq!(second.applied_migrations(), [] as [u32; 0]);
    assert!(second.get(&Scope::AllTenants, receipt.id).await.unwrap().is_some());
}

#[tokio::test]
async fn a_database_migrated_by_a_newer_pulse_is_invalid_config() {
    let schema = Schema::new("pulse_t_newer");
    schema.open().await.close().await;
    let mut connection = connect().await;
    execute(
        &mut connection,
        &format!(
            "INSERT INTO \"{}\".\"PulseMigrations\" (\"Table\", \"Version\", \"Description\", \"Checksum\") \
             VALUES ('CommandDeadLetter', 6, 'from the future', '0')",
            schema.name
        ),
    )
    .await;
    for run_migrations in [true, false] {
        let error = PostgresStore::open(schema.config().run_migrations(run_migrations)).await.unwrap_err();
        let Error::InvalidConfig { reason } = &error else { panic!("expected InvalidConfig, got {error:?}") };
        assert!(
            reason.ends_with(
                ".CommandDeadLetter is at schema version 6, written by a newer Pulse; this Pulse knows \
                 versions up to 5: upgrade Pulse to open it"
            ),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn an_altered_history_is_invalid_config() {
    let schema = Schema::new("pulse_t_altered");
    schema.open().await.close().await;
    let mut connection = connect().await;
    execute(
        &mut connection,
        &format!(
            "UPDATE \"{}\".\"PulseMigrations\" SET \"Checksum\" = 'edited' WHERE \"Version\" = 1",
            schema.name
        ),
    )
    .await;
    let error = schema.config();
    let error = PostgresStore::open(error).await.unwrap_err();
    let Error::InvalidConfig { reason } = &error else { panic!("expected InvalidConfig, got {error:?}") };
    assert!(
        reason.ends_with(
            ".CommandDeadLetter was recorded as \"dead-letter table and indexes\" with checksum edited, but \
             this Pulse's migration 1 is \"dead-letter table and indexes\" with checksum 64b509f100fc228f: \
             the migration history was changed"
        ),
        "{reason}"
    );
}

#[tokio::test]
async fn without_migrations_an_unmigrated_schema_is_refused_and_a_migrated_one_opens() {
    let schema = Schema::new("pulse_t_verify");
    let error = PostgresStore::open(schema.config().run_migrations(false)).await.unwrap_err();
    assert!(
        matches!(&error, Error::InvalidConfig { reason } if reason.contains("is not migrated")),
        "{error:?}"
    );
    schema.open().await.close().await;
    let store = PostgresStore::open(schema.config().run_migrations(false)).await.unwrap();
    assert_eq!(store.applied_migrations(), [] as [u32; 0]);
    assert_eq!(store.statistics(&Scope::AllTenants).await.unwrap(), Statistics::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tables_share_a_schema_and_stay_apart() {
    let schema = Schema::new("pulse_t_two");
    let long = "T".repeat(63);
    let open = |table: &str| {
        let config = schema.config().table(SqlIdentifier::new(table).unwrap());
        tokio::spawn(async move { PostgresStore::open(config).await })
    };
    let (a, b) = (open("Orders"), open(&long));
    let (a, b) = (a.await.unwrap().unwrap(), b.await.unwrap().unwrap());
    assert_eq!(
        (a.applied_migrations(), b.applied_migrations()),
        (&[1, 2, 3, 4, 5][..], &[1, 2, 3, 4, 5][..])
    );
    let (a_letters, _) = dead_letters(a.clone());
    let (b_letters, _) = dead_letters(b.clone());
    a_letters.store(command("a")).await.unwrap();
    b_letters.store_many(vec![command("b"), command("b")]).await.unwrap();
    assert_eq!(a.statistics(&Scope::AllTenants).await.unwrap().total, 1);
    assert_eq!(b.statistics(&Scope::AllTenants).await.unwrap().total, 2);
    assert_eq!(history(&schema.name, "Orders").await, expected_history());
    assert_eq!(history(&schema.name, &long).await, expected_history());
    let mut connection = connect().await;
    let table = format!("\"{}\".\"{long}\"", schema.name);
    assert_eq!(scalar(&mut connection, &format!("SELECT count(*) FROM {table}")).await, 2);
}

#[test]
fn the_default_schema_and_table_are_pulse_and_command_dead_letter() {
    // Checked on the config: opening would create `pulse` on a server the tests may share.
    let config = PostgresConfig::from_url("postgres://localhost/db");
    assert_eq!((config.schema_name().as_str(), config.table_name().as_str()), ("pulse", "CommandDeadLetter"));
}

#[tokio::test]
async fn the_application_pool_is_shared_and_left_open() {
    let pool =
        sqlx::postgres::PgPoolOptions::new().max_connections(2).connect(&database_url()).await.unwrap();
    let schema = Schema::new("pulse_t_pool");
    let store = PostgresStore::open(PostgresConfig::from_pool(pool.clone()).schema(schema.identifier()))
        .await
        .unwrap();
    assert_eq!(store.applied_migrations(), [1, 2, 3, 4, 5]);
    store.close().await;
    assert!(!pool.is_closed());
    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
    assert_eq!(one, 1);
    pool.close().await;
}

#[tokio::test]
async fn debug_never_shows_the_password() {
    let url = database_url();
    let (scheme, rest) = url.split_once("://").unwrap();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    // The test server trusts local connections, so any password connects.
    let with_password = format!("{scheme}://postgres:Sw0rdf1sh-Pulse@{rest}");
    let config = PostgresConfig::from_url(with_password.clone());
    let schema = Schema::new("pulse_t_debug");
    let store = PostgresStore::open(config.clone().schema(schema.identifier())).await.unwrap();
    for debug in [format!("{config:?}"), format!("{config:#?}"), format!("{store:?}"), format!("{store:#?}")]
    {
        assert!(!debug.contains("Sw0rdf1sh"), "{debug}");
    }
    assert!(format!("{config:?}").contains(&format!("{scheme}://postgres@")), "{config:?}");
    store.close().await;
}

#[tokio::test]
async fn a_bad_url_is_invalid_config_and_a_dead_server_unavailable() {
    let error = PostgresStore::connect("postgres://app:Sw0rdf1sh@db:not-a-port/orders").await.unwrap_err();
    assert!(matches!(error, Error::InvalidConfig { .. }), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("Sw0rdf1sh"), "{error:?}");
    // The test server offers no TLS: a URL that demands it is a configuration error, not a
    // retryable one.
    let url = database_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let error = PostgresStore::connect(&format!("{url}{separator}sslmode=require")).await.unwrap_err();
    assert!(matches!(error, Error::InvalidConfig { .. }) && !error.is_retryable(), "{error:?}");
    // A loopback port nothing listens on: the port of a listener we close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = PostgresConfig::from_url(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
        .acquire_timeout(Duration::from_secs(2));
    let error = PostgresStore::open(config).await.unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }) && error.is_retryable(), "{error:?}");
}

#[tokio::test]
async fn a_role_with_only_table_rights_opens_a_migrated_store() {
    let schema = Schema::new("pulse_t_rights");
    schema.open().await.close().await;
    let role = crate::common::unique_name("pulse_t_role");
    let mut admin = connect().await;
    let s = &schema.name;
    execute(
        &mut admin,
        &format!(
            "CREATE ROLE {role} LOGIN PASSWORD 'pulse-test'; \
             GRANT USAGE ON SCHEMA \"{s}\" TO {role}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA \"{s}\" TO {role};"
        ),
    )
    .await;
    let options = std::str::FromStr::from_str(&database_url())
        .map(|o: sqlx::postgres::PgConnectOptions| o.username(&role).password("pulse-test"))
        .unwrap();
    // In a task of its own, so the role is dropped also when this part fails.
    let identifier = schema.identifier();
    let opened = tokio::spawn(async move {
        let pool =
            sqlx::postgres::PgPoolOptions::new().max_connections(2).connect_with(options).await.unwrap();
        let mut outcomes = Vec::new();
        for run_migrations in [true, false] {
            let config = PostgresConfig::from_pool(pool.clone())
                .schema(identifier.clone())
                .run_migrations(run_migrations);
            let store = PostgresStore::open(config).await.unwrap();
            let (pulse, _) = dead_letters(store.clone());
            pulse.store(command("a")).await.unwrap();
            outcomes.push((
                store.applied_migrations().to_vec(),
                store.statistics(&Scope::AllTenants).await.unwrap().total,
            ));
        }
        pool.close().await;
        outcomes
    })
    .await;
    execute(&mut admin, &format!("DROP OWNED BY {role}; DROP ROLE {role}")).await;
    let opened = opened.unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
    assert_eq!(opened, vec![(vec![], 1), (vec![], 2)]);
}
