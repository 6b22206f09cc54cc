//! Scorecards: each KPI's value over the last weeks, its target and standing (in words and in
//! colour), its change against the weeks before and its weekly trend. Per journey (a tab beside
//! the map, with each KPI before and after a date), across journeys by owner or department
//! (`/scorecards`), and on their owners' home pages.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use waymark_analytics::journey::kpis::{self, Card, Change, Standing, Window};
use waymark_analytics::journey::{Instance, Options};
use waymark_eventlog::Micros;
use waymark_journey::Journey;
use waymark_journey::kpi::{Direction, Unit};

use crate::Web;
use crate::analyses::{instances_in, loaded, one, pairs, version_of};
use crate::journeys::{PAGE_WAIT, tabs};
use crate::layout::page;
use crate::session::{Signed, form_urlencoded};

/// Days in a scorecard's window unless asked otherwise.
const DAYS: i64 = 28;

/// A KPI card with the journey it belongs to.
pub(crate) struct Owned {
    pub(crate) journey: String,
    pub(crate) title: String,
    /// The touchpoint a touchpoint KPI measures.
    pub(crate) touchpoint: Option<String>,
    pub(crate) card: Card,
}

fn unit(card: &Card) -> Unit {
    card.kpi
        .measure
        .as_ref()
        .map_or(Unit::Share, waymark_journey::Measure::unit)
}

/// The cards of one journey's KPIs on its instances.
fn cards(journey: &Journey, instances: &[Instance], window: Window) -> Vec<Owned> {
    kpis::scorecard(journey, instances, window)
        .into_iter()
        .map(|card| owned(journey, card))
        .collect()
}

/// A card with its journey.
fn owned(journey: &Journey, card: Card) -> Owned {
    Owned {
        journey: journey.id.clone(),
        title: journey.title.clone(),
        touchpoint: match card.scope {
            kpis::Scope::Touchpoint(t) => journey.touchpoints().nth(t).map(|(_, tp)| tp.id.clone()),
            kpis::Scope::Journey => None,
        },
        card,
    }
}

/// Every deployed journey's KPIs (the latest version of each), on one reading of the events
/// (blocking: run it on the blocking pool); none while the events are being read.
pub(crate) fn everyone(
    logs: &Arc<waymark_server::live::Analyses>,
    store: &Arc<dyn waymark_store::Store>,
    now: Micros,
) -> Result<Option<Vec<Owned>>, String> {
    let journeys: Vec<Journey> = store
        .journeys()
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|d| waymark_journey::check(&d.source).journey)
        .filter(|j| {
            kpis::definitions(j)
                .iter()
                .any(|(k, _, _)| k.measure.is_some())
        })
        .collect();
    if journeys.is_empty() {
        return Ok(Some(Vec::new()));
    }
    let snapshot = match waymark_server::journeys::live_log(
        logs,
        store,
        &journeys,
        &Options::default(),
        PAGE_WAIT,
    ) {
        Ok(snapshot) => snapshot,
        Err(waymark_server::journeys::Measure::Loading(_)) => return Ok(None),
        Err(error) => return Err(format!("{error:?}")),
    };
    let window = Window::ending(now);
    let mut all = Vec::new();
    for journey in &journeys {
        // Kept per snapshot and minute: every home page asks for them.
        let kept = logs
            .scorecard(&snapshot, journey, window)
            .map_err(|e| e.to_string())?;
        all.extend(kept.iter().cloned().map(|card| owned(journey, card)));
    }
    Ok(Some(all))
}

/// A KPI's standing as a badge: the word, and its colour.
fn standing(card: &Card) -> Markup {
    let class = match card.standing {
        Standing::Met => "done",
        Standing::Missed => "overdue",
        Standing::Untargeted => "open",
        Standing::NoData => "",
    };
    html! { span class=(format!("badge {class}")) { (card.standing.as_str()) } }
}

/// Better or worse than the window before, in words with an arrow.
fn change(card: &Card) -> Markup {
    let unit = unit(card);
    let (Some(_), Some(previous)) = (card.value, card.previous) else {
        return html! { span.hint { "—" } };
    };
    let arrow = match card.value {
        Some(now) if now > previous => "↑",
        Some(now) if now < previous => "↓",
        _ => "→",
    };
    let (word, class) = match card.change {
        Some(Change::Better) => ("better", "good"),
        Some(Change::Worse) => ("worse", "bad"),
        _ => ("steady", "steady"),
    };
    html! {
        span class=(format!("change {class}")) { (arrow) " " (word) }
        " " span.hint { "(was " (kpis::show(unit, previous)) ")" }
    }
}

/// The weekly trend as a small line (the figures are in the table and the sentence; the line is
/// a picture of them).
fn sparkline(card: &Card) -> Markup {
    let points: Vec<(usize, f64)> = card
        .trend
        .iter()
        .enumerate()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    if points.len() < 2 {
        return html! { span.hint { "—" } };
    }
    let (w, h, pad) = (96.0, 24.0, 3.0);
    let min = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let max = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let span = (max - min).max(f64::MIN_POSITIVE);
    let weeks = card.trend.len().max(2) - 1;
    let at = |(k, v): (usize, f64)| {
        let x = pad + k as f64 / weeks as f64 * (w - 2.0 * pad);
        let y = if max > min {
            h - pad - (v - min) / span * (h - 2.0 * pad)
        } else {
            h / 2.0
        };
        format!("{x:.1},{y:.1}")
    };
    let line: Vec<String> = points.iter().map(|&p| at(p)).collect();
    let last = at(*points.last().unwrap_or(&(0, 0.0)));
    let (lx, ly) = last.split_once(',').unwrap_or(("0", "0"));
    let tone = match card.standing {
        Standing::Met => "good",
        Standing::Missed => "bad",
        _ => "steady",
    };
    html! {
        svg.sparkline class=(tone) viewBox=(format!("0 0 {w} {h}")) width=(w) height=(h) aria-hidden="true" focusable="false" {
            polyline points=(line.join(" ")) {}
            circle cx=(lx) cy=(ly) r="2.5" {}
        }
    }
}

/// The target as written: `≥ 80%`, `≤ 2d`.
fn target(card: &Card) -> String {
    match card.kpi.target_text() {
        Some(text) => {
            let op = match card.kpi.direction {
                Direction::Up => "≥",
                Direction::Down => "≤",
            };
            format!("{op} {text}")
        }
        None => "—".to_string(),
    }
}

/// The cards as a table, one KPI a row; `journeys` adds the journey's column, `links` links the
/// KPI's journey and touchpoint (for people who may read journeys).
pub(crate) fn table(rows: &[&Owned], journeys: bool, links: bool) -> Markup {
    html! {
        div.table-scroll.cards tabindex="0" role="group" aria-label="KPIs (scrolls sideways)" {
            table.scorecard {
                thead {
                    tr {
                        th scope="col" { "KPI" }
                        @if journeys { th scope="col" { "Journey" } }
                        th scope="col" { "Of" }
                        th scope="col" { "Owner" }
                        th scope="col" class="num" { "Value" }
                        th scope="col" class="num" { "Target" }
                        th scope="col" { "Standing" }
                        th scope="col" { "Change" }
                        th scope="col" { "12 weeks" }
                    }
                }
                tbody {
                    @for row in rows {
                        @let card = &row.card;
                        tr {
                            th scope="row" {
                                (card.kpi.name)
                                div.hint.words { (card.words) }
                            }
                            @if journeys {
                                td data-label="Journey" { @if links { a href=(format!("/journeys/{}/kpis", row.journey)) { (row.title) } } @else { (row.title) } }
                            }
                            td data-label="Of" {
                                @match (&row.touchpoint, links) {
                                    (Some(id), true) => {
                                        a href=(format!("/journeys/{}/touchpoints/{id}", row.journey)) { (card.scope_name) }
                                    },
                                    _ => { (card.scope_name) },
                                }
                            }
                            td data-label="Owner" { (card.owner) }
                            td.num data-label="Value" { span { (card.value.map_or("—".to_string(), |v| kpis::show(unit(card), v))) span.hint.observed { " · " (card.n) " observed" } } }
                            td.num data-label="Target" { (target(card)) }
                            td data-label="Standing" { (standing(card)) }
                            td data-label="Change" { (change(card)) }
                            td data-label="12 weeks" { (sparkline(card)) }
                        }
                    }
                }
            }
        }
    }
}

/// How many KPIs met, missed, and could not be measured.
fn summary(cards: &[&Owned]) -> Markup {
    let count = |s: Standing| cards.iter().filter(|o| o.card.standing == s).count();
    let stats = [
        (count(Standing::Missed), "missing the target", true),
        (count(Standing::Met), "meeting it", false),
        (count(Standing::Untargeted), "without a target", false),
        (count(Standing::NoData), "not measured lately", false),
    ];
    let tiles: Vec<crate::ui::Stat> = stats
        .iter()
        .map(|(n, label, warn)| crate::ui::Stat {
            figure: n.to_string(),
            label: label.to_string(),
            href: None,
            warn: *warn && *n > 0,
        })
        .collect();
    crate::ui::stats("KPIs at a glance", &tiles)
}

/// A journey's scorecard, with each KPI before and after a date when one is asked.
pub(crate) async fn journey_page(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = pairs(raw);
    let version = version_of(&pairs);
    let (journey, snapshot, _) = match loaded(&web, &signed, &id, &version, false).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let days = one(&pairs, "days")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| (1..=366).contains(d))
        .unwrap_or(DAYS);
    let at_text = one(&pairs, "at").unwrap_or("").trim().to_string();
    let at = (!at_text.is_empty())
        .then(|| waymark_eventlog::time::parse_bound(&at_text))
        .flatten();
    let now = web.app.clock.now_us();
    let logs = web.app.logs.clone();
    let model = journey.clone();
    let measured = tokio::task::spawn_blocking(move || {
        let instances = instances_in(&logs, &snapshot, &model);
        let window = Window {
            now,
            days,
            weeks: 12,
        };
        let cards = cards(&model, &instances, window);
        let verdicts: Vec<String> = match at {
            Some(at) => kpis::definitions(&model)
                .into_iter()
                .filter_map(|(kpi, scope, _)| {
                    let observed = kpis::observe(&model, &instances, kpi, scope, now)?;
                    let compared = observed.around(at, days);
                    Some(kpis::verdict(kpi, observed.unit, compared.as_ref()))
                })
                .collect(),
            None => Vec::new(),
        };
        (cards, verdicts)
    })
    .await;
    let Ok((cards, verdicts)) = measured else {
        return crate::layout::failure(&"the KPIs could not be measured");
    };
    let query = version.query();
    let rows: Vec<&Owned> = cards.iter().collect();
    let edit = format!("/journeys/{id}/edit");
    let notes: Vec<&str> = journey
        .kpis
        .iter()
        .chain(journey.touchpoints().flat_map(|(_, t)| t.kpis.iter()))
        .filter(|k| k.measure.is_none())
        .map(|k| k.name.as_str())
        .collect();
    let content = html! {
        p.meta { "Owner: " (journey.owner) }
        (tabs(&id, &query, "/kpis"))
        @if rows.is_empty() {
            (crate::ui::empty(
                "This journey has no measurable KPIs yet. Add lines such as “Requests completed: completion >= 90%” to its KPIs in the editor.",
                crate::editor::may_design(&signed).then_some((edit.as_str(), "Edit the journey")),
            ))
        } @else {
            p { "The last " (days) " days to " (crate::layout::when(now)) ", against the " (days) " days before. Each KPI is measured on the instances that started in the window." }
            (summary(&rows))
            (table(&rows, false, true))
        }
        @if !notes.is_empty() {
            p.hint { "Noted but not measured: " (notes.join(", ")) "." }
        }
        section aria-labelledby="before-after" {
            h2 #before-after { "Before and after a change" }
            p { "Did a change move the KPIs? Each one is compared over " (days) " days before the date against " (days) " days after, with the test that fits the measure, a 95% interval and a verdict." }
            form.builder.row method="get" action=(format!("/journeys/{id}/kpis")) {
                @if let Some(v) = &version.version { input type="hidden" name="version" value=(v); }
                div.field {
                    label for="at" { "The change took effect on" }
                    input #at type="date" name="at" value=(at_text.get(..10).unwrap_or(&at_text)) required;
                }
                div.field {
                    label for="days" { "Days on each side" }
                    input #days type="number" name="days" min="1" max="366" value=(days);
                }
                button type="submit" { "Compare" }
            }
            @if !at_text.is_empty() && at.is_none() {
                p.notice.warn role="alert" { "“" (at_text) "” is not a date; write it as 2026-11-02." }
            }
            @if !verdicts.is_empty() {
                ul.verdicts {
                    @for verdict in &verdicts { li { (verdict) } }
                }
            }
        }
        p { a href=(format!("/scorecards?owner={}", form_urlencoded(&journey.owner))) { "Every KPI " (journey.owner) " owns" } " · " a href="/scorecards" { "All scorecards" } }
    };
    page(&format!("{}: KPIs", journey.title), Some(&signed), content).into_response()
}

/// Every journey's KPIs, by owner: all of them, or one owner's (`?owner=`).
pub(crate) async fn all(
    State(web): State<Web>,
    signed: Signed,
    RawQuery(raw): RawQuery,
) -> Response {
    if !crate::journeys::may_read(&signed) {
        return crate::journeys::refused(&signed);
    }
    let pairs = pairs(raw);
    let owner = one(&pairs, "owner").unwrap_or("").trim().to_string();
    let now = web.app.clock.now_us();
    let (logs, store) = (web.app.logs.clone(), web.app.store.clone());
    let found = tokio::task::spawn_blocking(move || everyone(&logs, &store, now)).await;
    let cards = match found {
        Ok(Ok(Some(cards))) => cards,
        Ok(Ok(None)) => {
            return page(
                "Scorecards",
                Some(&signed),
                html! { p.notice role="status" { "The stored events are being read; this page fills in a moment." } },
            )
            .into_response();
        }
        Ok(Err(error)) => return crate::layout::failure(&error),
        Err(error) => return crate::layout::failure(&error),
    };
    let mut owners: Vec<&str> = cards.iter().map(|o| o.card.owner.as_str()).collect();
    owners.sort_unstable();
    owners.dedup();
    let chosen: Vec<&Owned> = cards
        .iter()
        .filter(|o| owner.is_empty() || o.card.owner == owner)
        .collect();
    let content = html! {
        p { "Every measurable KPI of the deployed journeys, over the last " (DAYS) " days: its owner, value, target and standing, and how it moved against the " (DAYS) " days before." }
        form.builder.row method="get" action="/scorecards" {
            div.field {
                label for="owner" { "Owner or department" }
                select #owner name="owner" {
                    option value="" selected[owner.is_empty()] { "Everyone" }
                    @for o in &owners { option value=(o) selected[*o == owner] { (o) } }
                }
            }
            button type="submit" { "Show" }
        }
        @if cards.is_empty() {
            (crate::ui::empty("No deployed journey has measurable KPIs yet.", Some(("/journeys", "See the journeys"))))
        } @else {
            (summary(&chosen))
            @for o in owners.iter().filter(|o| owner.is_empty() || **o == owner) {
                @let theirs: Vec<&Owned> = chosen.iter().copied().filter(|c| c.card.owner == *o).collect();
                section {
                    h2 { (o) }
                    (table(&theirs, true, true))
                }
            }
        }
    };
    page("Scorecards", Some(&signed), content).into_response()
}

/// The KPIs a person owns (by id, name or department), for their home page; none when they own
/// none. Links lead to the journeys only for people who may read them.
pub(crate) fn home_part(cards: &[Owned], signed: &Signed) -> Markup {
    let mine: Vec<&Owned> = cards
        .iter()
        .filter(|o| waymark_server::alerts::owns(&signed.user, &o.card.owner))
        .collect();
    if mine.is_empty() {
        return html! {};
    }
    let missed = mine
        .iter()
        .filter(|o| o.card.standing == Standing::Missed)
        .count();
    html! {
        section aria-labelledby="my-kpis" {
            h2 #my-kpis { "Your KPIs" }
            p {
                (mine.len()) (if mine.len() == 1 { " KPI is" } else { " KPIs are" }) " yours"
                @if missed > 0 { ", " strong { (missed) " missing the target" } } "."
            }
            (table(&mine, true, crate::journeys::may_read(signed)))
        }
    }
}
