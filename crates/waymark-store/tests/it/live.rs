//! The live log against a full re-read: after any sequence of appends, identity merges and
//! imports, read at any points along the way, the live log equals an independent reading of the
//! store's rows (their JSON bodies, through the Segment reader) and blocks; and a report that
//! keeps the instances of the people a snapshot did not touch equals one made from scratch.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use waymark_analytics::journey::source::{Live, Reuse};
use waymark_eventlog::{Attribute, EventLog, LogBuilder};
use waymark_store::live::LiveLog;
use waymark_store::prelude::*;
use waymark_store::{Keep, NewEvent};

/// One thing done to the store.
#[derive(Debug, Clone)]
enum Step {
    /// A call from person `who` (a user id, an anonymous id, or both), at `at`.
    Call {
        kind: usize,
        user: Option<u8>,
        anonymous: Option<u8>,
        at: i64,
        value: u8,
        email: Option<u8>,
    },
    /// An imported case named like a user (so it may join a collected person).
    Import { user: u8, events: Vec<(u8, i64)> },
    /// The live log reads what changed, and writes a snapshot (the base of the next one) or not.
    CatchUp { snapshot: bool },
}

const KINDS: [&str; 5] = ["track", "page", "identify", "alias", "track"];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..KINDS.len(), proptest::option::of(0..5u8), proptest::option::of(0..5u8), 0..20i64, 0..4u8, proptest::option::weighted(0.2, 0..3u8))
            .prop_map(|(kind, user, anonymous, at, value, email)| Step::Call { kind, user, anonymous, at, value, email }),
        1 => (0..5u8, proptest::collection::vec((0..3u8, 0..20i64), 1..4))
            .prop_map(|(user, events)| Step::Import { user, events }),
        2 => any::<bool>().prop_map(|snapshot| Step::CatchUp { snapshot }),
    ]
}

fn call(
    n: usize,
    kind: &str,
    user: Option<u8>,
    anonymous: Option<u8>,
    at: i64,
    value: u8,
    email: Option<u8>,
) -> NewEvent {
    let user = user.map(|u| format!("u{u}"));
    // An anonymous id is needed when there is no user id.
    let anonymous = match (&user, anonymous) {
        (None, None) => Some("a0".to_string()),
        (_, a) => a.map(|a| format!("a{a}")),
    };
    let mut body = serde_json::json!({});
    match kind {
        "identify" => {
            let mut traits = serde_json::json!({ "persona": format!("p{value}"), "tier": value });
            if let Some(email) = email {
                traits["email"] = format!("e{email}@example.com").into();
            }
            body["traits"] = traits;
        }
        "alias" => body["previousId"] = format!("a{value}").into(),
        _ => {
            body["properties"] =
                serde_json::json!({ "p": value, "q": format!("q{value}"), "list": [value] });
            if let Some(email) = email {
                body["context"] =
                    serde_json::json!({ "traits": { "email": format!("e{email}@example.com") } });
            }
        }
    }
    let (kind, user) = match (kind, &user) {
        // An alias call needs a user id.
        ("alias", None) => ("track", user),
        _ => (kind, user),
    };
    NewEvent {
        message_id: format!("m{n}"),
        kind: kind.to_string(),
        name: matches!(kind, "track" | "page").then(|| format!("E{}", value % 3)),
        user_id: user,
        anonymous_id: anonymous,
        timestamp_us: at * 1_000_000,
        received_us: at * 1_000_000,
        body: body.to_string(),
    }
}

fn import(store: &dyn Store, user: u8, events: &[(u8, i64)]) {
    let mut builder = LogBuilder::default();
    let case = builder.case(&format!("u{user}"));
    let concept = builder.intern(waymark_eventlog::CONCEPT_NAME);
    let amount = builder.intern("p");
    for &(activity, at) in events {
        let name = builder.string(&format!("I{activity}"));
        builder.push_event(
            case,
            at * 1_000_000,
            [
                Attribute::new(concept, name),
                Attribute::new(amount, waymark_eventlog::Value::Int(activity.into())),
            ],
        );
    }
    waymark_store::import_log(store, &builder.finish(), |_| {}).expect("import");
}

/// A log as plain values, attribute order aside: cases in order with their sorted attributes,
/// events in order with theirs.
type Plain = Vec<(String, Vec<String>, Vec<(String, i64, Vec<String>)>)>;

fn attributes(log: &EventLog, attributes: &[Attribute]) -> Vec<String> {
    let mut texts: Vec<String> = attributes
        .iter()
        .map(|a| {
            let children: Vec<String> = attributes_of(log, a.children());
            format!(
                "{}={}{children:?}",
                log.resolve(a.key),
                log.value_text(&a.value)
            )
        })
        .collect();
    texts.sort();
    texts
}

fn attributes_of(log: &EventLog, list: &[Attribute]) -> Vec<String> {
    attributes(log, list)
}

fn plain(log: &EventLog) -> Plain {
    log.iter_cases()
        .map(|case| {
            (
                case.name().to_string(),
                attributes(log, case.attributes()),
                case.events()
                    .map(|e| {
                        (
                            log.resolve(log.activity_column()[e]).to_string(),
                            log.time_column()[e],
                            attributes(log, log.event_attributes(e)),
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

/// The store read the slow, independent way: every row's JSON through the Segment reader, every
/// block decoded, people grouped by their current profile.
fn reread(store: &dyn Store, keep: &Keep) -> (Plain, EventLog) {
    let rows = store.events_after(0, usize::MAX >> 1).expect("rows");
    let mut blocks = Vec::new();
    let mut after = 0;
    loop {
        let page = store.trace_blocks_after(after, 100).expect("blocks");
        let Some(last) = page.last() else { break };
        after = last.id;
        blocks.extend(page);
    }
    // Names: the first collected user id, else the first imported case, else the first
    // anonymous id.
    let mut users: HashMap<i64, String> = HashMap::new();
    let mut anonymous: HashMap<i64, String> = HashMap::new();
    let mut traits: HashMap<i64, BTreeMap<String, serde_json::Value>> = HashMap::new();
    for row in &rows {
        let profile = row.profile.expect("a profile");
        if let Some(user) = &row.event.user_id {
            users.entry(profile).or_insert_with(|| user.clone());
        }
        if let Some(anon) = &row.event.anonymous_id {
            anonymous.entry(profile).or_insert_with(|| anon.clone());
        }
        if row.event.kind == "identify"
            && let Some(serde_json::Value::Object(set)) = row.to_json().remove("traits")
        {
            for (key, value) in set {
                if !value.is_null() {
                    traits.entry(profile).or_default().insert(key, value);
                }
            }
        }
    }
    for block in &blocks {
        if let Some(profile) = block.profile {
            users
                .entry(profile)
                .or_insert_with(|| block.user_id.clone());
        }
    }
    let name = |profile: i64| {
        users
            .get(&profile)
            .or_else(|| anonymous.get(&profile))
            .cloned()
            .expect("a name")
    };
    let mut builder = LogBuilder::default();
    for row in &rows {
        let case = name(row.profile.expect("profile"));
        waymark_store::push_interaction(&mut builder, row, Some(&case)).expect("an interaction");
    }
    let concept = builder.intern(waymark_eventlog::CONCEPT_NAME);
    let time = builder.intern(waymark_eventlog::TIME_TIMESTAMP);
    let kind = builder.intern("segment:type");
    let user = builder.intern("segment:userId");
    let track = builder.string("track");
    for block in &blocks {
        let case_name = block.profile.map_or(block.user_id.clone(), name);
        let case = builder.case(&case_name);
        let name_value = builder.string(&case_name);
        builder.add_case_attribute(case, Attribute::new(concept, name_value));
        let user_value = builder.string(&block.user_id);
        block
            .for_each(|_, (_, activity), at, body| {
                let activity = builder.string(activity);
                let mut list = vec![
                    Attribute::new(concept, activity),
                    Attribute::new(time, waymark_eventlog::Value::Date(at)),
                    Attribute::new(kind, track),
                    Attribute::new(user, user_value),
                ];
                let body: serde_json::Value = serde_json::from_str(body).expect("body");
                if let Some(serde_json::Value::Object(properties)) = body.get("properties") {
                    for (key, value) in properties {
                        list.extend(waymark_eventlog::jsonl::convert(&mut builder, key, value));
                    }
                }
                builder.push_event(case, at, list);
            })
            .expect("block");
    }
    for (profile, set) in &traits {
        if let Some(case) = builder.find_case(&name(*profile)) {
            for (key, value) in set {
                let attribute =
                    waymark_eventlog::jsonl::convert(&mut builder, key, value).expect("trait");
                builder.add_case_attribute(case, attribute);
            }
        }
    }
    let log = builder.finish();
    // The attributes not kept are dropped here, after the reading.
    let plain = plain(&log)
        .into_iter()
        .map(|(name, case, events)| {
            let events = events
                .into_iter()
                .map(|(activity, at, list)| {
                    let list = list
                        .into_iter()
                        .filter(|a| match keep {
                            Keep::All => true,
                            Keep::Only(keys) => keys.contains(a.split('=').next().unwrap_or("")),
                        })
                        .collect();
                    (activity, at, list)
                })
                .collect();
            (name, case, events)
        })
        .collect();
    (plain, log)
}

/// A journey over the generated events: its report reads activities, times, the `p` property
/// (a rule binds on it) and the persona trait (figures by persona).
const JOURNEY: &str = r#"
id: generated
title: Generated
owner: Tests
version: as-is
stages:
  - id: first
    name: First
    touchpoints:
      - id: e0
        name: E0
        channel: web
        department: Sales
        actor: customer
        kind: form
        target: 5s
        events:
          - event: E0
      - id: e1
        name: E1 with p 1
        channel: app
        department: Support
        actor: customer
        kind: form
        events:
          - event: E1
            where: { p: 1 }
  - id: second
    name: Second
    touchpoints:
      - id: e2
        name: E2
        channel: email
        department: Sales
        actor: system
        kind: notification
        events:
          - event: E2
      - id: imported
        name: Imported
        channel: other
        department: Back office
        actor: staff
        kind: task
        events:
          - event: I1
"#;

/// A report over a live log's snapshot, keeping the instances of untouched people from the last
/// one (`reuse`), against the report over the same snapshot from scratch.
fn reused_report_is_exact(
    journey: &waymark_journey::Journey,
    live: &mut LiveLog,
    reuse: &std::sync::Mutex<Reuse>,
) -> Result<(), TestCaseError> {
    // No fixed now and a short timeout: statuses of kept instances move with the log's last
    // event; figures by persona read traits.
    let options = waymark_analytics::journey::Options {
        by: Some("persona".to_string()),
        timeout: Some(4_000_000),
        ..Default::default()
    };
    let log = live.snapshot();
    let stamps = live.stamps();
    let source = Live {
        log: &log,
        stamps: &stamps,
        reuse,
    };
    prop_assert_eq!(
        waymark_analytics::journey::report_of(journey, &source, &options).expect("report"),
        waymark_analytics::journey::report(journey, &log, &options).expect("report")
    );
    Ok(())
}

fn run(steps: &[Step], keep: Keep) -> Result<(), TestCaseError> {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let mut live = LiveLog::new(keep.clone());
        let journey = waymark_journey::check(JOURNEY)
            .journey
            .expect("the journey reads");
        let reuse = std::sync::Mutex::new(Reuse::default());
        for (n, step) in steps.iter().enumerate() {
            match step {
                Step::Call {
                    kind,
                    user,
                    anonymous,
                    at,
                    value,
                    email,
                } => {
                    store
                        .append(vec![call(
                            n,
                            KINDS[*kind],
                            *user,
                            *anonymous,
                            *at,
                            *value,
                            *email,
                        )])
                        .expect("append");
                }
                Step::Import { user, events } => import(store, *user, events),
                Step::CatchUp { snapshot } => {
                    live.catch_up(store).expect("catch up");
                    if *snapshot {
                        reused_report_is_exact(&journey, &mut live, &reuse)?;
                    }
                }
            }
        }
        live.catch_up(store).expect("catch up");
        let (expected, reread_log) = reread(store, &keep);
        prop_assert_eq!(plain(&live.snapshot()), expected);
        reused_report_is_exact(&journey, &mut live, &reuse)?;
        // So is every report made from it.
        let options = waymark_analytics::journey::Options {
            by: Some("persona".to_string()),
            now: Some(30_000_000),
            ..Default::default()
        };
        prop_assert_eq!(
            waymark_analytics::journey::report(&journey, &live.snapshot(), &options)
                .expect("report"),
            waymark_analytics::journey::report(&journey, &reread_log, &options).expect("report")
        );
        // A fresh reading is the same as the log kept up to date.
        let mut fresh = LiveLog::load(store, keep.clone()).expect("load");
        prop_assert_eq!(plain(&fresh.snapshot()), plain(&live.snapshot()));
        prop_assert_eq!(fresh.events(), live.events());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_live_log_equals_a_full_reread(steps in proptest::collection::vec(step(), 1..40)) {
        run(&steps, Keep::All)?;
    }

    #[test]
    fn the_live_log_keeping_some_attributes_equals_a_full_reread(steps in proptest::collection::vec(step(), 1..40)) {
        run(&steps, Keep::only(["p", "persona"]))?;
    }
}

#[test]
fn a_catch_up_reads_only_what_changed_and_touches_only_its_people() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let events: Vec<NewEvent> = (0..50)
            .map(|i| call(i, "track", Some((i % 5) as u8), None, i as i64, 1, None))
            .collect();
        store.append(events).expect("append");
        let mut live = LiveLog::load(store, Keep::All).expect("load");
        assert_eq!(live.events(), 50);
        store
            .append(vec![call(100, "track", Some(1), None, 99, 2, None)])
            .expect("append");
        let done = live.catch_up(store).expect("catch up");
        assert_eq!((done.events, done.touched, done.merges), (1, 1, 0));
        // Anonymous visits, then the visitor signs in as u2: only that merge and event are read.
        store
            .append(vec![call(101, "page", None, Some(4), 100, 0, None)])
            .expect("append");
        live.catch_up(store).expect("catch up");
        store
            .append(vec![call(102, "identify", Some(2), Some(4), 101, 0, None)])
            .expect("append");
        let done = live.catch_up(store).expect("catch up");
        assert_eq!((done.events, done.merges, done.touched), (1, 1, 1));
        let nothing = live.catch_up(store).expect("catch up");
        assert!(!nothing.changed());
        let log = live.snapshot();
        let u2 = log.iter_cases().find(|c| c.name() == "u2").expect("u2");
        assert_eq!(u2.len(), 11, "the anonymous visit joined u2");
        assert!(log.iter_cases().all(|c| c.name() != "a4"));
    }
}

#[test]
fn a_report_cuts_again_only_the_people_a_snapshot_touched() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let events: Vec<NewEvent> = (0..50)
            .map(|i| {
                call(
                    i,
                    "track",
                    Some((i % 5) as u8),
                    None,
                    i as i64,
                    i as u8,
                    None,
                )
            })
            .collect();
        store.append(events).expect("append");
        let journey = waymark_journey::check(JOURNEY)
            .journey
            .expect("the journey reads");
        let options = waymark_analytics::journey::Options::default();
        let mut live = LiveLog::load(store, Keep::All).expect("load");
        let reuse = std::sync::Mutex::new(Reuse::default());
        let report = |live: &mut LiveLog| {
            let (log, stamps) = (live.snapshot(), live.stamps());
            let source = Live {
                log: &log,
                stamps: &stamps,
                reuse: &reuse,
            };
            let report =
                waymark_analytics::journey::report_of(&journey, &source, &options).expect("report");
            let fresh =
                waymark_analytics::journey::report(&journey, &log, &options).expect("report");
            assert_eq!(report, fresh);
            let reuse = reuse.lock().expect("reuse");
            (reuse.recut, reuse.kept)
        };
        assert_eq!(report(&mut live), (5, 0), "the first report cuts everyone");
        store
            .append(vec![call(100, "track", Some(1), None, 99, 2, None)])
            .expect("append");
        live.catch_up(store).expect("catch up");
        assert_eq!(report(&mut live), (1, 4), "only u1 is cut again");
        // An anonymous visitor who then signs in as u3: one new person, then merged into u3.
        store
            .append(vec![call(101, "page", None, Some(4), 100, 0, None)])
            .expect("append");
        live.catch_up(store).expect("catch up");
        assert_eq!(report(&mut live), (1, 5), "only the new visitor is cut");
        let (before_merge, before_stamps) = (live.snapshot(), live.stamps());
        store
            .append(vec![call(102, "identify", Some(3), Some(4), 101, 0, None)])
            .expect("append");
        live.catch_up(store).expect("catch up");
        assert_eq!(
            report(&mut live),
            (1, 4),
            "only u3, who took the visit in, is cut again"
        );
        // A reader still holding the snapshot from before the merge gets that snapshot's figures
        // (not u3's newer instances beside the visitor's own), and the newer cut stays kept.
        let older = waymark_analytics::journey::report_of(
            &journey,
            &Live {
                log: &before_merge,
                stamps: &before_stamps,
                reuse: &reuse,
            },
            &options,
        )
        .expect("report");
        assert_eq!(
            older,
            waymark_analytics::journey::report(&journey, &before_merge, &options).expect("report")
        );
        assert_eq!(
            report(&mut live),
            (0, 5),
            "nothing changed: everyone is kept"
        );
    }
}
