//! The replay soak: 4 workers in 2 processes (`pulse-soak-worker`) replay 1,000 requested
//! entries with a 1-second lease that some handlers outlive, on SQLite and on PostgreSQL with
//! connections terminated in a loop. Afterwards: no two runs of one entry overlapped, every entry
//! is resolved once and none is lost, and a handler ran again only where a worker could not
//! record a replay's end.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use pulse::{
    CommandDeadLetterStatus as Status, DeadLetterBackend, DeadLetters, EntryFilter, Failure, ListQuery,
    NewDeadLetter, Resolution, SqlIdentifier, Statistics, Uuid,
};
use pulse_e2e::soak::SLOW_EVERY;
use pulse_store_postgres::{PostgresConfig, PostgresStore};
use pulse_store_sqlite::{SqliteConfig, SqliteStore};
use sqlx::{Connection, PgConnection};

use crate::env::database_url;

const ENTRIES: u64 = 1_000;

/// How long the soak may take before it is a failure.
const DEADLINE: Duration = Duration::from_secs(180);

/// The application name of the workers' connections, the ones the fault loop terminates.
const WORKER_APPLICATION: &str = "pulse-soak";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pulse.db");
    let store = SqliteStore::open(SqliteConfig::new(&file)).await.unwrap();
    let args =
        |runs: &Path| vec!["sqlite".to_owned(), file.display().to_string(), runs.display().to_string()];
    let outcome = soak(Arc::new(store), dir.path(), args, None).await;
    // Without faults every end is recorded: each entry ran to completion exactly once, and each
    // slow first run was stopped exactly once.
    assert_eq!(outcome.tally, [ENTRIES, ENTRIES / SLOW_EVERY, 0, 0]);
    assert_eq!(outcome.stopped, ENTRIES / SLOW_EVERY);
    assert!(outcome.completions.values().all(|count| *count == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_on_postgres_with_connections_terminated() {
    let schema = format!("pulse_soak_{}", Uuid::new_v4().simple());
    let config = PostgresConfig::from_url(database_url()).schema(SqlIdentifier::new(schema.clone()).unwrap());
    let store = PostgresStore::open(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = database_url();
    let worker_url =
        format!("{url}{}application_name={WORKER_APPLICATION}", if url.contains('?') { '&' } else { '?' });
    let args = |runs: &Path| {
        vec!["postgres".to_owned(), worker_url.clone(), schema.clone(), runs.display().to_string()]
    };
    let terminated = Arc::new(AtomicU64::new(0));
    let outcome = soak(Arc::new(store), dir.path(), args, Some(terminated.clone())).await;
    let terminated = terminated.load(Ordering::SeqCst);
    eprintln!("soak: {terminated} connections terminated");
    assert!(terminated > 0, "the fault loop terminated no connection");
    assert!(outcome.stopped >= ENTRIES / SLOW_EVERY);
    let mut connection = PgConnection::connect(&database_url()).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
        .execute(&mut connection)
        .await
        .unwrap();
}

/// What the soak saw, after its own checks passed.
struct Outcome {
    /// The workers' tallies summed: replayed, failed, lost, unrecorded.
    tally: [u64; 4],
    /// Handler runs stopped at their deadline.
    stopped: u64,
    /// Completed handler runs per entry.
    completions: HashMap<String, u64>,
}

async fn soak(
    backend: Arc<dyn DeadLetterBackend>,
    dir: &Path,
    args: impl Fn(&Path) -> Vec<String>,
    faults: Option<Arc<AtomicU64>>,
) -> Outcome {
    let dead_letters = DeadLetters::new(backend);
    let inputs: Vec<NewDeadLetter> = (0..ENTRIES)
        .map(|n| {
            NewDeadLetter::new("soak.run", format!(r#"{{"n":{n}}}"#), Failure::new("Timeout", "timed out"))
        })
        .collect();
    for chunk in inputs.chunks(500) {
        dead_letters.store_many(chunk.to_vec()).await.unwrap();
    }
    assert_eq!(dead_letters.request_replay_matching(EntryFilter::default()).await.unwrap(), ENTRIES);

    let runs: Vec<PathBuf> = (0..2).map(|i| dir.join(format!("runs-{i}.tsv"))).collect();
    let mut workers: Vec<Child> = runs
        .iter()
        .map(|runs| {
            Command::new(env!("CARGO_BIN_EXE_pulse-soak-worker"))
                .args(args(runs))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("start a soak worker")
        })
        .collect();
    let stop_faults = Arc::new(AtomicBool::new(false));
    let fault_loop =
        faults.map(|terminated| tokio::spawn(terminate_connections(terminated, stop_faults.clone())));

    wait_until_all_resolved(&dead_letters).await;
    stop_faults.store(true, Ordering::SeqCst);
    if let Some(fault_loop) = fault_loop {
        fault_loop.await.unwrap();
    }
    let mut tally = [0; 4];
    for worker in &mut workers {
        drop(worker.stdin.take());
    }
    for worker in workers {
        let output = worker.wait_with_output().unwrap();
        assert!(output.status.success(), "a soak worker failed: {:?}", output.status);
        let counts: Vec<u64> = String::from_utf8(output.stdout)
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        for (total, count) in tally.iter_mut().zip(counts) {
            *total += count;
        }
    }
    let outcome = check_runs(&runs, tally);
    check_entries(&dead_letters).await;
    let repeated: u64 = outcome.completions.values().map(|count| count - 1).sum();
    eprintln!(
        "soak: tally (replayed, failed, lost, unrecorded) {:?}, {} runs stopped at their deadline, {repeated} repeated completions",
        outcome.tally, outcome.stopped
    );
    outcome
}

/// Requests every New entry again (the ones whose slow run was stopped) until all are resolved.
async fn wait_until_all_resolved(dead_letters: &DeadLetters) {
    let started = std::time::Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    loop {
        ticks.tick().await;
        let stats = dead_letters.statistics().await.unwrap();
        if stats.resolved == ENTRIES {
            return;
        }
        assert!(started.elapsed() < DEADLINE, "the soak did not finish in {DEADLINE:?}: {stats:?}");
        let new = EntryFilter::default().statuses([Status::New]);
        dead_letters.request_replay_matching(new).await.unwrap();
    }
}

/// Terminates the workers' connections every 100 ms until told to stop.
async fn terminate_connections(terminated: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let mut connection = PgConnection::connect(&database_url()).await.unwrap();
    let mut ticks = tokio::time::interval(Duration::from_millis(100));
    while !stop.load(Ordering::SeqCst) {
        ticks.tick().await;
        let killed: Vec<(bool,)> = sqlx::query_as(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()",
        )
        .bind(WORKER_APPLICATION)
        .fetch_all(&mut connection)
        .await
        .unwrap();
        terminated.fetch_add(killed.len() as u64, Ordering::SeqCst);
    }
}

/// No two runs of one entry overlap; a run completed more than once only where a replay's end
/// could not be recorded (or was lost to an expired lease).
fn check_runs(runs: &[PathBuf], tally: [u64; 4]) -> Outcome {
    let mut by_entry: HashMap<String, Vec<(i64, i64, String)>> = HashMap::new();
    for path in runs {
        for line in std::fs::read_to_string(path).unwrap().lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            let [entry, _replay, start, end, outcome] = fields[..] else { panic!("a malformed run: {line}") };
            by_entry.entry(entry.to_owned()).or_default().push((
                start.parse().unwrap(),
                end.parse().unwrap(),
                outcome.to_owned(),
            ));
        }
    }
    assert_eq!(by_entry.len() as u64, ENTRIES, "every entry ran");
    let (mut stopped, mut completions) = (0, HashMap::new());
    for (entry, entry_runs) in &mut by_entry {
        entry_runs.sort();
        for pair in entry_runs.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "two runs of {entry} overlapped: {pair:?}");
        }
        stopped += entry_runs.iter().filter(|run| run.2 == "stopped").count() as u64;
        let completed = entry_runs.iter().filter(|run| run.2 == "completed").count() as u64;
        assert!(completed >= 1, "{entry} never completed: {entry_runs:?}");
        completions.insert(entry.clone(), completed);
    }
    let repeated: u64 = completions.values().map(|count| count - 1).sum();
    let [_, _, lost, unrecorded] = tally;
    assert!(repeated <= lost + unrecorded, "{repeated} repeated completions, tally {tally:?}");
    Outcome { tally, stopped, completions }
}

/// Every entry is there once, Resolved by a replay.
async fn check_entries(dead_letters: &DeadLetters) {
    let stats = dead_letters.statistics().await.unwrap();
    assert_eq!(stats, Statistics { resolved: ENTRIES, total: ENTRIES, ..Statistics::default() });
    let mut query = ListQuery::default().limit(1000);
    let mut seen = 0;
    loop {
        let page = dead_letters.list(query.clone()).await.unwrap();
        for entry in &page.entries {
            assert_eq!(
                (entry.status, entry.resolution, entry.lease),
                (Status::Resolved, Some(Resolution::Replayed), None)
            );
            seen += 1;
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen, ENTRIES);
}
