//! The programs the benchmark runs beside itself: `wrk`, the HTTP load generator, `pulse`, the
//! command line, and `pgbench`, PostgreSQL's load generator. They are found before anything is
//! filled, so a missing `wrk` or `pulse` fails the run at once rather than after minutes of work,
//! and never skips a figure; a missing `pgbench` leaves the figures it limits out, and the report
//! says why.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::backend::Pgbench;

/// The variable naming the `pulse` binary; `cargo xtask bench` sets it.
pub(crate) const CLI_VAR: &str = "PULSE_BENCH_CLI";

/// The programs, and their versions for the report.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    pub(crate) wrk: PathBuf,
    pub(crate) wrk_version: String,
    pub(crate) pulse: PathBuf,
    /// `None` when it is not installed.
    pub(crate) pgbench: Option<Pgbench>,
}

impl Tools {
    /// Finds `wrk` on `PATH` and the `pulse` binary: `$PULSE_BENCH_CLI`, or `pulse` beside this
    /// benchmark's own binary (where `cargo build --release -p pulse-cli` puts it), and pgbench
    /// when it is installed.
    pub(crate) fn find() -> Result<Self> {
        let wrk = PathBuf::from("wrk");
        let wrk_version = wrk_version(&wrk)?;
        let pulse = pulse_path()?;
        let output = Command::new(&pulse)
            .arg("--version")
            .output()
            .with_context(|| format!("running {} --version", pulse.display()))?;
        if !output.status.success() {
            bail!("{} --version failed ({})", pulse.display(), output.status);
        }
        Ok(Self { wrk, wrk_version, pulse, pgbench: Pgbench::find()? })
    }
}

/// The first line `wrk -v` prints, up to its copyright notice.
fn wrk_version(wrk: &Path) -> Result<String> {
    // `wrk -v` prints its version and usage, and exits with 1.
    let output = match Command::new(wrk).arg("-v").output() {
        Ok(output) => output,
        Err(error) if error.kind() == ErrorKind::NotFound => bail!(
            "wrk, the HTTP load generator of the console figures, is not installed: \
             `apt-get install wrk` (Debian and Ubuntu), then run the benchmark again"
        ),
        Err(error) => return Err(error).context("running wrk -v"),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().next().unwrap_or_default();
    let version = first.split(" Copyright").next().unwrap_or_default().trim();
    if !version.starts_with("wrk ") {
        bail!("`wrk -v` printed {first:?}, not a wrk version");
    }
    Ok(version.to_owned())
}

/// `$PULSE_BENCH_CLI`, or `pulse` in the directory of this binary.
fn pulse_path() -> Result<PathBuf> {
    let (path, from) = match std::env::var_os(CLI_VAR) {
        Some(path) if !path.is_empty() => (PathBuf::from(path), format!("${CLI_VAR}")),
        _ => {
            let exe = std::env::current_exe().context("locating the benchmark's binary")?;
            let dir = exe.parent().context("the benchmark's binary has no directory")?;
            (dir.join("pulse"), "beside the benchmark's binary".to_owned())
        }
    };
    if !path.is_file() {
        bail!(
            "the `pulse` command line is not at {} ({from}): `cargo xtask bench` builds it, or run \
             `cargo build --release -p pulse-cli` first, or set {CLI_VAR} to its path",
            path.display()
        );
    }
    Ok(path)
}
