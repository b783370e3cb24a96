//! Payloads as an operator reads them: JSON pretty-printed and highlighted, any other text as it
//! is, and an edited payload's changes line by line.

use maud::{Markup, html};
use serde_json::Value;
use similar::{ChangeTag, TextDiff};

/// `payload` pretty-printed when it is JSON (the text as stored otherwise).
pub(crate) fn pretty(payload: &str) -> String {
    serde_json::from_str::<Value>(payload)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| payload.to_owned())
}

/// `payload` in a `<pre>` with id `id`: highlighted when it is JSON.
pub(crate) fn show(payload: &str, id: &str) -> Markup {
    match serde_json::from_str::<Value>(payload) {
        Ok(value) => html! { pre #(id) .json { (highlight(&value, 0)) } },
        Err(_) => html! { pre #(id) { (payload) } },
    }
}

/// `value` as pretty JSON, each token in a span of its kind; every text is escaped by maud.
fn highlight(value: &Value, depth: usize) -> Markup {
    let indent = "  ".repeat(depth + 1);
    let close = "  ".repeat(depth);
    html! {
        @match value {
            Value::Null => span.json-literal { "null" },
            Value::Bool(flag) => span.json-literal { (flag) },
            Value::Number(number) => span.json-number { (number) },
            Value::String(text) => span.json-string { (Value::String(text.clone())) },
            Value::Array(items) if items.is_empty() => "[]",
            Value::Array(items) => {
                "[\n"
                @for (i, item) in items.iter().enumerate() {
                    (indent) (highlight(item, depth + 1))
                    @if i + 1 < items.len() { "," } "\n"
                }
                (close) "]"
            }
            Value::Object(members) if members.is_empty() => "{}",
            Value::Object(members) => {
                "{\n"
                @for (i, (key, member)) in members.iter().enumerate() {
                    (indent) span.json-key { (Value::String(key.clone())) } ": " (highlight(member, depth + 1))
                    @if i + 1 < members.len() { "," } "\n"
                }
                (close) "}"
            }
        }
    }
}

/// The changes from `original` to `edited`, line by line, both pretty-printed first so that a
/// change of layout alone shows as none.
pub(crate) fn diff(original: &str, edited: &str) -> Markup {
    let (original, edited) = (pretty(original), pretty(edited));
    let diff = TextDiff::from_lines(&original, &edited);
    html! {
        pre.diff aria-label="Changes from the payload first captured" {
            @for change in diff.iter_all_changes() {
                @match change.tag() {
                    ChangeTag::Delete => del.del { "- " (change.value().trim_end_matches('\n')) },
                    ChangeTag::Insert => ins.add { "+ " (change.value().trim_end_matches('\n')) },
                    ChangeTag::Equal => span { "  " (change.value().trim_end_matches('\n')) "\n" },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_highlighted_and_escaped() {
        let markup = show(r#"{"order_id":42,"note":"<b>","paid":true,"items":[]}"#, "payload").into_string();
        assert_eq!(
            markup,
            "<pre class=\"json\" id=\"payload\">{\n  \
             <span class=\"json-key\">&quot;items&quot;</span>: [],\n  \
             <span class=\"json-key\">&quot;note&quot;</span>: <span class=\"json-string\">&quot;&lt;b&gt;&quot;</span>,\n  \
             <span class=\"json-key\">&quot;order_id&quot;</span>: <span class=\"json-number\">42</span>,\n  \
             <span class=\"json-key\">&quot;paid&quot;</span>: <span class=\"json-literal\">true</span>\n}</pre>"
        );
        assert_eq!(show("not json <x>", "p").into_string(), "<pre id=\"p\">not json &lt;x&gt;</pre>");
    }

    #[test]
    fn a_diff_shows_the_changed_member_only() {
        let markup = diff(r#"{"a":1,"b":2}"#, r#"{"a":1,"b":3}"#).into_string();
        assert!(markup.contains("<del class=\"del\">-   &quot;b&quot;: 2</del>"), "{markup}");
        assert!(markup.contains("<ins class=\"add\">+   &quot;b&quot;: 3</ins>"), "{markup}");
        assert!(markup.contains("<span>    &quot;a&quot;: 1,\n</span>"), "{markup}");
    }
}
