//! Charts as inline SVG, drawn on the server from counts: no script and no image files.

use std::fmt::Write as _;

use maud::{Markup, html};
use pulse::Timestamp;

/// Microseconds in an hour.
pub(crate) const HOUR_MICROS: i64 = 3_600_000_000;

/// A bar chart of `counts`, one bar per hour from `start`, with a tick and a date at each
/// midnight. Each bar names its hour and count for a pointer or a screen reader.
pub(crate) fn hourly(start: Timestamp, counts: &[u64], label: &str) -> Markup {
    const WIDTH: f64 = 1000.0;
    const HEIGHT: f64 = 100.0;
    const PLOT: f64 = 90.0;
    let peak = counts.iter().copied().max().unwrap_or(0).max(1);
    let slot = WIDTH / counts.len().max(1) as f64;
    let total: u64 = counts.iter().sum();
    let hour = |i: i64| Timestamp::from_micros(start.as_micros() + i * HOUR_MICROS).to_datetime();
    html! {
        svg.chart viewBox={ "0 0 " (WIDTH) " " (HEIGHT + 16.0) } role="img" aria-labelledby="chart-title" {
            title #chart-title { (label) ": " (total) " in all, at most " (peak) " in one hour" }
            line.axis x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) {}
            @for (i, &n) in (0_i64..).zip(counts) {
                @let at = hour(i);
                @if at.format("%H").to_string() == "00" {
                    line.axis x1=(coordinate(i as f64 * slot)) y1="0" x2=(coordinate(i as f64 * slot)) y2=(HEIGHT) {}
                    text x=(coordinate(i as f64 * slot + 3.0)) y=(HEIGHT + 13.0) { (at.format("%b %d")) }
                }
                @if n > 0 {
                    @let height = (n as f64 / peak as f64 * PLOT).max(1.5);
                    rect.bar x=(coordinate(i as f64 * slot + 0.5)) y=(coordinate(HEIGHT - height))
                        width=(coordinate((slot - 1.0).max(1.0))) height=(coordinate(height)) {
                        title { (at.format("%Y-%m-%d %H:00 UTC")) ": " (n) }
                    }
                }
            }
        }
    }
}

/// A small trend line of `counts`, for a table row; `label` says what it shows.
pub(crate) fn sparkline(counts: &[u64], label: &str) -> Markup {
    const WIDTH: f64 = 120.0;
    const HEIGHT: f64 = 28.0;
    let peak = counts.iter().copied().max().unwrap_or(0).max(1);
    let step = WIDTH / (counts.len().max(2) - 1) as f64;
    let mut points = String::new();
    for (i, &n) in counts.iter().enumerate() {
        let y = HEIGHT - 2.0 - n as f64 / peak as f64 * (HEIGHT - 4.0);
        let _ = write!(points, "{},{} ", coordinate(i as f64 * step), coordinate(y));
    }
    let series: Vec<String> = counts.iter().map(u64::to_string).collect();
    html! {
        svg.spark viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } role="img" aria-label={ (label) ": " (series.join(", ")) } {
            polyline points=(points.trim_end()) {}
        }
    }
}

/// A coordinate to one decimal: enough for a screen, and short.
fn coordinate(value: f64) -> String {
    format!("{value:.1}")
}
