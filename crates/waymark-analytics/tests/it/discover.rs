//! The as-is journey discovered from events: on BPIC 2012 against the hand-made loan journey, and
//! on generated logs as a property (the draft always reads back clean and binds every event).

use std::collections::HashMap;

use proptest::prelude::*;
use waymark_analytics::discover::{Discovered, Settings, discover};
use waymark_analytics::journey::{Options, report};
use waymark_eventlog::{ActivityKey, Attribute, EventLog, LogBuilder, Value};
use waymark_journey::Journey;

use crate::load;

fn settings() -> Settings {
    Settings {
        id: "discovered".into(),
        title: "Discovered".into(),
        owner: "Customer Experience".into(),
        stages: None,
        only: Vec::new(),
    }
}

/// Writes the draft, reads it back, and returns it: no problem of any kind may be found.
fn reads_back_clean(found: &Discovered) -> Journey {
    let text = waymark_journey::write(&found.journey);
    let checked = waymark_journey::check(&text);
    let problems: Vec<String> = checked
        .diagnostics
        .iter()
        .map(|d| format!("{}: {} {}", d.location, d.severity.as_str(), d.message))
        .collect();
    assert!(problems.is_empty(), "{problems:?}\n{text}");
    let journey = checked.journey.expect("a journey");
    assert_eq!(journey, found.journey, "the draft reads back equal");
    journey
}

/// How many of the log's events the journey's touchpoints bind.
fn bound(journey: &Journey, log: &EventLog) -> usize {
    let report = report(journey, log, &Options::default()).expect("report");
    report.touchpoints.iter().map(|t| t.events).sum()
}

/// Activity → the index of the stage whose touchpoint binds it (property-free rules only).
fn stage_of(journey: &Journey) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for (index, stage) in journey.stages.iter().enumerate() {
        for touchpoint in &stage.touchpoints {
            for rule in &touchpoint.events {
                map.entry(rule.event.clone()).or_insert(index);
            }
        }
    }
    map
}

#[test]
fn bpic2012_draft_reads_clean_binds_every_event_and_follows_the_handmade_journey() {
    let log = load("bpic2012.xes.gz");
    let found = discover(&log, &settings()).expect("a draft");
    let journey = reads_back_clean(&found);
    assert_eq!(bound(&journey, &log), log.events(), "every event is bound");
    let activities: std::collections::HashSet<&str> = log
        .activity_column()
        .iter()
        .map(|&a| log.resolve(a))
        .collect();
    assert_eq!(journey.touchpoints().count(), activities.len());
    assert!(journey.stages.len() >= 2 && journey.stages.len() <= 7);

    // The stages follow the order in which the activities happen: of the cases that reach two
    // consecutive stages, most reach the earlier one first.
    let discovered = stage_of(&journey);
    for later in 1..journey.stages.len() {
        let (mut agree, mut both) = (0usize, 0usize);
        for case in log.iter_cases() {
            let first = |stage: usize| {
                case.activities()
                    .iter()
                    .zip(case.times())
                    .find(|(a, _)| discovered[log.resolve(**a)] == stage)
                    .map(|(_, &t)| t)
            };
            if let (Some(a), Some(b)) = (first(later - 1), first(later)) {
                both += 1;
                agree += usize::from(a <= b);
            }
        }
        assert!(
            2 * agree >= both,
            "stage {later} comes before stage {} in {agree} of {both} cases",
            later - 1
        );
    }

    // Against the hand-made loan journey: every activity it maps is one discovered touchpoint,
    // and of the pairs of activities it puts in different stages, the draft orders nearly all
    // the same way (or puts them in one stage).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/loan-application/journey.yaml");
    let handmade = waymark_journey::check(&std::fs::read_to_string(path).expect("file"))
        .journey
        .expect("the loan journey");
    let designed = stage_of(&handmade);
    let mapped: Vec<&String> = designed
        .keys()
        .filter(|a| activities.contains(a.as_str()))
        .collect();
    assert_eq!(
        mapped.len(),
        activities.len(),
        "the loan journey maps every activity"
    );
    for activity in &mapped {
        assert!(
            discovered.contains_key(*activity),
            "{activity} has a touchpoint"
        );
    }
    let (mut same, mut reversed, mut pairs) = (0, 0, 0);
    for a in &mapped {
        for b in &mapped {
            if designed[*a] < designed[*b] {
                pairs += 1;
                match discovered[*a].cmp(&discovered[*b]) {
                    std::cmp::Ordering::Less => same += 1,
                    std::cmp::Ordering::Greater => reversed += 1,
                    std::cmp::Ordering::Equal => {}
                }
            }
        }
    }
    eprintln!(
        "of {pairs} pairs in different hand-made stages: {same} ordered alike, {reversed} reversed"
    );
    assert!(
        reversed * 10 <= pairs,
        "the draft reverses {reversed} of {pairs} pairs the hand-made journey orders"
    );
    assert!(
        same * 10 >= pairs * 8,
        "only {same} of {pairs} pairs ordered alike"
    );
}

#[test]
fn generic_events_are_split_by_their_step_and_channel() {
    let mut builder = LogBuilder::new(ActivityKey::default());
    let name = builder.intern("concept:name");
    let task = builder.intern("task");
    let channel = builder.intern("channel");
    let text = |builder: &mut LogBuilder, s: &str| Value::String(builder.intern(s));
    for person in 0..40 {
        let case = builder.new_case(&format!("p{person}"));
        let steps = [
            (
                "Form Submitted",
                None,
                if person % 2 == 0 { "web" } else { "app" },
            ),
            ("Task Completed", Some("approve"), "email"),
            ("Task Completed", Some("pay"), "email"),
        ];
        for (k, (event, step, via)) in steps.into_iter().enumerate() {
            let mut attributes = vec![
                Attribute::new(name, text(&mut builder, event)),
                Attribute::new(channel, text(&mut builder, via)),
            ];
            if let Some(step) = step {
                attributes.push(Attribute::new(task, text(&mut builder, step)));
            }
            builder.push_event(
                case,
                (person * 1_000 + k as i64 * 60) * 1_000_000,
                attributes,
            );
        }
    }
    let log = builder.finish();
    let found = discover(&log, &settings()).expect("a draft");
    let journey = reads_back_clean(&found);
    let names: Vec<&str> = journey
        .touchpoints()
        .map(|(_, t)| t.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Form Submitted (app)",
            "Form Submitted (web)",
            "Task Completed: approve",
            "Task Completed: pay"
        ]
    );
    assert_eq!(bound(&journey, &log), log.events());
}

fn arbitrary_log() -> impl Strategy<Value = Vec<Vec<(u8, u8, u8, u32)>>> {
    // Cases of events: (activity, step value or none, channel or none, minutes after the last).
    prop::collection::vec(
        prop::collection::vec((0u8..6, 0u8..4, 0u8..4, 0u32..600), 1..12),
        1..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_draft_reads_back_clean_and_binds_every_event(cases in arbitrary_log(), stages in prop::option::of(1usize..6)) {
        let mut builder = LogBuilder::new(ActivityKey::default());
        let name = builder.intern("concept:name");
        let step = builder.intern("step");
        let channel = builder.intern("channel");
        for (index, events) in cases.iter().enumerate() {
            let case = builder.new_case(&format!("case {index}"));
            let mut time = 0i64;
            for &(activity, value, via, minutes) in events {
                time += i64::from(minutes) * 60_000_000;
                let activity = builder.intern(&format!("Event {activity}"));
                let mut attributes = vec![Attribute::new(name, Value::String(activity))];
                if value > 0 {
                    attributes.push(Attribute::new(step, Value::Int(i64::from(value))));
                }
                if via > 0 {
                    let via = builder.intern(["web", "phone", "Fax"][usize::from(via - 1)]);
                    attributes.push(Attribute::new(channel, Value::String(via)));
                }
                builder.push_event(case, time, attributes);
            }
        }
        let log = builder.finish();
        let found = discover(&log, &Settings { stages, ..settings() }).expect("a draft");
        let journey = reads_back_clean(&found);
        prop_assert_eq!(bound(&journey, &log), log.events());
        if let Some(stages) = stages {
            prop_assert!(journey.stages.len() <= stages);
        }
        prop_assert!(journey.stages.iter().all(|s| !s.touchpoints.is_empty()));
    }
}

#[test]
fn a_log_of_too_many_names_or_none_asked_for_is_refused_by_name() {
    use waymark_analytics::discover::{MAX_TOUCHPOINTS, NothingToDiscover};
    let mut builder = LogBuilder::new(ActivityKey::default());
    for k in 0..=MAX_TOUCHPOINTS {
        let case = builder.new_case(&format!("c{k}"));
        let name = builder.intern(&format!("Event {k}"));
        builder.push_activity(case, k as i64, name);
    }
    let log = builder.finish();
    assert_eq!(
        discover(&log, &settings())
            .map(|d| d.figures.len())
            .expect_err("too many touchpoints"),
        NothingToDiscover::TooMany(MAX_TOUCHPOINTS + 1)
    );
    // Asked for a few of them, it proposes those.
    let only = Settings {
        only: vec!["Event 1".into(), "Event 2".into()],
        ..settings()
    };
    let found = discover(&log, &only).expect("a draft");
    assert_eq!(found.figures.len(), 2);
    assert_eq!(found.events, 2);
    let none = Settings {
        only: vec!["Nothing".into()],
        ..settings()
    };
    assert!(matches!(
        discover(&log, &none),
        Err(NothingToDiscover::NoneNamed(_))
    ));
}
