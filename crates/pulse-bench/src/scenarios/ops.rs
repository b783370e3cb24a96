//! The operations the store figures time: Pulse's `store`, the store's own `insert`, and the
//! raw baseline plain or shaped like the store's writes.

use std::sync::Arc;

use anyhow::Context;
use pulse_extensibility::DeadLetters;

use crate::backend::Baseline;
use crate::entries::{Template, now};
use crate::measure::Op;

/// Pulse: `store` for one entry, `store_many` for more.
pub(crate) fn store(dead_letters: DeadLetters, template: Arc<Template>, rows: usize) -> Op {
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

/// The store's own `insert` primitive, given complete rows as the raw baseline builds them: the
/// store without the `DeadLetters` layer above it (validation, fingerprint, metrics).
pub(crate) fn store_insert(dead_letters: &DeadLetters, template: Arc<Template>, rows: usize) -> Op {
    let backend = dead_letters.backend().clone();
    Arc::new(move || {
        let backend = backend.clone();
        let at = now();
        let entries: Vec<_> = (0..rows).map(|_| template.entry_at(at)).collect();
        Box::pin(async move {
            backend.insert(entries).await?;
            Ok(rows as u64)
        })
    })
}

/// The raw baseline: one plain statement.
pub(crate) fn raw(baseline: Arc<Baseline>, rows: usize) -> Op {
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
pub(crate) fn like_the_store(baseline: Arc<Baseline>, rows: usize) -> Op {
    Arc::new(move || {
        let baseline = baseline.clone();
        Box::pin(async move {
            baseline
                .insert_like_the_store(rows)
                .await
                .context("only SQLite's baseline has the store's shape")??;
            Ok(rows as u64)
        })
    })
}

/// PostgreSQL: the raw insert with `ON CONFLICT DO NOTHING RETURNING "Id"`.
pub(crate) fn idempotent(baseline: Arc<Baseline>, rows: usize) -> Op {
    Arc::new(move || {
        let baseline = baseline.clone();
        Box::pin(async move {
            baseline
                .insert_idempotent(rows)
                .await
                .context("only PostgreSQL's baseline has this variant")??;
            Ok(rows as u64)
        })
    })
}
