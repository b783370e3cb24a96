//! Filling the big table fast: complete entries of the timeline, written by the store's own
//! `insert` in batches, so every row is one the store wrote itself and reads back; then a check
//! that it does.

use std::ops::Range;

use anyhow::{Context, Result, ensure};
use pulse_extensibility::{CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetters, SortKey};
use tokio::task::JoinSet;

use crate::entries::{Template, Timeline};

/// Batches written at once: one is built while another is written.
const IN_FLIGHT: usize = 2;

/// How entry `k` of the timeline looks.
pub(crate) type Shape = fn(&Timeline, &Template, u64) -> DeadLetterEntry;

/// Writes entries `range` of `timeline`, shaped by `shape`, `batch` per insert.
pub(crate) async fn fill(
    dead_letters: &DeadLetters,
    template: &Template,
    timeline: &Timeline,
    range: Range<u64>,
    batch: usize,
    shape: Shape,
) -> Result<()> {
    let backend = dead_letters.backend().clone();
    let mut writes = JoinSet::new();
    let mut next = range.start;
    while next < range.end {
        let end = range.end.min(next + batch as u64);
        let entries: Vec<DeadLetterEntry> = (next..end).map(|k| shape(timeline, template, k)).collect();
        next = end;
        if writes.len() == IN_FLIGHT {
            writes.join_next().await.context("a write task vanished")???;
        }
        let backend = backend.clone();
        writes.spawn(async move {
            let receipts = backend.insert(entries).await?;
            ensure!(receipts.iter().all(|receipt| !receipt.duplicate), "a filled entry was a duplicate");
            anyhow::Ok(())
        });
    }
    while let Some(write) = writes.join_next().await {
        write.context("a write task panicked")??;
    }
    Ok(())
}

/// Checks that the store reads the first `level` entries of `timeline` back as written: the
/// counts per status, and the oldest pending entries in order.
pub(crate) async fn check(dead_letters: &DeadLetters, timeline: &Timeline, level: u64) -> Result<()> {
    let expected = Timeline::expected(level);
    let statistics = dead_letters.statistics().await?;
    ensure!(statistics == expected, "after filling {level} entries the statistics are {statistics:?}");
    let pending = dead_letters.get_pending(50, 0).await?;
    ensure!(pending.len() as u64 == expected.new.min(50), "get_pending returned {} entries", pending.len());
    ensure!(pending.iter().all(|entry| entry.status == Status::New), "get_pending returned a non-New entry");
    ensure!(
        pending.first().map(|entry| entry.occurred_at) == Some(timeline.at(0)),
        "get_pending does not start with the oldest entry"
    );
    ensure!(
        pending.windows(2).all(|pair| SortKey::of(&pair[0]) < SortKey::of(&pair[1])),
        "get_pending is not in order"
    );
    Ok(())
}
