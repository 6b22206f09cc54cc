//! The funnel builder: journeys reaching each chosen touchpoint within a window, in an order,
//! broken down by a trait; and the people behind each figure (who dropped off after a step, who
//! reached the end), each a link to their Customer 360.
//!
//! Both pages take their choices from the query string, so a funnel is a link: bookmarked,
//! shared, saved (`crate::saved`).

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use waymark_analytics::FunnelOrder;
use waymark_analytics::journey;
use waymark_eventlog::Micros;
use waymark_journey::Journey;

use crate::Web;
use crate::analyses::{instances_in, loaded, one, pairs, touchpoint_options, traits, version_of};
use crate::chart::{Bar, bars, duration, percent};
use crate::journeys::{Version, tabs};
use crate::layout::page;
use crate::session::{Signed, form_urlencoded};

/// The funnel builder's most steps.
const MAX_STEPS: usize = 8;
/// The most people listed behind one figure.
const PEOPLE: usize = 200;

/// What a funnel asks, read from the query string, with what did not read.
struct Ask {
    version: Version,
    steps: Vec<String>,
    window_text: String,
    order_text: String,
    by: Option<String>,
    window: Option<Micros>,
    order: FunnelOrder,
    /// (field, sentence) for each choice that did not read.
    errors: Vec<(&'static str, String)>,
}

impl Ask {
    fn read(journey: &Journey, pairs: &[(String, String)]) -> Ask {
        let asked: Vec<String> = pairs
            .iter()
            .filter(|(k, v)| k == "step" && !v.is_empty())
            .map(|(_, v)| v.clone())
            .take(MAX_STEPS)
            .collect();
        // Without a choice: the first touchpoint of each stage.
        let steps: Vec<String> = if asked.is_empty() {
            journey
                .stages
                .iter()
                .filter_map(|s| s.touchpoints.first().map(|t| t.id.clone()))
                .collect()
        } else {
            asked
        };
        let window_text = one(pairs, "window").unwrap_or("30d").to_string();
        let order_text = one(pairs, "order").unwrap_or("ordered").to_string();
        let mut errors = Vec::new();
        let window = match waymark_journey::duration::parse(&window_text) {
            Ok(w) => Some(journey::timeout_micros(w)),
            Err(error) => {
                errors.push((
                    "window",
                    format!("The window `{window_text}` does not read as a time ({error}); write it like 7d, 12h or 30m."),
                ));
                None
            }
        };
        let order = match order_text.as_str() {
            "ordered" => FunnelOrder::Ordered,
            "strict" => FunnelOrder::Strict,
            "any" => FunnelOrder::Any,
            _ => {
                errors.push((
                    "order",
                    "Pick one of: in this order, strictly one after another, in any order.".into(),
                ));
                FunnelOrder::Ordered
            }
        };
        Ask {
            version: version_of(pairs),
            steps,
            window_text,
            order_text,
            by: one(pairs, "by").map(str::to_string),
            window,
            order,
            errors,
        }
    }

    /// The query string that asks this funnel again (without a breakdown when `whole`).
    fn query(&self, whole: bool) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        if let Some(v) = &self.version.version {
            out.append_pair("version", v);
        }
        for step in &self.steps {
            out.append_pair("step", step);
        }
        out.append_pair("window", &self.window_text);
        out.append_pair("order", &self.order_text);
        if let (Some(by), false) = (&self.by, whole) {
            out.append_pair("by", by);
        }
        out.finish()
    }
}

/// A touchpoint's name in `journey`, else the id.
fn name(journey: &Journey, id: &str) -> String {
    journey
        .touchpoints()
        .find(|(_, t)| t.id == id)
        .map_or(id.to_string(), |(_, t)| t.name.clone())
}

pub(crate) async fn funnel(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = pairs(raw);
    let (journey, snapshot, _) = match loaded(&web, &signed, &id, &version_of(&pairs), false).await
    {
        Ok(found) => found,
        Err(page) => return page,
    };
    let mut ask = Ask::read(&journey, &pairs);
    let (log, logs) = (snapshot.log.clone(), web.app.logs.clone());
    let trait_names = traits(&log);
    let (journey2, steps, by) = (journey.clone(), ask.steps.clone(), ask.by.clone());
    let computed = match (ask.window, ask.errors.is_empty()) {
        (Some(window), true) => {
            let order = ask.order;
            tokio::task::spawn_blocking(move || {
                let found = instances_in(&logs, &snapshot, &journey2);
                journey::touchpoint_funnel(
                    &journey2,
                    &log,
                    &found,
                    &steps,
                    window,
                    order,
                    by.as_deref(),
                )
            })
            .await
            .ok()
        }
        _ => None,
    };
    let computed = match computed {
        Some(Ok(found)) => Some(found),
        Some(Err(unknown)) => {
            ask.errors.push((
                "step-1",
                format!(
                    "The journey has no touchpoint `{}`{}.",
                    unknown.id, unknown.hint
                ),
            ));
            None
        }
        None => None,
    };
    let banner = crate::saved::banner(&web, &pairs).await;
    let content = html! {
        (tabs(&id, &ask.version.query(), "/funnel"))
        (banner)
        @if !ask.errors.is_empty() {
            div.summary role="alert" tabindex="-1" {
                h2 { "The funnel could not be drawn" }
                ul { @for (field, error) in &ask.errors { li { a href=(format!("#{field}")) { (error) } } } }
            }
        }
        (builder(&id, &journey, &ask, &trait_names))
        @if let Some((whole, groups)) = &computed {
            (crate::saved::save_form(&signed, "funnel", &id, &ask.query(false)))
            (figures(&id, &journey, &ask, whole, groups, crate::customers::may_read(&signed), &signed))
        }
    };
    page(
        &format!("Funnel: {}", journey.title),
        Some(&signed),
        content,
    )
    .into_response()
}

/// The form that asks for a funnel.
fn builder(id: &str, journey: &Journey, ask: &Ask, trait_names: &[String]) -> Markup {
    let error_for = |field: &str| ask.errors.iter().find(|(f, _)| *f == field).map(|(_, e)| e);
    html! {
        form.builder method="get" action=(format!("/journeys/{id}/funnel")) {
            @if let Some(v) = &ask.version.version { input type="hidden" name="version" value=(v); }
            fieldset.steps-grid {
                legend { "Steps, in order" }
                @for k in 0..MAX_STEPS.min(ask.steps.len() + 2) {
                    div.field {
                        label for=(format!("step-{}", k + 1)) { "Step " (k + 1) }
                        select id=(format!("step-{}", k + 1)) name="step" {
                            (touchpoint_options(journey, ask.steps.get(k).map(String::as_str), Some("(no step)")))
                        }
                    }
                }
            }
            div.field {
                label for="window" { "Window" }
                span.hint #window-hint { "The time from the first step in which the others must happen: 7d, 12h, 30m." }
                @if let Some(e) = error_for("window") { span.error #window-error { (e) } }
                input #window name="window" type="text" value=(ask.window_text) inputmode="text"
                    aria-describedby=(if error_for("window").is_some() { "window-hint window-error" } else { "window-hint" })
                    aria-invalid=[error_for("window").map(|_| "true")];
            }
            fieldset #order {
                legend { "Order" }
                @for (value, label) in [("ordered", "In this order (other steps may come between)"), ("strict", "Strictly one after another"), ("any", "In any order")] {
                    div.choice {
                        input type="radio" name="order" id=(format!("order-{value}")) value=(value) checked[ask.order_text == value];
                        label for=(format!("order-{value}")) { (label) }
                    }
                }
            }
            div.field {
                label for="by" { "Break down by" }
                select #by name="by" {
                    option value="" selected[ask.by.is_none()] { "(nothing)" }
                    @for t in trait_names {
                        option value=(t) selected[ask.by.as_deref() == Some(t.as_str())] { (t) }
                    }
                }
            }
            button type="submit" { "Show the funnel" }
        }
    }
}

/// The funnel drawn: its bars, its table (each drop-off a link to the people behind it, for
/// those who may look people up), and the breakdown.
fn figures(
    id: &str,
    journey: &Journey,
    ask: &Ask,
    whole: &waymark_analytics::Funnel,
    groups: &[waymark_analytics::FunnelGroup],
    drill: bool,
    signed: &Signed,
) -> Markup {
    let people = |level: usize| {
        format!(
            "/journeys/{id}/funnel/people?{}&level={level}",
            ask.query(true)
        )
    };
    let last = whole.steps.len();
    html! {
        h2 { "The funnel" }
        p { (whole.cases) " journey instances; "
            (whole.steps.last().map(|s| s.reached).unwrap_or(0)) " reached the last step ("
            (whole.steps.last().map(|s| percent(s.conversion_from_first)).unwrap_or_default()) " of those at the first)." }
        (bars("Journeys reaching each step", &whole.steps.iter().map(|s| Bar {
            label: name(journey, &s.name),
            value: s.reached as f64,
            figure: format!("{} ({} of first)", s.reached, percent(s.conversion_from_first)),
            note: s.median_seconds_from_previous.map(|m| format!(
                "{} from the step before; median {} between them",
                percent(s.conversion_from_previous), duration(m)
            )),
        }).collect::<Vec<_>>()))
        table {
            caption.visually-hidden { "The funnel's steps" }
            thead { tr { th scope="col" { "Step" } th scope="col" { "Reached" } th scope="col" { "From the step before" }
                th scope="col" { "Dropped off" } th scope="col" { "Median time from the step before" } } }
            tbody {
                @for (k, s) in whole.steps.iter().enumerate() {
                    tr {
                        td { (name(journey, &s.name)) }
                        td {
                            @if k + 1 == last && drill && s.reached > 0 {
                                a href=(people(last)) aria-label=(format!("The {} people who reached the last step", s.reached)) { (s.reached) }
                            } @else { (s.reached) }
                        }
                        td { (percent(s.conversion_from_previous)) }
                        td {
                            // Dropped off before step k+1: they reached exactly k steps.
                            @if k > 0 && drill && s.drop_off > 0 {
                                a href=(people(k)) aria-label=(format!("The {} people who dropped off before {}", s.drop_off, name(journey, &s.name))) { (s.drop_off) }
                            } @else { (s.drop_off) }
                        }
                        td { (s.median_seconds_from_previous.map(duration).unwrap_or_else(|| "–".into())) }
                    }
                }
            }
        }
        @if crate::plans::may_raise(signed) && whole.steps.iter().skip(1).any(|s| s.drop_off > 0) {
            div.raise-steps {
                p { "Raise an opportunity where people drop off (the step's figures are kept with it):" }
                ul.actions {
                    @for (k, s) in whole.steps.iter().enumerate().skip(1).filter(|(_, s)| s.drop_off > 0) {
                        li { (crate::plans::from_funnel_step(signed, id, &waymark_server::improve::FunnelAsked {
                            steps: ask.steps.clone(),
                            step: k + 1,
                            window: Some(ask.window_text.clone()),
                            order: Some(ask.order_text.clone()),
                        }, format!("/journeys/{id}/funnel?{}", ask.query(false)), &format!("Raise at {} ({} dropped off)", name(journey, &s.name), s.drop_off))) }
                    }
                }
            }
        }
        @if let Some(by) = &ask.by {
            h2 { "By " (by) }
            table.breakdown {
                caption.visually-hidden { "The funnel for each value of " (by) }
                thead { tr { th scope="col" { (by) } th scope="col" { "Instances" }
                    @for s in &whole.steps { th scope="col" { (name(journey, &s.name)) } } } }
                tbody {
                    @for g in groups {
                        tr {
                            th scope="row" { @if g.value.is_empty() { "(none)" } @else { (g.value) } }
                            td { (g.funnel.cases) }
                            @for s in &g.funnel.steps { td { (s.reached) " (" (percent(s.conversion_from_first)) ")" } }
                        }
                    }
                }
            }
        }
    }
}

/// The people behind a funnel's figure: those who reached exactly `level` steps (dropped off
/// before the next, or reached the last), each a link to their Customer 360.
pub(crate) async fn people(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if !crate::customers::may_read(&signed) {
        return crate::customers::refused(&signed);
    }
    let pairs = pairs(raw);
    let (journey, snapshot, _) = match loaded(&web, &signed, &id, &version_of(&pairs), false).await
    {
        Ok(found) => found,
        Err(page) => return page,
    };
    let ask = Ask::read(&journey, &pairs);
    let level = one(&pairs, "level").and_then(|l| l.parse::<usize>().ok());
    let (Some(window), Some(level), true) = (ask.window, level, ask.errors.is_empty()) else {
        return crate::layout::problem(
            axum::http::StatusCode::BAD_REQUEST,
            "Which people?",
            "This link does not say which step's people to list. Open the funnel and follow a figure in its table.",
            Some(&signed),
        );
    };
    if level > ask.steps.len() {
        return crate::layout::problem(
            axum::http::StatusCode::BAD_REQUEST,
            "Which people?",
            &format!(
                "The funnel has {} steps; there is no step {level}.",
                ask.steps.len()
            ),
            Some(&signed),
        );
    }
    let (log, logs) = (snapshot.log.clone(), web.app.logs.clone());
    let (journey2, steps, order) = (journey.clone(), ask.steps.clone(), ask.order);
    let (store, viewer) = (web.app.store.clone(), crate::admin::viewer(&signed));
    let found = tokio::task::spawn_blocking(move || {
        let found = instances_in(&logs, &snapshot, &journey2);
        journey::funnel_members(&journey2, &found, &steps, window, order, level)
            .map(|members| {
                members
                    .into_iter()
                    .map(|k| {
                        let case = log.case(found[k].case as usize);
                        let shown = crate::analyses::name_of(&log, found[k].case as usize);
                        let start = found[k].visits.first().map(|v| v.start);
                        (case.name().to_string(), shown, start)
                    })
                    .collect::<Vec<_>>()
            })
            .map(|mut members| {
                // Nobody is named whose place would tell where a request the viewer may not see
                // stands.
                let private = waymark_server::work::private_people(
                    store.as_ref(),
                    &viewer,
                    members.iter().map(|(case, _, _)| case.as_str()),
                )
                // When that cannot be read, nobody is named (it fails closed).
                .unwrap_or_else(|_| members.iter().map(|(case, _, _)| case.clone()).collect());
                members.retain(|(case, _, _)| !private.contains(case));
                members
            })
    })
    .await;
    let members = match found {
        Ok(Ok(members)) => members,
        Ok(Err(unknown)) => {
            return crate::layout::problem(
                axum::http::StatusCode::BAD_REQUEST,
                "Which people?",
                &format!(
                    "The journey has no touchpoint `{}`{}.",
                    unknown.id, unknown.hint
                ),
                Some(&signed),
            );
        }
        Err(error) => return crate::layout::failure(&error),
    };
    let what = if level == ask.steps.len() {
        format!(
            "reached the last step, {}",
            name(&journey, &ask.steps[level - 1])
        )
    } else if level == 0 {
        format!(
            "never reached the first step, {}",
            name(&journey, &ask.steps[0])
        )
    } else {
        format!(
            "reached {} and dropped off before {}",
            name(&journey, &ask.steps[level - 1]),
            name(&journey, &ask.steps[level])
        )
    };
    let back = format!("/journeys/{id}/funnel?{}", ask.query(false));
    let content = html! {
        p { a href=(back) { "Back to the funnel" } }
        p role="status" {
            (members.len()) @if members.len() == 1 { " journey " } @else { " journeys " } (what)
            " (window " (ask.window_text) ")."
            @if members.len() > PEOPLE { " The first " (PEOPLE) " are listed." }
        }
        @if members.is_empty() {
            p.notice { "Nobody." }
        } @else {
            table {
                caption.visually-hidden { "The people behind the figure" }
                thead { tr { th scope="col" { "Person" } th scope="col" { "Identifier" } th scope="col" { "Started" } } }
                tbody {
                    @for (case, shown, start) in members.iter().take(PEOPLE) {
                        tr {
                            td { a href=(format!("/customers?q={}", form_urlencoded(case))) { (shown.clone().unwrap_or_else(|| case.clone())) } }
                            td { (case) }
                            td { (start.map(crate::layout::when).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    page(
        &format!("People in the funnel: {}", journey.title),
        Some(&signed),
        content,
    )
    .into_response()
}
