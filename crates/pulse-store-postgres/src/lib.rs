//! A Postgres Pulse dead-letter store on sqlx: durable, shared by every instance of a service,
//! held to the same conformance suite as every other backend.
//!
//! ```no_run
//! use std::sync::Arc;
//! use pulse_extensibility::DeadLetters;
//! use pulse_store_postgres::{PostgresConfig, PostgresStore};
//!
//! # async fn example() -> pulse_extensibility::Result<()> {
//! let store = PostgresStore::open(PostgresConfig::from_url("postgres://app@db/orders")).await?;
//! let dead_letters = DeadLetters::new(Arc::new(store));
//! # Ok(())
//! # }
//! ```
//!
//! Opening the store applies Pulse's migrations (in the configured schema, `pulse` by default)
//! once, also when many instances start together. `docs/postgres.md` describes the schema, pool
//! sizing, TLS and how statistics stay fast.

#[doc(hidden)]
pub mod bench;
mod config;
mod database_url;
mod error;
mod liveness;
mod migrate;
mod row;
mod sql;
mod store;
mod tls;

pub use config::PostgresConfig;
pub use store::PostgresStore;
pub use tls::PostgresSslMode;
