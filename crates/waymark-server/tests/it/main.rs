//! The collection API, driven through the router without a socket.

use std::io::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;
use waymark_server::{AppState, Clock, app};
use waymark_store::{KeyKind, Store};

mod authority;
mod automation;
mod changes;
mod paging;
mod plans;

const WRITE_KEY: &str = "wk_test_key";
/// A secret server key: its track calls act on requests.
const SERVER_KEY: &str = "wsk_test_server_key";
/// 2024-05-01T10:00:00Z
const NOW: i64 = 1_714_557_600_000_000;

struct Fixed;

impl Clock for Fixed {
    fn now_us(&self) -> i64 {
        NOW
    }
}

fn setup() -> (Arc<dyn Store>, axum::Router) {
    let store = waymark_store::open_in_memory().expect("store");
    store.ensure_key(KeyKind::Write, WRITE_KEY).expect("key");
    store.ensure_key(KeyKind::Server, SERVER_KEY).expect("key");
    let state = AppState {
        clock: Arc::new(Fixed),
        ..AppState::new(store.clone()).expect("state")
    };
    (store, app(state))
}

/// Keeps a journey file as its journey's current version, as a fixture: straight into the store,
/// as if a to-be version's approval had been given (`changes.rs` tests the approval itself).
fn deploy_current(store: &dyn Store, source: &str) {
    let journey = waymark_journey::check(source).journey.expect("a journey");
    store
        .deploy_journey(&journey.id, &journey.version, source, NOW)
        .expect("deploy");
}

fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{key}:"))
    )
}

async fn post(
    router: &axum::Router,
    path: &str,
    body: Vec<u8>,
    headers: &[(&str, String)],
) -> (StatusCode, Value) {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::from(body)).expect("request"))
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

async fn send(router: &axum::Router, path: &str, body: Value) -> (StatusCode, Value) {
    send_with(router, WRITE_KEY, path, body).await
}

/// Sends an event with `key` (the write key, or a server key).
async fn send_with(
    router: &axum::Router,
    key: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    post(
        router,
        path,
        body.to_string().into_bytes(),
        &[("authorization", basic(key))],
    )
    .await
}

#[tokio::test]
async fn track_is_stored_with_its_fields() {
    let (store, router) = setup();
    let (status, body) = send(
        &router,
        "/v1/track",
        json!({"userId": "u1", "event": "Signed Up", "messageId": "m1", "timestamp": "2024-05-01T09:00:00Z", "properties": {"plan": "gold"}}),
    )
    .await;
    assert_eq!((status, body), (StatusCode::OK, json!({"success": true})));
    let stored = store.events_after(0, 10).expect("events");
    assert_eq!(stored.len(), 1);
    let event = &stored[0].event;
    assert_eq!(
        (
            event.kind.as_str(),
            event.name.as_deref(),
            event.user_id.as_deref()
        ),
        ("track", Some("Signed Up"), Some("u1"))
    );
    assert_eq!(event.timestamp_us, NOW - 3_600_000_000);
    assert_eq!(event.received_us, NOW);
    let kept: Value = serde_json::from_str(&event.body).expect("body json");
    assert_eq!(kept["properties"]["plan"], "gold");
}

#[tokio::test]
async fn every_call_type_is_accepted() {
    let (store, router) = setup();
    for (path, body) in [
        (
            "/v1/identify",
            json!({"userId": "u1", "traits": {"email": "a@b.c"}}),
        ),
        ("/v1/page", json!({"anonymousId": "a1", "name": "Pricing"})),
        ("/v1/screen", json!({"userId": "u1", "name": "Home"})),
        ("/v1/group", json!({"userId": "u1", "groupId": "acme"})),
        ("/v1/alias", json!({"userId": "u1", "previousId": "a1"})),
    ] {
        let (status, body) = send(&router, path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    let kinds: Vec<String> = store
        .events_after(0, 10)
        .expect("events")
        .into_iter()
        .map(|e| e.event.kind)
        .collect();
    assert_eq!(kinds, ["identify", "page", "screen", "group", "alias"]);
}

#[tokio::test]
async fn the_write_key_is_required_and_checked() {
    let (store, router) = setup();
    let event = json!({"userId": "u1", "event": "x"});
    let (status, body) = post(&router, "/v1/track", event.to_string().into_bytes(), &[]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");
    let (status, _) = post(
        &router,
        "/v1/track",
        event.to_string().into_bytes(),
        &[("authorization", basic("wrong"))],
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut with_key = event.clone();
    with_key["writeKey"] = json!(WRITE_KEY);
    let (status, _) = post(&router, "/v1/track", with_key.to_string().into_bytes(), &[]).await;
    assert_eq!(status, StatusCode::OK, "writeKey in the body works too");
    assert_eq!(store.count_events().expect("count"), 1);
}

#[tokio::test]
async fn bad_events_name_the_field() {
    let (store, router) = setup();
    let (status, body) = send(&router, "/v1/track", json!({"event": "x"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "/userId");
    let (_, body) = send(&router, "/v1/track", json!({"userId": "u"})).await;
    assert_eq!(body["error"]["field"], "/event");
    let (_, body) = send(
        &router,
        "/v1/track",
        json!({"userId": "u", "event": "x", "timestamp": "yesterday"}),
    )
    .await;
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (Some("invalid_timestamp"), Some("/timestamp"))
    );
    let (status, body) = post(
        &router,
        "/v1/track",
        b"{not json".to_vec(),
        &[("authorization", basic(WRITE_KEY))],
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );
    assert_eq!(store.count_events().expect("count"), 0);
}

#[tokio::test]
async fn a_batch_keeps_its_good_events_when_one_is_bad() {
    let (store, router) = setup();
    let (status, body) = send(
        &router,
        "/v1/batch",
        json!({"batch": [
            {"type": "track", "userId": "u1", "event": "A", "messageId": "b1"},
            {"type": "track", "event": "B", "messageId": "b2"},
            {"type": "page", "anonymousId": "x", "name": "Home", "messageId": "b3"}
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["field"], "/batch/1/userId");
    assert_eq!(body["accepted"], 2);
    let ids: Vec<String> = store
        .events_after(0, 10)
        .expect("events")
        .into_iter()
        .map(|e| e.event.message_id)
        .collect();
    assert_eq!(ids, ["b1", "b3"]);
}

#[tokio::test]
async fn duplicates_are_dropped_by_message_id() {
    let (store, router) = setup();
    let event = json!({"type": "track", "userId": "u1", "event": "A", "messageId": "same"});
    for _ in 0..3 {
        let (status, _) = send(&router, "/v1/batch", json!({"batch": [event, event]})).await;
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(store.count_events().expect("count"), 1);
}

#[tokio::test]
async fn clock_skew_is_corrected_with_sent_at() {
    let (store, router) = setup();
    // The client's clock is 2 hours fast: it says it sent at 12:00 what happened at 11:59:30.
    let (status, _) = send(
        &router,
        "/v1/batch",
        json!({"sentAt": "2024-05-01T12:00:00Z", "batch": [
            {"type": "track", "userId": "u1", "event": "A", "originalTimestamp": "2024-05-01T11:59:30Z"},
            {"type": "track", "userId": "u1", "event": "B", "timestamp": "2024-05-01T11:59:50Z", "sentAt": "2024-05-01T12:00:10Z"}
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let times: Vec<i64> = store
        .events_after(0, 10)
        .expect("events")
        .into_iter()
        .map(|e| e.event.timestamp_us)
        .collect();
    assert_eq!(times, [NOW - 30_000_000, NOW - 20_000_000]);
}

#[tokio::test]
async fn gzip_bodies_are_accepted() {
    let (store, router) = setup();
    let body = json!({"batch": [{"type": "track", "userId": "u1", "event": "Zipped"}]}).to_string();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(body.as_bytes()).expect("gzip");
    let gzipped = encoder.finish().expect("gzip");
    let (status, answer) = post(
        &router,
        "/v1/batch",
        gzipped,
        &[
            ("authorization", basic(WRITE_KEY)),
            ("content-encoding", "gzip".to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        store.events_after(0, 1).expect("events")[0]
            .event
            .name
            .as_deref(),
        Some("Zipped")
    );
}

#[tokio::test]
async fn size_limits_answer_400_and_keep_the_rest() {
    let (store, router) = setup();
    let big = "x".repeat(33 * 1024);
    let (status, body) = send(
        &router,
        "/v1/batch",
        json!({"batch": [
            {"type": "track", "userId": "u1", "event": "small"},
            {"type": "track", "userId": "u1", "event": "big", "properties": {"blob": big}}
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        (
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (Some("too_large"), Some("/batch/1"))
    );
    assert_eq!(store.count_events().expect("count"), 1);
    let events: Vec<Value> = (0..20).map(|i| json!({"type": "track", "userId": "u", "event": "e", "properties": {"blob": "y".repeat(30 * 1024), "i": i}})).collect();
    let (status, body) = send(&router, "/v1/batch", json!({ "batch": events })).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("too_large"))
    );
    let (status, body) = send(
        &router,
        "/v1/track",
        json!({"userId": "u", "event": "e", "properties": {"blob": big}}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("too_large"))
    );
    assert_eq!(store.count_events().expect("count"), 1);
}

#[tokio::test]
async fn health_needs_no_key() {
    let (_, router) = setup();
    let response = router
        .oneshot(
            Request::get("/healthz")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn collected_events_become_a_log_for_the_analyses() {
    let (store, router) = setup();
    let (status, _) = send(
        &router,
        "/v1/batch",
        json!({"batch": [
            {"type": "page", "anonymousId": "a1", "name": "Pricing", "timestamp": "2024-05-01T09:00:00Z"},
            {"type": "track", "userId": "u1", "event": "Signed Up", "timestamp": "2024-05-01T09:05:00Z", "properties": {"plan": "gold"}},
            {"type": "track", "userId": "u1", "event": "Started Trial", "timestamp": "2024-05-01T09:01:00Z"}
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (log, skipped) = waymark_store::stored_log(store.as_ref()).expect("log");
    assert_eq!((log.cases(), log.events(), skipped), (2, 3, 0));
    let u1 = log.iter_cases().find(|c| c.name() == "u1").expect("u1");
    let names: Vec<&str> = u1.activities().iter().map(|a| log.resolve(*a)).collect();
    assert_eq!(
        names,
        ["Started Trial", "Signed Up"],
        "ordered by time, not arrival"
    );
    let plan = log
        .event_attributes(u1.events().end - 1)
        .iter()
        .find(|a| log.resolve(a.key) == "plan")
        .map(|a| log.value_text(&a.value));
    assert_eq!(plan.as_deref(), Some("gold"));
}

const ADMIN: &str = "admin-secret";

async fn get(router: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, Value) {
    let (status, text) = get_text(router, path, token).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get_text(router: &axum::Router, path: &str, token: Option<&str>) -> (StatusCode, String) {
    let mut request = Request::get(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).to_string())
}

#[tokio::test]
async fn customer_360_by_any_identifier() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let (status, _) = send(
        &router,
        "/v1/batch",
        json!({"batch": [
            {"type": "page", "anonymousId": "visitor-1", "name": "Pricing", "timestamp": "2024-05-01T08:00:00Z"},
            {"type": "identify", "userId": "jennifer", "anonymousId": "visitor-1", "traits": {"email": "jennifer@example.com", "role": "CSM"}, "timestamp": "2024-05-01T08:10:00Z"},
            {"type": "track", "userId": "jennifer", "event": "Training Requested", "timestamp": "2024-05-01T09:00:00Z", "context": {"channel": "app"}},
            {"type": "track", "userId": "someone-else", "event": "Other", "timestamp": "2024-05-01T09:00:00Z"}
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    for identifier in ["jennifer", "visitor-1", "jennifer@example.com"] {
        let (status, profile) =
            get(&router, &format!("/v1/profiles/{identifier}"), Some(ADMIN)).await;
        assert_eq!(status, StatusCode::OK, "{identifier}: {profile}");
        assert_eq!(profile["events"], 3, "{identifier}");
        assert_eq!(profile["traits"]["role"], "CSM");
        assert_eq!(profile["channels"]["web"], 1);
        assert_eq!(profile["channels"]["app"], 1);
        assert_eq!(profile["first_seen"], "2024-05-01T08:00:00.000+00:00");
    }
    let (_, timeline) = get(
        &router,
        "/v1/profiles/visitor-1/timeline?limit=2",
        Some(ADMIN),
    )
    .await;
    let names: Vec<&str> = timeline["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["track", "identify"], "newest first");
    let before = timeline["next_before"].as_i64().expect("a next page");
    let (_, rest) = get(
        &router,
        &format!("/v1/profiles/visitor-1/timeline?limit=2&before={before}"),
        Some(ADMIN),
    )
    .await;
    assert_eq!(rest["events"].as_array().map(Vec::len), Some(1));
    assert!(rest["next_before"].is_null());

    let (_, found) = get(
        &router,
        "/v1/profiles?trait=email&value=JENNIFER@example.com",
        Some(ADMIN),
    )
    .await;
    assert_eq!(found["profiles"].as_array().map(Vec::len), Some(1));
    let (status, missing) = get(&router, "/v1/profiles/nobody", Some(ADMIN)).await;
    assert_eq!(
        (status, missing["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn reading_profiles_needs_an_admin_token() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    send(&router, "/v1/track", json!({"userId": "u1", "event": "A"})).await;
    let (status, _) = get(&router, "/v1/profiles/u1", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = get(&router, "/v1/profiles/u1", Some(WRITE_KEY)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (status, _) = get(&router, "/v1/profiles/u1", Some("guess")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(&router, "/v1/profiles/u1", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn stored_logs_stitch_anonymous_visits_into_the_person_case() {
    let (store, router) = setup();
    send(
        &router,
        "/v1/batch",
        json!({"batch": [
            {"type": "page", "anonymousId": "v1", "name": "Pricing", "timestamp": "2024-05-01T08:00:00Z"},
            {"type": "identify", "userId": "jen", "anonymousId": "v1", "traits": {"email": "j@x.y"}, "timestamp": "2024-05-01T08:01:00Z"},
            {"type": "track", "userId": "jen", "event": "Signed Up", "timestamp": "2024-05-01T08:02:00Z"},
            {"type": "track", "userId": "other", "event": "Signed Up", "timestamp": "2024-05-01T08:02:00Z", "context": {"traits": {"email": "J@X.Y"}}}
        ]}),
    )
    .await;
    let (log, _) = waymark_store::stored_log(store.as_ref()).expect("log");
    assert_eq!(
        log.cases(),
        1,
        "one person: the anonymous visit, the user and the same email"
    );
    let case = log.case(0);
    assert_eq!(case.name(), "jen");
    let names: Vec<&str> = case.activities().iter().map(|a| log.resolve(*a)).collect();
    assert_eq!(
        names,
        ["Pricing", "Signed Up", "Signed Up"],
        "identify calls are not interactions"
    );
}

#[tokio::test]
async fn logs_can_be_imported_over_http() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let csv = "case_id,activity,timestamp\nc1,Apply,2024-01-01T10:00:00Z\nc1,Approve,2024-01-02T10:00:00Z\nc2,Apply,2024-01-03T10:00:00Z\n";
    let admin = [("authorization", format!("Bearer {ADMIN}"))];
    let (status, body) = post(
        &router,
        "/v1/import?format=csv",
        csv.as_bytes().to_vec(),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (
            body["events"].as_u64(),
            body["inserted"].as_u64(),
            body["cases"].as_u64()
        ),
        (Some(3), Some(3), Some(2))
    );
    let (_, again) = post(
        &router,
        "/v1/import?format=csv",
        csv.as_bytes().to_vec(),
        &admin,
    )
    .await;
    assert_eq!(
        (again["inserted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    let (log, _) = waymark_store::stored_log(store.as_ref()).expect("log");
    assert_eq!((log.cases(), log.events()), (2, 3));

    let (status, _) = post(
        &router,
        "/v1/import?format=csv",
        csv.as_bytes().to_vec(),
        &[("authorization", format!("Bearer {WRITE_KEY}"))],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a write key cannot import");
    // Too large for one request: refused before it is read, saying what to do instead.
    let (status, body) = post(
        &router,
        "/v1/import?format=csv",
        csv.as_bytes().to_vec(),
        &[
            ("authorization", format!("Bearer {ADMIN}")),
            ("content-length", format!("{}", (2u64 << 30))),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("waymark import FILE")),
        "{body}"
    );
    let (status, body) = post(
        &router,
        "/v1/import?format=parquet",
        csv.as_bytes().to_vec(),
        &admin,
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("format"))
    );
    let broken = "case_id,activity,timestamp\nc1,Apply,2024-01-01T10:00:00Z\nc1,Approve,someday\n";
    let (status, body) = post(
        &router,
        "/v1/import?format=csv",
        broken.as_bytes().to_vec(),
        &admin,
    )
    .await;
    assert_eq!(
        (
            status,
            body["error"]["code"].as_str(),
            body["error"]["field"].as_str()
        ),
        (StatusCode::BAD_REQUEST, Some("invalid_log"), Some("3:3"))
    );
    assert_eq!(body["accepted"], 0, "the answer says what was stored");
    assert_eq!(
        store.count_events().expect("count"),
        3,
        "nothing of a broken CSV file is stored (it is read whole before storing)"
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let (_, router) = setup();
    let response = router
        .clone()
        .oneshot(
            Request::get("/healthz")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert!(id.is_some_and(|id| id.len() >= 32), "a generated id");
    let request = Request::get("/healthz")
        .header("x-request-id", "client-chosen-42")
        .body(Body::empty())
        .expect("request");
    let response = router.oneshot(request).await.expect("response");
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("client-chosen-42")
    );
}

/// The OpenAPI document is public, describes every route, and every route it describes exists
/// (the router is built from the same annotations, so the two cannot drift apart).
#[tokio::test]
async fn openapi_document_lists_every_route_and_each_one_answers() {
    let (_store, router) = setup();
    let (status, doc) = get(&router, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    let mut documented: Vec<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut expected: Vec<(String, String)> = [
        ("get", "/healthz"),
        ("get", "/metrics"),
        ("get", "/v1/journeys"),
        ("get", "/v1/journeys/{id}/report"),
        ("get", "/v1/journeys/{id}/proposals"),
        ("get", "/v1/journeys/{id}/proposals/{proposal}"),
        ("get", "/v1/journeys/{id}/map"),
        ("get", "/v1/journeys/{id}/kpis"),
        ("get", "/v1/journeys/{id}/kpis/{kpi}/simulate"),
        ("get", "/v1/alerts"),
        ("post", "/v1/alerts/{id}/{action}"),
        ("get", "/v1/alerts/rules"),
        ("post", "/v1/alerts/rules"),
        ("delete", "/v1/alerts/rules/{id}"),
        ("get", "/v1/opportunities"),
        ("post", "/v1/opportunities"),
        ("get", "/v1/opportunities/{id}"),
        ("patch", "/v1/opportunities/{id}"),
        ("get", "/v1/initiatives"),
        ("post", "/v1/initiatives"),
        ("get", "/v1/initiatives/{id}"),
        ("patch", "/v1/initiatives/{id}"),
        ("get", "/v1/follow-ups"),
        ("get", "/v1/profiles"),
        ("get", "/v1/profiles/{id}"),
        ("get", "/v1/profiles/{id}/timeline"),
        ("get", "/v1/profiles/{id}/context"),
        ("post", "/v1/alias"),
        ("post", "/v1/batch"),
        ("post", "/v1/group"),
        ("post", "/v1/identify"),
        ("post", "/v1/import"),
        ("post", "/v1/journeys"),
        ("post", "/v1/page"),
        ("post", "/v1/screen"),
        ("post", "/v1/track"),
        ("get", "/v1/directory/users"),
        ("post", "/v1/directory/users"),
        ("delete", "/v1/directory/users/{id}"),
        ("get", "/v1/keys"),
        ("post", "/v1/keys"),
        ("delete", "/v1/keys/{id}"),
        ("get", "/v1/keys/trail"),
        ("post", "/v1/directory/users/{id}/tokens"),
        ("post", "/v1/processes"),
        ("post", "/v1/processes/{id}/instances"),
        ("get", "/v1/tasks"),
        ("post", "/v1/tasks/{id}/{action}"),
        ("post", "/v1/admin/requests/{id}/cancel"),
        ("post", "/v1/admin/tasks/{id}/{action}"),
        ("get", "/v1/requests"),
        ("get", "/v1/requests/{id}"),
        ("get", "/v1/work"),
        ("post", "/v1/work/{id}/complete"),
        ("get", "/v1/links/{token}"),
        ("post", "/v1/links/{token}"),
        ("post", "/v1/forms/{key}"),
        ("get", "/v1/processes/{id}/form"),
        ("post", "/v1/surveys"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    expected.sort();
    assert_eq!(documented, expected);
    let mut operation_ids = std::collections::HashSet::new();
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "u1")
            .replace("{token}", "t1")
            .replace("{key}", "k1")
            .replace("{action}", "claim")
            .replace("{proposal}", "1");
        let request = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&concrete)
            .body(Body::empty())
            .expect("request");
        let status = router
            .clone()
            .oneshot(request)
            .await
            .expect("response")
            .status();
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but answers {status}"
        );
        let operation = &paths[path][method];
        // Client generators name a method after its operation id: each is one operation's.
        let id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            operation_ids.insert(id.clone()),
            "{method} {path}: operation id `{id}` is another operation's too"
        );
        assert!(
            operation["responses"]
                .as_object()
                .is_some_and(|r| !r.is_empty()),
            "{method} {path} documents no responses"
        );
        if path != "/healthz" {
            assert!(
                operation["security"].is_array(),
                "{method} {path} does not say how to authenticate"
            );
        }
    }
    for scheme in ["write_key", "admin_token"] {
        assert!(doc["components"]["securitySchemes"][scheme].is_object());
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
}

#[tokio::test]
async fn metrics_need_an_admin_token_and_count_events_and_requests() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    assert_eq!(
        get(&router, "/metrics", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(&router, "/metrics", Some(WRITE_KEY)).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, _) = send(
        &router,
        "/v1/batch",
        json!({"batch": [
            {"type": "track", "userId": "u1", "event": "A", "messageId": "m1"},
            {"type": "track", "userId": "u1", "event": "B", "messageId": "m1"},
            {"type": "track", "event": "C", "messageId": "m2"},
        ]}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, text) = get_text(&router, "/metrics", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "waymark_events_received_total 3",
        "waymark_events_stored_total 1",
        "waymark_events_duplicate_total 1",
        "waymark_events_rejected_total{code=\"missing_identity\"} 1",
        "waymark_http_requests_total{method=\"POST\",route=\"/v1/batch\",status=\"400\"} 1",
        "waymark_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"401\"} 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(text.contains("waymark_http_request_duration_seconds_bucket{"));
    assert!(text.trim_end().ends_with("# EOF"));
}

const JOURNEY: &str = "id: loan
title: Apply for a loan
owner: Lending
version: as-is
stages:
  - id: apply
    name: Apply
    touchpoints:
      - id: apply
        name: Application
        channel: web
        department: Lending
        actor: customer
        kind: form
        target: 1h
        events:
          - event: Apply
  - id: decide
    name: Decide
    touchpoints:
      - id: approve
        name: Approval
        channel: other
        department: Risk
        actor: staff
        kind: approval
        target: 1d
        events:
          - event: Approve
";

/// Journeys are deployed in versions and measured by the stored events; the report is the one
/// `waymark journey report` gives, computed from the same journey and events.
#[tokio::test]
async fn deployed_journeys_are_versioned_and_report_on_stored_events() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let admin = [("authorization", format!("Bearer {ADMIN}"))];
    let csv = "case_id,activity,timestamp\nc1,Apply,2024-01-01T10:00:00Z\nc1,Approve,2024-01-02T10:00:00Z\nc2,Apply,2024-01-03T10:00:00Z\n";
    let (status, _) = post(
        &router,
        "/v1/import?format=csv",
        csv.as_bytes().to_vec(),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    let deploy = |text: String| {
        let router = router.clone();
        let admin = admin.clone();
        async move { post(&router, "/v1/journeys", text.into_bytes(), &admin).await }
    };
    let (status, first) = deploy(JOURNEY.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        (first["version"].as_i64(), first["created"].as_bool()),
        (Some(1), Some(true))
    );
    let (_, same) = deploy(JOURNEY.to_string()).await;
    assert_eq!(
        (same["version"].as_i64(), same["created"].as_bool()),
        (Some(1), Some(false))
    );
    let (_, second) =
        deploy(JOURNEY.replace("Apply for a loan", "Apply for a personal loan")).await;
    assert_eq!(second["version"], 2);
    let (status, bad) = deploy(JOURNEY.replace("channel: web", "channel: pigeon")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["error"]["code"], "invalid_journey");
    assert!(
        bad["error"]["field"] == "11:18",
        "the line and column of the bad value: {bad}"
    );
    let (status, _) = post(
        &router,
        "/v1/journeys",
        JOURNEY.as_bytes().to_vec(),
        &[("authorization", format!("Bearer {WRITE_KEY}"))],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a write key cannot deploy");

    let (status, list) = get(&router, "/v1/journeys", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["journeys"][0]["version"], 2);
    assert_eq!(list["journeys"][0]["title"], "Apply for a personal loan");

    let (status, report) = get(
        &router,
        "/v1/journeys/loan/report?funnel=apply,approve&period=day&version=1",
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["deployed_version"], 1);
    let (_, by_label) = get(
        &router,
        "/v1/journeys/loan/report?funnel=apply,approve&period=day&version=as-is",
        Some(ADMIN),
    )
    .await;
    assert_eq!(
        by_label["deployed_version"], 2,
        "a label picks its latest deploy"
    );
    let (status, _) = get(
        &router,
        "/v1/journeys/loan/report?version=to-be",
        Some(ADMIN),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no to-be version was deployed"
    );
    assert_eq!(report["instances"]["total"], 2);
    let reached: Vec<u64> = report["funnel"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["reached"].as_u64().expect("reached"))
        .collect();
    assert_eq!(reached, [2, 1]);
    let journey = waymark_journey::check(JOURNEY).journey.expect("journey");
    let (log, _) = waymark_store::stored_log(store.as_ref()).expect("log");
    let options = waymark_analytics::journey::Options {
        funnel: vec!["apply".into(), "approve".into()],
        period: waymark_analytics::journey::Period::Day,
        ..Default::default()
    };
    let mut expected = waymark_server::journeys::report_json(
        &waymark_analytics::journey::report(&journey, &log, &options).expect("report"),
    );
    expected["deployed_version"] = 1.into();
    assert_eq!(report, expected, "the API says what the engine says");

    for (query, field) in [
        ("period=year", "period"),
        ("funnel=aply", "funnel"),
        ("between=apply", "between"),
        ("from=someday", "from"),
    ] {
        let (status, body) = get(
            &router,
            &format!("/v1/journeys/loan/report?{query}"),
            Some(ADMIN),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    // The live map: the same figures on the cards, as SVG or as a page; only for admins.
    let (status, svg) = get_text(&router, "/v1/journeys/loan/map?version=1", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK, "{svg}");
    assert!(svg.starts_with("<svg"), "{svg}");
    let apply = &svg[svg
        .find("data-touchpoint=\"apply\"")
        .expect("the apply card")..];
    assert!(apply.contains(">2 in"), "both instances at apply: {apply}");
    assert!(svg.contains("<title>2 reached"), "stage figures: {svg}");
    let (status, page) = get_text(
        &router,
        "/v1/journeys/loan/map?format=html&version=1",
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("Measured: 2 instances"));
    let (status, body) = get(&router, "/v1/journeys/loan/map?format=png", Some(ADMIN)).await;
    assert_eq!(
        (status, &body["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("format"))
    );
    let (status, _) = get(&router, "/v1/journeys/loan/map", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = get(&router, "/v1/journeys/nope/map", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Each person's place in the deployed journeys is part of their profile.
    let (status, c1) = get(&router, "/v1/profiles/c1", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::OK);
    let positions = c1["journeys"].as_array().expect("journeys");
    assert_eq!(positions.len(), 1, "{c1}");
    assert_eq!(
        (
            &positions[0]["journey"],
            &positions[0]["version"],
            &positions[0]["stage"],
            &positions[0]["touchpoint"],
            &positions[0]["status"]
        ),
        (
            &json!("loan"),
            &json!(2),
            &json!("decide"),
            &json!("approve"),
            &json!("completed")
        )
    );
    let (_, c2) = get(&router, "/v1/profiles/c2", Some(ADMIN)).await;
    assert_eq!(c2["journeys"][0]["touchpoint"], "apply");
    assert_eq!(
        c2["journeys"][0]["status"], "abandoned",
        "the fixed clock is long after 2024-01-03 (30 days without events)"
    );
    let (status, _) = get(&router, "/v1/journeys/nope/report", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&router, "/v1/journeys/loan/report", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// A deployed journey's KPIs on the stored events: the scorecard the CLI prints, computed by the
/// same engine; before and after a date; bad parameters named.
#[tokio::test]
async fn a_journeys_kpis_are_measured_on_stored_events() {
    let (store, router) = setup();
    store.ensure_key(KeyKind::Admin, ADMIN).expect("admin");
    let admin = [("authorization", format!("Bearer {ADMIN}"))];
    // Twelve applications a day for ten days: the first five days approved within a day, the
    // last five after two days.
    let csv = plans::applications();
    let (status, body) = post(&router, "/v1/import?format=csv", csv.into_bytes(), &admin).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let journey = JOURNEY.replace(
        "version: as-is\n",
        "version: as-is\ninstances:\n  timeout: 3d\nkpis:\n  - Approved: conversion apply -> approve >= 80%\n  - Time to approve: median-time apply -> approve <= 1d owner Risk\n  - Applications: volume\n  - faster decisions\n",
    );
    let (status, body) = post(
        &router,
        "/v1/journeys",
        journey.clone().into_bytes(),
        &admin,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, card) = get(
        &router,
        "/v1/journeys/loan/kpis?now=2024-03-20&days=30&at=2024-03-06",
        Some(ADMIN),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{card}");
    assert_eq!(card["version"], 1);
    assert_eq!(card["notes"], serde_json::json!(["faster decisions"]));
    let kpis = card["kpis"].as_array().expect("kpis");
    assert_eq!(kpis.len(), 3);
    let approved = &kpis[0];
    assert_eq!(approved["id"], "approved");
    // On the 20th every application has had its 3 days (the journey's timeout, the conversion's
    // window): 100 of the 120 were approved.
    assert_eq!(approved["observed"], 120);
    assert!((approved["value"].as_f64().expect("value") - 100.0 / 120.0).abs() < 1e-12);
    assert_eq!(approved["standing"], "met");
    let time = &kpis[1];
    assert_eq!(
        (time["owner"].as_str(), time["standing"].as_str()),
        (Some("Risk"), Some("missed"))
    );
    // Before the 6th a day and a bit; after, two days and a bit: Mann-Whitney sees the move.
    let comparison = &time["comparison"];
    assert_eq!(comparison["test"], "Mann–Whitney U test");
    assert_eq!(comparison["moved"], true, "{comparison}");
    assert!(
        comparison["words"]
            .as_str()
            .is_some_and(|w| w.starts_with("Time to approve moved for the worse")),
        "{comparison}"
    );
    assert_eq!(kpis[2]["comparison"]["test"], "Poisson rate test");
    assert_eq!(kpis[2]["comparison"]["moved"], false, "12 a day throughout");

    // The API says what the engine says on the same events.
    let journey = waymark_journey::check(&journey).journey.expect("journey");
    let (log, _) = waymark_store::stored_log(store.as_ref()).expect("log");
    use waymark_analytics::journey::LogSource as _;
    let cut = log
        .cut(&journey, &waymark_analytics::journey::Options::default())
        .expect("cut");
    let now = waymark_eventlog::time::parse_bound("2024-03-20").expect("time");
    let at = waymark_eventlog::time::parse_bound("2024-03-06").expect("time");
    let mut expected = waymark_server::kpis::scorecard_json(
        &journey,
        &cut.instances,
        waymark_analytics::journey::kpis::Window {
            now,
            days: 30,
            weeks: 12,
        },
        Some(at),
    );
    expected["version"] = 1.into();
    // Both read from text, so that each number is parsed the same way.
    let expected: serde_json::Value = serde_json::from_str(&expected.to_string()).expect("json");
    assert_eq!(card, expected);

    for (query, field) in [
        ("days=0", "days"),
        ("now=someday", "now"),
        ("at=soon", "at"),
    ] {
        let (status, body) = get(
            &router,
            &format!("/v1/journeys/loan/kpis?{query}"),
            Some(ADMIN),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let (status, _) = get(&router, "/v1/journeys/nope/kpis", Some(ADMIN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&router, "/v1/journeys/loan/kpis", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
