//! The incident walkthrough of `docs/operations.md`, run as written: its commands, in order, on
//! a store holding the incident's 5,000 failures, while a service's replay worker runs beside
//! them, on a SQLite file and on PostgreSQL.

use std::time::Duration;

use pulse::{
    CommandDeadLetterStatus, CommandRegistry, Failure, NewDeadLetter, Pulse, ReplayWorker, Statistics,
    WorkerOptions,
};

use crate::fixture::{Fixture, Run};

const GUIDE: &str = include_str!("../../../../docs/operations.md");

/// The commands of the walkthrough's `sh` block, each split into its words (double quotes group
/// words, as a shell does).
fn walkthrough() -> Vec<Vec<String>> {
    let start = GUIDE.find("<!-- incident-walkthrough").expect("the guide marks its walkthrough");
    let block = &GUIDE[start..];
    let block = &block[block.find("```sh\n").expect("a sh block follows the marker") + 6..];
    let block = &block[..block.find("```").expect("the block ends")];
    block.lines().map(words).collect()
}

fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => words.extend((!word.is_empty()).then(|| std::mem::take(&mut word))),
            c => word.push(c),
        }
    }
    assert!(!quoted, "unbalanced quotes in {line:?}");
    words.extend((!word.is_empty()).then_some(word));
    words
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct ChargeCard {
    n: u64,
}

impl pulse::Command for ChargeCard {
    const NAME: &'static str = "billing.charge";
}

/// 4,700 shipments the carrier refuses and 300 payments that timed out.
async fn the_incident(fixture: &Fixture) {
    let dead_letters = fixture.dead_letters().await;
    let shipment = || {
        NewDeadLetter::new(
            "orders.ship",
            r#"{"order":1}"#,
            Failure::new("CarrierError", "carrier answered 410 Gone"),
        )
    };
    for _ in 0..47 {
        dead_letters.store_many((0..100).map(|_| shipment()).collect()).await.unwrap();
    }
    let charges = (0..300)
        .map(|n| {
            NewDeadLetter::new(
                "billing.charge",
                format!(r#"{{"n":{n}}}"#),
                Failure::new("GatewayTimeout", "gateway timed out after 30s"),
            )
        })
        .collect();
    dead_letters.store_many(charges).await.unwrap();
}

async fn runs_as_written(fixture: &Fixture) {
    the_incident(fixture).await;
    // The service: a worker with the payment handler, polling for requested replays.
    let mut registry = CommandRegistry::new();
    registry.register(|_: ChargeCard| async { Ok::<(), pulse::HandlerError>(()) });
    let service = Pulse::new(fixture.dead_letters().await, registry);
    let worker = ReplayWorker::new(
        service,
        WorkerOptions::default().concurrency(8).poll_interval(Duration::from_millis(20)),
    )
    .spawn();

    let mut runs: Vec<(Vec<String>, Run)> = Vec::new();
    for command in walkthrough() {
        assert_eq!(command[0], "pulse", "{command:?}");
        let args: Vec<&str> = command[1..].iter().map(String::as_str).collect();
        let run = tokio::task::block_in_place(|| fixture.run(&args));
        assert_eq!(run.code, 0, "{command:?}: {run:?}");
        runs.push((command, run));
    }
    let tally = worker.shutdown().await.unwrap();
    assert_eq!((tally.replayed, tally.failed), (300, 0));

    let stats = |run: &Run| run.stdout.clone();
    assert_eq!(
        stats(&runs[0].1),
        "STATUS     ENTRIES\nNew        5000\nReplaying  0\nResolved   0\nDismissed  0\nTotal      5000\n"
    );
    assert!(runs[3].1.stdout.starts_with("Would dismiss 4700 New entries.\n"), "{}", runs[3].1.stdout);
    assert!(runs[4].1.stdout.starts_with("Dismissed 4700 entries;"), "{}", runs[4].1.stdout);
    assert!(runs[5].1.stdout.starts_with("Would replay 300 New entries.\n"), "{}", runs[5].1.stdout);
    assert!(
        runs[6].1.stdout.contains(": 300 replayed, 0 failed, 0 cancelled, 0 otherwise settled.\n"),
        "{}",
        runs[6].1.stdout
    );
    assert_eq!(
        stats(&runs[8].1),
        "STATUS     ENTRIES\nNew        0\nReplaying  0\nResolved   300\nDismissed  4700\nTotal      5000\n"
    );
    let dead_letters = fixture.dead_letters().await;
    assert_eq!(
        dead_letters.statistics().await.unwrap(),
        Statistics { new: 0, replaying: 0, resolved: 300, dismissed: 4700, total: 5000 }
    );
    let request = dead_letters.replay_requests(None, 1).await.unwrap().remove(0);
    assert_eq!(
        (
            request.requested,
            request.per_second.map(std::num::NonZeroU32::get),
            request.requested_by.map(String::from)
        ),
        (300, Some(50), Some("ana".to_owned()))
    );
    let dismissed = pulse::EntryFilter::default().statuses([CommandDeadLetterStatus::Dismissed]);
    let dismissed = dead_letters.list(pulse::ListQuery::default().filter(dismissed).limit(1));
    let dismissed = dismissed.await.unwrap().entries.remove(0);
    assert_eq!(
        (dismissed.note.as_deref(), dismissed.changed_by.map(String::from)),
        (Some("orders cancelled by the customer: the carrier answers 410"), Some("ana".to_owned()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_sqlite_file() {
    let fixture = Fixture::sqlite().await;
    runs_as_written(&fixture).await;
    fixture.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    let fixture = Fixture::postgres().await;
    runs_as_written(&fixture).await;
    fixture.close().await;
}
