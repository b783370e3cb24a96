//! The one place driver errors become Pulse errors.
//!
//! | driver error | Pulse error |
//! | --- | --- |
//! | a TLS handshake that failed (a certificate that does not verify, for one) | [`Error::InvalidConfig`] |
//! | other I/O, pool timeout, crashed worker | [`Error::Unavailable`] (retryable) |
//! | SQLSTATE class `08` (connection), `57P01..03` (shutdown), class `53` (resources) | [`Error::Unavailable`] (retryable) |
//! | `40001` serialization failure, `40P01` deadlock, `55P03` lock timeout, `57014` cancelled | [`Error::Backend`], retryable |
//! | `22021`, `22P05` (a NUL or invalid character), `22008` (date out of range) | [`Error::InvalidInput`] |
//! | class `28` (the server refused the connection: `pg_hba.conf`, a wrong password) | [`Error::InvalidConfig`] |
//! | configuration, TLS demanded of a server that offers none | [`Error::InvalidConfig`] |
//! | anything else | [`Error::Backend`], not retryable |
//!
//! [`Error::InvalidConfig`] holds no source: its reason carries the driver's message, which for
//! these errors quotes neither the URL nor a password.
//!
//! Unique violations never reach this table from `insert`: it uses `ON CONFLICT DO NOTHING`
//! and reports the existing entry as a duplicate.

use pulse_extensibility::Error;

use crate::liveness;
use crate::tls::rustls_error;

/// Maps `error`, raised while doing `what`, to a Pulse error that keeps it as its source.
///
/// An error that says the connection broke is recorded ([`liveness::connection_broke`]), so
/// that the pool checks its other connections before it hands them out.
pub(crate) fn map(what: &str, error: sqlx::Error) -> Error {
    if broken_connection(&error) {
        liveness::connection_broke();
    }
    let message = format!("{what}: {error}");
    match &error {
        // A certificate that does not verify, or a handshake rustls refuses: retrying cannot
        // help. (A connection that drops during the handshake is a plain I/O error.)
        sqlx::Error::Io(io) if let Some(tls) = rustls_error(io) => {
            let failure = match tls {
                rustls::Error::InvalidCertificate(_) => "the server's certificate does not verify",
                _ => "the TLS handshake failed",
            };
            Error::InvalidConfig { reason: format!("{what}: {failure}: {tls}") }
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => {
            Error::unavailable(message, error)
        }
        // TLS demanded of a server that offers none: retrying cannot help.
        sqlx::Error::Configuration(_) | sqlx::Error::Tls(_) => Error::InvalidConfig { reason: message },
        sqlx::Error::Database(db) => {
            let code = db.code().map(std::borrow::Cow::into_owned).unwrap_or_default();
            match code.as_str() {
                "40001" | "40P01" | "55P03" | "57014" => Error::backend(message, true, error),
                "57P01" | "57P02" | "57P03" => Error::unavailable(message, error),
                code if code.starts_with("08") || code.starts_with("53") => {
                    Error::unavailable(message, error)
                }
                // The server refused the connection: the user, the password, or a `pg_hba.conf`
                // rule the sslmode does not meet. Retrying cannot help. (sqlx's own text would
                // add the line of the server's source code that refused.)
                code if code.starts_with("28") => Error::InvalidConfig {
                    reason: format!("{what}: the server refused the connection: {}", db.message()),
                },
                "22021" | "22P05" => {
                    Error::invalid_input("text", format!("PostgreSQL cannot store it: {error}"))
                }
                "22008" => Error::invalid_input("timestamp", format!("PostgreSQL cannot store it: {error}")),
                _ => Error::backend(message, false, error),
            }
        }
        _ => Error::backend(message, false, error),
    }
}

/// Whether `error` is a unique violation (`23505`) or a duplicate object (`42P06` schema,
/// `42P07` relation, `42710` object): what two first-time migrations of different tables in one
/// schema can raise when both create the schema at once.
pub(crate) fn is_creation_race(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(sqlx::error::DatabaseError::code)
        .is_some_and(|code| matches!(code.as_ref(), "23505" | "42P06" | "42P07" | "42710"))
}

/// Whether `error` says the statement's connection is gone: an I/O error, or the server
/// closing it (SQLSTATE class `08`, or `57P01..03` when it shuts down or an administrator
/// terminated the backend).
fn broken_connection(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_failures_are_unavailable_and_retryable() {
        let io = map("insert", sqlx::Error::Io(std::io::Error::other("reset")));
        assert!(matches!(io, Error::Unavailable { .. }) && io.is_retryable());
        assert_eq!(io.to_string(), "store unavailable: insert: error communicating with database: reset");
        let timeout = map("get", sqlx::Error::PoolTimedOut);
        assert!(matches!(timeout, Error::Unavailable { .. }) && timeout.is_retryable());
    }

    #[test]
    fn tls_failures_are_invalid_config_and_not_retryable() {
        let tls = |error| sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
        let cases = [
            (
                map(
                    "connect",
                    tls(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)),
                ),
                "invalid configuration: connect: the server's certificate does not verify: invalid peer \
                 certificate: UnknownIssuer",
            ),
            (
                map("connect", tls(rustls::Error::DecryptError)),
                "invalid configuration: connect: the TLS handshake failed: cannot decrypt peer's message",
            ),
            (
                map("connect", sqlx::Error::Tls("server does not support TLS".into())),
                "invalid configuration: connect: error occurred while attempting to establish a TLS \
                 connection: server does not support TLS",
            ),
        ];
        for (error, expected) in cases {
            assert!(matches!(error, Error::InvalidConfig { .. }) && !error.is_retryable(), "{error:?}");
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn other_driver_errors_are_backend_errors_that_keep_their_source() {
        let error = map("get", sqlx::Error::RowNotFound);
        assert!(matches!(error, Error::Backend { retryable: false, .. }));
        assert!(std::error::Error::source(&error).is_some());
    }
}
