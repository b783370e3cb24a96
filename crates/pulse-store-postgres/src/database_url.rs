//! [`DatabaseUrl`]: a connection URL, checked before the driver sees it and shown without secrets.
//!
//! The URL is parsed once, when the config is built.
//! `Debug` shows only where it points (scheme, user, host, port, database), rebuilt from the
//! parsed parts, never from the text.
//! Opening refuses a URL that is not a `postgres://` URL, or that has a parameter sqlx does not
//! understand (sqlx would log its value in a warning), naming the parameter but never a value.
//! Its TLS parameters (`sslmode`, `sslrootcert`) are read here into typed settings.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use percent_encoding::percent_decode_str;
use pulse_extensibility::{Error, Result};
use sqlx::postgres::PgConnectOptions;
use url::Url;

use crate::tls::SslSettings;

/// The query parameters sqlx's `PgConnectOptions` understands (sqlx-postgres 0.9,
/// `options/parse.rs`), besides `options[NAME]`.
pub(crate) const PARAMETERS: [&str; 19] = [
    "sslmode",
    "ssl-mode",
    "sslrootcert",
    "ssl-root-cert",
    "ssl-ca",
    "sslcert",
    "ssl-cert",
    "sslkey",
    "ssl-key",
    "statement-cache-capacity",
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "application_name",
    "options",
    "options[NAME]",
];

/// A `postgres://` URL as given, with where it points and whether opening may use it.
#[derive(Clone)]
pub(crate) struct DatabaseUrl {
    /// The URL as given, secrets included: handed to the driver once checked, never shown.
    text: String,
    /// Where the URL points, without secrets; a placeholder when it does not parse.
    target: String,
    /// Why opening refuses the URL; it names no value.
    problem: Option<String>,
    /// The URL's `sslmode` and `sslrootcert`.
    ssl: SslSettings,
}

impl DatabaseUrl {
    /// Parses and checks `text`; a problem surfaces when the store opens.
    pub(crate) fn new(text: String) -> Self {
        let mut ssl = SslSettings::default();
        let (target, problem) = match parse(&text) {
            Ok(url) => (target(&url), check(&url, &mut ssl).err()),
            Err((placeholder, reason)) => (placeholder.to_owned(), Some(reason)),
        };
        Self { text, target, problem, ssl }
    }

    /// The URL's `sslmode` and `sslrootcert`, each unset when the URL does not set it.
    pub(crate) fn ssl(&self) -> &SslSettings {
        &self.ssl
    }

    /// The driver's options for this URL.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for a URL that does not parse, is not a `postgres://` URL, or has
    /// a parameter or value the driver cannot use. The reason never quotes the URL or a value.
    pub(crate) fn connect_options(&self) -> Result<PgConnectOptions> {
        if let Some(reason) = &self.problem {
            return Err(Error::InvalidConfig { reason: reason.clone() });
        }
        // sqlx's own message may quote a value, so it is neither shown nor kept as the source.
        PgConnectOptions::from_str(&self.text).map_err(|_| Error::InvalidConfig {
            reason: "sqlx cannot use the database URL (its message is not shown: it may quote the URL)"
                .to_owned(),
        })
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.target)
    }
}

/// The URL in `text`, or a placeholder to show and the reason opening refuses it.
fn parse(text: &str) -> std::result::Result<Url, (&'static str, String)> {
    let url = Url::parse(text).map_err(|error| {
        // `url`'s messages are fixed texts ("invalid port number"): they never quote the input.
        let reason = format!(
            "the database URL does not parse ({error}); Pulse takes postgres:// or postgresql:// URLs, \
             not key=value connection strings"
        );
        ("<unparseable URL>", reason)
    })?;
    if !matches!(url.scheme(), "postgres" | "postgresql") {
        let reason = "the database URL must start with postgres:// or postgresql://".to_owned();
        return Err(("<not a PostgreSQL URL>", reason));
    }
    Ok(url)
}

/// `scheme://user@host:port/database`, as sqlx reads them: query parameters override the parts
/// before them. Parts the URL leaves out are left out.
fn target(url: &Url) -> String {
    let mut user = decoded(url.username());
    let mut host = url.host_str().map(decoded).unwrap_or_default();
    let mut port = url.port().map(|port| port.to_string());
    let mut database = decoded(url.path().trim_start_matches('/'));
    for (key, value) in url.query_pairs() {
        match &*key {
            "user" => user = value.into_owned(),
            "host" | "hostaddr" => host = value.into_owned(),
            "port" => port = Some(value.into_owned()),
            "dbname" => database = value.into_owned(),
            _ => {}
        }
    }
    let user = if user.is_empty() { String::new() } else { format!("{user}@") };
    let port = port.map(|port| format!(":{port}")).unwrap_or_default();
    let database = if database.is_empty() { String::new() } else { format!("/{database}") };
    format!("{}://{user}{host}{port}{database}", url.scheme())
}

/// `text` percent-decoded, for people to read.
fn decoded(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// Whether sqlx can use every part of `url`: the reason when not. Its TLS parameters go to `ssl`.
fn check(url: &Url, ssl: &mut SslSettings) -> std::result::Result<(), String> {
    check_utf8("user name", url.username())?;
    check_utf8("password", url.password().unwrap_or_default())?;
    check_utf8("host", url.host_str().unwrap_or_default())?;
    check_utf8("database name", url.path())?;
    url.query_pairs().try_for_each(|(key, value)| {
        if SslSettings::is_parameter(&key) {
            ssl.set_parameter(&key, &value)
        } else {
            check_parameter(&key, &value)
        }
    })
}

/// Whether `part` of the URL is UTF-8 once percent-decoded, as sqlx requires.
fn check_utf8(part: &str, text: &str) -> std::result::Result<(), String> {
    match percent_decode_str(text).decode_utf8() {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("the {part} in the database URL is not UTF-8 once percent-decoded")),
    }
}

/// Whether sqlx understands the parameter `key` (already percent-decoded) and can use `value`.
/// The reason names the key, never the value.
fn check_parameter(key: &str, value: &str) -> std::result::Result<(), String> {
    let valid = match key {
        "statement-cache-capacity" => value.parse::<usize>().is_ok(),
        "port" => value.parse::<u16>().is_ok(),
        "hostaddr" => value.parse::<IpAddr>().is_ok(),
        key if PARAMETERS.contains(&key) || is_server_option(key) => true,
        _ => {
            return Err(format!(
                "the database URL has the parameter {key:?}, which sqlx does not understand; accepted \
                 parameters: {}",
                PARAMETERS.join(", ")
            ));
        }
    };
    if valid {
        Ok(())
    } else {
        Err(format!("the value of the parameter {key:?} in the database URL is not valid"))
    }
}

/// Whether `key` is `options[NAME]`: a server setting sent when connecting.
fn is_server_option(key: &str) -> bool {
    key.strip_prefix("options[").is_some_and(|rest| rest.len() > 1 && rest.ends_with(']'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PostgresSslMode;

    fn target_of(text: &str) -> String {
        DatabaseUrl::new(text.to_owned()).to_string()
    }

    #[test]
    fn the_target_is_rebuilt_from_parsed_parts() {
        let cases = [
            (
                "postgres://app:s3cret@db.internal:5433/orders?sslmode=require",
                "postgres://app@db.internal:5433/orders",
            ),
            ("postgresql://db", "postgresql://db"),
            ("postgres://%61pp@db/ord%65rs", "postgres://app@db/orders"),
            ("postgres://db/orders?user=u&%70assword=s3cret", "postgres://u@db/orders"),
            (
                "postgres:///?host=/run/postgresql&port=5434&dbname=orders",
                "postgres:///run/postgresql:5434/orders",
            ),
            ("postgres://app:s3cret@db:99999/orders", "<unparseable URL>"),
            ("host=db password=s3cret", "<unparseable URL>"),
            ("mysql://app:s3cret@db/orders", "<not a PostgreSQL URL>"),
        ];
        for (text, expected) in cases {
            assert_eq!(target_of(text), expected, "{text}");
        }
    }

    #[test]
    fn parameters_sqlx_understands_are_accepted() {
        let url = "postgres://app:s3cret@db/orders?sslmode=verify-full&ssl-root-cert=/ca.pem&sslcert=/c.pem\
                   &sslkey=/k.pem&statement-cache-capacity=50&hostaddr=10.0.0.1&port=5433&dbname=o&user=u\
                   &password=p&application_name=billing&options=-c%20search_path%3Dops\
                   &options%5Bstatement_timeout%5D=5s";
        assert_eq!(DatabaseUrl::new(url.to_owned()).problem, None);
    }

    #[test]
    fn tls_parameters_become_settings_and_the_last_of_a_key_wins() {
        let cases = [
            ("postgres://db/orders", SslSettings::default()),
            (
                "postgres://db/orders?sslmode=verify-full&sslrootcert=/etc/ca.pem",
                SslSettings {
                    mode: Some(PostgresSslMode::VerifyFull),
                    root_cert: Some("/etc/ca.pem".into()),
                },
            ),
            (
                "postgres://db/orders?ssl-mode=REQUIRE&ssl-root-cert=/a.pem&ssl-ca=/b%20c.pem&sslmode=verify-ca",
                SslSettings { mode: Some(PostgresSslMode::VerifyCa), root_cert: Some("/b c.pem".into()) },
            ),
        ];
        for (text, expected) in cases {
            let url = DatabaseUrl::new(text.to_owned());
            assert_eq!((url.ssl(), url.problem.as_deref()), (&expected, None), "{text}");
        }
    }

    #[test]
    fn problems_name_the_key_but_not_the_value() {
        let cases = [
            (
                "postgres://db?sslpassword=s3cret",
                format!(
                    "the database URL has the parameter \"sslpassword\", which sqlx does not understand; \
                     accepted parameters: {}",
                    PARAMETERS.join(", ")
                ),
            ),
            (
                "postgres://db?sslmode=s3cret",
                "the value of the parameter \"sslmode\" in the database URL is not valid".to_owned(),
            ),
            (
                "postgres://db?port=s3cret",
                "the value of the parameter \"port\" in the database URL is not valid".to_owned(),
            ),
            (
                "postgres://app:%FF@db",
                "the password in the database URL is not UTF-8 once percent-decoded".to_owned(),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(DatabaseUrl::new(text.to_owned()).problem.as_deref(), Some(&*expected), "{text}");
        }
    }
}
