//! The OpenAPI 3.1 document: its frame here, its paths from the handlers' `#[utoipa::path]`
//! (collected by `utoipa-axum` as the router is built), and the error responses every
//! operation shares.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi as _};

use crate::problem::{PROBLEM_JSON, Problem};

/// The frame of the document.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Pulse admin API",
        description = "Inspect, replay, dismiss and purge Pulse dead letters. Mounted by an application under a path of its choice.",
        license(name = "MIT OR Apache-2.0", identifier = "MIT OR Apache-2.0"),
    ),
    modifiers(&BearerScheme),
    security(("bearer" = [])),
    components(schemas(Problem)),
    tags(
        (name = "entries", description = "Single dead letters"),
        (name = "overview", description = "Counts and error groups"),
        (name = "requests", description = "Durable replay requests, which the services' workers run"),
        (name = "operations", description = "Operations on many entries"),
        (name = "system", description = "Health, metrics and this document"),
    ),
)]
struct Frame;

/// Declares the bearer token scheme every operation uses.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_default();
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The responses any operation may give, by status: name in `components.responses`, and
/// description.
const SHARED: [(&str, &str, &str); 4] = [
    ("401", "Unauthenticated", "No bearer token, or an unknown one"),
    ("403", "Forbidden", "The principal's role or tenant does not allow this"),
    ("500", "ServerError", "The store failed"),
    (
        "503",
        "Unavailable",
        "The store or the authenticator is unavailable, or the request timed out; see Retry-After",
    ),
];

/// The responses any operation that takes a body may also give.
const SHARED_WITH_BODY: [(&str, &str, &str); 2] = [
    ("413", "PayloadTooLarge", "The body exceeds the limit"),
    ("415", "UnsupportedMediaType", "The body is not `application/json`"),
];

/// The document's frame, before the routes add their paths.
pub(crate) fn frame() -> OpenApi {
    let mut openapi = Frame::openapi();
    let components = openapi.components.get_or_insert_default();
    for (_, name, description) in SHARED.into_iter().chain(SHARED_WITH_BODY) {
        let problem = Content::new(Some(RefOr::Ref(Ref::from_schema_name("Problem"))));
        components.responses.insert(
            name.to_owned(),
            RefOr::T(Response::builder().description(description).content(PROBLEM_JSON, problem).build()),
        );
    }
    openapi
}

/// Adds the shared error responses to every operation that does not describe its own, and those
/// about bodies to every operation that takes one.
pub(crate) fn add_shared_responses(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for operation in operations.into_iter().flatten() {
            let body = if operation.request_body.is_some() { &SHARED_WITH_BODY[..] } else { &[] };
            for (status, name, _) in SHARED.iter().chain(body) {
                operation
                    .responses
                    .responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(*name)));
            }
        }
    }
}
