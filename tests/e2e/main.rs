//! End-to-end scenarios of the Pulse runtime: each one runs on the memory, SQLite and PostgreSQL
//! stores.
//!
//! PostgreSQL comes from `PULSE_TEST_DATABASE_URL`, which `cargo xtask test` sets.

mod env;
mod lease;
mod operations;
mod paced_requests;
mod replay_paths;
mod runtime;
mod soak;

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
                    crate::scenarios::$scenario(&env).await;
                    env.close().await;
                }
            )*
        }
    };
}

/// Every scenario, by name.
mod scenarios {
    pub(crate) use crate::operations::*;
    pub(crate) use crate::replay_paths::*;
    pub(crate) use crate::runtime::*;
}

on_every_store!(
    capture_after_retries_keeps_the_whole_failure,
    permanent_errors_skip_the_retries,
    a_permanent_error_inside_anyhow_stays_permanent,
    duplicate_delivery_is_stored_once,
    failed_replay_counts_an_attempt_on_the_same_entry,
    successful_replay_resolves,
    old_payloads_are_upcast_before_dispatch,
    a_version_with_no_upcast_path_stays_new,
    edit_then_replay_runs_the_corrected_command,
    unknown_types_and_corrupt_payloads_stay_new_with_the_error,
    a_failing_store_does_not_mask_the_handlers_error,
    a_dispatch_inside_a_replay_is_not_captured_again,
    worker_replays_requested_entries_and_stops_when_idle,
    workers_replay_ten_thousand_entries_exactly_once_despite_a_dead_worker,
    worker_shutdown_finishes_what_it_can_and_leaves_the_rest_replayable,
    a_handler_outliving_its_time_limit_is_failed_not_doubled,
    dry_run_counts_by_command_type_and_tenant,
    bulk_dismiss_is_bound_to_the_plan_and_records_the_note,
    bulk_replay_reports_progress_while_it_runs,
    retention_purges_old_terminal_entries_and_never_unresolved_ones,
    auto_dismiss_rules_record_their_name_and_keep_entries_visible,
    concurrent_sweepers_purge_each_entry_once,
    health_check_reports_backlog_and_thresholds,
    health_check_reports_replays_nobody_claims,
    metrics_and_events_follow_each_operation,
    two_replays_of_one_failure_run_its_handler_once,
    a_panicking_handler_is_a_recorded_failure_in_every_replay_path,
    a_handler_knows_the_replay_it_runs_in,
);

/// Rate limits run on tokio's paused clock, so they are checked on the memory store, where no
/// real I/O runs while time is paused.
mod paced {
    use std::time::Duration;

    use pulse::{BulkOptions, EntryFilter, ReplayWorker, Selection, WorkerOptions};

    use crate::env::{Env, StoreKind};

    #[tokio::test(start_paused = true)]
    async fn bulk_replay_keeps_to_its_rate() {
        let env = Env::open(StoreKind::Memory).await;
        let (pulse, _bank) = crate::operations::refunds_for_pacing(&env, 6).await;
        let plan = pulse.plan(Selection::Query(EntryFilter::default())).await.unwrap();
        let started = tokio::time::Instant::now();
        let progress = pulse.bulk_replay(plan, BulkOptions::default().rate_limit(5.0)).wait().await;
        assert_eq!((progress.done, progress.remaining), (6, 0));
        // The first entry goes at once, the next five 200 ms apart.
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn worker_keeps_to_its_rate() {
        let env = Env::open(StoreKind::Memory).await;
        let (pulse, _bank) = crate::operations::refunds_for_pacing(&env, 6).await;
        pulse.dead_letters().request_replay_matching(EntryFilter::default()).await.unwrap();
        let started = tokio::time::Instant::now();
        let options = WorkerOptions::default().concurrency(1).rate_limit(2.0);
        let tally = ReplayWorker::new(pulse, options).drain().await.unwrap();
        assert_eq!(tally.replayed, 6);
        // Claims go 500 ms apart: the sixth entry at 2.5 s, and the claim that finds nothing
        // left at 3 s.
        assert_eq!(started.elapsed(), Duration::from_secs(3));
    }
}
