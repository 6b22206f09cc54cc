//! Opportunities and initiatives in the pages: raised in one click from a touchpoint, a comment
//! and a funnel step with the evidence measured by the server, changed on the revision read,
//! planned in an initiative whose form names what it refuses, and the roadmap with its CSV.

use axum::http::StatusCode;

use crate::analyses::seed;
use crate::{csrf, get, post, setup, sign_in};

/// The fields of the form around the first `marker` in `html`, as the browser would send them.
fn form_around(html: &str, marker: &str) -> Vec<(String, String)> {
    let at = html.find(marker).expect("the marker");
    let start = html[..at].rfind("<form").expect("a form");
    let end = at + html[at..].find("</form>").expect("its end");
    html[start..end]
        .split("<input ")
        .skip(1)
        .filter_map(|input| {
            let attribute = |name: &str| {
                let key = format!("{name}=\"");
                let from = input.find(&key)? + key.len();
                Some(input[from..].split('"').next()?.replace("&amp;", "&"))
            };
            Some((attribute("name")?, attribute("value")?))
        })
        .collect()
}

/// The value of hidden field `name` in the first form that has one after `from` in `html`.
fn hidden(html: &str, from: &str, name: &str) -> String {
    let start = html.find(from).expect("the text to start from");
    let marker = format!("name=\"{name}\" value=\"");
    let at = html[start..].find(&marker).expect("the field") + start + marker.len();
    html[at..].split('"').next().expect("value").to_string()
}

#[tokio::test]
async fn opportunities_are_raised_in_one_click_and_planned_on_the_roadmap() {
    let (store, router) = setup("plans");
    seed(store.as_ref());
    let chris = sign_in(&router, store.as_ref(), "chris").await;
    let page = get(&router, "/journeys/small/touchpoints/call", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains("Raise an opportunity here"),
        "{}",
        page.html
    );
    assert!(page.html.contains("Raise an opportunity from this comment"));
    let token = csrf(&page.html);

    // From the comment: the comment is quoted (without who wrote it) and gives the title.
    let case = hidden(&page.html, "Waited too long", "case");
    let at = hidden(&page.html, "Waited too long", "at_us");
    let raised = post(
        &router,
        "/opportunities",
        Some(&chris),
        &[
            ("csrf", &token),
            ("journey", "small"),
            ("touchpoint", "call"),
            ("case", &case),
            ("at_us", &at),
            ("href", "/journeys/small/touchpoints/call"),
        ],
    )
    .await;
    assert_eq!(raised.status, StatusCode::SEE_OTHER, "{}", raised.html);
    let location = raised.location.expect("to the opportunity");
    assert!(location.ends_with("?raised=1"), "{location}");
    let page = get(&router, &location, Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    let html = &page.html;
    assert!(
        html.contains("<h1>Phone call: “Waited too long on the phone”</h1>"),
        "{html}"
    );
    assert!(html.contains("(CSAT 2,"), "{html}");
    assert!(html.contains("CSAT 2.0 of 5 from 1 answer<"), "{html}");
    assert!(
        html.contains("0 of the 2 journeys with a contact here came back more than once (0%)"),
        "{html}"
    );
    let evidence = &html[html.find("<h2>Evidence</h2>").expect("evidence")
        ..html.find("<h2>Initiatives</h2>").expect("initiatives")];
    assert!(
        !evidence.contains(&case),
        "the person is not named: {evidence}"
    );
    assert!(
        html.contains(
            r#"<a href="/journeys/small/touchpoints/call">a comment about Phone call</a>"#
        ),
        "{html}"
    );
    let id: i64 = location
        .trim_start_matches("/opportunities/")
        .trim_end_matches("?raised=1")
        .parse()
        .expect("id");

    // A change on a stale revision is refused, with what was typed kept.
    let token = csrf(html);
    let form = |revision: &str, title: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("revision", revision.to_string()),
            ("title", title.to_string()),
            (
                "problem",
                "People call back because nobody calls them.".to_string(),
            ),
            ("owner", "chris".to_string()),
            ("status", "open".to_string()),
            ("customer_value", "5".to_string()),
            ("business_value", "3".to_string()),
            ("effort", "2".to_string()),
            ("links", "small/call\nsmall/form".to_string()),
        ]
    };
    let fields = |f: &Vec<(&'static str, String)>| {
        f.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };
    let stale = fields(&form("0", "Call-backs nobody answers"));
    let stale: Vec<(&str, &str)> = stale.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = post(
        &router,
        &format!("/opportunities/{id}"),
        Some(&chris),
        &stale,
    )
    .await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.html);
    assert!(page.html.contains("Nothing was saved"), "{}", page.html);
    assert!(
        page.html.contains(r#"value="Call-backs nobody answers""#),
        "{}",
        page.html
    );
    let good = fields(&form("1", "Call-backs nobody answers"));
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = post(
        &router,
        &format!("/opportunities/{id}"),
        Some(&chris),
        &good,
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = get(&router, &format!("/opportunities/{id}"), Some(&chris)).await;
    assert!(
        page.html.contains("priority 4.0 — quick win"),
        "{}",
        page.html
    );
    assert!(page.html.contains("small · form"), "{}", page.html);

    // From a funnel step: the step's conversion.
    let page = get(
        &router,
        "/journeys/small/funnel?step=form&step=call&step=done&window=1d&order=ordered",
        Some(&chris),
    )
    .await;
    // The button under the funnel sends what its form holds: the funnel, the step, the way back.
    let button = form_around(&page.html, r#"name="step" value="2""#);
    assert!(
        button.contains(&(
            "href".into(),
            "/journeys/small/funnel?step=form&step=call&step=done&window=1d&order=ordered".into()
        )),
        "{button:?}"
    );
    let button: Vec<(&str, &str)> = button
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let step = post(&router, "/opportunities", Some(&chris), &button).await;
    assert_eq!(step.status, StatusCode::SEE_OTHER, "{}", step.html);
    let page = get(&router, &step.location.expect("where"), Some(&chris)).await;
    assert!(
        page.html.contains("2 of the 3 journeys at Online form went on to Phone call within 1d (in order): 1 dropped off (67%)"),
        "{}",
        page.html
    );

    // The list, by priority.
    let page = get(&router, "/opportunities", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK);
    let first = page.html.find("Call-backs nobody answers").expect("listed");
    let second = page.html.find("Phone call: only 67%").expect("listed");
    assert!(first < second, "the higher priority first");

    // An initiative: a goal that does not read is named, and what was typed stays.
    let page = get(
        &router,
        &format!("/initiatives/new?opportunity={id}"),
        Some(&chris),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(
        page.html.contains(&format!(r#"value="{id}" checked"#)),
        "{}",
        page.html
    );
    let initiative = |goals: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("title", "Call people back".to_string()),
            ("owner", "chris".to_string()),
            ("status", "active".to_string()),
            ("departments", "Support, Sales".to_string()),
            ("start", "2026-01-05".to_string()),
            ("target_date", "2026-03-31".to_string()),
            ("opportunities", id.to_string()),
            ("goals", goals.to_string()),
        ]
    };
    let bad = fields(&initiative("small/nope 80%"));
    let bad: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = post(&router, "/initiatives", Some(&chris), &bad).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.html);
    assert!(
        page.html.contains("the journey `small` has no KPI `nope`"),
        "{}",
        page.html
    );
    assert!(page.html.contains(r##"href="#goals""##), "{}", page.html);
    assert!(page.html.contains("small/nope 80%"), "{}", page.html);
    let good = fields(&initiative(""));
    let good: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = post(&router, "/initiatives", Some(&chris), &good).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let page = get(&router, &page.location.expect("where"), Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.html);
    assert!(page.html.contains("Support, Sales"), "{}", page.html);
    let page = get(&router, &format!("/opportunities/{id}"), Some(&chris)).await;
    assert!(
        page.html.contains(">planned<"),
        "planned by the initiative: {}",
        page.html
    );

    let page = get(&router, "/roadmap", Some(&chris)).await;
    assert!(page.html.contains("<h2>2026 Q1</h2>"), "{}", page.html);
    assert!(page.html.contains("Call people back"), "{}", page.html);
    let page = get(&router, "/roadmap?by=department", Some(&chris)).await;
    assert!(
        page.html.contains("<h2>Sales</h2>") && page.html.contains("<h2>Support</h2>"),
        "{}",
        page.html
    );
    let page = get(&router, "/roadmap.csv", Some(&chris)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.html
            .contains("Call people back,active,2026 Q1,chris,Support; Sales,2026-01-05,2026-03-31"),
        "{}",
        page.html
    );

    // Jennifer reads no journeys and owns nothing: no opportunities for her.
    let jennifer = sign_in(&router, store.as_ref(), "jennifer").await;
    let page = get(&router, &format!("/opportunities/{id}"), Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    let page = get(&router, "/roadmap", Some(&jennifer)).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
