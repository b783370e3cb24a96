//! The prose of the report: how the figures are taken, and why missed targets are missed.

use std::fmt::Write as _;

use crate::report::Report;

/// How the benchmark measures, for readers of the report.
pub(super) const METHOD: &str = "## How it measures\n\n\
TODO\n\n";

/// The findings: diagnostics recorded by the run.
pub(super) fn write(md: &mut String, report: &Report) {
    if report.diagnostics.is_empty() {
        return;
    }
    md.push_str("## Diagnostics\n\n");
    for d in &report.diagnostics {
        let _ = writeln!(md, "### {}: {}\n\n```text\n{}\n```\n", d.backend, d.title, d.text.trim_end());
    }
}
