//! The SQLite Pulse dead-letter store: the embedded, durable default backend.
//!
//! One database file in WAL mode. Writes run on a dedicated writer thread in `BEGIN IMMEDIATE`
//! transactions, reads on a small pool of reader connections, so no database work blocks the
//! async runtime. The schema is created and upgraded by checksummed migrations; the file stays
//! readable with the stock `sqlite3` shell. `docs/sqlite.md` describes the settings, the
//! durability guarantees and the schema.
//!
//! ```no_run
//! use std::sync::Arc;
//! use pulse_extensibility::DeadLetters;
//! use pulse_store_sqlite::{SqliteConfig, SqliteStore, Synchronous};
//!
//! # async fn run() -> pulse_extensibility::Result<()> {
//! let store = SqliteStore::open(SqliteConfig::new("dead-letters.db").synchronous(Synchronous::Full)).await?;
//! let dead_letters = DeadLetters::new(Arc::new(store));
//! # Ok(()) }
//! ```

#[doc(hidden)]
pub mod bench;
mod checkpoint;
mod config;
mod connection;
mod error;
mod migrate;
mod pool;
mod row;
mod sql;
mod store;

pub use config::{SqliteConfig, Synchronous};
pub use store::SqliteStore;
