//! Reading: pending entries, a list page, statistics and the unresolved count at each table
//! size, the pages against the store's own page queries sent by hand (after checking that they
//! read the same entries as Pulse); how the pages grow from the smallest size to the largest;
//! and, for the memory store, resident memory per entry. On SQLite and PostgreSQL, the operator
//! console on the same table: the list page over HTTP at each size (`http.rs`), and the command
//! line (`cli.rs`) and the dashboard's pages (`dashboard.rs`) at the largest.
//!
//! The sizes are measured minutes apart, and a shared machine drifts more than that in minutes;
//! so the growth is measured separately, with a table of the smallest size read in turn with the
//! big one, in the same window.

use anyhow::{Result, bail, ensure};
use pulse_extensibility::{DeadLetterEntry, DeadLetters, ListQuery};

use super::Out;
use super::cli;
use super::dashboard;
use super::http::Console;
use crate::backend::{Kind, Lab, Page, Reader, Subject};
use crate::diagnose;
use crate::entries::{Timeline, now};
use crate::machine::{resident_bytes, sync_disks};
use crate::measure::{Latency, interleaved, latency, millis};
use crate::plan::Plan;
use crate::populate;
use crate::report::Figure;
use crate::tools::Tools;

/// The big table's name.
pub(crate) const TABLE: &str = "BigTable";

/// The name of the table of the smallest size that the growth is measured against.
const REFERENCE: &str = "ReferenceTable";

/// The big table, filled to the largest size, for the figures that follow.
pub(crate) struct BigTable {
    pub(crate) kind: Kind,
    pub(crate) subject: Subject,
    pub(crate) timeline: Timeline,
    /// Entries written so far: the next entry's index on the timeline.
    pub(crate) written: u64,
}

pub(crate) async fn run(
    lab: &Lab,
    plan: &Plan,
    tools: Option<&Tools>,
    kind: Kind,
    out: &mut Out,
) -> Result<BigTable> {
    let resident_before = resident_bytes()?;
    let subject = lab.pulse(kind, TABLE).await?;
    let reader = lab.reader(kind, TABLE).await?;
    let timeline = Timeline::new(now());
    let dead_letters = subject.dead_letters.clone();
    // Not the memory store: no command line opens it, and its list page at the largest size
    // takes a third of a second, which says nothing of HTTP.
    let console = match (kind, tools) {
        (Kind::Memory, _) => None,
        (_, Some(tools)) => Some((Console::start(dead_letters.clone()).await?, tools)),
        (_, None) => bail!("the console figures of {} need wrk and the pulse binary", kind.name()),
    };
    let mut written = 0;
    for &level in &plan.levels {
        out.say(&format!("filling the big table to {level} entries"));
        populate::fill(
            &dead_letters,
            &lab.template,
            &timeline,
            written..level,
            plan.populate_batch,
            Timeline::entry,
        )
        .await?;
        written = level;
        populate::check(&dead_letters, &timeline, level).await?;
        if kind == Kind::Memory && level == plan.largest() {
            footprint(lab, level, resident_before, out)?;
        }
        settle(lab, kind, TABLE).await?;
        measure_level(&dead_letters, reader.as_ref(), plan, level, out).await?;
        if let Some((console, tools)) = &console {
            console.measure(&dead_letters, plan, tools, level, out).await?;
            if level == plan.largest() {
                cli::run(lab, tools, kind, level, out).await?;
                dashboard::run(&dead_letters, &timeline, plan, level, out).await?;
            }
        }
    }
    if let Some((console, _)) = console {
        console.stop().await?;
    }
    growth(lab, plan, kind, &dead_letters, reader.as_ref(), out).await?;
    if let Some(reader) = reader {
        reader.close().await;
    }
    diagnose::reads(lab, kind, out).await?;
    Ok(BigTable { kind, subject, timeline, written })
}

/// Resident memory the filled memory store takes per entry.
fn footprint(lab: &Lab, level: u64, before: u64, out: &mut Out) -> Result<()> {
    let grown = resident_bytes()?.saturating_sub(before);
    let backend = out.backend();
    out.add(Figure::new("resident_bytes_per_entry", backend, grown as f64 / level as f64, "bytes").at(level));
    out.add(Figure::new("entry_text_bytes", backend, lab.template.text_bytes() as f64, "bytes"));
    Ok(())
}

/// Lets the database reach a steady state after a bulk load into `table`, as a running
/// service's would be: statistics collected and the dirty pages written out, so neither
/// autovacuum nor the kernel's writeback of the load runs during the measurements.
async fn settle(lab: &Lab, kind: Kind, table: &str) -> Result<()> {
    match kind {
        Kind::Memory => return Ok(()),
        Kind::Sqlite => {}
        Kind::Postgres => {
            lab.pg.vacuum_analyze(table).await?;
            lab.pg.execute("CHECKPOINT".to_owned()).await?;
        }
    }
    tokio::task::spawn_blocking(sync_disks).await?
}

/// Reads `page` through Pulse; returns how many entries it had.
async fn page_by_pulse(dead_letters: &DeadLetters, page: Page) -> Result<usize> {
    Ok(read_by_pulse(dead_letters, page).await?.len())
}

/// Reads `page` through Pulse.
async fn read_by_pulse(dead_letters: &DeadLetters, page: Page) -> Result<Vec<DeadLetterEntry>> {
    match page {
        Page::Pending => {
            let entries = dead_letters.get_pending(50, 0).await?;
            ensure!(entries.len() == 50, "get_pending returned {} entries", entries.len());
            Ok(entries)
        }
        Page::List => {
            let listed = dead_letters.list(ListQuery::default()).await?;
            ensure!(listed.entries.len() == 50 && listed.next_cursor.is_some(), "a short list page");
            Ok(listed.entries)
        }
    }
}

/// Fails unless `reader` reads the entries of `page` that Pulse reads, in the same order (the
/// list page by hand has one more row: the one that tells Pulse that more follow).
async fn check_reader(dead_letters: &DeadLetters, reader: &Reader, page: Page) -> Result<()> {
    let by_pulse: Vec<_> = read_by_pulse(dead_letters, page).await?.iter().map(|e| *e.id.as_uuid()).collect();
    let by_hand = reader.ids(page).await?;
    ensure!(
        by_hand.starts_with(&by_pulse) && by_hand.len() == page.query().limit as usize,
        "{page:?} by hand read other entries than Pulse: {by_hand:?}, not {by_pulse:?}"
    );
    Ok(())
}

/// Times the pages (through Pulse and by hand), statistics and the unresolved count at one size.
async fn measure_level(
    dead_letters: &DeadLetters,
    reader: Option<&Reader>,
    plan: &Plan,
    level: u64,
    out: &mut Out,
) -> Result<()> {
    for (page, names) in [
        (Page::Pending, ["get_pending_median", "get_pending_p99"]),
        (Page::List, ["list_page_median", "list_page_p99"]),
    ] {
        let pulse = latency(plan.latency, || page_by_pulse(dead_letters, page)).await?;
        let raw = match reader {
            Some(reader) => {
                check_reader(dead_letters, reader, page).await?;
                Some(latency(plan.latency, || reader.page(page)).await?)
            }
            None => None,
        };
        add(out, names, level, pulse, raw);
    }
    let statistics = latency(plan.latency, || async { Ok(dead_letters.statistics().await?) }).await?;
    add(out, ["statistics_median", "statistics_p99"], level, statistics, None);
    let unresolved = latency(plan.latency, || async { Ok(dead_letters.unresolved_count().await?) }).await?;
    add(out, ["unresolved_count_median", "unresolved_count_p99"], level, unresolved, None);
    Ok(())
}

/// Records the median and the 99th percentile of one read, under `names`, against the same read
/// by hand when there is one.
fn add(out: &mut Out, names: [&'static str; 2], level: u64, pulse: Latency, raw: Option<Latency>) {
    let backend = out.backend();
    let pick = [|l: &Latency| l.median, |l: &Latency| l.p99];
    for (name, pick) in names.into_iter().zip(pick) {
        let mut figure =
            Figure::new(name, backend, millis(pick(&pulse)), "ms").at(level).sampled(pulse.samples);
        if let Some(raw) = &raw {
            figure = figure.against(millis(pick(raw)));
        }
        out.add(figure);
    }
}

/// The pages' median on the big table over their median on a table of the smallest size, read
/// in turn; against the same growth of the pages read by hand.
async fn growth(
    lab: &Lab,
    plan: &Plan,
    kind: Kind,
    big: &DeadLetters,
    big_reader: Option<&Reader>,
    out: &mut Out,
) -> Result<()> {
    let smallest = plan.levels.first().copied().unwrap_or_default();
    out.say(&format!("growth: a {smallest}-entry table read in turn with the big one"));
    let small = lab.pulse(kind, REFERENCE).await?;
    let timeline = Timeline::new(now());
    populate::fill(
        &small.dead_letters,
        &lab.template,
        &timeline,
        0..smallest,
        plan.populate_batch,
        Timeline::entry,
    )
    .await?;
    settle(lab, kind, REFERENCE).await?;
    let small_reader = lab.reader(kind, REFERENCE).await?;
    for (page, name) in [(Page::Pending, "get_pending_growth"), (Page::List, "list_page_growth")] {
        let (on_big, on_small) = interleaved(
            plan.latency,
            || page_by_pulse(big, page),
            || page_by_pulse(&small.dead_letters, page),
        )
        .await?;
        let mut figure =
            Figure::new(name, out.backend(), millis(on_big.median) / millis(on_small.median), "x")
                .at(plan.largest());
        if let (Some(big_reader), Some(small_reader)) = (big_reader, &small_reader) {
            check_reader(&small.dead_letters, small_reader, page).await?;
            let (on_big, on_small) =
                interleaved(plan.latency, || big_reader.page(page), || small_reader.page(page)).await?;
            figure = figure.against(millis(on_big.median) / millis(on_small.median));
        }
        out.add(figure);
    }
    if let Some(reader) = small_reader {
        reader.close().await;
    }
    small.close().await;
    Ok(())
}
