//! The targets a run is held to (storing at least 0.7 or 0.8 of the raw insert, or of pgbench,
//! pages under a millisecond that grow at most 1.5 times, ...), and whether it met them.

use serde::Serialize;

use crate::report::{Absence, Figure, find, find_absence};

/// Which way a figure must lie from its limit.
#[derive(Debug, Clone, Copy)]
enum Rule {
    AtLeast,
    AtMost,
}

/// Which number of a figure a target reads.
#[derive(Debug, Clone, Copy)]
enum Read {
    Value,
    /// The figure's ratio to its baseline, named `of`.
    Ratio {
        of: &'static str,
    },
}

/// The ratio to the plain raw insert, on the same driver.
const RAW: Read = Read::Ratio { of: "raw" };

struct Target {
    text: &'static str,
    figure: &'static str,
    read: Read,
    rule: Rule,
    limit: f64,
    backends: &'static [&'static str],
    /// Read at the largest table size rather than on a table of its own.
    at_largest: bool,
}

const ALL: &[&str] = &["memory", "sqlite", "postgres"];
const DURABLE: &[&str] = &["sqlite", "postgres"];

const fn target(text: &'static str, figure: &'static str, read: Read, rule: Rule, limit: f64) -> Target {
    Target { text, figure, read, rule, limit, backends: ALL, at_largest: false }
}

const TARGETS: &[Target] = &[
    Target {
        backends: &["sqlite", "postgres"],
        ..target(
            "store one entry, one task: at least 0.7 of the limit",
            "store_one_task",
            RAW,
            Rule::AtLeast,
            0.7,
        )
    },
    Target {
        backends: &["memory"],
        ..target(
            "store one entry, one task: at least 0.8 of a `Mutex<HashMap>` insert",
            "store_one_task",
            RAW,
            Rule::AtLeast,
            0.8,
        )
    },
    Target {
        backends: &["memory", "sqlite"],
        ..target(
            "store one entry, 8 tasks: at least 0.8 of the limit",
            "store_8_tasks",
            RAW,
            Rule::AtLeast,
            0.8,
        )
    },
    Target {
        backends: &["postgres"],
        ..target(
            "store one entry, 8 tasks: at least 0.7 of pgbench with 8 clients",
            "store_8_tasks_vs_pgbench",
            Read::Ratio { of: "pgbench" },
            Rule::AtLeast,
            0.7,
        )
    },
    Target {
        backends: &["memory", "sqlite"],
        ..target(
            "store a batch of 100: at least 0.8 of the limit",
            "store_batch_100",
            RAW,
            Rule::AtLeast,
            0.8,
        )
    },
    Target {
        backends: &["postgres"],
        ..target(
            "store a batch of 100: at least 0.7 of the limit",
            "store_batch_100",
            RAW,
            Rule::AtLeast,
            0.7,
        )
    },
    Target {
        backends: ALL,
        at_largest: true,
        ..target("`get_pending(50)` median under 1 ms", "get_pending_median", Read::Value, Rule::AtMost, 1.0)
    },
    Target {
        backends: ALL,
        at_largest: true,
        ..target("list page of 50 median under 1 ms", "list_page_median", Read::Value, Rule::AtMost, 1.0)
    },
    Target {
        backends: ALL,
        ..target("`get_pending(50)` grows at most 1.5x", "get_pending_growth", Read::Value, Rule::AtMost, 1.5)
    },
    Target {
        backends: ALL,
        ..target("list page grows at most 1.5x", "list_page_growth", Read::Value, Rule::AtMost, 1.5)
    },
    Target {
        at_largest: true,
        ..target("statistics median under 5 ms", "statistics_median", Read::Value, Rule::AtMost, 5.0)
    },
    Target {
        at_largest: true,
        ..target(
            "unresolved count median under 5 ms",
            "unresolved_count_median",
            Read::Value,
            Rule::AtMost,
            5.0,
        )
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target(
            "list page of 50 over HTTP median under 2 ms",
            "http_list_page_vs_direct_median",
            Read::Value,
            Rule::AtMost,
            2.0,
        )
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target(
            "list page of 50 over HTTP p99 under 10 ms",
            "http_list_page_vs_direct_p99",
            Read::Value,
            Rule::AtMost,
            10.0,
        )
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target("`pulse stats` median under 100 ms", "cli_stats_median", Read::Value, Rule::AtMost, 100.0)
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target("`pulse groups` median under 100 ms", "cli_groups_median", Read::Value, Rule::AtMost, 100.0)
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target(
            "dashboard, overview: median under 50 ms",
            "dashboard_overview_median",
            Read::Value,
            Rule::AtMost,
            50.0,
        )
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target(
            "dashboard, error groups: median under 50 ms",
            "dashboard_groups_median",
            Read::Value,
            Rule::AtMost,
            50.0,
        )
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target(
            "dashboard, an error group: median under 50 ms",
            "dashboard_group_median",
            Read::Value,
            Rule::AtMost,
            50.0,
        )
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target(
            "dashboard, entries: median under 50 ms",
            "dashboard_entries_median",
            Read::Value,
            Rule::AtMost,
            50.0,
        )
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target(
            "dashboard, an entry: median under 50 ms",
            "dashboard_entry_median",
            Read::Value,
            Rule::AtMost,
            50.0,
        )
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target(
            "dashboard, replay requests: median under 50 ms",
            "dashboard_requests_median",
            Read::Value,
            Rule::AtMost,
            50.0,
        )
    },
    Target {
        backends: DURABLE,
        at_largest: true,
        ..target(
            "dashboard: heaviest page with its assets under 150 KB",
            "dashboard_heaviest_page_bytes",
            Read::Value,
            Rule::AtMost,
            153_600.0,
        )
    },
    Target {
        backends: &["postgres"],
        ..target("claims, 4 claimers: at least 5,000 entries/s", "claims", Read::Value, Rule::AtLeast, 5000.0)
    },
    target("claims: no entry claimed twice", "claims_double", Read::Value, Rule::AtMost, 0.0),
    target("purge: at least 50,000 entries/s", "purge", Read::Value, Rule::AtLeast, 50_000.0),
    target(
        "p99 store latency during the purge under 20 ms",
        "store_p99_during_purge",
        Read::Value,
        Rule::AtMost,
        20.0,
    ),
    Target {
        backends: &["sqlite"],
        ..target(
            "WAL under a 60-second stream of stores: under 64 MiB at every sample",
            "wal_peak",
            Read::Value,
            Rule::AtMost,
            64.0,
        )
    },
    Target {
        backends: &["memory"],
        ..target(
            "a failing `dispatch_with`: at most 30,000 instructions (25% under the 40,000 measured before)",
            "capture_instructions",
            Read::Value,
            Rule::AtMost,
            30_000.0,
        )
    },
];

/// How one backend did against one target.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Verdict {
    pub(crate) target: &'static str,
    pub(crate) backend: &'static str,
    pub(crate) figure: &'static str,
    pub(crate) measured: Option<f64>,
    /// For a ratio, the baseline it is taken against: `raw` or `pgbench`.
    pub(crate) against: Option<&'static str>,
    pub(crate) limit: f64,
    pub(crate) met: bool,
    /// By how much a missed target was missed, in words.
    pub(crate) gap: Option<String>,
}

/// Every target against `figures`; `absent` says why a figure is missing, and `largest` is the
/// biggest table size of the run.
pub(crate) fn judge(figures: &[Figure], absent: &[Absence], largest: u64) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for target in TARGETS {
        for backend in target.backends {
            let entries = target.at_largest.then_some(largest);
            let measured =
                find(figures, target.figure, backend, entries).and_then(|figure| match target.read {
                    Read::Value => Some(figure.value),
                    Read::Ratio { .. } => figure.ratio,
                });
            let met = measured.is_some_and(|value| match target.rule {
                Rule::AtLeast => value >= target.limit,
                Rule::AtMost => value <= target.limit,
            });
            let gap = (!met).then(|| match (measured, find_absence(absent, target.figure, backend)) {
                (None, Some(reason)) => format!("not measured: {reason}"),
                _ => gap(target, measured),
            });
            verdicts.push(Verdict {
                target: target.text,
                backend,
                figure: target.figure,
                measured,
                against: match target.read {
                    Read::Ratio { of } => Some(of),
                    Read::Value => None,
                },
                limit: target.limit,
                met,
                gap,
            });
        }
    }
    verdicts
}

fn gap(target: &Target, measured: Option<f64>) -> String {
    match (measured, target.rule) {
        (None, _) => "not measured".to_owned(),
        (Some(value), Rule::AtLeast) => {
            format!("{:.0}% short of the target", (1.0 - value / target.limit) * 100.0)
        }
        (Some(value), Rule::AtMost) if target.limit > 0.0 => {
            format!("{:.1}x the limit", value / target.limit)
        }
        (Some(value), Rule::AtMost) => format!("{value} over"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict<'a>(verdicts: &'a [Verdict], figure: &str, backend: &str) -> &'a Verdict {
        verdicts.iter().find(|v| v.figure == figure && v.backend == backend).expect("a verdict")
    }

    #[test]
    fn targets_read_ratios_values_and_the_largest_size() {
        let figures = vec![
            Figure::new("store_one_task", "sqlite", 950.0, "entries/s").against(1000.0),
            Figure::new("store_one_task", "postgres", 600.0, "entries/s").against(1000.0),
            Figure::new("get_pending_median", "sqlite", 3.0, "ms").at(10),
            Figure::new("get_pending_median", "sqlite", 0.5, "ms").at(1000),
            Figure::new("http_list_page_vs_direct_median", "postgres", 1.5, "ms").at(10).against(0.5),
            Figure::new("http_list_page_vs_direct_median", "postgres", 2.5, "ms").at(1000).against(0.5),
        ];
        let verdicts = judge(&figures, &[], 1000);
        assert!(verdict(&verdicts, "store_one_task", "sqlite").met);
        let missed = verdict(&verdicts, "store_one_task", "postgres");
        assert_eq!((missed.met, missed.gap.as_deref()), (false, Some("14% short of the target")));
        assert!(verdict(&verdicts, "get_pending_median", "sqlite").met);
        let http = verdict(&verdicts, "http_list_page_vs_direct_median", "postgres");
        assert_eq!((http.measured, http.gap.as_deref()), (Some(2.5), Some("1.2x the limit")));
        assert_eq!(verdict(&verdicts, "claims", "postgres").gap.as_deref(), Some("not measured"));
    }

    #[test]
    fn postgres_8_tasks_are_held_to_pgbench_and_say_why_they_are_not_measured() {
        let raw_only = [Figure::new("store_8_tasks", "postgres", 900.0, "entries/s").against(1000.0)];
        let absent = [Absence {
            name: "store_8_tasks_vs_pgbench",
            backend: "postgres",
            reason: "pgbench is not installed",
        }];
        let verdicts = judge(&raw_only, &absent, 1000);
        let missing = verdict(&verdicts, "store_8_tasks_vs_pgbench", "postgres");
        assert_eq!(
            (missing.measured, missing.against, missing.met, missing.gap.as_deref()),
            (None, Some("pgbench"), false, Some("not measured: pgbench is not installed"))
        );
        let against_pgbench = [
            Figure::new("store_8_tasks", "postgres", 600.0, "entries/s").against(1000.0),
            Figure::new("store_8_tasks_vs_pgbench", "postgres", 600.0, "entries/s").against(800.0),
        ];
        let met =
            verdict(&judge(&against_pgbench, &[], 1000), "store_8_tasks_vs_pgbench", "postgres").clone();
        assert_eq!((met.measured, met.met, met.gap), (Some(0.75), true, None));
    }
}
