//! The command line as clap types: every flag, its help, and how its value parses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use pulse::{CommandDeadLetterStatus, DeadLetterId, EntryFilter, Fingerprint, ReplayRequestId, Timestamp};

/// See what failed, group it, replay it at a safe pace, dismiss it, purge it.
///
/// Works on a SQLite file (`--db`, default `./pulse.db`) or a PostgreSQL database
/// (`--database-url` or `PULSE_DATABASE_URL`). Changes are a dry run until `--yes`.
///
/// Exit codes: 0 done; 1 failed (store unreachable, refused configuration); 2 usage error or
/// invalid input; 3 not found; 4 conflict (the entry changed, is dismissed, or is being replayed).
#[derive(Debug, Parser)]
#[command(name = "pulse", version, max_term_width = 100)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) store: StoreArgs,

    /// Print one JSON document (see docs/cli.md for its shape) instead of tables.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the dead letters are, and who is acting.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The SQLite file. Never created, except by `pulse migrate apply`.
    #[arg(long, global = true, value_name = "PATH", default_value = "pulse.db")]
    pub(crate) db: PathBuf,

    /// A PostgreSQL URL (`postgres://user:password@host/db?sslmode=verify-full`); used instead of
    /// `--db`. Never printed.
    #[arg(long, global = true, env = "PULSE_DATABASE_URL", hide_env_values = true, value_name = "URL")]
    pub(crate) database_url: Option<String>,

    /// The PostgreSQL schema [default: pulse].
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) schema: Option<String>,

    /// The dead-letter table [default: `CommandDeadLetter`].
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) table: Option<String>,

    /// Only this tenant's entries and requests.
    #[arg(long, global = true, value_name = "TENANT")]
    pub(crate) tenant: Option<String>,

    /// Who is acting, recorded on every change [default: the OS user].
    #[arg(long, global = true, env = "PULSE_ACTOR", value_name = "NAME")]
    pub(crate) actor: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// How many entries stand in each status.
    Stats,
    /// The error groups of unresolved entries, largest first.
    Groups {
        /// At most this many groups (1 to 1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// List entries, newest failure first.
    List(ListArgs),
    /// One entry, every field.
    Show {
        /// The entry's id.
        id: DeadLetterId,
    },
    /// Ask the services' workers to replay entries, at a pace you choose.
    Replay(ReplayArgs),
    /// Replay requests: list them, follow one, cancel one.
    Requests {
        #[command(subcommand)]
        command: RequestsCommand,
    },
    /// Mark entries not worth replaying.
    Dismiss(CloseArgs),
    /// Mark entries fixed outside Pulse.
    Resolve(CloseArgs),
    /// Delete Resolved and Dismissed entries resolved long enough ago.
    Purge {
        /// How long ago: `90s`, `30m`, `12h`, `7d`, `2w`.
        #[arg(long, value_name = "AGE", value_parser = parse_age)]
        older_than: Duration,
        /// Delete; without it, only say what would be deleted.
        #[arg(long)]
        yes: bool,
    },
    /// The store's schema: is it current, and bring it up to date.
    Migrate {
        #[command(subcommand)]
        command: MigrateCommand,
    },
    /// Serve the admin HTTP API over the store until Ctrl-C or SIGTERM.
    ///
    /// Requests are replayed by the services' workers, never by this server. Prints
    /// `pulse: listening on http://ADDRESS` on stderr once bound, then logs to stderr.
    Serve(ServeArgs),
    /// Bearer tokens for `pulse serve`.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    /// The tokens file: JSON listing each token's SHA-256 hash, role, tenant and actor (see
    /// docs/http.md). `pulse token hash` makes the hashes.
    #[arg(long, value_name = "FILE", env = "PULSE_TOKENS")]
    pub(crate) tokens: PathBuf,
    /// Answer `GET health` without a token; it then checks every tenant and shows only counts,
    /// ages and the store's error message.
    #[arg(long)]
    pub(crate) public_health: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Read a token from stdin and print its SHA-256 hash, for the tokens file.
    Hash,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RequestsCommand {
    /// Replay requests, newest first.
    List {
        /// At most this many (1 to 1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only requests older than this one: the last id of the previous page.
        #[arg(long, value_name = "ID")]
        before: Option<ReplayRequestId>,
    },
    /// A request and how far it has come.
    Show {
        /// The request's id.
        id: ReplayRequestId,
    },
    /// Stop a request: its entries not yet claimed lose it; replays already running finish.
    Cancel {
        /// The request's id.
        id: ReplayRequestId,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum MigrateCommand {
    /// Whether the schema is at this Pulse's version; changes nothing.
    Status,
    /// Create the store or bring its schema up to date.
    Apply,
}

/// Narrows which entries a command sees. Every flag narrows further.
#[derive(Debug, Clone, Default, Args)]
pub(crate) struct FilterArgs {
    /// Only entries in this status (repeat for several).
    #[arg(long, value_enum)]
    pub(crate) status: Vec<StatusArg>,
    /// Only this command type.
    #[arg(long, value_name = "TYPE")]
    pub(crate) command_type: Option<String>,
    /// Only this exception type.
    #[arg(long, value_name = "TYPE")]
    pub(crate) exception_type: Option<String>,
    /// Only this error group (its fingerprint, from `pulse groups`).
    #[arg(long, value_name = "FINGERPRINT")]
    pub(crate) group: Option<String>,
    /// Only entries of this replay request.
    #[arg(long, value_name = "ID")]
    pub(crate) request: Option<ReplayRequestId>,
    /// Only entries whose latest failure is at or after this instant (RFC 3339).
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub(crate) from: Option<Timestamp>,
    /// Only entries whose latest failure is before this instant (RFC 3339).
    #[arg(long, value_name = "INSTANT", value_parser = parse_instant)]
    pub(crate) before: Option<Timestamp>,
}

impl FilterArgs {
    /// The library's filter.
    pub(crate) fn filter(&self) -> EntryFilter {
        let mut filter = EntryFilter::default()
            .statuses(self.status.iter().map(|status| status.status()))
            .fingerprint(self.group.clone().map(Fingerprint::from_stored))
            .occurred_from(self.from)
            .occurred_before(self.before)
            .replay_request(self.request);
        // The text setters take a value, not an `Option`.
        filter.command_type.clone_from(&self.command_type);
        filter.exception_type.clone_from(&self.exception_type);
        filter
    }

    /// Whether any flag narrows the selection.
    pub(crate) fn narrows(&self) -> bool {
        self.filter() != EntryFilter::default()
    }
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Oldest failure first.
    #[arg(long)]
    pub(crate) oldest_first: bool,
    /// At most this many entries (1 to 1000).
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: u32,
    /// Where the previous page ended (printed under it).
    #[arg(long)]
    pub(crate) cursor: Option<String>,
}

/// One entry, or the entries a filter selects.
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// One entry's id; or select with the flags below.
    pub(crate) id: Option<DeadLetterId>,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Every New entry, when no flag narrows the selection.
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// At most this many replays start per second, across every worker together.
    #[arg(long, value_name = "PER_SECOND")]
    pub(crate) rate: Option<std::num::NonZeroU32>,
    /// Why, recorded with the request.
    #[arg(long)]
    pub(crate) note: Option<String>,
    /// Record the request; without it, only say what would be replayed.
    #[arg(long)]
    pub(crate) yes: bool,
    /// Follow the request's progress until nothing of it is left to run.
    #[arg(long, requires = "yes")]
    pub(crate) wait: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CloseArgs {
    #[command(flatten)]
    pub(crate) target: Target,
    /// Why, recorded on every entry.
    #[arg(long)]
    pub(crate) note: Option<String>,
    /// Change the entries; without it, only say what would change.
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StatusArg {
    New,
    Replaying,
    Resolved,
    Dismissed,
}

impl StatusArg {
    fn status(self) -> CommandDeadLetterStatus {
        match self {
            Self::New => CommandDeadLetterStatus::New,
            Self::Replaying => CommandDeadLetterStatus::Replaying,
            Self::Resolved => CommandDeadLetterStatus::Resolved,
            Self::Dismissed => CommandDeadLetterStatus::Dismissed,
        }
    }
}

/// An RFC 3339 instant.
fn parse_instant(text: &str) -> Result<Timestamp, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|at| Timestamp::from_datetime(at.with_timezone(&chrono::Utc)))
        .map_err(|error| format!("not an RFC 3339 instant such as 2026-11-29T03:00:00Z: {error}"))
}

/// An age: a whole number and a unit, `s`, `m`, `h`, `d` or `w`.
fn parse_age(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not an age such as 90s, 30m, 12h, 7d or 2w");
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(invalid()),
    };
    number.checked_mul(seconds).map(Duration::from_secs).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_parse_with_their_unit() {
        assert_eq!(parse_age("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_age("90s"), Ok(Duration::from_secs(90)));
        for bad in ["", "7", "d", "7x", "-1d", "1.5h"] {
            assert!(parse_age(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
