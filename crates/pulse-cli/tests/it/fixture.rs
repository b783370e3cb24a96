//! A store for one test, seeded through the library, and the binary run against it.

use std::process::Command;
use std::sync::Arc;

use pulse::{
    DeadLetters, Failure, NewDeadLetter, PostgresConfig, PostgresStore, SqlIdentifier, SqliteConfig,
    SqliteStore,
};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

const URL_VAR: &str = "PULSE_TEST_DATABASE_URL";

/// Where a test's dead letters are.
pub(crate) enum Fixture {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

/// What one run of `pulse` did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Stdout as the one JSON document of the call.
    pub(crate) fn json(&self) -> Value {
        assert_eq!(self.code, 0, "{self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not one JSON document ({e}): {self:?}"))
    }
}

impl Fixture {
    /// A fresh SQLite file, created and migrated, empty.
    pub(crate) async fn sqlite() -> Self {
        let fixture = Self::Sqlite(tempfile::tempdir().unwrap());
        fixture.dead_letters().await;
        fixture
    }

    /// A fresh schema on the test server, created and migrated, empty. Fails, never skips, when
    /// there is no server.
    pub(crate) async fn postgres() -> Self {
        let url = match std::env::var(URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => panic!(
                "{URL_VAR} is not set. These tests need a PostgreSQL server: run `cargo xtask test`, which \
                 starts a throwaway cluster and sets it, or set {URL_VAR}=postgres://user:password@host:port/db."
            ),
        };
        let schema = format!("pulse_cli_{}", pulse::Uuid::new_v4().simple());
        let fixture = Self::Postgres { url, schema };
        fixture.dead_letters().await;
        fixture
    }

    /// The global flags that point `pulse` at this store.
    pub(crate) fn store_args(&self) -> Vec<String> {
        match self {
            Self::Sqlite(dir) => vec!["--db".into(), dir.path().join("pulse.db").display().to_string()],
            Self::Postgres { url, schema } => {
                vec!["--database-url".into(), url.clone(), "--schema".into(), schema.clone()]
            }
        }
    }

    /// The store through the library, to seed it and to look behind the binary's back.
    pub(crate) async fn dead_letters(&self) -> DeadLetters {
        match self {
            Self::Sqlite(dir) => {
                let store = SqliteStore::open(SqliteConfig::new(dir.path().join("pulse.db"))).await.unwrap();
                DeadLetters::new(Arc::new(store))
            }
            Self::Postgres { url, schema } => {
                let config =
                    PostgresConfig::from_url(url.clone()).schema(SqlIdentifier::new(schema.clone()).unwrap());
                DeadLetters::new(Arc::new(PostgresStore::open(config).await.unwrap()))
            }
        }
    }

    /// Stores `count` failed commands of `command_type`, failing with `message`.
    pub(crate) async fn seed(
        &self,
        command_type: &str,
        message: &str,
        count: usize,
    ) -> Vec<pulse::DeadLetterId> {
        let inputs = (0..count)
            .map(|n| {
                NewDeadLetter::new(
                    command_type,
                    format!(r#"{{"n":{n}}}"#),
                    Failure::new("GatewayError", message),
                )
            })
            .collect();
        self.dead_letters().await.store_many(inputs).await.unwrap().into_iter().map(|r| r.id).collect()
    }

    /// Runs `pulse` with this store's flags and `args`, as `ana`, without a terminal.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        let mut all = self.store_args();
        all.extend(args.iter().map(|arg| (*arg).to_owned()));
        run_pulse(&all)
    }

    /// Drops the schema of a PostgreSQL fixture.
    pub(crate) async fn close(self) {
        if let Self::Postgres { url, schema } = self {
            let mut connection = PgConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
                .execute(&mut connection)
                .await
                .unwrap();
        }
    }
}

/// Runs `pulse args`, as `ana`, in an environment with no colour settings and no database URL.
pub(crate) fn run_pulse(args: &[String]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_pulse"))
        .args(args)
        .env_remove("PULSE_DATABASE_URL")
        .env_remove("NO_COLOR")
        .env("PULSE_ACTOR", "ana")
        .output()
        .expect("run pulse");
    Run {
        code: output.status.code().expect("pulse exits with a code"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}
