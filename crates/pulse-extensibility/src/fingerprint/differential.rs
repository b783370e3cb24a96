//! The scanner against the regular expressions that first defined the masking: the existing
//! cases, hand-picked edge cases, every Unicode character and generated messages mask the same.

use std::sync::LazyLock;

use regex::Regex;

use super::mask;

/// The masking as first written: four regex replacements, each over the output of the one before.
fn reference_mask(message: &str) -> String {
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

fn check(message: &str) {
    assert_eq!(mask(message), reference_mask(message), "masking {message:?}");
}

/// The messages of the tests in `fingerprint.rs` and of the pinned vectors in `pulse-conformance`.
const EXISTING: &[&str] = &[
    "order 42 timed out after 30s",
    "order 97 timed out after 31s",
    "took 1.25 seconds",
    "user 'alice' not found",
    "user 'id 42' not found",
    r#"key "a-1" exists"#,
    "entity 3f2504e0-4f89-11d3-9a0c-0305e82c3301 missing",
    "entity 3F2504E0-4F89-11D3-9A0C-0305E82C3301 missing",
    "pointer 0x7ffd1234 invalid",
    "commit a3f9c2e1 rejected",
    "commit 0b1c2d3e4f rejected",
    "commit a3f9c2 rejected",
    "commit b71e04f rejected",
    "commit a3f9c rejected",
    "code deadbeef",
    "build 123456 failed",
    "build 7 failed",
    "order 42 for 'bob' at 0xFF (id 3f2504e0-4f89-11d3-9a0c-0305e82c3301)",
    "retry 3 of 5 in 2.5s",
    "token abc123xyz",
    "deadline exceeded",
    "card 'visa-1234' declined",
    "card of invoice 1999 declined (code 51)",
    "",
];

#[test]
fn existing_cases_mask_as_the_regular_expressions_do() {
    for message in EXISTING {
        check(message);
    }
}

/// Messages a plausible scanner masks differently, with the regular expressions' masking.
const EDGE_CASES: &[(&str, &str)] = &[
    // Step 1: the quote that opens first wins, whatever it contains; a quote nothing closes
    // stays, and a later quote of the other kind may still open a value; a quoted value may hold
    // a line break. The masks either side of `<q>` see a boundary, as they saw the quote.
    ("'a \"b' c\"", "<q> c\""),
    ("\"a 'b\" c'", "<q> c'"),
    ("'a \"b\" c", "'a <q> c"),
    ("it's 'x'", "it<q>x'"),
    ("it's done", "it's done"),
    ("''", "<q>"),
    ("'", "'"),
    ("'''", "<q>'"),
    ("'\"'\"", "<q>\""),
    ("'a\nb'", "<q>"),
    ("1'a'2", "<n><q><n>"),
    ("1.'a'", "<n>.<q>"),
    ("a3f9c2'x'", "<hex><q>"),
    ("'0x1f'", "<q>"),
    ("\"3f2504e0-4f89-11d3-9a0c-0305e82c3301\"", "<q>"),
    ("'a1b2c3", "'<hex>"),
    ("\"a1b2c3 'x'", "\"<hex> <q>"),
    ("a1b2c3\"\"", "<hex><q>"),
    ("0x1f'", "<hex>'"),
    // Step 2: a UUID is whole words: a word character right after it (`x`, `_`, `é`, a combining
    // mark, but not `²`) or right before it undoes it, and its parts are then masked as hex ids
    // and numbers; an 8-digit word that is no UUID's start can be followed by one that is. A
    // number step that runs first eats the `1.3` of `1.3f2504e0-...`.
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301x", "<hex>-<n>f<n>-<n>d<n>-<n>a<n>c-<n>e<n>c<n>x"),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301_", "<hex>-<n>f<n>-<n>d<n>-<n>a<n>c-<n>e<n>c<n>_"),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301é", "<hex>-<n>f<n>-<n>d<n>-<n>a<n>c-<n>e<n>c<n>é"),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301\u{301}", "<hex>-<n>f<n>-<n>d<n>-<n>a<n>c-<n>e<n>c<n>\u{301}"),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301²", "<uuid>²"),
    ("x3f2504e0-4f89-11d3-9a0c-0305e82c3301", "x<n>f<n>e<n>-<n>f<n>-<n>d<n>-<n>a<n>c-<hex>"),
    ("é3f2504e0-4f89-11d3-9a0c-0305e82c3301", "é<n>f<n>e<n>-<n>f<n>-<n>d<n>-<n>a<n>c-<hex>"),
    ("٣3f2504e0-4f89-11d3-9a0c-0305e82c3301", "٣<n>f<n>e<n>-<n>f<n>-<n>d<n>-<n>a<n>c-<hex>"),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c33012", "<hex>-<n>f<n>-<n>d<n>-<n>a<n>c-<hex>"),
    ("13f2504e0-4f89-11d3-9a0c-0305e82c3301", "<hex>-<n>f<n>-<n>d<n>-<n>a<n>c-<hex>"),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301-4f89", "<uuid>-<n>f<n>"),
    ("aaaaaaaa-3f2504e0-4f89-11d3-9a0c-0305e82c3301", "aaaaaaaa-<uuid>"),
    (
        "3f2504e0-4f89-11d3-9a0c-0305e82c3301-4f89-11d3-9a0c-0305e82c3301",
        "<uuid>-<n>f<n>-<n>d<n>-<n>a<n>c-<hex>",
    ),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301.5", "<uuid>.<n>"),
    ("1.3f2504e0-4f89-11d3-9a0c-0305e82c3301", "<n>.<uuid>"),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c330", "<hex>-<n>f<n>-<n>d<n>-<n>a<n>c-<hex>"),
    ("3F2504E0-4f89-11D3-9a0C-0305E82C3301", "<uuid>"),
    ("deadbeef-dead-beef-dead-beefdeadbeef", "<uuid>"),
    ("12345678-1234-1234-1234-123456789012", "<uuid>"),
    ("3f2504e0_4f89-11d3-9a0c-0305e82c3301", "<n>f<n>e<n>_<n>f<n>-<n>d<n>-<n>a<n>c-<hex>"),
    ("3f2504e0--4f89-11d3-9a0c-0305e82c3301", "<hex>--<n>f<n>-<n>d<n>-<n>a<n>c-<hex>"),
    ("<q>3f2504e0-4f89-11d3-9a0c-0305e82c3301<q>", "<q><uuid><q>"),
    ("3f2504e0-4f89-11d3-9a0c-0305e82c3301'x'", "<uuid><q>"),
    ("3f2504e0-4f89-'x'", "<hex>-<n>f<n>-<q>"),
    ("éééé-4f89-11d3-9a0c-0305e82c3301", "éééé-<n>f<n>-<n>d<n>-<n>a<n>c-<hex>"),
    // Step 3: a hex id is a whole word, bounded by Unicode's word characters: `0x` with nothing
    // after it, a prefix not at the word's start, or a word that goes on with `g`, `_`, `é`, `٣`,
    // a mark or a joiner is no hex id, and its digits are then numbers; `²` and `—` end a word.
    // Letters or digits alone are kept by this step (and digits become `<n>` in the next).
    ("0x", "<n>x"),
    ("0x.", "<n>x."),
    ("0X1F", "<hex>"),
    ("0xg", "<n>xg"),
    ("0x1fg", "<n>x<n>fg"),
    ("0x1f_", "<n>x<n>f_"),
    ("0x1fé", "<n>x<n>fé"),
    ("é0x1f", "é<n>x<n>f"),
    ("٣0x1f", "٣<n>x<n>f"),
    ("0x1f٣", "<n>x<n>f٣"),
    ("0x1f²", "<hex>²"),
    ("²0x1f", "²<hex>"),
    ("00x1f", "<n>x<n>f"),
    ("0x0x1", "<n>x<n>x<n>"),
    ("0xx1", "<n>xx<n>"),
    ("x0x1f", "x<n>x<n>f"),
    ("0x1f.5", "<hex>.<n>"),
    ("1.0x1f", "<n>.<hex>"),
    ("0x1f-0x2e", "<hex>-<hex>"),
    ("abcdef", "abcdef"),
    ("ABCDEF", "ABCDEF"),
    ("123456", "<n>"),
    ("12345a", "<hex>"),
    ("1234a", "<n>a"),
    ("a12345", "<hex>"),
    ("abcdef123456g", "abcdef<n>g"),
    ("abcdef123456", "<hex>"),
    ("_abc123", "_abc<n>"),
    ("abc123_", "abc<n>_"),
    ("abc123\u{200d}", "abc<n>\u{200d}"),
    ("abc123\u{200c}x", "abc<n>\u{200c}x"),
    ("abc123\u{301}", "abc<n>\u{301}"),
    ("abc123‿", "abc<n>‿"),
    ("abc123²", "<hex>²"),
    ("abc123日", "abc<n>日"),
    ("abc123ß", "abc<n>ß"),
    ("—a1b2c3—", "—<hex>—"),
    ("a1b2c3-d4e5f6", "<hex>-<hex>"),
    ("abc123.5", "<hex>.<n>"),
    ("1.abc123", "<n>.<hex>"),
    ("1.12345a", "<n>.<hex>"),
    ("1.123456", "<n>"),
    ("123456.abcdef", "<n>.abcdef"),
    ("uuid<uuid>hex<hex>", "uuid<uuid>hex<hex>"),
    // Step 4: numbers are ASCII digits, with at most one fraction, and only digits that the
    // steps before left: `3.14159e10` has a hex id after its dot. A dot after a number is kept
    // when no digit follows, also before a mask.
    ("1.2.3", "<n>.<n>"),
    ("1..2", "<n>..<n>"),
    ("1.", "<n>."),
    (".5", ".<n>"),
    ("1.a", "<n>.a"),
    ("v1.2", "v<n>"),
    ("٣٣", "٣٣"),
    ("1٣2", "<n>٣<n>"),
    ("1.٣", "<n>.٣"),
    ("1.<q>", "<n>.<q>"),
    ("3.14159e10", "<n>.<hex>"),
    ("-42", "-<n>"),
    ("1,000,000", "<n>,<n>,<n>"),
];

#[test]
fn edge_cases_mask_as_pinned_and_as_the_regular_expressions_do() {
    for (message, masked) in EDGE_CASES {
        assert_eq!(reference_mask(message), *masked, "the regular expressions masking {message:?}");
        assert_eq!(mask(message), *masked, "masking {message:?}");
    }
}

/// Every character, before and after a hex id, so the scanner's word characters are the
/// regular expressions' `\w`, character by character. The characters go in batches, to keep the
/// regular expressions' cost per call low.
#[test]
fn every_character_bounds_words_as_in_the_regular_expressions() {
    let characters: Vec<char> = (0..=u32::from(char::MAX)).filter_map(char::from_u32).collect();
    for batch in characters.chunks(2_048) {
        let message: String = batch.iter().map(|c| format!("{c}a1b2c3{c} ")).collect();
        check(&message);
    }
}

/// The characters of generated messages, repeated to weigh them: hex digits, the separators the
/// masks look at, quotes, word characters that are no hex digit, multi-byte letters, a digit
/// that is no ASCII digit (`٣`), a combining mark and a joiner (word characters that are no
/// letter), and `²` (a number that is no word character).
const ALPHABET: &str = "0123456789abcdefABCDEF0123456789abcdef0123456789\
                        --..xX''\"\"  _gzG<>é\u{df}日٣\u{301}\u{200d}²";

/// Pieces of generated messages that characters drawn one by one rarely make.
const PIECES: &[&str] = &[
    "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
    "3F2504E0-4F89-11D3-9A0C-0305E82C3301",
    "deadbeef-dead-beef-dead-beefdeadbeef",
    "3f2504e0-4f89-11d3-9a0c-",
    "0305e82c3301",
    "4f89-",
    "0x",
    "0X",
    "0x1f",
    "a3f9c2",
    "a3f9c",
    "deadbeef",
    "123456",
    "1.5",
    "<q>",
    "'",
    "\"",
];

/// A small deterministic generator (`SplitMix64`), so a failure is the same on every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        let bound = u64::try_from(bound).expect("a length fits in u64");
        usize::try_from(self.next() % bound).expect("a value below a length fits in usize")
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Half the messages are characters drawn one by one; the other half mix in whole pieces:
/// UUIDs, their parts, hex ids and quotes, next to the drawn characters.
#[test]
fn generated_messages_mask_as_the_regular_expressions_do() {
    let alphabet: Vec<char> = ALPHABET.chars().collect();
    let mut random = SplitMix64(0x5eed_f00d);
    let mut message = String::new();
    for round in 0..200_000 {
        message.clear();
        for _ in 0..random.below(24) {
            if round % 2 == 1 && random.below(4) == 0 {
                message.push_str(random.pick::<&str>(PIECES));
            } else {
                message.push(*random.pick(&alphabet));
            }
        }
        check(&message);
    }
}
