//! Keys and tokens: list them, issue server and worker keys (and further write or admin keys),
//! give them an end date, revoke them; take people out of the directory. Administrators only;
//! every grant and revocation is a line in the access trail (`GET /v1/keys/trail`).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use waymark_store::KeyKind;
use waymark_store::keys::NewKey;

use crate::access::{self, Capability};
use crate::{ApiError, AppState};

/// What to issue: `{"kind": "server" | "worker" | "write" | "admin", "label": "…",
/// "topics": ["budget-check"], "expires_in": "90d"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueKey {
    /// `server` (records events that act on requests), `worker` (the worker tasks of
    /// `topics`), `write` (records events only) or `admin`.
    pub kind: String,
    /// What it is for, shown in lists.
    #[serde(default)]
    pub label: String,
    /// For a worker key: the topics it may fetch and complete.
    #[serde(default)]
    pub topics: Vec<String>,
    /// How long it works, e.g. `90d` or `12h`; without it, until revoked.
    pub expires_in: Option<String>,
}

/// How long a token works: `{"expires_in": "30d"}` (optional).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueToken {
    pub expires_in: Option<String>,
}

/// An end date `expires_in` from `now`, or why it cannot be read.
pub fn expiry(expires_in: Option<&str>, now: i64) -> Result<Option<i64>, ApiError> {
    let Some(text) = expires_in else {
        return Ok(None);
    };
    let duration = humantime::parse_duration(text).map_err(|e| {
        ApiError::bad_request(
            "invalid_expiry",
            format!("`{text}` is not a duration ({e}); write e.g. 90d or 12h"),
            "/expires_in",
        )
    })?;
    let micros = i64::try_from(duration.as_micros())
        .ok()
        .filter(|&us| us > 0 && us <= 10 * 366 * 86_400 * 1_000_000)
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_expiry",
                "a key works for at most ten years and more than nothing",
                "/expires_in",
            )
        })?;
    Ok(Some(now.saturating_add(micros)))
}

fn json_body<T: serde::de::DeserializeOwned + Default>(body: &str) -> Result<T, ApiError> {
    if body.trim().is_empty() {
        return Ok(T::default());
    }
    serde_json::from_str(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            e.to_string(),
            format!("line {} column {}", e.line(), e.column()),
        )
    })
}

async fn blocking<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&dyn waymark_store::Store) -> Result<T, waymark_store::StoreError>
    + Send
    + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || call(store.as_ref()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))
}

fn who(caller: &access::Caller) -> String {
    caller
        .person()
        .map_or_else(|| "admin".to_string(), |p| p.id.clone())
}

/// Every key and token (never their secrets), newest first, with their end dates and
/// revocations.
#[utoipa::path(
    get,
    path = "/v1/keys",
    operation_id = "list_keys",
    tag = "access",
    security(("admin_token" = [])),
    params(crate::paging::PageQuery),
    responses(
        (status = 200, description = "A page of the keys (`keys`) and the next page's start (`next`)", body = Object),
        (status = 400, description = "A limit out of range, or a cursor that is not one", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(page): Query<crate::paging::PageQuery>,
) -> Result<Json<Value>, ApiError> {
    access::require(&state, &headers, Capability::Administer).await?;
    let keys = blocking(&state, |store| store.keys()).await?;
    let (keys, next) = crate::paging::cut(keys, |k| k.id.clone(), &page)?;
    let now = state.clock.now_us();
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            let status = status(k, now);
            json!({
                "id": k.id,
                "kind": k.kind,
                "label": k.label,
                "user": k.user,
                "topics": k.topics,
                "status": status,
                "created": waymark_eventlog::time::format_micros(k.created_us),
                "expires": k.expires_us.map(waymark_eventlog::time::format_micros),
                "revoked": k.revoked_us.map(waymark_eventlog::time::format_micros),
            })
        })
        .collect();
    Ok(Json(json!({ "keys": keys, "next": next })))
}

/// Issues a key; the secret is in this answer only.
#[utoipa::path(
    post,
    path = "/v1/keys",
    operation_id = "issue_key",
    tag = "access",
    security(("admin_token" = [])),
    request_body(content = IssueKey, description = "The kind of key, its label, topics and end"),
    responses(
        (status = 201, description = "The key's id and secret", body = Object),
        (status = 400, description = "A bad field, named", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = access::require(&state, &headers, Capability::Administer).await?;
    let asked: IssueKey = serde_json::from_str(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!(
                "{e}; send {{\"kind\": \"server\" | \"worker\" | \"write\" | \"admin\", \"label\", \"topics\", \"expires_in\"}}"
            ),
            format!("line {} column {}", e.line(), e.column()),
        )
    })?;
    let now = state.clock.now_us();
    let key = new_key(&asked, now)?;
    let (kind, expires_us) = (key.kind, key.expires_us);
    let by = who(&caller);
    let (id, secret) = blocking(&state, move |store| store.issue_key(&key, &by, now)).await?;
    tracing::info!(key = %id, kind = kind.as_str(), "key issued");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "kind": kind.as_str(),
            "key": secret,
            "expires": expires_us.map(waymark_eventlog::time::format_micros),
        })),
    ))
}

/// The key `asked` describes, or the first field that is wrong (the API and the administrators'
/// page issue keys through this one check).
pub fn new_key(asked: &IssueKey, now: i64) -> Result<NewKey, ApiError> {
    let kind = KeyKind::parse(&asked.kind).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_kind",
            format!(
                "`{}` is not a kind of key: server, worker, write or admin",
                asked.kind
            ),
            "/kind",
        )
    })?;
    let topics: Vec<String> = asked
        .topics
        .iter()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(i) = topics.iter().position(|t| crate::followups::reserved(t)) {
        return Err(ApiError::bad_request(
            "reserved_topic",
            format!(
                "`{}` is Waymark's own: its steps are carried out by Waymark, not by a worker key; name your own topic",
                topics[i]
            ),
            format!("/topics/{i}"),
        ));
    }
    match (kind, topics.is_empty()) {
        (KeyKind::Worker, true) => {
            return Err(ApiError::bad_request(
                "missing_topics",
                "a worker key needs the topics it may work, e.g. [\"budget-check\"]",
                "/topics",
            ));
        }
        (KeyKind::Worker, false) => {}
        (_, false) => {
            return Err(ApiError::bad_request(
                "misplaced_topics",
                "only worker keys have topics",
                "/topics",
            ));
        }
        (_, true) => {}
    }
    Ok(NewKey {
        kind,
        label: asked.label.trim().to_string(),
        topics,
        expires_us: expiry(asked.expires_in.as_deref(), now)?,
    })
}

/// Whether a key works at `now`: `live`, `expired` or `revoked`.
pub fn status(key: &waymark_store::keys::KeyInfo, now: i64) -> &'static str {
    if key.revoked_us.is_some() {
        "revoked"
    } else if key.expires_us.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "live"
    }
}

/// Revokes a key or a person's token at once.
#[utoipa::path(
    delete,
    path = "/v1/keys/{id}",
    operation_id = "revoke_key",
    tag = "access",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The key's id, e.g. k_3f9a…")),
    responses(
        (status = 200, description = "Revoked", body = Object),
        (status = 404, description = "No live key has that id", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let missing = format!("no live key has the id `{id}`; GET /v1/keys lists them");
    end(&state, &headers, id, missing, |store, id, by, now| {
        store.revoke_key(id, by, now)
    })
    .await
    .map(|id| Json(json!({ "id": id, "revoked": true })))
}

/// Ends something by its id as an administrator (`end` gives false when nothing live has that
/// id: a 404 saying `missing`); gives the id.
async fn end(
    state: &AppState,
    headers: &HeaderMap,
    id: String,
    missing: String,
    end: impl FnOnce(
        &dyn waymark_store::Store,
        &str,
        &str,
        i64,
    ) -> Result<bool, waymark_store::StoreError>
    + Send
    + 'static,
) -> Result<String, ApiError> {
    let caller = access::require(state, headers, Capability::Administer).await?;
    let now = state.clock.now_us();
    let by = who(&caller);
    let target = id.clone();
    let ended = blocking(state, move |store| end(store, &target, &by, now)).await?;
    if !ended {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: missing,
            field: Some("id".into()),
            accepted: None,
        });
    }
    tracing::info!(id = %id, "ended by an administrator");
    Ok(id)
}

/// Takes a person out of the directory: their tokens are revoked, their sessions end and the
/// links sent to them stop working. Their history stays; adding them again brings them back
/// (without their old tokens).
#[utoipa::path(
    delete,
    path = "/v1/directory/users/{id}",
    tag = "automation",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The person's id")),
    responses(
        (status = 200, description = "Disabled", body = Object),
        (status = 404, description = "No such active person", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn disable_user(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let missing = format!("nobody active with the id `{id}` is in the directory");
    end(&state, &headers, id, missing, |store, id, by, now| {
        store.disable_user(id, by, now)
    })
    .await
    .map(|id| Json(json!({ "user": id, "disabled": true })))
}

/// A person's access token (shown once), optionally with an end date.
#[utoipa::path(
    post,
    path = "/v1/directory/users/{id}/tokens",
    tag = "automation",
    security(("admin_token" = [])),
    params(("id" = String, Path, description = "The person's id")),
    request_body(content = IssueToken, description = "Optional: {\"expires_in\": \"30d\"}"),
    responses(
        (status = 200, description = "The token and its id", body = Object),
        (status = 400, description = "A bad field, named", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such person", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn issue_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    let caller = access::require(&state, &headers, Capability::Administer).await?;
    let asked: IssueToken = json_body(&body)?;
    let now = state.clock.now_us();
    let expires_us = expiry(asked.expires_in.as_deref(), now)?;
    let by = who(&caller);
    let user = id.clone();
    let issued = blocking(&state, move |store| {
        Ok(match store.user(&user)? {
            Some(_) => {
                Some(store.issue_person_token(&user, "access token", expires_us, &by, now)?)
            }
            None => None,
        })
    })
    .await?;
    let Some((key, token)) = issued else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("nobody with the id `{id}` is in the directory"),
            field: Some("id".into()),
            accepted: None,
        });
    };
    Ok(Json(json!({
        "user": id,
        "id": key,
        "token": token,
        "expires": expires_us.map(waymark_eventlog::time::format_micros),
    })))
}

/// The access trail: keys and tokens issued, rotated and revoked, people disabled.
#[utoipa::path(
    get,
    path = "/v1/keys/trail",
    operation_id = "access_trail",
    tag = "access",
    security(("admin_token" = [])),
    params(crate::paging::PageQuery),
    responses(
        (status = 200, description = "A page of the grants and revocations, oldest first (`trail`), and the next page's start (`next`)", body = Object),
        (status = 400, description = "A limit out of range, or a cursor that is not one", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn trail(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(page): Query<crate::paging::PageQuery>,
) -> Result<Json<Value>, ApiError> {
    access::require(&state, &headers, Capability::Administer).await?;
    let rows = blocking(&state, |store| {
        store.audit_trail(waymark_store::workflow::ACCESS_TRAIL)
    })
    .await?;
    // The trail only grows at its end, so a line's place in it names it for good.
    let numbered: Vec<(usize, _)> = rows.into_iter().enumerate().collect();
    let (rows, next) = crate::paging::cut(numbered, |(at, _)| at.to_string(), &page)?;
    let rows: Vec<_> = rows.into_iter().map(|(_, row)| row).collect();
    Ok(Json(json!({ "trail": rows, "next": next })))
}
