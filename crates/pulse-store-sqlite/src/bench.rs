//! A narrow door for `pulse-bench`, which times the store's own statements on a plain connection
//! beside the store: their text comes from here, rendered by the store's `sql` module, so the
//! benchmark's reads and writes by hand cannot drift from the store's. Hidden from the docs; not
//! part of the store's API.

use pulse_extensibility::{EntryQuery, SqlIdentifier};
use rusqlite::types::Value;

use crate::sql::Sql;

/// The most rows one of the store's `INSERT`s writes; a larger batch goes in as `INSERT`s of
/// this many, then of the powers of two below it, in one transaction.
pub const MAX_INSERT_ROWS: usize = crate::sql::MAX_INSERT_ROWS;

/// The store's `INSERT` of `rows` rows into `table`, a power of two up to [`MAX_INSERT_ROWS`]:
/// every column of `columns::ALL` bound for each row, one row after the other; rows whose key
/// is taken are skipped, and the `Id` of each row inserted is returned.
pub fn insert(table: &SqlIdentifier, rows: usize) -> String {
    Sql::new(table).insert(rows).to_owned()
}

/// The statement the store runs for `query` on `table`: its text and its parameters, in order.
pub fn query(table: &SqlIdentifier, query: &EntryQuery) -> (String, Vec<Value>) {
    let statement = Sql::new(table).query(query);
    (statement.sql, statement.params)
}
