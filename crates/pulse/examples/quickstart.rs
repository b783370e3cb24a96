//! Pulse in one sitting: capture failed commands, look at them, replay one, dismiss another.
//!
//! Run it with `cargo run --example quickstart`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use pulse::{
    CommandDispatcher, DeadLetterEntry, DeadLetters, Failure, MemoryStore, NewDeadLetter, ReplayReport,
};

/// Stands in for the service's handlers: the payment gateway is down until `gateway_up` is set.
struct Handlers {
    gateway_up: AtomicBool,
}

#[async_trait]
impl CommandDispatcher for Handlers {
    async fn dispatch(&self, entry: &DeadLetterEntry) -> Result<(), Failure> {
        if self.gateway_up.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(Failure::new("GatewayUnavailable", format!("payment gateway refused {}", entry.command_type)))
        }
    }
}

fn show(entry: &DeadLetterEntry) {
    println!(
        "  {}  {:<15} {:<10} attempts={}  {}: {}",
        entry.id,
        entry.command_type,
        entry.status,
        entry.attempt_count,
        entry.exception_type,
        entry.exception_message
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let handlers = Arc::new(Handlers { gateway_up: AtomicBool::new(false) });
    let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new())).with_dispatcher(handlers.clone());
    println!("Pulse quickstart: a dead-letter store in memory.\n");

    println!("1. Three commands fail for good, and one failed message is delivered twice.");
    let failures = [
        (
            "msg-42",
            "orders.create",
            r#"{"order_id":42}"#,
            Failure::new("TimeoutError", "order 42 timed out after 30s"),
        ),
        (
            "msg-97",
            "orders.create",
            r#"{"order_id":97}"#,
            Failure::new("TimeoutError", "order 97 timed out after 31s"),
        ),
        (
            "msg-7",
            "billing.charge",
            r#"{"invoice":7}"#,
            Failure::new("CardDeclined", "card 'visa-1234' declined"),
        ),
        (
            "msg-42",
            "orders.create",
            r#"{"order_id":42}"#,
            Failure::new("TimeoutError", "order 42 timed out after 30s"),
        ),
    ];
    let mut ids = Vec::new();
    for (message_id, command_type, payload, failure) in failures {
        let input = NewDeadLetter::new(command_type, payload, failure)
            .message_id(message_id)
            .source("orders-worker")
            .attempt_count(3);
        let receipt = dead_letters.store(input).await?;
        let what = if receipt.duplicate { "duplicate, already stored as" } else { "stored as" };
        println!("  {message_id:<7} {command_type:<15} {what} {}", receipt.id);
        ids.push(receipt.id);
    }

    println!("\n2. What is waiting, oldest first:");
    for entry in dead_letters.get_pending(50, 0).await? {
        show(&entry);
    }

    let stats = dead_letters.statistics().await?;
    println!(
        "\n3. Statistics: {} new, {} replaying, {} resolved, {} dismissed, {} in all.",
        stats.new, stats.replaying, stats.resolved, stats.dismissed, stats.total
    );

    println!("\n4. Error groups: failures that differ only in ids and numbers count together.");
    for group in dead_letters.error_groups(10).await? {
        println!(
            "  {} x{}  {} / {}: e.g. \"{}\"",
            group.fingerprint, group.count, group.command_type, group.exception_type, group.sample_message
        );
    }

    println!(
        "\n5. Replay order 42 while the gateway is still down: the failure is recorded on the same entry."
    );
    if let ReplayReport::Failed { entry, failure } = dead_letters.replay(ids[0]).await? {
        println!("  failed again with {}: {}", failure.exception_type, failure.exception_message);
        show(&entry);
    }

    println!("\n6. The gateway is back. Replay order 42 again:");
    handlers.gateway_up.store(true, Ordering::SeqCst);
    if let ReplayReport::Succeeded(entry) = dead_letters.replay(ids[0]).await? {
        println!("  succeeded; resolution: {}", entry.resolution.map(|r| r.to_string()).unwrap_or_default());
        show(&entry);
    }

    println!("\n7. The declined card is not worth replaying: dismiss it with a note.");
    let dismissed = dead_letters.dismiss(ids[2], Some("customer paid by bank transfer".to_owned())).await?;
    show(&dismissed);
    println!("  note: {}", dismissed.note.unwrap_or_default());

    let stats = dead_letters.statistics().await?;
    println!(
        "\nNow: {} new, {} resolved, {} dismissed. Order 97 still waits for an operator.",
        stats.new, stats.resolved, stats.dismissed
    );
    Ok(())
}
