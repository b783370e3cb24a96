//! [`ApiError`]: every error an endpoint returns, and its one mapping to an RFC 9457
//! `application/problem+json` response.
//!
//! The rule for bad input: anything the caller got wrong in a request it may retry corrected
//! is 400, whether the JSON was malformed, a value had the wrong type, or the library rejected a
//! well-formed value. Only the size (413) and the media type (415) of a body have codes of their
//! own. 422 is never used.

use std::borrow::Cow;
use std::error::Error as _;

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use pulse::Error;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthError;

/// Seconds a client should wait before retrying a request that failed for a reason that may pass.
const RETRY_AFTER_SECONDS: &str = "5";

/// The media type of every error body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// Why a request failed. Converted once, in [`IntoResponse`], to a status and a problem body.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// What the library said.
    Pulse(Error),
    /// No credentials, or ones the authorizer does not accept.
    Unauthenticated(AuthError),
    /// The principal may not do this.
    Forbidden(String),
    /// A path parameter, query parameter or body the API could not accept.
    Input {
        /// The parameter or member at fault, `body` when the whole body is.
        field: Cow<'static, str>,
        /// What is wrong with it.
        reason: String,
    },
    /// The body exceeds the limit.
    PayloadTooLarge(String),
    /// The body is not JSON.
    UnsupportedMediaType(String),
    /// The feature behind the route was not configured.
    NotConfigured(&'static str),
    /// What the path names is not there, for a reason of the API's own (the library's
    /// `NotFound` covers entries and requests).
    NotFound(String),
    /// No route has this path.
    NoRoute,
    /// The route exists, with other methods.
    MethodNotAllowed,
    /// The request took longer than the API's timeout.
    Timeout,
}

impl ApiError {
    /// An [`ApiError::Input`] for `field`.
    pub(crate) fn input(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Self::Input { field: field.into(), reason: reason.into() }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        Self::Pulse(error)
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        Self::Unauthenticated(error)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(rejection.body_text()),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(rejection.body_text()),
            _ => Self::input("body", rejection.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::input("id", rejection.body_text())
    }
}

/// An RFC 9457 problem: the body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Problem {
    /// Always `about:blank`: `kind` says what went wrong.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    problem_type: &'static str,
    /// The HTTP status's reason phrase.
    #[schema(example = "Not Found")]
    title: &'static str,
    /// The HTTP status.
    #[schema(example = 404)]
    status: u16,
    /// What went wrong, for a person.
    #[schema(example = "dead letter 0198f0b4-1c2d-7e3f-8a4b-5c6d7e8f9a0b not found")]
    detail: String,
    /// What went wrong, for a program: `not_found`, `conflict`, `dismissed`, `lease_lost`,
    /// `invalid_input`, `unauthenticated`, `forbidden`, `payload_too_large`,
    /// `unsupported_media_type`, `not_configured`, `no_route`, `method_not_allowed`, `timeout`,
    /// `unavailable`, `backend`, `invalid_config` or `internal`.
    #[schema(example = "not_found")]
    kind: &'static str,
    /// The parameter or body member at fault, for `invalid_input`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "limit")]
    field: Option<String>,
}

/// The status, kind, detail and field of an [`ApiError`]: the one mapping, shared by the API's
/// problems and the dashboard's error pages. A store failure that is the server's fault is
/// logged here.
pub(crate) fn classify(error: ApiError) -> (StatusCode, &'static str, String, Option<String>) {
    use StatusCode as S;
    match error {
        ApiError::Pulse(error) => {
            let classified = classify_pulse(&error);
            if classified.0.is_server_error() {
                tracing::error!(error = %chain(&error), "request failed in the store");
            }
            classified
        }
        ApiError::Unauthenticated(error @ AuthError::Unavailable { .. }) => {
            (S::SERVICE_UNAVAILABLE, "unavailable", error.to_string(), None)
        }
        ApiError::Unauthenticated(error) => (S::UNAUTHORIZED, "unauthenticated", error.to_string(), None),
        ApiError::Forbidden(detail) => (S::FORBIDDEN, "forbidden", detail, None),
        ApiError::Input { field, reason } => {
            (S::BAD_REQUEST, "invalid_input", format!("invalid {field}: {reason}"), Some(field.into_owned()))
        }
        ApiError::PayloadTooLarge(detail) => (S::PAYLOAD_TOO_LARGE, "payload_too_large", detail, None),
        ApiError::UnsupportedMediaType(detail) => {
            (S::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", detail, None)
        }
        ApiError::NotConfigured(what) => {
            (S::NOT_FOUND, "not_configured", format!("{what} is not configured on this server"), None)
        }
        ApiError::NotFound(detail) => (S::NOT_FOUND, "not_found", detail, None),
        ApiError::NoRoute => (S::NOT_FOUND, "no_route", "no endpoint has this path".to_owned(), None),
        ApiError::MethodNotAllowed => (
            S::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "the endpoint does not take this method".to_owned(),
            None,
        ),
        ApiError::Timeout => (
            S::SERVICE_UNAVAILABLE,
            "timeout",
            "the request took longer than the server allows".to_owned(),
            None,
        ),
    }
}

fn classify_pulse(error: &Error) -> (StatusCode, &'static str, String, Option<String>) {
    use StatusCode as S;
    let detail = error.to_string();
    match error {
        Error::NotFound { .. } | Error::RequestNotFound { .. } => (S::NOT_FOUND, "not_found", detail, None),
        Error::Conflict { .. } => (S::CONFLICT, "conflict", detail, None),
        Error::Dismissed { .. } => (S::CONFLICT, "dismissed", detail, None),
        Error::LeaseLost { .. } => (S::CONFLICT, "lease_lost", detail, None),
        Error::InvalidInput { field, .. } => {
            (S::BAD_REQUEST, "invalid_input", detail, Some((*field).to_owned()))
        }
        Error::Unavailable { .. } => (S::SERVICE_UNAVAILABLE, "unavailable", detail, None),
        Error::Backend { .. } if error.is_retryable() => (S::SERVICE_UNAVAILABLE, "backend", detail, None),
        Error::Backend { .. } => (S::INTERNAL_SERVER_ERROR, "backend", detail, None),
        Error::InvalidConfig { .. } => (S::INTERNAL_SERVER_ERROR, "invalid_config", detail, None),
        _ => (S::INTERNAL_SERVER_ERROR, "internal", detail, None),
    }
}

/// `error` and its sources, one `: `-separated line, for the log.
fn chain(error: &Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let challenge = match &self {
            Self::Unauthenticated(AuthError::Missing) => Some("Bearer"),
            Self::Unauthenticated(AuthError::Invalid) => Some(r#"Bearer error="invalid_token""#),
            _ => None,
        };
        let (status, kind, detail, field) = classify(self);
        let problem = Problem {
            problem_type: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            kind,
            field,
        };
        let mut response = (status, Json(problem)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
        }
        if let Some(challenge) = challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use pulse::{DeadLetterId, ReplayRequestId, Uuid};

    use super::*;

    async fn answer(error: ApiError) -> (StatusCode, Option<String>, serde_json::Value) {
        let response = error.into_response();
        let retry_after = response.headers().get(header::RETRY_AFTER).map(|v| v.to_str().unwrap().to_owned());
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, retry_after, serde_json::from_slice(&body).unwrap())
    }

    /// Every kind of library error, including those the HTTP tests cannot provoke on a healthy
    /// store, gets its status, kind and `Retry-After`.
    #[tokio::test]
    async fn each_library_error_has_one_status_and_kind() {
        let id = DeadLetterId::from_uuid(Uuid::nil());
        let io = || std::io::Error::other("connection refused");
        let cases = [
            (Error::NotFound { id }, 404, "not_found", None),
            (Error::RequestNotFound { id: ReplayRequestId::from_uuid(Uuid::nil()) }, 404, "not_found", None),
            (Error::Dismissed { id }, 409, "dismissed", None),
            (Error::conflict(id, "a replay holds a live lease"), 409, "conflict", None),
            (Error::LeaseLost { id }, 409, "lease_lost", None),
            (Error::invalid_input("limit", "must be between 1 and 1000, was 0"), 400, "invalid_input", None),
            (Error::unavailable("the pool timed out", io()), 503, "unavailable", Some("5")),
            (Error::backend("database is locked", true, io()), 503, "backend", Some("5")),
            (Error::backend("syntax error", false, io()), 500, "backend", None),
            (
                Error::InvalidConfig { reason: "schema written by a newer Pulse".to_owned() },
                500,
                "invalid_config",
                None,
            ),
        ];
        for (error, status, kind, retry_after) in cases {
            let detail = error.to_string();
            let (got_status, got_retry_after, body) = answer(ApiError::Pulse(error)).await;
            assert_eq!((got_status.as_u16(), got_retry_after.as_deref()), (status, retry_after), "{kind}");
            assert_eq!((body["kind"].as_str(), body["detail"].as_str()), (Some(kind), Some(detail.as_str())));
        }
        let (_, _, body) =
            answer(ApiError::Pulse(Error::invalid_input("limit", "must be between 1 and 1000, was 0"))).await;
        assert_eq!(
            body,
            serde_json::json!({
                "type": "about:blank",
                "title": "Bad Request",
                "status": 400,
                "detail": "invalid limit: must be between 1 and 1000, was 0",
                "kind": "invalid_input",
                "field": "limit",
            })
        );
        let (status, retry_after, body) = answer(ApiError::Timeout).await;
        assert_eq!(
            (status, retry_after.as_deref(), body["kind"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("5"), Some("timeout"))
        );
    }
}
