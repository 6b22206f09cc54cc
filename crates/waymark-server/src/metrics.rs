//! Prometheus metrics at `/metrics` (OpenMetrics text), readable with an admin token.
//!
//! HTTP requests are counted and timed per route template (`/v1/profiles/{id}`, never the
//! concrete path, so the number of series stays small); the collection API counts events
//! received, stored, dropped as duplicates and rejected (by error code).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: String,
}

/// Every metric the server keeps, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RouteLabels, Histogram>,
    events_received: Counter,
    events_stored: Counter,
    events_duplicate: Counter,
    events_rejected: Family<CodeLabels, Counter>,
    live_events: Gauge,
    live_bytes: Gauge,
    attribute_bytes: Gauge,
    snapshot_bytes: Gauge,
    refresh_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    forwarding: Gauge,
    forwarded: Gauge,
    forward_passes: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("waymark");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route and status",
            requests.clone(),
        );
        let durations = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            // 0.5 ms to about 8 s.
            Histogram::new(exponential_buckets(0.0005, 2.0, 15))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route",
            durations.clone(),
        );
        let events_received = Counter::default();
        registry.register(
            "events_received",
            "Events received by the collection API",
            events_received.clone(),
        );
        let events_stored = Counter::default();
        registry.register(
            "events_stored",
            "Events committed to the store",
            events_stored.clone(),
        );
        let events_duplicate = Counter::default();
        registry.register(
            "events_duplicate",
            "Events dropped because their messageId was already stored",
            events_duplicate.clone(),
        );
        let events_rejected = Family::<CodeLabels, Counter>::default();
        registry.register(
            "events_rejected",
            "Events refused as invalid, by error code",
            events_rejected.clone(),
        );
        let forwarding = Gauge::default();
        registry.register(
            "events_forwarding",
            "With --events: 1 when this node forwards the collected events to ClickHouse (it holds the lease), 0 when another does",
            forwarding.clone(),
        );
        let forwarded = Gauge::default();
        registry.register(
            "events_forwarded_seq",
            "With --events: the last collected event known to be in ClickHouse (by arrival number)",
            forwarded.clone(),
        );
        let forward_passes = Gauge::default();
        registry.register(
            "events_forward_passes",
            "With --events: forwarding passes this node ran since it started (none while another node forwards)",
            forward_passes.clone(),
        );
        let live_events = Gauge::default();
        registry.register(
            "live_log_events",
            "Events held by the live logs the journey pages read",
            live_events.clone(),
        );
        let live_bytes = Gauge::default();
        registry.register(
            "live_log_bytes",
            "Bytes the live logs hold: their current snapshots, what was added since, people, strings",
            live_bytes.clone(),
        );
        let attribute_bytes = Gauge::default();
        registry.register(
            "live_log_attribute_bytes",
            "Of the live logs' bytes, those of the attributes they keep (the ones journeys read)",
            attribute_bytes.clone(),
        );
        let snapshot_bytes = Gauge::default();
        registry.register(
            "live_snapshot_bytes",
            "Bytes the live logs' current snapshots hold (the logs the analyses read)",
            snapshot_bytes.clone(),
        );
        let refresh_seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "live_log_refresh_seconds",
            "How long the last refresh of the live logs took (reading what changed, writing a snapshot)",
            refresh_seconds.clone(),
        );
        Metrics {
            registry,
            requests,
            durations,
            events_received,
            events_stored,
            events_duplicate,
            events_rejected,
            live_events,
            live_bytes,
            attribute_bytes,
            snapshot_bytes,
            refresh_seconds,
            forwarding,
            forwarded,
            forward_passes,
        }
    }
}

impl Metrics {
    pub(crate) fn received(&self, count: usize) {
        self.events_received.inc_by(count as u64);
    }

    pub(crate) fn appended(&self, inserted: usize, duplicates: usize) {
        self.events_stored.inc_by(inserted as u64);
        self.events_duplicate.inc_by(duplicates as u64);
    }

    pub(crate) fn rejected(&self, code: &str) {
        self.events_rejected
            .get_or_create(&CodeLabels {
                code: code.to_string(),
            })
            .inc();
    }

    /// Takes in what the live logs hold now.
    pub(crate) fn live(&self, held: crate::live::Held) {
        self.live_events.set(held.events as i64);
        self.live_bytes.set(held.live_bytes as i64);
        self.snapshot_bytes.set(held.snapshot_bytes as i64);
        self.attribute_bytes.set(held.attribute_bytes as i64);
        self.refresh_seconds.set(held.refresh_us as f64 / 1e6);
    }

    /// Takes in how forwarding to ClickHouse stands (`serve --events`).
    pub(crate) fn forwarding(&self, progress: &crate::events::Progress) {
        self.forwarding.set(i64::from(progress.forwarding));
        self.forwarded.set(progress.seq);
        self.forward_passes
            .set(i64::try_from(progress.ran).unwrap_or(i64::MAX));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// Counts and times every request, by its route template.
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics
        .durations
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// The metrics, for an admin token.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Prometheus metrics (OpenMetrics text)", content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "A write key cannot read", body = crate::openapi::ErrorBody),
    )
)]
pub async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, crate::ApiError> {
    crate::access::require(&state, &headers, crate::access::Capability::Administer).await?;
    state.metrics.live(state.logs.held());
    if let Some(forwarding) = &state.events {
        state.metrics.forwarding(&forwarding.progress());
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response())
}
