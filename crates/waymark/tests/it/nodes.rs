//! Three `waymark serve` nodes on one PostgreSQL database under load, with nodes killed by
//! SIGKILL again and again: collected events (from Segment's and RudderStack's Python libraries
//! and from plain batches) and people working requests are spread over all three; afterwards every acknowledged event is stored once, every acknowledged completion is
//! stored, and each request's state agrees with its tasks and its audit trail.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::automation::{ADMIN, WRITE, call, start_server};
use super::workspace;

/// The cluster: each node's process and URL, replaced when it is killed.
struct Cluster {
    db: std::ffi::OsString,
    nodes: Mutex<Vec<(super::automation::Killed, String)>>,
    /// Where the nodes' URLs are listed for clients in other processes, kept current.
    listed: Option<std::path::PathBuf>,
}

impl Cluster {
    /// Lists the nodes' URLs in `listed`, replacing the file at once.
    fn list(&self, nodes: &[(super::automation::Killed, String)]) {
        if let Some(listed) = &self.listed {
            let urls: Vec<&str> = nodes.iter().map(|(_, url)| url.as_str()).collect();
            let fresh = listed.with_extension("new");
            std::fs::write(&fresh, urls.join("\n")).expect("list the nodes");
            std::fs::rename(&fresh, listed).expect("list the nodes");
        }
    }

    fn url(&self, n: usize) -> String {
        let nodes = self.nodes.lock().expect("nodes");
        nodes[n % nodes.len()].1.clone()
    }

    /// Kills node `n` with SIGKILL and starts it again (on a new port).
    fn kill_and_restart(&self, n: usize) {
        let mut nodes = self.nodes.lock().expect("nodes");
        let at = n % nodes.len();
        let _ = nodes[at].0.0.kill();
        let _ = nodes[at].0.0.wait();
        nodes[at] = start_server(&self.db);
        self.list(&nodes);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Sends a batch to a node; whether it was acknowledged.
fn batch(url: &str, ids: &[String]) -> bool {
    let events: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "track", "userId": format!("visitor-{}", &id[..id.len().min(4)]), "event": "Viewed", "messageId": id}))
        .collect();
    post_batch(url, events)
}

/// Sends `events` as one batch to a node; whether it was acknowledged.
fn post_batch(url: &str, events: Vec<Value>) -> bool {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{WRITE}:"))
    );
    agent()
        .post(format!("{url}/v1/batch"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(json!({ "batch": events }).to_string())
        .is_ok_and(|response| response.status() == 200)
}

/// One person working ten-step requests through node `n`, then the next node, and so on: returns
/// the tasks whose completion was acknowledged.
fn work(cluster: &Cluster, person: usize, token: &str, stop: &AtomicBool) -> Vec<String> {
    let mut done = Vec::new();
    let mut n = person;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let url = cluster.url(n);
        let Ok(mut inbox) = agent()
            .get(format!("{url}/v1/tasks"))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
        else {
            continue;
        };
        let inbox: Value =
            serde_json::from_str(&inbox.body_mut().read_to_string().unwrap_or_default())
                .unwrap_or(Value::Null);
        let Some(tasks) = inbox["tasks"].as_array() else {
            continue;
        };
        match tasks.first().and_then(|t| t["id"].as_str()) {
            Some(id) => {
                let id = id.to_string();
                let url = cluster.url(n + 1);
                let answer = agent()
                    .post(format!("{url}/v1/tasks/{id}/complete"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send("{}");
                if answer.is_ok_and(|a| a.status().as_u16() == 200) {
                    done.push(id);
                }
            }
            None => {
                let _ = agent()
                    .post(format!("{url}/v1/processes/ten-steps/instances"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send("{}");
            }
        }
    }
    done
}

#[test]
fn three_nodes_killed_twenty_times_under_load_lose_nothing_and_repeat_nothing() {
    let Some(url) = waymark_store::testing::fresh_postgres() else {
        return;
    };
    let Some(python) = super::clients::required("WAYMARK_PYTHON") else {
        return;
    };
    let dir = super::temp_dir("three-nodes-clients");
    let db = std::ffi::OsString::from(&url);
    let cluster = Arc::new(Cluster {
        nodes: Mutex::new((0..3).map(|_| start_server(&db)).collect()),
        db,
        listed: Some(dir.join("nodes.txt")),
    });
    cluster.list(&cluster.nodes.lock().expect("nodes"));
    let first = cluster.url(0);
    // Segment's and RudderStack's Python libraries send through whichever node is up.
    let (stop_file, acknowledged_file) = (dir.join("stop"), dir.join("acknowledged.txt"));
    let said = dir.join("clients.log");
    let log = std::fs::File::create(&said).expect("a log");
    // Killed when the test ends, even by a failure.
    let mut clients = super::automation::Killed(
        std::process::Command::new(python)
            .arg(workspace().join("crates/waymark/tests/clients/crash_clients.py"))
            .arg(dir.join("nodes.txt"))
            .arg(WRITE)
            .arg(&stop_file)
            .arg(&acknowledged_file)
            .stdout(log.try_clone().expect("a log"))
            .stderr(log)
            .spawn()
            .expect("the client libraries run"),
    );
    let people: Vec<Value> = (0..20)
        .map(|i| json!({ "id": format!("p{i}"), "name": format!("P {i}"), "roles": [] }))
        .collect();
    let (status, _) = call(
        "POST",
        &format!("{first}/v1/directory/users"),
        Some(ADMIN),
        Some(("application/json", Value::from(people).to_string())),
    );
    assert_eq!(status, 200);
    let bpmn = std::fs::read_to_string(workspace().join("bench/ten-steps.bpmn")).expect("process");
    let (status, _) = call(
        "POST",
        &format!("{first}/v1/processes"),
        Some(ADMIN),
        Some(("application/xml", bpmn)),
    );
    assert_eq!(status, 200);
    let tokens: Vec<String> = (0..20)
        .map(|i| {
            let (status, body) = call(
                "POST",
                &format!("{first}/v1/directory/users/p{i}/tokens"),
                Some(ADMIN),
                None,
            );
            assert_eq!(status, 200, "{body}");
            body["token"].as_str().expect("token").to_string()
        })
        .collect();

    let stop = AtomicBool::new(false);
    let acknowledged_events = Mutex::new(Vec::<String>::new());
    let sent_events = Mutex::new(Vec::<Vec<String>>::new());
    let (kills, completions) = std::thread::scope(|scope| {
        let workers: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(person, token)| {
                let (cluster, stop) = (&cluster, &stop);
                scope.spawn(move || work(cluster, person, token, stop))
            })
            .collect();
        let loaders: Vec<_> = (0..3)
            .map(|loader| {
                let (cluster, stop, acknowledged, sent) =
                    (&cluster, &stop, &acknowledged_events, &sent_events);
                scope.spawn(move || {
                    let mut round = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let ids: Vec<String> =
                            (0..20).map(|i| format!("l{loader}r{round}e{i}")).collect();
                        round += 1;
                        sent.lock().expect("sent").push(ids.clone());
                        if batch(&cluster.url(loader + round), &ids) {
                            acknowledged.lock().expect("acknowledged").extend(ids);
                        }
                    }
                })
            })
            .collect();
        // Twenty kills, one node at a time, each after the load moved on a little.
        let started = Instant::now();
        let mut kills = 0;
        while kills < 20 && started.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(150));
            cluster.kill_and_restart(kills);
            kills += 1;
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        for loader in loaders {
            loader.join().expect("loader");
        }
        let completions: Vec<String> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect();
        (kills, completions)
    });
    std::fs::write(&stop_file, "").expect("stop the clients");
    let ended = clients.0.wait().expect("the clients end");
    assert!(
        ended.success(),
        "{}",
        std::fs::read_to_string(&said).unwrap_or_default()
    );
    let by_libraries: Vec<String> = std::fs::read_to_string(&acknowledged_file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        by_libraries.len() > 10,
        "the libraries sent: {}",
        by_libraries.len()
    );
    assert_eq!(kills, 20, "twenty kills");
    assert!(
        completions.len() > 20,
        "the people worked: {}",
        completions.len()
    );

    // Read the database itself: the clients' retries are what a restarted node takes.
    let location: waymark_store::Location = cluster.db.to_str().expect("url").parse().expect("url");
    let store = waymark_store::open(&location, &Default::default()).expect("store");
    let events = store.events_after(0, 10_000_000).expect("events");
    let stored: Vec<&str> = events
        .iter()
        .map(|e| e.event.message_id.as_str())
        .filter(|id| id.starts_with('l') || id.starts_with("seg-") || id.starts_with("rud-"))
        .collect();
    let unique: HashSet<&str> = stored.iter().copied().collect();
    assert_eq!(
        unique.len(),
        stored.len(),
        "no collected event is stored twice"
    );
    let mut acknowledged = acknowledged_events.into_inner().expect("acknowledged");
    acknowledged.extend(by_libraries.iter().cloned());
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !unique.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    // Sending everything again, as clients retry, adds nothing twice.
    for ids in sent_events.into_inner().expect("sent") {
        assert!(batch(&cluster.url(0), &ids), "a retry is taken");
    }
    let again = store.events_after(0, 10_000_000).expect("events");
    let ids: Vec<&str> = again.iter().map(|e| e.event.message_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "retries add nothing twice");

    for id in &completions {
        let (instance, task) = id.split_once('-').expect("id");
        let row = store
            .task(
                instance.parse().expect("instance"),
                task.parse().expect("task"),
            )
            .expect("task")
            .expect("the acknowledged task is stored");
        assert_eq!(row.status, "completed", "{id} was acknowledged");
    }
    let mut requests = 0;
    for summary in store
        .instance_list(None, None, None, 10_000)
        .expect("requests")
    {
        requests += 1;
        let row = store.instance(summary.id).expect("read").expect("request");
        let tasks = store.instance_tasks(summary.id).expect("tasks");
        let open: Vec<u64> = tasks
            .iter()
            .filter(|t| t.status == "open")
            .map(|t| t.task)
            .collect();
        let in_state: Vec<u64> = row.state.tasks.keys().copied().collect();
        assert_eq!(
            open, in_state,
            "request {}: its tasks and its state agree",
            summary.id
        );
        let audit = store.audit_trail(summary.id).expect("audit");
        let completed: Vec<&str> = audit
            .iter()
            .filter(|a| a.action == "completed")
            .filter_map(|a| a.node.as_deref())
            .collect();
        let done: HashSet<&str> = completed.iter().copied().collect();
        assert_eq!(
            done.len(),
            completed.len(),
            "request {}: no step completed twice",
            summary.id
        );
        let finished = tasks.iter().filter(|t| t.status == "completed").count();
        assert_eq!(
            finished,
            completed.len(),
            "request {}: its audit trail agrees",
            summary.id
        );
    }
    assert!(requests >= 20, "{requests} requests");
    eprintln!(
        "{kills} kills: {} events acknowledged ({} of them by the Segment and RudderStack libraries), {} completions acknowledged, {requests} requests",
        acknowledged.len(),
        by_libraries.len(),
        completions.len()
    );
}

/// `waymark copy` moves a demo installation (events, merged profiles, journeys, the directory
/// and keys, processes, a request with its history) from SQLite into PostgreSQL: every table is
/// equal on both sides, the copy reads the same, and copying again adds nothing.
#[test]
fn copy_moves_an_installation_to_postgres_and_again_adds_nothing() {
    let Some(url) = waymark_store::testing::fresh_postgres() else {
        return;
    };
    let dir = super::temp_dir("copy");
    let db = dir.join("waymark.db");
    // Enough people that the events take several of the copy's batches of 500 rows.
    let (mut demo, _, _) = super::serve::start_demo(&db, "80");
    let _ = demo.kill();
    let _ = demo.wait();
    let sqlite = waymark_store::open(&waymark_store::Location::from(&db), &Default::default())
        .expect("the demo's store");
    // A request with some history.
    let request = sqlite
        .start_instance(
            "training-request",
            "jennifer",
            serde_json::from_value(json!({ "course": "Excel", "vendor": "Skills Academy", "cost": 300, "startDate": "2026-12-01", "vendorKnown": true }))
                .expect("values"),
            1_800_000_000_000_000,
        )
        .expect("a request");
    drop(sqlite);

    let copy = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_waymark"))
            .args(["copy", "--from"])
            .arg(&db)
            .args(["--to", &url])
            .output()
            .expect("waymark copy")
    };
    let first = copy();
    let out = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(
        first.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(out.contains("every table equal on both sides"), "{out}");
    let added = |out: &str, table: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(table))
            .unwrap_or_else(|| panic!("{table} in {out}"));
        line.split_whitespace()
            .last()
            .expect("added")
            .parse()
            .expect("a count")
    };
    assert!(added(&out, "events") > 600, "{out}");
    assert!(added(&out, "audit") > 0, "{out}");
    let again = copy();
    let out = String::from_utf8_lossy(&again.stdout).to_string();
    assert!(again.status.success(), "{out}");
    for table in [
        "events",
        "identities",
        "profile_traits",
        "users",
        "keys",
        "instances",
        "audit",
        "journeys",
    ] {
        assert_eq!(added(&out, table), 0, "{table} again: {out}");
    }

    // The copy reads the same as the original.
    let sqlite = waymark_store::open(&waymark_store::Location::from(&db), &Default::default())
        .expect("sqlite");
    let postgres =
        waymark_store::open(&waymark_store::Location::Postgres(url), &Default::default())
            .expect("postgres");
    assert_eq!(
        postgres.count_events().expect("count"),
        sqlite.count_events().expect("count")
    );
    assert_eq!(
        postgres.users().expect("users"),
        sqlite.users().expect("users")
    );
    assert_eq!(
        postgres.journeys().expect("journeys"),
        sqlite.journeys().expect("journeys")
    );
    assert_eq!(postgres.keys().expect("keys"), sqlite.keys().expect("keys"));
    assert_eq!(
        postgres.audit_trail(request).expect("audit"),
        sqlite.audit_trail(request).expect("audit")
    );
    assert_eq!(
        postgres.instance_tasks(request).expect("tasks"),
        sqlite.instance_tasks(request).expect("tasks")
    );
    let person = "employee-3@example.com";
    let (a, b) = (
        sqlite.profile(person).expect("profile").expect("person"),
        postgres.profile(person).expect("profile").expect("person"),
    );
    assert_eq!(
        (a.id, &a.identifiers, &a.traits, a.events),
        (b.id, &b.identifiers, &b.traits, b.events)
    );
    assert_eq!(
        postgres.timeline(person, None, 20).expect("timeline"),
        sqlite.timeline(person, None, 20).expect("timeline")
    );
    // New rows made on PostgreSQL take ids after the copied ones.
    let next = postgres
        .start_instance(
            "training-request",
            "jennifer",
            Default::default(),
            1_800_000_000_000_001,
        )
        .expect("a new request");
    assert!(next > request, "{next} after {request}");
}

/// A PostgreSQL program (`pg_dump`, `pg_restore`): on the PATH, else Debian's server directory.
fn postgres_program(name: &str) -> std::path::PathBuf {
    let on_path = std::process::Command::new(name).arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return name.into();
    }
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|version| version.path().join("bin").join(name))
        .filter(|path| path.exists())
        .collect();
    found.sort();
    found
        .pop()
        .unwrap_or_else(|| panic!("{name} is missing (Debian package postgresql-client)"))
}

/// A PostgreSQL store backed up with `pg_dump` (as docs/deploy.md says) and restored with
/// `pg_restore` into an empty database reads back the same, and its nodes go on from it.
#[test]
fn a_pg_dump_backup_restores() {
    let (Some(original), Some(restored)) = (
        waymark_store::testing::fresh_postgres(),
        waymark_store::testing::fresh_postgres(),
    ) else {
        return;
    };
    let open = |url: &str| {
        waymark_store::open(
            &waymark_store::Location::Postgres(url.into()),
            &Default::default(),
        )
        .expect("store")
    };
    let store = open(&original);
    store
        .put_users(&[waymark_store::workflow::User {
            id: "jennifer".into(),
            name: "Jennifer Lee".into(),
            email: Some("jennifer@example.com".into()),
            department: None,
            manager: Some("maria".into()),
            roles: vec![],
        }])
        .expect("users");
    store
        .deploy_journey("training", "to-be", "id: training", 1)
        .expect("journey");
    let events: Vec<waymark_store::NewEvent> = (0..50)
        .map(|i| waymark_store::NewEvent {
            message_id: format!("m{i}"),
            kind: "track".into(),
            name: Some("Viewed".into()),
            user_id: (i % 2 == 0).then(|| "jennifer".to_string()),
            anonymous_id: Some("device-1".into()),
            timestamp_us: i,
            received_us: i,
            body: "{}".into(),
        })
        .collect();
    store.append(events).expect("events");
    drop(store);
    let dump = super::temp_dir("pg-dump").join("waymark.dump");
    let dumped = std::process::Command::new(postgres_program("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(&original)
        .output()
        .expect("pg_dump");
    assert!(
        dumped.status.success(),
        "{}",
        String::from_utf8_lossy(&dumped.stderr)
    );
    let restore = std::process::Command::new(postgres_program("pg_restore"))
        .args(["--no-owner", "--dbname", &restored])
        .arg(&dump)
        .output()
        .expect("pg_restore");
    assert!(
        restore.status.success(),
        "{}",
        String::from_utf8_lossy(&restore.stderr)
    );
    let (before, after) = (open(&original), open(&restored));
    assert_eq!(after.count_events().expect("count"), 50);
    assert_eq!(
        after.users().expect("users"),
        before.users().expect("users")
    );
    assert_eq!(
        after.journeys().expect("journeys"),
        before.journeys().expect("journeys")
    );
    let (a, b) = (
        before.profile("device-1").expect("p").expect("person"),
        after.profile("device-1").expect("p").expect("person"),
    );
    assert_eq!(
        (a.id, a.identifiers, a.events),
        (b.id, b.identifiers, b.events)
    );
    // It goes on: new events take seqs after the restored ones.
    let appended = after
        .append(vec![waymark_store::NewEvent {
            message_id: "after-restore".into(),
            kind: "track".into(),
            name: Some("Viewed".into()),
            user_id: Some("jennifer".into()),
            anonymous_id: None,
            timestamp_us: 99,
            received_us: 99,
            body: "{}".into(),
        }])
        .expect("append");
    assert_eq!(appended.inserted, 1);
    let last = after.events_after(50, 10).expect("events");
    assert_eq!(
        last.iter()
            .map(|e| e.event.message_id.as_str())
            .collect::<Vec<_>>(),
        ["after-restore"]
    );
}

/// A person signs in through one node (the sign-in page from another) and carries on through a
/// third: sessions, their CSRF tokens and the sign-in form's token hold on every node.
#[test]
fn signed_in_on_one_node_carries_on_with_another() {
    let Some(url) = waymark_store::testing::fresh_postgres() else {
        return;
    };
    let db = std::ffi::OsString::from(&url);
    let nodes: Vec<(super::automation::Killed, String)> =
        (0..3).map(|_| start_server(&db)).collect();
    let people = json!([{ "id": "maria", "name": "Maria Lopez", "email": "maria@example.com", "roles": [] }]);
    let (status, _) = call(
        "POST",
        &format!("{}/v1/directory/users", nodes[0].1),
        Some(ADMIN),
        Some(("application/json", people.to_string())),
    );
    assert_eq!(status, 200);
    let (_, body) = call(
        "POST",
        &format!("{}/v1/directory/users/maria/tokens", nodes[0].1),
        Some(ADMIN),
        None,
    );
    let token = body["token"].as_str().expect("token").to_string();
    let browser: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let cookie_of = |response: &ureq::http::Response<ureq::Body>| {
        response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .expect("a cookie")
            .to_string()
    };
    let mut form = browser
        .get(format!("{}/login", nodes[0].1))
        .call()
        .expect("sign-in page");
    let login_cookie = cookie_of(&form);
    let html = form.body_mut().read_to_string().expect("html");
    let at = html
        .find("name=\"login\" value=\"")
        .expect("the form's token")
        + 20;
    let login = html[at..].split('"').next().expect("value");
    let signed_in = browser
        .post(format!("{}/login/token", nodes[1].1))
        .header("Cookie", &login_cookie)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(format!("token={token}&next=%2Fwork&login={login}"))
        .expect("sign in");
    assert_eq!(
        signed_in.status().as_u16(),
        303,
        "signed in through the second node"
    );
    let session = cookie_of(&signed_in);
    let mut work = browser
        .get(format!("{}/work", nodes[2].1))
        .header("Cookie", &session)
        .call()
        .expect("work page");
    assert_eq!(
        work.status().as_u16(),
        200,
        "the third node knows the session"
    );
    let html = work.body_mut().read_to_string().expect("html");
    assert!(html.contains("Maria"), "the page is hers");
}

/// A webhook receiver: answers every call 200 with `{}` and keeps each call's Idempotency-Key.
pub(super) fn receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::{BufRead as _, BufReader, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("address"));
    let keys = Arc::new(Mutex::new(Vec::new()));
    let kept = keys.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let kept = kept.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("stream"));
                let (mut key, mut length) = (None, 0usize);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(value) = lower.strip_prefix("idempotency-key:") {
                        key = Some(value.trim().to_string());
                    }
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                if let Some(key) = key {
                    kept.lock().expect("keys").push(key);
                }
                let mut stream = stream;
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                );
            });
        }
    });
    (url, keys)
}

/// Timers and webhooks on three nodes killed one after another: each request's timer fires once
/// and its webhook task is completed once, whichever node claimed them, and every call of a
/// task carries the task's one Idempotency-Key.
#[test]
fn timers_and_webhooks_on_three_killed_nodes_happen_once() {
    let Some(url) = waymark_store::testing::fresh_postgres() else {
        return;
    };
    let (hook, keys) = receiver();
    let cluster = Cluster {
        db: std::ffi::OsString::from(&url),
        nodes: Mutex::new(Vec::new()),
        listed: None,
    };
    *cluster.nodes.lock().expect("nodes") = (0..3).map(|_| start_server(&cluster.db)).collect();
    let first = cluster.url(0);
    let people = json!([{ "id": "jennifer", "name": "Jennifer Lee", "roles": [] }]);
    call(
        "POST",
        &format!("{first}/v1/directory/users"),
        Some(ADMIN),
        Some(("application/json", people.to_string())),
    );
    let process = format!(
        "process: pinged\nsteps:\n  - id: pause\n    wait:\n      after: PT1S\n  - id: ping\n    webhook: {hook}\n"
    );
    let (status, body) = call(
        "POST",
        &format!("{first}/v1/processes"),
        Some(ADMIN),
        Some(("application/yaml", process)),
    );
    assert_eq!(status, 200, "{body}");
    let (_, body) = call(
        "POST",
        &format!("{first}/v1/directory/users/jennifer/tokens"),
        Some(ADMIN),
        None,
    );
    let token = body["token"].as_str().expect("token").to_string();
    let mut requests = Vec::new();
    for n in 0..30 {
        let (status, body) = call(
            "POST",
            &format!("{}/v1/processes/pinged/instances", cluster.url(n)),
            Some(&token),
            Some(("application/json", "{}".into())),
        );
        assert_eq!(status, 201, "{body}");
        requests.push(body["instance"].as_i64().expect("instance"));
    }
    // The timers fall due while nodes die and come back.
    for kill in 0..6 {
        std::thread::sleep(Duration::from_millis(400));
        cluster.kill_and_restart(kill);
    }
    // What a live node claimed goes on; what a killed one held is taken over when its claim
    // ends (4 s here): every request ends, each timer fired once and each webhook completed once.
    let location: waymark_store::Location = url.parse().expect("url");
    let store = waymark_store::open(&location, &Default::default()).expect("store");
    let waited = Instant::now();
    let ended = || {
        requests
            .iter()
            .filter(|r| {
                store
                    .instance(**r)
                    .ok()
                    .flatten()
                    .is_some_and(|i| i.status == "completed")
            })
            .count()
    };
    while ended() < requests.len() && waited.elapsed() < Duration::from_secs(90) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(ended(), requests.len(), "requests ended");
    for request in &requests {
        let audit = store.audit_trail(*request).expect("audit");
        let fired = audit.iter().filter(|a| a.action == "timer").count();
        assert_eq!(fired, 1, "request {request}: its timer fired {fired} times");
        let completed = audit
            .iter()
            .filter(|a| a.action == "completed" && a.node.as_deref() == Some("ping"))
            .count();
        assert_eq!(
            completed, 1,
            "request {request}: its webhook completed {completed} times"
        );
    }
    let keys = keys.lock().expect("keys").clone();
    let expected: HashSet<String> = requests
        .iter()
        .flat_map(|r| {
            store
                .instance_tasks(*r)
                .expect("tasks")
                .into_iter()
                .filter(|t| t.node == "ping")
                .map(|t| format!("wf-{}-{}", t.instance, t.task))
        })
        .collect();
    assert!(
        keys.iter().all(|k| expected.contains(k)),
        "every call carries its task's key: {keys:?}"
    );
    let called: HashSet<&String> = keys.iter().collect();
    assert_eq!(
        called.len(),
        expected.len(),
        "every webhook was called: {keys:?}"
    );
}

/// `/metrics`' value of `name` on a node.
fn metric(url: &str, name: &str) -> i64 {
    let text = agent()
        .get(format!("{url}/metrics"))
        .header("Authorization", &format!("Bearer {ADMIN}"))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("text");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Two nodes on one PostgreSQL database, both with `--events`: one forwards (it holds the
/// lease) and the other runs no pass, yet a call to either is acknowledged with its events in
/// ClickHouse. Killed with SIGKILL, the forwarding node's lease lapses and the other takes over;
/// stopped with SIGTERM, it gives the lease up and the other takes over at once (well within the
/// lease). People merged across the nodes and takeovers are one; ClickHouse ends with the
/// database's own events and people.
#[test]
fn nodes_keeping_events_in_clickhouse_forward_through_one_and_take_over() {
    for url in super::analyze::clickhouse_urls("nodes") {
        let Some(postgres) = waymark_store::testing::fresh_postgres() else {
            return;
        };
        let db = std::ffi::OsString::from(&postgres);
        let start = || super::automation::start_server_with(&db, "6", &["--events", &url]);
        let events = waymark_clickhouse::EventStore::open(
            &waymark_clickhouse::Location::parse(&url).expect("url"),
        )
        .expect("events");
        let sent = std::cell::Cell::new(0u64);
        let send = |node: &str, what: &str| {
            let ids: Vec<String> = (0..20).map(|i| format!("n{}-{i}", sent.get())).collect();
            sent.set(sent.get() + 1);
            assert!(batch(node, &ids), "{url}: {what}: acknowledged");
            assert_eq!(
                super::serve::there(&events, &ids),
                20,
                "{url}: {what}: acknowledged means there"
            );
        };
        // A visitor on one node, identified on the other: two profiles merged into one.
        let track = |id: &str, user: Option<&str>, anonymous: &str| {
            let mut event = json!({"type": "track", "event": "Read", "messageId": id, "anonymousId": anonymous});
            if let Some(user) = user {
                event["userId"] = json!(user);
            }
            event
        };
        let (mut first, first_url) = start();
        let (mut second, second_url) = start();
        let (forwarding, passes) = ("waymark_events_forwarding", "waymark_events_forward_passes");
        assert_eq!(
            (
                metric(&first_url, forwarding),
                metric(&second_url, forwarding)
            ),
            (1, 0),
            "{url}: the first node to start forwards"
        );
        for round in 0..4 {
            let node = if round % 2 == 0 {
                &first_url
            } else {
                &second_url
            };
            send(node, &format!("round {round}"));
        }
        assert!(post_batch(&first_url, vec![track("m1", None, "visitor-a")]));
        assert!(post_batch(
            &second_url,
            vec![track("m2", Some("jennifer"), "visitor-b")]
        ));
        assert!(post_batch(
            &second_url,
            vec![track("m3", Some("jennifer"), "visitor-a")]
        ));
        assert_eq!(
            metric(&second_url, passes),
            0,
            "{url}: only the forwarding node forwards"
        );
        // The forwarding node dies: the other one's callers wait until its lease lapsed.
        let _ = first.0.kill();
        let _ = first.0.wait();
        let died = Instant::now();
        send(&second_url, "after the forwarding node died");
        assert!(died.elapsed() < Duration::from_secs(20), "{url}");
        assert_eq!(metric(&second_url, forwarding), 1, "{url}: took over");
        // Started again, the first node follows, and its calls are answered as before.
        drop(first);
        let (_again, again_url) = start();
        assert_eq!(metric(&again_url, forwarding), 0, "{url}: follows");
        send(&again_url, "the node started again");
        assert!(post_batch(&again_url, vec![track("m4", None, "visitor-a")]));
        assert_eq!(metric(&again_url, passes), 0, "{url}: follows");
        // Stopped, the forwarding node gives the lease up: the other forwards at once, not
        // once the lease lapsed.
        let stopped = std::process::Command::new("kill")
            .args(["-TERM", &second.0.id().to_string()])
            .status()
            .expect("kill");
        assert!(stopped.success());
        let _ = second.0.wait();
        let handed = Instant::now();
        send(&again_url, "after the forwarding node stopped");
        assert!(
            handed.elapsed() < Duration::from_secs(3),
            "{url}: taken over in {:?}, not at once",
            handed.elapsed()
        );
        assert_eq!(metric(&again_url, forwarding), 1, "{url}: took over");
        // Everything the database holds, once, with the merged visitor one person.
        let store = waymark_store::open(
            &waymark_store::Location::Postgres(postgres.clone()),
            &waymark_store::Options::default(),
        )
        .expect("the database");
        let (log, _) = waymark_store::stored_log(store.as_ref()).expect("the stored log");
        assert_eq!(log.events() as u64, 20 * sent.get() + 4, "{url}");
        let (in_clickhouse, people) = events.counts().expect("counts");
        assert_eq!(
            (in_clickhouse as usize, people as usize),
            (log.events(), log.cases()),
            "{url}: ClickHouse holds the database's events and people"
        );
    }
}
