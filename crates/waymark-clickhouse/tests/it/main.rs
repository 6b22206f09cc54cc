//! The ClickHouse event store on real servers: Debian's ClickHouse 18.16 as two shards behind
//! Distributed tables (`WAYMARK_TEST_CLICKHOUSE`), and current ClickHouse through chdb
//! (`WAYMARK_TEST_CHDB`), both started by `scripts/test`. Every statement Waymark sends runs on
//! both, and every result must equal the embedded engine's on the same events.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use waymark_clickhouse::{EventStore, Location};
use waymark_eventlog::{EventLog, ReadOptions};

mod analyses;
mod forward;
mod schema;

/// The servers to test on, by name: both, unless a variable is missing outside CI.
fn servers() -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for (name, variable) in [
        ("ClickHouse 18.16, two shards", "WAYMARK_TEST_CLICKHOUSE"),
        ("chdb", "WAYMARK_TEST_CHDB"),
    ] {
        match std::env::var(variable) {
            Ok(url) if !url.is_empty() => found.push((name, url)),
            _ if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("{variable} is not set: scripts/test starts the servers")
            }
            _ => eprintln!("{variable} is not set; skipping {name} (set it, or run scripts/test)"),
        }
    }
    found
}

/// A fresh database on the server at `url`, named after the test.
fn fresh(url: &str, test: &str) -> EventStore {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let database = format!(
        "t_{test}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let base = base.trim_end_matches('/');
    let location = Location::parse(&format!("{base}/{database}{query}")).expect("test URL");
    EventStore::open(&location).unwrap_or_else(|error| panic!("{error}"))
}

fn shared_data() -> PathBuf {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let data = root.join("data");
    assert!(
        data.is_dir(),
        "the shared test data is missing at {}",
        data.display()
    );
    data
}

fn shared_log(name: &str) -> EventLog {
    let path = shared_data().join("logs").join(name);
    waymark_eventlog::read_path(&path, None, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .log
}

const SHARED_LOGS: &[&str] = &[
    "running-example.xes",
    "roadtraffic100traces.xes",
    "08_receipt.xes.gz",
    "helpdesk.xes.gz",
    "sepsis_eventdataR.csv",
    "bpic2012.xes.gz",
];
