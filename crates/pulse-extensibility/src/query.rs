//! Reading entries back: scopes, filters, pages, statistics, time buckets and error groups.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::entry::{DeadLetterEntry, DeadLetterId, Fingerprint, TenantId};
use crate::error::{Error, Result};
use crate::request::ReplayRequestId;
use crate::status::CommandDeadLetterStatus;
use crate::time::Timestamp;

/// Which tenants an operation sees.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// Every tenant: an operator's view.
    #[default]
    AllTenants,
    /// Only this tenant's entries; others' are invisible, as if they did not exist.
    Tenant(TenantId),
}

impl Scope {
    /// Whether an entry of `tenant` is visible in this scope.
    pub fn contains(&self, tenant: &TenantId) -> bool {
        match self {
            Self::AllTenants => true,
            Self::Tenant(own) => own == tenant,
        }
    }

    /// Whether a replay request made in `tenant`'s scope (`None`: across all tenants) is
    /// visible in this scope: every request across all tenants, only the tenant's own in a
    /// tenant scope.
    pub fn sees_request(&self, tenant: Option<&TenantId>) -> bool {
        match self {
            Self::AllTenants => true,
            Self::Tenant(own) => tenant == Some(own),
        }
    }

    /// The tenant, for a tenant scope.
    pub fn tenant(&self) -> Option<&TenantId> {
        match self {
            Self::AllTenants => None,
            Self::Tenant(tenant) => Some(tenant),
        }
    }
}

/// The order of a listing, by the latest failure time and then by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum SortOrder {
    /// Newest failure first.
    #[default]
    NewestFirst,
    /// Oldest failure first.
    OldestFirst,
}

/// What a listing or a bulk operation selects. Every field narrows; the default selects all.
///
/// The struct is non-exhaustive: build it from [`EntryFilter::default`] with the setters, one
/// per field. Lists take any iterator, text anything that converts into a `String`, and the
/// other optional fields the value or an `Option` of it (`None` leaves the field unset).
///
/// # Examples
///
/// ```
/// use pulse_extensibility::{CommandDeadLetterStatus, EntryFilter, Timestamp};
///
/// let since = Timestamp::from_micros(1_767_225_600_000_000);
/// let filter = EntryFilter::default()
///     .statuses([CommandDeadLetterStatus::New])
///     .command_type("orders.create")
///     .occurred_from(since);
/// assert_eq!(filter.command_type.as_deref(), Some("orders.create"));
/// assert_eq!(filter.occurred_from, Some(since));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EntryFilter {
    /// Only these statuses; empty means any.
    pub statuses: Vec<CommandDeadLetterStatus>,
    /// Only this command type.
    pub command_type: Option<String>,
    /// Only this exception type.
    pub exception_type: Option<String>,
    /// Only this error group.
    pub fingerprint: Option<Fingerprint>,
    /// Only entries whose latest failure is at or after this instant.
    pub occurred_from: Option<Timestamp>,
    /// Only entries whose latest failure is before this instant.
    pub occurred_before: Option<Timestamp>,
    /// Only these entries (at most 1,000); empty means any.
    pub ids: Vec<DeadLetterId>,
    /// Only entries whose latest replay request is this one.
    pub replay_request: Option<ReplayRequestId>,
    /// Only entries with (`true`) or without (`false`) a pending replay request.
    pub replay_pending: Option<bool>,
    /// Only entries resolved or dismissed strictly before this instant: what a purge with this
    /// cut-off may delete.
    pub resolved_before: Option<Timestamp>,
}

impl EntryFilter {
    /// Only these statuses; by default any.
    #[must_use]
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = CommandDeadLetterStatus>) -> Self {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Only this command type; by default any.
    #[must_use]
    pub fn command_type(mut self, command_type: impl Into<String>) -> Self {
        self.command_type = Some(command_type.into());
        self
    }

    /// Only this exception type; by default any.
    #[must_use]
    pub fn exception_type(mut self, exception_type: impl Into<String>) -> Self {
        self.exception_type = Some(exception_type.into());
        self
    }

    /// Only this error group; by default any.
    #[must_use]
    pub fn fingerprint(mut self, fingerprint: impl Into<Option<Fingerprint>>) -> Self {
        self.fingerprint = fingerprint.into();
        self
    }

    /// Only entries whose latest failure is at or after this instant; by default no lower bound.
    #[must_use]
    pub fn occurred_from(mut self, from: impl Into<Option<Timestamp>>) -> Self {
        self.occurred_from = from.into();
        self
    }

    /// Only entries whose latest failure is before this instant; by default no upper bound.
    #[must_use]
    pub fn occurred_before(mut self, before: impl Into<Option<Timestamp>>) -> Self {
        self.occurred_before = before.into();
        self
    }

    /// Only these entries (at most 1,000); by default any.
    #[must_use]
    pub fn ids(mut self, ids: impl IntoIterator<Item = DeadLetterId>) -> Self {
        self.ids = ids.into_iter().collect();
        self
    }

    /// Only entries whose latest replay request is this one; by default any.
    #[must_use]
    pub fn replay_request(mut self, request: impl Into<Option<ReplayRequestId>>) -> Self {
        self.replay_request = request.into();
        self
    }

    /// Only entries with (`true`) or without (`false`) a pending replay request; by default
    /// either.
    #[must_use]
    pub fn replay_pending(mut self, pending: impl Into<Option<bool>>) -> Self {
        self.replay_pending = pending.into();
        self
    }

    /// Only entries resolved or dismissed strictly before this instant; by default any entry,
    /// resolved or not.
    #[must_use]
    pub fn resolved_before(mut self, before: impl Into<Option<Timestamp>>) -> Self {
        self.resolved_before = before.into();
        self
    }

    /// Whether `entry` passes the filter.
    pub fn matches(&self, entry: &DeadLetterEntry) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&entry.status))
            && self.command_type.as_ref().is_none_or(|c| *c == entry.command_type)
            && self.exception_type.as_ref().is_none_or(|e| *e == entry.exception_type)
            && self.fingerprint.as_ref().is_none_or(|f| *f == entry.fingerprint)
            && self.occurred_from.is_none_or(|from| entry.occurred_at >= from)
            && self.occurred_before.is_none_or(|before| entry.occurred_at < before)
            && (self.ids.is_empty() || self.ids.contains(&entry.id))
            && self.replay_request.is_none_or(|request| entry.replay_request == Some(request))
            && self.replay_pending.is_none_or(|pending| entry.replay_requested_at.is_some() == pending)
            && self.resolved_before.is_none_or(|before| entry.resolved_at.is_some_and(|at| at < before))
    }

    /// This filter with its latest-failure range narrowed to `from` (inclusive) to `before`
    /// (exclusive); `None` when no instant is left in both.
    pub fn occurred_within(&self, from: Timestamp, before: Timestamp) -> Option<Self> {
        let from = self.occurred_from.map_or(from, |own| own.max(from));
        let before = self.occurred_before.map_or(before, |own| own.min(before));
        (from < before).then(|| Self {
            occurred_from: Some(from),
            occurred_before: Some(before),
            ..self.clone()
        })
    }
}

impl fmt::Display for EntryFilter {
    /// The narrowing fields as `name = value` pairs joined by `, `; `every entry` when none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.statuses.is_empty() {
            let statuses: Vec<String> = self.statuses.iter().map(ToString::to_string).collect();
            parts.push(format!("status in {}", statuses.join("|")));
        }
        let texts = [
            ("command_type", self.command_type.as_deref()),
            ("exception_type", self.exception_type.as_deref()),
            ("fingerprint", self.fingerprint.as_ref().map(Fingerprint::as_str)),
        ];
        parts.extend(texts.into_iter().filter_map(|(name, value)| Some(format!("{name} = {}", value?))));
        if let Some(from) = self.occurred_from {
            parts.push(format!("occurred_from = {from}"));
        }
        if let Some(before) = self.occurred_before {
            parts.push(format!("occurred_before = {before}"));
        }
        match self.ids.as_slice() {
            [] => {}
            [id] => parts.push(format!("id = {id}")),
            ids => parts.push(format!("{} ids", ids.len())),
        }
        if let Some(request) = self.replay_request {
            parts.push(format!("replay_request = {request}"));
        }
        if let Some(pending) = self.replay_pending {
            parts.push(format!("replay_pending = {pending}"));
        }
        if let Some(before) = self.resolved_before {
            parts.push(format!("resolved_before = {before}"));
        }
        if parts.is_empty() { f.write_str("every entry") } else { f.write_str(&parts.join(", ")) }
    }
}

/// A page request for [`crate::DeadLetters::list`].
///
/// The struct is non-exhaustive: build it from [`ListQuery::default`] with the setters.
///
/// # Examples
///
/// ```
/// use pulse_extensibility::{CommandDeadLetterStatus, EntryFilter, ListQuery, SortOrder};
///
/// let query = ListQuery::default()
///     .filter(EntryFilter::default().statuses([CommandDeadLetterStatus::New]))
///     .order(SortOrder::OldestFirst)
///     .limit(100);
/// assert_eq!((query.limit, query.cursor), (100, None));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListQuery {
    /// What to select; by default every entry.
    pub filter: EntryFilter,
    /// In which order; by default newest failure first.
    pub order: SortOrder,
    /// At most this many entries, 1 to 1000; by default 50.
    pub limit: u32,
    /// Where the previous page ended; by default none, for the first page.
    pub cursor: Option<Cursor>,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self { filter: EntryFilter::default(), order: SortOrder::default(), limit: 50, cursor: None }
    }
}

impl ListQuery {
    /// What to select; by default every entry.
    #[must_use]
    pub fn filter(mut self, filter: EntryFilter) -> Self {
        self.filter = filter;
        self
    }

    /// In which order; by default [`SortOrder::NewestFirst`].
    #[must_use]
    pub fn order(mut self, order: SortOrder) -> Self {
        self.order = order;
        self
    }

    /// At most this many entries, 1 to 1000; by default 50.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Where the previous page ended, such as its [`Page::next_cursor`]; by default none, for the
    /// first page.
    #[must_use]
    pub fn cursor(mut self, cursor: impl Into<Option<Cursor>>) -> Self {
        self.cursor = cursor.into();
        self
    }
}

/// The sort key of one entry: where a page ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SortKey {
    /// The entry's latest failure.
    pub occurred_at: Timestamp,
    /// The entry's id.
    pub id: DeadLetterId,
}

impl SortKey {
    /// The key of `entry`.
    pub fn of(entry: &DeadLetterEntry) -> Self {
        Self { occurred_at: entry.occurred_at, id: entry.id }
    }
}

/// An opaque position in a listing, from [`Page::next_cursor`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub(crate) order: SortOrder,
    pub(crate) after: SortKey,
}

impl Cursor {
    pub(crate) fn new(order: SortOrder, after: SortKey) -> Self {
        Self { order, after }
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({self})")
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let order = match self.order {
            SortOrder::NewestFirst => 'd',
            SortOrder::OldestFirst => 'a',
        };
        write!(f, "{order}.{}.{}", self.after.occurred_at.as_micros(), self.after.id)
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let invalid = || Error::invalid_input("cursor", format!("{s:?} is not a Pulse cursor"));
        let mut parts = s.splitn(3, '.');
        let order = match parts.next() {
            Some("d") => SortOrder::NewestFirst,
            Some("a") => SortOrder::OldestFirst,
            _ => return Err(invalid()),
        };
        let micros = parts.next().and_then(|m| m.parse().ok()).ok_or_else(invalid)?;
        let id = parts.next().and_then(|id| id.parse().ok()).ok_or_else(invalid)?;
        Ok(Self::new(order, SortKey { occurred_at: Timestamp::from_micros(micros), id }))
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The entries, in the requested order.
    pub entries: Vec<DeadLetterEntry>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
}

/// How many entries stand in each status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Statistics {
    /// Entries in New.
    pub new: u64,
    /// Entries in Replaying.
    pub replaying: u64,
    /// Entries in Resolved.
    pub resolved: u64,
    /// Entries in Dismissed.
    pub dismissed: u64,
    /// All entries.
    pub total: u64,
}

impl Statistics {
    /// New and Replaying: the entries that still need attention.
    pub fn unresolved(&self) -> u64 {
        self.new + self.replaying
    }

    /// The count for `status`.
    pub fn count(&self, status: CommandDeadLetterStatus) -> u64 {
        match status {
            CommandDeadLetterStatus::New => self.new,
            CommandDeadLetterStatus::Replaying => self.replaying,
            CommandDeadLetterStatus::Resolved => self.resolved,
            CommandDeadLetterStatus::Dismissed => self.dismissed,
        }
    }

    /// Takes away `n` entries in `status`, saturating at zero.
    pub fn remove(&mut self, status: CommandDeadLetterStatus, n: u64) {
        let count = match status {
            CommandDeadLetterStatus::New => &mut self.new,
            CommandDeadLetterStatus::Replaying => &mut self.replaying,
            CommandDeadLetterStatus::Resolved => &mut self.resolved,
            CommandDeadLetterStatus::Dismissed => &mut self.dismissed,
        };
        *count = count.saturating_sub(n);
        self.total = self.total.saturating_sub(n);
    }

    /// Adds `n` entries in `status`.
    pub fn add(&mut self, status: CommandDeadLetterStatus, n: u64) {
        match status {
            CommandDeadLetterStatus::New => self.new += n,
            CommandDeadLetterStatus::Replaying => self.replaying += n,
            CommandDeadLetterStatus::Resolved => self.resolved += n,
            CommandDeadLetterStatus::Dismissed => self.dismissed += n,
        }
        self.total += n;
    }
}

/// The most buckets one histogram has.
pub const MAX_BUCKETS: u32 = 1000;

/// Back-to-back time buckets of one width, for [`crate::DeadLetters::histogram`]: bucket `i`
/// holds the instants from `start + i × width` (inclusive) to `start + (i + 1) × width`
/// (exclusive).
///
/// [`crate::validate::check_buckets`] checks them before any backend sees them: `width` at least
/// 1 µs and a whole number of microseconds, `count` from 1 to [`MAX_BUCKETS`], and every instant
/// of every bucket between [`Timestamp::MIN`] and [`Timestamp::MAX`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use pulse_extensibility::{TimeBuckets, Timestamp};
///
/// // Hours of the 7 days up to 2026-01-01T00:00:00Z, oldest first.
/// let end = Timestamp::from_micros(1_767_225_600_000_000);
/// let hour = Duration::from_secs(3600);
/// let buckets = TimeBuckets::new(end.saturating_sub(hour * 168), hour, 168);
/// assert_eq!(buckets.end(), end);
/// assert_eq!(buckets.index_of(end.saturating_sub(hour)), Some(167));
/// assert_eq!(buckets.index_of(end), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeBuckets {
    /// Where the first bucket starts.
    pub start: Timestamp,
    /// How long each bucket is.
    pub width: Duration,
    /// How many buckets there are.
    pub count: u32,
}

impl TimeBuckets {
    /// `count` buckets of `width`, the first starting at `start`.
    pub const fn new(start: Timestamp, width: Duration, count: u32) -> Self {
        Self { start, width, count }
    }

    /// The width in microseconds, saturating at [`i64::MAX`].
    pub fn width_micros(&self) -> i64 {
        i64::try_from(self.width.as_micros()).unwrap_or(i64::MAX)
    }

    /// Where bucket `index` starts; [`Self::end`] for `index == count`. Saturates at the ends of
    /// `i64`, which checked buckets never reach.
    pub fn bucket_start(&self, index: u32) -> Timestamp {
        let offset = self.width_micros().saturating_mul(i64::from(index));
        Timestamp::from_micros(self.start.as_micros().saturating_add(offset))
    }

    /// Where the last bucket ends (exclusive).
    pub fn end(&self) -> Timestamp {
        self.bucket_start(self.count)
    }

    /// The bucket `instant` falls in, or `None` before the first and from the end of the last.
    pub fn index_of(&self, instant: Timestamp) -> Option<usize> {
        if instant < self.start || instant >= self.end() {
            return None;
        }
        let offset = i128::from(instant.as_micros()) - i128::from(self.start.as_micros());
        usize::try_from(offset / i128::from(self.width_micros())).ok()
    }
}

/// Unresolved entries that failed the same way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorGroup {
    /// The shared fingerprint.
    pub fingerprint: Fingerprint,
    /// The command type of the group.
    pub command_type: String,
    /// The exception type of the group.
    pub exception_type: String,
    /// The message of the group's most recent failure (latest `occurred_at`, then highest id).
    pub sample_message: String,
    /// How many unresolved entries the group has.
    pub count: u64,
    /// The earliest `first_failed_at` in the group.
    pub first_seen: Timestamp,
    /// The latest `occurred_at` in the group.
    pub last_seen: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let key = SortKey {
            occurred_at: Timestamp::from_micros(1_767_225_600_000_001),
            id: DeadLetterId::new_at(Timestamp::UNIX_EPOCH),
        };
        let cursor = Cursor::new(SortOrder::OldestFirst, key);
        assert_eq!(cursor.to_string().parse::<Cursor>().unwrap(), cursor);
        for bad in ["", "x.1.2", "a.notanumber.x", "d.5", "a.5.not-a-uuid"] {
            assert!(matches!(bad.parse::<Cursor>(), Err(Error::InvalidInput { field: "cursor", .. })));
        }
    }

    #[test]
    fn buckets_hold_their_start_and_not_their_end() {
        let buckets = TimeBuckets::new(Timestamp::from_micros(-7), Duration::from_micros(5), 3);
        assert_eq!(buckets.end(), Timestamp::from_micros(8));
        let placed: Vec<Option<usize>> =
            (-8..=8).map(|micros| buckets.index_of(Timestamp::from_micros(micros))).collect();
        let mut expected = vec![None];
        expected.extend([0, 1, 2].into_iter().flat_map(|index| [Some(index); 5]));
        expected.push(None);
        assert_eq!(placed, expected);
        let no_width = TimeBuckets { width: Duration::ZERO, ..buckets };
        assert_eq!(no_width.index_of(buckets.start), None);
    }

    #[test]
    fn a_filters_range_narrows_to_a_bucket_or_misses_it() {
        let t = Timestamp::from_micros;
        let filter =
            EntryFilter::default().command_type("orders.create").occurred_from(t(10)).occurred_before(t(20));
        let range = |from, before| {
            filter.occurred_within(t(from), t(before)).map(|narrowed| {
                assert_eq!(narrowed.command_type, filter.command_type);
                (narrowed.occurred_from, narrowed.occurred_before)
            })
        };
        assert_eq!(range(0, 15), Some((Some(t(10)), Some(t(15)))));
        assert_eq!(range(12, 30), Some((Some(t(12)), Some(t(20)))));
        assert_eq!(range(0, 10), None);
        assert_eq!(range(20, 30), None);
        let every = EntryFilter::default().occurred_within(t(1), t(2));
        let expected = EntryFilter::default().occurred_from(t(1)).occurred_before(t(2));
        assert_eq!(every, Some(expected));
    }

    #[test]
    fn statistics_add_up() {
        let mut stats = Statistics::default();
        stats.add(CommandDeadLetterStatus::New, 2);
        stats.add(CommandDeadLetterStatus::Replaying, 1);
        stats.add(CommandDeadLetterStatus::Dismissed, 4);
        assert_eq!(stats, Statistics { new: 2, replaying: 1, resolved: 0, dismissed: 4, total: 7 });
        assert_eq!(stats.unresolved(), 3);
    }
}
