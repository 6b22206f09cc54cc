//! Real client libraries send to a real server: Segment's and RudderStack's Python libraries and
//! Segment's Node library, unchanged. `scripts/test` installs them and sets `WAYMARK_PYTHON` and
//! `WAYMARK_NODE_MODULES`; in CI a missing one fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::serve::{KEY, start};
use super::temp_dir;

pub(super) fn required(variable: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(value) => Some(value),
        Err(_) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "{variable} is not set: CI must run the real client libraries (scripts/test installs them)"
            )
        }
        Err(_) => {
            eprintln!(
                "NOT RUN: set {variable} (scripts/test does) to run the real client libraries"
            );
            None
        }
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// (kind, name, userId or anonymousId) → the stored body.
fn stored(db: &Path) -> Vec<(String, Option<String>, String, Value)> {
    let store = waymark_store::open(&waymark_store::Location::from(db), &Default::default())
        .expect("store");
    store
        .events_after(0, 1000)
        .expect("events")
        .into_iter()
        .map(|s| {
            let who = s
                .event
                .user_id
                .clone()
                .or(s.event.anonymous_id.clone())
                .unwrap_or_default();
            (
                s.event.kind,
                s.event.name,
                who,
                serde_json::from_str(&s.event.body).expect("json"),
            )
        })
        .collect()
}

fn find<'a>(
    events: &'a [(String, Option<String>, String, Value)],
    kind: &str,
    who: &str,
) -> &'a Value {
    &events
        .iter()
        .find(|(k, _, w, _)| k == kind && w == who)
        .unwrap_or_else(|| panic!("no {kind} from {who} among {events:?}"))
        .3
}

/// Starts a server, runs `client` (program, script, then the server URL and write key as
/// arguments), stops the server, and returns what it stored.
fn run_client(name: &str, mut client: Command) -> Vec<(String, Option<String>, String, Value)> {
    let dir = temp_dir(name);
    let db = dir.join("waymark.db");
    let (mut server, url) = start(&db);
    let output = client.args([&url, KEY]).output().expect("run the client");
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    stored(&db)
}

#[test]
fn segment_and_rudderstack_python_libraries() {
    let Some(python) = required("WAYMARK_PYTHON") else {
        return;
    };
    let mut client = Command::new(python);
    client.arg(script("python_clients.py"));
    let events = run_client("python-clients", client);
    assert_eq!(events.len(), 8, "{events:?}");
    let order = find(&events, "track", "py-user");
    assert_eq!(order["event"], "Order Completed");
    assert_eq!(order["properties"]["total"], 12.5);
    assert!(
        order["messageId"].is_string() && order["context"]["library"]["name"].is_string(),
        "{order}"
    );
    assert_eq!(
        find(&events, "identify", "py-user")["traits"]["email"],
        "jennifer@example.com"
    );
    assert_eq!(
        find(&events, "page", "py-anon")["properties"]["path"],
        "/pricing"
    );
    assert_eq!(find(&events, "alias", "py-user")["previousId"], "py-anon");
    assert_eq!(find(&events, "group", "py-user")["groupId"], "acme");
    assert_eq!(find(&events, "screen", "py-user")["name"], "Home");
    assert_eq!(
        find(&events, "track", "rudder-user")["properties"]["channel"],
        "app"
    );
    // RudderStack sends identify traits in `context.traits`.
    let rudder = find(&events, "identify", "rudder-user");
    assert_eq!(
        rudder["context"]["traits"]["phone"], "+31 6 1234 5678",
        "{rudder}"
    );
}

#[test]
fn segment_node_library() {
    let Some(modules) = required("WAYMARK_NODE_MODULES") else {
        return;
    };
    let mut client = Command::new("node");
    client
        .arg(script("node_client.cjs"))
        .env("NODE_PATH", modules);
    let events = run_client("node-client", client);
    assert_eq!(events.len(), 3, "{events:?}");
    let track = find(&events, "track", "node-user");
    assert_eq!(
        (
            track["event"].as_str(),
            track["properties"]["items"].as_i64()
        ),
        (Some("Node Event"), Some(3))
    );
    assert!(
        track["context"]["library"]["name"]
            .as_str()
            .is_some_and(|n| n.contains("analytics-node")),
        "{track}"
    );
    assert_eq!(
        find(&events, "identify", "node-user")["traits"]["email"],
        "node@example.com"
    );
    assert_eq!(find(&events, "page", "node-anon")["name"], "Docs");
}

/// `waymark openapi` prints the document the server serves, and a real OpenAPI validator
/// (openapi-spec-validator, PyPI) accepts it.
#[test]
fn the_openapi_document_passes_a_real_validator() {
    let Some(python) = required("WAYMARK_PYTHON") else {
        return;
    };
    let output = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .arg("openapi")
        .output()
        .expect("run waymark openapi");
    assert!(output.status.success());
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(
        printed,
        serde_json::to_value(waymark_server::openapi()).expect("document"),
        "the CLI prints what the server serves"
    );
    let path = temp_dir("openapi").join("openapi.json");
    std::fs::write(&path, &output.stdout).expect("write");
    let check = Command::new(python)
        .args([
            "-c",
            "import json, sys\nfrom openapi_spec_validator import validate\nvalidate(json.load(open(sys.argv[1])))\nprint('valid')",
        ])
        .arg(&path)
        .output()
        .expect("run the validator");
    assert!(
        check.status.success() && String::from_utf8_lossy(&check.stdout).contains("valid"),
        "the validator refused the document: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}
