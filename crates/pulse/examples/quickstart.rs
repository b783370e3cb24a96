//! Pulse in one sitting: commands fail and are captured after their retries, an operator looks
//! at them, replays one that fails again and then succeeds, replays an old payload written by an
//! earlier version of its command, and dismisses another.
//!
//! `cargo run --example quickstart` keeps the dead letters in `./pulse.db` (SQLite);
//! `cargo run --example quickstart -- --memory` keeps them in memory instead.
//! Each run works in a tenant of its own, so earlier runs' entries stay out of its account.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use pulse::{
    Command, CommandRegistry, DeadLetterBackend, DeadLetterEntry, DeadLetters, Envelope, Failure,
    HandlerError, MemoryStore, NewDeadLetter, Pulse, ReplayReport, RetryPolicy, SqliteConfig, SqliteStore,
    TenantId,
};
use serde::{Deserialize, Serialize};

/// Charge a customer's card for an invoice.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ChargeCard {
    invoice: u64,
    amount_cents: u64,
}

impl Command for ChargeCard {
    const NAME: &'static str = "billing.charge";
}

/// Create an order. Version 1 had no currency; version 2 added it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CreateOrder {
    order_id: u64,
    currency: String,
}

impl Command for CreateOrder {
    const NAME: &'static str = "orders.create";
    const VERSION: u32 = 2;
}

#[derive(Debug, thiserror::Error)]
#[error("payment gateway unavailable for invoice {0}")]
struct GatewayUnavailable(u64);

#[derive(Debug, thiserror::Error)]
#[error("card for invoice {0} was declined")]
struct CardDeclined(u64);

/// The payment gateway: down until `up` is set. Invoice 8's card is always declined.
#[derive(Default)]
struct Gateway {
    up: AtomicBool,
    calls: AtomicUsize,
}

fn show(entry: &DeadLetterEntry) {
    println!(
        "    {}  {:<15} v{}  {:<9}  attempts={}  {}",
        entry.id,
        entry.command_type,
        entry.command_version,
        entry.status,
        entry.attempt_count,
        entry.exception_message
    );
}

async fn open_store() -> anyhow::Result<(Arc<dyn DeadLetterBackend>, String)> {
    if std::env::args().any(|arg| arg == "--memory") {
        return Ok((Arc::new(MemoryStore::new()), "memory".to_owned()));
    }
    let store = SqliteStore::open(SqliteConfig::new("pulse.db")).await?;
    Ok((Arc::new(store), "./pulse.db (SQLite)".to_owned()))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (store, where_) = open_store().await?;
    let all_tenants = DeadLetters::new(store);
    let tenant = TenantId::new(format!("quickstart-{}", all_tenants.now().as_micros()))?;
    let dead_letters = all_tenants.for_tenant(tenant.clone());
    println!("Pulse quickstart: dead letters in {where_}, tenant {tenant}.\n");

    // Register the handlers. The runtime retries each command 3 times, 50 ms apart and more.
    let gateway = Arc::new(Gateway::default());
    let mut registry = CommandRegistry::new();
    // The handler gets its own clone of the shared gateway with every command.
    registry.register_with(gateway.clone(), |gateway: Arc<Gateway>, charge: ChargeCard| async move {
        gateway.calls.fetch_add(1, Ordering::SeqCst);
        if charge.invoice == 8 {
            return Err(HandlerError::permanent(CardDeclined(charge.invoice)));
        }
        if !gateway.up.load(Ordering::SeqCst) {
            return Err(HandlerError::transient(GatewayUnavailable(charge.invoice)));
        }
        println!("    charged invoice {} ({} cents)", charge.invoice, charge.amount_cents);
        Ok(())
    });
    registry
        .register(|order: CreateOrder| async move {
            println!("    created order {} in {}", order.order_id, order.currency);
            Ok::<(), HandlerError>(())
        })
        .upcast_json(1, |mut v1| {
            v1["currency"] = "EUR".into();
            Ok(v1)
        });
    let retries = RetryPolicy::default().max_attempts(3).initial_backoff(Duration::from_millis(50));
    let pulse = Pulse::new(dead_letters.clone(), registry).with_retry(retries);
    let envelope =
        |message_id: &str| Envelope::message(message_id).tenant(tenant.clone()).source("billing-worker");

    println!("1. Two charges fail for good. The gateway is down; invoice 8's card is declined.");
    let error = pulse
        .dispatch_with(ChargeCard { invoice: 7, amount_cents: 1999 }, envelope("msg-7"))
        .await
        .unwrap_err();
    println!("    invoice 7: the caller gets the handler's error back: \"{error}\"");
    let error = pulse
        .dispatch_with(ChargeCard { invoice: 8, amount_cents: 500 }, envelope("msg-8"))
        .await
        .unwrap_err();
    println!("    invoice 8: \"{error}\" (permanent: {}, so no retries)", error.is_permanent());
    println!(
        "    the gateway was called {} times: 3 for invoice 7, 1 for invoice 8",
        gateway.calls.load(Ordering::SeqCst)
    );

    println!(
        "\n2. The broker delivers invoice 7's message again, and it fails again: it is stored once (see 4)."
    );
    pulse.dispatch_with(ChargeCard { invoice: 7, amount_cents: 1999 }, envelope("msg-7")).await.unwrap_err();

    println!("\n3. An order captured by last month's release, when CreateOrder was at version 1:");
    let old = NewDeadLetter::new(
        "orders.create",
        r#"{"order_id":42}"#,
        Failure::new("DbTimeout", "insert timed out"),
    )
    .tenant(tenant.clone())
    .command_version(1);
    let old_order = dead_letters.store(old).await?.id;

    println!("\n4. What is waiting, oldest first:");
    let pending = dead_letters.get_pending(50, 0).await?;
    for entry in &pending {
        show(entry);
    }
    let stats = dead_letters.statistics().await?;
    println!(
        "    {} new, {} resolved, {} dismissed, {} in all",
        stats.new, stats.resolved, stats.dismissed, stats.total
    );
    println!("    error groups:");
    for group in dead_letters.error_groups(10).await? {
        println!(
            "      {} x{} {} / {}",
            group.fingerprint, group.count, group.command_type, group.exception_type
        );
    }
    let invoice =
        |n: u64| pending.iter().find(|e| e.payload.contains(&format!("\"invoice\":{n}"))).map(|e| e.id);
    let (invoice_7, invoice_8) = (invoice(7).expect("invoice 7"), invoice(8).expect("invoice 8"));

    println!("\n5. Replay invoice 7 while the gateway is still down: the failure lands on the same entry.");
    if let ReplayReport::Failed { entry, .. } = pulse.replay(invoice_7).await? {
        show(&entry);
    }

    println!("\n6. The gateway is back. Replay invoice 7 again:");
    gateway.up.store(true, Ordering::SeqCst);
    if let ReplayReport::Succeeded(entry) = pulse.replay(invoice_7).await? {
        show(&entry);
    }

    println!("\n7. Replay the version-1 order: it is upcast to version 2 (currency EUR) first.");
    if let ReplayReport::Succeeded(entry) = pulse.replay(old_order).await? {
        show(&entry);
    }

    println!("\n8. Invoice 8's customer paid by bank transfer: dismiss it with a note.");
    let dismissed = dead_letters.dismiss(invoice_8, Some("paid by bank transfer".to_owned())).await?;
    show(&dismissed);

    let stats = dead_letters.statistics().await?;
    println!("\nNow: {} new, {} resolved, {} dismissed.", stats.new, stats.resolved, stats.dismissed);
    let everything = all_tenants.statistics().await?;
    println!("The store holds {} entries across every run so far.", everything.total);
    Ok(())
}
