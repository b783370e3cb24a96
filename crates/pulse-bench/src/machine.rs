//! What the run ran on: cores, memory, operating system, compiler and database versions.

use std::fs;
use std::io::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::backend::PgLab;
use crate::tools::Tools;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Machine {
    pub(crate) cores: usize,
    pub(crate) cpu: String,
    pub(crate) memory_gib: f64,
    pub(crate) os: String,
    pub(crate) kernel: String,
    pub(crate) rustc: &'static str,
    pub(crate) sqlite: &'static str,
    pub(crate) postgres: String,
    /// The server settings that matter for write speed.
    pub(crate) postgres_settings: String,
    /// The median time to write 4 KiB and `fsync` it where the SQLite files live.
    pub(crate) fsync_ms: f64,
    /// `/proc/loadavg` when the run started: other work on the machine skews the figures.
    pub(crate) load_at_start: String,
    /// The HTTP load generator's version, when the run used one.
    pub(crate) load_generator: Option<String>,
    /// pgbench's version, when the run found it.
    pub(crate) pgbench: Option<String>,
}

impl Machine {
    /// Reads `/proc`, `/etc/os-release` and the server, and times `fsync` in `dir`; notes the
    /// versions of the load generators in `tools`.
    pub(crate) async fn probe(pg: &PgLab, dir: &Path, tools: Option<&Tools>) -> Result<Self> {
        let settings = pg
            .lines(
                "SELECT name || ' = ' || current_setting(name) FROM pg_settings \
                 WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', 'work_mem', 'max_connections') \
                 ORDER BY name"
                    .to_owned(),
            )
            .await?;
        Ok(Self {
            cores: std::thread::available_parallelism().map_or(0, usize::from),
            cpu: proc_field("/proc/cpuinfo", "model name").unwrap_or_else(|| "unknown".to_owned()),
            memory_gib: proc_field("/proc/meminfo", "MemTotal")
                .and_then(|total| total.trim_end_matches("kB").trim().parse::<f64>().ok())
                .map_or(0.0, |kib| kib / (1024.0 * 1024.0)),
            os: proc_field("/etc/os-release", "PRETTY_NAME")
                .map_or_else(|| "unknown".to_owned(), |name| name.trim_matches('"').to_owned()),
            kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |text| text.trim().to_owned()),
            rustc: env!("PULSE_BENCH_RUSTC"),
            sqlite: rusqlite::version(),
            postgres: pg.lines("SELECT version()".to_owned()).await?.join(""),
            postgres_settings: settings.join(", "),
            fsync_ms: fsync_millis(dir)?,
            load_at_start: load_average(),
            load_generator: tools.map(|tools| tools.wrk_version.clone()),
            pgbench: tools.and_then(|tools| tools.pgbench.as_ref()).map(|pgbench| pgbench.version.clone()),
        })
    }
}

/// The median of 21 writes of 4 KiB to a file in `dir`, each followed by `fsync`.
fn fsync_millis(dir: &Path) -> Result<f64> {
    let path = dir.join("fsync-probe");
    let mut file = fs::File::create(&path)?;
    let mut samples = Vec::new();
    for _ in 0..21 {
        file.write_all(&[0; 4096])?;
        let started = Instant::now();
        file.sync_all()?;
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    fs::remove_file(&path)?;
    Ok(crate::measure::median(&mut samples))
}

/// The value of the first `key: value` (or `key=value`) line of `path`.
fn proc_field(path: &str, key: &str) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.trim_start();
        let value = rest.strip_prefix(':').or_else(|| rest.strip_prefix('='))?;
        Some(value.trim().to_owned())
    })
}

/// The 1, 5 and 15-minute load averages.
pub(crate) fn load_average() -> String {
    fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    )
}

/// The process's resident memory in bytes, from `/proc/self/status`.
pub(crate) fn resident_bytes() -> Result<u64> {
    let kib = proc_field("/proc/self/status", "VmRSS")
        .and_then(|value| value.trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("cannot read VmRSS from /proc/self/status"))?;
    Ok(kib * 1024)
}

/// Writes every dirty page of the system out (`sync`), and waits for it.
pub(crate) fn sync_disks() -> Result<()> {
    let status = std::process::Command::new("sync").status()?;
    anyhow::ensure!(status.success(), "`sync` failed: {status}");
    Ok(())
}
