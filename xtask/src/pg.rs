//! A throwaway Postgres cluster for one test run: found, started, and always torn down.
//!
//! The cluster lives in `<target>/pulse-test-pg/<xtask pid>/` (or, when the `postgres` user
//! cannot reach that, `<tmp>/pulse-test-pg-<xtask pid>/`), listens on a free loopback port with
//! durability switched off, and is stopped and deleted when [`Cluster`] is dropped: after passing
//! tests, failing tests and panics alike. Only a killed xtask (Ctrl-C, SIGKILL) leaves one
//! behind; the next run stops and deletes such leftovers.

use std::env;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The environment variable the test suites read their Postgres URL from.
pub(crate) const URL_VAR: &str = "PULSE_TEST_DATABASE_URL";

/// The database superuser, and the OS user the server runs as when xtask runs as root
/// (Postgres refuses to run as root).
const PG_USER: &str = "postgres";

/// The major version CI provides; preferred when several are installed.
const PREFERRED_MAJOR: u32 = 15;

/// Name of the directory (under the target directory) holding the clusters, one per xtask pid.
const DIR_NAME: &str = "pulse-test-pg";

/// A Unix socket path must fit in `sun_path` (108 bytes, NUL included).
const MAX_SOCKET_PATH: usize = 107;

const HOW_TO_GET_ONE: &str = "\
no PostgreSQL server binaries found (looked for initdb and pg_ctl in /usr/lib/postgresql/*/bin, \
in `pg_config --bindir` and on PATH).
The tests need PostgreSQL. Either
  - install the server, e.g. `apt-get install postgresql` (Debian/Ubuntu) or `brew install postgresql@15`,
    and `cargo xtask test` will start a throwaway cluster by itself, or
  - point the tests at a server you run: PULSE_TEST_DATABASE_URL=postgres://user:pass@host:port/db cargo xtask test";

/// A running throwaway cluster. Dropping it stops the server and deletes its directory.
pub(crate) struct Cluster {
    bindir: PathBuf,
    /// `Some("postgres")` when xtask runs as root.
    run_as: Option<&'static str>,
    /// Holds everything: `data/`, the server log. Deleted on drop.
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    /// Whether `pg_ctl start` was attempted, so drop must stop the server.
    started: bool,
}

impl Cluster {
    /// Finds the server binaries, initialises a fresh cluster and starts it.
    pub(crate) fn start(target_dir: &Path) -> Result<Self> {
        let bindir = find_bindir()?;
        let owner = if running_as_root()? { Some(postgres_ids()?) } else { None };
        let run_as = owner.map(|_| PG_USER);
        remove_leftovers(target_dir, &bindir, run_as);

        let dir = make_dir(target_dir, owner)?;
        // From here on, drop cleans up whatever happens.
        let mut cluster = Cluster { bindir, run_as, data: dir.join("data"), dir, port: 0, started: false };
        cluster.init()?;
        cluster.launch()?;
        cluster.wait_ready()?;
        eprintln!(
            "xtask: PostgreSQL ({}) ready on 127.0.0.1:{}, data in {}",
            cluster.bindir.display(),
            cluster.port,
            cluster.data.display()
        );
        Ok(cluster)
    }

    /// What lets a test restart this server: `pg_ctl`, the data directory, and the OS user to run
    /// it as, as environment variables (see `crates/pulse-store-postgres/tests/restart.rs`).
    pub(crate) fn restart_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("PULSE_TEST_PG_CTL", self.tool("pg_ctl").display().to_string()),
            ("PULSE_TEST_PG_DATA", self.data.display().to_string()),
        ];
        if let Some(user) = self.run_as {
            env.push(("PULSE_TEST_PG_USER", user.to_owned()));
        }
        env
    }

    /// The URL the tests connect with (trust authentication, no password).
    pub(crate) fn url(&self) -> String {
        format!("postgres://{PG_USER}@127.0.0.1:{}/postgres", self.port)
    }

    /// A client program from the server's bin directory, or from PATH when it is not there.
    pub(crate) fn tool(&self, name: &str) -> PathBuf {
        let path = self.bindir.join(name);
        if path.is_file() { path } else { PathBuf::from(name) }
    }

    fn init(&self) -> Result<()> {
        let out = server_command(&self.bindir, self.run_as, "initdb", &self.dir)
            .arg("--pgdata")
            .arg(&self.data)
            .args(["--username", PG_USER, "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .output()
            .context("could not run initdb")?;
        check(&out, "initdb")?;

        // A throwaway cluster: speed over durability, enough connections for parallel tests,
        // loopback TCP only, and the Unix socket inside the data directory (never /var/run).
        let settings = format!(
            "\n# Added by `cargo xtask test` (throwaway cluster).\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             max_connections = 300\n",
            self.data.display().to_string().replace('\'', "''")
        );
        let conf = self.data.join("postgresql.conf");
        OpenOptions::new()
            .append(true)
            .open(&conf)
            .and_then(|mut file| file.write_all(settings.as_bytes()))
            .with_context(|| format!("could not append settings to {}", conf.display()))
    }

    /// Starts the server on a free port; retried with another port if that one got taken meanwhile.
    fn launch(&mut self) -> Result<()> {
        let log = self.dir.join("postgres.log");
        const ATTEMPTS: u32 = 3;
        for attempt in 1..=ATTEMPTS {
            self.port = free_port()?;
            let _ = fs::remove_file(&log);
            self.started = true;
            let out = server_command(&self.bindir, self.run_as, "pg_ctl", &self.dir)
                .arg("--pgdata")
                .arg(&self.data)
                .arg("--log")
                .arg(&log)
                .args(["--wait", "--timeout=60", "-o"])
                .arg(format!("-p {}", self.port))
                .arg("start")
                .output()
                .context("could not run pg_ctl start")?;
            if out.status.success() {
                return Ok(());
            }
            let server_log = fs::read_to_string(&log).unwrap_or_default();
            if attempt < ATTEMPTS && server_log.contains("could not bind") {
                eprintln!("xtask: port {} was taken meanwhile, trying another", self.port);
                continue;
            }
            return check(&out, "pg_ctl start").with_context(|| format!("server log:\n{server_log}"));
        }
        unreachable!("the last attempt returns")
    }

    /// `pg_ctl --wait` already waited; this confirms the server takes connections on the port.
    fn wait_ready(&self) -> Result<()> {
        const ATTEMPTS: u32 = 100;
        let isready = self.bindir.join("pg_isready");
        for _ in 0..ATTEMPTS {
            let ready = if isready.is_file() {
                Command::new(&isready)
                    .args(["--quiet", "--host=127.0.0.1", "--username", PG_USER, "--dbname=postgres"])
                    .arg(format!("--port={}", self.port))
                    .status()
                    .is_ok_and(|status| status.success())
            } else {
                let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
                TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
            };
            if ready {
                return Ok(());
            }
            thread::sleep(Duration::from_millis(100));
        }
        bail!("PostgreSQL on port {} did not accept connections within 10 s", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.started {
            let _ = stop(&self.bindir, self.run_as, &self.data, &self.dir);
            if self.data.join("postmaster.pid").exists() {
                // Deleting files under a live server would be worse than leaving them:
                // the next run retries the stop and the deletion.
                eprintln!(
                    "xtask: warning: could not stop the PostgreSQL server of {}; left it in place",
                    self.data.display()
                );
                return;
            }
        }
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => eprintln!("xtask: PostgreSQL stopped, {} removed", self.dir.display()),
            Err(err) => eprintln!("xtask: warning: could not remove {}: {err}", self.dir.display()),
        }
    }
}

/// `pg_ctl stop -m immediate`: the data is thrown away anyway.
fn stop(bindir: &Path, run_as: Option<&str>, data: &Path, cwd: &Path) -> Result<Output> {
    Ok(server_command(bindir, run_as, "pg_ctl", cwd)
        .arg("--pgdata")
        .arg(data)
        .args(["--mode=immediate", "--wait", "--timeout=30", "stop"])
        .output()?)
}

/// A server program, run as `run_as` through runuser when given, from `cwd` (which that user
/// can enter, unlike perhaps the caller's directory).
fn server_command(bindir: &Path, run_as: Option<&str>, program: &str, cwd: &Path) -> Command {
    let mut cmd = match run_as {
        Some(user) => {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", user, "--"]).arg(bindir.join(program));
            cmd
        }
        None => Command::new(bindir.join(program)),
    };
    cmd.current_dir(cwd).stdin(Stdio::null());
    cmd
}

fn check(out: &Output, what: &str) -> Result<()> {
    if out.status.success() {
        return Ok(());
    }
    bail!(
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The directory with `initdb` and `pg_ctl`: version 15 if installed, else the newest.
fn find_bindir() -> Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();

    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            has_server(&bin).then_some((major, bin))
        })
        .collect();
    versions.sort_by_key(|&(major, _)| (major != PREFERRED_MAJOR, std::cmp::Reverse(major)));
    if let Some((_, bin)) = versions.into_iter().next() {
        return Ok(bin);
    }

    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&bin) {
            return Ok(bin);
        }
    }
    if let Some(bin) =
        env::var_os("PATH").and_then(|path| env::split_paths(&path).find(|dir| has_server(dir)))
    {
        return Ok(bin);
    }
    bail!(HOW_TO_GET_ONE)
}

fn running_as_root() -> Result<bool> {
    // /proc/self belongs to the effective user of the process reading it.
    if let Ok(meta) = fs::metadata("/proc/self") {
        return Ok(meta.uid() == 0);
    }
    let out = Command::new("id").arg("-u").output().context("could not run `id -u`")?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Uid and gid of the `postgres` OS user, which the server runs as when xtask runs as root.
fn postgres_ids() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id").args([flag, PG_USER]).output().context("could not run `id`")?;
        if !out.status.success() {
            bail!(
                "running as root, so the PostgreSQL server must run as the `{PG_USER}` OS user, which \
                 does not exist (installing the postgresql package creates it; or run as a normal \
                 user, or set {URL_VAR})"
            );
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().context("unexpected output from `id`")
    };
    Ok((id("-u")?, id("-g")?))
}

/// Creates the cluster directory, owned by `owner` when given: under the target directory if
/// that user can reach it there, else under the system temporary directory.
fn make_dir(target_dir: &Path, owner: Option<(u32, u32)>) -> Result<PathBuf> {
    let pid = std::process::id();
    let candidates =
        [target_dir.join(DIR_NAME).join(pid.to_string()), env::temp_dir().join(format!("{DIR_NAME}-{pid}"))];
    for dir in candidates {
        let socket = dir.join("data").join(".s.PGSQL.65535");
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            eprintln!("xtask: {} is too deep for a Unix socket path, trying elsewhere", dir.display());
            continue;
        }
        // A directory with our pid can only be a leftover of an earlier process.
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).with_context(|| format!("could not create {}", dir.display()))?;
        let Some((uid, gid)) = owner else { return Ok(dir) };
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid))
            .with_context(|| format!("could not give {} to {PG_USER}", dir.display()))?;
        let reachable = Command::new("runuser")
            .args(["-u", PG_USER, "--", "test", "-w"])
            .arg(&dir)
            .arg("-a")
            .arg("-x")
            .arg(&dir)
            .current_dir("/")
            .status()
            .context("could not run runuser")?
            .success();
        if reachable {
            return Ok(dir);
        }
        eprintln!("xtask: the {PG_USER} user cannot reach {}, trying elsewhere", dir.display());
        let _ = fs::remove_dir_all(&dir);
    }
    bail!("found no directory for the PostgreSQL cluster that the {PG_USER} user can use")
}

/// Stops and deletes clusters left by xtask processes that no longer exist (killed runs).
fn remove_leftovers(target_dir: &Path, bindir: &Path, run_as: Option<&str>) {
    if !Path::new("/proc/self").exists() {
        return; // No way to tell a leftover from a cluster another run still uses.
    }
    let in_target = fs::read_dir(target_dir.join(DIR_NAME))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse::<u32>().ok()?, entry.path())));
    let prefix = format!("{DIR_NAME}-");
    let in_tmp = fs::read_dir(env::temp_dir()).into_iter().flatten().flatten().filter_map(|entry| {
        let pid = entry.file_name().to_str()?.strip_prefix(&prefix)?.parse::<u32>().ok()?;
        Some((pid, entry.path()))
    });
    for (pid, dir) in in_target.chain(in_tmp) {
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue; // Its xtask still runs (or the pid was reused: then leave it, to be safe).
        }
        let data = dir.join("data");
        if data.join("postmaster.pid").exists() {
            let _ = stop(bindir, run_as, &data, &dir);
        }
        if !data.join("postmaster.pid").exists() && fs::remove_dir_all(&dir).is_ok() {
            eprintln!("xtask: removed {}, left by an interrupted run", dir.display());
        }
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("could not bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}
