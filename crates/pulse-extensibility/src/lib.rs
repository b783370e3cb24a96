//! The Pulse contract: what a dead letter is, the states it moves through, the errors callers
//! match on, the traits backends implement, and the logic every backend shares.
//!
//! This crate does no I/O and depends on no database crate.
//!
//! - Services capture through [`DeadLetterCapture`], implemented by [`DeadLetters`].
//! - Operators and tools use [`DeadLetters`]: reads, statistics, histograms, error groups, replay,
//!   dismiss, resolve, purge.
//! - Backends implement [`DeadLetterBackend`]: a few atomic storage primitives, checked by the
//!   `pulse-conformance` suite.

mod backend;
mod dead_letters;
mod dispatch;
mod entry;
mod error;
pub mod fingerprint;
pub mod hash;
pub mod machine;
pub mod migration;
pub mod observe;
mod query;
mod request;
mod schema;
mod serializer;
mod status;
mod time;
pub mod validate;

pub use backend::{Capabilities, DeadLetterBackend, DeadLetterCapture, EntryQuery};
pub use dead_letters::{DeadLetters, DeadLettersOptions, ReplayReport, ReplayTicket};
pub use dispatch::CommandDispatcher;
pub use entry::{
    DeadLetterEntry, DeadLetterId, Failure, Fingerprint, NewDeadLetter, ReplayLease, StoreReceipt, TenantId,
};
pub use error::{BoxError, Error, Result};
pub use machine::{ReplayFrom, ReplayOutcome};
pub use query::{
    Cursor, EntryFilter, ErrorGroup, ListQuery, MAX_BUCKETS, Page, Scope, SortKey, SortOrder, Statistics,
    TimeBuckets,
};
pub use request::{
    Actor, MAX_ACTOR_LEN, MAX_PER_SECOND, ReplayProgress, ReplayRequest, ReplayRequestId, ReplayRequestSpec,
    ReplaySelection,
};
pub use schema::{
    DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_SCHEMA, DEFAULT_TABLE, MAX_COMMAND_TYPE_LEN,
    MAX_EXCEPTION_DETAILS_LEN, MAX_EXCEPTION_MESSAGE_LEN, MAX_EXCEPTION_TYPE_LEN, MAX_IDENTIFIER_LEN,
    MAX_KEY_LEN, MAX_NOTE_LEN, SqlIdentifier, columns, request_columns,
};
pub use serializer::{JsonSerializer, PayloadSerializer};
pub use status::{CommandDeadLetterStatus, Resolution};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use uuid::Uuid;
