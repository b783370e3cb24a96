//! A narrow door for `pulse-bench`, which times the store's own statements on a plain sqlx pool
//! beside the store: their text comes from here, rendered by the store's `sql` module, so the
//! benchmark's reads and writes by hand cannot drift from the store's. Hidden from the docs; not
//! part of the store's API.

use pulse_extensibility::{EntryQuery, Result, SqlIdentifier};

use crate::sql::Names;

/// The store's two inserts into `table` of `schema`: one entry as one row of parameters, each
/// cast to its column's type, and a batch as one array per column through `UNNEST`. Both bind
/// every column of `columns::ALL`, in order, skip rows whose id or key is taken, and return the
/// `"Id"` of each row inserted.
pub fn inserts(schema: &SqlIdentifier, table: &SqlIdentifier) -> (String, String) {
    let names = Names::new(schema, table);
    let (one, many) = names.inserts();
    (one.to_owned(), many.to_owned())
}

/// The text of the statement the store runs for `query` on `table` of `schema`. Its parameters
/// are `query`'s values in the order the store binds them: the tenant of a tenant scope, the
/// filter's values, the `after` key, then the offset and the limit (statuses are literals).
///
/// # Errors
///
/// As the store's `query`: an instant outside PostgreSQL's range.
pub fn query(schema: &SqlIdentifier, table: &SqlIdentifier, query: &EntryQuery) -> Result<String> {
    Ok(Names::new(schema, table).query(query)?.text().to_owned())
}
