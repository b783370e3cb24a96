//! [`HealthCheck`]: is the store reachable, and is the backlog within bounds?

use std::fmt;
use std::time::Duration;

use pulse_extensibility::{
    CommandDeadLetterStatus, DeadLetters, EntryFilter, ListQuery, SortOrder, Timestamp, observe,
};

/// Thresholds an application alerts on. Unset thresholds never trip; by default none is set.
///
/// The struct is non-exhaustive: build it from [`HealthCheck::default`] with the setters, which
/// take a threshold or an `Option` of one.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use pulse::{DeadLetters, HealthCheck, HealthStatus, MemoryStore};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
/// let check = HealthCheck::default()
///     .max_unresolved(1000)
///     .max_oldest_age(Duration::from_secs(3600))
///     .max_replay_wait(Duration::from_secs(300));
/// let report = check.check(&dead_letters).await;
/// assert_eq!(report.status, HealthStatus::Healthy);
/// // For a service's own health endpoint:
/// println!("{}", serde_json::to_string(&report).unwrap());
/// # }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthCheck {
    /// More unresolved entries than this is degraded.
    pub max_unresolved: Option<u64>,
    /// An unresolved entry whose latest failure is older than this is degraded.
    pub max_oldest_age: Option<Duration>,
    /// A requested replay that could have started this long ago and no worker has claimed is
    /// degraded: replays are requested, but nobody replays them.
    pub max_replay_wait: Option<Duration>,
}

/// The verdict: `healthy`, `degraded` or `unavailable`, in JSON and in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Reachable and within every threshold.
    Healthy,
    /// Reachable, but a threshold is exceeded.
    Degraded,
    /// The store could not be read.
    Unavailable,
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unavailable => "unavailable",
        })
    }
}

/// What a health check found. In JSON the ages are seconds, in members named for it
/// (`oldest_unresolved_age_seconds`), for a service's own health endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HealthReport {
    /// The verdict.
    pub status: HealthStatus,
    /// New plus Replaying entries, when the store was reachable.
    pub unresolved: Option<u64>,
    /// How long ago the oldest unresolved entry last failed.
    #[serde(rename = "oldest_unresolved_age_seconds", serialize_with = "seconds")]
    pub oldest_unresolved_age: Option<Duration>,
    /// How long the oldest requested replay that could run has waited for a worker.
    #[serde(rename = "oldest_replay_wait_seconds", serialize_with = "seconds")]
    pub oldest_replay_wait: Option<Duration>,
    /// The thresholds exceeded, in words.
    pub breaches: Vec<String>,
    /// Why the store was unavailable.
    pub error: Option<String>,
}

/// A duration as fractional seconds.
#[expect(clippy::ref_option, reason = "the signature serde's `serialize_with` calls")]
fn seconds<S: serde::Serializer>(duration: &Option<Duration>, serializer: S) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => serializer.serialize_f64(duration.as_secs_f64()),
        None => serializer.serialize_none(),
    }
}

impl HealthCheck {
    /// More unresolved entries than this is degraded; by default no limit.
    #[must_use]
    pub fn max_unresolved(mut self, max: impl Into<Option<u64>>) -> Self {
        self.max_unresolved = max.into();
        self
    }

    /// An unresolved entry whose latest failure is older than this is degraded; by default no
    /// limit.
    #[must_use]
    pub fn max_oldest_age(mut self, max: impl Into<Option<Duration>>) -> Self {
        self.max_oldest_age = max.into();
        self
    }

    /// A requested replay that could have started this long ago and no worker has claimed is
    /// degraded; by default no limit.
    #[must_use]
    pub fn max_replay_wait(mut self, max: impl Into<Option<Duration>>) -> Self {
        self.max_replay_wait = max.into();
        self
    }

    /// Checks `dead_letters` (in its scope) and sets the `pulse_unresolved` gauge of its tenant
    /// (`*` for all tenants).
    pub async fn check(&self, dead_letters: &DeadLetters) -> HealthReport {
        let unavailable = |error: pulse_extensibility::Error| HealthReport {
            status: HealthStatus::Unavailable,
            unresolved: None,
            oldest_unresolved_age: None,
            oldest_replay_wait: None,
            breaches: Vec::new(),
            error: Some(error.to_string()),
        };
        let unresolved = match dead_letters.unresolved_count().await {
            Ok(count) => count,
            Err(error) => return unavailable(error),
        };
        let unresolved_filter = EntryFilter::default()
            .statuses([CommandDeadLetterStatus::New, CommandDeadLetterStatus::Replaying]);
        let oldest = ListQuery::default().filter(unresolved_filter).order(SortOrder::OldestFirst).limit(1);
        let oldest = match dead_letters.list(oldest).await {
            Ok(page) => page.entries.into_iter().next(),
            Err(error) => return unavailable(error),
        };
        let waiting = match dead_letters.oldest_due_replay().await {
            Ok(waiting) => waiting,
            Err(error) => return unavailable(error),
        };
        let now = dead_letters.now();
        let since = |at: Timestamp| {
            Duration::from_micros(now.as_micros().saturating_sub(at.as_micros()).max(0).unsigned_abs())
        };
        let age = oldest.map(|entry| since(entry.occurred_at));
        let wait = waiting.map(since);
        let tenant = dead_letters.scope().tenant().map_or("*".to_owned(), ToString::to_string);
        observe::unresolved(&tenant, unresolved);
        let mut breaches = Vec::new();
        if let Some(max) = self.max_unresolved.filter(|max| unresolved > *max) {
            breaches.push(format!("{unresolved} unresolved entries, more than {max}"));
        }
        if let Some((age, max)) = age.zip(self.max_oldest_age).filter(|(age, max)| age > max) {
            breaches.push(format!("the oldest unresolved entry failed {age:?} ago, longer than {max:?}"));
        }
        if let Some((wait, max)) = wait.zip(self.max_replay_wait).filter(|(wait, max)| wait > max) {
            breaches.push(format!(
                "a requested replay has waited {wait:?} for a worker, longer than {max:?}: is a replay worker running?"
            ));
        }
        let status = if breaches.is_empty() { HealthStatus::Healthy } else { HealthStatus::Degraded };
        HealthReport {
            status,
            unresolved: Some(unresolved),
            oldest_unresolved_age: age,
            oldest_replay_wait: wait,
            breaches,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_in_words_and_in_json() {
        let report = HealthReport {
            status: HealthStatus::Degraded,
            unresolved: Some(4230),
            oldest_unresolved_age: Some(Duration::from_millis(1500)),
            oldest_replay_wait: None,
            breaches: vec!["4230 unresolved entries, more than 1000".to_owned()],
            error: None,
        };
        assert_eq!(HealthStatus::Degraded.to_string(), "degraded");
        assert_eq!(format!("{:>10}", HealthStatus::Healthy), "   healthy");
        assert_eq!(
            serde_json::to_value(&report).unwrap(),
            serde_json::json!({
                "status": "degraded",
                "unresolved": 4230,
                "oldest_unresolved_age_seconds": 1.5,
                "oldest_replay_wait_seconds": null,
                "breaches": ["4230 unresolved entries, more than 1000"],
                "error": null,
            })
        );
    }
}
