//! The JSON the API speaks: its own types, converted from the library's with `From`, so that
//! the library never depends on HTTP or OpenAPI crates and the wire shape is chosen here.
//!
//! Instants are RFC 3339 in UTC with microseconds; statuses, resolutions and orders are
//! `snake_case`; absent optional values are `null`, never left out.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use pulse::{
    CommandDeadLetterStatus, DeadLetterEntry, ErrorGroup, Failure, HealthReport, HealthStatus, Page,
    ReplayReport, Resolution, Statistics, Timestamp, Uuid,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;

/// An instant: RFC 3339, e.g. `2026-01-01T00:00:00.000000Z`. Any offset is accepted and
/// converted to UTC; precision past the microsecond is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, format = DateTime, example = "2026-01-01T00:00:00.000000Z")]
pub(crate) struct Instant(pub(crate) Timestamp);

impl FromStr for Instant {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        DateTime::parse_from_rfc3339(s)
            .map(|datetime| Self(Timestamp::from_datetime(datetime.with_timezone(&Utc))))
            .map_err(|error| format!("{s:?} is not an RFC 3339 instant: {error}"))
    }
}

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

impl From<Timestamp> for Instant {
    fn from(timestamp: Timestamp) -> Self {
        Self(timestamp)
    }
}

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// Failed and waiting for someone to look at it.
    New,
    /// A replay holds a lease on it.
    Replaying,
    /// Replayed successfully, or fixed outside Pulse.
    Resolved,
    /// Judged not worth replaying.
    Dismissed,
}

impl Status {
    const ALL: [Self; 4] = [Self::New, Self::Replaying, Self::Resolved, Self::Dismissed];

    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Replaying => "replaying",
            Self::Resolved => "resolved",
            Self::Dismissed => "dismissed",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a status; expected new, replaying, resolved or dismissed"))
    }
}

impl From<CommandDeadLetterStatus> for Status {
    fn from(status: CommandDeadLetterStatus) -> Self {
        match status {
            CommandDeadLetterStatus::New => Self::New,
            CommandDeadLetterStatus::Replaying => Self::Replaying,
            CommandDeadLetterStatus::Resolved => Self::Resolved,
            CommandDeadLetterStatus::Dismissed => Self::Dismissed,
        }
    }
}

impl From<Status> for CommandDeadLetterStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::New => Self::New,
            Status::Replaying => Self::Replaying,
            Status::Resolved => Self::Resolved,
            Status::Dismissed => Self::Dismissed,
        }
    }
}

/// Why an entry left New for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ResolutionKind {
    /// A replay succeeded.
    Replayed,
    /// Someone fixed the effect outside Pulse.
    HandledExternally,
    /// Dismissed: not worth replaying.
    Ignored,
}

impl From<Resolution> for ResolutionKind {
    fn from(resolution: Resolution) -> Self {
        match resolution {
            Resolution::Replayed => Self::Replayed,
            Resolution::HandledExternally => Self::HandledExternally,
            Resolution::Ignored => Self::Ignored,
        }
    }
}

/// A dead letter.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Entry {
    /// The id, a UUID v7.
    id: Uuid,
    /// The tenant.
    tenant: String,
    /// The idempotency key.
    message_id: Option<String>,
    /// The command's stable name.
    command_type: String,
    /// The version of the command the payload was written with.
    command_version: u32,
    /// The serialized command.
    payload: String,
    /// The payload as first captured, when it has been edited since.
    original_payload: Option<String>,
    /// The type of the latest error.
    exception_type: String,
    /// The message of the latest error.
    exception_message: String,
    /// The source chain or backtrace of the latest error.
    exception_details: Option<String>,
    /// The error-group key.
    fingerprint: String,
    /// Which handler or queue failed.
    source: Option<String>,
    /// Correlation id, causation id, trace id, ...
    metadata: BTreeMap<String, String>,
    /// How many times the command failed.
    attempt_count: u32,
    /// When the command failed first.
    first_failed_at: Instant,
    /// When the command failed last.
    occurred_at: Instant,
    /// Where the entry stands.
    status: Status,
    /// Why it left New, for resolved and dismissed entries.
    resolution: Option<ResolutionKind>,
    /// The operator's note.
    note: Option<String>,
    /// Who made the latest operator change (dismiss, resolve, edit, replay request), when the
    /// change named its actor.
    changed_by: Option<String>,
    /// When it was resolved or dismissed.
    resolved_at: Option<Instant>,
    /// Until when the running replay holds the entry, while replaying.
    lease_expires_at: Option<Instant>,
    /// From when a requested replay may start, until a replay finishes or the request is
    /// cancelled; a paced request spreads its entries' instants by its pace.
    replay_requested_at: Option<Instant>,
    /// The latest replay request that marked the entry.
    replay_request: Option<Uuid>,
    /// When the entry was stored.
    created_at: Instant,
    /// When the entry last changed.
    updated_at: Instant,
    /// Incremented by every change.
    revision: u64,
}

impl From<DeadLetterEntry> for Entry {
    fn from(entry: DeadLetterEntry) -> Self {
        Self {
            id: *entry.id.as_uuid(),
            tenant: entry.tenant.into(),
            message_id: entry.message_id,
            command_type: entry.command_type,
            command_version: entry.command_version,
            payload: entry.payload,
            original_payload: entry.original_payload,
            exception_type: entry.exception_type,
            exception_message: entry.exception_message,
            exception_details: entry.exception_details,
            fingerprint: entry.fingerprint.as_str().to_owned(),
            source: entry.source,
            metadata: entry.metadata,
            attempt_count: entry.attempt_count,
            first_failed_at: entry.first_failed_at.into(),
            occurred_at: entry.occurred_at.into(),
            status: entry.status.into(),
            resolution: entry.resolution.map(Into::into),
            note: entry.note,
            changed_by: entry.changed_by.map(Into::into),
            resolved_at: entry.resolved_at.map(Into::into),
            lease_expires_at: entry.lease.map(|lease| lease.expires_at.into()),
            replay_requested_at: entry.replay_requested_at.map(Into::into),
            replay_request: entry.replay_request.map(|id| *id.as_uuid()),
            created_at: entry.created_at.into(),
            updated_at: entry.updated_at.into(),
            revision: entry.revision,
        }
    }
}

/// One page of a listing.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryPage {
    /// The entries, in the requested order.
    entries: Vec<Entry>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    #[schema(example = "d.1767225600000000.0198f0b4-1c2d-7e3f-8a4b-5c6d7e8f9a0b")]
    next_cursor: Option<String>,
}

impl From<Page> for EntryPage {
    fn from(page: Page) -> Self {
        Self {
            entries: page.entries.into_iter().map(Into::into).collect(),
            next_cursor: page.next_cursor.map(|cursor| cursor.to_string()),
        }
    }
}

/// How many entries stand in each status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Stats {
    /// Entries in New.
    new: u64,
    /// Entries in Replaying.
    replaying: u64,
    /// Entries in Resolved.
    resolved: u64,
    /// Entries in Dismissed.
    dismissed: u64,
    /// All entries.
    total: u64,
}

impl From<Statistics> for Stats {
    fn from(stats: Statistics) -> Self {
        let Statistics { new, replaying, resolved, dismissed, total } = stats;
        Self { new, replaying, resolved, dismissed, total }
    }
}

/// Unresolved entries that failed the same way.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Group {
    /// The shared fingerprint; filter entries with it.
    fingerprint: String,
    /// The command type of the group.
    command_type: String,
    /// The exception type of the group.
    exception_type: String,
    /// The message of the group's most recent failure.
    sample_message: String,
    /// How many unresolved entries the group has.
    count: u64,
    /// The earliest first failure in the group.
    first_seen: Instant,
    /// The latest failure in the group.
    last_seen: Instant,
}

impl From<ErrorGroup> for Group {
    fn from(group: ErrorGroup) -> Self {
        Self {
            fingerprint: group.fingerprint.as_str().to_owned(),
            command_type: group.command_type,
            exception_type: group.exception_type,
            sample_message: group.sample_message,
            count: group.count,
            first_seen: group.first_seen.into(),
            last_seen: group.last_seen.into(),
        }
    }
}

/// How a replay run in this process went.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReplayResult {
    /// `succeeded`: the entry is resolved; `failed`: it is back in New with the failure recorded.
    outcome: ReplayOutcome,
    /// The entry as stored now.
    entry: Entry,
    /// What the handler returned, when it failed.
    failure: Option<FailureBody>,
}

/// The verdict of a replay.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReplayOutcome {
    /// The command ran.
    Succeeded,
    /// The command failed again.
    Failed,
}

/// How a command failed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FailureBody {
    /// The error's type name.
    exception_type: String,
    /// The error's message.
    exception_message: String,
    /// The error's source chain or backtrace.
    exception_details: Option<String>,
}

impl From<Failure> for FailureBody {
    fn from(failure: Failure) -> Self {
        Self {
            exception_type: failure.exception_type,
            exception_message: failure.exception_message,
            exception_details: failure.exception_details,
        }
    }
}

impl From<ReplayReport> for ReplayResult {
    fn from(report: ReplayReport) -> Self {
        match report {
            ReplayReport::Succeeded(entry) => {
                Self { outcome: ReplayOutcome::Succeeded, entry: entry.into(), failure: None }
            }
            ReplayReport::Failed { entry, failure } => {
                Self { outcome: ReplayOutcome::Failed, entry: entry.into(), failure: Some(failure.into()) }
            }
        }
    }
}

/// How many entries a bulk request for replay marked.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Requested {
    /// New entries now requested for replay.
    pub(crate) requested: u64,
}

/// A bulk dismiss or resolve: its plan, and with `confirm` how it went.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BulkChange {
    /// `true` when nothing changed: the plan only.
    pub(crate) dry_run: bool,
    /// New entries the filter selected when the plan was made.
    pub(crate) entries: u64,
    /// Of those, how many of each command type.
    pub(crate) by_command_type: BTreeMap<String, u64>,
    /// Of those, how many of each tenant.
    pub(crate) by_tenant: BTreeMap<String, u64>,
    /// Entries changed; `null` in a dry run.
    pub(crate) done: Option<u64>,
    /// Entries a store error stopped; `null` in a dry run.
    pub(crate) failed: Option<u64>,
    /// Entries no longer New when their turn came, left alone; `null` in a dry run.
    pub(crate) skipped: Option<u64>,
}

impl BulkChange {
    /// A dry run's answer.
    pub(crate) fn planned(plan: &pulse::BulkPlan) -> Self {
        Self {
            dry_run: true,
            entries: plan.len() as u64,
            by_command_type: plan.by_command_type.clone(),
            by_tenant: plan.by_tenant.clone(),
            done: None,
            failed: None,
            skipped: None,
        }
    }

    /// What a confirmed change did.
    pub(crate) fn done(
        entries: u64,
        by_command_type: BTreeMap<String, u64>,
        by_tenant: BTreeMap<String, u64>,
        progress: &pulse::BulkProgress,
    ) -> Self {
        Self {
            dry_run: false,
            entries,
            by_command_type,
            by_tenant,
            done: Some(progress.done),
            failed: Some(progress.failed),
            skipped: Some(progress.skipped),
        }
    }
}

/// A durable replay request: who asked to replay which entries, when and at what pace.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReplayRequest {
    /// The id, a UUID v7.
    id: Uuid,
    /// The tenant it was made in; `null` when an admin made it across every tenant.
    tenant: Option<String>,
    /// What was asked for, for people: `entry <id>`, `3 entries`, or the filter, such as
    /// `command_type = orders.create`.
    #[schema(example = "command_type = orders.create")]
    selection: String,
    /// Who asked.
    requested_by: Option<String>,
    /// When.
    requested_at: Instant,
    /// Why.
    note: Option<String>,
    /// At most this many of its replays start per second; `null`: as fast as the workers go.
    per_second: Option<u32>,
    /// How many entries it marked.
    requested: u64,
    /// When it was cancelled.
    cancelled_at: Option<Instant>,
    /// Who cancelled it.
    cancelled_by: Option<String>,
    /// How many entries, not yet claimed, the cancellation took from it.
    cancelled: u64,
}

impl From<pulse::ReplayRequest> for ReplayRequest {
    fn from(request: pulse::ReplayRequest) -> Self {
        Self {
            id: *request.id.as_uuid(),
            tenant: request.tenant.map(Into::into),
            selection: request.selection,
            requested_by: request.requested_by.map(Into::into),
            requested_at: request.requested_at.into(),
            note: request.note,
            per_second: request.per_second.map(NonZeroU32::get),
            requested: request.requested,
            cancelled_at: request.cancelled_at.map(Into::into),
            cancelled_by: request.cancelled_by.map(Into::into),
            cancelled: request.cancelled,
        }
    }
}

/// Replay requests, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RequestList {
    /// The requests; pass the last one's id as `before` for the next page.
    requests: Vec<ReplayRequest>,
}

impl From<Vec<pulse::ReplayRequest>> for RequestList {
    fn from(requests: Vec<pulse::ReplayRequest>) -> Self {
        Self { requests: requests.into_iter().map(Into::into).collect() }
    }
}

/// How far a replay request has come, counted from its entries now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReplayProgress {
    /// The request.
    request: ReplayRequest,
    /// Entries waiting for a worker.
    remaining: u64,
    /// Entries a worker is replaying now.
    claimed: u64,
    /// Entries whose replay succeeded.
    replayed: u64,
    /// Entries whose replay failed: back in New.
    failed: u64,
    /// Entries the cancellation took from the request.
    cancelled: u64,
    /// Entries that left the request otherwise: dismissed or resolved by hand, purged, or taken
    /// over by a later request.
    other: u64,
    /// Whether nothing of the request is left to run: `remaining` and `claimed` are 0.
    done: bool,
}

impl From<pulse::ReplayProgress> for ReplayProgress {
    fn from(progress: pulse::ReplayProgress) -> Self {
        let done = progress.is_done();
        let pulse::ReplayProgress { request, remaining, claimed, replayed, failed, cancelled, other } =
            progress;
        Self { request: request.into(), remaining, claimed, replayed, failed, cancelled, other, done }
    }
}

/// How many entries a purge deleted.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Purged {
    /// Entries deleted.
    pub(crate) purged: u64,
}

/// The verdict of a health check.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Health {
    /// Reachable and within every threshold.
    Healthy,
    /// Reachable, but a threshold is exceeded.
    Degraded,
    /// The store could not be read.
    Unavailable,
}

/// What a health check found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HealthBody {
    /// The verdict; `healthy` is 200, anything else 503.
    pub(crate) status: Health,
    /// New plus replaying entries, when the store was reachable.
    unresolved: Option<u64>,
    /// How long ago the oldest unresolved entry last failed, in seconds.
    oldest_unresolved_age_seconds: Option<f64>,
    /// How long the oldest requested replay that could run has waited for a worker, in seconds:
    /// replays requested, nobody replaying.
    oldest_replay_wait_seconds: Option<f64>,
    /// The thresholds exceeded, in words.
    breaches: Vec<String>,
    /// Why the store was unavailable.
    error: Option<String>,
}

impl From<HealthReport> for HealthBody {
    fn from(report: HealthReport) -> Self {
        let status = match report.status {
            HealthStatus::Healthy => Health::Healthy,
            HealthStatus::Degraded => Health::Degraded,
            HealthStatus::Unavailable => Health::Unavailable,
        };
        Self {
            status,
            unresolved: report.unresolved,
            oldest_unresolved_age_seconds: report.oldest_unresolved_age.map(|age| age.as_secs_f64()),
            oldest_replay_wait_seconds: report.oldest_replay_wait.map(|wait| wait.as_secs_f64()),
            breaches: report.breaches,
            error: report.error,
        }
    }
}
