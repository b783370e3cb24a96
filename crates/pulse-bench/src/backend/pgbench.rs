//! pgbench, PostgreSQL's own load generator (C, on libpq), as the limit of storing from 8 tasks:
//! `pgbench -n -M prepared` running the plain raw insert as a one-statement script, into a table
//! of its own that Pulse's migrations laid out. It is found on `PATH` or in the server's bin
//! directory; when it is not installed the figures it limits are not measured, and the report
//! says why.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use pulse_extensibility::{DeadLetterEntry, columns as c};
use tempfile::NamedTempFile;

use super::{PgLab, insert_sql};
use crate::entries::Template;
use crate::plan::Budget;

/// Where Debian and Ubuntu install each major version of PostgreSQL.
const SERVER_DIRS: &str = "/usr/lib/postgresql";

/// The script's random number, drawn per row: the low half of the id and the message id.
const RANDOM: &str = "\\set r random(0, 4611686018427387903)";

/// A time-ordered id, as Pulse's UUID v7 ids are, so the primary key grows at its right edge as
/// it does under the other writers: the server's clock in microseconds, then the random `:r`.
const ID: &str = "(lpad(to_hex((extract(epoch FROM now()) * 1000000)::bigint), 16, '0') \
     || lpad(to_hex(:r::bigint), 16, '0'))::uuid";

/// pgbench, found.
#[derive(Debug, Clone)]
pub(crate) struct Pgbench {
    path: PathBuf,
    /// What `pgbench --version` printed, e.g. `pgbench (PostgreSQL) 15.18`.
    pub(crate) version: String,
}

impl Pgbench {
    /// Why the figures pgbench limits are missing when it is not found.
    pub(crate) const MISSING: &str = "pgbench is not installed (looked on PATH and in \
         /usr/lib/postgresql/*/bin; it comes with the PostgreSQL server package)";

    /// pgbench's worker threads (`-j`), one per core of the machine the report was written on.
    pub(crate) const THREADS: usize = 2;

    /// The budget of one round against pgbench: `throughput`'s time in whole seconds (at least
    /// one), since pgbench's `-T` counts seconds, and no limit of operations, so the side
    /// alternating with it runs as long.
    pub(crate) fn budget(throughput: Budget) -> Budget {
        Budget::new(Duration::from_secs(whole_seconds(throughput.time)), u64::MAX)
    }

    /// pgbench on `PATH`, else in `/usr/lib/postgresql/*/bin` (the newest version there); `None`
    /// when neither has it.
    ///
    /// # Errors
    ///
    /// A pgbench that is found but does not tell its version.
    pub(crate) fn find() -> Result<Option<Self>> {
        let Some(path) = on_path().or_else(in_server_dirs) else { return Ok(None) };
        let output = Command::new(&path)
            .arg("--version")
            .output()
            .with_context(|| format!("running {} --version", path.display()))?;
        let version = String::from_utf8_lossy(&output.stdout).lines().next().unwrap_or_default().to_owned();
        if !output.status.success() || !version.starts_with("pgbench") {
            bail!("`{} --version` failed ({}): {version:?}", path.display(), output.status);
        }
        Ok(Some(Self { path, version }))
    }
}

fn on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("pgbench")).find(|file| file.is_file())
}

fn in_server_dirs() -> Option<PathBuf> {
    let versions = std::fs::read_dir(SERVER_DIRS).ok()?;
    versions
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            let file = entry.path().join("bin").join("pgbench");
            file.is_file().then_some((major, file))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, file)| file)
}

/// pgbench inserting the benchmark's row into one table: its script, its variables, and the
/// server of the run.
pub(crate) struct PgbenchInsert {
    program: PathBuf,
    script: NamedTempFile,
    /// `-D name=value`: the row's constant columns.
    defines: Vec<String>,
    server: Server,
    /// Rows written by every round so far, by pgbench's own count.
    written: AtomicU64,
}

impl PgbenchInsert {
    /// Lets Pulse's migrations create table `table`, and writes the script that fills it.
    pub(crate) async fn open(
        pgbench: &Pgbench,
        lab: &PgLab,
        table: &str,
        template: &Template,
    ) -> Result<Self> {
        lab.open_store(table).await?.close().await;
        let row = row(template.entry(), template.metadata_json());
        let mut script = tempfile::Builder::new().prefix("pulse-bench-").suffix(".sql").tempfile()?;
        script.write_all(script_text(&lab.qualified(table)?, &row).as_bytes())?;
        script.flush()?;
        let defines = row
            .into_iter()
            .filter_map(|(column, value)| match value {
                Value::Constant(text) => Some(format!("{column}={text}")),
                Value::Sql(_) => None,
            })
            .collect();
        Ok(Self {
            program: pgbench.path.clone(),
            script,
            defines,
            server: Server::from_url(lab.url())?,
            written: AtomicU64::new(0),
        })
    }

    /// Rows per second of `clients` clients inserting for `budget`'s time in whole seconds (at
    /// least one: pgbench's `-T` counts seconds); pgbench's `tps` without the time it took to
    /// connect.
    pub(crate) async fn rate(&self, clients: usize, budget: Budget) -> Result<f64> {
        let mut command = Command::new(&self.program);
        command
            .args(["-n", "-M", "prepared", "-c", &clients.to_string(), "-j", &Pgbench::THREADS.to_string()])
            .args(["-T", &whole_seconds(budget.time).to_string()])
            .arg("-f")
            .arg(self.script.path());
        for define in &self.defines {
            command.arg("-D").arg(define);
        }
        // libpq takes a URI where it takes a database name; the password goes through the
        // environment, so it never shows in a process list or a message.
        command.arg(&self.server.url);
        if let Some(password) = &self.server.password {
            command.env("PGPASSWORD", password);
        }
        let output =
            tokio::task::spawn_blocking(move || command.output()).await?.context("running pgbench")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "pgbench failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stderr),
                stdout
            );
        }
        let round = Round::parse(&stdout)?;
        self.written.fetch_add(round.transactions, Ordering::Relaxed);
        Ok(round.tps)
    }

    /// Rows written by every round so far, by pgbench's own count.
    pub(crate) fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

/// `duration` in whole seconds, rounded up, and at least one.
fn whole_seconds(duration: Duration) -> u64 {
    (duration.as_secs() + u64::from(duration.subsec_nanos() > 0)).max(1)
}

/// The server of the run as libpq takes it: its URL without the password, and the password.
#[derive(Debug, PartialEq)]
struct Server {
    url: String,
    password: Option<String>,
}

impl Server {
    fn from_url(url: &str) -> Result<Self> {
        let mut parsed = url::Url::parse(url).context("the server's URL is not a URL")?;
        let password = parsed
            .password()
            .map(|password| percent_encoding::percent_decode_str(password).decode_utf8().map(String::from))
            .transpose()
            .context("the password in the server's URL is not UTF-8")?;
        if password.is_some() && parsed.set_password(None).is_err() {
            bail!("cannot take the password out of the server's URL");
        }
        Ok(Self { url: parsed.into(), password })
    }
}

/// What one pgbench run reported.
#[derive(Debug, PartialEq)]
struct Round {
    tps: f64,
    transactions: u64,
}

impl Round {
    /// Reads pgbench's summary: `number of transactions actually processed: N` and `tps = X
    /// (without initial connection time)` (before PostgreSQL 14: `(excluding connections
    /// establishing)`).
    fn parse(stdout: &str) -> Result<Self> {
        let field = |prefix: &str| stdout.lines().find_map(|line| line.trim().strip_prefix(prefix));
        let tps = stdout
            .lines()
            .filter_map(|line| line.trim().strip_prefix("tps = "))
            .find_map(|rest| {
                let (number, note) = rest.split_once(' ')?;
                let without_connecting = note == "(without initial connection time)"
                    || note == "(excluding connections establishing)";
                without_connecting.then(|| number.parse::<f64>().ok()).flatten()
            })
            .with_context(|| format!("no tps without the connection time in pgbench's output:\n{stdout}"))?;
        let transactions = field("number of transactions actually processed: ")
            .and_then(|count| count.split('/').next()?.trim().parse().ok())
            .with_context(|| format!("no count of transactions in pgbench's output:\n{stdout}"))?;
        Ok(Self { tps, transactions })
    }
}

/// What the script writes into one column.
#[derive(Debug, PartialEq)]
enum Value {
    /// SQL of the script's own: the server's clock, the random `:r`, `NULL`.
    Sql(&'static str),
    /// A constant of the benchmark's entry, given on the command line as a variable of the
    /// column's name and bound as a parameter of the prepared statement, as the raw insert binds
    /// it.
    Constant(String),
}

/// The row the script writes, column by column in the order of [`super::COLUMNS`]: what the raw
/// insert binds (`bind_row` in `postgres.rs`), the fresh parts computed by the script.
fn row(e: &DeadLetterEntry, metadata_json: &str) -> Vec<(&'static str, Value)> {
    let constant = |text: &str| Value::Constant(text.to_owned());
    let optional = |text: Option<&str>| text.map_or(Value::Sql("NULL"), constant);
    vec![
        (c::ID, Value::Sql(ID)),
        (c::TENANT, constant(e.tenant.as_str())),
        (c::MESSAGE_ID, Value::Sql("'msg-' || :r")),
        (c::COMMAND_TYPE, constant(&e.command_type)),
        (c::COMMAND_VERSION, constant(&e.command_version.to_string())),
        (c::PAYLOAD, constant(&e.payload)),
        (c::ORIGINAL_PAYLOAD, Value::Sql("NULL")),
        (c::EXCEPTION_TYPE, constant(&e.exception_type)),
        (c::EXCEPTION_MESSAGE, constant(&e.exception_message)),
        (c::EXCEPTION_DETAILS, optional(e.exception_details.as_deref())),
        (c::FINGERPRINT, constant(e.fingerprint.as_str())),
        (c::SOURCE, optional(e.source.as_deref())),
        (c::METADATA, constant(metadata_json)),
        (c::ATTEMPT_COUNT, constant(&e.attempt_count.to_string())),
        (c::FIRST_FAILED_AT, Value::Sql("now()")),
        (c::OCCURRED_AT, Value::Sql("now()")),
        (c::STATUS, constant(&e.status.as_i16().to_string())),
        (c::RESOLUTION, Value::Sql("NULL")),
        (c::NOTE, Value::Sql("NULL")),
        (c::RESOLVED_AT, Value::Sql("NULL")),
        (c::LEASE_TOKEN, Value::Sql("NULL")),
        (c::LEASE_EXPIRES_AT, Value::Sql("NULL")),
        (c::REPLAY_REQUESTED_AT, Value::Sql("NULL")),
        (c::CREATED_AT, Value::Sql("now()")),
        (c::UPDATED_AT, Value::Sql("now()")),
        (c::REVISION, constant(&e.revision.to_string())),
    ]
}

/// The script: a random number, then the plain raw insert of `row` into `table`.
fn script_text(table: &str, row: &[(&'static str, Value)]) -> String {
    let sql = insert_sql(table, 1, |n| match &row[n - 1] {
        (_, Value::Sql(sql)) => (*sql).to_owned(),
        (column, Value::Constant(_)) => format!(":{column}"),
    });
    format!("{RANDOM}\n{sql};\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::COLUMNS;

    #[test]
    fn the_row_fills_every_column_of_the_raw_insert_in_order() {
        let template = Template::new().expect("the template");
        let columns: Vec<&str> =
            row(template.entry(), template.metadata_json()).into_iter().map(|(column, _)| column).collect();
        assert_eq!(columns, COLUMNS);
    }

    #[test]
    fn the_script_is_the_raw_insert_with_pgbench_variables() {
        let template = Template::new().expect("the template");
        let script = script_text("\"s\".\"t\"", &row(template.entry(), template.metadata_json()));
        let expected = "\\set r random(0, 4611686018427387903)\n\
            INSERT INTO \"s\".\"t\" (\"Id\", \"Tenant\", \"MessageId\", \"CommandType\", \"CommandVersion\", \
            \"Payload\", \"OriginalPayload\", \"ExceptionType\", \"ExceptionMessage\", \"ExceptionDetails\", \
            \"Fingerprint\", \"Source\", \"Metadata\", \"AttemptCount\", \"FirstFailedAt\", \"OccurredAt\", \
            \"Status\", \"Resolution\", \"Note\", \"ResolvedAt\", \"LeaseToken\", \"LeaseExpiresAt\", \
            \"ReplayRequestedAt\", \"CreatedAt\", \"UpdatedAt\", \"Revision\") VALUES (\
            (lpad(to_hex((extract(epoch FROM now()) * 1000000)::bigint), 16, '0') || lpad(to_hex(:r::bigint), 16, '0'))::uuid, \
            :Tenant, 'msg-' || :r, :CommandType, :CommandVersion, :Payload, NULL, :ExceptionType, :ExceptionMessage, \
            :ExceptionDetails, :Fingerprint, :Source, :Metadata, :AttemptCount, now(), now(), :Status, NULL, NULL, \
            NULL, NULL, NULL, NULL, now(), now(), :Revision);\n";
        assert_eq!(script, expected);
    }

    #[test]
    fn the_constants_are_the_entry_s() {
        let template = Template::new().expect("the template");
        let e = template.entry();
        let constants: Vec<(&str, String)> = row(e, template.metadata_json())
            .into_iter()
            .filter_map(|(column, value)| match value {
                Value::Constant(text) => Some((column, text)),
                Value::Sql(_) => None,
            })
            .collect();
        let expected = vec![
            ("Tenant", e.tenant.as_str().to_owned()),
            ("CommandType", "orders.create".to_owned()),
            ("CommandVersion", "1".to_owned()),
            ("Payload", e.payload.clone()),
            ("ExceptionType", "TimeoutError".to_owned()),
            ("ExceptionMessage", "order 42 timed out after 30s".to_owned()),
            ("ExceptionDetails", "caused by: deadline has elapsed".to_owned()),
            ("Fingerprint", e.fingerprint.as_str().to_owned()),
            ("Source", "orders-worker".to_owned()),
            (
                "Metadata",
                r#"{"correlation_id":"c-5f0c6e1a","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}"#.to_owned(),
            ),
            ("AttemptCount", "1".to_owned()),
            ("Status", "0".to_owned()),
            ("Revision", "1".to_owned()),
        ];
        assert_eq!(constants, expected);
    }

    #[test]
    fn the_summary_gives_the_rate_without_connecting_and_the_count() {
        let pg15 = "pgbench (15.18 (Debian 15.18-0+deb12u1))\n\
            transaction type: /tmp/pulse-bench-x.sql\n\
            scaling factor: 1\n\
            query mode: prepared\n\
            number of clients: 8\n\
            number of threads: 2\n\
            maximum number of tries: 1\n\
            duration: 2 s\n\
            number of transactions actually processed: 13579\n\
            number of failed transactions: 0 (0.000%)\n\
            latency average = 1.178 ms\n\
            initial connection time = 14.026 ms\n\
            tps = 6789.512345 (without initial connection time)\n";
        assert_eq!(Round::parse(pg15).unwrap(), Round { tps: 6789.512345, transactions: 13579 });
        let pg13 = "number of transactions actually processed: 4000/4000\n\
            tps = 1999.0 (including connections establishing)\n\
            tps = 2001.5 (excluding connections establishing)\n";
        assert_eq!(Round::parse(pg13).unwrap(), Round { tps: 2001.5, transactions: 4000 });
        let error = Round::parse("tps = 12.0 (including connections establishing)\n").unwrap_err();
        assert!(error.to_string().starts_with("no tps without the connection time"), "{error}");
    }

    #[test]
    fn the_password_goes_apart_from_the_url() {
        let server =
            Server::from_url("postgres://bench:p%40ss@127.0.0.1:5432/pulse?sslmode=disable").unwrap();
        let expected = Server {
            url: "postgres://bench@127.0.0.1:5432/pulse?sslmode=disable".to_owned(),
            password: Some("p@ss".to_owned()),
        };
        assert_eq!(server, expected);
        let trusted = Server::from_url("postgres://postgres@127.0.0.1:55433/postgres").unwrap();
        assert_eq!(trusted.password, None);
    }

    #[test]
    fn rounds_last_whole_seconds() {
        let seconds: Vec<u64> =
            [0, 200, 1000, 1500, 2000].map(|ms| whole_seconds(Duration::from_millis(ms))).to_vec();
        assert_eq!(seconds, [1, 1, 1, 2, 2]);
    }
}
