//! [`MemoryStore`]: entries in a map, with ordered indexes, behind one lock that long operations
//! hand on fairly.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Unbounded};
use std::sync::Arc;

use async_trait::async_trait;
use parking_lot::{Mutex, MutexGuard};
use pulse_extensibility::{
    Actor, Capabilities, CommandDeadLetterStatus as Status, DeadLetterBackend, DeadLetterEntry, DeadLetterId,
    EntryFilter, EntryQuery, Error, ErrorGroup, Fingerprint, ReplayLease, ReplayRequest, ReplayRequestId,
    Result, Scope, SortKey, SortOrder, Statistics, StoreReceipt, TenantId, TimeBuckets, Timestamp,
};

/// A hash map with a fast hasher that is still seeded per map (hashbrown's default): message ids
/// come from outside, so the seed keeps them from being chosen to collide.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// A dead-letter store in memory. Clones share the same entries; nothing survives the process.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<DeadLetterId, DeadLetterEntry>,
    /// The idempotency keys: `(tenant, message id)` to the entry that holds it.
    keys: HashMap<(TenantId, String), DeadLetterId>,
    /// How many entries each tenant has in each status, kept with every change so statistics
    /// never walk the entries.
    counts: HashMap<TenantId, Statistics>,
    /// Resolved and Dismissed entries by when they were resolved, so purge never walks the rest.
    terminal: BTreeSet<(Timestamp, DeadLetterId)>,
    /// Every entry in listing order, so a page walks only as far as it reaches.
    by_time: BTreeSet<SortKey>,
    /// The New entries in listing order: the pending queue.
    pending: BTreeSet<SortKey>,
    /// Replay requests, by id (time-ordered).
    requests: BTreeMap<ReplayRequestId, ReplayRequest>,
}

/// What the indexes of [`State`] know of one entry, besides its tenant.
#[derive(Clone, Copy)]
struct Indexed {
    status: Status,
    key: SortKey,
    terminal_key: Option<(Timestamp, DeadLetterId)>,
}

impl Indexed {
    fn of(entry: &DeadLetterEntry) -> Self {
        let terminal_key = entry.resolved_at.filter(|_| entry.status.is_terminal()).map(|at| (at, entry.id));
        Self { status: entry.status, key: SortKey::of(entry), terminal_key }
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every operation is one critical section, never held across an `.await`. Short ones
    /// release the lock as a plain mutex does; operations that may hold it long (a purge, a bulk
    /// change) release it with [`release_fairly`], so that a purge called again at once queues
    /// behind the stores that waited, instead of taking the lock back before their threads wake.
    ///
    /// Each operation first spends a unit of the task's cooperative budget, as a Tokio resource
    /// does: a loop of calls that never wait (purging a million entries a thousand at a time)
    /// still yields to the other tasks of its worker thread now and then.
    async fn state(&self) -> MutexGuard<'_, State> {
        tokio::task::consume_budget().await;
        self.state.lock()
    }
}

/// Releases the lock to the thread that has waited longest, if any: see [`MemoryStore::state`].
fn release_fairly(state: MutexGuard<'_, State>) {
    MutexGuard::unlock_fair(state);
}

impl State {
    /// Moves one entry of `tenant` in the indexes from what it was (`None`: it is new) to what it
    /// is (`None`: it is gone).
    fn track(&mut self, tenant: &TenantId, before: Option<Indexed>, after: Option<Indexed>) {
        if let Some(before) = before {
            self.tenant_counts(tenant).remove(before.status, 1);
            if let Some(key) = before.terminal_key {
                self.terminal.remove(&key);
            }
            self.by_time.remove(&before.key);
            if before.status == Status::New {
                self.pending.remove(&before.key);
            }
        }
        if let Some(after) = after {
            self.tenant_counts(tenant).add(after.status, 1);
            if let Some(key) = after.terminal_key {
                self.terminal.insert(key);
            }
            self.by_time.insert(after.key);
            if after.status == Status::New {
                self.pending.insert(after.key);
            }
        }
    }

    fn tenant_counts(&mut self, tenant: &TenantId) -> &mut Statistics {
        if !self.counts.contains_key(tenant) {
            self.counts.insert(tenant.clone(), Statistics::default());
        }
        self.counts.get_mut(tenant).expect("inserted above")
    }

    fn visible<'a>(&'a self, scope: &'a Scope) -> impl Iterator<Item = &'a DeadLetterEntry> + 'a {
        self.entries.values().filter(move |entry| scope.contains(&entry.tenant))
    }
}

/// Whether a requested entry can be claimed at `now`: what `begin_replay` would accept.
fn claimable(entry: &DeadLetterEntry, now: Timestamp) -> bool {
    entry.replay_requested_at.is_some_and(|due| due <= now)
        && match entry.status {
            Status::New | Status::Resolved => true,
            Status::Replaying => entry.lease.is_none_or(|lease| !lease.is_live_at(now)),
            Status::Dismissed => false,
        }
}

#[async_trait]
impl DeadLetterBackend for MemoryStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::new(false)
    }

    async fn insert(&self, entries: Vec<DeadLetterEntry>) -> Result<Vec<StoreReceipt>> {
        let mut state = self.state().await;
        // Checked before anything is written, so a clash leaves the store as it was.
        if let Some(clash) = entries.iter().find(|entry| {
            state.entries.contains_key(&entry.id)
                && !entry.message_id.as_ref().is_some_and(|message_id| {
                    state.keys.contains_key(&(entry.tenant.clone(), message_id.clone()))
                })
        }) {
            return Err(Error::conflict(clash.id, "an entry with this id is already stored"));
        }
        let mut receipts = Vec::with_capacity(entries.len());
        for entry in entries {
            if let Some(message_id) = &entry.message_id {
                match state.keys.entry((entry.tenant.clone(), message_id.clone())) {
                    Entry::Occupied(existing) => {
                        receipts.push(StoreReceipt { id: *existing.get(), duplicate: true });
                        continue;
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(entry.id);
                    }
                }
            }
            state.track(&entry.tenant, None, Some(Indexed::of(&entry)));
            receipts.push(StoreReceipt { id: entry.id, duplicate: false });
            state.entries.insert(entry.id, entry);
        }
        Ok(receipts)
    }

    async fn get(&self, scope: &Scope, id: DeadLetterId) -> Result<Option<DeadLetterEntry>> {
        Ok(self.state().await.entries.get(&id).filter(|entry| scope.contains(&entry.tenant)).cloned())
    }

    async fn swap(&self, entry: &DeadLetterEntry) -> Result<bool> {
        let mut state = self.state().await;
        let Some(stored) = state.entries.get_mut(&entry.id) else {
            return Ok(false);
        };
        if stored.tenant != entry.tenant || stored.revision + 1 != entry.revision {
            return Ok(false);
        }
        let before = Indexed::of(stored);
        *stored = DeadLetterEntry {
            id: stored.id,
            tenant: stored.tenant.clone(),
            message_id: stored.message_id.clone(),
            created_at: stored.created_at,
            ..entry.clone()
        };
        state.track(&entry.tenant, Some(before), Some(Indexed::of(entry)));
        Ok(true)
    }

    /// Walks an ordered index from the cursor: the pending queue when only New entries are
    /// asked for, every entry otherwise; stops as soon as the page is full.
    async fn query(&self, query: &EntryQuery) -> Result<Vec<DeadLetterEntry>> {
        let state = self.state().await;
        let index = if query.filter.statuses == [Status::New] { &state.pending } else { &state.by_time };
        let keys: Box<dyn Iterator<Item = &SortKey>> = match (query.order, query.after) {
            (SortOrder::OldestFirst, None) => Box::new(index.iter()),
            (SortOrder::OldestFirst, Some(after)) => Box::new(index.range((Excluded(after), Unbounded))),
            (SortOrder::NewestFirst, None) => Box::new(index.iter().rev()),
            (SortOrder::NewestFirst, Some(after)) => Box::new(index.range(..after).rev()),
        };
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        Ok(keys
            .filter_map(|key| state.entries.get(&key.id))
            .filter(|entry| query.scope.contains(&entry.tenant) && query.filter.matches(entry))
            .skip(offset)
            .take(query.limit as usize)
            .cloned()
            .collect())
    }

    async fn statistics(&self, scope: &Scope) -> Result<Statistics> {
        let state = self.state().await;
        let mut statistics = Statistics::default();
        for (tenant, counts) in &state.counts {
            if scope.contains(tenant) {
                for status in Status::ALL {
                    statistics.add(status, counts.count(status));
                }
            }
        }
        Ok(statistics)
    }

    async fn error_groups(&self, scope: &Scope, limit: u32) -> Result<Vec<ErrorGroup>> {
        let state = self.state().await;
        let mut groups: HashMap<&Fingerprint, (ErrorGroup, SortKey)> = HashMap::default();
        for entry in state.visible(scope).filter(|entry| entry.status.is_unresolved()) {
            let key = SortKey::of(entry);
            let (group, latest) = groups.entry(&entry.fingerprint).or_insert_with(|| {
                let group = ErrorGroup {
                    fingerprint: entry.fingerprint.clone(),
                    command_type: entry.command_type.clone(),
                    exception_type: entry.exception_type.clone(),
                    sample_message: entry.exception_message.clone(),
                    count: 0,
                    first_seen: entry.first_failed_at,
                    last_seen: entry.occurred_at,
                };
                (group, key)
            });
            group.count += 1;
            group.first_seen = group.first_seen.min(entry.first_failed_at);
            group.last_seen = group.last_seen.max(entry.occurred_at);
            if key > *latest {
                *latest = key;
                group.sample_message.clone_from(&entry.exception_message);
            }
        }
        let mut groups: Vec<ErrorGroup> = groups.into_values().map(|(group, _)| group).collect();
        groups.sort_by(|a, b| {
            b.count.cmp(&a.count).then(b.last_seen.cmp(&a.last_seen)).then(a.fingerprint.cmp(&b.fingerprint))
        });
        groups.truncate(limit as usize);
        Ok(groups)
    }

    async fn count(&self, scope: &Scope, filter: &EntryFilter) -> Result<Statistics> {
        let state = self.state().await;
        let mut counts = Statistics::default();
        for entry in state.visible(scope).filter(|entry| filter.matches(entry)) {
            counts.add(entry.status, 1);
        }
        Ok(counts)
    }

    /// One pass over the entries under the lock, instead of the default's count per bucket.
    async fn histogram(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        buckets: &TimeBuckets,
    ) -> Result<Vec<u64>> {
        let mut counts = vec![0; buckets.count as usize];
        let Some(filter) = filter.occurred_within(buckets.start, buckets.end()) else {
            return Ok(counts);
        };
        let state = self.state().await;
        for entry in state.visible(scope).filter(|entry| filter.matches(entry)) {
            if let Some(index) = buckets.index_of(entry.occurred_at) {
                counts[index] += 1;
            }
        }
        Ok(counts)
    }

    async fn request_replay(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        request: &ReplayRequest,
    ) -> Result<u64> {
        let mut state = self.state().await;
        let mut marked: Vec<(SortKey, DeadLetterId)> = state
            .visible(scope)
            .filter(|entry| filter.matches(entry) && entry.replay_requested_at.is_none())
            .map(|entry| (SortKey::of(entry), entry.id))
            .collect();
        marked.sort_unstable();
        for (n, (_, id)) in (0..).zip(&marked) {
            let entry = state.entries.get_mut(id).expect("marked under the same lock");
            entry.replay_requested_at = Some(request.slot(n));
            entry.replay_request = Some(request.id);
            entry.changed_by.clone_from(&request.requested_by);
            entry.updated_at = request.requested_at;
            entry.revision += 1;
        }
        let requested = marked.len() as u64;
        state.requests.insert(request.id, ReplayRequest { requested, ..request.clone() });
        release_fairly(state);
        Ok(requested)
    }

    async fn replay_request(&self, scope: &Scope, id: ReplayRequestId) -> Result<Option<ReplayRequest>> {
        Ok(self
            .state()
            .await
            .requests
            .get(&id)
            .filter(|request| scope.sees_request(request.tenant.as_ref()))
            .cloned())
    }

    async fn replay_requests(
        &self,
        scope: &Scope,
        before: Option<ReplayRequestId>,
        limit: u32,
    ) -> Result<Vec<ReplayRequest>> {
        let state = self.state().await;
        let below = before.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        Ok(state
            .requests
            .range((std::ops::Bound::Unbounded, below))
            .rev()
            .map(|(_, request)| request)
            .filter(|request| scope.sees_request(request.tenant.as_ref()))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn cancel_replay_request(
        &self,
        scope: &Scope,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
    ) -> Result<Option<ReplayRequest>> {
        let mut guard = self.state().await;
        let state = &mut *guard;
        let Some(request) =
            state.requests.get_mut(&id).filter(|request| scope.sees_request(request.tenant.as_ref()))
        else {
            return Ok(None);
        };
        if request.cancelled_at.is_some() {
            return Ok(Some(request.clone()));
        }
        let mut cancelled = 0;
        for entry in state.entries.values_mut() {
            if scope.contains(&entry.tenant)
                && entry.replay_request == Some(id)
                && entry.replay_requested_at.is_some()
                && entry.status == Status::New
            {
                entry.replay_requested_at = None;
                entry.replay_request = None;
                entry.changed_by = by.cloned();
                entry.updated_at = at;
                entry.revision += 1;
                cancelled += 1;
            }
        }
        request.cancelled_at = Some(at);
        request.cancelled_by = by.cloned();
        request.cancelled = cancelled;
        let request = request.clone();
        release_fairly(guard);
        Ok(Some(request))
    }

    async fn oldest_due_replay(&self, scope: &Scope, now: Timestamp) -> Result<Option<Timestamp>> {
        let state = self.state().await;
        Ok(state
            .visible(scope)
            .filter(|entry| entry.status == Status::New)
            .filter_map(|entry| entry.replay_requested_at)
            .filter(|due| *due <= now)
            .min())
    }

    async fn claim_requested(
        &self,
        scope: &Scope,
        now: Timestamp,
        lease: ReplayLease,
        limit: u32,
    ) -> Result<Vec<DeadLetterEntry>> {
        let mut state = self.state().await;
        let mut candidates: Vec<(Timestamp, DeadLetterId)> = state
            .visible(scope)
            .filter(|entry| claimable(entry, now))
            .filter_map(|entry| Some((entry.replay_requested_at?, entry.id)))
            .collect();
        candidates.sort_unstable();
        candidates.truncate(limit as usize);
        let mut claimed = Vec::with_capacity(candidates.len());
        for (_, id) in candidates {
            let entry = state.entries.get_mut(&id).expect("candidate exists under the same lock");
            let before = Indexed::of(entry);
            entry.status = Status::Replaying;
            entry.lease = Some(lease);
            entry.updated_at = now;
            entry.revision += 1;
            claimed.push(entry.clone());
            let after = Indexed::of(entry);
            let tenant = entry.tenant.clone();
            state.track(&tenant, Some(before), Some(after));
        }
        release_fairly(state);
        Ok(claimed)
    }

    async fn purge(&self, scope: &Scope, resolved_before: Timestamp, limit: u32) -> Result<u64> {
        let mut state = self.state().await;
        let doomed: Vec<DeadLetterId> = state
            .terminal
            .iter()
            .take_while(|(resolved_at, _)| *resolved_at < resolved_before)
            .map(|(_, id)| *id)
            .filter(|id| state.entries.get(id).is_some_and(|entry| scope.contains(&entry.tenant)))
            .take(limit as usize)
            .collect();
        for id in &doomed {
            let Some(entry) = state.entries.remove(id) else { continue };
            state.track(&entry.tenant, Some(Indexed::of(&entry)), None);
            if let Some(message_id) = entry.message_id {
                state.keys.remove(&(entry.tenant, message_id));
            }
        }
        release_fairly(state);
        Ok(doomed.len() as u64)
    }
}
