//! [`PostgresConfig`]: where the store connects, and which schema and table it uses.

use std::fmt;
use std::time::Duration;

use pulse_extensibility::SqlIdentifier;
use sqlx::PgPool;

/// How a [`crate::PostgresStore`] reaches Postgres.
///
/// Start from [`PostgresConfig::from_url`] (the store opens and owns a pool) or
/// [`PostgresConfig::from_pool`] (the store shares the application's pool), then adjust.
///
/// `Debug` never shows the password of a URL.
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
    Url(String),
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
    pub fn from_url(url: impl Into<String>) -> Self {
        Self::new(Connection::Url(url.into()))
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
            Connection::Url(url) => s.field("url", &redact_url(url)),
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

/// `url` with its password (in the user info, or a `password=` parameter) replaced by `***`.
/// Something that does not look like a URL is hidden whole: it might be all secret.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<hidden>".to_owned();
    };
    // The last '@' ends the user info, even when an unencoded password holds '/', '?' or '@';
    // when that guess is wrong it hides too much, never too little.
    let (authority, tail) = match rest.rsplit_once('@') {
        Some((user_info, after)) => {
            let user_info = match user_info.split_once(':') {
                Some((user, _password)) => format!("{user}:***"),
                None => user_info.to_owned(),
            };
            let split = after.find(['/', '?', '#']).unwrap_or(after.len());
            (format!("{user_info}@{}", &after[..split]), &after[split..])
        }
        None => {
            let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            (rest[..split].to_owned(), &rest[split..])
        }
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("&");
            format!("{path}?{query}")
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        let cases = [
            ("postgres://app:s3cret@db:5432/orders", "postgres://app:***@db:5432/orders"),
            ("postgres://app:p%40ss:w@rd@db/orders", "postgres://app:***@db/orders"),
            ("postgresql://app@db/orders?sslmode=require", "postgresql://app@db/orders?sslmode=require"),
            ("postgres://db/orders?user=app&password=s3cret", "postgres://db/orders?user=app&password=***"),
            ("postgres://db", "postgres://db"),
            ("postgres://app:pa/ss?w@db/orders", "postgres://app:***@db/orders"),
            ("host=db password=s3cret", "<hidden>"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "{url}");
        }
    }

    #[test]
    fn debug_of_a_config_hides_the_password() {
        let config = PostgresConfig::from_url("postgres://app:hunter2@db:5432/orders?password=hunter3");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter"), "{debug}");
        assert!(debug.contains("postgres://app:***@db:5432/orders?password=***"), "{debug}");
    }
}
