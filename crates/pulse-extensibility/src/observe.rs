//! Metrics and tracing events, emitted once here for every backend.
//!
//! Metrics go through the `metrics` facade: without an installed recorder they cost nothing.
//! Labels are the command type and the tenant; the payload never appears in a metric or an event.

use std::time::Duration;

use metrics::Label;

use crate::entry::{DeadLetterEntry, StoreReceipt, TenantId};
use crate::status::CommandDeadLetterStatus;

/// Counter: commands stored as dead letters.
pub const CAPTURED: &str = "pulse_captured_total";
/// Counter: stores that found the message id already stored.
pub const DUPLICATES: &str = "pulse_duplicates_total";
/// Counter: replays that succeeded.
pub const REPLAYED: &str = "pulse_replayed_total";
/// Counter: replays that failed again.
pub const REPLAY_FAILED: &str = "pulse_replay_failed_total";
/// Counter: entries dismissed.
pub const DISMISSED: &str = "pulse_dismissed_total";
/// Counter: entries purged.
pub const PURGED: &str = "pulse_purged_total";
/// Gauge: unresolved (New and Replaying) entries, by tenant (`*` for all tenants).
pub const UNRESOLVED: &str = "pulse_unresolved";
/// Histogram: how long a replay's handler ran, in seconds.
pub const REPLAY_DURATION: &str = "pulse_replay_duration_seconds";

fn labels(entry: &DeadLetterEntry) -> [(&'static str, String); 2] {
    [("command_type", entry.command_type.clone()), ("tenant", entry.tenant.to_string())]
}

/// What the event and the metric of a stored entry name, taken before the entry goes to the
/// backend (which keeps it).
pub(crate) struct Stored {
    command_type: String,
    tenant: TenantId,
}

impl Stored {
    pub(crate) fn of(entry: &DeadLetterEntry) -> Self {
        Self { command_type: entry.command_type.clone(), tenant: entry.tenant.clone() }
    }
}

pub(crate) fn stored(stored: Stored, receipt: &StoreReceipt) {
    tracing::debug!(
        id = %receipt.id,
        duplicate = receipt.duplicate,
        command_type = %stored.command_type,
        tenant = %stored.tenant,
        "dead letter stored"
    );
    let name = if receipt.duplicate { DUPLICATES } else { CAPTURED };
    let labels = vec![
        Label::new("command_type", stored.command_type),
        Label::new("tenant", String::from(stored.tenant)),
    ];
    metrics::counter!(name, labels).increment(1);
}

pub(crate) fn replay_finished(entry: &DeadLetterEntry) {
    let succeeded = entry.status == CommandDeadLetterStatus::Resolved;
    tracing::info!(
        id = %entry.id,
        command_type = %entry.command_type,
        tenant = %entry.tenant,
        succeeded,
        attempts = entry.attempt_count,
        "replay finished"
    );
    let name = if succeeded { REPLAYED } else { REPLAY_FAILED };
    metrics::counter!(name, &labels(entry)).increment(1);
}

/// Records how long a replay's handler ran.
pub fn replay_duration(entry: &DeadLetterEntry, duration: Duration) {
    metrics::histogram!(REPLAY_DURATION, "command_type" => entry.command_type.clone())
        .record(duration.as_secs_f64());
}

pub(crate) fn dismissed(entry: &DeadLetterEntry) {
    tracing::info!(id = %entry.id, command_type = %entry.command_type, tenant = %entry.tenant, "dead letter dismissed");
    metrics::counter!(DISMISSED, &labels(entry)).increment(1);
}

pub(crate) fn purged(count: u64) {
    tracing::info!(purged = count, "dead letters purged");
    metrics::counter!(PURGED).increment(count);
}

/// Sets the unresolved gauge of `tenant` (`*` for all tenants).
pub fn unresolved(tenant: &str, count: u64) {
    #[allow(clippy::cast_precision_loss, reason = "a gauge is an f64; counts past 2^53 lose precision")]
    metrics::gauge!(UNRESOLVED, "tenant" => tenant.to_owned()).set(count as f64);
}

/// The `tracing` target of audit events: one per operator action, with who did it.
pub const AUDIT_TARGET: &str = "pulse::audit";

/// An operator action: `action` by `actor` (`-` when unknown) on `entries` entries, as part of
/// `request` when it belongs to one.
pub fn audit(
    actor: Option<&crate::Actor>,
    action: &str,
    entries: u64,
    request: Option<crate::ReplayRequestId>,
) {
    let actor = actor.map_or("-", crate::Actor::as_str);
    let request = request.map(tracing::field::display);
    tracing::info!(target: AUDIT_TARGET, actor, action, entries, request, "operator action");
}
