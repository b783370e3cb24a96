//! The PostgreSQL side: the run's schema on the server named by `PULSE_TEST_DATABASE_URL`, and
//! the baseline, the limit a simple program reaches: prepared inserts on sqlx, with a pool of the
//! store's size that never pings a connection before handing it out (one task uses one
//! connection, as a program on one connection would), into a table (with its
//! counter triggers) that Pulse's migrations laid out. The plain raw insert is written here by
//! hand; the store-shaped one is the store's own statement, from `pulse_store_postgres::bench`.

use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use pulse_extensibility::{CommandDeadLetterStatus, DeadLetterEntry, SqlIdentifier, Uuid};
use pulse_store_postgres::{PostgresConfig, PostgresStore};
use sqlx::postgres::{PgArguments, PgPoolOptions};
use sqlx::query::Query;
use sqlx::types::Json;
use sqlx::types::chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row};

use super::{BATCH, insert_sql, postgres_unnest};
use crate::entries::{Fresh, Template};

/// The variable naming the server.
pub(crate) const URL_VAR: &str = "PULSE_TEST_DATABASE_URL";

/// Connections per pool, for the stores and the baseline alike: the store's default.
pub(crate) const POOL_SIZE: u32 = PostgresConfig::DEFAULT_MAX_CONNECTIONS;

/// The server and this run's schema, dropped at the end.
pub(crate) struct PgLab {
    url: String,
    schema: SqlIdentifier,
    admin: PgPool,
}

impl PgLab {
    /// Connects to the server named by [`URL_VAR`] and picks a schema name no one uses.
    pub(crate) async fn connect() -> Result<Self> {
        let url = match std::env::var(URL_VAR) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => bail!(
                "{URL_VAR} is not set. The benchmark needs a PostgreSQL server: run `cargo xtask bench`, \
                 which starts a throwaway cluster and sets it, or set \
                 {URL_VAR}=postgres://user:password@host:port/database yourself (the benchmark creates \
                 and drops its own schema there)"
            ),
        };
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .with_context(|| format!("connecting to the server in {URL_VAR}"))?;
        let schema =
            SqlIdentifier::new(format!("pulse_bench_{}", &Uuid::new_v4().simple().to_string()[..12]))?;
        Ok(Self { url, schema, admin })
    }

    /// The server's URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The run's schema.
    pub(crate) fn schema(&self) -> &str {
        self.schema.as_str()
    }

    /// The run's schema, as the store takes it.
    pub(crate) fn schema_identifier(&self) -> &SqlIdentifier {
        &self.schema
    }

    /// `"schema"."table"`.
    pub(crate) fn qualified(&self, table: &str) -> Result<String> {
        Ok(format!("{}.{}", self.schema.quoted(), SqlIdentifier::new(table)?.quoted()))
    }

    /// A Pulse store in table `table` of the run's schema.
    pub(crate) async fn open_store(&self, table: &str) -> Result<PostgresStore> {
        let config = PostgresConfig::from_url(self.url.clone())
            .schema(self.schema.clone())
            .table(SqlIdentifier::new(table)?)
            .max_connections(POOL_SIZE);
        PostgresStore::open(config).await.with_context(|| format!("opening the store in {}", self.schema))
    }

    /// Runs one statement of the benchmark's own (names come from [`Self::qualified`]).
    pub(crate) async fn execute(&self, sql: String) -> Result<()> {
        sqlx::raw_sql(AssertSqlSafe(sql.clone())).execute(&self.admin).await.with_context(|| sql)?;
        Ok(())
    }

    /// The rows of one query of the benchmark's own, each row's first column as text.
    pub(crate) async fn lines(&self, sql: String) -> Result<Vec<String>> {
        let rows =
            sqlx::query(AssertSqlSafe(sql.clone())).fetch_all(&self.admin).await.with_context(|| sql)?;
        rows.iter().map(|row| Ok(row.try_get::<String, _>(0)?)).collect()
    }

    /// `EXPLAIN (ANALYZE, BUFFERS)` of `sql`, with `$1`, `$2`, ... bound to `params`, planned as a
    /// prepared statement in `mode` (`force_custom_plan` or `force_generic_plan`).
    pub(crate) async fn explain(&self, sql: &str, params: &[i64], mode: &str) -> Result<String> {
        let types = vec!["int8"; params.len()].join(", ");
        let values = params.iter().map(i64::to_string).collect::<Vec<_>>().join(", ");
        let mut connection = self.admin.acquire().await?;
        let prepare = format!("SET plan_cache_mode = {mode}; PREPARE pulse_bench_explain({types}) AS {sql}");
        sqlx::raw_sql(AssertSqlSafe(prepare)).execute(&mut *connection).await?;
        let explain = format!("EXPLAIN (ANALYZE, BUFFERS) EXECUTE pulse_bench_explain({values})");
        let rows = sqlx::raw_sql(AssertSqlSafe(explain)).fetch_all(&mut *connection).await;
        sqlx::raw_sql("DEALLOCATE pulse_bench_explain; RESET plan_cache_mode")
            .execute(&mut *connection)
            .await?;
        let lines = rows?.iter().map(|row| row.try_get::<String, _>(0)).collect::<Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }

    /// Collects statistics and sets the visibility map of `table`, as autovacuum would after a
    /// bulk load, so no background vacuum runs during the measurements.
    pub(crate) async fn vacuum_analyze(&self, table: &str) -> Result<()> {
        self.execute(format!("VACUUM ANALYZE {}", self.qualified(table)?)).await
    }

    /// Drops the run's schema and everything in it, and disconnects.
    pub(crate) async fn drop_schema(&self) -> Result<()> {
        self.execute(format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema.quoted())).await?;
        self.admin.close().await;
        Ok(())
    }
}

pub(crate) struct Raw {
    template: Arc<Template>,
    pool: PgPool,
    one: Arc<str>,
    batch: Arc<str>,
    /// [`Self::one`] and [`Self::batch`] with `ON CONFLICT DO NOTHING RETURNING "Id"`.
    idempotent: [Arc<str>; 2],
    /// The store's own inserts: one row of values, and arrays through `UNNEST`.
    store_one: Arc<str>,
    store_many: Arc<str>,
}

impl Raw {
    /// Lets Pulse's migrations create table `table`, then opens a pool of the store's size.
    pub(crate) async fn open(lab: &PgLab, table: &str, template: Arc<Template>) -> Result<Self> {
        lab.open_store(table).await?.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .test_before_acquire(false)
            .connect(lab.url())
            .await?;
        let qualified = lab.qualified(table)?;
        let placeholder = |n: usize| format!("${n}");
        let (one, batch) =
            (insert_sql(&qualified, 1, placeholder), insert_sql(&qualified, BATCH, placeholder));
        let idempotent =
            [&one, &batch].map(|sql| format!("{sql} ON CONFLICT DO NOTHING RETURNING \"Id\"").into());
        let (store_one, store_many) =
            pulse_store_postgres::bench::inserts(&lab.schema, &SqlIdentifier::new(table)?);
        Ok(Self {
            template,
            pool,
            one: one.into(),
            batch: batch.into(),
            idempotent,
            store_one: store_one.into(),
            store_many: store_many.into(),
        })
    }

    /// One row, in one autocommit statement.
    pub(crate) async fn insert_one(&self) -> Result<()> {
        self.insert(&self.one, 1).await
    }

    /// [`BATCH`] rows in one multi-row statement.
    pub(crate) async fn insert_batch(&self) -> Result<()> {
        self.insert(&self.batch, BATCH).await
    }

    /// `rows` rows in the store's own statement, in autocommit: one row of values cast to the
    /// column types; more as arrays through `UNNEST`.
    pub(crate) async fn insert_like_the_store(&self, rows: usize) -> Result<()> {
        let fresh: Vec<Fresh> = (0..rows).map(|_| self.template.fresh()).collect();
        let entry = self.template.entry();
        let query = if let [fresh] = fresh.as_slice() {
            bind_later_columns(bind_row(sqlx::query(AssertSqlSafe(self.store_one.clone())), entry, fresh))
        } else {
            postgres_unnest::bind(sqlx::query(AssertSqlSafe(self.store_many.clone())), entry, &fresh)
        };
        let inserted = query.fetch_all(&self.pool).await?;
        ensure!(inserted.len() == rows, "inserted {} rows, not {rows}", inserted.len());
        Ok(())
    }

    /// The plain raw insert of `rows` rows (1 or [`BATCH`]) with `ON CONFLICT DO NOTHING
    /// RETURNING "Id"`: the store's conflict clause on the benchmark's own statement.
    pub(crate) async fn insert_idempotent(&self, rows: usize) -> Result<()> {
        let sql = &self.idempotent[usize::from(rows != 1)];
        let fresh: Vec<Fresh> = (0..rows).map(|_| self.template.fresh()).collect();
        let inserted = self.query(sql, &fresh).fetch_all(&self.pool).await?;
        ensure!(inserted.len() == rows, "inserted {} rows, not {rows}", inserted.len());
        Ok(())
    }

    async fn insert(&self, sql: &Arc<str>, rows: usize) -> Result<()> {
        let fresh: Vec<Fresh> = (0..rows).map(|_| self.template.fresh()).collect();
        let inserted = self.query(sql, &fresh).execute(&self.pool).await?.rows_affected();
        ensure!(inserted == rows as u64, "inserted {inserted} rows, not {rows}");
        Ok(())
    }

    /// `sql` with the values of one row per `fresh`.
    fn query<'q>(&'q self, sql: &Arc<str>, fresh: &'q [Fresh]) -> PgQuery<'q> {
        let entry = self.template.entry();
        fresh
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql.clone())), |query, fresh| bind_row(query, entry, fresh))
    }

    pub(crate) async fn close(self) {
        self.pool.close().await;
    }
}

pub(super) type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

/// Binds the two columns the plain raw insert leaves out (the replay request and who changed the
/// entry last), NULL in a New row, for the store's statement, which binds every column.
fn bind_later_columns(query: PgQuery<'_>) -> PgQuery<'_> {
    query.bind(None::<Uuid>).bind(None::<&str>)
}

/// Binds the values of one New row, in the columns' order, as the store encodes them.
fn bind_row<'q>(query: PgQuery<'q>, e: &'q DeadLetterEntry, fresh: &'q Fresh) -> PgQuery<'q> {
    let at: DateTime<Utc> = fresh.at.to_datetime();
    let none_text: Option<&str> = None;
    let none_time: Option<DateTime<Utc>> = None;
    query
        .bind(*fresh.id.as_uuid())
        .bind(e.tenant.as_str())
        .bind(fresh.message_id.as_str())
        .bind(e.command_type.as_str())
        .bind(i64::from(e.command_version))
        .bind(e.payload.as_str())
        .bind(none_text)
        .bind(e.exception_type.as_str())
        .bind(e.exception_message.as_str())
        .bind(e.exception_details.as_deref())
        .bind(e.fingerprint.as_str())
        .bind(e.source.as_deref())
        .bind(Json(&e.metadata))
        .bind(i64::from(e.attempt_count))
        .bind(at)
        .bind(at)
        .bind(CommandDeadLetterStatus::New.as_i16())
        .bind(none_text)
        .bind(none_text)
        .bind(none_time)
        .bind(None::<Uuid>)
        .bind(none_time)
        .bind(none_time)
        .bind(at)
        .bind(at)
        .bind(1_i64)
}
