//! The whole suite over the memory store with `DeadLetterBackend::histogram` left to the trait's
//! default (one `count` per bucket): what a backend that does not override it gives.

use std::sync::Arc;

use async_trait::async_trait;
use pulse_conformance::{BackendFactory, conformance_tests};
use pulse_extensibility::{
    Actor, Capabilities, DeadLetterBackend, DeadLetterEntry, DeadLetterId, EntryFilter, EntryQuery,
    ErrorGroup, ReplayLease, ReplayRequest, ReplayRequestId, Result, Scope, Statistics, StoreReceipt,
    Timestamp,
};

use super::MemoryFactory;

/// A memory store that passes every method through but `histogram`.
#[derive(Debug)]
struct CountPerBucket(Arc<dyn DeadLetterBackend>);

#[async_trait]
impl DeadLetterBackend for CountPerBucket {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    async fn insert(&self, entries: Vec<DeadLetterEntry>) -> Result<Vec<StoreReceipt>> {
        self.0.insert(entries).await
    }

    async fn get(&self, scope: &Scope, id: DeadLetterId) -> Result<Option<DeadLetterEntry>> {
        self.0.get(scope, id).await
    }

    async fn swap(&self, entry: &DeadLetterEntry) -> Result<bool> {
        self.0.swap(entry).await
    }

    async fn query(&self, query: &EntryQuery) -> Result<Vec<DeadLetterEntry>> {
        self.0.query(query).await
    }

    async fn statistics(&self, scope: &Scope) -> Result<Statistics> {
        self.0.statistics(scope).await
    }

    async fn error_groups(&self, scope: &Scope, limit: u32) -> Result<Vec<ErrorGroup>> {
        self.0.error_groups(scope, limit).await
    }

    async fn count(&self, scope: &Scope, filter: &EntryFilter) -> Result<Statistics> {
        self.0.count(scope, filter).await
    }

    async fn request_replay(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        request: &ReplayRequest,
    ) -> Result<u64> {
        self.0.request_replay(scope, filter, request).await
    }

    async fn replay_request(&self, scope: &Scope, id: ReplayRequestId) -> Result<Option<ReplayRequest>> {
        self.0.replay_request(scope, id).await
    }

    async fn replay_requests(
        &self,
        scope: &Scope,
        before: Option<ReplayRequestId>,
        limit: u32,
    ) -> Result<Vec<ReplayRequest>> {
        self.0.replay_requests(scope, before, limit).await
    }

    async fn cancel_replay_request(
        &self,
        scope: &Scope,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
    ) -> Result<Option<ReplayRequest>> {
        self.0.cancel_replay_request(scope, id, at, by).await
    }

    async fn oldest_due_replay(&self, scope: &Scope, now: Timestamp) -> Result<Option<Timestamp>> {
        self.0.oldest_due_replay(scope, now).await
    }

    async fn claim_requested(
        &self,
        scope: &Scope,
        now: Timestamp,
        lease: ReplayLease,
        limit: u32,
    ) -> Result<Vec<DeadLetterEntry>> {
        self.0.claim_requested(scope, now, lease, limit).await
    }

    async fn purge(&self, scope: &Scope, resolved_before: Timestamp, limit: u32) -> Result<u64> {
        self.0.purge(scope, resolved_before, limit).await
    }
}

/// Opens memory stores, as [`MemoryFactory`] does, behind [`CountPerBucket`].
#[derive(Default)]
struct CountPerBucketFactory(MemoryFactory);

#[async_trait]
impl BackendFactory for CountPerBucketFactory {
    async fn open(&self, name: &str) -> Arc<dyn DeadLetterBackend> {
        Arc::new(CountPerBucket(self.0.open(name).await))
    }
}

conformance_tests!(CountPerBucketFactory::default(), durable = false);
