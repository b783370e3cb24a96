//! A long seeded random sequence of operations, run against the backend and against a plain
//! reference model written independently of the shared state machine; every result is compared.
//!
//! The seed is printed when the case fails; set `PULSE_CONFORMANCE_SEED` to replay it.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use pulse_extensibility::{
    CommandDeadLetterStatus as Status, DeadLetterId, DeadLetters, EntryFilter, Error, Failure, ListQuery,
    NewDeadLetter, ReplayOutcome, ReplayRequestId, ReplayRequestSpec, ReplaySelection, ReplayTicket,
    Resolution, SortOrder, Statistics, TenantId, Timestamp, Uuid,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tenant;
use crate::{Harness, LEASE};

const STEPS: usize = 400;

/// What the model knows of one entry.
#[derive(Debug, Clone)]
struct Model {
    tenant: TenantId,
    message_id: Option<String>,
    status: Status,
    attempts: u32,
    occurred_at: Timestamp,
    resolved_at: Option<Timestamp>,
    lease: Option<(Uuid, Timestamp)>,
    requested_at: Option<Timestamp>,
    command_type: String,
    /// The latest request that marked the entry.
    request: Option<ReplayRequestId>,
}

/// What the model knows of one replay request.
#[derive(Debug, Clone)]
struct RequestModel {
    id: ReplayRequestId,
    tenant: Option<TenantId>,
    requested: u64,
    cancelled: Option<u64>,
}

/// How an operation ended, as far as callers can tell.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ok,
    NotFound,
    Dismissed,
    Conflict,
    LeaseLost,
}

fn outcome<T>(result: &Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(Error::Dismissed { .. }) => Outcome::Dismissed,
        Err(Error::Conflict { .. }) => Outcome::Conflict,
        Err(Error::LeaseLost { .. }) => Outcome::LeaseLost,
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

struct World {
    rng: StdRng,
    entries: BTreeMap<DeadLetterId, Model>,
    tickets: Vec<ReplayTicket>,
    tenants: [TenantId; 2],
    requests: Vec<RequestModel>,
}

impl World {
    fn live(&self, model: &Model, now: Timestamp) -> bool {
        model.status == Status::Replaying && model.lease.is_some_and(|(_, expires)| expires > now)
    }

    fn pick_id(&mut self) -> DeadLetterId {
        if self.entries.is_empty() || self.rng.random_ratio(1, 20) {
            return DeadLetterId::new_at(Timestamp::from_micros(0));
        }
        let index = self.rng.random_range(0..self.entries.len());
        *self.entries.keys().nth(index).expect("index in range")
    }

    fn statistics(&self, tenant: Option<&TenantId>) -> Statistics {
        let mut stats = Statistics::default();
        for model in self.entries.values().filter(|m| tenant.is_none_or(|t| *t == m.tenant)) {
            stats.add(model.status, 1);
        }
        stats
    }
}

/// Random operations agree with the reference model at every step.
pub async fn random_operations_match_the_reference_model(h: Harness) {
    let seed = std::env::var("PULSE_CONFORMANCE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("differential case seed: {seed} (set PULSE_CONFORMANCE_SEED={seed} to replay)");
    let mut world = World {
        rng: StdRng::seed_from_u64(seed),
        entries: BTreeMap::new(),
        tickets: Vec::new(),
        tenants: [tenant("a"), tenant("b")],
        requests: Vec::new(),
    };
    for step in 0..STEPS {
        let op = world.rng.random_range(0..14);
        let context = format!("seed {seed}, step {step}, operation {op}");
        run_step(&h, &mut world, op, &context).await;
    }
    check_all(&h, &world, &format!("seed {seed}, final check")).await;
}

async fn run_step(h: &Harness, world: &mut World, op: u32, context: &str) {
    let now = h.clock.now();
    match op {
        0 | 1 => step_store(h, world, context).await,
        2 => {
            let id = world.pick_id();
            let result = h.store.begin_replay(id).await;
            let expected = match world.entries.get(&id) {
                None => Outcome::NotFound,
                Some(m) if m.status == Status::Dismissed => Outcome::Dismissed,
                Some(m) if m.status == Status::Resolved || world.live(m, now) => Outcome::Conflict,
                Some(_) => Outcome::Ok,
            };
            assert_eq!(outcome(&result), expected, "{context}: begin_replay");
            if let Ok(ticket) = result {
                let model = world.entries.get_mut(&id).expect("known");
                model.status = Status::Replaying;
                model.lease = Some((ticket.lease.token, ticket.lease.expires_at));
                world.tickets.push(ticket);
            }
        }
        3 | 4 => {
            if world.tickets.is_empty() {
                return;
            }
            let index = world.rng.random_range(0..world.tickets.len());
            let ticket = world.tickets.swap_remove(index);
            let succeed = world.rng.random_bool(0.5);
            let id = ticket.entry.id;
            let token = ticket.lease.token;
            let outcome_ = if succeed {
                ReplayOutcome::Succeeded
            } else {
                ReplayOutcome::Failed(Failure::new("E", "again"))
            };
            let result = h.store.finish_replay(ticket, outcome_).await;
            let expected = match world.entries.get(&id) {
                None => Outcome::NotFound,
                Some(m) if m.status == Status::Replaying && m.lease.is_some_and(|(t, _)| t == token) => {
                    Outcome::Ok
                }
                Some(_) => Outcome::LeaseLost,
            };
            assert_eq!(outcome(&result), expected, "{context}: finish_replay");
            if result.is_ok() {
                let model = world.entries.get_mut(&id).expect("known");
                model.lease = None;
                model.requested_at = None;
                if succeed {
                    model.status = Status::Resolved;
                    model.resolved_at = Some(now);
                } else {
                    model.status = Status::New;
                    model.resolved_at = None;
                    model.attempts += 1;
                    model.occurred_at = now;
                }
            }
        }
        5 => {
            let id = world.pick_id();
            let result = h.store.dismiss(id, None).await;
            let expected = match world.entries.get(&id) {
                None => Outcome::NotFound,
                Some(m) if m.status == Status::Dismissed => Outcome::Ok,
                Some(m) if m.status == Status::Resolved || world.live(m, now) => Outcome::Conflict,
                Some(_) => Outcome::Ok,
            };
            assert_eq!(outcome(&result), expected, "{context}: dismiss");
            if let Some(model) = world.entries.get_mut(&id)
                && result.is_ok()
                && model.status != Status::Dismissed
            {
                *model = Model {
                    status: Status::Dismissed,
                    resolved_at: Some(now),
                    lease: None,
                    requested_at: None,
                    request: None,
                    ..model.clone()
                };
            }
        }
        6 => {
            let id = world.pick_id();
            let result = h.store.resolve(id, Resolution::HandledExternally, None).await;
            let expected = match world.entries.get(&id) {
                None => Outcome::NotFound,
                Some(m) if m.status.is_terminal() || world.live(m, now) => Outcome::Conflict,
                Some(_) => Outcome::Ok,
            };
            assert_eq!(outcome(&result), expected, "{context}: resolve");
            if result.is_ok() {
                let model = world.entries.get_mut(&id).expect("known");
                *model = Model {
                    status: Status::Resolved,
                    resolved_at: Some(now),
                    lease: None,
                    requested_at: None,
                    request: None,
                    ..model.clone()
                };
            }
        }
        7 => {
            let id = world.pick_id();
            let result = h.store.request_replay(id).await;
            let expected = match world.entries.get(&id) {
                None => Outcome::NotFound,
                Some(m) if m.status == Status::Dismissed => Outcome::Dismissed,
                Some(m) if m.status == Status::Resolved || world.live(m, now) => Outcome::Conflict,
                Some(_) => Outcome::Ok,
            };
            assert_eq!(outcome(&result), expected, "{context}: request_replay");
            if let Ok(entry) = result {
                let model = world.entries.get_mut(&id).expect("known");
                if model.requested_at.is_none() {
                    // A New entry gets a request of its own, recorded in the all-tenants scope;
                    // one whose expired replay still holds its request keeps it.
                    if model.status == Status::New {
                        let request = entry.replay_request.expect("a requested entry names its request");
                        assert_ne!(model.request, Some(request), "{context}: a fresh request");
                        world.requests.push(RequestModel {
                            id: request,
                            tenant: None,
                            requested: 1,
                            cancelled: None,
                        });
                        model.requested_at = Some(now);
                        model.request = Some(request);
                    }
                }
            }
        }
        8 => {
            let limit = world.rng.random_range(1..5);
            let claimed = h.store.claim_requested(limit).await.unwrap();
            let mut eligible: Vec<(Timestamp, DeadLetterId)> = world
                .entries
                .iter()
                .filter(|(_, m)| {
                    m.requested_at.is_some_and(|due| due <= now)
                        && m.status != Status::Dismissed
                        && !world.live(m, now)
                })
                .map(|(id, m)| (m.requested_at.expect("requested"), *id))
                .collect();
            eligible.sort();
            eligible.truncate(limit as usize);
            let got: Vec<_> = claimed.iter().map(|t| t.entry.id).collect();
            let want: Vec<_> = eligible.iter().map(|(_, id)| *id).collect();
            assert_eq!(got, want, "{context}: claim_requested");
            for ticket in claimed {
                let model = world.entries.get_mut(&ticket.entry.id).expect("known");
                model.status = Status::Replaying;
                model.lease = Some((ticket.lease.token, ticket.lease.expires_at));
                world.tickets.push(ticket);
            }
        }
        9 => {
            let cutoff = now.saturating_sub(Duration::from_secs(world.rng.random_range(0..120)));
            let limit = world.rng.random_range(1..4);
            let purged = h.store.purge(cutoff, limit).await.unwrap();
            let candidates: Vec<DeadLetterId> = world
                .entries
                .iter()
                .filter(|(_, m)| m.status.is_terminal() && m.resolved_at.is_some_and(|at| at < cutoff))
                .map(|(id, _)| *id)
                .collect();
            assert_eq!(purged, candidates.len().min(limit as usize) as u64, "{context}: purge count");
            // Which ones went is the backend's choice: learn it.
            for id in candidates {
                if h.store.get_entry(id).await.unwrap().is_none() {
                    world.entries.remove(&id);
                }
            }
        }
        10 => h.clock.advance(Duration::from_secs(world.rng.random_range(0..=LEASE.as_secs()))),
        11 => step_request(h, world, context).await,
        12 => step_cancel(h, world, context).await,
        _ => check_all(h, world, context).await,
    }
}

/// A paced or unpaced request for one command type, in a random scope: the model marks the New
/// entries without a pending request, oldest failure first, at the request's slots.
async fn step_request(h: &Harness, world: &mut World, context: &str) {
    let command_type = format!("cmd.{}", world.rng.random_range(0..3));
    let scope = world.rng.random_bool(0.5).then(|| world.tenants[world.rng.random_range(0..2)].clone());
    let pace =
        world.rng.random_bool(0.5).then(|| NonZeroU32::new(world.rng.random_range(1..5)).expect("above 0"));
    let handle = scope.as_ref().map_or_else(|| h.store.clone(), |tenant| h.store.for_tenant(tenant.clone()));
    let filter = EntryFilter { command_type: Some(command_type.clone()), ..EntryFilter::default() };
    let mut spec = ReplayRequestSpec::new(ReplaySelection::Matching(filter));
    spec.per_second = pace;
    let request = handle.request_replays(spec).await.unwrap();
    let mut marked: Vec<(Timestamp, DeadLetterId)> = world
        .entries
        .iter()
        .filter(|(_, m)| {
            m.status == Status::New
                && m.requested_at.is_none()
                && m.command_type == command_type
                && scope.as_ref().is_none_or(|tenant| *tenant == m.tenant)
        })
        .map(|(id, m)| (m.occurred_at, *id))
        .collect();
    marked.sort();
    assert_eq!(request.requested, marked.len() as u64, "{context}: request count");
    for ((_, id), n) in marked.iter().zip(0..) {
        let model = world.entries.get_mut(id).expect("known");
        model.requested_at = Some(request.slot(n));
        model.request = Some(request.id);
    }
    world.requests.push(RequestModel {
        id: request.id,
        tenant: scope,
        requested: request.requested,
        cancelled: None,
    });
}

/// Cancels a random request: its New entries still waiting lose it.
async fn step_cancel(h: &Harness, world: &mut World, context: &str) {
    if world.requests.is_empty() {
        return;
    }
    let index = world.rng.random_range(0..world.requests.len());
    let request = world.requests[index].clone();
    let handle =
        request.tenant.as_ref().map_or_else(|| h.store.clone(), |tenant| h.store.for_tenant(tenant.clone()));
    let cancelled = handle.cancel_replay_request(request.id).await.unwrap();
    let expected = match request.cancelled {
        Some(count) => count,
        None => {
            let mut count = 0;
            for model in world.entries.values_mut() {
                if model.request == Some(request.id)
                    && model.requested_at.is_some()
                    && model.status == Status::New
                {
                    model.request = None;
                    model.requested_at = None;
                    count += 1;
                }
            }
            world.requests[index].cancelled = Some(count);
            count
        }
    };
    assert_eq!(cancelled.cancelled, expected, "{context}: cancelled count");
}

async fn step_store(h: &Harness, world: &mut World, context: &str) {
    let now = h.clock.now();
    let tenant = world.tenants[world.rng.random_range(0..2)].clone();
    let message_id = world.rng.random_bool(0.5).then(|| format!("m-{}", world.rng.random_range(0..15)));
    let command_type = format!("cmd.{}", world.rng.random_range(0..3));
    let mut input =
        NewDeadLetter::new(command_type.clone(), "{}", Failure::new("E", "boom")).tenant(tenant.clone());
    input.message_id.clone_from(&message_id);
    let receipt = h.store.store(input).await.unwrap();
    let existing = world
        .entries
        .iter()
        .find(|(_, m)| m.tenant == tenant && m.message_id.is_some() && m.message_id == message_id)
        .map(|(id, _)| *id);
    match existing {
        Some(id) => assert_eq!((receipt.id, receipt.duplicate), (id, true), "{context}: duplicate store"),
        None => {
            assert!(!receipt.duplicate, "{context}: fresh store reported duplicate");
            let model = Model {
                tenant,
                message_id,
                status: Status::New,
                attempts: 1,
                occurred_at: now,
                resolved_at: None,
                lease: None,
                requested_at: None,
                command_type,
                request: None,
            };
            world.entries.insert(receipt.id, model);
        }
    }
    h.clock.advance(Duration::from_millis(world.rng.random_range(0..3)));
}

/// Compares every entry, the statistics per scope, and the pending queue.
async fn check_all(h: &Harness, world: &World, context: &str) {
    let all = list_all(&h.store).await;
    assert_eq!(all.len(), world.entries.len(), "{context}: entry count");
    for entry in &all {
        let model =
            world.entries.get(&entry.id).unwrap_or_else(|| panic!("{context}: unknown entry {}", entry.id));
        let got = (
            entry.status,
            entry.attempt_count,
            entry.occurred_at,
            entry.resolved_at,
            entry.replay_requested_at,
        );
        let want = (model.status, model.attempts, model.occurred_at, model.resolved_at, model.requested_at);
        assert_eq!(got, want, "{context}: entry {}", entry.id);
        assert_eq!(
            entry.lease.map(|l| (l.token, l.expires_at)),
            model.lease,
            "{context}: lease of {}",
            entry.id
        );
        assert_eq!(entry.replay_request, model.request, "{context}: request of {}", entry.id);
    }
    for request in &world.requests {
        let progress = h.store.replay_progress(request.id).await.unwrap();
        let of_request = world.entries.values().filter(|m| m.request == Some(request.id));
        let (mut remaining, mut claimed, mut replayed, mut failed) = (0, 0, 0, 0);
        for model in of_request {
            match (model.status, model.requested_at.is_some()) {
                (Status::New, true) => remaining += 1,
                (Status::New, false) => failed += 1,
                (Status::Replaying, _) => claimed += 1,
                (Status::Resolved, _) => replayed += 1,
                (Status::Dismissed, _) => {}
            }
        }
        let cancelled = request.cancelled.unwrap_or(0);
        let want = (remaining, claimed, replayed, failed, cancelled);
        let got =
            (progress.remaining, progress.claimed, progress.replayed, progress.failed, progress.cancelled);
        assert_eq!(got, want, "{context}: progress of request {}", request.id);
        assert_eq!(progress.request.requested, request.requested, "{context}: requested of {}", request.id);
    }
    assert_eq!(h.store.statistics().await.unwrap(), world.statistics(None), "{context}: statistics");
    for tenant in &world.tenants {
        let scoped = h.store.for_tenant(tenant.clone()).statistics().await.unwrap();
        assert_eq!(scoped, world.statistics(Some(tenant)), "{context}: statistics of {tenant}");
    }
    let mut pending: Vec<_> = world
        .entries
        .iter()
        .filter(|(_, m)| m.status == Status::New)
        .map(|(id, m)| (m.occurred_at, *id))
        .collect();
    pending.sort();
    let got: Vec<_> = h.store.get_pending(1000, 0).await.unwrap().iter().map(|e| e.id).collect();
    assert_eq!(got, pending.iter().map(|(_, id)| *id).collect::<Vec<_>>(), "{context}: pending");
}

async fn list_all(store: &DeadLetters) -> Vec<pulse_extensibility::DeadLetterEntry> {
    let mut query =
        ListQuery { filter: EntryFilter::default(), order: SortOrder::OldestFirst, limit: 100, cursor: None };
    let mut all = Vec::new();
    for _ in 0..1000 {
        let page = store.list(query.clone()).await.unwrap();
        all.extend(page.entries);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return all,
        }
    }
    panic!("paging never ended: the cursor does not advance")
}
