//! Numbers as people read them.

use crate::report::Figure;

/// `value` in `unit`, rounded for reading.
pub(crate) fn value(value: f64, unit: &str) -> String {
    match unit {
        "ms" if value < 0.01 => format!("{:.2} µs", value * 1000.0),
        "ms" if value < 10.0 => format!("{value:.3} ms"),
        "ms" => format!("{value:.1} ms"),
        "x" => format!("{value:.2}x"),
        "us/entry" => format!("{value:.2} µs per entry"),
        _ => format!("{} {unit}", thousands(value)),
    }
}

/// `value` rounded to a whole number, with thousands separated by commas.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < 0.0 && digits != "0" { format!("-{grouped}") } else { grouped }
}

/// A ratio, two decimals.
pub(crate) fn ratio(ratio: f64) -> String {
    format!("{ratio:.2}")
}

/// One figure on one line, for the progress output.
pub(crate) fn figure(figure: &Figure) -> String {
    let mut line = format!("{}: {}", figure.name, value(figure.value, figure.unit));
    if let Some(entries) = figure.entries {
        line += &format!(" with {} entries", thousands(entries as f64));
    }
    if let (Some(baseline), Some(r)) = (figure.baseline, figure.ratio) {
        line += &format!(" (baseline {}, ratio {})", value(baseline, figure.unit), ratio(r));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(thousands(-4321.0), "-4,321");
    }
}
