//! The admin API over real HTTP: each case serves the router on a loopback port, talks to it
//! with a real client, and runs on the memory, SQLite and PostgreSQL stores.
//!
//! PostgreSQL comes from `PULSE_TEST_DATABASE_URL`, which `cargo xtask test` sets; without it
//! the PostgreSQL cases fail, saying so.

mod access;
mod common;
mod dashboard;
mod entries;
mod problems;
mod requests;
#[path = "../support/store.rs"]
mod store;
mod system;

/// Expands to one test per case and store: `memory::<case>`, `sqlite::<case>`,
/// `postgres::<case>`.
macro_rules! on_every_store {
    ($($case:ident),* $(,)?) => {
        on_every_store!(@store memory, Memory; $($case),*);
        on_every_store!(@store sqlite, Sqlite; $($case),*);
        on_every_store!(@store postgres, Postgres; $($case),*);
    };
    (@store $module:ident, $kind:ident; $($case:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = crate::common::Env::open(crate::common::StoreKind::$kind).await;
                    crate::cases::$case(&env).await;
                }
            )*
        }
    };
}

/// Every case, by name.
mod cases {
    pub(crate) use crate::access::*;
    pub(crate) use crate::dashboard::*;
    pub(crate) use crate::entries::*;
    pub(crate) use crate::problems::*;
    pub(crate) use crate::requests::*;
    pub(crate) use crate::system::*;
}

on_every_store!(
    every_endpoint_answers_each_caller_with_its_status,
    refusals_say_what_is_missing,
    tenants_see_only_their_own_entries,
    a_custom_authorizer_decides_who_calls,
    an_api_over_one_tenant_refuses_other_tenants,
    an_entry_reads_back_whole,
    pages_walk_a_seeded_set_in_order,
    state_rules_come_from_the_library,
    payload_edits_keep_the_original,
    a_runtime_replays_now_and_checks_payloads,
    a_request_past_the_timeout_is_503,
    requests_are_made_followed_and_cancelled,
    a_paced_request_spreads_its_entries,
    tenants_never_see_each_others_requests,
    requests_page_newest_first,
    bad_request_bodies_are_400,
    count_counts_what_a_filter_selects,
    bulk_dismiss_and_resolve_plan_then_confirm,
    bad_parameters_are_400_naming_the_parameter,
    bad_bodies_are_400_415_or_413,
    oversized_bodies_are_413,
    unknown_routes_and_methods_are_problems,
    health_is_200_when_healthy_and_503_otherwise,
    metrics_render_the_applications_recorder,
    the_document_lists_every_route,
    requests_carry_an_id,
    settings_show_without_secrets,
    the_dashboard_signs_in_and_serves_every_page,
    viewers_and_forged_forms_change_nothing,
    the_dashboard_keeps_tenants_apart,
    bulk_changes_act_on_what_the_preview_showed,
);
