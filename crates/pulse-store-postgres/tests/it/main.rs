//! The Postgres store against a real server: the whole conformance suite (each case in its own
//! schema), then what only a server shows: migrations racing, connections dying, a crowded pool,
//! the counter table behind statistics; and TLS, against a server of its own.
//!
//! The server comes from `PULSE_TEST_DATABASE_URL`; `cargo xtask test` starts a throwaway one.
//! The TLS tests start their own from the installed PostgreSQL binaries.

mod common;
mod faults;
mod migrations;
mod release_fixture;
mod statistics;
mod store;
mod tls;

use common::PostgresFactory;

pulse_conformance::conformance_tests!(PostgresFactory::new());
