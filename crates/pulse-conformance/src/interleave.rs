//! A backend that lets a rival's write land between a transition's read and its swap, so a case
//! can make a compare-and-swap lose on purpose, on any backend, every time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use pulse_extensibility::{
    Actor, Capabilities, DeadLetterBackend, DeadLetterEntry, DeadLetterId, EntryFilter, EntryQuery,
    ErrorGroup, ReplayLease, ReplayRequest, ReplayRequestId, Result, Scope, Statistics, StoreReceipt,
    TimeBuckets, Timestamp,
};

/// The rival's write: run once, just before the first swap reaches the backend.
type Rival = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Delegates every call to `inner`, except that the first `swap` first awaits the rival.
pub(crate) struct Interleaved {
    inner: Arc<dyn DeadLetterBackend>,
    rival: Mutex<Option<Rival>>,
}

impl Interleaved {
    pub(crate) fn new(
        inner: Arc<dyn DeadLetterBackend>,
        rival: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self { inner, rival: Mutex::new(Some(Box::pin(rival))) }
    }
}

impl fmt::Debug for Interleaved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interleaved").field("inner", &self.inner).finish_non_exhaustive()
    }
}

#[async_trait]
impl DeadLetterBackend for Interleaved {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn insert(&self, entries: Vec<DeadLetterEntry>) -> Result<Vec<StoreReceipt>> {
        self.inner.insert(entries).await
    }

    async fn get(&self, scope: &Scope, id: DeadLetterId) -> Result<Option<DeadLetterEntry>> {
        self.inner.get(scope, id).await
    }

    async fn swap(&self, entry: &DeadLetterEntry) -> Result<bool> {
        let rival = self.rival.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(rival) = rival {
            rival.await;
        }
        self.inner.swap(entry).await
    }

    async fn query(&self, query: &EntryQuery) -> Result<Vec<DeadLetterEntry>> {
        self.inner.query(query).await
    }

    async fn statistics(&self, scope: &Scope) -> Result<Statistics> {
        self.inner.statistics(scope).await
    }

    async fn error_groups(&self, scope: &Scope, limit: u32) -> Result<Vec<ErrorGroup>> {
        self.inner.error_groups(scope, limit).await
    }

    async fn count(&self, scope: &Scope, filter: &EntryFilter) -> Result<Statistics> {
        self.inner.count(scope, filter).await
    }

    async fn histogram(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        buckets: &TimeBuckets,
    ) -> Result<Vec<u64>> {
        self.inner.histogram(scope, filter, buckets).await
    }

    async fn request_replay(
        &self,
        scope: &Scope,
        filter: &EntryFilter,
        request: &ReplayRequest,
    ) -> Result<u64> {
        self.inner.request_replay(scope, filter, request).await
    }

    async fn replay_request(&self, scope: &Scope, id: ReplayRequestId) -> Result<Option<ReplayRequest>> {
        self.inner.replay_request(scope, id).await
    }

    async fn replay_requests(
        &self,
        scope: &Scope,
        before: Option<ReplayRequestId>,
        limit: u32,
    ) -> Result<Vec<ReplayRequest>> {
        self.inner.replay_requests(scope, before, limit).await
    }

    async fn cancel_replay_request(
        &self,
        scope: &Scope,
        id: ReplayRequestId,
        at: Timestamp,
        by: Option<&Actor>,
    ) -> Result<Option<ReplayRequest>> {
        self.inner.cancel_replay_request(scope, id, at, by).await
    }

    async fn oldest_due_replay(&self, scope: &Scope, now: Timestamp) -> Result<Option<Timestamp>> {
        self.inner.oldest_due_replay(scope, now).await
    }

    async fn claim_requested(
        &self,
        scope: &Scope,
        now: Timestamp,
        lease: ReplayLease,
        limit: u32,
    ) -> Result<Vec<DeadLetterEntry>> {
        self.inner.claim_requested(scope, now, lease, limit).await
    }

    async fn purge(&self, scope: &Scope, resolved_before: Timestamp, limit: u32) -> Result<u64> {
        self.inner.purge(scope, resolved_before, limit).await
    }
}
