//! Error-group fingerprints: failures that differ only in volatile details share one.
//!
//! The fingerprint is part of the stored data and of the contract: the same input gives the same
//! fingerprint on every backend and in every release. The test vectors below pin it.

use std::sync::LazyLock;

use regex::Regex;

use crate::entry::Fingerprint;

/// Volatile parts of a message, in the order they are masked.
struct Masks {
    quoted: Regex,
    uuid: Regex,
    hex_word: Regex,
    number: Regex,
}

static MASKS: LazyLock<Masks> = LazyLock::new(|| {
    let re = |pattern| Regex::new(pattern).expect("mask patterns are valid");
    Masks {
        quoted: re(r#"'[^']*'|"[^"]*""#),
        uuid: re(r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b"),
        hex_word: re(r"\b(?:0[xX][0-9A-Fa-f]+|[0-9A-Fa-f]{6,})\b"),
        number: re(r"[0-9]+(?:\.[0-9]+)?"),
    }
});

/// `message` with its volatile parts masked: quoted values become `<q>`, UUIDs `<uuid>`,
/// hexadecimal ids (`0x1f`, or six or more hex digits mixing digits and letters, such as
/// `a3f9c2e1`) `<hex>`, and the remaining numbers `<n>`.
///
/// # Examples
///
/// ```
/// assert_eq!(
///     pulse_extensibility::fingerprint::mask("order 42 timed out after 30s"),
///     "order <n> timed out after <n>s"
/// );
/// ```
pub fn mask(message: &str) -> String {
    let masks = &*MASKS;
    let text = masks.quoted.replace_all(message, "<q>");
    let text = masks.uuid.replace_all(&text, "<uuid>");
    let text = masks.hex_word.replace_all(&text, |caps: &regex::Captures<'_>| {
        let word = &caps[0];
        let prefixed = word.starts_with("0x") || word.starts_with("0X");
        let mixed = word.bytes().any(|b| b.is_ascii_digit()) && word.bytes().any(|b| b.is_ascii_alphabetic());
        if prefixed || mixed { "<hex>".to_owned() } else { word.to_owned() }
    });
    masks.number.replace_all(&text, "<n>").into_owned()
}

/// The fingerprint of a failure: 64-bit FNV-1a over the command type, the exception type and the
/// masked message, separated by `0x1F`, as 16 lowercase hex digits.
pub fn fingerprint(command_type: &str, exception_type: &str, message: &str) -> Fingerprint {
    let masked = mask(message);
    let parts = [command_type.as_bytes(), b"\x1f", exception_type.as_bytes(), b"\x1f", masked.as_bytes()];
    let hash = crate::hash::fnv1a_parts(&parts);
    Fingerprint::from_stored(format!("{hash:016x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volatile_parts_are_masked() {
        let cases = [
            ("order 42 timed out after 30s", "order <n> timed out after <n>s"),
            ("took 1.25 seconds", "took <n> seconds"),
            ("user 'alice' not found", "user <q> not found"),
            (r#"key "a-1" exists"#, "key <q> exists"),
            ("entity 3f2504e0-4f89-11d3-9a0c-0305e82c3301 missing", "entity <uuid> missing"),
            ("pointer 0x7ffd1234 invalid", "pointer <hex> invalid"),
            ("commit a3f9c2e1 rejected", "commit <hex> rejected"),
            ("deadline exceeded", "deadline exceeded"),
            ("", ""),
        ];
        for (message, masked) in cases {
            assert_eq!(mask(message), masked, "masking {message:?}");
        }
    }

    #[test]
    fn messages_that_differ_in_volatile_parts_share_a_fingerprint() {
        let a = fingerprint("orders.create", "Timeout", "order 42 timed out after 30s");
        let b = fingerprint("orders.create", "Timeout", "order 97 timed out after 31s");
        assert_eq!(a, b);
        assert_ne!(a, fingerprint("orders.cancel", "Timeout", "order 42 timed out after 30s"));
        assert_ne!(a, fingerprint("orders.create", "Io", "order 42 timed out after 30s"));
        assert_ne!(a, fingerprint("orders.create", "Timeout", "order 42 was rejected"));
    }

    /// Fixed vectors, computed independently of this code (FNV-1a 64 over the masked text).
    /// A change here changes stored data: never update them casually.
    #[test]
    fn fingerprints_are_pinned() {
        let vectors = [
            (("", "", ""), "0879e907b5281763"),
            (("orders.create", "Timeout", "order 42 timed out after 30s"), "96a66f0a18bff1a9"),
            (("billing.charge", "CardDeclined", "card 'visa-1234' declined"), "b0bcf57126634171"),
        ];
        for ((command, exception, message), expected) in vectors {
            assert_eq!(fingerprint(command, exception, message).as_str(), expected);
        }
    }
}
