//! Charts drawn on the server as SVG: horizontal bars, each with its label and its figure written
//! beside it, so a chart reads without colour. Each chart is drawn twice: wide (label beside the
//! bar) for screens, and narrow (label above the bar) for phones, where the wide one would
//! shrink its text to a few pixels; the stylesheet shows the one that fits, so the text stays
//! about 13 px either way. Drawn through maud (every text escaped), coloured by the stylesheet's
//! chart tokens (`.bar-fill`, `.bar-label`, `.bar-note`).

use maud::{Markup, html};

/// One bar: its label, its length against the longest bar, the figure written beside it, and a
/// second line under the label (time between steps, say).
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) value: f64,
    pub(crate) figure: String,
    pub(crate) note: Option<String>,
}

const WIDTH: f64 = 640.0;
const LABEL: f64 = 230.0;
const ROW: f64 = 34.0;
const NOTE: f64 = 15.0;

/// A horizontal bar chart; `title` names it for screen readers, which also read each bar's label
/// and figure as text.
pub(crate) fn bars(title: &str, bars: &[Bar]) -> Markup {
    html! { (wide(title, bars)) (narrow(title, bars)) }
}

/// The width of the narrow drawing: a 375 px phone shows it at about its own size.
const NARROW: f64 = 340.0;

/// A number as SVG coordinates are written: one decimal.
fn at(value: f64) -> String {
    format!("{value:.1}")
}

/// A label cut to `most` characters, with an ellipsis when it was longer.
pub(crate) fn cut(label: &str, most: usize) -> String {
    if label.chars().count() > most {
        label.chars().take(most - 1).chain(['…']).collect()
    } else {
        label.to_string()
    }
}

/// A bar's length at `span` for the longest bar `max`: at least a sliver.
fn length(bar: &Bar, max: f64, span: f64) -> f64 {
    if max > 0.0 {
        (bar.value / max * span).max(1.0)
    } else {
        1.0
    }
}

/// The phone's drawing: each label on a line of its own, the bar and its figure under it.
fn narrow(title: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let row = 48.0;
    let height: f64 = bars
        .iter()
        .map(|b| row + if b.note.is_some() { NOTE } else { 0.0 })
        .sum::<f64>()
        + 8.0;
    // Room for the figure after the longest bar ("120 (100 % of first)").
    let span = NARROW - 170.0;
    let mut tops = Vec::with_capacity(bars.len());
    let mut y = 4.0;
    for bar in bars {
        tops.push(y);
        y += row + if bar.note.is_some() { NOTE } else { 0.0 };
    }
    html! {
        svg.chart.chart-narrow xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {NARROW} {height}")) role="img" aria-label=(title) font-family="system-ui, sans-serif" {
            @for (bar, y) in bars.iter().zip(&tops) {
                @let long = length(bar, max, span);
                g.bar {
                    title { (bar.label) ": " (bar.figure) }
                    text.bar-label x="0" y=(at(y + 13.0)) font-size="13" { (cut(&bar.label, 44)) }
                    rect.bar-fill x="0" y=(at(y + 19.0)) width=(at(long)) height="18" rx="3" {}
                    text.bar-label x=(at(long + 6.0)) y=(at(y + 33.0)) font-size="13" font-weight="600" { (bar.figure) }
                    @if let Some(note) = &bar.note {
                        text.bar-note x="0" y=(at(y + 52.0)) font-size="12" { (note) }
                    }
                }
            }
        }
    }
}

/// The screen's drawing: labels beside the bars.
fn wide(title: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let rows: f64 = bars
        .iter()
        .map(|b| ROW + if b.note.is_some() { NOTE } else { 0.0 })
        .sum();
    let height = rows + 8.0;
    let span = WIDTH - LABEL - 170.0;
    let mut tops = Vec::with_capacity(bars.len());
    let mut y = 4.0;
    for bar in bars {
        tops.push(y);
        y += ROW + if bar.note.is_some() { NOTE } else { 0.0 };
    }
    html! {
        svg.chart.chart-wide xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {height}")) role="img" aria-label=(title) font-family="system-ui, sans-serif" {
            @for (bar, y) in bars.iter().zip(&tops) {
                @let long = length(bar, max, span);
                g.bar {
                    title { (bar.label) ": " (bar.figure) }
                    text.bar-label x="0" y=(at(y + 15.0)) font-size="13" { (cut(&bar.label, 32)) }
                    rect.bar-fill x=(LABEL) y=(at(y + 1.0)) width=(at(long)) height="20" rx="3" {}
                    text.bar-label x=(at(LABEL + long + 6.0)) y=(at(y + 15.0)) font-size="13" font-weight="600" { (bar.figure) }
                    @if let Some(note) = &bar.note {
                        text.bar-note x="0" y=(at(y + 30.0)) font-size="11.5" { (note) }
                    }
                }
            }
        }
    }
}

/// A share (0 … 1) as people read it: `67 %`.
pub(crate) fn percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

/// Seconds in words for people: "3 h 20 min", "2.5 days".
pub(crate) fn duration(seconds: f64) -> String {
    waymark_journey::duration::format_seconds(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_are_as_long_as_their_values_and_escape_their_labels() {
        let chart = bars(
            "Two <steps>",
            &[
                Bar {
                    label: "Form & submit".into(),
                    value: 100.0,
                    figure: "100".into(),
                    note: None,
                },
                Bar {
                    label: "Approved".into(),
                    value: 50.0,
                    figure: "50 (50 %)".into(),
                    note: Some("median 2 h".into()),
                },
            ],
        )
        .into_string();
        assert!(
            chart.contains(r#"aria-label="Two &lt;steps&gt;""#),
            "{chart}"
        );
        assert!(chart.contains("Form &amp; submit"));
        assert!(chart.contains(r#"width="240.0""#), "{chart}");
        assert!(chart.contains(r#"width="120.0""#), "{chart}");
        assert!(chart.contains("median 2 h"));
        // The phone's drawing, beside it: the same bars at the narrow scale.
        assert!(chart.contains("chart-narrow"), "{chart}");
        assert!(chart.contains(r#"width="170.0""#), "{chart}");
        assert!(chart.contains(r#"width="85.0""#), "{chart}");
    }
}
