//! Project automation for Pulse, run as `cargo xtask <task>` (see `cargo xtask help`).
//!
//! Plain std + anyhow on purpose: the tasks are sequences of `cargo` commands, plus an ephemeral
//! Postgres cluster for the tests (see [`pg`]) and the browser tests' tools (see [`browser`]).

mod browser;
mod fuzz;
mod mutants;
mod pg;

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task> [args]

tasks:
  test [ARGS...]  every test of the workspace but the benchmark's (`bench` runs those):
                  `cargo test --workspace --exclude pulse-bench --all-targets`, then the doc
                  tests. PostgreSQL comes from $PULSE_TEST_DATABASE_URL when set, otherwise
                  from a throwaway cluster started (and removed) for the run. ARGS are passed to
                  both `cargo test` runs, e.g. `cargo xtask test -- --nocapture`.
                  The browser tests (pulse-http's `browser` target) drive headless Chromium
                  through chromedriver, which must be installed (apt-get install chromium
                  chromium-driver; $PULSE_TEST_CHROMIUM and $PULSE_TEST_CHROMEDRIVER override
                  where they are looked for), and check pages with axe-core, which is installed
                  with npm into target/browser-tools/ when missing and passed to them as
                  $PULSE_TEST_AXE_JS. Their screenshots go to target/screenshots/, or to
                  $PULSE_TEST_SCREENSHOTS (`PULSE_TEST_SCREENSHOTS=docs/images` refreshes the
                  documentation's images).
  fuzz-api [-- ARGS...]
                  schemathesis against `pulse serve` on a seeded SQLite file, from the API's own
                  OpenAPI document: no 5xx, and every response as documented. Needs python3 with
                  schemathesis (the version `.ci/run` installs). ARGS go to `schemathesis run`,
                  e.g. `cargo xtask fuzz-api -- --seed 7 --max-examples 100`
  lint            `cargo fmt --all -- --check`, then clippy with warnings denied
  doc             `cargo doc --workspace --no-deps` with warnings denied
  deny            `cargo deny check bans licenses sources` (needs cargo-deny)
  ci              lint, test, fuzz-api, doc, deny, bench --quick: everything CI checks, in that
                  order
  bench [--quick] the benchmark's own tests, then the benchmarks (`crates/pulse-bench`, both in
                  release mode) against the same PostgreSQL as the tests, with the release-built `pulse` binary and `wrk` (apt-get install
                  wrk); writes docs/benchmarks.md and target/bench/report.json, or with --quick a
                  small smoke run into target/bench/ only
  mutants [--list] [NAME...]
                  how much the conformance suite checks: applies each mutant of the catalogue
                  (xtask/src/mutants/catalogue.rs, a small realistic bug in a store or in the
                  shared layer) to a copy of the workspace in target/mutants/, runs the conformance
                  cases of the backend it belongs to, and reports which cases caught it, in a
                  table and in target/mutants/report.md. Fails when a mutant is not caught, does
                  not compile, or is stale (its text no longer occurs exactly once). NAMEs run
                  only those mutants; --list prints the catalogue. Not part of `ci`: a full run
                  takes a long while
  help            this message";

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1);
    let task = args.next().map(|task| task.to_string_lossy().into_owned());
    let rest: Vec<OsString> = args.collect();

    let result = match task.as_deref() {
        Some("test") => test(&rest),
        Some("fuzz-api") => fuzz::fuzz_api(rest.strip_prefix(&[OsString::from("--")][..]).unwrap_or(&rest)),
        Some("lint") => no_args("lint", &rest).and_then(|()| lint()),
        Some("doc") => no_args("doc", &rest).and_then(|()| doc()),
        Some("deny") => no_args("deny", &rest).and_then(|()| deny()),
        Some("ci") => no_args("ci", &rest).and_then(|()| ci()),
        Some("bench") => bench(&rest),
        Some("mutants") => mutants::mutants(&rest),
        // Hidden: start the throwaway cluster, run one query against it, stop it.
        Some("pg-smoke") => no_args("pg-smoke", &rest).and_then(|()| pg_smoke()),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown task `{other}`\n\n{USAGE}")),
        None => Err(anyhow::anyhow!("no task given\n\n{USAGE}")),
    };

    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn no_args(task: &str, rest: &[OsString]) -> Result<()> {
    if rest.is_empty() { Ok(()) } else { bail!("`cargo xtask {task}` takes no arguments, got {rest:?}") }
}

/// Everything CI checks. `.ci/run` calls the same steps one by one, in the same order.
fn ci() -> Result<()> {
    lint()?;
    test(&[])?;
    fuzz::fuzz_api(&[])?;
    doc()?;
    deny()?;
    bench(&[OsString::from("--quick")])
}

fn lint() -> Result<()> {
    section("cargo fmt --check");
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    section("cargo clippy");
    run(cargo().args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))
}

/// The environment that points a command at a PostgreSQL server.
type DatabaseEnv = Vec<(&'static str, String)>;

/// Runs `work` with a PostgreSQL server: `$PULSE_TEST_DATABASE_URL` when set, otherwise a
/// throwaway cluster that is stopped and removed however `work` ends. `work` gets the
/// environment to pass on: the URL, and for a throwaway cluster what restarts it.
fn with_database(work: impl FnOnce(&DatabaseEnv) -> Result<()>) -> Result<()> {
    match env::var(pg::URL_VAR) {
        Ok(url) if !url.trim().is_empty() => {
            eprintln!("xtask: using the PostgreSQL server given by ${}", pg::URL_VAR);
            work(&vec![(pg::URL_VAR, url)])
        }
        _ => {
            let cluster = pg::Cluster::start(&target_dir())?;
            let mut database = cluster.restart_env();
            database.push((pg::URL_VAR, cluster.url()));
            work(&database)
        }
    }
}

/// The variable that tells the benchmark where the `pulse` binary is.
const BENCH_CLI_VAR: &str = "PULSE_BENCH_CLI";

/// Runs the benchmark's own tests, then builds the benchmark and the `pulse` command line it runs
/// in one release build (the tests in release too, so all three share their dependencies'
/// builds), then runs the benchmark with the binary's path.
fn bench(extra: &[OsString]) -> Result<()> {
    section("cargo test --release -p pulse-bench");
    run(cargo().args(["test", "--release", "--package", "pulse-bench"]))?;
    section("cargo build --release -p pulse-bench -p pulse-cli");
    run(cargo().args(["build", "--release", "--package", "pulse-bench", "--package", "pulse-cli"]))?;
    let release = target_dir().join("release");
    section("pulse-bench");
    with_database(|database| {
        run(Command::new(release.join("pulse-bench"))
            .args(extra)
            .current_dir(workspace_root())
            .env(BENCH_CLI_VAR, release.join("pulse"))
            .envs(database.iter().cloned()))
    })
}

fn test(extra: &[OsString]) -> Result<()> {
    section("browser tools");
    let browser = browser::prepare(&target_dir())?;
    section("cargo test");
    with_database(|database| run_tests(database, &browser, extra))
}

fn run_tests(database: &DatabaseEnv, browser: &[(&str, String)], extra: &[OsString]) -> Result<()> {
    // Both runs go ahead even when the first fails, so one report shows every failure.
    let mut failures = Vec::new();
    for kind in ["--all-targets", "--doc"] {
        let mut cmd = cargo();
        // The benchmark's tests run with the benchmark, in release mode (see `bench`): here they
        // would cost a debug build of the benchmark that nothing else in this run needs.
        cmd.args(["test", "--workspace", "--exclude", "pulse-bench", kind, "--no-fail-fast"])
            .args(extra)
            .envs(database.iter().cloned())
            .envs(browser.iter().cloned());
        if let Err(err) = run(&mut cmd) {
            failures.push(format!("{err:#}"));
        }
    }
    if !failures.is_empty() {
        bail!("tests failed:\n  {}", failures.join("\n  "));
    }
    Ok(())
}

fn doc() -> Result<()> {
    section("cargo doc");
    run(cargo().args(["doc", "--workspace", "--no-deps"]).env("RUSTDOCFLAGS", "-D warnings"))
}

fn deny() -> Result<()> {
    section("cargo deny");
    let installed = cargo().args(["deny", "--version"]).output().is_ok_and(|out| out.status.success());
    if !installed {
        bail!("cargo-deny is not installed; install it with `cargo install cargo-deny --locked`");
    }
    run(cargo().args(["deny", "check", "bans", "licenses", "sources"]))
}

fn pg_smoke() -> Result<()> {
    let cluster = pg::Cluster::start(&target_dir())?;
    run(Command::new(cluster.tool("psql")).arg(cluster.url()).args(["-c", "select 1"]))
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives inside the workspace")
}

/// Cargo's target directory, honouring `CARGO_TARGET_DIR`.
fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// The cargo that runs this xtask (same toolchain), in the workspace root.
fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn section(title: &str) {
    eprintln!("\n==== {title} ====");
}

/// Runs a command with inherited stdio; an error if it cannot start or exits unsuccessfully.
fn run(cmd: &mut Command) -> Result<()> {
    let shown = show(cmd);
    eprintln!("xtask: running {shown}");
    let status = cmd.status().with_context(|| format!("could not start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// A command as one line for messages. The database URL is left out: it may hold a password.
fn show(cmd: &Command) -> String {
    let mut parts = Vec::new();
    for (key, value) in cmd.get_envs() {
        if key != pg::URL_VAR
            && let Some(value) = value
        {
            parts.push(format!("{}={}", key.to_string_lossy(), value.to_string_lossy()));
        }
    }
    let program = Path::new(cmd.get_program());
    parts.push(program.file_name().unwrap_or(program.as_os_str()).to_string_lossy().into_owned());
    parts.extend(cmd.get_args().map(|arg| arg.to_string_lossy().into_owned()));
    parts.join(" ")
}
