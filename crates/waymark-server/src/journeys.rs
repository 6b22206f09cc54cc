//! Journey performance as JSON: one shape for `waymark journey report --format json` and the
//! journey API, so both say the same numbers.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse as _, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use waymark_analytics::Summary;
use waymark_analytics::journey::{
    Contacts, Deviation, Driver, Group, Options, Period, Report, ScoreFigures, StageFigures,
    TouchpointSlice, milestone, timeout_micros,
};

use std::sync::Arc;

use crate::access::{Capability, require};
use crate::live::{Analyses, Snapshot, Unavailable};
use crate::{ApiError, AppState};

fn summary(s: &Summary) -> Value {
    if s.count == 0 {
        return json!({ "count": 0 });
    }
    json!({
        "count": s.count,
        "mean": s.mean,
        "median": s.median,
        "p90": s.p90,
        "min": s.min,
        "max": s.max,
    })
}

fn scores(s: &ScoreFigures) -> Value {
    let pair = |p: Option<(f64, usize)>| {
        p.map(|(value, answers)| json!({ "value": value, "answers": answers }))
    };
    json!({ "csat": pair(s.csat), "nps": pair(s.nps), "ces": pair(s.ces) })
}

fn drivers(list: &[Driver]) -> Value {
    list.iter()
        .map(|d| {
            json!({
                "touchpoint": d.touchpoint,
                "share_with": d.share_with,
                "share_without": d.share_without,
                // JSON has no infinity: a touchpoint that never happens without is `null`.
                "lift": d.lift.is_finite().then_some(d.lift),
            })
        })
        .collect()
}

fn stages(list: &[StageFigures]) -> Value {
    list.iter()
        .map(|s| {
            json!({
                "id": s.id,
                "name": s.name,
                "reached": s.reached,
                "conversion_to_next": s.conversion_to_next,
                "drop_off": s.drop_off,
                "repeat_visits": s.repeat_visits,
                "seconds": summary(&s.seconds),
                "target_seconds": s.target_seconds,
                "breach_share": s.breach_share,
                "scores": scores(&s.scores),
            })
        })
        .collect()
}

fn deviations(list: &[Deviation]) -> Value {
    list.iter()
        .map(|d| {
            json!({
                "kind": d.kind.as_str(),
                "from": (!d.from.is_empty()).then_some(&d.from),
                "to": d.to,
                "skipped": d.skipped,
                "count": d.count,
            })
        })
        .collect()
}

fn contacts(c: &Contacts) -> Value {
    json!({
        "touchpoints": c.touchpoints,
        "per_instance": c.per_instance,
        "instances_with_contact": c.instances_with_contact,
        "instances_with_repeat": c.instances_with_repeat,
        "repeat_rate": c.repeat_rate,
        "by_touchpoint": c.by_touchpoint.iter().map(|c| json!({
            "touchpoint": c.touchpoint,
            "visits": c.visits,
            "instances": c.instances,
            "repeated_instances": c.repeated_instances,
            "preceded_by": c.preceded_by.iter().map(|(t, n)| json!({ "touchpoint": t, "visits": n })).collect::<Value>(),
            "drivers": drivers(&c.drivers),
            "attribute_drivers": c.attribute_drivers.iter().map(|d| {
                let (attribute, value) = d.touchpoint.split_once('=').unwrap_or((&d.touchpoint, ""));
                json!({
                    "attribute": attribute,
                    "value": value,
                    "share_with": d.share_with,
                    "share_without": d.share_without,
                    "lift": d.lift.is_finite().then_some(d.lift),
                })
            }).collect::<Value>(),
        })).collect::<Value>(),
    })
}

/// Per-period or per-segment figures of the journey, each under `key` (`period`, `value`): the
/// journey's own measures, computed over the group's instances only.
fn groups(list: &[Group], key: &str) -> Value {
    list.iter()
        .map(|g| {
            json!({
                key: g.key,
                "instances": g.instances,
                "completed": g.completed,
                "completed_median_seconds": g.completed_median_seconds,
                "conformance_share": g.conformance_share,
                "contacts_per_instance": g.contacts.per_instance,
                "stages": stages(&g.stages),
                "deviations": deviations(&g.deviations),
                "contacts": contacts(&g.contacts),
                "scores": scores(&g.scores),
            })
        })
        .collect()
}

/// Per-period or per-segment figures of a touchpoint, each under `key`.
fn slices(list: &[TouchpointSlice], key: &str) -> Value {
    list.iter()
        .map(|p| {
            json!({
                key: p.key,
                "instances": p.instances,
                "visits": p.visits,
                "repeat_visits": p.repeat_visits,
                "median_total_seconds": p.median_total_seconds,
                "breach_share": p.breach_share,
                "scores": scores(&p.scores),
            })
        })
        .collect()
}

/// A journey report as JSON. Durations are in seconds, shares are fractions (0–1).
pub fn report_json(report: &Report) -> Value {
    json!({
        "journey": report.journey,
        "version": report.version,
        "instances": {
            "total": report.instances.total,
            "completed": report.instances.completed,
            "abandoned": report.instances.abandoned,
            "open": report.instances.open,
            "completed_seconds": summary(&report.completed_seconds),
        },
        "stages": stages(&report.stages),
        "touchpoints": report.touchpoints.iter().map(|t| json!({
            "id": t.id,
            "name": t.name,
            "stage": t.stage,
            "optional": t.optional,
            "moment_of_truth": t.moment_of_truth,
            "contact": t.contact,
            "target_seconds": t.target_seconds,
            "emotion": t.emotion,
            "measured_emotion": t.scores.emotion(),
            "events": t.events,
            "visits": t.visits,
            "instances": t.instances,
            "repeat_visits": t.repeat_visits,
            "drop_off": t.drop_off,
            "at_seconds": summary(&t.at_seconds),
            "wait_after_seconds": summary(&t.wait_after_seconds),
            "total_seconds": summary(&t.total_seconds),
            "breach_share": t.breach_share,
            "worst": t.worst.iter().map(|(case, seconds)| json!({ "case": case, "seconds": seconds })).collect::<Value>(),
            "scores": scores(&t.scores),
            "segments": slices(&t.segments, "value"),
            "trend": slices(&t.trend, "period"),
        })).collect::<Value>(),
        "funnel": {
            "instances": report.funnel.cases,
            "steps": report.funnel.steps.iter().map(|s| json!({
                "step": s.name,
                "reached": s.reached,
                "conversion_from_previous": s.conversion_from_previous,
                "conversion_from_first": s.conversion_from_first,
                "median_seconds_from_previous": s.median_seconds_from_previous,
                "drop_off": s.drop_off,
            })).collect::<Value>(),
        },
        "milestones": report.milestones.iter().map(|m| json!({
            "from": m.from,
            "to": m.to,
            "from_reached": m.from_reached,
            "reached": m.reached,
            "seconds": summary(&m.seconds),
        })).collect::<Value>(),
        "conformance": {
            "method": "replay on the journey's transition system (directly-follows token replay)",
            "fitting": report.conformance.fitting,
            "share": report.conformance.share,
            "completed_share": report.conformance.completed_share,
            "deviations": deviations(&report.conformance.deviations),
        },
        "contacts": contacts(&report.contacts),
        "experience": {
            "journey": scores(&report.experience.journey),
            "low_instances": report.experience.low_instances,
            "low_drivers": drivers(&report.experience.low_drivers),
            "breach_share_low": report.experience.breach_share_low,
            "breach_share_other": report.experience.breach_share_other,
        },
        "moments_of_truth": {
            "method": "risk difference: for each outcome, its rate among instances that visited the touchpoint minus among those that did not (completion: closed instances; low score: instances with a score; repeat contact: all instances)",
            "threshold": waymark_analytics::journey::MOMENT_THRESHOLD,
            "confirmed": report.moments_compared.confirmed,
            "not_confirmed": report.moments_compared.not_confirmed,
            "unmarked": report.moments_compared.unmarked,
            "touchpoints": report.moments.iter().map(|m| json!({
                "touchpoint": m.touchpoint,
                "influence": m.influence,
                "low_score": m.low_score,
                "repeat_contact": m.repeat_contact,
                "visited": m.visited,
                "designed": m.designed,
            })).collect::<Value>(),
        },
        "trend": groups(&report.trend, "period"),
        "segments": groups(&report.segments, "value"),
        "unmapped": report.unmapped.iter().map(|(a, n)| json!({ "activity": a, "events": n })).collect::<Value>(),
    })
}

/// The report's figures, as the map draws them on the cards.
pub fn live(report: &waymark_analytics::journey::Report) -> waymark_map::Live {
    let i = &report.instances;
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let summary = format!(
        "{} instances ({} completed, {} abandoned, {} open); {:.1}% followed the designed path",
        i.total,
        i.completed,
        i.abandoned,
        i.open,
        report.conformance.share * 100.0
    );
    let cards = report
        .touchpoints
        .iter()
        .map(|t| {
            let score = t
                .scores
                .csat
                .map(|(v, _)| format!("CSAT {v:.1}"))
                .or_else(|| t.scores.nps.map(|(v, _)| format!("NPS {v:+.0}")))
                .or_else(|| t.scores.ces.map(|(v, _)| format!("CES {v:.1}")));
            let figures = waymark_map::CardFigures {
                instances: t.instances,
                conversion: (t.instances > 0).then(|| 1.0 - share(t.drop_off, t.instances)),
                median_seconds: (t.visits > 0).then_some(t.total_seconds.median),
                breach_share: t.breach_share,
                score,
                influence: report
                    .moments
                    .iter()
                    .find(|m| m.touchpoint == t.id)
                    .map(|m| m.influence * 100.0),
                emotion: t.scores.emotion(),
            };
            (t.id.clone(), figures)
        })
        .collect();
    let stages = report
        .stages
        .iter()
        .map(|s| {
            let line = waymark_map::StageLine {
                reached: s.reached,
                conversion: s.conversion_to_next,
                median_seconds: (s.seconds.count > 0).then_some(s.seconds.median),
                breach_share: s.breach_share,
            };
            (s.id.clone(), line)
        })
        .collect();
    waymark_map::Live {
        summary,
        cards,
        stages,
        details: None,
        card_links: None,
    }
}

/// A journey file stored by `POST /v1/journeys`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Deployed {
    id: String,
    /// 1 for the first file under this id, one more for each different file.
    version: i64,
    /// The file's version label (`as-is`, `to-be`, …).
    label: String,
    /// False when the same file was already the latest version.
    created: bool,
}

/// A page of the deployed journeys.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct JourneyList {
    pub journeys: Vec<JourneySummary>,
    /// Where the next page starts (`after`); `null` on the last page.
    pub next: Option<String>,
}

/// A deployed journey, as listed.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct JourneySummary {
    id: String,
    version: i64,
    label: String,
    title: String,
    owner: String,
    deployed_at: String,
}

fn invalid(code: &'static str, message: String, field: &str) -> ApiError {
    ApiError::bad_request(code, message, field)
}

/// Stores a journey file (YAML) as a new version of its journey, after checking it. Its event
/// rules bind stored and incoming events to touchpoints when reports are made. A to-be version
/// (any version but an as-is one while the current version is as-is) is proposed instead: it
/// becomes current once the journey's owner approved its five change-impact answers, through the
/// request this starts (`202`).
#[utoipa::path(
    post,
    path = "/v1/journeys",
    tag = "journeys",
    security(("admin_token" = [])),
    request_body(content = String, content_type = "application/yaml", description = "A journey file"),
    responses(
        (status = 200, description = "Deployed (or already the latest version)", body = Deployed),
        (status = 202, description = "A to-be version: proposed, waiting for the owner's approval", body = ProposedJson),
        (status = 400, description = "The file has errors, or a to-be version lacks its five answers; `field` is the line:column of the first", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not deploy", body = crate::openapi::ErrorBody),
        (status = 409, description = "Nobody in the directory may approve a change to this journey", body = crate::openapi::ErrorBody),
    )
)]
pub async fn deploy(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<Response, ApiError> {
    let caller = require(&state, &headers, Capability::DesignJourneys).await?;
    let by = caller
        .person()
        .map_or_else(|| caller.recorded_as(), |p| p.id.clone());
    let checked = waymark_journey::check(&body);
    let Some(journey) = checked.journey else {
        let errors: Vec<&waymark_journey::Diagnostic> = checked
            .diagnostics
            .iter()
            .filter(|d| d.severity == waymark_journey::Severity::Error)
            .collect();
        let first = errors.first();
        return Err(invalid(
            "invalid_journey",
            match first {
                Some(d) => format!(
                    "{}{} ({} error(s) in all; `waymark journey lint` lists them)",
                    d.message,
                    d.hint
                        .as_deref()
                        .map(|h| format!("; {h}"))
                        .unwrap_or_default(),
                    errors.len()
                ),
                None => "the journey file has errors".to_string(),
            },
            &first.map(|d| d.location.to_string()).unwrap_or_default(),
        ));
    };
    let now = state.clock.now_us();
    let deployment = {
        let (store, journey) = (state.store.clone(), journey.clone());
        let diagnostics = checked.diagnostics;
        tokio::task::spawn_blocking(move || {
            crate::changes::deploy(store.as_ref(), &journey, &diagnostics, &body, &by, now)
        })
        .await
        .map_err(|e| ApiError::internal(&e))??
    };
    use crate::changes::{Deployment, Proposed};
    Ok(match deployment {
        Deployment::Deployed { version, created } => {
            tracing::info!(journey = %journey.id, version, created, "journey deployed");
            Json(Deployed {
                id: journey.id,
                version,
                label: journey.version,
                created,
            })
            .into_response()
        }
        Deployment::Proposed(Proposed::Current { version }) => Json(Deployed {
            id: journey.id,
            version,
            label: journey.version,
            created: false,
        })
        .into_response(),
        Deployment::Proposed(Proposed::Waiting {
            proposal,
            request,
            approver,
            withdrawn,
        }) => (
            StatusCode::ACCEPTED,
            Json(ProposedJson {
                message: format!(
                    "proposed: version `{}` becomes current once `{approver}` approves its change-impact answers in request {request}",
                    journey.version
                ),
                id: journey.id,
                label: journey.version,
                proposal,
                request,
                approver,
                withdrawn,
            }),
        )
            .into_response(),
    })
}

/// A to-be version proposed by `POST /v1/journeys`, waiting for the owner's approval.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ProposedJson {
    id: String,
    /// The file's version label.
    label: String,
    /// The proposal (`GET /v1/journeys/{id}/proposals/{proposal}`).
    proposal: i64,
    /// The approval request (`GET /v1/requests/{request}`); the approver completes its task.
    request: i64,
    /// Who approves it: the journey's owner (or their lead, or the proposer's manager).
    approver: String,
    /// Earlier proposals of this journey it replaced (their requests were cancelled).
    withdrawn: Vec<i64>,
    message: String,
}

/// Records who saved version `version` of journey `id`, and what it changed against the version
/// before it, for the journey's activity (blocking). A failure is logged: the version is saved
/// either way.
pub fn record_version(
    store: &dyn waymark_store::Store,
    id: &str,
    version: i64,
    by: &str,
    now_us: i64,
) {
    let recorded = (|| -> Result<(), waymark_store::StoreError> {
        let versions = store.journey_versions(id)?;
        let read = |v: i64| {
            versions
                .iter()
                .find(|d| d.version == v)
                .and_then(|d| waymark_journey::check(&d.source).journey)
        };
        let Some(after) = read(version) else {
            return Ok(());
        };
        let before = read(version - 1);
        store.note_change(&waymark_store::JourneyChange {
            journey: id.to_string(),
            version,
            by: by.to_string(),
            summary: waymark_journey::diff::summary(before.as_ref(), &after),
            at_us: now_us,
        })
    })();
    if let Err(error) = recorded {
        tracing::warn!(journey = %id, version, %error, "who saved a journey version could not be recorded");
    }
}

/// The latest version of every deployed journey.
#[utoipa::path(
    get,
    path = "/v1/journeys",
    tag = "journeys",
    security(("admin_token" = [])),
    params(crate::paging::PageQuery),
    responses(
        (status = 200, description = "A page of the journeys, by id, and the next page's start", body = JourneyList),
        (status = 400, description = "A limit out of range, or a cursor that is not one", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(page): Query<crate::paging::PageQuery>,
) -> Result<Json<JourneyList>, ApiError> {
    require(&state, &headers, Capability::ReadJourneys).await?;
    let deployed = state.blocking(|store| store.journeys()).await?;
    let (deployed, next) = crate::paging::cut(deployed, |d| d.id.clone(), &page)?;
    Ok(Json(JourneyList {
        next,
        journeys: deployed
            .into_iter()
            .map(|d| {
                let journey = waymark_journey::check(&d.source).journey;
                JourneySummary {
                    title: journey
                        .as_ref()
                        .map(|j| j.title.clone())
                        .unwrap_or_default(),
                    owner: journey.map(|j| j.owner).unwrap_or_default(),
                    id: d.id,
                    version: d.version,
                    label: d.label,
                    deployed_at: waymark_eventlog::time::format_micros(d.deployed_us),
                }
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The deployed version: its number, or a version label such as `to-be` (its latest
    /// deploy). Default: the latest.
    version: Option<String>,
    /// Only instances that start at or after / before this time (ISO 8601 or YYYY-MM-DD).
    from: Option<String>,
    to: Option<String>,
    /// Break down by this attribute (of the case, else of the instance's first event).
    by: Option<String>,
    /// `day`, `week` or `month` (default).
    period: Option<String>,
    /// Inactivity after which an instance is over, e.g. `30d` (default).
    timeout: Option<String>,
    /// Comma-separated touchpoint ids.
    start: Option<String>,
    end: Option<String>,
    contacts: Option<String>,
    funnel: Option<String>,
    /// Comma-separated `FROM:TO` touchpoint pairs.
    between: Option<String>,
}

fn list_of(text: &Option<String>) -> Vec<String> {
    text.as_deref()
        .map(|t| {
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn time_param(text: &Option<String>, field: &str) -> Result<Option<i64>, ApiError> {
    text.as_deref()
        .map(|t| {
            waymark_eventlog::time::parse_bound(t)
                .ok_or_else(|| {
                    invalid(
                        "invalid_time",
                        format!("`{t}` is not a time; write ISO 8601 (2024-01-31T12:00:00Z) or a date (2024-01-31)"),
                        field,
                    )
                })
        })
        .transpose()
}

fn options(query: &ReportQuery) -> Result<Options, ApiError> {
    let timeout = match &query.timeout {
        Some(t) => Some(timeout_micros(
            waymark_journey::duration::parse(t.trim()).map_err(|problem| {
                invalid(
                    "invalid_duration",
                    format!("`{t}` is not a duration ({problem}); e.g. 30d"),
                    "timeout",
                )
            })?,
        )),
        None => None,
    };
    let period = match query.period.as_deref() {
        None => Period::Month,
        Some(p) => Period::parse(p).ok_or_else(|| {
            invalid(
                "invalid_period",
                format!("`{p}` is not a period; use day, week or month"),
                "period",
            )
        })?,
    };
    let milestones = list_of(&query.between)
        .into_iter()
        .map(|pair| {
            milestone(&pair).ok_or_else(|| {
                invalid(
                    "invalid_between",
                    format!("`{pair}` must be written FROM:TO, two touchpoint ids"),
                    "between",
                )
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Options {
        start: list_of(&query.start),
        end: list_of(&query.end),
        timeout,
        from: time_param(&query.from, "from")?,
        to: time_param(&query.to, "to")?,
        contacts: list_of(&query.contacts),
        by: query.by.clone(),
        period,
        funnel: list_of(&query.funnel),
        milestones,
        now: None,
    })
}

/// A `days` parameter: 1 to 366, `default` when not given.
pub(crate) fn days_param(days: Option<i64>, default: i64) -> Result<i64, ApiError> {
    let days = days.unwrap_or(default);
    if (1..=366).contains(&days) {
        Ok(days)
    } else {
        Err(ApiError::bad_request(
            "invalid_days",
            format!("`days` is {days}; give 1 to 366"),
            "days",
        ))
    }
}

/// The journey measured by the stored events: the figures of every stage and touchpoint, the
/// funnel, conformance, repeat contacts, experience, moments of truth, trend and segments (the
/// same JSON as `waymark journey report --format json`).
#[utoipa::path(
    get,
    path = "/v1/journeys/{id}/report",
    tag = "journeys",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The journey's id"), ReportQuery),
    responses(
        (status = 200, description = "The report: durations in seconds, shares as fractions", body = Object),
        (status = 400, description = "A bad parameter, named in `field`", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such journey (or version)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    require(&state, &headers, Capability::ReadJourneys).await?;
    let (deployed, _, figures) = measure(&state, id, &query).await?;
    let mut json = report_json(&figures);
    json["deployed_version"] = Value::from(deployed.version);
    Ok(Json(json))
}

/// The journey map with the measured figures on every card and stage, the measured emotion
/// curve and a summary line: an SVG image, or with `format=html` a page around it. The same
/// parameters and numbers as the report.
#[utoipa::path(
    get,
    path = "/v1/journeys/{id}/map",
    tag = "journeys",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The journey's id"), ReportQuery, MapQuery),
    responses(
        (status = 200, description = "The live map (image/svg+xml, or text/html)", content_type = "image/svg+xml", body = String),
        (status = 400, description = "A bad parameter, named in `field`", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such journey (or version)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn map(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<ReportQuery>,
    Query(shape): Query<MapQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    require(&state, &headers, Capability::ReadJourneys).await?;
    let html = match shape.format.as_deref() {
        None | Some("svg") => false,
        Some("html") => true,
        Some(other) => {
            return Err(invalid(
                "invalid_format",
                format!("`{other}` is not a map format: svg or html"),
                "format",
            ));
        }
    };
    let (_, journey, figures) = measure(&state, id, &query).await?;
    let live = live(&figures);
    Ok(if html {
        (
            [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
            waymark_map::html_live(&journey, Some(&live)),
        )
            .into_response()
    } else {
        (
            [(axum::http::header::CONTENT_TYPE, "image/svg+xml")],
            waymark_map::svg_live(&journey, Some(&live)),
        )
            .into_response()
    })
}

/// How `GET /v1/journeys/{id}/map` draws.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MapQuery {
    /// `svg` (default) or `html`.
    format: Option<String>,
}

/// Finds the deployed journey (version) and measures it on the stored events.
async fn measure(
    state: &AppState,
    id: String,
    query: &ReportQuery,
) -> Result<
    (
        waymark_store::DeployedJourney,
        waymark_journey::Journey,
        Arc<Report>,
    ),
    ApiError,
> {
    let options = options(query)?;
    let (deployed, journey) = find(state, id, query.version.clone()).await?;
    let (store, logs) = (state.store.clone(), state.logs.clone());
    tokio::task::spawn_blocking(move || {
        let figures = measured_live(&logs, &store, &journey, &options, API_WAIT)
            .map(|(report, _)| report)
            .map_err(measure_error)?;
        Ok::<_, ApiError>((deployed, journey, figures))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
}

/// Why a journey could not be measured, as the API says it.
pub(crate) fn measure_error(error: Measure) -> ApiError {
    match error {
        Measure::Options(e) => {
            let field = e.option;
            invalid("unknown_touchpoint", e.to_string(), field)
        }
        Measure::Loading(not_ready) => ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "reading_events",
            message: format!(
                "the stored events are still being read ({} so far); ask again in a few seconds",
                not_ready.read
            ),
            field: None,
            accepted: None,
        },
        Measure::Store(e) => ApiError::internal(&e),
    }
}

/// A deployed journey by id and version (a number or a label; none: the latest), read.
pub(crate) async fn find(
    state: &AppState,
    id: String,
    version: Option<String>,
) -> Result<(waymark_store::DeployedJourney, waymark_journey::Journey), ApiError> {
    let lookup = id.clone();
    let deployed = state
        .blocking(move |store| match version.as_deref().map(str::trim) {
            None => store.journey(&lookup, None),
            Some(text) => match text.parse::<i64>() {
                Ok(number) => store.journey(&lookup, Some(number)),
                Err(_) => Ok(store
                    .journey_versions(&lookup)?
                    .into_iter()
                    .rev()
                    .find(|d| d.label == text)),
            },
        })
        .await?
        .ok_or_else(|| ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!(
                "no journey `{id}` (or no such version) is deployed; POST it to /v1/journeys"
            ),
            field: Some("id".to_string()),
            accepted: None,
        })?;
    let journey = waymark_journey::check(&deployed.source)
        .journey
        .ok_or_else(|| ApiError::internal(&"a deployed journey no longer reads"))?;
    Ok((deployed, journey))
}

/// How long the report API waits for the events to be read after a start.
pub(crate) const API_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Why a journey could not be measured.
#[derive(Debug)]
pub enum Measure {
    /// An option names something the journey does not have.
    Options(waymark_analytics::journey::UnknownTouchpoint),
    /// The events are still being read.
    Loading(crate::live::NotReady),
    Store(waymark_store::StoreError),
}

/// Measures a journey on the stored events, reading only the attributes the report needs
/// (blocking: run it on the blocking pool).
pub fn measured(
    store: &dyn waymark_store::Store,
    journey: &waymark_journey::Journey,
    options: &Options,
) -> Result<Report, Measure> {
    let keep = waymark_store::Keep::only(waymark_analytics::journey::attributes_read(
        journey, options,
    ));
    let (log, _) = waymark_store::stored_log_keeping(store, &keep).map_err(Measure::Store)?;
    waymark_analytics::journey::report(journey, &log, options).map_err(Measure::Options)
}

/// The stored events as the live log a report of `journey` reads (the attributes every deployed
/// journey reads, so moving between journeys' pages follows one log), as fresh as is quick
/// (see [`crate::live`]); blocking: run it on the blocking pool.
pub fn live_log(
    analyses: &Arc<Analyses>,
    store: &Arc<dyn waymark_store::Store>,
    journeys: &[waymark_journey::Journey],
    options: &Options,
    wait: std::time::Duration,
) -> Result<Arc<Snapshot>, Measure> {
    let keep = attributes_for_all(store.as_ref(), journeys, options)?;
    analyses
        .log(store, keep, wait)
        .map_err(|unavailable| match unavailable {
            Unavailable::Loading(not_ready) => Measure::Loading(not_ready),
            Unavailable::Store(error) => Measure::Store(error),
        })
}

/// [`measured`] on the live log, with the snapshot it was measured on.
pub fn measured_live(
    analyses: &Arc<Analyses>,
    store: &Arc<dyn waymark_store::Store>,
    journey: &waymark_journey::Journey,
    options: &Options,
    wait: std::time::Duration,
) -> Result<(Arc<Report>, Arc<Snapshot>), Measure> {
    let snapshot = live_log(
        analyses,
        store,
        std::slice::from_ref(journey),
        options,
        wait,
    )?;
    let report = analyses
        .report(&snapshot, journey, options)
        .map_err(Measure::Options)?;
    Ok((report, snapshot))
}

/// Starts reading the stored events as the live log the deployed journeys read, on a thread of
/// its own (at start-up, so the first page does not wait for it).
pub fn start_following(
    analyses: &Arc<Analyses>,
    store: &Arc<dyn waymark_store::Store>,
) -> Result<(), waymark_store::StoreError> {
    let keep = match attributes_for_all(store.as_ref(), &[], &Options::default()) {
        Ok(keep) => keep,
        Err(Measure::Store(error)) => return Err(error),
        Err(_) => Vec::new(),
    };
    analyses.start(store.clone(), keep);
    warm(analyses, store);
    Ok(())
}

/// Measures every deployed journey (the latest versions, default options) once the live log is
/// loaded, on a thread of its own, so that the first view of the journeys list finds their
/// figures instead of measuring them all while the reader waits.
fn warm(analyses: &Arc<Analyses>, store: &Arc<dyn waymark_store::Store>) {
    let (analyses, store) = (analyses.clone(), store.clone());
    let spawned = std::thread::Builder::new()
        .name("waymark-warm".into())
        .spawn(move || {
            let journeys: Vec<waymark_journey::Journey> = match store.journeys() {
                Ok(deployed) => deployed
                    .iter()
                    .filter_map(|d| waymark_journey::check(&d.source).journey)
                    .collect(),
                Err(error) => {
                    tracing::warn!(error = %error, "the deployed journeys could not be read to measure them");
                    return;
                }
            };
            let started = std::time::Instant::now();
            // Not on the background pool: this waits for the live log, which is read there.
            match measured_many(
                &analyses,
                &store,
                &journeys,
                &Options::default(),
                std::time::Duration::from_secs(3600),
            ) {
                Ok(_) => tracing::info!(
                    journeys = journeys.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "the deployed journeys were measured"
                ),
                Err(error) => {
                    tracing::warn!(error = ?error, "the deployed journeys could not be measured")
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(error = %error, "no thread to measure the deployed journeys");
    }
}

/// The attributes `journeys` read, and those every deployed journey reads: one log serves them
/// all, so moving between journeys' pages reads the store once.
fn attributes_for_all(
    store: &dyn waymark_store::Store,
    journeys: &[waymark_journey::Journey],
    options: &Options,
) -> Result<Vec<String>, Measure> {
    let mut keys: Vec<String> = journeys
        .iter()
        .flat_map(|j| waymark_analytics::journey::attributes_read(j, options))
        .collect();
    for deployed in store.journeys().map_err(Measure::Store)? {
        if let Some(other) = waymark_journey::check(&deployed.source).journey {
            keys.extend(waymark_analytics::journey::attributes_read(&other, options));
        }
    }
    // What the journey editor suggests rules from, and discovery splits touchpoints by.
    keys.extend(
        waymark_analytics::discover::KEYS
            .iter()
            .map(|k| k.to_string()),
    );
    Ok(keys)
}

/// Measures several journeys on one snapshot of the live log, each as [`measured`] would.
pub fn measured_many(
    analyses: &Arc<Analyses>,
    store: &Arc<dyn waymark_store::Store>,
    journeys: &[waymark_journey::Journey],
    options: &Options,
    wait: std::time::Duration,
) -> Result<Vec<Result<Arc<Report>, waymark_analytics::journey::UnknownTouchpoint>>, Measure> {
    let snapshot = live_log(analyses, store, journeys, options, wait)?;
    Ok(journeys
        .iter()
        .map(|journey| analyses.report(&snapshot, journey, options))
        .collect())
}
