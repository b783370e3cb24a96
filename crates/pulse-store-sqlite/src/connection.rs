//! The store's connections: the writer's, the readers' and the checkpointer's, each opened,
//! checked and configured here. Every setting (WAL mode, `synchronous`, the busy timeout,
//! `query_only` on readers) is read back after it is set, so a file that cannot keep it is
//! refused at open rather than written to under other rules.

use std::thread;
use std::time::{Duration, Instant};

use pulse_extensibility::{Error, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::config::SqliteConfig;
use crate::error::{Context, map};
use crate::migrate;
use crate::sql;

/// The most statements each connection keeps prepared.
const STATEMENT_CACHE: usize = 64;

/// Opens a connection to the configured file and checks that it is a SQLite database, writing
/// nothing.
fn connect(config: &SqliteConfig) -> Result<Connection> {
    let path = config.path();
    let connection = Connection::open_with_flags(path, OpenFlags::default())
        .map_err(|error| map(&format!("opening {}", path.display()), error))?;
    connection.busy_timeout(config.busy_timeout_duration()).context("setting the busy timeout")?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    connection.query_row(sql::PROBE, [], |_| Ok(())).map_err(|error| {
        if error.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
            Error::InvalidConfig { reason: format!("{} is not a SQLite database", path.display()) }
        } else {
            map(&format!("reading {}", path.display()), error)
        }
    })?;
    Ok(connection)
}

/// Reads a pragma back as text.
pub(crate) fn pragma_text(connection: &Connection, sql: &str) -> Result<String> {
    connection.query_row(sql, [], |row| row.get(0)).context("reading a pragma")
}

/// Reads a pragma back as an integer.
pub(crate) fn pragma_int(connection: &Connection, sql: &str) -> Result<i64> {
    connection.query_row(sql, [], |row| row.get(0)).context("reading a pragma")
}

/// Checks that the connection runs in WAL mode.
fn check_wal(connection: &Connection, config: &SqliteConfig) -> Result<()> {
    let mode = pragma_text(connection, sql::JOURNAL_MODE)?;
    if mode.eq_ignore_ascii_case("wal") {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            reason: format!(
                "{} cannot use write-ahead logging (journal_mode is {mode:?}); Pulse needs a database \
                 file on a local file system",
                config.path().display()
            ),
        })
    }
}

/// The writer's connection: checked, configured, migrated.
pub(crate) fn open_writer(config: &SqliteConfig) -> Result<Connection> {
    let path = config.path();
    let mut connection = connect(config)?;
    if connection.is_readonly(rusqlite::MAIN_DB).context("opening the database")? {
        return Err(Error::Backend {
            message: format!("{} is read-only: Pulse must be able to write its database", path.display()),
            retryable: false,
            source: None,
        });
    }
    // Refuse a file we must not touch before anything, even the journal mode, is written.
    let plan = migrate::precheck(&mut connection, config.table_name())?;
    if !config.runs_migrations() && !plan.is_current() {
        return Err(Error::InvalidConfig {
            reason: format!(
                "table {} of {} is at schema version {}, and this Pulse writes version {}: open it once with \
                 migrations on (`pulse migrate apply`)",
                config.table_name(),
                path.display(),
                plan.current,
                plan.latest
            ),
        });
    }
    switch_to_wal(&connection, config)?;
    check_wal(&connection, config)?;
    set_synchronous(&connection, config)?;
    check_busy_timeout(&connection, config)?;
    // The writer's statement journals (which let one statement of a transaction roll back
    // alone) stay in memory instead of spilling to temporary files. Only the writer: a
    // reader's temporary B-trees (sorting a large group-by) may be large.
    connection.execute_batch(sql::TEMP_STORE_MEMORY).context("keeping temporary storage in memory")?;
    let temp_store = pragma_int(&connection, sql::TEMP_STORE)?;
    if temp_store != 2 {
        return Err(Error::InvalidConfig {
            reason: format!("temp_store reads back as {temp_store}, not 2 (MEMORY)"),
        });
    }
    let applied = migrate::migrate(&mut connection, config.table_name())?;
    if !applied.is_empty() {
        tracing::info!(path = %path.display(), table = %config.table_name(), ?applied, "sqlite schema migrated");
    }
    Ok(connection)
}

/// Switches the file to WAL mode, once for all connections. Switching needs an exclusive lock,
/// for which SQLite does not always wait (two connections switching a new file at once would
/// deadlock), so a busy switch is retried here, on the writer's own thread, for up to the busy
/// timeout.
fn switch_to_wal(connection: &Connection, config: &SqliteConfig) -> Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if pragma_text(connection, sql::JOURNAL_MODE)?.eq_ignore_ascii_case("wal") {
            return Ok(());
        }
        match connection.query_row(sql::SET_JOURNAL_MODE_WAL, [], |_| Ok(())) {
            Err(error)
                if error.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
                    && started.elapsed() < config.busy_timeout_duration() =>
            {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            result => return result.context("switching to WAL mode"),
        }
    }
}

/// Sets the configured synchronous level and checks that it holds.
fn set_synchronous(connection: &Connection, config: &SqliteConfig) -> Result<()> {
    let synchronous = config.synchronous_level();
    connection.execute_batch(&sql::set_synchronous(synchronous)).context("setting synchronous")?;
    let level = pragma_int(connection, sql::SYNCHRONOUS)?;
    if level == synchronous.level() {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            reason: format!(
                "synchronous reads back as {level}, not {} ({synchronous:?})",
                synchronous.level()
            ),
        })
    }
}

/// A reader's connection: checked, read-only.
pub(crate) fn open_reader(config: &SqliteConfig) -> Result<Connection> {
    let connection = connect(config)?;
    connection.execute_batch(sql::QUERY_ONLY).context("making a reader connection read-only")?;
    set_synchronous(&connection, config)?;
    if pragma_int(&connection, sql::QUERY_ONLY_STATE)? != 1 {
        return Err(Error::InvalidConfig { reason: "query_only does not read back as on".to_owned() });
    }
    check_wal(&connection, config)?;
    check_busy_timeout(&connection, config)?;
    Ok(connection)
}

/// The checkpointer's connection: it copies the WAL into the database file, syncing as the
/// configured level asks, and writes nothing else.
pub(crate) fn open_checkpointer(config: &SqliteConfig) -> Result<Connection> {
    let connection = connect(config)?;
    set_synchronous(&connection, config)?;
    check_wal(&connection, config)?;
    Ok(connection)
}

/// Checks that the busy timeout reads back as configured.
fn check_busy_timeout(connection: &Connection, config: &SqliteConfig) -> Result<()> {
    let millis = pragma_int(connection, sql::BUSY_TIMEOUT)?;
    let expected = config.busy_timeout_duration().as_millis();
    if u128::try_from(millis).ok() == Some(expected) {
        Ok(())
    } else {
        Err(Error::InvalidConfig {
            reason: format!("busy_timeout reads back as {millis} ms, not {expected} ms"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Synchronous;

    /// What a connection reports about itself.
    #[derive(Debug, PartialEq, Eq)]
    struct Pragmas {
        journal_mode: String,
        synchronous: i64,
        busy_timeout: i64,
        query_only: i64,
        temp_store: i64,
    }

    fn pragmas(connection: &Connection) -> Result<Pragmas> {
        Ok(Pragmas {
            journal_mode: pragma_text(connection, sql::JOURNAL_MODE)?,
            synchronous: pragma_int(connection, sql::SYNCHRONOUS)?,
            busy_timeout: pragma_int(connection, sql::BUSY_TIMEOUT)?,
            query_only: pragma_int(connection, sql::QUERY_ONLY_STATE)?,
            temp_store: pragma_int(connection, sql::TEMP_STORE)?,
        })
    }

    #[test]
    fn pragmas_are_set_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        for (synchronous, level) in [(Synchronous::Normal, 1), (Synchronous::Full, 2)] {
            let config = SqliteConfig::new(dir.path().join("pulse.db"))
                .synchronous(synchronous)
                .busy_timeout(Duration::from_millis(1234));
            let writer = pragmas(&open_writer(&config).unwrap()).unwrap();
            let reader = pragmas(&open_reader(&config).unwrap()).unwrap();
            // `temp_store`: 2 (MEMORY) on the writer, 0 (the default) on readers.
            let expected = |query_only, temp_store| Pragmas {
                journal_mode: "wal".to_owned(),
                synchronous: level,
                busy_timeout: 1234,
                query_only,
                temp_store,
            };
            assert_eq!((writer, reader), (expected(0, 2), expected(1, 0)));
        }
    }
}
