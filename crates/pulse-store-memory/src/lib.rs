//! An in-memory Pulse dead-letter store: complete, thread-safe, and held to the same conformance
//! suite as the durable stores, so service developers can use it in their own tests.
//!
//! ```
//! use std::sync::Arc;
//! use pulse_extensibility::DeadLetters;
//! use pulse_store_memory::MemoryStore;
//!
//! let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
//! ```

mod store;

pub use store::MemoryStore;
