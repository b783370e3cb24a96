//! `pulse-soak-worker`: one process of the replay soak in `e2e/soak.rs`.
//!
//! Runs two replay workers against the store named on the command line until its standard input
//! closes, then prints its tally. Every handler run is written to the runs file as
//! `entry<TAB>replay<TAB>start<TAB>end<TAB>outcome`, instants in microseconds of the system
//! clock, so the test can check that no two runs of one entry overlapped, across processes.
//!
//! Usage: `pulse-soak-worker sqlite <file> <runs-file>` or
//! `pulse-soak-worker postgres <url> <schema> <runs-file>`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pulse::{
    Clock, CommandRegistry, DeadLetterBackend, DeadLetters, HandlerError, Pulse, ReplayWorker, SqlIdentifier,
    SystemClock, WorkerOptions, WorkerTally, current_replay,
};
use pulse_e2e::soak::{LEASE, LEASE_MARGIN, SLOW_EVERY, SoakCommand};
use pulse_store_postgres::{PostgresConfig, PostgresStore};
use pulse_store_sqlite::{SqliteConfig, SqliteStore};

/// One handler run, written when it ends: completed, or stopped (dropped) at its deadline.
struct Run {
    log: Arc<Mutex<File>>,
    line: String,
    start: i64,
    outcome: &'static str,
}

impl Drop for Run {
    fn drop(&mut self) {
        let end = SystemClock.now().as_micros();
        let line = format!("{}\t{}\t{end}\t{}\n", self.line, self.start, self.outcome);
        self.log.lock().unwrap().write_all(line.as_bytes()).expect("write the runs file");
    }
}

fn registry(log: Arc<Mutex<File>>) -> CommandRegistry {
    let mut registry = CommandRegistry::new();
    registry.register(move |command: SoakCommand| {
        let log = log.clone();
        async move {
            let replay = current_replay().expect("soak commands only run as replays");
            let mut run = Run {
                log,
                line: format!("{}\t{}", replay.entry_id, replay.replay_id),
                start: SystemClock.now().as_micros(),
                outcome: "stopped",
            };
            // Some first replays outlive the lease: they must be stopped before it runs out.
            let slow = command.n.is_multiple_of(SLOW_EVERY) && replay.attempt == 2;
            tokio::time::sleep(if slow { LEASE * 2 } else { Duration::from_millis(2) }).await;
            run.outcome = "completed";
            Ok::<(), HandlerError>(())
        }
    });
    registry
}

async fn open(args: &[String]) -> (Arc<dyn DeadLetterBackend>, &str) {
    match args {
        [kind, file, runs] if kind == "sqlite" => {
            (Arc::new(SqliteStore::open(SqliteConfig::new(file)).await.expect("open SQLite")), runs)
        }
        [kind, url, schema, runs] if kind == "postgres" => {
            let schema = SqlIdentifier::new(schema.as_str()).expect("a valid schema");
            let config = PostgresConfig::from_url(url.as_str()).schema(schema).max_connections(4);
            // The soak terminates connections from the start, opening's included: try again.
            let mut attempts = 0;
            let store = loop {
                match PostgresStore::open(config.clone()).await {
                    Ok(store) => break store,
                    Err(error) if error.is_retryable() && attempts < 100 => attempts += 1,
                    Err(error) => panic!("open PostgreSQL: {error}"),
                }
            };
            (Arc::new(store), runs)
        }
        _ => panic!("usage: pulse-soak-worker sqlite <file> <runs> | postgres <url> <schema> <runs>"),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (backend, runs) = open(&args).await;
    let log = OpenOptions::new().create(true).append(true).open(runs).expect("open the runs file");
    let dead_letters = DeadLetters::new(backend)
        .with_options(pulse::DeadLettersOptions::default().lease_duration(LEASE).lease_margin(LEASE_MARGIN));
    let pulse = Pulse::new(dead_letters, registry(Arc::new(Mutex::new(log))));
    let options = WorkerOptions::default().concurrency(4).poll_interval(Duration::from_millis(20));
    let workers: Vec<_> = (0..2).map(|_| ReplayWorker::new(pulse.clone(), options.clone()).spawn()).collect();

    // The test closes standard input to stop this process.
    let (closed, stdin_closed) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = closed.send(());
    });
    let _ = stdin_closed.await;

    let mut tally = WorkerTally::default();
    for worker in workers {
        let done = worker.shutdown().await.expect("a worker stops cleanly");
        tally.replayed += done.replayed;
        tally.failed += done.failed;
        tally.lost += done.lost;
        tally.unrecorded += done.unrecorded;
    }
    println!("{} {} {} {}", tally.replayed, tally.failed, tally.lost, tally.unrecorded);
}
