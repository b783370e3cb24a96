//! The driver's own tests, on a small site served over real HTTP on loopback with the strict
//! Content-Security-Policy the console sends: a form, a script file, and a page that breaks
//! accessibility rules on purpose.

use axum::Router;
use axum::extract::Form;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::map_response;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::net::TcpListener;

use crate::driver::{
    Browser, By, CookieFlags, Impact, JavaScript, Options, SameSite, VIEWPORT, Violation, is_running,
};

/// The policy the console's pages are served with.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const FORM: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Greeter</title>
  <link rel="stylesheet" href="/site.css">
  <script src="/site.js" defer></script>
</head>
<body>
  <main>
    <h1>Greeter</h1>
    <p id="script-status">Scripts have not run</p>
    <p id="inline-status">Inline scripts are blocked</p>
    <script>document.getElementById("inline-status").textContent = "Inline scripts ran";</script>
    <form method="post" action="/greet">
      <label for="name">Your name</label>
      <input id="name" name="name" type="text" required>
      <label for="colour">Favourite colour</label>
      <select id="colour" name="colour">
        <option>Red</option>
        <option>Green</option>
        <option>Blue</option>
      </select>
      <button type="submit">Greet me</button>
    </form>
  </main>
</body>
</html>
"#;

const INACCESSIBLE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Inaccessible</title>
  <link rel="stylesheet" href="/site.css">
</head>
<body>
  <main>
    <h1>Inaccessible</h1>
    <p class="faint">Too faint to read</p>
    <input type="text" name="nameless">
  </main>
</body>
</html>
"#;

const SCRIPT: &str = r#"document.getElementById("script-status").textContent = "Scripts ran";"#;

const STYLE: &str = "body { font-family: sans-serif; color: #1a1a1a; background: #ffffff; }\n\
                     label, input, select, button { display: block; margin: 0.5em 0; }\n\
                     .faint { color: #c8c8c8; }\n";

#[derive(Deserialize)]
struct Greeting {
    name: String,
    colour: String,
}

/// The site on a loopback port; it stops with the test's runtime.
struct Site {
    base: String,
}

impl Site {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("the bound address"));
        let app = Router::new()
            .route("/", get(Html(FORM)))
            .route("/inaccessible", get(Html(INACCESSIBLE)))
            .route("/site.js", get(([(CONTENT_TYPE, "text/javascript")], SCRIPT)))
            .route("/site.css", get(([(CONTENT_TYPE, "text/css")], STYLE)))
            .route("/greet", axum::routing::post(greet))
            .layer(map_response(with_csp));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

async fn greet(Form(greeting): Form<Greeting>) -> Response {
    let page = format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Greeting</title><link rel="stylesheet" href="/site.css"></head>
<body>
  <main>
    <h1>Greeting</h1>
    <p id="greeting">Hello, {}! Your colour is {}.</p>
    <p><a href="/">Back to the form</a></p>
  </main>
</body>
</html>
"#,
        escape(&greeting.name),
        escape(&greeting.colour)
    );
    (StatusCode::OK, [(SET_COOKIE, "greeted=yes; Path=/; Secure; HttpOnly; SameSite=Strict")], Html(page))
        .into_response()
}

async fn with_csp(mut response: Response) -> Response {
    response.headers_mut().insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A PNG's width and height, from its header chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    let field = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().expect("four bytes"));
    (field(16), field(20))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_is_filled_and_sent_under_a_strict_csp() {
    let site = Site::start().await;
    let screenshots = tempfile::tempdir().expect("a screenshot directory");
    let browser =
        Browser::open_with(Options { screenshots: screenshots.path().to_owned(), ..Options::default() })
            .await;

    browser.goto(&site.url("/")).await;
    // The script file comes from 'self' and runs; the inline script is refused.
    browser.wait_until(r#"document.getElementById("script-status").textContent === "Scripts ran""#).await;
    assert_eq!(browser.text(By::Css("#inline-status")).await, "Inline scripts are blocked");
    assert_eq!(browser.client().title().await.expect("the title"), "Greeter");
    assert_eq!(browser.find_all(By::Css("#colour option")).await.len(), 3);
    browser.assert_accessible("the form").await;

    browser.fill(By::Label("Your name"), "Ada").await;
    browser.select(By::Label("Favourite colour"), "Blue").await;
    browser.click(By::Button("Greet me")).await;
    assert_eq!(browser.text(By::Css("#greeting")).await, "Hello, Ada! Your colour is Blue.");
    assert_eq!(browser.url().await, site.url("/greet"));
    browser.assert_accessible("the greeting").await;
    assert_eq!(
        browser.cookie("greeted").await,
        Some(CookieFlags {
            http_only: true,
            secure: true,
            same_site: Some(SameSite::Strict),
            path: Some("/".into())
        })
    );
    assert_eq!(browser.cookie("absent").await, None);

    let screenshot = browser.screenshot("greeting").await;
    assert_eq!(screenshot, screenshots.path().join("greeting.png"));
    assert_eq!(png_size(&std::fs::read(&screenshot).expect("the screenshot")), VIEWPORT);

    browser.click(By::LinkText("Back to the form")).await;
    assert_eq!(browser.find(By::Css("h1")).await.text().await.expect("the heading"), "Greeter");
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_works_with_javascript_off() {
    let site = Site::start().await;
    let browser = Browser::open_with(Options { javascript: JavaScript::Off, ..Options::default() }).await;

    browser.goto(&site.url("/")).await;
    // Once loaded, the page is complete: with scripts on, the deferred script would have run.
    assert_eq!(browser.text(By::Css("#script-status")).await, "Scripts have not run");
    browser.fill(By::Label("Your name"), "Grace").await;
    browser.click(By::Button("Greet me")).await;
    assert_eq!(browser.text(By::Css("#greeting")).await, "Hello, Grace! Your colour is Red.");
    browser.wait_for(By::LinkText("Back to the form")).await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serious_violations_are_reported() {
    let site = Site::start().await;
    let browser = Browser::open().await;

    browser.goto(&site.url("/inaccessible")).await;
    let violations: Vec<Violation> = browser.accessibility_violations().await;
    let serious: Vec<(String, Impact, Vec<String>)> = violations
        .into_iter()
        .filter(|violation| violation.impact >= Impact::Serious)
        .map(|violation| (violation.id, violation.impact, violation.targets))
        .collect();
    assert_eq!(
        serious,
        vec![
            ("color-contrast".to_owned(), Impact::Serious, vec!["p".to_owned()]),
            ("label".to_owned(), Impact::Critical, vec!["input".to_owned()]),
        ]
    );
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_process_outlives_its_browser() {
    let closed = Browser::open().await;
    let ids = closed.process_ids();
    assert!(ids.len() > 1, "chromedriver and Chromium's processes: {ids:?}");
    closed.close().await;
    assert_eq!(ids.iter().copied().filter(|&id| is_running(id)).collect::<Vec<u32>>(), Vec::<u32>::new());

    // Dropped without closing, as a failing test does.
    let dropped = Browser::open().await;
    let ids = dropped.process_ids();
    drop(dropped);
    assert_eq!(ids.iter().copied().filter(|&id| is_running(id)).collect::<Vec<u32>>(), Vec::<u32>::new());
}
