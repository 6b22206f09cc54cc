//! The Waymark HTTP server.
//!
//! Built as [`app`]`(state) -> Router`, so tests drive it without a socket. Today it serves the
//! Segment-compatible collection API (`/v1/track`, `/identify`, `/page`, `/screen`, `/group`,
//! `/alias`, `/batch`), customer 360 (`/v1/profiles/{id}`, its `/timeline`, search by trait) and
//! `/healthz`. It is the only crate that knows the wire format; errors
//! become `{"error": {"code", "message", "field"}}` in one place ([`ApiError`]).
//!
//! Invariant: a 2xx answer to an event goes out only after the store committed it.

mod collect;
mod error;
mod import;
mod profiles;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tower_http::decompression::RequestDecompressionLayer;
use waymark_store::Store;

pub use error::ApiError;

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

/// What every handler can use.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
}

impl AppState {
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

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let collection = Router::new()
        .route("/v1/track", post(collect::track))
        .route("/v1/identify", post(collect::identify))
        .route("/v1/page", post(collect::page))
        .route("/v1/screen", post(collect::screen))
        .route("/v1/group", post(collect::group))
        .route("/v1/alias", post(collect::alias))
        .route("/v1/batch", post(collect::batch))
        // RudderStack's clients gzip their bodies by default.
        .layer(RequestDecompressionLayer::new());
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route(
            "/v1/import",
            post(import::import).layer(axum::extract::DefaultBodyLimit::max(
                import::MAX_IMPORT_BYTES,
            )),
        )
        .route("/v1/profiles", get(profiles::search))
        .route("/v1/profiles/{id}", get(profiles::profile))
        .route("/v1/profiles/{id}/timeline", get(profiles::timeline))
        .merge(collection)
        .with_state(state)
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
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(tower_http::request_id::SetRequestIdLayer::x_request_id(tower_http::request_id::MakeRequestUuid))
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
