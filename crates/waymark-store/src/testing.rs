//! Help for tests of Waymark's crates, on every backend (not part of the product's interface).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Location, Options, Store};

/// A fresh, empty PostgreSQL database's URL; `None` (said on stderr) when no server was given
/// outside CI.
pub fn fresh_postgres() -> Option<String> {
    let Ok(admin) = std::env::var("WAYMARK_TEST_POSTGRES") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "WAYMARK_TEST_POSTGRES is not set: CI runs the storage suite on PostgreSQL (scripts/test starts one)"
        );
        eprintln!("WAYMARK_TEST_POSTGRES is not set: the PostgreSQL half of this test did not run");
        return None;
    };
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let name = format!(
        "waymark_t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .expect("the test PostgreSQL answers");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("a database for the test");
    });
    let (base, _) = admin.rsplit_once('/').expect("a URL with a database");
    Some(format!("{base}/{name}"))
}

/// Every backend to test on, by name: SQLite in memory, and PostgreSQL (a fresh database) when
/// the test command started one.
pub fn backends() -> Vec<(&'static str, Arc<dyn Store>)> {
    let mut all: Vec<(&'static str, Arc<dyn Store>)> =
        vec![("sqlite", crate::open_in_memory().expect("SQLite in memory"))];
    if let Some(url) = fresh_postgres() {
        all.push((
            "postgres",
            crate::open(&Location::Postgres(url), &Options::default()).expect("open PostgreSQL"),
        ));
    }
    all
}

/// Leaves the closed SQLite database at `path` as a Waymark before 2026-12 could: profile
/// `profile` renumbered `merged`, the id of a profile merged away earlier (SQLite gave the
/// largest id again once its profile was merged away). Only for tests of what refuses such a
/// database.
pub fn give_a_merged_id_again(
    path: &std::path::Path,
    merged: i64,
    profile: i64,
) -> Result<(), crate::StoreError> {
    let connection = rusqlite::Connection::open(path)?;
    connection.execute_batch(&format!(
        "UPDATE profiles SET id = {merged} WHERE id = {profile};
         UPDATE identities SET profile_id = {merged} WHERE profile_id = {profile};
         UPDATE profile_traits SET profile_id = {merged} WHERE profile_id = {profile};"
    ))?;
    Ok(())
}
