//! What a journey map page shows beside the map, as the CLI's HTML map does: the personas the
//! journey serves, a legend of the card kinds and lines, and, when the journey has an as-is and
//! a to-be version, what the change asks of the customer (`journey diff`'s effort figures).

use maud::{Markup, html};
use waymark_journey::diff::JourneyDiff;
use waymark_journey::{Journey, Kind};

/// The personas the journey serves, each with their goals and pains.
pub(crate) fn personas(journey: &Journey) -> Markup {
    let served: Vec<_> = journey
        .personas
        .iter()
        .filter(|p| journey.serves.contains(&p.id))
        .collect();
    html! {
        @if !served.is_empty() {
            h2 { "Personas" }
            ul.cards.grid {
                @for persona in served {
                    li.card {
                        h3 { (persona.name) }
                        @if let Some(description) = &persona.description { p { (description) } }
                        @for (title, items) in [("Goals", &persona.goals), ("Pains", &persona.pains)] {
                            @if !items.is_empty() {
                                p.meta { strong { (title) } }
                                ul { @for item in items { li { (item) } } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What the map's colours, outlines and lines mean.
pub(crate) fn legend(measured: bool) -> Markup {
    html! {
        h2 { "Legend" }
        ul.legend {
            @for kind in Kind::ALL {
                li {
                    svg.swatch-box width="14" height="14" viewBox="0 0 14 14" aria-hidden="true" focusable="false" {
                        rect x="0.5" y="0.5" width="13" height="13" rx="3" fill=(waymark_map::kind_fill(*kind)) stroke="#6b7280" {}
                    }
                    " " (kind.as_str())
                }
            }
            @if measured {
                li { "solid blue line through circles: the designed emotion; dashed orange line through diamonds: the emotion surveys measured at each touchpoint" }
            }
            li { "★ and a thick amber outline: moment of truth" }
            li { "dashed outline: optional step" }
            li { "dashed purple arrow: branch or loop" }
            li { "red dashed line: line of visibility" }
        }
    }
}

/// Seconds as people read a target: `2.0d`, `3.5h`.
fn time(seconds: u64) -> String {
    waymark_journey::duration::format_seconds(seconds as f64)
}

/// A change in a figure people want smaller, in words: `−4 (fewer)`.
fn change(before: i64, after: i64) -> String {
    match after - before {
        0 => "same".to_string(),
        d if d < 0 => format!("{d} (fewer)").replace('-', "−"),
        d => format!("+{d} (more)"),
    }
}

/// What the to-be version asks of the customer against the as-is one.
pub(crate) fn effort(diff: &JourneyDiff) -> Markup {
    let (b, a) = (&diff.before, &diff.after);
    let rows: [(&str, i64, i64); 7] = [
        (
            "Forms the customer fills in",
            b.customer_forms as i64,
            a.customer_forms as i64,
        ),
        (
            "Approvals the customer waits on",
            b.approvals as i64,
            a.approvals as i64,
        ),
        (
            "Hand-offs the customer deals with",
            b.handoffs as i64,
            a.handoffs as i64,
        ),
        (
            "Hand-offs behind the scenes",
            b.internal_handoffs as i64,
            a.internal_handoffs as i64,
        ),
        (
            "Departments the customer deals with",
            b.departments.len() as i64,
            a.departments.len() as i64,
        ),
        (
            "Touchpoints the customer sees or does",
            b.customer_touchpoints as i64,
            a.customer_touchpoints as i64,
        ),
        (
            "Touchpoints in all",
            b.touchpoints as i64,
            a.touchpoints as i64,
        ),
    ];
    html! {
        h2 #effort { "What the change asks of the customer" }
        p { "The " strong { (diff.after_version) } " version against the " strong { (diff.before_version) } " one, from the two journey files (" code { "waymark journey diff" } " gives the same figures)." }
        table {
            caption.visually-hidden { "Customer effort, before and after" }
            thead { tr { th scope="col" { "Figure" } th scope="col" { (diff.before_version) } th scope="col" { (diff.after_version) } th scope="col" { "Change" } } }
            tbody {
                @for (label, before, after) in rows {
                    tr { th scope="row" { (label) } td { (before) } td { (after) } td { (change(before, after)) } }
                }
                tr { th scope="row" { "Target time the customer spends" } td { (time(b.customer_target_seconds)) } td { (time(a.customer_target_seconds)) }
                    td { @if a.customer_target_seconds < b.customer_target_seconds { "shorter" } @else if a.customer_target_seconds > b.customer_target_seconds { "longer" } @else { "same" } } }
                tr { th scope="row" { "Target time in all" } td { (time(b.target_seconds)) } td { (time(a.target_seconds)) }
                    td { @if a.target_seconds < b.target_seconds { "shorter" } @else if a.target_seconds > b.target_seconds { "longer" } @else { "same" } } }
            }
        }
        p.meta {
            (diff.added.len()) " touchpoints added, " (diff.removed.len()) " removed, " (diff.changed.len()) " changed, " (diff.unchanged) " the same."
        }
        @if !diff.added.is_empty() || !diff.removed.is_empty() {
            ul {
                @for t in &diff.added { li { span.badge.done { "added" } " " (t.name) } }
                @for t in &diff.removed { li { span.badge.overdue { "removed" } " " (t.name) } }
            }
        }
    }
}
