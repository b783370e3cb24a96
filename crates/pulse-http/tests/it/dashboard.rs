//! The dashboard over real HTTP, without a browser: signing in, the cookie and the headers every
//! page carries, roles, CSRF, tenants, and bulk changes bound to their preview. The browser tests
//! (`tests/browser`) walk the same pages in Chromium.

use std::time::Duration;

use pulse::{CommandDeadLetterStatus, EntryFilter};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::common::{ADMIN, BAD, Env, GLOBEX, OPERATOR, Reply, Server, VIEWER};

/// The Content-Security-Policy every dashboard response carries.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A browser's session: the cookie and the CSRF token its pages carry.
struct Browser<'a> {
    server: &'a Server,
    cookie: String,
    csrf: String,
}

impl<'a> Browser<'a> {
    /// Signs in with `token` through the form, as a person would.
    async fn sign_in(server: &'a Server, token: &str) -> Self {
        let reply = post_form(server, "ui/sign-in", None, &[("token", token), ("next", "")]).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{reply:?}");
        assert_eq!(reply.header("location"), Some("/pulse/ui"));
        let set_cookie = reply.header("set-cookie").expect("a session cookie").to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        let mut browser = Self { server, cookie, csrf: String::new() };
        let overview = browser.get("ui").await;
        browser.csrf = between(text(&overview), "name=\"csrf\" value=\"", "\"").to_owned();
        assert_eq!(browser.csrf.len(), 64);
        browser
    }

    async fn get(&self, path: &str) -> Reply {
        let request = self.server.request(Method::GET, path).header(COOKIE, &self.cookie);
        self.server.send(request).await
    }

    /// Posts a form with this session's cookie and, unless given, its CSRF token.
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut fields = fields.to_vec();
        if !fields.iter().any(|(name, _)| *name == "csrf") {
            fields.push(("csrf", &self.csrf));
        }
        post_form(self.server, path, Some(&self.cookie), &fields).await
    }
}

async fn post_form(server: &Server, path: &str, cookie: Option<&str>, fields: &[(&str, &str)]) -> Reply {
    let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let mut request = server
        .request(Method::POST, path)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body);
    if let Some(cookie) = cookie {
        request = request.header(COOKIE, cookie);
    }
    server.send(request).await
}

fn text(reply: &Reply) -> &str {
    reply.body.as_str().expect("an HTML body")
}

/// The text between the first `start` and the next `end`.
fn between<'t>(text: &'t str, start: &str, end: &str) -> &'t str {
    let from = text.find(start).unwrap_or_else(|| panic!("{start:?} in {text}")) + start.len();
    &text[from..from + text[from..].find(end).expect("the end")]
}

#[track_caller]
fn assert_page(reply: &Reply) {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(reply.header("content-security-policy"), Some(CSP));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

pub(crate) async fn the_dashboard_signs_in_and_serves_every_page(env: &Env) {
    let id = env.seed("acme", "orders.place", "PaymentDeclined").await;
    let fingerprint = env.entry(id).await.fingerprint;
    let server = Server::start(env.api()).await;

    // Without a session every page sends the browser to sign in, and back afterwards.
    let reply = server.send(server.request(Method::GET, "ui/entries?status=new")).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(
        reply.header("location"),
        Some("/pulse/ui/sign-in?next=%2Fpulse%2Fui%2Fentries%3Fstatus%3Dnew")
    );
    assert_page(&server.send(server.request(Method::GET, "ui/sign-in")).await);

    // A wrong token is refused on the form, with the reason beside the field.
    let refused = post_form(&server, "ui/sign-in", None, &[("token", BAD), ("next", "")]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert!(refused.header("set-cookie").is_none());
    assert!(text(&refused).contains("That token is not valid here."), "{refused:?}");

    // The cookie is for the dashboard only, never readable by scripts nor sent by other sites.
    let signed =
        post_form(&server, "ui/sign-in", None, &[("token", OPERATOR), ("next", "/pulse/ui/entries")]).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    assert_eq!(signed.header("location"), Some("/pulse/ui/entries"));
    let cookie = signed.headers.get(SET_COOKIE).unwrap().to_str().unwrap();
    let value = between(cookie, "pulse_session=", ";");
    assert_eq!(
        cookie,
        format!("pulse_session={value}; Path=/pulse/ui; Max-Age=43200; HttpOnly; SameSite=Strict")
    );
    // Behind a proxy that terminates TLS, the cookie is also `Secure`.
    let over_tls = server
        .send(
            server
                .request(Method::POST, "ui/sign-in")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("x-forwarded-proto", "https")
                .body(format!("token={OPERATOR}")),
        )
        .await;
    assert!(over_tls.header("set-cookie").unwrap().ends_with("; HttpOnly; SameSite=Strict; Secure"));
    // A form sent from another site is refused, whatever it carries.
    let cross_site = server
        .send(
            server
                .request(Method::POST, "ui/sign-in")
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .header("sec-fetch-site", "cross-site")
                .body(format!("token={OPERATOR}")),
        )
        .await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert!(cross_site.header("set-cookie").is_none());
    // A `next` outside the dashboard is never followed.
    let elsewhere =
        post_form(&server, "ui/sign-in", None, &[("token", OPERATOR), ("next", "https://evil.test/")]).await;
    assert_eq!(elsewhere.header("location"), Some("/pulse/ui"));

    let browser = Browser::sign_in(&server, OPERATOR).await;
    for path in [
        "ui".to_owned(),
        "ui/groups".to_owned(),
        "ui/groups?sort=last_seen".to_owned(),
        format!("ui/groups/{fingerprint}"),
        "ui/entries".to_owned(),
        "ui/entries?status=new&command_type=orders.place&order=oldest".to_owned(),
        format!("ui/entries/{id}"),
        format!("ui/entries/{id}/edit"),
        "ui/requests".to_owned(),
        "ui/bulk?action=dismiss&status=new".to_owned(),
    ] {
        let page = browser.get(&path).await;
        assert_page(&page);
        assert!(text(&page).contains("olga · operator"), "{path}: {page:?}");
    }
    let overview = browser.get("ui").await;
    assert!(
        text(&overview)
            .contains("<span class=\"unresolved\" title=\"Unresolved entries\">1 unresolved</span>")
    );

    // The assets come from the binary, cacheable, with their media types.
    let css = browser.get("ui/assets/pulse.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.header("cache-control"), Some("private, max-age=3600"));
    assert_eq!(browser.get("ui/assets/nothing.js").await.status, StatusCode::NOT_FOUND);

    // A bad filter is a page saying which parameter is wrong, as the API's 400.
    let bad = browser.get("ui/entries?status=lost").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(text(&bad).contains("invalid status"), "{bad:?}");

    // Signing out ends the session on the server, not only in the browser.
    let out = browser.post("ui/sign-out", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        out.header("set-cookie"),
        Some("pulse_session=; Path=/pulse/ui; Max-Age=0; HttpOnly; SameSite=Strict")
    );
    assert_eq!(browser.get("ui").await.status, StatusCode::SEE_OTHER);
    server.stop().await;
}

pub(crate) async fn viewers_and_forged_forms_change_nothing(env: &Env) {
    let id = env.seed("acme", "orders.place", "PaymentDeclined").await;
    let before = env.entry(id).await;
    let server = Server::start(env.api()).await;

    // A viewer's page has no action, and the server refuses the action anyway.
    let viewer = Browser::sign_in(&server, VIEWER).await;
    let page = viewer.get(&format!("ui/entries/{id}")).await;
    assert_page(&page);
    for action in ["/dismiss\"", "/resolve\"", "/replay\"", "/edit\"", "action=dismiss"] {
        assert!(!text(&page).contains(action), "a viewer's page offers {action}");
    }
    let refused = viewer.post(&format!("ui/entries/{id}/dismiss"), &[("note", "viewer")]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(text(&refused).contains("victor has the viewer role"), "{refused:?}");

    // An operator's form without this session's CSRF token is refused: another site's forgery.
    let operator = Browser::sign_in(&server, OPERATOR).await;
    for forged in [viewer.csrf.as_str(), "", "0000"] {
        let reply =
            operator.post(&format!("ui/entries/{id}/dismiss"), &[("csrf", forged), ("note", "x")]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    }
    assert_eq!(env.entry(id).await, before);

    // With its token, the same form dismisses, with the note and the actor recorded.
    let done = operator.post(&format!("ui/entries/{id}/dismiss"), &[("note", "duplicate order")]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(done.header("location").unwrap(), format!("/pulse/ui/entries/{id}?done=dismissed"));
    let dismissed = env.entry(id).await;
    assert_eq!(dismissed.status, CommandDeadLetterStatus::Dismissed);
    assert_eq!(dismissed.note.as_deref(), Some("duplicate order"));
    assert_eq!(dismissed.changed_by.unwrap().as_str(), "olga");
    server.stop().await;
}

pub(crate) async fn the_dashboard_keeps_tenants_apart(env: &Env) {
    let acme = env.seed("acme", "orders.place", "PaymentDeclined").await;
    let globex = env.seed("globex", "invoices.send", "SmtpTimeout").await;
    let server = Server::start(env.api()).await;

    let operator = Browser::sign_in(&server, OPERATOR).await;
    let list = operator.get("ui/entries").await;
    assert!(text(&list).contains(&acme.to_string()));
    assert!(!text(&list).contains(&globex.to_string()));
    assert!(!text(&list).contains("invoices.send"));
    assert_eq!(operator.get(&format!("ui/entries/{globex}")).await.status, StatusCode::NOT_FOUND);
    let forged = operator.post(&format!("ui/entries/{globex}/dismiss"), &[]).await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);
    assert_eq!(env.entry(globex).await.status, CommandDeadLetterStatus::New);
    // Only an admin of every tenant may switch.
    assert_eq!(operator.post("ui/tenant", &[("tenant", "globex")]).await.status, StatusCode::FORBIDDEN);

    let admin = Browser::sign_in(&server, ADMIN).await;
    let all = admin.get("ui/entries").await;
    assert!(text(&all).contains(&acme.to_string()) && text(&all).contains(&globex.to_string()));
    assert_eq!(admin.post("ui/tenant", &[("tenant", "globex")]).await.status, StatusCode::SEE_OTHER);
    let one = admin.get("ui/entries").await;
    assert!(!text(&one).contains(&acme.to_string()) && text(&one).contains(&globex.to_string()));
    admin.post("ui/tenant", &[("tenant", "")]).await;
    let again = admin.get("ui/entries").await;
    assert!(text(&again).contains(&acme.to_string()) && text(&again).contains(&globex.to_string()));

    let gus = Browser::sign_in(&server, GLOBEX).await;
    assert_eq!(gus.get(&format!("ui/entries/{acme}")).await.status, StatusCode::NOT_FOUND);
    server.stop().await;
}

pub(crate) async fn bulk_changes_act_on_what_the_preview_showed(env: &Env) {
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(env.seed("acme", "orders.place", "PaymentDeclined").await);
    }
    let other = env.seed("acme", "orders.ship", "CarrierDown").await;
    let server = Server::start(env.api()).await;
    let operator = Browser::sign_in(&server, OPERATOR).await;

    let preview = operator.get("ui/bulk?action=dismiss&command_type=orders.place&status=new").await;
    assert_page(&preview);
    assert!(text(&preview).contains("<strong>3</strong> New entries would dismiss"), "{preview:?}");
    let seen_at = between(text(&preview), "name=\"seen_at\" value=\"", "\"").to_owned();
    // Nothing changed by looking.
    let new = EntryFilter::default().statuses([CommandDeadLetterStatus::New]);
    assert_eq!(env.dead_letters().count(&new).await.unwrap().new, 4);

    // A failure arriving after the preview is not swept in by the confirmation.
    let late = env.seed("acme", "orders.place", "PaymentDeclined").await;
    let started = operator
        .post(
            "ui/bulk",
            &[
                ("action", "dismiss"),
                ("seen_at", &seen_at),
                ("f.command_type", "orders.place"),
                ("f.status", "new"),
                ("note", "test orders"),
            ],
        )
        .await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{started:?}");
    let job = started.header("location").unwrap().strip_prefix("/pulse/").unwrap().to_owned();
    let progress = wait_until_finished(&operator, &format!("{job}/progress")).await;
    assert_eq!(progress["done"], 3);
    assert_eq!(progress["total"], 3);
    for id in &seen {
        let entry = env.entry(*id).await;
        assert_eq!(
            (entry.status, entry.note.as_deref()),
            (CommandDeadLetterStatus::Dismissed, Some("test orders"))
        );
    }
    assert_eq!(env.entry(late).await.status, CommandDeadLetterStatus::New);
    assert_eq!(env.entry(other).await.status, CommandDeadLetterStatus::New);
    // Another operator cannot follow someone else's job.
    let admin = Browser::sign_in(&server, ADMIN).await;
    assert_eq!(admin.get(&job).await.status, StatusCode::NOT_FOUND);

    // A bulk replay becomes a durable request at the pace asked for.
    let preview = operator.get("ui/bulk?action=replay&status=new").await;
    assert!(text(&preview).contains("<strong>2</strong> New entries would replay"), "{preview:?}");
    let seen_at = between(text(&preview), "name=\"seen_at\" value=\"", "\"").to_owned();
    let requested = operator
        .post(
            "ui/bulk",
            &[("action", "replay"), ("seen_at", &seen_at), ("f.status", "new"), ("per_second", "5")],
        )
        .await;
    assert_eq!(requested.status, StatusCode::SEE_OTHER);
    let request = requested.header("location").unwrap().strip_prefix("/pulse/").unwrap().to_owned();
    assert_page(&operator.get(&request).await);
    let progress = operator.get(&format!("{request}/progress")).await;
    assert_eq!(
        progress.body,
        serde_json::json!({"done": 0, "total": 2, "finished": false, "summary": "0 replayed, 2 waiting"})
    );
    let id = request.strip_prefix("ui/requests/").unwrap().parse().unwrap();
    let recorded = env.dead_letters().replay_request(pulse::ReplayRequestId::from_uuid(id)).await.unwrap();
    assert_eq!((recorded.requested, recorded.per_second.map(std::num::NonZero::get)), (2, Some(5)));
    assert_eq!(recorded.requested_by.unwrap().as_str(), "olga");

    // A pace that is not a number is refused, and requests nothing.
    let refused = operator
        .post(
            "ui/bulk",
            &[("action", "replay"), ("seen_at", &seen_at), ("f.status", "new"), ("per_second", "fast")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(env.dead_letters().replay_requests(None, 10).await.unwrap().len(), 1);
    server.stop().await;
}

/// Reads `path` until the work it reports is finished; fails after 10 seconds.
async fn wait_until_finished(browser: &Browser<'_>, path: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let reply = browser.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        if reply.body["finished"] == true {
            return reply.body;
        }
        assert!(tokio::time::Instant::now() < deadline, "not finished in 10 s: {reply:?}");
        tokio::task::yield_now().await;
    }
}
