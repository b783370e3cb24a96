//! Figure 7: purging the big table's terminal entries in batches while stores keep coming at a
//! steady pace, against the latency of the same stores without a purge. Then, as a diagnostic,
//! a tenth as many entries purged in small batches.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use pulse_extensibility::DeadLetters;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::Out;
use super::reads::BigTable;
use crate::backend::Lab;
use crate::entries::{Template, Timeline, now};
use crate::measure::{Latency, millis};
use crate::plan::Plan;
use crate::populate;
use crate::report::Figure;

/// Terminal entries younger than this are not purged: those the replay cycles just resolved.
const KEEP: Duration = Duration::from_secs(24 * 3600);

/// The batch of the small-batch diagnostic.
const SMALL_BATCH: u32 = 100;

/// Tops the terminal entries up to the largest size, purges them all while storing, and checks
/// that exactly those went; then the same for a tenth as many in small batches.
pub(crate) async fn run(lab: &Lab, plan: &Plan, big: &BigTable, replayed: u64, out: &mut Out) -> Result<()> {
    let dead_letters = &big.subject.dead_letters;
    let statistics = dead_letters.statistics().await?;
    let old = (statistics.resolved + statistics.dismissed).saturating_sub(replayed);
    let doomed = plan.largest();
    let added = big.written..big.written + doomed.saturating_sub(old);
    top_up(lab, plan, big, added.clone()).await?;
    out.say(&format!("purging {doomed} entries, {} per batch", plan.purge_batch));
    let quiet = Stores::start(dead_letters, &lab.template, plan.store_interval);
    tokio::time::sleep(plan.quiet_stores).await;
    let quiet = quiet.stop().await?;
    let (rate, during) = purge_while_storing(lab, plan, dead_letters, plan.purge_batch, doomed).await?;
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
    let (rate, during) = purge_while_storing(lab, plan, dead_letters, SMALL_BATCH, small).await?;
    out.add(Figure::new("purge_small_batches", backend, rate, "entries/s").at(small));
    let p99 = Figure::new("store_p99_during_small_purge", backend, millis(during.p99), "ms");
    out.add(p99.against(millis(quiet.p99)).sampled(during.samples));
    let left = dead_letters.statistics().await?;
    ensure!(left.resolved + left.dismissed == replayed, "the purges left {left:?}");
    Ok(())
}

/// Adds the terminal entries `range` of the big table's timeline.
async fn top_up(lab: &Lab, plan: &Plan, big: &BigTable, range: Range<u64>) -> Result<()> {
    let shape = Timeline::terminal_entry;
    populate::fill(&big.subject.dead_letters, &lab.template, &big.timeline, range, plan.populate_batch, shape)
        .await
}

/// Purges in batches of `batch` until nothing old is left, while one task stores at the plan's
/// pace; checks that `expected` entries went. Returns the purge rate and the stores' latency.
async fn purge_while_storing(
    lab: &Lab,
    plan: &Plan,
    dead_letters: &DeadLetters,
    batch: u32,
    expected: u64,
) -> Result<(f64, Latency)> {
    let stores = Stores::start(dead_letters, &lab.template, plan.store_interval);
    let started = Instant::now();
    let (cutoff, mut purged) = (now().saturating_sub(KEEP), 0);
    loop {
        let n = dead_letters.purge(cutoff, batch).await?;
        purged += n;
        if n < u64::from(batch) {
            break;
        }
    }
    let rate = purged as f64 / started.elapsed().as_secs_f64();
    let during = stores.stop().await?;
    ensure!(purged == expected, "purged {purged} entries, expected {expected}");
    Ok((rate, during))
}

/// One task storing an entry every interval, timing each store, until stopped.
struct Stores {
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<Vec<Duration>>>,
}

impl Stores {
    fn start(dead_letters: &DeadLetters, template: &Arc<Template>, interval: Duration) -> Self {
        let (stop, stopped) = watch::channel(false);
        let (dead_letters, template) = (dead_letters.clone(), template.clone());
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut samples = Vec::new();
            while !*stopped.borrow() {
                ticker.tick().await;
                let input = template.input();
                let started = Instant::now();
                dead_letters.store(input).await?;
                samples.push(started.elapsed());
            }
            Ok(samples)
        });
        Self { stop, task }
    }

    async fn stop(self) -> Result<Latency> {
        self.stop.send_replace(true);
        let samples = self.task.await.context("the store task panicked")??;
        Ok(Latency::of(samples))
    }
}
