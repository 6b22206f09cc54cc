//! Waymark's web app, served by the binary itself beside the API.
//!
//! Pages are rendered on the server (maud: HTML checked at compile time, every value escaped)
//! and work without JavaScript: forms post, the server answers with the next page. That keeps
//! phones, screen readers and slow links first-class, needs no build step, and lets one set of
//! rules (`waymark_server::work`) decide who sees what for the API and the pages alike.
//!
//! A person signs in with an emailed link (or the access token an administrator issued); the
//! browser then holds a session cookie (HttpOnly, SameSite=Lax, Secure behind https) and every
//! form carries the session's CSRF token.

mod admin;
mod analyses;
mod chart;
mod customers;
mod demo;
mod feedback;
mod form;
mod guard;
mod journeys;
mod layout;
mod links;
mod login;
mod mailbox;
mod session;
mod touchpoint;
mod work;

use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use waymark_server::AppState;
use waymark_server::mail::Links;

/// What the pages need: the server's state and the signer of sign-in links.
#[derive(Clone, Debug)]
pub struct Web {
    pub(crate) app: AppState,
    pub(crate) sign_in: Arc<Links>,
    /// Mark cookies `Secure` (the app is reached over https).
    pub(crate) secure: bool,
    /// Rate limits on signing in.
    pub(crate) limits: guard::Limits,
    /// Serving `waymark demo`: requests offer to send the events they wait for.
    pub(crate) demo: bool,
}

/// How long a sign-in lasts.
pub(crate) const SESSION_HOURS: i64 = 12;
/// How long an emailed sign-in link works.
pub(crate) const SIGN_IN_LINK_MINUTES: i64 = 15;

/// The pages, to serve beside the API (`waymark_server::app_with`). `secure` marks cookies
/// `Secure`: set it when people reach the app over https.
pub fn pages(app: AppState, secure: bool) -> Router {
    routes(app, secure, false)
}

/// The pages of `waymark demo`: [`pages`], and a request waiting for an event (the training
/// taking place) offers its requester a button that sends it, as the other system would.
pub fn demo_pages(app: AppState, secure: bool) -> Router {
    routes(app, secure, true)
}

fn routes(app: AppState, secure: bool, demo: bool) -> Router {
    let web = Web {
        sign_in: app.sign_in.clone(),
        app,
        secure,
        limits: guard::Limits::default(),
        demo,
    };
    Router::new()
        .route("/", get(home))
        .route("/assets/waymark.css", get(layout::stylesheet))
        .route("/assets/waymark.js", get(layout::script))
        .route("/login", get(login::page).post(login::by_email))
        .route("/login/token", post(login::by_token))
        .route(
            "/login/link/{token}",
            get(login::link_page).post(login::by_link),
        )
        .route("/logout", post(login::logout))
        .route("/links/{token}", get(links::open).post(links::submit))
        .route(
            "/feedback/{token}",
            get(feedback::open).post(feedback::submit),
        )
        .route("/customers", get(customers::search))
        .route("/journeys", get(journeys::list))
        .route("/journeys/{id}", get(journeys::show))
        .route("/journeys/{id}/funnel", get(analyses::funnel))
        .route("/journeys/{id}/flow", get(analyses::flow))
        .route("/journeys/{id}/conformance", get(analyses::conformance))
        .route(
            "/journeys/{id}/touchpoints/{touchpoint}",
            get(touchpoint::show),
        )
        .route("/work", get(work::inbox))
        .route("/work/tasks/{id}", get(work::task).post(work::complete))
        .route("/work/tasks/{id}/claim", post(work::claim))
        .route("/work/tasks/{id}/delegate", post(work::delegate))
        .route("/admin/requests", get(admin::requests))
        .route("/admin/outbox", get(mailbox::outbox))
        .route("/mail", get(mailbox::inbox))
        .route("/mail/{id}", get(mailbox::message))
        .route("/work/start", get(work::startable))
        .route(
            "/work/start/{process}",
            get(work::start_page).post(work::start),
        )
        .route("/work/requests", get(work::my_requests))
        .route("/work/requests/{id}", get(work::request))
        .route("/demo/requests/{id}/send", post(demo::send))
        .fallback(not_found)
        .with_state(web)
}

/// Any address nobody serves: for the API a JSON error, for people a page in the app's layout
/// that says so and leads back.
async fn not_found(signed: Option<session::Signed>, uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/v1/") {
        return waymark_server::ApiError {
            status: axum::http::StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!(
                "there is no {} in the API; /openapi.json lists every route",
                uri.path()
            ),
            field: None,
            accepted: None,
        }
        .into_response();
    }
    layout::problem(
        axum::http::StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address. It may have moved, or the link was mistyped.",
        signed.as_ref(),
    )
}

async fn home(signed: Option<session::Signed>) -> Response {
    match signed {
        Some(_) => Redirect::to("/work").into_response(),
        None => Redirect::to("/login").into_response(),
    }
}
