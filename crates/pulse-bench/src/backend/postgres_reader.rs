//! The PostgreSQL read baseline: the store's page queries, their text taken from
//! `pulse_store_postgres::bench`, sent on a plain sqlx pool of the store's size, every column
//! decoded into its Rust type.

use anyhow::{Result, ensure};
use pulse_extensibility::{SqlIdentifier, Uuid};
use sqlx::postgres::{PgPoolOptions, PgRow};
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool, Row};

use super::Page;
use super::postgres::{POOL_SIZE, PgLab};

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
    optional_texts: [Option<String>; 7],
    integers: [i64; 3],
    status: i16,
    metadata: serde_json::Value,
    times: [DateTime<Utc>; 4],
    optional_times: [Option<DateTime<Utc>>; 3],
    optional_uuids: [Option<Uuid>; 2],
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
        Ok(std::hint::black_box(self.read(page).await?).len())
    }

    /// Reads one page; returns the id of each row.
    pub(crate) async fn ids(&self, page: Page) -> Result<Vec<Uuid>> {
        Ok(self.read(page).await?.iter().map(|row| row.id).collect())
    }

    /// Every column of every row of `page`, bound as the store binds it: the offset, then the
    /// limit.
    async fn read(&self, page: Page) -> Result<Vec<Decoded>> {
        let sql = match page {
            Page::Pending => &self.pending,
            Page::List => &self.list,
        };
        let query = page.query();
        let rows = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(i64::try_from(query.offset)?)
            .bind(i64::from(query.limit))
            .fetch_all(&self.pool)
            .await?;
        let decoded = rows.iter().map(decode).collect::<Result<Vec<_>, sqlx::Error>>()?;
        ensure!(!decoded.is_empty(), "an empty page");
        Ok(decoded)
    }

    pub(crate) async fn close(self) {
        self.pool.close().await;
    }
}

/// The store's statement of `page` on table `table` of the run's schema; `$1` is the offset and
/// `$2` the limit.
pub(crate) fn page_sql(lab: &PgLab, table: &str, page: Page) -> Result<String> {
    Ok(pulse_store_postgres::bench::query(
        lab.schema_identifier(),
        &SqlIdentifier::new(table)?,
        &page.query(),
    )?)
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
            row.try_get(27)?,
        ],
        integers: [row.try_get(4)?, row.try_get(13)?, row.try_get(25)?],
        status: row.try_get(16)?,
        metadata: row.try_get(12)?,
        times: [row.try_get(14)?, row.try_get(15)?, row.try_get(23)?, row.try_get(24)?],
        optional_times: [row.try_get(19)?, row.try_get(21)?, row.try_get(22)?],
        optional_uuids: [row.try_get(20)?, row.try_get(26)?],
    })
}
