//! `stats`, `count` and `groups`: what is failing, and how much.

use utoipa::IntoParams;

use super::OVERVIEW;
use super::filter::{Filter, Pending, ReadFilter};
use crate::auth::{Access, Read};
use crate::extract::{Params, QueryParams, once};
use crate::model::{Group, Stats};
use crate::problem::{ApiError, Problem};

/// How many entries stand in each status.
#[utoipa::path(
    get,
    path = "/stats",
    operation_id = "statistics",
    tag = OVERVIEW,
    responses((status = OK, description = "The counts", body = Stats)),
)]
pub(crate) async fn stats(access: Access<Read>) -> Result<axum::Json<Stats>, ApiError> {
    Ok(axum::Json(access.dead_letters.statistics().await?.into()))
}

/// How many entries a filter selects, in each status.
///
/// Counts without reading the entries; the filter is `GET entries`'.
#[utoipa::path(
    get,
    path = "/count",
    operation_id = "count_entries",
    tag = OVERVIEW,
    params(Filter, Pending),
    responses(
        (status = OK, description = "The counts", body = Stats),
        (status = BAD_REQUEST, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn count(
    access: Access<Read>,
    Params(filter): Params<ReadFilter>,
) -> Result<axum::Json<Stats>, ApiError> {
    Ok(axum::Json(access.dead_letters.count(&filter.into()).await?.into()))
}

/// The query string of `GET groups`.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GroupParams {
    /// At most this many groups, 1 to 1000; 50 when left out.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    limit: Option<u32>,
}

impl QueryParams for GroupParams {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, ApiError> {
        match key {
            "limit" => once(&mut self.limit, "limit", value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Groups of unresolved entries that failed the same way, largest first.
#[utoipa::path(
    get,
    path = "/groups",
    operation_id = "error_groups",
    tag = OVERVIEW,
    params(GroupParams),
    responses(
        (status = OK, description = "The groups", body = Vec<Group>),
        (status = BAD_REQUEST, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn groups(
    access: Access<Read>,
    Params(params): Params<GroupParams>,
) -> Result<axum::Json<Vec<Group>>, ApiError> {
    let groups = access.dead_letters.error_groups(params.limit.unwrap_or(50)).await?;
    Ok(axum::Json(groups.into_iter().map(Into::into).collect()))
}
