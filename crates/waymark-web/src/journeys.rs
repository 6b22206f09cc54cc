//! Journeys: the list (owner, score, conversion, trend) and a journey's live map, for the people
//! who design and read them (directory roles `cx`, `journey-owner`, `analyst`, `admin`).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{PreEscaped, html};
use serde::Deserialize;
use std::sync::Arc;
use waymark_analytics::journey::{Options, Report};

use waymark_server::journeys::Measure;
use waymark_server::live::{NotReady, Snapshot};
use waymark_store::DeployedJourney;

use crate::Web;
use crate::layout::{failure, page, problem, stored};
use crate::people::Names;
use crate::session::Signed;

pub(crate) fn may_read(signed: &Signed) -> bool {
    waymark_server::access::person_may(
        &signed.user,
        waymark_server::access::Capability::ReadJourneys,
    )
}

pub(crate) fn refused(signed: &Signed) -> Response {
    problem(
        StatusCode::FORBIDDEN,
        "Journeys are for the people who look after them",
        "Journey maps and their figures are open to CX leads, journey owners and analysts. Ask your administrator if you need them.",
        Some(signed),
    )
}

pub(crate) fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "–".into()
    } else {
        format!("{:.0} %", 100.0 * part as f64 / whole as f64)
    }
}

/// How many points the completion rate of the last period moved against the one before.
pub(crate) fn trend_points(report: &Report) -> Option<f64> {
    let rate = |g: &waymark_analytics::journey::Group| {
        (g.instances > 0).then(|| g.completed as f64 / g.instances as f64)
    };
    let mut rates = report.trend.iter().filter_map(rate).rev();
    match (rates.next(), rates.next()) {
        (Some(last), Some(before)) => Some((last - before) * 100.0),
        _ => None,
    }
}

/// The completion rate of the last period against the one before, in words.
pub(crate) fn trend(report: &Report) -> String {
    match trend_points(report) {
        Some(points) => {
            if points >= 1.0 {
                format!("up {points:.0} points")
            } else if points <= -1.0 {
                format!("down {:.0} points", -points)
            } else {
                "steady".into()
            }
        }
        _ => "not enough data".into(),
    }
}

pub(crate) fn score(report: &Report) -> String {
    let s = &report.experience.journey;
    match (s.csat, s.nps, s.ces) {
        (Some((v, n)), _, _) => format!("CSAT {v:.1} ({n})"),
        (_, Some((v, n)), _) => format!("NPS {v:.0} ({n})"),
        (_, _, Some((v, n))) => format!("CES {v:.1} ({n})"),
        _ => "no answers yet".into(),
    }
}

/// Every deployed journey's latest version, measured on one snapshot of the live log (`None` for
/// the figures while the events are still being read after a start).
pub(crate) type Measured = (
    Vec<(
        DeployedJourney,
        waymark_journey::Journey,
        Option<Arc<Report>>,
    )>,
    Option<NotReady>,
);

/// Measures the latest version of every deployed journey, on one reading of the events.
pub(crate) fn measured_all(
    logs: &Arc<waymark_server::live::Analyses>,
    store: &Arc<dyn waymark_store::Store>,
) -> Result<Measured, String> {
    let mut deployed = Vec::new();
    let mut journeys = Vec::new();
    for found in store.journeys().map_err(|e| e.to_string())? {
        if let Some(journey) = waymark_journey::check(&found.source).journey {
            deployed.push(found);
            journeys.push(journey);
        }
    }
    let (reports, reading) = match waymark_server::journeys::measured_many(
        logs,
        store,
        &journeys,
        &Options::default(),
        PAGE_WAIT,
    ) {
        Ok(reports) => (reports.into_iter().map(Result::ok).collect(), None),
        Err(Measure::Loading(not_ready)) => (vec![None; journeys.len()], Some(not_ready)),
        Err(error) => return Err(format!("{error:?}")),
    };
    Ok((
        deployed
            .into_iter()
            .zip(journeys)
            .zip(reports)
            .map(|((d, j), r)| (d, j, r))
            .collect(),
        reading,
    ))
}

/// How long a page waits for the events to be read after a start before it says they are being
/// read.
pub(crate) const PAGE_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

/// What a page says while the stored events are being read after a start.
pub(crate) fn reading_notice(reading: &NotReady) -> maud::Markup {
    html! {
        p.notice role="status" {
            "The stored events are being read after a start (" (reading.read) " so far); "
            "the figures appear when they are. Reload the page in a few seconds."
        }
    }
}

/// When the figures on a page were taken from the events, in words.
pub(crate) fn as_of(snapshot: &Snapshot) -> maud::Markup {
    let at = snapshot
        .at
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    html! {
        p.meta { "Figures as of " (waymark_eventlog::time::format_micros(at).get(11..19).unwrap_or("")) " UTC, on " (snapshot.events) " events." }
    }
}

/// Every journey, with its owner and how it performs.
pub(crate) async fn list(State(web): State<Web>, signed: Signed) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    let (store, logs) = (web.app.store.clone(), web.app.logs.clone());
    let (journeys, reading) =
        match tokio::task::spawn_blocking(move || measured_all(&logs, &store)).await {
            Ok(Ok(journeys)) => journeys,
            Ok(Err(error)) => return failure(&error),
            Err(error) => return failure(&error),
        };
    let design = crate::editor::may_design(&signed);
    let content = html! {
        @if design {
            p.actions { a.button href="/journeys/new" { "Start a journey" } }
        }
        @if let Some(reading) = &reading {
            (reading_notice(reading))
        }
        @if journeys.is_empty() {
            p.notice { "No journey is deployed yet. Deploy one with " code { "waymark journey deploy" } "." }
        } @else {
            table {
                caption.visually-hidden { "Deployed journeys and how they perform" }
                thead { tr {
                    th scope="col" { "Journey" } th scope="col" { "Owner" } th scope="col" { "Version" }
                    th scope="col" { "Instances" } th scope="col" { "Completed" } th scope="col" { "Score" }
                    th scope="col" { "Trend" }
                } }
                tbody {
                    @for (deployed, journey, report) in &journeys {
                        tr {
                            td { a href=(format!("/journeys/{}", deployed.id)) { (journey.title) } }
                            td { (journey.owner) }
                            td { (deployed.label) }
                            @if let Some(report) = report {
                                td { (report.instances.total) }
                                td { (percent(report.instances.completed, report.instances.total)) }
                                td { (score(report)) }
                                td { (trend(report)) }
                            } @else {
                                td colspan="4" { (if reading.is_some() { "being read" } else { "not measured" }) }
                            }
                        }
                    }
                }
            }
        }
    };
    page("Journeys", Some(&signed), content).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct Version {
    pub(crate) version: Option<String>,
}

/// After a comment, on the journey's page: the people its mentions emailed (ids).
#[derive(Debug, Deserialize)]
pub(crate) struct Emailed {
    emailed: Option<String>,
}

impl Version {
    /// The query that keeps this version on the next page: `?version=to-be`, or nothing.
    pub(crate) fn query(&self) -> String {
        self.version
            .as_ref()
            .map(|v| format!("?version={}", crate::session::form_urlencoded(v)))
            .unwrap_or_default()
    }
}

/// A deployed journey's chosen version, measured on the stored events.
pub(crate) struct Loaded {
    pub(crate) versions: Vec<DeployedJourney>,
    pub(crate) chosen: DeployedJourney,
    pub(crate) journey: waymark_journey::Journey,
    pub(crate) report: Option<Arc<Report>>,
    /// The snapshot of the live log the figures come from.
    pub(crate) snapshot: Option<Arc<Snapshot>>,
    /// Set while the stored events are being read after a start.
    pub(crate) reading: Option<NotReady>,
}

/// Reads journey `id` at `version` (the latest without one) and measures it; a page when there is
/// no such journey or the store fails.
pub(crate) async fn load(
    web: &Web,
    signed: &Signed,
    id: &str,
    version: Option<String>,
    options: Options,
) -> Result<Loaded, Response> {
    load_measuring(web, signed, id, version, options, true).await
}

/// [`load`], with the report only when `report` is set (the log always).
pub(crate) async fn load_measuring(
    web: &Web,
    signed: &Signed,
    id: &str,
    version: Option<String>,
    options: Options,
    report: bool,
) -> Result<Loaded, Response> {
    let (store, logs) = (web.app.store.clone(), web.app.logs.clone());
    let key = id.to_string();
    let found = tokio::task::spawn_blocking(move || -> Result<_, String> {
        let versions = store.journey_versions(&key).map_err(|e| e.to_string())?;
        let chosen = match version.as_deref() {
            Some(label) => versions
                .iter()
                .rev()
                .find(|d| d.label == label || d.version.to_string() == label),
            None => versions.last(),
        }
        .cloned();
        let Some(chosen) = chosen else {
            return Ok(None);
        };
        let journey = waymark_journey::check(&chosen.source)
            .journey
            .ok_or("a deployed journey no longer reads")?;
        let measured = if report {
            waymark_server::journeys::measured_live(&logs, &store, &journey, &options, PAGE_WAIT)
                .map(|(report, snapshot)| (Some(report), Some(snapshot)))
        } else {
            waymark_server::journeys::live_log(
                &logs,
                &store,
                std::slice::from_ref(&journey),
                &options,
                PAGE_WAIT,
            )
            .map(|snapshot| (None, Some(snapshot)))
        };
        let (report, snapshot, reading) = match measured {
            Ok((report, snapshot)) => (report, snapshot, None),
            Err(Measure::Loading(not_ready)) => (None, None, Some(not_ready)),
            Err(error) => {
                tracing::warn!(journey = %journey.id, error = ?error, "a journey could not be measured");
                (None, None, None)
            }
        };
        Ok(Some(Loaded {
            versions,
            chosen,
            journey,
            report,
            snapshot,
            reading,
        }))
    })
    .await;
    match found {
        Ok(Ok(Some(found))) => Ok(found),
        Ok(Ok(None)) => Err(problem(
            StatusCode::NOT_FOUND,
            "No such journey",
            &format!("No journey `{id}` (or no such version) is deployed."),
            Some(signed),
        )),
        Ok(Err(error)) => Err(failure(&error)),
        Err(error) => Err(failure(&error)),
    }
}

/// The pages of a journey, as a row of links: the map, its analyses.
pub(crate) fn tabs(id: &str, query: &str, current: &str) -> maud::Markup {
    let pages = [
        ("", "Map"),
        ("/kpis", "KPIs"),
        ("/funnel", "Funnel"),
        ("/flow", "Flow"),
        ("/conformance", "Designed against actual"),
        ("/versions", "Versions"),
    ];
    html! {
        nav.tabs aria-label="Journey pages" {
            ul {
                @for (path, name) in pages {
                    li {
                        a href=(format!("/journeys/{id}{path}{query}")) aria-current=[(path == current).then_some("page")] { (name) }
                    }
                }
            }
        }
    }
}

/// A journey's live map: the designed journey with the measured figures on its cards, its
/// versions (as-is, to-be) and, for a to-be version, the change-impact answers.
pub(crate) async fn show(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Query(version): Query<Version>,
    Query(Emailed { emailed }): Query<Emailed>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    let query = version.query();
    let Loaded {
        versions,
        chosen,
        journey,
        report,
        snapshot,
        reading,
        ..
    } = match load(&web, &signed, &id, version.version, Options::default()).await {
        Ok(loaded) => loaded,
        Err(page) => return page,
    };
    let mut live = report.as_deref().map(waymark_server::journeys::live);
    if let Some(live) = live.as_mut() {
        // Cards open their detail, in the version being read.
        live.card_links = Some((format!("/journeys/{id}/touchpoints/"), query.clone()));
    }
    let (comments, names) = match talk(&web, &id, emailed.as_deref()).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let map = waymark_map::svg_marked(&journey, live.as_ref(), &crate::comments::marks(&comments));
    // A to-be version waiting for the owner's approval.
    let key = id.clone();
    let waiting = match crate::layout::stored(&web, move |store| {
        Ok(store
            .proposals(Some(&key), 1)?
            .into_iter()
            .find(|p| p.status == waymark_store::proposals::ProposalStatus::Waiting))
    })
    .await
    {
        Ok(waiting) => waiting,
        Err(page) => return page,
    };
    let mut labels: Vec<&str> = Vec::new();
    for v in &versions {
        if !labels.contains(&v.label.as_str()) {
            labels.push(&v.label);
        }
    }
    // As-is against to-be, when both are deployed: the latest of each.
    let latest = |label: &str| {
        versions
            .iter()
            .filter(|v| v.label == label)
            .max_by_key(|v| v.version)
            .and_then(|v| waymark_journey::check(&v.source).journey)
    };
    let compared = match (latest("as-is"), latest("to-be")) {
        (Some(before), Some(after)) => Some(waymark_journey::diff::diff(&before, &after)),
        _ => None,
    };
    let content = html! {
        p.meta { "Owner: " (journey.owner) " · version " (chosen.label) " (" (chosen.version) ")" }
        @if let Some(p) = &waiting {
            p.notice role="status" {
                "A " strong { (p.label) } " version is proposed and waits for the owner's approval of its five change-impact answers. "
                a href=(format!("/journeys/{id}/proposals/{}", p.id)) { "See what it changes" }
            }
        }
        p.actions {
            @if crate::editor::may_design(&signed) {
                a.button href=(format!("/journeys/{id}/edit")) { "Edit" }
                @if !journey.is_to_be() {
                    a.button.secondary href=(format!("/journeys/{id}/edit?as=to-be")) { "Make a to-be version" }
                }
            }
            a.button.secondary href=(format!("/journeys/{id}/download?version={}", chosen.version)) download { "Download YAML" }
        }
        (tabs(&id, &query, ""))
        @if labels.len() > 1 {
            nav aria-label="Versions" {
                ul.versions {
                    @for label in &labels {
                        li {
                            @if *label == chosen.label {
                                span aria-current="page" { strong { (label) } }
                            } @else {
                                a href=(format!("/journeys/{id}?version={label}")) { (label) }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(reading) = &reading {
            (reading_notice(reading))
        }
        @if let Some(snapshot) = &snapshot {
            (as_of(snapshot))
        }
        @if let Some(report) = &report {
            p { (report.instances.total) (if report.instances.total == 1 { " instance, " } else { " instances, " })
                (percent(report.instances.completed, report.instances.total)) " completed; "
                (score(report)) "; trend " (trend(report)) "." }
        }
        // The map is wider than a phone: the region scrolls, and takes the keyboard focus to do so.
        figure.map tabindex="0" role="group" aria-label="The journey map (scrolls sideways)" {
            (PreEscaped(map))
            figcaption { "The journey map: stages as columns, channels as lanes; each card shows its measured volume, conversion, time against target and score. Open a card for its detail." }
        }
        (crate::design::legend(report.is_some()))
        (crate::design::personas(&journey))
        @if let Some(compared) = &compared { (crate::design::effort(compared)) }
        h2 { "Touchpoints" }
        ul.columns {
            @for (stage, t) in journey.touchpoints() {
                li { a href=(format!("/journeys/{id}/touchpoints/{}{query}", t.id)) { (t.name) } " (" (stage.name) ")" }
            }
        }
        @if let Some(emailed) = emailed.as_deref().filter(|e| !e.is_empty()) {
            p.notice.success role="status" {
                "Emailed a link to the thread: "
                (emailed.split(',').filter_map(|who| names.get(who)).collect::<Vec<_>>().join(", "))
                "."
            }
        }
        @if let Some(change) = &journey.change {
            h2 { "The change for the customer" }
            dl {
                @for (question, answer) in waymark_journey::CHANGE_QUESTIONS.iter().zip(change.answers()) {
                    dt { (question.question) }
                    dd { (answer.unwrap_or("not answered yet")) }
                }
            }
        }
        (crate::comments::section(&signed, &id, &journey, &comments, &names))
    };
    page(&journey.title, Some(&signed), content).into_response()
}

/// A journey's comments, and the names of their authors and of the people `emailed`.
async fn talk(
    web: &Web,
    id: &str,
    emailed: Option<&str>,
) -> Result<(Vec<waymark_store::JourneyComment>, Names), Response> {
    let key = id.to_string();
    let emailed: Vec<String> = emailed
        .unwrap_or("")
        .split(',')
        .filter(|e| !e.is_empty())
        .take(20)
        .map(str::to_string)
        .collect();
    stored(web, move |store| {
        let comments = store.journey_comments(&key)?;
        let people = comments
            .iter()
            .flat_map(|c| {
                std::iter::once(c.comment.author.clone())
                    .chain(c.resolved.as_ref().map(|(by, _)| by.clone()))
            })
            .chain(emailed)
            .collect::<Vec<_>>();
        let names = Names::read(store, people)?;
        Ok((comments, names))
    })
    .await
}
