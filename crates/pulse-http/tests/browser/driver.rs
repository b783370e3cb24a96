//! A real browser for the tests: headless Chromium driven over WebDriver, with helpers that act
//! as a person would (follow a link, fill a field by its label, press a button) and that wait for
//! the page by polling a condition with a deadline, never by sleeping.
//!
//! [`Browser::open`] starts a `chromedriver` of its own and opens a session of headless Chromium
//! with a fresh profile and a 1280×800 viewport; [`Browser::close`], or dropping the browser (also
//! in a panic), ends the session and every process behind it.
//!
//! The environment says where things are; `cargo xtask test` sets what it must:
//! - `PULSE_TEST_CHROMEDRIVER`: chromedriver, by default `chromedriver` on `PATH`;
//! - `PULSE_TEST_CHROMIUM`: Chromium, by default `/usr/bin/chromium`;
//! - `PULSE_TEST_AXE_JS`: axe-core's `axe.min.js`, for [`Browser::assert_accessible`];
//! - `PULSE_TEST_SCREENSHOTS`: where [`Browser::screenshot`] writes, by default `target/screenshots`
//!   (`PULSE_TEST_SCREENSHOTS=docs/images` refreshes the documentation's images).
//!
//! A missing browser fails the test with a message saying how to install it; it never skips.

mod axe;
mod process;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fantoccini::cookies::Cookie;
use fantoccini::elements::Element;
use fantoccini::error::{CmdError, ErrorStatus};
use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub(crate) use axe::{Impact, Violation};
pub(crate) use process::is_running;

use process::{POLL, Processes};

/// How long a helper waits for its element or condition before it fails the test.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// The viewport every page is seen (and every screenshot taken) at.
pub(crate) const VIEWPORT: (u32, u32) = (1280, 800);

/// What kind of browser to open.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Whether pages may run scripts: `Off` checks that a page stays usable without them.
    pub(crate) javascript: JavaScript,
    /// Where [`Browser::screenshot`] writes its PNG files: `$PULSE_TEST_SCREENSHOTS` (relative to
    /// the workspace root), by default the workspace's `target/screenshots`, so a test run leaves
    /// the documentation's images alone.
    pub(crate) screenshots: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        let root = workspace_root();
        let screenshots = match std::env::var_os("PULSE_TEST_SCREENSHOTS") {
            Some(dir) if !dir.is_empty() => root.join(dir),
            _ => root.join("target").join("screenshots"),
        };
        Self { javascript: JavaScript::On, screenshots }
    }
}

/// Whether pages run scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JavaScript {
    On,
    Off,
}

/// How to find an element, in the words a person would use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum By<'a> {
    /// A CSS selector.
    Css(&'a str),
    /// A link (`<a>`) by its whole visible text.
    LinkText(&'a str),
    /// A form control by the whole text of its `<label>` (whitespace normalised), or by its
    /// `aria-label`.
    Label(&'a str),
    /// A `<button>` by its whole text (whitespace normalised), or an `<input type=submit>` or
    /// `<input type=button>` by its value.
    Button(&'a str),
}

impl fmt::Display for By<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            By::Css(css) => write!(f, "css {css:?}"),
            By::LinkText(text) => write!(f, "link {text:?}"),
            By::Label(text) => write!(f, "label {text:?}"),
            By::Button(text) => write!(f, "button {text:?}"),
        }
    }
}

/// A cookie's attributes, as the browser stored them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CookieFlags {
    pub(crate) http_only: bool,
    pub(crate) secure: bool,
    pub(crate) same_site: Option<SameSite>,
    pub(crate) path: Option<String>,
}

/// A cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SameSite {
    Strict,
    Lax,
    None,
}

/// One headless Chromium with its own chromedriver and profile.
pub(crate) struct Browser {
    client: Client,
    session: String,
    screenshots: PathBuf,
    /// Whether [`Browser::close`] has deleted the session already.
    closed: bool,
    /// Dropped after `Drop for Browser` has deleted the session: ends chromedriver and any
    /// Chromium process left, then removes the profile.
    processes: Processes,
}

impl Browser {
    /// A browser with JavaScript on, taking screenshots into `target/screenshots` (or
    /// `$PULSE_TEST_SCREENSHOTS`).
    pub(crate) async fn open() -> Self {
        Self::open_with(Options::default()).await
    }

    /// A browser as `options` say. Panics, saying how to install them, when Chromium or
    /// chromedriver is missing, and when the viewport is not [`VIEWPORT`].
    pub(crate) async fn open_with(options: Options) -> Self {
        let chromium = process::chromium();
        let processes = Processes::start().await;
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities(&chromium, &processes.profile(), options.javascript))
            .connect(&processes.webdriver_url())
            .await
            .unwrap_or_else(|err| {
                panic!("could not open a session of {}: {err}{}", chromium.display(), processes.log_tail())
            });
        let session = match client.session_id().await {
            Ok(Some(session)) => session,
            other => panic!("chromedriver gave no session id: {other:?}"),
        };
        let browser = Self { client, session, screenshots: options.screenshots, closed: false, processes };
        browser.size_viewport().await;
        browser
    }

    /// Makes the viewport [`VIEWPORT`]. Headless Chromium's `--window-size` is the window's outer
    /// size, which includes the height of a toolbar it does not draw; the window grows by that.
    async fn size_viewport(&self) {
        let size = self
            .execute(
                "return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];",
            )
            .await;
        let (extra_width, extra_height): (u32, u32) = serde_json::from_value(size.clone())
            .unwrap_or_else(|_| panic!("the window's frame is not two sizes: {size}"));
        let (width, height) = VIEWPORT;
        self.client
            .set_window_size(width + extra_width, height + extra_height)
            .await
            .unwrap_or_else(|err| panic!("could not size the window: {err}"));
        assert_eq!(self.viewport().await, VIEWPORT, "the viewport (window.innerWidth, window.innerHeight)");
    }

    /// Ends the session, then chromedriver and every Chromium process of this browser, and
    /// removes its profile. Dropping the browser does the same without an async runtime.
    pub(crate) async fn close(mut self) {
        if let Err(err) = self.client.clone().close().await {
            panic!("could not end the WebDriver session: {err}");
        }
        self.closed = true;
    }

    /// The WebDriver client, for what the helpers here do not cover.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The ids of this browser's processes: chromedriver and Chromium's.
    pub(crate) fn process_ids(&self) -> Vec<u32> {
        self.processes.ids()
    }

    /// Loads `url` and waits until the page has loaded.
    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|err| panic!("could not load {url}: {err}"));
    }

    /// The address of the page on screen.
    pub(crate) async fn url(&self) -> String {
        self.client
            .current_url()
            .await
            .unwrap_or_else(|err| panic!("could not read the page's URL: {err}"))
            .into()
    }

    /// `window.innerWidth` and `window.innerHeight`.
    pub(crate) async fn viewport(&self) -> (u32, u32) {
        let size = self.execute("return [window.innerWidth, window.innerHeight];").await;
        match serde_json::from_value(size.clone()) {
            Ok(size) => size,
            Err(_) => panic!("the viewport's size is not two integers: {size}"),
        }
    }

    /// The one element that matches `by` now; panics when none or several do. See
    /// [`Browser::wait_for`] to wait for it.
    pub(crate) async fn find(&self, by: By<'_>) -> Element {
        match self.find_all(by).await.as_slice() {
            [element] => element.clone(),
            elements => {
                panic!("{} elements match {by}, expected one, on {}", elements.len(), self.url().await)
            }
        }
    }

    /// Every element that matches `by` now, in document order.
    pub(crate) async fn find_all(&self, by: By<'_>) -> Vec<Element> {
        let found = match by {
            By::Css(css) => self.client.find_all(Locator::Css(css)).await,
            By::LinkText(text) => self.client.find_all(Locator::LinkText(text)).await,
            By::Label(text) => self.client.find_all(Locator::XPath(&label_xpath(text))).await,
            By::Button(text) => self.client.find_all(Locator::XPath(&button_xpath(text))).await,
        };
        found.unwrap_or_else(|err| panic!("could not look for {by}: {err}"))
    }

    /// Waits until an element matches `by` and returns it; panics at the deadline, or when
    /// several match.
    pub(crate) async fn wait_for(&self, by: By<'_>) -> Element {
        self.on_element(by, "wait for", async |element| Ok(element)).await
    }

    /// Waits until the JavaScript expression `condition` is true; panics at the deadline,
    /// showing the last value or error.
    pub(crate) async fn wait_until(&self, condition: &str) {
        let script = format!("return ({condition});");
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match self.client.execute(&script, Vec::new()).await {
                Ok(Value::Bool(true)) => return,
                Ok(value) => format!("it was {value}"),
                Err(err) => format!("it failed: {err}"),
            };
            if Instant::now() >= deadline {
                panic!("`{condition}` was not true within {WAIT:?} on {}: {last}", self.url().await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clicks the element `by` finds, once it is there and can be clicked.
    pub(crate) async fn click(&self, by: By<'_>) {
        self.on_element(by, "click", async |element| element.click().await).await;
    }

    /// Replaces the text of the field `by` finds, once it is there and can take input.
    pub(crate) async fn fill(&self, by: By<'_>, text: &str) {
        self.on_element(by, "fill", async |element| {
            element.clear().await?;
            element.send_keys(text).await
        })
        .await;
    }

    /// Chooses the option whose visible text is `option` in the `<select>` `by` finds.
    pub(crate) async fn select(&self, by: By<'_>, option: &str) {
        self.on_element(by, "select an option of", async |element| element.select_by_label(option).await)
            .await;
    }

    /// The visible text of the element `by` finds, once it is there.
    pub(crate) async fn text(&self, by: By<'_>) -> String {
        self.on_element(by, "read the text of", async |element| element.text().await).await
    }

    /// Writes a PNG of the viewport to `<screenshots>/<name>.png` and returns its path.
    pub(crate) async fn screenshot(&self, name: &str) -> PathBuf {
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "a screenshot's name is letters, digits, `-` and `_`, got {name:?}"
        );
        let png =
            self.client.screenshot().await.unwrap_or_else(|err| panic!("could not take a screenshot: {err}"));
        std::fs::create_dir_all(&self.screenshots)
            .unwrap_or_else(|err| panic!("could not create {}: {err}", self.screenshots.display()));
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|err| panic!("could not write {}: {err}", path.display()));
        path
    }

    /// The attributes of the cookie `name` of the page on screen, through WebDriver's cookie
    /// API (which, unlike `document.cookie`, sees `HttpOnly` cookies); `None` when there is none.
    pub(crate) async fn cookie(&self, name: &str) -> Option<CookieFlags> {
        let cookies = self
            .client
            .get_all_cookies()
            .await
            .unwrap_or_else(|err| panic!("could not read the cookies: {err}"));
        cookies.into_iter().find(|cookie| cookie.name() == name).map(|cookie| flags(&cookie))
    }

    /// Runs `script` in the page, as the body of a function, and returns what it returns: for
    /// what a person cannot do through the page (reading several fields at once, forging a form).
    pub(crate) async fn script(&self, script: &str) -> Value {
        self.execute(script).await
    }

    /// Runs `script` as the body of a function and returns what it returns; a failure shows the
    /// script's start (axe-core's whole source would drown the message).
    async fn execute(&self, script: &str) -> Value {
        self.client.execute(script, Vec::new()).await.unwrap_or_else(|err| {
            panic!("script failed: {err}\n{}", script.chars().take(200).collect::<String>())
        })
    }

    /// Polls until exactly one element matches `by` and `action` succeeds on it, retrying while
    /// the element is missing, stale or cannot be interacted with yet: what a person does while a
    /// page loads or changes. Panics when several elements match, on any other error, and at the
    /// deadline.
    async fn on_element<T>(
        &self,
        by: By<'_>,
        what: &str,
        mut action: impl AsyncFnMut(Element) -> Result<T, CmdError>,
    ) -> T {
        let deadline = Instant::now() + WAIT;
        loop {
            let last = match self.find_all(by).await.as_slice() {
                [] => format!("no element matches {by}"),
                [element] => match action(element.clone()).await {
                    Ok(value) => return value,
                    Err(err) if is_transient(&err) => err.to_string(),
                    Err(err) => panic!("could not {what} {by} on {}: {err}", self.url().await),
                },
                several => {
                    panic!(
                        "could not {what} {by}: {} elements match, expected one, on {}",
                        several.len(),
                        self.url().await
                    )
                }
            };
            if Instant::now() >= deadline {
                panic!("could not {what} {by} within {WAIT:?} on {}: {last}", self.url().await);
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.closed {
            self.processes.delete_session(&self.session);
        }
    }
}

/// Headless Chromium with a fresh profile, nothing that phones home, and the viewport's size.
fn capabilities(chromium: &Path, profile: &Path, javascript: JavaScript) -> Capabilities {
    let (width, height) = VIEWPORT;
    let mut chrome = json!({
        "binary": chromium,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.display()),
        ],
    });
    if javascript == JavaScript::Off {
        chrome["prefs"] = json!({ "profile.managed_default_content_settings.javascript": 2 });
    }
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": chrome,
        // Page loads and scripts (axe-core above all) get a bound; finding elements never waits
        // inside chromedriver, the helpers poll instead.
        "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 30_000 },
    });
    match capabilities {
        Value::Object(map) => map,
        _ => unreachable!("capabilities are an object"),
    }
}

/// Errors that waiting may cure: the element is not there yet, was replaced, or is covered or
/// hidden for now.
fn is_transient(err: &CmdError) -> bool {
    matches!(
        err,
        CmdError::Standard(wd) if matches!(
            wd.error,
            ErrorStatus::NoSuchElement
                | ErrorStatus::StaleElementReference
                | ErrorStatus::ElementNotInteractable
                | ErrorStatus::ElementClickIntercepted
        )
    )
}

/// Controls named `text` by a `<label>` (with `for`, or around them), or by `aria-label`.
fn label_xpath(text: &str) -> String {
    let text = xpath_literal(text);
    format!(
        "//*[@id = //label[normalize-space() = {text}]/@for] \
         | //label[normalize-space() = {text}]//*[self::input or self::select or self::textarea] \
         | //*[@aria-label = {text}]"
    )
}

/// Buttons named `text`.
fn button_xpath(text: &str) -> String {
    let text = xpath_literal(text);
    format!(
        "//button[normalize-space() = {text}] \
         | //input[(@type = 'submit' or @type = 'button' or @type = 'reset') and @value = {text}]"
    )
}

/// `text` as an XPath 1.0 string literal, which has no escapes: quoted with whichever quote it
/// lacks, or pieced together with `concat` when it has both.
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let pieces: Vec<String> = text.split('\'').map(|piece| format!("'{piece}'")).collect();
        format!("concat({})", pieces.join(", \"'\", "))
    }
}

fn flags(cookie: &Cookie<'_>) -> CookieFlags {
    CookieFlags {
        http_only: cookie.http_only().unwrap_or(false),
        secure: cookie.secure().unwrap_or(false),
        same_site: cookie.same_site().map(|same_site| {
            if same_site.is_strict() {
                SameSite::Strict
            } else if same_site.is_lax() {
                SameSite::Lax
            } else {
                SameSite::None
            }
        }),
        path: cookie.path().map(str::to_owned),
    }
}

/// The workspace root, two levels above this crate's directory.
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("the crate lives in crates/ of the workspace")
}
