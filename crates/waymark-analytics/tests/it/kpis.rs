//! KPIs measured on a log small enough to work out by hand, and against the journey report's own
//! figures on BPIC 2012; before-and-after tests against SciPy and statsmodels.

use std::path::PathBuf;
use std::process::Command;

use waymark_analytics::compare;
use waymark_analytics::journey::kpis::{self, Change, Scope, Standing, Window};
use waymark_analytics::journey::{self, LogSource, Options};
use waymark_eventlog::EventLog;
use waymark_journey::Journey;

use crate::journey::csv;

const JOURNEY: &str = r#"
id: small
title: Small
owner: Test
version: as-is
instances:
  end: [done]
kpis:
  - Done: completion >= 50%
  - Done in a day: completion within 1d
  - Form to done: conversion form -> done >= 60%
  - Time: median-time <= 1d
  - Late: over-target <= 10%
  - Calls again: repeat-contacts <= 10%
  - CSAT: csat >= 4
  - NPS: nps >= 0
  - Requests: volume
stages:
  - id: ask
    name: Ask
    touchpoints:
      - id: form
        name: Form
        channel: web
        department: Sales
        actor: customer
        kind: form
        target: 1h
        kpis:
          - Form time: median-time <= 30m owner Web team
        events:
          - event: Form Sent
      - id: call
        name: Call
        channel: phone
        department: Support
        actor: staff
        kind: conversation
        optional: true
        events:
          - event: Called
  - id: get
    name: Get
    touchpoints:
      - id: review
        name: Review
        channel: other
        department: Back office
        actor: staff
        kind: task
        target: 1d
        kpis:
          - Review late: over-target <= 10%
        events:
          - event: Reviewed
      - id: done
        name: Done
        channel: email
        department: Sales
        actor: system
        kind: notification
        events:
          - event: Done
"#;

/// a completes (a form over its 1h target, two calls in a row: one visit), with CSAT 2 and NPS 9;
/// b is abandoned after calling twice; c completes with CSAT 5 and NPS 3; d is still open.
fn small() -> (Journey, Vec<journey::Instance>) {
    let journey = waymark_journey::check(JOURNEY).journey.expect("journey");
    let log = csv("case,activity,timestamp,csat,nps\n\
        a,Form Sent,2024-01-01T10:00:00Z,,\n\
        a,Called,2024-01-01T12:00:00Z,,\n\
        a,Called,2024-01-01T12:10:00Z,,\n\
        a,Reviewed,2024-01-02T12:00:00Z,,\n\
        a,Done,2024-01-02T13:00:00Z,,\n\
        a,Survey,2024-01-02T14:00:00Z,2,9\n\
        b,Form Sent,2024-01-01T10:00:00Z,,\n\
        b,Called,2024-01-01T10:20:00Z,,\n\
        b,Reviewed,2024-01-01T10:30:00Z,,\n\
        b,Called,2024-01-01T11:00:00Z,,\n\
        b,Form Sent,2024-01-01T11:05:00Z,,\n\
        c,Reviewed,2024-01-05T10:00:00Z,,\n\
        c,Done,2024-01-05T11:00:00Z,,\n\
        c,Survey,2024-01-05T12:00:00Z,5,3\n\
        d,Form Sent,2024-03-01T12:00:00Z,,\n");
    let options = Options {
        timeout: Some(7 * DAY),
        now: Some(NOW),
        ..Options::default()
    };
    let cut = log.cut(&journey, &options).expect("cut");
    (journey, cut.instances.to_vec())
}

const DAY: i64 = 86_400_000_000;
/// 2024-03-02 10:00.
const NOW: i64 = 1_709_287_200_000_000 + DAY;

/// Every KPI's values over all time, by id.
fn values(journey: &Journey, instances: &[journey::Instance]) -> Vec<(String, Option<f64>, usize)> {
    kpis::definitions(journey)
        .into_iter()
        .map(|(kpi, scope, _)| {
            let observed = kpis::observe(journey, instances, kpi, scope, NOW).expect("measurable");
            let value = observed.value(0, NOW + DAY);
            (
                kpi.id.clone(),
                value.map(|(v, _)| v),
                value.map_or(0, |(_, n)| n),
            )
        })
        .collect()
}

#[test]
fn each_measure_is_worked_out_by_hand() {
    let (journey, instances) = small();
    let found = values(&journey, &instances);
    let get = |id: &str| {
        found
            .iter()
            .find(|(k, _, _)| k == id)
            .unwrap_or_else(|| panic!("{id} in {found:?}"))
            .clone()
    };
    // Decided: a and c completed, b abandoned; d is open and undecided.
    assert_eq!(get("done"), ("done".into(), Some(2.0 / 3.0), 3));
    // Within a day: a took 27h (a no), c 1h (a yes), b gave up; d started 22h before now and
    // may yet make it: not counted.
    assert_eq!(
        get("done-in-a-day"),
        ("done-in-a-day".into(), Some(1.0 / 3.0), 3)
    );
    // At the form: a (reached done), b (abandoned: no), d (open: not yet).
    assert_eq!(get("form-to-done").1, Some(0.5));
    // Completed: a 27h, c 1h.
    assert_eq!(get("time").1, Some((27.0 * 3600.0 + 3600.0) / 2.0));
    // a's form took 2h against 1h; b and c kept to target; d's form is still running.
    assert_eq!(get("late"), ("late".into(), Some(1.0 / 3.0), 3));
    // Calls: a called twice in a row (one visit), b came back to the call; of all four.
    assert_eq!(get("calls-again"), ("calls-again".into(), Some(0.25), 4));
    assert_eq!(get("csat").1, Some(3.5));
    // a's 9 is a promoter (+100), c's 3 a detractor (−100).
    assert_eq!(get("nps").1, Some(0.0));
    // Four instances over the 62 days from the epoch's window start are a share of a day: the
    // count is what matters here.
    assert_eq!(get("requests").2, 4);
    // The form until the journey moved on: a 2h, b 20m then 0 (b is over); d's still running.
    assert_eq!(get("form-time"), ("form-time".into(), Some(1200.0), 3));
    // Reviews: a 1h, b 30m, c 1h against 1d.
    assert_eq!(get("review-late"), ("review-late".into(), Some(0.0), 3));
}

#[test]
fn a_scorecard_says_where_each_kpi_stands() {
    let (journey, instances) = small();
    let window = Window {
        now: NOW,
        days: 90,
        weeks: 4,
    };
    let cards = kpis::scorecard(&journey, &instances, window);
    assert_eq!(cards.len(), 11);
    let card = |id: &str| {
        cards
            .iter()
            .find(|c| c.kpi.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let done = card("done");
    assert_eq!(done.standing, Standing::Met);
    assert_eq!(done.owner, "Test");
    assert_eq!(
        done.words,
        "Done: 67%, meets the target of at least 50% (3 observed in the last 90 days)."
    );
    let form = card("form-time");
    assert_eq!(form.scope, Scope::Touchpoint(0));
    assert_eq!(
        (form.owner.as_str(), form.scope_name.as_str()),
        ("Web team", "Form")
    );
    assert_eq!(form.standing, Standing::Met);
    let late = card("late");
    assert_eq!(late.standing, Standing::Missed);
    assert!(
        late.words.contains("misses the target of at most 10%"),
        "{}",
        late.words
    );
    assert_eq!(card("review-late").owner, "Back office");
    assert_eq!(card("requests").standing, Standing::Untargeted);
    // The last week holds d alone: one request; the weeks before, none (a volume of 0).
    assert_eq!(
        card("requests").trend,
        vec![Some(0.0), Some(0.0), Some(0.0), Some(1.0 / 7.0)]
    );
    // 28 days back only d started: nothing decided, so no completion value, and no change.
    let recent = kpis::scorecard(&journey, &instances, Window::ending(NOW));
    let done = recent.iter().find(|c| c.kpi.id == "done").expect("done");
    assert_eq!(
        (done.standing, done.value, done.change),
        (Standing::NoData, None, None)
    );
    assert_eq!(done.words, "Done: nothing measured in the last 28 days.");
    let requests = recent
        .iter()
        .find(|c| c.kpi.id == "requests")
        .expect("requests");
    assert_eq!(
        requests.change,
        Some(Change::Better),
        "1 now against 0 before"
    );
}

#[test]
fn a_note_is_not_measured() {
    let mut journey = waymark_journey::check(JOURNEY).journey.expect("journey");
    journey.kpis[0].measure = None;
    let (_, instances) = small();
    assert!(kpis::observe(&journey, &instances, &journey.kpis[0], Scope::Journey, NOW).is_none());
    assert_eq!(
        kpis::scorecard(&journey, &instances, Window::ending(NOW)).len(),
        10
    );
}

/// On BPIC 2012 the journey-wide KPIs equal the report's own figures on the same instances.
#[test]
fn journey_kpis_equal_the_reports_figures_on_bpic2012() {
    let log: EventLog = crate::load("bpic2012.xes.gz");
    let text = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/loan-application/journey.yaml"),
    )
    .expect("journey file");
    let mut journey = waymark_journey::check(&text).journey.expect("journey");
    journey.kpis = [
        "Done: completion within 100000d",
        "Time: median-time",
        "Calls: repeat-contacts",
        "All: volume",
    ]
    .iter()
    .map(|line| {
        let mut kpi = waymark_journey::kpi::parse(line).expect("kpi");
        kpi.id = kpi.name.to_lowercase();
        kpi
    })
    .collect();
    let options = Options::default();
    let report = journey::report(&journey, &log, &options).expect("report");
    let cut = log.cut(&journey, &options).expect("cut");
    let value = |id: &str| {
        let kpi = journey.kpis.iter().find(|k| k.id == id).expect("kpi");
        // Long after the last event, with a window longer than any case: every instance is
        // decided, and done when it completed.
        let observed = kpis::observe(&journey, &cut.instances, kpi, Scope::Journey, i64::MAX / 8)
            .expect("measured");
        observed.value(i64::MIN / 4, i64::MAX / 4).expect("value")
    };
    let counts = report.instances;
    assert!(
        counts.completed > 10_000 && counts.abandoned > 0,
        "{counts:?}"
    );
    assert_eq!(
        value("done"),
        (counts.completed as f64 / counts.total as f64, counts.total)
    );
    assert_eq!(
        value("time"),
        (report.completed_seconds.median, counts.completed)
    );
    assert_eq!(value("calls"), (report.contacts.repeat_rate, counts.total));
    assert_eq!(value("all").1, counts.total);
}

fn python() -> Option<PathBuf> {
    match std::env::var_os("WAYMARK_PYTHON") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "WAYMARK_PYTHON is not set: CI must check the statistics against SciPy (scripts/test installs it)"
            )
        }
        None => {
            eprintln!(
                "NOT RUN: set WAYMARK_PYTHON to a Python with SciPy and statsmodels (scripts/test does)"
            );
            None
        }
    }
}

/// Samples like the ones KPIs give: minutes with ties, skewed; answers on a 1–5 scale.
fn sample(seed: u64, n: usize, shift: f64, scale: f64) -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..n)
        .map(|_| (shift + scale * -(1.0 - rng.f64()).ln()).round())
        .collect()
}

fn answers(seed: u64, n: usize, weights: [u32; 5]) -> Vec<f64> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let total: u32 = weights.iter().sum();
    (0..n)
        .map(|_| {
            let mut pick = rng.u32(0..total);
            let mut score = 1.0;
            for w in weights {
                if pick < w {
                    break;
                }
                pick -= w;
                score += 1.0;
            }
            score
        })
        .collect()
}

/// Every test statistic, p-value and interval (but the bootstrap's) agrees with SciPy and
/// statsmodels to 1e-9, on samples of several sizes, with and without a real change.
#[test]
fn before_and_after_tests_agree_with_scipy_and_statsmodels() {
    let Some(python) = python() else { return };
    let proportions = [
        (40, 100, 55, 100),
        (500, 1000, 500, 1000),
        (12, 30, 3, 25),
        (0, 50, 4, 60),
        (9_000, 20_000, 9_300, 20_000),
    ];
    let times = [
        (sample(1, 12, 10.0, 30.0), sample(2, 15, 10.0, 30.0)),
        (sample(3, 300, 60.0, 120.0), sample(4, 280, 30.0, 120.0)),
        (sample(5, 2_000, 5.0, 8.0), sample(6, 2_500, 5.0, 8.0)),
    ];
    let scores = [
        (
            answers(7, 40, [5, 5, 10, 40, 40]),
            answers(8, 45, [2, 3, 10, 40, 45]),
        ),
        (
            answers(9, 400, [10, 10, 20, 30, 30]),
            answers(10, 420, [5, 5, 15, 35, 40]),
        ),
        (
            answers(11, 30, [0, 0, 0, 0, 1]),
            answers(12, 30, [0, 0, 0, 1, 1]),
        ),
    ];
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for (x1, n1, x2, n2) in proportions {
        cases.push(
            serde_json::json!({"kind": "proportions", "x1": x1, "n1": n1, "x2": x2, "n2": n2}),
        );
        ours.push(compare::proportions(x1, n1, x2, n2).expect("enough"));
    }
    for (x1, t1, x2, t2) in [
        (120, 28.0, 150, 28.0),
        (40, 30.0, 41, 31.0),
        (9, 7.0, 30, 7.0),
    ] {
        cases.push(serde_json::json!({"kind": "rates", "x1": x1, "t1": t1, "x2": x2, "t2": t2}));
        ours.push(compare::rates(x1, t1, x2, t2).expect("enough"));
    }
    for (before, after) in &times {
        cases.push(serde_json::json!({"kind": "times", "before": before, "after": after}));
        ours.push(compare::times(before, after).expect("enough"));
    }
    for (before, after) in &scores {
        cases.push(serde_json::json!({"kind": "scores", "before": before, "after": after}));
        ours.push(compare::scores(before, after).expect("enough"));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/stats/reference.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run python");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(serde_json::Value::from(cases).to_string().as_bytes())
            .expect("write");
    }
    let output = child.wait_with_output().expect("python");
    assert!(
        output.status.success(),
        "the reference failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference: Vec<serde_json::Value> =
        serde_json::from_slice(&output.stdout).expect("json list");
    assert_eq!(reference.len(), ours.len());
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()));
    let mut moved = 0;
    for (k, (mine, theirs)) in ours.iter().zip(&reference).enumerate() {
        let field = |name: &str| theirs[name].as_f64();
        assert!(
            close(mine.statistic, field("statistic").expect("statistic")),
            "case {k}: statistic {} against {theirs}",
            mine.statistic
        );
        assert!(
            close(mine.p, field("p").expect("p")),
            "case {k}: p {} against {theirs}",
            mine.p
        );
        if let (Some(low), Some(high)) = (field("low"), field("high")) {
            assert!(
                close(mine.low, low) && close(mine.high, high),
                "case {k}: interval {}..{} against {theirs}",
                mine.low,
                mine.high
            );
        }
        moved += usize::from(mine.moved());
    }
    // The cases hold real changes and none: both outcomes are exercised.
    assert!(
        moved >= 3 && moved <= ours.len() - 3,
        "{moved} of {} moved",
        ours.len()
    );
}
