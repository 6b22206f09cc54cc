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
