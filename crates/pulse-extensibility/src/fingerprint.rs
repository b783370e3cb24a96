//! Error-group fingerprints: failures that differ only in volatile details share one.
//!
//! The fingerprint is part of the stored data and of the contract: the same input gives the same
//! fingerprint on every backend and in every release. The test vectors below pin it.
//!
//! # Masking
//!
//! [`mask`] replaces the volatile parts of a message in four steps, each one applied to the
//! output of the step before:
//!
//! 1. Quoted values: from a `'` to the next `'`, or from a `"` to the next `"`, whichever opens
//!    first, become `<q>`, across lines too. A quote that nothing closes is kept as it is.
//! 2. UUIDs: a word of 8 hex digits followed by words of 4, 4, 4 and 12 hex digits, each after a
//!    `-`, become `<uuid>`, in upper, lower or mixed case.
//! 3. Hex ids: a word that is `0x` or `0X` followed by hex digits becomes `<hex>`, and so does a
//!    word of six or more hex digits that mixes digits and letters (`a3f9c2e1`); a word of hex
//!    letters alone (`deadbeef`) or digits alone (`123456`) is kept.
//! 4. Numbers: a run of digits, with a `.` and a second run of digits if they follow, becomes
//!    `<n>`, wherever it is: `30s` is `<n>s`, `1.2.3` is `<n>.<n>`.
//!
//! A *word* is a maximal run of word characters in Unicode's sense, the `\w` of regular
//! expressions: letters and decimal digits of every script, combining marks, connector punctuation
//! such as `_`, and the joiners U+200C and U+200D. So `é`, `_` and `٣` extend a word (`a3f9c2é` is
//! no hex id, and neither is the `0x1f` in `٣0x1f`), while `-`, `.`, spaces and the `<` and `>` of
//! the masks end one; `²` is no word character. Hex digits and the digits of numbers are ASCII
//! only. Which characters are word characters comes from `regex-syntax`'s Unicode table.
//!
//! The steps were first written as regular expressions, and stored fingerprints follow them:
//! `'[^']*'|"[^"]*"`, then
//! `\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b`, then
//! `\b(?:0[xX][0-9A-Fa-f]+|[0-9A-Fa-f]{6,})\b` and `[0-9]+(?:\.[0-9]+)?`, with the `regex`
//! crate's leftmost-first matching and Unicode `\b`. The scanner below gives the same output for
//! every input without writing the text between the steps; the tests in
//! `fingerprint/differential.rs` compare it with those expressions. Two facts make that possible.
//! Every match of steps 2 and 3 starts and ends at a word boundary and holds only word characters
//! and `-`, so it is made of whole words; and the masks that steps 1 to 3 write begin and end with
//! non-word characters, so they change no boundary that a later step sees. Step 4 ignores words:
//! it runs as a small state machine over the text the first three steps write, which is why
//! `1.0x1f` is `<n>.<hex>` and not `<n>x<n>f`.

use crate::entry::Fingerprint;

/// `message` with its volatile parts masked: quoted values become `<q>`, UUIDs `<uuid>`,
/// hexadecimal ids (`0x1f`, or six or more hex digits mixing digits and letters, such as
/// `a3f9c2e1`) `<hex>`, and the remaining numbers `<n>`. The [module docs](self) give the rules
/// exactly.
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
    let bytes = message.as_bytes();
    // Room for a few masks longer than what they replace, such as `<n>` for `7`.
    let mut out = Numbers::with_capacity(message.len() + 16);
    let mut quotes = Quotes::default();
    // Start of the text not yet handed to `out`.
    let mut kept = 0;
    let mut index = 0;
    while let Some(offset) = bytes[index..].iter().position(|&byte| is_stop(byte)) {
        let start = index + offset;
        let (end, masked) = match quotes.closing(bytes, start) {
            Some(end) => (end, Some("<q>")),
            None => word_at(message, start),
        };
        if let Some(masked) = masked {
            out.push(&message[kept..start]);
            out.push(masked);
            kept = end;
        }
        index = end;
    }
    out.push(&message[kept..]);
    out.finish()
}

/// The fingerprint of a failure: 64-bit FNV-1a over the command type, the exception type and the
/// masked message, separated by `0x1F`, as 16 lowercase hex digits.
pub fn fingerprint(command_type: &str, exception_type: &str, message: &str) -> Fingerprint {
    let masked = mask(message);
    let parts = [command_type.as_bytes(), b"\x1f", exception_type.as_bytes(), b"\x1f", masked.as_bytes()];
    Fingerprint::from_stored(hex(crate::hash::fnv1a_parts(&parts)))
}

/// `hash` as 16 lowercase hex digits, most significant first: `format!("{hash:016x}")` without
/// the formatting machinery.
fn hex(hash: u64) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    (0..16).rev().map(|nibble| char::from(DIGITS[((hash >> (nibble * 4)) & 0xf) as usize])).collect()
}

/// Whether the scan stops at `byte`: a quote, an ASCII word character, or the first byte of a
/// character of several bytes (0xC0 and up; the bytes after it are below, so the scan skips them).
/// Other characters are never masked and never start a mask.
fn is_stop(byte: u8) -> bool {
    STOP[usize::from(byte)]
}

/// [`is_stop`] as a table.
const STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte: u8 = 0;
    loop {
        table[byte as usize] = ASCII_WORD[byte as usize] || byte >= 0xC0 || byte == b'\'' || byte == b'"';
        if byte == u8::MAX {
            break table;
        }
        byte += 1;
    }
};

/// Whether `byte` is an ASCII word character: `[0-9A-Za-z_]`.
fn is_word_byte(byte: u8) -> bool {
    ASCII_WORD[usize::from(byte)]
}

/// [`is_word_byte`] as a table: a lookup costs fewer instructions than the comparisons.
const ASCII_WORD: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte: u8 = 0;
    loop {
        table[byte as usize] = byte.is_ascii_alphanumeric() || byte == b'_';
        if byte == u8::MAX {
            break table;
        }
        byte += 1;
    }
};

/// Step 1: finds quoted values, leftmost first.
#[derive(Default)]
struct Quotes {
    /// Whether a `'` (index 0) or a `"` (index 1) was found that nothing closes: then no later one
    /// is closed either, and searching again would make long messages quadratic.
    unclosed: [bool; 2],
}

impl Quotes {
    /// The end of the quoted value that opens at `open`, if a quote opens there and a quote of the
    /// same kind closes it.
    fn closing(&mut self, bytes: &[u8], open: usize) -> Option<usize> {
        let quote = bytes[open];
        let kind = match quote {
            b'\'' => 0,
            b'"' => 1,
            _ => return None,
        };
        if self.unclosed[kind] {
            return None;
        }
        let length = bytes[open + 1..].iter().position(|&byte| byte == quote);
        self.unclosed[kind] = length.is_none();
        length.map(|length| open + length + 2)
    }
}

/// Steps 2 and 3 at `start`, a character boundary where no quoted value starts: the end of the
/// word or UUID that starts there and its mask, if it has one.
///
/// Whatever precedes `start` is no word character. The message stands in for step 1's output: a
/// quoted value begins and ends with a quote, a non-word character that no UUID holds, just as
/// `<q>` begins and ends with `<` and `>`.
fn word_at(text: &str, start: usize) -> (usize, Option<&'static str>) {
    let end = word_end(text, start);
    if end == start {
        // No word starts here: a quote that nothing closes, or a character of several bytes
        // that is no word character.
        (start + 1, None)
    } else if end - start == 8 && is_uuid_at(text, start) {
        (start + UUID_LEN, Some("<uuid>"))
    } else {
        (end, is_hex_id(&text.as_bytes()[start..end]).then_some("<hex>"))
    }
}

/// Bytes in a UUID's text form.
const UUID_LEN: usize = 36;

/// Whether a UUID starts at `index`, the start of a word: the pattern, then no word character.
fn is_uuid_at(text: &str, index: usize) -> bool {
    let Some(candidate) = text.as_bytes().get(index..index + UUID_LEN) else {
        return false;
    };
    let pattern_matches = candidate.iter().enumerate().all(|(position, &byte)| match position {
        8 | 13 | 18 | 23 => byte == b'-',
        _ => byte.is_ascii_hexdigit(),
    });
    pattern_matches && word_character_len(text, index + UUID_LEN) == 0
}

/// Whether `word`, a whole word, is a hex id that step 3 masks.
fn is_hex_id(word: &[u8]) -> bool {
    if let [b'0', b'x' | b'X', digits @ ..] = word {
        return !digits.is_empty() && digits.iter().all(u8::is_ascii_hexdigit);
    }
    if word.len() < 6 {
        return false;
    }
    let (mut digit, mut letter) = (false, false);
    for byte in word {
        match byte {
            b'0'..=b'9' => digit = true,
            b'a'..=b'f' | b'A'..=b'F' => letter = true,
            _ => return false,
        }
    }
    digit && letter
}

/// The end of the word that starts at `index`.
fn word_end(text: &str, mut index: usize) -> usize {
    loop {
        let length = word_character_len(text, index);
        if length == 0 {
            return index;
        }
        index += length;
    }
}

/// The length in bytes of the word character at `index`, a character boundary, or 0 where there
/// is none: a non-word character, or the end of the text.
fn word_character_len(text: &str, index: usize) -> usize {
    match text.as_bytes().get(index) {
        None => 0,
        Some(&byte) if byte.is_ascii() => usize::from(is_word_byte(byte)),
        Some(_) => match text[index..].chars().next() {
            // The table behind the `regex` crate's Unicode `\b`.
            Some(character) if regex_syntax::is_word_character(character) => character.len_utf8(),
            _ => 0,
        },
    }
}

/// Step 4: a writer that masks numbers in the text handed to it, in pieces.
///
/// It runs `[0-9]+(?:\.[0-9]+)?`, leftmost first, as a state machine, so a number may span two
/// pieces; a `.` after digits is held back until the next byte shows whether a fraction follows.
struct Numbers {
    out: String,
    state: NumberState,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NumberState {
    /// Not in a number: text is written as it comes.
    Outside,
    /// In the digits before any `.`, already written as `<n>`.
    Integer,
    /// Just after `<n>` and a `.`, not yet written.
    Dot,
    /// In the digits after the `.`.
    Fraction,
}

impl Numbers {
    fn with_capacity(capacity: usize) -> Self {
        Numbers { out: String::with_capacity(capacity), state: NumberState::Outside }
    }

    fn push(&mut self, text: &str) {
        use NumberState::{Dot, Fraction, Integer, Outside};
        let bytes = text.as_bytes();
        // Every value of `index` is the start of the text or follows an ASCII byte, so it is a
        // character boundary.
        let mut index = 0;
        loop {
            let rest = &bytes[index..];
            match self.state {
                Outside => {
                    let Some(digit) = rest.iter().position(u8::is_ascii_digit) else {
                        self.out.push_str(&text[index..]);
                        return;
                    };
                    self.out.push_str(&text[index..index + digit]);
                    self.out.push_str("<n>");
                    index += digit + 1;
                    self.state = Integer;
                }
                Integer | Fraction => {
                    let Some(other) = rest.iter().position(|byte| !byte.is_ascii_digit()) else {
                        return;
                    };
                    index += other;
                    self.state = if self.state == Integer && bytes[index] == b'.' {
                        index += 1;
                        Dot
                    } else {
                        Outside
                    };
                }
                Dot => match rest.first() {
                    None => return,
                    Some(byte) if byte.is_ascii_digit() => {
                        index += 1;
                        self.state = Fraction;
                    }
                    Some(_) => {
                        self.out.push('.');
                        self.state = Outside;
                    }
                },
            }
        }
    }

    fn finish(mut self) -> String {
        if self.state == NumberState::Dot {
            self.out.push('.');
        }
        self.out
    }
}

#[cfg(test)]
mod differential;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_written_as_sixteen_lowercase_hex_digits() {
        for hash in [0, 1, 0xf, 0x0123_4567_89ab_cdef, u64::MAX, 0x96a6_6f0a_18bf_f1a9] {
            assert_eq!(hex(hash), format!("{hash:016x}"));
        }
    }

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
