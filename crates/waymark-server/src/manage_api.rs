//! The administrators' actions on requests through the API (`crate::manage` holds their
//! rules): `POST /v1/admin/requests/{id}/cancel` and `POST /v1/admin/tasks/{id}/{action}`
//! (`reassign`, `retry`). Each body carries the `reason`, kept in the request's history with the
//! administrator's name: a person's token is needed, never the admin token.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{self, Capability};
use crate::work::{TaskId, WorkError};
use crate::{ApiError, AppState};

/// What an administrator's action says.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reasoned {
    /// Why: kept in the request's history with who gave it (required, at most 500 characters).
    #[serde(default)]
    reason: String,
    /// `reassign`: the directory id of who takes the step over.
    #[serde(default)]
    to: Option<String>,
}

fn read(body: &str) -> Result<Reasoned, ApiError> {
    if body.trim().is_empty() {
        return Ok(Reasoned::default());
    }
    serde_json::from_str(body).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            format!("send {{\"reason\": …}} (and \"to\" to reassign): {e}"),
            "/",
        )
    })
}

/// Who acts: an administrator by their own token. The admin token (or a key) is refused: these
/// actions are recorded with the person who took them, and nobody may move their own request,
/// which a key would hide.
async fn administrator(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let caller = access::require(state, headers, Capability::Administer).await?;
    match caller.person() {
        Some(person) => Ok(person.id.clone()),
        None => Err(ApiError {
            status: axum::http::StatusCode::FORBIDDEN,
            code: "forbidden",
            message: "act as yourself: use your own access token, so the request's history says who moved it".into(),
            field: None,
            accepted: None,
        }),
    }
}

async fn run(
    state: &AppState,
    act: impl FnOnce(&dyn waymark_store::Store, i64) -> Result<(), WorkError> + Send + 'static,
) -> Result<(), ApiError> {
    let (store, now) = (state.store.clone(), state.clock.now_us());
    tokio::task::spawn_blocking(move || act(store.as_ref(), now))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)
}

/// Cancels a running request: its open steps, timers and waits end. Not one's own request.
#[utoipa::path(
    post,
    path = "/v1/admin/requests/{id}/cancel",
    tag = "automation",
    security(("user_token" = [])),
    params(("id" = i64, Path, description = "The request")),
    request_body(content = Reasoned, description = "{\"reason\": …}"),
    responses(
        (status = 200, description = "Cancelled", body = Object),
        (status = 400, description = "No reason, or too long", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator acting as themselves, or one's own request", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such request", body = crate::openapi::ErrorBody),
        (status = 409, description = "The request has already ended", body = crate::openapi::ErrorBody),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    let by = administrator(&state, &headers).await?;
    let asked = read(&body)?;
    run(&state, move |store, now| {
        crate::manage::cancel(store, &by, id, &asked.reason, now)
    })
    .await?;
    Ok(Json(json!({ "request": id, "status": "cancelled" })))
}

/// `reassign` gives an open step to someone else (`to`; never the requester of a step that
/// decides on her request); `retry` calls a webhook step again now. Not on one's own request.
#[utoipa::path(
    post,
    path = "/v1/admin/tasks/{id}/{action}",
    tag = "automation",
    security(("user_token" = [])),
    params(
        ("id" = String, Path, description = "The task id, e.g. 12-3"),
        ("action" = String, Path, description = "reassign or retry"),
    ),
    request_body(content = Reasoned, description = "{\"reason\": …} and, to reassign, {\"to\": …}"),
    responses(
        (status = 200, description = "Done", body = Object),
        (status = 400, description = "No reason, no one to give it to, or an unknown action", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator, one's own request, or the requester", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such task", body = crate::openapi::ErrorBody),
        (status = 409, description = "Nothing to do: the step is closed, or no call waits", body = crate::openapi::ErrorBody),
    )
)]
pub async fn task(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    let by = administrator(&state, &headers).await?;
    let task: TaskId = id.parse()?;
    let asked = read(&body)?;
    match action.as_str() {
        "reassign" => {
            let to = asked.to.clone().unwrap_or_default();
            run(&state, move |store, now| {
                crate::manage::reassign(store, &by, task, &to, &asked.reason, now)
            })
            .await?;
        }
        "retry" => {
            run(&state, move |store, now| {
                crate::manage::retry_webhook(store, &by, task, &asked.reason, now)
            })
            .await?;
        }
        other => {
            return Err(ApiError::bad_request(
                "unknown_action",
                format!("`{other}` is not an action; write reassign or retry"),
                "action",
            ));
        }
    }
    Ok(Json(json!({ "task": id, "done": action })))
}
