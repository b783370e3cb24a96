//! Timing: the rate of loops run by concurrent tasks, baseline and Pulse in alternating rounds,
//! and latency percentiles of sequential calls.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::task::JoinSet;

use crate::plan::Budget;

/// The fewest calls a latency figure is computed from.
const MIN_SAMPLES: usize = 10;

/// One call of a measured operation; resolves to how many entries it handled.
pub(crate) type Call = Pin<Box<dyn Future<Output = Result<u64>> + Send>>;

/// A measured operation. Boxed, so Pulse and the baselines pay the same for being called.
pub(crate) type Op = Arc<dyn Fn() -> Call + Send + Sync>;

/// Entries per second of `op`, called in a loop by `tasks` concurrent tasks until `budget` is
/// spent.
pub(crate) async fn rate(tasks: usize, budget: Budget, op: &Op) -> Result<f64> {
    let started = Instant::now();
    let deadline = started + budget.time;
    let calls = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for _ in 0..tasks.max(1) {
        let (op, calls) = (op.clone(), calls.clone());
        set.spawn(async move {
            let mut entries = 0;
            while Instant::now() < deadline && calls.fetch_add(1, Ordering::Relaxed) < budget.max_ops {
                entries += op().await?;
            }
            anyhow::Ok(entries)
        });
    }
    let mut entries = 0;
    while let Some(joined) = set.join_next().await {
        entries += joined.context("a benchmark task panicked")??;
    }
    Ok(entries as f64 / started.elapsed().as_secs_f64())
}

/// Median rates of a baseline and of Pulse doing the same work.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub(crate) baseline: f64,
    pub(crate) pulse: f64,
    /// How much the rounds of either side varied: (max - min) / median, the larger of the two.
    pub(crate) spread: f64,
}

/// Runs `baseline` and `pulse` in `rounds` alternating rounds (which goes first alternates too),
/// after a short warm-up of each, so both see the same noise; returns the median of each.
pub(crate) async fn paired(
    rounds: usize,
    tasks: usize,
    budget: Budget,
    baseline: &Op,
    pulse: &Op,
) -> Result<Pair> {
    alternating(
        rounds,
        budget,
        async |budget| rate(tasks, budget, baseline).await,
        async |budget| rate(tasks, budget, pulse).await,
    )
    .await
}

/// As [`paired`], for sides that time their own rounds: each is called with the budget of one
/// round (a tenth of it to warm up) and returns its rate, as a program run beside this one does.
pub(crate) async fn alternating(
    rounds: usize,
    budget: Budget,
    mut baseline: impl AsyncFnMut(Budget) -> Result<f64>,
    mut pulse: impl AsyncFnMut(Budget) -> Result<f64>,
) -> Result<Pair> {
    baseline(budget.warm_up()).await?;
    pulse(budget.warm_up()).await?;
    let (mut baselines, mut pulses) = (Vec::new(), Vec::new());
    for round in 0..rounds.max(1) {
        if round % 2 == 1 {
            pulses.push(pulse(budget).await?);
        }
        baselines.push(baseline(budget).await?);
        if round % 2 == 0 {
            pulses.push(pulse(budget).await?);
        }
    }
    let spread = spread(&mut baselines).max(spread(&mut pulses));
    Ok(Pair { baseline: median(&mut baselines), pulse: median(&mut pulses), spread })
}

/// The median of `values`; 0 for none.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// `(max - min) / median` of `values`; 0 for fewer than two.
pub(crate) fn spread(values: &mut [f64]) -> f64 {
    let middle = median(values);
    match (values.first(), values.last()) {
        (Some(min), Some(max)) if values.len() > 1 && middle > 0.0 => (max - min) / middle,
        _ => 0.0,
    }
}

/// The median and 99th percentile of some calls' durations.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency {
    pub(crate) median: Duration,
    pub(crate) p99: Duration,
    pub(crate) samples: usize,
}

impl Latency {
    /// The percentiles of `samples` (nearest rank).
    pub(crate) fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self { median: percentile(&samples, 50), p99: percentile(&samples, 99), samples: samples.len() }
    }
}

/// The `per_cent` percentile of `sorted`, by nearest rank; zero for no samples.
fn percentile(sorted: &[Duration], per_cent: usize) -> Duration {
    let rank = (sorted.len() * per_cent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied().unwrap_or_default()
}

/// Times sequential calls of `op`, after one untimed call, until `budget` is spent (and at
/// least [`MIN_SAMPLES`] calls).
pub(crate) async fn latency<F, Fut, T>(budget: Budget, mut op: F) -> Result<Latency>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    op().await?;
    let started = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < MIN_SAMPLES
        || (started.elapsed() < budget.time && (samples.len() as u64) < budget.max_ops)
    {
        let call = Instant::now();
        op().await?;
        samples.push(call.elapsed());
    }
    Ok(Latency::of(samples))
}

/// Times `a` and `b` called alternately, after one untimed call of each, until `budget` is
/// spent, so both see the same machine; returns the latency of each.
pub(crate) async fn interleaved<A, AF, B, BF, T, U>(
    budget: Budget,
    mut a: A,
    mut b: B,
) -> Result<(Latency, Latency)>
where
    A: FnMut() -> AF,
    AF: Future<Output = Result<T>>,
    B: FnMut() -> BF,
    BF: Future<Output = Result<U>>,
{
    a().await?;
    b().await?;
    let started = Instant::now();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    while first.len() < MIN_SAMPLES
        || (started.elapsed() < budget.time && (first.len() as u64) < budget.max_ops)
    {
        let call = Instant::now();
        a().await?;
        first.push(call.elapsed());
        let call = Instant::now();
        b().await?;
        second.push(call.elapsed());
    }
    Ok((Latency::of(first), Latency::of(second)))
}

/// Milliseconds, for figures.
pub(crate) fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=200).rev().map(Duration::from_millis).collect();
        let latency = Latency::of(samples);
        assert_eq!((latency.median, latency.p99), (Duration::from_millis(100), Duration::from_millis(198)));
        assert_eq!(Latency::of(Vec::new()).p99, Duration::ZERO);
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), 2.5);
    }

    #[test]
    fn spread_is_the_range_over_the_median() {
        assert_eq!(spread(&mut [3.0, 1.0, 2.0]), 1.0);
        assert_eq!(spread(&mut [5.0]), 0.0);
    }
}
