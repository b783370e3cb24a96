//! Figures 4, 5 and 8: pending entries, a list page, statistics and the unresolved count at each
//! table size, the pages against the same queries written by hand; how the pages grow from the
//! smallest size to the largest; and, for the memory store, resident memory per entry.

use anyhow::{Result, ensure};
use pulse_extensibility::{DeadLetters, ListQuery};

use super::Out;
use crate::backend::{Kind, Lab, Page, Reader, Subject};
use crate::diagnose;
use crate::entries::{Timeline, now};
use crate::machine::{resident_bytes, sync_disks};
use crate::measure::{Latency, latency, millis};
use crate::plan::Plan;
use crate::populate;
use crate::report::Figure;

/// The big table's name.
pub(crate) const TABLE: &str = "BigTable";

/// The big table, filled to the largest size, for the figures that follow.
pub(crate) struct BigTable {
    pub(crate) kind: Kind,
    pub(crate) subject: Subject,
    pub(crate) timeline: Timeline,
    /// Entries written so far: the next entry's index on the timeline.
    pub(crate) written: u64,
}

/// A page read by Pulse and, for the database stores, by hand.
#[derive(Clone, Copy)]
struct Timed {
    pulse: Latency,
    raw: Option<Latency>,
}

pub(crate) async fn run(lab: &Lab, plan: &Plan, kind: Kind, out: &mut Out) -> Result<BigTable> {
    let resident_before = resident_bytes()?;
    let subject = lab.pulse(kind, TABLE).await?;
    let reader = lab.reader(kind, TABLE).await?;
    let timeline = Timeline::new(now());
    let dead_letters = subject.dead_letters.clone();
    let mut first: Option<[Timed; 2]> = None;
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
        settle(lab, kind).await?;
        let pages = measure_level(&dead_letters, reader.as_ref(), plan, level, out).await?;
        first.get_or_insert(pages);
    }
    if let Some(first) = first {
        growth(&first, plan.largest(), out);
    }
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

/// Lets the database reach a steady state after a bulk load, as a running service's would be:
/// statistics collected and the dirty pages written out, so neither autovacuum nor the kernel's
/// writeback of the load runs during the measurements.
async fn settle(lab: &Lab, kind: Kind) -> Result<()> {
    match kind {
        Kind::Memory => return Ok(()),
        Kind::Sqlite => {}
        Kind::Postgres => {
            lab.pg.vacuum_analyze(TABLE).await?;
            lab.pg.execute("CHECKPOINT".to_owned()).await?;
        }
    }
    tokio::task::spawn_blocking(sync_disks).await?
}

/// Times the pages (by Pulse and by hand), statistics and the unresolved count at one size.
async fn measure_level(
    dead_letters: &DeadLetters,
    reader: Option<&Reader>,
    plan: &Plan,
    level: u64,
    out: &mut Out,
) -> Result<[Timed; 2]> {
    let pending = Timed {
        pulse: latency(plan.latency, || async {
            let page = dead_letters.get_pending(50, 0).await?;
            ensure!(page.len() == 50, "get_pending returned {} entries", page.len());
            Ok(())
        })
        .await?,
        raw: by_hand(reader, plan, Page::Pending).await?,
    };
    add(out, ["get_pending_median", "get_pending_p99"], level, pending);
    let list = Timed {
        pulse: latency(plan.latency, || async {
            let page = dead_letters.list(ListQuery::default()).await?;
            ensure!(page.entries.len() == 50 && page.next_cursor.is_some(), "a short list page");
            Ok(())
        })
        .await?,
        raw: by_hand(reader, plan, Page::List).await?,
    };
    add(out, ["list_page_median", "list_page_p99"], level, list);
    let statistics = latency(plan.latency, || async { Ok(dead_letters.statistics().await?) }).await?;
    add(out, ["statistics_median", "statistics_p99"], level, Timed { pulse: statistics, raw: None });
    let unresolved = latency(plan.latency, || async { Ok(dead_letters.unresolved_count().await?) }).await?;
    add(
        out,
        ["unresolved_count_median", "unresolved_count_p99"],
        level,
        Timed { pulse: unresolved, raw: None },
    );
    Ok([pending, list])
}

/// `page` read by hand, timed.
async fn by_hand(reader: Option<&Reader>, plan: &Plan, page: Page) -> Result<Option<Latency>> {
    match reader {
        Some(reader) => Ok(Some(latency(plan.latency, || reader.page(page)).await?)),
        None => Ok(None),
    }
}

/// Records the median and the 99th percentile of one read, under `names`.
fn add(out: &mut Out, names: [&'static str; 2], level: u64, timed: Timed) {
    let backend = out.backend();
    let pick = [|l: &Latency| l.median, |l: &Latency| l.p99];
    for (name, pick) in names.into_iter().zip(pick) {
        let mut figure = Figure::new(name, backend, millis(pick(&timed.pulse)), "ms")
            .at(level)
            .sampled(timed.pulse.samples);
        if let Some(raw) = &timed.raw {
            figure = figure.against(millis(pick(raw)));
        }
        out.add(figure);
    }
}

/// Median at the largest size over the median at the smallest, against the same growth of the
/// pages read by hand.
fn growth(first: &[Timed; 2], largest: u64, out: &mut Out) {
    let names = [("get_pending_growth", "get_pending_median"), ("list_page_growth", "list_page_median")];
    for ((name, median), first) in names.into_iter().zip(first) {
        let Some(last) = out.figures.iter().find(|f| f.name == median && f.entries == Some(largest)) else {
            continue;
        };
        let mut figure =
            Figure::new(name, out.backend(), last.value / millis(first.pulse.median), "x").at(largest);
        if let (Some(last_raw), Some(first_raw)) = (last.baseline, first.raw) {
            figure = figure.against(last_raw / millis(first_raw.median));
        }
        out.add(figure);
    }
}
