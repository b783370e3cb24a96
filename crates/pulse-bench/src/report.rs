//! The report's data: the machine, the settings, every figure, the target verdicts and the
//! diagnostics; written as JSON.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::machine::Machine;
use crate::targets::Verdict;

/// One measured number.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Figure {
    /// What was measured, e.g. `store_one_task` or `get_pending_median`.
    pub(crate) name: &'static str,
    /// `memory`, `sqlite` or `postgres`.
    pub(crate) backend: &'static str,
    /// How many entries the table held, for figures measured on the big table.
    pub(crate) entries: Option<u64>,
    pub(crate) value: f64,
    pub(crate) unit: &'static str,
    /// The same measurement of the baseline, in the same run.
    pub(crate) baseline: Option<f64>,
    /// `value / baseline`.
    pub(crate) ratio: Option<f64>,
    /// For latencies: how many calls were timed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) samples: Option<usize>,
    /// For rates from rounds: how much the rounds of either side varied, (max - min) / median.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) spread: Option<f64>,
}

impl Figure {
    pub(crate) fn new(name: &'static str, backend: &'static str, value: f64, unit: &'static str) -> Self {
        Self {
            name,
            backend,
            entries: None,
            value,
            unit,
            baseline: None,
            ratio: None,
            samples: None,
            spread: None,
        }
    }

    /// Measured with `entries` in the table.
    #[must_use]
    pub(crate) fn at(mut self, entries: u64) -> Self {
        self.entries = Some(entries);
        self
    }

    /// A latency from `samples` timed calls.
    #[must_use]
    pub(crate) fn sampled(mut self, samples: usize) -> Self {
        self.samples = Some(samples);
        self
    }

    /// From rounds that varied by `spread`.
    #[must_use]
    pub(crate) fn spread(mut self, spread: f64) -> Self {
        self.spread = Some(spread);
        self
    }

    /// Against `baseline`, measured in the same run.
    #[must_use]
    pub(crate) fn against(mut self, baseline: f64) -> Self {
        self.baseline = Some(baseline);
        self.ratio = Some(self.value / baseline);
        self
    }
}

/// A figure the run could not measure, and why: its target reads as not measured, with the
/// reason.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Absence {
    pub(crate) name: &'static str,
    pub(crate) backend: &'static str,
    pub(crate) reason: &'static str,
}

/// A finding behind a figure: a query plan, or a measurement that explains a miss.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Diagnostic {
    pub(crate) backend: &'static str,
    pub(crate) title: String,
    pub(crate) text: String,
}

/// The settings a run used.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Settings {
    pub(crate) mode: &'static str,
    pub(crate) levels: Vec<u64>,
    pub(crate) rounds: usize,
    pub(crate) round_seconds: f64,
    pub(crate) concurrent_tasks: usize,
    /// pgbench's threads (`-j`); its clients are `concurrent_tasks`.
    pub(crate) pgbench_threads: usize,
    /// One round against pgbench, either side: whole seconds, as pgbench's `-T` counts them.
    pub(crate) pgbench_round_seconds: f64,
    pub(crate) batch: usize,
    pub(crate) postgres_pool_size: u32,
    pub(crate) claimers: usize,
    pub(crate) claim_batch: u32,
    pub(crate) purge_batch: u32,
    pub(crate) store_interval_ms: f64,
    /// Connections of the HTTP load generator, and tasks of the direct calls beside it.
    pub(crate) http_connections: usize,
    pub(crate) wrk_threads: usize,
    /// Timed runs of each `pulse` command.
    pub(crate) cli_runs: usize,
}

/// Everything a run found.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub(crate) started_at: String,
    pub(crate) duration_seconds: f64,
    /// `/proc/loadavg` when the run ended.
    pub(crate) load_at_end: String,
    pub(crate) machine: Machine,
    pub(crate) settings: Settings,
    pub(crate) figures: Vec<Figure>,
    /// The figures the run could not measure.
    pub(crate) absent: Vec<Absence>,
    pub(crate) targets: Vec<Verdict>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// The figure `name` of `backend`, at `entries` when given.
    pub(crate) fn figure(&self, name: &str, backend: &str, entries: Option<u64>) -> Option<&Figure> {
        find(&self.figures, name, backend, entries)
    }

    /// Why figure `name` of `backend` was not measured, when the run knows.
    pub(crate) fn absence(&self, name: &str, backend: &str) -> Option<&'static str> {
        find_absence(&self.absent, name, backend)
    }

    /// Writes the report as pretty JSON to `path`.
    pub(crate) fn write_json(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
    }
}

/// The figure `name` of `backend` in `figures`, at `entries` when given.
pub(crate) fn find<'a>(
    figures: &'a [Figure],
    name: &str,
    backend: &str,
    entries: Option<u64>,
) -> Option<&'a Figure> {
    figures
        .iter()
        .find(|f| f.name == name && f.backend == backend && (entries.is_none() || f.entries == entries))
}

/// Why figure `name` of `backend` is in `absent`, when it is.
pub(crate) fn find_absence(absent: &[Absence], name: &str, backend: &str) -> Option<&'static str> {
    absent.iter().find(|a| a.name == name && a.backend == backend).map(|a| a.reason)
}
