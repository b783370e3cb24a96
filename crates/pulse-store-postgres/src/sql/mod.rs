//! Every SQL text the store sends, rendered in this one audited module and its submodules: the
//! names of the store's objects and the statement builder here, the statements on entries in
//! [`entries`], those on replay requests in [`requests`], and the schema with its migrations in
//! [`schema`].
//!
//! # Audit rules
//!
//! - Schema, table and the names derived from them (indexes, the counter table, the trigger
//!   function) reach SQL only through [`SqlIdentifier::quoted`]; [`SqlIdentifier`] admits ASCII
//!   letters, digits and `_` only, so a quoted name cannot close its quotes.
//! - Column names come from [`columns`], compile-time constants, also quoted through
//!   [`SqlIdentifier`].
//! - Every value is a bound parameter (`$n`), added by [`Builder::param`] together with its
//!   placeholder, so text and arguments cannot drift apart.
//! - The one exception are statuses, written as integer literals from
//!   [`Status::as_i16`]: a closed set of code constants, never caller text. Literals let
//!   Postgres match the partial indexes (`WHERE "Status" = 0`) even in generic plans.
//! - Resolution names in the `CHECK` constraint are likewise the code's own constants.
//!
//! Only this module and its submodules call [`AssertSqlSafe`].

mod entries;
mod requests;
mod schema;

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use pulse_extensibility::hash::fnv1a;
use pulse_extensibility::{
    CommandDeadLetterStatus as Status, DeadLetterEntry, Error, Result, SqlIdentifier, Timestamp, columns,
};
use sqlx::postgres::{PgArguments, Postgres};
use sqlx::query::Query;
use sqlx::{Arguments as _, AssertSqlSafe, Encode, Type};

use entries::inserts;
pub(crate) use schema::{Migration, script};

/// The columns of the dead-letter table, in the order the store selects and inserts them.
const ENTRY_COLUMNS: [&str; 28] = columns::ALL;

/// A column name, quoted. Column names are constants; a bad one is a bug caught by every test.
fn col(name: &str) -> String {
    SqlIdentifier::new(name).expect("column names are valid identifiers").quoted()
}

/// `schema.name`, both quoted.
fn qualified(schema: &SqlIdentifier, name: &SqlIdentifier) -> String {
    format!("{}.{}", schema.quoted(), name.quoted())
}

/// Pulse's migration history of every table in a schema: one table per schema.
pub(crate) const MIGRATIONS_TABLE: &str = "PulseMigrations";

/// A name derived from `table` by appending `suffix`, shortened with a hash when it would pass
/// Postgres's 63-byte limit (which would otherwise truncate it silently and could collide).
pub(crate) fn derived(table: &SqlIdentifier, suffix: &str) -> SqlIdentifier {
    let name = format!("{}{suffix}", table.as_str());
    let name = if name.len() <= pulse_extensibility::MAX_IDENTIFIER_LEN {
        name
    } else {
        let keep = pulse_extensibility::MAX_IDENTIFIER_LEN - suffix.len() - 9;
        // Identifiers are ASCII, so any byte index is a character boundary.
        format!("{}_{:08x}{suffix}", &table.as_str()[..keep], fnv1a(table.as_str().as_bytes()) >> 32)
    };
    SqlIdentifier::new(name).expect("derived from a valid identifier with a valid suffix")
}

/// The names of every database object of one store, quoted and ready for SQL.
#[derive(Debug, Clone)]
pub(crate) struct Names {
    schema: SqlIdentifier,
    table: SqlIdentifier,
    /// `"schema"."table"`.
    entries: String,
    /// The per-tenant, per-status counters.
    counts: String,
    /// The replay requests.
    requests: String,
    /// Pulse's migration history of every table in the schema.
    migrations: String,
    /// The trigger function that maintains the counters.
    count_function: String,
    /// `"Id", "Tenant", ...`: every entry column.
    select_list: String,
    /// The insert of one entry, as one row of parameters: rendered once, at open.
    insert_one: Arc<str>,
    /// The insert of a batch, as one array per column: rendered once, at open.
    insert_many: Arc<str>,
}

impl Names {
    pub(crate) fn new(schema: &SqlIdentifier, table: &SqlIdentifier) -> Self {
        let select_list = ENTRY_COLUMNS.iter().map(|c| col(c)).collect::<Vec<_>>().join(", ");
        let entries = qualified(schema, table);
        let (insert_one, insert_many) = inserts(&entries, &select_list);
        Self {
            schema: schema.clone(),
            table: table.clone(),
            insert_one,
            insert_many,
            entries,
            counts: qualified(schema, &derived(table, "_Counts")),
            requests: qualified(schema, &derived(table, "_ReplayRequests")),
            migrations: qualified(schema, &SqlIdentifier::new(MIGRATIONS_TABLE).expect("valid")),
            count_function: qualified(schema, &derived(table, "_Count")),
            select_list,
        }
    }

    /// The names every migration checksum is computed with, so checksums do not depend on the
    /// configured schema and table.
    fn canonical() -> Self {
        Self::new(&SqlIdentifier::default_schema(), &SqlIdentifier::default_table())
    }

    /// An index name in this store's schema: unique per table, quoted, unqualified (Postgres
    /// creates an index in its table's schema).
    fn index(&self, suffix: &str) -> String {
        derived(&self.table, suffix).quoted()
    }

    /// The key of the advisory lock that serialises migrations of this schema and table.
    pub(crate) fn migration_lock_key(&self) -> i64 {
        let key = format!("pulse-migrate:{}.{}", self.schema.as_str(), self.table.as_str());
        i64::from_be_bytes(fnv1a(key.as_bytes()).to_be_bytes())
    }

    /// `schema.table`, unquoted: how messages name this store's table.
    pub(crate) fn qualified_table_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// The two inserts rendered at open: one entry as one row of parameters, and a batch as one
    /// array per column.
    pub(crate) fn inserts(&self) -> (&str, &str) {
        (&self.insert_one, &self.insert_many)
    }

    /// The qualified migrations table as text, for `to_regclass`.
    pub(crate) fn migrations_table_name(&self) -> &str {
        &self.migrations
    }
}

/// A statement and its arguments, ready to run.
pub(crate) struct Statement {
    sql: Arc<str>,
    args: PgArguments,
}

impl Statement {
    /// The statement as a sqlx query. The text was rendered under this module's audit rules.
    pub(crate) fn query(self) -> Query<'static, Postgres, PgArguments> {
        sqlx::query_with(AssertSqlSafe(self.sql), self.args)
    }

    /// The statement's text.
    pub(crate) fn text(&self) -> &str {
        &self.sql
    }
}

/// Builds one statement: text and arguments side by side.
struct Builder {
    sql: String,
    args: Bound,
}

impl Builder {
    fn new() -> Self {
        Self { sql: String::with_capacity(512), args: Bound::default() }
    }

    /// Binds `value` and returns its placeholder.
    fn param<'t, T: Encode<'t, Postgres> + Type<Postgres>>(&mut self, value: T) -> Result<String> {
        self.args.bind(value)?;
        Ok(format!("${}", self.args.0.len()))
    }

    fn push(&mut self, text: &str) {
        self.sql.push_str(text);
    }

    fn finish(self) -> Statement {
        self.args.finish(self.sql.into())
    }
}

/// The arguments of a statement whose text is rendered already.
#[derive(Default)]
struct Bound(PgArguments);

impl Bound {
    /// Binds `value` as the next placeholder.
    fn bind<'t, T: Encode<'t, Postgres> + Type<Postgres>>(&mut self, value: T) -> Result<()> {
        self.0.add(value).map_err(|e| Error::Backend {
            message: format!("cannot encode a value: {e}"),
            retryable: false,
            source: Some(e),
        })
    }

    fn finish(self, sql: Arc<str>) -> Statement {
        Statement { sql, args: self.0 }
    }
}

/// A fixed statement without arguments.
fn fixed(sql: String) -> Statement {
    Statement { sql: sql.into(), args: PgArguments::default() }
}

/// `instant` as a Postgres `timestamptz` value.
pub(crate) fn datetime(instant: Timestamp) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(instant.as_micros()).ok_or_else(|| {
        Error::invalid_input(
            "timestamp",
            format!("{} µs since the epoch cannot be stored", instant.as_micros()),
        )
    })
}

fn optional_datetime(instant: Option<Timestamp>) -> Result<Option<DateTime<Utc>>> {
    instant.map(datetime).transpose()
}

fn revision(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::invalid_input("revision", "exceeds the stored range"))
}

fn metadata(entry: &DeadLetterEntry) -> serde_json::Value {
    serde_json::Value::Object(
        entry.metadata.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect(),
    )
}

/// `IN (0, 1)`: statuses as literals, see the module's audit rules.
fn status_list(statuses: impl IntoIterator<Item = Status>) -> String {
    let set: BTreeSet<i16> = statuses.into_iter().map(Status::as_i16).collect();
    let list = set.iter().map(i16::to_string).collect::<Vec<_>>().join(", ");
    format!("{} IN ({list})", col(columns::STATUS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_stay_within_63_bytes_and_differ() {
        let long = SqlIdentifier::new("a".repeat(63)).unwrap();
        let other = SqlIdentifier::new(format!("{}b", "a".repeat(62))).unwrap();
        let a = derived(&long, "_ReplayRequests");
        let b = derived(&other, "_ReplayRequests");
        assert!(a.as_str().len() <= 63 && b.as_str().len() <= 63);
        assert_ne!(a, b);
        assert_eq!(
            derived(&SqlIdentifier::default_table(), "_Pending").as_str(),
            "CommandDeadLetter_Pending"
        );
    }

    #[test]
    fn the_lock_key_depends_on_schema_and_table() {
        let a = Names::new(&SqlIdentifier::new("a").unwrap(), &SqlIdentifier::new("t").unwrap());
        let b = Names::new(&SqlIdentifier::new("b").unwrap(), &SqlIdentifier::new("t").unwrap());
        assert_ne!(a.migration_lock_key(), b.migration_lock_key());
        assert_eq!(a.migration_lock_key(), a.clone().migration_lock_key());
    }
}
