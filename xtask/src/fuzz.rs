//! `cargo xtask fuzz-api`: schemathesis against `pulse serve`, driven by the API's own OpenAPI
//! document.
//!
//! Builds `pulse` and the `fuzz_seed` example, makes a SQLite file in a directory of its own
//! (`pulse migrate apply`, then a few dozen entries and two replay requests), writes a tokens
//! file with one admin token, starts `pulse serve --listen 127.0.0.1:0 --public-health`, reads
//! the address it prints, and runs `schemathesis run` on `http://ADDRESS/openapi.json` with the
//! admin's bearer token. Then it stops the server with SIGTERM, expects exit code 0, and removes
//! the directory. Any schemathesis finding fails the task.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, run, section, target_dir};

/// The schemathesis release the options below are written for. `.ci/run` reads the version from
/// this line and installs it.
pub(crate) const SCHEMATHESIS_VERSION: &str = "4.32.5";

/// At most this many generated test cases per operation.
const MAX_EXAMPLES: &str = "100";

/// The generator's seed, so that a run is reproducible; pass `--seed N` to explore others.
const SEED: &str = "20260101";

/// What is checked in every response: no 5xx, and the status, content type, headers and body
/// that the document promises for it.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance";

/// How long `pulse serve` may take to print its address: a bound on a failure, not a wait.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The line `pulse serve` prints once it listens, before the address.
const LISTENING: &str = "pulse: listening on http://";

/// Server log lines shown when the run fails.
const LOG_TAIL: usize = 40;

pub(crate) fn fuzz_api(extra: &[OsString]) -> Result<()> {
    let started = Instant::now();
    ensure_schemathesis()?;
    section("cargo build -p pulse-cli --bin pulse --example fuzz_seed");
    run(cargo().args(["build", "--package", "pulse-cli", "--bin", "pulse", "--example", "fuzz_seed"]))?;
    let debug = target_dir().join("debug");
    let pulse = debug.join("pulse");

    let scratch = Scratch::new()?;
    let db = scratch.0.join("pulse.db");
    section("seed a SQLite file");
    run(Command::new(&pulse).arg("--db").arg(&db).args(["migrate", "apply"]))?;
    run(Command::new(debug.join("examples").join("fuzz_seed")).arg(&db))?;
    let token = random_token()?;
    let tokens = scratch.0.join("tokens.json");
    let hash = token_hash(&pulse, &token)?;
    fs::write(
        &tokens,
        format!(
            r#"{{ "tokens": [ {{ "sha256": "{hash}", "role": "admin", "tenant": null, "actor": "schemathesis" }} ] }}"#
        ),
    )?;

    section("pulse serve");
    let server = Server::start(&pulse, &db, &tokens)?;
    section("schemathesis run");
    let fuzzed = schemathesis(&server.address, &token, &scratch.0, extra);
    let (stopped, log) = server.stop();
    if fuzzed.is_err() || stopped.is_err() {
        eprintln!("xtask: the last lines `pulse serve` logged:");
        for line in log.iter().skip(log.len().saturating_sub(LOG_TAIL)) {
            eprintln!("  {line}");
        }
    }
    fuzzed?;
    stopped?;
    eprintln!("xtask: fuzz-api passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Schemathesis must be the version the options are written for.
fn ensure_schemathesis() -> Result<()> {
    let output = Command::new("python3")
        .args(["-c", "import schemathesis; print(schemathesis.__version__)"])
        .output()
        .context("could not run python3")?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if !output.status.success() || version != SCHEMATHESIS_VERSION {
        bail!(
            "schemathesis {SCHEMATHESIS_VERSION} is needed (found {}); install it with \
             `python3 -m pip install schemathesis=={SCHEMATHESIS_VERSION}`",
            if version.is_empty() { "none" } else { &version }
        );
    }
    Ok(())
}

/// A directory for the run's files, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self> {
        let dir = env::temp_dir().join(format!("pulse-fuzz-api-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("removing a leftover {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(error) = fs::remove_dir_all(&self.0) {
            eprintln!("xtask: could not remove {}: {error}", self.0.display());
        }
    }
}

/// 32 random hex digits from the operating system.
fn random_token() -> Result<String> {
    let mut bytes = [0_u8; 16];
    fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// The token's hash, as `pulse token hash` prints it.
fn token_hash(pulse: &Path, token: &str) -> Result<String> {
    use std::io::Write as _;
    let mut child = Command::new(pulse)
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("could not start `pulse token hash`")?;
    child.stdin.take().context("a stdin")?.write_all(token.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("`pulse token hash` failed ({})", output.status);
    }
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// A running `pulse serve` and the thread collecting what it logs.
struct Server {
    child: Child,
    address: String,
    log: JoinHandle<Vec<String>>,
}

impl Server {
    fn start(pulse: &Path, db: &Path, tokens: &Path) -> Result<Self> {
        let mut child = Command::new(pulse)
            .arg("--db")
            .arg(db)
            .args(["serve", "--listen", "127.0.0.1:0", "--public-health", "--tokens"])
            .arg(tokens)
            .env_remove("PULSE_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("could not start `pulse serve`")?;
        let stderr = child.stderr.take().context("a stderr")?;
        let (bound, address) = mpsc::channel();
        // Reads to the end, so that the server never blocks on a full pipe.
        let log = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.strip_prefix(LISTENING) {
                    let _ = bound.send(at.to_owned());
                }
                lines.push(line);
            }
            lines
        });
        match address.recv_timeout(START_TIMEOUT) {
            Ok(address) => {
                eprintln!("xtask: pulse serve listens on {address}");
                Ok(Self { child, address, log })
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                let log = log.join().unwrap_or_default();
                bail!("`pulse serve` printed no address ({status}); it logged:\n  {}", log.join("\n  "));
            }
        }
    }

    /// SIGTERM, then the exit status, which must be 0, and the log.
    fn stop(mut self) -> (Result<()>, Vec<String>) {
        let stopped = (|| {
            let pid = self.child.id().to_string();
            // The shell's own `kill`: a `kill` program is not on every machine.
            let killed = Command::new("sh")
                .args(["-c", r#"kill -TERM "$1""#, "sh", &pid])
                .status()
                .context("could not run sh")?;
            if !killed.success() {
                bail!("`kill -TERM {pid}` failed ({killed})");
            }
            let status = self.child.wait()?;
            if !status.success() {
                bail!("`pulse serve` did not stop cleanly on SIGTERM ({status})");
            }
            Ok(())
        })();
        (stopped, self.log.join().unwrap_or_default())
    }
}

/// Runs schemathesis on the server's document, as the admin; `extra` goes last, so it can add
/// or override options.
fn schemathesis(address: &str, token: &str, scratch: &Path, extra: &[OsString]) -> Result<()> {
    let mut command = Command::new("python3");
    command
        .args(["-m", "schemathesis.cli", "run", &format!("http://{address}/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--checks", CHECKS, "--max-examples", MAX_EXAMPLES, "--seed", SEED])
        .args(["--workers", "2", "--generation-database", "none", "--no-color"])
        .args(extra)
        // Anything it writes stays in the run's directory.
        .current_dir(scratch);
    // Shown without the token.
    eprintln!(
        "xtask: running schemathesis run http://{address}/openapi.json --header 'Authorization: Bearer ***' \
         --checks {CHECKS} --max-examples {MAX_EXAMPLES} --seed {SEED} --workers 2 --generation-database none {}",
        extra.iter().map(|arg| arg.to_string_lossy()).collect::<Vec<_>>().join(" ")
    );
    let status = command.status().context("could not start schemathesis")?;
    if !status.success() {
        bail!("schemathesis found problems ({status}); see its report above");
    }
    Ok(())
}
