//! Storing: every field kept exactly, bad input rejected with nothing written.

use std::time::Duration;

use pulse_extensibility::{
    DEFAULT_MAX_PAYLOAD_BYTES, Error, Failure, NewDeadLetter, Statistics, StoreReceipt, Timestamp,
    fingerprint::fingerprint,
};

use super::{command, expected_entry, metadata, store, tenant, timeout};
use crate::Harness;

/// Asserts that storing `input` is rejected as invalid `field` and writes nothing.
async fn assert_rejected(h: &Harness, input: NewDeadLetter, field: &str) {
    match h.store.store(input).await {
        Err(Error::InvalidInput { field: rejected, .. }) => {
            assert_eq!(
                rejected, field,
                "invalid input is rejected as InvalidInput naming the field at fault"
            );
        }
        other => {
            panic!("invalid input is rejected as InvalidInput naming the field ({field}); got {other:?}")
        }
    }
    assert_eq!(h.store.statistics().await.unwrap(), Statistics::default(), "invalid input writes nothing");
}

/// Every field given is stored and read back exactly, with the defaults the contract sets.
pub async fn stored_entry_has_every_field_as_given(h: Harness) {
    let input = NewDeadLetter::new(
        "orders.create",
        r#"{"order_id":42,"lines":[1,2]}"#,
        Failure::new("TimeoutError", "order 42 timed out").with_details("caused by: connection reset"),
    )
    .tenant(tenant("acme"))
    .message_id("msg-1")
    .command_version(3)
    .source("orders-worker")
    .metadata("correlation_id", "c-1")
    .metadata("trace_id", "t-9");
    let now = h.clock.now();
    let receipt = h.store.store(input.clone()).await.unwrap();
    let entry = h.store.get_entry(receipt.id).await.unwrap().unwrap();
    assert_eq!(
        entry,
        expected_entry(&input, receipt, now),
        "a stored entry reads back with every field as given: New, failed now, at revision 1"
    );
    assert_eq!(
        entry.metadata,
        metadata(&[("correlation_id", "c-1"), ("trace_id", "t-9")]),
        "metadata is stored key for key and value for value"
    );
}

/// A minimal store: one attempt, first failure and latest failure now, status New.
pub async fn store_defaults_to_one_attempt_and_now(h: Harness) {
    let input = command("orders.create");
    let now = h.clock.now();
    let receipt = h.store.store(input.clone()).await.unwrap();
    assert!(!receipt.duplicate, "an entry without a message id is never a duplicate");
    let entry = h.store.get_entry(receipt.id).await.unwrap().unwrap();
    let rule = "a new entry is New, with attempt count 1 and first failure = latest failure = now";
    assert_eq!(entry, expected_entry(&input, receipt, now), "{rule}");
    assert_eq!((entry.attempt_count, entry.first_failed_at, entry.occurred_at), (1, now, now), "{rule}");
}

/// A given attempt count and first failure time are kept.
pub async fn store_keeps_attempt_count_and_first_failure(h: Harness) {
    let first = h.clock.now();
    h.clock.advance(Duration::from_secs(90));
    let input = command("orders.create").attempt_count(5).first_failed_at(first);
    let entry = store(&h.store, input).await;
    assert_eq!(
        (entry.attempt_count, entry.first_failed_at, entry.occurred_at),
        (5, first, h.clock.now()),
        "a given attempt count and first failure are kept; the latest failure is now"
    );
}

/// An empty command type is rejected.
pub async fn store_rejects_empty_command_type(h: Harness) {
    assert_rejected(&h, command(""), "command_type").await;
}

/// A command type of only whitespace is rejected: it is always a caller's bug.
pub async fn store_rejects_whitespace_only_command_type(h: Harness) {
    for blank in [" ", "\t\n", "\u{3000}"] {
        assert_rejected(&h, command(blank), "command_type").await;
    }
    let entry = store(&h.store, command(" orders.create ")).await;
    assert_eq!(
        entry.command_type, " orders.create ",
        "a command type with surrounding whitespace is valid and kept untrimmed"
    );
}

/// A command type of 500 characters is accepted, 501 is rejected.
pub async fn store_limits_command_type_to_500_characters(h: Harness) {
    assert_rejected(&h, command(&"é".repeat(501)), "command_type").await;
    let entry = store(&h.store, command(&"é".repeat(500))).await;
    assert_eq!(
        entry.command_type.chars().count(),
        500,
        "a command type of 500 characters is accepted and kept whole"
    );
}

/// An empty payload is rejected.
pub async fn store_rejects_empty_payload(h: Harness) {
    assert_rejected(&h, NewDeadLetter::new("orders.create", "", timeout(1)), "payload").await;
}

/// A payload of exactly the configured maximum is accepted; one byte more is rejected.
pub async fn store_limits_payload_size(h: Harness) {
    let max = 64 * 1024;
    assert!(max < DEFAULT_MAX_PAYLOAD_BYTES, "the harness configures a smaller maximum");
    assert_rejected(&h, NewDeadLetter::new("orders.create", "x".repeat(max + 1), timeout(1)), "payload")
        .await;
    let entry = store(&h.store, NewDeadLetter::new("orders.create", "x".repeat(max), timeout(1))).await;
    assert_eq!(
        entry.payload.len(),
        max,
        "a payload of exactly the configured maximum is accepted and kept whole"
    );
}

/// A payload with a NUL character is rejected.
pub async fn store_rejects_nul_in_payload(h: Harness) {
    assert_rejected(&h, NewDeadLetter::new("orders.create", "a\0b", timeout(1)), "payload").await;
}

/// An attempt count of zero is rejected.
pub async fn store_rejects_zero_attempt_count(h: Harness) {
    assert_rejected(&h, command("orders.create").attempt_count(0), "attempt_count").await;
}

/// An empty metadata key is rejected.
pub async fn store_rejects_empty_metadata_key(h: Harness) {
    assert_rejected(&h, command("orders.create").metadata("", "x"), "metadata").await;
}

/// A first failure after now is rejected.
pub async fn store_rejects_first_failure_in_the_future(h: Harness) {
    let future = h.clock.now().saturating_add(Duration::from_micros(1));
    assert_rejected(&h, command("orders.create").first_failed_at(future), "first_failed_at").await;
}

/// An exception type over 500 characters is truncated to 500, on a character boundary.
pub async fn store_truncates_exception_type_on_a_character_boundary(h: Harness) {
    let long_type = format!("{}{}", "a".repeat(499), "€€€");
    let input = NewDeadLetter::new("orders.create", "{}", Failure::new(long_type, "boom"));
    let entry = store(&h.store, input).await;
    let kept = format!("{}€", "a".repeat(499));
    assert_eq!(
        entry.exception_type, kept,
        "an exception type over 500 characters is truncated to 500, on a character boundary"
    );
    assert_eq!(
        entry.fingerprint,
        fingerprint("orders.create", &kept, "boom"),
        "the fingerprint is of the kept (truncated) exception type"
    );
}

/// NUL characters in exception text, which some databases cannot hold, become U+FFFD.
pub async fn store_replaces_nul_in_exception_text(h: Harness) {
    let input = NewDeadLetter::new(
        "orders.create",
        "{}",
        Failure::new("Io\0Error", "read\0failed").with_details("d\0"),
    );
    let entry = store(&h.store, input).await;
    assert_eq!(
        (entry.exception_type.as_str(), entry.exception_message.as_str(), entry.exception_details.as_deref()),
        ("Io\u{FFFD}Error", "read\u{FFFD}failed", Some("d\u{FFFD}")),
        "NUL in exception type, message and details becomes U+FFFD"
    );
}

/// Multilingual text, emoji, quotes and a large payload come back byte for byte.
pub async fn store_keeps_unicode_and_large_payloads_exactly(h: Harness) {
    let payload = format!(r#"{{"name":"Zoë 🚀 'quoted' \"double\" 東京","blob":"{}"}}"#, "ab".repeat(30_000));
    let input = NewDeadLetter::new("orders.create", payload.clone(), Failure::new("Ошибка", "сбой 🚨"))
        .metadata("ключ", "значение ✓");
    let entry = store(&h.store, input).await;
    assert_eq!(entry.payload, payload, "a payload is kept byte for byte, whatever its characters and size");
    assert_eq!(
        (entry.exception_type.as_str(), entry.exception_message.as_str()),
        ("Ошибка", "сбой 🚨"),
        "exception text is kept byte for byte"
    );
    assert_eq!(
        entry.metadata,
        super::metadata(&[("ключ", "значение ✓")]),
        "metadata keys and values are kept byte for byte"
    );
}

/// Timestamps keep every microsecond, before and after the epoch's millisecond boundaries.
pub async fn store_keeps_microsecond_timestamps(h: Harness) {
    let odd = Timestamp::from_micros(1_767_225_600_123_457);
    h.clock.set(odd);
    let first = Timestamp::from_micros(1_767_225_599_999_999);
    let entry = store(&h.store, command("orders.create").first_failed_at(first)).await;
    assert_eq!(
        (entry.first_failed_at, entry.occurred_at, entry.created_at),
        (first, odd, odd),
        "instants are stored to the microsecond"
    );
}

/// Ids are UUID v7, and entries stored later have greater ids.
pub async fn ids_are_time_ordered_uuid_v7(h: Harness) {
    let mut ids = Vec::new();
    for _ in 0..20 {
        ids.push(h.store.store(command("orders.create")).await.unwrap().id);
    }
    assert!(ids.iter().all(|id| id.as_uuid().get_version_num() == 7), "entry ids are UUID v7");
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "entry ids are time-ordered: an entry stored later has a greater id");
}

/// `store_many` returns one receipt per input, in input order.
pub async fn store_many_returns_receipts_in_order(h: Harness) {
    let inputs: Vec<_> = (0..5).map(|i| command(&format!("command.{i}"))).collect();
    let receipts = h.store.store_many(inputs.clone()).await.unwrap();
    assert_eq!(receipts.len(), 5, "store_many returns one receipt per input");
    for (input, receipt) in inputs.iter().zip(&receipts) {
        let entry = h.store.get_entry(receipt.id).await.unwrap().unwrap();
        assert_eq!(
            (entry.command_type.as_str(), receipt.duplicate),
            (input.command_type.as_str(), false),
            "store_many's receipts are in input order, each naming the new entry stored from its input"
        );
    }
    assert_eq!(
        h.store.statistics().await.unwrap().total,
        5,
        "store_many writes every new entry of the batch"
    );
}

/// One invalid entry rejects the whole batch: nothing is written.
pub async fn store_many_is_all_or_nothing(h: Harness) {
    let inputs = vec![command("a"), command("b"), command("c").attempt_count(0), command("d")];
    assert!(
        matches!(h.store.store_many(inputs).await, Err(Error::InvalidInput { field: "attempt_count", .. })),
        "one invalid entry rejects the whole batch as InvalidInput naming its field"
    );
    assert_eq!(
        h.store.statistics().await.unwrap(),
        Statistics::default(),
        "a batch rejected for one invalid entry writes none of its entries"
    );
}

/// An empty batch writes nothing and returns no receipts.
pub async fn store_many_of_nothing_writes_nothing(h: Harness) {
    assert_eq!(
        h.store.store_many(Vec::new()).await.unwrap(),
        Vec::new(),
        "an empty batch returns no receipts"
    );
    assert_eq!(h.store.statistics().await.unwrap(), Statistics::default(), "an empty batch writes nothing");
}

/// Text that a database, a driver or a careless trim would change comes back byte for byte:
/// leading and trailing whitespace, CR/LF and lone CR, tabs, and a word in its NFC and NFD
/// forms, in the payload, the error, the source, metadata keys and values, message ids and a
/// note. Message ids that differ only so are different keys.
pub async fn store_keeps_whitespace_line_breaks_and_unicode_forms_exactly(h: Harness) {
    let nfc = "caf\u{e9}";
    let nfd = "cafe\u{301}";
    let awkward = format!(" \t{nfc}\r\n{nfd}\r \n\t ");
    let input = NewDeadLetter::new(
        "orders.create",
        format!("  {{\"name\":\"{nfd}\"}}\r\n"),
        Failure::new(format!(" {nfd}Error "), awkward.clone()).with_details(awkward.clone()),
    )
    .message_id(format!(" {nfc} "))
    .source(awkward.clone())
    .metadata(format!(" {nfd}\t"), awkward.clone())
    .metadata(nfc, "\r\n");
    let now = h.clock.now();
    let receipt = h.store.store(input.clone()).await.unwrap();
    let entry = h.store.get_entry(receipt.id).await.unwrap().unwrap();
    assert_eq!(
        entry,
        expected_entry(&input, receipt, now),
        "every text field is stored byte for byte: no trimming, no line-break or Unicode normalisation"
    );
    let dismissed = h.store.dismiss(entry.id, Some(awkward.clone())).await.unwrap();
    assert_eq!(dismissed.note.as_deref(), Some(awkward.as_str()), "a note is kept byte for byte");
    assert_eq!(h.store.get_entry(entry.id).await.unwrap(), Some(dismissed), "a note is stored byte for byte");
    for (key, why) in [
        (format!(" {nfd} "), "a message id in another Unicode form is another key"),
        (nfc.to_owned(), "a message id without the surrounding spaces is another key"),
        (format!(" {nfc}"), "a message id without its trailing space is another key"),
    ] {
        let other = h.store.store(command("orders.create").message_id(key)).await.unwrap();
        assert!(!other.duplicate, "{why}");
    }
    let again = h.store.store(command("orders.create").message_id(format!(" {nfc} "))).await.unwrap();
    assert_eq!(
        again,
        StoreReceipt { id: entry.id, duplicate: true },
        "the same message id, byte for byte, is a duplicate"
    );
}

/// The exception message is truncated to 16,384 characters and the details to 65,536, counted
/// in characters, not bytes: text of multi-byte characters exactly at a limit is kept whole,
/// one character more is cut to the limit on a character boundary, and the fingerprint is of
/// the kept message. The exception type keeps 500 characters of multi-byte text the same way.
pub async fn store_truncates_exception_message_and_details_by_characters(h: Harness) {
    let cases =
        [(MESSAGE_LIMIT, DETAILS_LIMIT, TYPE_LIMIT), (MESSAGE_LIMIT + 1, DETAILS_LIMIT + 1, TYPE_LIMIT + 1)];
    for (message_chars, details_chars, type_chars) in cases {
        let message = "€".repeat(message_chars);
        let details = "𝄞".repeat(details_chars);
        let exception_type = "é".repeat(type_chars);
        let input = NewDeadLetter::new(
            "orders.create",
            "{}",
            Failure::new(exception_type, message).with_details(details),
        );
        let entry = store(&h.store, input).await;
        assert_eq!(
            (
                entry.exception_message.chars().count(),
                entry.exception_details.as_deref().map(|details| details.chars().count()),
                entry.exception_type.chars().count()
            ),
            (MESSAGE_LIMIT, Some(DETAILS_LIMIT), TYPE_LIMIT),
            "exception text is truncated to 16,384 / 65,536 / 500 characters (not bytes); given {message_chars} / {details_chars} / {type_chars}"
        );
        assert_eq!(
            (entry.exception_message, entry.exception_details, entry.exception_type.clone()),
            ("€".repeat(MESSAGE_LIMIT), Some("𝄞".repeat(DETAILS_LIMIT)), "é".repeat(TYPE_LIMIT)),
            "truncation keeps the first characters, whole"
        );
        assert_eq!(
            entry.fingerprint,
            fingerprint("orders.create", &entry.exception_type, &"€".repeat(MESSAGE_LIMIT)),
            "the fingerprint is of the kept exception type and message"
        );
    }
}

const MESSAGE_LIMIT: usize = 16_384;
const DETAILS_LIMIT: usize = 65_536;
const TYPE_LIMIT: usize = 500;
