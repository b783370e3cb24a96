//! `ui/requests`: replay requests, their progress, and cancelling one.

use axum::extract::Path;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use maud::{Markup, html};
use pulse::{ReplayProgress, ReplayRequestId, Timestamp};
use serde::{Deserialize, Serialize};

use super::layout::{self, Nav};
use super::{Plain, Ui, UiError};
use crate::problem::ApiError;

/// Requests on the list page.
const PAGE: u32 = 50;

/// The page's query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ListQuery {
    before: Option<pulse::Uuid>,
}

/// `GET ui/requests`.
pub(crate) async fn list(
    ui: Ui,
    axum::extract::Query(query): axum::extract::Query<ListQuery>,
) -> Result<Markup, UiError> {
    let dead_letters = &ui.dead_letters;
    let before = query.before.map(ReplayRequestId::from_uuid);
    let mut progress = Vec::new();
    for request in dead_letters.replay_requests(before, PAGE).await? {
        progress.push(dead_letters.replay_progress(request.id).await?);
    }
    let next =
        (progress.len() == PAGE as usize).then(|| progress.last().map(|last| last.request.id)).flatten();
    let body = html! {
        h1 { "Replay requests" }
        section.card {
            (table(&ui, &progress, dead_letters.now()))
            @if let Some(next) = next {
                nav.pager aria-label="Pages" {
                    a href=(ui.base.to("requests")) { "Newest" }
                    a href=(ui.base.to(&format!("requests?before={next}"))) { "Older requests" }
                }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Requests, "Replay requests", &body))
}

/// Requests as a table, each with its progress, live while it runs.
pub(crate) fn table(ui: &Ui, requests: &[ReplayProgress], now: Timestamp) -> Markup {
    html! {
        @if requests.is_empty() {
            p.muted { "No replay requested yet." }
        } @else {
            table {
                thead { tr {
                    th scope="col" { "Requested" }
                    th scope="col" { "By" }
                    th.num scope="col" { "Entries" }
                    th scope="col" { "Progress" }
                } }
                tbody {
                    @for progress in requests {
                        @let request = &progress.request;
                        tr {
                            td {
                                a href=(ui.base.to(&format!("requests/{}", request.id))) { (layout::ago(now, request.requested_at)) }
                                span.message { (layout::clip(&request.selection, 80)) }
                            }
                            td { (request.requested_by.as_ref().map_or("unknown", |actor| actor.as_str())) }
                            td.num { (layout::count(request.requested)) }
                            td { (live(ui, progress)) }
                        }
                    }
                }
            }
        }
    }
}

/// How far `progress` has come: a bar, and a sentence.
fn summary(progress: &ReplayProgress) -> String {
    let mut parts = vec![format!("{} replayed", layout::count(progress.replayed))];
    if progress.failed > 0 {
        parts.push(format!("{} failed again", layout::count(progress.failed)));
    }
    if progress.claimed > 0 {
        parts.push(format!("{} running", layout::count(progress.claimed)));
    }
    if progress.remaining > 0 {
        parts.push(format!("{} waiting", layout::count(progress.remaining)));
    }
    if progress.cancelled > 0 {
        parts.push(format!("{} cancelled", layout::count(progress.cancelled)));
    }
    if progress.other > 0 {
        parts.push(format!("{} changed by other means", layout::count(progress.other)));
    }
    parts.join(", ")
}

/// The entries `progress` has finished with, out of all it asked for.
fn finished(progress: &ReplayProgress) -> (u64, u64) {
    let total = progress.request.requested;
    let open = progress.remaining + progress.claimed;
    (total.saturating_sub(open), total)
}

/// The progress bar of a request; followed live by the script while the request runs.
fn live(ui: &Ui, progress: &ReplayProgress) -> Markup {
    let (done, total) = finished(progress);
    let url = ui.base.to(&format!("requests/{}/progress", progress.request.id));
    html! {
        div data-progress-url=[(!progress.is_done()).then_some(url)] {
            (layout::progress(done, total, &format!("Progress of request {}", progress.request.id)))
            span.message data-summary { (summary(progress)) }
        }
    }
}

/// `GET ui/requests/{id}`.
pub(crate) async fn show(ui: Ui, Path(id): Path<ReplayRequestId>) -> Result<Markup, UiError> {
    let progress = ui.dead_letters.replay_progress(id).await?;
    let request = &progress.request;
    let now = ui.dead_letters.now();
    let body = html! {
        h1 { "Replay request" }
        section.card {
            (live(&ui, &progress))
            dl.facts {
                dt { "Id" } dd { code { (request.id) } }
                dt { "Which entries" } dd { (request.selection) }
                dt { "Requested" } dd { (layout::instant(request.requested_at)) " (" (layout::ago(now, request.requested_at)) ")" }
                dt { "By" } dd { (request.requested_by.as_ref().map_or("unknown", |actor| actor.as_str())) }
                dt { "Tenant" } dd { (request.tenant.as_ref().map_or_else(|| "every tenant".to_owned(), ToString::to_string)) }
                dt { "Pace" } dd { (request.per_second.map_or_else(|| "as fast as the workers go".to_owned(), |pace| format!("at most {pace} a second"))) }
                dt { "Entries asked for" } dd { (layout::count(request.requested)) }
                @if let Some(note) = &request.note { dt { "Note" } dd { (note) } }
                @if let Some(at) = request.cancelled_at {
                    dt { "Cancelled" } dd {
                        (layout::instant(at)) " by " (request.cancelled_by.as_ref().map_or("unknown", |actor| actor.as_str()))
                        ", " (layout::count(request.cancelled)) " entries taken off"
                    }
                }
            }
            p { a href=(ui.base.to(&format!("entries?request={}", request.id))) { "The request's entries" } }
            @if ui.may_operate() && !progress.is_done() && request.cancelled_at.is_none() {
                form method="post" action=(ui.base.to(&format!("requests/{}/cancel", request.id))) {
                    (layout::csrf(&ui))
                    button.danger type="submit" { "Cancel the replays not yet started" }
                }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Requests, "Replay request", &body))
}

/// What the script reads to move a progress bar.
#[derive(Debug, Serialize)]
pub(crate) struct Live {
    pub(crate) done: u64,
    pub(crate) total: u64,
    pub(crate) finished: bool,
    pub(crate) summary: String,
}

/// `GET ui/requests/{id}/progress`.
pub(crate) async fn progress(ui: Ui, Path(id): Path<ReplayRequestId>) -> Result<Json<Live>, UiError> {
    let progress = ui.dead_letters.replay_progress(id).await?;
    let (done, total) = finished(&progress);
    Ok(Json(Live { done, total, finished: progress.is_done(), summary: summary(&progress) }))
}

/// `POST ui/requests/{id}/cancel`.
pub(crate) async fn cancel(
    ui: Ui,
    Path(id): Path<ReplayRequestId>,
    Form(form): Form<Plain>,
) -> Result<Response, UiError> {
    ui.authorize(&form.csrf)?;
    ui.dead_letters.cancel_replay_request(id).await.map_err(ApiError::from)?;
    Ok(Redirect::to(&ui.base.to(&format!("requests/{id}"))).into_response())
}
