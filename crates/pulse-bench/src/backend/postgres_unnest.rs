//! The values of a batch bound as the PostgreSQL store's batch insert takes them: one array per
//! column, for `UNNEST`. The statement itself is the store's own, from
//! `pulse_store_postgres::bench::inserts`; the values are encoded here by hand, as in the plain
//! raw insert.

use pulse_extensibility::{CommandDeadLetterStatus, DeadLetterEntry, Uuid};
use sqlx::types::Json;
use sqlx::types::chrono::{DateTime, Utc};

use super::postgres::PgQuery;
use crate::entries::Fresh;

/// Binds one array per column, every column of the store's statement in its order, one element
/// per row of `fresh`, New rows of `e`.
pub(super) fn bind<'q>(query: PgQuery<'q>, e: &'q DeadLetterEntry, fresh: &'q [Fresh]) -> PgQuery<'q> {
    let n = fresh.len();
    let same = |value: &'q str| vec![value; n];
    let times: Vec<DateTime<Utc>> = fresh.iter().map(|f| f.at.to_datetime()).collect();
    let none_texts: Vec<Option<&str>> = vec![None; n];
    let none_times: Vec<Option<DateTime<Utc>>> = vec![None; n];
    query
        .bind(fresh.iter().map(|f| *f.id.as_uuid()).collect::<Vec<Uuid>>())
        .bind(same(e.tenant.as_str()))
        .bind(fresh.iter().map(|f| f.message_id.as_str()).collect::<Vec<&str>>())
        .bind(same(&e.command_type))
        .bind(vec![i64::from(e.command_version); n])
        .bind(same(&e.payload))
        .bind(none_texts.clone())
        .bind(same(&e.exception_type))
        .bind(same(&e.exception_message))
        .bind(vec![e.exception_details.as_deref(); n])
        .bind(same(e.fingerprint.as_str()))
        .bind(vec![e.source.as_deref(); n])
        .bind(vec![Json(&e.metadata); n])
        .bind(vec![i64::from(e.attempt_count); n])
        .bind(times.clone())
        .bind(times.clone())
        .bind(vec![CommandDeadLetterStatus::New.as_i16(); n])
        .bind(none_texts.clone())
        .bind(none_texts)
        .bind(none_times.clone())
        .bind(vec![None::<Uuid>; n])
        .bind(none_times.clone())
        .bind(none_times)
        .bind(times.clone())
        .bind(times)
        .bind(vec![1_i64; n])
        .bind(vec![None::<Uuid>; n])
        .bind(vec![None::<&str>; n])
}
