//! Every API list is paged alike: `limit` and `after` in, the page and its `next` out. Walking
//! any list two at a time gives what one big page gives, each item once.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::automation::as_user;
use super::*;

/// Walks `path` two items at a time, checking each page; every item of `field`, in order.
async fn walk(router: &axum::Router, path: &str, token: &str, field: &str) -> Vec<Value> {
    let join = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let url = match &after {
            Some(after) => format!("{path}{join}limit=2&after={after}"),
            None => format!("{path}{join}limit=2"),
        };
        let (status, page) = get(router, &url, Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        let found = page[field].as_array().expect("a list").clone();
        assert!(
            found.len() <= 2,
            "{url}: a page of two holds {}",
            found.len()
        );
        items.extend(found);
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => {
                assert!(page["next"].is_null(), "{url}: {page}");
                return items;
            }
        }
    }
    panic!("{path} never ended");
}

/// The same list in one page.
async fn whole(router: &axum::Router, path: &str, token: &str, field: &str) -> Vec<Value> {
    let join = if path.contains('?') { '&' } else { '?' };
    let (status, page) = get(router, &format!("{path}{join}limit=500"), Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page["next"].is_null(), "{page}");
    page[field].as_array().expect("a list").clone()
}

#[tokio::test]
async fn every_list_walks_a_page_at_a_time_to_its_end() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let people: Vec<Value> = (1..=7)
        .map(|i| json!({ "id": format!("p{i}"), "name": format!("Person {i}"), "email": format!("p{i}@example.com"), "department": "sales", "manager": null, "roles": [] }))
        .collect();
    let (status, body) = as_user(&router, "/v1/directory/users", ADMIN, json!(people)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut first_token = String::new();
    for i in 1..=7 {
        let (status, body) = as_user(
            &router,
            &format!("/v1/directory/users/p{i}/tokens"),
            ADMIN,
            json!({}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if i == 1 {
            first_token = body["token"].as_str().expect("token").to_string();
        }
    }
    let (status, body) = post(
        &router,
        "/v1/processes",
        super::automation::example("process.yaml").into_bytes(),
        &super::automation::bearer(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for file in [
        "training-request/to-be.yaml",
        "loan-application/journey.yaml",
    ] {
        let source = std::fs::read(
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../examples")
                .join(file),
        )
        .expect("example");
        super::deploy_current(store.as_ref(), &String::from_utf8(source).expect("utf-8"));
    }
    for _ in 0..5 {
        store
            .start_instance("training-request", "p1", serde_json::Map::new(), 1)
            .expect("a request");
    }
    for (i, plan) in ["pro", "pro", "free", "pro", "pro", "pro"]
        .iter()
        .enumerate()
    {
        let (status, body) = send(
            &router,
            "/v1/identify",
            json!({ "userId": format!("customer-{i}"), "traits": { "plan": plan } }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for (path, token, field, at_least) in [
        ("/v1/keys", ADMIN, "keys", 10),
        ("/v1/keys/trail", ADMIN, "trail", 7),
        ("/v1/directory/users", ADMIN, "users", 7),
        ("/v1/requests", first_token.as_str(), "requests", 5),
        ("/v1/profiles?trait=plan&value=pro", ADMIN, "profiles", 5),
        ("/v1/journeys", ADMIN, "journeys", 2),
    ] {
        let walked = walk(&router, path, token, field).await;
        assert!(walked.len() >= at_least, "{path}: {} items", walked.len());
        assert_eq!(walked, whole(&router, path, token, field).await, "{path}");
    }
}

#[tokio::test]
async fn a_bad_limit_or_cursor_is_refused_naming_its_field() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("after=no-such-key", "after"),
    ] {
        for path in [
            "/v1/keys",
            "/v1/directory/users",
            "/v1/journeys",
            "/v1/keys/trail",
        ] {
            let (status, body) = get(&router, &format!("{path}?{query}"), Some(ADMIN)).await;
            assert_eq!(
                (status, body["error"]["field"].as_str()),
                (StatusCode::BAD_REQUEST, Some(field)),
                "{path}?{query}: {body}"
            );
        }
    }
}
