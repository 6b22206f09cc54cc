//! The reference case end to end, on a real server process with a real SMTP server: Jennifer,
//! her manager, Finance and a learning system drive her training request through the HTTP API;
//! she gets the assessment email, follows its signed link and submits the assessment.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

const ADMIN: &str = "e2e-admin-token";
const WRITE: &str = "wk_e2e";

struct Killed(Child);

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
fn smtp_server(python: &str, maildir: &Path) -> (Killed, u16) {
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

/// The messages in the maildir, as text.
fn mails(maildir: &Path) -> Vec<String> {
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

fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
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

fn call(
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

fn post_json(url: &str, token: &str, body: Value) -> (u16, Value) {
    call(
        "POST",
        url,
        Some(token),
        Some(("application/json", body.to_string())),
    )
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
    let dir = temp_dir("e2e-training");
    let maildir = dir.join("mail");
    let (_smtp, port) = smtp_server(&python, &maildir);
    let db = dir.join("waymark.db");
    let smtp = format!("smtp://127.0.0.1:{port}");
    let args = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        ADMIN,
        "--write-key",
        WRITE,
        "--smtp-url",
        &smtp,
        "--mail-from",
        "Waymark HR <hr@example.com>",
    ];
    let (child, url, _) = super::serve::launch(&args, &db, |_| true);
    let _server = Killed(child);

    // The directory and the process.
    let csv = "id,name,email,department,manager,roles\n\
        jennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\n\
        maria,Maria Lopez,maria@example.com,customer-success,olivia,manager\n\
        finn,Finn Berg,finn@example.com,finance,olivia,finance\n\
        olivia,Olivia Chen,olivia@example.com,leadership,,\n\
        mallory,Mallory Smith,mallory@example.com,sales,olivia,\n";
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/directory/users"),
        Some(ADMIN),
        Some(("text/csv", csv.to_string())),
    );
    assert_eq!(status, 200, "{body}");
    let token = |id: &str| {
        let (status, body) = post_json(
            &format!("{url}/v1/directory/users/{id}/tokens"),
            ADMIN,
            json!({}),
        );
        assert_eq!(status, 200, "{body}");
        body["token"].as_str().expect("token").to_string()
    };
    let (jennifer, maria, finn, mallory) = (
        token("jennifer"),
        token("maria"),
        token("finn"),
        token("mallory"),
    );
    let bpmn = std::fs::read_to_string(example("process.bpmn")).expect("process");
    let (status, body) = call(
        "POST",
        &format!("{url}/v1/processes"),
        Some(ADMIN),
        Some(("application/xml", bpmn)),
    );
    assert_eq!(status, 200, "{body}");

    // 1. Jennifer submits the one form.
    let (status, started) = post_json(
        &format!("{url}/v1/processes/training-request/instances"),
        &jennifer,
        json!({ "course": "Negotiation Skills", "vendor": "Skills Academy", "cost": 1200, "vendorKnown": false }),
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
    wait_for("the approval email", || {
        mails(&maildir)
            .into_iter()
            .find(|m| m.contains("Tell Jennifer it was approved"))
    });
    // 4. Finance adds the vendor (it is unknown) and issues the PO; 5. the payment is recorded.
    for step in ["vendor-add", "po-issued", "payment"] {
        let task = inbox(&url, &finn, step);
        let (status, body) =
            post_json(&format!("{url}/v1/tasks/{task}/complete"), &finn, json!({}));
        assert_eq!(status, 200, "{body}");
    }
    // 6. The learning system reports the training completed.
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{WRITE}:"));
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
        .find(|w| w.contains("/v1/links/"))
        .expect("a link in the email")
        .trim()
        .to_string();
    assert!(link.starts_with(&url), "{link}");
    let (status, view) = call("GET", &link, None, None);
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["task"]["step"], "assessment-form", "{view}");
    let (status, forged) = call("GET", &format!("{link}x"), None, None);
    assert_eq!(status, 403, "{forged}");
    let (status, body) = call(
        "POST",
        &link,
        None,
        Some((
            "application/json",
            json!({ "rating": 5, "useful": true }).to_string(),
        )),
    );
    assert_eq!(status, 200, "{body}");

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
