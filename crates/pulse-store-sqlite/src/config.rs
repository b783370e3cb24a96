//! [`SqliteConfig`]: where the database lives and how it is opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pulse_extensibility::{Error, Result, SqlIdentifier};

use crate::sql::MIGRATIONS_TABLE;

/// Tables Pulse keeps in every database file it uses, whatever the store's table, and what
/// they are.
const PULSE_TABLES: [(&str, &str); 1] = [(MIGRATIONS_TABLE, "Pulse's migration history")];

/// The tables named after a store's table, by suffix, and what they are. (Indexes and triggers
/// take suffixes that start with `_` too: they meet a reserved name only when the counter table
/// does, as for a table named `sqlite`.)
const TABLE_OBJECTS: [(&str, &str); 3] =
    [("", "the table"), ("_Counts", "its counter table"), ("_ReplayRequests", "its replay-request table")];

/// How hard SQLite works to make a commit survive a power loss (`PRAGMA synchronous`).
///
/// The database always runs in WAL mode. In both levels a commit that returned `Ok` survives a
/// crash of the process; they differ only when the operating system or the machine goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Synchronous {
    /// `NORMAL`: the WAL is synced to disk at checkpoints, not at each commit. A power loss or an
    /// operating-system crash may roll back the most recent commits; the database stays
    /// consistent. The default: commits are much faster.
    #[default]
    Normal,
    /// `FULL`: the WAL is synced to disk at every commit, so a commit that returned `Ok` survives
    /// a power loss too.
    Full,
}

impl Synchronous {
    /// The pragma's keyword.
    pub(crate) const fn keyword(self) -> &'static str {
        match self {
            Self::Normal => "NORMAL",
            Self::Full => "FULL",
        }
    }

    /// The value `PRAGMA synchronous` reads back as.
    pub(crate) const fn level(self) -> i64 {
        match self {
            Self::Normal => 1,
            Self::Full => 2,
        }
    }
}

/// Settings of a [`crate::SqliteStore`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use pulse_extensibility::SqlIdentifier;
/// use pulse_store_sqlite::{SqliteConfig, Synchronous};
///
/// let config = SqliteConfig::new("dead-letters.db")
///     .table(SqlIdentifier::new("OrderDeadLetters")?)
///     .synchronous(Synchronous::Full)
///     .busy_timeout(Duration::from_secs(10))
///     .readers(4);
/// assert_eq!(config.table_name().as_str(), "OrderDeadLetters");
/// # Ok::<(), pulse_extensibility::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteConfig {
    path: PathBuf,
    table: SqlIdentifier,
    synchronous: Synchronous,
    busy_timeout: Duration,
    readers: usize,
    run_migrations: bool,
}

impl SqliteConfig {
    /// The busy timeout used unless set.
    pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

    /// The number of reader connections used unless set.
    pub const DEFAULT_READERS: usize = 2;

    /// The most reader connections accepted.
    pub const MAX_READERS: usize = 64;

    /// The database file at `path`, created if missing, with the default table
    /// ([`pulse_extensibility::DEFAULT_TABLE`]), [`Synchronous::Normal`], a five-second busy
    /// timeout and two reader connections.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            table: SqlIdentifier::default_table(),
            synchronous: Synchronous::default(),
            busy_timeout: Self::DEFAULT_BUSY_TIMEOUT,
            readers: Self::DEFAULT_READERS,
            run_migrations: true,
        }
    }

    /// Whether opening applies missing migrations (the default). Off, opening a file whose
    /// table is not at this Pulse's schema version is [`pulse_extensibility::Error::InvalidConfig`]
    /// and writes nothing to its schema: for tools that must not migrate a service's database.
    #[must_use]
    pub fn run_migrations(mut self, run: bool) -> Self {
        self.run_migrations = run;
        self
    }

    /// Whether opening applies missing migrations.
    pub fn runs_migrations(&self) -> bool {
        self.run_migrations
    }

    /// Stores entries in `table` instead of `CommandDeadLetter` (the default). Several stores with
    /// different tables may share one file.
    #[must_use]
    pub fn table(mut self, table: SqlIdentifier) -> Self {
        self.table = table;
        self
    }

    /// Sets the durability level; [`Synchronous::Normal`] by default.
    #[must_use]
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// How long a statement waits for another process's write lock before it fails with a
    /// retryable error; [`Self::DEFAULT_BUSY_TIMEOUT`] (5 s) by default.
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How many connections serve reads, 1 to [`Self::MAX_READERS`]; [`Self::DEFAULT_READERS`]
    /// (2) by default. Writes always go through one writer connection.
    #[must_use]
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// Refuses a table whose name, or whose counter table's name, SQLite reserves or Pulse uses
    /// itself: checked before any I/O, as such names would otherwise fail midway through a
    /// migration.
    pub(crate) fn check_table(&self) -> Result<()> {
        match reserved_table(&self.table, &PULSE_TABLES) {
            Some(reason) => Err(Error::InvalidConfig { reason }),
            None => Ok(()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The table entries are stored in.
    pub fn table_name(&self) -> &SqlIdentifier {
        &self.table
    }

    /// The durability level.
    pub fn synchronous_level(&self) -> Synchronous {
        self.synchronous
    }

    /// The busy timeout.
    pub fn busy_timeout_duration(&self) -> Duration {
        self.busy_timeout
    }

    /// The number of reader connections.
    pub fn reader_count(&self) -> usize {
        self.readers
    }
}

/// Why a table of `table`'s (see [`TABLE_OBJECTS`]) would take a name SQLite reserves, or one
/// of `pulse` (names and what they are). SQLite compares names without letter case.
fn reserved_table(table: &SqlIdentifier, pulse: &[(&str, &str)]) -> Option<String> {
    TABLE_OBJECTS.iter().find_map(|(suffix, what)| {
        let name = format!("{table}{suffix}");
        let why = if name.get(..7).is_some_and(|prefix| prefix.eq_ignore_ascii_case("sqlite_")) {
            "SQLite reserves every name starting with sqlite_".to_owned()
        } else {
            let (_, owner) = pulse.iter().find(|(taken, _)| taken.eq_ignore_ascii_case(&name))?;
            format!("the name of {owner}")
        };
        Some(if suffix.is_empty() {
            format!("table {table:?} is reserved: {why}")
        } else {
            format!("table {table:?} is reserved: {what} would be named {name:?}, {why}")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> SqlIdentifier {
        SqlIdentifier::new(text).unwrap()
    }

    /// The reason `check_table` gives for `table`, or `None` when it accepts it.
    fn refusal(table: &str) -> Option<String> {
        match SqliteConfig::new("pulse.db").table(name(table)).check_table() {
            Ok(()) => None,
            Err(Error::InvalidConfig { reason }) => Some(reason),
            Err(other) => panic!("{table}: expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn names_of_sqlite_and_of_pulse_are_refused() {
        let sqlite = |table: &str| {
            format!("table \"{table}\" is reserved: SQLite reserves every name starting with sqlite_")
        };
        let pulse =
            |table: &str| format!("table \"{table}\" is reserved: the name of Pulse's migration history");
        let cases = [
            ("sqlite_master", sqlite("sqlite_master")),
            ("sqlite_schema", sqlite("sqlite_schema")),
            ("SQLite_Stuff", sqlite("SQLite_Stuff")),
            ("_pulse_migrations", pulse("_pulse_migrations")),
            ("_Pulse_Migrations", pulse("_Pulse_Migrations")),
            (
                "SQLite",
                "table \"SQLite\" is reserved: its counter table would be named \"SQLite_Counts\", SQLite \
                 reserves every name starting with sqlite_"
                    .to_owned(),
            ),
        ];
        for (table, expected) in cases {
            assert_eq!(refusal(table), Some(expected), "{table}");
        }
    }

    #[test]
    fn names_near_reserved_ones_are_accepted() {
        for table in
            ["CommandDeadLetter", "sqlite3", "sqlitemaster", "pulse_migrations", "_pulse_migrations2"]
        {
            assert_eq!(refusal(table), None, "{table}");
        }
    }

    #[test]
    fn the_counter_table_is_checked_too() {
        // No name of Pulse's ends in `_Counts` today; a stand-in shows the counter table is checked.
        let pulse = [("Audit_Counts", "a stand-in for a table of Pulse")];
        assert_eq!(
            reserved_table(&name("AUDIT"), &pulse).as_deref(),
            Some(
                "table \"AUDIT\" is reserved: its counter table would be named \"AUDIT_Counts\", the name of a \
                 stand-in for a table of Pulse"
            )
        );
    }
}
