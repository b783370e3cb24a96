//! The operator console in a terminal: the release-built `pulse` binary run as a process on the
//! big table, `pulse stats` and `pulse groups`, timed from spawn to exit, as an operator waits
//! for them: process start, opening the store (without migrating it), the read, the table.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use pulse_extensibility::DEFAULT_TABLE;

use super::Out;
use super::reads::TABLE;
use crate::backend::{Kind, Lab};
use crate::entries::Timeline;
use crate::measure::millis;
use crate::report::Figure;
use crate::tools::Tools;

/// Timed runs of each command, after one untimed run.
pub(crate) const RUNS: usize = 5;

/// A command timed.
#[derive(Debug, Clone, Copy)]
enum Read {
    Stats,
    Groups,
}

impl Read {
    fn command(self) -> &'static str {
        match self {
            Self::Stats => "stats",
            Self::Groups => "groups",
        }
    }

    /// The figures of the median and the slowest run.
    fn names(self) -> [&'static str; 2] {
        match self {
            Self::Stats => ["cli_stats_median", "cli_stats_max"],
            Self::Groups => ["cli_groups_median", "cli_groups_max"],
        }
    }

    /// Whether `printed` is right for the big table at `level` entries: the total, or the
    /// unresolved entries across the groups.
    fn is_right(self, printed: &str, level: u64) -> bool {
        let expected = Timeline::expected(level);
        match self {
            Self::Stats => row_is(printed, "Total", expected.total),
            Self::Groups => grouped(printed) == Some(expected.new),
        }
    }
}

/// Times `pulse stats` and `pulse groups` on the big table, filled to `level` entries, and
/// checks what they print.
pub(crate) async fn run(lab: &Lab, tools: &Tools, kind: Kind, level: u64, out: &mut Out) -> Result<()> {
    for read in [Read::Stats, Read::Groups] {
        let command = read.command();
        let printed = run_command(lab, tools, kind, command).await?;
        ensure!(read.is_right(&printed, level), "`pulse {command}` on {level} entries printed:\n{printed}");
        let mut times = Vec::new();
        for _ in 0..RUNS {
            let started = Instant::now();
            run_command(lab, tools, kind, command).await?;
            times.push(started.elapsed());
        }
        times.sort_unstable();
        let ([median, max], backend) = (read.names(), out.backend());
        let slowest = times.last().copied().unwrap_or(Duration::ZERO);
        out.add(Figure::new(median, backend, millis(times[RUNS / 2]), "ms").at(level).sampled(RUNS));
        out.add(Figure::new(max, backend, millis(slowest), "ms").at(level).sampled(RUNS));
    }
    Ok(())
}

/// Runs `pulse <command>` on the big table of `kind`; what it printed.
async fn run_command(lab: &Lab, tools: &Tools, kind: Kind, command: &str) -> Result<String> {
    let mut process = Command::new(&tools.pulse);
    match kind {
        // The store names its file after the table and keeps the default table inside.
        Kind::Sqlite => {
            process
                .arg("--db")
                .arg(lab.sqlite_dir().join(format!("{TABLE}.db")))
                .args(["--table", DEFAULT_TABLE]);
        }
        // The URL through the environment, so it never shows in a process list.
        Kind::Postgres => {
            process.env("PULSE_DATABASE_URL", lab.pg.url()).args([
                "--schema",
                lab.pg.schema(),
                "--table",
                TABLE,
            ]);
        }
        Kind::Memory => anyhow::bail!("the command line has no memory store"),
    }
    process.arg(command);
    let output: Output =
        tokio::task::spawn_blocking(move || process.output()).await?.context("running the pulse binary")?;
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(
        output.status.success(),
        "`pulse {command}` failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(printed)
}

/// Whether a row of the printed table reads `label count`.
fn row_is(printed: &str, label: &str, count: u64) -> bool {
    let count = count.to_string();
    printed.lines().any(|line| line.split_whitespace().eq([label, count.as_str()]))
}

/// The entries of every group `pulse groups` printed: the second column, summed.
fn grouped(printed: &str) -> Option<u64> {
    let mut rows = printed.lines();
    rows.next().filter(|header| header.starts_with("GROUP"))?;
    rows.map(|row| row.split_whitespace().nth(1)?.parse::<u64>().ok()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_tables_are_read() {
        let stats = "STATUS     ENTRIES\nNew        100\nTotal      1000\n";
        assert!(row_is(stats, "Total", 1000));
        assert!(!row_is(stats, "Total", 100));
        let groups = "GROUP             ENTRIES  COMMAND\nbc224f02090ed18c  60       orders.create\n\
                      0123456789abcdef  40       orders.ship\n";
        assert_eq!(grouped(groups), Some(100));
        assert_eq!(grouped("No unresolved entries.\n"), None);
    }
}
