//! Nobody acts beyond their authority: each test is one finding of trying Waymark as an attacker
//! would, and failed before the fix (issue 15, part 2).

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::automation::{as_user, bearer};
use super::*;

/// The directory of these tests: Jennifer asks, Maria is her manager, Finn is in Finance, Ada
/// administers (by role), Alex is an agent, and "admin" is also a department name.
const PEOPLE: &str = "[
  {\"id\": \"jennifer\", \"name\": \"Jennifer Lee\", \"email\": \"jennifer@example.com\", \"department\": \"customer-success\", \"manager\": \"maria\", \"roles\": []},
  {\"id\": \"maria\", \"name\": \"Maria Lopez\", \"email\": \"maria@example.com\", \"department\": \"customer-success\", \"roles\": [\"manager\"]},
  {\"id\": \"finn\", \"name\": \"Finn Berg\", \"email\": \"finn@example.com\", \"department\": \"finance\", \"roles\": [\"finance\"]},
  {\"id\": \"ada\", \"name\": \"Ada Admin\", \"email\": \"ada@example.com\", \"department\": \"it\", \"roles\": [\"admin\"]},
  {\"id\": \"alex\", \"name\": \"Alex Agent\", \"email\": \"alex@example.com\", \"department\": \"admin\", \"roles\": [\"agent\"]},
  {\"id\": \"sol\", \"name\": \"Sol Self\", \"email\": \"sol@example.com\", \"department\": \"sales\", \"manager\": \"sol\", \"roles\": []}
]";

/// A router with the directory above and a token per person.
async fn organisation() -> (
    Arc<dyn Store>,
    axum::Router,
    std::collections::HashMap<&'static str, String>,
) {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let (status, body) = post(
        &router,
        "/v1/directory/users",
        PEOPLE.as_bytes().to_vec(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut tokens = std::collections::HashMap::new();
    for id in ["jennifer", "maria", "finn", "ada", "alex", "sol"] {
        let token = store.issue_user_token(id).expect("token");
        tokens.insert(id, token);
    }
    (store, router, tokens)
}

async fn deploy(router: &axum::Router, process: &str) {
    let (status, body) = post(
        router,
        "/v1/processes",
        process.as_bytes().to_vec(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn start(router: &axum::Router, token: &str, process: &str, values: Value) -> i64 {
    let (status, body) = as_user(
        router,
        &format!("/v1/processes/{process}/instances"),
        token,
        values,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["instance"].as_i64().expect("instance")
}

async fn inbox(router: &axum::Router, token: &str) -> Vec<Value> {
    let (status, body) = get(router, "/v1/tasks", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["tasks"].as_array().cloned().unwrap_or_default()
}

async fn delete(router: &axum::Router, path: &str, token: &str) -> (StatusCode, Value) {
    let request = Request::delete(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Finding 2: a task without a form took any variable, `requester` included, and the next step
/// of Jennifer's own request went to Maria.
#[tokio::test]
async fn a_completion_sets_only_what_the_form_declares() {
    let (store, router, tokens) = organisation().await;
    deploy(
        &router,
        "process: confirm\nsteps:\n  - id: confirm\n    form: confirm-details\n    actor: requester\n  - id: follow-up\n    form: follow-up\n    actor: requester\n",
    )
    .await;
    let instance = start(&router, &tokens["jennifer"], "confirm", json!({})).await;
    let task = inbox(&router, &tokens["jennifer"]).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, body) = as_user(
        &router,
        &format!("/v1/tasks/{task}/complete"),
        &tokens["jennifer"],
        json!({ "requester": "maria", "note": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "requester,note", "{body}");
    // Nothing changed: the task is still hers and open.
    assert_eq!(inbox(&router, &tokens["jennifer"]).await.len(), 1);
    let row = store.instance(instance).expect("read").expect("instance");
    assert_eq!(row.state.variables["requester"], "jennifer");
    // Completed with nothing, it goes on to her next step, still hers.
    let (status, body) = as_user(
        &router,
        &format!("/v1/tasks/{task}/complete"),
        &tokens["jennifer"],
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let next = inbox(&router, &tokens["jennifer"]).await;
    assert_eq!(next[0]["step"], "follow-up", "{next:?}");
    assert!(inbox(&router, &tokens["maria"]).await.is_empty());
}

/// A form cannot even be deployed with a field that writes an engine variable.
#[tokio::test]
async fn forms_cannot_declare_engine_variables() {
    let (_store, router, _tokens) = organisation().await;
    let form =
        json!({ "components": [{ "type": "textfield", "key": "requester", "label": "Who" }] });
    let (status, body) = post(
        &router,
        "/v1/forms/sneaky",
        form.to_string().into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "/components/0/key", "{body}");
}

const APPROVAL: &str = "process: approval\nsteps:\n  - id: approve\n    form: decide\n    actor: manager of requester\n  - id: pay\n    form: pay\n    actor: group:finance\n";

/// Finding 3: Maria delegated her approval of Jennifer's request to Jennifer, who approved it.
#[tokio::test]
async fn nobody_decides_on_their_own_request() {
    let (store, router, tokens) = organisation().await;
    deploy(&router, APPROVAL).await;
    let instance = start(&router, &tokens["jennifer"], "approval", json!({})).await;
    let approval = inbox(&router, &tokens["maria"]).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, body) = post(
        &router,
        &format!("/v1/tasks/{approval}/delegate?to=jennifer"),
        b"{}".to_vec(),
        &bearer(&tokens["maria"]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "not_allowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Jennifer Lee asked for this request")),
        "explained in words: {body}"
    );
    // Nor can she complete or claim it directly.
    for action in ["complete", "claim"] {
        let (status, body) = as_user(
            &router,
            &format!("/v1/tasks/{approval}/{action}"),
            &tokens["jennifer"],
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{action}: {body}");
        assert_eq!(body["error"]["code"], "not_allowed", "{action}: {body}");
    }
    // Delegation goes to someone who could have had the step; Maria's approval went nowhere.
    assert_eq!(inbox(&router, &tokens["maria"]).await.len(), 1);
    let trail = store.audit_trail(instance).expect("trail");
    let refused: Vec<_> = trail.iter().filter(|a| a.action == "refused").collect();
    assert_eq!(refused.len(), 3, "every attempt is audited: {refused:?}");
}

/// A request whose approver would be its own requester (Sol is his own manager) never reaches
/// him; a step offered to a group is delegated only within it.
#[tokio::test]
async fn the_requester_is_never_given_a_deciding_step() {
    let (_store, router, tokens) = organisation().await;
    deploy(&router, APPROVAL).await;
    start(&router, &tokens["sol"], "approval", json!({})).await;
    assert!(
        inbox(&router, &tokens["sol"]).await.is_empty(),
        "his own approval is not his to do"
    );
    // Jennifer's request reaches Finance; Finn cannot hand it to Alex, who is not in Finance.
    start(&router, &tokens["jennifer"], "approval", json!({})).await;
    let approval = inbox(&router, &tokens["maria"]).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, _) = as_user(
        &router,
        &format!("/v1/tasks/{approval}/complete"),
        &tokens["maria"],
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let pay = inbox(&router, &tokens["finn"]).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, body) = post(
        &router,
        &format!("/v1/tasks/{pay}/delegate?to=alex"),
        b"{}".to_vec(),
        &bearer(&tokens["finn"]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("could not have been given this step")),
        "{body}"
    );
}

/// Finding 4: a department called "admin" made its people administrators; roles come from the
/// directory's roles only. A person with the `admin` role administers through the API too.
#[tokio::test]
async fn roles_come_only_from_the_directory() {
    let (_store, router, tokens) = organisation().await;
    // Alex's department is named "admin"; he is an agent.
    let (status, _) = get(&router, "/v1/directory/users", Some(&tokens["alex"])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(&router, "/v1/keys", Some(&tokens["alex"])).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Ada has the role: the same answer as the admin token.
    let (status, _) = get(&router, "/v1/directory/users", Some(&tokens["ada"])).await;
    assert_eq!(status, StatusCode::OK);
    // The agent looks people up; the requester does not.
    let (status, _) = get(
        &router,
        "/v1/profiles?trait=email&value=x@example.com",
        Some(&tokens["alex"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(
        &router,
        "/v1/profiles?trait=email&value=x@example.com",
        Some(&tokens["jennifer"]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

/// Finding 4: Customer 360 showed every agent an employee's internal requests and their steps.
#[tokio::test]
async fn an_agent_does_not_see_internal_requests_in_a_timeline() {
    let (_store, router, tokens) = organisation().await;
    deploy(&router, APPROVAL).await;
    start(&router, &tokens["jennifer"], "approval", json!({})).await;
    let (status, _) = send(
        &router,
        "/v1/track",
        json!({ "userId": "jennifer", "event": "Viewed Pricing", "messageId": "v1" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let names = |body: &Value| -> Vec<String> {
        body["events"]
            .as_array()
            .map(|events| {
                events
                    .iter()
                    .filter_map(|e| e["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (status, as_agent) = get(
        &router,
        "/v1/profiles/jennifer/timeline",
        Some(&tokens["alex"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{as_agent}");
    let (status, as_admin) = get(&router, "/v1/profiles/jennifer/timeline", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        names(&as_agent),
        vec!["Viewed Pricing".to_string()],
        "{as_agent}"
    );
    assert!(
        names(&as_admin).len() > 1,
        "an administrator sees the request's steps: {as_admin}"
    );
}

/// Finding 9: an oversized ISO 8601 due date panicked with the writer lock held, and every
/// later write was refused until restart.
#[tokio::test]
async fn an_oversized_due_date_is_a_4xx_and_the_server_goes_on() {
    let (_store, router, tokens) = organisation().await;
    deploy(
        &router,
        "process: deadline\nsteps:\n  - id: do-it\n    form: do-it\n    actor: requester\n    due: ${deadline}\n",
    )
    .await;
    let (status, body) = as_user(
        &router,
        "/v1/processes/deadline/instances",
        &tokens["jennifer"],
        json!({ "deadline": "P100000000000000000000000Y" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "deadline", "{body}");
    // Writes go on: events, and a request with a due date that can be met.
    let (status, _) = send(
        &router,
        "/v1/track",
        json!({ "userId": "u1", "event": "After", "messageId": "after-1" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    start(
        &router,
        &tokens["jennifer"],
        "deadline",
        json!({ "deadline": "P3D" }),
    )
    .await;
    let (status, health) = get(&router, "/healthz", None).await;
    assert_eq!(status, StatusCode::OK, "{health}");
    assert_eq!(health["problems"], json!([]));
}

/// Finding 9: a deeply nested expression overflowed the stack when deployed.
#[tokio::test]
async fn a_deeply_nested_condition_is_refused_at_deploy() {
    let (_store, router, _tokens) = organisation().await;
    let condition = format!("{}x{}", "(".repeat(5_000), ")".repeat(5_000));
    let process = format!(
        "process: deep\nsteps:\n  - id: a\n    form: a\n    actor: requester\n    next:\n      - if: \"{condition}\"\n        goto: a\n"
    );
    let (status, body) = post(
        &router,
        "/v1/processes",
        process.into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["problems"][0]["line"], 7, "{body}");
}

/// Finding 9: a `sentAt` in the year 200000 overflowed the clock-skew correction.
#[tokio::test]
async fn a_far_future_sent_at_names_the_field() {
    let (_store, router) = setup();
    let (status, body) = send(
        &router,
        "/v1/track",
        json!({ "userId": "u1", "event": "E", "timestamp": "2024-05-01T10:00:00Z", "sentAt": "+200000-01-01T00:00:00Z" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "/sentAt", "{body}");
    let (status, body) = send(
        &router,
        "/v1/track",
        json!({ "userId": "u1", "event": "E", "timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// Finding 5: keys are listed, expire, are revoked; worker keys work only their topics; every
/// grant and revocation is in the access trail.
#[tokio::test]
async fn keys_are_issued_limited_expired_and_revoked() {
    let (_store, router, tokens) = organisation().await;
    let (status, issued) = post(
        &router,
        "/v1/keys",
        json!({ "kind": "worker", "label": "budget system", "topics": ["budget-check"] })
            .to_string()
            .into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    let worker = issued["key"].as_str().expect("key").to_string();
    let worker_id = issued["id"].as_str().expect("id").to_string();
    let (status, _) = get(&router, "/v1/work?topic=budget-check", Some(&worker)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(&router, "/v1/work?topic=payments", Some(&worker)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, _) = get(&router, "/v1/directory/users", Some(&worker)).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a worker key is not an admin token"
    );
    // Mistakes are named.
    let (status, body) = post(
        &router,
        "/v1/keys",
        json!({ "kind": "worker" }).to_string().into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("/topics"))
    );
    let (status, body) = post(
        &router,
        "/v1/keys",
        json!({ "kind": "server", "expires_in": "soon" })
            .to_string()
            .into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("/expires_in"))
    );
    // Listed without secrets; revoked, it stops at once.
    let (status, list) = get(&router, "/v1/keys", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!list.to_string().contains(&worker), "no secret in the list");
    assert!(
        list["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["id"] == worker_id.as_str() && k["status"] == "live")
    );
    let (status, _) = delete(&router, &format!("/v1/keys/{worker_id}"), ADMIN).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&router, "/v1/work?topic=budget-check", Some(&worker)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = delete(&router, &format!("/v1/keys/{worker_id}"), ADMIN).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "revoked once");
    // A person's token with an end date: after it, 401. (The test clock is fixed at NOW, so a
    // token that ended before NOW is made directly in the store.)
    let (status, issued) = post(
        &router,
        "/v1/directory/users/finn/tokens",
        json!({ "expires_in": "1h" }).to_string().into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    let finn = issued["token"].as_str().expect("token");
    let (status, _) = get(&router, "/v1/tasks", Some(finn)).await;
    assert_eq!(status, StatusCode::OK);
    // Disabling a person ends every token they have.
    let (status, _) = delete(&router, "/v1/directory/users/finn", &tokens["ada"]).await;
    assert_eq!(status, StatusCode::OK);
    for token in [finn, tokens["finn"].as_str()] {
        let (status, _) = get(&router, "/v1/tasks", Some(token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, trail) = get(&router, "/v1/keys/trail", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<&str> = trail["trail"]
        .as_array()
        .expect("trail")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for action in [
        "key issued",
        "key revoked",
        "token issued",
        "person disabled",
    ] {
        assert!(actions.contains(&action), "{action}: {actions:?}");
    }
}

/// A key given an end date stops working after it.
#[tokio::test]
async fn an_expired_key_is_refused() {
    let (store, router) = setup();
    let key = waymark_store::keys::NewKey {
        kind: KeyKind::Server,
        label: "old".into(),
        topics: Vec::new(),
        expires_us: Some(NOW - 1),
    };
    let (_, secret) = store.issue_key(&key, "admin", NOW - 10).expect("issue");
    let (status, _) = send_with(
        &router,
        &secret,
        "/v1/track",
        json!({ "userId": "u", "event": "E" }),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Rotating a configured key (a new `--write-key`) ends the old one.
#[tokio::test]
async fn rotating_the_write_key_ends_the_old_one() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Write, "ww_new").expect("rotate");
    let (status, _) = send(&router, "/v1/track", json!({ "userId": "u", "event": "E" })).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old write key still works"
    );
    let (status, _) = send_with(
        &router,
        "ww_new",
        "/v1/track",
        json!({ "userId": "u", "event": "E" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// Finding 1: a message acts once per message id, and one stored with a server key is handed
/// to the workflow even when the process stopped between the commit and the hand-over.
#[tokio::test]
async fn a_server_event_acts_once_and_survives_a_crash_before_the_hand_over() {
    let (store, router, tokens) = organisation().await;
    deploy(
        &router,
        "process: twice\nsteps:\n  - id: first\n    wait:\n      message: Ping\n      variables:\n        count: number\n  - id: second\n    wait:\n      message: Ping\n  - id: last\n    form: last\n    actor: requester\n",
    )
    .await;
    let instance = start(&router, &tokens["jennifer"], "twice", json!({})).await;
    let ping = json!({ "userId": "jennifer", "event": "Ping", "messageId": "ping-1", "properties": { "count": 1 } });
    for _ in 0..3 {
        let (status, _) = send_with(&router, SERVER_KEY, "/v1/track", ping.clone()).await;
        assert_eq!(status, StatusCode::OK);
    }
    let row = store.instance(instance).expect("read").expect("instance");
    assert_eq!(row.state.variables["count"], 1, "the declared variable");
    assert!(
        inbox(&router, &tokens["jennifer"]).await.is_empty(),
        "moved once, not twice"
    );
    // A declared property of the wrong kind is refused: the message does not act.
    let (status, _) = send_with(&router, SERVER_KEY, "/v1/track", json!({ "userId": "jennifer", "event": "Ping", "messageId": "ping-bad", "properties": { "count": "many" } })).await;
    assert_eq!(status, StatusCode::OK, "recorded all the same");
    assert!(inbox(&router, &tokens["jennifer"]).await.is_empty());
    // The second ping arrives, but the server stops after the commit (the event is stored in
    // the outbox, never handed over); the loop that runs after a restart hands it over.
    let event = waymark_store::NewEvent {
        message_id: "ping-2".into(),
        kind: "track".into(),
        name: Some("Ping".into()),
        user_id: Some("jennifer".into()),
        anonymous_id: None,
        timestamp_us: NOW,
        received_us: NOW,
        body: json!({ "type": "track", "event": "Ping", "userId": "jennifer" }).to_string(),
    };
    store.append_driving(vec![event]).expect("stored");
    assert!(inbox(&router, &tokens["jennifer"]).await.is_empty());
    assert_eq!(
        waymark_server::automation::drain_outbox(store.as_ref(), NOW),
        1
    );
    assert_eq!(inbox(&router, &tokens["jennifer"]).await.len(), 1);
    assert_eq!(
        waymark_server::automation::drain_outbox(store.as_ref(), NOW),
        0,
        "emptied"
    );
}

/// Finding 8: signing keys rotate. After a rotation the server signs with the new key (its id in
/// every link) and still reads the links it sent before; retiring the older keys ends those.
#[tokio::test]
async fn signing_keys_rotate_without_breaking_links_sent() {
    let store = waymark_store::open_in_memory().expect("store");
    let grant = waymark_server::mail::Grant {
        instance: 1,
        person: "jennifer".into(),
        expires_us: i64::MAX,
    };
    let before = AppState::new(store.clone()).expect("state");
    let sent = before.links.sign(&grant);
    assert_eq!(before.links.key_id(), "links-1");
    let kid = store.rotate_signing_key("links", false).expect("rotate");
    assert_eq!(kid, "links-2");
    let after = AppState::new(store.clone()).expect("state");
    assert_eq!(after.links.key_id(), "links-2");
    assert_eq!(
        after.links.check(&sent, NOW),
        Ok(grant.clone()),
        "sent before, still read"
    );
    let sent_after = after.links.sign(&grant);
    assert_ne!(sent, sent_after);
    // The other kinds of links keep their keys.
    assert_eq!(after.sign_in.key_id(), "sign-in-1");
    store.rotate_signing_key("links", true).expect("retire");
    let retired = AppState::new(store.clone()).expect("state");
    assert_eq!(retired.links.key_id(), "links-3");
    for old in [&sent, &sent_after] {
        assert_eq!(
            retired.links.check(old, NOW),
            Err(waymark_server::mail::LinkError::Forged),
            "retired keys verify nothing"
        );
    }
    let trail = store
        .audit_trail(waymark_store::workflow::ACCESS_TRAIL)
        .expect("trail");
    assert_eq!(
        trail
            .iter()
            .filter(|a| a.action == "signing key rotated")
            .count(),
        2
    );
}

/// Review finding: a step routed by a variable (`actor: ${approver}`) or to a named person who
/// turns out to be the requester was counted as her own step. Only a step the process routes to
/// `requester` is hers; any other one resolving to her is never hers to work.
#[tokio::test]
async fn a_step_that_resolves_to_the_requester_is_still_not_hers() {
    let (_store, router, tokens) = organisation().await;
    deploy(
        &router,
        "process: pick\nsteps:\n  - id: approve\n    form: decide\n    actor: ${approver}\n  - id: cfo\n    form: decide\n    actor: user:jennifer\n",
    )
    .await;
    start(
        &router,
        &tokens["jennifer"],
        "pick",
        json!({ "approver": "jennifer" }),
    )
    .await;
    assert!(
        inbox(&router, &tokens["jennifer"]).await.is_empty(),
        "she picked herself as the approver: never hers"
    );
    // Started by someone else, the same steps are Jennifer's to do.
    start(
        &router,
        &tokens["maria"],
        "pick",
        json!({ "approver": "jennifer" }),
    )
    .await;
    let tasks = inbox(&router, &tokens["jennifer"]).await;
    assert_eq!(tasks.len(), 1, "{tasks:?}");
}

/// Review finding: the public write key could take the message ids Waymark writes itself
/// (`wf-…`, blocking every later step), or a server key's id first (so the server's event was
/// dropped as a duplicate). Waymark's ids are refused from senders, and a server key's events
/// are kept apart.
#[tokio::test]
async fn nobody_can_take_the_ids_waymark_writes() {
    let (store, router, tokens) = organisation().await;
    for id in [
        "wf-1-a-Process-Started-1",
        "srv:ping-1",
        "survey-x",
        "demo-1",
        "waymark-x",
    ] {
        let (status, body) = send(
            &router,
            "/v1/track",
            json!({ "userId": "u1", "event": "E", "messageId": id }),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{id}: {body}");
        assert_eq!(body["error"]["field"], "/messageId", "{body}");
    }
    deploy(
        &router,
        "process: ping\nsteps:\n  - id: wait\n    wait:\n      message: Ping\n  - id: last\n    form: last\n    actor: requester\n",
    )
    .await;
    start(&router, &tokens["jennifer"], "ping", json!({})).await;
    // The write key sends the id the learning system will use, first.
    let ping = json!({ "userId": "jennifer", "event": "Ping", "messageId": "lms-7" });
    let (status, _) = send(&router, "/v1/track", ping.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send_with(&router, SERVER_KEY, "/v1/track", ping).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        inbox(&router, &tokens["jennifer"]).await.len(),
        1,
        "the server key's event moved the request all the same"
    );
    let _ = store;
}

/// Review finding: the admin token's events moved requests; only a server key's do.
#[tokio::test]
async fn the_admin_token_records_events_but_moves_no_request() {
    let (_store, router, tokens) = organisation().await;
    deploy(
        &router,
        "process: ping\nsteps:\n  - id: wait\n    wait:\n      message: Ping\n  - id: last\n    form: last\n    actor: requester\n",
    )
    .await;
    start(&router, &tokens["jennifer"], "ping", json!({})).await;
    let (status, _) = send_with(
        &router,
        ADMIN,
        "/v1/track",
        json!({ "userId": "jennifer", "event": "Ping", "messageId": "admin-1" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "recorded");
    assert!(
        inbox(&router, &tokens["jennifer"]).await.is_empty(),
        "nothing moved"
    );
}

/// Review finding: a revoked configured key came back at the next start.
#[test]
fn a_revoked_configured_key_is_not_brought_back() {
    let store = waymark_store::open_in_memory().expect("store");
    store
        .ensure_key(KeyKind::Server, "wsk_leaked")
        .expect("configured");
    let id = store
        .keys()
        .expect("keys")
        .into_iter()
        .find(|k| k.kind == "server")
        .expect("the key")
        .id;
    assert!(store.revoke_key(&id, "admin", NOW).expect("revoke"));
    let error = store
        .ensure_key(KeyKind::Server, "wsk_leaked")
        .expect_err("refused at the next start");
    assert!(error.to_string().contains("was revoked"), "{error}");
    assert_eq!(store.key_kind("wsk_leaked").expect("read"), None);
}

/// Review finding: Customer 360's journey positions were built from every event, so an agent
/// read where a colleague's internal request stood. They are built only from what the viewer
/// may see.
#[tokio::test]
async fn an_agent_is_not_told_where_an_internal_request_stands() {
    let (store, router, tokens) = organisation().await;
    let example = |name: &str| {
        std::fs::read(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/training-request")
                .join(name),
        )
        .expect("example")
    };
    let (status, body) = post(
        &router,
        "/v1/processes",
        example("process.yaml"),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    super::automation::deploy_forms(&router).await;
    super::deploy_current(
        store.as_ref(),
        &String::from_utf8(example("to-be.yaml")).expect("utf-8"),
    );
    start(
        &router,
        &tokens["jennifer"],
        "training-request",
        json!({ "course": "Negotiation", "vendor": "Skills Academy", "cost": 100, "startDate": "2026-12-01" }),
    )
    .await;
    let journeys = |body: &Value| -> Vec<String> {
        body["journeys"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|j| {
                        j["journey"]
                            .as_str()
                            .or(j["id"].as_str())
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (status, as_admin) = get(&router, "/v1/profiles/jennifer", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{as_admin}");
    assert!(
        !journeys(&as_admin).is_empty(),
        "an administrator sees where her request stands: {as_admin}"
    );
    let (status, as_agent) = get(&router, "/v1/profiles/jennifer", Some(&tokens["alex"])).await;
    assert_eq!(status, StatusCode::OK, "{as_agent}");
    assert!(journeys(&as_agent).is_empty(), "{as_agent}");
}

/// Context transfer: after events on two channels (an email the process sent, a call note
/// logged by the call centre) and a web page, one call answers where Jennifer is, the last thing
/// on each channel in touchpoint words with what it said, and her open request; an agent gets
/// the same channels but not her internal request.
#[tokio::test]
async fn the_context_answer_is_one_for_every_channel() {
    let (store, router, tokens) = organisation().await;
    store.ensure_key(KeyKind::Write, WRITE_KEY).expect("write");
    let example = |name: &str| {
        std::fs::read(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/training-request")
                .join(name),
        )
        .expect("example")
    };
    let (status, body) = post(
        &router,
        "/v1/processes",
        example("process.yaml"),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    super::automation::deploy_forms(&router).await;
    super::deploy_current(
        store.as_ref(),
        &String::from_utf8(example("to-be.yaml")).expect("utf-8"),
    );
    start(
        &router,
        &tokens["jennifer"],
        "training-request",
        json!({ "course": "Negotiation", "vendor": "Skills Academy", "cost": 100, "startDate": "2026-12-01" }),
    )
    .await;
    let (status, body) = send(
        &router,
        "/v1/batch",
        json!({"batch": [
            {"type": "identify", "userId": "jennifer", "traits": {"email": "jennifer@example.com", "name": "Jennifer Lee"}, "timestamp": "2026-11-30T07:00:00Z"},
            {"type": "page", "userId": "jennifer", "name": "Training catalogue", "properties": {"title": "Courses for Customer Success", "path": "/training"}, "timestamp": "2026-11-30T08:00:00Z"},
            {"type": "track", "userId": "jennifer", "event": "Email Sent", "context": {"channel": "email"}, "properties": {"template": "training-approved", "subject": "Approved: you are booked on Negotiation"}, "timestamp": "2026-11-30T09:00:00Z"},
            {"type": "track", "userId": "jennifer", "event": "Call Logged", "context": {"channel": "phone"}, "properties": {"note": "Asked when the vendor is paid", "csat": 4}, "timestamp": "2026-11-30T10:00:00Z"}
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let channel = |body: &Value, name: &str| -> Value {
        body["channels"]
            .as_array()
            .and_then(|list| list.iter().find(|c| c["channel"] == name).cloned())
            .unwrap_or(Value::Null)
    };
    for caller in [ADMIN, tokens["alex"].as_str()] {
        let (status, context) = get(&router, "/v1/profiles/jennifer/context", Some(caller)).await;
        assert_eq!(status, StatusCode::OK, "{context}");
        let email = channel(&context, "email");
        assert_eq!(email["touchpoint"], "Approved: you are booked", "{context}");
        assert_eq!(email["said"], "Approved: you are booked on Negotiation");
        let phone = channel(&context, "phone");
        assert_eq!(phone["event"], "Call Logged");
        assert_eq!(phone["said"], "Asked when the vendor is paid");
        assert_eq!(phone["scores"]["csat"], 4.0);
        assert_eq!(
            channel(&context, "web")["said"],
            "Courses for Customer Success"
        );
        assert_eq!(
            context["channels"][0]["channel"], "phone",
            "newest first: {context}"
        );
        // By another identifier, the same answer.
        let (_, again) = get(
            &router,
            "/v1/profiles/jennifer@example.com/context",
            Some(caller),
        )
        .await;
        assert_eq!(again["channels"], context["channels"]);
    }
    let (_, as_admin) = get(&router, "/v1/profiles/jennifer/context", Some(ADMIN)).await;
    let requests = as_admin["open_requests"].as_array().expect("requests");
    assert_eq!(requests.len(), 1, "{as_admin}");
    assert_eq!(requests[0]["process"], "training-request");
    assert!(
        !requests[0]["waiting_for"]
            .as_array()
            .expect("waiting")
            .is_empty(),
        "{as_admin}"
    );
    assert!(
        !as_admin["journeys"]
            .as_array()
            .expect("journeys")
            .is_empty(),
        "{as_admin}"
    );
    let (_, as_agent) = get(
        &router,
        "/v1/profiles/jennifer/context",
        Some(&tokens["alex"]),
    )
    .await;
    assert_eq!(
        as_agent["open_requests"],
        json!([]),
        "an agent is not told of an internal request"
    );
    let (status, _) = get(
        &router,
        "/v1/profiles/jennifer/context",
        Some(&tokens["jennifer"]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a requester is no agent");
    let (status, missing) = get(&router, "/v1/profiles/nobody/context", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
}

/// The administrators' actions through the API: by an administrator's own token (the admin
/// token is refused), a reason is required (named by its field), a step goes to someone else
/// but never to the requester, a request is cancelled once, nobody else may do either, and an
/// administrator's own request is another administrator's to move.
#[tokio::test]
async fn administrators_move_and_cancel_requests_through_the_api_with_reasons() {
    let (store, router, tokens) = organisation().await;
    let example = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/training-request/process.yaml"),
    )
    .expect("example");
    let (status, body) = post(&router, "/v1/processes", example, &bearer(ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    super::automation::deploy_forms(&router).await;
    let id = start(
        &router,
        &tokens["jennifer"],
        "training-request",
        json!({ "course": "Negotiation", "vendor": "Skills Academy", "cost": 100, "startDate": "2026-12-01" }),
    )
    .await;
    let approval = inbox(&router, &tokens["maria"]).await[0]["id"]
        .as_str()
        .expect("the approval")
        .to_string();
    let ada = tokens["ada"].clone();
    let act = |path: String, token: String, body: Value| {
        let router = router.clone();
        async move { as_user(&router, &path, &token, body).await }
    };
    let reassign = format!("/v1/admin/tasks/{approval}/reassign");
    let (status, body) = act(
        reassign.clone(),
        ADMIN.into(),
        json!({ "to": "finn", "reason": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the admin token: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("your own access token")),
        "{body}"
    );
    let (status, body) = act(reassign.clone(), ada.clone(), json!({ "to": "finn" })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "reason", "{body}");
    let (status, body) = act(
        reassign.clone(),
        ada.clone(),
        json!({ "to": "jennifer", "reason": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Jennifer Lee asked for this request")),
        "{body}"
    );
    let (status, body) = act(
        reassign.clone(),
        tokens["maria"].clone(),
        json!({ "to": "finn", "reason": "away" }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "not an administrator: {body}"
    );
    let (status, body) = act(
        reassign.clone(),
        ada.clone(),
        json!({ "to": "finn", "reason": "Maria is away" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(inbox(&router, &tokens["maria"]).await.is_empty());
    assert_eq!(inbox(&router, &tokens["finn"]).await.len(), 1);
    let (status, body) = act(
        format!("/v1/admin/tasks/{approval}/retry"),
        ada.clone(),
        json!({ "reason": "x" }),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "no webhook waits: {body}");
    let cancel = format!("/v1/admin/requests/{id}/cancel");
    let (status, body) = act(
        cancel.clone(),
        ada.clone(),
        json!({ "reason": "Booked elsewhere" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        store.instance(id).expect("read").expect("request").status,
        "cancelled"
    );
    assert!(
        inbox(&router, &tokens["finn"]).await.is_empty(),
        "its step ended"
    );
    let (status, _) = act(cancel.clone(), ada.clone(), json!({ "reason": "again" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, trail) = get(&router, &format!("/v1/requests/{id}"), Some(ADMIN)).await;
    let text = trail.to_string();
    assert!(
        text.contains("Maria is away") && text.contains("Booked elsewhere"),
        "{trail}"
    );
    // Her own request is another administrator's to move.
    let own = store
        .start_instance("training-request", "ada", serde_json::Map::new(), 0)
        .expect("her own");
    let (status, body) = act(
        format!("/v1/admin/requests/{own}/cancel"),
        ada.clone(),
        json!({ "reason": "mine" }),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_ne!(
        store.instance(own).expect("read").expect("request").status,
        "cancelled"
    );
}
