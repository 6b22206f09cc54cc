//! The schema: created on every node, migrated once, a newer one refused.

use waymark_clickhouse::{Error, EventStore, VERSION};

use crate::{fresh, servers};

#[test]
fn the_schema_is_made_once_and_a_newer_one_is_refused() {
    for (name, url) in servers() {
        let store = fresh(&url, "schema");
        // Opening again finds the schema current and changes nothing.
        let again = EventStore::open(store.location()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again.counts().expect("counts"), (0, 0), "{name}");
        assert!(!store.server_version().expect("version").is_empty());
        // A database written by a newer Waymark is refused, naming both versions.
        store
            .execute_everywhere(&format!(
                "INSERT INTO {}.waymark_schema VALUES ({}, now())",
                store.location().database,
                VERSION + 1
            ))
            .expect("a newer version");
        match EventStore::open(store.location()) {
            Err(Error::Newer { found, known, .. }) => {
                assert_eq!((found, known), (VERSION + 1, VERSION), "{name}");
            }
            other => panic!("{name}: a newer schema was not refused: {other:?}"),
        }
    }
}

/// On the 18.16 shards (whose `waymark` user has the password `test-secret`, see
/// `scripts/clickhouse`): the right password opens the store, a wrong one is refused by the
/// server, and neither password is in the error.
#[test]
fn a_user_s_password_is_sent_and_never_shown() {
    for (name, url) in servers() {
        if !url.contains("cluster=") {
            // chdb's HTTP node (a test shim) has no users.
            continue;
        }
        let store = fresh(&url, "auth");
        let mut location = store.location().clone();
        location.user = Some("waymark".into());
        location.password = Some("test-secret".into());
        let opened = EventStore::open(&location).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(opened.counts().expect("counts"), (0, 0), "{name}");
        assert!(location.to_string().contains("waymark:***@"));
        location.password = Some("wrong-secret".into());
        let refused = EventStore::open(&location).expect_err("a wrong password");
        let text = format!("{refused} {refused:?}");
        assert!(matches!(refused, Error::Refused { .. }), "{name}: {text}");
        assert!(
            !text.contains("wrong-secret") && !text.contains("test-secret"),
            "{text}"
        );
    }
}
