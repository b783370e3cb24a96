//! The entry every figure stores, the fresh parts of each row the baselines write, and the
//! timeline of the big table's past entries.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Result;
use pulse_extensibility::{
    Clock, CommandDeadLetterStatus as Status, DEFAULT_MAX_PAYLOAD_BYTES, DeadLetterEntry, DeadLetterId,
    Failure, NewDeadLetter, Resolution, Statistics, SystemClock, Timestamp, validate,
};

/// The command every benchmark entry carries: a small order, as JSON.
const PAYLOAD: &str = r#"{"order_id":42,"customer_id":"c-1042","currency":"EUR","lines":[{"sku":"SKU-1","quantity":2,"price_cents":1999},{"sku":"SKU-7","quantity":1,"price_cents":4999}]}"#;

/// The big table's entries fail this far apart.
const STEP: Duration = Duration::from_secs(2);

/// The big table starts this long before the run, so its terminal entries are old enough to purge.
const HISTORY: Duration = Duration::from_secs(40 * 24 * 3600);

/// A terminal entry was resolved this long after it failed.
const RESOLVED_AFTER: Duration = Duration::from_secs(3600);

static NEXT_MESSAGE_ID: AtomicU64 = AtomicU64::new(0);

/// A message id no other entry of this run has.
pub(crate) fn message_id() -> String {
    format!("msg-{:012}", NEXT_MESSAGE_ID.fetch_add(1, Ordering::Relaxed))
}

/// The current instant on Pulse's system clock.
pub(crate) fn now() -> Timestamp {
    SystemClock.now()
}

/// The parts of a row that differ from the template's: what a hand-written insert computes.
pub(crate) struct Fresh {
    pub(crate) id: DeadLetterId,
    pub(crate) message_id: String,
    pub(crate) at: Timestamp,
}

/// The one failed command of the benchmark, as a service hands it over and as a store writes it.
pub(crate) struct Template {
    input: NewDeadLetter,
    entry: DeadLetterEntry,
    metadata_json: String,
}

impl Template {
    pub(crate) fn new() -> Result<Self> {
        let failure = Failure::new("TimeoutError", "order 42 timed out after 30s")
            .with_details("caused by: deadline has elapsed");
        let input = NewDeadLetter::new("orders.create", PAYLOAD, failure)
            .source("orders-worker")
            .metadata("correlation_id", "c-5f0c6e1a")
            .metadata("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736");
        let entry =
            validate::new_entry(input.clone().message_id("template"), now(), DEFAULT_MAX_PAYLOAD_BYTES)?;
        let metadata_json = serde_json::to_string(&entry.metadata)?;
        Ok(Self { input, entry, metadata_json })
    }

    /// What a service hands Pulse: the command with a fresh message id.
    pub(crate) fn input(&self) -> NewDeadLetter {
        self.input.clone().message_id(message_id())
    }

    /// The entry as a store writes it, for reading its constant fields.
    pub(crate) fn entry(&self) -> &DeadLetterEntry {
        &self.entry
    }

    /// The metadata as the JSON text the SQLite store writes.
    pub(crate) fn metadata_json(&self) -> &str {
        &self.metadata_json
    }

    /// A fresh id, message id and instant, now.
    pub(crate) fn fresh(&self) -> Fresh {
        let at = now();
        Fresh { id: DeadLetterId::new_at(at), message_id: message_id(), at }
    }

    /// The whole entry, New, failed at `at`, with a fresh id and message id.
    pub(crate) fn entry_at(&self, at: Timestamp) -> DeadLetterEntry {
        DeadLetterEntry {
            id: DeadLetterId::new_at(at),
            message_id: Some(message_id()),
            first_failed_at: at,
            occurred_at: at,
            created_at: at,
            updated_at: at,
            ..self.entry.clone()
        }
    }

    /// How many bytes of text one entry carries: what any store must keep, at least.
    pub(crate) fn text_bytes(&self) -> usize {
        let e = &self.entry;
        [
            e.tenant.as_str(),
            &e.command_type,
            &e.payload,
            &e.exception_type,
            &e.exception_message,
            e.exception_details.as_deref().unwrap_or_default(),
            e.fingerprint.as_str(),
            e.source.as_deref().unwrap_or_default(),
            "msg-000000000000",
        ]
        .iter()
        .map(|text| text.len())
        .sum::<usize>()
            + e.metadata.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }
}

/// The big table: entry `k` failed `k` steps after the table's start, long before the run.
/// One in ten is New; of the rest, five in nine are Resolved and four Dismissed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeline {
    start: Timestamp,
}

impl Timeline {
    pub(crate) fn new(now: Timestamp) -> Self {
        Self { start: now.saturating_sub(HISTORY) }
    }

    /// The status of entry `k`.
    pub(crate) fn status(k: u64) -> Status {
        match k % 10 {
            0 => Status::New,
            1..=5 => Status::Resolved,
            _ => Status::Dismissed,
        }
    }

    /// When entry `k` failed.
    pub(crate) fn at(&self, k: u64) -> Timestamp {
        let step = i64::try_from(STEP.as_micros()).unwrap_or(i64::MAX);
        let k = i64::try_from(k).unwrap_or(i64::MAX);
        Timestamp::from_micros(self.start.as_micros().saturating_add(k.saturating_mul(step)))
    }

    /// Entry `k` in its status.
    pub(crate) fn entry(&self, template: &Template, k: u64) -> DeadLetterEntry {
        Self::settle(template.entry_at(self.at(k)), Self::status(k))
    }

    /// Entry `k`, terminal whatever its `k`: Resolved for odd `k`, Dismissed for even.
    pub(crate) fn terminal_entry(&self, template: &Template, k: u64) -> DeadLetterEntry {
        let status = if k % 2 == 1 { Status::Resolved } else { Status::Dismissed };
        Self::settle(template.entry_at(self.at(k)), status)
    }

    /// `entry` moved to `status` the way the state machine leaves it.
    fn settle(entry: DeadLetterEntry, status: Status) -> DeadLetterEntry {
        let resolution = match status {
            Status::Resolved => Resolution::Replayed,
            Status::Dismissed => Resolution::Ignored,
            Status::New | Status::Replaying => return entry,
        };
        let resolved_at = entry.occurred_at.saturating_add(RESOLVED_AFTER);
        DeadLetterEntry {
            status,
            resolution: Some(resolution),
            resolved_at: Some(resolved_at),
            updated_at: resolved_at,
            revision: 2,
            ..entry
        }
    }

    /// What `statistics()` must say about entries `0..level`.
    pub(crate) fn expected(level: u64) -> Statistics {
        let mut statistics = Statistics::default();
        for residue in 0..10 {
            statistics.add(Self::status(residue), level.saturating_sub(residue).div_ceil(10));
        }
        statistics
    }
}
