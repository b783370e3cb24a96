//! Bulk replay and dismiss, bound to the set the operator saw, with a dry run and progress.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use pulse_extensibility::{
    CommandDeadLetterStatus, DeadLetterId, DeadLetters, EntryFilter, Error, Fingerprint, ListQuery,
    PayloadSerializer, ReplayReport, Resolution, Result, SortOrder, Timestamp,
};

use super::pace::Pace;
use super::pulse::Pulse;

/// Which entries a bulk operation is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// The New entries matching a filter (its status list is ignored).
    Query(EntryFilter),
    /// The New entries of one error group.
    ErrorGroup(Fingerprint),
}

/// A dry run's answer, and the exact set a bulk operation then applies to: the New entries
/// selected when the plan was made. Entries that fail later are not swept in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkPlan {
    /// The entries, oldest failure first.
    pub ids: Vec<DeadLetterId>,
    /// How many entries of each command type.
    pub by_command_type: BTreeMap<String, u64>,
    /// How many entries of each tenant.
    pub by_tenant: BTreeMap<String, u64>,
    /// When the plan was made.
    pub planned_at: Timestamp,
}

impl BulkPlan {
    /// How many entries the plan covers.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the plan covers no entry.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// How a bulk operation runs.
///
/// The struct is non-exhaustive: build it from [`BulkOptions::default`] with the setters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct BulkOptions {
    /// Entries per second at most; `None` for no limit.
    pub rate_limit: Option<f64>,
}

impl BulkOptions {
    /// Entries per second at most, or `None` for no limit; by default no limit.
    #[must_use]
    pub fn rate_limit(mut self, per_second: impl Into<Option<f64>>) -> Self {
        self.rate_limit = per_second.into();
        self
    }
}

/// Where a bulk operation stands; read it while the operation runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkProgress {
    /// Entries in the plan.
    pub total: u64,
    /// Entries replayed successfully, or dismissed.
    pub done: u64,
    /// Entries whose replay failed again, or that a store error stopped.
    pub failed: u64,
    /// Entries that were no longer New when their turn came (resolved, dismissed, replaying or
    /// purged since the plan), left alone.
    pub skipped: u64,
    /// Entries not yet reached.
    pub remaining: u64,
}

#[derive(Debug, Default)]
struct Counters {
    total: u64,
    done: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
}

impl Counters {
    fn snapshot(&self) -> BulkProgress {
        let done = self.done.load(Ordering::SeqCst);
        let failed = self.failed.load(Ordering::SeqCst);
        let skipped = self.skipped.load(Ordering::SeqCst);
        BulkProgress {
            total: self.total,
            done,
            failed,
            skipped,
            remaining: self.total - done - failed - skipped,
        }
    }
}

/// A bulk operation running in the background.
#[derive(Debug)]
pub struct BulkJob {
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl BulkJob {
    /// Where the operation stands now.
    pub fn progress(&self) -> BulkProgress {
        self.counters.snapshot()
    }

    /// Waits for the operation to end and returns its final tally.
    pub async fn wait(self) -> BulkProgress {
        if let Err(error) = self.task.await {
            tracing::error!(%error, "a bulk operation stopped early");
        }
        self.counters.snapshot()
    }
}

/// What happened to one entry.
enum Step {
    Done,
    Failed,
    Skipped,
}

fn filter_of(selection: Selection) -> EntryFilter {
    let filter = match selection {
        Selection::Query(filter) => filter,
        Selection::ErrorGroup(fingerprint) => EntryFilter::default().fingerprint(fingerprint),
    };
    filter.statuses([CommandDeadLetterStatus::New])
}

/// The dry run of a bulk operation: which New entries `selection` covers now, counted by command
/// type and tenant, without handlers ([`Pulse::plan`] is the same call). Pass the plan to
/// [`Pulse::bulk_replay`], [`dismiss_all`] or [`resolve_all`], which act on exactly these entries.
///
/// # Errors
///
/// The store's error.
pub async fn plan(dead_letters: &DeadLetters, selection: Selection) -> Result<BulkPlan> {
    let planned_at = dead_letters.now();
    let mut query =
        ListQuery::default().filter(filter_of(selection)).order(SortOrder::OldestFirst).limit(1000);
    let mut plan = BulkPlan {
        ids: Vec::new(),
        by_command_type: BTreeMap::new(),
        by_tenant: BTreeMap::new(),
        planned_at,
    };
    loop {
        let page = dead_letters.list(query.clone()).await?;
        for entry in page.entries {
            *plan.by_command_type.entry(entry.command_type).or_default() += 1;
            *plan.by_tenant.entry(entry.tenant.to_string()).or_default() += 1;
            plan.ids.push(entry.id);
        }
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return Ok(plan),
        }
    }
}

fn start<F, Fut>(plan: BulkPlan, options: BulkOptions, step: F) -> BulkJob
where
    F: Fn(DeadLetterId) -> Fut + Send + 'static,
    Fut: Future<Output = Step> + Send,
{
    let counters = Arc::new(Counters { total: plan.ids.len() as u64, ..Counters::default() });
    let tally = counters.clone();
    let task = tokio::spawn(async move {
        let mut pace = Pace::new(options.rate_limit, 1);
        for id in plan.ids {
            pace.take(1).await;
            let counter = match step(id).await {
                Step::Done => &tally.done,
                Step::Failed => &tally.failed,
                Step::Skipped => &tally.skipped,
            };
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    BulkJob { counters, task }
}

/// How [`close_all`] closes each entry.
#[derive(Debug, Clone)]
enum Closing {
    Dismiss(Option<String>),
    Resolve(Resolution, Option<String>),
}

/// Dismisses every entry of `plan` that is still New, recording `note` on each, in the
/// background; no handlers needed ([`Pulse::bulk_dismiss`] is the same call).
pub fn dismiss_all(
    dead_letters: &DeadLetters,
    plan: BulkPlan,
    note: Option<String>,
    options: BulkOptions,
) -> BulkJob {
    close_all(dead_letters, plan, Closing::Dismiss(note), options)
}

/// Resolves every entry of `plan` that is still New with `resolution` and `note`, in the
/// background: entries fixed outside Pulse.
pub fn resolve_all(
    dead_letters: &DeadLetters,
    plan: BulkPlan,
    resolution: Resolution,
    note: Option<String>,
    options: BulkOptions,
) -> BulkJob {
    close_all(dead_letters, plan, Closing::Resolve(resolution, note), options)
}

fn close_all(dead_letters: &DeadLetters, plan: BulkPlan, closing: Closing, options: BulkOptions) -> BulkJob {
    let dead_letters = dead_letters.clone();
    start(plan, options, move |id| {
        let (dead_letters, closing) = (dead_letters.clone(), closing.clone());
        async move {
            match dead_letters.get_entry(id).await {
                Ok(Some(entry)) if entry.status == CommandDeadLetterStatus::New => {}
                Ok(_) => return Step::Skipped,
                Err(error) => {
                    tracing::error!(%id, %error, "bulk change could not read the entry");
                    return Step::Failed;
                }
            }
            let closed = match closing {
                Closing::Dismiss(note) => dead_letters.dismiss(id, note).await,
                Closing::Resolve(resolution, note) => dead_letters.resolve(id, resolution, note).await,
            };
            match closed {
                Ok(_) => Step::Done,
                Err(Error::NotFound { .. } | Error::Conflict { .. }) => Step::Skipped,
                Err(error) => {
                    tracing::error!(%id, %error, "bulk change failed");
                    Step::Failed
                }
            }
        }
    })
}

/// Replays every entry of `plan` that is still New, one after another.
fn replay<S: PayloadSerializer + 'static>(pulse: &Pulse<S>, plan: BulkPlan, options: BulkOptions) -> BulkJob {
    let pulse = pulse.clone();
    start(plan, options, move |id| {
        let pulse = pulse.clone();
        async move {
            match pulse.dead_letters().get_entry(id).await {
                Ok(Some(entry)) if entry.status == CommandDeadLetterStatus::New => {}
                Ok(_) => return Step::Skipped,
                Err(error) => {
                    tracing::error!(%id, %error, "bulk replay could not read the entry");
                    return Step::Failed;
                }
            }
            match pulse.replay(id).await {
                Ok(ReplayReport::Succeeded(_)) => Step::Done,
                Ok(ReplayReport::Failed { .. }) | Err(Error::LeaseLost { .. }) => Step::Failed,
                Err(Error::NotFound { .. } | Error::Conflict { .. } | Error::Dismissed { .. }) => {
                    Step::Skipped
                }
                Err(error) => {
                    tracing::error!(%id, %error, "bulk replay failed");
                    Step::Failed
                }
            }
        }
    })
}

impl<S: PayloadSerializer + 'static> Pulse<S> {
    /// The dry run of a bulk operation: which New entries `selection` covers now, counted by
    /// command type and tenant. Pass the plan to [`Self::bulk_replay`] or [`Self::bulk_dismiss`],
    /// which act on exactly these entries.
    ///
    /// # Errors
    ///
    /// The store's error.
    pub async fn plan(&self, selection: Selection) -> Result<BulkPlan> {
        plan(self.dead_letters(), selection).await
    }

    /// Replays the plan's entries that are still New, one at a time, at most
    /// `options.rate_limit` a second, in the background.
    pub fn bulk_replay(&self, plan: BulkPlan, options: BulkOptions) -> BulkJob {
        replay(self, plan, options)
    }

    /// Dismisses the plan's entries that are still New, recording `note` on each, in the
    /// background.
    pub fn bulk_dismiss(&self, plan: BulkPlan, note: impl Into<String>, options: BulkOptions) -> BulkJob {
        dismiss_all(self.dead_letters(), plan, Some(note.into()), options)
    }
}
