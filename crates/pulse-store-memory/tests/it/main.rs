//! The memory store against the whole conformance suite, its cooperative yielding
//! (`cooperative`), and the trait's default `histogram`
//! (`default_histogram`) against it too.

mod cooperative;
mod default_histogram;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pulse_conformance::{BackendFactory, conformance_tests};
use pulse_extensibility::DeadLetterBackend;
use pulse_store_memory::MemoryStore;

/// Opens memory stores; opening a name again hands out the same entries, as a second handle in
/// the same process would see them.
#[derive(Default)]
struct MemoryFactory {
    stores: Mutex<HashMap<String, MemoryStore>>,
}

#[async_trait]
impl BackendFactory for MemoryFactory {
    async fn open(&self, name: &str) -> Arc<dyn DeadLetterBackend> {
        let mut stores = self.stores.lock().unwrap();
        Arc::new(stores.entry(name.to_owned()).or_default().clone())
    }
}

conformance_tests!(MemoryFactory::default(), durable = false);
