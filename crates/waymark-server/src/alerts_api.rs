//! Alerts on the API: rules on KPIs (kept, listed, removed, simulated on the past) and the alerts
//! they raised (listed, acknowledged, resolved).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use waymark_analytics::journey::kpis;
use waymark_store::alerts::{Alert, AlertRule, NewAlertRule};

use crate::AppState;
use crate::access::{Capability, require};
use crate::alerts::{Unsimulated, bucket, watched};
use crate::error::ApiError;
use crate::journeys::{API_WAIT, days_param, find, measure_error};

const DAY: i64 = 86_400_000_000;

fn format(us: i64) -> String {
    waymark_eventlog::time::format_micros(us)
}

/// An alert as JSON.
pub fn alert_json(alert: &Alert) -> Value {
    let detail: Value = serde_json::from_str(&alert.detail).unwrap_or(Value::Null);
    json!({
        "id": alert.id,
        "rule": alert.rule,
        "journey": alert.journey,
        "kpi": alert.kpi,
        "state": state(alert),
        "opened": format(alert.opened_us),
        "last": format(alert.last_us),
        "buckets": alert.buckets,
        "detail": detail,
        "acknowledged": alert.acknowledged.as_ref().map(|(by, at)| json!({"by": by, "at": format(*at)})),
        "resolved": alert.resolved.as_ref().map(|(by, at)| json!({"by": by, "at": format(*at)})),
        "notified": alert.notified_us.map(format),
    })
}

/// `open`, `acknowledged` or `resolved`.
pub fn state(alert: &Alert) -> &'static str {
    match (&alert.acknowledged, &alert.resolved) {
        (_, Some(_)) => "resolved",
        (Some(_), None) => "acknowledged",
        (None, None) => "open",
    }
}

fn rule_json(rule: &AlertRule) -> Value {
    json!({
        "id": rule.id,
        "journey": rule.rule.journey,
        "kpi": rule.rule.kpi,
        "rule": rule.rule.rule,
        "webhook": rule.rule.webhook,
        "author": rule.rule.author,
        "created": format(rule.rule.created_us),
        "checked_until": rule.checked_us.map(format),
    })
}

/// The newest alerts (200 at most), open ones and closed ones.
#[utoipa::path(
    get,
    path = "/v1/alerts",
    operation_id = "list_alerts",
    tag = "alerts",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Alerts, newest first", body = Object),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read journeys", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require(&state, &headers, Capability::ReadJourneys).await?;
    let alerts = state.blocking(|store| store.alerts(200)).await?;
    Ok(Json(
        json!({ "alerts": alerts.iter().map(alert_json).collect::<Vec<_>>() }),
    ))
}

/// Marks an alert as taken care of (`acknowledge`), or as over (`resolve`).
#[utoipa::path(
    post,
    path = "/v1/alerts/{id}/{action}",
    operation_id = "act_on_alert",
    tag = "alerts",
    security(("admin_token" = [])),
    params(
        ("id" = i64, Path, description = "The alert's id"),
        ("action" = String, Path, description = "`acknowledge` or `resolve`"),
    ),
    responses(
        (status = 200, description = "The alert as it is now", body = Object),
        (status = 400, description = "An action that is not acknowledge or resolve", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read journeys", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such alert", body = crate::openapi::ErrorBody),
        (status = 409, description = "Already acknowledged, or already resolved", body = crate::openapi::ErrorBody),
    )
)]
pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Json<Value>, ApiError> {
    let caller = require(&state, &headers, Capability::ReadJourneys).await?;
    if !matches!(action.as_str(), "acknowledge" | "resolve") {
        return Err(ApiError::bad_request(
            "unknown_action",
            format!("`{action}` is not an action on an alert; use acknowledge or resolve"),
            "action",
        ));
    }
    let (who, now) = (caller.recorded_as(), state.clock.now_us());
    let verb = action.clone();
    let (found, changed) = state
        .blocking(move |store| {
            let Some(_) = store.alert(id)? else {
                return Ok((None, false));
            };
            let changed = if verb == "acknowledge" {
                store.acknowledge_alert(id, &who, now)?
            } else {
                store.resolve_alert(id, &who, now)?
            };
            Ok((store.alert(id)?, changed))
        })
        .await?;
    let Some(alert) = found else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("there is no alert {id}"),
            field: Some("id".into()),
            accepted: None,
        });
    };
    if !changed {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "already_done",
            message: format!("alert {id} is already {}", crate::alerts_api::state(&alert)),
            field: Some("action".into()),
            accepted: None,
        });
    }
    tracing::info!(alert = id, %action, "an alert was acted on");
    Ok(Json(alert_json(&alert)))
}

/// The rules in force.
#[utoipa::path(
    get,
    path = "/v1/alerts/rules",
    operation_id = "list_alert_rules",
    tag = "alerts",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The rules, oldest first", body = Object),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read journeys", body = crate::openapi::ErrorBody),
    )
)]
pub async fn rules(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    require(&state, &headers, Capability::ReadJourneys).await?;
    let rules = state.blocking(|store| store.alert_rules()).await?;
    Ok(Json(
        json!({ "rules": rules.iter().map(rule_json).collect::<Vec<_>>() }),
    ))
}

/// A rule to add: which KPI of which journey, what to watch for, and where to post besides
/// emailing the KPI's owner.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewRule {
    pub journey: String,
    /// The KPI's id (from its name: `Time to money` is `time-to-money`).
    pub kpi: String,
    /// `below VALUE`, `above VALUE`, `worse by 20%` (each optionally `over 7d`), or
    /// `anomaly [by weekday|by week] [at 3.5]`.
    pub rule: String,
    /// An http(s) URL that gets each new alert as JSON.
    pub webhook: Option<String>,
}

/// Adds a rule, checked against the journey's latest version: the KPI must exist and the rule
/// must read in its unit.
#[utoipa::path(
    post,
    path = "/v1/alerts/rules",
    operation_id = "add_alert_rule",
    tag = "alerts",
    security(("admin_token" = [])),
    request_body = NewRule,
    responses(
        (status = 200, description = "The rule kept", body = Object),
        (status = 400, description = "A journey, KPI, rule or webhook that does not read, named in `field`", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Adding rules needs a journey designer", body = crate::openapi::ErrorBody),
    )
)]
pub async fn add_rule(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let caller = require(&state, &headers, Capability::DesignJourneys).await?;
    // Read after the caller is known: nobody learns what a rule must look like without a key.
    let asked: NewRule = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            format!("the body is not a rule ({e}); send {{\"journey\": …, \"kpi\": …, \"rule\": …, \"webhook\": …}}"),
            "body",
        )
    })?;
    let (_, journey) = find(&state, asked.journey.clone(), None)
        .await
        .map_err(|mut e| {
            if e.status == StatusCode::NOT_FOUND {
                e.status = StatusCode::BAD_REQUEST;
                e.field = Some("journey".into());
            }
            e
        })?;
    if let Err(problem) = watched(&journey, asked.kpi.trim(), &asked.rule) {
        return Err(ApiError::bad_request(
            "invalid_rule",
            problem.message,
            problem.field,
        ));
    }
    let webhook = asked
        .webhook
        .as_deref()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| {
            url::Url::parse(w)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https"))
                .map(|_| w.to_string())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_webhook",
                        format!("`{w}` is not an http(s) URL"),
                        "webhook",
                    )
                })
        })
        .transpose()?;
    let rule = NewAlertRule {
        journey: journey.id.clone(),
        kpi: asked.kpi.trim().to_string(),
        rule: asked.rule.split_whitespace().collect::<Vec<_>>().join(" "),
        webhook,
        author: caller.recorded_as(),
        created_us: state.clock.now_us(),
    };
    let kept = rule.clone();
    let id = state
        .blocking(move |store| store.add_alert_rule(&kept))
        .await?;
    tracing::info!(rule = id, journey = %rule.journey, kpi = %rule.kpi, "an alert rule was added");
    Ok(Json(rule_json(&AlertRule {
        id,
        rule,
        checked_us: None,
    })))
}

/// Takes a rule out of force; its alerts stay.
#[utoipa::path(
    delete,
    path = "/v1/alerts/rules/{id}",
    operation_id = "remove_alert_rule",
    tag = "alerts",
    security(("admin_token" = [])),
    params(("id" = i64, Path, description = "The rule's id")),
    responses(
        (status = 200, description = "Removed", body = Object),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Removing rules needs a journey designer", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such rule in force", body = crate::openapi::ErrorBody),
    )
)]
pub async fn remove_rule(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    require(&state, &headers, Capability::DesignJourneys).await?;
    let now = state.clock.now_us();
    if state
        .blocking(move |store| store.remove_alert_rule(id, now))
        .await?
    {
        Ok(Json(json!({ "removed": id })))
    } else {
        Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("no alert rule {id} is in force"),
            field: Some("id".into()),
            accepted: None,
        })
    }
}

/// What a simulation checks.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SimulateQuery {
    /// The rule, e.g. `below 80%` or `anomaly` (required).
    rule: Option<String>,
    /// Days back from now to check, 1 to 366 (default 90).
    days: Option<i64>,
}

/// When a rule on a KPI would have fired over the past days, each run of buckets that fired
/// being one alert: the preview before a rule is added.
#[utoipa::path(
    get,
    path = "/v1/journeys/{id}/kpis/{kpi}/simulate",
    operation_id = "simulate_alert_rule",
    tag = "alerts",
    security(("admin_token" = [])),
    params(
        ("id" = String, Path, description = "The journey's id"),
        ("kpi" = String, Path, description = "The KPI's id"),
        SimulateQuery,
    ),
    responses(
        (status = 200, description = "Each bucket checked, and the alerts", body = Object),
        (status = 400, description = "A KPI or rule that does not read", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read journeys", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such journey", body = crate::openapi::ErrorBody),
    )
)]
pub async fn simulate(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, kpi)): Path<(String, String)>,
    Query(query): Query<SimulateQuery>,
) -> Result<Json<Value>, ApiError> {
    require(&state, &headers, Capability::ReadJourneys).await?;
    let rule = query.rule.clone().unwrap_or_default();
    if rule.trim().is_empty() {
        return Err(ApiError::bad_request(
            "invalid_rule",
            "give the rule to try, e.g. `rule=anomaly` or `rule=below 80%`".to_string(),
            "rule",
        ));
    }
    let days = days_param(query.days, 90)?;
    let (_, journey) = find(&state, id, None).await?;
    let now = state.clock.now_us();
    let (store, logs) = (state.store.clone(), state.logs.clone());
    let result = tokio::task::spawn_blocking(move || {
        crate::alerts::simulated(&logs, &store, &journey, &kpi, &rule, now, days, API_WAIT)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| match e {
        Unsimulated::Rule(problem) => {
            ApiError::bad_request("invalid_rule", problem.message, problem.field)
        }
        Unsimulated::Measure(measure) => measure_error(measure),
    })?;
    Ok(Json(result))
}

/// The rule checked over the `days` before `now`, as JSON.
pub fn simulation(
    w: &crate::alerts::Watched<'_>,
    observed: &kpis::Observations,
    now: i64,
    days: i64,
) -> Value {
    let bucket = bucket(&w.rule);
    let end = now.div_euclid(bucket) * bucket;
    let from = end - days * DAY;
    let checks = waymark_analytics::alerts::check(observed, w.kpi.direction, &w.rule, from, end);
    let episodes = waymark_analytics::alerts::episodes(&checks, w.kpi.direction);
    let unit = observed.unit;
    json!({
        "kpi": w.kpi.id,
        "rule": w.rule.describe(unit),
        "checked": checks.len(),
        "fired": checks.iter().filter(|c| c.fired).count(),
        "buckets": checks.iter().map(|c| json!({
            "start": format(c.start),
            "value": c.value,
            "expected": c.expected,
            "fired": c.fired,
        })).collect::<Vec<_>>(),
        "alerts": episodes.iter().map(|e| json!({
            "from": format(e.start),
            "last": format(e.last),
            "buckets": e.buckets,
            "worst": e.worst,
            "shown": kpis::show(unit, e.worst),
            "expected": e.expected,
        })).collect::<Vec<_>>(),
    })
}
