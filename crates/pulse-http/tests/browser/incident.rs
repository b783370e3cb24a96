//! An incident to look at: a service's dead letters after a payment provider started declining
//! cards three hours ago, on top of a week of ordinary failures; the service's runtime with its
//! handlers (the fix is deployed, so replays succeed), a replay worker, and the dashboard served
//! on a loopback port.
//!
//! Time stands still on a manual clock at 2026-11-27 14:40 UTC, so pages and screenshots show
//! the same instants on every run.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use pulse::{
    Command, CommandRegistry, DeadLetterId, DeadLetters, Failure, HandlerError, ManualClock, NewDeadLetter,
    Pulse, ReplayWorker, Resolution, TenantId, Timestamp, WorkerHandle, WorkerOptions,
};
use pulse_http::{AdminApi, Principal, Role, TokenAuthorizer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::store::{StoreGuard, StoreKind, open_store};

/// An admin of every tenant.
pub(crate) const ADMIN: &str = "root-token-0f3c";
/// An operator of tenant `acme`.
pub(crate) const OPERATOR: &str = "olga-token-7a21";
/// A viewer of tenant `acme`.
pub(crate) const VIEWER: &str = "victor-token-19be";
/// An operator of tenant `globex`.
pub(crate) const GLOBEX: &str = "gus-token-c4d0";

/// A customer's order; version 2 added the currency.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PlaceOrder {
    pub(crate) order_id: u64,
    pub(crate) amount_cents: u64,
    pub(crate) currency: String,
}

impl Command for PlaceOrder {
    const NAME: &'static str = "orders.place";
    const VERSION: u32 = 2;
}

/// An invoice to mail.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SendInvoice {
    invoice_id: u64,
    email: String,
}

impl Command for SendInvoice {
    const NAME: &'static str = "invoices.send";
}

/// Stock to hold for an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReserveStock {
    sku: u64,
    quantity: u32,
}

impl Command for ReserveStock {
    const NAME: &'static str = "stock.reserve";
}

/// A parcel to hand to a carrier; version 2 named the carrier.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ShipOrder {
    order_id: u64,
    carrier: String,
}

impl Command for ShipOrder {
    const NAME: &'static str = "orders.ship";
    const VERSION: u32 = 2;
}

/// The instant the clock stands at.
pub(crate) fn now() -> Timestamp {
    Timestamp::from_datetime(Utc.with_ymd_and_hms(2026, 11, 27, 14, 40, 0).unwrap())
}

/// A service's dead letters in trouble, served.
pub(crate) struct Incident {
    /// The dashboard's URL: `http://127.0.0.1:PORT/pulse/ui`.
    pub(crate) url: String,
    /// The store over every tenant, on the incident's clock.
    pub(crate) dead_letters: DeadLetters,
    /// The clock everything runs on: it moves only when a test moves it.
    pub(crate) clock: Arc<ManualClock>,
    worker: Option<WorkerHandle>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
    _guard: StoreGuard,
}

impl Incident {
    /// Seeds the incident in a fresh store of `kind` and serves the dashboard over it.
    pub(crate) async fn open(kind: StoreKind) -> Self {
        let (backend, guard) = open_store(kind).await;
        let clock = Arc::new(ManualClock::new(now()));
        let dead_letters = DeadLetters::new(backend).with_clock(clock.clone());
        seed(&dead_letters, &clock).await;
        clock.set(now());

        let pulse = Pulse::new(dead_letters.clone(), registry());
        let worker = ReplayWorker::new(
            pulse.clone(),
            WorkerOptions::default().poll_interval(Duration::from_millis(50)),
        )
        .spawn();
        let api = AdminApi::new(dead_letters.clone(), authorizer()).with_replayer(pulse);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let url = format!("http://{}/pulse/ui", listener.local_addr().expect("the bound address"));
        let app = axum::Router::new().nest("/pulse", api.router());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(pulse_http::serve(listener, app, async move {
            let _ = stopped.await;
        }));
        Self {
            url,
            dead_letters,
            clock,
            worker: Some(worker),
            stop: Some(stop),
            server: Some(server),
            _guard: guard,
        }
    }

    /// The URL of dashboard page `path` (`""` for the overview).
    pub(crate) fn page(&self, path: &str) -> String {
        if path.is_empty() { self.url.clone() } else { format!("{}/{path}", self.url) }
    }

    /// Stops the worker and the server, waiting for both.
    pub(crate) async fn close(mut self) {
        self.worker.take().expect("open").shutdown().await.expect("the worker stops cleanly");
        self.stop.take().expect("open").send(()).expect("the server is running");
        self.server.take().expect("open").await.expect("the server task").expect("the server stops cleanly");
    }
}

impl Drop for Incident {
    fn drop(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
        if let Some(server) = &self.server {
            server.abort();
        }
    }
}

/// The service's handlers: the fix is deployed, so every command now goes through.
fn registry() -> CommandRegistry {
    let mut registry = CommandRegistry::new();
    registry.register(|_: PlaceOrder| async { Ok::<(), HandlerError>(()) }).upcast_json(1, |mut v1| {
        v1["currency"] = "EUR".into();
        Ok(v1)
    });
    registry.register(|_: SendInvoice| async { Ok::<(), HandlerError>(()) });
    registry.register(|_: ReserveStock| async { Ok::<(), HandlerError>(()) });
    registry.register(|_: ShipOrder| async { Ok::<(), HandlerError>(()) }).upcast_json(1, |mut v1| {
        v1["carrier"] = "dhl".into();
        Ok(v1)
    });
    registry
}

/// The tokens, configured by hash as a configuration file would.
fn authorizer() -> TokenAuthorizer {
    let acme = TenantId::new("acme").expect("a tenant");
    let principals = [
        (ADMIN, Principal::new("root", Role::Admin)),
        (OPERATOR, Principal::new("olga", Role::Operator).in_tenant(acme.clone())),
        (VIEWER, Principal::new("victor", Role::Viewer).in_tenant(acme)),
        (GLOBEX, Principal::new("gus", Role::Operator).in_tenant(TenantId::new("globex").expect("a tenant"))),
    ];
    principals.into_iter().fold(TokenAuthorizer::new(), |authorizer, (token, principal)| {
        authorizer.with_token_hash(&TokenAuthorizer::hash(token), principal).expect("a valid token")
    })
}

/// One kind of failure of the incident.
struct Wave {
    command_type: &'static str,
    version: u32,
    exception_type: &'static str,
    /// The message for entry `n`, with its volatile parts.
    message: fn(u64) -> String,
    /// The payload of entry `n`.
    payload: fn(u64) -> String,
    /// The tenant of entry `n`.
    tenant: fn(u64) -> &'static str,
    /// Entries per hour, and over how many hours before now.
    per_hour: u64,
    hours: u64,
}

const WAVES: &[Wave] = &[
    Wave {
        command_type: "orders.place",
        version: 2,
        exception_type: "PaymentDeclined",
        message: |n| format!("card declined by issuer for order {} (code 51)", 48_000 + n),
        payload: |n| {
            format!(
                r#"{{"order_id":{},"amount_cents":{},"currency":"EUR"}}"#,
                48_000 + n,
                1_999 + n % 50 * 100
            )
        },
        tenant: |n| if n % 3 == 0 { "globex" } else { "acme" },
        per_hour: 1_200,
        hours: 3,
    },
    Wave {
        command_type: "invoices.send",
        version: 1,
        exception_type: "SmtpTimeout",
        message: |_| "smtp.mail.internal:587 timed out after 30 s".to_owned(),
        payload: |n| format!(r#"{{"invoice_id":{},"email":"billing+{n}@example.com"}}"#, 9_100 + n),
        tenant: |_| "acme",
        per_hour: 3,
        hours: 7 * 24 - 1,
    },
    Wave {
        command_type: "stock.reserve",
        version: 1,
        exception_type: "InventoryConflict",
        message: |n| format!("sku {} has 0 units left, {} requested", 88_000 + n % 40, 1 + n % 4),
        payload: |n| format!(r#"{{"sku":{},"quantity":{}}}"#, 88_000 + n % 40, 1 + n % 4),
        tenant: |n| if n % 2 == 0 { "acme" } else { "globex" },
        per_hour: 4,
        hours: 40,
    },
    Wave {
        command_type: "orders.ship",
        version: 1,
        exception_type: "CarrierUnavailable",
        message: |n| format!("carrier dhl rejected shipment {}: service unavailable", 7_700 + n),
        payload: |n| format!(r#"{{"order_id":{}}}"#, 51_000 + n),
        tenant: |_| "acme",
        per_hour: 6,
        hours: 10,
    },
];

/// Stores every wave, hour by hour, each failure at its own minute; then resolves and dismisses
/// a few entries of the quiet days, as operators did before the incident.
async fn seed(dead_letters: &DeadLetters, clock: &ManualClock) {
    const HOUR: i64 = 3_600_000_000;
    let end = now().as_micros();
    for wave in WAVES {
        let mut n = 0;
        for hour in (0..wave.hours).rev() {
            let start = end - i64::try_from(hour + 1).unwrap() * HOUR;
            for i in 0..wave.per_hour {
                let at = start + i64::try_from(i).unwrap() * (HOUR / i64::try_from(wave.per_hour).unwrap());
                clock.set(Timestamp::from_micros(at));
                let entry = NewDeadLetter::new(
                    wave.command_type,
                    (wave.payload)(n),
                    Failure::new(wave.exception_type, (wave.message)(n)),
                )
                .tenant(TenantId::new((wave.tenant)(n)).expect("a tenant"))
                .command_version(wave.version)
                .source(format!("{}-handler", wave.command_type))
                .metadata("trace_id", format!("4bf92f3577b34da6a3ce929d0e0e{n:04x}"))
                .attempt_count(3);
                dead_letters.store(entry).await.expect("store a failure");
                n += 1;
            }
        }
    }
    clock.set(now());
    let invoices = pulse::EntryFilter::default().command_type("invoices.send");
    let quiet = dead_letters
        .list(pulse::ListQuery::default().filter(invoices).order(pulse::SortOrder::OldestFirst).limit(60))
        .await
        .expect("list the quiet days");
    let ids: Vec<DeadLetterId> = quiet.entries.iter().map(|entry| entry.id).collect();
    for id in &ids[..40] {
        dead_letters
            .resolve(*id, Resolution::HandledExternally, Some("resent by hand".to_owned()))
            .await
            .expect("resolve");
    }
    for id in &ids[40..] {
        dead_letters.dismiss(*id, Some("customer closed the account".to_owned())).await.expect("dismiss");
    }
}
