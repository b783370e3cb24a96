//! A helper process for the crash-safety test of `pulse-store-sqlite`, not part of the library:
//! it stores entries into the database file named by its argument until it is killed, and prints
//! each entry's id on its own line once the store that wrote it has returned `Ok`.

use std::io::Write;
use std::sync::Arc;

use pulse_extensibility::{DeadLetters, Failure, NewDeadLetter};
use pulse_store_sqlite::{SqliteConfig, SqliteStore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn command(process: u32, n: u64) -> NewDeadLetter {
    // Some payloads span several pages, so a kill can land in the middle of a multi-page commit.
    let payload = format!(
        r#"{{"order_id":{n},"padding":"{}"}}"#,
        "x".repeat(usize::try_from(n % 5).unwrap_or(0) * 3000)
    );
    NewDeadLetter::new("orders.create", payload, Failure::new("TimeoutError", format!("order {n} timed out")))
        .message_id(format!("{process}-{n}"))
}

async fn run(path: String) -> Result<(), BoxError> {
    let store = SqliteStore::open(SqliteConfig::new(path)).await?;
    let dead_letters = DeadLetters::new(Arc::new(store));
    let process = std::process::id();
    let mut stdout = std::io::stdout().lock();
    for n in 0_u64.. {
        // Every fourth write is a batch of three.
        let ids: Vec<String> = if n % 4 == 3 {
            let batch = (0..3).map(|i| command(process, n * 10 + i)).collect();
            dead_letters.store_many(batch).await?.into_iter().map(|receipt| receipt.id.to_string()).collect()
        } else {
            vec![dead_letters.store(command(process, n * 10)).await?.id.to_string()]
        };
        for id in ids {
            writeln!(stdout, "{id}")?;
        }
        stdout.flush()?;
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let path = std::env::args().nth(1).ok_or("usage: pulse-sqlite-crash-writer DATABASE")?;
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(run(path))
}
