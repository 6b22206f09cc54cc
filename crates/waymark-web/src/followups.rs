//! The follow-ups opened for unhappy customers: how many, how many wait and are late, how fast
//! the departments contact and close them, and whether the customers came back happier — by
//! department, and each one with its outcome. Each follow-up itself is a request, worked from the
//! department's inbox (`crate::work`).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use waymark_server::followups::{Measured, Summary, measure, summarize};

use crate::Web;
use crate::chart::duration;
use crate::layout::{page, when};
use crate::session::{Signed, form_urlencoded};

fn median(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "–".into(), duration)
}

fn tiles(s: &Summary) -> Markup {
    let (recovered, scored) = s.recovered;
    crate::ui::stats(
        "Follow-ups",
        &[
            crate::ui::Stat {
                figure: s.opened.to_string(),
                label: "opened".into(),
                href: None,
                warn: false,
            },
            crate::ui::Stat {
                figure: s.open.to_string(),
                label: "waiting".into(),
                href: None,
                warn: false,
            },
            crate::ui::Stat {
                figure: s.overdue.to_string(),
                label: "late".into(),
                href: None,
                warn: s.overdue > 0,
            },
            crate::ui::Stat {
                figure: median(s.median_first_contact_s),
                label: "median to first contact".into(),
                href: None,
                warn: false,
            },
            crate::ui::Stat {
                figure: median(s.median_close_s),
                label: "median to close".into(),
                href: None,
                warn: false,
            },
            crate::ui::Stat {
                figure: format!("{recovered} of {scored}"),
                label: "happier at their next answer".into(),
                href: None,
                warn: false,
            },
        ],
    )
}

fn state(m: &Measured, now: i64) -> Markup {
    let (word, class) = if m.closed_us.is_some() {
        ("closed", "done")
    } else if m.status != "running" {
        (m.status.as_str(), "")
    } else if m.due_us.is_some_and(|d| d < now) {
        ("late", "overdue")
    } else if m.first_contact_us.is_some() {
        ("contacted", "open")
    } else {
        ("waiting", "open")
    };
    html! { span class=(format!("badge {class}")) { (word) } }
}

fn recovery(m: &Measured) -> String {
    match (&m.recovery, m.recovered()) {
        (Some((kind, value, _)), Some(true)) => {
            format!("{} {value}: happier", kind.to_uppercase())
        }
        (Some((kind, value, _)), _) => format!("{} {value}: not yet", kind.to_uppercase()),
        (None, _) if m.closed_us.is_some() => "no answer since".into(),
        (None, _) => "–".into(),
    }
}

/// `GET /follow-ups`
pub(crate) async fn list(State(web): State<Web>, signed: Signed) -> Response {
    if !crate::journeys::may_read(&signed) {
        return crate::journeys::refused(&signed);
    }
    let store = web.app.store.clone();
    let found = tokio::task::spawn_blocking(move || measure(store.as_ref())).await;
    let all = match found {
        Ok(Ok(all)) => all,
        Ok(Err(error)) => return crate::layout::failure(&error),
        Err(error) => return crate::layout::failure(&error),
    };
    let now = web.app.clock.now_us();
    let summary = summarize(&all, now);
    let mut departments: Vec<&str> = all.iter().map(|m| m.department.as_str()).collect();
    departments.sort_unstable();
    departments.dedup();
    let customers = crate::customers::may_read(&signed);
    let content = html! {
        p { "A low score (CSAT 1–2, NPS 0–6, CES 5–7) or a negative comment in a survey opens a follow-up for the department that owns the touchpoint, with the customer's context. Someone there contacts them within two working days (else their lead is told), then closes it with the outcome. Happier means their next answer was CSAT 4–5, NPS 9–10 or CES 1–3." }
        (tiles(&summary))
        @if all.is_empty() {
            (crate::ui::empty("No follow-up yet: no survey answer has been unhappy.", None))
        } @else {
            h2 { "By department" }
            div.table-scroll {
                table {
                    caption.visually-hidden { "Follow-ups by department" }
                    thead { tr { th scope="col" { "Department" } th scope="col" { "Opened" } th scope="col" { "Waiting" } th scope="col" { "Late" }
                        th scope="col" { "Median to first contact" } th scope="col" { "Median to close" } th scope="col" { "Happier" } } }
                    tbody {
                        @for d in &departments {
                            @let theirs: Vec<Measured> = all.iter().filter(|m| m.department == *d).cloned().collect();
                            @let s = summarize(&theirs, now);
                            tr {
                                th scope="row" { (d) }
                                td { (s.opened) } td { (s.open) } td { (s.overdue) }
                                td { (median(s.median_first_contact_s)) } td { (median(s.median_close_s)) }
                                td { (s.recovered.0) " of " (s.recovered.1) }
                            }
                        }
                    }
                }
            }
            h2 { "Each follow-up" }
            ul.cards {
                @for m in &all {
                    li.card {
                        p { (state(m, now)) " " strong { (m.reason) } }
                        p.meta {
                            a href=(format!("/journeys/{}/touchpoints/{}", m.journey, m.touchpoint)) { (m.journey) " · " (m.touchpoint) }
                            " · " (m.department) " · opened " (when(m.opened_us))
                            @if customers { " · " a href=(format!("/customers?q={}", form_urlencoded(&m.customer))) { (m.customer) } }
                        }
                        p.meta {
                            "first contact " (m.to_first_contact_s().map_or_else(|| "not yet".into(), |s| format!("after {}", duration(s))))
                            " · closed " (m.to_close_s().map_or_else(|| "not yet".into(), |s| format!("after {}", duration(s))))
                            @if let Some(outcome) = &m.outcome { " · " (outcome) }
                            " · next answer: " (recovery(m))
                        }
                        p.meta { a href=(format!("/work/requests/{}", m.request)) { "The request" } }
                    }
                }
            }
        }
    };
    page("Follow-ups", Some(&signed), content).into_response()
}
