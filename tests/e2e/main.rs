//! End-to-end scenarios of the Pulse runtime: each one runs on the memory, SQLite and PostgreSQL
//! stores.
//!
//! PostgreSQL comes from `PULSE_TEST_DATABASE_URL`, which `cargo xtask test` sets.

mod env;
mod runtime;

/// Expands to one test per scenario and store: `memory::<scenario>`, `sqlite::<scenario>`,
/// `postgres::<scenario>`.
macro_rules! on_every_store {
    ($($scenario:ident),* $(,)?) => {
        on_every_store!(@store memory, Memory; $($scenario),*);
        on_every_store!(@store sqlite, Sqlite; $($scenario),*);
        on_every_store!(@store postgres, Postgres; $($scenario),*);
    };
    (@store $module:ident, $kind:ident; $($scenario:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    let env = crate::env::Env::open(crate::env::StoreKind::$kind).await;
                    crate::runtime::$scenario(&env).await;
                    env.close().await;
                }
            )*
        }
    };
}

on_every_store!(
    capture_after_retries_keeps_the_whole_failure,
    permanent_errors_skip_the_retries,
    duplicate_delivery_is_stored_once,
    failed_replay_counts_an_attempt_on_the_same_entry,
    successful_replay_resolves,
    old_payloads_are_upcast_before_dispatch,
    a_version_with_no_upcast_path_stays_new,
    edit_then_replay_runs_the_corrected_command,
    unknown_types_and_corrupt_payloads_stay_new_with_the_error,
    a_failing_store_does_not_mask_the_handlers_error,
    a_dispatch_inside_a_replay_is_not_captured_again,
);
