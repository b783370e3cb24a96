//! Input validation and truncation, done once for every backend.

use crate::entry::{DeadLetterEntry, DeadLetterId, Failure, NewDeadLetter};
use crate::error::{Error, Result};
use crate::fingerprint::fingerprint;
use crate::query::{EntryFilter, MAX_BUCKETS, TimeBuckets};
use crate::schema::{
    MAX_COMMAND_TYPE_LEN, MAX_EXCEPTION_DETAILS_LEN, MAX_EXCEPTION_MESSAGE_LEN, MAX_EXCEPTION_TYPE_LEN,
    MAX_KEY_LEN, MAX_NOTE_LEN,
};
use crate::status::CommandDeadLetterStatus;
use crate::time::Timestamp;

/// `text` cut to at most `max` characters, on a character boundary.
pub fn truncate_chars(text: &str, max: usize) -> &str {
    // No more bytes than `max` means no more characters: nothing to walk.
    if text.len() <= max {
        return text;
    }
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// A failure as it is stored: NUL characters (which PostgreSQL text cannot hold) replaced by
/// U+FFFD, then each field truncated to its limit. Nothing is rejected: a failure is never lost
/// for the shape of its message.
pub fn normalize_failure(failure: Failure) -> Failure {
    Failure {
        exception_type: clean(failure.exception_type, MAX_EXCEPTION_TYPE_LEN),
        exception_message: clean(failure.exception_message, MAX_EXCEPTION_MESSAGE_LEN),
        exception_details: failure.exception_details.map(|details| clean(details, MAX_EXCEPTION_DETAILS_LEN)),
    }
}

/// `text` with NUL replaced and cut to `max` characters, in place unless there is a NUL.
fn clean(mut text: String, max: usize) -> String {
    let kept = truncate_chars(&text, max).len();
    text.truncate(kept);
    if text.contains('\0') { text.replace('\0', "\u{FFFD}") } else { text }
}

/// Checks a payload: non-empty, no NUL, at most `max_bytes`.
pub fn check_payload(payload: &str, max_bytes: usize) -> Result<()> {
    if payload.is_empty() {
        return Err(Error::invalid_input("payload", "must not be empty"));
    }
    if payload.len() > max_bytes {
        return Err(Error::invalid_input(
            "payload",
            format!("is {} bytes, more than the {max_bytes} allowed", payload.len()),
        ));
    }
    if payload.contains('\0') {
        return Err(Error::invalid_input("payload", "must not contain NUL characters"));
    }
    Ok(())
}

/// Checks a short key-like text: non-empty, at most 500 characters, no NUL.
fn check_key(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    if value.chars().count() > MAX_KEY_LEN {
        return Err(Error::invalid_input(field, "must have at most 500 characters"));
    }
    if value.contains('\0') {
        return Err(Error::invalid_input(field, "must not contain NUL characters"));
    }
    Ok(())
}

/// Checks `input` and builds the entry it stores at `now`.
///
/// # Errors
///
/// [`Error::InvalidInput`] naming the first field that is rejected.
pub fn new_entry(input: NewDeadLetter, now: Timestamp, max_payload_bytes: usize) -> Result<DeadLetterEntry> {
    if input.command_type.is_empty() {
        return Err(Error::invalid_input("command_type", "must not be empty"));
    }
    if input.command_type.trim().is_empty() {
        return Err(Error::invalid_input("command_type", "must not be only whitespace"));
    }
    if input.command_type.chars().count() > MAX_COMMAND_TYPE_LEN {
        return Err(Error::invalid_input("command_type", "must have at most 500 characters"));
    }
    if input.command_type.contains('\0') {
        return Err(Error::invalid_input("command_type", "must not contain NUL characters"));
    }
    if input.command_version == 0 {
        return Err(Error::invalid_input("command_version", "must be at least 1"));
    }
    check_payload(&input.payload, max_payload_bytes)?;
    if let Some(message_id) = &input.message_id {
        check_key("message_id", message_id)?;
    }
    if let Some(source) = &input.source {
        check_key("source", source)?;
    }
    for (key, value) in &input.metadata {
        check_key("metadata", key)?;
        if value.contains('\0') {
            return Err(Error::invalid_input("metadata", "values must not contain NUL characters"));
        }
    }
    if input.attempt_count == 0 {
        return Err(Error::invalid_input("attempt_count", "must be at least 1"));
    }
    let first_failed_at = input.first_failed_at.unwrap_or(now);
    check_instant("first_failed_at", first_failed_at)?;
    if first_failed_at > now {
        return Err(Error::invalid_input("first_failed_at", "must not be in the future"));
    }
    let failure = normalize_failure(input.failure);
    Ok(DeadLetterEntry {
        id: DeadLetterId::new_at(now),
        tenant: input.tenant,
        message_id: input.message_id,
        fingerprint: fingerprint(&input.command_type, &failure.exception_type, &failure.exception_message),
        command_type: input.command_type,
        command_version: input.command_version,
        payload: input.payload,
        original_payload: None,
        exception_type: failure.exception_type,
        exception_message: failure.exception_message,
        exception_details: failure.exception_details,
        source: input.source,
        metadata: input.metadata,
        attempt_count: input.attempt_count,
        first_failed_at,
        occurred_at: now,
        status: CommandDeadLetterStatus::New,
        resolution: None,
        note: None,
        resolved_at: None,
        lease: None,
        replay_requested_at: None,
        replay_request: None,
        changed_by: None,
        created_at: now,
        updated_at: now,
        revision: 1,
    })
}

/// Checks an operator's note: at most [`MAX_NOTE_LEN`] characters, no NUL.
pub fn check_note(note: Option<&str>) -> Result<()> {
    let Some(note) = note else { return Ok(()) };
    if note.chars().count() > MAX_NOTE_LEN {
        return Err(Error::invalid_input("note", "must have at most 4000 characters"));
    }
    if note.contains('\0') {
        return Err(Error::invalid_input("note", "must not contain NUL characters"));
    }
    Ok(())
}

/// Checks that `instant` lies in the range every backend stores, [`Timestamp::MIN`] to
/// [`Timestamp::MAX`].
pub fn check_instant(field: &'static str, instant: Timestamp) -> Result<()> {
    if instant.is_supported() {
        Ok(())
    } else {
        Err(Error::invalid_input(
            field,
            format!("must lie between {} and {}, was {instant}", Timestamp::MIN, Timestamp::MAX),
        ))
    }
}

/// Checks a filter: texts without NUL, instants in range.
pub fn check_filter(filter: &EntryFilter) -> Result<()> {
    let texts = [
        ("command_type", filter.command_type.as_deref()),
        ("exception_type", filter.exception_type.as_deref()),
        ("fingerprint", filter.fingerprint.as_ref().map(crate::entry::Fingerprint::as_str)),
    ];
    for (field, text) in texts {
        if text.is_some_and(|text| text.contains('\0')) {
            return Err(Error::invalid_input(field, "must not contain NUL characters"));
        }
    }
    if filter.ids.len() > 1000 {
        return Err(Error::invalid_input(
            "ids",
            format!("must name at most 1000 entries, named {}", filter.ids.len()),
        ));
    }
    let instants = [
        ("occurred_from", filter.occurred_from),
        ("occurred_before", filter.occurred_before),
        ("resolved_before", filter.resolved_before),
    ];
    for (field, instant) in instants {
        if let Some(instant) = instant {
            check_instant(field, instant)?;
        }
    }
    Ok(())
}

/// Checks histogram buckets: `start` in the supported range, `width` at least 1 µs and a whole
/// number of microseconds, `count` from 1 to [`MAX_BUCKETS`], and the last instant of the last
/// bucket (`start + count × width − 1 µs`) no later than [`Timestamp::MAX`].
///
/// # Errors
///
/// [`Error::InvalidInput`] naming `start`, `width` or `count`: `width` when one bucket already
/// reaches past [`Timestamp::MAX`], `count` when the last one does.
pub fn check_buckets(buckets: &TimeBuckets) -> Result<()> {
    check_instant("start", buckets.start)?;
    let width = buckets.width;
    if width.is_zero() {
        return Err(Error::invalid_input("width", "must be at least 1 µs"));
    }
    if !width.subsec_nanos().is_multiple_of(1000) {
        return Err(Error::invalid_input(
            "width",
            format!("must be a whole number of microseconds, was {width:?}"),
        ));
    }
    let count = buckets.count;
    if !(1..=MAX_BUCKETS).contains(&count) {
        return Err(Error::invalid_input(
            "count",
            format!("must be between 1 and {MAX_BUCKETS}, was {count}"),
        ));
    }
    // In i128, where no width and count overflow.
    let start = i128::from(buckets.start.as_micros());
    let micros = i128::try_from(width.as_micros()).unwrap_or(i128::MAX);
    let max = i128::from(Timestamp::MAX.as_micros());
    let after_max = |n: u32| start.saturating_add(micros.saturating_mul(i128::from(n))) - 1 > max;
    if after_max(1) {
        return Err(Error::invalid_input(
            "width",
            format!("one bucket of {width:?} from {} reaches past {}", buckets.start, Timestamp::MAX),
        ));
    }
    if after_max(count) {
        return Err(Error::invalid_input(
            "count",
            format!("{count} buckets of {width:?} from {} reach past {}", buckets.start, Timestamp::MAX),
        ));
    }
    Ok(())
}

/// Checks a page size: 1 to 1000.
pub fn check_limit(field: &'static str, limit: u32) -> Result<()> {
    if (1..=1000).contains(&limit) {
        Ok(())
    } else {
        Err(Error::invalid_input(field, format!("must be between 1 and 1000, was {limit}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("", 0), "");
        let long = "é".repeat(600);
        assert_eq!(truncate_chars(&long, 500).chars().count(), 500);
    }

    #[test]
    fn failures_are_cleaned_and_truncated() {
        let failure = Failure::new("E".repeat(501), "bad\0byte").with_details("d\0");
        assert_eq!(
            normalize_failure(failure),
            Failure {
                exception_type: "E".repeat(500),
                exception_message: "bad\u{FFFD}byte".to_owned(),
                exception_details: Some("d\u{FFFD}".to_owned()),
            }
        );
    }
}
