//! Customer 360: a profile by any identifier, its cross-channel timeline, search by trait.
//! Reading needs the admin token, or the token of a person with a role that looks people up
//! (`crate::access`); write and server keys cannot read.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_store::{Profile, StoredEvent};

use crate::{ApiError, AppState};

/// The caller, when they may look people up: who they see requests as.
pub(crate) async fn reader(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<crate::work::Viewer, ApiError> {
    use crate::access::Capability;
    let caller = crate::access::require(state, headers, Capability::ReadCustomers).await?;
    Ok(match caller {
        crate::access::Caller::Person(user)
            if !crate::access::person_may(&user, Capability::ReadAllRequests) =>
        {
            crate::work::Viewer::Person(user)
        }
        _ => crate::work::Viewer::Admin,
    })
}

fn iso(micros: i64) -> String {
    waymark_eventlog::time::format_micros(micros)
}

/// One value a trait had, and when.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TraitChange {
    name: String,
    #[schema(value_type = Object)]
    value: Value,
    at: String,
}

/// Everything known about one person, across identifiers and channels.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ProfileJson {
    id: i64,
    /// `user:…`, `anon:…`, `email:…`, … in the order first seen.
    identifiers: Vec<String>,
    /// Each trait's latest value.
    #[schema(value_type = Object)]
    traits: serde_json::Map<String, Value>,
    trait_history: Vec<TraitChange>,
    first_seen: String,
    last_seen: String,
    channels: std::collections::BTreeMap<String, u64>,
    event_counts: std::collections::BTreeMap<String, u64>,
    events: u64,
    /// Where the person stands in each deployed journey they are in: their latest instance.
    journeys: Vec<JourneyPosition>,
}

/// A person's place in a deployed journey.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct JourneyPosition {
    journey: String,
    version: i64,
    /// `open`, `completed` or `abandoned`.
    status: String,
    /// The stage and touchpoint of their latest event in it (ids).
    stage: String,
    touchpoint: String,
    /// Their names.
    stage_name: String,
    touchpoint_name: String,
    started: String,
    last_seen: String,
}

impl From<&crate::context::Position> for JourneyPosition {
    fn from(p: &crate::context::Position) -> Self {
        JourneyPosition {
            journey: p.journey.clone(),
            version: p.version,
            status: p.status.to_string(),
            stage: p.stage.clone(),
            touchpoint: p.touchpoint.clone(),
            stage_name: p.stage_name.clone(),
            touchpoint_name: p.touchpoint_name.clone(),
            started: iso(p.started_us),
            last_seen: iso(p.last_us),
        }
    }
}

/// The context answer: one call for every channel (see [`crate::context`]).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ContextJson {
    /// The profile's id.
    id: i64,
    /// Their name as they gave it, else null.
    name: Option<String>,
    email: Option<String>,
    identifiers: Vec<String>,
    /// Where they stand in each deployed journey: their latest pass.
    journeys: Vec<JourneyPosition>,
    /// The latest event on each channel, newest first.
    channels: Vec<ChannelJson>,
    /// Their requests still running, with the steps each waits on.
    open_requests: Vec<OpenRequestJson>,
    /// The steps assigned to them.
    waiting_on_them: Vec<WaitingJson>,
}

/// The latest thing on one channel.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ChannelJson {
    channel: String,
    at: String,
    event: String,
    /// The touchpoint's name, when a deployed journey binds the event.
    touchpoint: Option<String>,
    /// That journey's title.
    journey: Option<String>,
    /// What it said: subject, message, note or text; a page's title or address.
    said: Option<String>,
    /// Survey scores it carried, by kind (`csat`, `nps`, `ces`).
    #[schema(value_type = Object)]
    scores: serde_json::Map<String, Value>,
}

/// A running request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OpenRequestJson {
    id: i64,
    process: String,
    title: String,
    started: String,
    waiting_for: Vec<String>,
}

/// A step assigned to the person.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct WaitingJson {
    request: i64,
    step: String,
    since: String,
    due: Option<String>,
}

impl From<crate::context::Context> for ContextJson {
    fn from(c: crate::context::Context) -> Self {
        let email = c
            .profile
            .identifiers
            .iter()
            .find_map(|i| i.strip_prefix("email:"))
            .map(str::to_string);
        ContextJson {
            id: c.profile.id,
            name: c.name,
            email,
            identifiers: c.profile.identifiers,
            journeys: c.journeys.iter().map(JourneyPosition::from).collect(),
            channels: c
                .channels
                .into_iter()
                .map(|l| ChannelJson {
                    channel: l.channel,
                    at: iso(l.at_us),
                    event: l.event,
                    journey: l.touchpoint.as_ref().map(|t| t.journey.clone()),
                    touchpoint: l.touchpoint.map(|t| t.touchpoint),
                    said: l.said,
                    scores: l
                        .scores
                        .into_iter()
                        .map(|(k, v)| (k, Value::from(v)))
                        .collect(),
                })
                .collect(),
            open_requests: c
                .requests
                .into_iter()
                .map(|r| OpenRequestJson {
                    id: r.id,
                    process: r.process,
                    title: r.title,
                    started: iso(r.started_us),
                    waiting_for: r.waiting_for,
                })
                .collect(),
            waiting_on_them: c
                .waiting
                .into_iter()
                .map(|w| WaitingJson {
                    request: w.request,
                    step: w.name,
                    since: iso(w.since_us),
                    due: w.due_us.map(iso),
                })
                .collect(),
        }
    }
}

impl From<Profile> for ProfileJson {
    fn from(p: Profile) -> Self {
        let parse = |text: &str| serde_json::from_str(text).unwrap_or(Value::Null);
        ProfileJson {
            id: p.id,
            identifiers: p.identifiers,
            traits: p
                .traits
                .iter()
                .map(|(k, v)| (k.clone(), parse(v)))
                .collect(),
            trait_history: p
                .trait_history
                .iter()
                .map(|(name, value, at)| TraitChange {
                    name: name.clone(),
                    value: parse(value),
                    at: iso(*at),
                })
                .collect(),
            first_seen: iso(p.first_seen_us),
            last_seen: iso(p.last_seen_us),
            channels: p.channels,
            event_counts: p.event_counts,
            events: p.events,
            journeys: Vec::new(),
        }
    }
}

/// A stored event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct EventJson {
    /// The event's place in the store: collected events count up from 1 in arrival order;
    /// imported ones, kept in blocks per case, have negative seqs.
    seq: i64,
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
    #[serde(rename = "userId")]
    user_id: Option<String>,
    #[serde(rename = "anonymousId")]
    anonymous_id: Option<String>,
    /// When it happened (after clock-skew correction).
    timestamp: String,
    /// The whole Segment call.
    #[schema(value_type = Object)]
    event: Value,
}

/// A page of a timeline, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Timeline {
    events: Vec<EventJson>,
    /// Pass as `before` to get the next page; absent on the last page.
    next_before: Option<i64>,
}

/// The profiles found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Profiles {
    profiles: Vec<ProfileJson>,
    /// Where the next page starts (`after`); `null` on the last page.
    next: Option<String>,
}

impl From<StoredEvent> for EventJson {
    fn from(s: StoredEvent) -> Self {
        let event = Value::Object(s.to_json());
        EventJson {
            seq: s.seq,
            kind: s.event.kind,
            name: s.event.name,
            user_id: s.event.user_id,
            anonymous_id: s.event.anonymous_id,
            timestamp: iso(s.event.timestamp_us),
            event,
        }
    }
}

fn not_found(identifier: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        message: format!("no profile has the identifier `{identifier}`"),
        field: Some("id".to_string()),
        accepted: None,
    }
}

/// A reading about one person: the store, who asks, any identifier of the person, the time;
/// `None` when no profile has the identifier.
type About<T> = fn(
    &dyn waymark_store::Store,
    &crate::work::Viewer,
    &str,
    i64,
) -> Result<Option<T>, crate::work::WorkError>;

/// What `read` answers about the person `id` names, for a caller who may look people up, read
/// on the blocking pool; 404 when no profile has the identifier.
async fn about<T: Send + 'static>(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    read: About<T>,
) -> Result<T, ApiError> {
    let viewer = reader(state, headers).await?;
    let (store, now, lookup) = (state.store.clone(), state.clock.now_us(), id.clone());
    tokio::task::spawn_blocking(move || read(store.as_ref(), &viewer, &lookup, now))
        .await
        .map_err(|e| ApiError::internal(&e))??
        .ok_or_else(|| not_found(&id))
}

/// A customer's profile, by any of their identifiers: a user id, an anonymous id, an email or
/// phone (or written with its kind, `user:u1`). This is the context-transfer call: one request
/// tells an agent, the website or a campaign who this is and what they did last.
#[utoipa::path(
    get,
    path = "/v1/profiles/{id}",
    tag = "customer 360",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "Any identifier of the person")),
    responses(
        (status = 200, description = "OK", body = ProfileJson),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Write keys cannot read", body = crate::openapi::ErrorBody),
        (status = 404, description = "No profile has the identifier", body = crate::openapi::ErrorBody),
    )
)]
pub async fn profile(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ProfileJson>, ApiError> {
    let (profile, journeys) = about(&state, &headers, id, crate::context::placed).await?;
    let mut json = ProfileJson::from(profile);
    json.journeys = journeys.iter().map(JourneyPosition::from).collect();
    Ok(Json(json))
}

/// Context transfer, one answer for every channel: where the person stands in each journey, the
/// latest thing on each channel (the last email, SMS, call note, web page: its touchpoint and
/// what it said), their open requests and the steps waiting on them. A call centre, a chatbot
/// and the website ask this one call and say the same thing.
#[utoipa::path(
    get,
    path = "/v1/profiles/{id}/context",
    tag = "customer 360",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "Any identifier of the person")),
    responses(
        (status = 200, description = "OK", body = ContextJson),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read", body = crate::openapi::ErrorBody),
        (status = 404, description = "No profile has the identifier", body = crate::openapi::ErrorBody),
    )
)]
pub async fn context(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ContextJson>, ApiError> {
    let found = about(&state, &headers, id, crate::context::context).await?;
    Ok(Json(ContextJson::from(found)))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Only events before this `seq` (the previous page's `next_before`).
    before: Option<i64>,
    /// Events per page, 1 to 500 (default 50).
    limit: Option<usize>,
}

/// A person's events across all their identifiers and channels, newest first, paged.
#[utoipa::path(
    get,
    path = "/v1/profiles/{id}/timeline",
    tag = "customer 360",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "Any identifier of the person"), Page),
    responses(
        (status = 200, description = "OK", body = Timeline),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read", body = crate::openapi::ErrorBody),
        (status = 404, description = "No profile has the identifier", body = crate::openapi::ErrorBody),
    )
)]
pub async fn timeline(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Json<Timeline>, ApiError> {
    let viewer = reader(&state, &headers).await?;
    let limit = page.limit.unwrap_or(50).clamp(1, 500);
    let lookup = id.clone();
    let events = state
        .blocking(move |store| store.timeline(&lookup, page.before, limit))
        .await?
        .ok_or_else(|| not_found(&id))?;
    let next = (events.len() == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    // The steps of requests the caller may not see are left out (the page still ends where the
    // store's page ended, so `next_before` pages on).
    let workflow = state.store.clone();
    let events = tokio::task::spawn_blocking(move || {
        crate::work::visible_events(workflow.as_ref(), &viewer, events)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    let events: Vec<EventJson> = events.into_iter().map(EventJson::from).collect();
    Ok(Json(Timeline {
        events,
        next_before: next,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Search {
    /// The trait, e.g. `email`.
    #[serde(rename = "trait")]
    #[param(rename = "trait")]
    name: Option<String>,
    /// The value its latest setting must have (emails and phones compared normalised).
    value: Option<String>,
}

/// Profiles whose current value of a trait is the one given.
#[utoipa::path(
    get,
    path = "/v1/profiles",
    tag = "customer 360",
    security(("admin_token" = [])),
    params(Search, crate::paging::PageQuery),
    responses(
        (status = 200, description = "A page of the profiles found, by id, and the next page's start", body = Profiles),
        (status = 400, description = "`trait` or `value` missing", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "This key may not read", body = crate::openapi::ErrorBody),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(search): Query<Search>,
    Query(page): Query<crate::paging::PageQuery>,
) -> Result<Json<Profiles>, ApiError> {
    reader(&state, &headers).await?;
    let name = search.name.ok_or_else(|| {
        ApiError::bad_request(
            "missing_parameter",
            "give the trait to search, e.g. ?trait=email&value=a@b.c",
            "trait",
        )
    })?;
    let value = search.value.ok_or_else(|| {
        ApiError::bad_request("missing_parameter", "give the value to look for", "value")
    })?;
    let found = state
        .blocking(move |store| store.search_profiles(&name, &value))
        .await?;
    let (found, next) = crate::paging::cut(found, |p| p.id.to_string(), &page)?;
    Ok(Json(Profiles {
        profiles: found.into_iter().map(ProfileJson::from).collect(),
        next,
    }))
}
