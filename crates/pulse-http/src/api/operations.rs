//! `replay`, `dismiss`, `resolve` and `purge`: operations on many entries at once.

use pulse::{BulkOptions, BulkPlan, DeadLetters, Resolution, Selection};
use serde::Deserialize;
use utoipa::ToSchema;

use super::OPERATIONS;
use super::filter::Filter;
use crate::auth::{Access, Administer, Operate};
use crate::extract::{Json, Object};
use crate::model::{BulkChange, Instant, Purged, Requested};
use crate::problem::{ApiError, Problem};

/// Requests replay of every New entry a filter selects.
///
/// The services' workers run them. Entries already requested keep their place; a filter
/// selecting no New status requests none.
#[utoipa::path(
    post,
    path = "/replay",
    operation_id = "request_replays",
    tag = OPERATIONS,
    request_body = Filter,
    responses(
        (status = OK, description = "How many entries were requested", body = Requested),
        (status = BAD_REQUEST, description = "A bad filter", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn replay_matching(
    access: Access<Operate>,
    Json(filter): Json<Filter>,
) -> Result<axum::Json<Requested>, ApiError> {
    let requested = access.dead_letters.request_replay_matching(filter.into()).await?;
    Ok(axum::Json(Requested { requested }))
}

/// The body of a purge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PurgeBody {
    /// Delete entries resolved or dismissed strictly before this instant.
    resolved_before: Instant,
    /// Delete at most this many; 1000 when left out. Repeat while `purged` equals it.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 4_294_967_295_u64, default = 1000)]
    limit: Option<u32>,
}

/// Deletes resolved and dismissed entries resolved before an instant.
///
/// Never touches New or replaying entries.
#[utoipa::path(
    post,
    path = "/purge",
    operation_id = "purge",
    tag = OPERATIONS,
    request_body = PurgeBody,
    responses(
        (status = OK, description = "How many entries were deleted", body = Purged),
        (status = BAD_REQUEST, description = "A bad body", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn purge(
    access: Access<Administer>,
    Json(body): Json<PurgeBody>,
) -> Result<axum::Json<Purged>, ApiError> {
    let purged = access.dead_letters.purge(body.resolved_before.0, body.limit.unwrap_or(1000)).await?;
    Ok(axum::Json(Purged { purged }))
}

/// The body of a bulk dismiss or resolve: which entries, why, and whether to act.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkBody {
    /// Which entries; only the New ones it selects change.
    #[schema(value_type = Filter)]
    filter: Object<Filter>,
    /// Recorded on every entry changed; at most 4,000 characters.
    #[serde(default)]
    #[schema(nullable = true, max_length = 4000)]
    note: Option<String>,
    /// `true` to change the entries; left out or `false`, only the plan is returned (a dry run)
    /// and nothing changes.
    #[serde(default)]
    confirm: bool,
}

/// The plan of a bulk change, and with `confirm` the change of exactly its entries still New.
async fn bulk(dead_letters: &DeadLetters, body: BulkBody, resolve: bool) -> Result<BulkChange, ApiError> {
    let Object(filter) = body.filter;
    let plan: BulkPlan = pulse::plan(dead_letters, Selection::Query(filter.into())).await?;
    if !body.confirm {
        return Ok(BulkChange::planned(&plan));
    }
    let entries = plan.len() as u64;
    let (by_command_type, by_tenant) = (plan.by_command_type.clone(), plan.by_tenant.clone());
    let job = if resolve {
        pulse::resolve_all(
            dead_letters,
            plan,
            Resolution::HandledExternally,
            body.note,
            BulkOptions::default(),
        )
    } else {
        pulse::dismiss_all(dead_letters, plan, body.note, BulkOptions::default())
    };
    Ok(BulkChange::done(entries, by_command_type, by_tenant, &job.wait().await))
}

/// Dismisses every New entry a filter selects, with a note; a dry run unless `confirm`.
///
/// The dry run answers how many entries would change, by command type and by tenant; with
/// `confirm`, exactly those entries still New are dismissed, one by one.
#[utoipa::path(
    post,
    path = "/dismiss",
    operation_id = "dismiss_matching",
    tag = OPERATIONS,
    request_body = BulkBody,
    responses(
        (status = OK, description = "The plan, and with `confirm` what changed", body = BulkChange),
        (status = BAD_REQUEST, description = "A bad body", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn dismiss_matching(
    access: Access<Operate>,
    Json(body): Json<BulkBody>,
) -> Result<axum::Json<BulkChange>, ApiError> {
    Ok(axum::Json(bulk(&access.dead_letters, body, false).await?))
}

/// Resolves every New entry a filter selects as fixed outside Pulse (`handled_externally`), with
/// a note; a dry run unless `confirm`.
#[utoipa::path(
    post,
    path = "/resolve",
    operation_id = "resolve_matching",
    tag = OPERATIONS,
    request_body = BulkBody,
    responses(
        (status = OK, description = "The plan, and with `confirm` what changed", body = BulkChange),
        (status = BAD_REQUEST, description = "A bad body", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn resolve_matching(
    access: Access<Operate>,
    Json(body): Json<BulkBody>,
) -> Result<axum::Json<BulkChange>, ApiError> {
    Ok(axum::Json(bulk(&access.dead_letters, body, true).await?))
}
