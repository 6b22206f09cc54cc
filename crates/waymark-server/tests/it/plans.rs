//! Opportunities and initiatives on the API: raised with evidence measured on the stored events
//! (equal to the journey's report), changed only on the revision read and only by whom it
//! belongs to, initiatives with a baseline measured at their start and their KPIs measured before
//! and after, and the roadmap as CSV.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use waymark_store::KeyKind;
use waymark_store::workflow::User;

use super::{ADMIN, JOURNEY, get, get_text, post, setup};

async fn call(
    router: &axum::Router,
    method: &str,
    path: &str,
    body: Value,
    token: &str,
) -> (StatusCode, Value) {
    let response = router
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::from(body.to_string()))
                .expect("request"),
        )
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

fn person(id: &str, roles: &[&str]) -> User {
    User {
        id: id.into(),
        name: format!("Person {id}"),
        email: Some(format!("{id}@example.com")),
        department: Some("lending".into()),
        manager: None,
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

/// Twelve applications a day from 1 to 10 March 2024, ten of them approved: in 20 to 29 hours
/// for the first five days, in 48 to 57 hours after.
pub(super) fn applications() -> String {
    let mut csv = String::from("case_id,activity,timestamp\n");
    for day in 0..10 {
        for n in 0..12 {
            let wait = if day < 5 { 20 } else { 48 };
            let case = format!("c{day}-{n}");
            csv.push_str(&format!(
                "{case},Apply,2024-03-{:02}T08:{n:02}:00Z\n",
                day + 1
            ));
            if n < 10 {
                let approved = 8 + wait + n;
                csv.push_str(&format!(
                    "{case},Approve,2024-03-{:02}T{:02}:{n:02}:00Z\n",
                    day + 1 + approved / 24,
                    approved % 24
                ));
            }
        }
    }
    csv
}

#[tokio::test]
async fn opportunities_carry_measured_evidence_and_initiatives_measure_their_kpis() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    store
        .put_users(&[
            person("olivia", &["journey-owner"]),
            person("chris", &["analyst"]),
            person("finn", &[]),
            person("mallory", &["analyst"]),
        ])
        .expect("people");
    let token = |id: &str| {
        store
            .issue_person_token(id, "test", None, "admin", 1)
            .expect("token")
            .1
    };
    let (chris, finn, mallory) = (token("chris"), token("finn"), token("mallory"));
    let admin = [("authorization", format!("Bearer {ADMIN}"))];
    let (status, body) = post(
        &router,
        "/v1/import?format=csv",
        applications().into_bytes(),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let journey = JOURNEY.replace(
        "version: as-is\n",
        "version: as-is\ninstances:\n  timeout: 3d\nkpis:\n  - Approved: conversion apply -> approve >= 80%\n  - Time to approve: median-time apply -> approve <= 1d owner Risk\n",
    );
    let (status, body) = post(&router, "/v1/journeys", journey.into_bytes(), &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The admin token is nobody: it must say who owns what it raises.
    let (status, body) = call(
        &router,
        "POST",
        "/v1/opportunities",
        json!({"journey": "loan", "touchpoint": "approve"}),
        ADMIN,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "/owner");
    // Chris, an analyst, raises one at the approval; he owns it.
    let (status, raised) = call(
        &router,
        "POST",
        "/v1/opportunities",
        json!({"journey": "loan", "touchpoint": "approve"}),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{raised}");
    assert_eq!(
        (raised["owner"].as_str(), raised["status"].as_str()),
        (Some("chris"), Some("open"))
    );
    assert_eq!(raised["revision"], 1);
    // Its evidence is the report's, as it stood.
    let (status, report) = get(&router, "/v1/journeys/loan/report", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    let figures = report["touchpoints"]
        .as_array()
        .expect("touchpoints")
        .iter()
        .find(|t| t["id"] == "approve")
        .expect("approve")
        .clone();
    let fact = |o: &Value, measure: &str| -> Value {
        o["evidence"]
            .as_array()
            .expect("evidence")
            .iter()
            .find(|e| e["measure"] == measure)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(
        fact(&raised, "instances")["value"],
        json!(100.0),
        "{raised}"
    );
    assert_eq!(figures["instances"], 100);
    assert!(figures["breach_share"].is_number(), "{figures}");
    assert_eq!(
        fact(&raised, "over-target")["value"],
        figures["breach_share"],
        "{raised}"
    );
    assert!(
        raised["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("Approval: ")),
        "{raised}"
    );
    let id = raised["id"].as_i64().expect("id");

    // From a funnel step: the step's conversion, as the funnel counts it (100 of 120).
    let (status, step) = call(
        &router,
        "POST",
        "/v1/opportunities",
        json!({"journey": "loan", "funnel": {"steps": ["apply", "approve"], "step": 2, "window": "30d"}}),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{step}");
    let conversion = fact(&step, "conversion");
    assert!(
        (conversion["value"].as_f64().expect("share") - 100.0 / 120.0).abs() < 1e-12,
        "{conversion}"
    );
    assert_eq!(step["source"]["kind"], "funnel");
    for (asked, field) in [
        (
            json!({"journey": "loan", "funnel": {"steps": ["apply", "approve"], "step": 1}}),
            "/funnel/step",
        ),
        (
            json!({"journey": "loan", "funnel": {"steps": ["apply", "nope"], "step": 2}}),
            "/funnel/steps",
        ),
        (
            json!({"journey": "loan", "touchpoint": "nope"}),
            "/touchpoint",
        ),
        (
            json!({"journey": "nope", "touchpoint": "apply"}),
            "/journey",
        ),
        (
            json!({"journey": "loan", "touchpoint": "apply", "owner": "nobody"}),
            "/owner",
        ),
        (
            json!({"journey": "loan", "touchpoint": "apply", "score": {"customer_value": 9, "business_value": 3, "effort": 3}}),
            "/score/customer_value",
        ),
        (
            json!({"journey": "loan", "touchpoint": "apply", "comment": {"case": "c0-0", "at_us": 1}}),
            "/comment",
        ),
        (json!({"journey": "loan", "touchpoint": 7}), "/touchpoint"),
        (
            json!({"journey": "loan", "touchpoint": "apply", "title": "x".repeat(201)}),
            "/title",
        ),
        (
            json!({"journey": "loan", "funnel": {"steps": ["apply", "approve"], "step": 2, "window": "1".repeat(21)}}),
            "/funnel",
        ),
    ] {
        let (status, body) =
            call(&router, "POST", "/v1/opportunities", asked.clone(), &chris).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{asked}: {body}");
        assert_eq!(body["error"]["field"], field, "{asked}: {body}");
    }

    // A client names where it was raised, never what the figures were; a link back that would
    // leave the site is dropped.
    let (status, sent) = call(
        &router,
        "POST",
        "/v1/opportunities",
        json!({"journey": "loan", "touchpoint": "apply", "evidence": [{"measure": "csat", "words": "made up"}], "href": "/\\evil.example"}),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    assert!(!sent.to_string().contains("made up"), "{sent}");
    assert_eq!(sent["source"]["href"], Value::Null, "{sent}");

    // Changed on the revision read; a stale revision is refused and changes nothing.
    let change = json!({"revision": 1, "status": "planned", "score": {"customer_value": 5, "business_value": 4, "effort": 2}, "owner": "olivia"});
    let (status, changed) = call(
        &router,
        "PATCH",
        &format!("/v1/opportunities/{id}"),
        change.clone(),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["revision"], 2);
    assert_eq!(changed["score"]["priority"], 4.5);
    assert_eq!(changed["score"]["quadrant"], "quick win");
    assert_eq!(changed["owner"], "olivia");
    let (status, body) = call(
        &router,
        "PATCH",
        &format!("/v1/opportunities/{id}"),
        json!({"revision": 1, "title": "Stale"}),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, kept) = get(&router, &format!("/v1/opportunities/{id}"), Some(ADMIN)).await;
    assert_eq!(kept["title"], changed["title"]);
    assert_eq!(kept["history"].as_array().map(Vec::len), Some(2), "{kept}");
    // Mallory, an analyst who neither owns nor raised it, may read it but not change it; Finn,
    // who reads no journeys, may do neither.
    let (status, _) = call(
        &router,
        "PATCH",
        &format!("/v1/opportunities/{id}"),
        json!({"revision": 2, "title": "Mine"}),
        &mallory,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get(&router, &format!("/v1/opportunities/{id}"), Some(&finn)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, listed) = get(&router, "/v1/opportunities", Some(&finn)).await;
    assert_eq!(
        (status, listed["opportunities"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    let (_, listed) = get(&router, "/v1/opportunities?status=planned", Some(&mallory)).await;
    assert_eq!(listed["opportunities"].as_array().map(Vec::len), Some(1));

    // An initiative started on 6 March: its KPI's baseline is the 28 days before (the first
    // five days' approvals, 20 to 29 hours: a median of 24.5 hours), and from that day the
    // approvals slowed (48 to 57 hours: 52.5).
    let (status, started) = call(
        &router,
        "POST",
        "/v1/initiatives",
        json!({
            "title": "=One approval form",
            "owner": "olivia",
            "status": "active",
            "departments": ["lending", "risk"],
            "start": "2024-03-06",
            "target_date": "2024-05-15",
            "opportunities": [id, step["id"]],
            "measure_from": "2024-03-06",
            "goals": [{"journey": "loan", "kpi": "time-to-approve", "target": "20h"}, {"journey": "loan", "kpi": "approved"}]
        }),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let initiative = started["id"].as_i64().expect("id");
    assert_eq!(started["quarter"], "2024 Q2");
    assert_eq!(started["goals"][0]["target"], json!(72000.0));
    assert_eq!(
        started["goals"][0]["baseline"]["value"],
        json!(88200.0),
        "{started}"
    );
    assert_eq!(started["goals"][0]["baseline"]["n"], 50);
    let (_, step_now) = get(
        &router,
        &format!("/v1/opportunities/{}", step["id"]),
        Some(ADMIN),
    )
    .await;
    assert_eq!(
        step_now["status"], "planned",
        "the open opportunity it addresses is planned"
    );
    let (status, measured) = get(
        &router,
        &format!("/v1/initiatives/{initiative}"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{measured}");
    let time = &measured["goals"][0];
    assert_eq!(time["compared"]["test"], "Mann–Whitney U test");
    assert_eq!(
        (
            time["compared"]["before"].as_f64(),
            time["compared"]["after"].as_f64()
        ),
        (Some(88200.0), Some(189000.0))
    );
    assert!(
        time["words"]
            .as_str()
            .is_some_and(|w| w.starts_with("Time to approve moved for the worse")),
        "{time}"
    );
    assert_eq!(time["target_text"], "20.0h");
    assert!(
        measured["measured_from"]["words"]
            .as_str()
            .is_some_and(|w| w.contains("by hand"))
    );

    // Delivered by a version deployed later: measured from its deployment instead.
    let to_be = JOURNEY.replace("version: as-is\n", "version: to-be\ninstances:\n  timeout: 3d\nkpis:\n  - Approved: conversion apply -> approve >= 80%\n  - Time to approve: median-time apply -> approve <= 1d owner Risk\n");
    // A to-be version is published once the owner (Lending: Chris, first of its people) approves
    // its five answers; it counts as deployed from then.
    let to_be = format!(
        "{to_be}change:\n  owner: Olivia\n  date: 2024-03-05\n  impact: faster answers\n  standpoint: one page\n  response: relief\n  find_out: a letter\n  feedback: a survey\n"
    );
    let (status, body) = post(&router, "/v1/journeys", to_be.into_bytes(), &admin).await;
    assert_eq!(
        (status, body["approver"].clone()),
        (StatusCode::ACCEPTED, json!("chris")),
        "{body}"
    );
    let (_, inbox) = get(&router, "/v1/tasks", Some(&chris)).await;
    let task = inbox["tasks"][0]["id"]
        .as_str()
        .expect("the approval")
        .to_string();
    let (status, body) = call(
        &router,
        "POST",
        &format!("/v1/tasks/{task}/complete"),
        json!({"approved": true}),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &router,
        "PATCH",
        &format!("/v1/initiatives/{initiative}"),
        json!({"revision": 1, "measure_from": "", "delivers": {"journey": "loan", "version": 2}}),
        &mallory,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = call(
        &router,
        "PATCH",
        &format!("/v1/initiatives/{initiative}"),
        json!({"revision": 1, "measure_from": "", "delivers": {"journey": "loan", "version": 2}}),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, measured) = get(
        &router,
        &format!("/v1/initiatives/{initiative}"),
        Some(ADMIN),
    )
    .await;
    assert!(
        measured["measured_from"]["words"]
            .as_str()
            .is_some_and(|w| w.contains("version 2 (to-be)")),
        "{measured}"
    );
    for (asked, field) in [
        (json!({"revision": 2, "start": "6 March"}), "/start"),
        (
            json!({"revision": 2, "goals": [{"journey": "loan", "kpi": "nope"}]}),
            "/goals/0/kpi",
        ),
        (
            json!({"revision": 2, "goals": [{"journey": "loan", "kpi": "approved", "target": "fast"}]}),
            "/goals/0/target",
        ),
        (
            json!({"revision": 2, "opportunities": [999]}),
            "/opportunities/0",
        ),
        (
            json!({"revision": 2, "delivers": {"journey": "loan", "version": 9}}),
            "/delivers/version",
        ),
        (json!({"revision": 2, "status": "finished"}), "/status"),
        (
            json!({"revision": 2, "target_date": "2024-01-01"}),
            "/target_date",
        ),
        (json!({"revision": 1, "title": "stale"}), "/revision"),
        (json!({"title": "no revision"}), "/revision"),
        (
            json!({"revision": 2, "goals": vec![json!({"journey": "loan", "kpi": "approved"}); 51]}),
            "/goals",
        ),
    ] {
        let (status, body) = call(
            &router,
            "PATCH",
            &format!("/v1/initiatives/{initiative}"),
            asked.clone(),
            &chris,
        )
        .await;
        let expected = if asked["revision"] == 1 {
            StatusCode::CONFLICT
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "{asked}: {body}");
        assert_eq!(body["error"]["field"], field, "{asked}: {body}");
    }

    // `null` takes the delivery away.
    let (status, body) = call(
        &router,
        "PATCH",
        &format!("/v1/initiatives/{initiative}"),
        json!({"revision": 2, "delivers": null}),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["delivers"], Value::Null);
    let (status, body) = call(
        &router,
        "PATCH",
        &format!("/v1/initiatives/{initiative}"),
        json!({"revision": 3, "delivers": {"journey": "loan", "version": 2}}),
        &chris,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Mallory may read Chris's opportunity but not change it, not even by naming it in an
    // initiative of her own.
    let (_, open) = call(
        &router,
        "POST",
        "/v1/opportunities",
        json!({"journey": "loan", "touchpoint": "apply"}),
        &chris,
    )
    .await;
    let open_id = open["id"].as_i64().expect("id");
    let (status, body) = call(
        &router,
        "POST",
        "/v1/initiatives",
        json!({"title": "Mine", "opportunities": [open_id]}),
        &mallory,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, still) = get(
        &router,
        &format!("/v1/opportunities/{open_id}"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(still["status"], "open", "{still}");
    // Finn owns an initiative Chris gave him: he reads it without its journey figures, may not
    // name journeys or plans in it, changes the rest, and finds nobody else's.
    let (status, finns) = call(&router, "POST", "/v1/initiatives", json!({"title": "Finn's", "owner": "finn", "goals": [{"journey": "loan", "kpi": "approved"}]}), &chris).await;
    assert_eq!(status, StatusCode::OK, "{finns}");
    let finns = finns["id"].as_i64().expect("id");
    let (status, read) = get(&router, &format!("/v1/initiatives/{finns}"), Some(&finn)).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(
        read.get("measured_from"),
        None,
        "no results for him: {read}"
    );
    let (status, body) = call(
        &router,
        "PATCH",
        &format!("/v1/initiatives/{finns}"),
        json!({"revision": 1, "opportunities": [open_id]}),
        &finn,
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::FORBIDDEN, Some("/opportunities")),
        "{body}"
    );
    let (status, body) = call(
        &router,
        "PATCH",
        &format!("/v1/initiatives/{finns}"),
        json!({"revision": 1, "status": "stopped"}),
        &finn,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "his own: {body}");
    let (status, _) = call(
        &router,
        "PATCH",
        &format!("/v1/initiatives/{initiative}"),
        json!({"revision": 4}),
        &finn,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "not his, and not one he may read"
    );
    let (_, listed) = get(&router, "/v1/initiatives", Some(&finn)).await;
    assert_eq!(
        listed["initiatives"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );

    // The roadmap as CSV: a title a spreadsheet would run as a formula is quoted.
    let (status, csv) = get_text(
        &router,
        "/v1/initiatives?format=csv&owner=olivia",
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "id,title,status,quarter,owner,departments,start,target_date,opportunities,kpis,delivers"
        )
    );
    assert_eq!(
        lines.next(),
        Some(format!("{initiative},'=One approval form,active,2024 Q2,olivia,lending; risk,2024-03-06,2024-05-15,{id}; {},loan/time-to-approve; loan/approved,version 2 of loan", step["id"]).as_str())
    );
    let (status, _) = get_text(&router, "/v1/initiatives?format=xml", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Waymark's own processes and forms (`waymark-…`) are not deployed through the API, so nobody
/// replaces the follow-up process or starts it from an event they send.
#[tokio::test]
async fn waymarks_own_processes_and_forms_are_not_deployed_through_the_api() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let admin = [("authorization", format!("Bearer {ADMIN}"))];
    let process = "process: waymark-follow-up\nname: Mine\nsteps:\n  - id: done\n    end: done\n";
    let (status, body) = post(
        &router,
        "/v1/processes",
        process.as_bytes().to_vec(),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "reserved_id", "{body}");
    let (status, body) = post(
        &router,
        "/v1/forms/waymark-follow-up-contact",
        json!({"id": "x", "type": "default", "components": []})
            .to_string()
            .into_bytes(),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["field"], "key", "{body}");
    let (status, body) = post(
        &router,
        "/v1/processes",
        process
            .replace("waymark-follow-up", "follow-up")
            .into_bytes(),
        &admin,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another id is the team's own: {body}"
    );
}
