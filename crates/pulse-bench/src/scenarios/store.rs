//! Storing: one entry from one task and from 8, and batches of 100, against the plain raw insert
//! of the same rows. More variants split the gap: the store's own `insert` primitive given
//! complete rows (the store without `DeadLetters`), and the same rows sent by hand in the store's
//! own statements (SQLite: its `INSERT`s of 64, 32, ... 1 rows in a `BEGIN IMMEDIATE`
//! transaction, one row in autocommit; PostgreSQL: its one row of values, or a batch as arrays through `UNNEST`, with
//! `ON CONFLICT DO NOTHING RETURNING "Id"`, and between the two the plain raw insert with
//! `ON CONFLICT DO NOTHING RETURNING "Id"`).

use std::sync::Arc;

use anyhow::Result;

use super::Out;
use super::ops::{idempotent, like_the_store, raw, store, store_insert};
use crate::backend::{BATCH, Kind, Lab};
use crate::measure::paired;
use crate::plan::{Budget, Plan};
use crate::report::Figure;

/// Concurrent tasks of the concurrent figure.
pub(crate) const TASKS: usize = 8;

/// One figure and the names of its variants.
struct Spec {
    name: &'static str,
    tasks: usize,
    rows: usize,
    shaped: &'static str,
    primitive: &'static str,
    idempotent: &'static str,
}

const SPECS: [Spec; 3] = [
    Spec {
        name: "store_one_task",
        tasks: 1,
        rows: 1,
        shaped: "store_one_task_raw_as_store",
        primitive: "store_one_task_store_insert",
        idempotent: "store_one_task_raw_on_conflict",
    },
    Spec {
        name: "store_8_tasks",
        tasks: TASKS,
        rows: 1,
        shaped: "store_8_tasks_raw_as_store",
        primitive: "store_8_tasks_store_insert",
        idempotent: "store_8_tasks_raw_on_conflict",
    },
    Spec {
        name: "store_batch_100",
        tasks: 1,
        rows: BATCH,
        shaped: "store_batch_100_raw_as_store",
        primitive: "store_batch_100_store_insert",
        idempotent: "store_batch_100_raw_on_conflict",
    },
];

pub(crate) async fn run(lab: &Lab, plan: &Plan, kind: Kind, out: &mut Out) -> Result<()> {
    for spec in &SPECS {
        out.say(&format!("{}: {} rounds", spec.name, plan.rounds));
        let budget =
            Budget { max_ops: (plan.throughput.max_ops / spec.rows as u64).max(1), ..plan.throughput };
        let mut variants = vec![Variant::Pulse, Variant::StoreInsert];
        if kind != Kind::Memory {
            variants.push(Variant::RawAsStore);
        }
        if kind == Kind::Postgres {
            variants.push(Variant::RawOnConflict);
        }
        for variant in variants {
            let name = variant.name(spec);
            // Every variant on new tables, so each starts from the same state.
            let subject = lab.pulse(kind, name).await?;
            let baseline = Arc::new(lab.baseline(kind, &format!("raw_{name}")).await?);
            let op = match variant {
                Variant::Pulse => store(subject.dead_letters.clone(), lab.template.clone(), spec.rows),
                Variant::StoreInsert => store_insert(&subject.dead_letters, lab.template.clone(), spec.rows),
                Variant::RawAsStore => like_the_store(baseline.clone(), spec.rows),
                Variant::RawOnConflict => idempotent(baseline.clone(), spec.rows),
            };
            let pair =
                paired(plan.rounds, spec.tasks, budget, &raw(baseline.clone(), spec.rows), &op).await?;
            out.add(
                Figure::new(name, out.backend(), pair.pulse, "entries/s")
                    .against(pair.baseline)
                    .spread(pair.spread),
            );
            drop(op);
            subject.close().await;
            if let Ok(baseline) = Arc::try_unwrap(baseline) {
                baseline.close().await;
            }
        }
    }
    Ok(())
}

/// What is timed against the raw insert.
#[derive(Debug, Clone, Copy)]
enum Variant {
    /// `DeadLetters::store` or `store_many`.
    Pulse,
    /// The store's own `insert`, given complete rows.
    StoreInsert,
    /// The raw insert in the shape of the store's.
    RawAsStore,
    /// PostgreSQL: the raw insert with `ON CONFLICT DO NOTHING RETURNING "Id"`.
    RawOnConflict,
}

impl Variant {
    fn name(self, spec: &Spec) -> &'static str {
        match self {
            Self::Pulse => spec.name,
            Self::StoreInsert => spec.primitive,
            Self::RawAsStore => spec.shaped,
            Self::RawOnConflict => spec.idempotent,
        }
    }
}
