//! The memory store never waits, so a loop of its calls would keep its worker thread to itself;
//! each call spends a unit of the task's cooperative budget instead, as a Tokio resource does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pulse_extensibility::{DeadLetterBackend, Scope, Timestamp};
use pulse_store_memory::MemoryStore;

/// On a runtime of one thread, a task spawned beside a loop of purges runs before the loop
/// ends: the loop yields once its budget (128 units in Tokio) is spent.
#[tokio::test(flavor = "current_thread")]
async fn a_loop_of_calls_yields_to_other_tasks() {
    let store = MemoryStore::new();
    let ran = Arc::new(AtomicBool::new(false));
    let beside = tokio::spawn({
        let ran = ran.clone();
        async move { ran.store(true, Ordering::SeqCst) }
    });
    let mut calls = 0;
    while !ran.load(Ordering::SeqCst) {
        assert!(calls < 1_000, "the task beside the loop did not run in {calls} calls");
        store.purge(&Scope::AllTenants, Timestamp::from_micros(0), 1_000).await.unwrap();
        calls += 1;
    }
    beside.await.unwrap();
}
