//! The web app in process (no socket): signing in, CSRF, forms with per-field errors, and who
//! may see what, on the training request.

mod analyses;
mod editor;
mod followups;
mod matrix;
mod plans;
mod work;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt as _;
use waymark_server::AppState;
use waymark_store::Store;

pub(crate) fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A store with the directory (requester, manager, Finance, an analyst, an agent, an
/// administrator, and Mallory), the training process and its forms, and the app on it.
pub(crate) fn setup(name: &str) -> (Arc<dyn Store>, axum::Router) {
    let (store, router, _) = setup_state(name);
    (store, router)
}

/// [`setup`], with the app's state.
pub(crate) fn setup_state(name: &str) -> (Arc<dyn Store>, axum::Router, AppState) {
    let dir = std::env::temp_dir().join(format!("waymark-web-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let store = waymark_store::open(&dir.join("w.db").into(), &Default::default()).expect("store");
    let csv = "id,name,email,department,manager,roles\n\
        jennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\n\
        maria,Maria Lopez,maria@example.com,customer-success,olivia,manager\n\
        finn,Finn Berg,finn@example.com,finance,olivia,finance\n\
        olivia,Olivia Chen,olivia@example.com,leadership,,\n\
        mallory,Mallory Smith,mallory@example.com,sales,olivia,\n\
        chris,Chris Analyst,chris@example.com,cx,olivia,analyst\n\
        alex,Alex Agent,alex@example.com,support,olivia,agent\n\
        ada,Ada Admin,ada@example.com,it,olivia,admin\n";
    let users = waymark_server::automation::users_from_csv(csv).expect("csv");
    store.put_users(&users).expect("users");
    let example = workspace().join("examples/training-request");
    let source = std::fs::read_to_string(example.join("process.yaml")).expect("process");
    store
        .deploy_process(
            "training-request",
            "Request professional training",
            "yaml",
            &source,
            0,
        )
        .expect("deploy");
    for entry in std::fs::read_dir(example.join("forms")).expect("forms") {
        let path = entry.expect("entry").path();
        let key = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("key")
            .to_string();
        let schema = std::fs::read_to_string(&path).expect("form");
        store.put_form(&key, &schema, 0).expect("form");
    }
    let state = AppState::new(store.clone()).expect("state");
    let pages = waymark_web::pages(state.clone(), false);
    (store, waymark_server::app_with(state.clone(), pages), state)
}

/// A response: status, headers and the page.
pub(crate) struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub cookie: Option<String>,
    /// `Retry-After`, in seconds.
    pub retry_after: Option<u64>,
    pub html: String,
}

pub(crate) async fn send(router: &axum::Router, request: Request<Body>) -> Page {
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let location = header_text(header::LOCATION);
    let cookie = header_text(header::SET_COOKIE);
    let retry_after = header_text(header::RETRY_AFTER).and_then(|s| s.parse().ok());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    Page {
        status,
        location,
        cookie,
        retry_after,
        html: String::from_utf8_lossy(&bytes).to_string(),
    }
}

pub(crate) async fn get(router: &axum::Router, path: &str, session: Option<&str>) -> Page {
    let mut request = Request::get(path);
    if let Some(session) = session {
        request = request.header(header::COOKIE, session);
    }
    send(router, request.body(Body::empty()).expect("request")).await
}

pub(crate) async fn post(
    router: &axum::Router,
    path: &str,
    session: Option<&str>,
    fields: &[(&str, &str)],
) -> Page {
    let body: String = fields
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let mut request =
        Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    if let Some(session) = session {
        request = request.header(header::COOKIE, session);
    }
    send(router, request.body(Body::from(body)).expect("request")).await
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// A sign-in page's login token and the cookie that carries it (`name=value`).
pub(crate) async fn login_form(router: &axum::Router, path: &str) -> (String, String) {
    let page = get(router, path, None).await;
    let cookie = page
        .cookie
        .as_deref()
        .and_then(|c| c.split(';').next())
        .expect("a login cookie")
        .to_string();
    let at = page
        .html
        .find("name=\"login\" value=\"")
        .expect("a login field")
        + 20;
    let token = page.html[at..]
        .split('"')
        .next()
        .expect("value")
        .to_string();
    (token, cookie)
}

/// Signs someone in with an access token: the cookie to send back.
pub(crate) async fn sign_in(router: &axum::Router, store: &dyn Store, who: &str) -> String {
    let token = store.issue_user_token(who).expect("token");
    let (login, login_cookie) = login_form(router, "/login").await;
    let page = post(
        router,
        "/login/token",
        Some(&login_cookie),
        &[("token", &token), ("next", "/work"), ("login", &login)],
    )
    .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.html);
    let cookie = page.cookie.expect("a session cookie");
    cookie.split(';').next().expect("name=value").to_string()
}

/// The CSRF token in a page's forms.
pub(crate) fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    html[at..].split('"').next().expect("value").to_string()
}
