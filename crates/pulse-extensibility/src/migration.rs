//! Schema migrations, decided once for every SQL backend: the checksum and the [`plan`] that
//! compares a database's recorded history with the migrations this Pulse knows.
//!
//! Each backend keeps its own I/O: it reads its history table, calls [`plan`], and applies and
//! records each pending migration in its own transaction, under its own lock. Which SQL a
//! backend checksums is its own choice (`SQLite` the template, `PostgreSQL` the script rendered
//! for the default names), and so are its history table's layout and its recorded values: the
//! checksum function and every decision about the history are the same for both.
//!
//! This module is for backends, not for services: the `pulse` front door does not re-export it.

use std::fmt;

use crate::error::{Error, Result};
use crate::hash::fnv1a;

/// The checksum of a migration's SQL, recorded when it is applied and verified on every open.
/// Shown and stored as 16 lowercase hexadecimal digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum(u64);

impl Checksum {
    /// The checksum of `sql`: [`fnv1a`] of its bytes.
    #[must_use]
    pub const fn of(sql: &str) -> Self {
        Self(fnv1a(sql.as_bytes()))
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// One schema change a backend knows, with what it runs (`S`: a template, a rendered script).
/// A released migration never changes: its checksum is verified on every open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration<S> {
    /// 1, 2, ...: applied in increasing order.
    pub version: i64,
    /// What it does, recorded with it and verified like the checksum.
    pub name: &'static str,
    /// The checksum of the SQL the backend chose to checksum.
    pub checksum: Checksum,
    /// What the backend runs to apply it.
    pub script: S,
}

impl<S> Migration<S> {
    /// Migration `version` called `name`, whose checksum is that of `checksummed`, applied by
    /// running `script`.
    pub const fn new(version: i64, name: &'static str, checksummed: &str, script: S) -> Self {
        Self { version, name, checksum: Checksum::of(checksummed), script }
    }
}

/// One row of a database's migration history, as the backend read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The version recorded.
    pub version: i64,
    /// The name recorded with it.
    pub name: String,
    /// The checksum recorded with it, as stored (16 hexadecimal digits when Pulse wrote it).
    pub checksum: String,
}

/// What opening a database has to do: the outcome of [`plan`].
#[derive(Debug, PartialEq, Eq)]
pub struct Plan<'k, S> {
    /// The version the database is at (0: nothing recorded).
    pub current: i64,
    /// The version this Pulse writes: the last one it knows (0: it knows none).
    pub latest: i64,
    /// The migrations still to apply, in order.
    pub pending: &'k [Migration<S>],
}

impl<S> Plan<'_, S> {
    /// Whether the database is at the version this Pulse writes.
    #[must_use]
    pub fn is_current(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Compares the history `recorded` for `table` (oldest first) with the migrations this Pulse
/// knows (`known`, oldest first, in increasing versions) and returns what is left to apply.
///
/// The history must be exactly the first migrations this Pulse knows, with their names and
/// checksums; whatever follows them is pending.
///
/// # Errors
///
/// [`Error::InvalidConfig`], naming `table`, when the history records a version newer than any
/// this Pulse knows (the database was written by a newer Pulse), a version out of place (a gap,
/// a repeat or an unknown version), or a migration whose name or checksum differs from this
/// Pulse's (the history was changed).
///
/// # Examples
///
/// ```
/// use pulse_extensibility::migration::{Migration, Recorded, plan};
///
/// const KNOWN: &[Migration<&str>] = &[
///     Migration::new(1, "create", "CREATE TABLE t (id INTEGER)", "CREATE TABLE t (id INTEGER)"),
///     Migration::new(2, "index", "CREATE INDEX i ON t (id)", "CREATE INDEX i ON t (id)"),
/// ];
/// let recorded =
///     [Recorded { version: 1, name: "create".to_owned(), checksum: KNOWN[0].checksum.to_string() }];
/// let plan = plan("t", KNOWN, &recorded).unwrap();
/// assert_eq!((plan.current, plan.pending), (1, &KNOWN[1..]));
/// ```
pub fn plan<'k, S>(table: &str, known: &'k [Migration<S>], recorded: &[Recorded]) -> Result<Plan<'k, S>> {
    debug_assert!(
        known.windows(2).all(|pair| pair[0].version < pair[1].version),
        "known migrations out of order"
    );
    let latest = known.last().map_or(0, |migration| migration.version);
    if let Some(newest) = recorded.iter().map(|row| row.version).max().filter(|newest| *newest > latest) {
        return Err(invalid(format!(
            "table {table} is at schema version {newest}, written by a newer Pulse; this Pulse knows versions \
             up to {latest}: upgrade Pulse to open it"
        )));
    }
    for (index, row) in recorded.iter().enumerate() {
        let version = row.version;
        let Some(migration) = known.get(index).filter(|migration| migration.version == version) else {
            return Err(invalid(format!(
                "the migration history of table {table} is broken: version {version} is recorded at position {}",
                index + 1
            )));
        };
        let checksum = migration.checksum.to_string();
        if migration.name != row.name || checksum != row.checksum {
            return Err(invalid(format!(
                "migration {version} of table {table} was recorded as {:?} with checksum {}, but this Pulse's \
                 migration {version} is {:?} with checksum {checksum}: the migration history was changed",
                row.name, row.checksum, migration.name
            )));
        }
    }
    let current = recorded.last().map_or(0, |row| row.version);
    Ok(Plan { current, latest, pending: &known[recorded.len()..] })
}

fn invalid(reason: String) -> Error {
    Error::InvalidConfig { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[Migration<()>] = &[
        Migration::new(1, "one", "CREATE TABLE t (a INTEGER)", ()),
        Migration::new(2, "two", "CREATE INDEX i ON t (a)", ()),
        Migration::new(3, "three", "ALTER TABLE t ADD COLUMN b TEXT", ()),
    ];

    /// The history recorded by this Pulse for `versions`.
    fn recorded(versions: &[i64]) -> Vec<Recorded> {
        versions
            .iter()
            .map(|version| {
                let known = &KNOWN[usize::try_from(*version - 1).unwrap()];
                Recorded {
                    version: *version,
                    name: known.name.to_owned(),
                    checksum: known.checksum.to_string(),
                }
            })
            .collect()
    }

    /// `(current, pending versions)` or the reason of the refusal.
    fn check(recorded: &[Recorded], expected: std::result::Result<(i64, &[i64]), &str>) {
        let actual = match plan("T", KNOWN, recorded) {
            Ok(plan) => {
                assert_eq!(plan.latest, 3);
                Ok((plan.current, plan.pending.iter().map(|m| m.version).collect::<Vec<_>>()))
            }
            Err(Error::InvalidConfig { reason }) => Err(reason),
            Err(error) => panic!("expected InvalidConfig, got {error:?}"),
        };
        let expected = expected.map(|(current, pending)| (current, pending.to_vec())).map_err(str::to_owned);
        assert_eq!(actual, expected, "history {recorded:?}");
    }

    #[test]
    fn a_prefix_of_the_known_migrations_leaves_the_rest_pending() {
        let cases: [(&[i64], i64, &[i64]); 4] =
            [(&[], 0, &[1, 2, 3]), (&[1], 1, &[2, 3]), (&[1, 2], 2, &[3]), (&[1, 2, 3], 3, &[])];
        for (versions, current, pending) in cases {
            check(&recorded(versions), Ok((current, pending)));
        }
    }

    #[test]
    fn a_history_out_of_place_is_refused() {
        let broken = |version, position| {
            format!(
                "the migration history of table T is broken: version {version} is recorded at position {position}"
            )
        };
        let cases: [(&[i64], String); 4] =
            [(&[2], broken(2, 1)), (&[1, 3], broken(3, 2)), (&[2, 1], broken(2, 1)), (&[1, 1], broken(1, 2))];
        for (versions, reason) in cases {
            check(&recorded(versions), Err(&reason));
        }
    }

    #[test]
    fn a_version_newer_than_any_known_is_refused_first() {
        let future = |mut history: Vec<Recorded>| {
            history.push(Recorded { version: 4, name: "four".to_owned(), checksum: "ffff".to_owned() });
            history
        };
        let reason = "table T is at schema version 4, written by a newer Pulse; this Pulse knows versions up to 3: \
                      upgrade Pulse to open it";
        for history in [future(recorded(&[1, 2, 3])), future(Vec::new()), future(recorded(&[2]))] {
            check(&history, Err(reason));
        }
    }

    #[test]
    fn a_changed_name_or_checksum_is_refused() {
        let changed = |name: &str, checksum: &str| {
            let mut history = recorded(&[1, 2]);
            history[1] = Recorded { version: 2, name: name.to_owned(), checksum: checksum.to_owned() };
            history
        };
        let two = KNOWN[1].checksum.to_string();
        let reason = |name: &str, checksum: &str| {
            format!(
                "migration 2 of table T was recorded as {name:?} with checksum {checksum}, but this Pulse's \
                 migration 2 is \"two\" with checksum {two}: the migration history was changed"
            )
        };
        for (name, checksum) in [("two", "0123456789abcdef"), ("deux", two.as_str()), ("two", "")] {
            check(&changed(name, checksum), Err(&reason(name, checksum)));
        }
    }

    #[test]
    fn nothing_known_and_nothing_recorded_is_current() {
        let plan = plan::<()>("T", &[], &[]).unwrap();
        assert_eq!((plan.current, plan.latest, plan.is_current()), (0, 0, true));
    }

    #[test]
    fn the_checksum_is_64_bit_fnv_1a_in_hex() {
        // Published FNV-1a test vectors; recorded checksums of released databases depend on them.
        let cases = [("", "cbf29ce484222325"), ("a", "af63dc4c8601ec8c"), ("foobar", "85944171f73967e8")];
        for (input, expected) in cases {
            assert_eq!(Checksum::of(input).to_string(), expected, "{input:?}");
        }
    }
}
