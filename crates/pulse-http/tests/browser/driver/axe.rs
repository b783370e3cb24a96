//! Accessibility checks with axe-core, injected into the page on screen.
//!
//! axe-core is sent as the body of a WebDriver script, never added to the page as a `<script>`
//! element: WebDriver's scripts run outside the page's Content-Security-Policy, so a page with
//! `script-src 'self'` is checked as it is served.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde::Deserialize;

use super::Browser;

/// The variable holding the path of axe-core's `axe.min.js`; `cargo xtask test` sets it.
const AXE_VAR: &str = "PULSE_TEST_AXE_JS";

/// Runs axe on the whole document and hands its violations, trimmed to what a report needs, to
/// WebDriver's callback (the last argument of an async script).
const RUN: &str = "
    const done = arguments[arguments.length - 1];
    axe.run(document, { resultTypes: ['violations'] })
        .then((results) => done({ violations: results.violations.map((violation) => ({
            id: violation.id,
            impact: violation.impact,
            help: violation.help,
            targets: violation.nodes.map((node) => [].concat(node.target).join(' ')),
        })) }))
        .catch((error) => done({ error: String(error && error.stack || error) }));
";

/// One rule the page breaks, with the elements that break it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct Violation {
    /// The rule, e.g. `color-contrast` or `label`.
    pub(crate) id: String,
    pub(crate) impact: Impact,
    /// What the rule asks for, in a sentence.
    pub(crate) help: String,
    /// A CSS selector for each offending element.
    pub(crate) targets: Vec<String>,
}

/// How badly a violation hurts, in axe's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Impact {
    Minor,
    Moderate,
    Serious,
    Critical,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Outcome {
    Ran { violations: Vec<Violation> },
    Failed { error: String },
}

impl Browser {
    /// Every accessibility violation axe-core finds on the page on screen.
    pub(crate) async fn accessibility_violations(&self) -> Vec<Violation> {
        let loaded = self
            .execute("return typeof window.axe === 'object' && typeof window.axe.run === 'function';")
            .await;
        if loaded != true {
            self.execute(axe_source()).await;
        }
        let outcome = self
            .client
            .execute_async(RUN, Vec::new())
            .await
            .unwrap_or_else(|err| panic!("axe.run failed: {err}"));
        match serde_json::from_value(outcome.clone()) {
            Ok(Outcome::Ran { violations }) => violations,
            Ok(Outcome::Failed { error }) => panic!("axe.run failed: {error}"),
            Err(err) => panic!("axe.run gave an unexpected answer ({err}): {outcome}"),
        }
    }

    /// Panics, listing them, when the page on screen has violations of serious or critical
    /// impact; `page` names the page in the message.
    pub(crate) async fn assert_accessible(&self, page: &str) {
        let violations: Vec<Violation> = self
            .accessibility_violations()
            .await
            .into_iter()
            .filter(|violation| violation.impact >= Impact::Serious)
            .collect();
        if !violations.is_empty() {
            let mut report = String::new();
            for violation in &violations {
                report.push_str(&format!(
                    "\n  {} ({:?}): {}\n    {}",
                    violation.id,
                    violation.impact,
                    violation.help,
                    violation.targets.join("\n    ")
                ));
            }
            panic!("{page} ({}) is not accessible:{report}", self.url().await);
        }
    }
}

/// axe-core's source, read once per test binary.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let how = "run the tests with `cargo xtask test`, which installs axe-core, or install it yourself \
                   (`npm install --prefix target/browser-tools axe-core@VERSION`, the version xtask/src/browser.rs pins) and set PULSE_TEST_AXE_JS to the \
                   path of its axe.min.js";
        let path = std::env::var_os(AXE_VAR)
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| panic!("{AXE_VAR} is not set: {how}"));
        std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("could not read {} ({AXE_VAR}): {err}; {how}", path.display()))
    })
}
