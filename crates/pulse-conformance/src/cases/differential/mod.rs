//! A long seeded random sequence of operations, run against the backend and against a plain
//! reference model written independently of the shared state machine; every result is compared:
//! each operation's outcome, every entry, statistics in every scope, error groups field by
//! field, list pages in both orders and the entries each claim takes.
//!
//! The sequence is generated from the seed as data (`Op`) before it runs, so it replays
//! without randomness. On a mismatch the case replays shorter sequences on fresh stores
//! (dropping chunks, then single operations) and panics with the seed, the rule broken and the
//! shortest failing sequence it found. Set `PULSE_CONFORMANCE_SEED` to replay a seed.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use pulse_extensibility::{
    CommandDeadLetterStatus as Status, DeadLetterEntry, DeadLetterId, DeadLetters, EntryFilter, Error,
    ErrorGroup, Failure, Fingerprint, ListQuery, NewDeadLetter, ReplayOutcome, ReplayRequestId,
    ReplayRequestSpec, ReplaySelection, ReplayTicket, Resolution, SortOrder, Statistics, TenantId, Timestamp,
    Uuid, fingerprint::fingerprint,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tenant;
use crate::{Harness, LEASE};

mod checks;
mod model;
mod ops;

use model::*;
use ops::*;

/// How many operations one run has.
const STEPS: usize = 400;
/// Shrinking stops after this many replays or this long, whichever comes first.
const MAX_REPLAYS: usize = 200;
const SHRINK_TIME: Duration = Duration::from_secs(120);

const TENANTS: [&str; 2] = ["a", "b"];
/// Tenant `t` fails with commands `t..t + 3`: some error groups are one tenant's, some both's.
const COMMANDS: [&str; 4] = ["orders.create", "orders.cancel", "billing.charge", "mail.send"];
const EXCEPTIONS: [&str; 3] = ["Timeout", "Io", "CardDeclined"];
/// Failures as (exception, message with `{n}` for a volatile number): messages of one kind
/// differ but share a fingerprint, so a group's sample must be the latest one.
const FAILURES: [(usize, &str); 4] = [
    (0, "order {n} timed out after 30s"),
    (0, "order {n} was rejected"),
    (1, "disk {n} full"),
    (2, "card 'visa-{n}' declined"),
];

/// Random operations agree with the reference model at every step.
pub async fn random_operations_match_the_reference_model(h: Harness) {
    let seed = std::env::var("PULSE_CONFORMANCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("differential case seed: {seed} (set PULSE_CONFORMANCE_SEED={seed} to replay)");
    let ops = generate(seed);
    let Err(found) = run(&h, &ops).await else { return };
    let original_step = found.step;
    let (shrunk, replays) = shrink(&h, ops, found).await;
    panic!("{}", report(seed, original_step, &shrunk, replays));
}

/// A result that differs from the model's, and the rule of the contract it breaks.
#[derive(Debug, Clone)]
struct Mismatch {
    rule: String,
    detail: String,
}

// Compared like `assert_eq!`'s operands, which call sites build in place.
#[allow(clippy::needless_pass_by_value)]
fn expect<T: PartialEq + fmt::Debug>(got: T, want: T, rule: impl Into<String>) -> Result<(), Mismatch> {
    if got == want {
        return Ok(());
    }
    Err(Mismatch { rule: rule.into(), detail: format!("got {got:?}, want {want:?}") })
}

fn succeed<T>(result: Result<T, Error>, what: &str) -> Result<T, Mismatch> {
    result.map_err(|error| Mismatch {
        rule: format!("{what} succeeds"),
        detail: format!("it failed with {error:?}"),
    })
}

/// A run that failed: where, how, and what every step did up to there.
#[derive(Debug)]
struct Divergence {
    /// The failing operation's index; the operations' number for the final check.
    step: usize,
    mismatch: Mismatch,
    /// One line per operation run, the failing one included.
    trace: Vec<String>,
    ops: Vec<Op>,
}

/// Runs `ops` on the harness's store, which must be empty, then checks everything once more.
async fn run(h: &Harness, ops: &[Op]) -> Result<(), Divergence> {
    let mut world = World::new();
    let mut trace = Vec::with_capacity(ops.len() + 1);
    let final_check = Op::Check(Probe { tenant: None, narrow: Narrow::Every, page: 3, groups: 1000 });
    for (step, op) in ops.iter().chain([&final_check]).enumerate() {
        world.step = step;
        let mut line = world.describe(op);
        let result = world.step(h, op, &mut line).await;
        trace.push(line);
        if let Err(mismatch) = result {
            return Err(Divergence { step, mismatch, trace, ops: ops.to_vec() });
        }
    }
    Ok(())
}

/// Delta debugging: drops chunks of halving size, then single operations until none can go,
/// keeping every shorter sequence that still breaks the same rule. Each attempt runs on a
/// fresh store.
async fn shrink(h: &Harness, ops: Vec<Op>, found: Divergence) -> (Divergence, usize) {
    let started = Instant::now();
    // Operations after the failing one cannot matter.
    let mut best = Divergence { ops: ops.into_iter().take(found.step + 1).collect(), ..found };
    let mut replays = 0;
    let mut chunk = best.ops.len().div_ceil(2).max(1);
    loop {
        let mut start = 0;
        let mut shrunk = false;
        while start < best.ops.len() {
            if replays == MAX_REPLAYS || started.elapsed() > SHRINK_TIME {
                return (best, replays);
            }
            let mut candidate = best.ops.clone();
            candidate.drain(start..(start + chunk).min(candidate.len()));
            replays += 1;
            match run(&h.fresh().await, &candidate).await {
                Err(found) if found.mismatch.rule == best.mismatch.rule => {
                    candidate.truncate(found.step + 1);
                    best = Divergence { ops: candidate, ..found };
                    shrunk = true;
                }
                _ => start += chunk,
            }
        }
        // Dropping one operation can make an earlier one droppable: single operations go
        // round again until a whole round drops none.
        match chunk {
            1 if !shrunk => return (best, replays),
            1 => {}
            _ => chunk /= 2,
        }
    }
}

fn report(seed: u64, original_step: usize, found: &Divergence, replays: usize) -> String {
    let steps: Vec<String> = found
        .trace
        .iter()
        .enumerate()
        .map(|(i, line)| {
            let last = if i == found.step { "   <- fails here" } else { "" };
            format!("{:4}. {line}{last}", i + 1)
        })
        .collect();
    format!(
        "the store disagrees with the reference model (seed {seed}; set PULSE_CONFORMANCE_SEED={seed} to \
         replay)\nrule broken: {}\n{}\nfirst seen at operation {} of {STEPS}; shortest failing sequence found \
         in {replays} replays ({} operations, then a final check):\n{}",
        found.mismatch.rule,
        found.mismatch.detail,
        original_step + 1,
        found.ops.len(),
        steps.join("\n"),
    )
}
