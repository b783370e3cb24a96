//! The frame every page shares (head, navigation, who is signed in) and the small pieces pages
//! are built from: instants, ages, counts, statuses.

use std::time::Duration;

use axum::Extension;
use axum::extract::Query;
use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, html};
use pulse::{CommandDeadLetterStatus, Timestamp};

use super::{Base, Ui, assets};
use crate::auth::Role;

/// Which item of the navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Nav {
    Overview,
    Groups,
    Entries,
    Requests,
}

/// The document around a page's `body`.
fn document(base: &Base, title: &str, header: &Markup, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Pulse" }
                link rel="stylesheet" href=(assets::url(base, "pulse.css"));
                script src=(assets::url(base, "pulse.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                (header)
                main #main { (body) }
            }
        }
    }
}

/// A page of a signed-in visit, with the navigation and the visitor's box.
pub(crate) fn page(ui: &Ui, nav: Nav, title: &str, body: &Markup) -> Markup {
    let base = &ui.base;
    let link = |item: Nav, path: &str, label: &str| {
        html! {
            li { a href=(base.to(path)) aria-current=[(nav == item).then_some("page")] { (label) } }
        }
    };
    let principal = &ui.principal;
    let header = html! {
        header.top {
            a.brand href=(base.to("")) { span.logo aria-hidden="true" { "◆" } " Pulse" }
            nav aria-label="Main" {
                ul {
                    (link(Nav::Overview, "", "Overview"))
                    (link(Nav::Groups, "groups", "Error groups"))
                    (link(Nav::Entries, "entries?status=new&status=replaying", "Entries"))
                    (link(Nav::Requests, "requests", "Replay requests"))
                }
            }
            div.who {
                span { (principal.actor) " · " (principal.role) }
                @match (&principal.tenant, &ui.session.tenant) {
                    (Some(tenant), _) => { span.tenant { "tenant " strong { (tenant) } } }
                    (None, chosen) if principal.role == Role::Admin => {
                        form.inline method="post" action=(base.to("tenant")) {
                            input type="hidden" name="csrf" value=(ui.session.csrf);
                            label for="tenant-switch" { "Tenant" }
                            input #tenant-switch type="text" name="tenant" size="10" placeholder="all tenants"
                                value=[chosen.as_ref().map(ToString::to_string)];
                            button type="submit" { "Switch" }
                        }
                    }
                    _ => {}
                }
                form.inline method="post" action=(base.to("sign-out")) {
                    input type="hidden" name="csrf" value=(ui.session.csrf);
                    button type="submit" { "Sign out" }
                }
            }
        }
    };
    document(base, title, &header, body)
}

/// The query string of the sign-in page.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct SignInQuery {
    #[serde(default)]
    next: String,
}

/// `GET ui/sign-in`.
pub(crate) async fn sign_in_form(
    Extension(base): Extension<Base>,
    Query(query): Query<SignInQuery>,
) -> Markup {
    sign_in_page(&base, &query.next, None)
}

/// The sign-in form, with `error` beside the field after a failed attempt.
pub(crate) fn sign_in_page(base: &Base, next: &str, error: Option<&str>) -> Markup {
    let header = html! { header.top { span.brand { span.logo aria-hidden="true" { "◆" } " Pulse" } } };
    let body = html! {
        section.narrow {
            h1 { "Sign in" }
            p { "Give the access token your administrator issued for Pulse's console. "
                "It stays on this server; the browser only keeps a session cookie." }
            form method="post" action=(base.to("sign-in")) {
                input type="hidden" name="next" value=(next);
                div.field {
                    label for="token" { "Access token" }
                    input #token type="password" name="token" required autocomplete="current-password"
                        aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| "token-error")];
                    @if let Some(error) = error {
                        p #token-error .error role="alert" { (error) }
                    }
                }
                button.primary type="submit" { "Sign in" }
            }
        }
    };
    document(base, "Sign in", &header, &body)
}

/// A page saying why a request failed.
pub(crate) fn error_page(base: &Base, status: StatusCode, detail: &str) -> Markup {
    let header =
        html! { header.top { a.brand href=(base.to("")) { span.logo aria-hidden="true" { "◆" } " Pulse" } } };
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        section.narrow {
            h1 { (title) }
            p.error role="alert" { (detail) }
            p { a href=(base.to("")) { "Back to the overview" } }
        }
    };
    document(base, title, &header, &body)
}

/// An instant as a `<time>`: UTC to the second, with the exact value for machines.
pub(crate) fn instant(at: Timestamp) -> Markup {
    let at = at.to_datetime();
    html! {
        time datetime=(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)) {
            (at.format("%Y-%m-%d %H:%M:%S UTC"))
        }
    }
}

/// An instant as how long ago it was, the exact instant in its title and for machines.
pub(crate) fn when(now: Timestamp, at: Timestamp) -> Markup {
    let exact = at.to_datetime();
    html! {
        time datetime=(exact.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            title=(exact.format("%Y-%m-%d %H:%M:%S UTC")) {
            (ago(now, at))
        }
    }
}

/// A duration in the two largest units that matter: `3 d 4 h`, `12 min 5 s`.
pub(crate) fn age(duration: Duration) -> String {
    let seconds = duration.as_secs();
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds} s"),
        (0, 0, _) => format!("{minutes} min {} s", seconds % 60),
        (0, _, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

/// How long before `now` the instant `at` was.
pub(crate) fn ago(now: Timestamp, at: Timestamp) -> String {
    let micros = u64::try_from(now.as_micros().saturating_sub(at.as_micros())).unwrap_or(0);
    format!("{} ago", age(Duration::from_micros(micros)))
}

/// A count with thousands separated: `5,000`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// A status as a badge: its name in words, so the colour is never the only signal.
pub(crate) fn status(status: CommandDeadLetterStatus) -> Markup {
    let (class, label) = match status {
        CommandDeadLetterStatus::New => ("new", "New"),
        CommandDeadLetterStatus::Replaying => ("replaying", "Replaying"),
        CommandDeadLetterStatus::Resolved => ("resolved", "Resolved"),
        CommandDeadLetterStatus::Dismissed => ("dismissed", "Dismissed"),
    };
    html! { span class={ "badge " (class) } { (label) } }
}

/// A `<progress>` of `done` out of `total`, with the share in words beside it.
pub(crate) fn progress(done: u64, total: u64, label: &str) -> Markup {
    let percent = done.saturating_mul(100).checked_div(total).unwrap_or(100);
    html! {
        div.progress {
            progress value=(done) max=(total.max(1)) aria-label=(label) {}
            span.percent { (percent) "%" }
        }
    }
}

/// `text` cut to `max` characters, with an ellipsis when cut.
pub(crate) fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A hidden CSRF field for a form of `ui`'s session.
pub(crate) fn csrf(ui: &Ui) -> Markup {
    html! { input type="hidden" name="csrf" value=(ui.session.csrf); }
}

/// A notice after an action, from the `done` parameter of the page it led to.
pub(crate) fn notice(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.notice role="status" { (text) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_ages_and_clips_read_as_an_operator_expects() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(5000), "5,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(age(Duration::from_secs(42)), "42 s");
        assert_eq!(age(Duration::from_secs(125)), "2 min 5 s");
        assert_eq!(age(Duration::from_secs(3 * 3600 + 120)), "3 h 2 min");
        assert_eq!(age(Duration::from_secs(2 * 86_400 + 5 * 3600)), "2 d 5 h");
        assert_eq!(clip("héllo wörld", 5), "héllo…");
        assert_eq!(clip("short", 5), "short");
    }
}
