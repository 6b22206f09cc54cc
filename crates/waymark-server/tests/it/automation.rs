//! The workflow API as the four people of the reference case use it, and as someone it is not
//! meant for.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::*;

/// How long the webhook calls below are claimed for.
const LEASE_US: i64 = 120_000_000;

pub(crate) fn example(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/training-request")
        .join(name);
    std::fs::read_to_string(path).expect("example")
}

pub(crate) fn bearer(token: &str) -> [(&'static str, String); 1] {
    [("authorization", format!("Bearer {token}"))]
}

pub(crate) async fn as_user(
    router: &axum::Router,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    post(router, path, body.to_string().into_bytes(), &bearer(token)).await
}

/// The one task in `who`'s inbox, checked to be at `step`.
async fn inbox_task(router: &axum::Router, token: &str, step: &str) -> String {
    let (status, inbox) = get(router, "/v1/tasks", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    let tasks = inbox["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{inbox}");
    assert_eq!(tasks[0]["step"], step, "{inbox}");
    tasks[0]["id"].as_str().expect("id").to_string()
}

/// Posts CSV, as a directory export is sent.
async fn post_csv(router: &axum::Router, path: &str, csv: &str) -> (StatusCode, Value) {
    let request = axum::http::Request::post(path)
        .header("content-type", "text/csv")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(axum::body::Body::from(csv.to_string()))
        .expect("request");
    let response = tower::ServiceExt::oneshot(router.clone(), request)
        .await
        .expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Deploys the six forms of the to-be request, each under its file's name.
pub(crate) async fn deploy_forms(router: &axum::Router) {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/training-request/forms");
    let mut deployed = 0;
    for entry in std::fs::read_dir(dir).expect("forms") {
        let path = entry.expect("entry").path();
        let key = path.file_stem().and_then(|s| s.to_str()).expect("name");
        let schema = std::fs::read(&path).expect("form");
        let (status, body) =
            post(router, &format!("/v1/forms/{key}"), schema, &bearer(ADMIN)).await;
        assert_eq!(status, StatusCode::OK, "{key}: {body}");
        deployed += 1;
    }
    assert_eq!(deployed, 6);
}

async fn finish_work(router: &axum::Router, topic: &str, result: Value) {
    let (status, work) = get(router, &format!("/v1/work?topic={topic}"), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    let tasks = work["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{topic}: {work}");
    let id = tasks[0]["id"].as_str().expect("id");
    let (status, body) = as_user(router, &format!("/v1/work/{id}/complete"), ADMIN, result).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn jennifers_request_through_the_api() {
    jennifers_request("process.bpmn").await;
}

/// The same request from the process written in Waymark's YAML.
#[tokio::test]
async fn jennifers_request_through_the_api_from_the_yaml_process() {
    jennifers_request("process.yaml").await;
}

async fn jennifers_request(file: &str) {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let csv = "id,name,email,department,manager,roles\n\
        jennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\n\
        maria,Maria Lopez,maria@example.com,customer-success,olivia,manager\n\
        finn,Finn Berg,finn@example.com,finance,olivia,finance;accounts-payable\n\
        olivia,Olivia Chen,olivia@example.com,leadership,,\n\
        mallory,Mallory Smith,mallory@example.com,sales,olivia,\n";
    let (status, body) = post_csv(&router, "/v1/directory/users", csv).await;
    assert_eq!(
        (status, body["stored"].as_u64()),
        (StatusCode::OK, Some(5)),
        "{body}"
    );
    let mut tokens = std::collections::HashMap::new();
    for id in ["jennifer", "maria", "finn", "mallory"] {
        let (status, body) = as_user(
            &router,
            &format!("/v1/directory/users/{id}/tokens"),
            ADMIN,
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        tokens.insert(id, body["token"].as_str().expect("token").to_string());
    }
    let token = |id: &str| tokens[id].clone();
    // People cannot manage the directory or deploy.
    let (status, _) = get(&router, "/v1/directory/users", Some(&token("jennifer"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Deploying checks the model first.
    let (status, bad) = post(&router, "/v1/processes", b"<definitions xmlns=\"http://www.omg.org/spec/BPMN/20100524/MODEL\"><process id=\"p\" isExecutable=\"true\"><callActivity id=\"c\"/></process></definitions>".to_vec(), &bearer(ADMIN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let problems = bad["error"]["problems"].as_array().expect("problems");
    assert!(
        problems
            .iter()
            .any(|p| p["code"] == "unsupported-element" && p["line"] == 1),
        "{bad}"
    );
    let (status, bad) = post(
        &router,
        "/v1/processes",
        b"process: p\nsteps:\n  - id: a\n    form: f\n    actor: somebody\n".to_vec(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(
        bad["error"]["problems"][0]["code"], "unknown-actor",
        "{bad}"
    );
    assert_eq!(bad["error"]["problems"][0]["line"], 5, "{bad}");
    let (status, deployed) = post(
        &router,
        "/v1/processes",
        example(file).into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    assert_eq!(deployed["processes"][0]["version"], 1);
    let format = if file.ends_with(".yaml") {
        "yaml"
    } else {
        "bpmn"
    };
    assert_eq!(
        store
            .process("training-request", None)
            .expect("read")
            .expect("deployed")
            .format,
        format
    );

    deploy_forms(&router).await;

    // 1. Jennifer submits the one form.
    let mut forms_jennifer_filled = 1;
    let (status, started) = as_user(
        &router,
        "/v1/processes/training-request/instances",
        &token("jennifer"),
        json!({ "course": "Negotiation Skills", "vendor": "Skills Academy", "cost": 1200, "vendorKnown": false, "startDate": "2026-12-01T09:00:00Z" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let instance = started["instance"].as_i64().expect("instance");

    // Someone else can neither read her request nor act on its tasks; both attempts are audited.
    let (status, _) = get(
        &router,
        &format!("/v1/requests/{instance}"),
        Some(&token("mallory")),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, inbox) = get(&router, "/v1/tasks", Some(&token("mallory"))).await;
    assert_eq!(
        (status, inbox["tasks"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );

    // 2. Her manager approves.
    let approval = inbox_task(&router, &token("maria"), "manager-approval").await;
    let (status, _) = as_user(
        &router,
        &format!("/v1/tasks/{approval}/complete"),
        &token("mallory"),
        json!({ "approved": true }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = as_user(
        &router,
        &format!("/v1/tasks/{approval}/comment"),
        &token("maria"),
        json!({ "text": "Good course." }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = as_user(
        &router,
        &format!("/v1/tasks/{approval}/complete"),
        &token("maria"),
        json!({ "approved": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = as_user(
        &router,
        &format!("/v1/tasks/{approval}/complete"),
        &token("maria"),
        json!({ "approved": true }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "a task is completed once");

    // 3. The budget check passes; the approval email goes out.
    finish_work(&router, "budget-check", json!({ "budgetOk": true })).await;
    finish_work(&router, "email:training-approved", json!({})).await;

    // 4. Finance adds the vendor (unknown) and issues the PO; 5. payment is recorded.
    for (step, values) in [
        (
            "vendor-add",
            json!({ "vendorId": "S-1001", "vendorEmail": "billing@skills.example" }),
        ),
        ("po-issued", json!({ "po": "PO-20260042" })),
        (
            "payment",
            json!({ "paid": 1200, "paidOn": "2026-11-20T10:00:00Z" }),
        ),
    ] {
        let task = inbox_task(&router, &token("finn"), step).await;
        let (status, body) = as_user(
            &router,
            &format!("/v1/tasks/{task}/complete"),
            &token("finn"),
            values,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    // Where it stands, for Jennifer.
    let (status, mine) = get(&router, "/v1/requests", Some(&token("jennifer"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["requests"][0]["status"], "running");
    assert_eq!(
        mine["requests"][0]["now_with"],
        json!([]),
        "waiting for the training, with nobody"
    );

    // 6. The learning system reports the training completed (collection API).
    // Sent with the public write key, it only records: nothing moves.
    let (status, _) = send(
        &router,
        "/v1/track",
        json!({ "userId": "jennifer", "event": "Training Completed", "messageId": "forged-1" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, work) = get(
        &router,
        "/v1/work?topic=email:training-assessment",
        Some(ADMIN),
    )
    .await;
    assert_eq!(work["tasks"], json!([]), "the write key moved a request");
    let (status, _) = send_with(&router, SERVER_KEY, "/v1/track", json!({ "userId": "jennifer", "event": "Training Completed", "messageId": "lms-1", "properties": { "hours": 16 } })).await;
    assert_eq!(status, StatusCode::OK);

    // 7. The assessment invitation goes out; she submits the assessment.
    finish_work(&router, "email:training-assessment", json!({})).await;
    let assessment = inbox_task(&router, &token("jennifer"), "assessment-form").await;
    let (status, body) = as_user(
        &router,
        &format!("/v1/tasks/{assessment}/complete"),
        &token("jennifer"),
        json!({ "rating": 5, "recommend": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    forms_jennifer_filled += 1;

    // 8. Goods received completed by itself; the request is done.
    let (status, mine) = get(
        &router,
        &format!("/v1/requests/{instance}"),
        Some(&token("jennifer")),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["status"], "completed");
    assert!(
        mine.get("audit").is_none(),
        "the audit trail is for administrators"
    );
    assert_eq!(forms_jennifer_filled, 2);
    let by_her: Vec<&Value> = mine["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|h| {
            h["by"] == "jennifer" && (h["action"] == "started" || h["action"] == "completed")
        })
        .collect();
    assert_eq!(
        by_her.len(),
        2,
        "she filled in exactly two forms: {by_her:?}"
    );

    // 9. The audit trail shows every step, who did it, and the refused attempts.
    let (status, full) = get(&router, &format!("/v1/requests/{instance}"), Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
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
            "{step}"
        );
    }
    let refused: Vec<&Value> = audit.iter().filter(|a| a["action"] == "refused").collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(refused.iter().all(|a| a["actor"] == "mallory"));
    assert!(
        audit
            .iter()
            .any(|a| a["action"] == "comment" && a["data"]["text"] == "Good course.")
    );
    let started = audit
        .iter()
        .find(|a| a["action"] == "started")
        .expect("started");
    assert_eq!(
        started["data"]["course"], "Negotiation Skills",
        "the form data is kept"
    );
}

#[tokio::test]
async fn tokens_are_checked_and_mistakes_are_named() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let (status, _) = get(&router, "/v1/tasks", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(&router, "/v1/tasks", Some("wu_not-a-token")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get(&router, "/v1/tasks", Some(ADMIN)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an administrator acts as a person only with their token: {body}"
    );
    let (status, body) = post(
        &router,
        "/v1/directory/users",
        b"[{\"id\": 3}]".to_vec(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = post(
        &router,
        "/v1/directory/users",
        b"[{\"id\": \"amy\", \"name\": \"Amy\", \"roles\": []}]".to_vec(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, issued) = as_user(&router, "/v1/directory/users/amy/tokens", ADMIN, json!({})).await;
    let amy = issued["token"].as_str().expect("token").to_string();
    let (status, body) = as_user(&router, "/v1/processes/nope/instances", &amy, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = as_user(&router, "/v1/tasks/x/complete", &amy, json!({})).await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("id")),
        "{body}"
    );
    let (status, _) = as_user(
        &router,
        "/v1/directory/users/nobody/tokens",
        ADMIN,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Forms: the start form is checked per field and nothing is stored when it fails; what the
/// directory knows is prefilled and read-only; task forms are checked too.
#[tokio::test]
async fn forms_are_checked_per_field_and_prefilled_from_the_directory() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let (status, _) = post_csv(
        &router,
        "/v1/directory/users",
        "id,name,email,department,manager,roles\njennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\nmaria,Maria Lopez,maria@example.com,customer-success,olivia,\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for key in ["request-training", "approve-training"] {
        let (status, body) = post(
            &router,
            &format!("/v1/forms/{key}"),
            example(&format!("forms/{key}.form")).into_bytes(),
            &bearer(ADMIN),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, bad) = post(
        &router,
        "/v1/forms/broken",
        br#"{"components": [{"type": "signature", "key": "s"}]}"#.to_vec(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(
        (status, &bad["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("/components/0/type")),
        "{bad}"
    );
    post(
        &router,
        "/v1/processes",
        example("process.bpmn").into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    let (_, issued) = as_user(
        &router,
        "/v1/directory/users/jennifer/tokens",
        ADMIN,
        json!({}),
    )
    .await;
    let jennifer = issued["token"].as_str().expect("token").to_string();
    let (_, issued) = as_user(
        &router,
        "/v1/directory/users/maria/tokens",
        ADMIN,
        json!({}),
    )
    .await;
    let maria = issued["token"].as_str().expect("token").to_string();

    // The form knows her manager and department.
    let (status, form) = get(
        &router,
        "/v1/processes/training-request/form",
        Some(&jennifer),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{form}");
    assert_eq!(
        form["prefill"],
        json!({ "manager": "maria", "department": "customer-success" })
    );

    // A bad submission: every problem by field, and no request is created.
    let (status, bad) = as_user(
        &router,
        "/v1/processes/training-request/instances",
        &jennifer,
        json!({ "vendor": "Skills Academy", "cost": -5, "startDate": "2026-02-30" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert_eq!(bad["error"]["field"], "course,cost,startDate", "{bad}");
    let (_, mine) = get(&router, "/v1/requests", Some(&jennifer)).await;
    assert_eq!(mine["requests"], json!([]), "nothing is half-saved");

    // A good one; the read-only manager stays what the directory says.
    let (status, started) = as_user(
        &router,
        "/v1/processes/training-request/instances",
        &jennifer,
        json!({ "course": "Negotiation", "vendor": "Skills Academy", "cost": "1,200", "startDate": "2026-12-01", "manager": "someone-else" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let instance = started["instance"].as_i64().expect("instance");
    let row = store.instance(instance).expect("row").expect("instance");
    assert_eq!(row.state.variables["manager"], "maria");
    assert_eq!(row.state.variables["cost"], 1200, "typed from the form");

    // The approval form: declining needs a reason; approving does not show it.
    let task = inbox_task(&router, &maria, "manager-approval").await;
    let (status, bad) = as_user(
        &router,
        &format!("/v1/tasks/{task}/complete"),
        &maria,
        json!({ "approved": false }),
    )
    .await;
    assert_eq!(
        (status, &bad["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("reason")),
        "{bad}"
    );
    assert_eq!(
        store
            .instance(instance)
            .expect("row")
            .expect("row")
            .state
            .tasks
            .len(),
        1,
        "still open"
    );
    let (status, body) = as_user(
        &router,
        &format!("/v1/tasks/{task}/complete"),
        &maria,
        json!({ "approved": true }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A service task that calls a webhook: retried with growing waits while the receiver fails,
/// with the same idempotency key every time, and completed with the receiver's answer.
#[test]
fn webhooks_are_retried_with_backoff_and_one_idempotency_key() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        retried_with_backoff(store);
    }
}

fn retried_with_backoff(store: std::sync::Arc<dyn waymark_store::Store>) {
    use std::io::{BufRead as _, Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Value)>::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
            let (mut key, mut length) = (String::new(), 0usize);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("idempotency-key:") {
                    key = v.trim().to_string();
                }
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            log.lock()
                .expect("lock")
                .push((key, serde_json::from_slice(&body).unwrap_or(Value::Null)));
            // The budget system is down twice, then answers.
            let answer = if n < 2 {
                "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    .to_string()
            } else {
                let body = r#"{"budgetOk": true, "remaining": 4200}"#;
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = stream.write_all(answer.as_bytes());
        }
    });
    store
        .put_users(&[waymark_store::workflow::User {
            id: "jennifer".into(),
            name: "Jennifer".into(),
            email: None,
            department: None,
            manager: None,
            roles: vec![],
        }])
        .expect("users");
    let bpmn = format!(
        r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:waymark="https://waymark.dev/schema/bpmn">
  <process id="budget" isExecutable="true">
    <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="check"/>
    <serviceTask id="check" name="Check the budget" waymark:url="http://127.0.0.1:{port}/check"/>
    <sequenceFlow id="f2" sourceRef="check" targetRef="e"/><endEvent id="e"/>
  </process>
</definitions>"#
    );
    store
        .deploy_process("budget", "Budget", "bpmn", &bpmn, 0)
        .expect("deploy");
    let instance = store
        .start_instance("budget", "jennifer", serde_json::Map::new(), 0)
        .expect("start");
    let second = waymark_server::webhooks::Settings::default();
    let micros = 1_000_000;
    assert_eq!(
        waymark_server::webhooks::call_due(store.as_ref(), &second, 0, LEASE_US),
        0,
        "503"
    );
    assert_eq!(
        waymark_server::webhooks::call_due(store.as_ref(), &second, micros / 2, LEASE_US),
        0,
        "not due yet"
    );
    assert_eq!(seen.lock().expect("lock").len(), 1);
    assert_eq!(
        waymark_server::webhooks::call_due(store.as_ref(), &second, micros, LEASE_US),
        0,
        "503 again"
    );
    let (attempts, error) = store
        .webhook_attempts(instance, 2)
        .expect("attempts")
        .expect("kept");
    assert_eq!(attempts, 2);
    assert!(error.contains("503"), "{error}");
    // Administrators see it among the failing calls.
    let (failing, all) = store.failing_webhooks(10).expect("failing");
    assert_eq!(all, 1);
    assert_eq!(
        (
            failing[0].instance,
            failing[0].task,
            failing[0].name.as_str(),
            failing[0].attempts
        ),
        (instance, 2, "Check the budget", 2)
    );
    assert!(failing[0].last_error.contains("503"));
    assert_eq!(
        waymark_server::webhooks::call_due(store.as_ref(), &second, 2 * micros, LEASE_US),
        0,
        "waits twice as long"
    );
    // An administrator calls it again at once instead, with a reason: it is due now (the third
    // call answers), and the history says who and why. Without a reason, nothing happens.
    let id = waymark_server::work::TaskId { instance, task: 2 };
    let missing = waymark_server::manage::retry_webhook(store.as_ref(), "ada", id, " ", 2 * micros)
        .expect_err("a reason is needed");
    assert!(missing.to_string().contains("say why"), "{missing}");
    waymark_server::manage::retry_webhook(
        store.as_ref(),
        "ada",
        id,
        "the budget system is back",
        2 * micros + 1,
    )
    .expect("retried");
    let trail = store.audit_trail(instance).expect("trail");
    let retried = trail
        .iter()
        .find(|a| a.action == "retried")
        .expect("in the history");
    assert_eq!(
        (retried.actor.as_str(), retried.data["reason"].as_str()),
        ("ada", Some("the budget system is back"))
    );
    assert_eq!(
        waymark_server::webhooks::call_due(store.as_ref(), &second, 2 * micros + 2, LEASE_US),
        1,
        "called at once, and answered"
    );
    assert_eq!(
        store.failing_webhooks(10).expect("failing").1,
        0,
        "answered at last"
    );
    // Done: there is nothing left to call again.
    let done =
        waymark_server::manage::retry_webhook(store.as_ref(), "ada", id, "again", 3 * micros)
            .expect_err("nothing waits");
    assert!(
        matches!(done, waymark_server::work::WorkError::Conflict(_)),
        "{done}"
    );

    let calls = seen.lock().expect("lock").clone();
    assert_eq!(calls.len(), 3);
    assert!(
        calls
            .iter()
            .all(|(key, _)| key == &format!("wf-{instance}-2")),
        "{calls:?}"
    );
    assert_eq!(calls[0].1["variables"]["requester"], "jennifer");
    let row = store.instance(instance).expect("row").expect("instance");
    assert_eq!(row.status, "completed");
    assert_eq!(row.state.variables["budgetOk"], true);
}

/// A receiver that never answers: the call gives up after half its claim, so it never outlives
/// it (another node may take the task over then), and the failure is kept for administrators.
#[test]
fn a_webhook_call_gives_up_within_its_claim() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("addr").port();
    // Accepts and holds every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let store = waymark_store::open_in_memory().expect("store");
    store
        .put_users(&[waymark_store::workflow::User {
            id: "jennifer".into(),
            name: "Jennifer".into(),
            email: None,
            department: None,
            manager: None,
            roles: vec![],
        }])
        .expect("users");
    let process = format!(
        "process: silent\nsteps:\n  - id: ping\n    webhook: http://127.0.0.1:{port}/ping\n"
    );
    store
        .deploy_process("silent", "Silent", "yaml", &process, 0)
        .expect("deploy");
    let instance = store
        .start_instance("silent", "jennifer", serde_json::Map::new(), 0)
        .expect("start");
    let settings = waymark_server::webhooks::Settings::default();
    let started = std::time::Instant::now();
    let done = waymark_server::webhooks::call_due(store.as_ref(), &settings, 0, 2_000_000);
    let took = started.elapsed();
    assert_eq!(done, 0);
    assert!(
        took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(2),
        "a 2 s claim allows a 1 s call: {took:?}"
    );
    let ping = store
        .instance_tasks(instance)
        .expect("tasks")
        .into_iter()
        .find(|t| t.node == "ping")
        .expect("the webhook task");
    assert_eq!(ping.status, "open", "tried again later");
    let (attempts, error) = store
        .webhook_attempts(instance, ping.task)
        .expect("attempts")
        .expect("kept");
    assert_eq!(attempts, 1);
    assert!(error.to_lowercase().contains("time"), "{error}");
    // While a node is calling it again (its job claimed), an administrator's "call it again
    // now" is refused: it would make a second call at the same time.
    let far = 10 * 3_600_000_000;
    let claimed = store
        .claim_jobs(
            waymark_store::workflow::JobKind::Webhook,
            far,
            2_000_000,
            10,
        )
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let id = waymark_server::work::TaskId {
        instance,
        task: ping.task,
    };
    let busy = waymark_server::manage::retry_webhook(store.as_ref(), "ada", id, "again", far)
        .expect_err("being called");
    assert!(
        matches!(busy, waymark_server::work::WorkError::Conflict(_)),
        "{busy}"
    );
}

/// A process whose start waits for a collected event: each such event starts one request for the
/// person it is about; the same event sent again (a retry, same message id) starts nothing more.
#[tokio::test]
async fn a_collected_event_starts_a_process_once() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let (status, _) = post_csv(
        &router,
        "/v1/directory/users",
        "id,name,email,department,manager,roles\nsam,Sam Cole,sam@example.com,sales,,\n",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let process = "process: onboarding\nstart:\n  id: signed-up\n  message: Contract Signed\n  variables:\n    plan: text\nsteps:\n  - id: welcome-call\n    form: call-notes\n    actor: role:success\n";
    let (status, deployed) = post(
        &router,
        "/v1/processes",
        process.as_bytes().to_vec(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{deployed}");
    // The public write key only records: its event starts nothing.
    let (status, _) = send(
        &router,
        "/v1/track",
        json!({ "userId": "sam", "event": "Contract Signed", "messageId": "web-1" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(store.instances_of("sam").expect("instances").is_empty());
    let event = json!({ "userId": "sam", "event": "Contract Signed", "messageId": "crm-1", "properties": { "plan": "gold", "requester": "mallory", "undeclared": 1 } });
    for _ in 0..2 {
        let (status, _) = send_with(&router, SERVER_KEY, "/v1/track", event.clone()).await;
        assert_eq!(status, StatusCode::OK);
    }
    // Another event, another request; an event of another name starts nothing.
    let (status, _) = send_with(
        &router,
        SERVER_KEY,
        "/v1/track",
        json!({ "userId": "sam", "event": "Contract Signed", "messageId": "crm-2" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send_with(
        &router,
        SERVER_KEY,
        "/v1/track",
        json!({ "userId": "sam", "event": "Contract Viewed", "messageId": "crm-3" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut instances = store.instances_of("sam").expect("instances");
    instances.sort();
    assert_eq!(instances.len(), 2, "{instances:?}");
    let first = store
        .instance(instances[0])
        .expect("read")
        .expect("instance");
    assert_eq!(first.process, "onboarding");
    assert_eq!(first.requester, "sam");
    assert_eq!(
        first.state.variables["plan"], "gold",
        "the property the process declares"
    );
    assert_eq!(
        first.state.variables["requester"], "sam",
        "never the event's"
    );
    assert!(
        first.state.variables.get("undeclared").is_none(),
        "undeclared properties stay out: {:?}",
        first.state.variables
    );
    let tasks = store.instance_tasks(instances[0]).expect("tasks");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].node, "welcome-call");
}

/// `GET /v1/tasks` is paged: `limit` tasks at a time with the next page's start, each task once,
/// and a limit or cursor that is not one is refused naming its field.
#[tokio::test]
async fn an_inbox_is_read_a_page_at_a_time() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let mut csv = String::from(
        "id,name,email,department,manager,roles\nmaria,Maria Lopez,maria@example.com,cs,olivia,manager\n",
    );
    for i in 0..5 {
        csv.push_str(&format!("e{i},E {i},e{i}@example.com,support,maria,\n"));
    }
    let (status, _) = post_csv(&router, "/v1/directory/users", &csv).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &router,
        "/v1/processes",
        example("process.bpmn").into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for i in 0..5 {
        store
            .start_instance(
                "training-request",
                &format!("e{i}"),
                Default::default(),
                1_800_000_000_000_000 + i,
            )
            .expect("a request");
    }
    let maria = store.issue_user_token("maria").expect("token");
    let mut seen = Vec::new();
    let mut path = "/v1/tasks?limit=2".to_string();
    loop {
        let (status, page) = get(&router, &path, Some(&maria)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let tasks = page["tasks"].as_array().expect("tasks");
        assert!(tasks.len() <= 2, "{page}");
        seen.extend(
            tasks
                .iter()
                .map(|t| t["id"].as_str().expect("id").to_string()),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/v1/tasks?limit=2&after={next}"),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (5, 5), "{seen:?}");
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("after=abc", "after"),
        ("after=1.2.3.4", "after"),
    ] {
        let (status, body) = get(&router, &format!("/v1/tasks?{query}"), Some(&maria)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
}
