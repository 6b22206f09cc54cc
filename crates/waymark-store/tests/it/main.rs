//! The SQLite store: exactly-once appends, arrival order, persistence across reopen, hashed keys.

use waymark_store::{KeyKind, NewEvent, SqliteStore, Store};

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
    let store = SqliteStore::open_in_memory().expect("store");
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

/// Concurrent appends share commits (group commit), yet each caller learns exactly what happened
/// to its own events, and nothing is lost or stored twice.
#[test]
fn concurrent_appends_each_get_their_own_outcome() {
    let dir = std::env::temp_dir().join(format!("waymark-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let store = SqliteStore::open(&dir.join("waymark.db")).expect("open");
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
    let store = SqliteStore::open_in_memory().expect("store");
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

#[test]
fn identifier_traits_and_aliases_merge_profiles_transitively() {
    let store = SqliteStore::open_in_memory().expect("store");
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

#[test]
fn duplicates_add_nothing_to_the_trait_history() {
    let store = SqliteStore::open_in_memory().expect("store");
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
