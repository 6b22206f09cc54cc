//! The loan-application journey measured on BPIC 2012, checked against the event engine's own
//! analyses (funnel, directly-follows graph, variants) on the same events.

use std::collections::{BTreeMap, HashMap, HashSet};

use waymark_analytics::journey::{self, Options};
use waymark_analytics::{FunnelOrder, all_cases};
use waymark_eventlog::EventLog;
use waymark_journey::Journey;

use crate::load;

fn loan_journey() -> Journey {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/loan-application/journey.yaml");
    let text = std::fs::read_to_string(path).expect("journey file");
    waymark_journey::check(&text)
        .journey
        .expect("a valid journey")
}

/// Activity → touchpoint, from the journey's event rules (the loan journey has no property
/// conditions).
fn activity_touchpoints(journey: &Journey) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (_, touchpoint) in journey.touchpoints() {
        for rule in &touchpoint.events {
            map.entry(rule.event.clone())
                .or_insert_with(|| touchpoint.id.clone());
        }
    }
    map
}

/// One instance per application: BPIC 2012 cases are applications.
fn per_case() -> Options {
    Options {
        timeout: Some(i64::MAX / 4),
        funnel: [
            "application-form",
            "pre-acceptance",
            "application-accepted",
            "loan-approved",
        ]
        .map(String::from)
        .to_vec(),
        milestones: vec![("offer-email".to_string(), "offer-accepted".to_string())],
        contacts: vec!["offer-follow-up-call".to_string()],
        ..Options::default()
    }
}

#[test]
fn the_loan_journey_on_bpic2012_agrees_with_the_event_engine() {
    let log: EventLog = load("bpic2012.xes.gz");
    let journey = loan_journey();
    let report = journey::report(&journey, &log, &per_case()).expect("report");
    let cases = all_cases(&log);

    // Every activity of the log sits on a touchpoint, and every case is one instance.
    assert!(report.unmapped.is_empty(), "{:?}", report.unmapped);
    assert_eq!(report.instances.total, log.cases());
    let events: usize = report.touchpoints.iter().map(|t| t.events).sum();
    assert_eq!(events, log.events());
    let dfg = waymark_analytics::dfg(&log, &cases);
    let to_touchpoint = activity_touchpoints(&journey);
    let mut by_touchpoint: BTreeMap<String, u64> = BTreeMap::new();
    for count in &dfg.activities {
        let touchpoint = &to_touchpoint[log.resolve(count.activity)];
        *by_touchpoint.entry(touchpoint.clone()).or_insert(0) += count.count;
    }
    for figures in &report.touchpoints {
        assert_eq!(
            figures.events as u64,
            by_touchpoint.get(&figures.id).copied().unwrap_or(0),
            "{}",
            figures.id
        );
    }

    // The funnel from submission to approval is the engine's funnel on the same activities.
    let engine = waymark_analytics::funnel(
        &log,
        &cases,
        &["A_SUBMITTED", "A_PREACCEPTED", "A_ACCEPTED", "A_APPROVED"].map(String::from),
        i64::MAX / 4,
        FunnelOrder::Ordered,
    );
    let reached: Vec<usize> = report.funnel.steps.iter().map(|s| s.reached).collect();
    let expected: Vec<usize> = engine.steps.iter().map(|s| s.reached).collect();
    assert_eq!(reached, expected);
    assert!(reached[3] > 2_000 && reached[3] < reached[0], "{reached:?}");
    for (ours, theirs) in report.funnel.steps.iter().zip(&engine.steps) {
        assert_eq!(
            ours.median_seconds_from_previous, theirs.median_seconds_from_previous,
            "{}",
            ours.name
        );
    }

    // The time from offer sent to acceptance is the engine's two-step funnel gap.
    let engine = waymark_analytics::funnel(
        &log,
        &cases,
        &["O_SENT", "O_ACCEPTED"].map(String::from),
        i64::MAX / 4,
        FunnelOrder::Ordered,
    );
    let milestone = &report.milestones[0];
    assert_eq!(milestone.reached, engine.steps[1].reached);
    assert_eq!(milestone.from_reached, engine.steps[0].reached);
    assert_eq!(
        Some(milestone.seconds.median),
        engine.steps[1].median_seconds_from_previous
    );

    // Repeated calls about the offer, and what precedes them: each visit starts where the
    // previous event was elsewhere, so the counts are the engine's directly-follows edges.
    let calls = &report.contacts.by_touchpoint[0];
    assert_eq!(calls.touchpoint, "offer-follow-up-call");
    let mut into: HashMap<String, usize> = HashMap::new();
    for edge in &dfg.edges {
        let (from, to) = (
            &to_touchpoint[log.resolve(edge.from)],
            &to_touchpoint[log.resolve(edge.to)],
        );
        if to == "offer-follow-up-call" && from != to {
            *into.entry(from.clone()).or_insert(0) += edge.count as usize;
        }
    }
    let visits: usize = into.values().sum();
    assert_eq!(
        calls.visits, visits,
        "every visit follows another touchpoint"
    );
    for (before, count) in &calls.preceded_by {
        assert_eq!(into.get(before), Some(count), "{before}");
    }
    assert!(calls.repeated_instances > 0 && calls.repeated_instances < calls.instances);
    assert!(report.contacts.repeat_rate > 0.0);

    // Conformance: the share of applications whose touchpoint path the design allows, replayed
    // here independently on the engine's variants.
    let fitting = independent_fitting(&journey, &log, &to_touchpoint);
    assert_eq!(report.conformance.fitting, fitting);
    assert!(report.conformance.share > 0.0 && report.conformance.share < 1.0);
}

/// Replays each variant on the designed flow: consecutive events at one touchpoint are one step;
/// a move is allowed along a designed edge, possibly through optional touchpoints.
fn independent_fitting(
    journey: &Journey,
    log: &EventLog,
    to_touchpoint: &HashMap<String, String>,
) -> usize {
    let optional: HashSet<&str> = journey
        .touchpoints()
        .filter(|(_, t)| t.optional)
        .map(|(_, t)| t.id.as_str())
        .collect();
    let edges = journey.flow_edges();
    let reachable = |from: &str, to: &str| {
        let mut stack = vec![from];
        let mut seen = HashSet::new();
        while let Some(at) = stack.pop() {
            for (a, b) in &edges {
                if *a == at && seen.insert(*b) {
                    if *b == to {
                        return true;
                    }
                    if optional.contains(b) {
                        stack.push(b);
                    }
                }
            }
        }
        false
    };
    let ids: Vec<&str> = journey.touchpoints().map(|(_, t)| t.id.as_str()).collect();
    // The first touchpoint that the log's events reach.
    let first_bound = journey
        .touchpoints()
        .position(|(_, t)| t.events.iter().any(|r| log.symbol(&r.event).is_some()))
        .expect("a bound touchpoint");
    let variants = waymark_analytics::variants(log, &all_cases(log));
    variants
        .iter()
        .filter(|variant| {
            let mut path: Vec<&str> = Vec::new();
            for &activity in &variant.activities {
                let touchpoint = to_touchpoint[log.resolve(activity)].as_str();
                if path.last() != Some(&touchpoint) {
                    path.push(touchpoint);
                }
            }
            let start = ids.iter().position(|id| *id == path[0]).expect("known");
            let starts_well = start <= first_bound;
            starts_well && path.windows(2).all(|w| reachable(w[0], w[1]))
        })
        .map(|variant| variant.count as usize)
        .sum()
}

const SMALL: &str = r#"
id: small
title: Small
owner: Test
version: as-is
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
        moment_of_truth: true
        events:
          - event: Form Sent
      - id: call
        name: Call
        channel: phone
        department: Support
        actor: staff
        kind: conversation
        optional: true
        target: 30m
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
        events:
          - event: Reviewed
            where: { result: ok }
      - id: done
        name: Done
        channel: email
        department: Sales
        actor: system
        kind: notification
        events:
          - event: Done
"#;

/// A log from CSV text.
pub(crate) fn csv(text: &str) -> EventLog {
    waymark_eventlog::read(
        text.as_bytes(),
        waymark_eventlog::Format::Csv,
        &waymark_eventlog::ReadOptions::default(),
    )
    .expect("csv")
    .log
}

/// Instances, visits, deviations, contacts, scores and blind spots on a log small enough to
/// check by hand.
#[test]
fn a_small_journey_is_measured_as_worked_out_by_hand() {
    let journey = waymark_journey::check(SMALL).journey.expect("journey");
    let log = csv("case,activity,timestamp,result,csat,touchpoint,case:tier\n\
        a,Form Sent,2024-01-01T10:00:00Z,,,,gold\n\
        a,Called,2024-01-01T12:00:00Z,,,,gold\n\
        a,Called,2024-01-01T12:10:00Z,,,,gold\n\
        a,Reviewed,2024-01-02T12:00:00Z,ok,,,gold\n\
        a,Done,2024-01-02T13:00:00Z,,,,gold\n\
        a,Survey,2024-01-02T14:00:00Z,,2,call,gold\n\
        a,Form Sent,2024-03-01T10:00:00Z,,,,gold\n\
        b,Form Sent,2024-01-01T10:00:00Z,,,,basic\n\
        b,Reviewed,2024-01-01T10:30:00Z,redo,,,basic\n\
        b,Called,2024-01-01T11:00:00Z,,,,basic\n\
        b,Form Sent,2024-01-01T11:05:00Z,,,,basic\n\
        c,Reviewed,2024-01-05T10:00:00Z,ok,,,gold\n\
        c,Done,2024-01-05T11:00:00Z,,,,gold\n\
        c,Survey,2024-01-05T12:00:00Z,,5,,gold\n");
    let options = Options {
        timeout: Some(7 * 86_400_000_000),
        now: Some(1_709_287_200_000_000 + 86_400_000_000), // 2024-03-02 10:00
        ..Options::default()
    };
    let report = journey::report(&journey, &log, &options).expect("report");
    // a: one completed instance, then a new one (open: a day before now); b: abandoned at the
    // form (its review result `redo` matches no rule: a blind spot); c: completed.
    assert_eq!(
        (
            report.instances.total,
            report.instances.completed,
            report.instances.abandoned,
            report.instances.open
        ),
        (4, 2, 1, 1)
    );
    let tp = |id: &str| report.touchpoints.iter().find(|t| t.id == id).expect(id);
    assert_eq!(
        (tp("call").events, tp("call").visits),
        (3, 2),
        "two calls in a row are one visit"
    );
    assert_eq!(tp("form").repeat_visits, 1, "b came back to the form");
    assert_eq!(tp("form").drop_off, 1);
    // a's call visit: 10 minutes at it, then a day waiting: over the 30 minute target.
    assert_eq!(tp("call").at_seconds.max, 600.0);
    assert_eq!(tp("call").breach_share, Some(0.5));
    assert_eq!(tp("call").worst[0].0, "a");
    assert_eq!(report.unmapped, vec![("Reviewed".to_string(), 1)]);
    // Conformance: a's first instance fits (form, call, review, done); b goes back to the form
    // (repeated); c starts at the review (start) and a's second instance fits.
    assert_eq!(report.conformance.fitting, 2);
    let kinds: Vec<&str> = report
        .conformance
        .deviations
        .iter()
        .map(|d| d.kind.as_str())
        .collect();
    assert_eq!(kinds, ["start", "repeated"]);
    // Contacts: a called (once, as one visit), b called once.
    assert_eq!(report.contacts.touchpoints, ["call"]);
    assert_eq!(report.contacts.instances_with_contact, 2);
    assert_eq!(report.contacts.instances_with_repeat, 0);
    // Of the case attributes, the basic tier over-occurs among instances with a call (b's: half
    // of them, against none of those without one); the gold tier does not.
    let drivers: Vec<(&str, f64, f64)> = report.contacts.by_touchpoint[0]
        .attribute_drivers
        .iter()
        .map(|d| (d.touchpoint.as_str(), d.share_with, d.share_without))
        .collect();
    assert_eq!(drivers, [("tier=basic", 0.5, 0.0)]);
    // Scores: a rated the call 2 (named in the event); c's 5 goes to its last touchpoint.
    assert_eq!(tp("call").scores.csat, Some((2.0, 1)));
    assert_eq!(tp("done").scores.csat, Some((5.0, 1)));
    assert_eq!(report.experience.journey.csat, Some((3.5, 2)));
    assert_eq!(report.experience.low_instances, 1);
    // Per touchpoint and month: the form in January (a, b) and March (a again).
    let trend: Vec<(&str, usize, usize)> = tp("form")
        .trend
        .iter()
        .map(|p| (p.key.as_str(), p.instances, p.repeat_visits))
        .collect();
    assert_eq!(trend, [("2024-01-01", 2, 1), ("2024-03-01", 1, 0)]);
    assert_eq!(tp("call").trend[0].breach_share, Some(0.5));
    assert_eq!(tp("call").trend[0].scores.csat, Some((2.0, 1)));
    // Every journey measure per period, over that period's instances only. January: a's first
    // instance, b and c; March: a's second.
    let january = &report.trend[0];
    assert_eq!((january.key.as_str(), january.instances), ("2024-01-01", 3));
    let reach: Vec<(usize, Option<f64>)> = january
        .stages
        .iter()
        .map(|s| (s.reached, s.conversion_to_next))
        .collect();
    // "ask": a and b, of whom a went on to "get" (b's review matched no rule); "get" (the
    // last stage): a and c.
    assert_eq!(reach, [(2, Some(0.5)), (2, None)]);
    let kinds: Vec<&str> = january.deviations.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["start", "repeated"]);
    assert_eq!(january.contacts.instances_with_contact, 2);
    assert!((january.contacts.per_instance - 2.0 / 3.0).abs() < 1e-12);
    assert_eq!(january.scores.csat, Some((3.5, 2)));
    let march = &report.trend[1];
    assert_eq!(march.instances, 1);
    assert!(march.deviations.is_empty());
    assert_eq!(march.contacts.instances_with_contact, 0);
    assert_eq!(march.scores.csat, None);
    assert_eq!(march.stages[0].reached, 1);
    assert_eq!(march.stages[0].conversion_to_next, Some(0.0));
    // Stages: everything that reached "ask" and also "get".
    assert_eq!(report.stages[0].reached, 3);
    assert_eq!(report.stages[0].conversion_to_next, Some(1.0 / 3.0));
    // Time in "ask": a's first instance 26 hours (form to review), b 65 minutes (form to its
    // last form), a's second 0; its target is the form's hour (the call is optional).
    let ask = &report.stages[0];
    assert_eq!(
        (ask.seconds.count, ask.seconds.median, ask.seconds.max),
        (3, 3_900.0, 93_600.0)
    );
    assert_eq!(ask.target_seconds, Some(3_600.0));
    assert_eq!(ask.breach_share, Some(2.0 / 3.0));
    assert_eq!((ask.drop_off, ask.repeat_visits), (1, 1));
    assert_eq!(ask.scores.csat, Some((2.0, 1)));
    // "get": an hour from review to done for a and c, within the review's day.
    let get = &report.stages[1];
    assert_eq!((get.seconds.count, get.seconds.median), (2, 3_600.0));
    assert_eq!(get.breach_share, Some(0.0));
    assert_eq!(get.scores.csat, Some((5.0, 1)));
    // Moments of truth: closed instances that visited the review all completed.
    let review = report
        .moments
        .iter()
        .find(|m| m.touchpoint == "review")
        .expect("review");
    assert_eq!(review.influence, 1.0);
    // Scored instances: a's first (2, low) and c (5); only a's went through the form. No contact
    // was repeated, so visiting the form makes no difference there; the call is a contact itself.
    let moment = |id: &str| {
        report
            .moments
            .iter()
            .find(|m| m.touchpoint == id)
            .expect(id)
    };
    assert_eq!(moment("form").low_score, Some(1.0));
    assert_eq!(moment("form").repeat_contact, Some(0.0));
    assert_eq!(
        moment("review").low_score,
        None,
        "both scored ones were reviewed"
    );
    assert_eq!(moment("call").repeat_contact, None);
    // The form is marked and matters; the review matters but is not marked.
    assert_eq!(report.moments_compared.confirmed, ["form"]);
    assert!(
        report
            .moments_compared
            .unmarked
            .contains(&"review".to_string())
    );
    // Broken down by the first event's `result`: the review's figures per value.
    let by = Options {
        by: Some("result".to_string()),
        ..options.clone()
    };
    let split = journey::report(&journey, &log, &by).expect("report");
    let values: Vec<(&str, usize)> = split
        .segments
        .iter()
        .map(|s| (s.key.as_str(), s.instances))
        .collect();
    assert_eq!(
        values,
        [("", 3), ("ok", 1)],
        "c starts with its `ok` review"
    );
    let review: Vec<(&str, usize)> = split
        .touchpoints
        .iter()
        .find(|t| t.id == "review")
        .expect("review")
        .segments
        .iter()
        .map(|s| (s.key.as_str(), s.instances))
        .collect();
    assert_eq!(review, [("", 1), ("ok", 1)]);
    // Per segment, the same measures: c (`ok`) is the one that started at the review and rated 5.
    let ok = &split.segments[1];
    let kinds: Vec<&str> = ok.deviations.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["start"]);
    assert_eq!(ok.scores.csat, Some((5.0, 1)));
    assert_eq!(ok.stages[0].reached, 0);
    let none = &split.segments[0];
    let kinds: Vec<&str> = none.deviations.iter().map(|d| d.kind.as_str()).collect();
    assert_eq!(kinds, ["repeated"]);
    assert_eq!(none.contacts.instances_with_contact, 2);
    assert_eq!(none.scores.csat, Some((2.0, 1)));
    // A touchpoint marked costly replaces the conversations as the contacts.
    let marked = SMALL.replace("kind: task\n", "kind: task\n        costly: true\n");
    let marked = waymark_journey::check(&marked).journey.expect("journey");
    let report = journey::report(&marked, &log, &options).expect("report");
    assert_eq!(report.contacts.touchpoints, ["review"]);
    // The journey file's `instances:` block stands in for options left out, and options given
    // win over it.
    let with_block = waymark_journey::check(&format!(
        "{SMALL}instances:\n  end: [review]\n  timeout: 7d\n"
    ))
    .journey
    .expect("journey");
    let from_file = Options {
        timeout: None,
        ..options.clone()
    };
    let by_file = journey::report(&with_block, &log, &from_file).expect("report");
    let by_options = journey::report(
        &journey,
        &log,
        &Options {
            end: vec!["review".to_string()],
            ..options.clone()
        },
    )
    .expect("report");
    assert_eq!(by_file.instances, by_options.instances);
    assert_eq!(by_file.conformance, by_options.conformance);
    let overridden = journey::report(
        &with_block,
        &log,
        &Options {
            end: vec!["done".to_string()],
            ..options.clone()
        },
    )
    .expect("report");
    assert_eq!(overridden.instances, report.instances);
    // A one-hour timeout from the file cuts a's first instance at its day-long wait.
    let short = waymark_journey::check(&format!("{SMALL}instances:\n  timeout: 1h\n"))
        .journey
        .expect("journey");
    let cut = journey::report(&short, &log, &from_file).expect("report");
    assert!(
        cut.instances.total > report.instances.total,
        "{:?}",
        cut.instances
    );
    // Unknown touchpoints in the options are named.
    let wrong = Options {
        end: vec!["dne".to_string()],
        ..Options::default()
    };
    let error = journey::report(&journey, &log, &wrong).expect_err("unknown");
    assert_eq!(
        error.to_string(),
        "`dne` in end is not a touchpoint of the journey (did you mean `done`?)"
    );
}

/// The funnel builder's funnel over touchpoint visits, in each order, with a breakdown, worked
/// out by hand.
#[test]
fn a_touchpoint_funnel_follows_window_order_and_breakdown() {
    let journey = waymark_journey::check(SMALL).journey.expect("journey");
    let log = csv("case,activity,timestamp,result,case:tier\n\
        a,Form Sent,2024-01-01T10:00:00Z,,gold\n\
        a,Called,2024-01-01T11:00:00Z,,gold\n\
        a,Reviewed,2024-01-01T12:00:00Z,ok,gold\n\
        a,Done,2024-01-01T13:00:00Z,,gold\n\
        b,Form Sent,2024-01-01T10:00:00Z,,basic\n\
        b,Called,2024-01-01T10:05:00Z,,basic\n\
        c,Form Sent,2024-01-01T10:00:00Z,,gold\n\
        c,Called,2024-01-03T10:00:00Z,,gold\n");
    let options = Options {
        timeout: Some(30 * 86_400_000_000),
        ..Options::default()
    };
    let found = journey::instances(&log, &journey::Binding::new(&journey, &log), &options)
        .expect("instances");
    assert_eq!(found.len(), 3);
    let steps = ["form", "call", "done"].map(String::from);
    let day = 86_400_000_000;
    let reached = |order, by| {
        let (whole, groups) =
            journey::touchpoint_funnel(&journey, &log, &found, &steps, day, order, by)
                .expect("funnel");
        let levels = |f: &waymark_analytics::Funnel| -> Vec<usize> {
            f.steps.iter().map(|s| s.reached).collect()
        };
        (
            levels(&whole),
            groups
                .iter()
                .map(|g| (g.value.clone(), levels(&g.funnel)))
                .collect::<Vec<_>>(),
            whole,
        )
    };
    // Ordered within a day: a reaches done; b stops at the call; c's call came two days later.
    let (levels, groups, whole) = reached(FunnelOrder::Ordered, Some("tier"));
    assert_eq!(levels, [3, 2, 1]);
    assert_eq!(
        groups,
        [
            ("basic".to_string(), vec![1, 1, 0]),
            ("gold".to_string(), vec![2, 1, 1])
        ]
    );
    // Time between steps: a 1 h and b 5 min to the call (median 32.5 min), a 2 h to done.
    assert_eq!(whole.steps[1].median_seconds_from_previous, Some(1_950.0));
    assert_eq!(whole.steps[2].median_seconds_from_previous, Some(7_200.0));
    // Strict: the review comes between a's call and done.
    assert_eq!(reached(FunnelOrder::Strict, None).0, [3, 2, 0]);
    // Any order within a day: as ordered here.
    assert_eq!(reached(FunnelOrder::Any, None).0, [3, 2, 1]);
    // The people behind each figure: b dropped off after the call, c after the form, a
    // finished; their counts are the funnel's drop-offs, in every order.
    let names = |level, order| -> Vec<String> {
        journey::funnel_members(&journey, &found, &steps, day, order, level)
            .expect("members")
            .into_iter()
            .map(|k| log.case(found[k].case as usize).name().to_string())
            .collect()
    };
    assert_eq!(names(1, FunnelOrder::Ordered), ["c"]);
    assert_eq!(names(2, FunnelOrder::Ordered), ["b"]);
    assert_eq!(names(3, FunnelOrder::Ordered), ["a"]);
    assert!(names(0, FunnelOrder::Ordered).is_empty());
    assert_eq!(
        names(2, FunnelOrder::Strict),
        ["a", "b"],
        "a's review breaks it"
    );
    for order in [FunnelOrder::Ordered, FunnelOrder::Strict, FunnelOrder::Any] {
        let whole = reached(order, None).2;
        for k in 1..steps.len() {
            assert_eq!(
                names(k, order).len(),
                whole.steps[k].drop_off,
                "{order:?}: dropped after step {k}"
            );
        }
        assert_eq!(names(3, order).len(), whole.steps[2].reached);
    }
    // An unknown step is named, with the close one.
    let error = journey::touchpoint_funnel(
        &journey,
        &log,
        &found,
        &["form".to_string(), "cal".to_string()],
        day,
        FunnelOrder::Ordered,
        None,
    )
    .expect_err("unknown step");
    assert_eq!((error.option, error.id.as_str()), ("steps", "cal"));
}

/// Survey comments land on the touchpoint they rate, else the one they follow; blank ones and
/// other touchpoints' are left out; newest first.
#[test]
fn comments_are_found_for_the_touchpoint_they_are_about() {
    let journey = waymark_journey::check(SMALL).journey.expect("journey");
    let log = csv("case,activity,timestamp,touchpoint,csat,comment\n\
        a,Form Sent,2024-01-01T10:00:00Z,,,\n\
        a,Called,2024-01-01T11:00:00Z,,,\n\
        a,Survey,2024-01-01T14:00:00Z,call,2,Too slow to get through\n\
        b,Form Sent,2024-01-02T10:00:00Z,,,\n\
        b,Survey,2024-01-02T10:05:00Z,,5,Clear form\n\
        c,Called,2024-01-03T10:00:00Z,,,\n\
        c,Survey,2024-01-03T10:05:00Z,,4,   \n\
        d,Called,2024-01-04T10:00:00Z,,,\n\
        d,Survey,2024-01-04T10:05:00Z,,,Kind agent\n");
    type Said = (String, String, Vec<(journey::ScoreKind, f64)>);
    let on = |id: &str| -> Vec<Said> {
        journey::comments(&journey, &log, id, 10)
            .into_iter()
            .map(|c| (c.case, c.text, c.scores))
            .collect()
    };
    assert_eq!(
        on("call"),
        [
            ("d".to_string(), "Kind agent".to_string(), vec![]),
            (
                "a".to_string(),
                "Too slow to get through".to_string(),
                vec![(journey::ScoreKind::Csat, 2.0)]
            ),
        ]
    );
    assert_eq!(
        on("form"),
        [(
            "b".to_string(),
            "Clear form".to_string(),
            vec![(journey::ScoreKind::Csat, 5.0)]
        )]
    );
    assert!(on("done").is_empty());
    assert!(on("no-such-touchpoint").is_empty());
    assert_eq!(journey::comments(&journey, &log, "call", 1).len(), 1);
    // Across the journey: every touchpoint's comments together, newest first, each with its
    // touchpoint, the same as asking each touchpoint.
    let ids: Vec<String> = journey.touchpoints().map(|(_, t)| t.id.clone()).collect();
    let latest = journey::latest_comments(&journey, &log, 10);
    let mut each: Vec<(usize, journey::Comment)> = ids
        .iter()
        .enumerate()
        .flat_map(|(k, id)| {
            journey::comments(&journey, &log, id, 10)
                .into_iter()
                .map(move |c| (k, c))
        })
        .collect();
    each.sort_by(|(_, a), (_, b)| b.time.cmp(&a.time).then_with(|| a.case.cmp(&b.case)));
    assert_eq!(latest, each);
    assert!(latest.len() >= 2, "{latest:?}");
    assert_eq!(journey::latest_comments(&journey, &log, 1), each[..1]);
}

/// Moves against the design, paths from and to a touchpoint, and variants, worked out by hand.
#[test]
fn moves_paths_and_variants_of_instances() {
    let journey = waymark_journey::check(SMALL).journey.expect("journey");
    // a: form, call, review, done (as designed); b: form, call, form (back: not designed);
    // c: form, done (skips the required review).
    let log = csv("case,activity,timestamp,result\n\
        a,Form Sent,2024-01-01T10:00:00Z,\n\
        a,Called,2024-01-01T11:00:00Z,\n\
        a,Reviewed,2024-01-01T12:00:00Z,ok\n\
        a,Done,2024-01-01T13:00:00Z,\n\
        b,Form Sent,2024-01-01T10:00:00Z,\n\
        b,Called,2024-01-01T10:30:00Z,\n\
        b,Form Sent,2024-01-01T11:00:00Z,\n\
        c,Form Sent,2024-01-01T10:00:00Z,\n\
        c,Done,2024-01-01T10:10:00Z,\n");
    let options = Options {
        timeout: Some(30 * 86_400_000_000),
        now: Some(1_704_103_200_000_000), // 2024-01-01 10:00 + a day
        ..Options::default()
    };
    let found = journey::instances(&log, &journey::Binding::new(&journey, &log), &options)
        .expect("instances");
    let (form, call, review, done) = (0, 1, 2, 3);
    let moves = journey::moves(&journey, &found);
    let find = |from, to| {
        moves
            .iter()
            .find(|m| m.from == from && m.to == to)
            .map(|m| (m.count, m.designed))
    };
    assert_eq!(find(None, Some(form)), Some((3, true)));
    assert_eq!(find(Some(form), Some(call)), Some((2, true)));
    assert_eq!(find(Some(call), Some(review)), Some((1, true)));
    assert_eq!(
        find(Some(call), Some(form)),
        Some((1, false)),
        "back to the form"
    );
    assert_eq!(
        find(Some(form), Some(done)),
        Some((1, false)),
        "the review is required"
    );
    assert_eq!(find(Some(done), None), Some((2, true)));
    assert_eq!(find(Some(form), None), Some((1, true)));
    assert_eq!(moves.iter().map(|m| m.count).sum::<usize>(), 3 + 6 + 3);
    assert_eq!(moves[0].count, 3, "most made first");

    use journey::Direction::{After, Before};
    assert_eq!(
        journey::paths(&found, form, After, 2),
        [
            (vec![call, form], 1),
            (vec![call, review], 1),
            (vec![done], 1)
        ]
    );
    assert_eq!(
        journey::paths(&found, done, Before, 5),
        [(vec![form], 1), (vec![review, call, form], 1)]
    );
    assert_eq!(journey::paths(&found, call, Before, 0), [(vec![], 2)]);

    let variants = journey::visit_variants(&found);
    assert_eq!(variants.len(), 3);
    let completed: usize = variants.iter().map(|v| v.2).sum();
    assert_eq!(completed, 2, "a and c reached done");
    assert!(variants.iter().all(|v| v.1 == 1));
}

/// A survey answered long after the journey went quiet counts for the touchpoint it names, in the
/// latest instance that visited it; one naming nothing, or a touchpoint never visited, does not.
#[test]
fn a_late_survey_answer_counts_for_the_touchpoint_it_names() {
    let journey = waymark_journey::check(SMALL).journey.expect("journey");
    let log = csv("case,activity,timestamp,touchpoint,csat\n\
        x,Form Sent,2024-01-01T10:00:00Z,,\n\
        x,Called,2024-01-01T11:00:00Z,,\n\
        x,Survey,2024-03-01T10:00:00Z,call,1\n\
        x,Survey,2024-03-01T10:05:00Z,,5\n\
        x,Survey,2024-03-01T10:10:00Z,done,4\n");
    let options = Options {
        timeout: Some(7 * 86_400_000_000),
        ..Options::default()
    };
    let report = journey::report(&journey, &log, &options).expect("report");
    assert_eq!(report.instances.total, 1);
    let tp = |id: &str| report.touchpoints.iter().find(|t| t.id == id).expect(id);
    assert_eq!(
        tp("call").scores.csat,
        Some((1.0, 1)),
        "the late answer about the call"
    );
    assert_eq!(
        tp("form").scores.csat,
        None,
        "an answer naming nothing is left out"
    );
    assert_eq!(
        tp("done").scores.csat,
        None,
        "the instance never reached done"
    );
    assert_eq!(report.experience.journey.csat, Some((1.0, 1)));
}

/// The people behind a touchpoint's time over target: every visit the report counts as a
/// breach, longest first, the report's five worst first among them.
#[test]
fn the_visits_over_target_are_the_reports_breaches() {
    let journey = waymark_journey::check(SMALL).journey.expect("journey");
    let log = csv("case,activity,timestamp\n\
        a,Form Sent,2024-01-01T10:00:00Z\n\
        a,Called,2024-01-01T13:00:00Z\n\
        a,Done,2024-01-01T14:00:00Z\n\
        b,Form Sent,2024-01-01T10:00:00Z\n\
        b,Called,2024-01-01T10:20:00Z\n\
        c,Form Sent,2024-01-01T10:00:00Z\n\
        c,Called,2024-01-01T12:00:00Z\n\
        c,Form Sent,2024-01-01T12:10:00Z\n\
        c,Called,2024-01-01T15:10:00Z\n");
    let options = Options::default();
    let found = journey::instances(&log, &journey::Binding::new(&journey, &log), &options)
        .expect("instances");
    let report = journey::report(&journey, &log, &options).expect("report");
    for t in &report.touchpoints {
        let over = journey::over_target(&journey, &found, &t.id).expect("over");
        let expected = t
            .breach_share
            .map_or(0, |share| (share * t.visits as f64).round() as usize);
        assert_eq!(over.len(), expected, "{}: {over:?}", t.id);
        let named: Vec<(String, f64)> = over
            .iter()
            .take(5)
            .map(|o| {
                (
                    log.case(found[o.instance].case as usize).name().to_string(),
                    o.seconds,
                )
            })
            .collect();
        assert_eq!(named, t.worst, "{}", t.id);
    }
    // The form (1 h target): a waited 3 h, c 2 h and then 3 h.
    let form = journey::over_target(&journey, &found, "form").expect("over");
    assert_eq!(
        form.iter()
            .map(|o| (o.visit, o.seconds))
            .collect::<Vec<_>>(),
        [(0, 10_800.0), (2, 10_800.0), (0, 7_200.0)],
        "a's first visit, c's second, c's first"
    );
    assert!(journey::over_target(&journey, &found, "nope").is_err());
}

/// A log of some of `log`'s cases, with every activity of `log` interned (as a store that sends
/// people in pieces builds each piece).
fn piece_of(log: &EventLog, cases: &[usize]) -> EventLog {
    let mut builder = waymark_eventlog::LogBuilder::new(log.activity_key().clone());
    for case in log.iter_cases() {
        for &activity in case.activities() {
            builder.intern(log.resolve(activity));
        }
    }
    let mut symbols: HashMap<waymark_eventlog::Symbol, waymark_eventlog::Symbol> = HashMap::new();
    let mut remap = |builder: &mut waymark_eventlog::LogBuilder,
                     a: &waymark_eventlog::Attribute| {
        let mut all = Vec::new();
        fn walk(a: &waymark_eventlog::Attribute, out: &mut Vec<waymark_eventlog::Symbol>) {
            out.push(a.key);
            if let waymark_eventlog::Value::String(s) | waymark_eventlog::Value::Id(s) = a.value {
                out.push(s);
            }
            for child in a.children() {
                walk(child, out);
            }
        }
        walk(a, &mut all);
        for symbol in all {
            symbols
                .entry(symbol)
                .or_insert_with(|| builder.intern(log.resolve(symbol)));
        }
        a.remapped(&|s| symbols[&s])
    };
    for &case in cases {
        let source = log.case(case);
        let index = builder.new_case(source.name());
        let attributes = source
            .attributes()
            .iter()
            .map(|a| remap(&mut builder, a))
            .collect();
        builder.set_case_attributes(index, attributes);
        for event in source.events() {
            let attributes: Vec<_> = log
                .event_attributes(event)
                .iter()
                .map(|a| remap(&mut builder, a))
                .collect();
            builder.push_event(index, log.time_column()[event], attributes);
        }
    }
    builder.finish()
}

#[test]
fn a_report_cut_in_pieces_equals_the_report_of_the_whole_log() {
    let log: EventLog = load("bpic2012.xes.gz");
    let journey = loan_journey();
    let last = log.time_column().iter().copied().max().expect("a time");
    for options in [
        per_case(),
        Options {
            timeout: Some(3 * 86_400_000_000),
            by: Some("AMOUNT_REQ".into()),
            ..Options::default()
        },
    ] {
        let options = journey::pieces::now_or(&options, last);
        let whole = journey::report(&journey, &log, &options).expect("whole");
        // Pieces of uneven sizes, handed over out of order, as shards answer.
        let mut order: Vec<usize> = (0..log.cases()).collect();
        fastrand::Rng::with_seed(7).shuffle(&mut order);
        let mut pieces = journey::pieces::Pieces::new(&options);
        for chunk in order.chunks(1777) {
            let piece = piece_of(&log, chunk);
            let first: Vec<u64> = chunk.iter().map(|&c| c as u64).collect();
            pieces.add(&journey, &piece, &first).expect("piece");
        }
        let assembled = pieces.finish();
        assert_eq!(
            assembled.instances(),
            whole_cut(&journey, &log, &options).as_slice()
        );
        let report = journey::report_of(&journey, &assembled, &options).expect("assembled");
        assert_eq!(report, whole, "the report over pieces, with {options:?}");
    }
}

fn whole_cut(journey: &Journey, log: &EventLog, options: &Options) -> Vec<journey::Instance> {
    use waymark_analytics::journey::LogSource as _;
    log.cut(journey, options).expect("cut").instances.to_vec()
}

/// Options checked before anything is read (`journey::check`, what a store far away runs before
/// asking its servers) pass exactly when the report on a log passes, and refuse with the report's
/// own error: an option the check forgot would fail here on the first draw that names a wrong id
/// in it.
mod options_checked_first {
    use proptest::prelude::*;
    use waymark_analytics::journey::{self, Options};

    /// The ids an option draws from: the small journey's, and two it does not have.
    const IDS: [&str; 5] = ["form", "call", "review", "dne", "revew"];

    fn ids() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(prop::sample::select(IDS.to_vec()), 0..3)
            .prop_map(|ids| ids.into_iter().map(String::from).collect())
    }

    fn options() -> impl Strategy<Value = Options> {
        (
            ids(),
            ids(),
            ids(),
            ids(),
            prop::collection::vec(
                (
                    prop::sample::select(IDS.to_vec()),
                    prop::sample::select(IDS.to_vec()),
                ),
                0..2,
            ),
        )
            .prop_map(|(start, end, contacts, funnel, milestones)| Options {
                start,
                end,
                contacts,
                funnel,
                milestones: milestones
                    .into_iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
                ..Options::default()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn the_check_agrees_with_the_report(options in options()) {
            let journey = waymark_journey::check(super::SMALL).journey.expect("journey");
            let log = super::csv("case,activity,timestamp\n\
                a,Form Sent,2024-01-01T09:00:00Z\n\
                a,Called,2024-01-01T10:00:00Z\n\
                a,Reviewed,2024-01-02T10:00:00Z\n\
                b,Form Sent,2024-01-03T09:00:00Z\n");
            let checked = journey::check(&journey, &options);
            let wrong = |list: &[String]| list.iter().any(|id| id == "dne" || id == "revew");
            let named_wrong = wrong(&options.start)
                || wrong(&options.end)
                || wrong(&options.contacts)
                || wrong(&options.funnel)
                || options.milestones.iter().any(|(a, b)| wrong(&[a.clone(), b.clone()]));
            prop_assert_eq!(checked.is_err(), named_wrong);
            // The first wrong option in the report's order (end, start, contacts, funnel,
            // milestones) is the one named, with the close id as a hint.
            if let Err(error) = &checked {
                let first = [
                    ("end", &options.end),
                    ("start", &options.start),
                    ("contacts", &options.contacts),
                    ("funnel", &options.funnel),
                ]
                .into_iter()
                .find(|(_, list)| wrong(list))
                .map_or("milestones", |(option, _)| option);
                prop_assert_eq!(error.option, first);
                if error.id == "revew" {
                    prop_assert_eq!(error.hint.as_str(), " (did you mean `review`?)");
                }
            }
            match journey::report(&journey, &log, &options) {
                Ok(_) => prop_assert!(checked.is_ok()),
                Err(error) => prop_assert_eq!(Some(error), checked.err()),
            }
        }
    }
}
