//! `requests`: durable replay requests. Make one, list them, follow one, cancel one; the
//! services' workers run the replays.

use std::borrow::Cow;
use std::num::NonZeroU32;

use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use pulse::{DeadLetterId, Error, MAX_PER_SECOND, ReplayRequestId, ReplayRequestSpec, ReplaySelection, Uuid};
use serde::Deserialize;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, Ref, RefOr, SchemaFormat};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::REQUESTS;
use super::filter::Filter;
use crate::auth::{Access, Operate, Read};
use crate::extract::{Json, Object, Params, Path, QueryParams, once};
use crate::model::{ReplayProgress, ReplayRequest, RequestList};
use crate::problem::{ApiError, Problem};

/// The body of `POST requests`: exactly one of `entry`, `entries` and `filter`, and optionally
/// `note` and `per_second`.
///
/// Read as one object with every member optional, so that each mistake gets its own message;
/// the document describes it as the three shapes it may take (see [`PartialSchema`] below).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRequest {
    entry: Option<Uuid>,
    entries: Option<Vec<Uuid>>,
    filter: Option<Object<Filter>>,
    note: Option<String>,
    per_second: Option<u32>,
}

impl NewRequest {
    /// The library's request. Which entries may be requested, the note and the largest pace are
    /// the library's to judge.
    fn into_spec(self) -> Result<ReplayRequestSpec, ApiError> {
        let selection = match (self.entry, self.entries, self.filter) {
            (Some(id), None, None) => ReplaySelection::Entry(DeadLetterId::from_uuid(id)),
            (None, Some(ids), None) => {
                ReplaySelection::Entries(ids.into_iter().map(DeadLetterId::from_uuid).collect())
            }
            (None, None, Some(Object(filter))) => ReplaySelection::Matching(filter.into()),
            (None, None, None) => {
                return Err(ApiError::input(
                    "body",
                    "say which entries: give one of entry, entries and filter",
                ));
            }
            _ => return Err(ApiError::input("body", "give only one of entry, entries and filter")),
        };
        let per_second = self
            .per_second
            .map(|pace| {
                NonZeroU32::new(pace).ok_or_else(|| ApiError::input("per_second", "must be at least 1"))
            })
            .transpose()?;
        Ok(ReplayRequestSpec { selection, note: self.note, per_second })
    }
}

/// A UUID string.
fn uuid() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
}

/// The members every shape of [`NewRequest`] may have besides its selection.
fn common_members(object: ObjectBuilder) -> ObjectBuilder {
    let note = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .max_length(Some(4000))
        .description(Some("Why, for whoever reads the request later; at most 4,000 characters."));
    let per_second = ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(1))
        .maximum(Some(MAX_PER_SECOND))
        .description(Some(
            "At most this many of the request's replays start per second, across every worker together; \
             left out, as fast as the workers go.",
        ));
    object
        .property("note", note)
        .property("per_second", per_second)
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
}

impl PartialSchema for NewRequest {
    /// One of three objects, each with its selection member required and no other selection.
    fn schema() -> RefOr<Schema> {
        let entry = ObjectBuilder::new()
            .title(Some("One entry"))
            .property("entry", uuid())
            .required("entry")
            .description(Some("Replay this entry; it must be New, or its replay's lease expired."));
        let entries = ObjectBuilder::new()
            .title(Some("Several entries"))
            .property("entries", ArrayBuilder::new().items(uuid()).min_items(Some(1)).max_items(Some(1000)))
            .required("entries")
            .description(Some(
                "Replay these entries, 1 to 1,000; those not New or already requested are left out.",
            ));
        let filter = ObjectBuilder::new()
            .title(Some("A filter"))
            .property("filter", RefOr::Ref(Ref::from_schema_name(Filter::name())))
            .required("filter")
            .description(Some("Replay every New entry the filter selects, as `GET entries` reads it."));
        OneOfBuilder::new()
            .item(common_members(entry))
            .item(common_members(entries))
            .item(common_members(filter))
            .description(Some("Which entries to replay, why and how fast."))
            .into()
    }
}

impl ToSchema for NewRequest {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("NewReplayRequest")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Filter::name().into_owned(), Filter::schema()));
        Filter::schemas(schemas);
    }
}

/// A library error about a request, naming the body member at fault as the body names it.
fn as_body_error(error: Error) -> ApiError {
    match error {
        Error::InvalidInput { field: "ids", reason } => ApiError::input("entries", reason),
        Error::InvalidInput { field: "statuses", reason } => ApiError::input("status", reason),
        other => other.into(),
    }
}

/// Requests replay of one entry, several, or every New entry a filter selects.
///
/// The request is recorded with the caller as `requested_by`, and its entries are marked in the
/// same write; the services' workers replay them, at most `per_second` a second. Entries that
/// already have a pending request keep it. For one entry that already has a pending request, the
/// answer is that request.
#[utoipa::path(
    post,
    path = "/requests",
    operation_id = "create_request",
    tag = REQUESTS,
    request_body = NewRequest,
    responses(
        (status = CREATED, description = "The request as recorded", body = ReplayRequest,
            headers(("location" = String, description = "The request's path, relative to this one: `requests/{id}`"))),
        (status = BAD_REQUEST, description = "A bad body: not exactly one selection, a bad id, filter, note or pace", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "`entry` does not exist in the caller's tenant", body = Problem, content_type = "application/problem+json"),
        (status = CONFLICT, description = "`entry` is dismissed, resolved, or being replayed", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn create(
    access: Access<Operate>,
    Json(body): Json<NewRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let request = access.dead_letters.request_replays(body.into_spec()?).await.map_err(as_body_error)?;
    let location = format!("requests/{}", request.id);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], axum::Json(ReplayRequest::from(request))))
}

/// The query string of `GET requests`.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RequestParams {
    /// At most this many requests, 1 to 1000; 50 when left out.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    limit: Option<u32>,
    /// Only requests older than this one: the last id of the previous page.
    before: Option<Uuid>,
}

impl QueryParams for RequestParams {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, ApiError> {
        match key {
            "limit" => once(&mut self.limit, "limit", value)?,
            "before" => once(&mut self.before, "before", value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// Replay requests, newest first.
///
/// In the caller's tenant; an admin without a tenant sees every request. Pass the last id of a
/// page as `before` for the next one.
#[utoipa::path(
    get,
    path = "/requests",
    operation_id = "list_requests",
    tag = REQUESTS,
    params(RequestParams),
    responses(
        (status = OK, description = "The requests", body = RequestList),
        (status = BAD_REQUEST, description = "A bad parameter", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn list(
    access: Access<Read>,
    Params(params): Params<RequestParams>,
) -> Result<axum::Json<RequestList>, ApiError> {
    let before = params.before.map(ReplayRequestId::from_uuid);
    let requests = access.dead_letters.replay_requests(before, params.limit.unwrap_or(50)).await?;
    Ok(axum::Json(requests.into()))
}

/// A replay request and how far it has come.
///
/// Counted from its entries now, so any process sees the same progress.
#[utoipa::path(
    get,
    path = "/requests/{id}",
    operation_id = "get_request",
    tag = REQUESTS,
    params(("id" = Uuid, Path, description = "The request's id")),
    responses(
        (status = OK, description = "The request and its progress", body = ReplayProgress),
        (status = BAD_REQUEST, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "No such request in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn get(
    access: Access<Read>,
    Path(id): Path<ReplayRequestId>,
) -> Result<axum::Json<ReplayProgress>, ApiError> {
    Ok(axum::Json(access.dead_letters.replay_progress(id).await?.into()))
}

/// Cancels a replay request.
///
/// Its entries not yet claimed lose it; replays already running finish. Cancelling again
/// changes nothing.
#[utoipa::path(
    post,
    path = "/requests/{id}/cancel",
    operation_id = "cancel_request",
    tag = REQUESTS,
    params(("id" = Uuid, Path, description = "The request's id")),
    responses(
        (status = OK, description = "The request, cancelled", body = ReplayRequest),
        (status = BAD_REQUEST, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = NOT_FOUND, description = "No such request in the caller's tenant", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub(crate) async fn cancel(
    access: Access<Operate>,
    Path(id): Path<ReplayRequestId>,
) -> Result<axum::Json<ReplayRequest>, ApiError> {
    Ok(axum::Json(access.dead_letters.cancel_replay_request(id).await?.into()))
}
