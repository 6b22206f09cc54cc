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
        .append(&[
            event("a", "u1", 1),
            event("b", "u1", 2),
            event("a", "u1", 3),
        ])
        .expect("append");
    assert_eq!((first.inserted, first.duplicates), (2, 1));
    let second = store
        .append(&[event("b", "u2", 4), event("c", "u2", 5)])
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

#[test]
fn events_and_keys_survive_reopening_and_keys_are_stored_hashed() {
    let dir = std::env::temp_dir().join(format!("waymark-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("waymark.db");
    {
        let store = SqliteStore::open(&path).expect("open");
        store.append(&[event("a", "u1", 1)]).expect("append");
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
