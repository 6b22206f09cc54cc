//! Closing the loop: an unhappy survey answer opens a follow-up for the department that owns the
//! touchpoint, with the customer's context; the department contacts and closes it from its inbox;
//! the follow-ups page measures it, and the customer's next answer says whether they recovered.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use crate::analyses::seed;
use crate::{csrf, get, post, setup, sign_in};

/// A survey link for `person` about `touchpoint` of the small journey.
async fn survey(router: &axum::Router, person: &str, touchpoint: &str) -> String {
    let issued = crate::send(
        router,
        Request::post("/v1/surveys")
            .header(header::AUTHORIZATION, "Bearer admin-key")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({ "person": person, "journey": "small", "touchpoint": touchpoint })
                    .to_string(),
            ))
            .expect("request"),
    )
    .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.html);
    let issued: serde_json::Value = serde_json::from_str(&issued.html).expect("json");
    issued["url"].as_str().expect("url").to_string()
}

#[tokio::test]
async fn an_unhappy_answer_is_followed_up_by_the_department_that_owns_the_touchpoint() {
    let (store, router) = setup("followups");
    seed(store.as_ref());
    store
        .ensure_key(waymark_store::KeyKind::Admin, "admin-key")
        .expect("admin");
    let follow_ups = || {
        store
            .instance_list(None, Some(waymark_server::followups::PROCESS), None, 10)
            .expect("list")
            .len()
    };
    // A happy answer opens nothing.
    let happy = survey(&router, "u3", "call").await;
    let page = post(
        &router,
        &happy,
        None,
        &[("csat", "5"), ("comment", "Great, thanks!")],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(follow_ups(), 0);
    // An unhappy one opens one follow-up for Support (the call's department: Alex's).
    let unhappy = survey(&router, "u2", "call").await;
    let page = post(
        &router,
        &unhappy,
        None,
        &[
            ("csat", "1"),
            ("comment", "Nobody called me back. Terrible service."),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert_eq!(follow_ups(), 1);
    let again = post(&router, &unhappy, None, &[("csat", "1")]).await;
    assert!(again.html.contains("the first answer stands"));
    assert_eq!(follow_ups(), 1, "one follow-up per answer");

    let alex = sign_in(&router, store.as_ref(), "alex").await;
    let inbox = get(&router, "/work", Some(&alex)).await;
    assert!(
        inbox.html.contains("Contact the customer"),
        "{}",
        inbox.html
    );
    let tasks = store
        .tasks_for(&store.user("alex").expect("read").expect("alex"))
        .expect("tasks");
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let task = format!("/work/tasks/{}-{}", tasks[0].instance, tasks[0].task);
    let page = get(&router, &task, Some(&alex)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    for shown in [
        "<dt>Customer</dt><dd>u2</dd>",
        "<dt>Where</dt><dd>Small service: Ask, at Phone call</dd>",
        "<dt>Their answer</dt><dd>CSAT 1 of 5</dd>",
        "<dt>Why a follow-up</dt><dd>CSAT 1 of 5, a negative comment</dd>",
        "Nobody called me back. Terrible service.",
        "In Small service: Ask at Online form (open)",
    ] {
        assert!(page.html.contains(shown), "{shown}: {}", page.html);
    }
    // Chris reads journeys but is not in Support: not his to do.
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let page = get(&router, &task, Some(&chris)).await;
    assert!(
        matches!(page.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        page.status
    );

    let token = csrf(&get(&router, &task, Some(&alex)).await.html);
    let claimed = post(
        &router,
        &format!("{task}/claim"),
        Some(&alex),
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(claimed.status, StatusCode::SEE_OTHER, "{}", claimed.html);
    let done = post(
        &router,
        &task,
        Some(&alex),
        &[
            ("csrf", &token),
            ("contactedBy", "phone"),
            ("heard", "Waited a week for a call."),
        ],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
    let tasks = store
        .tasks_for(&store.user("alex").expect("read").expect("alex"))
        .expect("tasks");
    let close = format!("/work/tasks/{}-{}", tasks[0].instance, tasks[0].task);
    let page = get(&router, &close, Some(&alex)).await;
    assert!(page.html.contains("Close the follow-up"), "{}", page.html);
    assert!(
        page.html.contains("Waited a week for a call."),
        "{}",
        page.html
    );
    post(
        &router,
        &format!("{close}/claim"),
        Some(&alex),
        &[("csrf", &token)],
    )
    .await;
    let done = post(
        &router,
        &close,
        Some(&alex),
        &[
            ("csrf", &token),
            ("outcome", "resolved"),
            ("outcomeNotes", "Called back and booked."),
        ],
    )
    .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);

    // Waymark asks nobody twice within 14 days, across touchpoints...
    let refused = crate::send(
        &router,
        Request::post("/v1/surveys")
            .header(header::AUTHORIZATION, "Bearer admin-key")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({ "person": "u2", "journey": "small", "touchpoint": "form" }).to_string(),
            ))
            .expect("request"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.html);
    assert!(
        refused.html.contains("asked for feedback on"),
        "{}",
        refused.html
    );
    // ...so their next answer comes from another survey tool, through the collection API's
    // store: happier.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    store
        .append(vec![waymark_store::NewEvent {
            message_id: "later-answer".into(),
            kind: "track".into(),
            name: Some("Survey Answered".into()),
            user_id: Some("u2".into()),
            anonymous_id: None,
            timestamp_us: now + 1_000_000,
            received_us: now + 1_000_000,
            body: json!({ "type": "track", "event": "Survey Answered", "userId": "u2", "properties": { "touchpoint": "form", "csat": 4 } }).to_string(),
        }])
        .expect("append");
    assert_eq!(follow_ups(), 1);
    let measured = waymark_server::followups::measure(store.as_ref()).expect("measure");
    assert_eq!(measured.len(), 1);
    let m = &measured[0];
    assert_eq!(
        (m.department.as_str(), m.outcome.as_deref()),
        ("support", Some("resolved"))
    );
    assert!(
        m.first_contact_us.is_some() && m.closed_us >= m.first_contact_us,
        "{m:?}"
    );
    assert_eq!(m.recovered(), Some(true), "{m:?}");
    assert_eq!(m.recovery.as_ref().map(|r| r.1), Some(4.0));

    let page = get(&router, "/follow-ups", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains(r#"<span class="figure">1 of 1</span><span class="label">happier at their next answer</span>"#),
        "{}",
        page.html
    );
    assert!(page.html.contains("CSAT 4: happier"), "{}", page.html);
    assert!(page.html.contains(">closed<"), "{}", page.html);
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    assert_eq!(
        get(&router, "/follow-ups", Some(&jennifer)).await.status,
        StatusCode::FORBIDDEN
    );

    // Nobody starts a follow-up by hand, with values of their choosing.
    let page = get(&router, "/work/start", Some(&jennifer)).await;
    assert!(
        !page.html.contains(waymark_server::followups::PROCESS),
        "{}",
        page.html
    );
    let token = csrf(&page.html);
    let forged = post(
        &router,
        &format!("/work/start/{}", waymark_server::followups::PROCESS),
        Some(&jennifer),
        &[
            ("csrf", &token),
            ("department", "admin"),
            ("context", "Call me"),
        ],
    )
    .await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND, "{}", forged.html);
    assert_eq!(follow_ups(), 1);
    // An employee who answers unhappily gets a follow-up, but does not see it among their own
    // requests: it is the department's, with its notes.
    let theirs = survey(&router, "jennifer", "call").await;
    post(&router, &theirs, None, &[("nps", "2")]).await;
    assert_eq!(follow_ups(), 2);
    let listed = store
        .instance_list(None, Some(waymark_server::followups::PROCESS), None, 10)
        .expect("list");
    let hers = listed.iter().map(|i| i.id).max().expect("hers");
    let mine = get(&router, "/work/requests", Some(&jennifer)).await;
    assert!(
        !mine.html.contains("Follow up an unhappy customer"),
        "{}",
        mine.html
    );
    let page = get(&router, &format!("/work/requests/{hers}"), Some(&jennifer)).await;
    assert!(
        matches!(page.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        page.status
    );
}
