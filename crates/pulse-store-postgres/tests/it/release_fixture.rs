//! A schema written by an earlier release (`tests/fixtures/<release>/postgres.sql`, a `pg_dump`
//! made by `tests/fixtures/generate.rs`) opens with this release's code, reads back whole, and
//! takes writes.

use std::sync::Arc;

use pulse_extensibility::DeadLetters;

use crate::common::{Schema, connect, execute};

#[path = "../../../../tests/fixtures/check.rs"]
mod check;

/// The schema the fixture was dumped from.
const DUMPED_SCHEMA: &str = "pulse_release_fixture";

#[tokio::test]
async fn a_schema_of_release_0_1_0_opens_reads_back_whole_and_takes_writes() {
    let fixture = check::fixture("0.1.0");
    // The dump under a schema of this test's own; psql's meta-commands left out.
    let schema = Schema::new("release");
    let dump = std::fs::read_to_string(fixture.join("postgres.sql")).unwrap();
    let sql: Vec<&str> = dump.lines().filter(|line| !line.starts_with('\\')).collect();
    let mut connection = connect().await;
    execute(&mut connection, &sql.join("\n").replace(DUMPED_SCHEMA, &schema.name)).await;
    let dead_letters = DeadLetters::new(Arc::new(schema.open().await));
    check::reads_back_whole_and_takes_writes(&dead_letters, &fixture.join("postgres.json")).await;
}
