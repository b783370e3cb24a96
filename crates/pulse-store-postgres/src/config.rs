//! [`PostgresConfig`]: where the store connects, and which schema and table it uses.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use pulse_extensibility::{Error, Result, SqlIdentifier};
use sqlx::PgPool;

use crate::database_url::DatabaseUrl;
use crate::sql::{MIGRATIONS_TABLE, derived};
use crate::tls::{PostgresSslMode, SslSettings, Tls};

/// Relations Pulse keeps in every schema it uses, whatever the table, and what they are.
const PULSE_RELATIONS: [(&str, &str); 2] = [
    (MIGRATIONS_TABLE, "Pulse's migration history"),
    ("PulseMigrations_pkey", "the primary key of Pulse's migration history"),
];

/// The relations named after a store's table, by suffix, and what they are: the table, its
/// counter table and their primary keys. (Index suffixes end neither in `Migrations` nor in
/// `_pkey`, so an index cannot take a name of [`PULSE_RELATIONS`].)
const TABLE_RELATIONS: [(&str, &str); 6] = [
    ("", "the table"),
    ("_pkey", "its primary key"),
    ("_Counts", "its counter table"),
    ("_Counts_pkey", "the primary key of its counter table"),
    ("_ReplayRequests", "its replay-request table"),
    ("_ReplayRequests_pkey", "the primary key of its replay-request table"),
];

/// How a [`crate::PostgresStore`] reaches Postgres.
///
/// Start from [`PostgresConfig::from_url`] (the store opens and owns a pool) or
/// [`PostgresConfig::from_pool`] (the store shares the application's pool), then adjust.
///
/// `Debug` shows where a URL points (`postgres://user@host:port/database`), rebuilt from its
/// parsed parts, and the TLS settings (`sslmode`, `sslrootcert`): never its password, nor any of
/// its other parameters.
///
/// ```
/// use pulse_extensibility::SqlIdentifier;
/// use pulse_store_postgres::{PostgresConfig, PostgresSslMode};
///
/// let config = PostgresConfig::from_url("postgres://app:secret@db.internal/orders")
///     .ssl_mode(PostgresSslMode::VerifyFull)
///     .ssl_root_cert("/etc/pulse/db-ca.pem")
///     .schema(SqlIdentifier::new("ops")?)
///     .max_connections(8);
/// assert!(!format!("{config:?}").contains("secret"));
/// # Ok::<(), pulse_extensibility::Error>(())
/// ```
#[derive(Clone)]
pub struct PostgresConfig {
    pub(crate) connection: Connection,
    /// TLS settings given to the config's methods; they override the URL's.
    pub(crate) ssl: SslSettings,
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
            ssl: SslSettings::default(),
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
    ///
    /// `sslmode` and `sslrootcert` are read as [`Self::ssl_mode`] and [`Self::ssl_root_cert`]
    /// describe.
    pub fn from_url(url: impl Into<String>) -> Self {
        Self::new(Connection::Url(DatabaseUrl::new(url.into())))
    }

    /// Use the application's `pool`. The pool's own size, timeouts and TLS settings apply;
    /// [`Self::max_connections`], [`Self::acquire_timeout`], [`Self::ssl_mode`] and
    /// [`Self::ssl_root_cert`] do not.
    pub fn from_pool(pool: PgPool) -> Self {
        Self::new(Connection::Pool(pool))
    }

    /// Whether and how the store's connections use TLS, as libpq's `sslmode` (see
    /// [`PostgresSslMode`]). Overrides the URL's `sslmode`; when neither sets it, the
    /// `PGSSLMODE` environment variable does, as for libpq, else it is `prefer`.
    ///
    /// With `allow` and `prefer`, the store tries the second way of connecting only when the
    /// server refuses the first (or, in `prefer`, the TLS handshake fails), once, when it opens;
    /// every connection of its pool then connects the way that worked.
    #[must_use]
    pub fn ssl_mode(mut self, mode: PostgresSslMode) -> Self {
        self.ssl.mode = Some(mode);
        self
    }

    /// A PEM file of the certificate authorities the server's certificate may be signed by.
    /// Overrides the URL's `sslrootcert`; when neither sets it, the `PGSSLROOTCERT` environment
    /// variable does, as for libpq.
    ///
    /// As with libpq, every connection that uses TLS then checks the certificate's chain, in
    /// `require`, `allow` and `prefer` too. Opening the store fails with
    /// [`Error::InvalidConfig`] when the file does not exist or cannot be read, before any
    /// connection is tried.
    #[must_use]
    pub fn ssl_root_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.ssl.root_cert = Some(path.into());
        self
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

    /// The most connections of a pool the store opens itself, at least 1 (opening refuses 0 with
    /// [`Error::InvalidConfig`]); [`Self::DEFAULT_MAX_CONNECTIONS`] (10) by default.
    #[must_use]
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = max;
        self
    }

    /// How long a call waits for a free connection of a pool the store opens itself;
    /// [`Self::DEFAULT_ACQUIRE_TIMEOUT`] (30 s) by default.
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

    /// Refuses a pool of no connections, as the SQLite store refuses no readers.
    pub(crate) fn check_pool_size(&self) -> Result<()> {
        if self.max_connections == 0 {
            return Err(Error::InvalidConfig {
                reason: "max_connections must be at least 1, was 0".to_owned(),
            });
        }
        Ok(())
    }

    /// Refuses a schema PostgreSQL reserves, or a table whose relations would take the name of
    /// one of Pulse's own: checked before any I/O, as such names would otherwise fail midway
    /// through a migration.
    pub(crate) fn check_names(&self) -> Result<()> {
        match reserved_schema(&self.schema).or_else(|| taken_relation(&self.table, &PULSE_RELATIONS)) {
            Some(reason) => Err(Error::InvalidConfig { reason }),
            None => Ok(()),
        }
    }

    /// The TLS settings a store that opens its own pool from `url` connects with: those of
    /// [`Self::ssl_mode`] and [`Self::ssl_root_cert`], else the URL's, else libpq's environment
    /// variables.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] as [`Tls::resolve`] says.
    pub(crate) fn tls(&self, url: &DatabaseUrl) -> Result<Tls> {
        Tls::resolve(&self.ssl, url.ssl(), |name| std::env::var_os(name))
    }

    /// Refuses TLS settings on the config of a shared pool, which connects as the application
    /// configured it: settings that would silently not apply.
    pub(crate) fn check_shared_pool_has_no_tls(&self) -> Result<()> {
        if self.ssl == SslSettings::default() {
            return Ok(());
        }
        Err(Error::InvalidConfig {
            reason: "ssl_mode and ssl_root_cert apply to a store that opens its own pool (from_url); a \
                     shared pool (from_pool) connects with the TLS settings of its own PgConnectOptions"
                .to_owned(),
        })
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
        let ssl = match &self.connection {
            Connection::Url(url) => {
                s.field("url", &format_args!("{url}"));
                self.ssl.or(url.ssl())
            }
            Connection::Pool(pool) => {
                s.field("pool", &format_args!("shared pool of {} connections", pool.size()));
                self.ssl.clone()
            }
        };
        s.field("ssl_mode", &ssl.mode)
            .field("ssl_root_cert", &ssl.root_cert)
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("run_migrations", &self.run_migrations)
            .finish()
    }
}

/// Why PostgreSQL reserves `schema`, if it does. PostgreSQL itself refuses only lowercase `pg_`
/// names; Pulse refuses every letter case, which would only confuse.
fn reserved_schema(schema: &SqlIdentifier) -> Option<String> {
    let lowercase = schema.as_str().to_ascii_lowercase();
    if lowercase.starts_with("pg_") {
        Some(format!(
            "schema {schema:?} is reserved: PostgreSQL keeps its system schemas under names starting with pg_"
        ))
    } else if lowercase == "information_schema" {
        Some(format!("schema {schema:?} is reserved: it is PostgreSQL's SQL-standard catalog"))
    } else {
        None
    }
}

/// Which of `pulse` (names and what they are) a relation of `table` would take, as a reason.
/// Quoted names are case-sensitive, so only exact matches collide.
fn taken_relation(table: &SqlIdentifier, pulse: &[(&str, &str)]) -> Option<String> {
    TABLE_RELATIONS.iter().find_map(|(suffix, what)| {
        let name = derived(table, suffix);
        let (_, owner) = pulse.iter().find(|(taken, _)| *taken == name.as_str())?;
        Some(if suffix.is_empty() {
            format!("table {table:?} is reserved: it is the name of {owner}")
        } else {
            format!("table {table:?} is reserved: {what} would be named {name:?}, the name of {owner}")
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PostgresStore;

    #[tokio::test]
    async fn a_pool_of_no_connections_is_refused_as_the_sqlite_store_refuses_no_readers() {
        let config = PostgresConfig::from_url("postgres://app@127.0.0.1:1/orders").max_connections(0);
        match PostgresStore::open(config).await {
            Err(Error::InvalidConfig { reason }) => {
                assert_eq!(reason, "max_connections must be at least 1, was 0");
            }
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

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
            (
                "postgres://app:SECRET@127.0.0.1:1/orders?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
                Refused(
                    "the root certificate file named by the parameter sslrootcert of the database URL is not a \
                     file that can be read"
                        .to_owned(),
                ),
            ),
        ]
    }

    #[test]
    fn debug_shows_the_target_without_secrets() {
        let config =
            PostgresConfig::from_url("postgres://app:SECRET@db.internal:5433/orders?sslmode=require");
        assert_eq!(
            format!("{config:?}"),
            "PostgresConfig { url: postgres://app@db.internal:5433/orders, ssl_mode: Some(Require), \
             ssl_root_cert: None, schema: \"pulse\", table: \"CommandDeadLetter\", max_connections: 10, \
             acquire_timeout: 30s, run_migrations: true }"
        );
        let config = PostgresConfig::from_url("postgres://app:SECRET@db/orders?sslrootcert=/url/ca.pem")
            .ssl_mode(PostgresSslMode::VerifyFull);
        assert_eq!(
            format!("{config:?}"),
            "PostgresConfig { url: postgres://app@db/orders, ssl_mode: Some(VerifyFull), ssl_root_cert: \
             Some(\"/url/ca.pem\"), schema: \"pulse\", table: \"CommandDeadLetter\", max_connections: 10, \
             acquire_timeout: 30s, run_migrations: true }"
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
        assert!(debug.starts_with("PostgresConfig { url: <unparseable URL>, ssl_mode: None,"), "{debug}");
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

    #[tokio::test]
    async fn open_refuses_tls_settings_that_cannot_apply_before_connecting() {
        // Nothing listens on 127.0.0.1:1: a connection attempt would be Unavailable.
        let url = "postgres://app:SECRET@127.0.0.1:1/orders?sslrootcert=/nonexistent/url.pem";
        let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy(url).unwrap();
        let cases = [
            (
                PostgresConfig::from_url(url).ssl_root_cert("/nonexistent/config.pem"),
                "the root certificate file named by PostgresConfig::ssl_root_cert is not a file that can be read",
            ),
            (
                PostgresConfig::from_pool(pool).ssl_mode(PostgresSslMode::VerifyFull),
                "ssl_mode and ssl_root_cert apply to a store that opens its own pool (from_url); a shared \
                 pool (from_pool) connects with the TLS settings of its own PgConnectOptions",
            ),
        ];
        for (config, expected) in cases {
            let debug = format!("{config:?}");
            match PostgresStore::open(config).await {
                Err(Error::InvalidConfig { reason }) => assert_eq!(reason, expected, "{debug}"),
                other => panic!("{debug}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    fn name(text: &str) -> SqlIdentifier {
        SqlIdentifier::new(text).unwrap()
    }

    /// The reason `check_names` gives for `schema` and `table`, or `None` when it accepts them.
    fn refusal(schema: &str, table: &str) -> Option<String> {
        let config = PostgresConfig::from_url("postgres://db/orders").schema(name(schema)).table(name(table));
        match config.check_names() {
            Ok(()) => None,
            Err(Error::InvalidConfig { reason }) => Some(reason),
            Err(other) => panic!("{schema}.{table}: expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn names_of_postgres_and_of_pulse_are_refused() {
        let pg = |schema: &str| {
            format!(
                "schema \"{schema}\" is reserved: PostgreSQL keeps its system schemas under names starting \
                 with pg_"
            )
        };
        let cases = [
            ("pg_catalog", "CommandDeadLetter", pg("pg_catalog")),
            ("pg_temp_3", "CommandDeadLetter", pg("pg_temp_3")),
            ("PG_Custom", "CommandDeadLetter", pg("PG_Custom")),
            (
                "information_schema",
                "CommandDeadLetter",
                "schema \"information_schema\" is reserved: it is PostgreSQL's SQL-standard catalog"
                    .to_owned(),
            ),
            (
                "Information_Schema",
                "CommandDeadLetter",
                "schema \"Information_Schema\" is reserved: it is PostgreSQL's SQL-standard catalog"
                    .to_owned(),
            ),
            (
                "pulse",
                "PulseMigrations",
                "table \"PulseMigrations\" is reserved: it is the name of Pulse's migration history"
                    .to_owned(),
            ),
            (
                "ops",
                "PulseMigrations_pkey",
                "table \"PulseMigrations_pkey\" is reserved: it is the name of the primary key of Pulse's \
                 migration history"
                    .to_owned(),
            ),
        ];
        for (schema, table, expected) in cases {
            assert_eq!(refusal(schema, table), Some(expected), "{schema}.{table}");
        }
    }

    #[test]
    fn names_near_reserved_ones_are_accepted() {
        let cases = [
            ("pulse", "CommandDeadLetter"),
            ("pg", "CommandDeadLetter"),
            ("pgx", "CommandDeadLetter"),
            ("information", "CommandDeadLetter"),
            ("pulse", "pulsemigrations"),
            ("pulse", "PulseMigrations2"),
            ("pulse", "Pulse"),
        ];
        for (schema, table) in cases {
            assert_eq!(refusal(schema, table), None, "{schema}.{table}");
        }
    }

    #[test]
    fn derived_relations_are_checked_too() {
        // No name of Pulse's ends in `_Counts` today; a stand-in shows the counter table is checked.
        let pulse = [("Audit_Counts", "a stand-in for a relation of Pulse")];
        assert_eq!(
            taken_relation(&name("Audit"), &pulse).as_deref(),
            Some(
                "table \"Audit\" is reserved: its counter table would be named \"Audit_Counts\", the name of \
                 a stand-in for a relation of Pulse"
            )
        );
        assert_eq!(
            taken_relation(&name("Audit_Counts"), &pulse).as_deref(),
            Some("table \"Audit_Counts\" is reserved: it is the name of a stand-in for a relation of Pulse")
        );
    }

    #[tokio::test]
    async fn open_refuses_reserved_names_before_any_io() {
        // Nothing listens on 127.0.0.1:1, and a lazy pool connects only when first used: a
        // connection attempt would be Unavailable, not InvalidConfig.
        let url = "postgres://127.0.0.1:1/orders";
        let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy(url).unwrap();
        let configs = [
            PostgresConfig::from_url(url).schema(name("pg_catalog")),
            PostgresConfig::from_pool(pool.clone()).schema(name("information_schema")),
            PostgresConfig::from_pool(pool).table(name("PulseMigrations")),
        ];
        for config in configs {
            let debug = format!("{config:?}");
            let error = crate::PostgresStore::open(config).await.expect_err("reserved names are refused");
            assert!(matches!(error, Error::InvalidConfig { .. }), "{debug}: {error:?}");
        }
    }
}
