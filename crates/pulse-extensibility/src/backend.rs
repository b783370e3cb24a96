//! The traits a backend implements, and the narrow trait services capture through.
//!
//! A backend stores complete entries and offers a few atomic primitives. Everything that is the
//! same for every backend (validation, fingerprints, the state machine) happens above it, in
//! [`crate::DeadLetters`], and reaches the backend as finished entries.

use std::fmt;

use async_trait::async_trait;

use crate::entry::{DeadLetterEntry, DeadLetterId, NewDeadLetter, ReplayLease, StoreReceipt};
use crate::error::Result;
use crate::query::{EntryFilter, ErrorGroup, Scope, SortKey, SortOrder, Statistics, TimeBuckets};
use crate::request::{Actor, ReplayRequest, ReplayRequestId};
use crate::time::Timestamp;

/// What services need: store a failed command, or many.
#[async_trait]
pub trait DeadLetterCapture: Send + Sync {
    /// Stores one failed command.
    ///
    /// # Errors
    ///
    /// [`crate::Error::InvalidInput`] for bad input (nothing is written); backend errors.
    async fn store(&self, entry: NewDeadLetter) -> Result<StoreReceipt>;

    /// Stores several failed commands in one atomic write: all or none.
    ///
    /// # Errors
    ///
    /// As [`Self::store`]; one invalid entry rejects the whole batch.
    async fn store_many(&self, entries: Vec<NewDeadLetter>) -> Result<Vec<StoreReceipt>>;
}

/// How a backend differs from others, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Capabilities {
    /// Entries survive closing and reopening the store (and a process crash).
    pub durable: bool,
}

impl Capabilities {
    /// Capabilities with `durable` set as given.
    pub const fn new(durable: bool) -> Self {
        Self { durable }
    }
}

/// A page request as a backend sees it: already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryQuery {
    /// Whose entries.
    pub scope: Scope,
    /// Which entries.
    pub filter: EntryFilter,
    /// By `(occurred_at, id)`, ascending for [`SortOrder::OldestFirst`].
    pub order: SortOrder,
    /// Only entries strictly after this key in `order`.
    pub after: Option<SortKey>,
    /// Skip this many matching entries first.
    pub offset: u64,
    /// Return at most this many.
    pub limit: u32,
}

/// The storage primitives of one backend.
///
/// Every method is atomic. None reads the clock: instants come in as arguments.
/// [`pulse-conformance`](https://docs.rs/pulse-conformance) checks each contract below.
#[async_trait]
pub trait DeadLetterBackend: Send + Sync + fmt::Debug {
    /// What this backend can do.
    fn capabilities(&self) -> Capabilities;

    /// Inserts complete, validated entries.
    ///
    /// # Contract
    ///
    /// All or nothing: on success the whole batch is written, as one transaction; on an error
    /// nothing of it is (a backend writes a batch in one transaction, or one statement).
    /// An entry whose `(tenant, message_id)` is already stored, or appears earlier in the batch,
    /// is not written; its receipt names the existing entry with `duplicate: true`. Other
    /// receipts carry the entry's own id with `duplicate: false`, in input order. Concurrent
    /// inserts of one key write exactly one entry and every caller gets a receipt naming it.
    ///
    /// The ids within one batch are distinct (the shared layer makes each entry's id fresh).
    /// An entry whose id is already stored and whose key is not is [`crate::Error::Conflict`]
    /// on that id, and nothing of the batch is written.
    ///
    /// The entries are the backend's to keep: a store that holds them moves them in, without a
    /// copy.
    async fn insert(&self, entries: Vec<DeadLetterEntry>) -> Result<Vec<StoreReceipt>>;

    /// The entry with `id`, if it exists in `scope`.
    async fn get(&self, scope: &Scope, id: DeadLetterId) -> Result<Option<DeadLetterEntry>>;

    /// Compare-and-swap: writes every field of `entry` except `id`, `tenant`, `message_id` and
    /// `created_at`, if the stored entry with that id and tenant has revision
    /// `entry.revision - 1`.
    ///
    /// # Contract
    ///
    /// Returns `true` if the entry was written, `false` (writing nothing) if it is missing or
    /// its revision differs. Of concurrent swaps from one revision, exactly one returns `true`.
    async fn swap(&self, entry: &DeadLetterEntry) -> Result<bool>;

    /// Entries in `query.scope` that match `query.filter`, ordered by `(occurred_at, id)` in
    /// `query.order`, strictly after `query.after`, skipping `query.offset`, at most
    /// `query.limit`.
    async fn query(&self, query: &EntryQuery) -> Result<Vec<DeadLetterEntry>>;

    /// The number of entries in each status in `scope`.
    async fn statistics(&self, scope: &Scope) -> Result<Statistics>;

    /// Error groups over the unresolved (New and Replaying) entries in `scope`, largest first:
    /// by count descending, then `last_seen` descending, then fingerprint ascending; at most
    /// `limit`. See [`ErrorGroup`] for each field.
    async fn error_groups(&self, scope: &Scope, limit: u32) -> Result<Vec<ErrorGroup>>;

    /// How many entries in `scope` match `filter`, in each status, without reading them.
    ///
    /// # Contract
    ///
    /// The counts of exactly the entries [`Self::query`] would return for the same scope and
    /// filter, read in one snapshot.
    async fn count(&self, scope: &Scope, filter: &EntryFilter) -> Result<Statistics>;

    /// How many entries in `scope` match `filter` in each of `buckets` (validated by the shared
    /// layer), by `occurred_at`, without reading them: element `i` counts the entries whose
    /// `occurred_at` lies in bucket `i` and in the filter's own `occurred_from` to
    /// `occurred_before`. Entries outside every bucket are not counted.
    ///
    /// # Contract
    ///
    /// Returns exactly `buckets.count` elements, oldest bucket first; element `i` equals the
    /// `total` of [`Self::count`] for the filter narrowed to bucket `i`
    /// ([`EntryFilter::occurred_within`]).
    ///
    /// The default implementation is exactly that: one [`Self::count`] per bucket that the
    /// filter's range meets, so a backend gets a correct histogram for free, with one query per
    /// bucket, each in its own snapshot. A backend that can count every bucket in one query, in
    /// one snapshot, overrides it (the SQLite and PostgreSQL stores do).
    async fn histogram(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        buckets: &TimeBuckets,
    ) -> Result<Vec<u64>> {
        let mut counts = Vec::with_capacity(buckets.count as usize);
        for index in 0..buckets.count {
            let bucket = filter.occurred_within(buckets.bucket_start(index), buckets.bucket_start(index + 1));
            counts.push(match bucket {
                Some(bucket) => self.count(scope, &bucket).await?.total,
                None => 0,
            });
        }
        Ok(counts)
    }

    /// Records `request` and marks for replay every entry in `scope` that matches `filter` and
    /// has no pending request, in one transaction. Returns how many entries were marked.
    ///
    /// # Contract
    ///
    /// Marked entries get `replay_request = request.id`, `changed_by = request.requested_by`,
    /// `updated_at = request.requested_at`, the next revision, and `replay_requested_at =
    /// request.slot(n)`, where `n` numbers the marked entries from 0 in `(occurred_at, id)`
    /// order: oldest failure first. The request is stored with `requested` set to the number
    /// marked (also when 0). Concurrent requests never mark one entry twice. The shared layer
    /// makes each request's id fresh.
    async fn request_replay(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        request: &ReplayRequest,
    ) -> Result<u64>;

    /// The request with `id`, if it is visible in `scope`: all requests for
    /// [`Scope::AllTenants`], only those made in the tenant for a tenant scope.
    async fn replay_request(&self, scope: &Scope, id: ReplayRequestId) -> Result<Option<ReplayRequest>>;

    /// Up to `limit` requests visible in `scope`, newest first (by id), only those with an id
    /// strictly below `before` when given.
    async fn replay_requests(
        &self,
        scope: &Scope,
        before: Option<ReplayRequestId>,
        limit: u32,
    ) -> Result<Vec<ReplayRequest>>;

    /// Cancels the request with `id`, visible in `scope`, in one transaction: every New entry in
    /// `scope` whose pending request it is loses it (`replay_requested_at` and `replay_request`
    /// cleared, `changed_by = by`, `updated_at = at`, the next revision); the request gets
    /// `cancelled_at = at`, `cancelled_by = by`, and `cancelled` = how many entries lost it.
    /// Returns the request as stored after, or `None` when it is not visible.
    ///
    /// # Contract
    ///
    /// Entries already claimed (Replaying) keep the request. Cancelling a cancelled request
    /// changes nothing and returns it. Of concurrent cancellations, exactly one changes
    /// anything. An entry is never both claimed and cancelled.
    async fn cancel_replay_request(
        &self,
        scope: &Scope,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
    ) -> Result<Option<ReplayRequest>>;

    /// The earliest `replay_requested_at` at or before `now` among New entries in `scope` with a
    /// pending request: how long the oldest replay that could run has waited for a worker.
    async fn oldest_due_replay(&self, scope: &Scope, now: Timestamp) -> Result<Option<Timestamp>>;

    /// Begins replay of up to `limit` requested entries in `scope`, earliest first
    /// (`replay_requested_at`, then id).
    ///
    /// # Contract
    ///
    /// Claims entries with a pending request due at `now` (`replay_requested_at <= now`) that
    /// are not Dismissed and not held by a lease live at `now` (the shared layer only ever
    /// leaves a request on New entries, and on Replaying ones while their replay runs); sets
    /// status Replaying, `lease`, `updated_at = now`, advances the revision, keeps the request,
    /// and returns the claimed entries as stored. Concurrent claimers receive disjoint sets.
    async fn claim_requested(
        &self,
        scope: &Scope,
        now: Timestamp,
        lease: ReplayLease,
        limit: u32,
    ) -> Result<Vec<DeadLetterEntry>>;

    /// Deletes up to `limit` Resolved or Dismissed entries in `scope` whose `resolved_at` is
    /// strictly before `resolved_before`, and returns how many it deleted.
    ///
    /// # Contract
    ///
    /// Never touches New or Replaying entries. Concurrent purges never fail for each other and
    /// never count one row twice.
    async fn purge(&self, scope: &Scope, resolved_before: Timestamp, limit: u32) -> Result<u64>;
}
