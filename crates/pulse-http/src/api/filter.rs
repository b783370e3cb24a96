//! The selection and paging parameters shared by listing and counting (`GET entries`,
//! `GET count`, in the query) and replay requests (`POST replay`, `POST requests`, in the body).

use pulse::{Cursor, EntryFilter, Fingerprint, ListQuery, ReplayRequestId, SortOrder, Uuid};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{QueryParams, once, parse};
use crate::model::{Instant, Status};
use crate::problem::ApiError;

/// What to select. Every member narrows; none selects every entry.
#[derive(Debug, Default, Deserialize, ToSchema, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Filter {
    /// Only these statuses. In a query: repeat the parameter or separate values with commas.
    #[param(style = Form, explode)]
    status: Option<Vec<Status>>,
    /// Only this command type.
    command_type: Option<String>,
    /// Only this exception type.
    exception_type: Option<String>,
    /// Only this error group.
    fingerprint: Option<String>,
    /// Only entries whose latest failure is at or after this instant.
    occurred_from: Option<Instant>,
    /// Only entries whose latest failure is before this instant.
    occurred_before: Option<Instant>,
    /// Only entries whose latest replay request is this one.
    request: Option<Uuid>,
}

impl QueryParams for Filter {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, ApiError> {
        match key {
            "status" => {
                let statuses = self.status.get_or_insert_default();
                for status in value.split(',') {
                    statuses.push(parse("status", status)?);
                }
            }
            "command_type" => once(&mut self.command_type, "command_type", value)?,
            "exception_type" => once(&mut self.exception_type, "exception_type", value)?,
            "fingerprint" => once(&mut self.fingerprint, "fingerprint", value)?,
            "occurred_from" => once(&mut self.occurred_from, "occurred_from", value)?,
            "occurred_before" => once(&mut self.occurred_before, "occurred_before", value)?,
            "request" => once(&mut self.request, "request", value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl From<Filter> for EntryFilter {
    fn from(filter: Filter) -> Self {
        let mut entries = Self::default()
            .statuses(filter.status.unwrap_or_default().into_iter().map(Into::into))
            .fingerprint(filter.fingerprint.map(Fingerprint::from_stored))
            .occurred_from(filter.occurred_from.map(|instant| instant.0))
            .occurred_before(filter.occurred_before.map(|instant| instant.0))
            .replay_request(filter.request.map(ReplayRequestId::from_uuid));
        // The text setters take a value, not an `Option`.
        entries.command_type = filter.command_type;
        entries.exception_type = filter.exception_type;
        entries
    }
}

/// Whether a replay is pending: a filter for reading only, as a request always selects New
/// entries without a pending replay.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Pending {
    /// Only entries with (`true`) or without (`false`) a pending replay request.
    replay_pending: Option<bool>,
}

impl QueryParams for Pending {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, ApiError> {
        match key {
            "replay_pending" => once(&mut self.replay_pending, "replay_pending", value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The query string of `GET count`, and the selection of `GET entries`.
#[derive(Debug, Default)]
pub(crate) struct ReadFilter {
    filter: Filter,
    pending: Pending,
}

impl QueryParams for ReadFilter {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, ApiError> {
        Ok(self.filter.set(key, value)? || self.pending.set(key, value)?)
    }
}

impl From<ReadFilter> for EntryFilter {
    fn from(read: ReadFilter) -> Self {
        Self::from(read.filter).replay_pending(read.pending.replay_pending)
    }
}

/// The order of a listing, by latest failure and then id.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Order {
    /// Newest failure first.
    #[default]
    Newest,
    /// Oldest failure first.
    Oldest,
}

impl std::str::FromStr for Order {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "newest" => Ok(Self::Newest),
            "oldest" => Ok(Self::Oldest),
            _ => Err(format!("{s:?} is not an order; expected newest or oldest")),
        }
    }
}

/// Which page of a listing.
#[derive(Debug, Default, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Paging {
    /// `newest` (the default) or `oldest` failure first.
    #[param(inline)]
    order: Option<Order>,
    /// At most this many entries, 1 to 1000; 50 when left out.
    #[param(minimum = 1, maximum = 1000, default = 50)]
    limit: Option<u32>,
    /// The previous page's `next_cursor`, to go on from there.
    cursor: Option<String>,
}

impl QueryParams for Paging {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, ApiError> {
        match key {
            "order" => once(&mut self.order, "order", value)?,
            "limit" => once(&mut self.limit, "limit", value)?,
            "cursor" => once(&mut self.cursor, "cursor", value)?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The query string of `GET entries`: a filter and a page.
#[derive(Debug, Default)]
pub(crate) struct ListParams {
    filter: ReadFilter,
    paging: Paging,
}

impl QueryParams for ListParams {
    fn set(&mut self, key: &str, value: &str) -> Result<bool, ApiError> {
        Ok(self.filter.set(key, value)? || self.paging.set(key, value)?)
    }
}

impl ListParams {
    /// The library's query. The limit's range and the cursor's order are checked by the library.
    pub(crate) fn into_query(self) -> Result<ListQuery, ApiError> {
        let Paging { order, limit, cursor } = self.paging;
        let order = match order.unwrap_or_default() {
            Order::Newest => SortOrder::NewestFirst,
            Order::Oldest => SortOrder::OldestFirst,
        };
        let cursor = cursor.map(|cursor| cursor.parse::<Cursor>()).transpose()?;
        let defaults = ListQuery::default();
        let limit = limit.unwrap_or(defaults.limit);
        Ok(defaults.filter(self.filter.into()).order(order).limit(limit).cursor(cursor))
    }
}
