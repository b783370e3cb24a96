//! [`SqliteConfig`]: where the database lives and how it is opened.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pulse_extensibility::SqlIdentifier;

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
        }
    }

    /// Stores entries in `table` instead of `CommandDeadLetter`. Several stores with different
    /// tables may share one file.
    #[must_use]
    pub fn table(mut self, table: SqlIdentifier) -> Self {
        self.table = table;
        self
    }

    /// Sets the durability level.
    #[must_use]
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.synchronous = synchronous;
        self
    }

    /// How long a statement waits for another process's write lock before it fails with a
    /// retryable error.
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How many connections serve reads, 1 to [`Self::MAX_READERS`]. Writes always go through
    /// one writer connection.
    #[must_use]
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
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
