//! `waymark serve` as a real process: acknowledged means durable, even when killed with SIGKILL.

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;

use super::temp_dir;

pub(super) const KEY: &str = "wk_crash_test";

/// Runs `waymark ARGS --db DB` and reads its banner up to the line `last` accepts. Returns the
/// child, the URL its first line ends with, and the banner.
pub(super) fn launch(
    args: &[&str],
    db: impl AsRef<std::ffi::OsStr>,
    last: impl Fn(&str) -> bool,
) -> (Child, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(args)
        .arg("--db")
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start waymark");
    let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut banner = Vec::new();
    for line in lines.map_while(Result::ok) {
        let done = last(&line);
        banner.push(line);
        if done {
            break;
        }
    }
    let url = banner
        .first()
        .and_then(|l| l.trim().rsplit(' ').next())
        .expect("url")
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{banner:?}");
    (child, url, banner)
}

/// Starts `waymark serve` on a free port; returns the child and its base URL.
pub(super) fn start(db: &std::path::Path) -> (Child, String) {
    let args = ["serve", "--listen", "127.0.0.1:0", "--write-key", KEY];
    let (child, url, _) = launch(&args, db, |_| true);
    (child, url)
}

fn batch(url: &str, ids: &[String]) -> bool {
    let events: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| serde_json::json!({"type": "track", "userId": "crash", "event": "Load", "messageId": id}))
        .collect();
    post_batch(url, &events) == Some(200)
}

/// Sends `events` to `/v1/batch` with the write key; the answer's status, none without one.
fn post_batch(url: &str, events: &[serde_json::Value]) -> Option<u16> {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{KEY}:"))
    );
    ureq::post(format!("{url}/v1/batch"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .config()
        .http_status_as_error(false)
        .build()
        .send(serde_json::json!({ "batch": events }).to_string())
        .ok()
        .map(|response| response.status().as_u16())
}

/// The stored message ids, read beside the running server (which holds the event index).
fn stored_ids(db: &std::path::Path) -> Vec<String> {
    let store = waymark_store::open(
        &waymark_store::Location::from(db),
        &waymark_store::Options {
            read_only: true,
            ..Default::default()
        },
    )
    .expect("open the store");
    store
        .events_after(0, usize::MAX >> 1)
        .expect("events")
        .into_iter()
        .map(|e| e.event.message_id)
        .collect()
}

#[test]
fn every_acknowledged_event_survives_sigkill_exactly_once() {
    let dir = temp_dir("crash");
    let db = dir.join("waymark.db");
    let (mut child, url) = start(&db);

    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let sent = Arc::new(Mutex::new(Vec::<Vec<String>>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..4)
        .map(|loader| {
            let (acknowledged, sent, stop, url) = (
                acknowledged.clone(),
                sent.clone(),
                stop.clone(),
                url.clone(),
            );
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<String> =
                        (0..50).map(|i| format!("l{loader}-b{n}-e{i}")).collect();
                    n += 1;
                    sent.lock().expect("lock").push(ids.clone());
                    if batch(&url, &ids) {
                        acknowledged.lock().expect("lock").extend(ids);
                    } else if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
            })
        })
        .collect();
    // Kill the server in the middle of the load, once it has acknowledged a good amount.
    while acknowledged.lock().expect("lock").len() < 5_000 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    for loader in loaders {
        loader.join().expect("loader");
    }

    let acknowledged: Vec<String> = acknowledged.lock().expect("lock").clone();
    let stored = stored_ids(&db);
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no event is stored twice");
    let missing: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !unique.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events were lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );

    // The clients retry everything after the restart: still exactly once.
    let (mut child, url) = start(&db);
    let all: Vec<Vec<String>> = sent.lock().expect("lock").clone();
    for ids in &all {
        assert!(batch(&url, ids), "the restarted server takes the retry");
    }
    let stored = stored_ids(&db);
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len());
    assert_eq!(stored.len(), all.iter().map(Vec::len).sum::<usize>());

    // SIGTERM stops it gracefully.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "graceful shutdown exits 0: {exit:?}");
}

/// Starts `waymark demo` on a free port; returns the child, its URL and the banner.
pub(super) fn start_demo(db: &std::path::Path, people: &str) -> (Child, String, Vec<String>) {
    let args = ["demo", "--listen", "127.0.0.1:0", "--people", people];
    // The banner ends with how to stop it.
    launch(&args, db, |line| line.contains("stop with Ctrl-C"))
}

#[test]
fn demo_serves_stitched_profiles_and_reruns_add_nothing() {
    let dir = temp_dir("demo");
    let db = dir.join("demo.db");
    let (mut child, url, banner) = start_demo(&db, "50");
    let text = banner.join("\n");
    assert!(
        text.contains("admin token: demo-admin-token") && text.contains("write key:"),
        "{text}"
    );
    let profile: serde_json::Value = ureq::get(format!("{url}/v1/profiles/employee-3@example.com"))
        .header("Authorization", "Bearer demo-admin-token")
        .call()
        .expect("profile")
        .body_mut()
        .read_to_string()
        .map(|text| serde_json::from_str(&text).expect("json"))
        .expect("body");
    assert!(profile["events"].as_u64() > Some(3), "{profile}");
    let identifiers = profile["identifiers"].to_string();
    assert!(
        identifiers.contains("anon:") && identifiers.contains("user:employee-3"),
        "{identifiers}"
    );
    // The web app: people to sign in as, with their tokens, and the journeys deployed.
    let token_of = |banner: &[String], who: &str| -> String {
        banner
            .iter()
            .find_map(|line| {
                let mut words = line.split_whitespace();
                (words.next() == Some(who)).then(|| words.next().map(str::to_string))?
            })
            .unwrap_or_else(|| panic!("a token for {who}: {banner:?}"))
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let sign_in = |url: &str, token: &str| -> String {
        // The sign-in page's login token, and the cookie that carries it.
        let mut form = agent
            .get(format!("{url}/login"))
            .call()
            .expect("sign-in page");
        let login_cookie = form
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .expect("a login cookie")
            .to_string();
        let html = form.body_mut().read_to_string().expect("html");
        let at = html.find("name=\"login\" value=\"").expect("a login field") + 20;
        let login = html[at..].split('"').next().expect("value").to_string();
        let response = agent
            .post(format!("{url}/login/token"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cookie", &login_cookie)
            .send(format!("token={token}&next=%2Fjourneys&login={login}"))
            .expect("sign in");
        assert_eq!(response.status().as_u16(), 303);
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("a session");
        cookie.split(';').next().expect("cookie").to_string()
    };
    let page = |url: &str, cookie: &str, path: &str| -> (u16, String) {
        let mut response = agent
            .get(format!("{url}{path}"))
            .header("Cookie", cookie)
            .call()
            .expect("page");
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().expect("html"))
    };
    let olivia = sign_in(&url, &token_of(&banner, "olivia"));
    let (status, html) = page(&url, &olivia, "/journeys");
    assert_eq!(status, 200, "{html}");
    for title in ["Request professional training", "Apply for a personal loan"] {
        assert!(html.contains(title), "{title}: {html}");
    }
    let (status, html) = page(&url, &olivia, "/journeys/training-request?version=as-is");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("to-be"), "both versions are deployed: {html}");
    let jennifer = sign_in(&url, &token_of(&banner, "jennifer"));
    let (status, html) = page(&url, &jennifer, "/work/start");
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Request professional training"), "{html}");
    child.kill().expect("stop");
    let _ = child.wait();

    let (mut again, url, banner) = start_demo(&db, "50");
    assert!(banner.join("\n").contains("(0 new)"), "{banner:?}");
    let olivia = sign_in(&url, &token_of(&banner, "olivia"));
    let (_, html) = page(&url, &olivia, "/journeys/training-request");
    assert!(
        html.contains("version to-be (2)"),
        "a second run deploys nothing new: {html}"
    );
    again.kill().expect("stop");
    let _ = again.wait();

    let output = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(["analyze", "dfg", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .expect("analyze");
    let dfg: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(
        dfg["cases"], 51,
        "one case per person, anonymous visits included, and Olivia's: the request in which she \
         proposed the training's to-be version is measured as every request is"
    );
    assert!(
        dfg["activities"]["Training Requested"].as_u64() > Some(0),
        "{}",
        dfg["activities"]
    );
    assert!(dfg["activities"]["A_SUBMITTED"].as_u64() > Some(0));
}

/// The demo workspace has data for every journey measure: the loan journey's report over it
/// shows repeat contacts, CSAT and NPS answers, target breaches, deviations and a trend, read
/// beside the running demo.
#[test]
fn the_demo_feeds_every_journey_measure() {
    let dir = temp_dir("demo-report");
    let db = dir.join("demo.db");
    let (mut child, _, banner) = start_demo(&db, "400");
    assert!(
        banner.join("\n").contains("waymark journey report"),
        "{banner:?}"
    );
    let journey = super::example("loan-application/journey.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(["journey", "report"])
        .arg(&journey)
        .args(["--format", "json", "--period", "week", "--db"])
        .arg(&db)
        .output()
        .expect("report");
    child.kill().expect("stop");
    let _ = child.wait();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let instances = report["instances"]["total"].as_u64().expect("instances");
    assert!(instances > 100, "{instances}");
    assert!(report["contacts"]["instances_with_repeat"].as_u64() > Some(0));
    let experience = &report["experience"];
    assert!(
        experience["journey"]["csat"]["answers"].as_u64() > Some(10),
        "{experience}"
    );
    assert!(
        experience["journey"]["nps"]["answers"].as_u64() > Some(10),
        "{experience}"
    );
    assert!(
        experience["low_instances"].as_u64() > Some(0),
        "{experience}"
    );
    let touchpoints = report["touchpoints"].as_array().expect("touchpoints");
    assert!(
        touchpoints
            .iter()
            .any(|t| t["breach_share"].as_f64() > Some(0.0)),
        "some touchpoint takes longer than its target"
    );
    assert!(
        touchpoints
            .iter()
            .any(|t| t["scores"]["csat"]["answers"].as_u64() > Some(0)),
        "ratings are attributed to touchpoints"
    );
    assert!(report["conformance"]["share"].as_f64() < Some(1.0));
    assert!(
        report["trend"].as_array().map(Vec::len) > Some(4),
        "weeks of data"
    );
    assert!(
        report["moments_of_truth"]["touchpoints"]
            .as_array()
            .is_some_and(|m| !m.is_empty())
    );
    // Plans differ in how far people get, so a plan over-occurs among instances with a contact;
    // a value that over-occurs is seen more often with the contact than without.
    let attribute_drivers: Vec<&serde_json::Value> = report["contacts"]["by_touchpoint"]
        .as_array()
        .expect("contacts")
        .iter()
        .flat_map(|c| c["attribute_drivers"].as_array().expect("drivers"))
        .collect();
    assert!(
        attribute_drivers.iter().any(|d| d["attribute"] == "plan"),
        "{attribute_drivers:?}"
    );
    assert!(
        attribute_drivers
            .iter()
            .all(|d| d["share_with"].as_f64() > d["share_without"].as_f64())
    );
    // Every week carries the journey's own measures: stages, contacts and scores.
    let weeks = report["trend"].as_array().expect("trend");
    assert!(
        weeks
            .iter()
            .all(|w| w["stages"].as_array().map(Vec::len)
                == report["stages"].as_array().map(Vec::len))
    );
    assert!(
        weeks
            .iter()
            .any(|w| w["scores"]["csat"]["answers"].as_u64() > Some(0)
                && w["contacts"]["instances_with_repeat"].as_u64() > Some(0)),
        "{weeks:?}"
    );

    // Broken down by a profile trait (from identify calls): new customers call back more.
    let output = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(["journey", "report"])
        .arg(&journey)
        .args(["--format", "json", "--by", "plan", "--db"])
        .arg(&db)
        .output()
        .expect("report");
    assert!(output.status.success());
    let split: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let segments = split["segments"].as_array().expect("segments");
    let plans: Vec<&str> = segments
        .iter()
        .filter_map(|s| s["value"].as_str())
        .collect();
    assert_eq!(plans, ["new", "returning"]);
    let rate = |k: usize| {
        segments[k]["contacts"]["repeat_rate"]
            .as_f64()
            .expect("rate")
    };
    assert!(rate(0) > rate(1), "{} vs {}", rate(0), rate(1));
    let total: u64 = segments
        .iter()
        .filter_map(|s| s["instances"].as_u64())
        .sum();
    assert_eq!(total, instances);

    // The HTML report: the map with the measured emotion curve where surveys rated a touchpoint,
    // at the values of the JSON report, and the report's sections under it.
    let page = dir.join("report.html");
    let status = Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(["journey", "report"])
        .arg(&journey)
        .args(["--format", "html", "--period", "week", "--db"])
        .arg(&db)
        .arg("-o")
        .arg(&page)
        .status()
        .expect("html report");
    assert!(status.success());
    let html = std::fs::read_to_string(&page).expect("page");
    let measured: Vec<(&str, f64)> = touchpoints
        .iter()
        .filter_map(|t| Some((t["id"].as_str()?, t["measured_emotion"].as_f64()?)))
        .collect();
    assert!(measured.len() >= 2, "{measured:?}");
    for (id, emotion) in &measured {
        let point = format!(
            "class=\"measured-emotion-point\" data-touchpoint=\"{id}\" data-emotion=\"{emotion:.2}\""
        );
        assert!(html.contains(&point), "{point} missing");
    }
    assert_eq!(
        html.matches("class=\"measured-emotion-point\"").count(),
        measured.len()
    );
    assert!(html.contains("class=\"measured-emotion\""));
    for section in [
        "Stages",
        "Funnel",
        "Designed against actual",
        "Repeat contacts",
        "Trend",
    ] {
        assert!(html.contains(&format!("<h2>{section}</h2>")), "{section}");
    }
}

/// `waymark backup` copies a store while its server keeps taking events; the copy, served or
/// read, holds every event acknowledged before the backup, the directory and the deployed
/// journeys, and an existing file is never overwritten.
#[test]
fn a_backup_taken_beside_a_running_server_restores() {
    let dir = temp_dir("backup");
    let db = dir.join("waymark.db");
    {
        let store = waymark_store::open(&waymark_store::Location::from(&db), &Default::default())
            .expect("store");
        store
            .put_users(&[waymark_store::workflow::User {
                id: "maria".into(),
                name: "Maria Lopez".into(),
                email: Some("maria@example.com".into()),
                department: None,
                manager: None,
                roles: vec![],
            }])
            .expect("users");
        store
            .deploy_journey("training", "to-be", "id: training", 1)
            .expect("journey");
    }
    let (mut child, url) = start(&db);
    let before: Vec<String> = (0..300).map(|i| format!("before-{i}")).collect();
    assert!(batch(&url, &before));
    let copy = dir.join("copy.db");
    let backup = |to: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_waymark"))
            .args(["backup", "--db"])
            .arg(&db)
            .arg("--to")
            .arg(to)
            .output()
            .expect("waymark backup")
    };
    let done = backup(&copy);
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(String::from_utf8_lossy(&done.stdout).contains("backed up"));
    let after: Vec<String> = (0..100).map(|i| format!("after-{i}")).collect();
    assert!(batch(&url, &after), "the server goes on");
    let again = backup(&copy);
    assert!(!again.status.success(), "an existing file is kept");
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
    let _ = child.kill();
    let _ = child.wait();

    let restored = stored_ids(&copy);
    let mut expected = before.clone();
    expected.sort();
    let mut got = restored.clone();
    got.sort();
    assert_eq!(
        got, expected,
        "every event acknowledged before the backup, once"
    );
    let store = waymark_store::open(&waymark_store::Location::from(&copy), &Default::default())
        .expect("the copy opens as a store");
    assert_eq!(
        store.user("maria").expect("user").map(|u| u.name),
        Some("Maria Lopez".into())
    );
    assert_eq!(store.journeys().expect("journeys").len(), 1);
    assert_eq!(store.count_events().expect("count"), 300);
}

/// The demo's collected events copied into ClickHouse (`import --stored`) give every demo
/// journey the report its database gives, on both servers.
#[test]
fn the_demo_s_journeys_measured_in_clickhouse_equal_the_database_s() {
    let dir = temp_dir("demo-clickhouse");
    let db = dir.join("demo.db");
    let (mut child, _url, _banner) = start_demo(&db, "40");
    child.kill().expect("stop the demo");
    child.wait().expect("wait");
    let db = db.display().to_string();
    let journeys = [
        "examples/training-request/as-is.yaml",
        "examples/training-request/to-be.yaml",
        "examples/loan-application/journey.yaml",
    ];
    let report = |journey: &str, source: &[&str]| {
        let path = super::example(journey.trim_start_matches("examples/"))
            .display()
            .to_string();
        let mut args = vec!["journey", "report", path.as_str(), "--format", "json"];
        args.extend(source);
        let output = super::waymark(&args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            super::stderr(&output)
        );
        super::stdout(&output)
    };
    let expected: Vec<String> = journeys.iter().map(|j| report(j, &["--db", &db])).collect();
    for (journey, report) in journeys.iter().zip(&expected).take(2) {
        let json: serde_json::Value = serde_json::from_str(report).expect("json");
        assert!(
            json["instances"]["total"].as_u64() > Some(10),
            "the demo measures {journey}: {}",
            json["instances"]
        );
    }
    for url in super::analyze::clickhouse_urls("demo") {
        let copied = super::waymark(&["import", "--stored", "--db", &db, "--events", &url]);
        assert!(copied.status.success(), "{}", super::stderr(&copied));
        for (journey, expected) in journeys.iter().zip(&expected) {
            assert_eq!(
                &report(journey, &["--events", &url]),
                expected,
                "{journey} on {url}"
            );
        }
    }
}

/// The journey the ClickHouse tests measure (waymark-clickhouse's forwarding test reads it too).
fn plans_journey() -> std::path::PathBuf {
    super::workspace().join("crates/waymark-clickhouse/tests/it/plans.yaml")
}

/// Round `round` of the events: people browsing anonymously, identified later (merging two
/// profiles that both have events), identify calls with traits.
fn plans_events(round: usize) -> Vec<serde_json::Value> {
    let activities = ["Viewed Plans", "Called", "Paid", "Read Blog"];
    let mut events = Vec::new();
    for person in 0..12 {
        for step in 0..3 {
            let n = round * 100 + person * 3 + step;
            let at = format!("2026-11-{:02}T{:02}:{:02}:00Z", 2 + round, 8 + step, person);
            let mut event = serde_json::json!({
                "type": "track",
                "messageId": format!("e{n}"),
                "event": activities[(person + step + round) % activities.len()],
                "timestamp": at,
                "properties": { "result": if n.is_multiple_of(5) { "failed" } else { "ok" } },
                "anonymousId": format!("anon-{person}"),
            });
            if round >= 1 && person % 3 != 0 && step == 1 {
                event["userId"] = serde_json::json!(format!("user-{}", person / 2));
            }
            events.push(event);
        }
        if round == 2 && person % 4 == 1 {
            let plan = ["free", "team"][person % 2];
            events.push(serde_json::json!({
                "type": "identify",
                "messageId": format!("i{person}"),
                "userId": format!("user-{}", person / 2),
                "timestamp": "2026-11-04T12:00:00Z",
                "traits": { "plan": plan },
            }));
        }
    }
    events
}

/// How many of the collected events `ids` (message ids) ClickHouse holds, each counted once.
pub(super) fn there(events: &waymark_clickhouse::EventStore, ids: &[String]) -> u64 {
    let list: Vec<String> = ids.iter().map(|id| format!("'{id}'")).collect();
    events
        .sum_per_node(&format!(
            "SELECT uniqExact(message_id) FROM {} WHERE message_id IN ({})",
            events.on_each_node("events"),
            list.join(", ")
        ))
        .expect("count")
}

/// `serve --events`: each collection call is acknowledged only once ClickHouse has its events
/// (checked right after each answer), repeated message ids are kept once, identity merges move
/// people whole, the report API measures in ClickHouse and equals the database's report; when
/// ClickHouse loses its tables the call answers 503, and the same call sent again once they are
/// back is acknowledged with its events there.
#[test]
fn serve_keeps_events_in_clickhouse_and_acknowledges_once_they_are_there() {
    let admin = "clickhouse-admin-token";
    for url in super::analyze::clickhouse_urls("serve") {
        let dir = temp_dir("serve-clickhouse");
        let db = dir.join("waymark.db");
        let args = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--write-key",
            KEY,
            "--admin-token",
            admin,
            "--events",
            &url,
        ];
        // First without ClickHouse: the events of round 0 are kept in the database only.
        let (mut child, server, _) = launch(&args[..7], &db, |_| true);
        let deployed = ureq::post(format!("{server}/v1/journeys"))
            .header("Authorization", &format!("Bearer {admin}"))
            .header("Content-Type", "application/yaml")
            .send(std::fs::read_to_string(plans_journey()).expect("the journey file"))
            .expect("deploy");
        assert_eq!(deployed.status(), 200);
        let before = plans_events(0);
        assert_eq!(post_batch(&server, &before), Some(200));
        child.kill().expect("stop");
        child.wait().expect("wait");
        let mut tracked: HashSet<String> = before
            .iter()
            .filter(|e| e["type"] == "track")
            .map(|e| e["messageId"].as_str().unwrap_or_default().to_string())
            .collect();
        // Started with ClickHouse, it forwards what the database holds before it listens.
        let (mut child, server, _) = launch(&args, &db, |_| true);
        let location = waymark_clickhouse::Location::parse(&url).expect("url");
        let events = waymark_clickhouse::EventStore::open(&location).expect("events");
        assert_eq!(
            events.counts().expect("counts").0 as usize,
            tracked.len(),
            "{url}: the stored events, forwarded at start"
        );
        let send = |batch: &[serde_json::Value]| post_batch(&server, batch);
        for round in 1..3 {
            let mut batch = plans_events(round);
            // The sender retries part of it: kept once.
            batch.extend(batch.iter().step_by(5).cloned().collect::<Vec<_>>());
            assert_eq!(send(&batch), Some(200), "{url}: round {round}");
            tracked.extend(
                batch
                    .iter()
                    .filter(|e| e["type"] == "track")
                    .map(|e| e["messageId"].as_str().unwrap_or_default().to_string()),
            );
            // No waiting: acknowledged means there.
            let (count, _) = events.counts().expect("counts");
            assert_eq!(count as usize, tracked.len(), "{url}: round {round}");
        }
        // Callers at once: each acknowledged call finds its own events there.
        std::thread::scope(|scope| {
            for caller in 0..6 {
                let (send, events) = (&send, &events);
                scope.spawn(move || {
                    for call in 0..3 {
                        let ids: Vec<String> =
                            (0..20).map(|i| format!("c{caller}-{call}-{i}")).collect();
                        let batch: Vec<serde_json::Value> = ids
                            .iter()
                            .map(|id| {
                                serde_json::json!({
                                    "type": "track", "messageId": id, "event": "Read Blog",
                                    "anonymousId": format!("anon-{caller}"),
                                    "timestamp": "2026-11-05T10:00:00Z",
                                })
                            })
                            .collect();
                        assert_eq!(send(&batch), Some(200), "caller {caller}, call {call}");
                        assert_eq!(there(events, &ids), 20, "caller {caller}, call {call}");
                    }
                });
            }
        });
        tracked.extend(
            (0..6).flat_map(|c| {
                (0..3).flat_map(move |k| (0..20).map(move |i| format!("c{c}-{k}-{i}")))
            }),
        );
        assert_eq!(events.counts().expect("counts").0 as usize, tracked.len());
        // The report the server measures in ClickHouse is the CLI's over ClickHouse and the
        // database's own. (A report that took long is kept while the next is measured in the
        // background, as the pages show it: asked until the newest is there.)
        let path = plans_journey().display().to_string();
        let cli_report = |source: [&str; 2]| -> serde_json::Value {
            let mut args = vec!["journey", "report", &path, "--format", "json"];
            args.extend(source);
            let output = super::waymark(&args);
            assert!(output.status.success(), "{}", super::stderr(&output));
            serde_json::from_str(&super::stdout(&output)).expect("json")
        };
        let server_report = |server: &str| -> serde_json::Value {
            let mut report: serde_json::Value =
                ureq::get(format!("{server}/v1/journeys/plans/report"))
                    .header("Authorization", &format!("Bearer {admin}"))
                    .call()
                    .expect("report")
                    .body_mut()
                    .read_to_string()
                    .ok()
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .expect("json");
            if let Some(object) = report.as_object_mut() {
                object.remove("deployed_version");
            }
            report
        };
        let until = |server: &str, expected: &serde_json::Value, what: &str| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            loop {
                let report = server_report(server);
                if &report == expected {
                    return report;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{url}: {what}: {report} against {expected}"
                );
                std::thread::sleep(std::time::Duration::from_millis(250));
            }
        };
        let over_clickhouse = cli_report(["--events", url.as_str()]);
        let measured = until(&server, &over_clickhouse, "the report over ClickHouse");
        assert!(
            measured["instances"]["total"].as_u64() > Some(5),
            "{url}: {}",
            measured["instances"]
        );
        child.kill().expect("stop");
        child.wait().expect("wait");
        let db_text = db.display().to_string();
        assert_eq!(
            cli_report(["--db", db_text.as_str()]),
            measured,
            "{url}: the database's own report"
        );

        // Started again, every event is there once (what it forwards again is kept once).
        let (mut child, server, _) = launch(&args, &db, |_| true);
        assert_eq!(events.counts().expect("counts").0 as usize, tracked.len());
        // The report is measured in ClickHouse: a person only ClickHouse holds counts in it once
        // the next events are forwarded.
        let mut marker = waymark_clickhouse::Batch::new();
        marker.push(&waymark_clickhouse::Row {
            person: "only-in-clickhouse",
            time_us: 1_793_955_600_000_000,
            seq: 1 << 40,
            message_id: "",
            kind: "track",
            activity: "Viewed Plans",
            properties: "{}",
            user_id: "",
            anonymous_id: "",
        });
        events
            .insert(&marker)
            .expect("a person only ClickHouse holds");
        let next = [serde_json::json!({
            "type": "track", "messageId": "after-restart", "event": "Read Blog",
            "anonymousId": "anon-2", "timestamp": "2026-11-06T08:00:00Z",
        })];
        assert_eq!(post_batch(&server, &next), Some(200));
        let mut expected = measured.clone();
        expected["instances"]["total"] =
            serde_json::json!(measured["instances"]["total"].as_u64().map(|n| n + 1));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while server_report(&server)["instances"]["total"] != expected["instances"]["total"] {
            assert!(
                std::time::Instant::now() < deadline,
                "{url}: the report counts the person only ClickHouse holds"
            );
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        // ClickHouse loses its tables: the call is refused, nothing is acknowledged; sent again
        // once they are back, it is acknowledged with its event there.
        let lost = [serde_json::json!({
            "type": "track", "messageId": "late-1", "event": "Paid", "anonymousId": "anon-1",
            "timestamp": "2026-11-06T09:00:00Z", "properties": { "result": "ok" },
        })];
        let send = |batch: &[serde_json::Value]| post_batch(&server, batch);
        let database = &location.database;
        events
            .execute_everywhere(&format!("DROP DATABASE {database}"))
            .expect("drop");
        assert_eq!(
            send(&lost),
            Some(503),
            "{url}: the events could not be forwarded"
        );
        // Meanwhile /healthz says so (a load balancer sends the calls elsewhere).
        let health = |server: &str| -> (u16, String) {
            let mut response = ureq::get(format!("{server}/healthz"))
                .config()
                .http_status_as_error(false)
                .build()
                .call()
                .expect("healthz");
            let status = response.status().as_u16();
            (
                status,
                response.body_mut().read_to_string().unwrap_or_default(),
            )
        };
        let (status, body) = health(&server);
        assert_eq!(status, 503, "{url}: {body}");
        assert!(
            body.contains("the collected events are not reaching ClickHouse"),
            "{url}: {body}"
        );
        let events = waymark_clickhouse::EventStore::open(&location).expect("made again");
        assert_eq!(send(&lost), Some(200), "{url}: sent again");
        let (status, body) = health(&server);
        assert_eq!(status, 200, "{url}: healthy again: {body}");
        assert_eq!(
            there(&events, &["late-1".to_string()]),
            1,
            "{url}: the event sent again is there"
        );
        child.kill().expect("stop");
        child.wait().expect("wait");
    }
}
