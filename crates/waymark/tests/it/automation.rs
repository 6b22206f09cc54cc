//! The reference case end to end, on a real server process with a real SMTP server: Jennifer,
//! her manager, Finance and a learning system drive her training request through the HTTP API;
//! she gets the assessment email, follows its signed link and submits the assessment.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

pub(super) const ADMIN: &str = "e2e-admin-token";
pub(super) const WRITE: &str = "wk_e2e";
/// The learning system's secret server key: its events move requests.
pub(super) const SERVER: &str = "wsk_e2e";

pub(super) struct Killed(pub(super) Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Python's aiosmtpd on loopback, keeping every message it receives in a maildir.
pub(super) fn smtp_server(python: &str, maildir: &Path) -> (Killed, u16) {
    let port = free_port();
    let child = Command::new(python)
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start aiosmtpd (scripts/test installs it)");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "aiosmtpd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (Killed(child), port)
}

/// `waymark serve` on a fresh database with a real SMTP server (aiosmtpd) beside it, sending as
/// "Waymark HR": both stop when this is dropped (the server first).
pub(super) struct Mailing {
    _server: Killed,
    _smtp: Killed,
    pub(super) url: String,
    pub(super) maildir: PathBuf,
}

pub(super) fn serve_with_mail(python: &str, name: &str, write_key: &str) -> Mailing {
    let dir = temp_dir(name);
    let maildir = dir.join("mail");
    let (smtp, port) = smtp_server(python, &maildir);
    let relay = format!("smtp://127.0.0.1:{port}");
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        ADMIN,
        "--write-key",
        write_key,
        "--server-key",
        SERVER,
        "--smtp-url",
        &relay,
        "--mail-from",
        "Waymark HR <hr@example.com>",
    ];
    let (child, url, _) = super::serve::launch(&args, dir.join("waymark.db"), |_| true);
    Mailing {
        _server: Killed(child),
        _smtp: smtp,
        url,
        maildir,
    }
}

/// The messages in the maildir, as text.
pub(super) fn mails(maildir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            for entry in entries.flatten() {
                found.push(std::fs::read_to_string(entry.path()).unwrap_or_default());
            }
        }
    }
    found
}

pub(super) fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "waited too long for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub(super) fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<(&str, String)>,
) -> (u16, Value) {
    let agent = agent();
    let response = match (method, body) {
        ("GET", _) => {
            let mut request = agent.get(url);
            if let Some(token) = token {
                request = request.header("Authorization", &format!("Bearer {token}"));
            }
            request.call()
        }
        (_, body) => {
            let (kind, text) = body.unwrap_or(("application/json", "{}".to_string()));
            let mut request = agent.post(url).header("Content-Type", kind);
            if let Some(token) = token {
                request = request.header("Authorization", &format!("Bearer {token}"));
            }
            request.send(text)
        }
    };
    let mut response = response.expect("request");
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A web page: GET, or POST of a form (`a=1&b=2`). The status and the HTML.
fn page(method: &str, url: &str, form: Option<&str>) -> (u16, String) {
    let agent = agent();
    let response = match method {
        "GET" => agent.get(url).call(),
        _ => agent
            .post(url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(form.unwrap_or("").to_string()),
    };
    let mut response = response.expect("request");
    let status = response.status().as_u16();
    let html = response.body_mut().read_to_string().unwrap_or_default();
    (status, html)
}

fn post_json(url: &str, token: &str, body: Value) -> (u16, Value) {
    call(
        "POST",
        url,
        Some(token),
        Some(("application/json", body.to_string())),
    )
}

/// Stores people in the directory from CSV, as the administrator.
pub(super) fn directory(url: &str, csv: &str) {
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/directory/users"),
        Some(ADMIN),
        Some(("text/csv", csv.to_string())),
    );
    assert_eq!(status, 200, "{body}");
}

/// A sign-in token for someone in the directory.
pub(super) fn sign_in(url: &str, id: &str) -> String {
    let (status, body) = post_json(
        &format!("{url}/v1/directory/users/{id}/tokens"),
        ADMIN,
        json!({}),
    );
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("token").to_string()
}

/// Deploys the training request from `file` (`process.bpmn` or `process.yaml`) with every form
/// in `forms/` beside it, as the administrator.
pub(super) fn deploy_training(url: &str, file: &str) {
    let kind = if file.ends_with(".bpmn") {
        "application/xml"
    } else {
        "application/yaml"
    };
    let process = std::fs::read_to_string(example(file)).expect("process");
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/processes"),
        Some(ADMIN),
        Some((kind, process)),
    );
    assert_eq!(status, 200, "{body}");
    let mut forms = 0;
    for entry in std::fs::read_dir(example("forms")).expect("forms") {
        let path = entry.expect("entry").path();
        let key = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("key")
            .to_string();
        let schema = std::fs::read_to_string(&path).expect("form");
        let (status, body) = call(
            "POST",
            &format!("{url}/v1/forms/{key}"),
            Some(ADMIN),
            Some(("application/json", schema)),
        );
        assert_eq!(status, 200, "{key}: {body}");
        forms += 1;
    }
    assert_eq!(forms, 6, "the training request has six forms");
}

/// The one task in someone's inbox, at `step`.
fn inbox(url: &str, token: &str, step: &str) -> String {
    wait_for(step, || {
        let (status, body) = call("GET", &format!("{url}/v1/tasks"), Some(token), None);
        assert_eq!(status, 200, "{body}");
        let tasks = body["tasks"].as_array()?;
        let task = tasks.iter().find(|t| t["step"] == step)?;
        task["id"].as_str().map(str::to_string)
    })
}

fn work(url: &str, topic: &str, result: Value) {
    let id = wait_for(topic, || {
        let (_, body) = call(
            "GET",
            &format!("{url}/v1/work?topic={topic}"),
            Some(ADMIN),
            None,
        );
        body["tasks"].as_array()?.first()?["id"]
            .as_str()
            .map(str::to_string)
    });
    let (status, body) = post_json(&format!("{url}/v1/work/{id}/complete"), ADMIN, result);
    assert_eq!(status, 200, "{body}");
}

fn example(name: &str) -> PathBuf {
    workspace().join("examples/training-request").join(name)
}

#[test]
fn the_training_request_end_to_end_with_real_email() {
    let Some(python) = super::clients::required("WAYMARK_PYTHON") else {
        return;
    };
    let servers = serve_with_mail(&python, "e2e-training", WRITE);
    let (url, maildir) = (servers.url.clone(), servers.maildir.clone());

    // The directory and the process.
    let csv = "id,name,email,department,manager,roles\n\
        jennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\n\
        maria,Maria Lopez,maria@example.com,customer-success,olivia,manager\n\
        finn,Finn Berg,finn@example.com,finance,olivia,finance\n\
        olivia,Olivia Chen,olivia@example.com,leadership,,\n\
        mallory,Mallory Smith,mallory@example.com,sales,olivia,\n";
    directory(&url, csv);
    let token = |id: &str| sign_in(&url, id);
    let (jennifer, maria, finn, mallory) = (
        token("jennifer"),
        token("maria"),
        token("finn"),
        token("mallory"),
    );
    deploy_training(&url, "process.bpmn");

    // 1. Jennifer submits the one form; her manager and department are filled in for her.
    let (_, form) = call(
        "GET",
        &format!("{url}/v1/processes/training-request/form"),
        Some(&jennifer),
        None,
    );
    assert_eq!(form["prefill"]["manager"], "maria", "{form}");
    let (status, refused) = post_json(
        &format!("{url}/v1/processes/training-request/instances"),
        &jennifer,
        json!({ "course": "Negotiation Skills" }),
    );
    assert_eq!(status, 422, "{refused}");
    let (status, started) = post_json(
        &format!("{url}/v1/processes/training-request/instances"),
        &jennifer,
        json!({ "course": "Negotiation Skills", "vendor": "Skills Academy", "cost": 1200, "startDate": "2026-12-01", "vendorKnown": false }),
    );
    assert_eq!(status, 201, "{started}");
    let request = started["instance"].as_i64().expect("instance");

    // Someone else is refused, and it is audited.
    let (status, _) = call(
        "GET",
        &format!("{url}/v1/requests/{request}"),
        Some(&mallory),
        None,
    );
    assert_eq!(status, 403);

    // 2. Her manager approves.
    let approval = inbox(&url, &maria, "manager-approval");
    let (status, body) = post_json(
        &format!("{url}/v1/tasks/{approval}/complete"),
        &maria,
        json!({ "approved": true }),
    );
    assert_eq!(status, 200, "{body}");
    // 3. The budget check passes (a worker); the approval email goes out by itself.
    work(&url, "budget-check", json!({ "budgetOk": true }));
    let approved = wait_for("the approval email", || {
        mails(&maildir)
            .into_iter()
            .find(|m| m.contains("Tell Jennifer it was approved"))
    });
    // It carries a survey about the request form: its link opens the questions, takes one answer.
    let unfolded = approved.replace("=\r\n", "").replace("=\n", "");
    let survey = unfolded
        .split_whitespace()
        .find(|w| w.contains("/feedback/"))
        .expect("a survey link in the approval email")
        .to_string();
    let (status, html) = page("GET", &survey, None);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("request-training-form"), "{html}");
    let (status, html) = page(
        "POST",
        &survey,
        Some("csat=5&ces=1&comment=One+form%2C+done"),
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Your answer is saved"), "{html}");
    // 4. Finance adds the vendor (it is unknown) and issues the PO; 5. the payment is recorded.
    for (step, values) in [
        (
            "vendor-add",
            json!({ "vendorId": "S-1042", "vendorEmail": "billing@skills-academy.example" }),
        ),
        ("po-issued", json!({ "po": "PO-20931" })),
        ("payment", json!({ "paid": 1200, "paidOn": "2026-12-10" })),
    ] {
        let task = inbox(&url, &finn, step);
        let (status, body) = post_json(&format!("{url}/v1/tasks/{task}/complete"), &finn, values);
        assert_eq!(status, 200, "{step}: {body}");
    }
    // 6. The learning system reports the training completed.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SERVER}:"));
    let tracked = agent()
        .post(format!("{url}/v1/track"))
        .header("Authorization", &format!("Basic {basic}"))
        .header("Content-Type", "application/json")
        .send(json!({ "userId": "jennifer", "event": "Training Completed" }).to_string())
        .expect("track");
    assert_eq!(tracked.status().as_u16(), 200);

    // 7. Jennifer gets the email through the SMTP server, follows its link and submits.
    let mail = wait_for("the assessment email", || {
        mails(&maildir)
            .into_iter()
            .find(|m| m.contains("Invite Jennifer to the assessment"))
    });
    assert!(mail.contains("jennifer@example.com"), "{mail}");
    assert!(mail.contains("hr@example.com"), "{mail}");
    let unfolded = mail.replace("=\r\n", "").replace("=\n", "");
    let link = unfolded
        .split_whitespace()
        .find(|w| w.contains("/links/"))
        .expect("a link in the email")
        .trim()
        .to_string();
    assert!(link.starts_with(&format!("{url}/links/")), "{link}");
    // The link opens the assessment as a page, for her, without signing in.
    let (status, html) = page("GET", &link, None);
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Assess the training") && html.contains("For Jennifer Lee"),
        "{html}"
    );
    assert!(html.contains("How useful was it"), "{html}");
    assert!(
        html.contains("What was asked") && html.contains("<dd>Negotiation Skills</dd>"),
        "the request is recalled: {html}"
    );
    let (status, _) = page("GET", &format!("{link}x"), None);
    assert_eq!(status, 403, "a changed link does not work");
    // Programs use the same token on the API.
    let api = link.replace("/links/", "/v1/links/");
    let (status, view) = call("GET", &api, None, None);
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["task"]["step"], "assessment-form", "{view}");
    // The form is checked: a rating out of range is named, nothing is kept.
    let (status, html) = page("POST", &link, Some("rating=9"));
    assert_eq!(status, 422, "{html}");
    assert!(
        html.contains("There is a problem") && html.contains("field-rating-error"),
        "{html}"
    );
    let (status, html) = page(
        "POST",
        &link,
        Some("rating=5&recommend=true&comment=Very+practical"),
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Your answers are saved"), "{html}");

    // 8. Goods received completed automatically: the request is done.
    let (status, mine) = call(
        "GET",
        &format!("{url}/v1/requests/{request}"),
        Some(&jennifer),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(mine["status"], "completed", "{mine}");
    let forms: Vec<&Value> = mine["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| {
            h["by"] == "jennifer" && (h["action"] == "started" || h["action"] == "completed")
        })
        .collect();
    assert_eq!(
        forms.len(),
        2,
        "Jennifer filled in exactly two forms: {forms:?}"
    );

    // 9. The audit trail shows every step.
    let (_, full) = call(
        "GET",
        &format!("{url}/v1/requests/{request}"),
        Some(ADMIN),
        None,
    );
    let audit = full["audit"].as_array().expect("audit");
    for step in [
        "manager-approval",
        "budget-check",
        "approved-notification",
        "vendor-add",
        "po-issued",
        "payment",
        "attend-training",
        "assessment-invite",
        "assessment-form",
        "goods-received",
    ] {
        assert!(
            audit
                .iter()
                .any(|a| a["action"] == "step" && a["node"] == step),
            "{step}: {audit:?}"
        );
    }
    assert!(
        audit
            .iter()
            .any(|a| a["action"] == "refused" && a["actor"] == "mallory")
    );
}

pub(super) fn start_server(db: &std::ffi::OsStr) -> (Killed, String) {
    // What a killed node had claimed is taken over after 4 s, not a minute.
    start_server_with(db, "4", &[])
}

/// [`start_server`] with what a killed node claimed taken over after `takeover` seconds, and
/// `more` arguments.
pub(super) fn start_server_with(
    db: &std::ffi::OsStr,
    takeover: &str,
    more: &[&str],
) -> (Killed, String) {
    let mut args = vec![
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        ADMIN,
        "--write-key",
        WRITE,
        "--server-key",
        SERVER,
        "--takeover-after",
        takeover,
    ];
    args.extend_from_slice(more);
    let (child, url, _) = super::serve::launch(&args, db, |_| true);
    (Killed(child), url)
}

/// Kills the server with SIGKILL after every step of a request and starts it again on the same
/// database: each step is either fully there or not at all, nothing is lost and nothing happens
/// twice.
#[test]
fn a_server_killed_after_every_step_loses_nothing_and_repeats_nothing() {
    let dir = temp_dir("e2e-crash");
    let db = dir.join("waymark.db");
    let mut server = None;
    walk_a_request(db.as_os_str(), &mut || {
        // Dropping the last one kills it (SIGKILL) and waits for it.
        drop(server.take());
        let (again, url) = start_server(db.as_os_str());
        server = Some(again);
        url
    });
}

/// Three `waymark serve` nodes on one PostgreSQL database serve a request interchangeably: each
/// step goes to the next node, and the node that served a step is killed with SIGKILL and started
/// again. People signed in on one node carry on with another, a request started on one is
/// approved on another, and nothing is lost or done twice.
#[test]
fn three_nodes_on_postgres_serve_one_request_interchangeably() {
    let Some(url) = waymark_store::testing::fresh_postgres() else {
        return;
    };
    let db = std::ffi::OsString::from(&url);
    let mut nodes: Vec<(Killed, String)> = (0..3).map(|_| start_server(&db)).collect();
    let mut turn = 0;
    walk_a_request(&db, &mut || {
        // Kill the node that served the last step (it starts again and rejoins), go to the next.
        let served = turn % nodes.len();
        let _ = nodes[served].0.0.kill();
        let _ = nodes[served].0.0.wait();
        nodes[served] = start_server(&db);
        turn += 1;
        nodes[turn % nodes.len()].1.clone()
    });
}

/// Walks the training request from start to end, calling `next` for the server to use before
/// each step (it may kill the one before), then checks that every step happened once.
fn walk_a_request(db: &std::ffi::OsStr, next: &mut dyn FnMut() -> String) {
    let mut url = next();
    let people = json!([
        { "id": "jennifer", "name": "Jennifer Lee", "email": "jennifer@example.com", "manager": "maria", "roles": [] },
        { "id": "maria", "name": "Maria Lopez", "email": "maria@example.com", "manager": "olivia", "roles": [] },
        { "id": "finn", "name": "Finn Berg", "email": "finn@example.com", "roles": ["finance"] },
        { "id": "olivia", "name": "Olivia Chen", "email": "olivia@example.com", "roles": [] }
    ]);
    let (status, _) = post_json(&format!("{url}/v1/directory/users"), ADMIN, people);
    assert_eq!(status, 200);
    let mut tokens = std::collections::HashMap::new();
    for id in ["jennifer", "maria", "finn"] {
        tokens.insert(id, sign_in(&url, id));
    }
    deploy_training(&url, "process.bpmn");
    url = next();

    let (status, started) = post_json(
        &format!("{url}/v1/processes/training-request/instances"),
        &tokens["jennifer"],
        json!({ "course": "Excel", "vendor": "Skills Academy", "cost": 300, "startDate": "2026-12-01", "vendorKnown": true }),
    );
    assert_eq!(status, 201);
    let request = started["instance"].as_i64().expect("instance");
    url = next();
    let approval = inbox(&url, &tokens["maria"], "manager-approval");
    url = next();
    let (status, _) = post_json(
        &format!("{url}/v1/tasks/{approval}/complete"),
        &tokens["maria"],
        json!({ "approved": true }),
    );
    assert_eq!(status, 200);
    url = next();
    // Completing it again after the restart is refused: it happened once.
    let (status, _) = post_json(
        &format!("{url}/v1/tasks/{approval}/complete"),
        &tokens["maria"],
        json!({ "approved": true }),
    );
    assert_eq!(status, 409);
    work(&url, "budget-check", json!({ "budgetOk": true }));
    url = next();
    work(&url, "email:training-approved", json!({}));
    url = next();
    for (step, values) in [
        ("po-issued", json!({ "po": "PO-20931" })),
        ("payment", json!({ "paid": 300, "paidOn": "2026-12-10" })),
    ] {
        let task = inbox(&url, &tokens["finn"], step);
        let (status, body) = post_json(
            &format!("{url}/v1/tasks/{task}/complete"),
            &tokens["finn"],
            values,
        );
        assert_eq!(status, 200, "{step}: {body}");
        url = next();
    }
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{SERVER}:"));
    let tracked = agent()
        .post(format!("{url}/v1/track"))
        .header("Authorization", &format!("Basic {basic}"))
        .header("Content-Type", "application/json")
        .send(
            json!({ "userId": "jennifer", "event": "Training Completed", "messageId": "lms-1" })
                .to_string(),
        )
        .expect("track");
    assert_eq!(tracked.status().as_u16(), 200);
    url = next();
    work(&url, "email:training-assessment", json!({}));
    url = next();
    let assessment = inbox(&url, &tokens["jennifer"], "assessment-form");
    let (status, _) = post_json(
        &format!("{url}/v1/tasks/{assessment}/complete"),
        &tokens["jennifer"],
        json!({ "rating": 4 }),
    );
    assert_eq!(status, 200);
    url = next();

    let (status, done) = call(
        "GET",
        &format!("{url}/v1/requests/{request}"),
        Some(ADMIN),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(done["status"], "completed", "{done}");
    // Every step exactly once in the audit trail.
    let audit = done["audit"].as_array().expect("audit");
    for step in [
        "manager-approval",
        "budget-check",
        "approved-notification",
        "po-issued",
        "payment",
        "attend-training",
        "assessment-invite",
        "assessment-form",
        "goods-received",
    ] {
        let completed = audit
            .iter()
            .filter(|a| a["action"] == "step" && a["node"] == step)
            .count();
        assert!(completed >= 1, "{step} missing");
        let completions = audit
            .iter()
            .filter(|a| a["action"] == "completed" && a["node"] == step)
            .count();
        assert!(completions <= 1, "{step} completed {completions} times");
    }
    // And every journey event once: message ids are unique.
    let location: waymark_store::Location = db
        .to_str()
        .expect("a location")
        .parse()
        .expect("a location");
    let store = waymark_store::open(
        &location,
        &waymark_store::Options {
            read_only: true,
            ..Default::default()
        },
    )
    .expect("store");

    let events = store.events_after(0, 100_000).expect("events");
    let mut ids: Vec<&str> = events.iter().map(|e| e.event.message_id.as_str()).collect();
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "no journey event was recorded twice");
    let completed: Vec<String> = events
        .iter()
        .filter(|e| e.event.name.as_deref() == Some("Task Completed"))
        .filter_map(|e| {
            serde_json::from_str::<Value>(&e.event.body).ok()?["properties"]["task"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    let mut unique = completed.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        completed.len(),
        "each step completed once: {completed:?}"
    );
}

/// Kills the server while 20 people complete tasks concurrently: every acknowledged completion
/// survives, and after the restart each request's stored state agrees with its tasks.
#[test]
fn a_server_killed_under_load_keeps_every_acknowledged_step() {
    let dir = temp_dir("e2e-crash-load");
    let db = dir.join("waymark.db");
    let (server, url) = start_server(db.as_os_str());
    let people: Vec<Value> = (0..20)
        .map(|i| json!({ "id": format!("p{i}"), "name": format!("P {i}"), "roles": [] }))
        .collect();
    post_json(
        &format!("{url}/v1/directory/users"),
        ADMIN,
        Value::from(people),
    );
    let bpmn = std::fs::read_to_string(workspace().join("bench/ten-steps.bpmn")).expect("process");
    let (status, _) = call(
        "POST",
        &format!("{url}/v1/processes"),
        Some(ADMIN),
        Some(("application/xml", bpmn)),
    );
    assert_eq!(status, 200);
    let tokens: Vec<String> = (0..20).map(|i| sign_in(&url, &format!("p{i}"))).collect();
    let acknowledged = std::sync::Mutex::new(Vec::new());
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for token in &tokens {
            let (url, acknowledged, stop) = (&url, &acknowledged, &stop);
            scope.spawn(move || {
                let (status, started) = post_json(
                    &format!("{url}/v1/processes/ten-steps/instances"),
                    token,
                    json!({}),
                );
                if status != 201 {
                    return;
                }
                let _ = started;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let agent = agent();
                    let Ok(mut response) = agent
                        .get(format!("{url}/v1/tasks"))
                        .header("Authorization", &format!("Bearer {token}"))
                        .call()
                    else {
                        return;
                    };
                    let inbox: Value = serde_json::from_str(
                        &response.body_mut().read_to_string().unwrap_or_default(),
                    )
                    .unwrap_or(Value::Null);
                    let Some(id) = inbox["tasks"]
                        .as_array()
                        .and_then(|t| t.first())
                        .and_then(|t| t["id"].as_str())
                        .map(str::to_string)
                    else {
                        return;
                    };
                    let Ok(answer) = agent
                        .post(format!("{url}/v1/tasks/{id}/complete"))
                        .header("Authorization", &format!("Bearer {token}"))
                        .header("Content-Type", "application/json")
                        .send("{}")
                    else {
                        return;
                    };
                    if answer.status().as_u16() == 200 {
                        acknowledged.lock().expect("lock").push(id);
                    }
                }
            });
        }
        // Kill it once the load is well under way (however fast this machine is); never panic
        // here, where the people's threads would wait for a stop that never comes.
        let waiting = Instant::now();
        while acknowledged.lock().map_or(0, |a| a.len()) < 30
            && waiting.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut server = server;
        let _ = server.0.kill();
        let _ = server.0.wait();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let acknowledged = acknowledged.into_inner().expect("lock");
    assert!(
        acknowledged.len() > 20,
        "the load ran: {}",
        acknowledged.len()
    );
    // Restart, then look at the database.
    let (server, _) = start_server(db.as_os_str());
    drop(server);
    let store = waymark_store::open(&waymark_store::Location::from(&db), &Default::default())
        .expect("store");
    for id in &acknowledged {
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
    for instance in 1..=20 {
        let Some(row) = store.instance(instance).expect("instance") else {
            continue;
        };
        let open: Vec<u64> = store
            .instance_tasks(instance)
            .expect("tasks")
            .into_iter()
            .filter(|t| t.status == "open")
            .map(|t| t.task)
            .collect();
        let in_state: Vec<u64> = row.state.tasks.keys().copied().collect();
        assert_eq!(
            open, in_state,
            "instance {instance}: tasks table and engine state agree"
        );
        assert!(
            open.len() <= 1,
            "a ten-step request has one open task at a time"
        );
    }
}

/// The private-CA TLS servers of `tests/tls/servers.py`: (process, directory, SMTP port,
/// HTTPS port).
fn tls_servers(python: &str, name: &str) -> (Killed, PathBuf, u16, u16) {
    let dir = temp_dir(name);
    let (smtp, https) = (free_port(), free_port());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tls/servers.py");
    let child = Command::new(python)
        .arg(script)
        .arg(&dir)
        .arg(smtp.to_string())
        .arg(https.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the TLS servers (scripts/test installs aiosmtpd and trustme)");
    let child = Killed(child);
    wait_for("the TLS servers", || {
        dir.join("ready").exists().then_some(())
    });
    (child, dir, smtp, https)
}

/// A request whose steps call an https:// webhook and send an email through an SMTP server
/// that requires STARTTLS, both with certificates from a private CA: with `--tls-ca` naming
/// that CA both go through, the webhook's answer becoming variables; with another CA the
/// webhook is refused for its certificate, retried, and the administrator sees why.
#[test]
fn webhooks_and_email_go_out_over_tls() {
    let Some(python) = super::clients::required("WAYMARK_PYTHON") else {
        return;
    };
    let (_servers, tls, smtp_port, https_port) = tls_servers(&python, "e2e-tls");
    let process = format!(
        "process: order\nsteps:\n  - id: place-order\n    webhook: https://localhost:{https_port}/orders\n  - id: confirm\n    email: order-placed\n"
    );
    for (ca, trusted) in [("ca.pem", true), ("other-ca.pem", false)] {
        let db = temp_dir(&format!("e2e-tls-{trusted}")).join("waymark.db");
        let smtp = format!("smtp://localhost:{smtp_port}?tls=required");
        let ca_path = tls.join(ca).display().to_string();
        let args = [
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-token",
            ADMIN,
            "--smtp-url",
            &smtp,
            "--tls-ca",
            &ca_path,
        ];
        let (child, url, _) = super::serve::launch(&args, &db, |_| true);
        let _server = Killed(child);
        directory(
            &url,
            "id,name,email,department,manager,roles\nava,Ava Stone,ava@example.com,sales,,\n",
        );
        let ava = sign_in(&url, "ava");
        let (status, body) = call(
            "POST",
            &format!("{url}/v1/processes"),
            Some(ADMIN),
            Some(("application/yaml", process.clone())),
        );
        assert_eq!(status, 200, "{body}");
        let (status, body) = post_json(
            &format!("{url}/v1/processes/order/instances"),
            &ava,
            json!({ "item": "laptop" }),
        );
        assert_eq!(status, 201, "{body}");
        let instance = body["instance"].as_i64().expect("instance");
        let request = format!("{url}/v1/requests/{instance}");
        if trusted {
            let done = wait_for("the request to finish", || {
                let (_, body) = call("GET", &request, Some(ADMIN), None);
                (body["status"] == "completed").then_some(body)
            });
            assert!(
                done["history"].to_string().contains("place-order"),
                "{done}"
            );
            let hook: Value = serde_json::from_str(
                &std::fs::read_to_string(tls.join("hooks/0.json")).expect("the webhook was called"),
            )
            .expect("json");
            assert_eq!(hook["path"], "/orders");
            let sent: Value =
                serde_json::from_str(hook["body"].as_str().unwrap_or_default()).expect("body");
            assert_eq!(sent["variables"]["item"], "laptop", "{hook}");
            // The idempotency key names the instance and the task: the same on every attempt.
            assert_eq!(
                hook["key"],
                format!("wf-{}", sent["task"].as_str().unwrap_or_default()),
                "{hook}"
            );
            assert_eq!(sent["instance"], instance, "{hook}");
            let mail = wait_for("the email", || mails(&tls.join("mail")).into_iter().next());
            assert!(mail.contains("ava@example.com"), "{mail}");
        } else {
            let stuck = wait_for("a refused webhook call", || {
                let (_, body) = call("GET", &request, Some(ADMIN), None);
                (body["webhooks"][0]["attempts"].as_i64().unwrap_or(0) >= 1).then_some(body)
            });
            let error = stuck["webhooks"][0]["last_error"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase();
            assert!(
                error.contains("certificate") || error.contains("issuer"),
                "{stuck}"
            );
            assert_eq!(stuck["status"], "running", "{stuck}");
            assert_eq!(
                std::fs::read_dir(tls.join("hooks")).expect("hooks").count(),
                1,
                "only the trusted run's call arrived"
            );
        }
    }
}
