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
        timeout: i64::MAX / 4,
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
