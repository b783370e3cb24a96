//! TLS against a server of the tests' own (not the one `PULSE_TEST_DATABASE_URL` names): each
//! `sslmode`, with the right CA, an unrelated CA and none, against a certificate for `localhost`
//! only, and `pg_hba.conf` rules that demand TLS of one role and refuse it to another.

mod server;

use std::time::Duration;

use pulse_extensibility::{DeadLetterBackend, Error, Scope};
use pulse_store_postgres::{PostgresConfig, PostgresSslMode, PostgresStore};
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{Connection, PgConnection};

use crate::common::unique_name;
use crate::store::full_entry;
use server::{PASSWORD, PLAIN_USER, TLS_USER, TlsServer};

/// Which CA a case trusts.
#[derive(Clone, Copy, Debug)]
enum Root {
    /// None given: only the roots built in.
    None,
    /// The CA that signed the server's certificate.
    Ca,
    /// A CA that signed nothing the server presents.
    OtherCa,
}

/// How opening a store went.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// Opened; the server says whether the store's connection is encrypted.
    Connected { encrypted: bool },
    /// Refused with [`Error::InvalidConfig`], for this reason.
    InvalidConfig(String),
    /// Any other error, shown in full.
    Other(String),
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

/// A connection of the test's own, over TLS with the server's CA, to look at the server.
async fn admin(server: &TlsServer) -> PgConnection {
    let options = PgConnectOptions::new_without_pgpass()
        .host("localhost")
        .port(server.port())
        .username(TLS_USER)
        .password(PASSWORD)
        .database("postgres")
        .ssl_mode(PgSslMode::VerifyFull)
        .ssl_root_cert(&server.ca);
    PgConnection::connect_with(&options).await.expect("connect to the TLS test server")
}

/// Whether each connection named `application_name` is encrypted, as the server sees it.
async fn encrypted(server: &TlsServer, application_name: &str) -> Vec<bool> {
    let mut admin = admin(server).await;
    let encrypted = sqlx::query_scalar(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = $1",
    )
    .bind(application_name)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    admin.close().await.unwrap();
    encrypted
}

/// Opens a store on `server` as `user`, connecting to `host`, with `sslmode` and `sslrootcert`
/// in the URL, and says how it went. No error may show the password.
async fn open(
    server: &TlsServer,
    user: &str,
    host: &str,
    mode: Option<PostgresSslMode>,
    root: Root,
) -> Outcome {
    let application_name = unique_name("pulse_tls");
    let mut url = format!(
        "postgres://{user}:{PASSWORD}@{host}:{}/postgres?application_name={application_name}",
        server.port()
    );
    if let Some(mode) = mode {
        url += &format!("&sslmode={mode}");
    }
    match root {
        Root::None => {}
        Root::Ca => url += &format!("&sslrootcert={}", server.ca.display()),
        Root::OtherCa => url += &format!("&sslrootcert={}", server.other_ca.display()),
    }
    let config = PostgresConfig::from_url(url).max_connections(1).acquire_timeout(Duration::from_secs(30));
    match PostgresStore::open(config).await {
        Ok(store) => {
            let encrypted = encrypted(server, &application_name).await;
            store.close().await;
            match encrypted[..] {
                [encrypted] => Outcome::Connected { encrypted },
                _ => Outcome::Other(format!("the store holds {} connections, not 1", encrypted.len())),
            }
        }
        Err(error) => {
            for text in texts(&error) {
                assert!(!text.contains(PASSWORD), "{text}");
            }
            match error {
                Error::InvalidConfig { reason } => Outcome::InvalidConfig(reason),
                other => Outcome::Other(format!("{other:?}")),
            }
        }
    }
}

const UNKNOWN_ISSUER: &str =
    "connect: the server's certificate does not verify: invalid peer certificate: UnknownIssuer";

fn no_rule_for(user: &str, encryption: &str) -> Outcome {
    Outcome::InvalidConfig(format!(
        "connect: the server refused the connection: no pg_hba.conf entry for host \"127.0.0.1\", user \
         \"{user}\", database \"postgres\", {encryption}"
    ))
}

#[tokio::test]
async fn each_sslmode_connects_verifies_and_falls_back_as_libpq_does() {
    for name in ["PGSSLMODE", "PGSSLROOTCERT"] {
        assert!(
            std::env::var_os(name).is_none(),
            "unset {name}: this test checks what an unset sslmode does"
        );
    }
    use Outcome::{Connected, InvalidConfig};
    use PostgresSslMode::{Allow, Disable, Prefer, Require, VerifyCa, VerifyFull};
    let encrypted = Connected { encrypted: true };
    let plain = Connected { encrypted: false };
    let wrong_name = InvalidConfig(
        "connect: the server's certificate does not verify: invalid peer certificate: certificate not valid \
         for name \"127.0.0.1\"; certificate is only valid for DnsName(\"localhost\")"
            .to_owned(),
    );
    let cases = [
        (TLS_USER, "localhost", Some(VerifyFull), Root::Ca, encrypted.clone()),
        (TLS_USER, "localhost", Some(VerifyFull), Root::OtherCa, InvalidConfig(UNKNOWN_ISSUER.to_owned())),
        // Without sslrootcert only the built-in roots are trusted, and they do not include a test CA.
        (TLS_USER, "localhost", Some(VerifyFull), Root::None, InvalidConfig(UNKNOWN_ISSUER.to_owned())),
        (TLS_USER, "127.0.0.1", Some(VerifyFull), Root::Ca, wrong_name),
        (TLS_USER, "127.0.0.1", Some(VerifyCa), Root::Ca, encrypted.clone()),
        (TLS_USER, "localhost", Some(VerifyCa), Root::OtherCa, InvalidConfig(UNKNOWN_ISSUER.to_owned())),
        (TLS_USER, "localhost", Some(Require), Root::None, encrypted.clone()),
        // As in libpq, a root certificate makes `require` check the chain.
        (TLS_USER, "localhost", Some(Require), Root::OtherCa, InvalidConfig(UNKNOWN_ISSUER.to_owned())),
        (PLAIN_USER, "localhost", Some(Require), Root::None, no_rule_for(PLAIN_USER, "SSL encryption")),
        (TLS_USER, "localhost", None, Root::None, encrypted.clone()),
        (TLS_USER, "localhost", Some(Prefer), Root::Ca, encrypted.clone()),
        // The server refuses TLS to this role: `prefer` tries again in plain text.
        (PLAIN_USER, "localhost", None, Root::None, plain.clone()),
        // The certificate does not verify: `prefer` tries again in plain text.
        (PLAIN_USER, "localhost", Some(Prefer), Root::OtherCa, plain.clone()),
        // The server refuses plain text to this role: `allow` tries again with TLS.
        (TLS_USER, "localhost", Some(Allow), Root::None, encrypted.clone()),
        (TLS_USER, "localhost", Some(Allow), Root::OtherCa, InvalidConfig(UNKNOWN_ISSUER.to_owned())),
        (PLAIN_USER, "localhost", Some(Allow), Root::None, plain.clone()),
        (TLS_USER, "localhost", Some(Disable), Root::None, no_rule_for(TLS_USER, "no encryption")),
        (PLAIN_USER, "localhost", Some(Disable), Root::None, plain),
    ];
    let server = TlsServer::shared();
    let mut outcomes = Vec::new();
    let mut expected = Vec::new();
    for (user, host, mode, root, outcome) in cases {
        let case = format!("{user}@{host} sslmode={mode:?} sslrootcert={root:?}");
        outcomes.push((case.clone(), open(&server, user, host, mode, root).await));
        expected.push((case, outcome));
    }
    assert_eq!(outcomes, expected);
}

#[tokio::test]
async fn a_store_on_verify_full_round_trips_an_entry_over_an_encrypted_connection() {
    let server = TlsServer::shared();
    let application_name = unique_name("pulse_tls_round_trip");
    let url = format!(
        "postgres://{TLS_USER}:{PASSWORD}@localhost:{}/postgres?application_name={application_name}",
        server.port()
    );
    let config = PostgresConfig::from_url(url)
        .ssl_mode(PostgresSslMode::VerifyFull)
        .ssl_root_cert(&server.ca)
        .max_connections(1);
    let store = PostgresStore::open(config).await.unwrap();
    let entry = full_entry(1_767_225_600_123_457);
    store.insert(vec![entry.clone()]).await.unwrap();
    assert_eq!(store.get(&Scope::AllTenants, entry.id).await.unwrap(), Some(entry));
    assert_eq!(encrypted(&server, &application_name).await, vec![true]);
    store.close().await;

    // A connection made the same way asks the server about itself.
    let mut admin = admin(&server).await;
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&mut admin)
        .await
        .unwrap();
    assert!(ssl);
    admin.close().await.unwrap();
}
