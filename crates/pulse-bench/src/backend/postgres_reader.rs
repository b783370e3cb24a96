//! The PostgreSQL read baseline: the store's page queries, written by hand on sqlx with the
//! store's pool size, every column decoded into its Rust type.

use anyhow::{Result, ensure};
use pulse_extensibility::Uuid;
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool, Row};

use super::postgres::{POOL_SIZE, PgLab};
use super::{Page, column_list};

pub(crate) struct Reader {
    pool: PgPool,
    pending: String,
    list: String,
}

/// Every column of one entry, decoded.
#[allow(dead_code, reason = "read only to be decoded")]
struct Decoded {
    id: Uuid,
    texts: [String; 6],
    optional_texts: [Option<String>; 6],
    integers: [i64; 3],
    status: i16,
    metadata: serde_json::Value,
    times: [DateTime<Utc>; 4],
    optional_times: [Option<DateTime<Utc>>; 3],
    lease_token: Option<Uuid>,
}

impl Reader {
    /// A pool on table `table` of the run's schema.
    pub(crate) async fn open(lab: &PgLab, table: &str) -> Result<Self> {
        let pool = PgPoolOptions::new().max_connections(POOL_SIZE).connect(lab.url()).await?;
        Ok(Self {
            pool,
            pending: page_sql(lab, table, Page::Pending)?,
            list: page_sql(lab, table, Page::List)?,
        })
    }

    /// Reads one page; returns how many rows it had.
    pub(crate) async fn page(&self, page: Page) -> Result<usize> {
        let (sql, limit) = match page {
            Page::Pending => (&self.pending, 50_i64),
            Page::List => (&self.list, 51_i64),
        };
        let rows =
            sqlx::query(AssertSqlSafe(sql.clone())).bind(0_i64).bind(limit).fetch_all(&self.pool).await?;
        let decoded = rows.iter().map(decode).collect::<Result<Vec<_>, sqlx::Error>>()?;
        ensure!(!decoded.is_empty(), "an empty page");
        Ok(std::hint::black_box(decoded).len())
    }

    pub(crate) async fn close(self) {
        self.pool.close().await;
    }
}

/// The statement of `page` on table `table`, as the store renders it; `$1` is the offset and
/// `$2` the limit.
pub(crate) fn page_sql(lab: &PgLab, table: &str, page: Page) -> Result<String> {
    let (columns, table) = (column_list(), lab.qualified(table)?);
    Ok(match page {
        Page::Pending => format!(
            "SELECT {columns} FROM {table} WHERE TRUE AND \"Status\" IN (0) \
             ORDER BY \"OccurredAt\" ASC, \"Id\" ASC OFFSET $1 LIMIT $2"
        ),
        Page::List => {
            format!(
                "SELECT {columns} FROM {table} WHERE TRUE ORDER BY \"OccurredAt\" DESC, \"Id\" DESC OFFSET $1 LIMIT $2"
            )
        }
    })
}

/// Every column of `row`, by position, in the store's column order.
fn decode(row: &PgRow) -> Result<Decoded, sqlx::Error> {
    Ok(Decoded {
        id: row.try_get(0)?,
        texts: [
            row.try_get(1)?,
            row.try_get(3)?,
            row.try_get(5)?,
            row.try_get(7)?,
            row.try_get(8)?,
            row.try_get(10)?,
        ],
        optional_texts: [
            row.try_get(2)?,
            row.try_get(6)?,
            row.try_get(9)?,
            row.try_get(11)?,
            row.try_get(17)?,
            row.try_get(18)?,
        ],
        integers: [row.try_get(4)?, row.try_get(13)?, row.try_get(25)?],
        status: row.try_get(16)?,
        metadata: row.try_get(12)?,
        times: [row.try_get(14)?, row.try_get(15)?, row.try_get(23)?, row.try_get(24)?],
        optional_times: [row.try_get(19)?, row.try_get(21)?, row.try_get(22)?],
        lease_token: row.try_get(20)?,
    })
}
