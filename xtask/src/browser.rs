//! What the browser tests (`crates/pulse-http/tests/browser`) need besides Rust.
//!
//! Chromium and chromedriver come from the system (`apt-get install chromium chromium-driver`;
//! `.ci/run` installs them): xtask only checks that they are there, so that their absence is one
//! clear error before the build rather than a failing test after it. axe-core, the accessibility
//! checker the tests inject into pages, comes from npm at a pinned version, installed by xtask
//! into `<target>/browser-tools/` when missing; the tests find it through [`AXE_VAR`].

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::run;

/// The axe-core release the tests run. Each version is installed into a directory of its own, so
/// changing this line is all an upgrade takes.
const AXE_CORE_VERSION: &str = "4.14.1";

/// The variable the tests read the path of `axe.min.js` from.
const AXE_VAR: &str = "PULSE_TEST_AXE_JS";

/// The variables that override where the tests find the browser and its driver; the tests read
/// the same ones.
const CHROMEDRIVER_VAR: &str = "PULSE_TEST_CHROMEDRIVER";
const CHROMIUM_VAR: &str = "PULSE_TEST_CHROMIUM";

/// Where Debian's `chromium` package puts the browser.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

const INSTALL_BROWSER: &str = "the browser tests need Chromium and chromedriver: install them with \
                               `apt-get install chromium chromium-driver`";

/// Checks that Chromium and chromedriver are installed, installs axe-core when missing, and
/// returns the environment that points the tests at it.
pub(crate) fn prepare(target_dir: &Path) -> Result<Vec<(&'static str, String)>> {
    let chromedriver = chromedriver()?;
    let chromium = chromium()?;
    eprintln!("xtask: chromedriver {}, chromium {}", chromedriver.display(), chromium.display());
    let axe = axe_core(target_dir)?;
    Ok(vec![(AXE_VAR, axe.display().to_string())])
}

fn chromedriver() -> Result<PathBuf> {
    match env::var_os(CHROMEDRIVER_VAR) {
        Some(path) if !path.is_empty() => existing(PathBuf::from(path), CHROMEDRIVER_VAR),
        _ => match on_path("chromedriver") {
            Some(path) => Ok(path),
            None => bail!("chromedriver is not on PATH; {INSTALL_BROWSER}, or set ${CHROMEDRIVER_VAR}"),
        },
    }
}

fn chromium() -> Result<PathBuf> {
    match env::var_os(CHROMIUM_VAR) {
        Some(path) if !path.is_empty() => existing(PathBuf::from(path), CHROMIUM_VAR),
        _ => existing(PathBuf::from(DEFAULT_CHROMIUM), CHROMIUM_VAR),
    }
}

fn existing(path: PathBuf, var: &str) -> Result<PathBuf> {
    if path.is_file() {
        Ok(path)
    } else {
        bail!("{} does not exist; {INSTALL_BROWSER}, or set ${var}", path.display())
    }
}

/// The first `program` in a directory of `PATH`.
fn on_path(program: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?).map(|dir| dir.join(program)).find(|path| path.is_file())
}

/// `axe.min.js` of the pinned release, installed with npm when it is not there yet.
fn axe_core(target_dir: &Path) -> Result<PathBuf> {
    let prefix = target_dir.join("browser-tools").join(format!("axe-core@{AXE_CORE_VERSION}"));
    let script = prefix.join("node_modules").join("axe-core").join("axe.min.js");
    if script.is_file() {
        return Ok(script);
    }
    if on_path("npm").is_none() {
        bail!(
            "npm is not on PATH; the browser tests need it to install axe-core {AXE_CORE_VERSION} (the \
             accessibility checker): install it with `apt-get install npm`"
        );
    }
    run(Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(&prefix)
        .args(["--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
        .arg(format!("axe-core@{AXE_CORE_VERSION}")))?;
    if !script.is_file() {
        bail!("`npm install axe-core@{AXE_CORE_VERSION}` succeeded but left no {}", script.display());
    }
    Ok(script)
}
