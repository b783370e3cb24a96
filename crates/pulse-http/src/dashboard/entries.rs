//! `ui/entries`: the list with every filter, one entry in full, and what an operator does to one
//! entry: replay, dismiss, resolve, edit.

use axum::Form;
use axum::extract::{Path, Query, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use pulse::{CommandDeadLetterStatus, DeadLetterEntry, DeadLetterId, Error, ReplayReport, Resolution};
use serde::Deserialize;

use super::layout::{self, Nav};
use super::{Base, Ui, UiError, payload};
use crate::api::filter::ListParams;
use crate::extract::QueryParams;
use crate::problem::ApiError;

/// The query string as pairs, empty values left out: an HTML form sends every field, filled or
/// not, and an empty field narrows nothing.
pub(crate) fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| (key.into_owned(), value.trim().to_owned()))
        .collect()
}

/// `pairs` as a query string.
pub(crate) fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// `pairs` read as the API reads `GET entries`' query: the same names, the same checks.
pub(crate) fn list_params(pairs: &[(String, String)]) -> Result<ListParams, ApiError> {
    let mut params = ListParams::default();
    for (key, value) in pairs {
        if !params.set(key, value)? {
            return Err(ApiError::input(key.clone(), "no such parameter"));
        }
    }
    Ok(params)
}

/// The first value of parameter `key`.
fn value<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `GET ui/entries`.
pub(crate) async fn list(ui: Ui, RawQuery(query): RawQuery) -> Result<Markup, UiError> {
    let pairs = pairs(query.as_deref());
    let page = ui.dead_letters.list(list_params(&pairs)?.into_query()?).await?;
    let filter_pairs: Vec<(&str, &str)> =
        pairs.iter().filter(|(k, _)| k != "cursor").map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let selection = encode(filter_pairs.iter().copied().filter(|(k, _)| *k != "order" && *k != "limit"));
    let next = page.next_cursor.map(|cursor| {
        let cursor = cursor.to_string();
        ui.base.to(&format!(
            "entries?{}",
            encode(filter_pairs.iter().copied().chain([("cursor", cursor.as_str())]))
        ))
    });
    let body = html! {
        h1 { "Entries" }
        section.card aria-labelledby="filters" {
            h2 #filters { "Filters" }
            (filters(&ui.base, &pairs))
        }
        section.card aria-labelledby="results" {
            h2 #results { "Entries" }
            @if ui.may_operate() { (bulk_links(&ui, &selection)) }
            (table(&ui, &page.entries))
            nav.pager aria-label="Pages" {
                @if value(&pairs, "cursor").is_some() {
                    a href=(ui.base.to(&format!("entries?{}", encode(filter_pairs.iter().copied())))) { "First page" }
                }
                @if let Some(next) = next { a href=(next) rel="next" { "Next page" } }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Entries, "Entries", &body))
}

/// The filter form, filled from the query string, so that a view can be bookmarked and shared.
fn filters(base: &Base, pairs: &[(String, String)]) -> Markup {
    let has =
        |key: &str, value: &str| pairs.iter().any(|(k, v)| k == key && v.split(',').any(|one| one == value));
    let text = |key: &str, label: &str, hint: &str| {
        html! {
            div.field {
                label for={ "f-" (key) } { (label) }
                input id={ "f-" (key) } type="text" name=(key) value=[value(pairs, key)] placeholder=(hint);
            }
        }
    };
    html! {
        form.filters method="get" action=(base.to("entries")) {
            fieldset {
                legend { "Status" }
                @for (status, label) in [("new", "New"), ("replaying", "Replaying"), ("resolved", "Resolved"), ("dismissed", "Dismissed")] {
                    label { input type="checkbox" name="status" value=(status) checked[has("status", status)]; " " (label) }
                }
            }
            (text("command_type", "Command type", "e.g. orders.place"))
            (text("exception_type", "Error type", "e.g. PaymentDeclined"))
            (text("fingerprint", "Error group", "16 hex digits"))
            (text("occurred_from", "Failed from (UTC)", "e.g. 2026-11-28T00:00:00Z"))
            (text("occurred_before", "Failed before (UTC)", "e.g. 2026-11-29T00:00:00Z"))
            (text("request", "Replay request", "a request's id"))
            div.field {
                label for="f-pending" { "Replay pending" }
                select #f-pending name="replay_pending" {
                    option value="" { "either" }
                    option value="true" selected[has("replay_pending", "true")] { "yes" }
                    option value="false" selected[has("replay_pending", "false")] { "no" }
                }
            }
            div.field {
                label for="f-order" { "Order" }
                select #f-order name="order" {
                    option value="newest" { "newest failure first" }
                    option value="oldest" selected[has("order", "oldest")] { "oldest failure first" }
                }
            }
            div.actions {
                button.primary type="submit" { "Apply" }
                a.button href=(base.to("entries")) { "Clear" }
            }
        }
    }
}

/// Links to act on every New entry a selection holds, each through a preview first.
pub(crate) fn bulk_links(ui: &Ui, selection: &str) -> Markup {
    let link = |action: &str| {
        let query = if selection.is_empty() {
            format!("action={action}")
        } else {
            format!("action={action}&{selection}")
        };
        ui.base.to(&format!("bulk?{query}"))
    };
    html! {
        div.actions.bulk {
            span.muted { "Every New entry here:" }
            a.button href=(link("replay")) { "Replay…" }
            a.button href=(link("dismiss")) { "Dismiss…" }
            a.button href=(link("resolve")) { "Resolve…" }
        }
    }
}

/// Entries as a table, each linking to its page.
pub(crate) fn table(ui: &Ui, entries: &[DeadLetterEntry]) -> Markup {
    html! {
        @if entries.is_empty() {
            p.muted { "No entry matches." }
        } @else {
            table {
                thead { tr {
                    th scope="col" { "Latest failure" }
                    th scope="col" { "Status" }
                    th scope="col" { "Command" }
                    th scope="col" { "Error" }
                    th.num scope="col" { "Attempts" }
                    th scope="col" { "Tenant" }
                } }
                tbody {
                    @for entry in entries {
                        tr {
                            td { a href=(ui.base.to(&format!("entries/{}", entry.id))) { (layout::instant(entry.occurred_at)) } }
                            td { (layout::status(entry.status)) }
                            td { code { (entry.command_type) } }
                            td { (entry.exception_type) span.message { (layout::clip(&entry.exception_message, 100)) } }
                            td.num { (entry.attempt_count) }
                            td { (entry.tenant) }
                        }
                    }
                }
            }
        }
    }
}

/// The notice a page shows after an action, by the `done` code the action redirected with.
fn done_notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "dismissed" => "Dismissed.",
        "resolved" => "Resolved.",
        "replayed" => "Replayed: the command ran and the entry is resolved.",
        "failed" => "Replayed, and the command failed again: the entry is New with the new failure.",
        "requested" => "Replay requested: a worker of the service will run it.",
        "edited" => "Payload saved.",
        _ => return None,
    })
}

/// The query string of an entry's page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShowQuery {
    done: Option<String>,
}

/// `GET ui/entries/{id}`.
pub(crate) async fn show(
    ui: Ui,
    Path(id): Path<DeadLetterId>,
    Query(query): Query<ShowQuery>,
) -> Result<Markup, UiError> {
    let entry = ui.dead_letters.get_entry(id).await?.ok_or(Error::NotFound { id })?;
    let now = ui.dead_letters.now();
    let current = ui.state.replayer().and_then(|replayer| replayer.command_version(&entry.command_type));
    let body = html! {
        h1 { (entry.command_type) " " (layout::status(entry.status)) }
        (layout::notice(done_notice(query.done.as_deref())))
        @if ui.may_operate() { (actions(&ui, &entry)) }
        div.two {
            div {
                section.card aria-labelledby="error" {
                    h2 #error { "Error" }
                    dl.facts {
                        dt { "Type" } dd { code { (entry.exception_type) } }
                        dt { "Message" } dd { (entry.exception_message) }
                    }
                    @if let Some(details) = &entry.exception_details {
                        h3 { "Details" }
                        pre { (details) }
                    }
                }
                section.card aria-labelledby="payload-title" {
                    button.copy type="button" data-copy="payload" hidden { "Copy" }
                    h2 #payload-title { "Payload" }
                    (payload::show(&entry.payload, "payload"))
                    @if let Some(original) = &entry.original_payload {
                        h3 { "Changes from the payload first captured" }
                        (payload::diff(original, &entry.payload))
                        details {
                            summary { "The payload first captured" }
                            (payload::show(original, "original-payload"))
                        }
                    }
                }
            }
            div {
                section.card aria-labelledby="facts" {
                    h2 #facts { "Entry" }
                    dl.facts {
                        dt { "Id" } dd { code { (entry.id) } }
                        dt { "Tenant" } dd { (entry.tenant) }
                        dt { "Command version" } dd { (version(entry.command_version, current)) }
                        dt { "Attempts" } dd { (entry.attempt_count) }
                        dt { "Message id" } dd { (entry.message_id.as_deref().unwrap_or("none")) }
                        dt { "Source" } dd { (entry.source.as_deref().unwrap_or("unknown")) }
                        dt { "Error group" } dd {
                            a href=(ui.base.to(&format!("groups/{}", entry.fingerprint))) { code { (entry.fingerprint) } }
                        }
                        @if let Some(request) = entry.replay_request {
                            dt { "Replay request" } dd { a href=(ui.base.to(&format!("requests/{request}"))) { code { (request) } } }
                        }
                        @if let Some(note) = &entry.note { dt { "Note" } dd { (note) } }
                    }
                }
                @if !entry.metadata.is_empty() {
                    section.card aria-labelledby="metadata" {
                        h2 #metadata { "Metadata" }
                        dl.facts {
                            @for (key, value) in &entry.metadata { dt { (key) } dd { (value) } }
                        }
                    }
                }
                section.card aria-labelledby="timeline" {
                    h2 #timeline { "Timeline" }
                    (timeline(&entry, now))
                }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Entries, &entry.command_type, &body))
}

/// The command version, and what a replay does with it.
fn version(stored: u32, current: Option<u32>) -> String {
    match current {
        Some(current) if current > stored => {
            format!("{stored}; a replay upcasts it to version {current} first")
        }
        Some(current) if current < stored => {
            format!(
                "{stored}, newer than this service's version {current}: a replay fails until the service is upgraded"
            )
        }
        Some(_) => format!("{stored}, the current version"),
        None => format!("{stored}"),
    }
}

/// What happened to the entry, oldest first: the failures, the storing, replays and the end.
fn timeline(entry: &DeadLetterEntry, now: pulse::Timestamp) -> Markup {
    let by = entry.changed_by.as_ref().map(|actor| format!(" by {}", actor.as_str())).unwrap_or_default();
    let mut events = vec![(entry.first_failed_at, "First failure".to_owned())];
    if entry.occurred_at != entry.first_failed_at || entry.attempt_count > 1 {
        events.push((entry.occurred_at, format!("Latest failure, attempt {}", entry.attempt_count)));
    }
    events.push((entry.created_at, "Dead-lettered".to_owned()));
    if let Some(at) = entry.replay_requested_at {
        let when = if at > now { "Replay due" } else { "Replay requested, due since" };
        events.push((at, format!("{when}{by}")));
    }
    if let Some(lease) = &entry.lease {
        events.push((lease.expires_at, "Replay running; its lease ends".to_owned()));
    }
    if let Some(at) = entry.resolved_at {
        let what = match (entry.status, entry.resolution) {
            (CommandDeadLetterStatus::Dismissed, _) => "Dismissed".to_owned(),
            (_, Some(Resolution::Replayed)) => "Resolved: replayed".to_owned(),
            (_, Some(Resolution::HandledExternally)) => "Resolved: handled outside Pulse".to_owned(),
            _ => "Resolved".to_owned(),
        };
        events.push((at, format!("{what}{by}")));
    }
    if entry.updated_at != entry.created_at && !events.iter().any(|(at, _)| *at == entry.updated_at) {
        events.push((entry.updated_at, format!("Last changed{by}")));
    }
    events.sort_by_key(|(at, _)| *at);
    html! {
        ol.timeline {
            @for (at, what) in &events { li { (layout::instant(*at)) " — " (what) } }
        }
    }
}

/// The buttons for one entry, for an operator: only those its status allows.
fn actions(ui: &Ui, entry: &DeadLetterEntry) -> Markup {
    let path = |action: &str| ui.base.to(&format!("entries/{}/{action}", entry.id));
    let open = entry.status == CommandDeadLetterStatus::New;
    let pending = entry.replay_requested_at.is_some();
    let replay_label = if ui.state.replayer().is_some() { "Replay now" } else { "Request replay" };
    html! {
        @if open || entry.status == CommandDeadLetterStatus::Resolved {
            section.card aria-label="Actions" {
                div.actions {
                    @if open && !pending {
                        form method="post" action=(path("replay")) {
                            (layout::csrf(ui))
                            button.primary type="submit" { (replay_label) }
                        }
                    }
                    @if open {
                        a.button href=(path("edit")) { "Edit payload" }
                        details.action #dismiss {
                            summary { "Dismiss" }
                            form method="post" action=(path("dismiss")) {
                                (layout::csrf(ui))
                                div.field {
                                    label for="dismiss-note" { "Why (kept with the entry)" }
                                    textarea #dismiss-note name="note" maxlength="4000" {}
                                }
                                button type="submit" { "Dismiss this entry" }
                            }
                        }
                        details.action #resolve {
                            summary { "Resolve" }
                            form method="post" action=(path("resolve")) {
                                (layout::csrf(ui))
                                div.field {
                                    label for="resolve-note" { "What was done outside Pulse" }
                                    textarea #resolve-note name="note" maxlength="4000" {}
                                }
                                button type="submit" { "Mark resolved" }
                            }
                        }
                    }
                    @if pending { p.muted { "A replay is requested; a worker will run it." } }
                }
            }
        }
    }
}

/// A form with a note.
#[derive(Debug, Deserialize)]
pub(crate) struct NoteForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

impl NoteForm {
    fn note(self) -> Option<String> {
        let note = self.note.trim();
        (!note.is_empty()).then(|| note.to_owned())
    }
}

/// Back to the entry's page with a notice.
fn back(ui: &Ui, id: DeadLetterId, done: &str) -> Response {
    Redirect::to(&ui.base.to(&format!("entries/{id}?done={done}"))).into_response()
}

/// `POST ui/entries/{id}/dismiss`.
pub(crate) async fn dismiss(
    ui: Ui,
    Path(id): Path<DeadLetterId>,
    Form(form): Form<NoteForm>,
) -> Result<Response, UiError> {
    ui.authorize(&form.csrf)?;
    ui.dead_letters.dismiss(id, form.note()).await?;
    Ok(back(&ui, id, "dismissed"))
}

/// `POST ui/entries/{id}/resolve`.
pub(crate) async fn resolve(
    ui: Ui,
    Path(id): Path<DeadLetterId>,
    Form(form): Form<NoteForm>,
) -> Result<Response, UiError> {
    ui.authorize(&form.csrf)?;
    ui.dead_letters.resolve(id, Resolution::HandledExternally, form.note()).await?;
    Ok(back(&ui, id, "resolved"))
}

/// Replays entry `id` now when the server has the handlers, or requests its replay.
async fn replay_entry(ui: &Ui, id: DeadLetterId) -> Result<&'static str, UiError> {
    Ok(match ui.state.replayer() {
        Some(replayer) => match replayer.replay(&ui.dead_letters, id).await? {
            ReplayReport::Succeeded(_) => "replayed",
            ReplayReport::Failed { .. } => "failed",
        },
        None => {
            ui.dead_letters.request_replay(id).await?;
            "requested"
        }
    })
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub(crate) struct ReplayForm {
    csrf: String,
}

/// `POST ui/entries/{id}/replay`.
pub(crate) async fn replay(
    ui: Ui,
    Path(id): Path<DeadLetterId>,
    Form(form): Form<ReplayForm>,
) -> Result<Response, UiError> {
    ui.authorize(&form.csrf)?;
    let done = replay_entry(&ui, id).await?;
    Ok(back(&ui, id, done))
}

/// `GET ui/entries/{id}/edit`.
pub(crate) async fn edit_form(ui: Ui, Path(id): Path<DeadLetterId>) -> Result<Markup, UiError> {
    let entry = ui.dead_letters.get_entry(id).await?.ok_or(Error::NotFound { id })?;
    let version = entry.command_version.to_string();
    Ok(edit_page(&ui, &entry, &entry.payload, &version, None))
}

/// The payload editor, holding `payload` and `version` as last typed, with `error` beside the
/// field it is about.
fn edit_page(
    ui: &Ui,
    entry: &DeadLetterEntry,
    payload: &str,
    version: &str,
    error: Option<(&str, &str)>,
) -> Markup {
    let error_for = |field: &str| error.filter(|(at, _)| *at == field).map(|(_, message)| message);
    let payload_error = error_for("payload");
    let version_error = error_for("command_version");
    let checked = ui.state.replayer().is_some();
    let then_label = if checked { "Save and replay now" } else { "Save and request replay" };
    let body = html! {
        h1 { "Edit the payload of " (entry.command_type) }
        section.card {
            p {
                "The corrected command replaces the payload; the payload first captured is kept. "
                @if checked { "The server checks that the command accepts it before saving." }
                @else { "This server has no handlers to check it against: give the version it is written in." }
            }
            @if let Some((field, message)) = error.filter(|(field, _)| *field != "payload" && *field != "command_version") {
                p.error role="alert" { (field) ": " (message) }
            }
            form method="post" action=(ui.base.to(&format!("entries/{}/edit", entry.id))) {
                (layout::csrf(ui))
                div.field {
                    label for="payload" { "Payload" }
                    textarea.payload #payload name="payload" required spellcheck="false"
                        aria-invalid=[payload_error.map(|_| "true")] aria-describedby=[payload_error.map(|_| "payload-error")] {
                        (payload)
                    }
                    @if let Some(message) = payload_error { p #payload-error .error role="alert" { (message) } }
                }
                @if !checked {
                    div.field {
                        label for="command_version" { "Command version" }
                        input #command_version type="number" name="command_version" min="1" value=(version) required
                            aria-invalid=[version_error.map(|_| "true")] aria-describedby=[version_error.map(|_| "version-error")];
                        @if let Some(message) = version_error { p #version-error .error role="alert" { (message) } }
                    }
                }
                div.actions {
                    button type="submit" name="then" value="save" { "Save" }
                    button.primary type="submit" name="then" value="replay" { (then_label) }
                    a.button href=(ui.base.to(&format!("entries/{}", entry.id))) { "Cancel" }
                }
            }
        }
    };
    layout::page(ui, Nav::Entries, "Edit payload", &body)
}

/// The payload editor's fields.
#[derive(Debug, Deserialize)]
pub(crate) struct EditForm {
    csrf: String,
    payload: String,
    #[serde(default)]
    command_version: String,
    #[serde(default)]
    then: String,
}

/// `POST ui/entries/{id}/edit`: saves the payload, then replays when asked. A payload the
/// command does not accept comes back in the editor with the reason beside it.
pub(crate) async fn edit(
    ui: Ui,
    Path(id): Path<DeadLetterId>,
    Form(form): Form<EditForm>,
) -> Result<Response, UiError> {
    ui.authorize(&form.csrf)?;
    let entry = ui.dead_letters.get_entry(id).await?.ok_or(Error::NotFound { id })?;
    let saved = match ui.state.replayer() {
        Some(replayer) => replayer.edit_payload(&ui.dead_letters, id, form.payload.clone()).await,
        None => match form.command_version.trim().parse::<u32>() {
            Ok(version) => ui.dead_letters.edit_payload(id, form.payload.clone(), version).await,
            Err(_) => Err(Error::invalid_input("command_version", "must be a whole number from 1")),
        },
    };
    match saved {
        Ok(_) if form.then == "replay" => {
            let done = replay_entry(&ui, id).await?;
            Ok(back(&ui, id, done))
        }
        Ok(_) => Ok(back(&ui, id, "edited")),
        Err(Error::InvalidInput { field, reason }) => {
            let page = edit_page(&ui, &entry, &form.payload, &form.command_version, Some((field, &reason)));
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
        Err(error) => Err(error.into()),
    }
}
