//! Collected events forwarded from the state store (`serve --events`): the analyses and the
//! journey report over ClickHouse equal the embedded engine's over the store's own log, with
//! duplicates, identity merges after the merged people's events were forwarded, traits and
//! ties in time, forwarded in several passes and again from the start.

use std::sync::Arc;

use waymark_analytics::Filter;
use waymark_analytics::journey::Options;
use waymark_clickhouse::EventStore;
use waymark_store::facts::Since;
use waymark_store::{NewEvent, Store};

use crate::{fresh, servers};

/// The journey the collected events are measured against (also read by the CLI's test of
/// `serve --events`).
const JOURNEY: &str = include_str!("plans.yaml");

/// A small generator, so the events are the same on every run.
struct Seeded(u64);

impl Seeded {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % below
    }
}

fn event(
    message: &str,
    kind: &str,
    name: Option<&str>,
    user: Option<&str>,
    anonymous: Option<&str>,
    at: i64,
    extra: serde_json::Value,
) -> NewEvent {
    let mut body = serde_json::json!({ "type": kind, "messageId": message });
    if let (Some(extra), Some(map)) = (extra.as_object(), body.as_object_mut()) {
        map.extend(extra.clone());
    }
    NewEvent {
        message_id: message.to_string(),
        kind: kind.to_string(),
        name: name.map(str::to_string),
        user_id: user.map(str::to_string),
        anonymous_id: anonymous.map(str::to_string),
        timestamp_us: at,
        received_us: at,
        body: body.to_string(),
    }
}

/// Batches of collected events: people browsing anonymously and identified later (merging
/// two profiles that both have events), identify calls with traits, repeated message ids, ties
/// in time.
fn batches() -> Vec<Vec<NewEvent>> {
    let mut random = Seeded(7);
    let activities = ["Viewed Plans", "Called", "Paid", "Rated", "Read Blog"];
    let start = 1_700_000_000_000_000i64;
    let mut all = Vec::new();
    let mut message = 0;
    for round in 0..4 {
        let mut batch = Vec::new();
        for person in 0..40 {
            let anonymous = format!("anon-{person}");
            let user = format!("user-{}", person / 2);
            let identified = round >= 2 && person % 3 != 0;
            for _ in 0..random.next(4) {
                message += 1;
                let activity = activities[random.next(activities.len() as u64) as usize];
                // Minutes apart, often the same minute: ties keep arrival order.
                let at = start + (round * 100 + random.next(60) as i64) * 60_000_000;
                let body = serde_json::json!({
                    "event": activity,
                    "properties": {
                        "result": if random.next(3) == 0 { "failed" } else { "ok" },
                        "csat": random.next(5) + 1,
                    }
                });
                let (user_id, anonymous_id) = match (identified, random.next(3)) {
                    (true, 0) => (Some(user.as_str()), Some(anonymous.as_str())),
                    (true, 1) => (Some(user.as_str()), None),
                    _ => (None, Some(anonymous.as_str())),
                };
                batch.push(event(
                    &format!("m{message}"),
                    "track",
                    Some(activity),
                    user_id,
                    anonymous_id,
                    at,
                    body,
                ));
            }
            if round >= 1 && person % 4 == 1 {
                message += 1;
                let plan = ["free", "team", "enterprise"][random.next(3) as usize];
                let (user_id, anonymous_id) = if identified {
                    (Some(user.as_str()), Some(anonymous.as_str()))
                } else {
                    (None, Some(anonymous.as_str()))
                };
                batch.push(event(
                    &format!("m{message}"),
                    "identify",
                    None,
                    user_id,
                    anonymous_id,
                    start + round * 100 * 60_000_000,
                    serde_json::json!({ "traits": { "plan": plan, "seats": random.next(50) } }),
                ));
            }
        }
        // Some events sent again (the sender's retry): the store drops them.
        let again: Vec<NewEvent> = batch.iter().step_by(7).cloned().collect();
        batch.extend(again);
        all.push(batch);
    }
    all
}

/// Each ClickHouse server with each state store (SQLite, and PostgreSQL when the test command
/// started one: its own reading of the facts to forward), named both: (name, URL, store).
fn servers_and_stores() -> Vec<(String, String, Arc<dyn Store>)> {
    let mut all = Vec::new();
    for (server, url) in servers() {
        for (backend, store) in waymark_store::testing::backends() {
            all.push((format!("{server}, {backend}"), url.clone(), store));
        }
    }
    all
}

fn same_figures(name: &str, store: &dyn Store, events: &EventStore) {
    let (log, _) = waymark_store::stored_log(store).expect("the stored log");
    let (stored_events, people) = events.counts().expect("counts");
    assert_eq!(
        (stored_events as usize, people as usize),
        (log.events(), log.cases()),
        "{name}: events and people"
    );
    crate::analyses::same_dfg(name, &log, events, &Filter::default());

    let checked = waymark_journey::check(JOURNEY);
    let journey = checked
        .journey
        .unwrap_or_else(|| panic!("{:?}", checked.diagnostics));
    for options in [
        Options::default(),
        Options {
            by: Some("plan".into()),
            ..Options::default()
        },
    ] {
        let (cut, options) = events.journey_cut(&journey, &options).expect("cut");
        let actual = waymark_analytics::journey::report_of(&journey, &cut, &options)
            .expect("report over ClickHouse");
        let expected =
            waymark_analytics::journey::report(&journey, &log, &options).expect("report");
        assert_eq!(
            format!("{actual:?}"),
            format!("{expected:?}"),
            "{name}: the journey report with {options:?}"
        );
    }
}

#[test]
fn collected_events_forwarded_equal_the_store_s_own_log() {
    for (name, url, store) in servers_and_stores() {
        let name = &name;
        let events = fresh(&url, "forward");
        let mut since = events.forwarded().expect("the cursor");
        assert_eq!(since, Since::default(), "{name}: nothing forwarded yet");
        let mut merges = 0;
        for batch in batches() {
            store.append(batch).expect("append");
            let done = events
                .forward(store.as_ref(), since, true)
                .expect("forward");
            merges += done.merges;
            since = done.since;
            assert_eq!(
                events.forwarded().expect("the cursor"),
                since,
                "{name}: the cursor is kept"
            );
        }
        assert!(merges > 0, "{name}: the events merged no profiles");
        same_figures(name, store.as_ref(), &events);

        // Forwarding everything again (a pass that failed half-way, done again) changes
        // nothing.
        let again = events
            .forward(store.as_ref(), Since::default(), true)
            .expect("forward again");
        assert!(again.events > 0 && again.merges == merges, "{name}");
        same_figures(&format!("{name}, forwarded twice"), store.as_ref(), &events);

        // A person hidden whose rows were not copied yet (a pass that failed between the two)
        // keeps their rows through a purge; the people moved lose theirs, and no figure moves.
        let db = &events.location().database;
        let table = events.on_each_node("events");
        let survivor: String = events
            .per_node_text(&format!(
                "SELECT person FROM {table} WHERE person NOT IN (SELECT person FROM {db}.merged_people) ORDER BY person LIMIT 1"
            ))
            .expect("a person")
            .into_iter()
            .map(|t| t.trim().to_string())
            .find(|t| !t.is_empty())
            .expect("a person");
        let rows_of = |condition: &str| -> u64 {
            events
                .sum_per_node(&format!("SELECT count() FROM {table} WHERE {condition}"))
                .expect("count")
        };
        let kept = format!("person = '{survivor}'");
        let before = rows_of(&kept);
        events
            .execute_everywhere(&format!(
                "INSERT INTO {db}.merged_people (person, moved) VALUES ('{survivor}', 0)"
            ))
            .expect("hide");
        let moved = format!("person IN (SELECT person FROM {db}.merged_people WHERE moved = 1)");
        assert!(rows_of(&moved) > 0, "{name}: rows of merged people");
        events.purge_merged().expect("purge");
        // ClickHouse deletes in the background.
        mutations_done(name, &events);
        assert_eq!(
            rows_of(&moved),
            0,
            "{name}: the merged people's rows were deleted"
        );
        assert_eq!(rows_of(&kept), before, "{name}: a person hidden, not moved");
        events
            .execute_everywhere(&format!(
                "ALTER TABLE {db}.merged_people DELETE WHERE person = '{survivor}'"
            ))
            .expect("shown again");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while events
            .per_node_text(&format!(
                "SELECT count() FROM {db}.merged_people WHERE person = '{survivor}'"
            ))
            .expect("count")
            .iter()
            .any(|t| t.trim() != "0")
        {
            assert!(std::time::Instant::now() < deadline, "{name}: still hidden");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        same_figures(&format!("{name}, purged"), store.as_ref(), &events);
    }
}

/// Waits until ClickHouse has finished every deletion it was given in `events`' database.
fn mutations_done(name: &str, events: &EventStore) {
    let database = &events.location().database;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while events
        .per_node_text(&format!(
            "SELECT count() FROM system.mutations WHERE database = '{database}' AND is_done = 0"
        ))
        .expect("mutations")
        .iter()
        .any(|t| t.trim() != "0")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{name}: the deletions did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Merges chained in one reading (c into b, b into a) move each person to the end of the
/// chain, and a person whose events span 130 years is written and moved a span of years at a
/// time (current ClickHouse refuses an insert over more than 100 yearly partitions).
#[test]
fn chained_merges_and_events_over_many_years_are_forwarded() {
    for (name, url, store) in servers_and_stores() {
        let name = &name;
        let events = fresh(&url, "chains");
        let start = 1_000_000_000_000_000i64; // 2001
        let year = 31_557_600_000_000i64;
        let mut first = Vec::new();
        // Three anonymous people; "anon-c" visits once a year for 130 years (1970 to 2099).
        for (i, who) in ["anon-a", "anon-b"].iter().enumerate() {
            first.push(event(
                &format!("{who}-1"),
                "track",
                Some("Viewed Plans"),
                None,
                Some(who),
                start + i as i64,
                serde_json::json!({ "event": "Viewed Plans", "properties": { "result": "ok" } }),
            ));
        }
        for k in 0..130 {
            first.push(event(
                &format!("anon-c-{k}"),
                "track",
                Some(if k % 2 == 0 { "Called" } else { "Paid" }),
                None,
                Some("anon-c"),
                start + (k - 31) * year + 86_400_000_000,
                serde_json::json!({
                    "event": if k % 2 == 0 { "Called" } else { "Paid" },
                    "properties": { "result": "ok" },
                }),
            ));
        }
        store.append(first).expect("append");
        let done = events
            .forward(store.as_ref(), Since::default(), true)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // One reading holds both merges: c into b (user-1 names both), then b into a.
        let links = vec![
            event(
                "link-1",
                "identify",
                None,
                Some("user-1"),
                Some("anon-b"),
                start + 10,
                serde_json::json!({ "traits": { "plan": "team" } }),
            ),
            event(
                "link-2",
                "identify",
                None,
                Some("user-1"),
                Some("anon-c"),
                start + 11,
                serde_json::json!({ "traits": {} }),
            ),
            event(
                "link-3",
                "identify",
                None,
                Some("user-1"),
                Some("anon-a"),
                start + 12,
                serde_json::json!({ "traits": {} }),
            ),
        ];
        store.append(links).expect("merges");
        let merged = events
            .forward(store.as_ref(), done.since, true)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(merged.merges, 2, "{name}: two merges in one reading");
        same_figures(name, store.as_ref(), &events);
        assert_eq!(
            events.counts().expect("counts"),
            (132, 1),
            "{name}: one person"
        );
        events.purge_merged().expect("purge");
        mutations_done(name, &events);
        same_figures(&format!("{name}, purged"), store.as_ref(), &events);
    }
}

/// A report whose options name a touchpoint the journey does not have is refused with the
/// report's own error before ClickHouse is asked: with the database gone, the wrong options
/// still get that error, and right ones get ClickHouse's refusal.
#[test]
fn options_naming_no_touchpoint_are_refused_before_any_query() {
    let journey = waymark_journey::check(JOURNEY).journey.expect("journey");
    for (name, url) in servers() {
        let events = fresh(&url, "options");
        let wrong = Options {
            funnel: vec!["aply".to_string()],
            ..Options::default()
        };
        let expected =
            waymark_analytics::journey::check(&journey, &wrong).expect_err("an unknown touchpoint");
        events
            .execute_everywhere(&format!("DROP DATABASE {}", events.location().database))
            .expect("drop");
        match events.journey_cut(&journey, &wrong) {
            Err(waymark_clickhouse::Error::Options(unknown)) => {
                assert_eq!(unknown, expected, "{name}")
            }
            Err(other) => panic!("{name}: {other}"),
            Ok(_) => panic!("{name}: cut with an unknown touchpoint"),
        }
        match events.journey_cut(&journey, &Options::default()) {
            Err(waymark_clickhouse::Error::Refused { .. }) => {}
            Err(other) => panic!("{name}: {other}"),
            Ok(_) => panic!("{name}: cut in a database that is gone"),
        }
    }
}

/// A SQLite database in which an older Waymark gave a merged profile's id to a new person is
/// refused: the new person's events would be hidden with the merged one in ClickHouse. The
/// same database before the id was given again is forwarded.
#[test]
fn a_database_that_gave_a_merged_id_again_is_refused() {
    let dir = std::env::temp_dir().join(format!("waymark-reused-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("waymark.db");
    let open = || {
        waymark_store::open(
            &waymark_store::Location::File(path.clone()),
            &waymark_store::Options::default(),
        )
        .expect("open")
    };
    {
        let store = open();
        let track = |id: &str, user: Option<&str>, anonymous: Option<&str>, at: i64| {
            event(
                id,
                "track",
                Some("Visited"),
                user,
                anonymous,
                at,
                serde_json::json!({}),
            )
        };
        // Profiles 1 (a) and 2 (x); x turns out to be a, merging 2 into 1; b is then 3.
        for batch in [
            vec![track("1", Some("a"), None, 1_000)],
            vec![track("2", None, Some("x"), 2_000)],
            vec![track("3", Some("a"), Some("x"), 3_000)],
            vec![track("4", Some("b"), None, 4_000)],
        ] {
            store.append(batch).expect("append");
        }
        let profile = |id: &str| store.profile(id).expect("profile").expect("a profile").id;
        assert_eq!((profile("a"), profile("x"), profile("b")), (1, 1, 3));
        for (name, url) in servers() {
            let events = fresh(&url, "reused");
            events
                .forward(store.as_ref(), Since::default(), false)
                .unwrap_or_else(|error| panic!("{name}: {error}"));
        }
    }
    waymark_store::testing::give_a_merged_id_again(&path, 2, 3).expect("as an older Waymark");
    let store = open();
    for (name, url) in servers() {
        let events = fresh(&url, "reused");
        match events.forward(store.as_ref(), Since::default(), false) {
            Err(waymark_clickhouse::Error::Store { message }) => assert!(
                message.contains(
                    "profile 2 was merged into another and its id then given to a new person"
                ),
                "{name}: {message}"
            ),
            Err(other) => panic!("{name}: {other}"),
            Ok(done) => panic!("{name}: forwarded {done:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
