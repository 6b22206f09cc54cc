//! The journey pages that read measured events: a touchpoint's detail, the funnel builder, the
//! flow of paths and the designed journey against the walked one, on a journey small enough to
//! work out by hand.

use axum::http::StatusCode;
use serde_json::json;
use waymark_store::NewEvent;

use crate::{get, post, setup, setup_state, sign_in};

const JOURNEY: &str = r#"
id: small
title: Small service
owner: Service design
version: as-is
stages:
  - id: ask
    name: Ask
    touchpoints:
      - id: form
        name: Online form
        channel: web
        department: Sales
        actor: customer
        kind: form
        target: 1h
        events:
          - event: Form Sent
      - id: call
        name: Phone call
        channel: phone
        department: Support
        actor: staff
        kind: conversation
        optional: true
        target: 30m
        events:
          - event: Called
  - id: get
    name: Get
    touchpoints:
      - id: review
        name: Review
        channel: other
        department: Back office
        actor: staff
        kind: task
        target: 1d
        events:
          - event: Reviewed
      - id: done
        name: Confirmation
        channel: email
        department: Sales
        actor: system
        kind: notification
        events:
          - event: Done
"#;

/// u1 (gold) walks the design and comments on the call; u2 (basic) goes back from the call to
/// the form; u3 (gold) skips the review.
pub(crate) fn seed(store: &dyn waymark_store::Store) {
    let hour = 3_600_000_000_i64;
    // Two days ago, so that a survey answered now still belongs to the journeys.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    let t0 = (now - 48 * hour) / hour * hour;
    let mut events = Vec::new();
    let mut add = |user: &str, kind: &str, name: Option<&str>, at: i64, body: serde_json::Value| {
        events.push(NewEvent {
            message_id: format!("{user}-{}", events.len()),
            kind: kind.into(),
            name: name.map(str::to_string),
            user_id: Some(user.into()),
            anonymous_id: None,
            timestamp_us: at,
            received_us: at,
            body: body.to_string(),
        });
    };
    let track = |user: &str, event: &str, properties: serde_json::Value| json!({ "type": "track", "userId": user, "event": event, "properties": properties });
    for (user, plan) in [("u1", "gold"), ("u2", "basic"), ("u3", "gold")] {
        add(
            user,
            "identify",
            None,
            t0 - hour,
            json!({ "type": "identify", "userId": user, "traits": { "plan": plan } }),
        );
    }
    let walks: [(&str, &[&str]); 3] = [
        ("u1", &["Form Sent", "Called", "Reviewed", "Done"]),
        ("u2", &["Form Sent", "Called", "Form Sent"]),
        ("u3", &["Form Sent", "Done"]),
    ];
    for (user, walk) in walks {
        for (k, event) in walk.iter().enumerate() {
            add(
                user,
                "track",
                Some(event),
                t0 + k as i64 * hour,
                track(user, event, json!({})),
            );
        }
    }
    add(
        "u1",
        "track",
        Some("Survey Answered"),
        t0 + 5 * hour,
        track(
            "u1",
            "Survey Answered",
            json!({ "touchpoint": "call", "csat": 2, "comment": "Waited too long on the phone" }),
        ),
    );
    store.append(events).expect("append");
    store
        .deploy_journey("small", "as-is", JOURNEY, 0)
        .expect("deploy");
}

#[tokio::test]
async fn a_touchpoint_opens_from_its_card_with_its_figures_and_comments() {
    let (store, router) = setup("touchpoint");
    seed(store.as_ref());
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let map = get(&router, "/journeys/small", Some(&chris)).await;
    assert_eq!(map.status, StatusCode::OK, "{}", map.html);
    assert!(
        map.html
            .contains(r#"<a class="card-link" href="/journeys/small/touchpoints/call">"#),
        "cards are links: {}",
        map.html
    );
    let page = get(&router, "/journeys/small/touchpoints/call", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let html = &page.html;
    assert!(html.contains("<h1>Phone call</h1>"), "{html}");
    assert!(html.contains("Waited too long on the phone"), "{html}");
    assert!(html.contains("CSAT 2.0 of 5 (1 answer)"), "{html}");
    assert!(
        html.contains("<td>Online form again</td><td>1</td>"),
        "{html}"
    );
    assert!(html.contains("2 contacts from 2 instances"), "{html}");
    assert!(
        html.contains("Instances per period"),
        "the trend is drawn: {html}"
    );
    let page = get(&router, "/journeys/small/touchpoints/nope", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_analyst_builds_a_funnel_and_reads_the_flow_and_the_deviations() {
    let (store, router) = setup("analyses");
    seed(store.as_ref());
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let page = get(
        &router,
        "/journeys/small/funnel?step=form&step=call&step=done&window=1d&order=ordered&by=plan",
        Some(&chris),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let html = &page.html;
    assert!(html.contains("3 (100 % of first)"), "{html}");
    assert!(html.contains("2 (67 % of first)"), "{html}");
    assert!(html.contains("1 (33 % of first)"), "{html}");
    // By plan: basic (u2) reaches the call; gold (u1, u3) has one at the confirmation.
    assert!(html.contains(r#"<th scope="row">basic</th><td>1</td><td>1 (100 %)</td><td>1 (100 %)</td><td>0 (0 %)</td>"#), "{html}");
    assert!(html.contains(r#"<th scope="row">gold</th><td>2</td><td>2 (100 %)</td><td>1 (50 %)</td><td>1 (50 %)</td>"#), "{html}");
    // Strictly one after another: u1's review comes between the call and the confirmation.
    let page = get(
        &router,
        "/journeys/small/funnel?step=form&step=call&step=done&window=1d&order=strict",
        Some(&chris),
    )
    .await;
    assert!(page.html.contains("0 (0 % of first)"), "{}", page.html);
    // A window that is not a time is named, the rest kept.
    let page = get(
        &router,
        "/journeys/small/funnel?step=form&window=soon",
        Some(&chris),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html.contains("does not read as a time"),
        "{}",
        page.html
    );
    assert!(page.html.contains(r#"aria-invalid="true""#));
    assert!(page.html.contains(r#"value="soon""#));

    let page = get(
        &router,
        "/journeys/small/flow?touchpoint=form&direction=after&depth=2",
        Some(&chris),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains(r#"<svg class="sankey""#),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("3 of 3 journey instances pass Online form"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("Phone call → Online form"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("3 distinct ways through the journey"),
        "{}",
        page.html
    );

    let page = get(&router, "/journeys/small/conformance", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html
            .contains(r#"data-from="call" data-to="form" data-designed="false" data-count="1""#),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains(r#"data-from="form" data-to="done" data-designed="false" data-count="1""#),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains(r#"data-from="review" data-to="done" data-designed="true" data-count="1""#),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains("<td>Phone call</td><td>Online form</td><td>1</td>"),
        "{}",
        page.html
    );

    // Someone without a journey role is refused every analysis.
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    for path in [
        "/journeys/small/funnel",
        "/journeys/small/flow",
        "/journeys/small/conformance",
        "/journeys/small/touchpoints/call",
    ] {
        let page = get(&router, path, Some(&jennifer)).await;
        assert_eq!(page.status, StatusCode::FORBIDDEN, "{path}");
        assert!(!page.html.contains("Phone call"), "{path}");
    }
}

/// A survey link from the API opens a page without signing in; answers are checked per field,
/// recorded once, and the comment shows on the touchpoint's page.
#[tokio::test]
async fn a_survey_link_takes_one_answer_that_the_touchpoint_page_shows() {
    use axum::body::Body;
    use axum::http::{Request, header};
    let (store, router) = setup("survey");
    seed(store.as_ref());
    store
        .ensure_key(waymark_store::KeyKind::Admin, "admin-key")
        .expect("admin");
    let ask = |body: serde_json::Value, token: &str| {
        Request::post("/v1/surveys")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request")
    };
    let wrong = crate::send(
        &router,
        ask(
            json!({ "person": "u2", "journey": "small", "touchpoint": "cal" }),
            "admin-key",
        ),
    )
    .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.html
    );
    assert!(wrong.html.contains("/touchpoint"), "{}", wrong.html);
    let refused = crate::send(
        &router,
        ask(
            json!({ "person": "u2", "journey": "small", "touchpoint": "call" }),
            "nope",
        ),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let issued = crate::send(
        &router,
        ask(
            json!({ "person": "u2", "journey": "small", "touchpoint": "call" }),
            "admin-key",
        ),
    )
    .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.html);
    let issued: serde_json::Value = serde_json::from_str(&issued.html).expect("json");
    let url = issued["url"].as_str().expect("url").to_string();
    assert!(url.starts_with("/feedback/"), "{url}");

    let page = get(&router, &url, None).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("How was it: Phone call?"),
        "{}",
        page.html
    );
    assert!(
        page.html
            .contains(r#"<legend>How satisfied are you with it?</legend>"#)
    );
    // Nothing answered; then a number out of range: each named, nothing stored.
    let page = crate::post(&router, &url, None, &[("comment", "  ")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.html.contains("Answer at least one question"),
        "{}",
        page.html
    );
    let page = crate::post(&router, &url, None, &[("nps", "12"), ("comment", "Kept")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.html
            .contains(r##"<a href="#nps">Choose a number from 0 to 10.</a>"##),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(">Kept</textarea>"),
        "what was typed is kept"
    );
    let page = crate::post(
        &router,
        &url,
        None,
        &[
            ("csat", "4"),
            ("nps", "9"),
            ("ces", "2"),
            ("comment", "Friendly and quick"),
        ],
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Your answer is saved"));
    let again = crate::post(&router, &url, None, &[("csat", "1")]).await;
    assert!(
        again.html.contains("the first answer stands"),
        "{}",
        again.html
    );
    // A changed link is refused.
    let forged = format!("{}x", url.trim_end_matches('/'));
    assert_eq!(
        get(&router, &forged, None).await.status,
        StatusCode::FORBIDDEN
    );

    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let page = get(&router, "/journeys/small/touchpoints/call", Some(&chris)).await;
    assert!(page.html.contains("Friendly and quick"), "{}", page.html);
    assert!(
        page.html.contains("CSAT 3.0 of 5 (2 answers)"),
        "u1's 2 and u2's 4: {}",
        page.html
    );
    assert!(
        !page.html.contains("CSAT 1"),
        "the second answer was not kept"
    );
}

/// Pages viewed while events keep arriving read only what arrived: the stored events are read
/// from scratch once, and every view (the map, the funnel, the list) shows the events stored
/// before it.
#[tokio::test]
async fn pages_viewed_while_events_arrive_never_read_every_event_again() {
    let (store, router, state) = setup_state("live");
    seed(store.as_ref());
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let map = get(&router, "/journeys/small", Some(&chris)).await;
    assert_eq!(map.status, StatusCode::OK);
    assert!(map.html.contains("3 instances, "), "{}", map.html);
    assert!(map.html.contains("Figures as of "), "{}", map.html);
    let hour = 3_600_000_000_i64;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    for n in 0..4 {
        let user = format!("new{n}");
        store
            .append(vec![NewEvent {
                message_id: format!("arriving-{n}"),
                kind: "track".into(),
                name: Some("Form Sent".into()),
                user_id: Some(user.clone()),
                anonymous_id: None,
                timestamp_us: now - hour,
                received_us: now,
                body: json!({ "type": "track", "userId": user, "event": "Form Sent" }).to_string(),
            }])
            .expect("append");
        let map = get(&router, "/journeys/small", Some(&chris)).await;
        let expected = format!("{} instances, ", 4 + n);
        assert!(map.html.contains(&expected), "{expected}: {}", map.html);
        let funnel = get(
            &router,
            "/journeys/small/funnel?step=form&step=done",
            Some(&chris),
        )
        .await;
        assert_eq!(funnel.status, StatusCode::OK);
        let list = get(&router, "/journeys", Some(&chris)).await;
        assert!(
            list.html.contains(&format!("<td>{}</td>", 4 + n)),
            "{}",
            list.html
        );
    }
    assert_eq!(
        state.logs.full_reads(),
        1,
        "the events were read from scratch once"
    );
}

/// Chris saves a funnel under a name and shares its link; Olivia opens it and sees the same
/// funnel, measured now, with who saved it; a name is required; only Chris (or an
/// administrator) removes it. From the funnel's drop-off Chris reaches the people behind it and
/// their Customer 360; Olivia, who does not look people up, gets no such links.
#[tokio::test]
async fn a_funnel_is_saved_shared_and_drilled_into_its_people() {
    let (store, router) = setup("saved-analyses");
    seed(store.as_ref());
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let ask = "step=form&step=call&step=done&window=1d&order=ordered";
    let page = get(
        &router,
        &format!("/journeys/small/funnel?{ask}"),
        Some(&chris),
    )
    .await;
    assert!(
        page.html.contains("Save this funnel to share it"),
        "{}",
        page.html
    );
    let token = crate::csrf(&page.html);
    // A name is needed.
    let refused = post(
        &router,
        "/analyses",
        Some(&chris),
        &[
            ("csrf", &token),
            ("kind", "funnel"),
            ("journey", "small"),
            ("query", ask),
            ("name", "  "),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.html.contains("Give the analysis a name"),
        "{}",
        refused.html
    );
    let saved = post(
        &router,
        "/analyses",
        Some(&chris),
        &[
            ("csrf", &token),
            ("kind", "funnel"),
            ("journey", "small"),
            ("query", ask),
            ("name", "Calls before confirmation"),
        ],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
    let link = saved.location.expect("the link to share");
    assert!(link.starts_with("/analyses/"), "{link}");
    // Chris's home lists it, and the newest comment with the touchpoint it is about.
    let home = get(&router, "/", Some(&chris)).await;
    let comments = &home.html[home.html.find("Newest comments").expect("the comments")..];
    assert!(
        comments.contains("“Waited too long on the phone”")
            && comments.contains(r#"<a href="/journeys/small/touchpoints/call">Phone call</a>"#)
            && comments.contains("CSAT 2"),
        "{comments}"
    );
    assert!(
        home.html.contains(&format!(
            r#"<a href="{link}">Calls before confirmation</a>"#
        )),
        "{}",
        home.html
    );
    // Olivia, the journey owner, opens the shared link: the same funnel, and who saved it.
    store
        .put_users(&[waymark_store::workflow::User {
            id: "olivia".into(),
            name: "Olivia Chen".into(),
            email: Some("olivia@example.com".into()),
            department: Some("leadership".into()),
            manager: None,
            roles: vec!["journey-owner".into()],
        }])
        .expect("olivia owns journeys");
    let olivia = sign_in(&router, store.as_ref(), "olivia").await;
    let opened = get(&router, &link, Some(&olivia)).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);
    let target = opened.location.expect("the funnel");
    assert!(
        target.starts_with(&format!("/journeys/small/funnel?{ask}&saved=")),
        "{target}"
    );
    let page = get(&router, &target, Some(&olivia)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Calls before confirmation"),
        "{}",
        page.html
    );
    assert!(page.html.contains("saved by Chris"), "{}", page.html);
    assert!(page.html.contains("2 (67 % of first)"), "{}", page.html);
    // Olivia does not look people up: the figures are not links for her.
    assert!(!page.html.contains("/funnel/people?"), "{}", page.html);
    let list = get(&router, "/analyses", Some(&olivia)).await;
    assert!(
        list.html.contains("Calls before confirmation"),
        "{}",
        list.html
    );
    assert!(
        !list.html.contains("/delete"),
        "not hers to remove: {}",
        list.html
    );
    let id = link.trim_start_matches("/analyses/");
    let theirs = post(
        &router,
        &format!("/analyses/{id}/delete"),
        Some(&olivia),
        &[("csrf", &crate::csrf(&list.html))],
    )
    .await;
    assert_eq!(theirs.status, StatusCode::FORBIDDEN);
    // Someone who does not read journeys cannot open it.
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    assert_eq!(
        get(&router, &link, Some(&jennifer)).await.status,
        StatusCode::FORBIDDEN
    );

    // Drilling down: u2 dropped off after the call (before the confirmation).
    let page = get(
        &router,
        &format!("/journeys/small/funnel?{ask}"),
        Some(&chris),
    )
    .await;
    let dropped = format!(
        "/journeys/small/funnel/people?{}&amp;level=2",
        ask.replace('&', "&amp;")
    );
    assert!(page.html.contains(&dropped), "{}", page.html);
    let people = get(
        &router,
        &format!("/journeys/small/funnel/people?{ask}&level=2"),
        Some(&chris),
    )
    .await;
    assert_eq!(people.status, StatusCode::OK, "{}", people.html);
    assert!(
        people
            .html
            .contains("1 journey reached Phone call and dropped off before Confirmation"),
        "{}",
        people.html
    );
    assert!(
        people.html.contains(r#"<a href="/customers?q=u2">u2</a>"#),
        "{}",
        people.html
    );
    assert!(!people.html.contains("q=u1") && !people.html.contains("q=u3"));
    // The last step's figure: u1 reached the confirmation after the call; u3 skipped the call
    // and dropped off after the form.
    let people = get(
        &router,
        &format!("/journeys/small/funnel/people?{ask}&level=3"),
        Some(&chris),
    )
    .await;
    assert!(
        people
            .html
            .contains("1 journey reached the last step, Confirmation")
            && people.html.contains("q=u1")
            && !people.html.contains("q=u3"),
        "{}",
        people.html
    );
    let people = get(
        &router,
        &format!("/journeys/small/funnel/people?{ask}&level=1"),
        Some(&chris),
    )
    .await;
    assert!(
        people.html.contains("q=u3") && !people.html.contains("q=u1"),
        "{}",
        people.html
    );
    // From there to the person.
    let person = get(&router, "/customers?q=u2", Some(&chris)).await;
    assert!(person.html.contains("Where we are"), "{}", person.html);
    // A level beyond the funnel is named.
    let wrong = get(
        &router,
        &format!("/journeys/small/funnel/people?{ask}&level=9"),
        Some(&chris),
    )
    .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.html.contains("there is no step 9"), "{}", wrong.html);
    // Olivia may not list people.
    let page = get(
        &router,
        &format!("/journeys/small/funnel/people?{ask}&level=2"),
        Some(&olivia),
    )
    .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(!page.html.contains("u2"));
    // Chris removes what he saved.
    let list = get(&router, "/analyses", Some(&chris)).await;
    let removed = post(
        &router,
        &format!("/analyses/{id}/delete"),
        Some(&chris),
        &[("csrf", &crate::csrf(&list.html))],
    )
    .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(
        get(&router, &link, Some(&chris)).await.status,
        StatusCode::NOT_FOUND
    );
}

/// The map page shows what the CLI's HTML map shows, the personas and the legend, and, with an
/// as-is and a to-be version deployed, what the change asks of the customer: `journey diff`'s
/// effort figures, side by side.
#[tokio::test]
async fn a_journey_page_compares_the_customers_effort_before_and_after() {
    let (store, router) = setup("effort");
    let file = |name: &str| {
        std::fs::read_to_string(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples/training-request")
                .join(name),
        )
        .expect("journey")
    };
    let (before, after) = (file("as-is.yaml"), file("to-be.yaml"));
    store
        .deploy_journey("training-request", "as-is", &before, 0)
        .expect("as-is");
    store
        .deploy_journey("training-request", "to-be", &after, 1)
        .expect("to-be");
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let page = get(&router, "/journeys/training-request", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let html = &page.html;
    let parse = |text: &str| waymark_journey::check(text).journey.expect("reads");
    let expected = waymark_journey::diff::diff(&parse(&before), &parse(&after));
    assert!(
        html.contains("What the change asks of the customer"),
        "{html}"
    );
    for (label, b, a) in [
        (
            "Forms the customer fills in",
            expected.before.customer_forms,
            expected.after.customer_forms,
        ),
        (
            "Hand-offs the customer deals with",
            expected.before.handoffs,
            expected.after.handoffs,
        ),
        (
            "Departments the customer deals with",
            expected.before.departments.len(),
            expected.after.departments.len(),
        ),
    ] {
        assert!(
            html.contains(&format!(
                r#"<th scope="row">{label}</th><td>{b}</td><td>{a}</td>"#
            )),
            "{label}: {html}"
        );
    }
    assert!(
        expected.after.customer_forms < expected.before.customer_forms,
        "the to-be asks fewer forms"
    );
    assert!(html.contains("(fewer)"), "{html}");
    // The personas it serves, and the legend.
    let persona = parse(&after)
        .personas
        .iter()
        .find(|p| parse(&after).serves.contains(&p.id))
        .map(|p| p.name.clone())
        .expect("a persona");
    assert!(html.contains(&format!("<h3>{persona}</h3>")), "{html}");
    assert!(
        html.contains("moment of truth") && html.contains("</svg> approval</li>"),
        "{html}"
    );
}

/// Browsing people: by the stage of a journey their latest pass is at, by a trait's value, or
/// both; each a link to their Customer 360. Only for those who look people up.
#[tokio::test]
async fn people_are_browsed_by_journey_stage_and_trait() {
    let (store, router) = setup("browse");
    seed(store.as_ref());
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let listed = |html: &str| -> Vec<String> {
        ["u1", "u2", "u3"]
            .into_iter()
            .filter(|u| html.contains(&format!(r#"<a href="/customers?q={u}">"#)))
            .map(str::to_string)
            .collect()
    };
    let page = get(&router, "/customers/browse", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html
            .contains(r#"<option value="small/get">Small service: Get</option>"#),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(r#"<option value="plan">plan</option>"#),
        "{}",
        page.html
    );
    assert!(
        listed(&page.html).is_empty(),
        "nothing until a filter is chosen"
    );
    // u1 and u3 reached the confirmation; u2 went back to the form.
    let page = get(&router, "/customers/browse?stage=small%2Fget", Some(&chris)).await;
    assert_eq!(listed(&page.html), ["u1", "u3"], "{}", page.html);
    assert!(page.html.contains("Get: Confirmation"), "{}", page.html);
    let page = get(&router, "/customers/browse?stage=small%2Fask", Some(&chris)).await;
    assert_eq!(listed(&page.html), ["u2"], "{}", page.html);
    // By a trait's value, in any letter case; and both together.
    let page = get(
        &router,
        "/customers/browse?trait=plan&value=GOLD",
        Some(&chris),
    )
    .await;
    assert_eq!(listed(&page.html), ["u1", "u3"], "{}", page.html);
    let page = get(
        &router,
        "/customers/browse?stage=small%2Fask&trait=plan&value=gold",
        Some(&chris),
    )
    .await;
    assert!(
        listed(&page.html).is_empty() && page.html.contains("Nobody matches"),
        "{}",
        page.html
    );
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    let page = get(&router, "/customers/browse?trait=plan", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(listed(&page.html).is_empty());
}

/// From a touchpoint over its target to the people behind the figure: u1 and u2 each took an
/// hour at the 30-minute phone call; each links to their Customer 360.
#[tokio::test]
async fn a_touchpoint_over_target_leads_to_its_people() {
    let (store, router) = setup("over-target");
    seed(store.as_ref());
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let page = get(&router, "/journeys/small/touchpoints/call", Some(&chris)).await;
    assert!(
        page.html
            .contains(r#"<a href="/journeys/small/touchpoints/call/people">Everyone whose visit took longer than the target</a>"#),
        "{}",
        page.html
    );
    let page = get(
        &router,
        "/journeys/small/touchpoints/call/people",
        Some(&chris),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html
            .contains("2 visits took longer than the target of 30m"),
        "{}",
        page.html
    );
    for (user, listed) in [("u1", true), ("u2", true), ("u3", false)] {
        assert_eq!(
            page.html
                .contains(&format!(r#"<a href="/customers?q={user}">{user}</a>"#)),
            listed,
            "{user}: {}",
            page.html
        );
    }
    let page = get(
        &router,
        "/journeys/small/touchpoints/nope/people",
        Some(&chris),
    )
    .await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
}

/// Review finding: browsing people by journey stage named a colleague whose internal request
/// placed her there. The steps of requests place people in the journey figures, but a list of
/// who is where names nobody whose request the viewer may not see; an administrator sees all.
#[tokio::test]
async fn browsing_never_tells_where_a_colleagues_request_stands() {
    let (store, router) = setup("browse-private");
    let journey = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/training-request/to-be.yaml"),
    )
    .expect("journey");
    store
        .deploy_journey("training-request", "to-be", &journey, 0)
        .expect("journey");
    let variables = serde_json::json!({ "course": "Negotiation", "vendor": "Skills Academy", "cost": 1200, "startDate": "2026-12-01" })
        .as_object()
        .cloned()
        .expect("variables");
    store
        .start_instance("training-request", "jennifer", variables, 0)
        .expect("start");
    let stages: Vec<String> = waymark_journey::check(&journey)
        .journey
        .expect("reads")
        .stages
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let found_in = |html: &str| html.contains(r#"<a href="/customers?q=jennifer">"#);
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let mut placed = false;
    for stage in &stages {
        let path = format!("/customers/browse?stage=training-request%2F{stage}");
        placed |= found_in(&get(&router, &path, Some(&ada)).await.html);
        let page = get(&router, &path, Some(&chris)).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(!found_in(&page.html), "{stage}: {}", page.html);
    }
    assert!(placed, "an administrator sees where her request stands");
}

/// KPIs scored on the journey's KPI tab, across journeys by owner, and on the home page of the
/// department that owns one (which may not read journeys, so sees no links).
#[tokio::test]
async fn kpis_are_scored_per_journey_by_owner_and_on_their_owners_home() {
    let (store, router) = setup("kpis");
    seed(store.as_ref());
    let with_kpis = JOURNEY
        .replace(
            "version: as-is\n",
            "version: as-is\nkpis:\n  - Done: completion within 1d >= 50%\n",
        )
        .replace(
            "        target: 30m\n",
            "        target: 30m\n        kpis:\n          - Calls again: repeat-contacts <= 10%\n          - Call CSAT: csat >= 4 owner Support\n          - quick answers\n",
        );
    store
        .deploy_journey("small", "as-is", &with_kpis, 1)
        .expect("deploy");
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let page = get(&router, "/journeys/small/kpis", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let html = &page.html;
    // Two days on, each had its day: u1 and u3 completed within it, u2 did not.
    assert!(
        html.contains(
            "Done: 67%, meets the target of at least 50% (3 observed in the last 28 days)."
        ),
        "{html}"
    );
    // u1 and u2 called once each; u1 rated the call 2.
    assert!(
        html.contains("Calls again: 0%, meets the target of at most 10%"),
        "{html}"
    );
    assert!(
        html.contains("Call CSAT: 2.0, misses the target of at least 4"),
        "{html}"
    );
    assert!(
        html.contains(r#"<span class="badge overdue">missed</span>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="/journeys/small/touchpoints/call""#),
        "{html}"
    );
    assert!(
        html.contains("Noted but not measured: quick answers."),
        "{html}"
    );
    assert!(
        html.contains(r#"aria-current="page">KPIs</a>"#),
        "the tab is marked: {html}"
    );
    let day = waymark_eventlog::time::format_micros(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_micros() as i64
            - 86_400_000_000,
    );
    let page = get(
        &router,
        &format!("/journeys/small/kpis?at={}&days=7", &day[..10]),
        Some(&chris),
    )
    .await;
    assert!(
        page.html
            .contains("Done: too few observations on one side to tell"),
        "{}",
        page.html
    );
    let page = get(&router, "/journeys/small/kpis?at=someday", Some(&chris)).await;
    assert!(page.html.contains("is not a date"), "{}", page.html);

    let page = get(&router, "/scorecards?owner=Support", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("<h2>Support</h2>") && page.html.contains("Call CSAT"),
        "{}",
        page.html
    );
    assert!(
        !page.html.contains("Done: 67%"),
        "only Support's: {}",
        page.html
    );

    // Alex works in support: the two call KPIs are his department's (the touchpoint's, and the
    // one named for it); he may not read journeys, so they are not links.
    let alex = sign_in(&router, store.as_ref(), "alex").await;
    let home = get(&router, "/", Some(&alex)).await;
    assert!(home.html.contains("Your KPIs"), "{}", home.html);
    assert!(
        home.html.contains("Call CSAT") && home.html.contains("Calls again"),
        "{}",
        home.html
    );
    assert!(home.html.contains("1 missing the target"), "{}", home.html);
    assert!(!home.html.contains("/journeys/small"), "{}", home.html);
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    let home = get(&router, "/", Some(&jennifer)).await;
    assert!(!home.html.contains("Your KPIs"), "{}", home.html);
}

/// A journey designer (an administrator here) previews a rule on the past, adds it (a mistyped KPI is sent back with the
/// one meant), the schedule raises an alert, and a reader acknowledges it from its page; an
/// analyst reads alerts but adds no rule.
#[tokio::test]
async fn alert_rules_are_previewed_added_and_their_alerts_acknowledged() {
    let (store, router, state) = setup_state("alerts");
    seed(store.as_ref());
    let with_kpis = JOURNEY.replace(
        "version: as-is\n",
        "version: as-is\nkpis:\n  - Requests: volume owner Support\n",
    );
    store
        .deploy_journey("small", "as-is", &with_kpis, 1)
        .expect("deploy");
    let ada = sign_in(&router, store.as_ref(), "ada").await;
    let page = get(&router, "/alerts", Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("No alert has been raised."),
        "{}",
        page.html
    );
    let preview = get(
        &router,
        "/alerts?journey=small&kpi=requests&rule=below+5%2Fday#preview",
        Some(&ada),
    )
    .await;
    // Three requests in the week before each day: under 5 a day on every day since they came.
    assert!(
        preview
            .html
            .contains("checked 90 times over the past 90 days"),
        "{}",
        preview.html
    );
    assert!(preview.html.contains("as 1 alert."), "{}", preview.html);
    let csrf = crate::csrf(&page.html);
    let typo = post(
        &router,
        "/alerts/rules",
        Some(&ada),
        &[
            ("csrf", &csrf),
            ("journey", "small"),
            ("kpi", "reqests"),
            ("rule", "below 5/day"),
        ],
    )
    .await;
    assert_eq!(typo.status, StatusCode::SEE_OTHER);
    let back = typo.location.clone().expect("back to the form");
    assert!(
        back.contains("kpi=reqests") && back.contains("error="),
        "{back}"
    );
    let again = get(&router, &back, Some(&ada)).await;
    assert!(
        again.html.contains("did you mean `requests`?"),
        "{}",
        again.html
    );
    let added = post(
        &router,
        "/alerts/rules",
        Some(&ada),
        &[
            ("csrf", &csrf),
            ("journey", "small"),
            ("kpi", "requests"),
            ("rule", "below  5/day"),
        ],
    )
    .await;
    assert_eq!(added.location.as_deref(), Some("/alerts#rules"));
    let rules = store.alert_rules().expect("rules");
    assert_eq!(rules.len(), 1);
    assert_eq!(
        (rules[0].rule.rule.as_str(), rules[0].rule.author.as_str()),
        ("below 5/day", "ada")
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as i64;
    // The schedule's check, as the server runs it (no mail server here: nothing is emailed).
    let run = tokio::task::spawn_blocking(move || {
        let settings = waymark_server::webhooks::Settings::default();
        let delivery = waymark_server::alerts::Delivery {
            mailer: None,
            webhooks: &settings,
        };
        waymark_server::alerts::check_all(&state.store, &state.logs, delivery, now)
    })
    .await
    .expect("join")
    .expect("checked");
    // A new rule looks back a week: the days before the requests came had none (0 a day, the
    // worst), the days after three in their week; all under 5 a day, one alert.
    assert_eq!(run.opened.len(), 1, "{run:?}");
    assert_eq!(run.buckets, 7, "{run:?}");
    let id = run.opened[0];

    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let list = get(&router, "/alerts", Some(&chris)).await;
    assert!(
        list.html
            .contains("Requests on “Small service” was 0.0/day against 5.0/day"),
        "{}",
        list.html
    );
    assert!(
        list.html
            .contains(r#"<span class="badge overdue">open</span>"#),
        "{}",
        list.html
    );
    assert!(
        !list.html.contains("Watch a KPI"),
        "an analyst adds no rule: {}",
        list.html
    );
    let refused = post(
        &router,
        "/alerts/rules",
        Some(&chris),
        &[("csrf", &crate::csrf(&list.html)), ("journey", "small")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let acked = post(
        &router,
        &format!("/alerts/{id}/acknowledge"),
        Some(&chris),
        &[("csrf", &crate::csrf(&list.html))],
    )
    .await;
    assert_eq!(acked.location, Some(format!("/alerts/{id}")));
    let alert = get(&router, &format!("/alerts/{id}"), Some(&chris)).await;
    assert!(
        alert.html.contains("<dt>Acknowledged</dt><dd>chris, "),
        "{}",
        alert.html
    );
    assert!(
        alert
            .html
            .contains(r#"<span class="badge warn">acknowledged</span>"#),
        "{}",
        alert.html
    );
    assert!(
        !alert.html.contains(">Acknowledge</button>"),
        "done once: {}",
        alert.html
    );
    assert_eq!(
        get(&router, "/alerts/9999", Some(&chris)).await.status,
        StatusCode::NOT_FOUND
    );
}
