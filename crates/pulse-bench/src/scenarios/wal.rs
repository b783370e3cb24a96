//! The SQLite write-ahead log under a stream of stores that never pauses: 8 tasks store one
//! entry at a time for the plan's stream time, while the size of the `-wal` file is sampled
//! every 100 ms. Its largest sample is the figure; the store keeps it under 64 MiB.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::task::JoinSet;

use super::Out;
use super::store::TASKS;
use crate::backend::{Kind, Lab};
use crate::plan::Plan;
use crate::report::Figure;

/// The store (a file of its own) the stream writes to.
const NAME: &str = "wal_stream";

/// How often the `-wal` file's size is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);

pub(crate) async fn run(lab: &Lab, plan: &Plan, out: &mut Out) -> Result<()> {
    out.say(&format!("wal: {} tasks storing for {:?}", TASKS, plan.wal_stream));
    let subject = lab.pulse(Kind::Sqlite, NAME).await?;
    let wal = wal_path(&lab.sqlite_dir().join(format!("{NAME}.db")));
    let deadline = Instant::now() + plan.wal_stream;
    let stored = Arc::new(AtomicU64::new(0));
    let mut writers = JoinSet::new();
    for _ in 0..TASKS {
        let (dead_letters, template, stored) =
            (subject.dead_letters.clone(), lab.template.clone(), stored.clone());
        writers.spawn(async move {
            while Instant::now() < deadline {
                dead_letters.store(template.input()).await?;
                stored.fetch_add(1, Ordering::Relaxed);
            }
            anyhow::Ok(())
        });
    }
    let mut largest = 0_u64;
    let mut samples = 0_u64;
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    while Instant::now() < deadline {
        ticks.tick().await;
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |meta| meta.len()));
        samples += 1;
    }
    while let Some(joined) = writers.join_next().await {
        joined.context("a storing task panicked")??;
    }
    largest = largest.max(std::fs::metadata(&wal).map_or(0, |meta| meta.len()));
    subject.close().await;
    let stored = stored.load(Ordering::Relaxed);
    #[allow(clippy::cast_precision_loss, reason = "a file size in MiB")]
    let mib = largest as f64 / (1024.0 * 1024.0);
    out.add(Figure::new("wal_peak", out.backend(), mib, "MiB"));
    out.diagnose(
        "the WAL under a stream of stores",
        format!(
            "{TASKS} tasks stored {stored} entries in {:?}; the `-wal` file, read {samples} times, peaked at \
             {largest} bytes.",
            plan.wal_stream
        ),
    );
    Ok(())
}

fn wal_path(db: &Path) -> std::path::PathBuf {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    wal.into()
}
