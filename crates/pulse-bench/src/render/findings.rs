//! The prose of the report: how the figures are taken, and why the missed targets are missed.
//! The explanations quote the run's own figures, so they stay true when the numbers change; each
//! appears only when its target is missed.

use std::fmt::Write as _;

use crate::format::{ratio, thousands, value};
use crate::report::Report;
use crate::scenarios::{RAW_VS_PGBENCH, VS_PGBENCH};

/// How the benchmark measures, for readers of the report.
pub(super) const METHOD: &str = "## How it measures\n\n\
- One process, release build, a Tokio runtime with one worker per core. The stores in turn: memory, SQLite \
  (files in a temporary directory, the store's defaults: WAL, `synchronous = NORMAL`, two readers), PostgreSQL \
  (a fresh schema on the server in `PULSE_TEST_DATABASE_URL`, dropped at the end; pools of the store's default \
  size for the store and the baselines alike).\n\
- Every entry is the same failed command (a 170-byte JSON payload, a timeout, two metadata pairs) with a fresh \
  message id.\n\
- **Baselines** are measured in the same run, in rounds that alternate with Pulse's (which goes first alternates \
  too), after a warm-up of each; medians of the rounds are reported. The raw insert writes the same row into the \
  same table (laid out by Pulse's own migrations, triggers and indexes included) with a hand-written prepared \
  statement in autocommit, as the simplest program would: rusqlite with the store's pragmas on one connection, \
  on the calling thread; sqlx with a pool of the store's size that never pings before handing out a \
  connection; for memory, one `Mutex<HashMap>` insert of the entry. It is the limit the targets are held to. A batch is one multi-row `INSERT`. Only the id, the message id and the instants are computed per row. \
  The raw SQLite connection checkpoints its WAL as SQLite does by default, on the committing connection, once the \
  WAL passes 1,000 pages; the store hands its checkpoints to a connection of its own, so its writes never wait \
  for one, which is how it can outrun the raw insert.\n\
- **pgbench**, PostgreSQL's own load generator (C, on libpq), is the limit of the PostgreSQL 8-task target: \
  `pgbench -n -M prepared -c 8 -j 2 -T <seconds> -f <script>` on the same server, into a table of its own laid \
  out by Pulse's migrations. Its script is the raw insert of the same row, one prepared statement in autocommit: \
  the constant columns are variables given with `-D` and bound as parameters, as the raw insert binds them; a \
  random number drawn per row (`\\set`) makes the message id and, after the server's clock in microseconds, a \
  time-ordered id, as Pulse's UUID v7 ids are; the instants are `now()`. Its rate is its `tps` without the \
  initial connection time. pgbench counts whole seconds, so its rounds, and those of the side alternating with \
  it, last the round time rounded up to a second. Pulse's 8 tasks are measured against it, and so is the raw \
  insert on the sqlx pool, which shows how much of the gap is the client; pgbench's rows are then read back \
  through the store and checked to be the benchmark's entry. It is found on `PATH` or in \
  `/usr/lib/postgresql/*/bin`; without it that target reads as not measured, with the reason.\n\
- **Big table**: filled through the store's own `insert` with complete entries along a timeline of past failures \
  (one in ten New, the rest Resolved or Dismissed), in batches of 1,000, then checked through the store: the \
  counts per status, and the oldest pending entries in order. After each fill the database is let settle as a \
  running service's would be (PostgreSQL: `VACUUM ANALYZE`, `CHECKPOINT`; then `sync`), so no background writeback \
  of the load runs under the measurements.\n\
- **Latencies** are of sequential calls, after one untimed call, for up to 3 seconds or 1,000 calls; p99 is the \
  nearest rank. Pages are also read by hand: the store's query, written out on the same driver, every column \
  decoded.\n\
- **Operator console** (SQLite and PostgreSQL, on the big table). The admin HTTP API (`pulse_http::AdminApi` \
  over the store's `DeadLetters`, one admin bearer token in a `TokenAuthorizer`) is served by the benchmark's own \
  process on `127.0.0.1`, on the same Tokio runtime. `GET /entries?limit=50` is first checked to answer the same \
  50 entries, in the same order, as `DeadLetters::list` with the default query (newest first); that direct call is \
  the *baseline* of the HTTP figures (`_vs_direct` in their names). At each size, HTTP calls on one keep-alive \
  connection (reqwest; the body read whole, not parsed) alternate with direct calls, timed as the other \
  latencies. At the largest size, pages per second from `wrk` (2 threads, 16 connections, on the same two cores \
  as the server) in rounds alternating with 16 tasks calling `list` directly for as long. The command line: the \
  release-built `pulse` binary run as a process on the big table (`--db` on SQLite; on PostgreSQL the URL in \
  `PULSE_DATABASE_URL`, `--schema` and `--table`), `stats` then `groups`, once untimed and 5 times timed, each \
  from spawn to exit.\n\
- **Claims**, **purge** and **replay cycles** run on the big table at its largest size; the purge removes as many \
  terminal entries as the largest size (topped up first), with one task storing an entry every 5 ms beside it.\n\
- **The SQLite WAL**: 8 tasks store one entry at a time for 60 seconds into a file of their own while the size of \
  its `-wal` file is read every 100 ms; the largest reading is the figure.\n\
- **The capture path**: a failing `dispatch_with` (retries off, the memory store), counted in instructions by \
  valgrind's callgrind, which counts the same on a busy machine: the benchmark runs itself under callgrind once \
  capturing no command and once 2,000, and reports the difference per call.\n\
- Ratios are always *value / baseline*: above 1 is faster for rates, slower for latencies.\n\n";

/// The explanations of the missed targets, then the diagnostics.
pub(super) fn write(md: &mut String, report: &Report) {
    let missed = |figure: &str, backend: &str| {
        report.targets.iter().any(|v| v.figure == figure && v.backend == backend && !v.met)
    };
    let mut why = String::new();
    for backend in ["memory", "sqlite", "postgres"] {
        if ["store_one_task", "store_8_tasks", VS_PGBENCH, "store_batch_100"]
            .iter()
            .any(|f| missed(f, backend))
        {
            stores(&mut why, report, backend);
        }
    }
    for backend in ["memory", "sqlite"] {
        if missed("statistics_median", backend) || missed("unresolved_count_median", backend) {
            statistics(&mut why, report, backend);
        }
    }
    for backend in ["sqlite", "postgres"] {
        if ["get_pending_median", "list_page_median", "get_pending_growth", "list_page_growth"]
            .iter()
            .any(|f| missed(f, backend))
        {
            pages(&mut why, report, backend);
        }
    }
    for backend in ["sqlite", "postgres"] {
        if missed("http_list_page_vs_direct_median", backend)
            || missed("http_list_page_vs_direct_p99", backend)
        {
            http(&mut why, report, backend);
        }
        if missed("cli_stats_median", backend) || missed("cli_groups_median", backend) {
            cli(&mut why, report, backend);
        }
    }
    if missed("claims", "postgres") {
        claims(&mut why, report);
    }
    for backend in ["memory", "sqlite", "postgres"] {
        if missed("purge", backend) || missed("store_p99_during_purge", backend) {
            purge(&mut why, report, backend);
        }
    }
    if !why.is_empty() {
        md.push_str("## Why targets are missed\n\n");
        md.push_str(&why);
    }
    diagnostics(md, report);
}

/// A figure's value, formatted; `-` when it was not measured.
fn fig(report: &Report, name: &str, backend: &str) -> String {
    report.figure(name, backend, None).map_or_else(|| "-".to_owned(), |f| value(f.value, f.unit))
}

/// A figure's baseline, formatted.
fn base(report: &Report, name: &str, backend: &str) -> String {
    report
        .figure(name, backend, None)
        .and_then(|f| f.baseline.map(|b| value(b, f.unit)))
        .unwrap_or_else(|| "-".to_owned())
}

/// A figure's ratio to its baseline.
fn rat(report: &Report, name: &str, backend: &str) -> String {
    report.figure(name, backend, None).and_then(|f| f.ratio).map_or_else(|| "-".to_owned(), ratio)
}

/// A figure's value at table size `entries`.
fn at(report: &Report, name: &str, backend: &str, entries: u64) -> String {
    report.figure(name, backend, Some(entries)).map_or_else(|| "-".to_owned(), |f| value(f.value, f.unit))
}

/// One step from the raw insert towards Pulse: what it adds, the variant measured after it,
/// and what would make it smaller.
struct Step {
    adds: &'static str,
    variant: &'static str,
    remedy: &'static str,
}

const SQLITE_STEPS: [Step; 3] = [
    Step {
        adds: "`INSERT`s of 64, 32, ... 1 rows with `ON CONFLICT DO NOTHING RETURNING Id`, in a `BEGIN IMMEDIATE` \
               transaction (one row in autocommit)",
        variant: "raw_as_store",
        remedy: "none that keeps the contract: an idempotent insert must skip conflicts and say what it wrote, and the \
                 transaction keeps a batch all or nothing",
    },
    Step {
        adds: "the store's own work around its statements (every value moved into a `rusqlite::Value`, the \
               metadata serialized, the hop to the writer thread and back)",
        variant: "store_insert",
        remedy: "in pulse-store-sqlite, less hand-off per call: the writer could take every job queued when it wakes \
                 in one transaction, at the cost of one failing job rolling back its neighbours",
    },
    Step {
        adds: "`DeadLetters` (validation, fingerprint, metric labels)",
        variant: "",
        remedy: "none left in the layer's own work: the validation and the fingerprint are the contract's, and the \
                 `metrics` facade cannot tell whether a recorder is installed, so the two labels (moved, not copied) \
                 are built for every entry",
    },
];

const POSTGRES_STEPS: [Step; 4] = [
    Step {
        adds: "`ON CONFLICT DO NOTHING RETURNING \"Id\"`",
        variant: "raw_on_conflict",
        remedy: "none that keeps the contract: an idempotent insert must skip conflicts and say what it wrote",
    },
    Step {
        adds: "the store's statement shape: one entry's values cast to the column types; a batch as one array per \
               column through `UNNEST`",
        variant: "raw_as_store",
        remedy: "in pulse-store-postgres (`Names::insert`), batches as multi-row `VALUES`; but every batch size would \
                 then be a prepared statement of its own, where `UNNEST` shares one",
    },
    Step {
        adds: "the store's own work around its statement (every value copied into per-column vectors, the returned \
               ids matched in a hash set, the receipts)",
        variant: "store_insert",
        remedy: "in pulse-store-postgres, bind borrowed values and skip the matching when every row came back",
    },
    Step {
        adds: "`DeadLetters` (validation, fingerprint, metric labels)",
        variant: "",
        remedy: "none left in the layer's own work: the validation and the fingerprint are the contract's, and the \
                 `metrics` facade cannot tell whether a recorder is installed, so the two labels (moved, not copied) \
                 are built for every entry",
    },
];

fn stores(md: &mut String, report: &Report, backend: &str) {
    let r = |name: &str| rat(report, name, backend);
    let _ = writeln!(
        md,
        "### Storing, {backend}\n\nPulse reaches {} / {} / {} of raw (1 task / 8 tasks / batches of 100).",
        r("store_one_task"),
        r("store_8_tasks"),
        r("store_batch_100")
    );
    match backend {
        "memory" => {
            let _ = writeln!(
                md,
                "The raw insert is one `HashMap` insert of a finished entry, a few microseconds; against that, \
                 Pulse's fixed work per entry cannot fit in a tenth. `validate::new_entry` alone (validation, \
                 truncation, fingerprint) costs {}. The store's own `insert`, given finished entries, reaches {} / \
                 {} / {} of raw: it moves each entry into its map, but also keeps the idempotency key in a second \
                 map (the tenant and the message id copied), the entry in two ordered indexes (every entry by time, \
                 the pending queue) and the counts per tenant and status, which is what makes its pages, counts \
                 and purges fast. Above the store, `DeadLetters` adds the validation, a `Vec` per call, and \
                 `observe::stored`, which copies the command type and the tenant for two metric labels per entry: \
                 the `metrics` facade cannot tell whether a recorder is installed.\n\n\
                 0.8 of a bare map insert may not be within reach of an in-memory store that keeps Pulse's \
                 contract and these indexes.\n",
                fig(report, "prepare_entry", "pulse"),
                r("store_one_task_store_insert"),
                r("store_8_tasks_store_insert"),
                r("store_batch_100_store_insert"),
            );
        }
        "sqlite" => ladder(md, report, backend, &SQLITE_STEPS),
        _ => ladder(md, report, backend, &POSTGRES_STEPS),
    }
}

/// The steps from raw to Pulse for each missed store figure, with the remedies of the steps
/// that cost at least 5% of raw and more than the rounds varied (smaller ones are noise).
fn ladder(md: &mut String, report: &Report, backend: &str, steps: &[Step]) {
    // Each figure with the targets that hold it: PostgreSQL's 8 tasks are held to pgbench.
    for (name, label, held_by) in [
        ("store_one_task", "1 task", &["store_one_task"][..]),
        ("store_8_tasks", "8 tasks", &["store_8_tasks", VS_PGBENCH]),
        ("store_batch_100", "batches of 100", &["store_batch_100"]),
    ] {
        let missed =
            report.targets.iter().any(|v| held_by.contains(&v.figure) && v.backend == backend && !v.met);
        if !missed {
            continue;
        }
        if name == "store_8_tasks" {
            against_pgbench(md, report, backend);
        }
        let figure = |variant: &str| {
            let figure = if variant.is_empty() { name.to_owned() } else { format!("{name}_{variant}") };
            report.figure(&figure, backend, None)
        };
        let noise = steps.iter().filter_map(|step| figure(step.variant)?.spread).fold(0.05, f64::max);
        let (mut before, mut parts, mut remedies) = (1.0, Vec::new(), Vec::new());
        for step in steps {
            let Some(after) = figure(step.variant).and_then(|f| f.ratio) else { continue };
            parts.push(format!("{} takes it to {}", step.adds, ratio(after)));
            if before - after > noise {
                remedies.push(format!(
                    "{:.0}% of raw, {}. Remedy: {}",
                    (before - after) * 100.0,
                    step.adds,
                    step.remedy
                ));
            }
            before = after;
        }
        let _ = writeln!(
            md,
            "\n*{label}*, step by step from raw (1.00): {}. The rounds behind these ratios varied by up to {:.0}%: \
             smaller steps are noise.",
            parts.join("; "),
            noise * 100.0
        );
        if remedies.is_empty() {
            let _ = writeln!(md, "No step stands out of the noise.");
        } else {
            let _ = writeln!(md, "The steps that stand out, and what would shrink them:\n");
            for remedy in remedies {
                let _ = writeln!(md, "- {remedy}.");
            }
        }
    }
    md.push('\n');
}

/// Where pgbench, the limit of PostgreSQL's 8-task target, stands against the raw insert and
/// Pulse; nothing when it was not measured (the target says why).
fn against_pgbench(md: &mut String, report: &Report, backend: &str) {
    if report.figure(VS_PGBENCH, backend, None).is_none() {
        return;
    }
    let s = &report.settings;
    let _ = writeln!(
        md,
        "\n*8 tasks, against pgbench*: pgbench with {} clients writes {} and Pulse reaches {} of it; the raw insert \
         on the sqlx pool reaches {} of pgbench. From pgbench to the raw insert the row is the same and only the \
         client differs (sqlx on Tokio, against libpq in C on {} threads); from the raw insert to Pulse, the steps \
         below.",
        s.concurrent_tasks,
        base(report, VS_PGBENCH, backend),
        rat(report, VS_PGBENCH, backend),
        rat(report, RAW_VS_PGBENCH, backend),
        s.pgbench_threads,
    );
}

fn statistics(md: &mut String, report: &Report, backend: &str) {
    let medians: Vec<String> = report
        .settings
        .levels
        .iter()
        .map(|&l| format!("{} at {}", at(report, "statistics_median", backend, l), thousands(l as f64)))
        .collect();
    let _ = writeln!(
        md,
        "### Statistics and the unresolved count, {backend}\n\n\
         `statistics()` takes {}; `unresolved_count()` is the same call. A time that grows with the entries means \
         the store counts them on every call instead of keeping counts as entries change.\n",
        medians.join(", ")
    );
}

fn pages(md: &mut String, report: &Report, backend: &str) {
    let largest = report.settings.levels.last().copied().unwrap_or_default();
    let page = |name: &str| report.figure(name, backend, Some(largest));
    let by_hand = |name: &str| page(name).and_then(|f| f.baseline).map_or("-".to_owned(), |b| value(b, "ms"));
    let over = |name: &str| page(name).and_then(|f| f.ratio).map_or("-".to_owned(), ratio);
    let _ = writeln!(
        md,
        "### Pages, {backend}\n\n\
         At {} entries `get_pending(50)` takes {} and the list page {}; read by hand, {} and {} (Pulse over by hand: \
         {} and {}). Measured against a table of the smallest size read in turn, the pages grow {} and {}; by hand, \
         {} and {}. A page read by hand that costs about as much as Pulse's, and grows as much, is the database and \
         the machine, not Pulse; on PostgreSQL the server itself runs each page in a fraction of that (EXPLAIN \
         ANALYZE under Diagnostics), the rest is the round trip and decoding on two cores shared with the server.\n",
        thousands(largest as f64),
        at(report, "get_pending_median", backend, largest),
        at(report, "list_page_median", backend, largest),
        by_hand("get_pending_median"),
        by_hand("list_page_median"),
        over("get_pending_median"),
        over("list_page_median"),
        fig(report, "get_pending_growth", backend),
        fig(report, "list_page_growth", backend),
        base(report, "get_pending_growth", backend),
        base(report, "list_page_growth", backend),
    );
}

fn http(md: &mut String, report: &Report, backend: &str) {
    let largest = report.settings.levels.last().copied().unwrap_or_default();
    let page = |name: &str| report.figure(name, backend, Some(largest));
    let direct = |name: &str| page(name).and_then(|f| f.baseline).map_or("-".to_owned(), |b| value(b, "ms"));
    let over = |name: &str| page(name).and_then(|f| f.ratio).map_or("-".to_owned(), ratio);
    let _ = writeln!(
        md,
        "### List page over HTTP, {backend}\n\n\
         At {} entries the page takes {} over HTTP (p99 {}) and {} by a direct `list` call (p99 {}): HTTP / direct \
         {} and {}. The difference is what the API adds (routing, hashing the token, the JSON of 50 entries, \
         loopback TCP, the client); what the direct call alone takes is the store's page (see Pages).\n",
        thousands(largest as f64),
        at(report, "http_list_page_vs_direct_median", backend, largest),
        at(report, "http_list_page_vs_direct_p99", backend, largest),
        direct("http_list_page_vs_direct_median"),
        direct("http_list_page_vs_direct_p99"),
        over("http_list_page_vs_direct_median"),
        over("http_list_page_vs_direct_p99"),
    );
}

fn cli(md: &mut String, report: &Report, backend: &str) {
    let largest = report.settings.levels.last().copied().unwrap_or_default();
    let f = |name: &str| at(report, name, backend, largest);
    let _ = writeln!(
        md,
        "### Command line, {backend}\n\n\
         At {} entries `pulse stats` takes {} (slowest {}) and `pulse groups` {} (slowest {}); in the benchmark's \
         process `statistics()` takes {}. The rest of `stats` is the process: its start, its Tokio runtime, opening \
         the store (PostgreSQL: connecting; SQLite: opening the file and the store's threads) and printing. \
         `groups` also groups every unresolved entry, which no in-process figure here times.\n",
        thousands(largest as f64),
        f("cli_stats_median"),
        f("cli_stats_max"),
        f("cli_groups_median"),
        f("cli_groups_max"),
        f("statistics_median"),
    );
}

fn claims(md: &mut String, report: &Report) {
    let requested = report.figure("claims", "postgres", None).and_then(|f| f.entries).unwrap_or_default();
    let _ = writeln!(
        md,
        "### Claims\n\n\
         PostgreSQL claims {} with {} claimers ({} of {} requested entries claimed). One claim call takes {} early \
         and {} late: a call that gets slower as entries are claimed means each claim walks past the entries \
         claimed before it (they stay Replaying, with their request, until their replay finishes), so claiming N \
         entries costs O(N²). The search for claimable entries must read only what can be claimed: requests on New \
         or Resolved entries in request order, and expired leases.\n",
        fig(report, "claims", "postgres"),
        report.settings.claimers,
        fig(report, "claims_total", "postgres"),
        thousands(requested as f64),
        fig(report, "claim_call_first_tenth", "postgres"),
        fig(report, "claim_call_last_tenth", "postgres"),
    );
}

fn purge(md: &mut String, report: &Report, backend: &str) {
    let _ = writeln!(md, "### Purge, {backend}\n");
    let f = |name: &str| fig(report, name, backend);
    let b = |name: &str| base(report, name, backend);
    match backend {
        "sqlite" => {
            let _ = writeln!(
                md,
                "The purge runs at {} (target 50,000 entries/s). The store deletes in transactions of 250 entries, \
                 from the table and its nine indexes, and each deleted row also runs migration 2's count trigger; \
                 every write goes through the store's one writer thread, so a store that arrives during a purge \
                 transaction waits for it: the stores' median went from {} to {}, their p99 to {}. WAL checkpoints \
                 run on a connection of their own, off the writer, but share the disk (a 4 KiB `fsync` takes {:.2} ms \
                 here). Without any purge the same stores have a p99 of {}; raw inserts at the same pace, \
                 checkpointing on their own connection as SQLite does by default, have a p99 of {} with automatic \
                 checkpoints and {} with none. In batches of 100 the purge runs at {} and the stores' p99 is {}.\n",
                f("purge"),
                b("store_median_during_purge"),
                f("store_median_during_purge"),
                f("store_p99_during_purge"),
                report.machine.fsync_ms,
                b("store_p99_during_purge"),
                report
                    .figure("raw_store_p99_without_checkpoints", "sqlite", None)
                    .and_then(|x| x.baseline)
                    .map_or("-".to_owned(), |v| value(v, "ms")),
                f("raw_store_p99_without_checkpoints"),
                f("purge_small_batches"),
                f("store_p99_during_small_purge"),
            );
        }
        "memory" => {
            let _ = writeln!(
                md,
                "The purge runs at {}, but the stores beside it wait: p99 {} (median {}), against {} without a \
                 purge. A `purge` call takes the oldest terminal entries from an index by resolution time and \
                 holds the store's one lock (a `parking_lot` mutex) only for its batch, then releases it fairly, to \
                 the thread that waited longest, so a store waits for at most the batch in hand; what remains is \
                 that batch's time under the lock (the map of a million entries changing under it), and, on a busy \
                 machine, the time the woken thread waits for a core. In batches of 100: {}, at {}.\n",
                f("purge"),
                f("store_p99_during_purge"),
                f("store_median_during_purge"),
                b("store_p99_during_purge"),
                f("store_p99_during_small_purge"),
                f("purge_small_batches"),
            );
        }
        _ => {
            let _ = writeln!(
                md,
                "The purge runs at {}; the stores' p99 went from {} to {}. In batches of 100: {}, p99 {}.\n",
                f("purge"),
                b("store_p99_during_purge"),
                f("store_p99_during_purge"),
                f("purge_small_batches"),
                f("store_p99_during_small_purge"),
            );
        }
    }
}

/// The diagnostics recorded by the run: query plans.
fn diagnostics(md: &mut String, report: &Report) {
    if report.diagnostics.is_empty() {
        return;
    }
    md.push_str("## Diagnostics\n\n");
    for d in &report.diagnostics {
        let _ = writeln!(md, "### {}: {}\n\n```text\n{}\n```\n", d.backend, d.title, d.text.trim_end());
    }
}
