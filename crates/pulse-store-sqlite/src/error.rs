//! The one place SQLite's errors become Pulse's [`Error`].

use pulse_extensibility::Error;
use rusqlite::ErrorCode;

/// Maps a driver error met while doing `what` (a lowercase phrase: "inserting entries").
///
/// - busy or locked: [`Error::Backend`], retryable (another process holds the write lock past
///   the busy timeout);
/// - disk full, I/O failure, cannot open the file: [`Error::Unavailable`];
/// - read-only database, not a database, corruption, constraint violations and everything else:
///   [`Error::Backend`], not retryable;
/// - a stored value of the wrong type or range: [`Error::corrupt`].
pub(crate) fn map(what: &str, error: rusqlite::Error) -> Error {
    if let rusqlite::Error::FromSqlConversionFailure(..)
    | rusqlite::Error::IntegralValueOutOfRange(..)
    | rusqlite::Error::InvalidColumnType(..)
    | rusqlite::Error::Utf8Error(..) = error
    {
        return Error::corrupt(format!("{what}: a stored value cannot be read: {error}"));
    }
    let Some(code) = error.sqlite_error_code() else {
        return Error::backend(what.to_owned(), false, error);
    };
    match code {
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
            Error::backend(format!("{what}: the database is locked by another connection"), true, error)
        }
        ErrorCode::DiskFull => Error::unavailable(format!("{what}: the disk is full"), error),
        ErrorCode::SystemIoFailure => Error::unavailable(format!("{what}: disk I/O failed"), error),
        ErrorCode::CannotOpen => Error::unavailable(format!("{what}: cannot open the database file"), error),
        ErrorCode::ReadOnly => Error::backend(format!("{what}: the database is read-only"), false, error),
        ErrorCode::NotADatabase => {
            Error::backend(format!("{what}: the file is not a SQLite database"), false, error)
        }
        ErrorCode::DatabaseCorrupt => {
            Error::backend(format!("{what}: the database file is corrupt"), false, error)
        }
        _ => Error::backend(what.to_owned(), false, error),
    }
}

/// Adds the mapping to driver results: `statement.execute(..).context("inserting entries")?`.
pub(crate) trait Context<T> {
    /// The value, or the error mapped by [`map`].
    fn context(self, what: &str) -> Result<T, Error>;
}

impl<T> Context<T> for rusqlite::Result<T> {
    fn context(self, what: &str) -> Result<T, Error> {
        self.map_err(|error| map(what, error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    fn kind(error: &Error) -> (&'static str, bool) {
        match error {
            Error::Backend { retryable, .. } => ("backend", *retryable),
            Error::Unavailable { .. } => ("unavailable", true),
            _ => ("other", false),
        }
    }

    #[test]
    fn driver_errors_map_to_typed_errors() {
        use rusqlite::ffi;
        let cases = [
            (ffi::SQLITE_BUSY, ("backend", true)),
            (ffi::SQLITE_LOCKED, ("backend", true)),
            (ffi::SQLITE_BUSY_SNAPSHOT, ("backend", true)),
            (ffi::SQLITE_READONLY, ("backend", false)),
            (ffi::SQLITE_FULL, ("unavailable", true)),
            (ffi::SQLITE_IOERR, ("unavailable", true)),
            (ffi::SQLITE_IOERR_FSYNC, ("unavailable", true)),
            (ffi::SQLITE_CANTOPEN, ("unavailable", true)),
            (ffi::SQLITE_NOTADB, ("backend", false)),
            (ffi::SQLITE_CORRUPT, ("backend", false)),
            (ffi::SQLITE_CONSTRAINT_UNIQUE, ("backend", false)),
        ];
        let mapped: Vec<_> = cases.iter().map(|(code, _)| kind(&map("storing", failure(*code)))).collect();
        let expected: Vec<_> = cases.iter().map(|(_, kind)| *kind).collect();
        assert_eq!(mapped, expected);
    }

    #[test]
    fn messages_name_the_operation_and_keep_the_source() {
        let error = map("inserting entries", failure(rusqlite::ffi::SQLITE_READONLY));
        assert_eq!(error.to_string(), "backend error: inserting entries: the database is read-only");
        assert!(std::error::Error::source(&error).is_some());
    }

    #[test]
    fn unreadable_stored_values_are_corrupt() {
        let error = map("reading an entry", rusqlite::Error::IntegralValueOutOfRange(3, -1));
        assert!(matches!(error, Error::Backend { retryable: false, source: None, .. }), "{error:?}");
    }
}
