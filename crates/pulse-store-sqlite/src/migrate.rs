//! Versioned schema migrations, recorded with checksums in Pulse's own `_pulse_migrations` table.
//!
//! Opening a store first inspects the file without writing: a file of an unknown, newer schema
//! version, a changed migration, or an unrelated table of the same name is refused before
//! anything is written. Then, in one `BEGIN IMMEDIATE` transaction, it inspects again (another
//! process may have migrated in between) and applies what is missing.
//!
//! What the recorded history means (pending, newer, changed, broken) is decided by
//! [`pulse_extensibility::migration::plan`], shared with every SQL backend; this module reads the
//! history, checks the tables are Pulse's, and applies.

use pulse_extensibility::migration::{self, Recorded};
use pulse_extensibility::{Error, Result, SqlIdentifier};
use rusqlite::{Connection, TransactionBehavior};

use crate::error::Context;
use crate::sql::{self, COLUMNS, MIGRATIONS_COLUMNS};

/// One schema change: its SQL is a template of [`sql::render_migration`], and its checksum is
/// that of the template, so it does not depend on the configured table name.
pub(crate) type Migration = migration::Migration<&'static str>;

/// What opening has to do for a table.
pub(crate) type Plan = migration::Plan<'static, &'static str>;

/// Migration `version`, checksummed and applied from `template`.
const fn template(version: i64, name: &'static str, template: &'static str) -> Migration {
    Migration::new(version, name, template, template)
}

/// Every migration, oldest first.
pub(crate) const MIGRATIONS: &[Migration] = &[
    template(1, "create_dead_letter_table", sql::MIGRATION_1),
    template(2, "count_entries_per_tenant_and_status", sql::MIGRATION_2),
    template(3, "index_claimable_replay_requests", sql::MIGRATION_3),
    template(4, "record_replay_requests_and_actors", sql::MIGRATION_4),
];

fn table_exists(conn: &Connection, name: &str) -> Result<bool> {
    let count: i64 =
        conn.query_row(sql::TABLE_EXISTS, [name], |row| row.get(0)).context("reading the database schema")?;
    Ok(count > 0)
}

fn table_columns(conn: &Connection, name: &str) -> Result<Vec<String>> {
    let mut statement = conn.prepare(sql::TABLE_COLUMNS).context("reading the database schema")?;
    let names = statement
        .query_map([name], |row| row.get::<_, String>(0))
        .context("reading the database schema")?
        .collect::<rusqlite::Result<Vec<_>>>()
        .context("reading the database schema")?;
    Ok(names)
}

fn invalid(reason: String) -> Error {
    Error::InvalidConfig { reason }
}

/// Reads what the file holds for `table` and decides what to do, writing nothing.
///
/// # Errors
///
/// [`Error::InvalidConfig`] when the file was written by a newer Pulse, a recorded migration
/// differs from this Pulse's, or a table of that name exists that Pulse did not create (or whose
/// columns are not Pulse's).
pub(crate) fn inspect(conn: &Connection, table: &SqlIdentifier) -> Result<Plan> {
    let mut recorded = Vec::new();
    if table_exists(conn, sql::MIGRATIONS_TABLE)? {
        let columns = table_columns(conn, sql::MIGRATIONS_TABLE)?;
        if columns != MIGRATIONS_COLUMNS {
            return Err(invalid(format!(
                "the database has a table {:?} that Pulse did not create (columns {columns:?})",
                sql::MIGRATIONS_TABLE
            )));
        }
        let mut statement = conn.prepare(sql::APPLIED_MIGRATIONS).context("reading applied migrations")?;
        recorded = statement
            .query_map([table.as_str()], |row| {
                Ok(Recorded { version: row.get(0)?, name: row.get(1)?, checksum: row.get(2)? })
            })
            .context("reading applied migrations")?
            .collect::<rusqlite::Result<_>>()
            .context("reading applied migrations")?;
    }
    let plan = migration::plan(table.as_str(), MIGRATIONS, &recorded)?;
    let exists = table_exists(conn, table.as_str())?;
    match (plan.current, exists) {
        (0, true) => Err(invalid(format!(
            "the database already has a table named {table} that Pulse did not create; configure another \
             table name with SqliteConfig::table"
        ))),
        (0, false) => Ok(plan),
        (_, false) => {
            Err(invalid(format!("migrations of table {table} are recorded but the table is missing")))
        }
        (_, true) => {
            if plan.is_current() {
                check_columns(conn, table)?;
            }
            Ok(plan)
        }
    }
}

/// [`inspect`] in one read transaction, so it sees one state of the file even while another
/// process migrates it. Writes nothing.
///
/// # Errors
///
/// As [`inspect`].
pub(crate) fn precheck(conn: &mut Connection, table: &SqlIdentifier) -> Result<Plan> {
    let tx =
        conn.transaction_with_behavior(TransactionBehavior::Deferred).context("inspecting the database")?;
    let plan = inspect(&tx, table)?;
    tx.commit().context("inspecting the database")?;
    Ok(plan)
}

/// Checks that `table` has exactly the columns of the latest schema.
fn check_columns(conn: &Connection, table: &SqlIdentifier) -> Result<()> {
    let columns = table_columns(conn, table.as_str())?;
    if columns != COLUMNS {
        return Err(invalid(format!(
            "table {table} does not have the columns of a Pulse dead-letter table: {columns:?}"
        )));
    }
    Ok(())
}

/// Applies the missing migrations for `table` in one immediate transaction, after inspecting
/// again under the write lock. Returns the versions applied.
///
/// # Errors
///
/// As [`inspect`]; the driver's error (nothing is applied then).
pub(crate) fn migrate(conn: &mut Connection, table: &SqlIdentifier) -> Result<Vec<i64>> {
    let tx =
        conn.transaction_with_behavior(TransactionBehavior::Immediate).context("starting a migration")?;
    let plan = inspect(&tx, table)?;
    let mut applied = Vec::new();
    for migration in plan.pending {
        tx.execute_batch(sql::CREATE_MIGRATIONS_TABLE).context("creating the migrations table")?;
        tx.execute_batch(&sql::render_migration(migration.script, table))
            .context(&format!("applying migration {} ({})", migration.version, migration.name))?;
        tx.execute(
            sql::RECORD_MIGRATION,
            rusqlite::params![
                table.as_str(),
                migration.version,
                migration.name,
                migration.checksum.to_string()
            ],
        )
        .context("recording a migration")?;
        applied.push(migration.version);
    }
    if !applied.is_empty() {
        check_columns(&tx, table)?;
    }
    tx.commit().context("committing a migration")?;
    Ok(applied)
}

/// The schema version recorded for `table`, if any: for tests and diagnostics.
#[cfg(test)]
pub(crate) fn recorded_version(conn: &Connection, table: &SqlIdentifier) -> Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    if !table_exists(conn, sql::MIGRATIONS_TABLE)? {
        return Ok(None);
    }
    conn.query_row(
        r#"SELECT max("version") FROM "_pulse_migrations" WHERE "table_name" = ?1"#,
        [table.as_str()],
        |row| row.get(0),
    )
    .optional()
    .map(Option::flatten)
    .context("reading applied migrations")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        let versions: Vec<i64> = MIGRATIONS.iter().map(|migration| migration.version).collect();
        assert_eq!(versions, [1, 2, 3, 4]);
    }

    #[test]
    fn checksums_are_pinned() {
        // A released migration never changes. If this fails, add a new migration instead.
        let checksums: Vec<(i64, String)> =
            MIGRATIONS.iter().map(|m| (m.version, m.checksum.to_string())).collect();
        assert_eq!(
            checksums,
            [
                (1, "df045f8fd0fe2727".to_owned()),
                (2, "0634c2e7397f6ab7".to_owned()),
                (3, "71da314a8aff9910".to_owned()),
                (4, "74d7295827aa07b0".to_owned())
            ]
        );
    }

    #[test]
    fn migrating_twice_applies_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        let table = SqlIdentifier::default_table();
        assert_eq!(migrate(&mut conn, &table).unwrap(), [1, 2, 3, 4]);
        assert_eq!(migrate(&mut conn, &table).unwrap(), Vec::<i64>::new());
        assert_eq!(recorded_version(&conn, &table).unwrap(), Some(4));
        assert_eq!(inspect(&conn, &table).unwrap().current, 4);
    }

    #[test]
    fn tables_migrate_independently() {
        let mut conn = Connection::open_in_memory().unwrap();
        let a = SqlIdentifier::new("A").unwrap();
        let b = SqlIdentifier::new("B").unwrap();
        assert_eq!(migrate(&mut conn, &a).unwrap(), [1, 2, 3, 4]);
        assert_eq!(inspect(&conn, &b).unwrap().current, 0);
        assert_eq!(migrate(&mut conn, &b).unwrap(), [1, 2, 3, 4]);
        assert_eq!(table_columns(&conn, "B").unwrap(), COLUMNS);
    }

    /// Migration 2 counts the entries a version-1 table already holds.
    #[test]
    fn counts_start_from_the_entries_already_stored() {
        let mut conn = Connection::open_in_memory().unwrap();
        let table = SqlIdentifier::default_table();
        conn.execute_batch(&sql::render_migration(sql::MIGRATION_1, &table)).unwrap();
        conn.execute_batch(&format!(
            "{}; INSERT INTO \"_pulse_migrations\" VALUES ('CommandDeadLetter', 1, 'create_dead_letter_table', '{}', 0)",
            sql::CREATE_MIGRATIONS_TABLE.trim_end().trim_end_matches(';'),
            MIGRATIONS[0].checksum
        ))
        .unwrap();
        for (id, tenant, status) in [("1", "a", 0), ("2", "a", 0), ("3", "a", 3), ("4", "b", 1)] {
            conn.execute(
                "INSERT INTO \"CommandDeadLetter\" (Id, Tenant, CommandType, CommandVersion, Payload, ExceptionType, \
                 ExceptionMessage, Fingerprint, Metadata, AttemptCount, FirstFailedAt, OccurredAt, Status, CreatedAt, \
                 UpdatedAt, Revision) VALUES (?1, ?2, 'c', 1, '{}', 'E', 'm', 'f', '{}', 1, 0, 0, ?3, 0, 0, 1)",
                rusqlite::params![id, tenant, status],
            )
            .unwrap();
        }
        assert_eq!(migrate(&mut conn, &table).unwrap(), [2, 3, 4]);
        let mut counts = conn
            .prepare("SELECT Tenant, Status, Count FROM \"CommandDeadLetter_Counts\" ORDER BY Tenant, Status")
            .unwrap();
        let counts: Vec<(String, i64, i64)> = counts
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected = [("a", 0, 2), ("a", 3, 1), ("b", 1, 1)].map(|(t, s, n)| (t.to_owned(), s, n));
        assert_eq!(counts, expected);
    }

    #[test]
    fn a_changed_checksum_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        let table = SqlIdentifier::default_table();
        migrate(&mut conn, &table).unwrap();
        conn.execute(r#"UPDATE "_pulse_migrations" SET "checksum" = '0000000000000000'"#, []).unwrap();
        let error = migrate(&mut conn, &table).unwrap_err();
        let Error::InvalidConfig { reason } = error else { panic!("{error:?}") };
        assert!(reason.contains("the migration history was changed"), "{reason}");
    }

    #[test]
    fn a_table_with_other_columns_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        let table = SqlIdentifier::default_table();
        migrate(&mut conn, &table).unwrap();
        conn.execute_batch(r#"ALTER TABLE "CommandDeadLetter" ADD COLUMN Extra TEXT"#).unwrap();
        let error = migrate(&mut conn, &table).unwrap_err();
        let Error::InvalidConfig { reason } = error else { panic!("{error:?}") };
        assert!(reason.contains("does not have the columns of a Pulse dead-letter table"), "{reason}");
    }
}
