//! Pulse's own migration runner.
//!
//! History lives in `"<schema>"."PulseMigrations"`, one row per `(table, version)` with a
//! checksum, so several Pulse tables can share a schema and nothing collides with an
//! application's `_sqlx_migrations`. Each run is one transaction that first takes
//! `pg_advisory_xact_lock` on a key derived from schema and table: instances that start at once
//! queue on the lock, the first applies what is missing, the others find nothing left to do.
//! DDL in Postgres is transactional, so a failed run leaves nothing half applied.
//!
//! What the recorded history means (pending, newer, changed, broken) is decided by
//! [`pulse_extensibility::migration::plan`], shared with every SQL backend; this module reads the
//! history, locks, and applies.

use pulse_extensibility::migration::{self, Recorded};
use pulse_extensibility::{Error, Result};
use sqlx::{PgConnection, PgPool, Row};

use crate::error::map;
use crate::sql::{self, Names};

/// How often a run starts over after racing another table's first run in the same schema.
const CREATION_RACE_ATTEMPTS: usize = 3;

/// Applies every missing migration; returns the versions this call applied.
pub(crate) async fn run(pool: &PgPool, names: &Names) -> Result<Vec<i64>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match run_once(pool, names).await {
            Err(Failure::Driver(what, error))
                if attempt < CREATION_RACE_ATTEMPTS && crate::error::is_creation_race(&error) =>
            {
                tracing::debug!(%error, what, "migration raced another first run; retrying");
            }
            Err(Failure::Driver(what, error)) => return Err(map(what, error)),
            Err(Failure::Pulse(error)) => return Err(error),
            Ok(applied) => return Ok(applied),
        }
    }
}

enum Failure {
    Driver(&'static str, sqlx::Error),
    Pulse(Error),
}

fn driver(what: &'static str) -> impl FnOnce(sqlx::Error) -> Failure {
    move |error| Failure::Driver(what, error)
}

async fn run_once(pool: &PgPool, names: &Names) -> std::result::Result<Vec<i64>, Failure> {
    let mut tx = pool.begin().await.map_err(driver("migrate: begin"))?;
    match apply_missing(&mut tx, names).await {
        Ok(applied) => {
            tx.commit().await.map_err(driver("migrate: commit"))?;
            Ok(applied)
        }
        Err(failure) => {
            // Roll back now: a transaction left for the pool to clean up would hold the lock and
            // the migrations table until that connection is used again.
            if let Err(error) = tx.rollback().await {
                tracing::debug!(%error, "migrate: rollback after a failed run failed");
            }
            Err(failure)
        }
    }
}

async fn apply_missing(tx: &mut PgConnection, names: &Names) -> std::result::Result<Vec<i64>, Failure> {
    names
        .migration_lock()
        .map_err(Failure::Pulse)?
        .query()
        .execute(&mut *tx)
        .await
        .map_err(driver("migrate: take the migration lock"))?;
    let schema_exists: bool = names
        .schema_exists()
        .map_err(Failure::Pulse)?
        .query()
        .fetch_one(&mut *tx)
        .await
        .map_err(driver("migrate: look for the schema"))?
        .try_get(0)
        .map_err(driver("migrate: read the schema check"))?;
    if !schema_exists {
        names
            .create_schema()
            .query()
            .execute(&mut *tx)
            .await
            .map_err(driver("migrate: create the schema"))?;
    }
    // Checked first, like the schema: a role without `CREATE` on the schema can open a store
    // that is already migrated.
    let history_exists: bool = names
        .migrations_table_exists()
        .map_err(Failure::Pulse)?
        .query()
        .fetch_one(&mut *tx)
        .await
        .map_err(driver("migrate: look for the migrations table"))?
        .try_get(0)
        .map_err(driver("migrate: read the migrations table check"))?;
    if !history_exists {
        names
            .create_migrations_table()
            .query()
            .execute(&mut *tx)
            .await
            .map_err(driver("migrate: create the migrations table"))?;
    }
    let recorded = recorded(&mut *tx, names).await?;
    let known = names.migrations();
    let plan = plan(names, &known, &recorded).map_err(Failure::Pulse)?;
    let mut done = Vec::with_capacity(plan.pending.len());
    for migration in plan.pending {
        sql::script(migration).execute(&mut *tx).await.map_err(driver("migrate: apply a migration"))?;
        names
            .record_migration(migration)
            .map_err(Failure::Pulse)?
            .query()
            .execute(&mut *tx)
            .await
            .map_err(driver("migrate: record a migration"))?;
        tracing::info!(version = migration.version, description = migration.name, "pulse migration applied");
        done.push(migration.version);
    }
    Ok(done)
}

/// Checks, without writing, that the schema is exactly at this Pulse's version.
pub(crate) async fn verify(pool: &PgPool, names: &Names) -> Result<()> {
    let exists: bool = names
        .migrations_table_exists()?
        .query()
        .fetch_one(pool)
        .await
        .map_err(|e| map("verify migrations", e))?
        .try_get(0)
        .map_err(|e| map("verify migrations", e))?;
    let recorded = if exists {
        let mut connection = pool.acquire().await.map_err(|e| map("verify migrations", e))?;
        recorded(&mut connection, names).await.map_err(|failure| match failure {
            Failure::Driver(what, error) => map(what, error),
            Failure::Pulse(error) => error,
        })?
    } else {
        Vec::new()
    };
    let known = names.migrations();
    let plan = plan(names, &known, &recorded)?;
    if let Some(first) = plan.pending.first() {
        return Err(Error::InvalidConfig {
            reason: format!(
                "{} is not migrated to version {} (missing version {} and later); \
                 open it once with migrations enabled",
                names.migrations_table_name(),
                plan.latest,
                first.version
            ),
        });
    }
    Ok(())
}

/// The history recorded for this table, oldest first.
async fn recorded(
    connection: &mut PgConnection,
    names: &Names,
) -> std::result::Result<Vec<Recorded>, Failure> {
    let rows = names
        .applied_migrations()
        .map_err(Failure::Pulse)?
        .query()
        .fetch_all(&mut *connection)
        .await
        .map_err(driver("migrate: read the migration history"))?;
    rows.iter()
        .map(|row| {
            Ok(Recorded {
                version: i64::from(row.try_get::<i32, _>("Version")?),
                name: row.try_get("Description")?,
                checksum: row.try_get("Checksum")?,
            })
        })
        .collect::<std::result::Result<_, sqlx::Error>>()
        .map_err(driver("migrate: read the migration history"))
}

/// The shared [`migration::plan`] for this store's table, named as `schema.table`.
fn plan<'k>(
    names: &Names,
    known: &'k [sql::Migration],
    recorded: &[Recorded],
) -> Result<migration::Plan<'k, std::sync::Arc<str>>> {
    migration::plan(&names.qualified_table_name(), known, recorded)
}
