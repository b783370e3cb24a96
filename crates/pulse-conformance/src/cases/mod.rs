//! The conformance cases, one module per part of the contract (`docs/conformance.md` lists them).
//!
//! Every case is a public async function taking a [`Harness`] and panicking on a violation.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Barrier;

use pulse_extensibility::{
    CommandDeadLetterStatus, DeadLetterEntry, DeadLetterId, DeadLetters, Failure, NewDeadLetter,
    StoreReceipt, TenantId, Timestamp, fingerprint::fingerprint,
};

use crate::Harness;

pub mod concurrency;
pub mod differential;
pub mod dismiss;
pub mod durability;
pub mod edges;
pub mod edit;
pub mod groups;
pub mod handles;
pub mod histogram;
pub mod idempotency;
pub mod list;
pub mod primitives;
pub mod purge;
pub mod reads;
pub mod replay;
pub mod replay_requests;
pub mod requests;
pub mod statistics;
pub mod store;
pub mod tenants;

/// Calls `$callback!(extra tokens; module: [case, ...], ...; durable_only: module: [case, ...])`
/// with every case of the suite; the cases after `durable_only` need a durable backend.
#[doc(hidden)]
#[macro_export]
macro_rules! for_each_case {
    ($callback:path, $($extra:tt)*) => {
        $callback! { $($extra)*;
            store: [
                stored_entry_has_every_field_as_given,
                store_defaults_to_one_attempt_and_now,
                store_keeps_attempt_count_and_first_failure,
                store_rejects_empty_command_type,
                store_rejects_whitespace_only_command_type,
                store_limits_command_type_to_500_characters,
                store_rejects_empty_payload,
                store_limits_payload_size,
                store_rejects_nul_in_payload,
                store_rejects_zero_attempt_count,
                store_rejects_empty_metadata_key,
                store_rejects_first_failure_in_the_future,
                store_truncates_exception_type_on_a_character_boundary,
                store_replaces_nul_in_exception_text,
                store_keeps_unicode_and_large_payloads_exactly,
                store_keeps_microsecond_timestamps,
                ids_are_time_ordered_uuid_v7,
                store_many_returns_receipts_in_order,
                store_many_is_all_or_nothing,
                store_many_of_nothing_writes_nothing,
                store_keeps_whitespace_line_breaks_and_unicode_forms_exactly,
                store_truncates_exception_message_and_details_by_characters,
            ],
            idempotency: [
                duplicate_message_id_returns_the_existing_id,
                duplicate_changes_nothing,
                same_message_id_in_another_tenant_is_a_new_entry,
                duplicate_within_one_batch_is_stored_once,
                large_batch_with_duplicates_keeps_order_and_ids,
                entries_without_message_id_are_never_duplicates,
                concurrent_duplicates_leave_exactly_one_entry,
                a_message_id_stored_again_after_its_entry_was_purged_is_a_new_entry,
                duplicates_name_the_entry_of_their_own_tenant,
            ],
            reads: [
                get_entry_of_an_unknown_id_is_none,
                get_entry_returns_entries_in_every_status,
                get_pending_returns_new_entries_oldest_first,
                get_pending_breaks_ties_by_id,
                get_pending_counts_and_skips,
                get_pending_rejects_counts_outside_1_to_1000,
                get_pending_leaves_out_entries_that_are_not_new,
            ],
            list: [
                list_filters_by_status,
                list_filters_by_command_and_exception_type,
                list_filters_by_fingerprint,
                list_filters_by_time_range,
                list_orders_newest_or_oldest_first,
                list_pages_visit_every_entry_once,
                list_paging_survives_new_arrivals,
                list_last_page_has_no_cursor,
                list_rejects_limits_outside_1_to_1000,
                list_rejects_a_cursor_of_the_other_order,
                list_rejects_an_inverted_time_range,
                list_and_count_select_entries_resolved_strictly_before,
            ],
            statistics: [
                statistics_of_an_empty_store_are_zero,
                statistics_count_each_status,
                statistics_per_tenant,
                unresolved_count_is_new_plus_replaying,
            ],
            groups: [
                stored_fingerprint_is_the_contract_fingerprint,
                error_groups_merge_messages_that_differ_in_volatile_parts,
                error_groups_have_counts_times_and_latest_sample,
                error_groups_leave_out_terminal_entries,
                error_groups_are_largest_first_and_limited,
                error_groups_reject_limits_outside_1_to_1000,
                stored_fingerprints_match_the_pinned_vectors,
                error_groups_tied_on_count_and_last_seen_are_ordered_by_fingerprint,
                error_group_sample_is_the_latest_failure_with_the_highest_id,
            ],
            histogram: [
                histogram_buckets_are_half_open,
                histogram_applies_the_filter,
                histogram_intersects_the_filters_time_range,
                histogram_counts_only_the_scopes_tenant,
                histogram_equals_the_counts_of_its_buckets,
                histogram_rejects_bad_buckets,
            ],
            replay: [
                begin_replay_takes_a_lease,
                begin_replay_of_a_dismissed_entry_is_dismissed,
                begin_replay_during_a_live_lease_conflicts,
                begin_replay_after_the_lease_expires_succeeds,
                begin_replay_of_an_unknown_id_is_not_found,
                begin_replay_of_a_resolved_entry_conflicts,
                replaying_a_resolved_entry_needs_the_revision_seen,
                concurrent_replays_of_one_failure_resolve_it_once,
                finish_with_success_resolves,
                finish_with_failure_returns_to_new_with_one_more_attempt,
                finish_with_a_stale_token_is_lease_lost,
                failed_replays_never_create_a_second_entry,
                concurrent_begins_on_one_entry_exactly_one_wins,
                dropped_replay_is_replayable_after_the_lease,
            ],
            requests: [
                request_replay_marks_the_entry,
                request_replay_refuses_dismissed_and_leased_entries,
                request_replay_of_a_resolved_entry_conflicts,
                request_replay_matching_marks_only_matching_new_entries,
                claim_takes_requested_entries_oldest_request_first,
                claim_skips_live_leases_and_takes_expired_ones,
                finished_replay_clears_the_request,
                concurrent_claimers_receive_disjoint_sets,
                request_replay_matching_advances_the_revision_of_each_marked_entry,
                a_bulk_request_racing_dismisses_loses_no_write,
            ],
            dismiss: [
                dismiss_records_note_and_time,
                dismissing_twice_changes_nothing,
                dismissing_a_resolved_entry_conflicts,
                dismiss_during_a_live_lease_conflicts,
                dismiss_after_the_lease_expires_succeeds,
                resolve_records_resolution_and_note,
                resolve_with_ignored_is_invalid_input,
                resolving_a_terminal_entry_conflicts,
                changes_to_an_unknown_id_are_not_found,
                notes_are_validated,
                resolve_during_a_live_lease_conflicts,
            ],
            edit: [
                edit_replaces_the_payload_and_keeps_the_original,
                edit_rejects_a_bad_payload,
                edit_refuses_dismissed_and_leased_entries,
            ],
            purge: [
                purge_deletes_only_terminal_entries_resolved_strictly_before,
                purge_respects_the_limit,
                a_large_purge_deletes_exactly_what_it_may,
                purge_rejects_a_zero_limit,
                concurrent_purges_delete_each_entry_once,
                purge_keeps_an_entry_replayed_again_after_it_was_resolved,
            ],
            replay_requests: [
                a_request_is_recorded_and_its_entries_get_slots_at_its_pace,
                claims_take_only_entries_whose_slot_has_come,
                cancel_takes_the_request_from_unclaimed_entries,
                progress_counts_how_each_entry_of_a_request_stands,
                requests_are_listed_newest_first_and_paged,
                a_tenant_sees_only_the_requests_made_in_it,
                bad_requests_are_invalid_input_and_record_nothing,
                a_request_for_named_entries_marks_only_new_unrequested_ones,
                concurrent_requests_mark_each_entry_once,
                a_cancel_racing_claims_takes_each_entry_once,
                count_matches_the_listing_for_every_filter,
                oldest_due_replay_is_the_earliest_waiting_slot,
                every_operator_change_records_who_made_it,
            ],
            tenants: [
                tenant_scope_reads_only_its_own_entries,
                tenant_scope_error_groups_show_only_its_failures,
                tenant_scope_cannot_change_another_tenants_entries,
                tenant_scope_stores_only_its_own_tenant,
                tenant_scope_requests_claims_and_purges_only_its_own,
            ],
            handles: [
                a_second_handle_sees_every_write,
            ],
            concurrency: [
                concurrent_stores_all_land,
                concurrent_dismiss_and_replay_exactly_one_wins,
                concurrent_finishes_with_one_token_apply_once,
                a_change_that_loses_its_swap_reads_and_decides_again,
            ],
            primitives: [
                swap_from_the_stored_revision_writes,
                swap_from_another_revision_writes_nothing,
                swap_of_a_missing_or_foreign_entry_writes_nothing,
                insert_failing_part_way_writes_nothing,
            ],
            edges: [
                instants_outside_the_years_1_to_9999_are_invalid_input,
                instants_at_the_ends_of_the_range_are_kept_and_compared,
                nul_in_filter_strings_is_invalid_input,
                transitions_write_instants_to_the_microsecond,
            ],
            differential: [
                random_operations_match_the_reference_model,
            ];
            durable_only: durability: [
                reopen_keeps_entries_and_their_state,
            ],
        }
    };
}

/// The failure most cases store.
pub fn timeout(order: u32) -> Failure {
    Failure::new("TimeoutError", format!("order {order} timed out after 30s"))
}

/// A command of `command_type` with a small JSON payload, failed once by a timeout.
pub fn command(command_type: &str) -> NewDeadLetter {
    NewDeadLetter::new(command_type, r#"{"order_id":42}"#, timeout(42))
}

/// Stores `input` and returns the stored entry.
pub async fn store(dead_letters: &DeadLetters, input: NewDeadLetter) -> DeadLetterEntry {
    let receipt = dead_letters.store(input).await.expect("store");
    assert!(
        !receipt.duplicate,
        "storing an entry whose message id is absent or new in its tenant is not a duplicate"
    );
    dead_letters.get_entry(receipt.id).await.expect("get_entry").expect("stored entry exists")
}

/// Stores one `command(command_type)`, then moves the clock one millisecond on, so entries stored
/// one after another have distinct failure times.
pub async fn store_tick(h: &Harness, command_type: &str) -> DeadLetterEntry {
    let entry = store(&h.store, command(command_type)).await;
    h.clock.advance(Duration::from_millis(1));
    entry
}

/// The entry that `input` becomes when stored with `receipt` at `now`.
pub fn expected_entry(input: &NewDeadLetter, receipt: StoreReceipt, now: Timestamp) -> DeadLetterEntry {
    let exception_type: String = input.failure.exception_type.chars().take(500).collect();
    DeadLetterEntry {
        id: receipt.id,
        tenant: input.tenant.clone(),
        message_id: input.message_id.clone(),
        command_type: input.command_type.clone(),
        command_version: input.command_version,
        payload: input.payload.clone(),
        original_payload: None,
        fingerprint: fingerprint(&input.command_type, &exception_type, &input.failure.exception_message),
        exception_type,
        exception_message: input.failure.exception_message.clone(),
        exception_details: input.failure.exception_details.clone(),
        source: input.source.clone(),
        metadata: input.metadata.clone(),
        attempt_count: input.attempt_count,
        first_failed_at: input.first_failed_at.unwrap_or(now),
        occurred_at: now,
        status: CommandDeadLetterStatus::New,
        resolution: None,
        note: None,
        resolved_at: None,
        lease: None,
        replay_requested_at: None,
        replay_request: None,
        changed_by: None,
        created_at: now,
        updated_at: now,
        revision: 1,
    }
}

/// A tenant by name.
pub fn tenant(name: &str) -> TenantId {
    TenantId::new(name).expect("valid tenant")
}

/// The ids of `entries`, in order.
pub fn ids(entries: &[DeadLetterEntry]) -> Vec<DeadLetterId> {
    entries.iter().map(|entry| entry.id).collect()
}

/// A metadata map from pairs.
pub fn metadata(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Runs `n` tasks, task `i` made by `task(i)`, on the runtime's worker threads, released
/// together by a barrier so they really overlap; returns their results in task order.
pub async fn race<F, Fut, T>(n: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, work) = (barrier.clone(), task(i));
            tokio::spawn(async move {
                barrier.wait().await;
                work.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(n);
    for task in tasks {
        results.push(task.await.expect("a racing task panicked"));
    }
    results
}

/// The reason of a `Conflict` from a live lease, as the shared state machine words it: a loser
/// of a race must get this one, not the one for giving up after lost swaps.
pub const LIVE_LEASE: &str = "a replay holds a live lease";
