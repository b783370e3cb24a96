//! Findings behind the figures: what Pulse's own work per entry costs, and the query plans of
//! the page reads (the stores' own statements, as the read baselines send them).

use std::time::Instant;

use anyhow::Result;
use pulse_extensibility::{DEFAULT_MAX_PAYLOAD_BYTES, fingerprint, validate};

use crate::backend::{Kind, Lab, Page, page_sql, sqlite_page_statement};
use crate::entries::{Template, now};
use crate::report::Figure;
use crate::scenarios::{Out, TABLE};

/// Entries prepared to time Pulse's own work.
const PREPARED: u32 = 20_000;

/// Microseconds per entry of the work `DeadLetters` does before any store sees an entry:
/// validation, truncation and the fingerprint (`new_entry`), and the fingerprint alone.
pub(crate) fn prepare(template: &Template) -> Result<Vec<Figure>> {
    let entry = template.entry();
    let inputs: Vec<_> = (0..PREPARED).map(|_| template.input()).collect();
    let started = Instant::now();
    for input in inputs {
        std::hint::black_box(validate::new_entry(input, now(), DEFAULT_MAX_PAYLOAD_BYTES)?);
    }
    let new_entry = started.elapsed().as_secs_f64() * 1e6 / f64::from(PREPARED);
    let started = Instant::now();
    for _ in 0..PREPARED {
        std::hint::black_box(fingerprint::fingerprint(
            &entry.command_type,
            &entry.exception_type,
            &entry.exception_message,
        ));
    }
    let fingerprint = started.elapsed().as_secs_f64() * 1e6 / f64::from(PREPARED);
    Ok(vec![
        Figure::new("prepare_entry", "pulse", new_entry, "us/entry"),
        Figure::new("fingerprint", "pulse", fingerprint, "us/entry"),
    ])
}

/// The plans of the reads on the big table, at its largest size.
pub(crate) async fn reads(lab: &Lab, kind: Kind, out: &mut Out) -> Result<()> {
    match kind {
        Kind::Memory => {}
        Kind::Sqlite => {
            let path = lab.sqlite_dir().join(format!("{TABLE}.db"));
            for (page, title) in [(Page::Pending, "get_pending(50)"), (Page::List, "a list page")] {
                let (path, statement) = (path.clone(), sqlite_page_statement(page));
                let plan = tokio::task::spawn_blocking(move || sqlite_plan(&path, &statement)).await??;
                out.diagnose(
                    format!("query plan of {title} (SQLite has no statistics here: the same at every size)"),
                    plan,
                );
            }
        }
        Kind::Postgres => {
            for (page, limit, title) in
                [(Page::Pending, 50, "get_pending(50)"), (Page::List, 51, "a list page")]
            {
                let sql = page_sql(&lab.pg, TABLE, page)?;
                for mode in ["force_custom_plan", "force_generic_plan"] {
                    let plan = lab.pg.explain(&sql, &[0, limit], mode).await?;
                    out.diagnose(format!("EXPLAIN ANALYZE of {title}, {mode}"), plan);
                }
            }
        }
    }
    Ok(())
}

/// `EXPLAIN QUERY PLAN` of the statement `(sql, params)` on the SQLite file at `path`.
fn sqlite_plan(
    path: &std::path::Path,
    (sql, params): &(String, Vec<rusqlite::types::Value>),
) -> Result<String> {
    let connection = rusqlite::Connection::open(path)?;
    let mut explain = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    let rows = explain.query_map(rusqlite::params_from_iter(params), |row| row.get::<_, String>(3))?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("\n"))
}
