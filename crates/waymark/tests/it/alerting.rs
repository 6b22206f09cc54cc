//! Alerts end to end, on a real server with a real SMTP server (aiosmtpd) and a webhook receiver:
//! a drift seeded in a journey's completion fires the rule on its schedule; Finance, who owns the
//! KPI, gets one email and the receiver one call; the alert is acknowledged, refused a second
//! acknowledgement, and resolved; the simulation on the past finds the drift's start.

use serde_json::{Value, json};

use super::automation::{ADMIN, Killed, call, directory, mails, smtp_server, wait_for};
use super::*;

const DAY: i64 = 86_400_000_000;

/// 70 days of requests, 30 a day: 90% completed until 10 days ago, 40% since.
fn events(now: i64) -> String {
    let mut csv = String::from("case_id,activity,timestamp\n");
    let today = now.div_euclid(DAY) * DAY;
    for day in 0..70 {
        let start = today - (70 - day) * DAY + 8 * 3_600_000_000;
        let share = if day >= 60 { 4 } else { 9 };
        for n in 0..30 {
            let case = format!("r{day}-{n}");
            let at = start + n * 60_000_000;
            csv.push_str(&format!(
                "{case},Asked,{}\n",
                waymark_eventlog::time::format_micros(at)
            ));
            let closed = at + 3_600_000_000;
            let activity = if n % 10 < share { "Done" } else { "Dropped" };
            csv.push_str(&format!(
                "{case},{activity},{}\n",
                waymark_eventlog::time::format_micros(closed)
            ));
        }
    }
    csv
}

const JOURNEY: &str = "id: refunds
title: Get a refund
owner: Finance
version: as-is
instances:
  end: [paid]
  timeout: 1h
kpis:
  - Refunds paid: completion >= 80% owner Finance
stages:
  - id: ask
    name: Ask
    touchpoints:
      - id: ask
        name: Refund asked
        channel: web
        department: Finance
        actor: customer
        kind: form
        events:
          - event: Asked
  - id: pay
    name: Pay
    touchpoints:
      - id: paid
        name: Refund paid
        channel: email
        department: Finance
        actor: system
        kind: payment
        events:
          - event: Done
";

#[test]
fn a_drift_alerts_the_kpis_owner_once_by_email_and_webhook() {
    let Some(python) = super::clients::required("WAYMARK_PYTHON") else {
        return;
    };
    let dir = temp_dir("alerting");
    let (_smtp, port) = smtp_server(&python, &dir.join("mail"));
    let (hook, keys) = super::nodes::receiver();
    let relay = format!("smtp://127.0.0.1:{port}");
    let (child, url, _) = super::serve::launch(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            ADMIN,
            "--smtp-url",
            &relay,
            "--alert-every",
            "1",
        ],
        dir.join("waymark.db"),
        |_| true,
    );
    let _server = Killed(child);
    directory(
        &url,
        "id,name,email,department,manager,roles\nfinn,Finn Berg,finn@example.com,finance,,\nchris,Chris Analyst,chris@example.com,cx,,analyst\n",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/import?format=csv"),
        Some(ADMIN),
        Some(("text/csv", events(now))),
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/journeys"),
        Some(ADMIN),
        Some(("application/yaml", JOURNEY.to_string())),
    );
    assert_eq!(status, 200, "{body}");

    // Before adding it, the rule is tried on the past: the drift is one alert, from its first day.
    let (status, simulated) = call(
        "GET",
        &format!("{url}/v1/journeys/refunds/kpis/refunds-paid/simulate?rule=anomaly&days=40"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 200, "{simulated}");
    let alerts = simulated["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "{simulated}");
    let drift_day = waymark_eventlog::time::format_micros(now.div_euclid(DAY) * DAY - 10 * DAY);
    assert_eq!(
        alerts[0]["from"].as_str().map(|d| &d[..10]),
        Some(&drift_day[..10]),
        "{simulated}"
    );
    let (status, bad) = call(
        "GET",
        &format!("{url}/v1/journeys/refunds/kpis/refunds-payd/simulate?rule=anomaly"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 400);
    assert!(
        bad["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("did you mean `refunds-paid`?")),
        "{bad}"
    );

    let rule = json!({ "journey": "refunds", "kpi": "refunds-paid", "rule": "below 70% over 3d", "webhook": hook });
    let (status, kept) = call(
        "POST",
        &format!("{url}/v1/alerts/rules"),
        Some(ADMIN),
        Some(("application/json", rule.to_string())),
    );
    assert_eq!(status, 200, "{kept}");
    let bad_rule = json!({ "journey": "refunds", "kpi": "refunds-paid", "rule": "below 70" });
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/alerts/rules"),
        Some(ADMIN),
        Some(("application/json", bad_rule.to_string())),
    );
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("rule")),
        "{body}"
    );
    let chris = super::automation::sign_in(&url, "chris");
    let (status, _) = call(
        "POST",
        &format!("{url}/v1/alerts/rules"),
        Some(&chris),
        Some(("application/json", rule.to_string())),
    );
    assert_eq!(
        status, 403,
        "an analyst reads alerts but does not add rules"
    );

    // The schedule checks the last completed day: below 70% over the last 3 days.
    let alert = wait_for("the alert to be raised and delivered", || {
        let (_, listed) = call("GET", &format!("{url}/v1/alerts"), Some(&chris), None);
        listed["alerts"]
            .as_array()
            .and_then(|a| a.first().cloned())
            .filter(|a| !a["notified"].is_null())
    });
    assert_eq!(alert["state"], "open");
    assert_eq!(alert["kpi"], "refunds-paid");
    assert!(
        alert["detail"]["words"]
            .as_str()
            .is_some_and(|w| w.contains("Refunds paid on “Get a refund” was 40%")),
        "{alert}"
    );
    let mail = wait_for("the email to Finance", || {
        mails(&dir.join("mail"))
            .into_iter()
            .find(|m| m.contains("Alert: Refunds paid on Get a refund"))
    });
    assert!(
        mail.contains("finn@example.com") && mail.contains("/alerts/"),
        "{mail}"
    );
    let id = alert["id"].as_i64().expect("id");
    wait_for("the webhook call", || {
        keys.lock()
            .expect("keys")
            .contains(&format!("alert-{id}"))
            .then_some(())
    });
    // Checked every second, the rule raises nothing more: the day was checked once.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let (_, listed) = call("GET", &format!("{url}/v1/alerts"), Some(ADMIN), None);
    assert_eq!(
        listed["alerts"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    assert_eq!(mails(&dir.join("mail")).len(), 1, "one email, no storm");
    assert_eq!(keys.lock().expect("keys").len(), 1, "one webhook call");

    let act = |action: &str, token: &str| -> (u16, Value) {
        call(
            "POST",
            &format!("{url}/v1/alerts/{id}/{action}"),
            Some(token),
            None,
        )
    };
    let (status, acked) = act("acknowledge", &chris);
    assert_eq!(
        (status, acked["state"].as_str()),
        (200, Some("acknowledged")),
        "{acked}"
    );
    assert_eq!(acked["acknowledged"]["by"], "chris");
    assert_eq!(act("acknowledge", ADMIN).0, 409);
    assert_eq!(act("snooze", ADMIN).0, 400);
    let (status, resolved) = act("resolve", ADMIN);
    assert_eq!(
        (status, resolved["state"].as_str()),
        (200, Some("resolved")),
        "{resolved}"
    );
    assert_eq!(
        call(
            "POST",
            &format!("{url}/v1/alerts/9999/resolve"),
            Some(ADMIN),
            None
        )
        .0,
        404
    );
    let (_, rules) = call("GET", &format!("{url}/v1/alerts/rules"), Some(&chris), None);
    assert!(rules["rules"][0]["checked_until"].is_string(), "{rules}");
}
