//! The Segment-compatible collection API.
//!
//! Fields follow Segment's HTTP tracking API: `userId`, `anonymousId`, `messageId`, `timestamp`,
//! `originalTimestamp`, `sentAt`, `context`, `properties`, `traits`, `integrations`. The write key
//! comes as HTTP Basic user name or as `writeKey` in the body.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine as _;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use waymark_store::NewEvent;

use crate::openapi::Success;
use crate::{ApiError, AppState};

/// The most one request may carry, uncompressed.
pub const MAX_BATCH_BYTES: usize = 500 * 1024;
/// The most one event may take.
pub const MAX_EVENT_BYTES: usize = 32 * 1024;

const KINDS: [&str; 6] = ["track", "identify", "page", "screen", "group", "alias"];

/// One handler per call type, each with its OpenAPI description; they differ only in the type.
macro_rules! single_call {
    ($name:ident, $path:literal, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            post,
            path = $path,
            tag = "collection",
            security(("write_key" = [])),
            request_body(content = crate::openapi::SegmentCall, content_type = "application/json", description = "One call, at most 32 KB; gzip bodies are accepted (`Content-Encoding: gzip`)"),
            responses(
                (status = 200, description = "Committed (or already stored)", body = crate::openapi::Success),
                (status = 400, description = "Malformed or over a limit; `field` says where", body = crate::openapi::ErrorBody),
                (status = 401, description = "No valid write key", body = crate::openapi::ErrorBody),
                (status = 503, description = "Not stored; send again", body = crate::openapi::ErrorBody),
            )
        )]
        pub async fn $name(
            state: State<AppState>,
            headers: HeaderMap,
            body: Body,
        ) -> Result<Json<Success>, ApiError> {
            single(state, headers, body, stringify!($name)).await
        }
    };
}

single_call!(
    track,
    "/v1/track",
    "Records an action the person took (`event` is required)."
);
single_call!(
    identify,
    "/v1/identify",
    "Ties a person to their traits (email, phone, plan…)."
);
single_call!(page, "/v1/page", "Records a web page view.");
single_call!(screen, "/v1/screen", "Records an app screen view.");
single_call!(group, "/v1/group", "Ties a person to a group or account.");
single_call!(
    alias,
    "/v1/alias",
    "Links a previous id to the user id (`previousId` is required)."
);

fn ok() -> Json<Success> {
    Json(Success { success: true })
}

/// Reads the (decompressed) body, refusing more than `limit` bytes.
async fn read_body(body: Body, limit: usize, field: &str) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        let text = error.to_string();
        if text.contains("length limit") {
            ApiError::bad_request(
                "too_large",
                format!("the request is larger than {} KB", limit / 1024),
                field,
            )
        } else {
            ApiError::bad_request(
                "unreadable_body",
                format!("the request body could not be read: {text}"),
                field,
            )
        }
    })
}

fn parse_object(bytes: &[u8], field: &str) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "malformed",
            "the body must be a JSON object",
            field,
        )),
        Err(error) => Err(ApiError::bad_request(
            "malformed",
            format!(
                "the body is not valid JSON: {error} (line {}, column {})",
                error.line(),
                error.column()
            ),
            field,
        )),
    }
}

/// The write key: HTTP Basic user name, else `writeKey` in the body.
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    body_key: Option<&Value>,
) -> Result<Drive, ApiError> {
    let from_header = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|encoded| {
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
        })
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .map(|pair| {
            pair.split_once(':')
                .map_or(pair.clone(), |(user, _)| user.to_string())
        });
    let key = from_header
        .filter(|k| !k.is_empty())
        .or_else(|| body_key.and_then(Value::as_str).map(str::to_string))
        .ok_or_else(|| {
            ApiError::unauthorized(
                "no write key: send it as the HTTP Basic user name, or as `writeKey` in the body",
            )
        })?;
    let now = state.clock.now_us();
    let store = state.store.clone();
    let caller =
        tokio::task::spawn_blocking(move || crate::access::holder(store.as_ref(), &key, now))
            .await
            .map_err(|e| ApiError::internal(&e).retry())?
            .map_err(|e| ApiError::internal(&e).retry())?;
    use crate::access::Capability;
    match caller {
        // The write key ships in web pages and apps: anyone has it, so it only records. Secret
        // keys, held by servers (a learning system, say), also act on waiting requests.
        Some(caller) if caller.may(Capability::DriveWorkflows) => Ok(Drive::Workflows),
        Some(caller) if caller.may(Capability::RecordEvents) => Ok(Drive::No),
        Some(_) | None => Err(ApiError::unauthorized(
            "the write key is not valid (unknown, expired or revoked)",
        )),
    }
}

/// Whether the events of a call act on workflows, by the key they came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drive {
    /// Recorded only (the public write key).
    No,
    /// Recorded, and their track calls handed to the workflow (a server key).
    Workflows,
}

fn text(value: Option<&Value>) -> Option<String> {
    waymark_eventlog::jsonl::text(value?)
}

/// The fields of an event the server reads; the rest is kept as received. Reading only these
/// (instead of the whole event into a map) is most of the cost of accepting an event.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Fields<'a> {
    #[serde(rename = "type")]
    kind: Option<Value>,
    #[serde(rename = "userId")]
    user_id: Option<Value>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<Value>,
    #[serde(rename = "messageId")]
    message_id: Option<Value>,
    event: Option<Value>,
    name: Option<Value>,
    #[serde(rename = "previousId")]
    previous_id: Option<Value>,
    #[serde(rename = "groupId")]
    group_id: Option<Value>,
    timestamp: Option<Value>,
    #[serde(rename = "originalTimestamp")]
    original_timestamp: Option<Value>,
    #[serde(rename = "sentAt")]
    sent_at: Option<Value>,
    #[serde(rename = "writeKey")]
    write_key: Option<Value>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
}

impl Fields<'_> {
    /// Reads an event's fields; `None` when it is not a JSON object.
    fn read(raw: &str) -> Option<Fields<'_>> {
        if !raw.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str(raw).ok()
    }

    /// The page or screen name inside `properties`, read only when needed.
    fn property_name(&self) -> Option<String> {
        let properties: Map<String, Value> = serde_json::from_str(self.properties?.get()).ok()?;
        text(properties.get("name"))
    }
}

/// Message ids Waymark writes itself (workflow steps, surveys, the demo, server keys' events,
/// ids it makes up): no sender may take one, so nobody can squat the id of an event Waymark is
/// about to write.
pub const RESERVED_IDS: [&str; 5] = ["wf-", "survey-", "demo-", "srv:", "waymark-"];

/// The earliest time an event may carry: 1900-01-01T00:00:00Z.
const EARLIEST_US: i64 = -2_208_988_800_000_000;
/// The latest: 9999-12-31T23:59:59Z. Times outside these are mistakes, and the clock-skew
/// correction stays within an `i64` of microseconds for any pair of them.
const LATEST_US: i64 = 253_402_300_799_000_000;

fn time(value: Option<&Value>, key: &str, pointer: &str) -> Result<Option<i64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => waymark_eventlog::time::parse_iso8601(s)
            .filter(|&us| (EARLIEST_US..=LATEST_US).contains(&us))
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_timestamp",
                    format!("`{s}` is not an ISO 8601 time between the years 1900 and 9999, e.g. 2024-05-01T10:00:00.000Z"),
                    format!("{pointer}/{key}"),
                )
            }),
        Some(_) => Err(ApiError::bad_request(
            "invalid_timestamp",
            "a time must be an ISO 8601 string",
            format!("{pointer}/{key}"),
        )),
    }
}

/// Validates one event and turns it into what the store keeps. `pointer` is the event's place in
/// the body (`""` or `/batch/3`); `sent_at` is the batch's `sentAt`, if any.
fn to_event(
    fields: &Fields,
    raw: &str,
    kind: &str,
    pointer: &str,
    received_us: i64,
    batch_sent_at: Option<i64>,
) -> Result<NewEvent, ApiError> {
    let field = |name: &str| format!("{pointer}/{name}");
    if !KINDS.contains(&kind) {
        return Err(ApiError::bad_request(
            "invalid_type",
            format!(
                "`{kind}` is not an event type; use track, identify, page, screen, group or alias"
            ),
            field("type"),
        ));
    }
    let user_id = text(fields.user_id.as_ref());
    let anonymous_id = text(fields.anonymous_id.as_ref());
    if user_id.is_none() && anonymous_id.is_none() {
        return Err(ApiError::bad_request(
            "missing_identity",
            "the event needs a `userId` or an `anonymousId`",
            field("userId"),
        ));
    }
    let name = match kind {
        "track" => Some(text(fields.event.as_ref()).ok_or_else(|| {
            ApiError::bad_request(
                "missing_event",
                "a track call needs the `event` name",
                field("event"),
            )
        })?),
        "page" | "screen" => text(fields.name.as_ref()).or_else(|| fields.property_name()),
        "alias" => {
            if text(fields.previous_id.as_ref()).is_none() {
                return Err(ApiError::bad_request(
                    "missing_previous_id",
                    "an alias call needs `previousId`",
                    field("previousId"),
                ));
            }
            None
        }
        "group" => text(fields.group_id.as_ref()),
        _ => None,
    };
    let timestamp = time(fields.timestamp.as_ref(), "timestamp", pointer)?;
    let original = time(
        fields.original_timestamp.as_ref(),
        "originalTimestamp",
        pointer,
    )?;
    let sent_at = time(fields.sent_at.as_ref(), "sentAt", pointer)?.or(batch_sent_at);
    // Clock-skew correction: the client's clock may be off, so its own times are shifted by how
    // far its clock was from ours when it sent the event.
    let timestamp_us = match (sent_at, original.or(timestamp)) {
        (Some(sent), Some(happened)) => sent
            .checked_sub(happened)
            .and_then(|skew| received_us.checked_sub(skew))
            .filter(|us| (EARLIEST_US..=LATEST_US).contains(us))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_timestamp",
                    "`sentAt` and the event's time are too far apart to correct the clock; send the time the event was sent",
                    field("sentAt"),
                )
            })?,
        (None, Some(happened)) => happened,
        (_, None) => received_us,
    };
    let message_id = match text(fields.message_id.as_ref()) {
        Some(id) if RESERVED_IDS.iter().any(|prefix| id.starts_with(prefix)) => {
            return Err(ApiError::bad_request(
                "reserved_message_id",
                format!(
                    "message ids starting with {} are Waymark's own; send another id",
                    RESERVED_IDS.join(", ")
                ),
                field("messageId"),
            ));
        }
        Some(id) => id,
        None => format!("waymark-{}", uuid::Uuid::new_v4()),
    };
    Ok(NewEvent {
        message_id,
        kind: kind.to_string(),
        name,
        user_id,
        anonymous_id,
        timestamp_us,
        received_us,
        body: raw.to_string(),
    })
}

async fn store(state: &AppState, events: Vec<NewEvent>, drive: Drive) -> Result<usize, ApiError> {
    let count = events.len();
    // Track calls sent with a server key go to the message outbox in their own transaction;
    // they are handed to the workflow right away here, and by the timer loop after a crash.
    let workflow = state.store.clone();
    let now = state.clock.now_us();
    let appended = state
        .blocking(move |store| match drive {
            Drive::No => store.append(events),
            Drive::Workflows => {
                // A server key's events are kept under ids of their own (`srv:` + its id), so the
                // public write key can never send an id first and make the real one a duplicate.
                let events = events
                    .into_iter()
                    .map(|mut e| {
                        e.message_id = format!("srv:{}", e.message_id);
                        e
                    })
                    .collect();
                let appended = store.append_driving(events)?;
                crate::automation::drain_outbox(workflow.as_ref(), now);
                Ok(appended)
            }
        })
        .await
        .map_err(ApiError::retry)?;
    if let Some(forwarding) = state.events.clone() {
        // Acknowledged only once ClickHouse has them (see `events`): the store's newest event
        // now is at least the last of these, or of the earlier copies of repeated ones.
        let newest = state
            .blocking(|store| Ok(store.watermark()?.seq))
            .await
            .map_err(ApiError::retry)?;
        if let Err(error) = forwarding.through(newest, crate::events::ACK_WAIT).await {
            tracing::warn!(%error, "events kept but not yet in ClickHouse; answered 503");
            return Err(ApiError {
                status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
                code: "unavailable",
                message: "the events are kept but not yet in the events database (ClickHouse); send them again (an event with its messageId is kept once)"
                    .to_string(),
                field: None,
                accepted: None,
            });
        }
    }
    state
        .metrics
        .appended(appended.inserted, appended.duplicates);
    tracing::debug!(
        received = count,
        inserted = appended.inserted,
        duplicates = appended.duplicates,
        "stored events"
    );
    Ok(appended.inserted + appended.duplicates)
}

async fn single(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
    kind: &'static str,
) -> Result<Json<Success>, ApiError> {
    let bytes = read_body(body, MAX_EVENT_BYTES, "").await?;
    let raw = std::str::from_utf8(&bytes).unwrap_or_default();
    let Some(fields) = Fields::read(raw) else {
        // Explain what is wrong with it.
        parse_object(&bytes, "")?;
        return Err(ApiError::bad_request(
            "malformed",
            "the body must be a Segment event",
            "",
        ));
    };
    let drive = authorize(&state, &headers, fields.write_key.as_ref()).await?;
    let received = state.clock.now_us();
    state.metrics.received(1);
    let event = to_event(&fields, raw, kind, "", received, None)
        .inspect_err(|error| state.metrics.rejected(error.code))?;
    store(&state, vec![event], drive).await?;
    Ok(ok())
}

#[derive(serde::Deserialize)]
struct BatchBody<'a> {
    #[serde(borrow)]
    batch: Vec<&'a RawValue>,
    #[serde(rename = "writeKey", default)]
    write_key: Option<Value>,
    #[serde(rename = "sentAt", default)]
    sent_at: Option<Value>,
}

/// Up to 500 KB of calls at once. The good events of a batch are stored even when another is
/// bad; the error then says which one (`/batch/N/...`) and how many were `accepted`.
#[utoipa::path(
    post,
    path = "/v1/batch",
    tag = "collection",
    security(("write_key" = [])),
    request_body(content = crate::openapi::BatchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "All events committed (or already stored)", body = crate::openapi::Success),
        (status = 400, description = "A bad event or a limit; the others were stored", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid write key", body = crate::openapi::ErrorBody),
        (status = 503, description = "Not stored; send again", body = crate::openapi::ErrorBody),
    )
)]
pub async fn batch(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Success>, ApiError> {
    let bytes = read_body(body, MAX_BATCH_BYTES, "/batch").await?;
    let items = envelope(&bytes)?;
    let drive = authorize(&state, &headers, items.write_key.as_ref()).await?;
    state.metrics.received(items.batch.len());
    let (events, rejected) = batch_events(&items, state.clock.now_us())?;
    for error in &rejected {
        state.metrics.rejected(error.code);
        tracing::debug!(field = ?error.field, code = error.code, "rejected event in batch");
    }
    // The good events of a batch are stored even when another one is bad.
    let accepted = if events.is_empty() {
        0
    } else {
        store(&state, events, drive).await?
    };
    match rejected.into_iter().next() {
        Some(mut error) => {
            error.accepted = Some(accepted);
            Err(error)
        }
        None => Ok(ok()),
    }
}

/// Reads a batch request's envelope once; its events are parsed one by one by [`batch_events`].
fn envelope(bytes: &[u8]) -> Result<BatchBody<'_>, ApiError> {
    serde_json::from_slice(bytes).or_else(|error| {
        // Say whether the JSON itself is broken or only the envelope's shape.
        parse_object(bytes, "")?;
        Err(ApiError::bad_request(
            "malformed",
            format!("`batch` must be a list of events: {error}"),
            "/batch",
        ))
    })
}

/// The events of a batch that can be stored, and one error per event that cannot (in order).
fn batch_events(
    items: &BatchBody,
    received_us: i64,
) -> Result<(Vec<NewEvent>, Vec<ApiError>), ApiError> {
    let batch_sent_at = time(items.sent_at.as_ref(), "sentAt", "")?;
    let mut events = Vec::with_capacity(items.batch.len());
    let mut rejected = Vec::new();
    for (index, raw) in items.batch.iter().enumerate() {
        let pointer = format!("/batch/{index}");
        let event = if raw.get().len() > MAX_EVENT_BYTES {
            Err(ApiError::bad_request(
                "too_large",
                format!("the event is larger than {} KB", MAX_EVENT_BYTES / 1024),
                pointer,
            ))
        } else {
            match Fields::read(raw.get()) {
                Some(item) => {
                    let kind = item.kind.as_ref().and_then(Value::as_str).unwrap_or("");
                    to_event(&item, raw.get(), kind, &pointer, received_us, batch_sent_at)
                }
                None => Err(ApiError::bad_request(
                    "malformed",
                    "each event must be a JSON object",
                    pointer,
                )),
            }
        };
        match event {
            Ok(event) => events.push(event),
            Err(error) => rejected.push(error),
        }
    }
    Ok((events, rejected))
}

/// What the collection API makes of a `/v1/batch` body (the write key is not checked): the
/// events it would store and the errors of those it would refuse, or the error refusing the
/// whole body. For fuzzing and tests.
pub fn parse_batch(
    bytes: &[u8],
    received_us: i64,
) -> Result<(Vec<NewEvent>, Vec<ApiError>), ApiError> {
    if bytes.len() > MAX_BATCH_BYTES {
        return Err(ApiError::bad_request(
            "too_large",
            format!("the request is larger than {} KB", MAX_BATCH_BYTES / 1024),
            "/batch",
        ));
    }
    batch_events(&envelope(bytes)?, received_us)
}
