//! A schema written by an earlier release (`tests/fixtures/<release>/postgres.sql`, a `pg_dump` made
//! by `tests/fixtures/generate.rs`) opens with this release's code, reads back whole, and takes
//! writes.

use std::path::Path;
use std::sync::Arc;

use pulse_extensibility::{
    CommandDeadLetterStatus, DeadLetterEntry, DeadLetters, EntryFilter, Failure, ListQuery, NewDeadLetter,
    ReplayRequest, SortOrder,
};
use serde::Deserialize;

use crate::common::{Schema, connect, execute};

/// The schema the fixture was dumped from.
const DUMPED_SCHEMA: &str = "pulse_release_fixture";

/// What the fixture holds, as the release that wrote it read it back.
#[derive(Debug, Deserialize)]
struct Expected {
    entries: Vec<DeadLetterEntry>,
    requests: Vec<ReplayRequest>,
}

#[tokio::test]
async fn a_schema_of_release_0_1_0_opens_reads_back_whole_and_takes_writes() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/0.1.0");
    let expected: Expected =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("postgres.json")).unwrap()).unwrap();
    // The dump under a schema of this test's own; psql's meta-commands left out.
    let schema = Schema::new("release");
    let dump = std::fs::read_to_string(fixture.join("postgres.sql")).unwrap();
    let sql: Vec<&str> = dump.lines().filter(|line| !line.starts_with('\\')).collect();
    let mut connection = connect().await;
    execute(&mut connection, &sql.join("\n").replace(DUMPED_SCHEMA, &schema.name)).await;

    let dead_letters = DeadLetters::new(Arc::new(schema.open().await));
    let query =
        ListQuery { filter: EntryFilter::default(), order: SortOrder::OldestFirst, limit: 100, cursor: None };
    assert_eq!(dead_letters.list(query.clone()).await.unwrap().entries, expected.entries);
    assert_eq!(dead_letters.replay_requests(None, 100).await.unwrap(), expected.requests);

    let new = expected
        .entries
        .iter()
        .find(|entry| entry.status == CommandDeadLetterStatus::New && entry.replay_request.is_none());
    let dismissed = dead_letters
        .dismiss(new.expect("a New entry").id, Some("after the upgrade".to_owned()))
        .await
        .unwrap();
    assert_eq!(dismissed.status, CommandDeadLetterStatus::Dismissed);
    let input = NewDeadLetter::new("orders.create", "{}", Failure::new("TimeoutError", "order 7 timed out"));
    dead_letters.store(input).await.unwrap();
    assert_eq!(dead_letters.list(query).await.unwrap().entries.len(), expected.entries.len() + 1);
}
