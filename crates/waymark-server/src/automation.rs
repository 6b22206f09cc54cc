//! The workflow API: the organisation directory, process deployment, starting requests, task
//! inboxes and "my requests". A person signs in with their own token and sees only their own
//! requests and the tasks routed to them; every other attempt is refused with 403 and audited.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use waymark_store::prelude::*;
use waymark_store::workflow::{JobKind, TaskKey, TaskRow, User, WorkflowError};
use waymark_workflow::engine::{Command, Signal};

use crate::access::{self, Caller, Capability};
use crate::work::{TaskId, Viewer, WorkError};
use crate::{ApiError, AppState};

async fn run<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&dyn Store) -> Result<T, WorkflowError> + Send + 'static,
) -> Result<T, ApiError> {
    working(state, move |store| call(store).map_err(WorkError::from)).await
}

/// Runs a [`crate::work`] operation on the blocking pool.
async fn working<T: Send + 'static>(
    state: &AppState,
    call: impl FnOnce(&dyn Store) -> Result<T, WorkError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || call(store.as_ref()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(ApiError::from)
}

impl From<WorkError> for ApiError {
    fn from(error: WorkError) -> ApiError {
        let (status, code, field) = match &error {
            WorkError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", Some("id".to_string())),
            WorkError::Refused => (StatusCode::FORBIDDEN, "forbidden", None),
            WorkError::NotAllowed(_) => (StatusCode::FORBIDDEN, "not_allowed", None),
            WorkError::Conflict(_) => (StatusCode::CONFLICT, "conflict", None),
            WorkError::Invalid(errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_form",
                Some(
                    errors
                        .iter()
                        .map(|e| e.field.clone())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            ),
            WorkError::Bad { code, field, .. } => {
                (StatusCode::BAD_REQUEST, *code, Some(field.clone()))
            }
            WorkError::Interrupted(_) => return ApiError::internal(&error),
            WorkError::Workflow(_) => {
                let WorkError::Workflow(inner) = error else {
                    return ApiError::internal(&error);
                };
                return refused(inner);
            }
        };
        ApiError {
            status,
            code,
            message: error.to_string(),
            field,
            accepted: None,
        }
    }
}

/// A workflow error as HTTP: what the caller can fix is a 4xx naming it.
fn refused(error: WorkflowError) -> ApiError {
    let (status, code) = match &error {
        WorkflowError::UnknownProcess(_) | WorkflowError::UnknownInstance(_) => {
            (StatusCode::NOT_FOUND, "not_found")
        }
        WorkflowError::Engine(_) => (StatusCode::CONFLICT, "conflict"),
        WorkflowError::Store(_) | WorkflowError::Unreadable(..) | WorkflowError::State(..) => {
            return ApiError::internal(&error);
        }
    };
    ApiError {
        status,
        code,
        message: error.to_string(),
        field: None,
        accepted: None,
    }
}

async fn admin_only(state: &AppState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    access::require(state, headers, Capability::Administer).await
}

/// The person calling: people act as themselves only.
async fn person(state: &AppState, headers: &HeaderMap) -> Result<User, ApiError> {
    match access::require(state, headers, Capability::ActAsPerson).await? {
        Caller::Person(user) => Ok(user),
        other => Err(access::forbidden(&other, Capability::ActAsPerson)),
    }
}

/// Who did it, for the audit trail: a person's id, or the key's kind.
fn actor(caller: &Caller) -> String {
    match caller {
        Caller::Person(user) => user.id.clone(),
        Caller::AdminKey => "admin".into(),
        Caller::WriteKey => "write key".into(),
        Caller::ServerKey => "server key".into(),
        Caller::WorkerKey { .. } => "worker".into(),
    }
}

fn task_json(t: &TaskRow) -> Value {
    json!({
        "id": format!("{}-{}", t.instance, t.task),
        "instance": t.instance,
        "step": t.node,
        "name": t.name,
        "kind": t.kind,
        "topic": t.topic,
        "assignee": t.assignee,
        "candidate_groups": t.candidate_groups,
        "candidate_users": t.candidate_users,
        "due": t.due_us.map(waymark_eventlog::time::format_micros),
        "form": t.form,
        "status": t.status,
        "created": waymark_eventlog::time::format_micros(t.created_us),
        "completed_by": t.completed_by,
    })
}

/// Adds or updates people in the organisation directory: a JSON list of
/// `{id, name, email, department, manager, roles}`, or CSV with those columns (roles separated
/// by `;`).
#[utoipa::path(
    post,
    path = "/v1/directory/users",
    tag = "automation",
    security(("admin_token" = [])),
    request_body(content = String, description = "JSON list of users, or CSV (text/csv)"),
    responses(
        (status = 200, description = "How many were stored", body = Object),
        (status = 400, description = "A bad row or field, named in `field`", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn put_users(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<Json<Value>, ApiError> {
    admin_only(&state, &headers).await?;
    let csv = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let users = if csv {
        users_from_csv(&body)?
    } else {
        serde_json::from_str::<Vec<User>>(&body).map_err(|e| {
            ApiError::bad_request(
                "invalid_users",
                format!("{e}; send a JSON list of {{id, name, email, department, manager, roles}}"),
                format!("line {} column {}", e.line(), e.column()),
            )
        })?
    };
    let count = users.len();
    run(&state, move |store| Ok(store.put_users(&users)?)).await?;
    Ok(Json(json!({ "stored": count })))
}

/// Reads a directory CSV: `id,name,email,department,manager,roles`.
pub fn users_from_csv(text: &str) -> Result<Vec<User>, ApiError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| ApiError::bad_request("invalid_csv", e.to_string(), "line 1"))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let Some(id) = column("id") else {
        return Err(ApiError::bad_request(
            "invalid_csv",
            "the CSV needs an `id` column (and name, email, department, manager, roles)",
            "line 1",
        ));
    };
    let mut users = Vec::new();
    for (k, record) in reader.records().enumerate() {
        let line = k + 2;
        let record = record.map_err(|e| {
            ApiError::bad_request("invalid_csv", e.to_string(), format!("line {line}"))
        })?;
        let get = |name: &str| {
            column(name)
                .and_then(|c| record.get(c))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let user_id = record.get(id).unwrap_or_default().to_string();
        if user_id.is_empty() {
            return Err(ApiError::bad_request(
                "invalid_csv",
                "a person needs an id",
                format!("line {line}"),
            ));
        }
        users.push(User {
            name: get("name").unwrap_or_else(|| user_id.clone()),
            id: user_id,
            email: get("email"),
            department: get("department"),
            manager: get("manager"),
            roles: get("roles")
                .map(|r| {
                    r.split([';', '|'])
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    Ok(users)
}

/// The organisation directory.
#[utoipa::path(
    get,
    path = "/v1/directory/users",
    tag = "automation",
    security(("admin_token" = [])),
    params(crate::paging::PageQuery),
    responses(
        (status = 200, description = "A page of everyone, by id (`users`), and the next page's start (`next`)", body = Object),
        (status = 400, description = "A limit out of range, or a cursor that is not one", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn users(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(page): Query<crate::paging::PageQuery>,
) -> Result<Json<Value>, ApiError> {
    admin_only(&state, &headers).await?;
    let users = run(&state, |store| Ok(store.users()?)).await?;
    let (users, next) = crate::paging::cut(users, |u| u.id.clone(), &page)?;
    Ok(Json(json!({ "users": users, "next": next })))
}

/// Deploys a process definition after checking it — BPMN 2.0 XML or Waymark's YAML, told apart by
/// the text itself: a new version of each executable process in it.
#[utoipa::path(
    post,
    path = "/v1/processes",
    operation_id = "deploy_process",
    tag = "automation",
    security(("admin_token" = [])),
    request_body(
        content((String = "application/xml"), (String = "application/yaml")),
        description = "A BPMN 2.0 file, or a Waymark process file (YAML)"
    ),
    responses(
        (status = 200, description = "Deployed", body = Object),
        (status = 400, description = "Not executable: every problem with its line", body = Object),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn deploy(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    admin_only(&state, &headers).await?;
    let imported = waymark_workflow::import(&body).map_err(|e| {
        ApiError::bad_request("unreadable", e.message.clone(), e.location.to_string())
    })?;
    let problems: Vec<Value> = imported
        .diagnostics
        .iter()
        .map(|d| {
            json!({
                "severity": d.severity.as_str(),
                "code": d.code,
                "line": d.location.line,
                "column": d.location.column,
                "message": d.message,
                "hint": d.hint,
            })
        })
        .collect();
    if !imported.executable() {
        return Ok((
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "error": { "code": "not_executable", "message": "the model cannot be executed", "problems": problems } }),
            ),
        ));
    }
    let now = state.clock.now_us();
    let processes: Vec<(String, String)> = imported
        .processes
        .iter()
        .map(|p| (p.id.clone(), p.name.clone()))
        .collect();
    if let Some((id, _)) = processes
        .iter()
        .find(|(id, _)| crate::followups::reserved(id))
    {
        return Err(ApiError::bad_request(
            "reserved_id",
            format!(
                "`{id}`: ids that start with `waymark-` are Waymark's own processes; give yours another id"
            ),
            "process",
        ));
    }
    let deployed = run(&state, move |store| {
        let mut out = Vec::new();
        for (id, name) in processes {
            let format = waymark_workflow::Format::of(&body).as_str();
            let (version, created) = store.deploy_process(&id, &name, format, &body, now)?;
            out.push(json!({ "id": id, "version": version, "created": created }));
        }
        Ok(out)
    })
    .await?;
    Ok((
        StatusCode::OK,
        Json(json!({ "processes": deployed, "warnings": problems })),
    ))
}

/// Starts a request: the caller fills in the start form (its values as a JSON object) and becomes
/// the requester.
#[utoipa::path(
    post,
    path = "/v1/processes/{id}/instances",
    tag = "automation",
    security(("user_token" = [])),
    params(("id" = String, Path, description = "The process id")),
    request_body(content = Object, description = "The start form's values"),
    responses(
        (status = 201, description = "Started", body = Object),
        (status = 400, description = "The body is not a JSON object", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such process", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
    )
)]
pub async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = person(&state, &headers).await?;
    let values = object(&body)?;
    let now = state.clock.now_us();
    let instance = working(&state, move |store| {
        crate::work::start(store, &user, &id, values, now)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "instance": instance }))))
}

fn object(body: &str) -> Result<Map<String, Value>, ApiError> {
    if body.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "invalid_body",
            "send the form's values as a JSON object",
            "/",
        )),
        Err(e) => Err(ApiError::bad_request(
            "invalid_json",
            e.to_string(),
            format!("line {} column {}", e.line(), e.column()),
        )),
    }
}

/// Reads a page cursor (`CREATED.INSTANCE.TASK`, as `next` gives it).
fn inbox_cursor(text: &str) -> Result<TaskKey, ApiError> {
    let refused = || crate::paging::bad_cursor(text);
    let mut parts = text.split('.');
    let (Some(created), Some(instance), Some(task), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(refused());
    };
    Ok(TaskKey {
        created_us: created.parse().map_err(|_| refused())?,
        instance: instance.parse().map_err(|_| refused())?,
        task: task.parse().map_err(|_| refused())?,
    })
}

/// The caller's inbox: tasks assigned to them, and unassigned ones offered to them or their
/// groups, oldest first, a page at a time (`next` is where the next page starts, `null` at the
/// end).
#[utoipa::path(
    get,
    path = "/v1/tasks",
    tag = "automation",
    security(("user_token" = [])),
    params(crate::paging::PageQuery),
    responses(
        (status = 200, description = "A page of open tasks, oldest first, and the next page's start", body = Object),
        (status = 400, description = "A limit out of range, or a cursor that is not one", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
    )
)]
pub async fn inbox(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<crate::paging::PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let user = person(&state, &headers).await?;
    let limit = crate::paging::limit(query.limit)?;
    let after = query.after.as_deref().map(inbox_cursor).transpose()?;
    let (tasks, next) = working(&state, move |store| {
        crate::work::inbox_page(store, &user, after, limit)
    })
    .await?;
    let next = next.map(|k| format!("{}.{}.{}", k.created_us, k.instance, k.task));
    Ok(Json(
        json!({ "tasks": tasks.iter().map(task_json).collect::<Vec<_>>(), "next": next }),
    ))
}

/// What to do with a task.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskAction {
    /// For `delegate`: who takes it over.
    to: Option<String>,
}

/// Acts on a task routed to the caller: `complete` (the form's values as a JSON object),
/// `claim`, `delegate?to=USER`, `comment` (`{"text": …}`), `error` or `escalate`
/// (`{"code": …}`, taken by the task's boundary events).
#[utoipa::path(
    post,
    path = "/v1/tasks/{id}/{action}",
    tag = "automation",
    security(("user_token" = [])),
    params(
        ("id" = String, Path, description = "The task id, e.g. 12-3"),
        ("action" = String, Path, description = "complete, claim, delegate, comment, error or escalate"),
        TaskAction,
    ),
    request_body(content = Object, description = "Form values (complete), {text} (comment), {code} (error, escalate)"),
    responses(
        (status = 200, description = "Done", body = Object),
        (status = 403, description = "Not routed to the caller (audited)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such task", body = crate::openapi::ErrorBody),
        (status = 409, description = "The task is no longer open", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
    )
)]
pub async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Query(query): Query<TaskAction>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    let user = person(&state, &headers).await?;
    let task: TaskId = id.parse()?;
    let now = state.clock.now_us();
    let body = object(&body)?;
    let text = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match action.as_str() {
        "complete" => {
            let mailer = state.mailer.clone();
            working(&state, move |store| {
                crate::work::complete(store, &user, task, body, now)?;
                // A journey change decided now is published (or sent back) before this answers.
                crate::changes::settle(store, mailer.as_deref(), now);
                Ok(())
            })
            .await?
        }
        "claim" => {
            working(&state, move |store| {
                crate::work::claim(store, &user, task, now)
            })
            .await?
        }
        "delegate" => {
            let to = query.to.clone().ok_or_else(|| {
                ApiError::bad_request("missing_to", "say who takes it over: ?to=USER", "to")
            })?;
            working(&state, move |store| {
                crate::work::delegate(store, &user, task, &to, now)
            })
            .await?
        }
        "comment" => {
            let text = text("text");
            working(&state, move |store| {
                crate::work::comment(store, &user, task, &text, now)
            })
            .await
            .map_err(|mut e| {
                if e.code == "missing_text" {
                    e.message = "send {\"text\": \"…\"}".into();
                    e.field = Some("/text".into());
                }
                e
            })?
        }
        "error" | "escalate" => {
            let code = text("code");
            let signal = if action == "error" {
                Signal::Error
            } else {
                Signal::Escalation
            };
            working(&state, move |store| {
                crate::work::throw(store, &user, task, signal, &code, now)
            })
            .await?
        }
        other => {
            return Err(ApiError::bad_request(
                "unknown_action",
                format!(
                    "`{other}` is not something to do with a task: complete, claim, delegate, comment, error or escalate"
                ),
                "action",
            ));
        }
    }
    Ok(Json(json!({ "task": id, "done": action })))
}

/// Where a request stands, who has it, and its history.
/// `viewer`: the person looking, or `None` for an administrator (who sees everything).
fn request_json(request: &crate::work::Request, viewer: Option<&str>) -> Value {
    let (row, tasks, trail) = (&request.instance, &request.tasks, &request.trail);
    let now_with: Vec<Value> = tasks
        .iter()
        .filter(|t| t.status == "open")
        .map(|t| json!({ "step": t.node, "name": t.name, "with": t.assignee.clone().map(Value::from).unwrap_or_else(|| json!(t.candidate_groups)), "due": t.due_us.map(waymark_eventlog::time::format_micros) }))
        .collect();
    let history: Vec<Value> = trail
        .iter()
        .filter(|a| a.action != "task created")
        // A person sees their own refused attempts, never someone else's.
        .filter(|a| a.action != "refused" || viewer.is_none_or(|who| a.actor == who))
        .map(|a| json!({ "at": waymark_eventlog::time::format_micros(a.at_us), "by": a.actor, "action": a.action, "step": a.node }))
        .collect();
    json!({
        "id": row.id,
        "process": row.process,
        "version": row.version,
        "requester": row.requester,
        "status": row.status,
        "started": waymark_eventlog::time::format_micros(row.started_us),
        "updated": waymark_eventlog::time::format_micros(row.updated_us),
        "now_with": now_with,
        "steps": tasks.iter().map(task_json).collect::<Vec<_>>(),
        "history": history,
    })
}

/// "My requests": the caller's requests, newest first, each with where it stands.
#[utoipa::path(
    get,
    path = "/v1/requests",
    tag = "automation",
    security(("user_token" = [])),
    params(crate::paging::PageQuery),
    responses(
        (status = 200, description = "A page of the caller's requests, newest first (`requests`), and the next page's start (`next`)", body = Object),
        (status = 400, description = "A limit out of range, or a cursor that is not one", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
    )
)]
pub async fn my_requests(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(page): Query<crate::paging::PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let user = person(&state, &headers).await?;
    let who = user.id.clone();
    // The page is cut from the ids, so only its requests are read.
    let ids = run(&state, {
        let who = who.clone();
        move |store| Ok(store.instances_of(&who)?)
    })
    .await?;
    let (ids, next) = crate::paging::cut(ids, ToString::to_string, &page)?;
    let list = working(&state, move |store| {
        crate::work::requests(store, &user, &ids)
    })
    .await?;
    let list: Vec<Value> = list
        .iter()
        .map(|r| request_json(r, Some(who.as_str())))
        .collect();
    Ok(Json(json!({ "requests": list, "next": next })))
}

/// One request: for its requester, for people with a task in it, and for administrators (with
/// the full audit trail, and the attempts and last error of webhook steps still open).
#[utoipa::path(
    get,
    path = "/v1/requests/{id}",
    tag = "automation",
    security(("user_token" = []), ("admin_token" = [])),
    params(("id" = i64, Path, description = "The request (instance) id")),
    responses(
        (status = 200, description = "The request", body = Object),
        (status = 403, description = "Not the caller's (audited)", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such request", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
    )
)]
pub async fn request(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let caller = access::caller(&state, &headers).await?;
    let viewer = if caller.may(Capability::ReadAllRequests) {
        Viewer::Admin
    } else {
        match caller {
            Caller::Person(user) => Viewer::Person(user),
            other => return Err(access::forbidden(&other, Capability::ActAsPerson)),
        }
    };
    let now = state.clock.now_us();
    let admin = matches!(viewer, Viewer::Admin);
    let who = match &viewer {
        Viewer::Admin => None,
        Viewer::Person(user) => Some(user.id.clone()),
    };
    let request = working(&state, move |store| {
        crate::work::request(store, &viewer, id, now)
    })
    .await?;
    let mut json = request_json(&request, who.as_deref());
    if admin {
        json["audit"] = json!(request.trail);
        // Why a webhook step is still open: its attempts and the last error.
        let calls: Vec<(String, u64)> = request
            .tasks
            .iter()
            .filter(|t| {
                t.status == "open"
                    && t.topic
                        .as_deref()
                        .is_some_and(|t| t.starts_with("webhook:"))
            })
            .map(|t| (t.node.clone(), t.task))
            .collect();
        if !calls.is_empty() {
            let attempts = run(&state, move |store| {
                let mut out = Vec::new();
                for (step, task) in calls {
                    let (attempts, last_error) = store
                        .webhook_attempts(id, task)?
                        .unwrap_or((0, String::new()));
                    out.push(
                        json!({ "step": step, "attempts": attempts, "last_error": last_error }),
                    );
                }
                Ok(out)
            })
            .await?;
            json["webhooks"] = json!(attempts);
        }
    }
    Ok(Json(json))
}

/// A topic without the options Waymark reads from it (`email:NAME?survey=…` is `email:NAME`).
fn topic_name(topic: &str) -> &str {
    topic.split_once('?').map_or(topic, |(name, _)| name)
}

/// Work for systems (service and send tasks), by topic: for workers holding a worker key
/// issued for the topic (or an administrator).
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkQuery {
    /// Only this topic, e.g. `budget-check`.
    topic: Option<String>,
    /// At most this many tasks (1–500; default 100).
    limit: Option<usize>,
    /// Where the page starts: the `next` of the page before.
    after: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/work",
    tag = "automation",
    security(("worker_key" = []), ("admin_token" = [])),
    params(WorkQuery),
    responses(
        (status = 200, description = "A page of the open worker tasks of the topics the key may work, oldest first, and the next page's start", body = Object),
        (status = 400, description = "A limit out of range, or a cursor that is not one", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not a worker key for the topic, nor an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn work(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<WorkQuery>,
) -> Result<Json<Value>, ApiError> {
    let caller = access::caller(&state, &headers).await?;
    if let Some(topic) = query.topic.as_deref()
        && !caller.may(Capability::Work(topic))
    {
        return Err(access::forbidden(&caller, Capability::Work(topic)));
    }
    if !matches!(caller, Caller::WorkerKey { .. }) && !caller.is_admin() {
        return Err(access::forbidden(
            &caller,
            Capability::Work(query.topic.as_deref().unwrap_or("…")),
        ));
    }
    let limit = crate::paging::limit(query.limit)?;
    let after = query.after.as_deref().map(inbox_cursor).transpose()?;
    let topic = query.topic.clone();
    let (tasks, next) = run(&state, move |store| {
        Ok(store.worker_tasks(topic.as_deref(), after, limit)?)
    })
    .await?;
    let tasks: Vec<Value> = tasks
        .iter()
        .filter(|t| {
            caller.may(Capability::Work(
                t.topic.as_deref().map(topic_name).unwrap_or_default(),
            ))
        })
        .map(task_json)
        .collect();
    let next = next.map(|k| format!("{}.{}.{}", k.created_us, k.instance, k.task));
    Ok(Json(json!({ "tasks": tasks, "next": next })))
}

/// A worker finished a task; its result (a JSON object) becomes process variables.
#[utoipa::path(
    post,
    path = "/v1/work/{id}/complete",
    tag = "automation",
    security(("worker_key" = []), ("admin_token" = [])),
    params(("id" = String, Path, description = "The task id, e.g. 12-3")),
    request_body(content = Object, description = "The result"),
    responses(
        (status = 200, description = "Done", body = Object),
        (status = 404, description = "No such worker task", body = crate::openapi::ErrorBody),
        (status = 409, description = "The task is no longer open", body = crate::openapi::ErrorBody),
        (status = 422, description = "The result writes a variable Waymark keeps itself", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not a worker key for the task's topic, nor an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn complete_work(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    let caller = access::caller(&state, &headers).await?;
    let TaskId { instance, task } = id.parse()?;
    let values = object(&body)?;
    let now = state.clock.now_us();
    let found = run(&state, move |store| Ok(store.task(instance, task)?)).await?;
    let Some(found) = found.filter(|t| t.kind == "worker") else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("there is no worker task {id}"),
            field: Some("id".into()),
            accepted: None,
        });
    };
    let topic = found.topic.as_deref().map(topic_name).unwrap_or_default();
    if !caller.may(Capability::Work(topic)) {
        return Err(access::forbidden(&caller, Capability::Work(topic)));
    }
    let by = actor(&caller);
    working(&state, move |store| {
        Ok(store.advance(
            instance,
            Command::Complete {
                task,
                variables: values,
            },
            &by,
            now,
        )?)
    })
    .await?;
    Ok(Json(json!({ "task": id, "done": "complete" })))
}

/// Hands a collected event to the workflow: a `track` call named like an awaited message
/// continues the requests of the person it is about (`userId`), and starts a request of every
/// process whose start event waits for it. Each happens at most once per message id, recorded
/// in the step's own transaction, so handing the same event over again changes nothing. Of
/// the event's properties, the engine takes only the variables the process declares for the
/// message, each checked for its kind. Returns how many instances moved or started.
pub fn correlate(store: &dyn Store, message: Message, now: i64) -> usize {
    let Message {
        name,
        user,
        properties,
        id,
    } = message;
    let mut moved = 0;
    match store.awaiting(&name, &user) {
        Ok(waiting) => {
            for instance in waiting {
                let command = Command::Message {
                    name: name.clone(),
                    variables: properties.clone(),
                };
                match store.advance_once(instance, command, now, &id) {
                    Ok(Some(_)) => moved += 1,
                    // Delivered before (a retry, or the outbox after a crash).
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(instance, %error, "a message could not continue the instance")
                    }
                }
            }
        }
        Err(error) => tracing::warn!(%error, "requests waiting for a message could not be read"),
    }
    let starts = match store.message_starts() {
        Ok(starts) => starts,
        Err(error) => {
            tracing::warn!(%error, "processes started by messages could not be read");
            return moved;
        }
    };
    // Waymark's own processes start from what Waymark saw, never from an event someone sent.
    for (_, process) in starts
        .iter()
        .filter(|(message, process)| *message == name && !crate::followups::reserved(process))
    {
        match store.start_on_message(process, &user, &name, properties.clone(), &id, now) {
            Ok(Some(instance)) => {
                tracing::info!(instance, process, event = %name, "a collected event started a request");
                moved += 1;
            }
            // The same event again (a retry): it started its request the first time.
            Ok(None) => {}
            Err(error) => tracing::warn!(process, %error, "a message could not start the process"),
        }
    }
    moved
}

/// A collected `track` event of a person, as the workflow reads it.
#[derive(Debug, Clone)]
pub struct Message {
    pub name: String,
    /// The `userId`: whose requests it continues, and the requester of one it starts.
    pub user: String,
    pub properties: Map<String, Value>,
    /// The event's message id: the event acts once per instance, however often it is sent.
    pub id: String,
}

impl Message {
    /// The workflow's reading of a stored track call; `None` for other calls or without a
    /// `userId`.
    pub fn of(event: &waymark_store::NewEvent) -> Option<Message> {
        if event.kind != "track" {
            return None;
        }
        let properties = serde_json::from_str::<Value>(&event.body)
            .ok()
            .and_then(|b| b.get("properties").and_then(Value::as_object).cloned())
            .unwrap_or_default();
        Some(Message {
            name: event.name.clone()?,
            user: event.user_id.clone()?,
            properties,
            id: event.message_id.clone(),
        })
    }
}

/// Hands the track calls waiting in the message outbox to the workflow, oldest first, each
/// taken out once handed over. Runs right after events sent with a server key are stored, and
/// on the timer loop, which finishes what a crash interrupted. Returns how many it handed over.
pub fn drain_outbox(store: &dyn Store, now: i64) -> usize {
    drain_outbox_waiting(store, now, true)
}

/// [`drain_outbox`] from the timer loop: it does nothing while another hand-over runs.
pub fn drain_outbox_if_free(store: &dyn Store, now: i64) -> usize {
    drain_outbox_waiting(store, now, false)
}

fn drain_outbox_waiting(store: &dyn Store, now: i64, wait: bool) -> usize {
    // One hand-over at a time, so no message is handed over by two at once.
    let Some(_turn) = store.outbox_turn(wait) else {
        return 0;
    };
    let mut handed = 0;
    loop {
        let batch = match store.outbox(512) {
            Ok(batch) => batch,
            Err(error) => {
                tracing::warn!(%error, "the message outbox could not be read");
                return handed;
            }
        };
        if batch.is_empty() {
            return handed;
        }
        // Which messages anything waits for, read once per batch: the rest only leave the box.
        let awaited: std::collections::HashSet<String> = match store.awaited_messages() {
            Ok(names) => names,
            Err(error) => {
                tracing::warn!(%error, "the awaited messages could not be read");
                return handed;
            }
        };
        let mut done = Vec::with_capacity(batch.len());
        for (seq, event) in batch {
            if let Some(message) = Message::of(&event).filter(|m| awaited.contains(&m.name)) {
                correlate(store, message, now);
            }
            done.push(seq);
        }
        if let Err(error) = store.outbox_done(&done) {
            tracing::warn!(%error, "handed-over messages stay in the outbox");
            return handed;
        }
        handed += done.len();
    }
}

/// Whether collected events matter to the workflow at all: some request waits for a message, or
/// some process starts on one.
pub fn messages_awaited(store: &dyn Store) -> bool {
    store.has_subscriptions().unwrap_or(false)
        || store
            .message_starts()
            .is_ok_and(|starts| !starts.is_empty())
}

/// Fires the timers that are due, each claimed first (found by due time, leased to this node for
/// `lease_us`, so no two nodes fire one; what a node that died had claimed is fired by another
/// once the lease ends). Returns how many fired.
pub fn fire_due_timers(store: &dyn Store, now: i64, lease_us: i64) -> usize {
    let Ok(due) = store.claim_jobs(JobKind::Timer, now, lease_us, 256) else {
        return 0;
    };
    let mut fired = 0;
    for job in due {
        let (instance, timer) = (job.instance, job.item);
        match store.advance(instance, Command::FireTimer { timer }, "system", now) {
            Ok(_) => fired += 1,
            Err(error) => {
                tracing::warn!(instance, timer, attempts = job.attempts, %error, "a due timer could not fire")
            }
        }
    }
    fired
}

fn link_refused(error: crate::mail::LinkError) -> ApiError {
    match error {
        crate::mail::LinkError::Forged => ApiError {
            status: StatusCode::FORBIDDEN,
            code: "forbidden",
            message: "this link is not valid".into(),
            field: Some("token".into()),
            accepted: None,
        },
        crate::mail::LinkError::Expired => ApiError {
            status: StatusCode::GONE,
            code: "expired",
            message: "this link has expired; open the request from \"My requests\" instead".into(),
            field: Some("token".into()),
            accepted: None,
        },
    }
}

/// What an emailed link opens: the request and the person's next step in it. The signed link is
/// the credential; it works for one person, one request, and a limited time.
#[utoipa::path(
    get,
    path = "/v1/links/{token}",
    tag = "automation",
    security(()),
    params(("token" = String, Path, description = "The signed link token from the email")),
    responses(
        (status = 200, description = "The request and the person's open step", body = Object),
        (status = 403, description = "The link is not valid", body = crate::openapi::ErrorBody),
        (status = 410, description = "The link has expired", body = crate::openapi::ErrorBody),
    )
)]
pub async fn open_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let grant = state
        .links
        .check(&token, state.clock.now_us())
        .map_err(link_refused)?;
    let view = run(&state, move |store| {
        crate::mail::link_view(store, &grant)
            .map_err(|e| WorkflowError::Unreadable("link".into(), e))
    })
    .await?;
    Ok(Json(view))
}

/// Submits the form of the step an emailed link opens (its values as a JSON object), as the
/// person the link was sent to.
#[utoipa::path(
    post,
    path = "/v1/links/{token}",
    tag = "automation",
    security(()),
    params(("token" = String, Path, description = "The signed link token from the email")),
    request_body(content = Object, description = "The form's values"),
    responses(
        (status = 200, description = "Submitted", body = Object),
        (status = 403, description = "The link is not valid", body = crate::openapi::ErrorBody),
        (status = 409, description = "Nothing is waiting for this person", body = crate::openapi::ErrorBody),
        (status = 410, description = "The link has expired", body = crate::openapi::ErrorBody),
    )
)]
pub async fn submit_link(
    State(state): State<AppState>,
    Path(token): Path<String>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now_us();
    let grant = state.links.check(&token, now).map_err(link_refused)?;
    let values = object(&body)?;
    let person = grant.person.clone();
    let mailer = state.mailer.clone();
    let done = working(&state, move |store| {
        let Some(user) = store.user(&grant.person)? else {
            return Ok(None);
        };
        let open = store
            .instance_tasks(grant.instance)?
            .into_iter()
            .find(|t| t.status == "open" && t.kind == "user" && t.is_for(&user));
        let Some(task) = open else {
            return Ok(None);
        };
        let id = TaskId::of(&task);
        crate::work::complete(store, &user, id, values, now)?;
        crate::changes::settle(store, mailer.as_deref(), now);
        Ok(Some(id))
    })
    .await?;
    match done {
        Some(task) => Ok(Json(
            json!({ "task": task.to_string(), "done": "complete", "by": person }),
        )),
        None => Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "conflict",
            message: "nothing in this request is waiting for you".into(),
            field: None,
            accepted: None,
        }),
    }
}

/// Deploys a form (Camunda Forms JSON, the form-js schema) under a key that process models name
/// in `formKey` (`waymark:KEY` or `camunda-forms:app:KEY.form`). Submissions to those start events
/// and tasks are then checked against it.
#[utoipa::path(
    post,
    path = "/v1/forms/{key}",
    tag = "automation",
    security(("admin_token" = [])),
    params(("key" = String, Path, description = "The form's key")),
    request_body(content = Object, description = "A Camunda Forms (form-js) schema"),
    responses(
        (status = 200, description = "Stored", body = Object),
        (status = 400, description = "Not a form Waymark can use; `field` is the JSON pointer", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
        (status = 403, description = "Not an administrator", body = crate::openapi::ErrorBody),
    )
)]
pub async fn put_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    body: String,
) -> Result<Json<Value>, ApiError> {
    admin_only(&state, &headers).await?;
    if crate::followups::reserved(&key) {
        return Err(ApiError::bad_request(
            "reserved_id",
            format!(
                "`{key}`: form keys that start with `waymark-` are Waymark's own forms; give yours another key"
            ),
            "key",
        ));
    }
    let json: Value = serde_json::from_str(&body).map_err(|e| {
        ApiError::bad_request(
            "invalid_json",
            e.to_string(),
            format!("line {} column {}", e.line(), e.column()),
        )
    })?;
    if let Err(errors) = waymark_workflow::forms::from_form_js(&key, &json) {
        let first = errors.first().map(|e| e.field.clone()).unwrap_or_default();
        return Err(ApiError::bad_request(
            "invalid_form",
            errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            first,
        ));
    }
    let now = state.clock.now_us();
    let stored = key.clone();
    let version = run(
        &state,
        move |store| Ok(store.put_form(&stored, &body, now)?),
    )
    .await?;
    Ok(Json(json!({ "key": key, "version": version })))
}

/// A process's start form for the caller: the schema, and the values Waymark fills in from what
/// it knows about them (so they never type it).
#[utoipa::path(
    get,
    path = "/v1/processes/{id}/form",
    tag = "automation",
    security(("user_token" = [])),
    params(("id" = String, Path, description = "The process id")),
    responses(
        (status = 200, description = "The form (null when none is deployed) and its prefilled values", body = Object),
        (status = 404, description = "No such process", body = crate::openapi::ErrorBody),
        (status = 401, description = "No valid token", body = crate::openapi::ErrorBody),
    )
)]
pub async fn start_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user = person(&state, &headers).await?;
    let view = working(&state, move |store| {
        Ok(match crate::work::start_form(store, &id, &user)? {
            None => json!({ "form": null, "prefill": {} }),
            Some((key, None)) => {
                json!({ "key": waymark_workflow::forms::key_of(&key), "form": null, "prefill": {} })
            }
            Some((_, Some(view))) => {
                json!({ "key": view.key, "form": view.schema, "prefill": view.prefill })
            }
        })
    })
    .await?;
    Ok(Json(view))
}
