//! The processes behind a browser: a `chromedriver` of its own on a free loopback port, and the
//! Chromium it starts, all ended when the browser is, also in a panic.
//!
//! Chromium is recognised by its profile: each browser gets a fresh temporary directory, and
//! every process that carries it on its command line belongs to that browser and to no other.

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use std::{env, thread};

use rustix::process::{Pid, Signal, kill_process};
use tempfile::TempDir;
use tokio::sync::oneshot;

/// What to do when the browser or its driver is missing.
pub(super) const INSTALL: &str = "the browser tests need Chromium and chromedriver: install them with \
                                  `apt-get install chromium chromium-driver` (or point \
                                  PULSE_TEST_CHROMIUM and PULSE_TEST_CHROMEDRIVER at them)";

/// Where Debian's `chromium` package puts the browser.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// How long chromedriver may take to listen and answer: a bound on a failure, not a wait.
const START: Duration = Duration::from_secs(10);

/// How long Chromium may take to exit once its session is deleted, before it is killed.
const QUIT: Duration = Duration::from_secs(5);

/// How often a condition is looked at again while waiting for it.
pub(super) const POLL: Duration = Duration::from_millis(50);

/// The line chromedriver prints once it listens, before its port.
const LISTENING: &str = "started successfully on port ";

/// The Chromium binary: `$PULSE_TEST_CHROMIUM`, or Debian's. Panics, saying how to install it,
/// when it is missing.
pub(super) fn chromium() -> PathBuf {
    let path = env::var_os("PULSE_TEST_CHROMIUM")
        .filter(|path| !path.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_CHROMIUM), PathBuf::from);
    assert!(path.is_file(), "Chromium is not at {}; {INSTALL}", path.display());
    path
}

/// The chromedriver binary: `$PULSE_TEST_CHROMEDRIVER`, or `chromedriver` on `PATH`.
fn chromedriver() -> PathBuf {
    if let Some(path) = env::var_os("PULSE_TEST_CHROMEDRIVER").filter(|path| !path.is_empty()) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "chromedriver is not at {}; {INSTALL}", path.display());
        return path;
    }
    env::var_os("PATH")
        .and_then(|dirs| {
            env::split_paths(&dirs).map(|dir| dir.join("chromedriver")).find(|path| path.is_file())
        })
        .unwrap_or_else(|| panic!("chromedriver is not on PATH; {INSTALL}"))
}

/// A running chromedriver with its scratch directory: Chromium's profile and the logs.
pub(super) struct Processes {
    chromedriver: Child,
    port: u16,
    scratch: TempDir,
}

impl Processes {
    /// Starts chromedriver on a port of the system's choosing, reads the port from what it
    /// prints, and waits until its `/status` says it is ready.
    pub(super) async fn start() -> Self {
        let scratch =
            tempfile::Builder::new().prefix("pulse-browser-").tempdir().expect("a scratch directory");
        let stderr =
            File::create(scratch.path().join("chromedriver.stderr")).expect("chromedriver's stderr file");
        let program = chromedriver();
        let mut child = Command::new(&program)
            .arg("--port=0")
            .arg(format!("--log-path={}", scratch.path().join("chromedriver.log").display()))
            .arg("--log-level=WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|err| panic!("could not start {}: {err}; {INSTALL}", program.display()));
        let port = read_port(child.stdout.take().expect("chromedriver's stdout"));
        let mut processes = Self { chromedriver: child, port: 0, scratch };
        match tokio::time::timeout(START, port).await {
            Ok(Ok(port)) => processes.port = port,
            Ok(Err(_)) => panic!("chromedriver exited without listening{}", processes.log_tail()),
            Err(_) => panic!("chromedriver did not listen within {START:?}{}", processes.log_tail()),
        }
        processes.wait_ready().await;
        processes
    }

    async fn wait_ready(&self) {
        let client = reqwest::Client::builder().timeout(START).build().expect("an HTTP client");
        let deadline = Instant::now() + START;
        loop {
            let last = match client.get(format!("{}/status", self.webdriver_url())).send().await {
                Ok(reply) => match reply.json::<serde_json::Value>().await {
                    Ok(status) if status["value"]["ready"] == true => return,
                    Ok(status) => status.to_string(),
                    Err(err) => err.to_string(),
                },
                Err(err) => err.to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "chromedriver was not ready within {START:?} (last /status: {last}){}",
                self.log_tail()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// The WebDriver endpoint.
    pub(super) fn webdriver_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Chromium's profile directory (`--user-data-dir`), which no other browser shares.
    pub(super) fn profile(&self) -> PathBuf {
        self.scratch.path().join("profile")
    }

    /// The ids of chromedriver and of every Chromium process of this browser.
    pub(super) fn ids(&self) -> Vec<u32> {
        let mut ids = vec![self.chromedriver.id()];
        ids.extend(using(&self.profile()));
        ids
    }

    /// What chromedriver logged (warnings and errors, and its stderr), for a failure message.
    pub(super) fn log_tail(&self) -> String {
        let mut tail = String::new();
        for name in ["chromedriver.log", "chromedriver.stderr"] {
            let text = fs::read_to_string(self.scratch.path().join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            for line in &lines[lines.len().saturating_sub(20)..] {
                tail.push_str("\n  ");
                tail.push_str(line);
            }
        }
        if tail.is_empty() { tail } else { format!("\nchromedriver's log ends with:{tail}") }
    }

    /// Deletes a session from any context, also from `Drop` while the test's runtime is shutting
    /// down or unwinding: with a runtime of its own, on a thread of its own. chromedriver then
    /// quits that session's Chromium. A failure is left to `Drop for Processes`, which ends every
    /// process of the profile anyway.
    pub(super) fn delete_session(&self, session: &str) {
        let url = format!("{}/session/{session}", self.webdriver_url());
        let _ = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            runtime.block_on(async { reqwest::Client::new().delete(url).timeout(QUIT).send().await }).ok()
        })
        .join();
    }
}

impl Drop for Processes {
    /// Gives Chromium [`QUIT`] to exit (its session has been deleted, or it never started), ends
    /// chromedriver, then kills whatever Chromium process is left and waits until it is gone.
    fn drop(&mut self) {
        let profile = self.profile();
        wait_until_none_use(&profile);
        let _ = self.chromedriver.kill();
        let _ = self.chromedriver.wait();
        for id in using(&profile) {
            if let Some(pid) = i32::try_from(id).ok().and_then(Pid::from_raw) {
                let _ = kill_process(pid, Signal::KILL);
            }
        }
        if !wait_until_none_use(&profile) && !thread::panicking() {
            panic!(
                "Chromium processes of {} outlived their browser: {:?}",
                profile.display(),
                using(&profile)
            );
        }
    }
}

/// Reads chromedriver's stdout on a thread of its own: the port it prints goes to the receiver,
/// the rest is drained so that chromedriver never blocks on a full pipe.
fn read_port(stdout: impl std::io::Read + Send + 'static) -> oneshot::Receiver<u16> {
    let (sender, receiver) = oneshot::channel();
    thread::spawn(move || {
        let mut sender = Some(sender);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let port =
                line.split_once(LISTENING).and_then(|(_, rest)| rest.trim_end_matches('.').parse().ok());
            if let Some(port) = port
                && let Some(sender) = sender.take()
            {
                let _ = sender.send(port);
            }
        }
    });
    receiver
}

/// Whether `id` is a running process (not gone, not a zombie waiting to be reaped).
pub(crate) fn is_running(id: u32) -> bool {
    fs::read_to_string(format!("/proc/{id}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

/// The processes whose command line names `profile`. A zombie has an empty command line, so it
/// is not among them: it has ended, only its exit status waits for its parent.
fn using(profile: &Path) -> Vec<u32> {
    let needle = profile.as_os_str().as_encoded_bytes();
    let Ok(entries) = fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|id| {
            fs::read(format!("/proc/{id}/cmdline"))
                .is_ok_and(|cmdline| cmdline.split(|&byte| byte == 0).any(|arg| contains(arg, needle)))
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Polls until no process uses `profile`, for at most [`QUIT`]; whether none does.
fn wait_until_none_use(profile: &Path) -> bool {
    let deadline = Instant::now() + QUIT;
    loop {
        if using(profile).is_empty() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}
