//! The write-ahead log stays bounded under a sustained stream of writes: the store's
//! checkpoints, which run beside the writer, must not fall so far behind that the log grows
//! with every commit.

use std::path::Path;
use std::sync::Arc;

use crate::common::{command, database, dead_letters, open};

/// The most the `-wal` file may hold at any moment: the store starts it over past 32 MiB, so it stays well under 64 MiB.
const WAL_LIMIT_BYTES: u64 = 64 * 1024 * 1024;

fn wal_size(db: &Path) -> u64 {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(wal).map(|meta| meta.len()).unwrap_or(0)
}

/// Eight tasks store 9,600 entries one at a time, each commit adding about 30 KB to the log
/// (about 290 MB in all, more than four times the limit), and the `-wal` file is measured
/// after every 100 stores of each task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_under_its_limit_while_writes_never_stop() {
    let (_dir, path) = database();
    let (letters, _clock) = dead_letters(open(&path).await);
    let path = Arc::new(path);
    let tasks: Vec<_> = (0..8u32)
        .map(|task| {
            let (letters, path) = (letters.clone(), path.clone());
            tokio::spawn(async move {
                let mut largest = 0;
                for round in 0..12u32 {
                    for i in 0..100u32 {
                        let n = task * 10_000 + round * 100 + i;
                        letters.store(command(n).metadata("padding", "x".repeat(1_000))).await.unwrap();
                    }
                    largest = largest.max(wal_size(&path));
                }
                largest
            })
        })
        .collect();
    let mut largest = 0;
    for task in tasks {
        largest = largest.max(task.await.unwrap());
    }
    assert_eq!(letters.statistics().await.unwrap().total, 9_600, "every store landed");
    assert!(
        largest <= WAL_LIMIT_BYTES,
        "the WAL reached {largest} bytes, over its limit of {WAL_LIMIT_BYTES} bytes"
    );
}
