//! Purging: the big table's terminal entries in batches while stores keep coming at a
//! steady pace, against the latency of the same stores without a purge. Then, as diagnostics, a
//! tenth as many entries purged in small batches, and on SQLite the same paced stores written
//! raw with WAL checkpoints on and off.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use pulse_extensibility::DeadLetters;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::Out;
use super::ops::{raw, store};
use super::reads::BigTable;
use crate::backend::{Kind, Lab};
use crate::entries::{Timeline, now};
use crate::measure::{Latency, Op, millis};
use crate::plan::Plan;
use crate::populate;
use crate::report::Figure;

/// Terminal entries younger than this are not purged: those the replay cycles just resolved.
const KEEP: Duration = Duration::from_secs(24 * 3600);

/// The batch of the small-batch diagnostic.
const SMALL_BATCH: u32 = 100;

/// Tops the terminal entries up to the largest size, purges them all while storing, and checks
/// that exactly those went; then the diagnostics.
pub(crate) async fn run(lab: &Lab, plan: &Plan, big: &BigTable, replayed: u64, out: &mut Out) -> Result<()> {
    let dead_letters = &big.subject.dead_letters;
    let statistics = dead_letters.statistics().await?;
    let old = (statistics.resolved + statistics.dismissed).saturating_sub(replayed);
    let doomed = plan.largest();
    let added = big.written..big.written + doomed.saturating_sub(old);
    top_up(lab, plan, big, added.clone()).await?;
    let stores = store(dead_letters.clone(), lab.template.clone(), 1);
    let quiet = paced(&stores, plan.store_interval, plan.quiet_stores).await?;
    out.say(&format!("purging {doomed} entries, {} per batch", plan.purge_batch));
    let (rate, during) = purge_while_storing(plan, dead_letters, &stores, plan.purge_batch, doomed).await?;
    let backend = out.backend();
    out.add(Figure::new("purge", backend, rate, "entries/s").at(doomed));
    let latency = |name, value: Duration, quiet: Duration| {
        Figure::new(name, backend, millis(value), "ms").against(millis(quiet)).sampled(during.samples)
    };
    out.add(latency("store_median_during_purge", during.median, quiet.median));
    out.add(latency("store_p99_during_purge", during.p99, quiet.p99));
    let small = doomed / 10;
    top_up(lab, plan, big, added.end..added.end + small).await?;
    out.say(&format!("purging {small} entries, {SMALL_BATCH} per batch"));
    let (rate, during) = purge_while_storing(plan, dead_letters, &stores, SMALL_BATCH, small).await?;
    out.add(Figure::new("purge_small_batches", backend, rate, "entries/s").at(small));
    out.add(latency("store_p99_during_small_purge", during.p99, quiet.p99));
    let left = dead_letters.statistics().await?;
    ensure!(left.resolved + left.dismissed == replayed, "the purges left {left:?}");
    if big.kind == Kind::Sqlite {
        checkpoints(lab, plan, out).await?;
    }
    Ok(())
}

/// Adds the terminal entries `range` of the big table's timeline.
async fn top_up(lab: &Lab, plan: &Plan, big: &BigTable, range: Range<u64>) -> Result<()> {
    let shape = Timeline::terminal_entry;
    populate::fill(&big.subject.dead_letters, &lab.template, &big.timeline, range, plan.populate_batch, shape)
        .await
}

/// Purges in batches of `batch` on a task of its own, as a sweeper would, until nothing old is
/// left, while `stores` run at the plan's pace; checks that `expected` entries went. Returns the
/// purge rate and the stores' latency.
async fn purge_while_storing(
    plan: &Plan,
    dead_letters: &DeadLetters,
    stores: &Op,
    batch: u32,
    expected: u64,
) -> Result<(f64, Latency)> {
    let stores = Paced::start(stores.clone(), plan.store_interval);
    let dead_letters = dead_letters.clone();
    let sweeper = tokio::spawn(async move {
        let (started, cutoff, mut purged) = (Instant::now(), now().saturating_sub(KEEP), 0);
        loop {
            let n = dead_letters.purge(cutoff, batch).await?;
            purged += n;
            if n < u64::from(batch) {
                return anyhow::Ok((purged, purged as f64 / started.elapsed().as_secs_f64()));
            }
        }
    });
    let (purged, rate) = sweeper.await.context("the purge task panicked")??;
    let during = stores.stop().await?;
    ensure!(purged == expected, "purged {purged} entries, expected {expected}");
    Ok((rate, during))
}

/// The latency of `op` called at the plan's pace for `duration`.
async fn paced(op: &Op, interval: Duration, duration: Duration) -> Result<Latency> {
    let paced = Paced::start(op.clone(), interval);
    tokio::time::sleep(duration).await;
    paced.stop().await
}

/// SQLite: the quiet paced stores again, written raw, with the WAL checkpointed automatically on
/// the writing connection (SQLite's default, as in the store) and not at all.
async fn checkpoints(lab: &Lab, plan: &Plan, out: &mut Out) -> Result<()> {
    let baseline = Arc::new(lab.baseline(Kind::Sqlite, "raw_checkpoints").await?);
    let op = raw(baseline.clone(), 1);
    let on = paced(&op, plan.store_interval, plan.quiet_stores).await?;
    baseline.set_autocheckpoint(0).context("not SQLite")??;
    let off = paced(&op, plan.store_interval, plan.quiet_stores).await?;
    let backend = out.backend();
    let figure = Figure::new("raw_store_p99_without_checkpoints", backend, millis(off.p99), "ms");
    out.add(figure.against(millis(on.p99)).sampled(off.samples));
    Ok(())
}

/// One task calling an operation every interval, timing each call, until stopped.
struct Paced {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<Vec<Duration>>>,
}

impl Paced {
    fn start(op: Op, interval: Duration) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut samples = Vec::new();
            while !*stopped.borrow() {
                ticker.tick().await;
                let call = op();
                let started = Instant::now();
                call.await?;
                samples.push(started.elapsed());
            }
            Ok(samples)
        });
        Self { stop, task }
    }

    async fn stop(self) -> Result<Latency> {
        self.stop.send_replace(true);
        let samples = self.task.await.context("the paced task panicked")??;
        Ok(Latency::of(samples))
    }
}
