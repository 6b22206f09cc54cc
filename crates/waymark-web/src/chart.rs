//! Charts drawn on the server as SVG: horizontal bars, each with its label and its figure written
//! beside it, so a chart reads without colour. Each chart is drawn twice: wide (label beside the
//! bar) for screens, and narrow (label above the bar) for phones, where the wide one would
//! shrink its text to a few pixels; the stylesheet shows the one that fits, so the text stays
//! about 13 px either way.

use maud::{Markup, PreEscaped, html};
use std::fmt::Write as _;

/// One bar: its label, its length against the longest bar, the figure written beside it, and a
/// second line under the label (time between steps, say).
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) value: f64,
    pub(crate) figure: String,
    pub(crate) note: Option<String>,
}

/// Text made safe inside SVG markup written by hand.
pub(crate) fn esc(text: &str) -> String {
    maud::html! { (text) }.into_string()
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

/// The phone's drawing: each label on a line of its own, the bar and its figure under it.
fn narrow(title: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let row = 48.0;
    let height: f64 = bars
        .iter()
        .map(|b| row + if b.note.is_some() { NOTE } else { 0.0 })
        .sum::<f64>()
        + 8.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart chart-narrow" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {NARROW} {height}" role="img" aria-label="{}" font-family="system-ui, sans-serif">"#,
        esc(title)
    );
    // Room for the figure after the longest bar ("120 (100 % of first)").
    let span = NARROW - 170.0;
    let mut y = 4.0;
    for bar in bars {
        let length = if max > 0.0 {
            (bar.value / max * span).max(1.0)
        } else {
            1.0
        };
        let label: String = if bar.label.chars().count() > 44 {
            bar.label.chars().take(43).chain(['…']).collect()
        } else {
            bar.label.clone()
        };
        let _ = write!(
            svg,
            r##"<g class="bar"><title>{full}: {figure}</title><text x="0" y="{ty:.1}" font-size="13" fill="#111827">{label}</text><rect x="0" y="{ry:.1}" width="{length:.1}" height="18" rx="3" fill="#1d4ed8"/><text x="{fx:.1}" y="{fy:.1}" font-size="13" font-weight="600" fill="#111827">{figure}</text>"##,
            full = esc(&bar.label),
            label = esc(&label),
            figure = esc(&bar.figure),
            ty = y + 13.0,
            ry = y + 19.0,
            fx = length + 6.0,
            fy = y + 33.0,
        );
        if let Some(note) = &bar.note {
            let _ = write!(
                svg,
                r##"<text x="0" y="{:.1}" font-size="12" fill="#374151">{}</text>"##,
                y + 52.0,
                esc(note)
            );
        }
        svg.push_str("</g>");
        y += row + if bar.note.is_some() { NOTE } else { 0.0 };
    }
    svg.push_str("</svg>");
    html! { (PreEscaped(svg)) }
}

/// The screen's drawing: labels beside the bars.
fn wide(title: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| b.value).fold(0.0_f64, f64::max);
    let rows: f64 = bars
        .iter()
        .map(|b| ROW + if b.note.is_some() { NOTE } else { 0.0 })
        .sum();
    let height = rows + 8.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart chart-wide" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}" font-family="system-ui, sans-serif">"#,
        esc(title)
    );
    let mut y = 4.0;
    let span = WIDTH - LABEL - 170.0;
    for bar in bars {
        let length = if max > 0.0 {
            (bar.value / max * span).max(1.0)
        } else {
            1.0
        };
        let label: String = if bar.label.chars().count() > 32 {
            bar.label.chars().take(31).chain(['…']).collect()
        } else {
            bar.label.clone()
        };
        let _ = write!(
            svg,
            r##"<g class="bar"><title>{full}: {figure}</title><text x="0" y="{ty:.1}" font-size="13" fill="#111827">{label}</text><rect x="{LABEL}" y="{ry:.1}" width="{length:.1}" height="20" rx="3" fill="#1d4ed8"/><text x="{fx:.1}" y="{ty:.1}" font-size="13" font-weight="600" fill="#111827">{figure}</text>"##,
            full = esc(&bar.label),
            label = esc(&label),
            figure = esc(&bar.figure),
            ty = y + 15.0,
            ry = y + 1.0,
            fx = LABEL + length + 6.0,
        );
        if let Some(note) = &bar.note {
            let _ = write!(
                svg,
                r##"<text x="0" y="{:.1}" font-size="11.5" fill="#374151">{}</text>"##,
                y + 30.0,
                esc(note)
            );
        }
        svg.push_str("</g>");
        y += ROW + if bar.note.is_some() { NOTE } else { 0.0 };
    }
    svg.push_str("</svg>");
    html! { (PreEscaped(svg)) }
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
