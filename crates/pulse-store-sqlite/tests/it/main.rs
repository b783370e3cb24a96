//! Integration tests of the SQLite store, on real database files in temporary directories:
//! the whole conformance suite, then what only this backend has (files, migrations, pragmas,
//! crash safety).

mod common;
// Kills a child process with SIGKILL.
#[cfg(unix)]
mod crash;
mod migrations;
mod open_errors;
mod release_fixture;
mod storage;
mod wal;

use common::SqliteFactory;

pulse_conformance::conformance_tests!(SqliteFactory::new());
