//! Pulse keeps every command a handler gave up on: payload, error, attempts, where it came from.
//! Operators then see what failed and how often, find the error patterns, replay corrected
//! commands safely, dismiss what is not worth replaying, and purge what is old.
//!
//! This crate is the front door: it re-exports the contract ([`DeadLetters`] and its types) and
//! the stores. Pick one store per deployment:
//!
//! - `SqliteStore` (feature `sqlite`, on by default): one file, no server; the embedded default.
//! - `PostgresStore` (feature `postgres`): many service instances on one database.
//! - [`MemoryStore`]: in memory, for tests and single-process tools.
//!
//! Services run their commands through [`Pulse`]: register a handler per [`Command`] in a
//! [`CommandRegistry`], dispatch, and a command that fails for good (after its [`RetryPolicy`])
//! is stored with its whole failure while the caller gets the handler's own error. Replays run
//! through the same handlers, after upcasting payloads written by an older version of the command.
//! `docs/guide.md` walks through it.
//!
//! ```
//! use std::sync::Arc;
//!
//! use pulse::{DeadLetters, Failure, MemoryStore, NewDeadLetter};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> pulse::Result<()> {
//! let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
//! let receipt = dead_letters
//!     .store(NewDeadLetter::new(
//!         "orders.create",
//!         r#"{"order_id":42}"#,
//!         Failure::new("TimeoutError", "order 42 timed out after 30s"),
//!     ))
//!     .await?;
//! assert_eq!(dead_letters.unresolved_count().await?, 1);
//! # let _ = receipt;
//! # Ok(())
//! # }
//! ```

mod runtime;

// The contract, by name: what services, operators' tools and backends use. The state machine,
// the shared validation and the metric helpers stay in `pulse-extensibility`, for its backends,
// tests and the benchmark.
pub use pulse_extensibility::{
    Actor, BoxError, Capabilities, Clock, CommandDeadLetterStatus, CommandDispatcher, Cursor,
    DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_SCHEMA, DEFAULT_TABLE, DeadLetterBackend, DeadLetterCapture,
    DeadLetterEntry, DeadLetterId, DeadLetters, DeadLettersOptions, EntryFilter, EntryQuery, Error,
    ErrorGroup, Failure, Fingerprint, JsonSerializer, ListQuery, MAX_ACTOR_LEN, MAX_BUCKETS,
    MAX_COMMAND_TYPE_LEN, MAX_EXCEPTION_DETAILS_LEN, MAX_EXCEPTION_MESSAGE_LEN, MAX_EXCEPTION_TYPE_LEN,
    MAX_IDENTIFIER_LEN, MAX_KEY_LEN, MAX_NOTE_LEN, MAX_PER_SECOND, ManualClock, NewDeadLetter, Page,
    PayloadSerializer, ReplayFrom, ReplayLease, ReplayOutcome, ReplayProgress, ReplayReport, ReplayRequest,
    ReplayRequestId, ReplayRequestSpec, ReplaySelection, ReplayTicket, Resolution, Result, Scope, SortKey,
    SortOrder, SqlIdentifier, Statistics, StoreReceipt, SystemClock, TenantId, TimeBuckets, Timestamp, Uuid,
};

/// The names of the metrics Pulse records (through the `metrics` facade) and the target of its
/// audit events, for dashboards and alerts.
pub mod metrics {
    pub use pulse_extensibility::observe::{
        AUDIT_TARGET, CAPTURED, DISMISSED, DUPLICATES, PURGED, REPLAY_DURATION, REPLAY_FAILED, REPLAYED,
        UNRESOLVED,
    };
}
pub use pulse_store_memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use pulse_store_postgres::{PostgresConfig, PostgresSslMode, PostgresStore};
#[cfg(feature = "sqlite")]
pub use pulse_store_sqlite::{SqliteConfig, SqliteStore, Synchronous};
pub use runtime::bulk::{
    BulkJob, BulkOptions, BulkPlan, BulkProgress, Selection, dismiss_all, plan, resolve_all,
};
pub use runtime::command::{Command, Envelope};
pub use runtime::handler_error::{HandlerError, ReplayError};
pub use runtime::health::{HealthCheck, HealthReport, HealthStatus};
pub use runtime::pulse::Pulse;
pub use runtime::registry::{CommandRegistry, Registration};
pub use runtime::replay::{ReplayContext, current_replay};
pub use runtime::retention::{AutoDismissRule, RetentionPolicy, SweepReport, Sweeper, SweeperHandle};
pub use runtime::retry::RetryPolicy;
pub use runtime::worker::{ReplayWorker, WorkerHandle, WorkerOptions, WorkerTally};

/// README.md's example, compiled and run as a doctest so that it never drifts from the code;
/// the guides' examples likewise, each block a whole set of items importing from `pulse`.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[doc = include_str!("../../../docs/guide.md")]
#[cfg(doctest)]
pub struct GuideDoctests;

#[doc = include_str!("../../../docs/operations.md")]
#[cfg(doctest)]
pub struct OperationsDoctests;

#[doc = include_str!("../../../docs/sqlite.md")]
#[cfg(doctest)]
pub struct SqliteDoctests;

/// With the `postgres` feature only: its examples use the PostgreSQL store.
#[doc = include_str!("../../../docs/postgres.md")]
#[cfg(all(doctest, feature = "postgres"))]
pub struct PostgresDoctests;
