//! Opportunities and initiatives on the API (`/v1/opportunities`, `/v1/initiatives`), and the
//! roadmap as CSV. What they do is `crate::improve`; who may is `crate::access`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::AppState;
use crate::access::{Caller, Capability, caller, forbidden, may_read_plan, require};
use crate::error::ApiError;
use crate::improve::{
    self, GoalResult, InitiativeInput, OpportunityChange, Raise, Split, delivered,
};
use crate::plans::{Initiative, Opportunity};
use waymark_store::plans::PlanKind;

fn time(us: i64) -> String {
    waymark_eventlog::time::format_micros(us)
}

/// An opportunity as the API shows it.
pub fn opportunity_json(o: &Opportunity) -> Value {
    json!({
        "id": o.id,
        "revision": o.revision,
        "title": o.title,
        "owner": o.owner,
        "status": o.status.as_str(),
        "problem": o.problem,
        "links": o.links,
        "source": o.source,
        "evidence": o.evidence,
        "measured": o.measured_us.map(time),
        "score": {
            "customer_value": o.score.customer_value,
            "business_value": o.score.business_value,
            "effort": o.score.effort,
            "priority": o.score.priority(),
            "quadrant": o.score.quadrant(),
        },
        "history": o.history.iter().map(|c| json!({"by": c.by, "at": time(c.at_us), "words": c.words})).collect::<Vec<_>>(),
        "created_by": o.created_by,
        "created": time(o.created_us),
        "updated": time(o.updated_us),
    })
}

/// An initiative as the API shows it; with its results, each KPI now and before and after.
pub fn initiative_json(
    i: &Initiative,
    results: Option<&(Option<Split>, Vec<GoalResult>)>,
) -> Value {
    let goals: Vec<Value> = match results {
        Some((_, results)) => results.iter().map(goal_json).collect(),
        None => i
            .goals
            .iter()
            .map(|g| json!({"journey": g.journey, "kpi": g.kpi, "target": g.target, "baseline": g.baseline}))
            .collect(),
    };
    let mut value = json!({
        "id": i.id,
        "revision": i.revision,
        "title": i.title,
        "owner": i.owner,
        "status": i.status.as_str(),
        "summary": i.summary,
        "departments": i.departments,
        "start": i.start,
        "target_date": i.target_date,
        "quarter": i.quarter(),
        "opportunities": i.opportunities,
        "delivers": i.delivers,
        "measure_from": i.measure_from,
        "goals": goals,
        "history": i.history.iter().map(|c| json!({"by": c.by, "at": time(c.at_us), "words": c.words})).collect::<Vec<_>>(),
        "created_by": i.created_by,
        "created": time(i.created_us),
        "updated": time(i.updated_us),
    });
    if let Some((split, _)) = results {
        value["measured_from"] = match split {
            Some(s) => json!({"at": time(s.at), "words": s.words}),
            None => Value::Null,
        };
    }
    value
}

fn goal_json(r: &GoalResult) -> Value {
    let shown = |v: Option<f64>| match (v, r.unit) {
        (Some(v), Some(unit)) => Value::from(waymark_analytics::journey::kpis::show(unit, v)),
        _ => Value::Null,
    };
    let target = r.goal.target.or(r.kpi.as_ref().and_then(|k| k.target));
    json!({
        "journey": r.goal.journey,
        "kpi": r.goal.kpi,
        "name": r.kpi.as_ref().map(|k| k.name.clone()),
        "target": target,
        "target_text": shown(target),
        "baseline": r.goal.baseline,
        "baseline_text": shown(r.goal.baseline.as_ref().and_then(|b| b.value)),
        "now": r.now.map(|(v, _)| v),
        "now_n": r.now.map(|(_, n)| n),
        "now_text": shown(r.now.map(|(v, _)| v)),
        "compared": r.compared.as_ref().map(|c| crate::kpis::comparison_figures(Some(c))),
        "words": r.words,
    })
}

/// Reads a JSON body after the caller is known, naming what did not read.
fn body<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().to_string();
        let pointer = if path == "." {
            String::new()
        } else {
            format!("/{}", path.replace('.', "/"))
        };
        ApiError::bad_request(
            "invalid_json",
            format!("the body is not {what}: {}", e.inner()),
            pointer,
        )
    })
}

/// The caller, when they may read plans at all (journey readers, and people for their own).
async fn reader(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let caller = caller(state, headers).await?;
    if caller.may(Capability::ReadJourneys) || caller.person().is_some() {
        Ok(caller)
    } else {
        Err(forbidden(&caller, Capability::ReadJourneys))
    }
}

/// Filters on a list of plans.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlanQuery {
    /// Only those with this status.
    status: Option<String>,
    /// Only those owned by this person (a directory id).
    owner: Option<String>,
    /// Only those about this journey.
    journey: Option<String>,
    /// `csv` for the roadmap as a spreadsheet (initiatives only).
    format: Option<String>,
}

/// The opportunities the caller may read, the highest priority first.
#[utoipa::path(
    get,
    path = "/v1/opportunities",
    operation_id = "list_opportunities",
    tag = "plans",
    security(("admin_token" = [])),
    params(PlanQuery),
    responses(
        (status = 200, description = "The opportunities, each with its evidence and score", body = Object),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "A key that does not read journeys", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list_opportunities(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PlanQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = reader(&state, &headers).await?;
    let all = state
        .blocking(|store| Ok(improve::opportunities(store)))
        .await??;
    let shown: Vec<Value> = all
        .iter()
        .filter(|o| may_read_plan(&caller, &o.owner))
        .filter(|o| {
            query
                .status
                .as_deref()
                .is_none_or(|s| o.status.as_str() == s)
        })
        .filter(|o| query.owner.as_deref().is_none_or(|w| o.owner == w))
        .filter(|o| {
            query
                .journey
                .as_deref()
                .is_none_or(|j| o.links.iter().any(|l| l.journey == j))
        })
        .map(opportunity_json)
        .collect();
    Ok(Json(json!({ "opportunities": shown })))
}

/// Raises an opportunity at a touchpoint, a funnel step or a comment: its evidence (drop-off,
/// time over target, repeat contacts and what comes before them, scores, the lowest-scored
/// comments; the step's conversion) is measured now, on the server.
#[utoipa::path(
    post,
    path = "/v1/opportunities",
    operation_id = "raise_opportunity",
    tag = "plans",
    security(("admin_token" = [])),
    request_body = Raise,
    responses(
        (status = 200, description = "The opportunity raised, with its evidence", body = Object),
        (status = 400, description = "A journey, touchpoint, step, comment or owner that does not read, named in `field`", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Raising needs someone who reads journeys", body = crate::openapi::ErrorBody),
        (status = 503, description = "The stored events are still being read", body = crate::openapi::ErrorBody),
    )
)]
pub async fn raise(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = require(&state, &headers, Capability::ReadJourneys).await?;
    let asked: Raise = body(&bytes, "an opportunity to raise")?;
    let raised = improve::raise(&state, &caller, asked).await?;
    Ok(Json(opportunity_json(&raised)))
}

/// One opportunity.
#[utoipa::path(
    get,
    path = "/v1/opportunities/{id}",
    operation_id = "get_opportunity",
    tag = "plans",
    security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The opportunity's id")),
    responses(
        (status = 200, description = "The opportunity", body = Object),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "A key that does not read journeys", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such opportunity (or not one the caller may read)", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_opportunity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let caller = reader(&state, &headers).await?;
    let found = state
        .blocking(move |store| Ok(improve::opportunity(store, id)))
        .await??
        .filter(|o| may_read_plan(&caller, &o.owner))
        .ok_or_else(|| improve::not_found("opportunity", id))?;
    Ok(Json(opportunity_json(&found)))
}

/// Changes an opportunity: its title, problem, owner, status, score or links. Send the revision
/// you read; a change made meanwhile is never overwritten (409).
#[utoipa::path(
    patch,
    path = "/v1/opportunities/{id}",
    operation_id = "change_opportunity",
    tag = "plans",
    security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The opportunity's id")),
    request_body = OpportunityChange,
    responses(
        (status = 200, description = "The opportunity as it is now", body = Object),
        (status = 400, description = "A value that does not read, named in `field`", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Only its owner, who raised it, journey designers and administrators change it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such opportunity", body = crate::openapi::ErrorBody),
        (status = 409, description = "Changed since the revision sent", body = crate::openapi::ErrorBody),
    )
)]
pub async fn change_opportunity(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    bytes: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = reader(&state, &headers).await?;
    improve::may_change(&state, &caller, id, PlanKind::Opportunity).await?;
    let asked: OpportunityChange = body(&bytes, "a change of an opportunity")?;
    let changed = improve::change_opportunity(&state, &caller, id, asked).await?;
    Ok(Json(opportunity_json(&changed)))
}

/// The initiatives the caller may read, by id; with `format=csv`, the roadmap as a spreadsheet.
#[utoipa::path(
    get,
    path = "/v1/initiatives",
    operation_id = "list_initiatives",
    tag = "plans",
    security(("admin_token" = [])),
    params(PlanQuery),
    responses(
        (status = 200, description = "The initiatives (JSON), or the roadmap (text/csv)", body = Object),
        (status = 400, description = "A format other than csv", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "A key that does not read journeys", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list_initiatives(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<PlanQuery>,
) -> Result<Response, ApiError> {
    let caller = reader(&state, &headers).await?;
    if query
        .format
        .as_deref()
        .is_some_and(|f| f != "csv" && f != "json")
    {
        return Err(ApiError::bad_request(
            "invalid_format",
            "the format is json (the default) or csv",
            "format",
        ));
    }
    let all = state
        .blocking(|store| Ok(improve::initiatives(store)))
        .await??;
    let shown: Vec<Initiative> = all
        .into_iter()
        .filter(|i| may_read_plan(&caller, &i.owner))
        .filter(|i| {
            query
                .status
                .as_deref()
                .is_none_or(|s| i.status.as_str() == s)
        })
        .filter(|i| query.owner.as_deref().is_none_or(|w| i.owner == w))
        .filter(|i| {
            query.journey.as_deref().is_none_or(|j| {
                i.goals.iter().any(|g| g.journey == j)
                    || i.delivers.as_ref().is_some_and(|d| d.journey == j)
            })
        })
        .collect();
    if query.format.as_deref() == Some("csv") {
        return Ok(csv_response(roadmap_csv(&shown)));
    }
    Ok(Json(json!({
        "initiatives": shown.iter().map(|i| initiative_json(i, None)).collect::<Vec<_>>()
    }))
    .into_response())
}

/// The roadmap as CSV: one row per initiative, by quarter then status.
pub fn roadmap_csv(initiatives: &[Initiative]) -> Vec<u8> {
    let mut sorted: Vec<&Initiative> = initiatives.iter().collect();
    sorted.sort_by(|a, b| {
        (a.quarter().is_none(), a.quarter(), a.status, a.id).cmp(&(
            b.quarter().is_none(),
            b.quarter(),
            b.status,
            b.id,
        ))
    });
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "id",
        "title",
        "status",
        "quarter",
        "owner",
        "departments",
        "start",
        "target_date",
        "opportunities",
        "kpis",
        "delivers",
    ];
    // Writing to a Vec cannot fail.
    let _ = out.write_record(header);
    for i in sorted {
        let row = [
            i.id.to_string(),
            i.title.clone(),
            i.status.as_str().to_string(),
            i.quarter().unwrap_or_default(),
            i.owner.clone(),
            i.departments.join("; "),
            i.start.clone().unwrap_or_default(),
            i.target_date.clone().unwrap_or_default(),
            i.opportunities
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            i.goals
                .iter()
                .map(|g| format!("{}/{}", g.journey, g.kpi))
                .collect::<Vec<_>>()
                .join("; "),
            i.delivers.as_ref().map(delivered).unwrap_or_default(),
        ];
        let _ = out.write_record(row.iter().map(|cell| spreadsheet_safe(cell)));
    }
    out.into_inner().unwrap_or_default()
}

/// A cell a spreadsheet will not run as a formula (OWASP's CSV injection advice: a leading
/// `=`, `+`, `-`, `@`, tab or carriage return gets a `'`).
fn spreadsheet_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// A CSV download.
pub fn csv_response(bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"roadmap.csv\"",
            ),
        ],
        bytes,
    )
        .into_response()
}

/// Adds an initiative. Added (or later made) active, each KPI's baseline is measured over the
/// 28 days before its start.
#[utoipa::path(
    post,
    path = "/v1/initiatives",
    operation_id = "add_initiative",
    tag = "plans",
    security(("admin_token" = [])),
    request_body = InitiativeInput,
    responses(
        (status = 200, description = "The initiative kept", body = Object),
        (status = 400, description = "A value that does not read, named in `field`", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Adding needs someone who reads journeys", body = crate::openapi::ErrorBody),
        (status = 503, description = "The stored events are still being read", body = crate::openapi::ErrorBody),
    )
)]
pub async fn add_initiative(
    State(state): State<AppState>,
    headers: HeaderMap,
    bytes: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = require(&state, &headers, Capability::ReadJourneys).await?;
    let asked: InitiativeInput = body(&bytes, "an initiative")?;
    let added = improve::add_initiative(&state, &caller, asked).await?;
    Ok(Json(initiative_json(&added, None)))
}

/// One initiative, with each KPI now, its baseline, and before and after the version it
/// delivers (the test that fits the measure, its interval, and a sentence).
#[utoipa::path(
    get,
    path = "/v1/initiatives/{id}",
    operation_id = "get_initiative",
    tag = "plans",
    security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The initiative's id")),
    responses(
        (status = 200, description = "The initiative and its results", body = Object),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "A key that does not read journeys", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such initiative (or not one the caller may read)", body = crate::openapi::ErrorBody),
        (status = 503, description = "The stored events are still being read", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get_initiative(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let caller = reader(&state, &headers).await?;
    let state2 = state.clone();
    let (found, results) = tokio::task::spawn_blocking(move || {
        let found = improve::initiative(state2.store.as_ref(), id)?
            .filter(|i| may_read_plan(&caller, &i.owner))
            .ok_or_else(|| improve::not_found("initiative", id))?;
        // The figures are journey figures: for those who may read journeys.
        let results = if caller.may(Capability::ReadJourneys) {
            Some(improve::results(&state2, &found)?)
        } else {
            None
        };
        Ok::<_, ApiError>((found, results))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(initiative_json(&found, results.as_ref())))
}

/// Changes an initiative. Send the revision you read (409 when it changed since); what is left
/// out stays.
#[utoipa::path(
    patch,
    path = "/v1/initiatives/{id}",
    operation_id = "change_initiative",
    tag = "plans",
    security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The initiative's id")),
    request_body = InitiativeInput,
    responses(
        (status = 200, description = "The initiative as it is now", body = Object),
        (status = 400, description = "A value that does not read, named in `field`", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Only its owner, who added it, journey designers and administrators change it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such initiative", body = crate::openapi::ErrorBody),
        (status = 409, description = "Changed since the revision sent", body = crate::openapi::ErrorBody),
    )
)]
pub async fn change_initiative(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    bytes: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = reader(&state, &headers).await?;
    improve::may_change(&state, &caller, id, PlanKind::Initiative).await?;
    let asked: InitiativeInput = body(&bytes, "a change of an initiative")?;
    let changed = improve::change_initiative(&state, &caller, id, asked).await?;
    Ok(Json(initiative_json(&changed, None)))
}

/// A follow-up as the API shows it; the customer named only to those who may look people up.
pub fn follow_up_json(m: &crate::followups::Measured, customers: bool) -> Value {
    json!({
        "request": m.request,
        "customer": customers.then(|| m.customer.clone()),
        "journey": m.journey,
        "touchpoint": m.touchpoint,
        "department": m.department,
        "reason": m.reason,
        "opened": time(m.opened_us),
        "status": m.status,
        "first_contact": m.first_contact_us.map(time),
        "closed": m.closed_us.map(time),
        "to_first_contact_seconds": m.to_first_contact_s(),
        "to_close_seconds": m.to_close_s(),
        "outcome": m.outcome,
        "due": m.due_us.map(time),
        "recovery": m.recovery.as_ref().map(|(kind, value, at)| json!({"kind": kind, "value": value, "at": time(*at), "recovered": m.recovered()})),
    })
}

/// The follow-ups opened for unhappy customers, newest first, each measured (time to first
/// contact, time to close, outcome, recovery: the customer's next score), with their summary.
#[utoipa::path(
    get,
    path = "/v1/follow-ups",
    operation_id = "list_follow_ups",
    tag = "feedback",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The follow-ups and their summary; times in seconds", body = Object),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Follow-ups' figures need someone who reads journeys", body = crate::openapi::ErrorBody),
    )
)]
pub async fn follow_ups(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let caller = require(&state, &headers, Capability::ReadJourneys).await?;
    let customers = caller.may(Capability::ReadCustomers);
    let now = state.clock.now_us();
    let all = state
        .blocking(|store| Ok(crate::followups::measure(store)))
        .await?
        .map_err(|e| ApiError::internal(&e))?;
    let s = crate::followups::summarize(&all, now);
    Ok(Json(json!({
        "summary": {
            "opened": s.opened,
            "open": s.open,
            "overdue": s.overdue,
            "median_to_first_contact_seconds": s.median_first_contact_s,
            "median_to_close_seconds": s.median_close_s,
            "recovered": s.recovered.0,
            "with_a_later_score": s.recovered.1,
        },
        "follow_ups": all.iter().map(|m| follow_up_json(m, customers)).collect::<Vec<_>>(),
    })))
}
