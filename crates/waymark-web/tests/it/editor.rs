//! The journey editor: a CX lead creates a journey from suggested events and saves it; a journey
//! deployed from the CLI is edited and downloaded equal; two people saving one journey merge or
//! are told what clashes; a journey is discovered from the events.

use axum::http::StatusCode;
use serde_json::json;
use waymark_store::{NewEvent, Store};

use crate::{csrf, get, post, setup, sign_in, workspace};

/// Unescapes what maud escapes in attribute values and text.
fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(unescape(tag[at..].split('"').next()?))
}

/// The fields the editor's form sends as it stands: inputs (ticked boxes only), text areas and
/// each select's chosen option.
fn form_fields(html: &str) -> Vec<(String, String)> {
    let start = html
        .find("<form class=\"editor\"")
        .expect("the editor's form");
    let form = &html[start..start + html[start..].find("</form>").expect("its end")];
    let mut fields = Vec::new();
    let mut rest = form;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        let end = rest.find('>').unwrap_or(rest.len() - 1);
        let tag = &rest[..=end];
        if tag.starts_with("<input") {
            let kind = attribute(tag, "type").unwrap_or_default();
            if let Some(name) = attribute(tag, "name")
                && (kind != "checkbox" || tag.contains(" checked"))
                && kind != "radio"
            {
                fields.push((name, attribute(tag, "value").unwrap_or_default()));
            }
        } else if tag.starts_with("<textarea") {
            let close = rest.find("</textarea>").expect("textarea end");
            if let Some(name) = attribute(tag, "name") {
                fields.push((name, unescape(&rest[end + 1..close])));
            }
        } else if tag.starts_with("<select") {
            let close = rest.find("</select>").expect("select end");
            let options = &rest[end + 1..close];
            let chosen = options
                .split("<option")
                .skip(1)
                .find(|o| o.split('>').next().is_some_and(|t| t.contains(" selected")))
                .or_else(|| options.split("<option").nth(1))
                .and_then(|o| {
                    attribute(&format!(" {}", o.split('>').next().unwrap_or("")), "value")
                })
                .unwrap_or_default();
            if let Some(name) = attribute(tag, "name") {
                fields.push((name, chosen));
            }
        }
        rest = &rest[end + 1..];
    }
    fields
}

fn with(mut fields: Vec<(String, String)>, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    for (name, value) in changes {
        match fields.iter_mut().find(|(n, _)| n == name) {
            Some(field) => field.1 = value.to_string(),
            None => fields.push((name.to_string(), value.to_string())),
        }
    }
    fields
}

async fn send(
    router: &axum::Router,
    path: &str,
    session: &str,
    fields: &[(String, String)],
) -> crate::Page {
    let borrowed: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    post(router, path, Some(session), &borrowed).await
}

/// Claims walked by three people: started on the web, photos, assessed and paid (generic
/// `Task Completed` events told apart by `task`).
fn claims(store: &dyn Store) {
    let mut events = Vec::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    let hour = 3_600_000_000_i64;
    for (p, user) in ["u1", "u2", "u3"].into_iter().enumerate() {
        let walk = [
            ("Claim Started", json!({ "channel": "web" })),
            ("Photos Uploaded", json!({ "channel": "app" })),
            ("Task Completed", json!({ "task": "assess" })),
            ("Task Completed", json!({ "task": "pay" })),
        ];
        for (k, (event, properties)) in walk.into_iter().enumerate() {
            let at = now - 72 * hour + (p as i64) * hour + (k as i64) * 4 * hour;
            events.push(NewEvent {
                message_id: format!("{user}-{k}"),
                kind: "track".into(),
                name: Some(event.into()),
                user_id: Some(user.into()),
                anonymous_id: None,
                timestamp_us: at,
                received_us: at,
                body: json!({ "type": "track", "userId": user, "event": event, "properties": properties }).to_string(),
            });
        }
    }
    store.append(events).expect("append");
}

/// Olivia leads CX: the `cx` role lets her design journeys.
fn olivia_leads_cx(store: &dyn Store) {
    let users = waymark_server::automation::users_from_csv(
        "id,name,email,department,manager,roles\nolivia,Olivia Chen,olivia@example.com,leadership,,cx\n",
    )
    .expect("csv");
    store.put_users(&users).expect("users");
}

/// Hana leads HR, which owns the training journey: she approves its changes.
fn hana_leads_hr(store: &dyn Store) {
    let users = waymark_server::automation::users_from_csv(
        "id,name,email,department,manager,roles\nhana,Hana Weber,hana@example.com,hr,olivia,manager\n",
    )
    .expect("csv");
    store.put_users(&users).expect("users");
}

#[tokio::test]
async fn a_cx_lead_creates_a_journey_from_suggested_events_and_saves_it() {
    let (store, router) = setup("editor-create");
    claims(store.as_ref());
    olivia_leads_cx(store.as_ref());
    let olivia = sign_in(&router, store.as_ref(), "olivia").await;
    let chris = sign_in(&router, store.as_ref(), "chris").await;

    // An analyst reads journeys but does not design them.
    assert_eq!(
        get(&router, "/journeys/new", Some(&chris)).await.status,
        StatusCode::FORBIDDEN
    );

    let start = get(&router, "/journeys/new", Some(&olivia)).await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.html);
    let token = csrf(&start.html);
    let opened = post(
        &router,
        "/journeys/new",
        Some(&olivia),
        &[
            ("csrf", &token),
            ("id", "home-insurance-claim"),
            ("title", "Make a home insurance claim"),
            ("from", "template"),
        ],
    )
    .await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.html);
    // The event names collected are offered with how many events each would bind.
    assert!(
        opened.html.contains("Task Completed (6 events)"),
        "{}",
        opened.html
    );
    assert!(
        opened
            .html
            .contains("Collected events no touchpoint binds yet")
    );

    // Three stages of two touchpoints, every rule picked from what was offered.
    let mut fields: Vec<(String, String)> = vec![
        ("csrf".into(), token.clone()),
        ("base".into(), "0".into()),
        ("j.id".into(), "home-insurance-claim".into()),
        ("j.title".into(), "Make a home insurance claim".into()),
        ("j.owner".into(), "Claims".into()),
        ("j.version".into(), "as-is".into()),
        ("j.serves".into(), "customer".into()),
        ("p0.id".into(), "customer".into()),
        ("p0.name".into(), "A homeowner".into()),
    ];
    let plan = [
        (
            "report",
            "Report",
            [
                ("start", "Claim started online", "web", "Claim Started", ""),
                ("photos", "Photos uploaded", "app", "Photos Uploaded", ""),
            ],
        ),
        (
            "assess",
            "Assess",
            [
                (
                    "assess",
                    "Damage assessed",
                    "other",
                    "Task Completed",
                    r#"{"task":"assess"}"#,
                ),
                ("call", "Adjuster calls", "phone", "", ""),
            ],
        ),
        (
            "settle",
            "Settle",
            [
                (
                    "pay",
                    "Claim paid",
                    "other",
                    "Task Completed",
                    r#"{"task":"pay"}"#,
                ),
                ("letter", "Settlement letter", "letter", "", ""),
            ],
        ),
    ];
    for (s, (stage, name, touchpoints)) in plan.iter().enumerate() {
        fields.push((format!("s{s}.id"), stage.to_string()));
        fields.push((format!("s{s}.name"), name.to_string()));
        for (t, (id, tname, channel, event, conditions)) in touchpoints.iter().enumerate() {
            let p = format!("s{s}.t{t}");
            for (key, value) in [
                ("id", *id),
                ("name", *tname),
                ("channel", *channel),
                ("department", "Claims"),
                ("actor", "customer"),
                ("kind", "task"),
            ] {
                fields.push((format!("{p}.{key}"), value.to_string()));
            }
            fields.push((format!("{p}.target"), "2h".into()));
            if !event.is_empty() {
                fields.push((format!("{p}.r0.event"), event.to_string()));
                fields.push((format!("{p}.r0.conditions"), conditions.to_string()));
            }
        }
    }
    fields[0].1 = token.clone();
    let path = "/journeys/home-insurance-claim/edit";

    // A problem is shown at its field, in the words of `waymark journey lint`.
    let wrong = with(
        fields.clone(),
        &[("s1.t1.channel", "pigeon"), ("action", "preview")],
    );
    let checked = send(&router, path, &olivia, &wrong).await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.html);
    assert!(
        checked.html.contains("error[unknown-channel]"),
        "{}",
        checked.html
    );
    assert!(
        checked.html.contains(r##"href="#f-s1.t1.channel""##),
        "the problem links to its field"
    );
    assert!(
        checked
            .html
            .contains(r#"name="s1.t1.channel" aria-invalid="true""#),
        "{}",
        checked.html
    );
    // The rule's property values are offered for the event chosen, with their counts.
    assert!(
        checked.html.contains("task = assess (3 events)"),
        "{}",
        checked.html
    );
    // Saving with an error saves nothing.
    let refused = send(
        &router,
        path,
        &olivia,
        &with(wrong.clone(), &[("action", "save")]),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        store
            .journey("home-insurance-claim", None)
            .expect("read")
            .is_none()
    );

    // Moving and adding work on the form as it stands, without saving.
    let moved = send(
        &router,
        path,
        &olivia,
        &with(fields.clone(), &[("action", "down:0.1")]),
    )
    .await;
    let moved_fields = form_fields(&moved.html);
    assert!(
        moved_fields.contains(&("s1.t0.id".to_string(), "photos".to_string())),
        "the last of a stage moves to the next"
    );

    let saved = send(
        &router,
        path,
        &olivia,
        &with(fields.clone(), &[("action", "save")]),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    assert_eq!(
        saved.location.as_deref(),
        Some("/journeys/home-insurance-claim/edit?saved=1")
    );
    let deployed = store
        .journey("home-insurance-claim", None)
        .expect("read")
        .expect("saved");
    let journey = waymark_journey::check(&deployed.source)
        .journey
        .expect("it reads");
    assert_eq!(journey.stages.len(), 3);
    assert_eq!(journey.touchpoints().count(), 6);
    assert_eq!(
        journey.touchpoint("assess").expect("assess").events[0].to_string(),
        "Task Completed where task=assess"
    );

    // The live map shows figures; the YAML downloads and lints clean.
    let map = get(&router, "/journeys/home-insurance-claim", Some(&olivia)).await;
    assert_eq!(map.status, StatusCode::OK);
    assert!(map.html.contains("3 instances"), "{}", map.html);
    let yaml = get(
        &router,
        "/journeys/home-insurance-claim/download",
        Some(&chris),
    )
    .await;
    assert_eq!(yaml.status, StatusCode::OK);
    let lint = waymark_journey::check(&yaml.html);
    assert!(lint.diagnostics.is_empty(), "{:?}", lint.diagnostics);
    assert_eq!(lint.journey.as_ref(), Some(&journey));
}

/// A to-be version saved in the editor is proposed, not deployed: the journey's owner (Hana,
/// who leads HR) approves it on her task page, then it is the current version, and the owners of
/// the touchpoints it changed are emailed.
#[tokio::test]
async fn a_journey_from_the_cli_is_edited_and_downloads_equal() {
    let (store, _) = setup("editor-roundtrip");
    let router = with_mail(&store);
    hana_leads_hr(store.as_ref());
    let source = std::fs::read_to_string(workspace().join("examples/training-request/to-be.yaml"))
        .expect("example");
    store
        .deploy_journey("training-request", "to-be", &source, 0)
        .expect("deploy");
    let original = waymark_journey::check(&source).journey.expect("reads");
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let page = get(&router, "/journeys/training-request/edit", Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let fields = with(form_fields(&page.html), &[("action", "save")]);
    // Without its five answers, a to-be version is not even proposed.
    let unanswered: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| {
            let v = if k == "j.change.feedback" {
                String::new()
            } else {
                v.clone()
            };
            (k.clone(), v)
        })
        .collect();
    let refused = send(
        &router,
        "/journeys/training-request/edit",
        &ada,
        &unanswered,
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    assert!(
        refused.html.contains("Nothing was saved")
            && refused.html.contains("How will my customer give feedback?"),
        "{}",
        refused.html
    );
    let saved = send(&router, "/journeys/training-request/edit", &ada, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let proposed = saved.location.clone().expect("where");
    assert!(proposed.contains("?proposed="), "{proposed}");
    assert_eq!(
        store
            .journey("training-request", None)
            .expect("read")
            .expect("latest")
            .version,
        1,
        "proposed, not deployed"
    );
    let page = get(&router, &proposed, Some(&ada)).await;
    assert!(
        page.html
            .contains("Proposed: the <strong>to-be</strong> version becomes the current one"),
        "{}",
        page.html
    );
    let proposal = store
        .proposals(Some("training-request"), 1)
        .expect("proposals")
        .remove(0);
    let versions = get(&router, "/journeys/training-request/versions", Some(&ada)).await;
    let map = get(&router, "/journeys/training-request", Some(&ada)).await;
    assert!(
        map.html.contains("waits for the owner's approval")
            && map.html.contains(&format!(
                "/journeys/training-request/proposals/{}",
                proposal.id
            )),
        "{}",
        map.html
    );
    assert!(
        versions.html.contains("waiting for approval"),
        "{}",
        versions.html
    );

    // Hana finds it in her inbox, with the five answers and a link to the whole change.
    let hana = sign_in(&router, store.as_ref(), "hana").await;
    let task = store
        .tasks_for(&store.user("hana").expect("read").expect("hana"))
        .expect("tasks");
    assert_eq!(task.len(), 1, "{task:?}");
    let task_page = format!("/work/tasks/{}-{}", task[0].instance, task[0].task);
    let page = get(&router, &task_page, Some(&hana)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let link = format!("/journeys/training-request/proposals/{}", proposal.id);
    for shown in [
        "How will my customer find out?",
        "An announcement from HR",
        link.as_str(),
        "Approve and publish",
    ] {
        assert!(page.html.contains(shown), "{shown}: {}", page.html);
    }
    // She reads no journeys, but reads the proposal she approves.
    let shown = get(&router, &link, Some(&hana)).await;
    assert_eq!(shown.status, StatusCode::OK, "{}", shown.html);
    assert!(
        shown.html.contains("waiting for approval"),
        "{}",
        shown.html
    );
    let token = csrf(&page.html);
    let done = post(
        &router,
        &task_page,
        Some(&hana),
        &[("csrf", &token), ("approved", "true"), ("reason", "")],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let shown = get(&router, &link, Some(&ada)).await;
    assert!(
        shown.html.contains("approved and published"),
        "{}",
        shown.html
    );
    let mail = store.mails(Some("ada"), 10).expect("mails");
    assert!(
        mail.iter().any(|m| m
            .subject
            .starts_with("Published: Request professional training")),
        "the proposer is told: {mail:?}"
    );
    let latest = store
        .journey("training-request", None)
        .expect("read")
        .expect("latest");
    assert_eq!(
        latest.version, 2,
        "saving from the editor made a new version"
    );
    assert_ne!(
        latest.source, source,
        "written by the journey model, not the file kept"
    );
    let yaml = get(
        &router,
        &format!(
            "/journeys/training-request/download?version={}",
            latest.version
        ),
        Some(&ada),
    )
    .await;
    assert_eq!(
        waymark_journey::check(&yaml.html).journey.as_ref(),
        Some(&original),
        "{}",
        yaml.html
    );
}

#[tokio::test]
async fn two_editors_of_one_journey_merge_or_see_what_clashes() {
    let (store, router) = setup("editor-merge");
    let source = std::fs::read_to_string(workspace().join("examples/training-request/as-is.yaml"))
        .expect("example");
    store
        .deploy_journey("training-request", "as-is", &source, 0)
        .expect("deploy");
    olivia_leads_cx(store.as_ref());
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let olivia = sign_in(&router, store.as_ref(), "olivia").await;
    let path = "/journeys/training-request/edit";
    let first = form_fields(&get(&router, path, Some(&ada)).await.html);
    let second = form_fields(&get(&router, path, Some(&olivia)).await.html);
    let department = |fields: &[(String, String)]| {
        fields
            .iter()
            .find(|(n, _)| n == "s0.t0.department")
            .map(|(_, v)| v.clone())
            .expect("a department")
    };
    let before = department(&first);

    // Ada renames the journey; Olivia, from the same version, changes a department: both kept.
    let saved = send(
        &router,
        path,
        &ada,
        &with(
            first.clone(),
            &[("j.title", "Training, as it is today"), ("action", "save")],
        ),
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let merged = send(
        &router,
        path,
        &olivia,
        &with(
            second.clone(),
            &[("s0.t0.department", "People Team"), ("action", "save")],
        ),
    )
    .await;
    assert_eq!(merged.status, StatusCode::SEE_OTHER, "{}", merged.html);
    assert!(
        merged
            .location
            .as_deref()
            .is_some_and(|l| l.ends_with("&merged=1"))
    );
    let latest = waymark_journey::check(
        &store
            .journey("training-request", None)
            .expect("read")
            .expect("latest")
            .source,
    )
    .journey
    .expect("reads");
    assert_eq!(latest.title, "Training, as it is today");
    assert_eq!(latest.stages[0].touchpoints[0].department, "People Team");

    // Both change the same department from the version Ada started with: Ada's second save is
    // refused, with the three values shown and her edit kept in the form.
    let clash = send(
        &router,
        path,
        &ada,
        &with(
            first,
            &[("s0.t0.department", "Learning"), ("action", "save")],
        ),
    )
    .await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.html);
    assert!(
        clash
            .html
            .contains("What clashes with the version saved meanwhile")
    );
    let table = &clash.html[clash
        .html
        .find("<table class=\"conflicts\"")
        .expect("the clashes")..];
    let table = &table[..table.find("</table>").expect("their end")];
    assert!(table.contains("department"), "{table}");
    for value in [before.as_str(), "People Team", "Learning"] {
        assert!(
            table.contains(&format!("<td>{value}</td>")),
            "{value} in {table}"
        );
    }
    let kept = form_fields(&clash.html);
    assert!(kept.contains(&("s0.t0.department".to_string(), "Learning".to_string())));
    // Saving again, having seen the difference, goes through.
    let again = send(&router, path, &ada, &with(kept, &[("action", "save")])).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.html);
}

#[tokio::test]
async fn a_journey_is_discovered_from_the_events_and_saved() {
    let (store, router) = setup("editor-discover");
    claims(store.as_ref());
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let start = get(&router, "/journeys/new", Some(&ada)).await;
    let token = csrf(&start.html);
    let opened = post(
        &router,
        "/journeys/new",
        Some(&ada),
        &[
            ("csrf", &token),
            ("id", "claims"),
            ("title", "Claims as they happen"),
            ("from", "discover"),
            ("only", "Claim Started"),
            ("only", "Photos Uploaded"),
            ("only", "Task Completed"),
        ],
    )
    .await;
    assert_eq!(opened.status, StatusCode::OK, "{}", opened.html);
    assert!(
        opened
            .html
            .contains("Every collected event belongs to a touchpoint"),
        "{}",
        opened.html
    );
    let fields = with(form_fields(&opened.html), &[("action", "save")]);
    let saved = send(&router, "/journeys/claims/edit", &ada, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let journey = waymark_journey::check(
        &store
            .journey("claims", None)
            .expect("read")
            .expect("saved")
            .source,
    )
    .journey
    .expect("reads");
    let names: Vec<&str> = journey
        .touchpoints()
        .map(|(_, t)| t.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "Claim Started",
            "Photos Uploaded",
            "Task Completed: assess",
            "Task Completed: pay"
        ]
    );
}

/// The app with mail kept in the app, as the demo keeps it.
fn with_mail(store: &std::sync::Arc<dyn Store>) -> axum::Router {
    let mut state = waymark_server::AppState::new(store.clone()).expect("state");
    state.mailer = Some(std::sync::Arc::new(
        waymark_server::mail::Mailer::in_app(
            store.clone(),
            "Waymark <w@example.com>",
            "http://w.example",
        )
        .expect("mailer"),
    ));
    let pages = waymark_web::pages(state.clone(), false);
    waymark_server::app_with(state, pages)
}

#[tokio::test]
async fn a_comment_mentions_a_colleague_who_is_emailed_and_answers() {
    let (store, _) = setup("editor-comments");
    let router = with_mail(&store);
    let source = std::fs::read_to_string(workspace().join("examples/training-request/as-is.yaml"))
        .expect("example");
    store
        .deploy_journey("training-request", "as-is", &source, 0)
        .expect("deploy");
    let touchpoint = waymark_journey::check(&source)
        .journey
        .expect("reads")
        .stages[1]
        .touchpoints[0]
        .id
        .clone();
    olivia_leads_cx(store.as_ref());
    let olivia = sign_in(&router, store.as_ref(), "olivia").await;
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let finn = sign_in(&router, store.as_ref(), "finn").await;

    let page = get(&router, "/journeys/training-request", Some(&olivia)).await;
    assert!(page.html.contains("No comments yet"), "{}", page.html);
    let token = csrf(&page.html);
    let target = format!("touchpoint:{touchpoint}");
    let posted = post(
        &router,
        "/journeys/training-request/comments",
        Some(&olivia),
        &[
            ("csrf", &token),
            ("target", &target),
            ("body", "@chris why does this take four days? cc @finn"),
        ],
    )
    .await;
    assert_eq!(posted.status, StatusCode::SEE_OTHER, "{}", posted.html);
    let location = posted.location.expect("back to the thread");
    // Chris reads journeys and is emailed; Finn does not, so no link goes to him.
    assert!(
        location.starts_with("/journeys/training-request?emailed=chris#comment-"),
        "{location}"
    );
    let mail = store.mails(Some("chris"), 5).expect("mail");
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].subject.contains("Olivia Chen mentioned you"),
        "{}",
        mail[0].subject
    );
    let thread = location
        .rsplit("#comment-")
        .next()
        .expect("thread")
        .to_string();
    assert!(
        mail[0].body.contains(&format!(
            "http://w.example/journeys/training-request#comment-{thread}"
        )),
        "{}",
        mail[0].body
    );
    assert!(store.mails(Some("finn"), 5).expect("mail").is_empty());

    let shown = get(
        &router,
        &location.replace(&format!("#comment-{thread}"), ""),
        Some(&olivia),
    )
    .await;
    assert!(
        shown
            .html
            .contains("Emailed a link to the thread: Chris Analyst."),
        "{}",
        shown.html
    );
    assert!(
        shown.html.contains(">1 comment</text>"),
        "the card carries the open thread"
    );

    // Chris answers in the thread; Finn, who does not read journeys, cannot.
    let chris_page = get(&router, "/journeys/training-request", Some(&chris)).await;
    let answer = post(
        &router,
        "/journeys/training-request/comments",
        Some(&chris),
        &[
            ("csrf", &csrf(&chris_page.html)),
            ("parent", &thread),
            ("body", "The budget check waits for a person."),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
    let finn_page = get(&router, "/work", Some(&finn)).await;
    let refused = post(
        &router,
        "/journeys/training-request/comments",
        Some(&finn),
        &[
            ("csrf", &csrf(&finn_page.html)),
            ("parent", &thread),
            ("body", "me too"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    // An empty comment is refused for what it says.
    let empty = post(
        &router,
        "/journeys/training-request/comments",
        Some(&chris),
        &[("csrf", &csrf(&chris_page.html)), ("body", "  ")],
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);

    let page = get(&router, "/journeys/training-request", Some(&olivia)).await;
    assert!(page.html.contains("The budget check waits for a person."));
    assert!(page.html.contains("Comments (1 open)"));
    let resolved = post(
        &router,
        &format!("/journeys/training-request/comments/{thread}/resolve"),
        Some(&olivia),
        &[("csrf", &csrf(&page.html))],
    )
    .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER);
    let page = get(&router, "/journeys/training-request", Some(&olivia)).await;
    assert!(
        page.html.contains("resolved</span> by Olivia Chen"),
        "{}",
        page.html
    );
    assert!(
        !page.html.contains(">1 comment</text>"),
        "a resolved thread leaves the map"
    );
}

#[tokio::test]
async fn versions_say_who_changed_what_and_compare_on_the_map() {
    let (store, router) = setup("editor-versions");
    let source = std::fs::read_to_string(workspace().join("examples/training-request/as-is.yaml"))
        .expect("example");
    store
        .deploy_journey("training-request", "as-is", &source, 0)
        .expect("deploy");
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let path = "/journeys/training-request/edit";
    let fields = form_fields(&get(&router, path, Some(&ada)).await.html);
    let saved = send(
        &router,
        path,
        &ada,
        &with(
            fields,
            &[("s0.t0.channel", "phone"), ("action", "add-touchpoint:0")],
        ),
    )
    .await;
    let fields = with(form_fields(&saved.html), &[("action", "save")]);
    let saved = send(&router, path, &ada, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);

    let versions = get(&router, "/journeys/training-request/versions", Some(&ada)).await;
    assert_eq!(versions.status, StatusCode::OK);
    assert!(versions.html.contains("by Ada Admin"), "{}", versions.html);
    assert!(
        versions
            .html
            .contains("Saved before changes were recorded."),
        "version 1 came without a record"
    );
    assert!(
        versions.html.contains("(channel)") && versions.html.contains("added "),
        "{}",
        versions.html
    );

    let compared = get(&router, "/journeys/training-request/compare", Some(&ada)).await;
    assert_eq!(compared.status, StatusCode::OK, "{}", compared.html);
    assert!(
        compared.html.contains(">added</text>") && compared.html.contains(">changed</text>"),
        "badges on the map"
    );
    let before = waymark_journey::check(&source)
        .journey
        .expect("reads")
        .stages[0]
        .touchpoints[0]
        .channel;
    assert_ne!(before, waymark_journey::Channel::Phone);
    assert!(
        compared
            .html
            .contains(&format!("channel: {before} → phone")),
        "{}",
        compared.html
    );
}

/// A change the owner sends back: the reason is required, the proposal page says so and offers
/// to edit it; the editor goes on from that proposal, not from the newest one.
#[tokio::test]
async fn a_change_sent_back_is_edited_from_where_it_stood() {
    let (store, _) = setup("editor-sent-back");
    let router = with_mail(&store);
    hana_leads_hr(store.as_ref());
    let as_is = std::fs::read_to_string(workspace().join("examples/training-request/as-is.yaml"))
        .expect("example");
    let to_be = std::fs::read_to_string(workspace().join("examples/training-request/to-be.yaml"))
        .expect("example");
    store
        .deploy_journey("training-request", "as-is", &as_is, 0)
        .expect("deploy");
    let journey = waymark_journey::check(&to_be).journey.expect("reads");
    let propose = |text: &str| {
        let journey = waymark_journey::check(text).journey.expect("reads");
        match waymark_server::changes::propose(store.as_ref(), &journey, text, "ada", 1)
            .expect("proposed")
        {
            waymark_server::changes::Proposed::Waiting { proposal, .. } => proposal,
            other => panic!("{other:?}"),
        }
    };
    let first = propose(&to_be);
    let hana = sign_in(&router, store.as_ref(), "hana").await;
    let task = store
        .tasks_for(&store.user("hana").expect("read").expect("hana"))
        .expect("tasks");
    let task_page = format!("/work/tasks/{}-{}", task[0].instance, task[0].task);
    let page = get(&router, &task_page, Some(&hana)).await;
    let token = csrf(&page.html);
    // Sending back needs a reason.
    let refused = post(
        &router,
        &task_page,
        Some(&hana),
        &[("csrf", &token), ("approved", "false"), ("reason", "")],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.html
    );
    let waiting = store.proposal(first).expect("read").expect("kept");
    assert_eq!(waiting.status.as_str(), "waiting");
    let sent = post(
        &router,
        &task_page,
        Some(&hana),
        &[
            ("csrf", &token),
            ("approved", "false"),
            ("reason", "Say which number Jennifer calls now."),
        ],
    )
    .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let link = format!("/journeys/training-request/proposals/{first}");
    let shown = get(&router, &link, Some(&ada)).await;
    for part in [
        "sent back",
        "Say which number Jennifer calls now.",
        &format!("/journeys/training-request/edit?proposal={first}"),
    ] {
        assert!(shown.html.contains(part), "{part}: {}", shown.html);
    }
    assert_eq!(
        store
            .journey("training-request", None)
            .expect("read")
            .expect("current")
            .version,
        1
    );
    // A newer proposal waits; the editor still goes on from the one asked for.
    let second = propose(&to_be.replacen(&journey.title, "Request training, faster", 1));
    let editing = get(
        &router,
        &format!("/journeys/training-request/edit?proposal={first}"),
        Some(&ada),
    )
    .await;
    assert!(
        editing
            .html
            .contains(&format!("You are editing proposal {first} (sent-back)")),
        "{}",
        editing.html
    );
    assert!(
        editing
            .html
            .contains(&format!("value=\"{}\"", journey.title)),
        "{}",
        editing.html
    );
    // Without asking, the editor says the newer one waits and offers to go on with it.
    let plain = get(&router, "/journeys/training-request/edit", Some(&ada)).await;
    assert!(
        plain.html.contains(&format!(
            "/journeys/training-request/edit?proposal={second}"
        )),
        "{}",
        plain.html
    );
}
