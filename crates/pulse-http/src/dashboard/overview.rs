//! `ui`: the overview. What is failing, how much, since when, and what is being replayed.

use std::time::Duration;

use futures_util::future::try_join_all;
use maud::{Markup, html};
use pulse::{
    CommandDeadLetterStatus, DeadLetters, EntryFilter, ErrorGroup, HealthStatus, ReplayProgress, Result,
    TimeBuckets, Timestamp,
};

use super::chart::{self, HOUR_MICROS};
use super::layout::{self, Nav};
use super::{Ui, UiError, requests};

/// Hours in the failure chart: the last 7 days.
const CHART_HOURS: u32 = 7 * 24;

/// Error groups shown, largest first.
const TOP_GROUPS: u32 = 5;

/// Replay requests shown, newest first.
const LATEST_REQUESTS: u32 = 5;

/// The first hour of the chart ending with the current hour.
fn chart_start(now: Timestamp) -> Timestamp {
    let hour = now.as_micros().div_euclid(HOUR_MICROS) * HOUR_MICROS;
    Timestamp::from_micros(hour - i64::from(CHART_HOURS - 1) * HOUR_MICROS)
}

/// `GET ui`.
pub(crate) async fn page(ui: Ui) -> Result<Markup, UiError> {
    let dead_letters = &ui.dead_letters;
    let now = dead_letters.now();
    let start = chart_start(now);
    let hours = TimeBuckets::new(start, Duration::from_secs(3600), CHART_HOURS);
    let every_entry = EntryFilter::default();
    // Independent reads, run at once: the page takes as long as the slowest, not their sum.
    let health_check = ui.state.health_check();
    let (stats, health, hourly, (groups, trends), requests) = tokio::try_join!(
        dead_letters.statistics(),
        async { Ok(health_check.check(dead_letters).await) },
        dead_letters.histogram(&every_entry, &hours),
        largest_groups(dead_letters, start),
        latest_requests(dead_letters),
    )?;
    let unresolved = stats.new + stats.replaying;
    let base = &ui.base;
    let status_link = |status: &str| base.to(&format!("entries?status={status}"));
    let body = html! {
        h1 {
            "Overview "
            @if unresolved > 0 {
                span.unresolved title="Unresolved entries" { (layout::count(unresolved)) " unresolved" }
            }
        }
        dl.grid {
            div.stat.alert[unresolved > 0] {
                dt { "Unresolved" }
                dd { a href=(base.to("entries?status=new&status=replaying")) { (layout::count(unresolved)) } }
            }
            div.stat { dt { "New" } dd { a href=(status_link("new")) { (layout::count(stats.new)) } } }
            div.stat { dt { "Replaying" } dd { a href=(status_link("replaying")) { (layout::count(stats.replaying)) } } }
            div.stat { dt { "Resolved" } dd { a href=(status_link("resolved")) { (layout::count(stats.resolved)) } } }
            div.stat { dt { "Dismissed" } dd { a href=(status_link("dismissed")) { (layout::count(stats.dismissed)) } } }
            div.stat.health-card {
                dt { "Health" }
                dd { (health_status(health.status)) }
                dd.detail {
                    "Oldest unresolved: "
                    (health.oldest_unresolved_age.map_or_else(|| "none".to_owned(), |age| format!("{} ago", layout::age(age))))
                }
                dd.detail { "Longest wait for a worker: " (health.oldest_replay_wait.map_or_else(|| "none".to_owned(), layout::age)) }
                @for breach in &health.breaches { dd.detail.error { (breach) } }
                @if let Some(error) = &health.error { dd.detail.error { (error) } }
            }
        }
        section.card aria-labelledby="per-hour" {
            h2 #per-hour { "Failures per hour, last 7 days" }
            (chart::hourly(start, &hourly, "Entries by the hour of their latest failure, last 7 days"))
            p.muted { "Each entry counts once, in the hour of its latest failure (UTC)." }
        }
        div.two {
            section.card aria-labelledby="largest" {
                h2 #largest { "Largest error groups" }
                (groups_table(&ui, &groups, &trends))
                p { a href=(base.to("groups")) { "Every error group" } }
            }
            section.card aria-labelledby="replays" {
                h2 #replays { "Replay requests" }
                (requests::table(&ui, &requests, now))
                p { a href=(base.to("requests")) { "Every request" } }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Overview, "Overview", &body))
}

/// The largest error groups, each with its trend.
async fn largest_groups(
    dead_letters: &DeadLetters,
    start: Timestamp,
) -> Result<(Vec<ErrorGroup>, Vec<Vec<u64>>)> {
    let groups = dead_letters.error_groups(TOP_GROUPS).await?;
    let trends = try_join_all(groups.iter().map(|group| trend(dead_letters, group, start))).await?;
    Ok((groups, trends))
}

/// The latest replay requests, each with its progress.
async fn latest_requests(dead_letters: &DeadLetters) -> Result<Vec<ReplayProgress>> {
    let requests = dead_letters.replay_requests(None, LATEST_REQUESTS).await?;
    try_join_all(requests.iter().map(|request| dead_letters.replay_progress(request.id))).await
}

/// A group's unresolved entries per day over the chart's 7 days.
async fn trend(dead_letters: &DeadLetters, group: &ErrorGroup, start: Timestamp) -> Result<Vec<u64>> {
    let filter = EntryFilter::default()
        .fingerprint(group.fingerprint.clone())
        .statuses([CommandDeadLetterStatus::New, CommandDeadLetterStatus::Replaying]);
    dead_letters.histogram(&filter, &TimeBuckets::new(start, Duration::from_secs(24 * 3600), 7)).await
}

/// A health status in words, with its class for colour.
fn health_status(status: HealthStatus) -> Markup {
    let (class, label) = match status {
        HealthStatus::Healthy => ("healthy", "healthy"),
        HealthStatus::Degraded => ("degraded", "degraded"),
        HealthStatus::Unavailable => ("unhealthy", "store unavailable"),
    };
    html! { span class={ "health " (class) } { (label) } }
}

/// Error groups as a table: what failed, how often, when, with each group's trend.
pub(crate) fn groups_table(ui: &Ui, groups: &[ErrorGroup], trends: &[Vec<u64>]) -> Markup {
    let now = ui.dead_letters.now();
    html! {
        @if groups.is_empty() {
            p.muted { "Nothing unresolved." }
        } @else {
            table {
                thead { tr {
                    th scope="col" { "Error" }
                    th scope="col" { "Command" }
                    th.num scope="col" { "Unresolved" }
                    @if !trends.is_empty() { th scope="col" { "Last 7 days" } }
                    th scope="col" { "Last seen" }
                } }
                tbody {
                    @for (i, group) in groups.iter().enumerate() {
                        tr {
                            td {
                                a href=(ui.base.to(&format!("groups/{}", group.fingerprint))) { (group.exception_type) }
                                span.message { (layout::clip(&group.sample_message, 120)) }
                            }
                            td { code { (group.command_type) } }
                            td.num { (layout::count(group.count)) }
                            @if let Some(trend) = trends.get(i) {
                                td { (chart::sparkline(trend, "Unresolved entries per day, oldest first")) }
                            }
                            td { (layout::when(now, group.last_seen)) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_ends_with_the_current_hour() {
        let now = Timestamp::from_micros(1_780_000_000_123_456);
        let start = chart_start(now);
        assert_eq!(start.as_micros() % HOUR_MICROS, 0);
        let end = start.as_micros() + i64::from(CHART_HOURS) * HOUR_MICROS;
        assert!(start.as_micros() < now.as_micros() && now.as_micros() < end);
        assert!(end - now.as_micros() <= HOUR_MICROS);
    }
}
