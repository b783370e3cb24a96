//! [`Plan`]: how big and how long each figure is, for the full run and for `--quick`.

use std::time::Duration;

use crate::backend::Kind;

/// When a measurement stops: after `time`, or after `max_ops` operations, whichever comes first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) time: Duration,
    pub(crate) max_ops: u64,
}

impl Budget {
    pub(crate) const fn new(time: Duration, max_ops: u64) -> Self {
        Self { time, max_ops }
    }

    /// A tenth of this budget, for warming up.
    pub(crate) fn warm_up(self) -> Self {
        Self { time: self.time / 10, max_ops: (self.max_ops / 10).max(1) }
    }
}

/// Sizes and durations of one run.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `--quick`: every figure at a small size, no timing asserted.
    pub(crate) quick: bool,
    /// `--only`: the one store measured; its report goes to `target/bench/` only.
    pub(crate) only: Option<Kind>,
    /// Table sizes the reads are measured at, smallest first; the largest is also the number of
    /// terminal entries purged, and a tenth of it the number of requested replays claimed.
    pub(crate) levels: Vec<u64>,
    /// Alternating rounds of baseline and Pulse per throughput figure; medians are reported.
    pub(crate) rounds: usize,
    /// One round of one side of a throughput figure.
    pub(crate) throughput: Budget,
    /// One latency figure: sequential calls, each timed.
    pub(crate) latency: Budget,
    /// Entries per `insert` when filling the big table.
    pub(crate) populate_batch: usize,
    /// Begin-and-finish replay cycles timed.
    pub(crate) replay_cycles: u64,
    /// Concurrent claimers.
    pub(crate) claimers: usize,
    /// Entries per `claim_requested` call.
    pub(crate) claim_batch: u32,
    /// The claimers stop after this long even if entries are left (the memory store scans every
    /// entry per claim).
    pub(crate) claim_time_limit: Duration,
    /// Entries per `purge` call.
    pub(crate) purge_batch: u32,
    /// The pace of the stores that run beside the purge.
    pub(crate) store_interval: Duration,
    /// How long the same paced stores run without a purge, for the baseline latency.
    pub(crate) quiet_stores: Duration,
    /// How long the stream of stores runs whose SQLite WAL is sampled.
    pub(crate) wal_stream: Duration,
}

impl Plan {
    /// The full run: 10k, 100k and 1M entries.
    pub(crate) fn full() -> Self {
        Self {
            quick: false,
            only: None,
            levels: vec![10_000, 100_000, 1_000_000],
            rounds: 5,
            throughput: Budget::new(Duration::from_millis(1500), 150_000),
            latency: Budget::new(Duration::from_secs(3), 1_000),
            populate_batch: 1_000,
            replay_cycles: 2_000,
            claimers: 4,
            claim_batch: 100,
            claim_time_limit: Duration::from_secs(60),
            purge_batch: 1_000,
            store_interval: Duration::from_millis(5),
            quiet_stores: Duration::from_secs(3),
            wal_stream: Duration::from_secs(60),
        }
    }

    /// The smoke test: the same figures at 1k, 2k and 5k entries, in well under two minutes.
    pub(crate) fn quick() -> Self {
        Self {
            quick: true,
            only: None,
            levels: vec![1_000, 2_000, 5_000],
            rounds: 1,
            throughput: Budget::new(Duration::from_millis(200), 20_000),
            latency: Budget::new(Duration::from_millis(300), 50),
            populate_batch: 1_000,
            replay_cycles: 50,
            claimers: 4,
            claim_batch: 100,
            claim_time_limit: Duration::from_secs(10),
            purge_batch: 1_000,
            store_interval: Duration::from_millis(5),
            quiet_stores: Duration::from_millis(300),
            wal_stream: Duration::from_secs(2),
        }
    }

    /// Whether this run measures `kind`.
    pub(crate) fn runs(&self, kind: Kind) -> bool {
        self.only.is_none_or(|only| only == kind)
    }

    /// The largest table size.
    pub(crate) fn largest(&self) -> u64 {
        self.levels.last().copied().unwrap_or_default()
    }
}
