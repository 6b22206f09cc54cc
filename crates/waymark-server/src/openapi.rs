//! The OpenAPI document served at `/openapi.json`.
//!
//! It is generated from the code: every route is registered through `utoipa_axum`'s `routes!`
//! from the handler's own `#[utoipa::path]` annotation, so a route cannot exist without being
//! documented, and the types below are the shapes the handlers actually write.

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Waymark",
        description = "Collect every interaction (Segment-compatible), one profile per customer, \
                       and the journey analyses on stored events.",
        license(name = "Apache-2.0")
    ),
    modifiers(&Security),
    tags(
        (name = "collection", description = "Segment-compatible tracking API; authenticate with a write key as the HTTP Basic user name (or `writeKey` in the body)"),
        (name = "customer 360", description = "Profiles stitched across identifiers and channels; admin token"),
        (name = "import", description = "Event-log files into the store; admin token"),
        (name = "operations", description = "Health, metrics and this document"),
        (name = "access", description = "Keys and tokens: list, issue (server keys, worker keys for topics), expire, revoke; the access trail. Administrators only"),
        (name = "feedback", description = "Survey links for touchpoints (CSAT, NPS, CES and a comment; at most one ask per person per `--survey-every` days), and the follow-ups unhappy answers open for the touchpoint's department, measured"),
        (name = "plans", description = "Opportunities raised with evidence measured by the server, and initiatives with owners, departments, dates and KPIs measured against a baseline and before and after the version they deliver; the roadmap as CSV. Journey readers read and raise them; a plan is changed by its owner, who raised it, journey designers and administrators, on the revision they read"),
        (name = "alerts", description = "Alert rules on KPIs (a bound, a change, an anomaly), simulated on the past, checked on a schedule; the alerts they raised, acknowledged and resolved. Journey readers read and act on alerts; journey designers add and remove rules"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "write_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "user_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        // A secret server key: sent like the write key, its track calls also act on requests.
        components.add_security_scheme(
            "server_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Basic)),
        );
        components.add_security_scheme(
            "worker_key",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// One Segment call (`track`, `identify`, `page`, `screen`, `group` or `alias`). The whole
/// event is stored as received; these are the fields Waymark reads.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SegmentCall {
    /// The call type; implied by the endpoint for single calls, required inside a batch.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The person, once known. `userId` or `anonymousId` is required.
    pub user_id: Option<String>,
    pub anonymous_id: Option<String>,
    /// The sender's id for the event; a second event with the same id is dropped.
    pub message_id: Option<String>,
    /// The event name (track; required there).
    pub event: Option<String>,
    /// The page or screen name.
    pub name: Option<String>,
    /// The previous id (alias; required there).
    pub previous_id: Option<String>,
    pub group_id: Option<String>,
    /// ISO 8601 times. With `sentAt`, the stored time is corrected for the sender's clock skew:
    /// received − (sentAt − originalTimestamp or timestamp).
    pub timestamp: Option<String>,
    pub original_timestamp: Option<String>,
    pub sent_at: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub context: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub properties: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub traits: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub integrations: Option<Value>,
    /// The write key, when it is not sent as the HTTP Basic user name.
    pub write_key: Option<String>,
}

/// Up to 500 KB of calls; each at most 32 KB.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchRequest {
    pub batch: Vec<SegmentCall>,
    pub sent_at: Option<String>,
    pub write_key: Option<String>,
}

/// The answer to accepted events: they are committed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code, e.g. `missing_identity`, `too_large`, `unauthorized`.
    pub code: String,
    pub message: String,
    /// Where: a JSON pointer into the body (`/batch/3/userId`), a parameter or a header name.
    pub field: Option<String>,
}

/// Every error has this shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// In a batch with a bad event, how many of the others were stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `failing` (then answered with 503).
    pub status: String,
    /// What is wrong, in sentences; empty when all is well.
    pub problems: Vec<String>,
    /// Free bytes on the database's disk, when known.
    pub free_bytes: Option<u64>,
}
