//! `ui/bulk` and `ui/jobs`: replaying, dismissing or resolving every New entry of a selection,
//! previewed first and bound to what the preview showed.
//!
//! The preview is a dry run: [`pulse::plan`] counts the entries by command type and tenant. The
//! confirmation carries the preview's instant, and acts only on entries whose latest failure
//! came before it and that are New still: a failure that arrives after the operator looked is never swept in.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Mutex;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use pulse::{
    BulkJob, BulkOptions, CommandDeadLetterStatus, EntryFilter, ReplayRequestSpec, ReplaySelection,
    Resolution, Selection, Timestamp, Uuid,
};

use super::entries::{encode, list_params, pairs};
use super::layout::{self, Nav};
use super::requests::Live;
use super::{Ui, UiError};
use crate::problem::ApiError;

/// What a bulk action does to each entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Replay,
    Dismiss,
    Resolve,
}

impl Action {
    fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value {
            Some("replay") => Ok(Self::Replay),
            Some("dismiss") => Ok(Self::Dismiss),
            Some("resolve") => Ok(Self::Resolve),
            Some(other) => {
                Err(ApiError::input("action", format!("{other:?} is not replay, dismiss or resolve")))
            }
            None => Err(ApiError::input("action", "say what to do: replay, dismiss or resolve")),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Replay => "replay",
            Self::Dismiss => "dismiss",
            Self::Resolve => "resolve",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Replay => "Replay",
            Self::Dismiss => "Dismiss",
            Self::Resolve => "Resolve",
        }
    }
}

/// The prefix of the confirmation form's fields that carry the selection.
const FILTER_PREFIX: &str = "f.";

/// The filter of a selection given as `GET entries`' query pairs, narrowed to the entries
/// `action` may change: New ones, and for a replay those without a replay pending. `None` when
/// the selection's statuses leave out New.
fn selection(pairs: &[(String, String)], action: Action) -> Result<Option<EntryFilter>, ApiError> {
    let selecting: Vec<(String, String)> = pairs
        .iter()
        .filter(|(key, _)| !matches!(key.as_str(), "order" | "limit" | "cursor"))
        .cloned()
        .collect();
    let filter = list_params(&selecting)?.into_query()?.filter;
    if !filter.statuses.is_empty() && !filter.statuses.contains(&CommandDeadLetterStatus::New) {
        return Ok(None);
    }
    let pending = if action == Action::Replay { Some(false) } else { filter.replay_pending };
    Ok(Some(filter.statuses([CommandDeadLetterStatus::New]).replay_pending(pending)))
}

/// `GET ui/bulk?action=…&<filter>`: the dry run and the confirmation form.
pub(crate) async fn preview(ui: Ui, RawQuery(query): RawQuery) -> Result<Markup, UiError> {
    let mut pairs = pairs(query.as_deref());
    let action =
        Action::parse(pairs.iter().find(|(key, _)| key == "action").map(|(_, value)| value.as_str()))?;
    pairs.retain(|(key, _)| key != "action");
    let plan = match selection(&pairs, action)? {
        Some(filter) => Some(pulse::plan(&ui.dead_letters, Selection::Query(filter)).await?),
        None => None,
    };
    let entries = plan.as_ref().map_or(0, |plan| plan.len() as u64);
    let listing = encode(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let body = html! {
        h1 { (action.verb()) " every New entry of a selection" }
        section.card aria-labelledby="dry-run" {
            h2 #dry-run { "Dry run" }
            p #plan-summary {
                strong { (layout::count(entries)) } " New "
                (if entries == 1 { "entry" } else { "entries" }) " would "
                (action.name())
                @if action == Action::Replay { " (entries already waiting for a replay keep their place)" }
                "."
            }
            @if let Some(plan) = &plan {
                div.two {
                    (breakdown("By command type", &plan.by_command_type))
                    (breakdown("By tenant", &plan.by_tenant))
                }
            } @else {
                p.muted { "The selection's statuses leave out New, so it holds nothing to " (action.name()) "." }
            }
            p { a href=(ui.base.to(&format!("entries?{listing}"))) { "Back to the entries" } }
        }
        @if let Some(plan) = plan.as_ref().filter(|plan| !plan.is_empty() && ui.may_operate()) {
            section.card aria-labelledby="confirm" {
                h2 #confirm { "Confirm" }
                p { "Only these entries change: those that failed before "
                    (layout::instant(plan.planned_at)) " and are still New when you confirm." }
                form method="post" action=(ui.base.to("bulk")) {
                    (layout::csrf(&ui))
                    input type="hidden" name="action" value=(action.name());
                    input type="hidden" name="seen_at" value=(plan.planned_at.as_micros());
                    input type="hidden" name="seen" value=(plan.len());
                    @for (key, value) in &pairs {
                        input type="hidden" name={ (FILTER_PREFIX) (key) } value=(value);
                    }
                    div.field {
                        label for="bulk-note" { "Note (kept with each entry" @if action == Action::Replay { " and the request" } ")" }
                        textarea #bulk-note name="note" maxlength="4000" {}
                    }
                    div.field {
                        label for="bulk-pace" { "Pace: at most this many a second (empty for no limit)" }
                        input #bulk-pace type="number" name="per_second" min="1" max=(pulse::MAX_PER_SECOND);
                    }
                    button.primary type="submit" { (action.verb()) " " (layout::count(entries)) " " (if entries == 1 { "entry" } else { "entries" }) }
                }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Entries, &format!("{} entries", action.verb()), &body))
}

/// A count per name, as a small table.
fn breakdown(title: &str, counts: &BTreeMap<String, u64>) -> Markup {
    html! {
        table {
            caption { (title) }
            thead { tr { th scope="col" { "Name" } th.num scope="col" { "Entries" } } }
            tbody {
                @for (name, n) in counts { tr { td { (name) } td.num { (layout::count(*n)) } } }
            }
        }
    }
}

/// `POST ui/bulk`: acts on the previewed selection.
pub(crate) async fn run(ui: Ui, body: Bytes) -> Result<Response, UiError> {
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut selecting = Vec::new();
    for (key, value) in form_urlencoded::parse(&body) {
        match key.strip_prefix(FILTER_PREFIX) {
            Some(filter_key) => selecting.push((filter_key.to_owned(), value.into_owned())),
            None => {
                fields.insert(key.into_owned(), value.into_owned());
            }
        }
    }
    let field = |name: &str| fields.get(name).map(|value| value.trim()).filter(|value| !value.is_empty());
    ui.authorize(field("csrf").unwrap_or_default())?;
    let action = Action::parse(field("action"))?;
    let seen_at: i64 = field("seen_at")
        .and_then(|at| at.parse().ok())
        .ok_or_else(|| ApiError::input("seen_at", "the preview's instant is missing; preview again"))?;
    let note = field("note").map(ToOwned::to_owned);
    let per_second =
        match field("per_second") {
            None => None,
            Some(pace) => Some(pace.parse::<NonZeroU32>().map_err(|_| {
                ApiError::input("per_second", format!("{pace:?} is not a whole number from 1"))
            })?),
        };
    let Some(filter) = selection(&selecting, action)? else {
        return Err(ApiError::input("status", "the selection holds no New entries").into());
    };
    // Bound to the preview: only entries that had failed when the operator looked.
    let cutoff = Timestamp::from_micros(seen_at);
    let occurred_before = filter.occurred_before.map_or(cutoff, |before| before.min(cutoff));
    let filter = filter.occurred_before(occurred_before);
    let dead_letters = &ui.dead_letters;
    if action == Action::Replay {
        let spec = ReplayRequestSpec { selection: ReplaySelection::Matching(filter), note, per_second };
        let request = dead_letters.request_replays(spec).await?;
        return Ok(Redirect::to(&ui.base.to(&format!("requests/{}", request.id))).into_response());
    }
    let plan = pulse::plan(dead_letters, Selection::Query(filter)).await?;
    let options = BulkOptions::default().rate_limit(per_second.map(|pace| f64::from(pace.get())));
    let job = match action {
        Action::Dismiss => pulse::dismiss_all(dead_letters, plan, note, options),
        _ => pulse::resolve_all(dead_letters, plan, Resolution::HandledExternally, note, options),
    };
    let id = ui.state.jobs().start(Job {
        owner: ui.principal.actor.clone(),
        action,
        job,
        started: dead_letters.now(),
    });
    Ok(Redirect::to(&ui.base.to(&format!("jobs/{id}"))).into_response())
}

/// A bulk dismissal or resolution running in this process.
struct Job {
    /// Who started it: only they follow it.
    owner: String,
    action: Action,
    job: BulkJob,
    started: Timestamp,
}

/// The bulk changes started from the dashboard, in this process.
#[derive(Default)]
pub(crate) struct Jobs {
    running: Mutex<HashMap<Uuid, Job>>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}

/// The most jobs remembered; the oldest finished ones are forgotten first.
const MAX_JOBS: usize = 256;

impl Jobs {
    fn start(&self, job: Job) -> Uuid {
        let id = Uuid::new_v4();
        let mut running = self.running.lock().expect("the job map is never left poisoned");
        if running.len() >= MAX_JOBS
            && let Some(oldest) = running
                .iter()
                .filter(|(_, job)| job.job.progress().remaining == 0)
                .min_by_key(|(_, job)| job.started)
                .map(|(id, _)| *id)
        {
            running.remove(&oldest);
        }
        running.insert(id, job);
        id
    }

    /// What job `id` has done, when `owner` started it.
    fn progress(&self, id: Uuid, owner: &str) -> Option<(Action, pulse::BulkProgress, Timestamp)> {
        let running = self.running.lock().expect("the job map is never left poisoned");
        running
            .get(&id)
            .filter(|job| job.owner == owner)
            .map(|job| (job.action, job.job.progress(), job.started))
    }
}

/// The job `id` of the visitor, or 404.
fn find(ui: &Ui, id: Uuid) -> Result<(Action, pulse::BulkProgress, Timestamp), UiError> {
    ui.state.jobs().progress(id, &ui.principal.actor).ok_or_else(|| {
        ApiError::NotFound(format!("no bulk change {id} of yours is known to this server")).into()
    })
}

/// The progress of a job for the script.
fn live(action: Action, progress: pulse::BulkProgress) -> Live {
    let finished = progress.total - progress.remaining;
    let verb = match action {
        Action::Dismiss => "dismissed",
        _ => "resolved",
    };
    let summary = format!(
        "{} {verb}, {} skipped (no longer New), {} failed, {} to go",
        layout::count(progress.done),
        layout::count(progress.skipped),
        layout::count(progress.failed),
        layout::count(progress.remaining)
    );
    Live { done: finished, total: progress.total, finished: progress.remaining == 0, summary }
}

/// `GET ui/jobs/{id}`.
pub(crate) async fn job(ui: Ui, Path(id): Path<Uuid>) -> Result<Markup, UiError> {
    let (action, progress, started) = find(&ui, id)?;
    let state = live(action, progress);
    let url = ui.base.to(&format!("jobs/{id}/progress"));
    let body = html! {
        h1 { (action.verb()) " entries" }
        section.card {
            p { "Started " (layout::instant(started)) " by " (ui.principal.actor) "." }
            div data-progress-url=[(!state.finished).then_some(url)] {
                (layout::progress(state.done, state.total, "Progress of the bulk change"))
                p data-summary { (state.summary) }
            }
            p.muted { "Reload the page to see the latest counts without JavaScript." }
            p { a href=(ui.base.to("entries?status=new&status=replaying")) { "Back to the unresolved entries" } }
        }
    };
    Ok(layout::page(&ui, Nav::Entries, "Bulk change", &body))
}

/// `GET ui/jobs/{id}/progress`.
pub(crate) async fn job_progress(ui: Ui, Path(id): Path<Uuid>) -> Result<Json<Live>, UiError> {
    let (action, progress, _) = find(&ui, id)?;
    Ok(Json(live(action, progress)))
}
