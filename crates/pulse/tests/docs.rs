//! Every Rust example in README.md and docs/ is compiled by a doctest: this test fails when a
//! page gains Rust blocks without being included as one.

use std::path::Path;

/// The pages included as doctests, and where: `pulse`'s `lib.rs`, `pulse-http`'s and
/// `pulse-conformance`'s (docs/backends.md).
const DOCTESTED: &[&str] = &[
    "README.md",
    "docs/guide.md",
    "docs/operations.md",
    "docs/sqlite.md",
    "docs/postgres.md",
    "docs/http.md",
    "docs/backends.md",
];

#[test]
fn every_page_with_rust_examples_is_a_doctest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut pages = vec![root.join("README.md")];
    for page in std::fs::read_dir(root.join("docs")).expect("the docs directory") {
        pages.push(page.expect("a docs entry").path());
    }
    let mut untested = Vec::new();
    for page in pages.iter().filter(|page| page.extension().is_some_and(|ext| ext == "md")) {
        let text = std::fs::read_to_string(page).expect("a readable page");
        let name = page.strip_prefix(&root).expect("under the root").to_string_lossy().into_owned();
        if text.lines().any(|line| line.trim_start().starts_with("```rust"))
            && !DOCTESTED.contains(&name.as_str())
        {
            untested.push(name);
        }
    }
    assert!(untested.is_empty(), "pages with Rust examples no doctest includes: {untested:?}");
    for page in DOCTESTED {
        assert!(root.join(page).is_file(), "{page} is listed as doctested but does not exist");
    }
}
