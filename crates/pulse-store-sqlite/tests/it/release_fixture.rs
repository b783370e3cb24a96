//! A database written by an earlier release (`tests/fixtures/<release>/pulse.db`, made by
//! `tests/fixtures/generate.rs`) opens with this release's code, reads back whole, and takes
//! writes.

use std::sync::Arc;

use pulse_extensibility::DeadLetters;

use crate::common::{database, open};

#[path = "../../../../tests/fixtures/check.rs"]
mod check;

#[tokio::test]
async fn a_database_of_release_0_1_0_opens_reads_back_whole_and_takes_writes() {
    let fixture = check::fixture("0.1.0");
    let (_dir, path) = database();
    std::fs::copy(fixture.join("pulse.db"), &path).unwrap();
    let dead_letters = DeadLetters::new(Arc::new(open(&path).await));
    check::reads_back_whole_and_takes_writes(&dead_letters, &fixture.join("sqlite.json")).await;
}
