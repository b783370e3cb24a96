//! `ui/groups`: unresolved entries grouped by how they failed.

use std::collections::BTreeMap;

use axum::extract::{Path, Query};
use maud::{Markup, html};
use pulse::{CommandDeadLetterStatus, EntryFilter, Fingerprint, ListQuery, SortOrder};
use serde::Deserialize;

use super::entries;
use super::layout::{self, Nav};
use super::overview::groups_table;
use super::{Ui, UiError};
use crate::problem::ApiError;

/// The most groups read for the list page, largest first.
const MOST_GROUPS: u32 = 1000;

/// The entries a group's page breaks down by tenant: the newest this many.
const BREAKDOWN: u32 = 200;

/// How the list is sorted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Sort {
    /// Most unresolved entries first.
    #[default]
    Size,
    /// The group whose first failure is oldest first.
    FirstSeen,
    /// The group that failed most recently first.
    LastSeen,
}

/// The list's query string.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct GroupsQuery {
    #[serde(default)]
    sort: Sort,
}

/// `GET ui/groups`.
pub(crate) async fn list(ui: Ui, Query(query): Query<GroupsQuery>) -> Result<Markup, UiError> {
    let mut groups = ui.dead_letters.error_groups(MOST_GROUPS).await?;
    match query.sort {
        Sort::Size => {}
        Sort::FirstSeen => groups.sort_by_key(|group| group.first_seen),
        Sort::LastSeen => groups.sort_by_key(|group| std::cmp::Reverse(group.last_seen)),
    }
    let sort_link = |sort: Sort, param: &str, label: &str| {
        html! {
            a href=(ui.base.to(&format!("groups?sort={param}"))) aria-current=[(query.sort == sort).then_some("true")] {
                (label)
            }
        }
    };
    let body = html! {
        h1 { "Error groups" }
        section.card {
            p {
                "Unresolved entries that failed the same way: the same command, error type and message "
                "once ids and numbers are masked. Sort by: "
                (sort_link(Sort::Size, "size", "size")) ", "
                (sort_link(Sort::FirstSeen, "first_seen", "first seen")) ", "
                (sort_link(Sort::LastSeen, "last_seen", "last seen")) "."
            }
            (groups_table(&ui, &groups, &[]))
            @if groups.len() == MOST_GROUPS as usize {
                p.muted { "The " (MOST_GROUPS) " largest groups are shown." }
            }
        }
    };
    Ok(layout::page(&ui, Nav::Groups, "Error groups", &body))
}

/// `GET ui/groups/{fingerprint}`.
pub(crate) async fn show(ui: Ui, Path(fingerprint): Path<String>) -> Result<Markup, UiError> {
    let dead_letters = &ui.dead_letters;
    let fingerprint = Fingerprint::from_stored(fingerprint);
    let group = dead_letters
        .error_groups(MOST_GROUPS)
        .await?
        .into_iter()
        .find(|group| group.fingerprint == fingerprint)
        .ok_or_else(|| ApiError::NotFound(format!("no unresolved error group {fingerprint} in your view")))?;
    let unresolved = EntryFilter::default()
        .fingerprint(fingerprint.clone())
        .statuses([CommandDeadLetterStatus::New, CommandDeadLetterStatus::Replaying]);
    let newest = dead_letters
        .list(ListQuery::default().filter(unresolved.clone()).order(SortOrder::NewestFirst).limit(BREAKDOWN))
        .await?;
    let mut tenants: BTreeMap<&str, u64> = BTreeMap::new();
    for entry in &newest.entries {
        *tenants.entry(entry.tenant.as_str()).or_default() += 1;
    }
    let counts = dead_letters.count(&unresolved).await?;
    let query = format!("fingerprint={fingerprint}&status=new&status=replaying");
    let body = html! {
        h1 { (group.exception_type) }
        section.card {
            dl.facts {
                dt { "Sample message" } dd { (group.sample_message) }
                dt { "Command type" } dd { code { (group.command_type) } }
                dt { "Unresolved" } dd { (layout::count(counts.new)) " new, " (layout::count(counts.replaying)) " replaying" }
                dt { "First seen" } dd { (layout::instant(group.first_seen)) }
                dt { "Last seen" } dd { (layout::instant(group.last_seen)) }
                dt { "Tenants" } dd {
                    @for (i, (tenant, n)) in tenants.iter().enumerate() {
                        @if i > 0 { ", " }
                        (tenant) " (" (layout::count(*n)) ")"
                    }
                    @if newest.next_cursor.is_some() { span.muted { " among the newest " (BREAKDOWN) } }
                }
                dt { "Fingerprint" } dd { code { (fingerprint) } }
            }
            @if ui.may_operate() {
                (entries::bulk_links(&ui, &query))
            }
        }
        section.card aria-labelledby="group-entries" {
            h2 #group-entries { "Newest entries" }
            (entries::table(&ui, &newest.entries[..newest.entries.len().min(50)]))
            p { a href=(ui.base.to(&format!("entries?{query}"))) { "Every entry of the group, with filters" } }
        }
    };
    Ok(layout::page(&ui, Nav::Groups, &group.exception_type, &body))
}
