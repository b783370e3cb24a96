//! What became of each mutant, as a Markdown table for people and for `target/mutants/report.md`.

use std::fmt::Write as _;
use std::time::Duration;

use super::Mutant;

/// What running the suite against one mutant showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Outcome {
    /// At least one case failed: these (empty when the test binary failed without naming one).
    Caught(Vec<String>),
    /// The build and the run together took longer than the time limit: counted as caught, since
    /// the unmutated suite finishes, but a hang is a poor way to find a bug.
    TimedOut,
    /// Every case passed: the suite does not check the mutant's rule.
    NotCaught,
    /// The mutant does not build: an error in the catalogue.
    DidNotCompile,
    /// Its text is not found exactly once in its file: the catalogue fell behind the code.
    Stale(String),
}

impl Outcome {
    /// Whether the suite did its job (a timeout included).
    pub(super) fn is_caught(&self) -> bool {
        matches!(self, Self::Caught(_) | Self::TimedOut)
    }

    pub(super) fn summary(&self) -> String {
        match self {
            Self::Caught(cases) => format!("caught by {} case(s)", cases.len()),
            Self::TimedOut => "timed out (counted as caught)".to_owned(),
            Self::NotCaught => "NOT CAUGHT".to_owned(),
            Self::DidNotCompile => "does not compile (fix the catalogue)".to_owned(),
            Self::Stale(reason) => format!("stale: {reason}"),
        }
    }

    /// The result column: a verdict, then the cases that failed.
    fn cell(&self) -> String {
        match self {
            Self::Caught(cases) if cases.is_empty() => {
                "caught (the test binary failed; see its log)".to_owned()
            }
            Self::Caught(cases) => {
                // `module::case`, once: a store may run the suite more than once (the memory
                // store runs it again under the trait's default histogram).
                let mut names: Vec<String> = Vec::new();
                for case in cases {
                    let name = case.rsplit_once("conformance::").map_or(case.as_str(), |(_, name)| name);
                    let name = format!("`{name}`");
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                let only_random = names.iter().all(|name| name.starts_with("`differential::"));
                let hint = if only_random { " (only the random case: add a case for its rule)" } else { "" };
                format!("caught by {}{hint}", names.join(", "))
            }
            other => other.summary(),
        }
    }
}

/// One mutant's line of the report.
pub(super) struct Row {
    pub(super) mutant: Mutant,
    pub(super) backend: &'static str,
    pub(super) outcome: Outcome,
    pub(super) seconds: u64,
}

/// The report: a count, then one table row per mutant, the ones not caught first.
pub(super) fn render(rows: &[Row], took: Duration, seed: &str) -> String {
    let caught = rows.iter().filter(|row| row.outcome.is_caught()).count();
    let mut out = String::from("# Mutants\n\n");
    let _ = writeln!(
        out,
        "{caught} of {} mutants caught by the conformance suite, in {} min {} s.\n",
        rows.len(),
        took.as_secs() / 60,
        took.as_secs() % 60
    );
    let _ = writeln!(
        out,
        "The random differential case ran with seed {seed}: a mutant only it catches may be missed with \
         another seed.\n"
    );
    out.push_str("| mutant | backend | rule it breaks | result | seconds |\n|---|---|---|---|---|\n");
    let mut ordered: Vec<&Row> = rows.iter().collect();
    ordered.sort_by_key(|row| row.outcome.is_caught());
    for row in ordered {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} |",
            row.mutant.name,
            row.backend,
            row.mutant.rule.replace('|', "\\|"),
            row.outcome.cell().replace('|', "\\|"),
            row.seconds
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &'static str, outcome: Outcome) -> Row {
        let mutant = Mutant { name, rule: "a rule", file: "f.rs", find: "a", replace: "b" };
        Row { mutant, backend: "memory", outcome, seconds: 3 }
    }

    #[test]
    fn the_report_puts_what_was_not_caught_first() {
        let rows = [
            row(
                "caught",
                Outcome::Caught(vec![
                    "conformance::purge::cutoff".to_owned(),
                    "default_histogram::conformance::purge::cutoff".to_owned(),
                ]),
            ),
            row("missed", Outcome::NotCaught),
            row("slow", Outcome::TimedOut),
            row("lucky", Outcome::Caught(vec!["conformance::differential::random_operations".to_owned()])),
        ];
        let report = render(&rows, Duration::from_secs(61), "7");
        let expected = "\
# Mutants

3 of 4 mutants caught by the conformance suite, in 1 min 1 s.

The random differential case ran with seed 7: a mutant only it catches may be missed with another seed.

| mutant | backend | rule it breaks | result | seconds |
|---|---|---|---|---|
| `missed` | memory | a rule | NOT CAUGHT | 3 |
| `caught` | memory | a rule | caught by `purge::cutoff` | 3 |
| `slow` | memory | a rule | timed out (counted as caught) | 3 |
| `lucky` | memory | a rule | caught by `differential::random_operations` (only the random case: add a case for its rule) | 3 |
";
        assert_eq!(report, expected);
    }
}
