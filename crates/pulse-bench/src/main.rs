//! The Pulse benchmark: every store, and beside each a hand-written baseline on the
//! same driver, measured in one process. Writes `docs/benchmarks.md` and
//! `target/bench/report.json`; with `--quick`, every figure at a small size, written to
//! `target/bench/report-quick.json` and `target/bench/benchmarks-quick.md` only.
//!
//! Run it with `cargo xtask bench [--quick]`, or `cargo build --release -p pulse-bench -p
//! pulse-cli`, then `target/release/pulse-bench [--quick]` with `PULSE_TEST_DATABASE_URL` naming a
//! PostgreSQL server (the benchmark creates and drops a schema of its own there). The console
//! figures also need `wrk` on `PATH` and the `pulse` binary (see [`tools`]).

mod backend;
mod capture;
mod diagnose;
mod entries;
mod format;
mod machine;
mod measure;
mod plan;
mod populate;
mod render;
mod report;
mod scenarios;
mod targets;
mod tools;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::backend::{BATCH, Kind, Lab, POOL_SIZE, PgLab, Pgbench};
use crate::machine::Machine;
use crate::plan::Plan;
use crate::report::{Report, Settings};
use crate::tools::Tools;

const USAGE: &str = "\
usage: pulse-bench [--quick] [--only STORE]

Benchmarks every Pulse store against a hand-written baseline on the same driver.
PULSE_TEST_DATABASE_URL must name a PostgreSQL server. The console figures (SQLite and
PostgreSQL) run wrk, from PATH, and the pulse binary: $PULSE_BENCH_CLI, or pulse beside this one.

  --quick   every figure at a small size, as a smoke test; writes target/bench/report-quick.json
            and target/bench/benchmarks-quick.md (never docs/benchmarks.md)
  --only    one store (memory, sqlite or postgres), to study it; writes target/bench/report-STORE.json
            and target/bench/benchmarks-STORE.md (never docs/benchmarks.md)";

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(capture::ARG) {
        let calls =
            args.next().and_then(|calls| calls.parse().ok()).context("--capture-calls takes a count")?;
        return capture::child(calls);
    }
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(bench())
}

async fn bench() -> Result<()> {
    let Some(plan) = parse(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    if cfg!(debug_assertions) {
        eprintln!("warning: this is a debug build and its figures mean little; run it with --release");
    }
    let tools =
        if plan.runs(Kind::Sqlite) || plan.runs(Kind::Postgres) { Some(Tools::find()?) } else { None };
    let lab = Lab::new(PgLab::connect().await?)?;
    let result = run(&lab, &plan, tools.as_ref()).await;
    let dropped = lab.pg.drop_schema().await;
    let report = result?;
    dropped.context("dropping the benchmark's schema")?;
    write(&report, &plan)
}

/// The plan the arguments ask for; `None` for `--help`.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<Plan>> {
    let (mut quick, mut only) = (false, None);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--quick" => quick = true,
            "--only" => {
                let name = args.next().unwrap_or_default();
                let Some(kind) = Kind::ALL.into_iter().find(|kind| kind.name() == name) else {
                    bail!("--only takes memory, sqlite or postgres, not {name:?}\n\n{USAGE}");
                };
                only = Some(kind);
            }
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    let plan = if quick { Plan::quick() } else { Plan::full() };
    Ok(Some(Plan { only, ..plan }))
}

async fn run(lab: &Lab, plan: &Plan, tools: Option<&Tools>) -> Result<Report> {
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let machine = Machine::probe(&lab.pg, lab.sqlite_dir(), tools).await?;
    eprintln!("pulse-bench: {} run; SQLite files in {}", mode(plan), lab.sqlite_dir().display());
    let (mut figures, mut absent, mut diagnostics) =
        (diagnose::prepare(&lab.template)?, Vec::new(), Vec::new());
    if plan.runs(Kind::Memory) {
        match capture::instructions_per_call(lab.sqlite_dir())? {
            Some(instructions) => {
                figures.push(report::Figure::new(
                    "capture_instructions",
                    "memory",
                    instructions,
                    "instructions",
                ));
            }
            None => {
                eprintln!("pulse-bench: valgrind is not installed: no instruction count of the capture path");
            }
        }
    }
    for figure in &figures {
        eprintln!("[pulse] {}", format::figure(figure));
    }
    for kind in Kind::ALL.into_iter().filter(|kind| plan.runs(*kind)) {
        let out = scenarios::run(lab, plan, tools, kind)
            .await
            .with_context(|| format!("benchmarking {}", kind.name()))?;
        figures.extend(out.figures);
        absent.extend(out.absent);
        diagnostics.extend(out.diagnostics);
    }
    let targets = targets::judge(&figures, &absent, plan.largest());
    Ok(Report {
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_seconds: started.elapsed().as_secs_f64(),
        load_at_end: machine::load_average(),
        machine,
        settings: settings(plan),
        figures,
        absent,
        targets,
        diagnostics,
    })
}

fn mode(plan: &Plan) -> &'static str {
    if plan.quick { "quick" } else { "full" }
}

fn settings(plan: &Plan) -> Settings {
    Settings {
        mode: mode(plan),
        levels: plan.levels.clone(),
        rounds: plan.rounds,
        round_seconds: plan.throughput.time.as_secs_f64(),
        concurrent_tasks: scenarios::TASKS,
        pgbench_threads: Pgbench::THREADS,
        pgbench_round_seconds: Pgbench::budget(plan.throughput).time.as_secs_f64(),
        batch: BATCH,
        postgres_pool_size: POOL_SIZE,
        claimers: plan.claimers,
        claim_batch: plan.claim_batch,
        purge_batch: plan.purge_batch,
        store_interval_ms: plan.store_interval.as_secs_f64() * 1000.0,
        http_connections: scenarios::CONNECTIONS,
        wrk_threads: scenarios::WRK_THREADS,
        cli_runs: scenarios::CLI_RUNS,
    }
}

/// The workspace this benchmark belongs to.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest).to_path_buf()
}

/// Writes the JSON and the Markdown report, and prints the target verdicts.
fn write(report: &Report, plan: &Plan) -> Result<()> {
    let root = workspace_root();
    let dir = root.join("target").join("bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let (json, markdown) = if let Some(only) = plan.only {
        (dir.join(format!("report-{}.json", only.name())), dir.join(format!("benchmarks-{}.md", only.name())))
    } else if plan.quick {
        (dir.join("report-quick.json"), dir.join("benchmarks-quick.md"))
    } else {
        (dir.join("report.json"), root.join("docs").join("benchmarks.md"))
    };
    report.write_json(&json)?;
    std::fs::write(&markdown, render::markdown(report))
        .with_context(|| format!("writing {}", markdown.display()))?;
    println!("{}", render::verdicts(report));
    println!("wrote {} and {}", json.display(), markdown.display());
    Ok(())
}
