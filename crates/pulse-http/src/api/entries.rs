//! `entries`: list, read, dismiss, resolve, edit and replay single entries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pulse::{DeadLetterId, Error, Resolution};
use serde::Deserialize;
use serde::de::{self, Deserializer};
use utoipa::ToSchema;

use super::ENTRIES;
use super::filter::{Filter, ListParams, Paging, Pending};
use crate::auth::{Access, Operate, Read};
use crate::extract::{Json, Params, Path};
use crate::model::{Entry, EntryPage, ReplayResult};
use crate::problem::{ApiError, Problem};
use crate::router::AppState;

/// One page of entries.
///
/// Newest failure first unless `order=oldest`; pass `next_cursor` back as `cursor` for the next
/// page.
#[utoipa::path(
    get,
    path = "/entries",
    operation_id = "list_entries",
    tag = ENTRIES,
    params(Filter, Pending, Paging),
    responses(
        (status = OK, description = "The page", body = EntryPage),
        (status = BAD_REQUEST, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list(
    access: Access<Read>,
    Params(params): Params<ListParams>,
) -> Result<axum::Json<EntryPage>, ApiError> {
    let page = access.dead_letters.list(params.into_query()?).await?;
    Ok(axum::Json(page.into()))
}

/// One entry, in any status.
#[utoipa::path(
    get,
    path = "/entries/{id}",
    operation_id = "get_entry",
    tag = ENTRIES,
    params(("id" = Uuid, Path, description = "The entry's id")),
    responses(
        (status = OK, description = "The entry", body = Entry),
        (status = BAD_REQUEST, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "No such entry in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn get(
    access: Access<Read>,
    Path(id): Path<DeadLetterId>,
) -> Result<axum::Json<Entry>, ApiError> {
    let entry = access.dead_letters.get_entry(id).await?.ok_or(Error::NotFound { id })?;
    Ok(axum::Json(entry.into()))
}

/// The body of a dismissal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DismissBody {
    /// Why, for whoever looks next; at most 4,000 characters.
    #[serde(default)]
    #[schema(max_length = 4000)]
    note: Option<String>,
}

/// Dismisses a New entry.
///
/// A dismissed entry is never replayed. Dismissing a dismissed entry again changes nothing.
#[utoipa::path(
    post,
    path = "/entries/{id}/dismiss",
    operation_id = "dismiss_entry",
    tag = ENTRIES,
    params(("id" = Uuid, Path, description = "The entry's id")),
    request_body = DismissBody,
    responses(
        (status = OK, description = "The dismissed entry", body = Entry),
        (status = BAD_REQUEST, description = "A bad id or body", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "No such entry in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = CONFLICT, description = "Resolved, or being replayed", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn dismiss(
    access: Access<Operate>,
    Path(id): Path<DeadLetterId>,
    Json(body): Json<DismissBody>,
) -> Result<axum::Json<Entry>, ApiError> {
    Ok(axum::Json(access.dead_letters.dismiss(id, body.note).await?.into()))
}

/// The body of a resolution.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveBody {
    /// How it was fixed (`ignored` is a dismissal: `POST entries/{id}/dismiss`).
    resolution: Fix,
    /// What was done, at most 4,000 characters.
    #[serde(default)]
    #[schema(max_length = 4000)]
    note: Option<String>,
}

/// How an entry was fixed: the resolutions other than `ignored`, which only a dismissal gives.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "snake_case")]
pub(crate) enum Fix {
    /// The command was run again by other means.
    Replayed,
    /// Someone fixed the effect outside Pulse.
    HandledExternally,
}

impl<'de> Deserialize<'de> for Fix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match String::deserialize(deserializer)?.as_str() {
            "replayed" => Ok(Self::Replayed),
            "handled_externally" => Ok(Self::HandledExternally),
            "ignored" => Err(de::Error::custom(
                "resolution `ignored` is a dismissal: POST entries/{id}/dismiss instead",
            )),
            other => Err(de::Error::custom(format!(
                "{other:?} is not a resolution; expected replayed or handled_externally"
            ))),
        }
    }
}

impl From<Fix> for Resolution {
    fn from(fix: Fix) -> Self {
        match fix {
            Fix::Replayed => Self::Replayed,
            Fix::HandledExternally => Self::HandledExternally,
        }
    }
}

/// Marks a New entry fixed outside Pulse.
#[utoipa::path(
    post,
    path = "/entries/{id}/resolve",
    operation_id = "resolve_entry",
    tag = ENTRIES,
    params(("id" = Uuid, Path, description = "The entry's id")),
    request_body = ResolveBody,
    responses(
        (status = OK, description = "The resolved entry", body = Entry),
        (status = BAD_REQUEST, description = "A bad id or body", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "No such entry in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = CONFLICT, description = "Already resolved or dismissed, or being replayed", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn resolve(
    access: Access<Operate>,
    Path(id): Path<DeadLetterId>,
    Json(body): Json<ResolveBody>,
) -> Result<axum::Json<Entry>, ApiError> {
    let entry = access.dead_letters.resolve(id, body.resolution.into(), body.note).await?;
    Ok(axum::Json(entry.into()))
}

/// The body of a payload edit.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PayloadBody {
    /// The corrected command, serialized as the service stores it.
    #[schema(min_length = 1)]
    payload: String,
    /// The version of the command `payload` is written in. Leave it out on a server with a
    /// runtime: the runtime checks that the payload deserializes and sets the command's current
    /// version. Without a runtime it is required.
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1, maximum = 4_294_967_295_u64)]
    command_version: Option<u32>,
}

/// Replaces an entry's payload.
///
/// For a corrected command, before the entry is replayed; the payload as first captured is kept.
#[utoipa::path(
    put,
    path = "/entries/{id}/payload",
    operation_id = "edit_payload",
    tag = ENTRIES,
    params(("id" = Uuid, Path, description = "The entry's id")),
    request_body = PayloadBody,
    responses(
        (status = OK, description = "The edited entry", body = Entry),
        (status = BAD_REQUEST, description = "A bad id or body, or a payload the command does not accept", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "No such entry in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = CONFLICT, description = "Dismissed, or being replayed", body = Problem, content_type = "application/problem+json"),
        (status = PAYLOAD_TOO_LARGE, description = "The body exceeds the limit", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn edit_payload(
    State(state): State<AppState>,
    access: Access<Operate>,
    Path(id): Path<DeadLetterId>,
    Json(body): Json<PayloadBody>,
) -> Result<axum::Json<Entry>, ApiError> {
    let dead_letters = access.dead_letters;
    let entry = match (body.command_version, state.replayer()) {
        (Some(version), _) => dead_letters.edit_payload(id, body.payload, version).await?,
        (None, Some(replayer)) => replayer.edit_payload(&dead_letters, id, body.payload).await?,
        (None, None) => {
            return Err(ApiError::input(
                "command_version",
                "required: this server has no runtime to check the payload against its command",
            ));
        }
    };
    Ok(axum::Json(entry.into()))
}

/// What `POST entries/{id}/replay` did.
pub(crate) enum Replayed {
    /// The replay ran in this process.
    Ran(ReplayResult),
    /// The replay was requested from the services' workers.
    Requested(Entry),
}

impl IntoResponse for Replayed {
    fn into_response(self) -> Response {
        match self {
            Self::Ran(result) => (StatusCode::OK, axum::Json(result)).into_response(),
            Self::Requested(entry) => (StatusCode::ACCEPTED, axum::Json(entry)).into_response(),
        }
    }
}

/// Replays an unresolved entry.
///
/// On a server with a runtime the replay runs now and its result is returned (200, also when
/// the command failed again); otherwise the replay is requested from the services' workers
/// (202).
#[utoipa::path(
    post,
    path = "/entries/{id}/replay",
    operation_id = "replay_entry",
    tag = ENTRIES,
    params(("id" = Uuid, Path, description = "The entry's id")),
    responses(
        (status = OK, description = "The replay ran; `outcome` says how it went", body = ReplayResult),
        (status = ACCEPTED, description = "The replay is requested", body = Entry),
        (status = BAD_REQUEST, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "No such entry in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = CONFLICT, description = "Dismissed, resolved, or being replayed", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn replay(
    State(state): State<AppState>,
    access: Access<Operate>,
    Path(id): Path<DeadLetterId>,
) -> Result<Replayed, ApiError> {
    Ok(match state.replayer() {
        Some(replayer) => Replayed::Ran(replayer.replay(&access.dead_letters, id).await?.into()),
        None => Replayed::Requested(access.dead_letters.request_replay(id).await?.into()),
    })
}
