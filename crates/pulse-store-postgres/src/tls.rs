//! TLS: [`PostgresSslMode`], where a store's TLS settings come from, and the one mapping of each
//! mode to the connection attempts sqlx makes.
//!
//! sqlx 0.9 treats `allow` as `disable`, never falls back to plain text in `prefer`, and checks
//! nothing in `require` even when given a root certificate; libpq does all three.
//! [`Tls::attempts`] closes the gap: the store tries its attempts in order when it opens, moves
//! on only when the server refused an attempt or its TLS handshake failed, and keeps the first
//! that connects for every connection of its pool.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::path::PathBuf;
use std::str::FromStr;

use pulse_extensibility::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgSslMode};

/// Whether and how a store's connections use TLS: libpq's `sslmode`, with libpq's meaning.
///
/// | mode | encrypted | the server's certificate |
/// | --- | --- | --- |
/// | `disable` | never | - |
/// | `allow` | only when the server refuses plain text | checked as in `require` |
/// | `prefer` (default) | when the server offers TLS; plain text when it does not, refuses the TLS connection, or the handshake fails | checked as in `require` |
/// | `require` | always | as in `verify-ca` when `sslrootcert` is given, else not checked |
/// | `verify-ca` | always | signed by a trusted CA; any name |
/// | `verify-full` | always | signed by a trusted CA, for the host connected to |
///
/// Trusted CAs are those of `sslrootcert` and, unlike libpq, Mozilla's root programme as compiled
/// into this build (the `webpki-roots` crate).
///
/// ```
/// use pulse_store_postgres::PostgresSslMode;
///
/// assert_eq!("verify-full".parse::<PostgresSslMode>()?, PostgresSslMode::VerifyFull);
/// assert_eq!(PostgresSslMode::default().to_string(), "prefer");
/// # Ok::<(), pulse_extensibility::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PostgresSslMode {
    /// Plain text only.
    Disable,
    /// Plain text; TLS only when the server refuses plain text.
    Allow,
    /// TLS when the server offers it; plain text when it does not, or when it refuses the TLS
    /// connection. libpq's default, and Pulse's.
    #[default]
    Prefer,
    /// TLS or no connection. The certificate is checked as in `VerifyCa` when there is a
    /// `sslrootcert`, else not at all.
    Require,
    /// TLS, with a certificate signed by a trusted CA, whatever name it is for.
    VerifyCa,
    /// TLS, with a certificate signed by a trusted CA for the host the URL names.
    VerifyFull,
}

impl PostgresSslMode {
    /// Every mode, from the weakest to the strictest.
    pub const ALL: [Self; 6] =
        [Self::Disable, Self::Allow, Self::Prefer, Self::Require, Self::VerifyCa, Self::VerifyFull];

    /// The mode's name in a URL: `disable`, `allow`, `prefer`, `require`, `verify-ca` or
    /// `verify-full`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// The mode named `text`, in any letter case (as sqlx reads it).
    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for PostgresSslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PostgresSslMode {
    type Err = Error;

    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for anything but the six names; the reason does not quote `text`.
    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text).ok_or_else(|| Error::InvalidConfig {
            reason: "an sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full"
                .to_owned(),
        })
    }
}

/// The `sslmode` and `sslrootcert` one source sets (the config's methods, or the URL), each
/// possibly unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct SslSettings {
    pub(crate) mode: Option<PostgresSslMode>,
    pub(crate) root_cert: Option<PathBuf>,
}

impl SslSettings {
    /// Whether the URL parameter `key` (percent-decoded) is one of these settings.
    pub(crate) fn is_parameter(key: &str) -> bool {
        matches!(key, "sslmode" | "ssl-mode" | "sslrootcert" | "ssl-root-cert" | "ssl-ca")
    }

    /// Takes the URL parameter `key` with `value`, as sqlx would: the last one of a key wins.
    /// The reason, when `value` is no `sslmode`, names the key but not the value.
    pub(crate) fn set_parameter(&mut self, key: &str, value: &str) -> std::result::Result<(), String> {
        match key {
            "sslmode" | "ssl-mode" => match PostgresSslMode::parse(value) {
                Some(mode) => self.mode = Some(mode),
                None => {
                    return Err(format!(
                        "the value of the parameter {key:?} in the database URL is not valid"
                    ));
                }
            },
            _ => self.root_cert = Some(PathBuf::from(value)),
        }
        Ok(())
    }

    /// Each setting of `self`, else of `fallback`.
    pub(crate) fn or(&self, fallback: &Self) -> Self {
        Self {
            mode: self.mode.or(fallback.mode),
            root_cert: self.root_cert.clone().or_else(|| fallback.root_cert.clone()),
        }
    }
}

/// Where a setting came from, as a reason names it.
#[derive(Clone, Copy)]
enum Source {
    Config,
    Url,
    Environment,
}

/// The TLS settings a store's own pool connects with, resolved as libpq resolves them: the
/// config's methods, then the URL, then `PGSSLMODE` and `PGSSLROOTCERT`, then `prefer` without a
/// root certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tls {
    pub(crate) mode: PostgresSslMode,
    pub(crate) root_cert: Option<PathBuf>,
}

impl Tls {
    /// Resolves `config`'s settings over `url`'s over the environment `env` gives.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when `PGSSLMODE` is no mode, or the root certificate names no
    /// file that can be read. The reason says where the setting came from, and quotes no value.
    pub(crate) fn resolve(
        config: &SslSettings,
        url: &SslSettings,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self> {
        let mode = match (config.mode, url.mode, env("PGSSLMODE")) {
            (Some(mode), _, _) | (None, Some(mode), _) => mode,
            (None, None, Some(text)) => {
                text.to_str().and_then(PostgresSslMode::parse).ok_or_else(|| Error::InvalidConfig {
                    reason: "the environment variable PGSSLMODE is not one of disable, allow, prefer, \
                             require, verify-ca, verify-full"
                        .to_owned(),
                })?
            }
            (None, None, None) => PostgresSslMode::Prefer,
        };
        let root_cert = match (&config.root_cert, &url.root_cert, env("PGSSLROOTCERT")) {
            (Some(path), _, _) => Some((path.clone(), Source::Config)),
            (None, Some(path), _) => Some((path.clone(), Source::Url)),
            (None, None, Some(path)) => Some((PathBuf::from(path), Source::Environment)),
            (None, None, None) => None,
        };
        // Opened to be sure it can be read: sqlx would read it only when connecting, and report
        // an unreadable file as an I/O error, which looks retryable.
        let readable =
            |path: &PathBuf| File::open(path).and_then(|file| file.metadata()).is_ok_and(|m| m.is_file());
        if let Some((path, source)) = &root_cert
            && !readable(path)
        {
            let named_by = match source {
                Source::Config => "PostgresConfig::ssl_root_cert",
                Source::Url => "the parameter sslrootcert of the database URL",
                Source::Environment => "the environment variable PGSSLROOTCERT",
            };
            return Err(Error::InvalidConfig {
                reason: format!(
                    "the root certificate file named by {named_by} is not a file that can be read"
                ),
            });
        }
        Ok(Self { mode, root_cert: root_cert.map(|(path, _)| path) })
    }

    /// How to connect, in sqlx's modes: the one place a Pulse mode becomes sqlx's.
    ///
    /// Like libpq, every attempt that uses TLS checks the certificate chain when there is a
    /// root certificate: sqlx's `require` would not, its `verify-ca` does.
    pub(crate) fn attempts(&self) -> Attempts {
        use PgSslMode as Sqlx;
        use PostgresSslMode as Pulse;
        let (first, fallback) = match (self.mode, self.root_cert.is_some()) {
            (Pulse::Disable, _) => (Sqlx::Disable, None),
            (Pulse::Allow, false) => (Sqlx::Disable, Some(Sqlx::Require)),
            (Pulse::Allow, true) => (Sqlx::Disable, Some(Sqlx::VerifyCa)),
            // sqlx's `prefer` itself stays in plain text when the server offers no TLS.
            (Pulse::Prefer, false) => (Sqlx::Prefer, Some(Sqlx::Disable)),
            (Pulse::Prefer, true) => (Sqlx::VerifyCa, Some(Sqlx::Disable)),
            (Pulse::Require, false) => (Sqlx::Require, None),
            (Pulse::Require, true) | (Pulse::VerifyCa, _) => (Sqlx::VerifyCa, None),
            (Pulse::VerifyFull, _) => (Sqlx::VerifyFull, None),
        };
        Attempts { first, fallback }
    }

    /// `options` with these settings, connecting in the sqlx mode `mode` (one of
    /// [`Self::attempts`]). Settings sqlx took from the URL or the environment are overridden.
    pub(crate) fn apply(&self, options: PgConnectOptions, mode: PgSslMode) -> PgConnectOptions {
        let options = options.ssl_mode(mode);
        match &self.root_cert {
            Some(path) => options.ssl_root_cert(path),
            None => options,
        }
    }
}

/// The ways to connect of an [`PostgresSslMode`], in sqlx's modes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Attempts {
    /// How to connect first.
    pub(crate) first: PgSslMode,
    /// How to connect when the first way failed as [`may_fall_back`] says.
    pub(crate) fallback: Option<PgSslMode>,
}

/// Whether a connection attempt that failed with `error` may be followed by the next one: the
/// server refused it (`pg_hba.conf`, authentication), offers no TLS, or the TLS handshake failed.
/// An unreachable server is not a reason to try again in another mode.
pub(crate) fn may_fall_back(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(_) | sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => rustls_error(io).is_some(),
        _ => false,
    }
}

/// The TLS error inside `io`, if the handshake failed: rustls reports its failures as I/O errors
/// of kind `InvalidData` that carry its own error.
pub(crate) fn rustls_error(io: &std::io::Error) -> Option<&rustls::Error> {
    io.get_ref()?.downcast_ref::<rustls::Error>()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(mode: Option<PostgresSslMode>, root_cert: Option<&str>) -> SslSettings {
        SslSettings { mode, root_cert: root_cert.map(PathBuf::from) }
    }

    /// A file that exists, to stand for a root certificate.
    fn existing_file() -> String {
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml").to_owned()
    }

    fn resolve(config: &SslSettings, url: &SslSettings, env: &[(&str, &str)]) -> Result<Tls> {
        let env: HashMap<String, OsString> =
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).into())).collect();
        Tls::resolve(config, url, |name| env.get(name).cloned())
    }

    fn reason(result: Result<Tls>) -> String {
        match result {
            Err(Error::InvalidConfig { reason }) => reason,
            other => panic!("expected InvalidConfig, got {other:?}"),
        }
    }

    #[test]
    fn names_round_trip_in_any_letter_case() {
        for mode in PostgresSslMode::ALL {
            assert_eq!(mode.to_string().parse::<PostgresSslMode>().unwrap(), mode);
            assert_eq!(mode.as_str().to_ascii_uppercase().parse::<PostgresSslMode>().unwrap(), mode);
        }
        let error = "verify_full".parse::<PostgresSslMode>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid configuration: an sslmode must be one of disable, allow, prefer, require, verify-ca, \
             verify-full"
        );
    }

    #[test]
    fn the_config_wins_over_the_url_which_wins_over_the_environment() {
        let file = existing_file();
        let env = [("PGSSLMODE", "require"), ("PGSSLROOTCERT", "/nonexistent/env.pem")];
        let unset = SslSettings::default();
        let cases = [
            (unset.clone(), unset.clone(), &[][..], PostgresSslMode::Prefer, None),
            (
                unset.clone(),
                unset.clone(),
                &[("PGSSLMODE", "verify-ca"), ("PGSSLROOTCERT", &*file)][..],
                PostgresSslMode::VerifyCa,
                Some(&*file),
            ),
            (
                unset.clone(),
                settings(Some(PostgresSslMode::Disable), Some(&file)),
                &env[..],
                PostgresSslMode::Disable,
                Some(&*file),
            ),
            (
                settings(Some(PostgresSslMode::VerifyFull), Some(&file)),
                settings(Some(PostgresSslMode::Disable), Some("/nonexistent/url.pem")),
                &env[..],
                PostgresSslMode::VerifyFull,
                Some(&*file),
            ),
        ];
        for (config, url, env, mode, root_cert) in cases {
            let expected = Tls { mode, root_cert: root_cert.map(PathBuf::from) };
            assert_eq!(resolve(&config, &url, env).unwrap(), expected, "{config:?} {url:?} {env:?}");
        }
    }

    #[test]
    fn a_root_certificate_that_cannot_be_read_is_refused_naming_its_source_only() {
        let missing = "/nonexistent/SECRET-ca.pem";
        let directory = env!("CARGO_MANIFEST_DIR");
        let unset = SslSettings::default();
        let cases = [
            (settings(None, Some(missing)), unset.clone(), vec![], "PostgresConfig::ssl_root_cert"),
            (
                unset.clone(),
                settings(None, Some(directory)),
                vec![],
                "the parameter sslrootcert of the database URL",
            ),
            (
                unset.clone(),
                unset.clone(),
                vec![("PGSSLROOTCERT", missing)],
                "the environment variable PGSSLROOTCERT",
            ),
        ];
        for (config, url, env, named_by) in cases {
            assert_eq!(
                reason(resolve(&config, &url, &env)),
                format!("the root certificate file named by {named_by} is not a file that can be read")
            );
        }
        assert_eq!(
            reason(resolve(&unset, &unset, &[("PGSSLMODE", "SECRET")])),
            "the environment variable PGSSLMODE is not one of disable, allow, prefer, require, verify-ca, \
             verify-full"
        );
    }

    #[test]
    fn each_mode_maps_to_sqlx_attempts_as_libpq_behaves() {
        use PostgresSslMode as P;
        let file = existing_file();
        let cases = [
            (P::Disable, None, "Disable", None),
            (P::Disable, Some(&file), "Disable", None),
            (P::Allow, None, "Disable", Some("Require")),
            (P::Allow, Some(&file), "Disable", Some("VerifyCa")),
            (P::Prefer, None, "Prefer", Some("Disable")),
            (P::Prefer, Some(&file), "VerifyCa", Some("Disable")),
            (P::Require, None, "Require", None),
            (P::Require, Some(&file), "VerifyCa", None),
            (P::VerifyCa, None, "VerifyCa", None),
            (P::VerifyCa, Some(&file), "VerifyCa", None),
            (P::VerifyFull, None, "VerifyFull", None),
            (P::VerifyFull, Some(&file), "VerifyFull", None),
        ];
        for (mode, root_cert, first, fallback) in cases {
            let attempts = Tls { mode, root_cert: root_cert.map(PathBuf::from) }.attempts();
            // PgSslMode is not PartialEq: compare the names sqlx gives them.
            let names = (format!("{:?}", attempts.first), attempts.fallback.map(|m| format!("{m:?}")));
            assert_eq!(names, (first.to_owned(), fallback.map(str::to_owned)), "{mode} {root_cert:?}");
        }
    }

    #[test]
    fn falling_back_follows_refusals_and_tls_failures_only() {
        let tls_failure = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(may_fall_back(&sqlx::Error::Io(tls_failure)));
        assert!(may_fall_back(&sqlx::Error::Tls("server does not support TLS".into())));
        assert!(!may_fall_back(&sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into())));
        assert!(!may_fall_back(&sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "other"
        ))));
        assert!(!may_fall_back(&sqlx::Error::PoolTimedOut));
    }
}
