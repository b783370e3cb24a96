//! Fills a migrated SQLite file with a few dozen dead letters for `cargo xtask fuzz-api`: three
//! tenants, several command and exception types, some dismissed or resolved, and two replay
//! requests, one paced, so that every endpoint has something to find.
//!
//! `cargo run -p pulse-cli --example fuzz_seed -- PATH` (the file must exist:
//! `pulse --db PATH migrate apply`).

use std::num::NonZeroU32;
use std::sync::Arc;

use pulse::{
    Actor, DeadLetters, EntryFilter, Failure, NewDeadLetter, ReplayRequestSpec, ReplaySelection, Resolution,
    SqliteConfig, SqliteStore, TenantId,
};

const TENANTS: [&str; 3] = ["acme", "globex", "default"];
const COMMANDS: [&str; 4] = ["orders.create", "invoices.send", "parcels.ship", "refunds.issue"];
const ERRORS: [&str; 3] = ["TimeoutError", "SmtpError", "ValidationError"];

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: fuzz_seed PATH")?;
    let store = SqliteStore::open(SqliteConfig::new(&path).run_migrations(false)).await?;
    let dead_letters = DeadLetters::new(Arc::new(store.clone())).acting_as(Actor::new("fuzz-seed")?);
    let mut ids = Vec::new();
    for n in 0..36 {
        let command_type = COMMANDS[n % COMMANDS.len()];
        let exception_type = ERRORS[n % ERRORS.len()];
        let input = NewDeadLetter::new(
            command_type,
            format!(r#"{{"order_id":{n}}}"#),
            Failure::new(exception_type, format!("{command_type} #{n} failed with {exception_type}")),
        )
        .tenant(TenantId::new(TENANTS[n % TENANTS.len()])?)
        .message_id(format!("msg-{n}"))
        .source("fuzz-seed")
        .metadata("correlation_id", format!("c-{n}"))
        .attempt_count(u32::try_from(n % 5 + 1)?);
        ids.push(dead_letters.store(input).await?.id);
    }
    for id in ids.iter().step_by(7) {
        dead_letters.dismiss(*id, Some("not worth replaying".to_owned())).await?;
    }
    for id in ids.iter().skip(1).step_by(11) {
        dead_letters.resolve(*id, Resolution::HandledExternally, Some("fixed by hand".to_owned())).await?;
    }
    let orders = EntryFilter::default().command_type("orders.create");
    let paced = ReplayRequestSpec::new(ReplaySelection::Matching(orders))
        .note("after the fix")
        .per_second(NonZeroU32::new(2).ok_or("a pace")?);
    dead_letters.request_replays(paced).await?;
    dead_letters
        .request_replays(ReplayRequestSpec::new(ReplaySelection::Entries(ids[30..].to_vec())))
        .await?;
    println!("{}", serde_json::to_string(&dead_letters.statistics().await?)?);
    drop(dead_letters);
    store.close().await;
    Ok(())
}
