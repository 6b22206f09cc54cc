//! Alerts in the web app: the alerts raised on KPIs, open first, each acknowledged and resolved
//! from its page (the link its email carries); the rules that raise them, added by journey
//! designers after a preview of when the rule would have fired on the past 90 days.

use axum::Form;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde_json::Value;
use waymark_store::alerts::{Alert, AlertRule, NewAlertRule};

use crate::Web;
use crate::analyses::{one, pairs};
use crate::journeys::{PAGE_WAIT, may_read, refused};
use crate::layout::{page, problem, stored, when};
use crate::session::{Signed, form_urlencoded};

/// How far back a preview looks.
const PREVIEW_DAYS: i64 = 90;

fn state_badge(alert: &Alert) -> Markup {
    let (word, class) = match waymark_server::alerts_api::state(alert) {
        "open" => ("open", "overdue"),
        "acknowledged" => ("acknowledged", "warn"),
        _ => ("resolved", "done"),
    };
    html! { span class=(format!("badge {class}")) { (word) } }
}

fn words(alert: &Alert) -> String {
    serde_json::from_str::<Value>(&alert.detail)
        .ok()
        .and_then(|d| d["words"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{} on {}", alert.kpi, alert.journey))
}

/// The buttons that act on an alert, for what it still allows.
fn actions(signed: &Signed, alert: &Alert) -> Markup {
    html! {
        @if alert.is_open() {
            div.actions {
                @if alert.acknowledged.is_none() {
                    form method="post" action=(format!("/alerts/{}/acknowledge", alert.id)) {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        button type="submit" { "Acknowledge" }
                    }
                }
                form method="post" action=(format!("/alerts/{}/resolve", alert.id)) {
                    input type="hidden" name="csrf" value=(signed.csrf);
                    button.secondary type="submit" { "Resolve" }
                }
            }
        }
    }
}

/// When, in a line: opened, and the last bucket that fired.
fn span(alert: &Alert) -> String {
    let days = (alert.last_us - alert.opened_us) / 86_400_000_000 + 1;
    format!(
        "from {} · {} {} fired{}",
        when(alert.opened_us),
        alert.buckets,
        if alert.buckets == 1 {
            "check"
        } else {
            "checks"
        },
        if days > 1 {
            format!(" over {days} days")
        } else {
            String::new()
        }
    )
}

/// The alerts, open ones first, and the rules.
pub(crate) async fn list(
    State(web): State<Web>,
    signed: Signed,
    RawQuery(raw): RawQuery,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    let asked = pairs(raw);
    let found = stored(&web, |store| {
        Ok((store.alerts(200)?, store.alert_rules()?, store.journeys()?))
    })
    .await;
    let (mut alerts, rules, journeys) = match found {
        Ok(found) => found,
        Err(page) => return page,
    };
    alerts.sort_by_key(|a| (!a.is_open(), a.acknowledged.is_some(), -a.id));
    let open = alerts.iter().filter(|a| a.is_open()).count();
    let designer = crate::editor::may_design(&signed);
    let preview = match (
        one(&asked, "journey"),
        one(&asked, "kpi"),
        one(&asked, "rule"),
    ) {
        (Some(journey), Some(kpi), Some(rule)) if !rule.trim().is_empty() => {
            Some(preview(&web, journey, kpi, rule).await)
        }
        _ => None,
    };
    let content = html! {
        p { "Alerts are raised by rules on KPIs: a bound, a change against the period before, or an anomaly against the KPI's own history. Each goes to the people who own the KPI. " a href="/scorecards" { "Scorecards" } }
        (crate::ui::stats("Alerts", &[
            crate::ui::Stat { figure: open.to_string(), label: "open".into(), href: None, warn: open > 0 },
            crate::ui::Stat { figure: rules.len().to_string(), label: if rules.len() == 1 { "rule".into() } else { "rules".into() }, href: Some("#rules".into()), warn: false },
        ]))
        @if alerts.is_empty() {
            (crate::ui::empty("No alert has been raised.", None))
        } @else {
            ul.cards {
                @for alert in &alerts {
                    li.card {
                        p { a href=(format!("/alerts/{}", alert.id)) { strong { (words(alert)) } } }
                        p.meta { (state_badge(alert)) " " (span(alert)) }
                        (actions(&signed, alert))
                    }
                }
            }
        }
        section aria-labelledby="rules" {
            h2 #rules { "Rules" }
            @if rules.is_empty() {
                (crate::ui::empty("No KPI is watched yet.", None))
            } @else {
                ul {
                    @for rule in &rules { li { (rule_line(&signed, rule, designer)) } }
                }
            }
            @if designer {
                @if let Some(error) = one(&asked, "error") {
                    p.notice.warn role="alert" { "The rule was not added: " (error) }
                }
                (rule_form(&signed, &journeys, &asked))
                @if let Some(preview) = preview { (preview) }
            }
        }
    };
    page("Alerts", Some(&signed), content).into_response()
}

fn rule_line(signed: &Signed, rule: &AlertRule, designer: bool) -> Markup {
    let r = &rule.rule;
    html! {
        a href=(format!("/journeys/{}/kpis", r.journey)) { (r.kpi) } " of " (r.journey) ": " code { (r.rule) }
        @if r.webhook.is_some() { " · and a webhook" }
        span.hint { " · added by " (r.author) ", " (when(r.created_us))
            @if let Some(checked) = rule.checked_us { ", checked to " (when(checked)) } }
        @if designer {
            form.inline method="post" action=(format!("/alerts/rules/{}/remove", rule.id)) {
                input type="hidden" name="csrf" value=(signed.csrf);
                button.secondary type="submit" aria-label=(format!("Remove the rule on {}", r.kpi)) { "Remove" }
            }
        }
    }
}

/// The form that adds a rule, or previews it first.
fn rule_form(
    signed: &Signed,
    journeys: &[waymark_store::DeployedJourney],
    asked: &[(String, String)],
) -> Markup {
    let value = |key: &str| one(asked, key).unwrap_or("").to_string();
    html! {
        form.builder method="post" action="/alerts/rules" {
            h3 { "Watch a KPI" }
            input type="hidden" name="csrf" value=(signed.csrf);
            div.field {
                label for="journey" { "Journey" }
                select #journey name="journey" {
                    @for j in journeys {
                        option value=(j.id) selected[value("journey") == j.id] { (j.id) }
                    }
                }
            }
            div.field {
                label for="kpi" { "KPI (its id)" }
                span.hint #kpi-hint { "From its name: “Time to money” is time-to-money. Each journey's KPIs tab lists them." }
                input #kpi name="kpi" type="text" value=(value("kpi")) aria-describedby="kpi-hint" required;
            }
            div.field {
                label for="rule" { "Rule" }
                span.hint #rule-hint { "below 80% · above 2d over 14d · worse by 20% · anomaly · anomaly by week at 4" }
                input #rule name="rule" type="text" value=(value("rule")) aria-describedby="rule-hint" required;
            }
            div.field {
                label for="webhook" { "Also post to (optional)" }
                input #webhook name="webhook" type="url" value=(value("webhook")) placeholder="https://…";
            }
            div.actions {
                button type="submit" { "Add the rule" }
                button.secondary type="submit" formmethod="get" formaction="/alerts#preview" { "Preview on the past 90 days" }
            }
        }
    }
}

/// When a rule would have fired on the past days.
async fn preview(web: &Web, journey: &str, kpi: &str, rule: &str) -> Markup {
    let (store, logs) = (web.app.store.clone(), web.app.logs.clone());
    let (journey, kpi, rule) = (journey.to_string(), kpi.to_string(), rule.to_string());
    let now = web.app.clock.now_us();
    let found = tokio::task::spawn_blocking(move || -> Result<Value, String> {
        let deployed = store
            .journey(&journey, None)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("no journey `{journey}` is deployed"))?;
        let model = waymark_journey::check(&deployed.source)
            .journey
            .ok_or("the journey no longer reads")?;
        waymark_server::alerts::simulated(
            &logs,
            &store,
            &model,
            kpi.trim(),
            &rule,
            now,
            PREVIEW_DAYS,
            PAGE_WAIT,
        )
        .map_err(|e| match e {
            waymark_server::alerts::Unsimulated::Rule(problem) => problem.message,
            waymark_server::alerts::Unsimulated::Measure(_) => {
                "the stored events are still being read; try again in a moment".to_string()
            }
        })
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r);
    html! {
        section #preview aria-labelledby="preview-title" {
            h3 #preview-title { "Preview" }
            @match &found {
                Err(problem) => p.notice.warn role="alert" { (problem) },
                Ok(result) => {
                    @let alerts = result["alerts"].as_array().cloned().unwrap_or_default();
                    p { "The rule, " (result["rule"].as_str().unwrap_or("")) ", checked " (result["checked"]) " times over the past " (PREVIEW_DAYS) " days: it fired " (result["fired"]) " times, as " (alerts.len()) (if alerts.len() == 1 { " alert." } else { " alerts." }) }
                    @if !alerts.is_empty() {
                        ul {
                            @for a in &alerts {
                                li { (a["from"].as_str().map(|d| &d[..10]).unwrap_or("")) " to " (a["last"].as_str().map(|d| &d[..10]).unwrap_or("")) ": " (a["buckets"]) " checks fired, worst " (a["shown"].as_str().unwrap_or("")) }
                            }
                        }
                    }
                },
            }
        }
    }
}

/// One alert: what fired, since when, its state and what can be done.
pub(crate) async fn show(State(web): State<Web>, signed: Signed, Path(id): Path<i64>) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    let found = match stored(&web, move |store| store.alert(id)).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(alert) = found else {
        return problem(
            StatusCode::NOT_FOUND,
            "No such alert",
            &format!("There is no alert {id}."),
            Some(&signed),
        );
    };
    let detail: Value = serde_json::from_str(&alert.detail).unwrap_or(Value::Null);
    let content = html! {
        p { (state_badge(&alert)) " " (span(&alert)) }
        p.lead { (words(&alert)) }
        dl {
            dt { "KPI" } dd { a href=(format!("/journeys/{}/kpis", alert.journey)) { (detail["kpi_name"].as_str().unwrap_or(&alert.kpi)) } " of " (detail["journey_title"].as_str().unwrap_or(&alert.journey)) }
            dt { "Owner" } dd { (detail["owner"].as_str().unwrap_or("—")) }
            dt { "Rule" } dd { (detail["rule"].as_str().unwrap_or("—")) }
            dt { "Owner told" } dd { (alert.notified_us.map_or("not yet".to_string(), when)) }
            @if let Some((by, at)) = &alert.acknowledged { dt { "Acknowledged" } dd { (by) ", " (when(*at)) } }
            @if let Some((by, at)) = &alert.resolved { dt { "Resolved" } dd { (if by == waymark_server::alerts::WAYMARK { "by itself: back to normal" } else { by.as_str() }) ", " (when(*at)) } }
        }
        (actions(&signed, &alert))
        p { a href="/alerts" { "All alerts" } }
    };
    page(&format!("Alert {id}"), Some(&signed), content).into_response()
}

/// Acknowledges or resolves an alert, as the person signed in.
pub(crate) async fn act(
    State(web): State<Web>,
    signed: Signed,
    Path((id, action)): Path<(i64, String)>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !may_read(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let (who, now) = (signed.user.id.clone(), web.app.clock.now_us());
    let done = stored(&web, move |store| match action.as_str() {
        "acknowledge" => store.acknowledge_alert(id, &who, now),
        "resolve" => store.resolve_alert(id, &who, now),
        _ => Ok(false),
    })
    .await;
    match done {
        Ok(_) => Redirect::to(&format!("/alerts/{id}")).into_response(),
        Err(page) => page,
    }
}

/// Adds a rule, checked against the journey's latest version.
pub(crate) async fn add_rule(
    State(web): State<Web>,
    signed: Signed,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !crate::editor::may_design(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let field = |key: &str| {
        crate::work::form_field(&pairs, key)
            .unwrap_or("")
            .trim()
            .to_string()
    };
    let (journey, kpi, rule, webhook) = (
        field("journey"),
        field("kpi"),
        field("rule"),
        field("webhook"),
    );
    let back = format!(
        "/alerts?journey={}&kpi={}&rule={}&webhook={}#rules",
        form_urlencoded(&journey),
        form_urlencoded(&kpi),
        form_urlencoded(&rule),
        form_urlencoded(&webhook)
    );
    // Back to the form, filled in as sent, with what is wrong said above it.
    let refuse = |sentence: String| -> Response {
        Redirect::to(&back.replace(
            "#rules",
            &format!("&error={}#rules", form_urlencoded(&sentence)),
        ))
        .into_response()
    };
    let web_address = webhook.starts_with("https://") || webhook.starts_with("http://");
    if !webhook.is_empty() && !web_address {
        return refuse(format!("“{webhook}” is not an http(s) address."));
    }
    let key = journey.clone();
    let deployed = match stored(&web, move |store| store.journey(&key, None)).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(model) = deployed.and_then(|d| waymark_journey::check(&d.source).journey) else {
        return refuse(format!("No journey “{journey}” is deployed."));
    };
    if let Err(problem) = waymark_server::alerts::watched(&model, &kpi, &rule) {
        return refuse(format!("{}.", problem.message));
    }
    let new = NewAlertRule {
        journey,
        kpi,
        rule: rule.split_whitespace().collect::<Vec<_>>().join(" "),
        webhook: (!webhook.is_empty()).then_some(webhook),
        author: signed.user.id.clone(),
        created_us: web.app.clock.now_us(),
    };
    match stored(&web, move |store| store.add_alert_rule(&new)).await {
        Ok(_) => Redirect::to("/alerts#rules").into_response(),
        Err(page) => page,
    }
}

/// Takes a rule out of force.
pub(crate) async fn remove_rule(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if !crate::editor::may_design(&signed) {
        return refused(&signed);
    }
    if let Some(refused) = crate::session::check_csrf(&signed, crate::work::csrf_of(&pairs)) {
        return refused;
    }
    let now = web.app.clock.now_us();
    match stored(&web, move |store| store.remove_alert_rule(id, now)).await {
        Ok(_) => Redirect::to("/alerts#rules").into_response(),
        Err(page) => page,
    }
}
