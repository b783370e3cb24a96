//! `replay` and `purge`: operations on many entries at once.

use serde::Deserialize;
use utoipa::ToSchema;

use super::OPERATIONS;
use super::filter::Filter;
use crate::auth::{Access, Administer, Operate};
use crate::extract::Json;
use crate::model::{Instant, Purged, Requested};
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
