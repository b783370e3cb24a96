//! Storing on PostgreSQL against pgbench: one entry from 8 tasks, the limit of the 8-task target
//! being `pgbench -M prepared` with 8 clients inserting the same row. Pulse, and the plain raw
//! insert on the sqlx pool beside it, each in rounds alternating with pgbench's, on tables of
//! their own; afterwards pgbench's rows are read back through the store.

use std::sync::Arc;

use anyhow::{Context, Result, ensure};
use pulse_extensibility::{DeadLetterEntry, Statistics};

use super::Out;
use super::ops::{raw, store};
use super::store::TASKS;
use crate::backend::{Baseline, Kind, Lab, Pgbench, PgbenchInsert, Subject};
use crate::measure::{Op, alternating, rate};
use crate::plan::Plan;
use crate::report::Figure;

/// Pulse against pgbench: the figure the PostgreSQL 8-task target reads.
pub(crate) const PULSE: &str = "store_8_tasks_vs_pgbench";

/// The plain raw insert on the sqlx pool against pgbench: the rung between the two.
pub(crate) const RAW: &str = "store_8_tasks_raw_vs_pgbench";

/// Both figures; without pgbench, both are recorded as not measured, with the reason.
pub(crate) async fn run(lab: &Lab, plan: &Plan, pgbench: Option<&Pgbench>, out: &mut Out) -> Result<()> {
    let Some(pgbench) = pgbench else {
        out.say(&format!("no figures against pgbench: {}", Pgbench::MISSING));
        for side in Side::BOTH {
            out.absent(side.name(), Pgbench::MISSING);
        }
        return Ok(());
    };
    let budget = Pgbench::budget(plan.throughput);
    for side in Side::BOTH {
        let name = side.name();
        out.say(&format!("{name}: {} rounds of {} s", plan.rounds, budget.time.as_secs()));
        let table = format!("pgbench_{name}");
        let limit = PgbenchInsert::open(pgbench, &lab.pg, &table, &lab.template).await?;
        let opened = Opened::open(lab, side).await?;
        let op = opened.op(lab);
        let pair = alternating(
            plan.rounds,
            budget,
            async |budget| limit.rate(TASKS, budget).await,
            async |budget| rate(TASKS, budget, &op).await,
        )
        .await?;
        drop(op);
        opened.close().await;
        check(lab, &table, limit.written()).await.with_context(|| format!("reading back {table}"))?;
        out.add(
            Figure::new(name, out.backend(), pair.pulse, "entries/s")
                .against(pair.baseline)
                .spread(pair.spread),
        );
    }
    Ok(())
}

/// What is timed against pgbench.
#[derive(Debug, Clone, Copy)]
enum Side {
    /// `DeadLetters::store`.
    Pulse,
    /// The plain raw insert on the sqlx pool.
    Raw,
}

impl Side {
    const BOTH: [Self; 2] = [Self::Pulse, Self::Raw];

    fn name(self) -> &'static str {
        match self {
            Self::Pulse => PULSE,
            Self::Raw => RAW,
        }
    }
}

/// A side on a new table of its own.
enum Opened {
    Pulse(Subject),
    Raw(Arc<Baseline>),
}

impl Opened {
    async fn open(lab: &Lab, side: Side) -> Result<Self> {
        Ok(match side {
            Side::Pulse => Self::Pulse(lab.pulse(Kind::Postgres, side.name()).await?),
            Side::Raw => {
                Self::Raw(Arc::new(lab.baseline(Kind::Postgres, &format!("raw_{}", side.name())).await?))
            }
        })
    }

    /// One entry from one task, as the other store figures time it.
    fn op(&self, lab: &Lab) -> Op {
        match self {
            Self::Pulse(subject) => store(subject.dead_letters.clone(), lab.template.clone(), 1),
            Self::Raw(baseline) => raw(baseline.clone(), 1),
        }
    }

    async fn close(self) {
        match self {
            Self::Pulse(subject) => subject.close().await,
            Self::Raw(baseline) => {
                if let Ok(baseline) = Arc::try_unwrap(baseline) {
                    baseline.close().await;
                }
            }
        }
    }
}

/// Reads the rows pgbench wrote into `table` back through the store: as many New entries as
/// pgbench counted, each the benchmark's entry with its own id, message id and instant.
async fn check(lab: &Lab, table: &str, written: u64) -> Result<()> {
    let subject = lab.pulse(Kind::Postgres, table).await?;
    let statistics = subject.dead_letters.statistics().await?;
    let first = subject.dead_letters.get_pending(1, 0).await?.pop();
    subject.close().await;
    let expected = Statistics { new: written, total: written, ..Statistics::default() };
    ensure!(statistics == expected, "pgbench counted {written} rows, the store {statistics:?}");
    let entry = first.context("pgbench wrote no row")?;
    let at = entry.created_at;
    let expected = DeadLetterEntry {
        id: entry.id,
        message_id: entry.message_id.clone(),
        first_failed_at: at,
        occurred_at: at,
        created_at: at,
        updated_at: at,
        ..lab.template.entry().clone()
    };
    ensure!(entry == expected, "pgbench wrote {entry:?}, not the benchmark's entry");
    ensure!(
        entry.message_id.as_deref().is_some_and(|id| id.starts_with("msg-")),
        "pgbench wrote the message id {:?}",
        entry.message_id
    );
    Ok(())
}
