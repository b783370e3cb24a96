//! `health`, `metrics` and `openapi.json`: the API looking at itself.

use axum::Extension;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pulse::Scope;

use super::SYSTEM;
use crate::auth::{Access, Administer, Principal, Read, dead_letters_for};
use crate::model::{Health, HealthBody};
use crate::problem::{ApiError, Problem};
use crate::router::AppState;

/// The content type of the Prometheus text format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether the store is reachable and its backlog within bounds.
///
/// In the caller's tenant; in every tenant when the server made the check public.
#[utoipa::path(
    get,
    path = "/health",
    operation_id = "health",
    tag = SYSTEM,
    security((), ("bearer" = [])),
    responses(
        (status = OK, description = "Healthy", body = HealthBody),
        (status = SERVICE_UNAVAILABLE, description = "Degraded or unavailable", body = HealthBody),
    ),
)]
pub(crate) async fn health(
    State(state): State<AppState>,
    principal: Option<Extension<Principal>>,
) -> Result<Response, ApiError> {
    let dead_letters = match principal {
        Some(Extension(principal)) => dead_letters_for(state.dead_letters(), &principal)?,
        None => state.dead_letters().clone(),
    };
    let report = HealthBody::from(state.health_check().check(&dead_letters).await);
    let status = match report.status {
        Health::Healthy => StatusCode::OK,
        Health::Degraded | Health::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    Ok((status, axum::Json(report)).into_response())
}

/// The application's metrics, Pulse's among them, in the Prometheus text format.
///
/// Metrics carry every tenant's name, so only an admin without a tenant may read them.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = SYSTEM,
    responses(
        (status = OK, description = "The Prometheus text format", body = String, content_type = "text/plain"),
        (status = NOT_FOUND, description = "The server has no metrics", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    access: Access<Administer>,
) -> Result<Response, ApiError> {
    if *access.dead_letters.scope() != Scope::AllTenants {
        return Err(ApiError::Forbidden(
            "metrics show every tenant; only an admin without a tenant may read them".to_owned(),
        ));
    }
    let handle = state.metrics().ok_or(ApiError::NotConfigured("metrics"))?;
    Ok(([(header::CONTENT_TYPE, PROMETHEUS_TEXT)], handle.render()).into_response())
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = SYSTEM,
    responses((status = OK, description = "The document", content_type = "application/json")),
)]
pub(crate) async fn openapi(State(state): State<AppState>, _access: Access<Read>) -> Response {
    axum::Json(state.openapi()).into_response()
}
