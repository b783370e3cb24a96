//! A long seeded random sequence of operations, run against the backend and against a plain
//! reference model written independently of the shared state machine; every result is compared:
//! each operation's outcome, every entry, statistics in every scope, error groups field by
//! field, list pages in both orders and the entries each claim takes.
//!
//! The sequence is generated from the seed as data ([`Op`]) before it runs, so it replays
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

// ---------------------------------------------------------------------------------------------
// Operations as data

/// Which entry an operation names: the `n`-th entry stored so far (modulo their number, so a
/// shorter sequence still names one), or an id no entry has.
#[derive(Debug, Clone, Copy)]
enum Target {
    Stored(u32),
    Unknown,
}

/// A failure from [`FAILURES`], with its volatile number.
#[derive(Debug, Clone, Copy)]
struct FailureKind {
    kind: usize,
    n: u32,
}

impl FailureKind {
    fn exception_type(self) -> &'static str {
        EXCEPTIONS[FAILURES[self.kind].0]
    }

    fn message(self) -> String {
        FAILURES[self.kind].1.replace("{n}", &self.n.to_string())
    }

    fn failure(self) -> Failure {
        Failure::new(self.exception_type(), self.message())
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.exception_type(), self.message())
    }
}

#[derive(Debug, Clone)]
struct StoreOp {
    tenant: usize,
    /// Index into the tenant's three commands.
    command: usize,
    failure: FailureKind,
    message_id: Option<u32>,
    first_failed_ago: Option<Duration>,
    /// How far the clock moves after the store; often zero, so failures tie.
    advance: Duration,
}

impl StoreOp {
    fn command_type(&self) -> &'static str {
        COMMANDS[self.tenant + self.command]
    }
}

/// What a check lists, and how much of the error groups it asks for.
#[derive(Debug, Clone)]
struct Probe {
    tenant: Option<usize>,
    narrow: Narrow,
    page: u32,
    groups: u32,
}

/// The filter of a probe's listing.
#[derive(Debug, Clone)]
enum Narrow {
    Every,
    Statuses(Vec<Status>),
    Command(usize),
    Exception(usize),
    Group(Target),
    /// Latest failures from `ago` before now, for `span`.
    Occurred {
        ago: Duration,
        span: Duration,
    },
    Pending(bool),
}

/// One step of a run, replayable from its data alone.
#[derive(Debug, Clone)]
enum Op {
    Store(StoreOp),
    BeginReplay(Target),
    /// Finishes the `ticket`-th held ticket (modulo their number): success, or this failure.
    FinishReplay {
        ticket: u32,
        failure: Option<FailureKind>,
    },
    Dismiss(Target),
    Resolve(Target),
    RequestReplay(Target),
    Claim {
        tenant: Option<usize>,
        limit: u32,
    },
    Purge {
        age: Duration,
        limit: u32,
    },
    Advance(Duration),
    Request {
        tenant: Option<usize>,
        command: usize,
        pace: Option<NonZeroU32>,
    },
    Cancel {
        request: u32,
    },
    Check(Probe),
}

fn generate(seed: u64) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..STEPS).map(|_| random_op(&mut rng)).collect()
}

fn random_op(rng: &mut StdRng) -> Op {
    let target = |rng: &mut StdRng| {
        if rng.random_ratio(1, 20) { Target::Unknown } else { Target::Stored(rng.random()) }
    };
    let tenant = |rng: &mut StdRng, p| rng.random_bool(p).then(|| rng.random_range(0..2));
    match rng.random_range(0..14) {
        0 | 1 => Op::Store(StoreOp {
            tenant: rng.random_range(0..2),
            command: rng.random_range(0..3),
            failure: random_failure(rng),
            message_id: rng.random_bool(0.5).then(|| rng.random_range(0..15)),
            first_failed_ago: rng.random_bool(0.3).then(|| Duration::from_secs(rng.random_range(0..600))),
            advance: Duration::from_millis(if rng.random_bool(0.5) { 0 } else { rng.random_range(1..3) }),
        }),
        2 => Op::BeginReplay(target(rng)),
        3 | 4 => Op::FinishReplay {
            ticket: rng.random(),
            failure: rng.random_bool(0.5).then(|| random_failure(rng)),
        },
        5 => Op::Dismiss(target(rng)),
        6 => Op::Resolve(target(rng)),
        7 => Op::RequestReplay(target(rng)),
        8 => Op::Claim { tenant: tenant(rng, 0.3), limit: rng.random_range(1..5) },
        9 => Op::Purge { age: Duration::from_secs(rng.random_range(0..120)), limit: rng.random_range(1..4) },
        10 => Op::Advance(Duration::from_secs(rng.random_range(0..=LEASE.as_secs()))),
        11 => Op::Request {
            tenant: tenant(rng, 0.5),
            command: rng.random_range(0..COMMANDS.len()),
            pace: rng.random_bool(0.5).then(|| NonZeroU32::new(rng.random_range(1..5)).expect("above 0")),
        },
        12 => Op::Cancel { request: rng.random() },
        _ => Op::Check(random_probe(rng)),
    }
}

fn random_failure(rng: &mut StdRng) -> FailureKind {
    FailureKind { kind: rng.random_range(0..FAILURES.len()), n: rng.random_range(0..100) }
}

fn random_probe(rng: &mut StdRng) -> Probe {
    let narrow = match rng.random_range(0..10) {
        0 => Narrow::Statuses(Status::ALL.into_iter().filter(|_| rng.random_bool(0.5)).collect()),
        1 => Narrow::Command(rng.random_range(0..COMMANDS.len())),
        2 => Narrow::Exception(rng.random_range(0..EXCEPTIONS.len())),
        3 => Narrow::Group(Target::Stored(rng.random())),
        4 => Narrow::Occurred {
            ago: Duration::from_secs(rng.random_range(0..300)),
            span: Duration::from_secs(rng.random_range(0..300)),
        },
        5 => Narrow::Pending(rng.random_bool(0.5)),
        _ => Narrow::Every,
    };
    Probe {
        tenant: rng.random_bool(0.3).then(|| rng.random_range(0..2)),
        narrow,
        page: rng.random_range(1..8),
        groups: if rng.random_bool(0.5) { rng.random_range(1..6) } else { 1000 },
    }
}

// ---------------------------------------------------------------------------------------------
// Running a sequence

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

// ---------------------------------------------------------------------------------------------
// The reference model

/// What the model knows of one entry: everything a caller can compare.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Model {
    tenant: TenantId,
    message_id: Option<String>,
    command_type: String,
    exception_type: String,
    message: String,
    fingerprint: Fingerprint,
    status: Status,
    attempts: u32,
    first_failed_at: Timestamp,
    occurred_at: Timestamp,
    resolved_at: Option<Timestamp>,
    lease: Option<(Uuid, Timestamp)>,
    requested_at: Option<Timestamp>,
    /// The latest request that marked the entry.
    request: Option<ReplayRequestId>,
}

impl Model {
    /// The backend's entry, in the model's terms.
    fn of(entry: &DeadLetterEntry) -> Self {
        Self {
            tenant: entry.tenant.clone(),
            message_id: entry.message_id.clone(),
            command_type: entry.command_type.clone(),
            exception_type: entry.exception_type.clone(),
            message: entry.exception_message.clone(),
            fingerprint: entry.fingerprint.clone(),
            status: entry.status,
            attempts: entry.attempt_count,
            first_failed_at: entry.first_failed_at,
            occurred_at: entry.occurred_at,
            resolved_at: entry.resolved_at,
            lease: entry.lease.map(|lease| (lease.token, lease.expires_at)),
            requested_at: entry.replay_requested_at,
            request: entry.replay_request,
        }
    }

    fn live(&self, now: Timestamp) -> bool {
        self.status == Status::Replaying && self.lease.is_some_and(|(_, expires)| expires > now)
    }

    /// The row of the state table the entry is in.
    fn state(&self, now: Timestamp) -> &'static str {
        match self.status {
            Status::New => "a New entry",
            Status::Replaying if self.live(now) => "a Replaying entry with a live lease",
            Status::Replaying => "a Replaying entry with an expired lease",
            Status::Resolved => "a Resolved entry",
            Status::Dismissed => "a Dismissed entry",
        }
    }

    fn close(&mut self, status: Status, now: Timestamp) {
        self.status = status;
        self.resolved_at = Some(now);
        self.lease = None;
        self.requested_at = None;
        self.request = None;
    }
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
    Unexpected(String),
}

fn outcome<T>(result: &Result<T, Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        Err(Error::Dismissed { .. }) => Outcome::Dismissed,
        Err(Error::Conflict { .. }) => Outcome::Conflict,
        Err(Error::LeaseLost { .. }) => Outcome::LeaseLost,
        Err(other) => Outcome::Unexpected(format!("{other:?}")),
    }
}

struct World {
    tenants: [TenantId; 2],
    /// Every entry stored, in order: `e0`, `e1`, ...; purged ones stay, as names.
    stored: Vec<DeadLetterId>,
    entries: BTreeMap<DeadLetterId, Model>,
    /// Tickets held, with the step that took each.
    tickets: Vec<(ReplayTicket, usize)>,
    requests: Vec<RequestModel>,
    /// The index of the operation running.
    step: usize,
}

impl World {
    fn new() -> Self {
        Self {
            tenants: TENANTS.map(tenant),
            stored: Vec::new(),
            entries: BTreeMap::new(),
            tickets: Vec::new(),
            requests: Vec::new(),
            step: 0,
        }
    }

    fn target(&self, target: Target) -> Option<DeadLetterId> {
        match target {
            Target::Stored(n) if !self.stored.is_empty() => Some(self.stored[n as usize % self.stored.len()]),
            _ => None,
        }
    }

    /// The entry `target` names, or an id no entry has.
    fn id(&self, target: Target) -> DeadLetterId {
        self.target(target).unwrap_or_else(|| DeadLetterId::new_at(Timestamp::from_micros(0)))
    }

    fn label(&self, id: DeadLetterId) -> String {
        self.stored
            .iter()
            .position(|s| *s == id)
            .map_or_else(|| "an unknown id".to_owned(), |n| format!("e{n}"))
    }

    fn labels<'a>(&self, ids: impl IntoIterator<Item = &'a DeadLetterId>) -> String {
        let labels: Vec<String> = ids.into_iter().map(|id| self.label(*id)).collect();
        format!("[{}]", labels.join(", "))
    }

    fn scoped(&self, h: &Harness, tenant: Option<usize>) -> DeadLetters {
        tenant.map_or_else(|| h.store.clone(), |t| h.store.for_tenant(self.tenants[t].clone()))
    }

    fn in_scope(&self, model: &Model, tenant: Option<usize>) -> bool {
        tenant.is_none_or(|t| model.tenant == self.tenants[t])
    }

    /// The operation in words, with the entries it names.
    fn describe(&self, op: &Op) -> String {
        let scope = |tenant: Option<usize>| {
            tenant.map_or("across tenants".to_owned(), |t| format!("in tenant {}", TENANTS[t]))
        };
        match op {
            Op::Store(s) => {
                let mut line = format!(
                    "store in tenant {}: {} failing with {}",
                    TENANTS[s.tenant],
                    s.command_type(),
                    s.failure
                );
                if let Some(m) = s.message_id {
                    line += &format!(", message id m-{m}");
                }
                if let Some(ago) = s.first_failed_ago {
                    line += &format!(", first failed {}s ago", ago.as_secs());
                }
                line + &format!("; then the clock moves {} ms", s.advance.as_millis())
            }
            Op::BeginReplay(t) => format!("begin_replay({})", self.label(self.id(*t))),
            Op::FinishReplay { ticket, failure } => match self.tickets.len() {
                0 => "finish_replay: no ticket held, skipped".to_owned(),
                len => {
                    let (held, taken) = &self.tickets[*ticket as usize % len];
                    let how = failure.map_or("succeeded".to_owned(), |f| format!("failed with {f}"));
                    format!(
                        "finish_replay({}, lease taken at step {}): {how}",
                        self.label(held.entry.id),
                        taken + 1
                    )
                }
            },
            Op::Dismiss(t) => format!("dismiss({})", self.label(self.id(*t))),
            Op::Resolve(t) => format!("resolve({}, handled externally)", self.label(self.id(*t))),
            Op::RequestReplay(t) => format!("request_replay({})", self.label(self.id(*t))),
            Op::Claim { tenant, limit } => format!("claim_requested({limit}) {}", scope(*tenant)),
            Op::Purge { age, limit } => {
                format!("purge(resolved before now - {}s, limit {limit})", age.as_secs())
            }
            Op::Advance(by) => format!("the clock moves {}s", by.as_secs()),
            Op::Request { tenant, command, pace } => {
                let pace = pace.map_or("unpaced".to_owned(), |p| format!("{p} per second"));
                format!("request_replays of New {} {}, {pace}", COMMANDS[*command], scope(*tenant))
            }
            Op::Cancel { request } => match self.requests.len() {
                0 => "cancel_replay_request: no request made, skipped".to_owned(),
                len => format!("cancel_replay_request(r{})", *request as usize % len),
            },
            Op::Check(probe) => format!(
                "check everything; list {} {} by pages of {}; error groups up to {}",
                self.narrow_words(&probe.narrow),
                scope(probe.tenant),
                probe.page,
                probe.groups
            ),
        }
    }

    fn narrow_words(&self, narrow: &Narrow) -> String {
        match narrow {
            Narrow::Every => "every entry".to_owned(),
            Narrow::Statuses(statuses) => format!("entries in {statuses:?}"),
            Narrow::Command(c) => format!("entries of {}", COMMANDS[*c]),
            Narrow::Exception(e) => format!("entries failing with {}", EXCEPTIONS[*e]),
            Narrow::Group(t) => format!("the error group of {}", self.label(self.id(*t))),
            Narrow::Occurred { ago, span } => {
                format!("entries failing from now - {}s for {}s", ago.as_secs(), span.as_secs())
            }
            Narrow::Pending(pending) => format!("entries with pending request = {pending}"),
        }
    }

    async fn step(&mut self, h: &Harness, op: &Op, line: &mut String) -> Result<(), Mismatch> {
        let now = h.clock.now();
        match op {
            Op::Store(input) => self.store(h, input, line).await,
            Op::BeginReplay(target) => self.begin_replay(h, *target, now).await,
            Op::FinishReplay { ticket, failure } => self.finish_replay(h, *ticket, *failure, now).await,
            Op::Dismiss(target) => self.dismiss(h, *target, now).await,
            Op::Resolve(target) => self.resolve(h, *target, now).await,
            Op::RequestReplay(target) => self.request_replay(h, *target, now, line).await,
            Op::Claim { tenant, limit } => self.claim(h, *tenant, *limit, now, line).await,
            Op::Purge { age, limit } => self.purge(h, now.saturating_sub(*age), *limit, line).await,
            Op::Advance(by) => {
                h.clock.advance(*by);
                Ok(())
            }
            Op::Request { tenant, command, pace } => {
                self.request(h, *tenant, COMMANDS[*command], *pace, line).await
            }
            Op::Cancel { request } => self.cancel(h, *request).await,
            Op::Check(probe) => self.check(h, probe).await,
        }
    }

    /// The returned entry is the model's.
    fn expect_entry(&self, entry: &DeadLetterEntry, what: &str) -> Result<(), Mismatch> {
        let Some(model) = self.entries.get(&entry.id) else {
            return Err(Mismatch {
                rule: format!("{what} returns a known entry"),
                detail: format!("{entry:?}"),
            });
        };
        expect(&Model::of(entry), model, format!("{what} returns the entry as the contract changes it"))
            .map_err(|m| Mismatch { detail: format!("{}: {}", self.label(entry.id), m.detail), ..m })
    }

    /// The outcome the state table gives `what` on `id`.
    fn expect_outcome(
        &self,
        got: &Outcome,
        want: &Outcome,
        what: &str,
        id: DeadLetterId,
        now: Timestamp,
    ) -> Result<(), Mismatch> {
        let state = self.entries.get(&id).map_or("an unknown id", |m| m.state(now));
        let rule = format!("{what} on {state} gives {want:?} (the state table)");
        expect(got, want, rule)
    }

    async fn store(&mut self, h: &Harness, op: &StoreOp, line: &mut String) -> Result<(), Mismatch> {
        let now = h.clock.now();
        let tenant = self.tenants[op.tenant].clone();
        let message_id = op.message_id.map(|m| format!("m-{m}"));
        let mut input =
            NewDeadLetter::new(op.command_type(), "{}", op.failure.failure()).tenant(tenant.clone());
        input.message_id.clone_from(&message_id);
        input.first_failed_at = op.first_failed_ago.map(|ago| now.saturating_sub(ago));
        let receipt = succeed(h.store.store(input).await, "storing a valid entry")?;
        let existing = self
            .entries
            .iter()
            .find(|(_, m)| m.tenant == tenant && m.message_id.is_some() && m.message_id == message_id)
            .map(|(id, _)| *id);
        match existing {
            Some(id) => {
                *line += &format!(" -> duplicate of {}", self.label(id));
                let rule = "storing a message id already stored in the tenant returns the existing id as a duplicate";
                expect((receipt.id, receipt.duplicate), (id, true), rule)?;
            }
            None => {
                expect(receipt.duplicate, false, "a new message id is not a duplicate")?;
                let model = Model {
                    tenant,
                    message_id,
                    command_type: op.command_type().to_owned(),
                    exception_type: op.failure.exception_type().to_owned(),
                    message: op.failure.message(),
                    fingerprint: fingerprint(
                        op.command_type(),
                        op.failure.exception_type(),
                        &op.failure.message(),
                    ),
                    status: Status::New,
                    attempts: 1,
                    first_failed_at: op.first_failed_ago.map_or(now, |ago| now.saturating_sub(ago)),
                    occurred_at: now,
                    resolved_at: None,
                    lease: None,
                    requested_at: None,
                    request: None,
                };
                self.stored.push(receipt.id);
                *line += &format!(" -> {}", self.label(receipt.id));
                self.entries.insert(receipt.id, model);
            }
        }
        h.clock.advance(op.advance);
        Ok(())
    }

    async fn begin_replay(&mut self, h: &Harness, target: Target, now: Timestamp) -> Result<(), Mismatch> {
        let id = self.id(target);
        let result = h.store.begin_replay(id).await;
        let want = match self.entries.get(&id) {
            None => Outcome::NotFound,
            Some(m) if m.status == Status::Dismissed => Outcome::Dismissed,
            Some(m) if m.status == Status::Resolved || m.live(now) => Outcome::Conflict,
            Some(_) => Outcome::Ok,
        };
        self.expect_outcome(&outcome(&result), &want, "begin_replay", id, now)?;
        if let Ok(ticket) = result {
            let model = self.entries.get_mut(&id).expect("an entry the model knows");
            model.status = Status::Replaying;
            model.lease = Some((ticket.lease.token, ticket.lease.expires_at));
            expect(
                ticket.lease.expires_at,
                now.saturating_add(LEASE),
                "a lease runs for the lease duration",
            )?;
            self.expect_entry(&ticket.entry, "begin_replay")?;
            self.tickets.push((ticket, self.step));
        }
        Ok(())
    }

    async fn finish_replay(
        &mut self,
        h: &Harness,
        ticket: u32,
        failure: Option<FailureKind>,
        now: Timestamp,
    ) -> Result<(), Mismatch> {
        if self.tickets.is_empty() {
            return Ok(());
        }
        let (ticket, _) = self.tickets.remove(ticket as usize % self.tickets.len());
        let (id, token) = (ticket.entry.id, ticket.lease.token);
        let replayed = failure.map_or(ReplayOutcome::Succeeded, |f| ReplayOutcome::Failed(f.failure()));
        let result = h.store.finish_replay(ticket, replayed).await;
        let want = match self.entries.get(&id) {
            None => Outcome::NotFound,
            Some(m) if m.status == Status::Replaying && m.lease.is_some_and(|(t, _)| t == token) => {
                Outcome::Ok
            }
            Some(_) => Outcome::LeaseLost,
        };
        let state = match self.entries.get(&id) {
            None => "a purged entry",
            Some(m) if m.lease.is_some_and(|(t, _)| t == token) => "an entry it holds the lease of",
            Some(_) => "an entry whose lease another replay took, or that left Replaying",
        };
        expect(outcome(&result), want, format!("finish_replay on {state} (the state table)"))?;
        let Ok(entry) = result else { return Ok(()) };
        let model = self.entries.get_mut(&id).expect("an entry the model knows");
        model.lease = None;
        model.requested_at = None;
        match failure {
            None => {
                model.status = Status::Resolved;
                model.resolved_at = Some(now);
            }
            Some(f) => {
                model.status = Status::New;
                model.attempts += 1;
                model.occurred_at = now;
                model.exception_type = f.exception_type().to_owned();
                model.message = f.message();
                model.fingerprint = fingerprint(&model.command_type, f.exception_type(), &f.message());
            }
        }
        self.expect_entry(&entry, "finish_replay")
    }

    async fn dismiss(&mut self, h: &Harness, target: Target, now: Timestamp) -> Result<(), Mismatch> {
        let id = self.id(target);
        let result = h.store.dismiss(id, None).await;
        let want = match self.entries.get(&id) {
            None => Outcome::NotFound,
            Some(m) if m.status == Status::Dismissed => Outcome::Ok,
            Some(m) if m.status == Status::Resolved || m.live(now) => Outcome::Conflict,
            Some(_) => Outcome::Ok,
        };
        self.expect_outcome(&outcome(&result), &want, "dismiss", id, now)?;
        let Ok(entry) = result else { return Ok(()) };
        let model = self.entries.get_mut(&id).expect("an entry the model knows");
        if model.status != Status::Dismissed {
            model.close(Status::Dismissed, now);
        }
        self.expect_entry(&entry, "dismiss")
    }

    async fn resolve(&mut self, h: &Harness, target: Target, now: Timestamp) -> Result<(), Mismatch> {
        let id = self.id(target);
        let result = h.store.resolve(id, Resolution::HandledExternally, None).await;
        let want = match self.entries.get(&id) {
            None => Outcome::NotFound,
            Some(m) if m.status.is_terminal() || m.live(now) => Outcome::Conflict,
            Some(_) => Outcome::Ok,
        };
        self.expect_outcome(&outcome(&result), &want, "resolve", id, now)?;
        let Ok(entry) = result else { return Ok(()) };
        self.entries.get_mut(&id).expect("an entry the model knows").close(Status::Resolved, now);
        self.expect_entry(&entry, "resolve")
    }

    async fn request_replay(
        &mut self,
        h: &Harness,
        target: Target,
        now: Timestamp,
        line: &mut String,
    ) -> Result<(), Mismatch> {
        let id = self.id(target);
        let result = h.store.request_replay(id).await;
        let want = match self.entries.get(&id) {
            None => Outcome::NotFound,
            Some(m) if m.status == Status::Dismissed => Outcome::Dismissed,
            Some(m) if m.status == Status::Resolved || m.live(now) => Outcome::Conflict,
            Some(_) => Outcome::Ok,
        };
        self.expect_outcome(&outcome(&result), &want, "request_replay", id, now)?;
        let Ok(entry) = result else { return Ok(()) };
        let model = self.entries.get_mut(&id).expect("an entry the model knows");
        // A New entry without a pending request gets one of its own, in the all-tenants scope;
        // one already requested, or whose expired replay still holds its request, keeps it.
        if model.requested_at.is_none() && model.status == Status::New {
            let Some(request) = entry.replay_request else {
                return Err(Mismatch {
                    rule: "a requested entry names its request".to_owned(),
                    detail: format!("{entry:?}"),
                });
            };
            let rule = "request_replay of an entry without a pending request makes a new request";
            if model.request == Some(request) {
                return Err(Mismatch { rule: rule.to_owned(), detail: format!("it kept {request}") });
            }
            model.requested_at = Some(now);
            model.request = Some(request);
            *line += &format!(" -> r{}", self.requests.len());
            self.requests.push(RequestModel { id: request, tenant: None, requested: 1, cancelled: None });
        }
        self.expect_entry(&entry, "request_replay")
    }

    /// The claim takes the entries whose slot has come, earliest slot first, up to `limit`;
    /// among entries of one slot the contract leaves the choice and the order to the backend.
    async fn claim(
        &mut self,
        h: &Harness,
        tenant: Option<usize>,
        limit: u32,
        now: Timestamp,
        line: &mut String,
    ) -> Result<(), Mismatch> {
        let claimed = succeed(self.scoped(h, tenant).claim_requested(limit).await, "claim_requested")?;
        let mut due: Vec<(Timestamp, DeadLetterId)> = self
            .entries
            .iter()
            .filter(|(_, m)| {
                self.in_scope(m, tenant)
                    && m.requested_at.is_some_and(|slot| slot <= now)
                    && m.status != Status::Dismissed
                    && !m.live(now)
            })
            .filter_map(|(id, m)| Some((m.requested_at?, *id)))
            .collect();
        due.sort();
        let got: Vec<DeadLetterId> = claimed.iter().map(|t| t.entry.id).collect();
        *line += &format!(" -> {}", self.labels(&got));
        let rule = "claim_requested takes up to its limit of the due entries in its scope, earliest slot first, \
                    skipping live leases";
        let slots = |ids: &mut dyn Iterator<Item = DeadLetterId>| -> Vec<Option<Timestamp>> {
            ids.map(|id| self.entries.get(&id).and_then(|m| m.requested_at)).collect()
        };
        let want_slots: Vec<Option<Timestamp>> =
            due.iter().take(limit as usize).map(|(slot, _)| Some(*slot)).collect();
        let eligible: BTreeSet<DeadLetterId> = due.iter().map(|(_, id)| *id).collect();
        let distinct: BTreeSet<DeadLetterId> = got.iter().copied().collect();
        if slots(&mut got.iter().copied()) != want_slots
            || !got.iter().all(|id| eligible.contains(id))
            || distinct.len() != got.len()
        {
            let detail = format!(
                "got {} (slots {:?}), the due entries in slot order are {}",
                self.labels(&got),
                slots(&mut got.iter().copied()),
                self.labels(due.iter().map(|(_, id)| id)),
            );
            return Err(Mismatch { rule: rule.to_owned(), detail });
        }
        for ticket in claimed {
            let model = self.entries.get_mut(&ticket.entry.id).expect("a due entry");
            model.status = Status::Replaying;
            model.lease = Some((ticket.lease.token, ticket.lease.expires_at));
            expect(
                ticket.lease.expires_at,
                now.saturating_add(LEASE),
                "a lease runs for the lease duration",
            )?;
            self.expect_entry(&ticket.entry, "claim_requested")?;
            self.tickets.push((ticket, self.step));
        }
        Ok(())
    }

    async fn purge(
        &mut self,
        h: &Harness,
        cutoff: Timestamp,
        limit: u32,
        line: &mut String,
    ) -> Result<(), Mismatch> {
        let purged = succeed(h.store.purge(cutoff, limit).await, "purge")?;
        let candidates: Vec<DeadLetterId> = self
            .entries
            .iter()
            .filter(|(_, m)| m.status.is_terminal() && m.resolved_at.is_some_and(|at| at < cutoff))
            .map(|(id, _)| *id)
            .collect();
        let rule = "purge deletes up to its limit of the terminal entries resolved before the cut-off";
        expect(purged, candidates.len().min(limit as usize) as u64, rule)?;
        // Which ones went is the backend's choice: learn it.
        let mut gone = Vec::new();
        for id in candidates {
            if succeed(h.store.get_entry(id).await, "get_entry")?.is_none() {
                self.entries.remove(&id);
                gone.push(id);
            }
        }
        *line += &format!(" -> {}", self.labels(&gone));
        expect(gone.len() as u64, purged, "purge deletes as many entries as it reports")
    }

    /// A paced or unpaced request for one command type, in a random scope: the model marks the
    /// New entries without a pending request, oldest failure first, at the request's slots.
    async fn request(
        &mut self,
        h: &Harness,
        tenant: Option<usize>,
        command_type: &str,
        pace: Option<NonZeroU32>,
        line: &mut String,
    ) -> Result<(), Mismatch> {
        let filter = EntryFilter { command_type: Some(command_type.to_owned()), ..EntryFilter::default() };
        let mut spec = ReplayRequestSpec::new(ReplaySelection::Matching(filter));
        spec.per_second = pace;
        let request = succeed(self.scoped(h, tenant).request_replays(spec).await, "request_replays")?;
        let mut marked: Vec<(Timestamp, DeadLetterId)> = self
            .entries
            .iter()
            .filter(|(_, m)| {
                m.status == Status::New
                    && m.requested_at.is_none()
                    && m.command_type == command_type
                    && self.in_scope(m, tenant)
            })
            .map(|(id, m)| (m.occurred_at, *id))
            .collect();
        marked.sort();
        *line +=
            &format!(" -> r{} marks {}", self.requests.len(), self.labels(marked.iter().map(|(_, id)| id)));
        let rule = "a request marks the New entries it selects that have no pending request";
        expect(request.requested, marked.len() as u64, rule)?;
        for ((_, id), n) in marked.iter().zip(0..) {
            let model = self.entries.get_mut(id).expect("a marked entry");
            model.requested_at = Some(request.slot(n));
            model.request = Some(request.id);
        }
        self.requests.push(RequestModel {
            id: request.id,
            tenant: tenant.map(|t| self.tenants[t].clone()),
            requested: request.requested,
            cancelled: None,
        });
        Ok(())
    }

    /// Cancels a request: its New entries still waiting lose it.
    async fn cancel(&mut self, h: &Harness, request: u32) -> Result<(), Mismatch> {
        if self.requests.is_empty() {
            return Ok(());
        }
        let index = request as usize % self.requests.len();
        let request = self.requests[index].clone();
        let handle =
            request.tenant.as_ref().map_or_else(|| h.store.clone(), |t| h.store.for_tenant(t.clone()));
        let cancelled = succeed(handle.cancel_replay_request(request.id).await, "cancel_replay_request")?;
        let want = match request.cancelled {
            Some(count) => count,
            None => {
                let mut count = 0;
                for model in self.entries.values_mut() {
                    if model.request == Some(request.id)
                        && model.requested_at.is_some()
                        && model.status == Status::New
                    {
                        model.request = None;
                        model.requested_at = None;
                        count += 1;
                    }
                }
                self.requests[index].cancelled = Some(count);
                count
            }
        };
        let rule = "cancelling takes the request from its New entries not yet claimed; cancelling again changes nothing";
        expect(cancelled.cancelled, want, rule)
    }
}

// ---------------------------------------------------------------------------------------------
// Checks: the whole store against the model

impl World {
    async fn check(&self, h: &Harness, probe: &Probe) -> Result<(), Mismatch> {
        self.check_entries(h).await?;
        self.check_progress(h).await?;
        self.check_statistics(h).await?;
        self.check_pending(h).await?;
        for tenant in [None, Some(0), Some(1)] {
            self.check_groups(h, tenant, probe.groups).await?;
        }
        for order in [SortOrder::NewestFirst, SortOrder::OldestFirst] {
            self.check_listing(h, probe, order).await?;
        }
        Ok(())
    }

    async fn check_entries(&self, h: &Harness) -> Result<(), Mismatch> {
        let all = walk(&h.store, &EntryFilter::default(), SortOrder::OldestFirst, 100).await?;
        let got: BTreeSet<DeadLetterId> = all.iter().map(|e| e.id).collect();
        let want: BTreeSet<DeadLetterId> = self.entries.keys().copied().collect();
        expect(
            self.labels(&got),
            self.labels(&want),
            "the store holds exactly the entries stored and not purged",
        )?;
        for entry in &all {
            self.expect_entry(entry, "list")?;
        }
        Ok(())
    }

    async fn check_progress(&self, h: &Harness) -> Result<(), Mismatch> {
        for (n, request) in self.requests.iter().enumerate() {
            let progress = succeed(h.store.replay_progress(request.id).await, "replay_progress")?;
            let (mut remaining, mut claimed, mut replayed, mut failed) = (0, 0, 0, 0);
            for model in self.entries.values().filter(|m| m.request == Some(request.id)) {
                match (model.status, model.requested_at.is_some()) {
                    (Status::New, true) => remaining += 1,
                    (Status::New, false) => failed += 1,
                    (Status::Replaying, _) => claimed += 1,
                    (Status::Resolved, _) => replayed += 1,
                    (Status::Dismissed, _) => {}
                }
            }
            let want =
                (request.requested, remaining, claimed, replayed, failed, request.cancelled.unwrap_or(0));
            let got = (
                progress.request.requested,
                progress.remaining,
                progress.claimed,
                progress.replayed,
                progress.failed,
                progress.cancelled,
            );
            let rule = format!(
                "a request's progress (requested, waiting, replaying, replayed, failed, cancelled) is counted from \
                 its entries (r{n})"
            );
            expect(got, want, rule)?;
        }
        Ok(())
    }

    fn statistics(&self, tenant: Option<usize>) -> Statistics {
        let mut stats = Statistics::default();
        for model in self.entries.values().filter(|m| self.in_scope(m, tenant)) {
            stats.add(model.status, 1);
        }
        stats
    }

    async fn check_statistics(&self, h: &Harness) -> Result<(), Mismatch> {
        for tenant in [None, Some(0), Some(1)] {
            let got = succeed(self.scoped(h, tenant).statistics().await, "statistics")?;
            let scope = tenant.map_or("across tenants".to_owned(), |t| format!("in tenant {}", TENANTS[t]));
            expect(got, self.statistics(tenant), format!("statistics count the entries {scope} by status"))?;
        }
        Ok(())
    }

    async fn check_pending(&self, h: &Harness) -> Result<(), Mismatch> {
        let mut pending: Vec<(Timestamp, DeadLetterId)> = self
            .entries
            .iter()
            .filter(|(_, m)| m.status == Status::New)
            .map(|(id, m)| (m.occurred_at, *id))
            .collect();
        pending.sort();
        let got = succeed(h.store.get_pending(1000, 0).await, "get_pending")?;
        let rule = "get_pending gives the New entries, oldest latest failure first, ties by id";
        expect(self.labels(got.iter().map(|e| &e.id)), self.labels(pending.iter().map(|(_, id)| id)), rule)
    }

    /// The error groups of the unresolved entries in scope, all of them, in the contract's
    /// order: largest first, then most recent, then by fingerprint.
    fn error_groups(&self, tenant: Option<usize>) -> Vec<ErrorGroup> {
        let mut groups: BTreeMap<&Fingerprint, (ErrorGroup, (Timestamp, DeadLetterId))> = BTreeMap::new();
        for (id, m) in
            self.entries.iter().filter(|(_, m)| m.status.is_unresolved() && self.in_scope(m, tenant))
        {
            let latest = (m.occurred_at, *id);
            let (group, sample) = groups.entry(&m.fingerprint).or_insert_with(|| {
                let group = ErrorGroup {
                    fingerprint: m.fingerprint.clone(),
                    command_type: m.command_type.clone(),
                    exception_type: m.exception_type.clone(),
                    sample_message: m.message.clone(),
                    count: 0,
                    first_seen: m.first_failed_at,
                    last_seen: m.occurred_at,
                };
                (group, latest)
            });
            group.count += 1;
            group.first_seen = group.first_seen.min(m.first_failed_at);
            group.last_seen = group.last_seen.max(m.occurred_at);
            if latest > *sample {
                *sample = latest;
                group.sample_message.clone_from(&m.message);
            }
        }
        let mut groups: Vec<ErrorGroup> = groups.into_values().map(|(group, _)| group).collect();
        groups.sort_by(|a, b| {
            (b.count, b.last_seen)
                .cmp(&(a.count, a.last_seen))
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        groups
    }

    async fn check_groups(&self, h: &Harness, tenant: Option<usize>, limit: u32) -> Result<(), Mismatch> {
        let got = succeed(self.scoped(h, tenant).error_groups(limit).await, "error_groups")?;
        let all = self.error_groups(tenant);
        let want = &all[..all.len().min(limit as usize)];
        if got == want {
            return Ok(());
        }
        let scope = tenant.map_or("across tenants".to_owned(), |t| format!("in tenant {}", TENANTS[t]));
        let rule = group_rule(&got, want, &all);
        let position = got.iter().zip(want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
        let detail = format!(
            "error_groups({limit}) {scope}, first difference at position {position}:\n  got  {:?}\n  want {:?}\n\
             (got {} groups, want {})",
            got.get(position),
            want.get(position),
            got.len(),
            want.len()
        );
        Err(Mismatch { rule: rule.to_owned(), detail })
    }

    async fn check_listing(&self, h: &Harness, probe: &Probe, order: SortOrder) -> Result<(), Mismatch> {
        let filter = self.filter(&probe.narrow, h.clock.now());
        let listed = walk(&self.scoped(h, probe.tenant), &filter, order, probe.page).await?;
        let got: Vec<DeadLetterId> = listed.iter().map(|e| e.id).collect();
        let mut want: Vec<(Timestamp, DeadLetterId)> = self
            .entries
            .iter()
            .filter(|(_, m)| self.in_scope(m, probe.tenant) && self.admits(&probe.narrow, m, h.clock.now()))
            .map(|(id, m)| (m.occurred_at, *id))
            .collect();
        want.sort();
        if order == SortOrder::NewestFirst {
            want.reverse();
        }
        let want: Vec<DeadLetterId> = want.into_iter().map(|(_, id)| id).collect();
        if got == want {
            return Ok(());
        }
        let distinct: BTreeSet<&DeadLetterId> = got.iter().collect();
        let rule = if distinct.len() < got.len() {
            "paging never repeats an entry".to_owned()
        } else if distinct == want.iter().collect::<BTreeSet<_>>() {
            format!("a listing is ordered by (latest failure, id), {order:?}")
        } else {
            "a listing pages through exactly the entries its scope and filter select".to_owned()
        };
        let detail = format!(
            "{} by pages of {}, {order:?}: got {}, want {}",
            self.narrow_words(&probe.narrow),
            probe.page,
            self.labels(&got),
            self.labels(&want)
        );
        Err(Mismatch { rule, detail })
    }

    fn filter(&self, narrow: &Narrow, now: Timestamp) -> EntryFilter {
        let mut filter = EntryFilter::default();
        match narrow {
            Narrow::Every => {}
            Narrow::Statuses(statuses) => filter.statuses.clone_from(statuses),
            Narrow::Command(c) => filter.command_type = Some(COMMANDS[*c].to_owned()),
            Narrow::Exception(e) => filter.exception_type = Some(EXCEPTIONS[*e].to_owned()),
            Narrow::Group(t) => filter.fingerprint = Some(self.group_of(*t)),
            Narrow::Occurred { ago, span } => {
                let from = now.saturating_sub(*ago);
                filter.occurred_from = Some(from);
                filter.occurred_before = Some(from.saturating_add(*span));
            }
            Narrow::Pending(pending) => filter.replay_pending = Some(*pending),
        }
        filter
    }

    /// The model's own reading of a filter.
    fn admits(&self, narrow: &Narrow, m: &Model, now: Timestamp) -> bool {
        match narrow {
            Narrow::Every => true,
            Narrow::Statuses(statuses) => statuses.is_empty() || statuses.contains(&m.status),
            Narrow::Command(c) => m.command_type == COMMANDS[*c],
            Narrow::Exception(e) => m.exception_type == EXCEPTIONS[*e],
            Narrow::Group(t) => m.fingerprint == self.group_of(*t),
            Narrow::Occurred { ago, span } => {
                let from = now.saturating_sub(*ago);
                from <= m.occurred_at && m.occurred_at < from.saturating_add(*span)
            }
            Narrow::Pending(pending) => m.requested_at.is_some() == *pending,
        }
    }

    /// The fingerprint of the entry `target` names, or one no entry has.
    fn group_of(&self, target: Target) -> Fingerprint {
        self.target(target)
            .and_then(|id| self.entries.get(&id))
            .map_or_else(|| fingerprint("none", "none", "none"), |m| m.fingerprint.clone())
    }
}

/// The rule the first difference between two lists of error groups breaks.
fn group_rule(got: &[ErrorGroup], want: &[ErrorGroup], all: &[ErrorGroup]) -> &'static str {
    for (g, w) in got.iter().zip(want) {
        if g == w {
            continue;
        }
        let Some(model) = all.iter().find(|m| m.fingerprint == g.fingerprint) else {
            return "error groups are the fingerprints of unresolved entries in scope";
        };
        if g.count != model.count {
            return "a group counts its unresolved entries";
        }
        if g.first_seen != model.first_seen {
            return "a group's first seen is the earliest first failure of its unresolved entries";
        }
        if g.last_seen != model.last_seen {
            return "a group's last seen is the latest failure of its unresolved entries";
        }
        if g.sample_message != model.sample_message {
            return "a group's sample is the message of its latest failure (latest occurred_at, then highest id)";
        }
        if g.command_type != model.command_type || g.exception_type != model.exception_type {
            return "a group carries the command type and exception type of its entries";
        }
        if w.count != model.count {
            return "error groups come largest first";
        }
        if w.last_seen != model.last_seen {
            return "error groups with equal count come most recent first";
        }
        return "error groups with equal count and last seen are ordered by fingerprint";
    }
    "error_groups(limit) gives one group per fingerprint of the unresolved entries in scope, up to limit"
}

/// Every entry `store` lists for `filter` in `order`, walking the pages with their cursors.
async fn walk(
    store: &DeadLetters,
    filter: &EntryFilter,
    order: SortOrder,
    limit: u32,
) -> Result<Vec<DeadLetterEntry>, Mismatch> {
    let mut query = ListQuery { filter: filter.clone(), order, limit, cursor: None };
    let mut all = Vec::new();
    for _ in 0..10_000 {
        let page = succeed(store.list(query.clone()).await, "list")?;
        if page.entries.len() > limit as usize {
            let detail = format!("a page of {} for limit {limit}", page.entries.len());
            return Err(Mismatch { rule: "a page holds at most its limit".to_owned(), detail });
        }
        all.extend(page.entries);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(all),
        }
    }
    Err(Mismatch { rule: "paging ends".to_owned(), detail: "the cursor does not advance".to_owned() })
}
