//! The commands that only read: `stats`, `groups`, `list`, `show`.

use pulse::{Cursor, DeadLetterEntry, DeadLetterId, DeadLetters, ListQuery, SortOrder};
use serde_json::json;

use crate::args::ListArgs;
use crate::failure::Failure;
use crate::output::{Output, entry_json, group_json, shorten, statistics_json};

pub(crate) async fn stats(dead_letters: &DeadLetters, out: &Output) -> Result<(), Failure> {
    let stats = dead_letters.statistics().await?;
    if out.json {
        out.document(&statistics_json(&stats));
        return Ok(());
    }
    let rows = [
        ("New", stats.new),
        ("Replaying", stats.replaying),
        ("Resolved", stats.resolved),
        ("Dismissed", stats.dismissed),
        ("Total", stats.total),
    ]
    .map(|(status, count)| vec![status.to_owned(), count.to_string()]);
    out.table(&["STATUS", "ENTRIES"], &rows);
    Ok(())
}

pub(crate) async fn groups(dead_letters: &DeadLetters, limit: u32, out: &Output) -> Result<(), Failure> {
    let groups = dead_letters.error_groups(limit).await?;
    if out.json {
        out.document(&json!({ "groups": groups.iter().map(group_json).collect::<Vec<_>>() }));
        return Ok(());
    }
    if groups.is_empty() {
        out.line("No unresolved entries.");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|group| {
            vec![
                group.fingerprint.to_string(),
                group.count.to_string(),
                shorten(&group.command_type, 30),
                shorten(&group.exception_type, 30),
                shorten(&group.sample_message, 60),
                group.last_seen.to_string(),
            ]
        })
        .collect();
    out.table(&["GROUP", "ENTRIES", "COMMAND", "EXCEPTION", "LATEST MESSAGE", "LAST SEEN"], &rows);
    Ok(())
}

pub(crate) async fn list(dead_letters: &DeadLetters, list: ListArgs, out: &Output) -> Result<(), Failure> {
    let order = if list.oldest_first { SortOrder::OldestFirst } else { SortOrder::NewestFirst };
    let cursor = list.cursor.as_deref().map(str::parse::<Cursor>).transpose()?;
    let query =
        ListQuery::default().filter(list.filter.filter()).order(order).limit(list.limit).cursor(cursor);
    let page = dead_letters.list(query).await?;
    let next = page.next_cursor.map(|cursor| cursor.to_string());
    if out.json {
        let entries: Vec<_> = page.entries.iter().map(entry_json).collect();
        out.document(&json!({ "entries": entries, "next_cursor": next }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = page
        .entries
        .iter()
        .map(|entry| {
            vec![
                entry.id.to_string(),
                out.status(entry.status),
                shorten(&entry.command_type, 30),
                shorten(&entry.exception_type, 30),
                shorten(&entry.exception_message, 50),
                entry.attempt_count.to_string(),
                entry.occurred_at.to_string(),
            ]
        })
        .collect();
    out.table(&["ID", "STATUS", "COMMAND", "EXCEPTION", "MESSAGE", "ATTEMPTS", "FAILED AT"], &rows);
    if let Some(next) = next {
        out.line(format!("More: --cursor {next}"));
    }
    Ok(())
}

pub(crate) async fn show(dead_letters: &DeadLetters, id: DeadLetterId, out: &Output) -> Result<(), Failure> {
    let entry = dead_letters.get_entry(id).await?.ok_or(pulse::Error::NotFound { id })?;
    if out.json {
        out.document(&entry_json(&entry));
    } else {
        print_entry(&entry, out);
    }
    Ok(())
}

/// Every field of `entry`, one per line, the payload pretty-printed when it is JSON.
pub(crate) fn print_entry(entry: &DeadLetterEntry, out: &Output) {
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_owned());
    let fields = [
        ("Id", entry.id.to_string()),
        ("Tenant", entry.tenant.to_string()),
        ("Status", out.status(entry.status)),
        ("Resolution", optional(entry.resolution.map(|r| r.as_str().to_owned()))),
        ("Note", optional(entry.note.clone())),
        ("Changed by", optional(entry.changed_by.as_ref().map(ToString::to_string))),
        ("Command", format!("{} (version {})", entry.command_type, entry.command_version)),
        ("Message id", optional(entry.message_id.clone())),
        ("Source", optional(entry.source.clone())),
        ("Exception", entry.exception_type.clone()),
        ("Message", entry.exception_message.clone()),
        ("Error group", entry.fingerprint.to_string()),
        ("Attempts", entry.attempt_count.to_string()),
        ("First failed", entry.first_failed_at.to_string()),
        ("Last failed", entry.occurred_at.to_string()),
        ("Resolved", optional(entry.resolved_at.map(|at| at.to_string()))),
        ("Replay due", optional(entry.replay_requested_at.map(|at| at.to_string()))),
        ("Request", optional(entry.replay_request.map(|id| id.to_string()))),
        ("Revision", entry.revision.to_string()),
    ];
    for (name, value) in fields {
        out.line(format!("{:<14}{value}", format!("{name}:")));
    }
    for (key, value) in &entry.metadata {
        out.line(format!("{:<14}{key} = {value}", "Metadata:"));
    }
    if let Some(details) = &entry.exception_details {
        out.line("Details:");
        out.line(details);
    }
    out.line("Payload:");
    out.line(pretty(&entry.payload));
    if let Some(original) = &entry.original_payload {
        out.line("Original payload:");
        out.line(pretty(original));
    }
}

/// `payload` indented when it is JSON, as it is otherwise.
fn pretty(payload: &str) -> String {
    serde_json::from_str::<serde_json::Value>(payload)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| payload.to_owned())
}
