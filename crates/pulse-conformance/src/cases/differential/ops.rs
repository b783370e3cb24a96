//! Operations as data, and their generation from a seed.

use super::*;

/// Which entry an operation names: the `n`-th entry stored so far (modulo their number, so a
/// shorter sequence still names one), or an id no entry has.
#[derive(Debug, Clone, Copy)]
pub(super) enum Target {
    Stored(u32),
    Unknown,
}

/// A failure from [`FAILURES`], with its volatile number.
#[derive(Debug, Clone, Copy)]
pub(super) struct FailureKind {
    pub(super) kind: usize,
    pub(super) n: u32,
}

impl FailureKind {
    pub(super) fn exception_type(self) -> &'static str {
        EXCEPTIONS[FAILURES[self.kind].0]
    }

    pub(super) fn message(self) -> String {
        FAILURES[self.kind].1.replace("{n}", &self.n.to_string())
    }

    pub(super) fn failure(self) -> Failure {
        Failure::new(self.exception_type(), self.message())
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.exception_type(), self.message())
    }
}

#[derive(Debug, Clone)]
pub(super) struct StoreOp {
    pub(super) tenant: usize,
    /// Index into the tenant's three commands.
    pub(super) command: usize,
    pub(super) failure: FailureKind,
    pub(super) message_id: Option<u32>,
    pub(super) first_failed_ago: Option<Duration>,
    /// How far the clock moves after the store; often zero, so failures tie.
    pub(super) advance: Duration,
}

impl StoreOp {
    pub(super) fn command_type(&self) -> &'static str {
        COMMANDS[self.tenant + self.command]
    }
}

/// What a check lists, and how much of the error groups it asks for.
#[derive(Debug, Clone)]
pub(super) struct Probe {
    pub(super) tenant: Option<usize>,
    pub(super) narrow: Narrow,
    pub(super) page: u32,
    pub(super) groups: u32,
}

/// The filter of a probe's listing.
#[derive(Debug, Clone)]
pub(super) enum Narrow {
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
pub(super) enum Op {
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

pub(super) fn generate(seed: u64) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..STEPS).map(|_| random_op(&mut rng)).collect()
}

pub(super) fn random_op(rng: &mut StdRng) -> Op {
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

pub(super) fn random_failure(rng: &mut StdRng) -> FailureKind {
    FailureKind { kind: rng.random_range(0..FAILURES.len()), n: rng.random_range(0..100) }
}

pub(super) fn random_probe(rng: &mut StdRng) -> Probe {
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
