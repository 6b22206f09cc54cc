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
mod alerts;
mod analyses;
mod browse;
mod chart;
mod comments;
mod customers;
mod demo;
mod deployed;
mod design;
mod editor;
mod feedback;
mod followups;
mod form;
mod funnel;
mod guard;
mod home;
mod journeys;
mod keys;
mod layout;
mod links;
mod login;
mod mailbox;
mod manage;
mod people;
mod person;
mod plans;
mod roadmap;
mod saved;
mod scorecard;
mod session;
mod suggest;
mod touchpoint;
mod ui;
mod versions;
mod work;

use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
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
    /// The journey editor's event suggestions, kept per snapshot of the live log.
    pub(crate) suggestions: Arc<suggest::Kept>,
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
        suggestions: Arc::default(),
    };
    table().router.fallback(not_found).with_state(web)
}

/// The pages' routes as they are registered, each with its method: the authorization matrix
/// test asks for them, so a page added without its row fails it.
pub fn page_routes() -> Vec<(&'static str, &'static str)> {
    table().listed
}

/// A router that remembers what it was given.
struct Table {
    router: Router<Web>,
    listed: Vec<(&'static str, &'static str)>,
}

impl Table {
    fn get<H: axum::handler::Handler<T, Web>, T: 'static>(
        mut self,
        path: &'static str,
        handler: H,
    ) -> Self {
        self.router = self.router.route(path, get(handler));
        self.listed.push(("GET", path));
        self
    }

    fn post<H: axum::handler::Handler<T, Web>, T: 'static>(
        mut self,
        path: &'static str,
        handler: H,
    ) -> Self {
        self.router = self.router.route(path, post(handler));
        self.listed.push(("POST", path));
        self
    }
}

/// Every page.
fn table() -> Table {
    Table {
        router: Router::new(),
        listed: Vec::new(),
    }
    .get("/", home::home)
    .get("/assets/waymark.css", layout::stylesheet)
    .get("/assets/waymark.js", layout::script)
    .get("/login", login::page)
    .post("/login", login::by_email)
    .post("/login/token", login::by_token)
    .get("/login/link/{token}", login::link_page)
    .post("/login/link/{token}", login::by_link)
    .post("/logout", login::logout)
    .get("/links/{token}", links::open)
    .post("/links/{token}", links::submit)
    .get("/feedback/{token}", feedback::open)
    .post("/feedback/{token}", feedback::submit)
    .get("/customers", customers::search)
    .get("/customers/browse", browse::page_of)
    .get("/journeys", journeys::list)
    .get("/journeys/new", editor::new_page)
    .post("/journeys/new", editor::create)
    .get("/journeys/{id}", journeys::show)
    .get("/journeys/{id}/edit", editor::edit)
    .post("/journeys/{id}/edit", editor::post)
    .post("/journeys/{id}/edit/preview", editor::preview)
    .get("/journeys/{id}/download", editor::download)
    .get("/journeys/{id}/versions", versions::list)
    .get("/journeys/{id}/compare", versions::compare)
    .get("/journeys/{id}/proposals/{proposal}", versions::proposal)
    .post("/journeys/{id}/comments", comments::add)
    .post(
        "/journeys/{id}/comments/{thread}/resolve",
        comments::resolve,
    )
    .get("/journeys/{id}/kpis", scorecard::journey_page)
    .get("/scorecards", scorecard::all)
    .get("/alerts", alerts::list)
    .get("/alerts/{id}", alerts::show)
    .post("/alerts/{id}/{action}", alerts::act)
    .post("/alerts/rules", alerts::add_rule)
    .post("/alerts/rules/{id}/remove", alerts::remove_rule)
    .get("/opportunities", plans::list)
    .post("/opportunities", plans::raise)
    .get("/opportunities/{id}", plans::show)
    .post("/opportunities/{id}", plans::change)
    .get("/follow-ups", followups::list)
    .get("/roadmap", roadmap::roadmap)
    .get("/roadmap.csv", roadmap::csv)
    .get("/initiatives/new", roadmap::new)
    .post("/initiatives", roadmap::add)
    .get("/initiatives/{id}", roadmap::show)
    .post("/initiatives/{id}", roadmap::change)
    .get("/journeys/{id}/funnel", funnel::funnel)
    .get("/journeys/{id}/funnel/people", funnel::people)
    .get("/analyses", saved::list)
    .post("/analyses", saved::save)
    .get("/analyses/{id}", saved::open)
    .post("/analyses/{id}/delete", saved::delete)
    .get("/journeys/{id}/flow", analyses::flow)
    .get("/journeys/{id}/conformance", analyses::conformance)
    .get("/journeys/{id}/touchpoints/{touchpoint}", touchpoint::show)
    .get(
        "/journeys/{id}/touchpoints/{touchpoint}/people",
        touchpoint::people,
    )
    .get("/work", work::inbox)
    .get("/work/tasks/{id}", work::task)
    .post("/work/tasks/{id}", work::complete)
    .post("/work/tasks/{id}/claim", work::claim)
    .post("/work/tasks/{id}/delegate", work::delegate)
    .get("/admin/requests", admin::requests)
    .post("/admin/requests/{id}/cancel", manage::cancel)
    .post("/admin/tasks/{id}/reassign", manage::reassign)
    .post("/admin/tasks/{id}/retry", manage::retry)
    .get("/admin/keys", keys::list)
    .post("/admin/keys", keys::issue)
    .post("/admin/keys/{id}/revoke", keys::revoke)
    .get("/admin/people", people::list)
    .post("/admin/people", person::add)
    .get("/admin/people/new", person::new)
    .get("/admin/people/{id}", person::edit)
    .post("/admin/people/{id}", person::change)
    .get("/admin/deployed", deployed::list)
    .post("/admin/people/{id}/disable", people::disable)
    .get("/admin/outbox", mailbox::outbox)
    .get("/mail", mailbox::inbox)
    .get("/mail/{id}", mailbox::message)
    .get("/work/start", work::startable)
    .get("/work/start/{process}", work::start_page)
    .post("/work/start/{process}", work::start)
    .get("/work/requests", work::my_requests)
    .get("/work/requests/{id}", work::request)
    .post("/demo/requests/{id}/send", demo::send)
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
