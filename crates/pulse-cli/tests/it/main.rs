//! The `pulse` binary run as a process, as an operator or a script runs it, against a SQLite file
//! and a PostgreSQL database (the server named by `PULSE_TEST_DATABASE_URL`; `cargo xtask test`
//! starts one).

mod commands;
mod fixture;
mod serve;
mod walkthrough;
