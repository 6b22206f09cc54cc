//! A touchpoint's detail, opened from its card on the live map: what it is meant to be, how it
//! performs now and over time, where journeys leave the design around it, what comes before
//! repeat contacts there, and what people wrote about it.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use waymark_analytics::journey::{DeviationKind, Options, Report, ScoreFigures, TouchpointFigures};

use crate::Web;
use crate::chart::{Bar, bars, duration, percent};
use crate::journeys::{Loaded, Version, load, may_read, refused};
use crate::layout::{page, problem, when};
use crate::session::Signed;

/// How many comments the page shows, newest first.
const COMMENTS: usize = 25;

fn answers(n: usize) -> String {
    if n == 1 {
        "1 answer".into()
    } else {
        format!("{n} answers")
    }
}

fn scores(s: &ScoreFigures) -> String {
    let mut parts = Vec::new();
    if let Some((v, n)) = s.csat {
        parts.push(format!("CSAT {v:.1} of 5 ({})", answers(n)));
    }
    if let Some((v, n)) = s.nps {
        parts.push(format!("NPS {v:+.0} ({})", answers(n)));
    }
    if let Some((v, n)) = s.ces {
        parts.push(format!("CES {v:.1} of 7, lower is easier ({})", answers(n)));
    }
    if parts.is_empty() {
        "no survey answers yet".into()
    } else {
        parts.join("; ")
    }
}

/// Time against target, in words (never colour alone).
fn against_target(t: &TouchpointFigures) -> String {
    if t.visits == 0 {
        return "not measured yet".into();
    }
    let median = t.total_seconds.median;
    match t.target_seconds {
        Some(target) if median > target => format!(
            "median {} — over the target of {} ({} of visits over)",
            duration(median),
            duration(target),
            t.breach_share.map(percent).unwrap_or_default()
        ),
        Some(target) => format!(
            "median {} — within the target of {} ({} of visits over)",
            duration(median),
            duration(target),
            t.breach_share.map(percent).unwrap_or_default()
        ),
        None => format!("median {} (no target set)", duration(median)),
    }
}

fn name_of<'a>(report: &'a Report, id: &'a str) -> &'a str {
    report
        .touchpoints
        .iter()
        .find(|t| t.id == id)
        .map_or(id, |t| t.name.as_str())
}

fn deviations(report: &Report, id: &str) -> Markup {
    let around: Vec<_> = report
        .conformance
        .deviations
        .iter()
        .filter(|d| d.from == id || d.to == id || d.skipped.iter().any(|s| s == id))
        .collect();
    html! {
        @if around.is_empty() {
            p { "No journey leaves the designed path here." }
        } @else {
            table {
                caption.visually-hidden { "Deviations from the designed journey around this touchpoint" }
                thead { tr { th scope="col" { "What happened" } th scope="col" { "Instances" } } }
                tbody {
                    @for d in around {
                        tr {
                            td { (match d.kind {
                                DeviationKind::Start => format!("started at {}", name_of(report, &d.to)),
                                DeviationKind::Repeated => format!("{} again", name_of(report, &d.to)),
                                DeviationKind::Skipped => format!(
                                    "from {} to {}, skipping {}",
                                    name_of(report, &d.from),
                                    name_of(report, &d.to),
                                    d.skipped.iter().map(|s| name_of(report, s)).collect::<Vec<_>>().join(", ")
                                ),
                                DeviationKind::Unexpected => format!(
                                    "from {} to {}, a move the design does not have",
                                    name_of(report, &d.from),
                                    name_of(report, &d.to)
                                ),
                            }) }
                            td { (d.count) }
                        }
                    }
                }
            }
        }
    }
}

fn repeat_contacts(report: &Report, id: &str) -> Markup {
    let Some(contact) = report
        .contacts
        .by_touchpoint
        .iter()
        .find(|c| c.touchpoint == id)
    else {
        return html! { p { "This touchpoint is not counted as a contact (a conversation, or a touchpoint marked costly)." } };
    };
    html! {
        p { (contact.visits) " contacts from " (contact.instances) " instances; "
            (contact.repeated_instances) " instances came back more than once." }
        @if !contact.preceded_by.is_empty() {
            h3 { "Just before each contact" }
            (bars("What came just before each contact", &contact.preceded_by.iter().take(8).map(|(t, n)| Bar {
                label: if t == "(start)" { "the start of the journey".to_string() } else { name_of(report, t).to_string() },
                value: *n as f64,
                figure: n.to_string(),
                note: None,
            }).collect::<Vec<_>>()))
        }
        @if !contact.drivers.is_empty() || !contact.attribute_drivers.is_empty() {
            h3 { "What goes with a contact here" }
            table {
                caption.visually-hidden { "Touchpoints and traits more common before a contact" }
                thead { tr { th scope="col" { "Before the first contact" } th scope="col" { "With a contact" } th scope="col" { "Without" } th scope="col" { "Lift" } } }
                tbody {
                    @for d in contact.drivers.iter().chain(&contact.attribute_drivers).take(10) {
                        tr {
                            td { (name_of(report, &d.touchpoint)) }
                            td { (percent(d.share_with)) }
                            td { (percent(d.share_without)) }
                            td { @if d.lift.is_finite() { (format!("{:.1}×", d.lift)) } @else { "only with" } }
                        }
                    }
                }
            }
        }
    }
}

fn trend(t: &TouchpointFigures) -> Markup {
    html! {
        @if t.trend.is_empty() {
            p { "Not enough data for a trend yet." }
        } @else {
            (bars("Instances per period", &t.trend.iter().map(|s| Bar {
                label: s.key.clone(),
                value: s.instances as f64,
                figure: s.instances.to_string(),
                note: Some(format!(
                    "median {}{}",
                    duration(s.median_total_seconds),
                    s.breach_share.map(|b| format!(", {} over target", percent(b))).unwrap_or_default()
                )),
            }).collect::<Vec<_>>()))
            table {
                caption.visually-hidden { "The touchpoint per period" }
                thead { tr { th scope="col" { "Period" } th scope="col" { "Instances" } th scope="col" { "Visits" }
                    th scope="col" { "Repeats" } th scope="col" { "Median time" } th scope="col" { "Over target" } th scope="col" { "Scores" } } }
                tbody {
                    @for s in &t.trend {
                        tr {
                            td { (s.key) } td { (s.instances) } td { (s.visits) } td { (s.repeat_visits) }
                            td { (duration(s.median_total_seconds)) }
                            td { (s.breach_share.map(percent).unwrap_or_else(|| "–".into())) }
                            td { (scores(&s.scores)) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /journeys/{id}/touchpoints/{touchpoint}`
pub(crate) async fn show(
    State(web): State<Web>,
    signed: Signed,
    Path((id, wanted)): Path<(String, String)>,
    Query(version): Query<Version>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    let query = version.query();
    let Loaded {
        journey,
        report,
        snapshot,
        reading,
        ..
    } = match load(&web, &signed, &id, version.version, Options::default()).await {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    let Some((stage, designed)) = journey.touchpoints().find(|(_, t)| t.id == wanted) else {
        return problem(
            StatusCode::NOT_FOUND,
            "No such touchpoint",
            &format!("The journey `{id}` has no touchpoint `{wanted}`."),
            Some(&signed),
        );
    };
    let figures = report
        .as_ref()
        .and_then(|r| r.touchpoints.iter().find(|t| t.id == wanted));
    // Kept per snapshot (and made off the request's thread): finding them reads every event.
    let said = match snapshot {
        Some(snapshot) => {
            let (logs, journey, wanted) = (web.app.logs.clone(), journey.clone(), wanted.clone());
            tokio::task::spawn_blocking(move || {
                logs.comments(&snapshot, &journey, &wanted, COMMENTS)
            })
            .await
            .unwrap_or_default()
        }
        None => Default::default(),
    };
    let moment = report
        .as_ref()
        .and_then(|r| r.moments.iter().find(|m| m.touchpoint == wanted));
    let e = &designed.experience;
    let content = html! {
        p.meta { a href=(format!("/journeys/{id}{query}")) { "← " (journey.title) } " · stage " (stage.name) }
        @if let Some(reading) = &reading {
            (crate::journeys::reading_notice(reading))
        }
        dl.facts {
            dt { "Channel" } dd { (designed.channel.as_str()) }
            dt { "Owned by" } dd { (designed.department) }
            dt { "Done by" } dd { (designed.actor.as_str()) " (" (designed.kind.as_str()) ")" }
            dt { "Target" } dd { (designed.target.map(waymark_journey::duration::format).unwrap_or_else(|| "none set".into())) }
            dt { "Moment of truth" } dd { (if designed.moment_of_truth { "yes, as designed" } else { "not marked" }) }
            @if let Some(text) = &e.thinks { dt { "Should think" } dd { (text) } }
            @if let Some(text) = &e.feels { dt { "Should feel" } dd { (text) } }
            @if let Some(text) = &e.does { dt { "Does" } dd { (text) } }
        }
        div.actions { (crate::plans::from_touchpoint(&signed, &id, &wanted)) }
        h2 { "Now" }
        @if let Some(t) = figures {
            dl.facts {
                dt { "Instances" } dd { (t.instances) " (" (t.visits) " visits, " (t.repeat_visits) " repeated)" }
                dt { "Left the journey here" } dd { (t.drop_off) }
                dt { "Time" } dd { (against_target(t)) }
                dt { "Scores" } dd { (scores(&t.scores)) }
                @if let Some(m) = moment {
                    dt { "Influence on completion" } dd { (format!("{:+.0} points", m.influence * 100.0)) " (journeys that pass here against those that do not)" }
                }
            }
            @if !t.worst.is_empty() {
                h3 { "Longest waits" }
                ul {
                    @for (case, seconds) in t.worst.iter().take(5) {
                        li {
                            @if crate::customers::may_read(&signed) {
                                a href=(format!("/customers?q={}", crate::session::form_urlencoded(case))) { (case) }
                            } @else { (case) }
                            ": " (duration(*seconds))
                        }
                    }
                }
                @if crate::customers::may_read(&signed) {
                    p { a href=(format!("/journeys/{id}/touchpoints/{}/people{query}", designed.id)) { "Everyone whose visit took longer than the target" } }
                }
            }
            h2 { "Over time" }
            (trend(t))
        } @else {
            p { "No events are measured for this journey yet." }
        }
        @if let Some(report) = &report {
            h2 { "Deviations" }
            (deviations(report, &wanted))
            h2 { "Repeat contacts" }
            (repeat_contacts(report, &wanted))
        }
        h2 { "What people said" }
        @if said.is_empty() {
            p { "No comments yet." }
        } @else {
            ul.comments {
                @for c in said.iter() {
                    li {
                        blockquote { (c.text) }
                        p.meta { (when(c.time)) " · " (c.case)
                            @for (kind, value) in &c.scores { " · " (kind.as_str().to_uppercase()) " " (value) } }
                        (crate::plans::from_comment(&signed, &id, &wanted, &c.case, c.time))
                    }
                }
            }
        }
    };
    page(&designed.name, Some(&signed), content).into_response()
}

/// The most people listed over a touchpoint's target.
const OVER: usize = 200;

/// `GET /journeys/{id}/touchpoints/{touchpoint}/people`: the visits that took longer than the
/// touchpoint's target, longest first, each a link to the person's Customer 360.
pub(crate) async fn people(
    State(web): State<Web>,
    signed: Signed,
    Path((id, touchpoint)): Path<(String, String)>,
    Query(version): Query<Version>,
) -> Response {
    if !crate::customers::may_read(&signed) {
        return crate::customers::refused(&signed);
    }
    if !may_read(&signed) {
        return refused(&signed);
    }
    let query = version.query();
    let Loaded {
        journey, snapshot, ..
    } = match load(&web, &signed, &id, version.version, Options::default()).await {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    let Some((_, designed)) = journey.touchpoints().find(|(_, t)| t.id == touchpoint) else {
        return problem(
            StatusCode::NOT_FOUND,
            "No such touchpoint",
            "This journey has no touchpoint by that name. It may have been renamed in a newer version.",
            Some(&signed),
        );
    };
    let designed = designed.clone();
    let Some(snapshot) = snapshot else {
        return page(
            &designed.name,
            Some(&signed),
            html! { p.notice { "The events are still being read; try again in a few seconds." } },
        )
        .into_response();
    };
    let (logs, journey2, wanted) = (web.app.logs.clone(), journey.clone(), touchpoint.clone());
    let (store, viewer) = (web.app.store.clone(), crate::admin::viewer(&signed));
    let found = tokio::task::spawn_blocking(move || {
        let found = logs
            .instances(&snapshot, &journey2)
            .map_err(|e| e.to_string())?;
        let over = waymark_analytics::journey::over_target(&journey2, &found, &wanted)
            .map_err(|e| e.to_string())?;
        let log = &snapshot.log;
        Ok::<_, String>(
            over.into_iter()
                .map(|o| {
                    let instance = &found[o.instance];
                    let case = log.case(instance.case as usize);
                    let shown = crate::analyses::name_of(log, instance.case as usize);
                    let at = instance.visits.get(o.visit).map(|v| v.start);
                    (case.name().to_string(), shown, o.seconds, at)
                })
                .collect::<Vec<_>>(),
        )
        .and_then(|mut over| {
            // Nobody is named whose visit would tell where a request the viewer may not see
            // stands.
            let private = waymark_server::work::private_people(
                store.as_ref(),
                &viewer,
                over.iter().map(|(case, ..)| case.as_str()),
            )
            .map_err(|e| e.to_string())?;
            over.retain(|(case, ..)| !private.contains(case));
            Ok(over)
        })
    })
    .await;
    let over = match found {
        Ok(Ok(over)) => over,
        Ok(Err(error)) => return crate::layout::failure(&error),
        Err(error) => return crate::layout::failure(&error),
    };
    let content = html! {
        p.meta { a href=(format!("/journeys/{id}/touchpoints/{touchpoint}{query}")) { "← " (designed.name) } }
        @match designed.target {
            None => { p.empty { "This touchpoint has no target, so no visit is over it." } }
            Some(target) => {
                p role="status" { (over.len()) @if over.len() == 1 { " visit" } @else { " visits" }
                    " took longer than the target of " (waymark_journey::duration::format(target)) ", longest first."
                    @if over.len() > OVER { " The first " (OVER) " are listed." } }
                @if !over.is_empty() {
                    table {
                        caption.visually-hidden { "Visits over the target" }
                        thead { tr { th scope="col" { "Person" } th scope="col" { "Took" } th scope="col" { "Started" } } }
                        tbody {
                            @for (case, shown, seconds, at) in over.iter().take(OVER) {
                                tr {
                                    td { a href=(format!("/customers?q={}", crate::session::form_urlencoded(case))) { (shown.clone().unwrap_or_else(|| case.clone())) } }
                                    td { (duration(*seconds)) }
                                    td { (at.map(when).unwrap_or_default()) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(
        &format!("Over target: {}", designed.name),
        Some(&signed),
        content,
    )
    .into_response()
}
