//! The SQLite store: exactly-once appends, arrival order, persistence across reopen, hashed keys.

use waymark_store::prelude::*;
use waymark_store::{KeyKind, NewEvent, SqliteStore};

mod leases;
mod live;
mod workflow;

fn event(id: &str, user: &str, at: i64) -> NewEvent {
    NewEvent {
        message_id: id.to_string(),
        kind: "track".to_string(),
        name: Some("Signed Up".to_string()),
        user_id: Some(user.to_string()),
        anonymous_id: None,
        timestamp_us: at,
        received_us: at + 5,
        body: format!(r#"{{"messageId":"{id}"}}"#),
    }
}

#[test]
fn duplicates_are_dropped_by_message_id_within_and_across_batches() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let first = store
            .append(vec![
                event("a", "u1", 1),
                event("b", "u1", 2),
                event("a", "u1", 3),
            ])
            .expect("append");
        assert_eq!((first.inserted, first.duplicates), (2, 1));
        let second = store
            .append(vec![event("b", "u2", 4), event("c", "u2", 5)])
            .expect("append");
        assert_eq!((second.inserted, second.duplicates), (1, 1));
        assert_eq!(store.count_events().expect("count"), 3);
        let stored = store.events_after(0, 10).expect("read");
        let ids: Vec<&str> = stored.iter().map(|s| s.event.message_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"], "arrival order");
        assert_eq!(
            stored[0].event,
            event("a", "u1", 1),
            "the first copy is the one kept"
        );
        assert_eq!(
            store.events_after(stored[1].seq, 10).expect("page").len(),
            1
        );
    }
}

/// Concurrent appends share commits (group commit), yet each caller learns exactly what happened
/// to its own events, and nothing is lost or stored twice.
#[test]
fn concurrent_appends_each_get_their_own_outcome() {
    let dir = std::env::temp_dir().join(format!("waymark-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let mut stores: Vec<(&str, std::sync::Arc<dyn Store>)> = vec![(
        "sqlite",
        std::sync::Arc::new(SqliteStore::open(&dir.join("waymark.db")).expect("open")),
    )];
    stores.extend(
        waymark_store::testing::backends()
            .into_iter()
            .filter(|(name, _)| *name == "postgres"),
    );
    for (backend, store) in stores {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let outcomes: Vec<(usize, usize)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|thread| {
                    let store = &store;
                    scope.spawn(move || {
                        let mut mine = (0, 0);
                        for round in 0..50 {
                            // Each batch has 3 events of its own and one shared by every thread.
                            let batch = vec![
                                event(&format!("t{thread}-r{round}-a"), "u1", round),
                                event(&format!("t{thread}-r{round}-b"), "u2", round),
                                event(&format!("t{thread}-r{round}-a"), "u1", round),
                                event(&format!("shared-{round}"), "u3", round),
                            ];
                            let appended = store.append(batch).expect("append");
                            mine.0 += appended.inserted;
                            mine.1 += appended.duplicates;
                        }
                        mine
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("thread"))
                .collect()
        });
        for (inserted, duplicates) in &outcomes {
            assert_eq!(inserted + duplicates, 200, "every event is accounted for");
            assert!(
                *duplicates >= 50,
                "the in-batch repeat is always a duplicate"
            );
        }
        let inserted: usize = outcomes.iter().map(|o| o.0).sum();
        assert_eq!(
            inserted,
            8 * 50 * 2 + 50,
            "each shared event is stored once"
        );
        assert_eq!(store.count_events().expect("count"), inserted as u64);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn events_and_keys_survive_reopening_and_keys_are_stored_hashed() {
    let dir = std::env::temp_dir().join(format!("waymark-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("waymark.db");
    {
        let store = SqliteStore::open(&path).expect("open");
        store.append(vec![event("a", "u1", 1)]).expect("append");
        store
            .ensure_key(KeyKind::Write, "wk_secret-123")
            .expect("key");
        store
            .ensure_key(KeyKind::Admin, "admin-token")
            .expect("key");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    assert_eq!(store.count_events().expect("count"), 1);
    assert_eq!(
        store.key_kind("wk_secret-123").expect("kind"),
        Some(KeyKind::Write)
    );
    assert_eq!(
        store.key_kind("admin-token").expect("kind"),
        Some(KeyKind::Admin)
    );
    assert_eq!(store.key_kind("guess").expect("kind"), None);
    drop(store);
    let bytes = std::fs::read(&path).expect("db file");
    let wal = std::fs::read(dir.join("waymark.db-wal")).unwrap_or_default();
    for haystack in [&bytes, &wal] {
        assert!(
            !haystack.windows(13).any(|w| w == b"wk_secret-123"),
            "tokens are never stored in clear"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn call(
    id: &str,
    kind: &str,
    user: Option<&str>,
    anonymous: Option<&str>,
    at: i64,
    body: serde_json::Value,
) -> NewEvent {
    let mut body = body;
    body["type"] = kind.into();
    NewEvent {
        message_id: id.to_string(),
        kind: kind.to_string(),
        name: body
            .get("event")
            .or(body.get("name"))
            .and_then(|v| v.as_str())
            .map(str::to_string),
        user_id: user.map(str::to_string),
        anonymous_id: anonymous.map(str::to_string),
        timestamp_us: at,
        received_us: at,
        body: body.to_string(),
    }
}

#[test]
fn anonymous_visits_join_the_profile_once_identified() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        store
            .append(vec![
                call(
                    "1",
                    "page",
                    None,
                    Some("anon-1"),
                    10,
                    serde_json::json!({"name": "Pricing"}),
                ),
                call(
                    "2",
                    "page",
                    None,
                    Some("anon-1"),
                    20,
                    serde_json::json!({"name": "Signup"}),
                ),
                call(
                    "3",
                    "identify",
                    Some("u1"),
                    Some("anon-1"),
                    30,
                    serde_json::json!({"traits": {"email": "Jen@Example.com", "plan": "free"}}),
                ),
                call(
                    "4",
                    "track",
                    Some("u1"),
                    None,
                    40,
                    serde_json::json!({"event": "Order Completed", "channel": "app"}),
                ),
                call(
                    "5",
                    "identify",
                    Some("u1"),
                    None,
                    50,
                    serde_json::json!({"traits": {"plan": "gold"}}),
                ),
            ])
            .expect("append");
        let profile = store.profile("u1").expect("profile").expect("exists");
        assert_eq!(
            profile.identifiers,
            ["anon:anon-1", "user:u1", "email:jen@example.com"],
            "in the order first seen"
        );
        assert_eq!(profile.events, 5);
        assert_eq!((profile.first_seen_us, profile.last_seen_us), (10, 50));
        assert_eq!(profile.traits["plan"], "\"gold\"", "latest value wins");
        assert_eq!(
            profile
                .trait_history
                .iter()
                .filter(|(n, _, _)| n == "plan")
                .count(),
            2,
            "history kept"
        );
        assert_eq!(profile.channels["web"], 2);
        assert_eq!(profile.channels["app"], 1);
        assert_eq!(profile.event_counts["Pricing"], 1);
        for identifier in ["anon-1", "jen@example.com", " JEN@example.COM", "user:u1"] {
            assert_eq!(
                store.profile(identifier).expect("profile").map(|p| p.id),
                Some(profile.id),
                "{identifier}"
            );
        }
        let timeline = store
            .timeline("anon-1", None, 3)
            .expect("timeline")
            .expect("exists");
        let ids: Vec<&str> = timeline
            .iter()
            .map(|e| e.event.message_id.as_str())
            .collect();
        assert_eq!(ids, ["5", "4", "3"], "newest first, paged");
        let next = store
            .timeline("anon-1", Some(timeline[2].seq), 10)
            .expect("timeline")
            .expect("exists");
        assert_eq!(
            next.iter()
                .map(|e| e.event.message_id.as_str())
                .collect::<Vec<_>>(),
            ["2", "1"]
        );
        assert!(store.profile("nobody").expect("profile").is_none());
    }
}

#[test]
fn identifier_traits_and_aliases_merge_profiles_transitively() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        store
            .append(vec![
                call(
                    "1",
                    "track",
                    Some("web-7"),
                    None,
                    1,
                    serde_json::json!({"event": "A"}),
                ),
                call(
                    "2",
                    "identify",
                    Some("crm-42"),
                    None,
                    2,
                    serde_json::json!({"traits": {"phone": "+31 6 1234 5678"}}),
                ),
                call(
                    "3",
                    "track",
                    None,
                    Some("device-9"),
                    3,
                    serde_json::json!({"event": "B"}),
                ),
                // web-7 and crm-42 share an email; device-9 is aliased to crm-42's phone-identified user.
                call(
                    "4",
                    "identify",
                    Some("web-7"),
                    None,
                    4,
                    serde_json::json!({"traits": {"email": "a@b.c"}}),
                ),
                call(
                    "5",
                    "identify",
                    Some("crm-42"),
                    None,
                    5,
                    serde_json::json!({"traits": {"email": "A@B.C"}}),
                ),
                call(
                    "6",
                    "alias",
                    Some("crm-42"),
                    None,
                    6,
                    serde_json::json!({"previousId": "device-9"}),
                ),
            ])
            .expect("append");
        let profile = store.profile("device-9").expect("profile").expect("exists");
        for identifier in ["web-7", "crm-42", "+31612345678", "a@b.c"] {
            assert_eq!(
                store.profile(identifier).expect("p").map(|p| p.id),
                Some(profile.id),
                "{identifier}"
            );
        }
        assert_eq!(profile.events, 6);
        let found = store.search_profiles("email", "a@b.c").expect("search");
        assert_eq!(found.iter().map(|p| p.id).collect::<Vec<_>>(), [profile.id]);
        assert!(
            store
                .search_profiles("email", "nobody@b.c")
                .expect("search")
                .is_empty()
        );
    }
}

#[test]
fn duplicates_add_nothing_to_the_trait_history() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let identify = call(
            "1",
            "identify",
            Some("u1"),
            None,
            1,
            serde_json::json!({"traits": {"plan": "a"}}),
        );
        store
            .append(vec![identify.clone(), identify])
            .expect("append");
        let profile = store.profile("u1").expect("p").expect("exists");
        assert_eq!(profile.trait_history.len(), 1);
    }
}

fn csv_log(text: &str) -> waymark_eventlog::EventLog {
    waymark_eventlog::read(
        text.as_bytes(),
        waymark_eventlog::Format::Csv,
        &waymark_eventlog::ReadOptions::default(),
    )
    .expect("csv")
    .log
}

fn case_events(log: &waymark_eventlog::EventLog) -> Vec<(String, Vec<(String, i64)>)> {
    log.iter_cases()
        .map(|case| {
            (
                case.name().to_string(),
                case.events()
                    .map(|e| {
                        (
                            log.resolve(log.activity_column()[e]).to_string(),
                            log.time_column()[e],
                        )
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Imported cases are kept as blocks; importing a later export of the same log (a case grew, a
/// case is new) adds only what is new, and the stored events read back as the cases they were.
#[test]
fn reimporting_a_grown_log_adds_only_the_new_events() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let first = csv_log(
            "case,activity,timestamp,resource\n\
             c1,Apply,2024-01-01T10:00:00Z,ann\n\
             c1,Check,2024-01-02T10:00:00Z,bob\n\
             c2,Apply,2024-01-03T10:00:00Z,ann\n",
        );
        let appended = waymark_store::import_log(store, &first, |_| {}).expect("import");
        assert_eq!((appended.inserted, appended.duplicates), (3, 0));
        let grown = csv_log(
            "case,activity,timestamp,resource\n\
             c1,Apply,2024-01-01T10:00:00Z,ann\n\
             c1,Check,2024-01-02T10:00:00Z,bob\n\
             c1,Approve,2024-01-04T10:00:00Z,cat\n\
             c2,Apply,2024-01-03T10:00:00Z,ann\n\
             c3,Apply,2024-01-05T10:00:00Z,dan\n",
        );
        let appended = waymark_store::import_log(store, &grown, |_| {}).expect("import");
        assert_eq!((appended.inserted, appended.duplicates), (2, 3));
        assert_eq!(store.count_events().expect("count"), 5);
        let (stored, skipped) = waymark_store::stored_log(store).expect("log");
        assert_eq!(skipped, 0);
        let mut expected = case_events(&grown);
        let mut actual = case_events(&stored);
        expected.sort();
        actual.sort();
        assert_eq!(actual, expected);
        let again = waymark_store::import_log(store, &grown, |_| {}).expect("import");
        assert_eq!((again.inserted, again.duplicates), (0, 5));
        // Properties survive the round trip.
        let timeline = store
            .timeline("c1", None, 10)
            .expect("timeline")
            .expect("c1");
        let newest = &timeline[0];
        assert_eq!(newest.event.name.as_deref(), Some("Approve"));
        let json = newest.to_json();
        assert_eq!(json["properties"]["resource"], "cat");
        assert_eq!(json["type"], "track");
        assert_eq!(json["userId"], "c1");
        assert!(
            json["messageId"]
                .as_str()
                .is_some_and(|id| id.starts_with("import-")),
            "{json:?}"
        );
    }
}

/// A person's timeline interleaves collected and imported events, newest first, and pages
/// through both with one cursor; the profile counts both.
#[test]
fn timelines_page_through_collected_and_imported_events() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let log = csv_log(
            "case,activity,timestamp\n\
             jen,Request,2024-01-01T00:00:01Z\n\
             jen,Approve,2024-01-01T00:00:03Z\n\
             jen,Pay,2024-01-01T00:00:05Z\n",
        );
        waymark_store::import_log(store, &log, |_| {}).expect("import");
        store
            .append(vec![
                event("live-1", "jen", 2_000_000 + 1_704_067_200_000_000),
                event("live-2", "jen", 4_000_000 + 1_704_067_200_000_000),
                // Same time as an imported event: the order is still total.
                event("live-3", "jen", 5_000_000 + 1_704_067_200_000_000),
            ])
            .expect("append");
        let mut pages = Vec::new();
        let mut before = None;
        loop {
            let page = store
                .timeline("jen", before, 2)
                .expect("page")
                .expect("jen");
            let Some(last) = page.last() else { break };
            before = Some(last.seq);
            pages.extend(page);
        }
        let seen: Vec<(i64, String)> = pages
            .iter()
            .map(|e| {
                (
                    (e.event.timestamp_us - 1_704_067_200_000_000) / 1_000_000,
                    e.event.name.clone().unwrap_or_default(),
                )
            })
            .collect();
        let names: Vec<(i64, &str)> = seen.iter().map(|(t, n)| (*t, n.as_str())).collect();
        assert_eq!(
            names,
            [
                (5, "Signed Up"),
                (5, "Pay"),
                (4, "Signed Up"),
                (3, "Approve"),
                (2, "Signed Up"),
                (1, "Request")
            ],
            "newest first, every event once"
        );
        assert!(
            pages.iter().filter(|e| e.seq < 0).count() == 3,
            "imported events have negative seqs"
        );
        let profile = store.profile("jen").expect("profile").expect("jen");
        assert_eq!(profile.events, 6);
        assert_eq!(profile.event_counts.get("Pay"), Some(&1));
        assert_eq!(
            (profile.first_seen_us, profile.last_seen_us),
            (1_704_067_201_000_000, 1_704_067_205_000_000)
        );
    }
}

/// A case longer than one block takes several; all its events come back, each once.
#[test]
fn long_cases_span_several_blocks() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let events = waymark_store::BLOCK_EVENTS * 2 + 17;
        let mut text = String::from("case,activity,timestamp\n");
        for i in 0..events {
            text.push_str(&format!(
                "long,Step {},{}\n",
                i % 7,
                waymark_eventlog::time::format_micros(1_700_000_000_000_000 + i as i64 * 1_000_000)
            ));
        }
        let log = csv_log(&text);
        let appended = waymark_store::import_log(store, &log, |_| {}).expect("import");
        assert_eq!(appended.inserted, events);
        let blocks = store.traces_after(0, 100).expect("blocks");
        assert_eq!(blocks.len(), 3);
        let mut seqs: Vec<i64> = blocks
            .iter()
            .flat_map(|b| b.events.iter().map(|e| e.seq))
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        assert_eq!(seqs.len(), events, "every imported event has its own seq");
        let again = waymark_store::import_log(store, &log, |_| {}).expect("import");
        assert_eq!((again.inserted, again.duplicates), (0, events));
        let (stored, _) = waymark_store::stored_log(store).expect("log");
        assert_eq!(case_events(&stored), case_events(&log));
    }
}

/// A log read with only some attributes has the same cases, events, activities and times, and
/// of the properties only those asked for.
#[test]
fn stored_logs_can_leave_attributes_unread() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let log = csv_log(
            "case,activity,timestamp,channel,amount\n\
             a,Open,2024-01-01T10:00:00Z,web,12\n\
             a,Close,2024-01-01T11:00:00Z,phone,\n\
             b,Open,2024-01-02T10:00:00Z,app,7.5\n",
        );
        waymark_store::import_log(store, &log, |_| {}).expect("import");
        let (whole, _) = waymark_store::stored_log(store).expect("log");
        let keep = waymark_store::Keep::only(["amount"]);
        let (some, _) = waymark_store::stored_log_keeping(store, &keep).expect("log");
        assert_eq!(case_events(&some), case_events(&whole));
        let keys = |log: &waymark_eventlog::EventLog| {
            let mut keys: Vec<String> = (0..log.events())
                .flat_map(|e| {
                    log.event_attributes(e)
                        .iter()
                        .map(|a| log.resolve(a.key).to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            keys.sort();
            keys.dedup();
            keys
        };
        assert!(keys(&whole).contains(&"channel".to_string()));
        // The activity and the time are the log's columns; as attributes they are asked for too.
        assert_eq!(keys(&some), ["amount"]);
        let amounts: Vec<String> = (0..some.events())
            .filter_map(|e| {
                some.event_attributes(e)
                    .iter()
                    .find(|a| some.resolve(a.key) == "amount")
                    .map(|a| some.value_text(&a.value))
            })
            .collect();
        assert_eq!(amounts, ["12.0", "7.5"], "the column reads as decimals");
    }
}

fn shared_log(name: &str) -> std::path::PathBuf {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
        });
    let path = root.join("data/logs").join(name);
    assert!(
        path.is_file(),
        "the shared test data is missing at {}",
        path.display()
    );
    path
}

/// An XES file is stored a piece at a time while it is read. A broken file keeps the pieces
/// before the error, and importing the whole file afterwards adds exactly the rest.
#[test]
fn a_broken_file_keeps_what_came_before_and_the_mended_file_adds_the_rest() {
    let text = std::fs::read_to_string(shared_log("roadtraffic100traces.xes")).expect("xes");
    let options = waymark_eventlog::ReadOptions::default();
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let cut = &text[..text.len() * 2 / 3];
        let error = waymark_store::import_pieces(
            store,
            |piece| {
                waymark_eventlog::xes::read_pieces_parallel(
                    cut.as_bytes(),
                    &options,
                    4 << 10,
                    2,
                    piece,
                )
            },
            |_| {},
        )
        .expect_err("truncated");
        let waymark_store::ImportError::Read { error, before } = error else {
            panic!("a read error, not {error}");
        };
        assert!(
            error.place.is_some_and(|p| p.line > 1),
            "the error names its place: {error}"
        );
        assert!(before.inserted > 0, "pieces before the error are stored");
        assert_eq!(store.count_events().expect("count"), before.inserted as u64);
        let whole = waymark_store::import_pieces(
            store,
            |piece| {
                waymark_eventlog::xes::read_pieces_parallel(
                    text.as_bytes(),
                    &options,
                    4 << 10,
                    2,
                    piece,
                )
            },
            |_| {},
        )
        .expect("import");
        let log = waymark_eventlog::xes::read_sequential(text.as_bytes(), &options)
            .expect("xes")
            .log;
        assert_eq!((whole.events, whole.cases), (log.events(), log.cases()));
        assert_eq!(
            (whole.inserted, whole.duplicates),
            (log.events() - before.inserted, before.inserted)
        );
        let (stored, _) = waymark_store::stored_log(store).expect("stored");
        let mut expected = case_events(&log);
        let mut actual = case_events(&stored);
        expected.sort();
        actual.sort();
        assert_eq!(actual, expected);
    }
}

/// Two XES traces with the same name in different pieces are one case, as when the file is read
/// whole: identical events in them are both kept, and importing the file again adds nothing.
#[test]
fn a_trace_name_repeated_in_a_later_piece_continues_its_case() {
    let trace = |name: &str| {
        format!(
            r#"<trace><string key="concept:name" value="{name}"/><event><string key="concept:name" value="Call"/><date key="time:timestamp" value="2024-01-01T10:00:00Z"/></event></trace>"#
        )
    };
    let xes = format!("<log>{}{}{}</log>", trace("a"), trace("b"), trace("a"));
    let options = waymark_eventlog::ReadOptions::default();
    let import = |store: &dyn Store| {
        waymark_store::import_pieces(
            store,
            |piece| {
                waymark_eventlog::xes::read_pieces_parallel(xes.as_bytes(), &options, 64, 2, piece)
            },
            |_| {},
        )
        .expect("import")
    };
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let first = import(store);
        assert_eq!((first.events, first.cases), (3, 2));
        assert_eq!((first.inserted, first.duplicates), (3, 0));
        assert!(
            store.traces_after(0, 10).expect("blocks").len() >= 3,
            "three pieces"
        );
        let again = import(store);
        assert_eq!((again.inserted, again.duplicates), (0, 3));
        let timeline = store.timeline("a", None, 10).expect("timeline").expect("a");
        assert_eq!(timeline.len(), 2);
    }
}

/// Two nodes merging the same people at once: aliases and identifies linking one set of ids are
/// sent to two stores on one PostgreSQL database (on SQLite, to one store from two threads). In
/// the end every identifier is in one profile, no merged profile is left behind, and every
/// event reads back under that person.
#[test]
fn concurrent_merges_on_two_nodes_leave_one_person() {
    let mut setups: Vec<(&str, Vec<std::sync::Arc<dyn Store>>)> = vec![(
        "sqlite",
        vec![waymark_store::open_in_memory().expect("sqlite")],
    )];
    if let Some(url) = waymark_store::testing::fresh_postgres() {
        let location = waymark_store::Location::Postgres(url);
        let node = || waymark_store::open(&location, &Default::default()).expect("a node");
        setups.push(("postgres", vec![node(), node()]));
    }
    for (backend, nodes) in setups {
        eprintln!("on {backend}");
        for person in 0..20 {
            // Each person: four anonymous devices, linked to the user id by each node at once,
            // and by an email both nodes see.
            std::thread::scope(|scope| {
                for n in 0..2 {
                    let node = nodes[n % nodes.len()].clone();
                    scope.spawn(move || {
                        let mut calls = Vec::new();
                        for device in 0..4 {
                            let anon = format!("p{person}-d{device}");
                            calls.push(call(
                                &format!("p{person}-n{n}-visit{device}"),
                                "page",
                                None,
                                Some(&anon),
                                device,
                                serde_json::json!({"name": "Pricing"}),
                            ));
                            if device % 2 == n as i64 {
                                calls.push(call(
                                    &format!("p{person}-n{n}-alias{device}"),
                                    "alias",
                                    Some(&format!("user-{person}")),
                                    None,
                                    10 + device,
                                    serde_json::json!({"previousId": anon}),
                                ));
                            }
                        }
                        calls.push(call(
                            &format!("p{person}-n{n}-identify"),
                            "identify",
                            Some(&format!("crm-{person}-{n}")),
                            None,
                            20,
                            serde_json::json!({"traits": {"email": format!("p{person}@example.com")}}),
                        ));
                        calls.push(call(
                            &format!("p{person}-n{n}-link"),
                            "identify",
                            Some(&format!("user-{person}")),
                            None,
                            21,
                            serde_json::json!({"traits": {"email": format!("P{person}@Example.com")}}),
                        ));
                        for call in calls {
                            node.append(vec![call]).expect("append");
                        }
                    });
                }
            });
        }
        let store = nodes[0].as_ref();
        for person in 0..20 {
            let profile = store
                .profile(&format!("user-{person}"))
                .expect("profile")
                .expect("the person");
            for identifier in (0..4)
                .map(|d| format!("p{person}-d{d}"))
                .chain((0..2).map(|n| format!("crm-{person}-{n}")))
                .chain([format!("p{person}@example.com")])
            {
                assert_eq!(
                    store.profile(&identifier).expect("profile").map(|p| p.id),
                    Some(profile.id),
                    "{identifier} is person {person}"
                );
            }
            assert_eq!(profile.events, 16, "every event of person {person}, once");
        }
        assert_eq!(
            store
                .search_profiles("email", "p7@example.com")
                .expect("search")
                .len(),
            1,
            "no profile left behind"
        );
    }
}
