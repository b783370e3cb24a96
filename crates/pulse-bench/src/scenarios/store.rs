//! Figures 1 to 3: storing one entry from one task and from 8, and batches of 100, against the
//! raw insert of the same rows. On the database stores also the raw insert sent the way the
//! store sends its own (an explicit transaction; on SQLite one `INSERT` per row), which splits
//! the gap between the cost of that shape and the cost of Pulse's own work.

use std::sync::Arc;

use anyhow::{Context, Result};
use pulse_extensibility::DeadLetters;

use super::Out;
use crate::backend::{BATCH, Baseline, Kind, Lab};
use crate::entries::Template;
use crate::measure::{Op, paired};
use crate::plan::{Budget, Plan};
use crate::report::Figure;

/// Concurrent tasks of the concurrent figure.
pub(crate) const TASKS: usize = 8;

/// The three figures: name, tasks, entries per call, and the name of the store-shaped variant.
const FIGURES: [(&str, usize, usize, &str); 3] = [
    ("store_one_task", 1, 1, "store_one_task_raw_as_store"),
    ("store_8_tasks", TASKS, 1, "store_8_tasks_raw_as_store"),
    ("store_batch_100", 1, BATCH, "store_batch_100_raw_as_store"),
];

pub(crate) async fn run(lab: &Lab, plan: &Plan, kind: Kind, out: &mut Out) -> Result<()> {
    for (name, tasks, rows, shaped) in FIGURES {
        out.say(&format!("{name}: {} rounds", plan.rounds));
        // Each figure on new tables, so every one starts from the same state.
        let subject = lab.pulse(kind, name).await?;
        let baseline = Arc::new(lab.baseline(kind, &format!("raw_{name}")).await?);
        let budget = Budget { max_ops: (plan.throughput.max_ops / rows as u64).max(1), ..plan.throughput };
        let pulse = store(subject.dead_letters.clone(), lab.template.clone(), rows);
        let pair = paired(plan.rounds, tasks, budget, &raw(baseline.clone(), rows), &pulse).await?;
        out.add(Figure::new(name, out.backend(), pair.pulse, "entries/s").against(pair.baseline));
        if kind != Kind::Memory {
            let like = like_the_store(baseline.clone(), rows);
            let pair = paired(plan.rounds, tasks, budget, &raw(baseline.clone(), rows), &like).await?;
            out.add(Figure::new(shaped, out.backend(), pair.pulse, "entries/s").against(pair.baseline));
        }
        subject.close().await;
        if let Ok(baseline) = Arc::try_unwrap(baseline) {
            baseline.close().await;
        }
    }
    Ok(())
}

/// Pulse: `store` for one row, `store_many` for more.
fn store(dead_letters: DeadLetters, template: Arc<Template>, rows: usize) -> Op {
    Arc::new(move || {
        let dead_letters = dead_letters.clone();
        let mut inputs: Vec<_> = (0..rows).map(|_| template.input()).collect();
        Box::pin(async move {
            if rows == 1 {
                let input = inputs.pop().context("no input")?;
                dead_letters.store(input).await?;
            } else {
                dead_letters.store_many(inputs).await?;
            }
            Ok(rows as u64)
        })
    })
}

/// The raw baseline: one plain statement.
fn raw(baseline: Arc<Baseline>, rows: usize) -> Op {
    Arc::new(move || {
        let baseline = baseline.clone();
        Box::pin(async move {
            if rows == 1 {
                baseline.insert_one().await?;
            } else {
                baseline.insert_batch().await?;
            }
            Ok(rows as u64)
        })
    })
}

/// The raw baseline, sent the way the store sends its insert.
fn like_the_store(baseline: Arc<Baseline>, rows: usize) -> Op {
    Arc::new(move || {
        let baseline = baseline.clone();
        Box::pin(async move {
            baseline.insert_like_the_store(rows).await.context("the memory store has no statements")??;
            Ok(rows as u64)
        })
    })
}
