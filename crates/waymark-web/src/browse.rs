//! Browsing people for Customer 360: everyone at a stage of a journey (in progress, done or
//! left there), or with a trait's value (a segment, a persona), or both; each a link to their
//! profile. Read from the live log the journey pages read, so it costs no extra reading.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use waymark_analytics::journey::Status;

use crate::Web;
use crate::layout::{failure, page, when};
use crate::session::{Signed, form_urlencoded};

/// People listed per page.
const PAGE: usize = 50;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    /// `JOURNEY/STAGE`: people whose latest pass through the journey is at that stage.
    stage: Option<String>,
    /// `open`, `completed` or `abandoned` (with a stage).
    status: Option<String>,
    /// A trait's name, and the value it must have (letter case aside).
    #[serde(rename = "trait")]
    name: Option<String>,
    value: Option<String>,
    page: Option<usize>,
}

impl Filters {
    fn chosen(text: &Option<String>) -> Option<&str> {
        text.as_deref().map(str::trim).filter(|t| !t.is_empty())
    }

    fn query(&self, page: usize) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (key, value) in [
            ("stage", &self.stage),
            ("status", &self.status),
            ("trait", &self.name),
            ("value", &self.value),
        ] {
            if let Some(v) = Self::chosen(value) {
                out.append_pair(key, v);
            }
        }
        out.append_pair("page", &page.to_string());
        out.finish()
    }
}

/// One person found: their identifier, name, where they are, when last seen.
struct Person {
    id: String,
    name: Option<String>,
    at: Option<String>,
    last_us: i64,
}

/// What browsing offers and found.
struct Browsed {
    /// (value, label) of every journey's stages.
    stages: Vec<(String, String)>,
    /// The traits people have, to filter by.
    traits: Vec<String>,
    found: Option<Vec<Person>>,
}

fn browse(
    web: &Web,
    viewer: &waymark_server::work::Viewer,
    filters: &Filters,
) -> Result<Browsed, String> {
    let store = web.app.store.clone();
    let journeys = waymark_server::context::deployed(store.as_ref()).map_err(|e| e.to_string())?;
    let models: Vec<_> = journeys.iter().map(|d| d.journey.clone()).collect();
    let snapshot = waymark_server::journeys::live_log(
        &web.app.logs,
        &store,
        &models,
        &Default::default(),
        crate::journeys::PAGE_WAIT,
    )
    .map_err(|e| format!("{e:?}"))?;
    let log = &snapshot.log;
    let stages = journeys
        .iter()
        .flat_map(|d| {
            d.journey.stages.iter().map(move |s| {
                (
                    format!("{}/{}", d.id, s.id),
                    format!("{}: {}", d.journey.title, s.name),
                )
            })
        })
        .collect();
    let traits = crate::analyses::traits(log);
    let stage = Filters::chosen(&filters.stage);
    let name = Filters::chosen(&filters.name);
    if stage.is_none() && name.is_none() {
        return Ok(Browsed {
            stages,
            traits,
            found: None,
        });
    }
    // Where each person's latest pass through the chosen journey stands.
    let mut at: Option<HashMap<u32, (String, i64)>> = None;
    if let Some((journey_id, stage_id)) = stage.and_then(|s| s.split_once('/')) {
        let Some(deployed) = journeys.iter().find(|d| d.id == journey_id) else {
            return Err(format!("no journey `{journey_id}` is deployed"));
        };
        let instances = web
            .app
            .logs
            .instances(&snapshot, &deployed.journey)
            .map_err(|e| e.to_string())?;
        let mut latest: HashMap<u32, &waymark_analytics::journey::Instance> = HashMap::new();
        for instance in instances.iter() {
            let start = instance.visits.first().map_or(i64::MIN, |v| v.start);
            let newer = latest
                .get(&instance.case)
                .is_none_or(|l| l.visits.first().map_or(i64::MIN, |v| v.start) <= start);
            if newer {
                latest.insert(instance.case, instance);
            }
        }
        let status = Filters::chosen(&filters.status);
        let mut places = HashMap::new();
        for (case, instance) in latest {
            let Some(visit) = instance.visits.last() else {
                continue;
            };
            let Some((s, t)) = deployed.journey.touchpoints().nth(visit.touchpoint) else {
                continue;
            };
            if s.id != stage_id || status.is_some_and(|w| w != instance.status.as_str()) {
                continue;
            }
            let words = match instance.status {
                Status::Open => "in progress",
                Status::Completed => "done",
                Status::Abandoned => "left",
            };
            places.insert(
                case,
                (format!("{}: {} ({words})", s.name, t.name), visit.end),
            );
        }
        at = Some(places);
    }
    let wanted = Filters::chosen(&filters.value).map(str::to_lowercase);
    let mut found = Vec::new();
    for case in 0..log.cases() {
        let place = match &at {
            Some(places) => match places.get(&(case as u32)) {
                Some(place) => Some(place.clone()),
                None => continue,
            },
            None => None,
        };
        let c = log.case(case);
        if let Some(name) = name {
            let value = c.attribute(name).map(|a| log.value_text(&a.value));
            let matches = match (&wanted, value) {
                (Some(wanted), Some(value)) => value.to_lowercase() == *wanted,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            if !matches {
                continue;
            }
        }
        let last_us = place.as_ref().map_or_else(
            || {
                c.events()
                    .map(|e| log.time_column()[e])
                    .max()
                    .unwrap_or_default()
            },
            |(_, end)| *end,
        );
        found.push(Person {
            id: c.name().to_string(),
            name: crate::analyses::name_of(log, case),
            at: place.map(|(words, _)| words),
            last_us,
        });
    }
    // Nobody is named whose place would tell where a request the viewer may not see stands.
    let private = waymark_server::work::private_people(
        store.as_ref(),
        viewer,
        found.iter().map(|p| p.id.as_str()),
    )
    .map_err(|e| e.to_string())?;
    found.retain(|p| !private.contains(&p.id));
    found.sort_by(|a, b| b.last_us.cmp(&a.last_us).then_with(|| a.id.cmp(&b.id)));
    Ok(Browsed {
        stages,
        traits,
        found: Some(found),
    })
}

/// `GET /customers/browse`
pub(crate) async fn page_of(
    State(web): State<Web>,
    signed: Signed,
    Query(filters): Query<Filters>,
) -> Response {
    if !crate::customers::may_read(&signed) {
        return crate::customers::refused(&signed);
    }
    let web2 = web.clone();
    let asked = Filters {
        stage: filters.stage.clone(),
        status: filters.status.clone(),
        name: filters.name.clone(),
        value: filters.value.clone(),
        page: filters.page,
    };
    let viewer = crate::admin::viewer(&signed);
    let browsed = match tokio::task::spawn_blocking(move || browse(&web2, &viewer, &asked)).await {
        Ok(Ok(browsed)) => browsed,
        Ok(Err(error)) => return failure(&error),
        Err(error) => return failure(&error),
    };
    let chosen = |v: &Option<String>, option: &str| v.as_deref() == Some(option);
    let page_no = filters.page.unwrap_or(1).max(1);
    let content = html! {
        p { a href="/customers" { "Find a person by name or identifier" } }
        form.builder method="get" action="/customers/browse" {
            div.field {
                label for="stage" { "At a stage of a journey" }
                select #stage name="stage" {
                    option value="" { "(any)" }
                    @for (value, label) in &browsed.stages {
                        option value=(value) selected[chosen(&filters.stage, value)] { (label) }
                    }
                }
            }
            div.field {
                label for="status" { "There" }
                select #status name="status" {
                    @for (value, label) in [("", "in progress, done or left"), ("open", "in progress"), ("completed", "done"), ("abandoned", "left there")] {
                        option value=(value) selected[chosen(&filters.status, value) || (value.is_empty() && filters.status.as_deref().unwrap_or("").is_empty())] { (label) }
                    }
                }
            }
            div.field {
                label for="trait" { "With a trait (a segment, a persona)" }
                select #trait name="trait" {
                    option value="" { "(any)" }
                    @for t in &browsed.traits {
                        option value=(t) selected[chosen(&filters.name, t)] { (t) }
                    }
                }
            }
            div.field {
                label for="value" { "Whose value is" }
                p.hint #value-hint { "Leave it empty for anyone who has the trait." }
                input #value type="text" name="value" value=(filters.value.clone().unwrap_or_default()) aria-describedby="value-hint";
            }
            button type="submit" { "Show the people" }
        }
        @match &browsed.found {
            None => { p.empty { "Choose a stage, a trait or both." } }
            Some(found) if found.is_empty() => { p.empty { "Nobody matches." } }
            Some(found) => {
                @let pages = found.len().div_ceil(PAGE);
                @let page_no = page_no.min(pages);
                p role="status" { (found.len()) @if found.len() == 1 { " person" } @else { " people" } ", most recently seen first." }
                table {
                    caption.visually-hidden { "The people found" }
                    thead { tr { th scope="col" { "Person" } th scope="col" { "Where" } th scope="col" { "Last seen" } } }
                    tbody {
                        @for p in found.iter().skip((page_no - 1) * PAGE).take(PAGE) {
                            tr {
                                td { a href=(format!("/customers?q={}", form_urlencoded(&p.id))) { (p.name.clone().unwrap_or_else(|| p.id.clone())) }
                                    @if p.name.is_some() { br; span.meta { (p.id) } } }
                                td { (p.at.clone().unwrap_or_else(|| "–".into())) }
                                td { (when(p.last_us)) }
                            }
                        }
                    }
                }
                @if pages > 1 {
                    nav.pager aria-label="Pages" {
                        @if page_no > 1 { a href=(format!("/customers/browse?{}", filters.query(page_no - 1))) { "Previous" } }
                        span { "Page " (page_no) " of " (pages) }
                        @if page_no < pages { a href=(format!("/customers/browse?{}", filters.query(page_no + 1))) { "Next" } }
                    }
                }
            }
        }
    };
    page("Browse people", Some(&signed), content).into_response()
}
