//! The five questions as a gate, on the API: a to-be version is refused without its five
//! answers, proposed (not deployed) with them, approved only by the journey's owner and never by
//! its proposer, published on top of the version it was proposed on (else stale), and its
//! publication emailed to the owners of the touchpoints that changed, with the diff.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};
use waymark_server::{AppState, app};
use waymark_store::workflow::User;
use waymark_store::{KeyKind, Store};

use super::automation::{as_user, bearer, example};
use super::{ADMIN, Fixed, get, post};

fn person(id: &str, department: &str, manager: Option<&str>, roles: &[&str]) -> User {
    User {
        id: id.into(),
        name: format!("{} Person", id[..1].to_uppercase() + &id[1..]),
        email: Some(format!("{id}@example.com")),
        department: Some(department.into()),
        manager: manager.map(str::to_string),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

/// A server whose mail is kept in the app, with the training journey's people: Hana leads HR,
/// which owns the journey.
fn organisation() -> (Arc<dyn Store>, axum::Router, impl Fn(&str) -> String) {
    let store = waymark_store::open_in_memory().expect("store");
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    store
        .put_users(&[
            person("olivia", "leadership", None, &["journey-owner"]),
            person("hana", "hr", Some("olivia"), &["manager"]),
            person("maria", "customer-success", Some("olivia"), &["manager"]),
            person("jennifer", "customer-success", Some("maria"), &[]),
            person("finn", "finance", Some("olivia"), &["finance"]),
            person("ada", "it", Some("olivia"), &["admin"]),
        ])
        .expect("people");
    let mailer = waymark_server::mail::Mailer::in_app(
        store.clone(),
        "Waymark <waymark@example.com>",
        "https://waymark.example",
    )
    .expect("mailer");
    let state = AppState {
        clock: Arc::new(Fixed),
        mailer: Some(Arc::new(mailer)),
        ..AppState::new(store.clone()).expect("state")
    };
    let tokens = store.clone();
    let token = move |id: &str| {
        tokens
            .issue_person_token(id, "test", None, "admin", 1)
            .expect("token")
            .1
    };
    (store, app(state), token)
}

async fn deploy(router: &axum::Router, source: &str, token: &str) -> (StatusCode, Value) {
    post(
        router,
        "/v1/journeys",
        source.as_bytes().to_vec(),
        &bearer(token),
    )
    .await
}

/// The to-be file without its change-impact section (the file's last).
fn without_answers(to_be: &str) -> String {
    to_be[..to_be.find("\nchange:").expect("a change section") + 1].to_string()
}

/// Completes an approval task as the person of `token`, with the form's values.
async fn decide(
    router: &axum::Router,
    task: &str,
    token: &str,
    values: Value,
) -> (StatusCode, Value) {
    as_user(router, &format!("/v1/tasks/{task}/complete"), token, values).await
}

/// The open tasks of someone, as the API lists them.
async fn tasks(router: &axum::Router, token: &str) -> Vec<Value> {
    let (status, inbox) = get(router, "/v1/tasks", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{inbox}");
    inbox["tasks"].as_array().expect("tasks").clone()
}

fn mails_to(store: &dyn Store, user: &str) -> Vec<waymark_store::mailbox::Mail> {
    store.mails(Some(user), 50).expect("mails")
}

#[tokio::test]
async fn a_to_be_version_becomes_current_only_once_its_owner_approved_its_five_answers() {
    let (store, router, token) = organisation();
    let (olivia, hana, maria) = (token("olivia"), token("hana"), token("maria"));
    let (as_is, to_be) = (example("as-is.yaml"), example("to-be.yaml"));
    let (status, body) = deploy(&router, &as_is, &olivia).await;
    assert_eq!(
        (status, body["version"].clone()),
        (StatusCode::OK, json!(1)),
        "{body}"
    );

    // Without the five answers: refused, at the place, with what to write.
    let (status, body) = deploy(&router, &without_answers(&to_be), &olivia).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "change_impact_unanswered");
    assert_eq!(body["error"]["field"], "7:10", "the version line: {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no change-impact assessment")
                && m.contains("impact, standpoint, response, find_out and feedback")),
        "{body}"
    );
    // Four answers, unsigned: the missing question is named.
    let four = format!(
        "{}change:\n  impact: fewer forms\n  standpoint: one form\n  response: relief\n  find_out: an email\n",
        without_answers(&to_be)
    );
    let (status, body) = deploy(&router, &four, &olivia).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("How will my customer give feedback?"),
        "{body}"
    );
    assert_eq!(store.journeys().expect("list")[0].version, 1);

    // With them: proposed, not deployed; Hana, who leads HR (the owner), is asked.
    let (status, proposed) = deploy(&router, &to_be, &olivia).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{proposed}");
    assert_eq!(proposed["approver"], "hana");
    let proposal = proposed["proposal"].as_i64().expect("proposal");
    let (status, list) = get(&router, "/v1/journeys", Some(&olivia)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["journeys"][0]["version"], 1, "still the as-is: {list}");
    assert_eq!(list["journeys"][0]["label"], "as-is");
    let (status, shown) = get(
        &router,
        &format!("/v1/journeys/training-request/proposals/{proposal}"),
        Some(&olivia),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["status"], "waiting");
    assert_eq!(shown["base"], 1);
    assert_eq!(shown["proposed_by"], "olivia");
    assert_eq!(shown["answers"].as_array().map(Vec::len), Some(5));
    assert!(
        shown["answers"][4]["answer"]
            .as_str()
            .is_some_and(|a| a.contains("one-question survey")),
        "{shown}"
    );
    assert!(
        shown["summary"]
            .as_str()
            .is_some_and(|s| s.contains("added")),
        "{shown}"
    );

    // Nobody decides on their own proposal: Olivia has no task, Hana has it.
    assert!(tasks(&router, &olivia).await.is_empty());
    let mine = tasks(&router, &hana).await;
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0]["step"], "owner-approval");
    let task = mine[0]["id"].as_str().expect("id").to_string();
    let (status, body) = decide(&router, &task, &olivia, json!({"approved": true})).await;
    assert!(status.is_client_error(), "{status} {body}");
    assert_eq!(store.journeys().expect("list")[0].version, 1);

    // Hana sends it back with a reason: nothing is published; Olivia is told why.
    let (status, body) = decide(
        &router,
        &task,
        &hana,
        json!({"approved": false, "reason": "Say which phone number Jennifer calls now."}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let back = store.proposal(proposal).expect("read").expect("kept");
    assert_eq!(back.status.as_str(), "sent-back");
    assert_eq!(back.decided_by.as_deref(), Some("hana"));
    assert_eq!(store.journeys().expect("list")[0].version, 1);
    let told = mails_to(store.as_ref(), "olivia");
    assert!(
        told.iter().any(
            |m| m.subject.starts_with("Sent back") && m.body.contains("Say which phone number")
        ),
        "{told:?}"
    );
    assert!(
        mails_to(store.as_ref(), "maria").is_empty(),
        "nothing published, nobody else told"
    );

    // Settling again (another node, a retry) mails nobody twice.
    waymark_server::changes::settle(store.as_ref(), None, super::NOW);
    let sent_back = |store: &dyn Store| {
        mails_to(store, "olivia")
            .iter()
            .filter(|m| m.subject.starts_with("Sent back"))
            .count()
    };
    assert_eq!(sent_back(store.as_ref()), 1);

    // Proposed again; the same file sent again is the same proposal; then once more: the newer
    // replaces the older, whose request is cancelled.
    let again = to_be.replace("one-question survey", "one-question survey (CSAT)");
    let (status, second) = deploy(&router, &again, &olivia).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{second}");
    let (status, retried) = deploy(&router, &again, &olivia).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{retried}");
    assert_eq!(
        (
            &retried["proposal"],
            &retried["request"],
            &retried["approver"]
        ),
        (&second["proposal"], &second["request"], &json!("hana")),
        "a retry is the same proposal"
    );
    let third_text = again.replace("(CSAT)", "(CSAT and a comment)");
    let (status, third) = deploy(&router, &third_text, &olivia).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{third}");
    assert_eq!(third["withdrawn"], json!([second["proposal"]]));
    let second_request = second["request"].as_i64().expect("request");
    let cancelled = store
        .instance(second_request)
        .expect("read")
        .expect("request");
    assert_eq!(cancelled.status, "cancelled", "{cancelled:?}");
    let mine = tasks(&router, &hana).await;
    assert_eq!(mine.len(), 1, "only the newest waits: {mine:?}");

    // Meanwhile an as-is fix is deployed (the current version is as-is: no approval needed).
    // Hana approves the proposal made on version 1: it is stale, nothing is published, and
    // Olivia is told to propose it again.
    let fixed = as_is.replacen("title: ", "title: Fixed — ", 1);
    let (status, body) = deploy(&router, &fixed, &olivia).await;
    assert_eq!(
        (status, body["version"].clone()),
        (StatusCode::OK, json!(2)),
        "{body}"
    );
    let task = mine[0]["id"].as_str().expect("id").to_string();
    let (status, body) = decide(&router, &task, &hana, json!({"approved": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let stale = store
        .proposal(third["proposal"].as_i64().expect("id"))
        .expect("read")
        .expect("kept");
    assert_eq!(stale.status.as_str(), "stale");
    assert_eq!(
        stale.note.as_deref(),
        Some("version 2 was deployed after this was proposed on top of version 1")
    );
    assert_eq!(store.journeys().expect("list")[0].version, 2);
    let not_published = |store: &dyn Store| {
        mails_to(store, "olivia")
            .iter()
            .filter(|m| m.subject.starts_with("Not published"))
            .count()
    };
    assert_eq!(not_published(store.as_ref()), 1);
    assert!(
        mails_to(store.as_ref(), "maria").is_empty(),
        "nothing published, nobody else told"
    );

    // Proposed again on version 2, approved: published as version 3; the touchpoints' owners
    // are emailed the diff.
    let (status, fourth) = deploy(&router, &third_text, &olivia).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{fourth}");
    let task = tasks(&router, &hana).await[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let (status, body) = decide(&router, &task, &hana, json!({"approved": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, list) = get(&router, "/v1/journeys", Some(&olivia)).await;
    assert_eq!(
        (
            list["journeys"][0]["version"].clone(),
            list["journeys"][0]["label"].clone()
        ),
        (json!(3), json!("to-be")),
        "{list}"
    );
    let published = store
        .proposal(fourth["proposal"].as_i64().expect("id"))
        .expect("read")
        .expect("kept");
    assert_eq!(
        (published.status.as_str(), published.version, published.base),
        ("published", Some(3), 2)
    );
    let current = store
        .journey("training-request", None)
        .expect("read")
        .expect("current");
    assert_eq!(current.source, third_text);
    for lead in ["maria", "finn"] {
        let mails = mails_to(store.as_ref(), lead);
        assert_eq!(mails.len(), 1, "{lead}: {mails:?}");
        let mail = &mails[0];
        assert_eq!(
            mail.subject,
            "Published: Request professional training, version 3 (to-be)"
        );
        assert!(
            mail.body.contains("approved by Hana Person"),
            "{}",
            mail.body
        );
        assert!(
            mail.body.contains("+ added") && mail.body.contains("- removed"),
            "{}",
            mail.body
        );
        assert!(
            mail.body.contains("How will my customer find out?"),
            "{}",
            mail.body
        );
        assert!(
            mail.body
                .contains("https://waymark.example/journeys/training-request/proposals/"),
            "{}",
            mail.body
        );
    }
    assert!(
        mails_to(store.as_ref(), "jennifer").is_empty(),
        "the department's lead is told, not everyone in it"
    );
    // Settled again: nothing more is published, recorded or mailed.
    assert!(waymark_server::changes::settle(store.as_ref(), None, super::NOW).is_empty());
    assert_eq!(
        store
            .journey_versions("training-request")
            .expect("versions")
            .len(),
        3
    );
    assert_eq!(not_published(store.as_ref()), 1);
    // The journey's activity names who proposed it.
    let changes = store.journey_changes("training-request").expect("changes");
    let saved = changes
        .iter()
        .find(|c| c.version == 3)
        .expect("version 3's change");
    assert_eq!(saved.by, "olivia");
    assert!(saved.summary.contains("added"), "{}", saved.summary);
    // The request ended with Waymark's step, which says what it did.
    let request = store
        .instance(fourth["request"].as_i64().expect("request"))
        .expect("read")
        .expect("request");
    assert_eq!(request.status, "completed");
    assert_eq!(request.state.variables["outcome"], "published");
    assert_eq!(request.state.variables["version"], 3);

    // The same file again: already current, nothing proposed.
    let (status, body) = deploy(&router, &third_text, &olivia).await;
    assert_eq!(
        (status, body["created"].clone()),
        (StatusCode::OK, json!(false)),
        "{body}"
    );
    // Once a to-be is current, every change waits for approval: relabelling a version `as-is`
    // does not pass, nor does another label.
    let (status, body) = deploy(&router, &as_is, &olivia).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "change_impact_unanswered");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("version `as-is` becomes current only once")),
        "{body}"
    );
    // A proposal does not choose its approver: the current version's owner approves, though
    // the file names its proposer as the new owner.
    let takeover = third_text
        .replace("owner: HR Learning & Development", "owner: olivia")
        .replace("version: to-be", "version: v2");
    let (status, body) = deploy(&router, &takeover, &olivia).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["approver"], "hana");
    // An administrator cancels its request: the proposal no longer waits.
    let (status, cancel) = as_user(
        &router,
        &format!("/v1/admin/requests/{}/cancel", body["request"]),
        &token("ada"),
        json!({"reason": "the owner is away; proposed again later"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cancel}");
    waymark_server::changes::settle(store.as_ref(), None, super::NOW);
    let withdrawn = store
        .proposal(body["proposal"].as_i64().expect("id"))
        .expect("read")
        .expect("kept");
    assert_eq!(withdrawn.status.as_str(), "withdrawn");

    // Maria reads no journeys: not the list, nor a proposal she neither made nor approves;
    // Hana, its approver, reads hers.
    let (status, _) = get(
        &router,
        "/v1/journeys/training-request/proposals",
        Some(&maria),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let path = format!("/v1/journeys/training-request/proposals/{}", stale.id);
    let (status, _) = get(&router, &path, Some(&maria)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = get(&router, &path, Some(&hana)).await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("stale")),
        "{body}"
    );
    let (status, listed) = get(
        &router,
        "/v1/journeys/training-request/proposals",
        Some(&olivia),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let statuses: Vec<&str> = listed["proposals"]
        .as_array()
        .expect("proposals")
        .iter()
        .filter_map(|p| p["status"].as_str())
        .collect();
    assert_eq!(
        statuses,
        ["withdrawn", "published", "stale", "withdrawn", "sent-back"],
        "newest first"
    );
}

#[tokio::test]
async fn a_change_nobody_may_approve_is_refused_and_the_built_in_process_is_waymarks_own() {
    let (store, router, token) = organisation();
    let olivia = token("olivia");
    // An owner nobody in the directory answers for.
    let to_be =
        example("to-be.yaml").replace("owner: HR Learning & Development", "owner: Procurement");
    let (status, body) = deploy(&router, &to_be, &olivia).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "no_approver");
    assert_eq!(body["error"]["field"], "owner");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`Procurement`"))
    );
    // A leaver approves nothing: with Hana gone, nobody leads HR.
    store.disable_user("hana", "ada", 1).expect("disable");
    let (status, body) = deploy(&router, &example("to-be.yaml"), &olivia).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("`HR Learning & Development`")),
        "{body}"
    );
    assert!(store.proposals(None, 10).expect("list").is_empty());
    // The approval process cannot be deployed over, nor started by hand.
    let (status, body) = post(
        &router,
        "/v1/processes",
        b"process: waymark-journey-change\nsteps:\n  - id: publish\n    end: done\n".to_vec(),
        &bearer(ADMIN),
    )
    .await;
    assert!(status.is_client_error(), "{status} {body}");
    let (status, body) = as_user(
        &router,
        "/v1/processes/waymark-journey-change/instances",
        &olivia,
        json!({}),
    )
    .await;
    assert!(status.is_client_error(), "{status} {body}");
    // Its publishing step is Waymark's: no worker key may be issued for it.
    let (status, body) = post(
        &router,
        "/v1/keys",
        json!({"kind": "worker", "label": "sneaky", "topics": ["budget-check", "waymark-journey-change"]})
            .to_string()
            .into_bytes(),
        &bearer(ADMIN),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("/topics/1")),
        "{body}"
    );
    // Reading proposals needs a journey-reading key; unknown ones are 404, bad ids 400.
    let (status, _) = get(&router, "/v1/journeys/training-request/proposals", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get(
        &router,
        "/v1/journeys/training-request/proposals/9",
        Some(&olivia),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = get(
        &router,
        "/v1/journeys/training-request/proposals/nine",
        Some(&olivia),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (StatusCode::BAD_REQUEST, json!("proposal"))
    );
}
