//! Crash safety: a writer process killed with SIGKILL at random moments loses no entry whose
//! store returned `Ok`, and leaves a database that passes `PRAGMA integrity_check`.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use pulse_extensibility::{DeadLetterBackend, Scope};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::{database, open, raw};

const KILLS: usize = 25;

/// The ids `reader` yields, one per complete line, until `limit` of them or the end.
fn read_ids(reader: &mut impl BufRead, limit: usize, into: &mut Vec<String>) {
    let mut line = String::new();
    for _ in 0..limit {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return,
            Ok(_) if line.ends_with('\n') => into.push(line.trim_end().to_owned()),
            // A line cut short by the kill was never acknowledged.
            Ok(_) => return,
            Err(error) => panic!("reading the writer's output: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_writers_lose_no_acknowledged_entry() {
    let seed = std::env::var("PULSE_CRASH_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| rand::rng().random::<u64>());
    eprintln!("crash test seed: {seed} (PULSE_CRASH_SEED={seed} repeats this run)");
    let mut rng = StdRng::seed_from_u64(seed);
    let (_dir, path) = database();
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..KILLS {
        // Mostly mid-stream; sometimes right after the start, while the store is still opening.
        let wait_for = if round > 0 && rng.random_ratio(1, 6) { 0 } else { rng.random_range(1..=60) };
        let mut child = Command::new(env!("CARGO_BIN_EXE_pulse-sqlite-crash-writer"))
            .arg(&path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the writer");
        let mut stdout = BufReader::new(child.stdout.take().expect("the writer's stdout"));
        let before = acknowledged.len();
        read_ids(&mut stdout, wait_for, &mut acknowledged);
        child.kill().expect("kill the writer");
        let status = child.wait().expect("reap the writer");
        read_ids(&mut stdout, usize::MAX, &mut acknowledged);
        let mut stderr = String::new();
        child.stderr.take().expect("the writer's stderr").read_to_string(&mut stderr).unwrap();
        assert_eq!(
            (status.signal(), stderr.as_str()),
            (Some(9), ""),
            "round {round}: the writer must die by SIGKILL only (seed {seed})"
        );
        assert!(round == 0 || wait_for == 0 || acknowledged.len() - before >= wait_for);

        let conn = raw(&path);
        let integrity: Vec<String> = conn
            .prepare("PRAGMA integrity_check")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(integrity, ["ok"], "round {round} (seed {seed})");
        let stored: HashSet<String> = conn
            .prepare(r#"SELECT Id FROM "CommandDeadLetter""#)
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
        assert_eq!(lost, Vec::<&String>::new(), "round {round} lost acknowledged entries (seed {seed})");
    }
    assert!(acknowledged.len() >= KILLS, "the writers acknowledged only {} entries", acknowledged.len());

    // The store opens the file the crashes left and reads every acknowledged entry.
    let store = open(&path).await;
    let total = store.statistics(&Scope::AllTenants).await.unwrap().total;
    assert!(total >= u64::try_from(acknowledged.len()).unwrap());
    eprintln!(
        "crash test: {KILLS} kills, {} entries acknowledged, {total} stored ({} committed but not yet \
         acknowledged when their writer died)",
        acknowledged.len(),
        total - u64::try_from(acknowledged.len()).unwrap()
    );
    for id in &acknowledged {
        let entry = store.get(&Scope::AllTenants, id.parse().unwrap()).await.unwrap();
        assert_eq!(entry.map(|entry| entry.id.to_string()).as_ref(), Some(id));
    }
}
