//! The Waymark HTTP server.
//!
//! Built as [`app`]`(state) -> Router`, so tests drive it without a socket. Today it serves the
//! Segment-compatible collection API (`/v1/track`, `/identify`, `/page`, `/screen`, `/group`,
//! `/alias`, `/batch`), customer 360 (`/v1/profiles/{id}`, its `/timeline`, search by trait),
//! log import, deployed journeys and their reports (`/v1/journeys`), `/metrics` and `/healthz`. It is the only crate that knows the wire format; errors
//! become `{"error": {"code", "message", "field"}}` in one place ([`ApiError`]).
//!
//! Invariant: a 2xx answer to an event goes out only after the store committed it.

pub mod access;
pub mod alerts;
pub mod alerts_api;
pub mod automation;
pub mod changes;
pub mod changes_api;
mod collect;
pub mod context;
mod error;
pub mod events;
pub mod evidence;
pub mod feedback;
pub mod followups;
mod headers;
mod import;
pub mod improve;
pub mod journeys;
mod kept;
pub mod keys;
pub mod kpis;
pub mod live;
pub mod mail;
pub mod manage;
mod manage_api;
mod metrics;
pub mod openapi;
pub mod paging;
pub mod plans;
pub mod plans_api;
mod profiles;
pub mod webhooks;
pub mod work;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tower_http::decompression::RequestDecompressionLayer;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use waymark_store::Store;
use waymark_store::workflow::JobKind;

pub use collect::parse_batch;
pub use error::ApiError;
pub use metrics::Metrics;

/// The time, injected so tests can fix it.
pub trait Clock: Send + Sync {
    /// Microseconds since the Unix epoch.
    fn now_us(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
    }
}

/// How often alert rules are checked, unless set (`--alert-every`).
pub const DEFAULT_ALERT_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

/// How long a person is not asked for feedback again, unless set (`--survey-every`): 14 days.
pub const DEFAULT_SURVEY_EVERY: std::time::Duration = std::time::Duration::from_secs(14 * 86_400);

/// How long claimed work waits for a node that died, unless set (`--takeover-after`).
pub const DEFAULT_TAKEOVER: std::time::Duration = std::time::Duration::from_secs(60);

/// What every handler can use.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Signs and checks the links in emails.
    pub links: Arc<mail::Links>,
    /// Signs and checks survey links (a key of their own).
    pub surveys: Arc<feedback::Surveys>,
    /// Signs and checks sign-in links (a key of their own).
    pub sign_in: Arc<mail::Links>,
    /// Sends the email of send tasks, when an SMTP server is configured.
    pub mailer: Option<Arc<mail::Mailer>>,
    /// How webhook service tasks are called: retry waits, trusted certificates.
    pub webhooks: webhooks::Settings,
    /// How long a timer, email or webhook call claimed by this node is its own: when the node
    /// dies holding it, another takes it over after this long (`--takeover-after`).
    pub takeover: std::time::Duration,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    /// The stored events as live logs, and the reports computed on them (journey pages, reports).
    pub logs: Arc<live::Analyses>,
    /// Where the collected events also go when they are kept in ClickHouse (`--events`): a
    /// collection call is acknowledged once they are there.
    pub events: Option<Arc<events::Forwarding>>,
    /// How often the alert rules on KPIs are checked (`--alert-every`).
    pub alert_every: std::time::Duration,
    /// Nobody is asked for feedback more than once in this long, across all touchpoints
    /// (`--survey-every`).
    pub survey_every: std::time::Duration,
}

impl AppState {
    /// The state with the events kept in ClickHouse as well: collection calls wait for them to
    /// be there, and the journey reports are measured there.
    pub fn with_events(self, forwarding: Arc<events::Forwarding>) -> Self {
        self.logs.measure_in(forwarding.clone());
        AppState {
            events: Some(forwarding),
            ..self
        }
    }

    /// How long claimed work is this node's, in µs (`takeover`).
    pub fn lease_us(&self) -> i64 {
        i64::try_from(self.takeover.as_micros()).unwrap_or(i64::MAX)
    }

    /// A state on the system clock with fresh metrics. Fails when the signing keys cannot be
    /// read or made: links are never signed with a key anyone could guess.
    pub fn new(store: Arc<dyn Store>) -> Result<Self, waymark_store::StoreError> {
        // Each kind of link has a key of its own, so a link emailed for a step of a request can
        // never sign anyone in or answer a survey, and the reverse.
        // Each kind's keys carry ids, newest first: the newest signs, all of them verify, so
        // `waymark keys rotate-signing` changes keys without breaking the links already sent.
        let links = store.signing_keys("links")?;
        let surveys = store.signing_keys("surveys")?;
        let sign_in = store.signing_keys("sign-in")?;
        Ok(AppState {
            links: Arc::new(mail::Links::with_keys(links)),
            surveys: Arc::new(feedback::Surveys::with_keys(surveys)),
            sign_in: Arc::new(mail::Links::with_keys(sign_in)),
            mailer: None,
            webhooks: webhooks::Settings::default(),
            takeover: DEFAULT_TAKEOVER,
            store,
            clock: Arc::new(SystemClock),
            metrics: Arc::new(Metrics::default()),
            logs: Arc::new(live::Analyses::default()),
            events: None,
            alert_every: DEFAULT_ALERT_EVERY,
            survey_every: DEFAULT_SURVEY_EVERY,
        })
    }

    /// Runs a store call on the blocking pool, so SQLite never stalls the async workers. A failure
    /// is logged and answered as 503: nothing was acknowledged.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, waymark_store::StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|e| ApiError::internal(&e))
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

/// Whether the service can do its work (public): the database answers, the last write went
/// through and the disk has room. Anything wrong is a 503 naming it.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses(
        (status = 200, description = "OK", body = openapi::Health),
        (status = 503, description = "The store is failing; `problems` says how", body = openapi::Health),
    )
)]
async fn healthz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> (axum::http::StatusCode, axum::Json<openapi::Health>) {
    let store = state.store.clone();
    let mut health = tokio::task::spawn_blocking(move || store.health())
        .await
        .unwrap_or_else(|error| waymark_store::health::Health {
            problems: vec![format!("the health check stopped: {error}")],
            free_bytes: None,
        });
    // With `--events`, collection calls are answered 503 while their events cannot be forwarded.
    // Said without ClickHouse's error (this answer is public: it would name internal hosts); the
    // log has it.
    if let Some(forwarding) = &state.events
        && forwarding.progress().failed.is_some()
    {
        health.problems.push(
            "the collected events are not reaching ClickHouse (the server's log says why)"
                .to_string(),
        );
    }
    let status = if health.ok() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(openapi::Health {
            status: if health.ok() { "ok" } else { "failing" }.to_string(),
            problems: health.problems,
            free_bytes: health.free_bytes,
        }),
    )
}

/// Every route with its OpenAPI description. Routes are only ever added here, through
/// `routes!`, which takes the path and method from the handler's `#[utoipa::path]`.
fn routes() -> OpenApiRouter<AppState> {
    let collection = OpenApiRouter::new()
        .routes(routes!(collect::track))
        .routes(routes!(collect::identify))
        .routes(routes!(collect::page))
        .routes(routes!(collect::screen))
        .routes(routes!(collect::group))
        .routes(routes!(collect::alias))
        .routes(routes!(collect::batch))
        // RudderStack's clients gzip their bodies by default.
        .layer(RequestDecompressionLayer::new());
    // The import streams its body and bounds it itself (with a message on what to do instead).
    let import = OpenApiRouter::new()
        .routes(routes!(import::import))
        .layer(axum::extract::DefaultBodyLimit::disable());
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(metrics::metrics))
        .routes(routes!(profiles::search))
        .routes(routes!(profiles::profile))
        .routes(routes!(profiles::timeline))
        .routes(routes!(profiles::context))
        .routes(routes!(journeys::deploy, journeys::list))
        .routes(routes!(changes_api::list_proposals))
        .routes(routes!(changes_api::proposal))
        .routes(routes!(journeys::report))
        .routes(routes!(journeys::map))
        .routes(routes!(kpis::scorecard))
        .routes(routes!(alerts_api::list))
        .routes(routes!(alerts_api::act))
        .routes(routes!(alerts_api::rules, alerts_api::add_rule))
        .routes(routes!(alerts_api::remove_rule))
        .routes(routes!(alerts_api::simulate))
        .routes(routes!(plans_api::list_opportunities, plans_api::raise))
        .routes(routes!(
            plans_api::get_opportunity,
            plans_api::change_opportunity
        ))
        .routes(routes!(
            plans_api::list_initiatives,
            plans_api::add_initiative
        ))
        .routes(routes!(
            plans_api::get_initiative,
            plans_api::change_initiative
        ))
        .routes(routes!(plans_api::follow_ups))
        .routes(routes!(automation::put_users, automation::users))
        .routes(routes!(keys::issue_token))
        .routes(routes!(keys::disable_user))
        .routes(routes!(keys::list, keys::issue))
        .routes(routes!(keys::revoke))
        .routes(routes!(keys::trail))
        .routes(routes!(automation::deploy))
        .routes(routes!(automation::start))
        .routes(routes!(automation::inbox))
        .routes(routes!(automation::act))
        .routes(routes!(manage_api::cancel))
        .routes(routes!(manage_api::task))
        .routes(routes!(automation::my_requests))
        .routes(routes!(automation::request))
        .routes(routes!(automation::work))
        .routes(routes!(automation::complete_work))
        .routes(routes!(automation::open_link, automation::submit_link))
        .routes(routes!(automation::put_form))
        .routes(routes!(automation::start_form))
        .routes(routes!(feedback::issue))
        .merge(import)
        .merge(collection)
}

/// The OpenAPI document of [`app`].
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The API with `pages` (the web app) beside it, behind the same request ids, traces and
/// metrics.
pub fn app_with(state: AppState, pages: Router) -> Router {
    let (router, api) = routes().split_for_parts();
    let api = Arc::new(api);
    let metrics = state.metrics.clone();
    let router = router
        // The API description is public, like the API's own documentation.
        .route(
            "/openapi.json",
            get(move || {
                let api = api.clone();
                async move { axum::Json(api.as_ref().clone()) }
            }),
        )
        .with_state(state)
        .merge(pages)
        .layer(axum::middleware::from_fn_with_state(metrics, metrics::track))
        // Every request gets an id (or keeps the caller's `x-request-id`), logged with it and
        // returned in the response, so a client's report can be found in the logs.
        .layer(tower_http::request_id::PropagateRequestIdLayer::x_request_id())
        .layer(
            tower_http::trace::TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
                let id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                tracing::info_span!("request", method = %request.method(), path = %redacted(request.uri().path()), request_id = %id)
            }),
        )
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(tower_http::request_id::MakeRequestUuid));
    headers::secure(router)
}

/// A path as logged: the token of a path that carries one (an emailed link, a sign-in link, a
/// survey) is replaced, so the logs never hold a credential.
pub fn redacted(path: &str) -> std::borrow::Cow<'_, str> {
    const CARRY_TOKENS: [&str; 4] = ["/links/", "/v1/links/", "/login/link/", "/feedback/"];
    match CARRY_TOKENS.iter().find(|prefix| path.starts_with(*prefix)) {
        Some(prefix) => std::borrow::Cow::Owned(format!("{prefix}[token]")),
        None => std::borrow::Cow::Borrowed(path),
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = app(state.clone());
    serve_router(listener, state, router, shutdown).await
}

/// The longest a job loop sleeps when nothing is due and nothing changes: what a failed or
/// crashed handover left in the message outbox waits at most this long.
const JOB_LOOP_REST: std::time::Duration = std::time::Duration::from_secs(10);

/// The shortest time between two passes of a job loop: under steady traffic (every request
/// sets a timer, so every step wakes every node's loops) passes are at most this frequent, and a
/// job that is due but cannot be claimed (locked by a step in progress, or a database that
/// refuses writes) is looked at again this often, never in a tight loop.
const JOB_LOOP_GAP: std::time::Duration = std::time::Duration::from_millis(200);

/// Runs `work` (on the blocking pool), then sleeps until the next job of `kinds` is due, jobs
/// are added (`Work::job_changes`), or `JOB_LOOP_REST` passes, and at least `JOB_LOOP_GAP`
/// after the pass began; an idle node so does nothing.
async fn job_loop(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    kinds: &'static [JobKind],
    work: impl Fn(&dyn Store, i64) + Send + Sync + 'static,
) {
    let work = Arc::new(work);
    let mut changes = store.job_changes();
    loop {
        let began = tokio::time::Instant::now();
        // Seen before the work runs: what is added meanwhile wakes the loop again.
        changes.borrow_and_update();
        let (store_now, work_now, now) = (store.clone(), work.clone(), clock.now_us());
        let next = tokio::task::spawn_blocking(move || {
            work_now(store_now.as_ref(), now);
            kinds
                .iter()
                .map(|kind| store_now.next_job(*kind))
                .collect::<Result<Vec<_>, _>>()
                .map(|due| due.into_iter().flatten().min())
        })
        .await;
        let wait = match next {
            Ok(Ok(Some(due))) => {
                let micros = u64::try_from(due.saturating_sub(clock.now_us())).unwrap_or(0);
                std::time::Duration::from_micros(micros).min(JOB_LOOP_REST)
            }
            Ok(Ok(None)) => JOB_LOOP_REST,
            // The database is unwell (already logged by the work): try again in a second.
            Ok(Err(_)) | Err(_) => std::time::Duration::from_secs(1),
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            changed = changes.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(wait).await;
                }
            }
        }
        tokio::time::sleep_until(began + JOB_LOOP_GAP).await;
    }
}

/// Serves `router` (built with [`app_with`]) and runs the timer, webhook and mail loops of
/// `state`.
pub async fn serve_router(
    listener: tokio::net::TcpListener,
    state: AppState,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Timers fire when due, and after a restart; webhook tasks are called here too; what a
    // crash left in the message outbox is handed over.
    let lease_us = state.lease_us();
    let timers = {
        let (webhook_settings, clock) = (state.webhooks.clone(), state.clock.clone());
        tokio::spawn(job_loop(
            state.store.clone(),
            state.clock.clone(),
            &[JobKind::Timer, JobKind::Webhook],
            move |store, now| {
                automation::fire_due_timers(store, now, lease_us);
                // The time now, not when the loop woke: firing timers takes a while, and a
                // webhook call's claim must count from when it is made.
                webhooks::call_due(store, &webhook_settings, clock.now_us(), lease_us);
                automation::drain_outbox_if_free(store, now);
            },
        ))
    };
    // Send tasks with an `email:` topic are carried out here, when SMTP is configured.
    let mailer = state.mailer.clone().map(|mailer| {
        let (links, surveys) = (state.links.clone(), state.surveys.clone());
        let survey_quiet_us = i64::try_from(state.survey_every.as_micros()).unwrap_or(i64::MAX);
        tokio::spawn(job_loop(
            state.store.clone(),
            state.clock.clone(),
            &[JobKind::Mail],
            move |store, now| {
                let signers = mail::Signers {
                    links: &links,
                    surveys: &surveys,
                    survey_quiet_us,
                };
                mail::send_due(store, &mailer, &signers, now, lease_us);
            },
        ))
    });
    // Alert rules on KPIs are checked here, on the live log the journey pages read.
    let checker = {
        let (store, logs, clock) = (state.store.clone(), state.logs.clone(), state.clock.clone());
        let (mailer, webhooks, every) = (
            state.mailer.clone(),
            state.webhooks.clone(),
            state.alert_every,
        );
        tokio::spawn(async move {
            // The first check waits a little (at most 30 s), so it does not compete with the
            // first pages for the reading of the events after a start.
            let first = tokio::time::Instant::now() + every.min(std::time::Duration::from_secs(30));
            let mut tick = tokio::time::interval_at(first, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let (store, logs, mailer, webhooks, now) = (
                    store.clone(),
                    logs.clone(),
                    mailer.clone(),
                    webhooks.clone(),
                    clock.now_us(),
                );
                let checked = tokio::task::spawn_blocking(move || {
                    // Journey changes decided while a node stopped midway are carried out here.
                    changes::settle(store.as_ref(), mailer.as_deref(), now);
                    let delivery = alerts::Delivery {
                        mailer: mailer.as_deref(),
                        webhooks: &webhooks,
                    };
                    alerts::check_all(&store, &logs, delivery, now)
                })
                .await;
                match checked {
                    Ok(Ok(run)) if run.rules > 0 => tracing::debug!(
                        rules = run.rules,
                        buckets = run.buckets,
                        opened = run.opened.len(),
                        resolved = run.resolved.len(),
                        delivered = run.delivered,
                        "alert rules checked"
                    ),
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "the alert rules could not be checked; trying again on the next round")
                    }
                    Err(error) => tracing::error!(%error, "the alert check failed"),
                }
            }
        })
    };
    // The peer address reaches handlers (sign-in rate limits are per client).
    let served = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    timers.abort();
    checker.abort();
    if let Some(mailer) = mailer {
        mailer.abort();
    }
    served
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_in_paths_are_not_logged() {
        for (path, logged) in [
            ("/links/abc.def", "/links/[token]"),
            ("/v1/links/abc.def", "/v1/links/[token]"),
            ("/login/link/abc.def", "/login/link/[token]"),
            ("/feedback/abc.def", "/feedback/[token]"),
            ("/work/requests/3", "/work/requests/3"),
        ] {
            assert_eq!(super::redacted(path), logged);
        }
    }
}
