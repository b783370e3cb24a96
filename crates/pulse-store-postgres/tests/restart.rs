//! The server restarts under a running store, which recovers without being reopened.
//!
//! A binary of its own: restarting the server would break the other suites' tests running at
//! the same time, and cargo runs test binaries one after another.
//!
//! `cargo xtask test` says how to restart its throwaway server through `PULSE_TEST_PG_CTL`,
//! `PULSE_TEST_PG_DATA` and, when it runs as root, `PULSE_TEST_PG_USER`. Against a server of
//! your own, set them too: this test fails rather than skip.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use pulse_extensibility::{DeadLetters, Failure, NewDeadLetter, SqlIdentifier, Statistics, Uuid};
use pulse_store_postgres::{PostgresConfig, PostgresStore};
use sqlx::{AssertSqlSafe, Connection, PgConnection};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test restarts the PostgreSQL server. Run `cargo xtask test`, which \
             starts a throwaway server and sets it, or set PULSE_TEST_DATABASE_URL, PULSE_TEST_PG_CTL and \
             PULSE_TEST_PG_DATA (and PULSE_TEST_PG_USER to run pg_ctl as) for a server of your own."
        )
    })
}

/// `pg_ctl restart`, waiting until the server accepts connections again.
fn restart_server() {
    let (pg_ctl, data) = (var("PULSE_TEST_PG_CTL"), var("PULSE_TEST_PG_DATA"));
    let mut command = match std::env::var("PULSE_TEST_PG_USER") {
        Ok(user) => {
            let mut command = Command::new("runuser");
            command.args(["-u", &user, "--", &pg_ctl]);
            command
        }
        Err(_) => Command::new(&pg_ctl),
    };
    // The restarted server writes to a log file, never to our pipes: it outlives pg_ctl, and
    // waiting on pipes it holds would wait forever.
    let log = Path::new(&data).parent().expect("the data directory has a parent").join("postgres.log");
    let status = command
        .args(["--pgdata", &data, "--mode=fast", "--wait", "--timeout=60", "--log"])
        .arg(&log)
        .arg("restart")
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run pg_ctl");
    assert!(status.success(), "pg_ctl restart failed ({status}); see {}", log.display());
}

fn entry(n: u32) -> NewDeadLetter {
    NewDeadLetter::new("orders.create", format!(r#"{{"order":{n}}}"#), Failure::new("Timeout", "timed out"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_recovers_after_the_server_restarts() {
    let url = var("PULSE_TEST_DATABASE_URL");
    let schema = format!("pulse_t_restart_{}", Uuid::new_v4().simple());
    let config = PostgresConfig::from_url(url.clone()).schema(SqlIdentifier::new(schema.clone()).unwrap());
    let dead_letters = DeadLetters::new(Arc::new(PostgresStore::open(config).await.unwrap()));
    let before = dead_letters.store_many((0..3).map(entry).collect()).await.unwrap();

    tokio::task::spawn_blocking(restart_server).await.unwrap();

    // Connections opened before the restart are dead; a call may fail, retryably, while the pool
    // replaces them. Each failed call costs one connection, so a few calls are enough.
    let mut retryable_failures = 0;
    let stats = loop {
        match dead_letters.statistics().await {
            Ok(stats) => break stats,
            Err(error) => {
                assert!(error.is_retryable(), "{error:?}");
                retryable_failures += 1;
                assert!(retryable_failures <= 10, "the store did not recover: {error:?}");
            }
        }
    };
    assert_eq!(stats, Statistics { new: 3, total: 3, ..Statistics::default() });
    let after = dead_letters.store(entry(3)).await.unwrap();
    for receipt in before.iter().chain([&after]) {
        assert!(dead_letters.get_entry(receipt.id).await.unwrap().is_some());
    }

    let mut connection = PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut connection)
        .await
        .unwrap();
}
