//! Health, metrics, the OpenAPI document, request ids and the limits the API sets.

use std::collections::BTreeSet;
use std::time::Duration;

use pulse::HealthCheck;
use pulse_http::AdminApi;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::access::ENDPOINTS;
use crate::common::{ADMIN, Env, GLOBEX, OPERATOR, Server, VIEWER, assert_problem, authorizer, bearer};

/// 200 while within the thresholds, 503 past one; in the caller's tenant; public on request.
pub(crate) async fn health_is_200_when_healthy_and_503_otherwise(env: &Env) {
    env.seed("acme", "orders.create", "TimeoutError").await;
    env.seed("acme", "orders.create", "TimeoutError").await;
    env.clock.advance(Duration::from_millis(88_500));
    let check = HealthCheck::default().max_unresolved(1);
    let server = Server::start(env.api().health_check(check)).await;
    let healthy = server.get("health", GLOBEX).await;
    assert_eq!(healthy.status, StatusCode::OK);
    assert_eq!(
        healthy.body,
        json!({
            "status": "healthy",
            "unresolved": 0,
            "oldest_unresolved_age_seconds": null,
            "oldest_replay_wait_seconds": null,
            "breaches": [],
            "error": null,
        })
    );
    let degraded = server.get("health", VIEWER).await;
    assert_eq!(degraded.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        degraded.body,
        json!({
            "status": "degraded",
            "unresolved": 2,
            "oldest_unresolved_age_seconds": 90.5,
            "oldest_replay_wait_seconds": null,
            "breaches": ["2 unresolved entries, more than 1"],
            "error": null,
        })
    );
    assert_problem(
        &server.call(Method::GET, "health", None, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    server.stop().await;

    let public = Server::start(env.api().health_requires_token(false)).await;
    let reply = public.call(Method::GET, "health", None, None).await;
    assert_eq!((reply.status, &reply.body["unresolved"]), (StatusCode::OK, &json!(2)));
    public.stop().await;
}

/// With a handle, `metrics` renders the application's recorder, Pulse's metrics among them;
/// without one it is 404.
pub(crate) async fn metrics_render_the_applications_recorder(env: &Env) {
    let id = env.seed("acme", "orders.create", "TimeoutError").await;
    let server = Server::start(env.api()).await;
    assert_eq!(
        server.post(&format!("entries/{id}/dismiss"), OPERATOR, json!({})).await.status,
        StatusCode::OK
    );
    let reply = server.get("metrics", ADMIN).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), Some("text/plain; version=0.0.4; charset=utf-8"));
    let text = reply.body.as_str().expect("a text body");
    assert!(
        text.lines()
            .any(|line| line.starts_with(pulse::metrics::DISMISSED) && line.contains(r#"tenant="acme""#)),
        "{text}"
    );
    server.stop().await;

    let without = Server::start(AdminApi::new(env.dead_letters(), authorizer())).await;
    let reply = without.get("metrics", ADMIN).await;
    assert_problem(&reply, StatusCode::NOT_FOUND, "not_configured", None);
    assert_eq!(reply.body["detail"], json!("metrics is not configured on this server"));
    without.stop().await;
}

/// The document is OpenAPI 3.1 and lists exactly the routes of the router, with their methods:
/// the routes the role table calls, each answered by a handler (never `no_route`).
pub(crate) async fn the_document_lists_every_route(env: &Env) {
    let server = Server::start(env.api()).await;
    let reply = server.get("openapi.json", VIEWER).await;
    assert_eq!(reply.status, StatusCode::OK);
    let document = reply.body;
    assert_eq!(document["openapi"], json!("3.1.0"));
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> =
        ENDPOINTS.iter().map(|e| (e.method.to_string(), format!("/{}", e.path))).collect();
    assert_eq!(documented, routed);
    assert_eq!(guide_routes(), routed, "docs/http.md has a section for every route, and only those");
    assert_eq!(
        document,
        serde_json::to_value(env.api().openapi()).unwrap(),
        "the served document is the API's"
    );
    for (method, path) in &documented {
        let path = path.trim_start_matches('/').replace("{id}", &pulse::Uuid::nil().to_string());
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let reply = server.call(method.clone(), &path, Some(ADMIN), Some(json!({}))).await;
        assert!(!matches!(reply.status, StatusCode::METHOD_NOT_ALLOWED), "{method} {path}: {:?}", reply.body);
        assert_ne!(reply.body.get("kind"), Some(&json!("no_route")), "{method} {path}");
    }
    // Every reference resolves: a schema used only as a parameter's type once went missing.
    let mut references = Vec::new();
    collect_refs(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let pointer = reference.strip_prefix('#').unwrap_or_else(|| panic!("a local reference: {reference}"));
        assert!(document.pointer(pointer).is_some(), "{reference} does not resolve");
    }
    // Every operation names the error shape it shares, and those with a body the body's.
    let dismiss = &document["paths"]["/entries/{id}/dismiss"]["post"]["responses"];
    assert_eq!(dismiss["415"], json!({ "$ref": "#/components/responses/UnsupportedMediaType" }));
    assert_eq!(dismiss["413"], json!({ "$ref": "#/components/responses/PayloadTooLarge" }));
    let stats = &document["paths"]["/stats"]["get"]["responses"];
    assert_eq!(stats["401"], json!({ "$ref": "#/components/responses/Unauthenticated" }));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"],
        json!({ "type": "http", "scheme": "bearer" })
    );
    server.stop().await;
}

/// Every response carries a request id: the caller's, or a fresh one.
pub(crate) async fn requests_carry_an_id(env: &Env) {
    let server = Server::start(env.api()).await;
    let given = server
        .request(Method::GET, "stats")
        .header("authorization", bearer(VIEWER))
        .header("x-request-id", "req-7");
    assert_eq!(server.send(given).await.header("x-request-id"), Some("req-7"));
    let fresh = server.get("nowhere", VIEWER).await;
    let id = fresh.header("x-request-id").expect("a request id");
    assert!(pulse::Uuid::parse_str(id).is_ok(), "{id}");
    server.stop().await;
}

/// The default body limit is the store's largest payload plus 1 MiB, and `Debug` shows the
/// settings but no token.
pub(crate) async fn settings_show_without_secrets(env: &Env) {
    let shown = format!("{:?}", env.api());
    assert!(shown.contains("body_limit: 2097152"), "{shown}");
    assert!(shown.contains("health_requires_token: true"), "{shown}");
    assert!(!shown.contains(&pulse_http::TokenAuthorizer::hash(ADMIN)), "{shown}");
    assert!(!shown.contains(ADMIN), "{shown}");
}

/// Every `$ref` in `value`.
fn collect_refs(value: &serde_json::Value, references: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(members) => {
            for (key, member) in members {
                match (key.as_str(), member) {
                    ("$ref", serde_json::Value::String(reference)) => references.push(reference.clone()),
                    _ => collect_refs(member, references),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_refs(item, references)),
        _ => {}
    }
}

/// The routes `docs/http.md` has a section for: its level-three headings, such as
/// ``### `GET stats` ``, two routes to a heading where it says `and`.
fn guide_routes() -> BTreeSet<(String, String)> {
    let guide = include_str!("../../../../docs/http.md");
    let endpoints = &guide[guide.find("\n## Endpoints\n").expect("the guide lists its endpoints")..];
    endpoints
        .lines()
        .filter_map(|line| line.strip_prefix("### "))
        .flat_map(|heading| heading.split(" and "))
        .map(|route| {
            let route = route.trim_matches('`');
            let (method, path) = route.split_once(' ').unwrap_or_else(|| panic!("a route heading: {route}"));
            (method.to_owned(), format!("/{path}"))
        })
        .collect()
}
