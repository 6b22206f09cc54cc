//! KPIs on the API: a journey's scorecard, and each KPI before and after a date
//! (`GET /v1/journeys/{id}/kpis`), in the JSON `waymark kpi check` prints too.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};
use waymark_analytics::compare::Comparison;
use waymark_analytics::journey::kpis::{self, Card, Change, Observations, Scope, Window};
use waymark_analytics::journey::{Instance, Options};
use waymark_eventlog::Micros;
use waymark_journey::kpi::{Direction, Unit};
use waymark_journey::{Journey, Kpi};

use crate::AppState;
use crate::access::{Capability, require};
use crate::error::ApiError;
use crate::journeys::{API_WAIT, days_param, find, live_log, measure_error, time_param};

/// What `GET /v1/journeys/{id}/kpis` measures.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KpiQuery {
    /// The deployed version: its number or label (default: the latest).
    version: Option<String>,
    /// The end of the window (ISO 8601 or a date; default: now).
    now: Option<String>,
    /// The window's length in days, 1 to 366 (default 28); the trend has 12 weeks.
    days: Option<i64>,
    /// Compare each KPI before and after this time (ISO 8601 or a date): `days` days on each
    /// side, with the test that fits the measure.
    at: Option<String>,
}

/// A journey's KPIs: each one's value over the last `days` days, the days before, its target and
/// standing, its weekly trend and a sentence; with `at`, each one before and after that time.
#[utoipa::path(
    get,
    path = "/v1/journeys/{id}/kpis",
    operation_id = "journey_kpis",
    tag = "journeys",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The journey's id"), KpiQuery),
    responses(
        (status = 200, description = "The scorecard: shares as fractions, times in seconds, volumes per day", body = Object),
        (status = 400, description = "A bad parameter, named in `field`", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read journeys", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such journey (or version)", body = crate::openapi::ErrorBody),
        (status = 503, description = "The stored events are still being read", body = crate::openapi::ErrorBody),
    )
)]
pub async fn scorecard(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<KpiQuery>,
) -> Result<Json<Value>, ApiError> {
    require(&state, &headers, Capability::ReadJourneys).await?;
    let days = days_param(query.days, 28)?;
    let now = time_param(&query.now, "now")?.unwrap_or_else(|| state.clock.now_us());
    let at = time_param(&query.at, "at")?;
    let (deployed, journey) = find(&state, id, query.version.clone()).await?;
    let (store, logs) = (state.store.clone(), state.logs.clone());
    let instances = tokio::task::spawn_blocking(move || {
        let snapshot = live_log(
            &logs,
            &store,
            std::slice::from_ref(&journey),
            &Options::default(),
            API_WAIT,
        )
        .map_err(measure_error)?;
        let instances = logs
            .instances(&snapshot, &journey)
            .map_err(|e| measure_error(crate::journeys::Measure::Options(e)))?;
        Ok::<_, ApiError>((journey, instances))
    })
    .await
    .map_err(|e| ApiError::internal(&e))?;
    let (journey, instances) = instances?;
    let window = Window {
        now,
        days,
        weeks: 12,
    };
    let mut json = scorecard_json(&journey, &instances, window, at);
    json["version"] = Value::from(deployed.version);
    Ok(Json(json))
}

/// The scorecard of `journey` on `instances` as JSON; with `at`, every KPI compared before and
/// after it over `window.days` on each side.
pub fn scorecard_json(
    journey: &Journey,
    instances: &Arc<Vec<Instance>>,
    window: Window,
    at: Option<Micros>,
) -> Value {
    let names: Vec<&str> = journey
        .touchpoints()
        .map(|(_, t)| t.name.as_str())
        .collect();
    let ids: Vec<&str> = journey.touchpoints().map(|(_, t)| t.id.as_str()).collect();
    let mut cards = Vec::new();
    for (kpi, scope, owner) in kpis::definitions(journey) {
        let Some(observed) = kpis::observe(journey, instances, kpi, scope, window.now) else {
            continue;
        };
        let scope_name = match scope {
            Scope::Journey => journey.title.clone(),
            Scope::Touchpoint(t) => names[t].to_string(),
        };
        let card = kpis::card(kpi, scope, scope_name, owner, &observed, window);
        let mut value = card_json(&card, observed.unit);
        value["touchpoint"] = match scope {
            Scope::Journey => Value::Null,
            Scope::Touchpoint(t) => Value::from(ids[t]),
        };
        if let Some(at) = at {
            value["comparison"] = comparison_json(kpi, &observed, at, window.days);
        }
        cards.push(value);
    }
    json!({
        "journey": journey.id,
        "now": waymark_eventlog::time::format_micros(window.now),
        "days": window.days,
        "kpis": cards,
        "notes": journey
            .kpis
            .iter()
            .chain(journey.touchpoints().flat_map(|(_, t)| t.kpis.iter()))
            .filter(|k| k.measure.is_none())
            .map(|k| k.name.clone())
            .collect::<Vec<_>>(),
    })
}

fn unit_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Share => "share",
        Unit::Seconds => "seconds",
        Unit::Score { .. } => "score",
        Unit::PerDay => "per_day",
    }
}

/// One card as JSON.
pub fn card_json(card: &Card, unit: Unit) -> Value {
    let kpi = &card.kpi;
    json!({
        "id": kpi.id,
        "name": kpi.name,
        "definition": kpi.to_string(),
        "measure": kpi.measure.as_ref().map(|m| m.name()),
        "scope": match card.scope { Scope::Journey => "journey", Scope::Touchpoint(_) => "touchpoint" },
        "scope_name": card.scope_name,
        "owner": card.owner,
        "unit": unit_name(unit),
        "value": card.value,
        "shown": card.value.map(|v| kpis::show(unit, v)),
        "observed": card.n,
        "previous": card.previous,
        "target": kpi.target,
        "direction": direction(kpi.direction),
        "standing": card.standing.as_str(),
        "change": card.change.map(|c| match c {
            Change::Better => "better",
            Change::Worse => "worse",
            Change::Steady => "steady",
        }),
        "trend": card.trend,
        "words": card.words,
    })
}

fn direction(direction: Direction) -> &'static str {
    match direction {
        Direction::Up => "up",
        Direction::Down => "down",
    }
}

/// A KPI before and after `at`, `days` on each side: the test's figures and the verdict in words.
pub fn comparison_json(kpi: &Kpi, observed: &Observations, at: Micros, days: i64) -> Value {
    let compared = observed.around(at, days);
    let mut value = comparison_figures(compared.as_ref());
    value["words"] = Value::from(kpis::verdict(kpi, observed.unit, compared.as_ref()));
    value["at"] = Value::from(waymark_eventlog::time::format_micros(at));
    value
}

/// A comparison's figures as the API shows them (`test` null when there were too few
/// observations).
pub(crate) fn comparison_figures(c: Option<&Comparison>) -> Value {
    match c {
        None => json!({ "test": null, "moved": false }),
        Some(c) => json!({
            "test": c.test.name(),
            "before": c.before,
            "after": c.after,
            "n_before": c.n_before,
            "n_after": c.n_after,
            "difference": c.difference,
            "low": c.low,
            "high": c.high,
            "statistic": c.statistic,
            "p": c.p,
            "moved": c.moved(),
        }),
    }
}
