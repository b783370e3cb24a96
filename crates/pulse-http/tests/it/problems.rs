//! Bad input is never a 500: every malformed id, parameter and body is a problem+json with the
//! exact status and kind, and the parameter at fault.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::common::{ADMIN, Env, OPERATOR, Server, VIEWER, assert_problem};

/// Query strings and path parameters: each bad one named, with the library's own message where
/// the library decided.
pub(crate) async fn bad_parameters_are_400_naming_the_parameter(env: &Env) {
    let server = Server::start(env.api()).await;
    let cases = [
        ("entries/not-a-uuid", "id"),
        ("entries/not-a-uuid/dismiss", "id"),
        ("entries?status=bogus", "status"),
        ("entries?status=new,bogus", "status"),
        ("entries?status=New", "status"),
        ("entries?limit=0", "limit"),
        ("entries?limit=1001", "limit"),
        ("entries?limit=-1", "limit"),
        ("entries?limit=ten", "limit"),
        ("entries?limit=5&limit=6", "limit"),
        ("entries?order=sideways", "order"),
        ("entries?cursor=garbage", "cursor"),
        ("entries?occurred_from=yesterday", "occurred_from"),
        ("entries?occurred_from=2026-01-02T00:00:00Z&occurred_before=2026-01-01T00:00:00Z", "occurred_from"),
        ("entries?stauts=new", "stauts"),
        ("groups?limit=0", "limit"),
        ("groups?status=new", "status"),
    ];
    for (path, field) in cases {
        let method = if path.ends_with("dismiss") { Method::POST } else { Method::GET };
        let reply = server.call(method, path, Some(OPERATOR), Some(json!({}))).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some(field));
    }
    let details = [
        (
            "entries?status=bogus",
            r#"invalid status: "bogus" is not a status; expected new, replaying, resolved or dismissed"#,
        ),
        ("entries?limit=0", "invalid limit: must be between 1 and 1000, was 0"),
        ("entries?limit=1001", "invalid limit: must be between 1 and 1000, was 1001"),
        ("entries?limit=5&limit=6", "invalid limit: given more than once"),
        ("entries?cursor=garbage", r#"invalid cursor: "garbage" is not a Pulse cursor"#),
        ("entries?stauts=new", "invalid stauts: no such parameter"),
        ("groups?limit=1001", "invalid limit: must be between 1 and 1000, was 1001"),
    ];
    for (path, detail) in details {
        assert_eq!(server.get(path, VIEWER).await.body["detail"], json!(detail), "{path}");
    }
    server.stop().await;
}

/// Bodies: malformed JSON, wrong types, unknown members and enum values are 400 naming the
/// body; a body that is not JSON is 415; values the library rejects name their member.
pub(crate) async fn bad_bodies_are_400_415_or_413(env: &Env) {
    let id = env.seed("acme", "orders.create", "TimeoutError").await;
    let server = Server::start(env.api()).await;
    let dismiss = format!("entries/{id}/dismiss");
    let resolve = format!("entries/{id}/resolve");
    let raw = |method: Method, path: &str, token: &str, body: &'static str| {
        server.request(method, path).bearer_auth(token).header("content-type", "application/json").body(body)
    };
    let bodies = [
        (Method::POST, dismiss.as_str(), "{"),
        (Method::POST, dismiss.as_str(), r#"{"note": 5}"#),
        (Method::POST, dismiss.as_str(), r#"{"notes": "typo"}"#),
        (Method::POST, dismiss.as_str(), "[]"),
        (Method::POST, dismiss.as_str(), r#"["read as the note"]"#),
        (Method::POST, dismiss.as_str(), "null"),
        (Method::POST, dismiss.as_str(), ""),
        (Method::POST, resolve.as_str(), r#"{"resolution": "fixed"}"#),
        (Method::POST, resolve.as_str(), r#"{"note": "no resolution"}"#),
        (Method::POST, "replay", r#"{"status": ["bogus"]}"#),
        (Method::POST, "replay", r#"{"occurred_from": "yesterday"}"#),
    ];
    for (method, path, body) in bodies {
        let reply = server.send(raw(method, path, OPERATOR, body)).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some("body"));
    }
    let reply = server.send(raw(Method::POST, "purge", ADMIN, r#"{"resolved_before": "soon"}"#)).await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some("body"));
    let reply =
        server.post("purge", ADMIN, json!({ "resolved_before": "2030-01-01T00:00:00Z", "limit": 0 })).await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some("limit"));

    let not_json = server.request(Method::POST, &dismiss).bearer_auth(OPERATOR).body("{}");
    assert_problem(
        &server.send(not_json).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    );
    let text = server
        .request(Method::POST, &dismiss)
        .bearer_auth(OPERATOR)
        .header("content-type", "text/plain")
        .body("{}");
    assert_problem(
        &server.send(text).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    );

    let long_note = server.post(&dismiss, OPERATOR, json!({ "note": "n".repeat(4001) })).await;
    assert_problem(&long_note, StatusCode::BAD_REQUEST, "invalid_input", Some("note"));
    assert_eq!(long_note.body["detail"], json!("invalid note: must have at most 4000 characters"));
    // Larger than the store takes, within the body limit: the library refuses it.
    let payload = json!({ "payload": "x".repeat(1024 * 1024 + 1), "command_version": 1 });
    let reply =
        server.call(Method::PUT, &format!("entries/{id}/payload"), Some(OPERATOR), Some(payload)).await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some("payload"));
    assert_eq!(env.entry(id).await.revision, 1, "no bad request changed the entry");
    server.stop().await;
}

/// A body over the limit is 413 without reaching the library; one at the limit is read.
pub(crate) async fn oversized_bodies_are_413(env: &Env) {
    let id = env.seed("acme", "orders.create", "TimeoutError").await;
    let limit = 4096;
    let server = Server::start(env.api().body_limit(limit)).await;
    let path = format!("entries/{id}/dismiss");
    let body_of = |len: usize| {
        let note = "n".repeat(len - r#"{"note":""}"#.len());
        let body = format!(r#"{{"note":"{note}"}}"#);
        assert_eq!(body.len(), len);
        server
            .request(Method::POST, &path)
            .bearer_auth(OPERATOR)
            .header("content-type", "application/json")
            .body(body)
    };
    let reply = server.send(body_of(limit + 1)).await;
    assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", None);
    assert_eq!(env.entry(id).await.revision, 1);
    // At the limit the body is read, and the library judges the note (4,085 characters).
    let reply = server.send(body_of(limit)).await;
    assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some("note"));
    server.stop().await;
}

/// Paths no route has, and methods a route does not take, are problems too.
pub(crate) async fn unknown_routes_and_methods_are_problems(env: &Env) {
    let server = Server::start(env.api()).await;
    assert_problem(&server.get("nowhere", ADMIN).await, StatusCode::NOT_FOUND, "no_route", None);
    assert_problem(&server.get("entries/a/b/c", ADMIN).await, StatusCode::NOT_FOUND, "no_route", None);
    let reply = server.call(Method::DELETE, "entries", Some(ADMIN), None).await;
    assert_problem(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
    let reply = server.call(Method::GET, "purge", Some(ADMIN), None).await;
    assert_problem(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", None);
    server.stop().await;
}
