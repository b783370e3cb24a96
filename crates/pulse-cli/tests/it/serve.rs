//! `pulse serve` and `pulse token hash`: the built binary on a SQLite file made by
//! `pulse migrate apply`, real HTTP with tokens from a tokens file, and SIGTERM ending it with
//! exit code 0.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use pulse::{DeadLetterId, DeadLetters, Failure, NewDeadLetter, SqliteConfig, SqliteStore, TenantId};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The tokens of the tokens file, by holder.
const ANA: &str = "ana-admin-token";
const OLGA: &str = "olga-acme-operator-token";
const VIC: &str = "vic-acme-viewer-token";

/// The line `pulse serve` prints once it listens, before the address.
const LISTENING: &str = "pulse: listening on http://";

/// How long the server may take to start: a bound on a failure, not a wait.
const START_TIMEOUT: Duration = Duration::from_secs(60);

fn pulse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pulse"));
    // The store is the test's SQLite file, whatever the environment says.
    command.env_remove("PULSE_DATABASE_URL").env_remove("PULSE_TOKENS").env_remove("PULSE_ACTOR");
    command
}

/// Runs `pulse` with `args` and `stdin`, to completion.
fn run(args: &[&str], stdin: &str) -> Output {
    let mut child = pulse()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pulse");
    child.stdin.take().expect("a stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("pulse runs")
}

/// A migrated SQLite file in a fresh directory, with two entries of tenant `acme` and one of
/// `globex`, and a tokens file for an admin, an `acme` operator and an `acme` viewer.
struct Store {
    directory: tempfile::TempDir,
    entries: Vec<DeadLetterId>,
}

impl Store {
    async fn new() -> Self {
        let directory = tempfile::tempdir().expect("a temporary directory");
        let db = directory.path().join("pulse.db");
        let migrated = run(&["--db", db.to_str().unwrap(), "migrate", "apply"], "");
        assert!(migrated.status.success(), "{migrated:?}");

        let store =
            SqliteStore::open(SqliteConfig::new(&db).run_migrations(false)).await.expect("open the file");
        let dead_letters = DeadLetters::new(std::sync::Arc::new(store.clone()));
        let mut entries = Vec::new();
        for (tenant, command_type) in
            [("acme", "orders.create"), ("acme", "orders.create"), ("globex", "invoices.send")]
        {
            let input = NewDeadLetter::new(
                command_type,
                r#"{"order_id":42}"#,
                Failure::new("TimeoutError", "timed out"),
            )
            .tenant(TenantId::new(tenant).unwrap());
            entries.push(dead_letters.store(input).await.expect("store an entry").id);
        }
        drop(dead_letters);
        store.close().await;

        let hash = |token: &str| pulse_http::TokenAuthorizer::hash(token);
        let tokens = json!({ "tokens": [
            { "sha256": hash(ANA), "role": "admin", "tenant": null, "actor": "ana" },
            { "sha256": hash(OLGA), "role": "operator", "tenant": "acme", "actor": "olga" },
            { "sha256": hash(VIC), "role": "viewer", "tenant": "acme", "actor": "vic" },
        ] });
        std::fs::write(directory.path().join("tokens.json"), tokens.to_string())
            .expect("write the tokens file");
        Self { directory, entries }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.directory.path().join(name)
    }
}

/// A running `pulse serve`, and the thread reading its stderr.
struct Served {
    child: Child,
    base: String,
    stderr: JoinHandle<Vec<String>>,
}

impl Served {
    /// Starts `pulse serve` on `db` with `tokens` and `extra` flags, and reads its stderr until
    /// the address shows.
    fn start(db: &Path, tokens: &Path, extra: &[&str]) -> Self {
        let mut child = pulse()
            .args(["--db", db.to_str().unwrap(), "serve", "--listen", "127.0.0.1:0", "--tokens"])
            .arg(tokens)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pulse serve");
        let (address, bound) = mpsc::channel();
        let stderr = child.stderr.take().expect("a stderr");
        // Reads every line to the end, so the server never blocks on a full pipe.
        let stderr = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines() {
                let line = line.expect("UTF-8 on stderr");
                if let Some(at) = line.strip_prefix(LISTENING) {
                    let _ = address.send(at.to_owned());
                }
                lines.push(line);
            }
            lines
        });
        match bound.recv_timeout(START_TIMEOUT) {
            Ok(at) => Self { child, base: format!("http://{at}"), stderr },
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!("pulse serve printed no address ({status:?}); stderr: {:?}", stderr.join());
            }
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new().request(method, format!("{}/{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body)).await
    }

    /// Sends SIGTERM and waits for the process and its stderr.
    fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        // The shell's own `kill`: a `kill` program is not on every machine.
        let pid = self.child.id().to_string();
        let killed =
            Command::new("sh").args(["-c", r#"kill -TERM "$1""#, "sh", &pid]).status().expect("run sh");
        assert!(killed.success(), "kill -TERM {pid} failed: {killed}");
        let status = self.child.wait().expect("pulse serve ends");
        (status, self.stderr.join().expect("the stderr reader"))
    }
}

/// The whole life of a server: public health, tenants, roles, a dismissal and a request
/// recorded under their tokens' actors, metrics, then SIGTERM and exit code 0.
#[tokio::test]
async fn serve_answers_over_http_and_stops_on_sigterm() {
    let store = Store::new().await;
    let [first, second, _globex] = store.entries[..] else { panic!("three entries") };
    let served = Served::start(&store.path("pulse.db"), &store.path("tokens.json"), &["--public-health"]);

    let (status, mut health) = served.get("health", None).await;
    // The age goes with the system clock: a number, then left out of the comparison.
    let age = health.as_object_mut().unwrap().remove("oldest_unresolved_age_seconds");
    assert!(age.as_ref().is_some_and(Value::is_f64), "{age:?}");
    assert_eq!(
        (status, health),
        (
            StatusCode::OK,
            json!({
                "status": "healthy",
                "unresolved": 3,
                "oldest_replay_wait_seconds": null,
                "breaches": [],
                "error": null,
            })
        )
    );
    let (status, body) = served.get("stats", None).await;
    assert_eq!((status, &body["kind"]), (StatusCode::UNAUTHORIZED, &json!("unauthenticated")));
    let stats = |new: u64, dismissed: u64| json!({ "new": new, "replaying": 0, "resolved": 0, "dismissed": dismissed, "total": new + dismissed });
    assert_eq!(served.get("stats", Some(VIC)).await, (StatusCode::OK, stats(2, 0)));
    assert_eq!(served.get("stats", Some(ANA)).await, (StatusCode::OK, stats(3, 0)));

    let (status, dismissed) =
        served.post(&format!("entries/{first}/dismiss"), OLGA, json!({ "note": "duplicate" })).await;
    assert_eq!(
        (status, &dismissed["status"], &dismissed["note"], &dismissed["changed_by"]),
        (StatusCode::OK, &json!("dismissed"), &json!("duplicate"), &json!("olga"))
    );
    assert_eq!(served.get(&format!("entries/{first}"), Some(VIC)).await, (StatusCode::OK, dismissed));
    let (status, body) = served.post(&format!("entries/{first}/dismiss"), VIC, json!({})).await;
    assert_eq!((status, &body["kind"]), (StatusCode::FORBIDDEN, &json!("forbidden")));

    let (status, request) =
        served.post("requests", OLGA, json!({ "entry": second.to_string(), "per_second": 5 })).await;
    assert_eq!(status, StatusCode::CREATED, "{request}");
    assert_eq!(
        request,
        json!({
            "id": request["id"],
            "tenant": "acme",
            "selection": format!("entry {second}"),
            "requested_by": "olga",
            "requested_at": request["requested_at"],
            "note": null,
            "per_second": 5,
            "requested": 1,
            "cancelled_at": null,
            "cancelled_by": null,
            "cancelled": 0,
        })
    );
    let id = request["id"].as_str().unwrap();
    assert_eq!(
        served.get(&format!("requests/{id}"), Some(VIC)).await,
        (
            StatusCode::OK,
            json!({
                "request": request,
                "remaining": 1,
                "claimed": 0,
                "replayed": 0,
                "failed": 0,
                "cancelled": 0,
                "other": 0,
                "done": false,
            })
        )
    );
    assert_eq!(served.get("count?replay_pending=true", Some(VIC)).await, (StatusCode::OK, stats(1, 0)));

    let (status, metrics) = served.get("metrics", Some(ANA)).await;
    let metrics = metrics.as_str().expect("the text format").to_owned();
    assert_eq!(status, StatusCode::OK);
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with(pulse::metrics::DISMISSED) && line.contains(r#"tenant="acme""#)),
        "{metrics}"
    );
    let (status, body) = served.get("metrics", Some(OLGA)).await;
    assert_eq!((status, &body["kind"]), (StatusCode::FORBIDDEN, &json!("forbidden")));

    let (status, stderr) = served.terminate();
    assert_eq!(status.code(), Some(0), "{stderr:#?}");
    assert_eq!(stderr.last().map(String::as_str), Some("pulse: stopped"), "{stderr:#?}");
    let audited = |action: &str| {
        stderr.iter().any(|line| {
            line.contains("pulse::audit")
                && line.contains("olga")
                && line.contains(&format!("action=\"{action}\""))
        })
    };
    assert!(audited("dismiss") && audited("request_replay"), "{stderr:#?}");
}

/// A tokens file with a mistake, or none, stops `pulse serve` before it listens, saying what
/// is wrong; the exit code is 2 for a bad file and 3 for a missing one.
#[tokio::test]
async fn a_bad_tokens_file_stops_serve_before_it_listens() {
    let store = Store::new().await;
    let db = store.path("pulse.db");
    let serve = |tokens: &Path| {
        let output = run(
            &[
                "--db",
                db.to_str().unwrap(),
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--tokens",
                tokens.to_str().unwrap(),
            ],
            "",
        );
        (output.status.code(), String::from_utf8(output.stderr).unwrap())
    };
    let bad = store.path("bad.json");
    let hash = pulse_http::TokenAuthorizer::hash(VIC);
    std::fs::write(
        &bad,
        json!({ "tokens": [{ "sha256": hash, "role": "viewer", "actor": "vic" }] }).to_string(),
    )
    .unwrap();
    assert_eq!(
        serve(&bad),
        (
            Some(2),
            format!(
                "error: the tokens file {}: token 1 (vic): vic has the viewer role and no tenant; only an admin may \
                 work across tenants\n",
                bad.display()
            )
        )
    );
    std::fs::write(
        &bad,
        json!({ "tokens": [{ "token": VIC, "role": "admin", "actor": "vic" }] }).to_string(),
    )
    .unwrap();
    let (code, stderr) = serve(&bad);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("unknown field `token`, expected one of `sha256`, `role`, `tenant`, `actor`"),
        "{stderr}"
    );
    let (code, stderr) = serve(&store.path("nowhere.json"));
    assert_eq!(code, Some(3));
    assert!(
        stderr.starts_with(&format!("error: no tokens file at {}", store.path("nowhere.json").display())),
        "{stderr}"
    );
}

/// `pulse token hash` prints the SHA-256 of the token on stdin, as the tokens file wants it.
#[test]
fn token_hash_prints_the_sha256_of_stdin() {
    let hash = "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0";
    let output = run(&["token", "hash"], "s3cret\n");
    assert_eq!(
        (output.status.code(), String::from_utf8(output.stdout).unwrap()),
        (Some(0), format!("{hash}\n"))
    );
    let output = run(&["token", "hash", "--json"], "s3cret");
    let document: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document, json!({ "sha256": hash }));
    let output = run(&["token", "hash"], "\n");
    assert_eq!(
        (output.status.code(), String::from_utf8(output.stderr).unwrap()),
        (Some(2), "error: no token on stdin: `echo \"$TOKEN\" | pulse token hash`\n".to_owned())
    );
}
