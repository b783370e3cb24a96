//! The replay state machine: what each operation does to an entry in each state.
//!
//! Pure functions over [`DeadLetterEntry`]; [`crate::DeadLetters`] applies their result with the
//! backend's compare-and-swap, so every backend follows exactly this table.
//! `docs/contract.md` shows the same table in prose.

use uuid::Uuid;

use crate::entry::{DeadLetterEntry, Failure, ReplayLease};
use crate::error::{Error, Result};
use crate::fingerprint::fingerprint;
use crate::status::{CommandDeadLetterStatus as Status, Resolution};
use crate::time::Timestamp;
use crate::validate::normalize_failure;

/// How a replay ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOutcome {
    /// The command ran: the entry becomes Resolved (replayed).
    Succeeded,
    /// The command failed again: the entry returns to New with one more attempt.
    Failed(Failure),
}

/// The state a replay may start from: what the caller saw when it asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// A New entry, or a Replaying one whose lease has expired: the failure is still open.
    /// A Resolved entry conflicts, so a second replay asked for the same failure never runs
    /// its command again.
    Unresolved,
    /// A Resolved entry at exactly this revision: an explicit replay of something already
    /// resolved, bound to the version of it the caller saw.
    Resolved {
        /// The revision the caller saw.
        revision: u64,
    },
}

/// An operation on one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// Take a replay lease.
    BeginReplay {
        /// The lease to hold.
        lease: ReplayLease,
        /// The state the replay may start from.
        from: ReplayFrom,
    },
    /// Finish a replay with the lease's token.
    FinishReplay {
        /// The token of the lease taken by `BeginReplay`.
        token: Uuid,
        /// How the replay ended.
        outcome: ReplayOutcome,
    },
    /// Judge the entry not worth replaying.
    Dismiss {
        /// The operator's note.
        note: Option<String>,
    },
    /// Mark the entry fixed outside Pulse.
    Resolve {
        /// Why; not [`Resolution::Ignored`], which is what `Dismiss` records.
        resolution: Resolution,
        /// The operator's note.
        note: Option<String>,
    },
    /// Ask for the entry to be replayed by whoever claims requested replays.
    RequestReplay,
    /// Replace the payload before a replay, keeping the first payload for audit.
    EditPayload {
        /// The new payload, already checked.
        payload: String,
        /// The command version the new payload is written for.
        command_version: u32,
    },
}

impl Transition {
    /// Whether this is an operator's decision, recorded with who made it; replays beginning
    /// and finishing are the workers'.
    pub fn is_operator_action(&self) -> bool {
        !matches!(self, Self::BeginReplay { .. } | Self::FinishReplay { .. })
    }
}

/// What a transition does to an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The entry changes to this (revision and `updated_at` already advanced).
    Changed(Box<DeadLetterEntry>),
    /// The operation succeeds and changes nothing.
    Unchanged,
}

/// Whether the entry is held by a replayer whose lease is still live at `now`.
fn is_leased(entry: &DeadLetterEntry, now: Timestamp) -> bool {
    entry.status == Status::Replaying && entry.lease.is_some_and(|lease| lease.is_live_at(now))
}

/// Applies `transition` to `entry` at `now`.
///
/// # Errors
///
/// As in the state table: [`Error::Dismissed`], [`Error::Conflict`], [`Error::LeaseLost`],
/// [`Error::InvalidInput`] (resolving with `Ignored`).
pub fn apply(entry: &DeadLetterEntry, transition: &Transition, now: Timestamp) -> Result<Applied> {
    let id = entry.id;
    let mut next = entry.clone();
    match transition {
        Transition::BeginReplay { lease, from } => {
            guard_replay_from(entry, *from, now)?;
            next.status = Status::Replaying;
            next.lease = Some(*lease);
        }
        Transition::FinishReplay { token, outcome } => {
            let holds = entry.status == Status::Replaying && entry.lease.is_some_and(|l| l.token == *token);
            if !holds {
                return Err(Error::LeaseLost { id });
            }
            next.lease = None;
            next.replay_requested_at = None;
            match outcome {
                ReplayOutcome::Succeeded => {
                    next.status = Status::Resolved;
                    next.resolution = Some(Resolution::Replayed);
                    next.resolved_at = Some(now);
                }
                ReplayOutcome::Failed(failure) => {
                    let failure = normalize_failure(failure.clone());
                    next.status = Status::New;
                    next.resolution = None;
                    next.resolved_at = None;
                    next.attempt_count = entry.attempt_count.saturating_add(1);
                    next.fingerprint =
                        fingerprint(&entry.command_type, &failure.exception_type, &failure.exception_message);
                    next.exception_type = failure.exception_type;
                    next.exception_message = failure.exception_message;
                    next.exception_details = failure.exception_details;
                    next.occurred_at = now;
                }
            }
        }
        Transition::Dismiss { note } => {
            if entry.status == Status::Dismissed {
                return Ok(Applied::Unchanged);
            }
            guard_open(entry, now, "dismissed")?;
            close(&mut next, Status::Dismissed, Resolution::Ignored, note.clone(), now);
        }
        Transition::Resolve { resolution, note } => {
            if *resolution == Resolution::Ignored {
                return Err(Error::invalid_input("resolution", "use dismiss to ignore an entry"));
            }
            guard_open(entry, now, "resolved")?;
            close(&mut next, Status::Resolved, *resolution, note.clone(), now);
        }
        Transition::RequestReplay => {
            guard_replay_from(entry, ReplayFrom::Unresolved, now)?;
            if entry.replay_requested_at.is_some() {
                return Ok(Applied::Unchanged);
            }
            next.replay_requested_at = Some(now);
        }
        Transition::EditPayload { payload, command_version } => {
            guard_replayable(entry, now)?;
            if next.original_payload.is_none() {
                next.original_payload = Some(entry.payload.clone());
            }
            next.payload.clone_from(payload);
            next.command_version = *command_version;
        }
    }
    next.updated_at = now;
    next.revision = entry.revision + 1;
    Ok(Applied::Changed(Box::new(next)))
}

/// A replay starts only from the state its caller expects (see [`ReplayFrom`]).
fn guard_replay_from(entry: &DeadLetterEntry, from: ReplayFrom, now: Timestamp) -> Result<()> {
    guard_replayable(entry, now)?;
    match (from, entry.status) {
        (ReplayFrom::Unresolved, Status::Resolved) => Err(Error::conflict(
            entry.id,
            "it is already Resolved; replaying it again is an explicit replay of a resolved entry",
        )),
        (ReplayFrom::Unresolved, _) => Ok(()),
        (ReplayFrom::Resolved { revision }, Status::Resolved) if revision == entry.revision => Ok(()),
        (ReplayFrom::Resolved { revision }, Status::Resolved) => Err(Error::conflict(
            entry.id,
            format!("it changed since revision {revision}: it is at revision {}", entry.revision),
        )),
        (ReplayFrom::Resolved { .. }, status) => {
            Err(Error::conflict(entry.id, format!("it is {status}, not Resolved")))
        }
    }
}

/// Nothing replays a Dismissed entry, or one a live lease holds; edits are allowed where this
/// holds.
fn guard_replayable(entry: &DeadLetterEntry, now: Timestamp) -> Result<()> {
    if entry.status == Status::Dismissed {
        return Err(Error::Dismissed { id: entry.id });
    }
    if is_leased(entry, now) {
        return Err(Error::conflict(entry.id, "a replay holds a live lease"));
    }
    Ok(())
}

/// Dismiss and resolve apply to New, or Replaying whose lease has expired; terminal entries
/// never roll back.
fn guard_open(entry: &DeadLetterEntry, now: Timestamp, verb: &str) -> Result<()> {
    if entry.status.is_terminal() {
        return Err(Error::conflict(entry.id, format!("it is {} and cannot be {verb}", entry.status)));
    }
    if is_leased(entry, now) {
        return Err(Error::conflict(entry.id, "a replay holds a live lease"));
    }
    Ok(())
}

fn close(
    entry: &mut DeadLetterEntry,
    status: Status,
    resolution: Resolution,
    note: Option<String>,
    now: Timestamp,
) {
    entry.status = status;
    entry.resolution = Some(resolution);
    entry.note = note;
    entry.resolved_at = Some(now);
    entry.lease = None;
    entry.replay_requested_at = None;
    entry.replay_request = None;
}
