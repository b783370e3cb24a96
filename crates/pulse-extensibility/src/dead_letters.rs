//! [`DeadLetters`]: the management surface that services and tools call, written once over any
//! backend.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::backend::{DeadLetterBackend, DeadLetterCapture, EntryQuery};
use crate::entry::{
    DeadLetterEntry, DeadLetterId, Failure, NewDeadLetter, ReplayLease, StoreReceipt, TenantId,
};
use crate::error::{Error, Result};
use crate::machine::{Applied, ReplayFrom, ReplayOutcome, Transition, apply};
use crate::observe;
use crate::query::{
    Cursor, EntryFilter, ErrorGroup, ListQuery, Page, Scope, SortKey, SortOrder, Statistics, TimeBuckets,
};
use crate::request::{
    Actor, MAX_PER_SECOND, ReplayProgress, ReplayRequest, ReplayRequestId, ReplayRequestSpec, ReplaySelection,
};
use crate::schema::DEFAULT_MAX_PAYLOAD_BYTES;
use crate::status::{CommandDeadLetterStatus, Resolution};
use crate::time::{Clock, SystemClock, Timestamp};
use crate::validate::{
    check_buckets, check_filter, check_instant, check_limit, check_note, check_payload, new_entry,
};

/// How many times a transition re-reads and retries when another writer changed the entry
/// between its read and its swap.
const MAX_SWAP_ATTEMPTS: usize = 32;

/// Settings of [`DeadLetters`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLettersOptions {
    /// How long a replay holds its lease before another replayer may take the entry; 5 minutes
    /// by default.
    pub lease_duration: Duration,
    /// The largest payload accepted, in bytes; 1 MiB ([`DEFAULT_MAX_PAYLOAD_BYTES`]) by default.
    pub max_payload_bytes: usize,
    /// How long before its lease expires a replay's handler must have stopped, to cover clock
    /// skew between processes and the round trip that finishes the replay. `None` (the default): one
    /// tenth of the lease.
    pub lease_margin: Option<Duration>,
}

impl Default for DeadLettersOptions {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(300),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            lease_margin: None,
        }
    }
}

impl DeadLettersOptions {
    /// Sets the lease duration.
    #[must_use]
    pub fn lease_duration(mut self, duration: Duration) -> Self {
        self.lease_duration = duration;
        self
    }

    /// Sets the largest payload accepted.
    #[must_use]
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.max_payload_bytes = bytes;
        self
    }

    /// Sets how long before its lease expires a replay's handler must have stopped.
    #[must_use]
    pub fn lease_margin(mut self, margin: Duration) -> Self {
        self.lease_margin = Some(margin);
        self
    }

    /// The instant by which the handler of a replay holding `lease` must have stopped: the
    /// lease's expiry, as stored, minus the margin.
    pub fn handler_deadline(&self, lease: &ReplayLease) -> Timestamp {
        let margin = self.lease_margin.unwrap_or(self.lease_duration / 10);
        lease.expires_at.saturating_sub(margin)
    }
}

/// A replay in progress: the entry as it was when the lease was taken, and the lease.
/// [`DeadLetters::finish_replay`] consumes it.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a replay that is never finished holds its entry until the lease expires"]
pub struct ReplayTicket {
    /// The entry, in Replaying.
    pub entry: DeadLetterEntry,
    /// The lease held.
    pub lease: ReplayLease,
}

/// How a replay went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayReport {
    /// The command ran; the entry is Resolved.
    Succeeded(DeadLetterEntry),
    /// The command failed again; the entry is back in New with the failure recorded.
    Failed {
        /// The entry as stored now.
        entry: DeadLetterEntry,
        /// What the dispatcher returned.
        failure: Failure,
    },
}

/// The dead-letter store as services and operators use it, over any backend.
///
/// Cheap to clone. Every operation is scoped: [`Scope::AllTenants`] by default, one tenant
/// after [`DeadLetters::for_tenant`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// use pulse_extensibility::{DeadLetters, Failure, NewDeadLetter};
/// use pulse_store_memory::MemoryStore;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pulse_extensibility::Result<()> {
/// let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
/// let failure = Failure::new("TimeoutError", "order 42 timed out after 30s");
/// let receipt = dead_letters.store(NewDeadLetter::new("orders.create", "{}", failure)).await?;
/// let dismissed = dead_letters.dismiss(receipt.id, Some("duplicate order".to_owned())).await?;
/// assert_eq!(dismissed.note.as_deref(), Some("duplicate order"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct DeadLetters {
    backend: Arc<dyn DeadLetterBackend>,
    clock: Arc<dyn Clock>,
    options: DeadLettersOptions,
    scope: Scope,
    actor: Option<Actor>,
}

impl fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetters")
            .field("backend", &self.backend)
            .field("clock", &self.clock)
            .field("options", &self.options)
            .field("scope", &self.scope)
            .field("actor", &self.actor)
            .finish()
    }
}

impl DeadLetters {
    /// Pulse over `backend`, on the system clock, with default options, seeing all tenants.
    pub fn new(backend: Arc<dyn DeadLetterBackend>) -> Self {
        Self {
            backend,
            clock: Arc::new(SystemClock),
            options: DeadLettersOptions::default(),
            scope: Scope::AllTenants,
            actor: None,
        }
    }

    /// Uses `clock` for every instant.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `options`.
    #[must_use]
    pub fn with_options(mut self, options: DeadLettersOptions) -> Self {
        self.options = options;
        self
    }

    /// The same store, seeing and changing only `tenant`'s entries.
    #[must_use]
    pub fn for_tenant(&self, tenant: TenantId) -> Self {
        Self { scope: Scope::Tenant(tenant), ..self.clone() }
    }

    /// The same store, recording `actor` on every change it makes and in every audit event
    /// (target [`observe::AUDIT_TARGET`]).
    #[must_use]
    pub fn acting_as(&self, actor: Actor) -> Self {
        Self { actor: Some(actor), ..self.clone() }
    }

    /// Who changes made through this handle are recorded under.
    pub fn actor(&self) -> Option<&Actor> {
        self.actor.as_ref()
    }

    /// The scope operations run in.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The settings in force.
    pub fn options(&self) -> &DeadLettersOptions {
        &self.options
    }

    /// The backend underneath.
    pub fn backend(&self) -> &Arc<dyn DeadLetterBackend> {
        &self.backend
    }

    /// The current instant on the configured clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    fn prepare(&self, input: NewDeadLetter, now: Timestamp) -> Result<DeadLetterEntry> {
        if !self.scope.contains(&input.tenant) {
            return Err(Error::invalid_input("tenant", "differs from the tenant this store is scoped to"));
        }
        new_entry(input, now, self.options.max_payload_bytes)
    }

    /// Stores one failed command. With a message id already stored in the same tenant, nothing is
    /// written and the receipt names the existing entry as a duplicate.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] (nothing written), or the backend's error.
    pub async fn store(&self, input: NewDeadLetter) -> Result<StoreReceipt> {
        let mut receipts = self.store_many(vec![input]).await?;
        Ok(receipts.remove(0))
    }

    /// Stores several failed commands in one atomic write.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] if any entry is invalid (nothing written), or the backend's error.
    pub async fn store_many(&self, inputs: Vec<NewDeadLetter>) -> Result<Vec<StoreReceipt>> {
        if inputs.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        let entries = inputs.into_iter().map(|input| self.prepare(input, now)).collect::<Result<Vec<_>>>()?;
        let stored: Vec<observe::Stored> = entries.iter().map(observe::Stored::of).collect();
        let receipts = self.backend.insert(entries).await?;
        for (stored, receipt) in stored.into_iter().zip(&receipts) {
            observe::stored(stored, receipt);
        }
        Ok(receipts)
    }

    /// The entry with `id` in any status, or `None` when it does not exist in this scope.
    ///
    /// # Errors
    ///
    /// The backend's error.
    pub async fn get_entry(&self, id: DeadLetterId) -> Result<Option<DeadLetterEntry>> {
        self.backend.get(&self.scope, id).await
    }

    /// Up to `count` New entries, oldest failure first, after skipping `skip`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless `count` is 1 to 1000; the backend's error.
    pub async fn get_pending(&self, count: u32, skip: u64) -> Result<Vec<DeadLetterEntry>> {
        check_limit("count", count)?;
        let query = EntryQuery {
            scope: self.scope.clone(),
            filter: EntryFilter::default().statuses([CommandDeadLetterStatus::New]),
            order: SortOrder::OldestFirst,
            after: None,
            offset: skip,
            limit: count,
        };
        self.backend.query(&query).await
    }

    /// One page of entries; pass the page's `next_cursor` back for the next one. Paging never
    /// repeats or skips an entry, also while new entries arrive.
    ///
    /// # Examples
    ///
    /// Every New entry of one command type, oldest failure first, page by page:
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use pulse_extensibility::{CommandDeadLetterStatus, DeadLetters, EntryFilter, ListQuery, SortOrder};
    ///
    /// async fn each_new_charge(dead_letters: &DeadLetters) -> pulse_extensibility::Result<usize> {
    ///     let filter = EntryFilter::default()
    ///         .statuses([CommandDeadLetterStatus::New])
    ///         .command_type("billing.charge");
    ///     let mut query = ListQuery::default().filter(filter).order(SortOrder::OldestFirst).limit(100);
    ///     let mut seen = 0;
    ///     loop {
    ///         let page = dead_letters.list(query.clone()).await?;
    ///         seen += page.entries.len();
    ///         match page.next_cursor {
    ///             Some(cursor) => query.cursor = Some(cursor),
    ///             None => return Ok(seen),
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless `limit` is 1 to 1000, for a cursor from a listing in the
    /// other order, or for a filter or cursor with a NUL character or an instant outside
    /// [`Timestamp::MIN`] to [`Timestamp::MAX`]; the backend's error.
    pub async fn list(&self, query: ListQuery) -> Result<Page> {
        check_limit("limit", query.limit)?;
        check_filter(&query.filter)?;
        if let Some(range) = query.filter.occurred_from.zip(query.filter.occurred_before)
            && range.0 > range.1
        {
            return Err(Error::invalid_input("occurred_from", "must not be after occurred_before"));
        }
        let after = match &query.cursor {
            Some(cursor) if cursor.order != query.order => {
                return Err(Error::invalid_input("cursor", "belongs to a listing in the other order"));
            }
            Some(cursor) => {
                check_instant("cursor", cursor.after.occurred_at)?;
                Some(cursor.after)
            }
            None => None,
        };
        let mut entries = self
            .backend
            .query(&EntryQuery {
                scope: self.scope.clone(),
                filter: query.filter,
                order: query.order,
                after,
                offset: 0,
                limit: query.limit + 1,
            })
            .await?;
        let more = entries.len() > query.limit as usize;
        entries.truncate(query.limit as usize);
        let next_cursor =
            more.then(|| entries.last().map(|last| Cursor::new(query.order, SortKey::of(last)))).flatten();
        Ok(Page { entries, next_cursor })
    }

    /// How many entries stand in each status.
    ///
    /// # Errors
    ///
    /// The backend's error.
    pub async fn statistics(&self) -> Result<Statistics> {
        self.backend.statistics(&self.scope).await
    }

    /// How many entries are New or Replaying.
    ///
    /// # Errors
    ///
    /// The backend's error.
    pub async fn unresolved_count(&self) -> Result<u64> {
        Ok(self.statistics().await?.unresolved())
    }

    /// Up to `limit` groups of unresolved entries that failed the same way, largest first.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless `limit` is 1 to 1000; the backend's error.
    pub async fn error_groups(&self, limit: u32) -> Result<Vec<ErrorGroup>> {
        check_limit("limit", limit)?;
        self.backend.error_groups(&self.scope, limit).await
    }

    /// Reads the entry, applies `transition` and swaps the result in, re-reading when another
    /// writer got there first.
    async fn transition(&self, id: DeadLetterId, transition: &Transition) -> Result<DeadLetterEntry> {
        Ok(self.transition_reporting_change(id, transition).await?.0)
    }

    /// As [`Self::transition`], also saying whether the entry changed.
    async fn transition_reporting_change(
        &self,
        id: DeadLetterId,
        transition: &Transition,
    ) -> Result<(DeadLetterEntry, bool)> {
        for _ in 0..MAX_SWAP_ATTEMPTS {
            let entry = self.backend.get(&self.scope, id).await?.ok_or(Error::NotFound { id })?;
            match apply(&entry, transition, self.now())? {
                Applied::Unchanged => return Ok((entry, false)),
                Applied::Changed(mut next) => {
                    if transition.is_operator_action() {
                        next.changed_by.clone_from(&self.actor);
                    }
                    if self.backend.swap(&next).await? {
                        return Ok((*next, true));
                    }
                }
            }
        }
        Err(Error::conflict(id, "the entry kept changing under concurrent writers"))
    }

    /// Takes a replay lease on the entry: New, or Replaying with an expired lease, becomes
    /// Replaying. A Resolved entry conflicts: two callers that asked to replay one failure run
    /// it once; replaying a resolved entry again is [`Self::begin_replay_resolved`].
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::Dismissed`]; [`Error::Conflict`] for a Resolved entry or
    /// while another replay holds a live lease; the backend's error.
    pub async fn begin_replay(&self, id: DeadLetterId) -> Result<ReplayTicket> {
        self.begin_replay_from(id, ReplayFrom::Unresolved).await
    }

    /// Takes a replay lease on an entry that is Resolved at `revision`, the revision the caller
    /// saw: an explicit second run of a command that already ran. Of two callers who saw the
    /// same revision, one begins; the other conflicts.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::Dismissed`]; [`Error::Conflict`] unless the entry is
    /// Resolved at `revision`; the backend's error.
    pub async fn begin_replay_resolved(&self, id: DeadLetterId, revision: u64) -> Result<ReplayTicket> {
        self.begin_replay_from(id, ReplayFrom::Resolved { revision }).await
    }

    async fn begin_replay_from(&self, id: DeadLetterId, from: ReplayFrom) -> Result<ReplayTicket> {
        let lease = ReplayLease::new(self.now().saturating_add(self.options.lease_duration));
        let entry = self.transition(id, &Transition::BeginReplay { lease, from }).await?;
        tracing::debug!(%id, command_type = %entry.command_type, tenant = %entry.tenant, "replay begun");
        Ok(ReplayTicket { entry, lease })
    }

    /// Ends a replay: success resolves the entry; failure returns it to New with one more attempt
    /// and the new failure recorded.
    ///
    /// # Errors
    ///
    /// [`Error::LeaseLost`] when the lease expired and another replayer took the entry (nothing is
    /// written); [`Error::NotFound`]; the backend's error.
    pub async fn finish_replay(
        &self,
        ticket: ReplayTicket,
        outcome: ReplayOutcome,
    ) -> Result<DeadLetterEntry> {
        let id = ticket.entry.id;
        let transition = Transition::FinishReplay { token: ticket.lease.token, outcome };
        let entry = self.transition(id, &transition).await?;
        observe::replay_finished(&entry);
        Ok(entry)
    }

    /// Dismisses the entry: New becomes Dismissed (resolution ignored) with `note`. Dismissing a
    /// dismissed entry succeeds and changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a note over 4,000 characters or with a NUL character (nothing
    /// changes);
    /// [`Error::NotFound`]; [`Error::Conflict`] for a Resolved entry or a live replay; the
    /// backend's error.
    pub async fn dismiss(&self, id: DeadLetterId, note: Option<String>) -> Result<DeadLetterEntry> {
        check_note(note.as_deref())?;
        let (entry, changed) = self.transition_reporting_change(id, &Transition::Dismiss { note }).await?;
        if changed {
            observe::dismissed(&entry);
            observe::audit(self.actor(), "dismiss", 1, None);
        }
        Ok(entry)
    }

    /// Marks an entry fixed outside Pulse: New becomes Resolved with `resolution` and `note`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for [`Resolution::Ignored`] (use [`Self::dismiss`]), or a note
    /// over 4,000 characters or with a NUL character;
    /// [`Error::NotFound`]; [`Error::Conflict`] for a terminal entry or a live replay.
    pub async fn resolve(
        &self,
        id: DeadLetterId,
        resolution: Resolution,
        note: Option<String>,
    ) -> Result<DeadLetterEntry> {
        check_note(note.as_deref())?;
        let entry = self.transition(id, &Transition::Resolve { resolution, note }).await?;
        observe::audit(self.actor(), "resolve", 1, None);
        Ok(entry)
    }

    /// Asks for the entry to be replayed by whoever claims requested replays, recording a
    /// [`ReplayRequest`] for it; asking again while a request is pending changes nothing. Only
    /// an unresolved entry (New, or Replaying with an expired lease) can be requested.
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`]; [`Error::Dismissed`]; [`Error::Conflict`] for a Resolved entry or
    /// during a live replay.
    pub async fn request_replay(&self, id: DeadLetterId) -> Result<DeadLetterEntry> {
        self.request_replays(ReplayRequestSpec::new(ReplaySelection::Entry(id))).await?;
        self.get_entry(id).await?.ok_or(Error::NotFound { id })
    }

    /// Replaces the entry's payload, for example with a corrected command, before it is replayed.
    /// The payload as first captured stays in `original_payload`. Allowed where a replay could
    /// begin; the runtime checks that the payload deserializes into the command type first.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a payload the store would reject at capture (nothing changes);
    /// [`Error::NotFound`]; [`Error::Dismissed`]; [`Error::Conflict`] during a live replay.
    pub async fn edit_payload(
        &self,
        id: DeadLetterId,
        payload: String,
        command_version: u32,
    ) -> Result<DeadLetterEntry> {
        check_payload(&payload, self.options.max_payload_bytes)?;
        if command_version == 0 {
            return Err(Error::invalid_input("command_version", "must be at least 1"));
        }
        let entry = self.transition(id, &Transition::EditPayload { payload, command_version }).await?;
        tracing::info!(%id, command_type = %entry.command_type, tenant = %entry.tenant, "payload edited");
        observe::audit(self.actor(), "edit", 1, None);
        Ok(entry)
    }

    /// Asks for replay of every New entry that matches `filter`, recording one
    /// [`ReplayRequest`]; returns how many were marked. Entries already requested keep their
    /// place in the queue. A filter that admits no New entry marks nothing and records nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a filter with a NUL character or an instant out of range;
    /// the backend's error.
    pub async fn request_replay_matching(&self, filter: EntryFilter) -> Result<u64> {
        check_filter(&filter)?;
        if !admits_new(&filter) {
            return Ok(0);
        }
        Ok(self.request_replays(ReplayRequestSpec::new(ReplaySelection::Matching(filter))).await?.requested)
    }

    /// Records a replay request and marks its entries, in one atomic write; workers of every
    /// process then claim them, at the request's pace when it has one. Entries with a pending
    /// request keep it. For [`ReplaySelection::Entry`], an entry that already has a pending
    /// request returns that request.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a bad note, a pace over [`MAX_PER_SECOND`], an empty or
    /// over-long id list, a filter that admits no New entry or fails [`check_filter`]
    /// (nothing is written); for [`ReplaySelection::Entry`], the errors of
    /// [`Self::request_replay`]; the backend's error.
    pub async fn request_replays(&self, spec: ReplayRequestSpec) -> Result<ReplayRequest> {
        check_note(spec.note.as_deref())?;
        if spec.per_second.is_some_and(|pace| pace.get() > MAX_PER_SECOND) {
            return Err(Error::invalid_input("per_second", format!("must be at most {MAX_PER_SECOND}")));
        }
        let (filter, selection) = match &spec.selection {
            ReplaySelection::Entry(id) => {
                if let Some(pending) = self.check_requestable(*id).await? {
                    return Ok(pending);
                }
                (EntryFilter::default().ids([*id]), format!("entry {id}"))
            }
            ReplaySelection::Entries(ids) if ids.is_empty() => {
                return Err(Error::invalid_input("ids", "must name at least one entry"));
            }
            ReplaySelection::Entries(ids) => {
                (EntryFilter::default().ids(ids.clone()), format!("{} entries", ids.len()))
            }
            ReplaySelection::Matching(filter) if !admits_new(filter) => {
                return Err(Error::invalid_input("statuses", "only New entries can be requested for replay"));
            }
            ReplaySelection::Matching(filter) => (filter.clone(), filter.to_string()),
        };
        check_filter(&filter)?;
        let filter = filter.statuses([CommandDeadLetterStatus::New]).replay_pending(None);
        let now = self.now();
        let mut request = ReplayRequest {
            id: ReplayRequestId::new_at(now),
            tenant: self.scope.tenant().cloned(),
            selection,
            requested_by: self.actor.clone(),
            requested_at: now,
            note: spec.note,
            per_second: spec.per_second,
            requested: 0,
            cancelled_at: None,
            cancelled_by: None,
            cancelled: 0,
        };
        request.requested = self.backend.request_replay(&self.scope, &filter, &request).await?;
        if request.requested == 0
            && let ReplaySelection::Entry(id) = spec.selection
            && let Some(pending) = self.check_requestable(id).await?
        {
            // Another request marked the entry between the check and the write.
            return Ok(pending);
        }
        observe::audit(self.actor(), "request_replay", request.requested, Some(request.id));
        Ok(request)
    }

    /// Whether entry `id` can be requested: `Ok(None)` when it can, the request already
    /// pending on it when there is one.
    async fn check_requestable(&self, id: DeadLetterId) -> Result<Option<ReplayRequest>> {
        let entry = self.backend.get(&self.scope, id).await?.ok_or(Error::NotFound { id })?;
        match apply(&entry, &Transition::RequestReplay, self.now())? {
            Applied::Changed(_) => Ok(None),
            Applied::Unchanged => match entry.replay_request {
                Some(request) => self.backend.replay_request(&self.scope, request).await,
                None => Ok(None),
            },
        }
    }

    /// The replay request with `id`.
    ///
    /// # Errors
    ///
    /// [`Error::RequestNotFound`] when it is not visible in this scope; the backend's error.
    pub async fn replay_request(&self, id: ReplayRequestId) -> Result<ReplayRequest> {
        self.backend.replay_request(&self.scope, id).await?.ok_or(Error::RequestNotFound { id })
    }

    /// Up to `limit` replay requests, newest first; pass the last id of a page as `before` for
    /// the next.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless `limit` is 1 to 1000; the backend's error.
    pub async fn replay_requests(
        &self,
        before: Option<ReplayRequestId>,
        limit: u32,
    ) -> Result<Vec<ReplayRequest>> {
        check_limit("limit", limit)?;
        self.backend.replay_requests(&self.scope, before, limit).await
    }

    /// Cancels a replay request: its entries not yet claimed lose it; replays already running
    /// finish. Cancelling again changes nothing.
    ///
    /// # Errors
    ///
    /// [`Error::RequestNotFound`]; the backend's error.
    pub async fn cancel_replay_request(&self, id: ReplayRequestId) -> Result<ReplayRequest> {
        let request = self
            .backend
            .cancel_replay_request(&self.scope, id, self.now(), self.actor.as_ref())
            .await?
            .ok_or(Error::RequestNotFound { id })?;
        observe::audit(self.actor(), "cancel_replay_request", request.cancelled, Some(id));
        Ok(request)
    }

    /// How far a replay request has come, counted from its entries now.
    ///
    /// # Errors
    ///
    /// [`Error::RequestNotFound`]; the backend's error.
    pub async fn replay_progress(&self, id: ReplayRequestId) -> Result<ReplayProgress> {
        let request = self.replay_request(id).await?;
        let of_request = EntryFilter::default().replay_request(id);
        let all = self.backend.count(&self.scope, &of_request).await?;
        let waiting = of_request.statuses([CommandDeadLetterStatus::New]).replay_pending(true);
        let remaining = self.backend.count(&self.scope, &waiting).await?.new;
        let failed = all.new.saturating_sub(remaining);
        let counted = remaining + all.replaying + all.resolved + failed + request.cancelled;
        Ok(ReplayProgress {
            remaining,
            claimed: all.replaying,
            replayed: all.resolved,
            failed,
            cancelled: request.cancelled,
            other: request.requested.saturating_sub(counted),
            request,
        })
    }

    /// How many entries match `filter`, in each status, without reading them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a filter that fails [`check_filter`]; the backend's error.
    pub async fn count(&self, filter: &EntryFilter) -> Result<Statistics> {
        check_filter(filter)?;
        self.backend.count(&self.scope, filter).await
    }

    /// How many entries match `filter` in each of `buckets`, by latest failure, without reading
    /// them: element `i` counts the entries whose `occurred_at` lies in bucket `i` and in the
    /// filter's own `occurred_from` to `occurred_before`. Entries outside every bucket are not
    /// counted. One query on the SQLite and PostgreSQL stores.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for buckets that fail [`check_buckets`] or a filter that fails
    /// [`check_filter`]; the backend's error.
    ///
    /// # Examples
    ///
    /// Failures per hour over the last 7 days, the current hour last:
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    ///
    /// use pulse_extensibility::{DeadLetters, EntryFilter, Failure, NewDeadLetter, TimeBuckets, Timestamp};
    /// use pulse_store_memory::MemoryStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> pulse_extensibility::Result<()> {
    /// let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
    /// let failure = Failure::new("TimeoutError", "order 42 timed out after 30s");
    /// dead_letters.store(NewDeadLetter::new("orders.create", "{}", failure)).await?;
    ///
    /// let hour = Duration::from_secs(3600);
    /// let now = dead_letters.now().as_micros();
    /// let next_hour = Timestamp::from_micros(now - now.rem_euclid(3_600_000_000)).saturating_add(hour);
    /// let week = TimeBuckets::new(next_hour.saturating_sub(hour * 168), hour, 168);
    /// let per_hour = dead_letters.histogram(&EntryFilter::default(), &week).await?;
    /// assert_eq!(per_hour.len(), 168);
    /// assert_eq!(per_hour[167], 1);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn histogram(&self, filter: &EntryFilter, buckets: &TimeBuckets) -> Result<Vec<u64>> {
        check_filter(filter)?;
        check_buckets(buckets)?;
        self.backend.histogram(&self.scope, filter, buckets).await
    }

    /// The earliest instant from which a waiting replay may start, whether it has come or not:
    /// `None` when no New entry waits for a requested replay.
    ///
    /// # Errors
    ///
    /// The backend's error.
    pub async fn earliest_waiting_replay(&self) -> Result<Option<Timestamp>> {
        self.backend.oldest_due_replay(&self.scope, Timestamp::MAX).await
    }

    /// Since when the oldest replay that could run now has waited for a worker: `None` when no
    /// requested replay is due.
    ///
    /// # Errors
    ///
    /// The backend's error.
    pub async fn oldest_due_replay(&self) -> Result<Option<Timestamp>> {
        self.backend.oldest_due_replay(&self.scope, self.now()).await
    }

    /// Begins replay of up to `limit` requested entries. Concurrent claimers get disjoint sets.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] unless `limit` is 1 to 1000; the backend's error.
    pub async fn claim_requested(&self, limit: u32) -> Result<Vec<ReplayTicket>> {
        check_limit("limit", limit)?;
        let now = self.now();
        let lease = ReplayLease::new(now.saturating_add(self.options.lease_duration));
        let entries = self.backend.claim_requested(&self.scope, now, lease, limit).await?;
        Ok(entries.into_iter().map(|entry| ReplayTicket { entry, lease }).collect())
    }

    /// Deletes up to `limit` Resolved or Dismissed entries resolved strictly before
    /// `resolved_before`; returns how many. Never touches New or Replaying entries.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidInput`] for a zero `limit` or an instant out of range; the backend's
    /// error.
    pub async fn purge(&self, resolved_before: Timestamp, limit: u32) -> Result<u64> {
        if limit == 0 {
            return Err(Error::invalid_input("limit", "must be at least 1"));
        }
        check_instant("resolved_before", resolved_before)?;
        let purged = self.backend.purge(&self.scope, resolved_before, limit).await?;
        observe::purged(purged);
        observe::audit(self.actor(), "purge", purged, None);
        Ok(purged)
    }
}

/// Whether `filter` admits New entries: only those can be requested for replay.
fn admits_new(filter: &EntryFilter) -> bool {
    filter.statuses.is_empty() || filter.statuses.contains(&CommandDeadLetterStatus::New)
}

#[async_trait]
impl DeadLetterCapture for DeadLetters {
    async fn store(&self, entry: NewDeadLetter) -> Result<StoreReceipt> {
        DeadLetters::store(self, entry).await
    }

    async fn store_many(&self, entries: Vec<NewDeadLetter>) -> Result<Vec<StoreReceipt>> {
        DeadLetters::store_many(self, entries).await
    }
}
