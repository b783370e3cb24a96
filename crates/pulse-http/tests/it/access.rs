//! Authentication and authorisation: every endpoint for every role, tenants kept apart, and an
//! application's own authorizer.

use async_trait::async_trait;
use pulse::{DeadLetterId, ReplayRequestSpec, ReplaySelection};
use pulse_http::{AdminApi, AuthError, Authorizer, Principal, Role};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{
    ACME_ADMIN, ADMIN, BAD, Env, GLOBEX, OPERATOR, Server, VIEWER, assert_problem, tenant_id,
};

/// One route and the status each caller gets: viewer, operator, admin, no token, unknown token.
pub(crate) struct Endpoint {
    pub(crate) method: Method,
    pub(crate) path: &'static str,
    statuses: [u16; 5],
}

const fn endpoint(method: Method, path: &'static str, statuses: [u16; 5]) -> Endpoint {
    Endpoint { method, path, statuses }
}

/// Every route of the API. In a path, `{id}` is an entry's id, or for `requests/{id}` the id of
/// a replay request of that entry.
pub(crate) const ENDPOINTS: [Endpoint; 20] = [
    endpoint(Method::GET, "stats", [200, 200, 200, 401, 401]),
    endpoint(Method::GET, "count", [200, 200, 200, 401, 401]),
    endpoint(Method::GET, "groups", [200, 200, 200, 401, 401]),
    endpoint(Method::GET, "entries", [200, 200, 200, 401, 401]),
    endpoint(Method::GET, "entries/{id}", [200, 200, 200, 401, 401]),
    endpoint(Method::POST, "entries/{id}/dismiss", [403, 200, 200, 401, 401]),
    endpoint(Method::POST, "entries/{id}/resolve", [403, 200, 200, 401, 401]),
    endpoint(Method::PUT, "entries/{id}/payload", [403, 200, 200, 401, 401]),
    endpoint(Method::POST, "entries/{id}/replay", [403, 202, 202, 401, 401]),
    endpoint(Method::POST, "requests", [403, 201, 201, 401, 401]),
    endpoint(Method::GET, "requests", [200, 200, 200, 401, 401]),
    endpoint(Method::GET, "requests/{id}", [200, 200, 200, 401, 401]),
    endpoint(Method::POST, "requests/{id}/cancel", [403, 200, 200, 401, 401]),
    endpoint(Method::POST, "replay", [403, 200, 200, 401, 401]),
    endpoint(Method::POST, "dismiss", [403, 200, 200, 401, 401]),
    endpoint(Method::POST, "resolve", [403, 200, 200, 401, 401]),
    endpoint(Method::POST, "purge", [403, 403, 200, 401, 401]),
    endpoint(Method::GET, "health", [200, 200, 200, 401, 401]),
    endpoint(Method::GET, "metrics", [403, 403, 200, 401, 401]),
    endpoint(Method::GET, "openapi.json", [200, 200, 200, 401, 401]),
];

/// A body each route accepts, for entry `id`.
fn body_for(path: &str, id: DeadLetterId) -> Option<Value> {
    match path {
        "requests" => Some(json!({ "entry": id.to_string(), "note": "seen", "per_second": 10 })),
        "entries/{id}/dismiss" => Some(json!({ "note": "seen" })),
        "entries/{id}/resolve" => Some(json!({ "resolution": "handled_externally" })),
        "entries/{id}/payload" => Some(json!({ "payload": r#"{"order_id":43}"#, "command_version": 1 })),
        "replay" => Some(json!({ "command_type": "orders.create" })),
        "dismiss" | "resolve" => {
            Some(json!({ "filter": { "command_type": "orders.create" }, "confirm": true }))
        }
        "purge" => Some(json!({ "resolved_before": "2030-01-01T00:00:00Z" })),
        _ => None,
    }
}

/// Every route, called by a viewer, an operator and an admin, without a token and with an
/// unknown one, each time on a fresh entry of tenant `acme`: exactly the status of the table.
pub(crate) async fn every_endpoint_answers_each_caller_with_its_status(env: &Env) {
    let server = Server::start(env.api()).await;
    for endpoint in &ENDPOINTS {
        let callers = [Some(VIEWER), Some(OPERATOR), Some(ADMIN), None, Some(BAD)];
        for (caller, expected) in callers.into_iter().zip(endpoint.statuses) {
            let id = env.seed("acme", "orders.create", "TimeoutError").await;
            let path = if endpoint.path.starts_with("requests/") {
                let spec = ReplayRequestSpec::new(ReplaySelection::Entry(id));
                let acme = env.dead_letters().for_tenant(tenant_id("acme"));
                let request = acme.request_replays(spec).await.expect("request a replay");
                endpoint.path.replace("{id}", &request.id.to_string())
            } else {
                endpoint.path.replace("{id}", &id.to_string())
            };
            let reply =
                server.call(endpoint.method.clone(), &path, caller, body_for(endpoint.path, id)).await;
            assert_eq!(
                reply.status.as_u16(),
                expected,
                "{} {} as {caller:?}: {:?}",
                endpoint.method,
                endpoint.path,
                reply.body
            );
            match expected {
                401 => {
                    let challenge =
                        if caller.is_none() { "Bearer" } else { r#"Bearer error="invalid_token""# };
                    assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthenticated", None);
                    assert_eq!(reply.header("www-authenticate"), Some(challenge));
                }
                403 => assert_problem(&reply, StatusCode::FORBIDDEN, "forbidden", None),
                _ => {}
            }
        }
    }
    server.stop().await;
}

/// The 401 and 403 bodies in full.
pub(crate) async fn refusals_say_what_is_missing(env: &Env) {
    let server = Server::start(env.api()).await;
    let reply = server.call(Method::GET, "stats", None, None).await;
    assert_eq!(
        reply.body,
        json!({
            "type": "about:blank",
            "title": "Unauthorized",
            "status": 401,
            "detail": "the request carries no credentials; send `Authorization: Bearer <token>`",
            "kind": "unauthenticated",
        })
    );
    let reply = server.post("purge", OPERATOR, json!({ "resolved_before": "2030-01-01T00:00:00Z" })).await;
    assert_eq!(
        reply.body,
        json!({
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
            "detail": "olga has the operator role; to purge dead letters or read metrics takes the admin role",
            "kind": "forbidden",
        })
    );
    // Another scheme, or a bearer header without a token, is an invalid credential.
    for header in ["Basic cm9vdDpyb290", "Bearer ", "Bearer", "admin-token"] {
        let reply = server.send(server.request(Method::GET, "stats").header("authorization", header)).await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    }
    // The scheme's case does not matter.
    let reply =
        server.send(server.request(Method::GET, "stats").header("authorization", "bearer admin-token")).await;
    assert_eq!(reply.status, StatusCode::OK);
    server.stop().await;
}

/// A tenant's principal sees and changes only its tenant: another tenant's entry is a 404 with
/// the same body as an id that does not exist, and lists, statistics, groups, bulk replay and
/// purge count only its own entries.
pub(crate) async fn tenants_see_only_their_own_entries(env: &Env) {
    let acme = [
        env.seed("acme", "orders.create", "TimeoutError").await,
        env.seed("acme", "orders.create", "TimeoutError").await,
        env.seed("acme", "invoices.send", "SmtpError").await,
    ];
    let globex = [
        env.seed("globex", "orders.create", "TimeoutError").await,
        env.seed("globex", "orders.create", "TimeoutError").await,
    ];
    let server = Server::start(env.api()).await;

    let ids = |reply: &crate::common::Reply| -> Vec<String> {
        reply.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let newest_first =
        |ids: &[pulse::DeadLetterId]| ids.iter().rev().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(ids(&server.get("entries", VIEWER).await), newest_first(&acme));
    assert_eq!(ids(&server.get("entries", GLOBEX).await), newest_first(&globex));
    let all: Vec<_> = acme.iter().chain(&globex).copied().collect();
    assert_eq!(ids(&server.get("entries", ADMIN).await), newest_first(&all));

    let stats =
        |total: u64| json!({ "new": total, "replaying": 0, "resolved": 0, "dismissed": 0, "total": total });
    assert_eq!(server.get("stats", VIEWER).await.body, stats(3));
    assert_eq!(server.get("stats", GLOBEX).await.body, stats(2));
    assert_eq!(server.get("stats", ADMIN).await.body, stats(5));

    let groups = |reply: crate::common::Reply| -> Vec<(String, u64)> {
        reply
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g["command_type"].as_str().unwrap().to_owned(), g["count"].as_u64().unwrap()))
            .collect()
    };
    assert_eq!(
        groups(server.get("groups", VIEWER).await),
        [("orders.create".to_owned(), 2), ("invoices.send".to_owned(), 1)]
    );
    assert_eq!(groups(server.get("groups", GLOBEX).await), [("orders.create".to_owned(), 2)]);
    assert_eq!(
        groups(server.get("groups", ADMIN).await),
        [("orders.create".to_owned(), 4), ("invoices.send".to_owned(), 1)]
    );

    // Another tenant's entry is exactly as absent as one that never existed.
    let missing = pulse::DeadLetterId::from_uuid(pulse::Uuid::nil());
    let absent = server.get(&format!("entries/{missing}"), OPERATOR).await;
    let foreign = server.get(&format!("entries/{}", globex[0]), OPERATOR).await;
    assert_eq!(absent.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(
        foreign.body,
        json!({
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": format!("dead letter {} not found", globex[0]),
            "kind": "not_found",
        })
    );
    assert_eq!(absent.body["detail"], json!(format!("dead letter {missing} not found")));
    let foreign_path = |action: &str| format!("entries/{}/{action}", globex[0]);
    let changes = [
        server.post(&foreign_path("dismiss"), OPERATOR, json!({})).await,
        server.post(&foreign_path("resolve"), OPERATOR, json!({ "resolution": "handled_externally" })).await,
        server
            .call(
                Method::PUT,
                &foreign_path("payload"),
                Some(OPERATOR),
                Some(json!({ "payload": "{}", "command_version": 1 })),
            )
            .await,
        server.post(&foreign_path("replay"), OPERATOR, json!({})).await,
    ];
    for reply in &changes {
        assert_problem(reply, StatusCode::NOT_FOUND, "not_found", None);
    }
    assert_eq!(env.entry(globex[0]).await.revision, 1, "nothing changed the other tenant's entry");

    // Bulk replay requests only the caller's tenant's entries.
    assert_eq!(server.post("replay", OPERATOR, json!({})).await.body, json!({ "requested": 3 }));
    for id in globex {
        assert_eq!(env.entry(id).await.replay_requested_at, None);
    }
    // A tenant's admin purges only its tenant: resolve one entry in each, then purge.
    let resolve = json!({ "resolution": "handled_externally" });
    assert_eq!(
        server.post(&format!("entries/{}/resolve", acme[0]), OPERATOR, resolve.clone()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        server.post(&format!("entries/{}/resolve", globex[0]), GLOBEX, resolve).await.status,
        StatusCode::OK
    );
    let purge = json!({ "resolved_before": "2030-01-01T00:00:00Z" });
    assert_eq!(server.post("purge", ACME_ADMIN, purge.clone()).await.body, json!({ "purged": 1 }));
    assert_eq!(
        server.get("stats", ADMIN).await.body,
        json!({ "new": 3, "replaying": 0, "resolved": 1, "dismissed": 0, "total": 4 })
    );
    // Metrics carry every tenant's name: a tenant's admin may not read them.
    assert_problem(&server.get("metrics", ACME_ADMIN).await, StatusCode::FORBIDDEN, "forbidden", None);
    assert_eq!(server.post("purge", ADMIN, purge).await.body, json!({ "purged": 1 }));
    server.stop().await;
}

/// An application's own authorizer: here, a gateway's headers. Its refusal is 401, its outage
/// 503 with `Retry-After`, and a non-admin principal without a tenant is 403 everywhere.
struct Gateway;

#[async_trait]
impl Authorizer for Gateway {
    async fn authenticate(&self, parts: &axum::http::request::Parts) -> Result<Principal, AuthError> {
        let header = |name: &str| parts.headers.get(name).and_then(|value| value.to_str().ok());
        if header("x-identity-down").is_some() {
            return Err(AuthError::Unavailable { reason: "the identity service timed out".to_owned() });
        }
        let user = header("x-user").ok_or(AuthError::Missing)?;
        let role = match header("x-role") {
            Some("viewer") => Role::Viewer,
            Some("operator") => Role::Operator,
            Some("admin") => Role::Admin,
            _ => return Err(AuthError::Invalid),
        };
        let principal = Principal::new(user, role);
        Ok(match header("x-tenant") {
            Some(tenant) => principal.in_tenant(tenant_id(tenant)),
            None => principal,
        })
    }
}

pub(crate) async fn a_custom_authorizer_decides_who_calls(env: &Env) {
    let id = env.seed("acme", "orders.create", "TimeoutError").await;
    let server = Server::start(AdminApi::new(env.dead_letters(), Gateway)).await;
    let get = |headers: &[(&str, &str)]| {
        let mut request = server.request(Method::GET, &format!("entries/{id}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        server.send(request)
    };
    assert_problem(&get(&[]).await, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    let down = get(&[("x-identity-down", "1")]).await;
    assert_problem(&down, StatusCode::SERVICE_UNAVAILABLE, "unavailable", None);
    assert_eq!(down.header("retry-after"), Some("5"));
    assert_eq!(down.body["detail"], json!("authentication unavailable: the identity service timed out"));
    let acme_viewer = get(&[("x-user", "vera"), ("x-role", "viewer"), ("x-tenant", "acme")]).await;
    assert_eq!((acme_viewer.status, acme_viewer.body["id"].clone()), (StatusCode::OK, json!(id.to_string())));
    let viewer_of_all = get(&[("x-user", "vera"), ("x-role", "viewer")]).await;
    assert_problem(&viewer_of_all, StatusCode::FORBIDDEN, "forbidden", None);
    assert_eq!(
        viewer_of_all.body["detail"],
        json!("vera has the viewer role and no tenant; only an admin may work across tenants")
    );
    let admin_of_all = get(&[("x-user", "root"), ("x-role", "admin")]).await;
    assert_eq!(admin_of_all.status, StatusCode::OK);
    // A principal whose name the library cannot record as an actor does nothing.
    let nameless = get(&[("x-user", ""), ("x-role", "admin")]).await;
    assert_eq!(
        nameless.body,
        json!({
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
            "detail": "the authenticated principal's actor name \"\" cannot be recorded (invalid actor: must not \
                       be empty); the authorizer must name who calls",
            "kind": "forbidden",
        })
    );
    // A change through the gateway records the gateway's user.
    let dismissed = server
        .send(
            server
                .request(Method::POST, &format!("entries/{id}/dismiss"))
                .header("x-user", "vera@acme")
                .header("x-role", "operator")
                .header("x-tenant", "acme")
                .json(&json!({})),
        )
        .await;
    assert_eq!((dismissed.status, &dismissed.body["changed_by"]), (StatusCode::OK, &json!("vera@acme")));
    server.stop().await;
}

/// An API over a store already scoped to one tenant never lets a principal out of it.
pub(crate) async fn an_api_over_one_tenant_refuses_other_tenants(env: &Env) {
    let acme = env.seed("acme", "orders.create", "TimeoutError").await;
    let globex = env.seed("globex", "orders.create", "TimeoutError").await;
    let api = AdminApi::new(env.dead_letters().for_tenant(tenant_id("acme")), crate::common::authorizer());
    let server = Server::start(api).await;
    assert_eq!(server.get(&format!("entries/{acme}"), VIEWER).await.status, StatusCode::OK);
    assert_problem(
        &server.get(&format!("entries/{globex}"), ADMIN).await,
        StatusCode::NOT_FOUND,
        "not_found",
        None,
    );
    assert_problem(&server.get("stats", GLOBEX).await, StatusCode::FORBIDDEN, "forbidden", None);
    server.stop().await;
}
