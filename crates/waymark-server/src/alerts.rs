//! Alert rules checked on a schedule, and alerts delivered to the KPI's owner.
//!
//! Every run reads the live log once (only what changed since the last reading is read, and only
//! the people a new snapshot touched are cut again: nothing recomputes the whole store), and for
//! each rule checks the buckets (days, or weeks) completed since its mark. The mark moves by
//! compare-and-set, so with several nodes each bucket is checked once. A bucket that fires joins
//! the rule's open alert, or opens one (a new rule looks back a week); only a new alert is
//! delivered: an email to each person
//! who owns the KPI (by id, name or department) and a JSON post to the rule's webhook, both again
//! on the next run until they went out. An alert quiet for [`alerts::QUIET`] buckets is resolved by
//! Waymark itself.

use std::sync::Arc;

use serde_json::{Value, json};
use waymark_analytics::alerts::{self, Rule, Season, Watch};
use waymark_analytics::journey::Options;
use waymark_analytics::journey::kpis::{self, Observations};
use waymark_eventlog::Micros;
use waymark_journey::{Journey, Kpi, id_from_name};
use waymark_store::alerts::{Alert, AlertRule, Firing};
use waymark_store::prelude::*;
use waymark_store::workflow::User;

use crate::live::Analyses;
use crate::mail::Mailer;

const DAY: Micros = 86_400_000_000;
/// Who resolves an alert that went quiet.
pub const WAYMARK: &str = "waymark";

/// Whether `owner` (as a KPI names it: a person or a department) is this person: their id, name
/// or department, compared as ids (`Customer Success` is `customer-success`).
pub fn owns(user: &User, owner: &str) -> bool {
    let owner = id_from_name(owner, |_| false);
    [Some(&user.id), Some(&user.name), user.department.as_ref()]
        .into_iter()
        .flatten()
        .any(|mine| id_from_name(mine, |_| false) == owner)
}

/// A rule's KPI found in its journey, with the rule read in the KPI's unit.
#[derive(Debug)]
pub struct Watched<'j> {
    pub kpi: &'j Kpi,
    pub scope: kpis::Scope,
    pub owner: String,
    pub rule: Rule,
}

/// What is wrong with a rule: the field it is about (`kpi` or `rule`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleProblem {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A rule on a KPI of `journey`, read; or why it cannot be checked against the journey.
pub fn watched<'j>(
    journey: &'j Journey,
    kpi: &str,
    rule: &str,
) -> Result<Watched<'j>, RuleProblem> {
    let about_kpi = |message: String| RuleProblem {
        field: "kpi",
        message,
    };
    let definitions = kpis::definitions(journey);
    let Some((found, scope, owner)) = definitions.iter().find(|(k, _, _)| k.id == kpi).cloned()
    else {
        let known: Vec<&str> = definitions
            .iter()
            .filter(|(k, _, _)| k.measure.is_some())
            .map(|(k, _, _)| k.id.as_str())
            .collect();
        return Err(about_kpi(
            match waymark_journey::did_you_mean(kpi, known.iter().copied()) {
                Some(close) => format!(
                    "`{}` has no KPI `{kpi}`; did you mean `{close}`?",
                    journey.id
                ),
                None if known.is_empty() => format!("`{}` has no measurable KPI", journey.id),
                None => format!(
                    "`{}` has no KPI `{kpi}`; its KPIs are {}",
                    journey.id,
                    waymark_journey::one_of(&known)
                ),
            },
        ));
    };
    let Some(measure) = &found.measure else {
        return Err(about_kpi(format!(
            "`{}` is a note, not a measure: nothing to watch",
            found.name
        )));
    };
    let rule = Rule::parse(rule, measure.unit()).map_err(|message| RuleProblem {
        field: "rule",
        message,
    })?;
    Ok(Watched {
        kpi: found,
        scope,
        owner,
        rule,
    })
}

/// The length of a rule's buckets.
pub fn bucket(rule: &Rule) -> Micros {
    match rule.watch {
        Watch::Anomaly {
            season: Season::Week,
            ..
        } => 7 * DAY,
        _ => DAY,
    }
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Run {
    pub rules: usize,
    pub buckets: usize,
    pub opened: Vec<i64>,
    pub resolved: Vec<i64>,
    pub delivered: usize,
}

/// Where alerts go besides the store.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub mailer: Option<&'a Mailer>,
    pub webhooks: &'a crate::webhooks::Settings,
}

/// Checks every rule on the buckets completed since its mark, up to `now` (blocking: run it on
/// the blocking pool).
pub fn check_all(
    store: &Arc<dyn Store>,
    logs: &Arc<Analyses>,
    delivery: Delivery<'_>,
    now: Micros,
) -> Result<Run, String> {
    let rules = store.alert_rules().map_err(|e| e.to_string())?;
    let mut run = Run::default();
    if rules.is_empty() {
        return Ok(run);
    }
    let mut journeys: Vec<Journey> = Vec::new();
    for rule in &rules {
        if journeys.iter().any(|j| j.id == rule.rule.journey) {
            continue;
        }
        let deployed = store
            .journey(&rule.rule.journey, None)
            .map_err(|e| e.to_string())?;
        if let Some(journey) = deployed.and_then(|d| waymark_journey::check(&d.source).journey) {
            journeys.push(journey);
        }
    }
    let snapshot = crate::journeys::live_log(
        logs,
        store,
        &journeys,
        &Options::default(),
        std::time::Duration::from_secs(60),
    )
    .map_err(|e| format!("{e:?}"))?;
    let users = store.users().map_err(|e| e.to_string())?;
    for stored in &rules {
        let Some(journey) = journeys.iter().find(|j| j.id == stored.rule.journey) else {
            tracing::warn!(rule = stored.id, journey = %stored.rule.journey, "an alert rule's journey is not deployed");
            continue;
        };
        let watched = match watched(journey, &stored.rule.kpi, &stored.rule.rule) {
            Ok(watched) => watched,
            Err(problem) => {
                tracing::warn!(rule = stored.id, %problem, "an alert rule cannot be checked");
                continue;
            }
        };
        let instances = logs
            .instances(&snapshot, journey)
            .map_err(|e| e.to_string())?;
        let Some(observed) = kpis::observe(journey, &instances, watched.kpi, watched.scope, now)
        else {
            continue;
        };
        run.rules += 1;
        check_rule(
            store.as_ref(),
            stored,
            journey,
            &watched,
            &observed,
            now,
            &mut run,
        )?;
        deliver_pending(
            store.as_ref(),
            stored,
            journey,
            &watched,
            &users,
            delivery,
            &mut run,
        );
    }
    Ok(run)
}

/// Checks one rule's new buckets, raises what fired and resolves what went quiet.
fn check_rule(
    store: &dyn Store,
    stored: &AlertRule,
    journey: &Journey,
    watched: &Watched<'_>,
    observed: &Observations,
    now: Micros,
    run: &mut Run,
) -> Result<(), String> {
    let bucket = bucket(&watched.rule);
    let end = now.div_euclid(bucket) * bucket;
    let last = end - bucket;
    // A new rule looks back a week (or the last bucket, for weekly ones), so a drift already
    // under way is told at once, without alerting on older history.
    let from = match stored.checked_us {
        Some(mark) if mark >= last => return Ok(()),
        Some(mark) => (mark + bucket).max(end - 31 * bucket),
        None => end - (7 * DAY / bucket).max(1) * bucket,
    };
    if !store
        .claim_alert_check(stored.id, stored.checked_us, last)
        .map_err(|e| e.to_string())?
    {
        return Ok(());
    }
    let checks = alerts::check(observed, watched.kpi.direction, &watched.rule, from, end);
    run.buckets += checks.len();
    let unit = observed.unit;
    // An alert keeps its worst bucket's figures.
    let mut worst: Option<f64> = open_alerts(store, stored.id)?
        .first()
        .and_then(|a| serde_json::from_str::<Value>(&a.detail).ok())
        .and_then(|d| d["value"].as_f64());
    for check in checks.iter().filter(|c| c.fired) {
        let value = check.value.unwrap_or(0.0);
        // Worse is higher for an `above` rule and for a KPI where lower is better.
        let high_is_bad = match watched.rule.watch {
            Watch::Above(_) => true,
            Watch::Below(_) => false,
            _ => watched.kpi.direction == waymark_journey::kpi::Direction::Down,
        };
        let worse = worst.is_none_or(|w| if high_is_bad { value > w } else { value < w });
        let shown = if worse {
            worst = Some(value);
            check.clone()
        } else {
            alerts::Check {
                value: worst,
                ..check.clone()
            }
        };
        let detail = detail(journey, watched, unit, &shown);
        let (id, new) = store
            .raise_alert(&Firing {
                rule: stored.id,
                journey: journey.id.clone(),
                kpi: watched.kpi.id.clone(),
                bucket_us: check.start,
                detail: detail.to_string(),
                quiet_us: alerts::QUIET as i64 * bucket,
            })
            .map_err(|e| e.to_string())?;
        if new {
            tracing::info!(alert = id, rule = stored.id, journey = %journey.id, kpi = %watched.kpi.id, "an alert was raised");
            run.opened.push(id);
        }
    }
    // Quiet for long enough: over.
    for alert in open_alerts(store, stored.id)? {
        if alert.last_us + alerts::QUIET as i64 * bucket <= last
            && store
                .resolve_alert(alert.id, WAYMARK, now)
                .map_err(|e| e.to_string())?
        {
            run.resolved.push(alert.id);
        }
    }
    Ok(())
}

fn open_alerts(store: &dyn Store, rule: i64) -> Result<Vec<Alert>, String> {
    store.open_alerts(rule).map_err(|e| e.to_string())
}

/// What an alert says, kept with it: the value and what was expected, in words.
fn detail(
    journey: &Journey,
    watched: &Watched<'_>,
    unit: waymark_journey::kpi::Unit,
    check: &alerts::Check,
) -> Value {
    let shown = |v: Option<f64>| v.map(|v| kpis::show(unit, v));
    let words = format!(
        "{} on “{}” was {}{}: the rule is {}.",
        watched.kpi.name,
        journey.title,
        shown(check.value).unwrap_or_else(|| "not measured".into()),
        shown(check.expected)
            .map(|e| format!(" against {e}"))
            .unwrap_or_default(),
        watched.rule.describe(unit),
    );
    json!({
        "kpi_name": watched.kpi.name,
        "journey_title": journey.title,
        "owner": watched.owner,
        "value": check.value,
        "expected": check.expected,
        "shown": shown(check.value),
        "rule": watched.rule.describe(unit),
        "words": words,
    })
}

/// Delivers each of the rule's open alerts not yet delivered: an email to every person who owns
/// the KPI, and the webhook. Marked delivered once all went out; tried again on the next run.
fn deliver_pending(
    store: &dyn Store,
    stored: &AlertRule,
    journey: &Journey,
    watched: &Watched<'_>,
    users: &[User],
    delivery: Delivery<'_>,
    run: &mut Run,
) {
    let Ok(open) = open_alerts(store, stored.id) else {
        return;
    };
    for alert in open.iter().filter(|a| a.notified_us.is_none()) {
        let detail: Value = serde_json::from_str(&alert.detail).unwrap_or(Value::Null);
        let words = detail["words"].as_str().unwrap_or_default().to_string();
        let link = delivery
            .mailer
            .map(|m| format!("{}/alerts/{}", m.public_url(), alert.id))
            .unwrap_or_else(|| format!("/alerts/{}", alert.id));
        let mut failed = false;
        if let Some(mailer) = delivery.mailer {
            for user in users.iter().filter(|u| owns(u, &watched.owner)) {
                let body = format!(
                    "Hello {},\n\n{words}\n\nThe alert: {link}\nAcknowledge it there when someone is on it; it resolves itself once the KPI is back to normal for {} checks.\n\nYou get this because you own the KPI ({}).\n",
                    user.name,
                    alerts::QUIET,
                    watched.owner
                );
                let subject = format!("Alert: {} on {}", watched.kpi.name, journey.title);
                if let Err(error) = mailer.send_to(user, &subject, body) {
                    tracing::warn!(alert = alert.id, user = %user.id, %error, "an alert's email could not be sent; trying again on the next check");
                    failed = true;
                }
            }
        }
        if let Some(url) = &stored.rule.webhook
            && let Err(error) = post(url, alert, &detail, &link, delivery.webhooks)
        {
            tracing::warn!(alert = alert.id, %error, "an alert's webhook failed; trying again on the next check");
            failed = true;
        }
        if !failed
            && store
                .alert_notified(alert.id, crate::Clock::now_us(&crate::SystemClock))
                .is_ok()
        {
            run.delivered += 1;
        }
    }
}

/// Posts an alert to a webhook, with the same `Idempotency-Key` on every attempt.
fn post(
    url: &str,
    alert: &Alert,
    detail: &Value,
    link: &str,
    settings: &crate::webhooks::Settings,
) -> Result<(), String> {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(settings.roots.clone())
        .build();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into();
    let body = json!({
        "alert": alert.id,
        "journey": alert.journey,
        "kpi": alert.kpi,
        "opened": waymark_eventlog::time::format_micros(alert.opened_us),
        "detail": detail,
        "url": link,
    });
    let response = agent
        .post(url)
        .header("Idempotency-Key", &format!("alert-{}", alert.id))
        .header("Content-Type", "application/json")
        .send(body.to_string())
        .map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("{url} answered {}", response.status()))
    }
}

/// Why a rule could not be tried on the past.
#[derive(Debug)]
pub enum Unsimulated {
    Rule(RuleProblem),
    Measure(crate::journeys::Measure),
}

/// A rule on a KPI of `journey`, checked over the `days` before `now` on the live log, as the
/// JSON of `GET /v1/journeys/{id}/kpis/{kpi}/simulate` (blocking: run it on the blocking pool).
#[allow(clippy::too_many_arguments)]
pub fn simulated(
    logs: &Arc<Analyses>,
    store: &Arc<dyn Store>,
    journey: &Journey,
    kpi: &str,
    rule: &str,
    now: Micros,
    days: i64,
    wait: std::time::Duration,
) -> Result<Value, Unsimulated> {
    let w = watched(journey, kpi, rule).map_err(Unsimulated::Rule)?;
    let snapshot = crate::journeys::live_log(
        logs,
        store,
        std::slice::from_ref(journey),
        &Options::default(),
        wait,
    )
    .map_err(Unsimulated::Measure)?;
    let instances = logs
        .instances(&snapshot, journey)
        .map_err(|e| Unsimulated::Measure(crate::journeys::Measure::Options(e)))?;
    let observed = kpis::observe(journey, &instances, w.kpi, w.scope, now).ok_or_else(|| {
        Unsimulated::Rule(RuleProblem {
            field: "kpi",
            message: "the KPI cannot be measured".to_string(),
        })
    })?;
    Ok(crate::alerts_api::simulation(&w, &observed, now, days))
}
