//! Durable replay requests: who asked to replay which entries, when, at what pace, and how far
//! the replays have come; and the [`Actor`] every operator action is recorded under.
//!
//! A request is a row of its own, written in the same transaction that marks its entries. Its
//! progress is read from the entries, so any process sees it at any time.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::entry::{DeadLetterId, TenantId, uuid_v7_id};
use crate::error::{Error, Result};
use crate::query::EntryFilter;
use crate::time::Timestamp;

/// The most characters an actor's name may have.
pub const MAX_ACTOR_LEN: usize = 200;

/// The fastest pace a request may ask for: one replay start per microsecond.
pub const MAX_PER_SECOND: u32 = 1_000_000;

/// Who did something: an operator's name, a token's owner, an OS user. 1 to 200 characters, no
/// control characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Actor(String);

impl Actor {
    /// Validates `name`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for an empty or blank name, one over 200 characters, or one with a
    /// control character.
    pub fn new(name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        let reason = if name.trim().is_empty() {
            "must not be empty"
        } else if name.chars().count() > MAX_ACTOR_LEN {
            "must have at most 200 characters"
        } else if name.chars().any(char::is_control) {
            "must not contain control characters"
        } else {
            return Ok(Self(name));
        };
        Err(Error::invalid_input("actor", reason))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Actor {
    type Error = Error;

    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

impl From<Actor> for String {
    fn from(value: Actor) -> Self {
        value.0
    }
}

uuid_v7_id!(
    /// The id of a replay request: a UUID v7, so ids sort by creation time.
    ReplayRequestId,
    "request"
);

/// Which entries a replay request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplaySelection {
    /// One entry. Asking for an entry that cannot be replayed is an error, as for
    /// [`crate::DeadLetters::request_replay`].
    Entry(DeadLetterId),
    /// These entries (at most 1,000), for example a bulk plan's; those that are not New or
    /// already have a pending request are left out.
    Entries(Vec<DeadLetterId>),
    /// Every New entry that matches, for example one error group's.
    Matching(EntryFilter),
}

/// What an operator asks for: which entries, why, and how fast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequestSpec {
    /// Which entries.
    pub selection: ReplaySelection,
    /// Why, for whoever reads the request later; at most 4,000 characters.
    pub note: Option<String>,
    /// At most this many replays of the request start per second, across every worker of
    /// every process together; `None`: as fast as the workers go.
    pub per_second: Option<NonZeroU32>,
}

impl ReplayRequestSpec {
    /// A request for `selection`, without a note, unpaced.
    pub fn new(selection: ReplaySelection) -> Self {
        Self { selection, note: None, per_second: None }
    }

    /// Sets the note.
    #[must_use]
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Sets the pace, in replay starts per second.
    #[must_use]
    pub fn per_second(mut self, per_second: NonZeroU32) -> Self {
        self.per_second = Some(per_second);
        self
    }
}

/// A recorded replay request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// The id, time-ordered.
    pub id: ReplayRequestId,
    /// The tenant whose handle made it; `None` when made across all tenants.
    pub tenant: Option<TenantId>,
    /// What was asked for, for people: `entry <id>`, `3 entries`, or the filter, such as
    /// `command_type = orders.create`.
    pub selection: String,
    /// Who asked.
    pub requested_by: Option<Actor>,
    /// When.
    pub requested_at: Timestamp,
    /// Why.
    pub note: Option<String>,
    /// The pace, in replay starts per second.
    pub per_second: Option<NonZeroU32>,
    /// How many entries the request marked.
    pub requested: u64,
    /// When it was cancelled.
    pub cancelled_at: Option<Timestamp>,
    /// Who cancelled it.
    pub cancelled_by: Option<Actor>,
    /// How many entries, not yet claimed, the cancellation took the request from.
    pub cancelled: u64,
}

impl ReplayRequest {
    /// The instant from which the `n`th entry (0-based) of this request may start: the request's
    /// instant, plus `n` slots of its pace. Slots round up, so that no second holds more starts
    /// than the pace.
    pub fn slot(&self, n: u64) -> Timestamp {
        match self.per_second {
            None => self.requested_at,
            Some(per_second) => {
                let offset = (u128::from(n) * 1_000_000).div_ceil(u128::from(per_second.get()));
                self.requested_at
                    .saturating_add(Duration::from_micros(u64::try_from(offset).unwrap_or(u64::MAX)))
            }
        }
    }
}

/// How far a request has come, read from its entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayProgress {
    /// The request.
    pub request: ReplayRequest,
    /// Entries waiting for a worker.
    pub remaining: u64,
    /// Entries a worker is replaying now.
    pub claimed: u64,
    /// Entries whose replay succeeded.
    pub replayed: u64,
    /// Entries whose replay failed: back in New.
    pub failed: u64,
    /// Entries the cancellation took the request from.
    pub cancelled: u64,
    /// Entries that left the request otherwise: dismissed or resolved by hand, purged, or taken
    /// over by a later request.
    pub other: u64,
}

impl ReplayProgress {
    /// Whether nothing of the request is left to run.
    pub fn is_done(&self) -> bool {
        self.remaining == 0 && self.claimed == 0
    }
}
