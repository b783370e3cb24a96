//! `cargo xtask mutants`: how much the conformance suite checks, measured by the bugs it catches.
//!
//! Each mutant of the [`catalogue`] is one small, realistic bug in a backend or in the shared
//! layer. The runner copies the workspace into `target/mutants/workspace` (see [`scratch`]),
//! checks that the unmutated suite passes there, then applies each mutant in turn, runs the
//! conformance cases of the backend it belongs to, and puts the file back. A mutant is caught
//! when at least one case fails; the [`report`] says which.

mod catalogue;
mod report;
mod scratch;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use catalogue::CATALOGUE;
use report::{Outcome, Row};
use scratch::Scratch;

/// How long one mutant's build and test run may take before it is stopped and counted as caught.
const TIME_LIMIT: Duration = Duration::from_secs(10 * 60);

/// The variable the conformance suite's random differential case reads its seed from.
const SEED_VAR: &str = "PULSE_CONFORMANCE_SEED";

/// The seed the differential case runs with unless `$PULSE_CONFORMANCE_SEED` says otherwise:
/// fixed, so that a report says the same thing twice, and a mutant the random case catches by
/// luck is not caught one run and missed the next.
const DEFAULT_SEED: &str = "1";

/// One bug: `find` replaced by `replace` in `file` (relative to the workspace root).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mutant {
    /// A short kebab-case name, unique in the catalogue.
    pub(crate) name: &'static str,
    /// The rule of the contract the bug breaks.
    pub(crate) rule: &'static str,
    pub(crate) file: &'static str,
    /// The text to replace; it must occur exactly once in `file`.
    pub(crate) find: &'static str,
    pub(crate) replace: &'static str,
}

impl Mutant {
    /// The backend whose conformance tests must catch it: the store the file belongs to, the
    /// memory store for the shared layer.
    fn backend(&self) -> Backend {
        if self.file.starts_with("crates/pulse-store-sqlite/") {
            Backend::Sqlite
        } else if self.file.starts_with("crates/pulse-store-postgres/") {
            Backend::Postgres
        } else {
            Backend::Memory
        }
    }
}

/// A backend whose conformance tests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

impl Backend {
    fn package(self) -> &'static str {
        match self {
            Self::Memory => "pulse-store-memory",
            Self::Sqlite => "pulse-store-sqlite",
            Self::Postgres => "pulse-store-postgres",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// `cargo xtask mutants [--list] [NAME...]`.
pub(crate) fn mutants(args: &[OsString]) -> Result<()> {
    let mut list = false;
    let mut names = Vec::new();
    for arg in args {
        match arg.to_str() {
            Some("--list") => list = true,
            Some(name) if !name.starts_with('-') => names.push(name),
            _ => bail!("`cargo xtask mutants` takes --list and mutant names, got {arg:?}"),
        }
    }
    let selected = select(CATALOGUE, &names)?;
    if list {
        print_list(&selected);
        return Ok(());
    }
    run(&selected)
}

/// The catalogue, one mutant per line with its rule below, marked where it is stale in the
/// working tree.
fn print_list(selected: &[Mutant]) {
    let root = crate::workspace_root();
    for mutant in selected {
        let text = fs::read_to_string(root.join(mutant.file)).unwrap_or_default();
        let stale = match substitute(&text, mutant.find, mutant.replace) {
            Ok(_) => String::new(),
            Err(reason) => format!("  STALE: {reason}"),
        };
        println!("{:<46} {:<6} {}{stale}", mutant.name, mutant.backend().name(), mutant.file);
        println!("{:<46} {}", "", mutant.rule);
    }
}

/// The mutants called `names`, in catalogue order; all of them when `names` is empty.
fn select(catalogue: &[Mutant], names: &[&str]) -> Result<Vec<Mutant>> {
    let unknown: Vec<&&str> =
        names.iter().filter(|name| !catalogue.iter().any(|m| m.name == **name)).collect();
    if !unknown.is_empty() {
        bail!("no mutant called {unknown:?}; `cargo xtask mutants --list` shows the catalogue");
    }
    Ok(catalogue.iter().filter(|m| names.is_empty() || names.contains(&m.name)).copied().collect())
}

/// Runs `selected`, with a PostgreSQL server when one of them is PostgreSQL's (the one in
/// `$PULSE_TEST_DATABASE_URL`, or a throwaway cluster).
fn run(selected: &[Mutant]) -> Result<()> {
    if selected.iter().any(|mutant| mutant.backend() == Backend::Postgres) {
        crate::with_database(|database| run_with(selected, database))
    } else {
        run_with(selected, &Vec::new())
    }
}

fn run_with(selected: &[Mutant], database: &crate::DatabaseEnv) -> Result<()> {
    let root = crate::workspace_root();
    let base = root.join("target").join("mutants");
    crate::section("copying the workspace");
    let scratch = Scratch::sync(root, &base.join("workspace"))?;
    let logs = base.join("logs");
    fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let seed = std::env::var(SEED_VAR).unwrap_or_else(|_| DEFAULT_SEED.to_owned());
    eprintln!("xtask: the differential case runs with {SEED_VAR}={seed}");
    let runner =
        Runner { scratch: &scratch, target: base.join("target"), logs, seed: seed.clone(), database };

    let backends: BTreeSet<Backend> = selected.iter().map(Mutant::backend).collect();
    for backend in &backends {
        crate::section(&format!("unmutated suite: {}", backend.name()));
        runner.baseline(*backend)?;
    }

    let started = Instant::now();
    let mut rows = Vec::with_capacity(selected.len());
    for (n, mutant) in selected.iter().enumerate() {
        crate::section(&format!("mutant {}/{}: {}", n + 1, selected.len(), mutant.name));
        let begun = Instant::now();
        let outcome = runner.try_mutant(mutant)?;
        eprintln!("xtask: {}: {} ({}s)", mutant.name, outcome.summary(), begun.elapsed().as_secs());
        rows.push(Row {
            mutant: *mutant,
            backend: mutant.backend().name(),
            outcome,
            seconds: begun.elapsed().as_secs(),
        });
    }

    let table = report::render(&rows, started.elapsed(), &seed);
    println!("\n{table}");
    let path = base.join("report.md");
    fs::write(&path, &table).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("xtask: report written to {}", path.display());
    let failed: Vec<&str> =
        rows.iter().filter(|row| !row.outcome.is_caught()).map(|row| row.mutant.name).collect();
    if !failed.is_empty() {
        bail!(
            "{} of {} mutants not caught, stale or not compiling: {}",
            failed.len(),
            rows.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// Runs builds and conformance suites in the scratch copy.
struct Runner<'a> {
    scratch: &'a Scratch,
    target: PathBuf,
    logs: PathBuf,
    /// The differential case's seed.
    seed: String,
    /// Where the PostgreSQL suite finds its server.
    database: &'a crate::DatabaseEnv,
}

impl Runner<'_> {
    /// The unmutated suite must pass, or no result would mean anything.
    fn baseline(&self, backend: Backend) -> Result<()> {
        let log = fresh_log(&self.logs, &format!("unmutated-{}", backend.name()))?;
        let compiled =
            self.cargo(&["test", "--no-run", "-p", backend.package(), "--test", "it"], &log, None)?;
        if !compiled.is_some_and(|status| status.success()) {
            bail!("the unmutated {} suite does not build; see {}", backend.name(), log.display());
        }
        let status = self.cargo(&self.test_args(backend), &log, None)?;
        let failed = libtest_failures(&fs::read_to_string(&log).unwrap_or_default());
        if !status.is_some_and(|status| status.success()) {
            bail!(
                "the unmutated {} suite fails ({}), so no mutant result would mean anything; see {}",
                backend.name(),
                if failed.is_empty() { "no failing case named".to_owned() } else { failed.join(", ") },
                log.display()
            );
        }
        eprintln!("xtask: the unmutated {} suite passes", backend.name());
        Ok(())
    }

    /// Applies `mutant`, builds and tests, and puts the file back whatever happened.
    fn try_mutant(&self, mutant: &Mutant) -> Result<Outcome> {
        let original = match self.scratch.read(mutant.file) {
            Ok(text) => text,
            Err(err) => return Ok(Outcome::Stale(format!("{err:#}"))),
        };
        let mutated = match substitute(&original, mutant.find, mutant.replace) {
            Ok(text) => text,
            Err(reason) => return Ok(Outcome::Stale(format!("{}: {reason}", mutant.file))),
        };
        self.scratch.write(mutant.file, &mutated)?;
        let outcome = self.build_and_test(mutant);
        self.scratch.write(mutant.file, &original)?;
        outcome
    }

    fn build_and_test(&self, mutant: &Mutant) -> Result<Outcome> {
        let backend = mutant.backend();
        let log = fresh_log(&self.logs, mutant.name)?;
        let deadline = Instant::now() + TIME_LIMIT;
        let build = ["test", "--no-run", "-p", backend.package(), "--test", "it"];
        match self.cargo(&build, &log, Some(deadline))? {
            None => return Ok(Outcome::TimedOut),
            Some(status) if !status.success() => return Ok(Outcome::DidNotCompile),
            Some(_) => {}
        }
        let Some(status) = self.cargo(&self.test_args(backend), &log, Some(deadline))? else {
            return Ok(Outcome::TimedOut);
        };
        if status.success() {
            return Ok(Outcome::NotCaught);
        }
        let cases = libtest_failures(&fs::read_to_string(&log).unwrap_or_default());
        Ok(Outcome::Caught(cases))
    }

    fn test_args(&self, backend: Backend) -> Vec<&'static str> {
        vec!["test", "-p", backend.package(), "--test", "it", "--", "conformance::"]
    }

    /// Runs cargo in the scratch copy with its output appended to `log`; `None` when it was
    /// stopped at `deadline`. The child leads a process group of its own, so stopping it stops
    /// the test binary it started too.
    fn cargo(&self, args: &[&str], log: &Path, deadline: Option<Instant>) -> Result<Option<ExitStatus>> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        let err = out.try_clone().context("duplicating the log's handle")?;
        let mut child = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .args(args)
            .current_dir(self.scratch.root())
            .env("CARGO_TARGET_DIR", &self.target)
            .env(SEED_VAR, &self.seed)
            .envs(self.database.iter().cloned())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .with_context(|| format!("could not start cargo {}", args.join(" ")))?;
        loop {
            if let Some(status) = child.try_wait().context("waiting for cargo")? {
                return Ok(Some(status));
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                // The whole group: cargo and the test binary it runs.
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-s", "KILL", "--", &group]).status();
                child.wait().context("waiting for the stopped cargo")?;
                return Ok(None);
            }
            thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `logs/NAME.log`, emptied of an earlier run's output.
fn fresh_log(logs: &Path, name: &str) -> Result<PathBuf> {
    let log = logs.join(format!("{name}.log"));
    File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    Ok(log)
}

/// `text` with its one occurrence of `find` replaced; an error saying how often it occurs when
/// that is not exactly once.
fn substitute(text: &str, find: &str, replace: &str) -> Result<String, String> {
    if find.is_empty() {
        return Err("the text to find is empty".to_owned());
    }
    match text.matches(find).count() {
        1 => Ok(text.replacen(find, replace, 1)),
        0 => Err("the text to find no longer occurs".to_owned()),
        n => Err(format!("the text to find occurs {n} times, not once")),
    }
}

/// The names of the tests libtest reports as failed (`test NAME ... FAILED`), in order.
fn libtest_failures(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|line| line.strip_prefix("test ")?.strip_suffix(" ... FAILED"))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_substitution_replaces_exactly_one_occurrence() {
        assert_eq!(substitute("a < b", "<", "<="), Ok("a <= b".to_owned()));
        assert_eq!(substitute("a < b", ">", "<"), Err("the text to find no longer occurs".to_owned()));
        assert_eq!(
            substitute("a < b < c", "<", "<="),
            Err("the text to find occurs 2 times, not once".to_owned())
        );
        assert_eq!(substitute("abc", "", "x"), Err("the text to find is empty".to_owned()));
    }

    #[test]
    fn failed_cases_are_read_from_libtest_output() {
        let output = "\
running 3 tests
test conformance::purge::only_old_entries ... ok
test conformance::groups::ties_by_fingerprint ... FAILED
test conformance::durability::survives_a_restart ... ignored, skipped by capability
test conformance::list::pages ... FAILED

failures:

---- conformance::groups::ties_by_fingerprint stdout ----
test conformance::not_a_result_line
";
        assert_eq!(
            libtest_failures(output),
            ["conformance::groups::ties_by_fingerprint", "conformance::list::pages"]
        );
    }

    #[test]
    fn the_catalogue_names_each_mutant_once_and_mutates_something() {
        let mut names = BTreeSet::new();
        for mutant in CATALOGUE {
            assert!(names.insert(mutant.name), "{} is in the catalogue twice", mutant.name);
            assert!(!mutant.name.is_empty() && !mutant.rule.is_empty(), "{mutant:?}");
            assert_ne!(mutant.find, mutant.replace, "{} changes nothing", mutant.name);
        }
        assert!(CATALOGUE.len() >= 25, "{} mutants", CATALOGUE.len());
    }

    /// A store's code that moves on must take its mutants along: each one's text still occurs,
    /// once, in its file.
    #[test]
    fn every_mutant_applies_to_the_tree_as_it_is() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask sits in the workspace");
        let stale: Vec<String> = CATALOGUE
            .iter()
            .filter_map(|mutant| {
                let text = fs::read_to_string(root.join(mutant.file)).expect("a catalogued file exists");
                let why = substitute(&text, mutant.find, mutant.replace).err()?;
                Some(format!("{} in {}: {why}", mutant.name, mutant.file))
            })
            .collect();
        assert!(stale.is_empty(), "mutants that no longer apply:\n{}", stale.join("\n"));
    }

    #[test]
    fn mutants_are_selected_by_name_in_catalogue_order() {
        let all = select(CATALOGUE, &[]).unwrap();
        assert_eq!(all.len(), CATALOGUE.len());
        let two = select(CATALOGUE, &[CATALOGUE[1].name, CATALOGUE[0].name]).unwrap();
        assert_eq!(two.iter().map(|m| m.name).collect::<Vec<_>>(), [CATALOGUE[0].name, CATALOGUE[1].name]);
        assert!(select(CATALOGUE, &["no-such-mutant"]).is_err());
    }
}
