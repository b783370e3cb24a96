//! What a backend author provides ([`BackendFactory`]) and what each case gets ([`Harness`]).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pulse_extensibility::{Capabilities, DeadLetterBackend, DeadLetters, DeadLettersOptions, ManualClock};

/// The lease every case's store uses, so cases can step past it with the clock.
pub const LEASE: Duration = Duration::from_secs(60);

/// Opens stores of one backend for the conformance cases.
#[async_trait]
pub trait BackendFactory: Send + Sync + 'static {
    /// Opens the store called `name`, creating it empty the first time.
    ///
    /// `name` is unique per case and is a valid SQL identifier (`pulse_c_` and hex digits), so a
    /// backend can use it as a schema, a table or a file name. Opening the same name again, after
    /// the earlier handles are dropped, reopens the same data on a durable backend.
    async fn open(&self, name: &str) -> Arc<dyn DeadLetterBackend>;

    /// Removes what `open(name)` created. Called when the case ends, whether it passed or not.
    async fn cleanup(&self, name: &str) {
        let _ = name;
    }
}

/// The context of one case: a fresh empty store on a manual clock.
pub struct Harness {
    factory: Arc<dyn BackendFactory>,
    name: String,
    /// Every store name the case opened, the first included: [`run_case`] cleans them all up.
    names: Arc<Mutex<Vec<String>>>,
    /// The clock every instant comes from; cases move it.
    pub clock: Arc<ManualClock>,
    /// The store under test, seeing all tenants.
    pub store: DeadLetters,
    backend: Arc<dyn DeadLetterBackend>,
}

impl Harness {
    async fn open(factory: Arc<dyn BackendFactory>, names: Arc<Mutex<Vec<String>>>) -> Self {
        let name = format!("pulse_c_{:016x}", rand::random::<u64>());
        names.lock().expect("the name list is never poisoned").push(name.clone());
        let clock = Arc::new(ManualClock::default());
        let backend = factory.open(&name).await;
        let store = dead_letters(backend.clone(), clock.clone());
        Self { factory, name, names, clock, store, backend }
    }

    /// Another harness of the same backend on a new, empty store with a clock of its own, for a
    /// case that runs one scenario several times from scratch (the differential case shrinking
    /// a failure). Its store is cleaned up when the case ends, with the case's own.
    pub async fn fresh(&self) -> Self {
        Self::open(self.factory.clone(), self.names.clone()).await
    }

    /// What the backend declares it can do.
    pub fn capabilities(&self) -> Capabilities {
        self.backend.capabilities()
    }

    /// Another handle on the same store, as a second process would open it.
    pub async fn open_again(&self) -> DeadLetters {
        dead_letters(self.factory.open(&self.name).await, self.clock.clone())
    }

    /// Drops the store (every handle the case kept must be dropped first) and opens it again,
    /// as after a restart.
    pub async fn reopen(self) -> Self {
        let Self { factory, name, names, clock, store, backend } = self;
        drop(store);
        drop(backend);
        let backend = factory.open(&name).await;
        let store = dead_letters(backend.clone(), clock.clone());
        Self { factory, name, names, clock, store, backend }
    }

    /// A handle on `backend` with this case's clock and settings: for a case that wraps the
    /// store under test.
    pub fn dead_letters_over(&self, backend: Arc<dyn DeadLetterBackend>) -> DeadLetters {
        dead_letters(backend, self.clock.clone())
    }

    /// Fails the case unless the backend declares itself durable.
    pub fn assert_durable(&self) {
        assert!(
            self.capabilities().durable,
            "this case needs a durable backend; for one that is not, call conformance_tests!(factory, durable = false)"
        );
    }
}

fn dead_letters(backend: Arc<dyn DeadLetterBackend>, clock: Arc<ManualClock>) -> DeadLetters {
    DeadLetters::new(backend)
        .with_clock(clock)
        .with_options(DeadLettersOptions::default().lease_duration(LEASE).max_payload_bytes(64 * 1024))
}

/// Checks that the backend from `factory` declares the durability `conformance_tests!` was told.
/// Called by the test that [`crate::conformance_tests!`] generates.
pub fn check_declared_durability(factory: Arc<dyn BackendFactory>, declared: bool) {
    run_case(factory, move |h| async move {
        assert_eq!(
            h.capabilities().durable,
            declared,
            "conformance_tests! was told durable = {declared}, but the backend's capabilities say otherwise"
        );
    });
}

/// Runs one case on a fresh store from `factory`, then cleans up every store the case opened,
/// also when the case fails.
/// Called by the tests that [`crate::conformance_tests!`] generates.
pub fn run_case<F, Fut>(factory: Arc<dyn BackendFactory>, case: F)
where
    F: FnOnce(Harness) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime for the case");
    runtime.block_on(async move {
        let names = Arc::new(Mutex::new(Vec::new()));
        let harness = Harness::open(factory.clone(), names.clone()).await;
        let outcome = tokio::spawn(AssertUnwindSafe(case(harness))).await;
        let names = std::mem::take(&mut *names.lock().expect("the name list is never poisoned"));
        for name in names {
            factory.cleanup(&name).await;
        }
        if let Err(error) = outcome {
            std::panic::resume_unwind(error.into_panic());
        }
    });
}
