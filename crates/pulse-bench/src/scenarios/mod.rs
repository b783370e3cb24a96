//! What the benchmark measures, one module per group (reading, replaying, purging, storing, and
//! the operator console over HTTP, the command line and the dashboard), run backend by backend.

mod cli;
mod dashboard;
mod http;
mod ops;
mod pgbench;
mod purge;
mod reads;
mod replay;
mod store;
mod wal;

pub(crate) use cli::RUNS as CLI_RUNS;
pub(crate) use http::{CONNECTIONS, WRK_THREADS};
pub(crate) use pgbench::{PULSE as VS_PGBENCH, RAW as RAW_VS_PGBENCH};
pub(crate) use reads::TABLE;
pub(crate) use store::TASKS;

use anyhow::Result;

use crate::backend::{Kind, Lab};
use crate::format;
use crate::plan::Plan;
use crate::report::{Absence, Diagnostic, Figure};
use crate::tools::Tools;

/// What one backend's scenarios found.
pub(crate) struct Out {
    kind: Kind,
    pub(crate) figures: Vec<Figure>,
    pub(crate) absent: Vec<Absence>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Out {
    fn new(kind: Kind) -> Self {
        Self { kind, figures: Vec::new(), absent: Vec::new(), diagnostics: Vec::new() }
    }

    fn backend(&self) -> &'static str {
        self.kind.name()
    }

    /// Records `figure` and prints it.
    fn add(&mut self, figure: Figure) {
        eprintln!("[{}] {}", self.backend(), format::figure(&figure));
        self.figures.push(figure);
    }

    /// Records that figure `name` could not be measured, and why.
    fn absent(&mut self, name: &'static str, reason: &'static str) {
        let backend = self.backend();
        self.absent.push(Absence { name, backend, reason });
    }

    /// Records a finding behind the figures.
    pub(crate) fn diagnose(&mut self, title: impl Into<String>, text: impl Into<String>) {
        let backend = self.backend();
        self.diagnostics.push(Diagnostic { backend, title: title.into(), text: text.into() });
    }

    /// Prints progress.
    fn say(&self, message: &str) {
        eprintln!("[{}] {message}", self.backend());
    }
}

/// Every figure of `kind`: first the big table (reads, the console over HTTP and the command
/// line, replays, claims, purge), then the store throughput on tables of their own (for
/// PostgreSQL also against pgbench), and for SQLite the WAL under a stream of stores. `tools`
/// are needed by every store but memory.
pub(crate) async fn run(lab: &Lab, plan: &Plan, tools: Option<&Tools>, kind: Kind) -> Result<Out> {
    let mut out = Out::new(kind);
    let big = reads::run(lab, plan, tools, kind, &mut out).await?;
    let replayed = replay::run(lab, plan, &big, &mut out).await?;
    purge::run(lab, plan, &big, replayed, &mut out).await?;
    big.subject.close().await;
    store::run(lab, plan, kind, &mut out).await?;
    if kind == Kind::Postgres {
        let pgbench = tools.and_then(|tools| tools.pgbench.as_ref());
        pgbench::run(lab, plan, pgbench, &mut out).await?;
    }
    if kind == Kind::Sqlite {
        wal::run(lab, plan, &mut out).await?;
    }
    Ok(out)
}
