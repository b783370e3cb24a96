//! What the command line prints: aligned tables for people, one JSON document for scripts.
//!
//! Colour only on a terminal, and never when `NO_COLOR` is set. Long text in tables is
//! shortened, with `…` marking the cut. JSON instants are RFC 3339 in UTC with microseconds;
//! statuses and resolutions are `snake_case`; absent values are `null`.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use pulse::{
    CommandDeadLetterStatus, DeadLetterEntry, ErrorGroup, ReplayProgress, ReplayRequest, Statistics,
    Timestamp,
};
use serde_json::{Value, json};

/// How to print.
pub(crate) struct Output {
    pub(crate) json: bool,
    color: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Self { json, color: !json && !no_color && std::io::stdout().is_terminal() }
    }

    /// Prints `document` as the call's one JSON document.
    pub(crate) fn document(&self, document: &Value) {
        println!("{}", serde_json::to_string_pretty(document).expect("JSON values always serialize"));
    }

    /// Prints a line for people.
    pub(crate) fn line(&self, text: impl AsRef<str>) {
        println!("{}", text.as_ref());
    }

    /// Prints rows under a header, each column as wide as its widest cell.
    pub(crate) fn table(&self, header: &[&str], rows: &[Vec<String>]) {
        let mut widths: Vec<usize> = header.iter().map(|cell| cell.chars().count()).collect();
        for row in rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(visible_width(cell));
            }
        }
        let header: Vec<String> = header.iter().map(|cell| self.paint(cell, "1")).collect();
        for row in std::iter::once(&header).chain(rows) {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell}{}", " ".repeat(width - visible_width(cell))))
                .collect();
            println!("{}", cells.join("  ").trim_end());
        }
    }

    /// `status`, coloured on a terminal.
    pub(crate) fn status(&self, status: CommandDeadLetterStatus) -> String {
        let code = match status {
            CommandDeadLetterStatus::New => "33",
            CommandDeadLetterStatus::Replaying => "36",
            CommandDeadLetterStatus::Resolved => "32",
            CommandDeadLetterStatus::Dismissed => "2",
        };
        self.paint(&status.to_string(), code)
    }

    fn paint(&self, text: &str, code: &str) -> String {
        if self.color { format!("\u{1b}[{code}m{text}\u{1b}[0m") } else { text.to_owned() }
    }
}

/// The width of `cell` on screen: its characters, without colour codes.
fn visible_width(cell: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in cell.chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (true, 'm') => in_escape = false,
            (false, _) => width += 1,
            (true, _) => {}
        }
    }
    width
}

/// `text` on one line, cut to `max` characters with `…` marking the cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    let one_line: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= max {
        return one_line;
    }
    let kept: String = one_line.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

fn instant(at: Timestamp) -> Value {
    Value::String(at.to_string())
}

fn optional_instant(at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, instant)
}

fn status_name(status: CommandDeadLetterStatus) -> &'static str {
    match status {
        CommandDeadLetterStatus::New => "new",
        CommandDeadLetterStatus::Replaying => "replaying",
        CommandDeadLetterStatus::Resolved => "resolved",
        CommandDeadLetterStatus::Dismissed => "dismissed",
    }
}

/// An entry, every field.
pub(crate) fn entry_json(entry: &DeadLetterEntry) -> Value {
    json!({
        "id": entry.id.to_string(),
        "tenant": entry.tenant.as_str(),
        "message_id": entry.message_id,
        "command_type": entry.command_type,
        "command_version": entry.command_version,
        "status": status_name(entry.status),
        "resolution": entry.resolution.map(pulse::Resolution::as_str),
        "note": entry.note,
        "changed_by": entry.changed_by.as_ref().map(pulse::Actor::as_str),
        "exception_type": entry.exception_type,
        "exception_message": entry.exception_message,
        "exception_details": entry.exception_details,
        "fingerprint": entry.fingerprint.as_str(),
        "source": entry.source,
        "metadata": entry.metadata,
        "attempt_count": entry.attempt_count,
        "first_failed_at": instant(entry.first_failed_at),
        "occurred_at": instant(entry.occurred_at),
        "resolved_at": optional_instant(entry.resolved_at),
        "replay_requested_at": optional_instant(entry.replay_requested_at),
        "replay_request": entry.replay_request.map(|id| id.to_string()),
        "payload": entry.payload,
        "original_payload": entry.original_payload,
        "created_at": instant(entry.created_at),
        "updated_at": instant(entry.updated_at),
        "revision": entry.revision,
    })
}

/// Counts per status.
pub(crate) fn statistics_json(statistics: &Statistics) -> Value {
    json!({
        "new": statistics.new,
        "replaying": statistics.replaying,
        "resolved": statistics.resolved,
        "dismissed": statistics.dismissed,
        "total": statistics.total,
    })
}

/// An error group.
pub(crate) fn group_json(group: &ErrorGroup) -> Value {
    json!({
        "fingerprint": group.fingerprint.as_str(),
        "command_type": group.command_type,
        "exception_type": group.exception_type,
        "sample_message": group.sample_message,
        "count": group.count,
        "first_seen": instant(group.first_seen),
        "last_seen": instant(group.last_seen),
    })
}

/// A replay request.
pub(crate) fn request_json(request: &ReplayRequest) -> Value {
    json!({
        "id": request.id.to_string(),
        "tenant": request.tenant.as_ref().map(pulse::TenantId::as_str),
        "selection": request.selection,
        "requested_by": request.requested_by.as_ref().map(pulse::Actor::as_str),
        "requested_at": instant(request.requested_at),
        "note": request.note,
        "per_second": request.per_second.map(std::num::NonZeroU32::get),
        "requested": request.requested,
        "cancelled_at": optional_instant(request.cancelled_at),
        "cancelled_by": request.cancelled_by.as_ref().map(pulse::Actor::as_str),
        "cancelled": request.cancelled,
    })
}

/// A request and how far it has come.
pub(crate) fn progress_json(progress: &ReplayProgress) -> Value {
    json!({
        "request": request_json(&progress.request),
        "remaining": progress.remaining,
        "claimed": progress.claimed,
        "replayed": progress.replayed,
        "failed": progress.failed,
        "cancelled": progress.cancelled,
        "other": progress.other,
        "done": progress.is_done(),
    })
}

/// A dry run's counts: how many entries, by command type and by tenant.
pub(crate) fn breakdown_json(
    entries: usize,
    by_command_type: &BTreeMap<String, u64>,
    by_tenant: &BTreeMap<String, u64>,
) -> Value {
    json!({ "dry_run": true, "entries": entries, "by_command_type": by_command_type, "by_tenant": by_tenant })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_marks_the_cut_and_keeps_one_line() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("a\nb", 10), "a b");
        assert_eq!(shorten("abcdefghij", 5), "abcd…");
        assert_eq!(shorten("ééééé", 5), "ééééé");
    }

    #[test]
    fn colour_codes_take_no_width() {
        assert_eq!(visible_width("\u{1b}[33mNew\u{1b}[0m"), 3);
    }
}
