//! Durable replay requests over HTTP: made, followed, cancelled and paged; paced; kept within
//! their tenant; bad bodies refused; and `GET count` with the request filters.

use std::time::Duration;

use pulse::{DeadLetterId, ReplayOutcome};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::{ACME_ADMIN, ADMIN, Env, GLOBEX, OPERATOR, Reply, Server, VIEWER, assert_problem};

/// A request's body as the API answers it, made by `requested_by` in `tenant` at
/// `requested_at`, not cancelled.
fn request_body(reply: &Reply, tenant: Option<&str>, selection: &str, fields: &Value) -> Value {
    let mut body = json!({
        "id": reply.body["id"].clone(),
        "tenant": tenant,
        "selection": selection,
        "requested_by": "olga",
        "requested_at": "2026-01-01T00:00:04.000000Z",
        "note": null,
        "per_second": null,
        "requested": 0,
        "cancelled_at": null,
        "cancelled_by": null,
        "cancelled": 0,
    });
    for (key, value) in fields.as_object().expect("an object of fields") {
        body[key] = value.clone();
    }
    body
}

fn id_of(reply: &Reply) -> String {
    reply.body["id"].as_str().unwrap_or_else(|| panic!("an id: {reply:?}")).to_owned()
}

/// The ids of a `GET requests` answer.
fn request_ids(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.body["requests"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
}

/// An operator requests a paced replay of a filter's entries; a viewer follows it while a
/// worker replays one; the operator cancels the rest. Every body in full, every change
/// recorded under the token's actor.
pub(crate) async fn requests_are_made_followed_and_cancelled(env: &Env) {
    let first = env.seed("acme", "orders.create", "TimeoutError").await;
    let second = env.seed("acme", "orders.create", "TimeoutError").await;
    env.seed("acme", "invoices.send", "SmtpError").await;
    let foreign = env.seed("globex", "orders.create", "TimeoutError").await;
    let server = Server::start(env.api()).await;

    let made = server
        .post(
            "requests",
            OPERATOR,
            json!({ "filter": { "command_type": "orders.create" }, "note": "after the fix", "per_second": 2 }),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let id = id_of(&made);
    assert_eq!(made.header("location"), Some(format!("requests/{id}").as_str()));
    let request = request_body(
        &made,
        Some("acme"),
        "command_type = orders.create",
        &json!({ "note": "after the fix", "per_second": 2, "requested": 2 }),
    );
    assert_eq!(made.body, request);
    let entry = server.get(&format!("entries/{second}"), VIEWER).await;
    assert_eq!(
        (&entry.body["replay_request"], &entry.body["replay_requested_at"], &entry.body["changed_by"]),
        (&json!(id), &json!("2026-01-01T00:00:04.500000Z"), &json!("olga"))
    );
    assert_eq!(env.entry(foreign).await.replay_request, None, "another tenant's entry is left alone");

    let progress = |remaining: u64, replayed: u64, cancelled: u64, request: &Value| {
        json!({
            "request": request,
            "remaining": remaining,
            "claimed": 0,
            "replayed": replayed,
            "failed": 0,
            "cancelled": cancelled,
            "other": 0,
            "done": remaining == 0,
        })
    };
    let path = format!("requests/{id}");
    assert_eq!(server.get(&path, VIEWER).await.body, progress(2, 0, 0, &request));

    // A worker claims the entry whose slot has come, the first, and replays it.
    let tickets = env.dead_letters().claim_requested(10).await.unwrap();
    assert_eq!(tickets.iter().map(|t| t.entry.id).collect::<Vec<_>>(), [first]);
    for ticket in tickets {
        env.dead_letters().finish_replay(ticket, ReplayOutcome::Succeeded).await.unwrap();
    }
    assert_eq!(server.get(&path, VIEWER).await.body, progress(1, 1, 0, &request));

    let cancel = format!("requests/{id}/cancel");
    assert_problem(&server.post(&cancel, VIEWER, json!({})).await, StatusCode::FORBIDDEN, "forbidden", None);
    env.clock.advance(Duration::from_secs(1));
    let cancelled = server.post(&cancel, OPERATOR, json!({})).await;
    let mut request = request.clone();
    request["cancelled_at"] = json!("2026-01-01T00:00:05.000000Z");
    request["cancelled_by"] = json!("olga");
    request["cancelled"] = json!(1);
    assert_eq!((cancelled.status, &cancelled.body), (StatusCode::OK, &request));
    env.clock.advance(Duration::from_secs(1));
    let again = server.call(Method::POST, &cancel, Some(OPERATOR), None).await;
    assert_eq!((again.status, &again.body), (StatusCode::OK, &request), "cancelling again changes nothing");
    assert_eq!(server.get(&path, VIEWER).await.body, progress(0, 1, 1, &request));
    let entry = server.get(&format!("entries/{second}"), VIEWER).await;
    assert_eq!(
        (&entry.body["status"], &entry.body["replay_requested_at"], &entry.body["changed_by"]),
        (&json!("new"), &Value::Null, &json!("olga"))
    );
    assert_eq!(server.get("requests", VIEWER).await.body, json!({ "requests": [request] }));
    server.stop().await;
}

/// A paced request gives its entries start instants one slot apart, oldest failure first:
/// at 2 a second, 0, 500 ms and 1 s after the request.
pub(crate) async fn a_paced_request_spreads_its_entries(env: &Env) {
    let ids: Vec<DeadLetterId> = [
        env.seed("acme", "orders.create", "TimeoutError").await,
        env.seed("acme", "invoices.send", "SmtpError").await,
        env.seed("acme", "orders.create", "TimeoutError").await,
    ]
    .into();
    env.seed("acme", "orders.create", "TimeoutError").await;
    let server = Server::start(env.api()).await;
    let named: Vec<String> = [ids[2], ids[0], ids[1]].iter().map(ToString::to_string).collect();
    let made = server.post("requests", OPERATOR, json!({ "entries": named, "per_second": 2 })).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    assert_eq!(
        made.body,
        request_body(&made, Some("acme"), "3 entries", &json!({ "per_second": 2, "requested": 3 }))
    );
    let id = id_of(&made);
    let listed = server.get(&format!("entries?request={id}&order=oldest"), VIEWER).await;
    let slots: Vec<(&Value, &Value)> = listed.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (&entry["id"], &entry["replay_requested_at"]))
        .collect();
    let expected = [
        (json!(ids[0].to_string()), json!("2026-01-01T00:00:04.000000Z")),
        (json!(ids[1].to_string()), json!("2026-01-01T00:00:04.500000Z")),
        (json!(ids[2].to_string()), json!("2026-01-01T00:00:05.000000Z")),
    ];
    assert_eq!(slots, expected.iter().map(|(id, at)| (id, at)).collect::<Vec<_>>());

    // Asking again for an entry already requested answers the pending request.
    let again = server.post("requests", OPERATOR, json!({ "entry": ids[1].to_string() })).await;
    assert_eq!((again.status, &again.body), (StatusCode::CREATED, &made.body));
    server.stop().await;
}

/// A tenant's token never sees, follows or cancels another tenant's request: 404 as for one
/// that does not exist. Lists hold the caller's tenant's requests; an admin of every tenant
/// sees them all, and a request it makes across tenants belongs to no tenant.
pub(crate) async fn tenants_never_see_each_others_requests(env: &Env) {
    let acme = env.seed("acme", "orders.create", "TimeoutError").await;
    let globex = env.seed("globex", "orders.create", "TimeoutError").await;
    let server = Server::start(env.api()).await;
    let mine = id_of(&server.post("requests", OPERATOR, json!({ "entry": acme.to_string() })).await);
    let theirs = id_of(&server.post("requests", GLOBEX, json!({ "entry": globex.to_string() })).await);
    let everyone = server.post("requests", ADMIN, json!({ "filter": { "status": ["new"] } })).await;
    assert_eq!(
        everyone.body,
        json!({
            "id": everyone.body["id"].clone(),
            "tenant": null,
            "selection": "status in New",
            "requested_by": "root",
            "requested_at": "2026-01-01T00:00:02.000000Z",
            "note": null,
            "per_second": null,
            "requested": 0,
            "cancelled_at": null,
            "cancelled_by": null,
            "cancelled": 0,
        }),
        "both entries already have a pending request"
    );
    let everyone = id_of(&everyone);

    let missing = |id: &str| {
        json!({
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": format!("replay request {id} not found"),
            "kind": "not_found",
        })
    };
    for (token, foreign) in [(GLOBEX, &mine), (OPERATOR, &theirs), (VIEWER, &everyone), (ACME_ADMIN, &theirs)]
    {
        let read = server.get(&format!("requests/{foreign}"), token).await;
        assert_eq!((read.status, &read.body), (StatusCode::NOT_FOUND, &missing(foreign)), "{token}");
    }
    let cancel = server.post(&format!("requests/{mine}/cancel"), GLOBEX, json!({})).await;
    assert_eq!((cancel.status, &cancel.body), (StatusCode::NOT_FOUND, &missing(&mine)));
    assert_eq!(env.entry(acme).await.replay_request.map(|id| id.to_string()), Some(mine.clone()));
    let nil = pulse::Uuid::nil().to_string();
    assert_eq!(server.get(&format!("requests/{nil}"), VIEWER).await.body, missing(&nil));

    assert_eq!(request_ids(&server.get("requests", VIEWER).await), [mine.as_str()]);
    assert_eq!(request_ids(&server.get("requests", ACME_ADMIN).await), [mine.as_str()]);
    assert_eq!(request_ids(&server.get("requests", GLOBEX).await), [theirs.as_str()]);
    assert_eq!(request_ids(&server.get("requests", ADMIN).await), [everyone, theirs.clone(), mine.clone()]);

    // Another tenant's entry cannot be requested: one by id is not found, a list leaves it out.
    let named = server.post("requests", GLOBEX, json!({ "entry": acme.to_string() })).await;
    assert_problem(&named, StatusCode::NOT_FOUND, "not_found", None);
    let listed = server.post("requests", GLOBEX, json!({ "entries": [acme.to_string()] })).await;
    assert_eq!((listed.status, &listed.body["requested"]), (StatusCode::CREATED, &json!(0)));
    let counted = server.get(&format!("count?request={mine}"), GLOBEX).await;
    assert_eq!(counted.body, json!({ "new": 0, "replaying": 0, "resolved": 0, "dismissed": 0, "total": 0 }));
    // The admin of every tenant may cancel a tenant's request.
    let cancelled = server.post(&format!("requests/{theirs}/cancel"), ADMIN, json!({})).await;
    assert_eq!(
        (cancelled.status, &cancelled.body["cancelled_by"], &cancelled.body["cancelled"]),
        (StatusCode::OK, &json!("root"), &json!(1))
    );
    server.stop().await;
}

/// Requests page newest first: `before` takes the last id of the previous page.
pub(crate) async fn requests_page_newest_first(env: &Env) {
    let server = Server::start(env.api()).await;
    let mut made = Vec::new();
    for _ in 0..5 {
        let id = env.seed("acme", "orders.create", "TimeoutError").await;
        made.push(id_of(&server.post("requests", OPERATOR, json!({ "entry": id.to_string() })).await));
    }
    made.reverse();
    let mut pages = Vec::new();
    let mut path = "requests?limit=2".to_owned();
    loop {
        let page = request_ids(&server.get(&path, VIEWER).await);
        let Some(last) = page.last().cloned() else { break };
        pages.push(page);
        path = format!("requests?limit=2&before={last}");
    }
    assert_eq!(pages, [made[0..2].to_vec(), made[2..4].to_vec(), made[4..].to_vec()]);
    assert_eq!(request_ids(&server.get("requests", VIEWER).await), made);
    for (query, field) in
        [("limit=0", "limit"), ("limit=1001", "limit"), ("before=later", "before"), ("status=new", "status")]
    {
        let reply = server.get(&format!("requests?{query}"), VIEWER).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some(field));
    }
    server.stop().await;
}

/// A body that does not name exactly one selection, or names a bad pace, list or filter, is a
/// 400 naming the member at fault, and records nothing.
pub(crate) async fn bad_request_bodies_are_400(env: &Env) {
    let id = env.seed("acme", "orders.create", "TimeoutError").await.to_string();
    let dismissed = env.seed("acme", "orders.create", "TimeoutError").await;
    env.dead_letters().dismiss(dismissed, None).await.unwrap();
    let server = Server::start(env.api()).await;
    let many: Vec<String> = (0..1001).map(|_| pulse::Uuid::now_v7().to_string()).collect();
    let cases = [
        (
            json!({ "entry": id, "entries": [id] }),
            "body",
            "invalid body: give only one of entry, entries and filter",
        ),
        (
            json!({ "entry": id, "filter": {} }),
            "body",
            "invalid body: give only one of entry, entries and filter",
        ),
        (
            json!({ "note": "which?" }),
            "body",
            "invalid body: say which entries: give one of entry, entries and filter",
        ),
        (json!({}), "body", "invalid body: say which entries: give one of entry, entries and filter"),
        (json!({ "entry": id, "per_second": 0 }), "per_second", "invalid per_second: must be at least 1"),
        (
            json!({ "entry": id, "per_second": 1_000_001 }),
            "per_second",
            "invalid per_second: must be at most 1000000",
        ),
        (json!({ "entries": [] }), "entries", "invalid entries: must name at least one entry"),
        (
            json!({ "entries": many }),
            "entries",
            "invalid entries: must name at most 1000 entries, named 1001",
        ),
        (
            json!({ "filter": { "status": ["dismissed"] } }),
            "status",
            "invalid status: only New entries can be requested for replay",
        ),
        (
            json!({ "entry": id, "note": "n".repeat(4001) }),
            "note",
            "invalid note: must have at most 4000 characters",
        ),
    ];
    for (body, field, detail) in cases {
        let reply = server.post("requests", OPERATOR, body.clone()).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some(field));
        assert_eq!(reply.body["detail"], json!(detail), "{body}");
    }
    let malformed = [
        json!({ "entry": "not-a-uuid" }),
        json!({ "entries": "not-a-list" }),
        json!({ "entry": id, "per_second": -1 }),
        json!({ "entry": id, "per_second": 2.5 }),
        json!({ "entry": id, "rate": 2 }),
        json!({ "filter": { "stauts": ["new"] } }),
        // A list is not a filter, even one serde could read as the filter's members in order.
        json!({ "filter": [null, null] }),
        json!({ "filter": "orders.create" }),
        json!([{ "entry": id }]),
    ];
    for body in malformed {
        let reply = server.post("requests", OPERATOR, body.clone()).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some("body"));
    }
    let reply = server.post("requests", OPERATOR, json!({ "entry": dismissed.to_string() })).await;
    assert_problem(&reply, StatusCode::CONFLICT, "dismissed", None);
    assert_eq!(server.get("requests", VIEWER).await.body, json!({ "requests": [] }), "nothing recorded");
    server.stop().await;
}

/// `GET count` counts what a filter selects in each status; `request` and `replay_pending`
/// narrow it and `GET entries` alike.
pub(crate) async fn count_counts_what_a_filter_selects(env: &Env) {
    let orders = [
        env.seed("acme", "orders.create", "TimeoutError").await,
        env.seed("acme", "orders.create", "TimeoutError").await,
        env.seed("acme", "orders.create", "TimeoutError").await,
    ];
    let invoice = env.seed("acme", "invoices.send", "SmtpError").await;
    env.seed("globex", "orders.create", "TimeoutError").await;
    env.dead_letters().dismiss(orders[0], None).await.unwrap();
    let server = Server::start(env.api()).await;
    let request =
        id_of(&server.post("requests", OPERATOR, json!({ "entries": [orders[1].to_string()] })).await);
    let counts = |new: u64, dismissed: u64| json!({ "new": new, "replaying": 0, "resolved": 0, "dismissed": dismissed, "total": new + dismissed });
    let cases = [
        ("count", counts(3, 1)),
        ("count?command_type=orders.create", counts(2, 1)),
        ("count?command_type=orders.create&status=new", counts(2, 0)),
        ("count?exception_type=SmtpError", counts(1, 0)),
        (&*format!("count?request={request}"), counts(1, 0)),
        ("count?replay_pending=true", counts(1, 0)),
        ("count?replay_pending=false", counts(2, 1)),
        ("count?occurred_from=2026-01-01T00:00:03Z", counts(1, 0)),
    ];
    for (path, expected) in cases {
        let reply = server.get(path, VIEWER).await;
        assert_eq!((reply.status, &reply.body), (StatusCode::OK, &expected), "{path}");
    }
    assert_eq!(server.get("count", ADMIN).await.body, counts(4, 1));

    let ids = |reply: Reply| -> Vec<String> {
        reply.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let pending = server.get("entries?replay_pending=true", VIEWER).await;
    assert_eq!(ids(pending), [orders[1].to_string()]);
    assert_eq!(ids(server.get(&format!("entries?request={request}"), VIEWER).await), [orders[1].to_string()]);
    let waiting = server.get("entries?replay_pending=false&status=new", VIEWER).await;
    assert_eq!(ids(waiting), [invoice.to_string(), orders[2].to_string()]);

    for (query, field) in [
        ("replay_pending=maybe", "replay_pending"),
        ("replay_pending=true&replay_pending=false", "replay_pending"),
        ("request=nope", "request"),
        ("limit=5", "limit"),
        ("status=bogus", "status"),
    ] {
        let reply = server.get(&format!("count?{query}"), VIEWER).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "invalid_input", Some(field));
    }
    assert_problem(
        &server.get("entries?replay_pending=1", VIEWER).await,
        StatusCode::BAD_REQUEST,
        "invalid_input",
        Some("replay_pending"),
    );
    server.stop().await;
}

/// `POST dismiss` and `POST resolve` over a filter answer the plan and change nothing until
/// `confirm`; then they change exactly the tenant's New entries the filter selects, with the
/// note and the caller as actor.
pub(crate) async fn bulk_dismiss_and_resolve_plan_then_confirm(env: &Env) {
    let shipments = [
        env.seed("acme", "orders.ship", "CarrierError").await,
        env.seed("acme", "orders.ship", "CarrierError").await,
    ];
    let charge = env.seed("acme", "billing.charge", "GatewayTimeout").await;
    let foreign = env.seed("globex", "orders.ship", "CarrierError").await;
    let server = Server::start(env.api()).await;
    let filter = json!({ "command_type": "orders.ship" });
    let plan = server.post("dismiss", OPERATOR, json!({ "filter": filter, "note": "cancelled" })).await;
    let planned = json!({
        "dry_run": true, "entries": 2, "by_command_type": { "orders.ship": 2 }, "by_tenant": { "acme": 2 },
        "done": null, "failed": null, "skipped": null,
    });
    assert_eq!((plan.status, &plan.body), (StatusCode::OK, &planned));
    assert_eq!(env.entry(shipments[0]).await.status, pulse::CommandDeadLetterStatus::New, "a dry run");

    let done = server
        .post("dismiss", OPERATOR, json!({ "filter": filter, "note": "cancelled", "confirm": true }))
        .await;
    let mut expected = planned.clone();
    expected["dry_run"] = json!(false);
    expected["done"] = json!(2);
    expected["failed"] = json!(0);
    expected["skipped"] = json!(0);
    assert_eq!((done.status, &done.body), (StatusCode::OK, &expected));
    for id in shipments {
        let entry = env.entry(id).await;
        assert_eq!(
            (entry.status, entry.note.as_deref(), entry.changed_by.map(String::from)),
            (pulse::CommandDeadLetterStatus::Dismissed, Some("cancelled"), Some("olga".to_owned()))
        );
    }
    assert_eq!(env.entry(foreign).await.status, pulse::CommandDeadLetterStatus::New, "another tenant's");

    let resolved = server
        .post("resolve", OPERATOR, json!({ "filter": { "command_type": "billing.charge" }, "confirm": true }))
        .await;
    assert_eq!((resolved.status, &resolved.body["done"]), (StatusCode::OK, &json!(1)));
    let entry = env.entry(charge).await;
    assert_eq!(
        (entry.status, entry.resolution),
        (pulse::CommandDeadLetterStatus::Resolved, Some(pulse::Resolution::HandledExternally))
    );
    let viewer = server.post("dismiss", VIEWER, json!({ "filter": filter, "confirm": true })).await;
    assert_eq!(viewer.status, StatusCode::FORBIDDEN);
    for body in [json!({}), json!({ "filter": [null] }), json!({ "filter": filter, "confirm": "yes" })] {
        let reply = server.post("dismiss", OPERATOR, body.clone()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
    }
}
