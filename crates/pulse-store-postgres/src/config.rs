//! [`PostgresConfig`]: where the store connects, and which schema and table it uses.

use std::fmt;
use std::time::Duration;

use pulse_extensibility::SqlIdentifier;
use sqlx::PgPool;

use crate::database_url::DatabaseUrl;

/// How a [`crate::PostgresStore`] reaches Postgres.
///
/// Start from [`PostgresConfig::from_url`] (the store opens and owns a pool) or
/// [`PostgresConfig::from_pool`] (the store shares the application's pool), then adjust.
///
/// `Debug` shows where a URL points (`postgres://user@host:port/database`), rebuilt from its
/// parsed parts: never its password, nor any of its parameters.
///
/// ```
/// use pulse_extensibility::SqlIdentifier;
/// use pulse_store_postgres::PostgresConfig;
///
/// let config = PostgresConfig::from_url("postgres://app:secret@db.internal/orders")
///     .schema(SqlIdentifier::new("ops")?)
///     .max_connections(8);
/// assert!(!format!("{config:?}").contains("secret"));
/// # Ok::<(), pulse_extensibility::Error>(())
/// ```
#[derive(Clone)]
pub struct PostgresConfig {
    pub(crate) connection: Connection,
    pub(crate) schema: SqlIdentifier,
    pub(crate) table: SqlIdentifier,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) run_migrations: bool,
}

/// Where connections come from.
#[derive(Clone)]
pub(crate) enum Connection {
    /// A URL: the store opens its own pool.
    Url(DatabaseUrl),
    /// The application's pool, shared.
    Pool(PgPool),
}

impl PostgresConfig {
    /// The default pool size of a store that opens its own pool.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 10;

    /// The default wait for a free connection before a call fails as unavailable.
    pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

    fn new(connection: Connection) -> Self {
        Self {
            connection,
            schema: SqlIdentifier::default_schema(),
            table: SqlIdentifier::default_table(),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            acquire_timeout: Self::DEFAULT_ACQUIRE_TIMEOUT,
            run_migrations: true,
        }
    }

    /// Connect to `url` (`postgres://user:password@host:port/database?...`) with a pool the
    /// store owns.
    ///
    /// The URL is parsed here and checked by [`crate::PostgresStore::open`], which refuses it
    /// before sqlx sees it when it is not a `postgres://` or `postgresql://` URL (key=value
    /// connection strings are not taken), or when it has a query parameter other than those
    /// sqlx understands: `sslmode`, `sslrootcert`, `sslcert`, `sslkey` (each also spelt with
    /// dashes, as `ssl-mode`, and `ssl-ca`), `statement-cache-capacity`, `host`, `hostaddr`,
    /// `port`, `dbname`, `user`, `password`, `application_name`, `options` and `options[NAME]`.
    /// Keys are compared once percent-decoded, as sqlx reads them.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self::new(Connection::Url(DatabaseUrl::new(url.into())))
    }

    /// Use the application's `pool`. The pool's own size and timeouts apply;
    /// [`Self::max_connections`] and [`Self::acquire_timeout`] do not.
    pub fn from_pool(pool: PgPool) -> Self {
        Self::new(Connection::Pool(pool))
    }

    /// The schema of the dead-letter table; default `pulse`.
    #[must_use]
    pub fn schema(mut self, schema: SqlIdentifier) -> Self {
        self.schema = schema;
        self
    }

    /// The dead-letter table; default `CommandDeadLetter`.
    #[must_use]
    pub fn table(mut self, table: SqlIdentifier) -> Self {
        self.table = table;
        self
    }

    /// The most connections of a pool the store opens itself (at least 1).
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max.max(1);
        self
    }

    /// How long a call waits for a free connection of a pool the store opens itself.
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Whether opening the store applies missing migrations (the default). When off, opening
    /// only checks that the schema is at the version this Pulse expects, so the application's
    /// role needs no `CREATE` rights.
    #[must_use]
    pub fn run_migrations(mut self, run: bool) -> Self {
        self.run_migrations = run;
        self
    }

    /// The configured schema.
    pub fn schema_name(&self) -> &SqlIdentifier {
        &self.schema
    }

    /// The configured table.
    pub fn table_name(&self) -> &SqlIdentifier {
        &self.table
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("PostgresConfig");
        match &self.connection {
            Connection::Url(url) => s.field("url", &format_args!("{url}")),
            Connection::Pool(pool) => {
                s.field("pool", &format_args!("shared pool of {} connections", pool.size()))
            }
        };
        s.field("schema", &self.schema)
            .field("table", &self.table)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("run_migrations", &self.run_migrations)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use pulse_extensibility::Error;

    use super::*;
    use crate::PostgresStore;

    /// What opening a URL gives, when no server listens where it points.
    enum Outcome {
        /// Refused before any connection attempt, for this reason.
        Refused(String),
        /// Accepted, then unreachable.
        Unavailable,
    }

    /// Every text `error` shows: its `Display`, its `Debug`, and both of each source in its chain.
    fn texts(error: &Error) -> Vec<String> {
        let mut texts = vec![error.to_string(), format!("{error:?}")];
        let mut source = std::error::Error::source(error);
        while let Some(error) = source {
            texts.extend([error.to_string(), format!("{error:?}")]);
            source = error.source();
        }
        texts
    }

    fn unknown_parameter(key: &str) -> String {
        format!(
            "the database URL has the parameter \"{key}\", which sqlx does not understand; accepted \
             parameters: sslmode, ssl-mode, sslrootcert, ssl-root-cert, ssl-ca, sslcert, ssl-cert, sslkey, \
             ssl-key, statement-cache-capacity, host, hostaddr, port, dbname, user, password, \
             application_name, options, options[NAME]"
        )
    }

    fn unparseable(error: &str) -> String {
        format!(
            "the database URL does not parse ({error}); Pulse takes postgres:// or postgresql:// URLs, not \
             key=value connection strings"
        )
    }

    /// Every URL form that once leaked a secret, with what opening it must give. Nothing listens
    /// on 127.0.0.1:1.
    fn cases() -> Vec<(&'static str, Outcome)> {
        use Outcome::{Refused, Unavailable};
        vec![
            ("postgres://127.0.0.1:1/orders?user=u&%70assword=SECRET", Unavailable),
            ("postgres://127.0.0.1:1/orders?sslpassword=SECRET", Refused(unknown_parameter("sslpassword"))),
            ("postgres://127.0.0.1:1/orders?%73slpassword=SECRET", Refused(unknown_parameter("sslpassword"))),
            ("postgres://app:SECRET", Refused(unparseable("invalid port number"))),
            ("postgres://app:SECRET@127.0.0.1:1/orders?password=SECRET2", Unavailable),
            ("host=db password=SECRET", Refused(unparseable("relative URL without a base"))),
            ("postgres://app:SECRET%2F%40x@127.0.0.1:1/orders", Unavailable),
            ("postgres://app:SECRET@127.0.0.1:99999/orders", Refused(unparseable("invalid port number"))),
            (
                "mysql://app:SECRET@127.0.0.1:1/orders",
                Refused("the database URL must start with postgres:// or postgresql://".to_owned()),
            ),
            (
                "postgres://127.0.0.1:1/orders?sslmode=SECRET",
                Refused("the value of the parameter \"sslmode\" in the database URL is not valid".to_owned()),
            ),
        ]
    }

    #[test]
    fn debug_shows_the_target_without_secrets() {
        let config =
            PostgresConfig::from_url("postgres://app:SECRET@db.internal:5433/orders?sslmode=require");
        assert_eq!(
            format!("{config:?}"),
            "PostgresConfig { url: postgres://app@db.internal:5433/orders, schema: \"pulse\", table: \
             \"CommandDeadLetter\", max_connections: 10, acquire_timeout: 30s, run_migrations: true }"
        );
    }

    #[test]
    fn debug_of_any_url_form_hides_its_secrets() {
        for (url, _) in cases() {
            let debug = format!("{:?}", PostgresConfig::from_url(url));
            assert!(!debug.contains("SECRET"), "{url}: {debug}");
        }
    }

    #[test]
    fn debug_of_a_url_that_does_not_parse_shows_a_placeholder() {
        let debug = format!("{:?}", PostgresConfig::from_url("host=db password=SECRET"));
        assert!(debug.starts_with("PostgresConfig { url: <unparseable URL>, schema:"), "{debug}");
    }

    #[tokio::test]
    async fn open_refuses_bad_urls_before_connecting_and_no_error_holds_a_secret() {
        for (url, outcome) in cases() {
            let config = PostgresConfig::from_url(url).acquire_timeout(Duration::from_millis(500));
            let error = PostgresStore::open(config).await.expect_err("nothing listens there");
            match (&error, outcome) {
                (Error::InvalidConfig { reason }, Outcome::Refused(expected)) => {
                    assert_eq!(reason, &expected, "{url}");
                }
                (Error::Unavailable { .. }, Outcome::Unavailable) => {}
                (error, _) => panic!("{url}: unexpected {error:?}"),
            }
            for text in texts(&error) {
                assert!(!text.contains("SECRET"), "{url}: {text}");
            }
        }
    }
}
