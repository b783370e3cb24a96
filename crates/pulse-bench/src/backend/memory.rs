//! The memory baseline: the same entries in a plain `Mutex<HashMap>`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use pulse_extensibility::{DeadLetterEntry, DeadLetterId};

use crate::entries::{Template, now};

pub(crate) struct Raw {
    template: Arc<Template>,
    entries: Mutex<HashMap<DeadLetterId, DeadLetterEntry>>,
}

impl Raw {
    pub(crate) fn new(template: Arc<Template>) -> Self {
        Self { template, entries: Mutex::new(HashMap::new()) }
    }

    /// Builds `n` entries failed now and inserts them under one lock.
    pub(crate) fn insert(&self, n: usize) {
        let at = now();
        let batch: Vec<DeadLetterEntry> = (0..n).map(|_| self.template.entry_at(at)).collect();
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        for entry in batch {
            entries.insert(entry.id, entry);
        }
    }
}
