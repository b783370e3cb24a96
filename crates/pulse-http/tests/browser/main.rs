//! Web pages in a real browser: headless Chromium driven over WebDriver (`driver`), pages checked
//! with axe-core, screenshots taken for the docs.
//!
//! `cargo xtask test` prepares what these tests need besides Rust: it checks that Chromium and
//! chromedriver are installed and installs axe-core. Without a browser the tests fail, saying how
//! to install one; they never skip.

mod driver;
mod harness;
