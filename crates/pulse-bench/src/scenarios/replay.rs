//! Replaying: replay cycles (begin, then finish with success), and claiming the big table's
//! requested replays with concurrent claimers, checking that no entry is claimed twice.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use pulse_extensibility::{DeadLetterId, DeadLetters, EntryFilter, ReplayOutcome};
use tokio::task::JoinSet;

use super::Out;
use super::reads::BigTable;
use crate::backend::Lab;
use crate::entries::Timeline;
use crate::measure::{Latency, millis};
use crate::plan::Plan;
use crate::report::Figure;

/// Runs both figures on the big table; returns how many entries the replay cycles resolved.
pub(crate) async fn run(lab: &Lab, plan: &Plan, big: &BigTable, out: &mut Out) -> Result<u64> {
    let dead_letters = &big.subject.dead_letters;
    let replayed = cycles(lab, plan, dead_letters, out).await?;
    claims(plan, dead_letters, out).await?;
    Ok(replayed)
}

/// One `claim_requested` call: when it started, how long it took, what it claimed.
struct Claim {
    started: Instant,
    took: Duration,
    ids: Vec<DeadLetterId>,
}

/// Stores fresh entries, then replays each: begin, finish with success.
async fn cycles(lab: &Lab, plan: &Plan, dead_letters: &DeadLetters, out: &mut Out) -> Result<u64> {
    out.say(&format!("{} replay cycles", plan.replay_cycles));
    let mut ids = Vec::new();
    for _ in 0..plan.replay_cycles.div_ceil(1000) {
        let left = plan.replay_cycles - ids.len() as u64;
        let inputs = (0..left.min(1000)).map(|_| lab.template.input()).collect();
        ids.extend(dead_letters.store_many(inputs).await?.into_iter().map(|receipt| receipt.id));
    }
    let started = Instant::now();
    for id in &ids {
        let ticket = dead_letters.begin_replay(*id).await?;
        dead_letters.finish_replay(ticket, ReplayOutcome::Succeeded).await?;
    }
    let rate = ids.len() as f64 / started.elapsed().as_secs_f64();
    out.add(Figure::new("replay_cycles", out.backend(), rate, "cycles/s").at(plan.largest()));
    Ok(ids.len() as u64)
}

/// Requests a replay of every New entry, then lets the claimers take them all.
async fn claims(plan: &Plan, dead_letters: &DeadLetters, out: &mut Out) -> Result<()> {
    let requested = dead_letters.request_replay_matching(EntryFilter::default()).await?;
    let expected = Timeline::expected(plan.largest()).new;
    ensure!(requested == expected, "{requested} replays requested, expected {expected}");
    out.say(&format!("{} claimers over {requested} requested entries", plan.claimers));
    let started = Instant::now();
    let deadline = started + plan.claim_time_limit;
    let mut claimers = JoinSet::new();
    for _ in 0..plan.claimers {
        let (dead_letters, batch) = (dead_letters.clone(), plan.claim_batch);
        claimers.spawn(async move {
            let mut claims = Vec::new();
            while Instant::now() < deadline {
                let started = Instant::now();
                let tickets = dead_letters.claim_requested(batch).await?;
                let ids: Vec<DeadLetterId> = tickets.iter().map(|ticket| ticket.entry.id).collect();
                claims.push(Claim { started, took: started.elapsed(), ids });
                if tickets.is_empty() {
                    break;
                }
            }
            anyhow::Ok(claims)
        });
    }
    let mut claims = Vec::new();
    while let Some(joined) = claimers.join_next().await {
        claims.extend(joined.context("a claimer panicked")??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let claimed: Vec<DeadLetterId> = claims.iter().flat_map(|claim| claim.ids.iter().copied()).collect();
    let unique: HashSet<DeadLetterId> = claimed.iter().copied().collect();
    let doubles = claimed.len() - unique.len();
    if doubles > 0 {
        bail!(
            "{doubles} of {} claimed entries were claimed twice: concurrent claimers overlap",
            claimed.len()
        );
    }
    let backend = out.backend();
    out.add(Figure::new("claims", backend, claimed.len() as f64 / elapsed, "entries/s").at(requested));
    out.add(Figure::new("claims_total", backend, claimed.len() as f64, "entries").at(requested));
    out.add(Figure::new("claims_double", backend, 0.0, "entries").at(requested));
    claim_latency(claims, requested, out);
    Ok(())
}

/// The median duration of the first and of the last tenth of the claim calls that took
/// entries: whether a claim gets slower as claimed entries pile up.
fn claim_latency(mut claims: Vec<Claim>, requested: u64, out: &mut Out) {
    claims.retain(|claim| !claim.ids.is_empty());
    if claims.len() < 2 {
        return;
    }
    claims.sort_by_key(|claim| claim.started);
    let tenth = (claims.len() / 10).max(1);
    let backend = out.backend();
    let first = Latency::of(claims[..tenth].iter().map(|claim| claim.took).collect());
    let last = Latency::of(claims[claims.len() - tenth..].iter().map(|claim| claim.took).collect());
    out.add(Figure::new("claim_call_first_tenth", backend, millis(first.median), "ms").at(requested));
    out.add(Figure::new("claim_call_last_tenth", backend, millis(last.median), "ms").at(requested));
}
