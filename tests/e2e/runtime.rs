//! The runtime's scenarios: capture, duplicates, replay, upcasting, editing, and faults.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pulse::{
    Capabilities, Command, CommandDeadLetterStatus as Status, CommandRegistry, DeadLetterBackend,
    DeadLetterEntry, DeadLetterId, EntryQuery, Envelope, Error, ErrorGroup, Failure, HandlerError,
    ManualClock, NewDeadLetter, Pulse, ReplayLease, ReplayReport, Resolution, RetryPolicy, Scope, Statistics,
    StoreReceipt, TenantId, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::env::Env;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ChargeCard {
    invoice: u64,
    amount_cents: u64,
}

impl Command for ChargeCard {
    const NAME: &'static str = "billing.charge";
}

/// The gateway's error, with a cause, as a real client library would return it.
#[derive(Debug, thiserror::Error)]
#[error("gateway refused invoice {invoice}")]
struct GatewayError {
    invoice: u64,
    #[source]
    cause: std::io::Error,
}

/// A card that can never be charged: retrying cannot help.
#[derive(Debug, thiserror::Error)]
#[error("card of invoice {0} is blocked")]
struct CardBlocked(u64);

/// The payment gateway the handler calls: down until `up` is set; each call moves the clock one
/// second, as a real call takes time.
struct Gateway {
    up: AtomicBool,
    blocked: AtomicBool,
    calls: AtomicUsize,
    charged: Mutex<Vec<ChargeCard>>,
    clock: Arc<ManualClock>,
}

impl Gateway {
    fn new(clock: Arc<ManualClock>) -> Arc<Self> {
        Arc::new(Self {
            up: AtomicBool::new(false),
            blocked: AtomicBool::new(false),
            calls: AtomicUsize::new(0),
            charged: Mutex::new(Vec::new()),
            clock,
        })
    }

    fn charge(&self, command: ChargeCard) -> Result<(), HandlerError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.clock.advance(Duration::from_secs(1));
        if self.blocked.load(Ordering::SeqCst) {
            return Err(HandlerError::permanent(CardBlocked(command.invoice)));
        }
        if !self.up.load(Ordering::SeqCst) {
            let cause = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
            return Err(HandlerError::transient(GatewayError { invoice: command.invoice, cause }));
        }
        self.charged.lock().unwrap().push(command);
        Ok(())
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Three attempts with no wait between them, so scenarios run at full speed.
fn fast_retries() -> RetryPolicy {
    RetryPolicy::default().max_attempts(3).initial_backoff(Duration::ZERO)
}

fn billing(env: &Env) -> (Pulse, Arc<Gateway>) {
    billing_on(env, env.dead_letters())
}

/// The billing runtime over `dead_letters`, with a gateway on the scenario's clock.
fn billing_on(env: &Env, dead_letters: pulse::DeadLetters) -> (Pulse, Arc<Gateway>) {
    let gateway = Gateway::new(env.clock.clone());
    let registry = billing_registry(&gateway);
    (Pulse::new(dead_letters, registry).with_retry(fast_retries()), gateway)
}

fn billing_registry(gateway: &Arc<Gateway>) -> CommandRegistry {
    let mut registry = CommandRegistry::new();
    let handler_gateway = gateway.clone();
    registry.register(move |command: ChargeCard| {
        let gateway = handler_gateway.clone();
        async move { gateway.charge(command) }
    });
    registry
}

fn charge(invoice: u64) -> ChargeCard {
    ChargeCard { invoice, amount_cents: 1999 }
}

async fn only_entry(pulse: &Pulse) -> DeadLetterEntry {
    let pending = pulse.dead_letters().get_pending(10, 0).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:#?}");
    pending.into_iter().next().unwrap()
}

/// A command that keeps failing is retried, then stored with its whole failure, and the caller
/// gets the handler's own error.
pub(crate) async fn capture_after_retries_keeps_the_whole_failure(env: &Env) {
    let (pulse, gateway) = billing(env);
    let start = env.clock.now();
    let envelope = Envelope::message("msg-7")
        .tenant(TenantId::new("acme").unwrap())
        .source("billing-worker")
        .metadata("correlation_id", "c-7");
    let error = pulse.dispatch_with(charge(7), envelope).await.unwrap_err();
    assert_eq!(
        error.downcast_ref::<GatewayError>().map(|e| e.invoice),
        Some(7),
        "the original error comes back"
    );
    assert!(!error.is_permanent());
    assert_eq!(gateway.calls(), 3);
    let entry = only_entry(&pulse).await;
    let expected = DeadLetterEntry {
        tenant: TenantId::new("acme").unwrap(),
        message_id: Some("msg-7".to_owned()),
        command_type: "billing.charge".to_owned(),
        command_version: 1,
        payload: r#"{"invoice":7,"amount_cents":1999}"#.to_owned(),
        exception_type: std::any::type_name::<GatewayError>().to_owned(),
        exception_message: "gateway refused invoice 7".to_owned(),
        exception_details: Some("caused by: connection reset".to_owned()),
        source: Some("billing-worker".to_owned()),
        metadata: [("correlation_id".to_owned(), "c-7".to_owned())].into(),
        attempt_count: 3,
        first_failed_at: start.saturating_add(Duration::from_secs(1)),
        occurred_at: start.saturating_add(Duration::from_secs(3)),
        created_at: start.saturating_add(Duration::from_secs(3)),
        updated_at: start.saturating_add(Duration::from_secs(3)),
        ..entry.clone()
    };
    assert_eq!(entry, expected);
    assert_eq!((entry.status, entry.revision, entry.original_payload), (Status::New, 1, None));
}

/// A permanent error is dead-lettered after one attempt.
pub(crate) async fn permanent_errors_skip_the_retries(env: &Env) {
    let (pulse, gateway) = billing(env);
    gateway.blocked.store(true, Ordering::SeqCst);
    let error = pulse.dispatch(charge(8)).await.unwrap_err();
    assert!(error.is_permanent());
    assert_eq!(error.to_string(), "card of invoice 8 is blocked");
    assert_eq!(gateway.calls(), 1);
    let entry = only_entry(&pulse).await;
    assert_eq!((entry.attempt_count, entry.exception_message.as_str()), (1, "card of invoice 8 is blocked"));
}

/// A handler returning `anyhow::Result` marks an error permanent with `HandlerError`, and it
/// stays permanent through the `anyhow::Error` (the `anyhow` feature).
pub(crate) async fn a_permanent_error_inside_anyhow_stays_permanent(env: &Env) {
    let mut registry = CommandRegistry::new();
    registry.register(|charge: ChargeCard| async move {
        let error = anyhow::anyhow!("no card on file for invoice {}", charge.invoice);
        Err::<(), anyhow::Error>(HandlerError::permanent(error).named("billing.no_card").into())
    });
    let pulse = Pulse::new(env.dead_letters(), registry);
    let error = pulse.dispatch(charge(9)).await.unwrap_err();
    assert!(error.is_permanent());
    assert_eq!(error.name(), "billing.no_card");
    let entry = only_entry(&pulse).await;
    assert_eq!(
        (entry.attempt_count, entry.exception_type.as_str(), entry.exception_message.as_str()),
        (1, "billing.no_card", "no card on file for invoice 9")
    );
}

/// The same message delivered twice and failing twice is stored once.
pub(crate) async fn duplicate_delivery_is_stored_once(env: &Env) {
    let (pulse, gateway) = billing(env);
    for _ in 0..2 {
        assert!(pulse.dispatch_with(charge(9), Envelope::message("msg-9")).await.is_err());
    }
    assert_eq!(gateway.calls(), 6, "each delivery runs its own retries");
    let stats = pulse.dead_letters().statistics().await.unwrap();
    assert_eq!(stats, Statistics { new: 1, total: 1, ..Statistics::default() });
}

/// A replay that fails again records the failure on the same entry, with one more attempt.
pub(crate) async fn failed_replay_counts_an_attempt_on_the_same_entry(env: &Env) {
    let (pulse, gateway) = billing(env);
    pulse.dispatch(charge(10)).await.unwrap_err();
    let entry = only_entry(&pulse).await;
    let ReplayReport::Failed { entry: after, failure } = pulse.replay(entry.id).await.unwrap() else {
        panic!("the gateway is still down");
    };
    assert_eq!(failure.exception_message, "gateway refused invoice 10");
    assert_eq!((after.id, after.status, after.attempt_count), (entry.id, Status::New, 4));
    assert_eq!(after.occurred_at, env.clock.now());
    assert_eq!(gateway.calls(), 4, "a replay runs the handler once, without retries");
    assert_eq!(pulse.dead_letters().statistics().await.unwrap().total, 1);
}

/// A replay that succeeds resolves the entry and runs the command.
pub(crate) async fn successful_replay_resolves(env: &Env) {
    let (pulse, gateway) = billing(env);
    pulse.dispatch(charge(11)).await.unwrap_err();
    let entry = only_entry(&pulse).await;
    gateway.up.store(true, Ordering::SeqCst);
    let ReplayReport::Succeeded(resolved) = pulse.replay(entry.id).await.unwrap() else {
        panic!("the gateway is up");
    };
    assert_eq!((resolved.status, resolved.resolution), (Status::Resolved, Some(Resolution::Replayed)));
    assert_eq!(resolved.attempt_count, 3);
    assert_eq!(*gateway.charged.lock().unwrap(), [charge(11)]);
    assert_eq!(pulse.dead_letters().get_entry(entry.id).await.unwrap(), Some(resolved));
}

/// Version 3 of an order: version 1 called the id `id`, version 2 had no currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CreateOrder {
    order_id: u64,
    currency: String,
}

impl Command for CreateOrder {
    const NAME: &'static str = "orders.create";
    const VERSION: u32 = 3;
}

#[derive(Deserialize)]
struct CreateOrderV2 {
    order_id: u64,
}

fn orders(env: &Env, with_first_upcaster: bool) -> (Pulse, Arc<Mutex<Vec<CreateOrder>>>) {
    let created = Arc::new(Mutex::new(Vec::new()));
    let mut registry = CommandRegistry::new();
    let sink = created.clone();
    let registration = registry
        .register(move |order: CreateOrder| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(order);
                Ok::<(), HandlerError>(())
            }
        })
        .upcast(2, |v2: CreateOrderV2| CreateOrder { order_id: v2.order_id, currency: "EUR".to_owned() });
    if with_first_upcaster {
        registration.upcast_json(1, |mut v1| {
            let id = v1.get("id").cloned().ok_or("version 1 has no id")?;
            v1["order_id"] = id;
            Ok(v1)
        });
    }
    (Pulse::new(env.dead_letters(), registry).with_retry(fast_retries()), created)
}

async fn store_v1_order(pulse: &Pulse) -> DeadLetterId {
    let input = NewDeadLetter::new("orders.create", r#"{"id":42}"#, Failure::new("Timeout", "db timed out"))
        .command_version(1);
    pulse.dead_letters().store(input).await.unwrap().id
}

/// A payload captured at version 1 is upcast through 2 to 3 and then dispatched.
pub(crate) async fn old_payloads_are_upcast_before_dispatch(env: &Env) {
    let (pulse, created) = orders(env, true);
    let id = store_v1_order(&pulse).await;
    let report = pulse.replay(id).await.unwrap();
    assert!(matches!(report, ReplayReport::Succeeded(ref e) if e.status == Status::Resolved), "{report:?}");
    assert_eq!(*created.lock().unwrap(), [CreateOrder { order_id: 42, currency: "EUR".to_owned() }]);
}

/// With no upcaster from version 1, the replay fails with a clear error and the entry stays.
pub(crate) async fn a_version_with_no_upcast_path_stays_new(env: &Env) {
    let (pulse, created) = orders(env, false);
    let id = store_v1_order(&pulse).await;
    let ReplayReport::Failed { entry, failure } = pulse.replay(id).await.unwrap() else {
        panic!("no path from version 1");
    };
    assert_eq!(
        failure,
        Failure::new(
            "pulse::NoUpcastPath",
            "no upcaster takes \"orders.create\" from version 1 towards version 3"
        )
    );
    assert_eq!((entry.status, entry.attempt_count, entry.payload.as_str()), (Status::New, 2, r#"{"id":42}"#));
    assert!(created.lock().unwrap().is_empty());
}

/// An operator corrects the payload, then replays it; a payload of the wrong shape is refused.
pub(crate) async fn edit_then_replay_runs_the_corrected_command(env: &Env) {
    let (pulse, created) = orders(env, true);
    let id = store_v1_order(&pulse).await;
    let refused = pulse.edit_payload(id, r#"{"order_id":"forty-two"}"#.to_owned()).await;
    assert!(matches!(refused, Err(Error::InvalidInput { field: "payload", .. })), "{refused:?}");
    assert_eq!(pulse.dead_letters().get_entry(id).await.unwrap().unwrap().revision, 1, "nothing changed");
    let edited = pulse.edit_payload(id, r#"{"order_id":43,"currency":"USD"}"#.to_owned()).await.unwrap();
    assert_eq!(
        (edited.payload.as_str(), edited.original_payload.as_deref(), edited.command_version),
        (r#"{"order_id":43,"currency":"USD"}"#, Some(r#"{"id":42}"#), 3)
    );
    assert!(matches!(pulse.replay(id).await.unwrap(), ReplayReport::Succeeded(_)));
    assert_eq!(*created.lock().unwrap(), [CreateOrder { order_id: 43, currency: "USD".to_owned() }]);
    let typed = pulse.edit_command(id, &charge(1)).await;
    assert!(matches!(typed, Err(Error::InvalidInput { field: "command_type", .. })), "{typed:?}");
}

/// An entry whose type has no handler, or whose payload does not deserialize, fails its replay
/// with the reason recorded, and stays New.
pub(crate) async fn unknown_types_and_corrupt_payloads_stay_new_with_the_error(env: &Env) {
    let (pulse, gateway) = billing(env);
    let dead_letters = pulse.dead_letters();
    let ghost =
        dead_letters.store(NewDeadLetter::new("ghost.command", "{}", Failure::new("E", "m"))).await.unwrap();
    let corrupt =
        dead_letters.store(NewDeadLetter::new("billing.charge", "{", Failure::new("E", "m"))).await.unwrap();
    for (id, kind) in
        [(ghost.id, "pulse::UnknownCommandType"), (corrupt.id, "pulse::UndeserializablePayload")]
    {
        let ReplayReport::Failed { entry, failure } = pulse.replay(id).await.unwrap() else {
            panic!("{kind}: the replay cannot succeed");
        };
        assert_eq!((failure.exception_type.as_str(), entry.exception_type.as_str()), (kind, kind));
        assert_eq!((entry.status, entry.attempt_count), (Status::New, 2));
    }
    assert_eq!(gateway.calls(), 0);
}

/// A store that cannot be written: every insert fails as if the database were down.
#[derive(Debug)]
struct Unwritable(Arc<dyn DeadLetterBackend>);

crate::env::backend_forwarding_requests!(Unwritable, |self| self.0, {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }
    async fn insert(&self, _: Vec<DeadLetterEntry>) -> pulse::Result<Vec<StoreReceipt>> {
        Err(Error::unavailable("the database is down", std::io::Error::other("connection refused")))
    }
    async fn get(&self, scope: &Scope, id: DeadLetterId) -> pulse::Result<Option<DeadLetterEntry>> {
        self.0.get(scope, id).await
    }
    async fn swap(&self, entry: &DeadLetterEntry) -> pulse::Result<bool> {
        self.0.swap(entry).await
    }
    async fn query(&self, query: &EntryQuery) -> pulse::Result<Vec<DeadLetterEntry>> {
        self.0.query(query).await
    }
    async fn statistics(&self, scope: &Scope) -> pulse::Result<Statistics> {
        self.0.statistics(scope).await
    }
    async fn error_groups(&self, scope: &Scope, limit: u32) -> pulse::Result<Vec<ErrorGroup>> {
        self.0.error_groups(scope, limit).await
    }
    async fn claim_requested(
        &self,
        scope: &Scope,
        now: Timestamp,
        lease: ReplayLease,
        limit: u32,
    ) -> pulse::Result<Vec<DeadLetterEntry>> {
        self.0.claim_requested(scope, now, lease, limit).await
    }
    async fn purge(&self, scope: &Scope, resolved_before: Timestamp, limit: u32) -> pulse::Result<u64> {
        self.0.purge(scope, resolved_before, limit).await
    }
});

/// When the dead letter cannot be stored, the caller still gets the handler's error.
pub(crate) async fn a_failing_store_does_not_mask_the_handlers_error(env: &Env) {
    let dead_letters =
        pulse::DeadLetters::new(Arc::new(Unwritable(env.backend.clone()))).with_clock(env.clock.clone());
    let (pulse, _gateway) = billing_on(env, dead_letters);
    let error = pulse.dispatch(charge(12)).await.unwrap_err();
    assert_eq!(error.downcast_ref::<GatewayError>().map(|e| e.invoice), Some(12));
    assert_eq!(pulse.dead_letters().statistics().await.unwrap(), Statistics::default());
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ShipOrder {
    order_id: u64,
}

impl Command for ShipOrder {
    const NAME: &'static str = "orders.ship";
}

/// A replayed handler that dispatches a failing command: that failure is the replay's, recorded
/// on the replayed entry, and no second entry appears.
pub(crate) async fn a_dispatch_inside_a_replay_is_not_captured_again(env: &Env) {
    let (pulse, gateway) = {
        let gateway = Gateway::new(env.clock.clone());
        let runtime: Arc<OnceLock<Pulse>> = Arc::new(OnceLock::new());
        let mut registry = billing_registry(&gateway);
        let inner = runtime.clone();
        registry.register(move |order: ShipOrder| {
            let runtime = inner.clone();
            async move {
                let pulse = runtime.get().expect("the runtime is built");
                pulse.dispatch(ChargeCard { invoice: order.order_id, amount_cents: 500 }).await
            }
        });
        let pulse = Pulse::new(env.dead_letters(), registry).with_retry(RetryPolicy::no_retries());
        runtime.set(pulse.clone()).expect("set once");
        (pulse, gateway)
    };
    // Outside a replay, both the inner and the outer command are captured.
    pulse.dispatch(ShipOrder { order_id: 5 }).await.unwrap_err();
    assert_eq!(pulse.dead_letters().statistics().await.unwrap().total, 2);
    let ship = pulse
        .dead_letters()
        .get_pending(10, 0)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.command_type == "orders.ship")
        .unwrap();
    let ReplayReport::Failed { entry, failure } = pulse.replay(ship.id).await.unwrap() else {
        panic!("the gateway is down");
    };
    assert_eq!(failure.exception_message, "gateway refused invoice 5");
    assert_eq!((entry.id, entry.attempt_count), (ship.id, 2));
    assert_eq!(pulse.dead_letters().statistics().await.unwrap().total, 2, "no new entry");
    assert_eq!(gateway.calls(), 2);
}
