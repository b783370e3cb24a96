//! Retention: purge old terminal entries, and optionally dismiss unresolved ones by rule.

use std::time::Duration;

use pulse_extensibility::{
    CommandDeadLetterStatus, DeadLetters, EntryFilter, Error, Fingerprint, ListQuery, Result, SortOrder,
};
use tokio::sync::watch;

/// Dismisses New entries that match and whose latest failure is older than `older_than`,
/// recording the rule's name as the note. Nothing unresolved is ever deleted silently: a dismissed
/// entry stays visible until the terminal retention purges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoDismissRule {
    /// Recorded on each entry it dismisses.
    pub name: String,
    /// Only this command type, if set.
    pub command_type: Option<String>,
    /// Only this error group, if set.
    pub fingerprint: Option<Fingerprint>,
    /// Only entries whose latest failure is at least this old.
    pub older_than: Duration,
}

/// How long entries are kept.
///
/// The struct is non-exhaustive: build it from [`RetentionPolicy::default`] with the setters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPolicy {
    /// Resolved and Dismissed entries are purged this long after they were resolved.
    pub retention: Duration,
    /// Entries purged per statement.
    pub batch: u32,
    /// Rules that dismiss unresolved entries.
    pub rules: Vec<AutoDismissRule>,
}

impl Default for RetentionPolicy {
    /// Seven days, batches of 500, no auto-dismiss rules.
    fn default() -> Self {
        Self { retention: Duration::from_secs(7 * 24 * 3600), batch: 500, rules: Vec::new() }
    }
}

impl RetentionPolicy {
    /// Resolved and Dismissed entries are purged this long after they were resolved; by default
    /// seven days.
    #[must_use]
    pub fn retention(mut self, retention: Duration) -> Self {
        self.retention = retention;
        self
    }

    /// Entries purged per statement; by default 500.
    #[must_use]
    pub fn batch(mut self, batch: u32) -> Self {
        self.batch = batch;
        self
    }

    /// Rules that dismiss unresolved entries; by default none.
    #[must_use]
    pub fn rules(mut self, rules: impl IntoIterator<Item = AutoDismissRule>) -> Self {
        self.rules = rules.into_iter().collect();
        self
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Entries dismissed by the rules.
    pub dismissed: u64,
    /// Entries purged.
    pub purged: u64,
}

/// Applies a [`RetentionPolicy`]. Several sweepers may run at once: purges never delete a row
/// twice, and a dismissal that loses a race is skipped.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use pulse::{DeadLetters, MemoryStore, RetentionPolicy, Sweeper};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> pulse::Result<()> {
/// let dead_letters = DeadLetters::new(Arc::new(MemoryStore::new()));
/// // Resolved and dismissed entries go 30 days after they were resolved (default 7 days).
/// let policy = RetentionPolicy::default().retention(Duration::from_secs(30 * 24 * 3600));
/// let sweeper = Sweeper::new(dead_letters, policy);
/// let report = sweeper.sweep_once().await?; // or `spawn(every)` to sweep in the background
/// assert_eq!((report.dismissed, report.purged), (0, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Sweeper {
    dead_letters: DeadLetters,
    policy: RetentionPolicy,
}

impl Sweeper {
    /// A sweeper over `dead_letters` (and its scope).
    pub fn new(dead_letters: DeadLetters, policy: RetentionPolicy) -> Self {
        Self { dead_letters, policy }
    }

    /// Runs the rules, then purges in batches until nothing old is left.
    ///
    /// # Errors
    ///
    /// The store's error; what was done before it stays done.
    pub async fn sweep_once(&self) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        for rule in &self.policy.rules {
            report.dismissed += self.apply(rule).await?;
        }
        let cutoff = self.dead_letters.now().saturating_sub(self.policy.retention);
        let batch = self.policy.batch.max(1);
        loop {
            let purged = self.dead_letters.purge(cutoff, batch).await?;
            report.purged += purged;
            if purged < u64::from(batch) {
                return Ok(report);
            }
        }
    }

    async fn apply(&self, rule: &AutoDismissRule) -> Result<u64> {
        let mut filter = EntryFilter::default()
            .statuses([CommandDeadLetterStatus::New])
            .fingerprint(rule.fingerprint.clone())
            .occurred_before(self.dead_letters.now().saturating_sub(rule.older_than));
        filter.command_type.clone_from(&rule.command_type);
        let note = format!("auto-dismissed by retention rule '{}'", rule.name);
        let mut dismissed = 0;
        loop {
            let page = self
                .dead_letters
                .list(ListQuery::default().filter(filter.clone()).order(SortOrder::OldestFirst).limit(500))
                .await?;
            if page.entries.is_empty() {
                return Ok(dismissed);
            }
            let mut progressed = false;
            for entry in page.entries {
                match self.dead_letters.dismiss(entry.id, Some(note.clone())).await {
                    Ok(_) => {
                        dismissed += 1;
                        progressed = true;
                    }
                    Err(Error::NotFound { .. } | Error::Conflict { .. }) => {}
                    Err(error) => return Err(error),
                }
            }
            if !progressed {
                return Ok(dismissed);
            }
        }
    }

    /// Sweeps every `every` on the current tokio runtime until the handle is stopped.
    pub fn spawn(self, every: Duration) -> SweeperHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                match self.sweep_once().await {
                    Ok(report) => tracing::debug!(?report, "retention sweep"),
                    Err(error) => tracing::warn!(%error, "retention sweep failed; trying again next time"),
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    _ = stopped.changed() => return,
                }
            }
        });
        SweeperHandle { stop, task }
    }
}

/// A running [`Sweeper`].
#[derive(Debug)]
pub struct SweeperHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SweeperHandle {
    /// Stops the sweeper after the sweep in progress, if any.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the retention sweeper panicked");
        }
    }
}
