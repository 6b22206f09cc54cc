//! Work: the inbox, the forms of tasks and of requests to start, and "my requests" with where
//! each one stands. Who may see and do what is decided by `waymark_server::work`, as for the API.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use std::collections::HashMap;

use serde_json::{Map, Value};
use waymark_server::work::{self as ops, FormView, TaskId, WorkError};
use waymark_store::prelude::*;
use waymark_store::workflow::TaskRow;

use crate::Web;
use crate::layout::{failure, page, problem, when};
use crate::session::{Signed, check_csrf};

/// Runs an operation on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    web: &Web,
    call: impl FnOnce(&dyn Store) -> Result<T, WorkError> + Send + 'static,
) -> Result<T, WorkError> {
    let store = web.app.store.clone();
    match tokio::task::spawn_blocking(move || call(store.as_ref())).await {
        Ok(result) => result,
        Err(error) => Err(WorkError::Interrupted(error.to_string())),
    }
}

/// Why something cannot be shown or done, as a page.
pub(crate) fn refusal(error: WorkError, signed: &Signed) -> Response {
    match error {
        WorkError::NotFound(what) => problem(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!(
                "{}. It may have been finished or withdrawn.",
                capital(&what)
            ),
            Some(signed),
        ),
        WorkError::Refused => problem(
            StatusCode::FORBIDDEN,
            "This is not yours",
            "You can see only your own requests and the tasks given to you. The attempt has been recorded.",
            Some(signed),
        ),
        WorkError::NotAllowed(why) => problem(
            StatusCode::FORBIDDEN,
            "Someone else must do this",
            &format!("{}. The attempt has been recorded.", capital(&why)),
            Some(signed),
        ),
        WorkError::Conflict(what) => problem(
            StatusCode::CONFLICT,
            "Already done",
            &format!("{}: someone may have finished it already.", capital(&what)),
            Some(signed),
        ),
        WorkError::Bad { message, .. } => problem(
            StatusCode::BAD_REQUEST,
            "That did not work",
            &capital(&message),
            Some(signed),
        ),
        WorkError::Invalid(_) | WorkError::Workflow(_) | WorkError::Interrupted(_) => {
            failure(&error)
        }
    }
}

fn capital(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn csrf_field(signed: &Signed) -> Markup {
    html! { input type="hidden" name="csrf" value=(signed.csrf); }
}

/// A browser's fields read against the form (nothing without one).
fn read_form(
    form: Option<&waymark_workflow::forms::Form>,
    pairs: &[(String, String)],
) -> Map<String, Value> {
    form.map(|f| crate::form::read(f, pairs))
        .unwrap_or_default()
}

pub(crate) fn csrf_of(pairs: &[(String, String)]) -> Option<&str> {
    form_field(pairs, "csrf")
}

/// The first value a posted form gives `key`.
pub(crate) fn form_field<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// What a request's ids mean to people: the process's name, its steps' names and people's names.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub(crate) title: String,
    steps: HashMap<String, String>,
    people: HashMap<String, String>,
}

impl Names {
    /// The names for a request, read from its deployed process and the directory.
    pub(crate) fn of(store: &dyn Store, request: &ops::Request) -> Result<Names, WorkError> {
        let row = &request.instance;
        let (title, steps) = store
            .step_names(&row.process, row.version)
            .unwrap_or_else(|_| (row.process.clone(), HashMap::new()));
        let mut names = Names {
            title,
            steps,
            people: HashMap::new(),
        };
        let mut ids: Vec<&str> = vec![row.requester.as_str()];
        for task in &request.tasks {
            ids.extend(task.assignee.as_deref());
            ids.extend(task.completed_by.as_deref());
        }
        ids.extend(request.trail.iter().map(|a| a.actor.as_str()));
        for id in ids {
            if !names.people.contains_key(id)
                && let Some(user) = store.user(id)?
            {
                names.people.insert(id.to_string(), user.name);
            }
        }
        Ok(names)
    }

    pub(crate) fn person(&self, id: &str) -> String {
        match id {
            "system" => "Waymark".to_string(),
            _ => self
                .people
                .get(id)
                .cloned()
                .unwrap_or_else(|| id.to_string()),
        }
    }

    pub(crate) fn step(&self, id: &str) -> String {
        self.steps
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// A line of the audit trail in words.
    pub(crate) fn line(&self, line: &waymark_store::workflow::AuditRow) -> String {
        let step = line.node.as_deref().map(|n| self.step(n));
        let data = |key: &str| {
            line.data
                .get(key)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        match (line.action.as_str(), step) {
            ("started", _) => "started the request".to_string(),
            ("completed", Some(step)) => format!("completed “{step}”"),
            ("message", _) => format!(
                "“{}” arrived",
                data("message").unwrap_or_else(|| "a message".into())
            ),
            ("timer", Some(step)) => format!("a timer went off at “{step}”"),
            ("threw", Some(step)) => format!(
                "reported a problem at “{step}” ({})",
                line.data
                    .get("code")
                    .map(|c| c.to_string())
                    .unwrap_or_default()
            ),
            ("step", step) => {
                let step = step.unwrap_or_default();
                match data("event").as_deref() {
                    Some("Process Ended") => "the request ended".to_string(),
                    Some("Process Started") => format!("the request began (“{step}”)"),
                    Some("Task Started") => format!("“{step}” began"),
                    Some("Task Completed") => format!("“{step}” done"),
                    Some(event) => format!("{step}: {event}"),
                    None => step,
                }
            }
            ("claim", Some(step)) => format!("took “{step}”"),
            ("delegate", Some(step)) => format!(
                "handed “{step}” to {}",
                data("to").map(|to| self.person(&to)).unwrap_or_default()
            ),
            ("comment", _) => format!("commented: {}", data("text").unwrap_or_default()),
            ("cancelled", _) => format!(
                "cancelled the request: {}",
                data("reason").unwrap_or_default()
            ),
            ("reassign", Some(step)) => format!(
                "gave “{step}” to {}: {}",
                data("to").map(|to| self.person(&to)).unwrap_or_default(),
                data("reason").unwrap_or_default()
            ),
            ("retried", Some(step)) => format!(
                "called “{step}” again: {}",
                data("reason").unwrap_or_default()
            ),
            ("refused", _) => format!(
                "was refused ({})",
                data("attempt").unwrap_or_else(|| "an attempt".into())
            ),
            ("task created", Some(step)) => format!("“{step}” was given out"),
            (action, Some(step)) => format!("{action}: {step}"),
            (action, None) => action.to_string(),
        }
    }

    /// Whether a line is for everyone who may see the request (people see what was done and by
    /// whom; administrators also see the engine's own bookkeeping).
    pub(crate) fn for_people(line: &waymark_store::workflow::AuditRow) -> bool {
        match line.action.as_str() {
            "task created" => false,
            "step" => line.data.get("event").and_then(Value::as_str) == Some("Process Ended"),
            _ => true,
        }
    }
}

/// Who has a task: a person, or the groups it is offered to.
fn with_whom(task: &TaskRow, signed: &Signed, names: &Names) -> String {
    if task.kind == "worker" {
        return "an automated step".to_string();
    }
    match &task.assignee {
        Some(who) if who == &signed.user.id => "You".to_string(),
        Some(who) => names.person(who),
        None if !task.candidate_groups.is_empty() => {
            let groups: Vec<String> = task
                .candidate_groups
                .iter()
                .map(|g| department_name(g))
                .collect();
            format!("Offered to {}", groups.join(", "))
        }
        None => format!("Offered to {}", task.candidate_users.join(", ")),
    }
}

pub(crate) fn due(task: &TaskRow, now: i64) -> Markup {
    html! {
        @if let Some(due) = task.due_us {
            @if due < now {
                span.badge.overdue { "Overdue" } " since " (when(due))
            } @else {
                "Due " (when(due))
            }
        }
    }
}

/// The inbox: tasks given to the person or offered to their groups.
pub(crate) async fn inbox(
    State(web): State<Web>,
    signed: Signed,
    Query(paging): Query<Paging>,
) -> Response {
    let user = signed.user.clone();
    let page_number = paging.page;
    let found = blocking(&web, move |store| {
        let tasks = ops::inbox(store, &user)?;
        // Who asks and for what, for the tasks on this page.
        let (shown, _) = paged(&tasks, page_number, "/work?");
        let headlines = shown
            .iter()
            .map(|t| about(store, &user, t.instance))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((tasks, headlines))
    })
    .await;
    let (tasks, headlines) = match found {
        Ok(found) => found,
        Err(error) => return refusal(error, &signed),
    };
    let now = web.app.clock.now_us();
    let overdue = tasks
        .iter()
        .filter(|t| t.due_us.is_some_and(|d| d < now))
        .count();
    let (shown, pager) = paged(&tasks, paging.page, "/work?");
    let content = html! {
        @if tasks.is_empty() {
            p.notice { "Nothing is waiting for you." }
        } @else {
            p { (tasks.len()) " waiting for you, oldest first"
                @if overdue > 0 { "; " strong { (overdue) " overdue" } } "." }
            ul.cards {
                @for (task, (title, requester, facts)) in shown.iter().zip(&headlines) {
                    li.card {
                        h2 { a href=(format!("/work/tasks/{}", TaskId::of(task))) { (task.name) } }
                        p.meta {
                            (title)
                            @if let Some((_, what)) = facts.first() { ": " (what) }
                        }
                        p.meta {
                            "Asked by " (requester) ", request " (task.instance)
                            @if task.assignee.is_none() { " · " (with_whom(task, &signed, &Names::default())) }
                        }
                        p.meta { (due(task, now)) }
                        @if task.assignee.is_none() {
                            form method="post" action=(format!("/work/tasks/{}/claim", TaskId::of(task))) {
                                (csrf_field(&signed))
                                button.secondary type="submit" { "Take it: " (task.name) }
                            }
                        }
                    }
                }
            }
            (pager)
        }
        p { a href="/work/start" { "Request something" } }
    };
    page("Your inbox", Some(&signed), content).into_response()
}

/// A task with its form.
pub(crate) async fn task(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
) -> Response {
    show_task(&web, &signed, &id, &Map::new(), &[], StatusCode::OK).await
}

async fn show_task(
    web: &Web,
    signed: &Signed,
    id: &str,
    values: &Map<String, Value>,
    errors: &[waymark_workflow::forms::FieldError],
    status: StatusCode,
) -> Response {
    let id: TaskId = match id.parse() {
        Ok(id) => id,
        Err(error) => return refusal(error, signed),
    };
    let user = signed.user.clone();
    let now = web.app.clock.now_us();
    let found = blocking(web, move |store| {
        let task = ops::open_task(store, &user, id, "open", now)?;
        let view = match &task.form {
            Some(key) => ops::form(store, key, &user)?,
            None => None,
        };
        let row = store.instance(task.instance)?;
        let about = about_row(store, &user, row.as_ref())?;
        // A journey change: where its map and diff are shown in full.
        let change = row
            .filter(|row| row.process == waymark_server::changes::PROCESS)
            .and_then(|row| waymark_server::changes::proposal_path(&row.state.variables));
        Ok((task, view, about, change))
    })
    .await;
    let (task, view, (title, requester, facts), change) = match found {
        Ok(found) => found,
        Err(error) => return refusal(error, signed),
    };
    let content = html! {
        p.meta {
            (title) ", request " (task.instance) ", asked by " (requester) " · "
            @if task.assignee.as_deref() == Some(signed.user.id.as_str()) { "assigned to you" }
            @else { (with_whom(&task, signed, &Names::default())) }
            " · " (due(&task, now))
        }
        (asked(&facts))
        @if let Some(path) = &change {
            p { a href=(path) { "See the proposed version: its map and what it changes" } }
        }
        @if task.assignee.is_none() {
            p.notice { "This task is offered to your group. Completing it makes it yours." }
        }
        form method="post" action=(format!("/work/tasks/{id}")) novalidate {
            (csrf_field(signed))
            @if let Some(view) = &view {
                (crate::form::fields(&view.form, values, &view.prefill, errors))
            }
            (crate::form::submit(view.as_ref().map(|v| &v.form), "Send"))
        }
        details.delegate {
            summary { "Hand it to someone else" }
            form method="post" action=(format!("/work/tasks/{id}/delegate")) {
                (csrf_field(signed))
                div.field {
                    label for="delegate-to" { "Who takes it over" }
                    p.hint #delegate-to-hint { "Their user id or email address, as in the directory." }
                    input #delegate-to name="to" type="text" autocomplete="off" aria-describedby="delegate-to-hint";
                }
                button.secondary type="submit" { "Hand it over" }
            }
        }
        p { a href=(format!("/work/requests/{}", task.instance)) { "See the whole request" } }
    };
    (status, page(&task.name, Some(signed), content)).into_response()
}

/// What a task is about, for the person doing it: the request's name, who asked, and what they
/// entered in the start form (by the form's labels). The caller has checked the task is theirs.
/// A request's name, who asked, and (label, value) of what they entered.
pub(crate) type About = (String, String, Vec<(String, String)>);

pub(crate) fn about(
    store: &dyn Store,
    user: &waymark_store::workflow::User,
    instance: i64,
) -> Result<About, WorkError> {
    about_row(store, user, store.instance(instance)?.as_ref())
}

/// [`about`] of an instance already read (none: nothing to say).
fn about_row(
    store: &dyn Store,
    user: &waymark_store::workflow::User,
    row: Option<&waymark_store::workflow::InstanceRow>,
) -> Result<About, WorkError> {
    let Some(row) = row else {
        return Ok((String::new(), String::new(), Vec::new()));
    };
    let instance = row.id;
    let (title, _) = store
        .step_names(&row.process, row.version)
        .unwrap_or_else(|_| (row.process.clone(), HashMap::new()));
    let requester = store
        .user(&row.requester)?
        .map_or_else(|| row.requester.clone(), |u| u.name);
    // A follow-up is started by Waymark, not by a form: it shows the customer it is about.
    let mut facts = if row.process == waymark_server::followups::PROCESS {
        waymark_server::followups::facts(&row.state.variables)
    } else if row.process == waymark_server::changes::PROCESS {
        // A journey change is proposed by Waymark for its author: the answers to decide on.
        waymark_server::changes::facts(&row.state.variables)
    } else {
        Vec::new()
    };
    let mut shown = std::collections::HashSet::new();
    // The start form first, then the forms of the steps done since (Finance's later steps show
    // the supplier and the purchase order entered before), each value once, by its label.
    let mut forms: Vec<String> = store.start_form(&row.process)?.into_iter().collect();
    forms.extend(
        store
            .instance_tasks(instance)?
            .into_iter()
            .filter(|t| t.kind == "user" && t.status == "completed")
            .filter_map(|t| t.form),
    );
    for key in forms {
        let Some(view) = ops::form(store, &key, user)? else {
            continue;
        };
        for field in &view.form.fields {
            let Some(value) = row.state.variables.get(&field.key) else {
                continue;
            };
            let text = match value {
                Value::Null => continue,
                Value::Bool(true) => "yes".to_string(),
                Value::Bool(false) => "no".to_string(),
                Value::String(s) if s.trim().is_empty() => continue,
                Value::String(s) => readable(store, field, s)?,
                other => other.to_string(),
            };
            if shown.insert(field.key.clone()) {
                facts.push((field.label.clone(), text));
            }
        }
    }
    Ok((title, requester, facts))
}

/// A value as people read it: a person filled in from the directory by their name, a department
/// by its name rather than its id.
fn readable(
    store: &dyn Store,
    field: &waymark_workflow::forms::Field,
    value: &str,
) -> Result<String, WorkError> {
    let from = field.prefill.as_deref().unwrap_or_default();
    if from.ends_with(".manager") || from == "requester" || from == "requester.id" {
        return Ok(store
            .user(value)?
            .map_or_else(|| value.to_string(), |u| u.name));
    }
    if from.ends_with(".department") {
        return Ok(department_name(value));
    }
    Ok(value.to_string())
}

/// A department's name from its id in the directory: `customer-success` is "Customer Success";
/// words of one or two letters are initials (`hr` is "HR").
pub(crate) fn department_name(id: &str) -> String {
    id.split(['-', '_', ' '])
        .filter(|w| !w.is_empty())
        .map(|word| {
            if word.len() <= 2 {
                word.to_uppercase()
            } else {
                let mut letters = word.chars();
                letters.next().map_or_else(String::new, |first| {
                    first.to_uppercase().chain(letters).collect()
                })
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What the requester entered, folded open above a task's form.
pub(crate) fn asked(facts: &[(String, String)]) -> Markup {
    html! {
        @if !facts.is_empty() {
            details.request open {
                summary { "What was asked, and entered since" }
                dl.facts {
                    @for (label, value) in facts { dt { (label) } dd { (value) } }
                }
            }
        }
    }
}

/// The task a form posted to `/work/tasks/{id}/…` acts on, once its CSRF token holds.
fn posted_task(
    signed: &Signed,
    id: &str,
    pairs: &[(String, String)],
) -> Result<TaskId, Box<Response>> {
    if let Some(refused) = check_csrf(signed, csrf_of(pairs)) {
        return Err(Box::new(refused));
    }
    id.parse().map_err(|error| Box::new(refusal(error, signed)))
}

/// Completes a task with its form.
pub(crate) async fn complete(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let task = match posted_task(&signed, &id, &pairs) {
        Ok(task) => task,
        Err(refused) => return *refused,
    };
    let user = signed.user.clone();
    let now = web.app.clock.now_us();
    let mailer = web.app.mailer.clone();
    let done = blocking(&web, move |store| {
        // What was read from the browser, to show again with the problems.
        let mut values = Map::new();
        let completed = ops::complete_reading(
            store,
            &user,
            task,
            |form| {
                values = read_form(form, &pairs);
                values.clone()
            },
            now,
        );
        match completed {
            Ok(found) => {
                // A journey change decided now is published (or sent back) before the page.
                waymark_server::changes::settle(store, mailer.as_deref(), now);
                Ok(Ok(found.instance))
            }
            Err(WorkError::Invalid(errors)) => Ok(Err((values, errors))),
            Err(other) => Err(other),
        }
    })
    .await;
    match done {
        Ok(Ok(instance)) => {
            Redirect::to(&format!("/work/requests/{instance}?done={id}")).into_response()
        }
        Ok(Err((values, errors))) => {
            show_task(
                &web,
                &signed,
                &id,
                &values,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(error) => refusal(error, &signed),
    }
}

/// Takes a task offered to the person's group.
pub(crate) async fn claim(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let task = match posted_task(&signed, &id, &pairs) {
        Ok(task) => task,
        Err(refused) => return *refused,
    };
    let user = signed.user.clone();
    let now = web.app.clock.now_us();
    match blocking(&web, move |store| ops::claim(store, &user, task, now)).await {
        Ok(()) => Redirect::to(&format!("/work/tasks/{id}")).into_response(),
        Err(error) => refusal(error, &signed),
    }
}

/// Hands a task to someone else (by user id or email).
pub(crate) async fn delegate(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let task = match posted_task(&signed, &id, &pairs) {
        Ok(task) => task,
        Err(refused) => return *refused,
    };
    let to = pairs
        .iter()
        .find(|(k, _)| k == "to")
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    let user = signed.user.clone();
    let now = web.app.clock.now_us();
    let done = blocking(&web, move |store| {
        // An email address stands for the person it belongs to.
        let to = match store.user_by_email(&to)? {
            Some(found) => found.id,
            None => to,
        };
        ops::delegate(store, &user, task, &to, now)
    })
    .await;
    match done {
        Ok(()) => Redirect::to(&format!("/work/requests/{}?delegated={id}", task.instance))
            .into_response(),
        Err(error) => refusal(error, &signed),
    }
}

/// What the person can start.
pub(crate) async fn startable(State(web): State<Web>, signed: Signed) -> Response {
    let list = match blocking(&web, |store| Ok(store.startable()?)).await {
        Ok(list) => list,
        Err(error) => return refusal(error, &signed),
    };
    let content = html! {
        @if list.is_empty() {
            p.notice { "Nothing can be requested here yet." }
        } @else {
            ul.cards {
                @for (id, name, _) in &list {
                    li.card { h2 { a href=(format!("/work/start/{id}")) { (name) } } }
                }
            }
        }
    };
    page("Request something", Some(&signed), content).into_response()
}

async fn show_start(
    web: &Web,
    signed: &Signed,
    process: String,
    values: &Map<String, Value>,
    errors: &[waymark_workflow::forms::FieldError],
    status: StatusCode,
) -> Response {
    let user = signed.user.clone();
    let id = process.clone();
    let found = blocking(web, move |store| {
        let name = store
            .process(&id, None)?
            .map(|p| p.name)
            .unwrap_or_else(|| id.clone());
        let view: Option<FormView> = ops::start_form(store, &id, &user)?.and_then(|(_, view)| view);
        Ok((name, view))
    })
    .await;
    let (name, view) = match found {
        Ok(found) => found,
        Err(error) => return refusal(error, signed),
    };
    let content = html! {
        form method="post" action=(format!("/work/start/{process}")) novalidate {
            (csrf_field(signed))
            @if let Some(view) = &view {
                (crate::form::fields(&view.form, values, &view.prefill, errors))
            }
            (crate::form::submit(view.as_ref().map(|v| &v.form), "Send the request"))
        }
    };
    (status, page(&name, Some(signed), content)).into_response()
}

/// The start form of a process.
pub(crate) async fn start_page(
    State(web): State<Web>,
    signed: Signed,
    Path(process): Path<String>,
) -> Response {
    show_start(&web, &signed, process, &Map::new(), &[], StatusCode::OK).await
}

/// Starts a request.
pub(crate) async fn start(
    State(web): State<Web>,
    signed: Signed,
    Path(process): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    if let Some(refused) = check_csrf(&signed, csrf_of(&pairs)) {
        return refused;
    }
    let user = signed.user.clone();
    let now = web.app.clock.now_us();
    let id = process.clone();
    let started = blocking(&web, move |store| {
        let mut values = Map::new();
        let started = ops::start_reading(
            store,
            &user,
            &id,
            |form| {
                values = read_form(form, &pairs);
                values.clone()
            },
            now,
        );
        match started {
            Ok(instance) => Ok(Ok(instance)),
            Err(WorkError::Invalid(errors)) => Ok(Err((values, errors))),
            Err(other) => Err(other),
        }
    })
    .await;
    match started {
        Ok(Ok(instance)) => {
            Redirect::to(&format!("/work/requests/{instance}?started=1")).into_response()
        }
        Ok(Err((values, errors))) => {
            show_start(
                &web,
                &signed,
                process,
                &values,
                &errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(error) => refusal(error, &signed),
    }
}

pub(crate) fn status_words(status: &str) -> &'static str {
    match status {
        "running" => "In progress",
        "completed" => "Done",
        "terminated" => "Stopped",
        "cancelled" => "Cancelled by an administrator",
        "failed" => "Stuck: an administrator has been told",
        _ => "Unknown",
    }
}

/// "My requests": where each of the person's requests stands.
pub(crate) async fn my_requests(
    State(web): State<Web>,
    signed: Signed,
    Query(paging): Query<Paging>,
) -> Response {
    let user = signed.user.clone();
    let list = match blocking(&web, move |store| {
        ops::my_requests(store, &user)?
            .into_iter()
            .map(|r| {
                let awaited = store.awaited_by(r.instance.id)?;
                Names::of(store, &r).map(|n| (r, (n, awaited)))
            })
            .collect::<Result<Vec<_>, WorkError>>()
    })
    .await
    {
        Ok(list) => list,
        Err(error) => return refusal(error, &signed),
    };
    let (shown, pager) = paged(&list, paging.page, "/work/requests?");
    let content = html! {
        @if list.is_empty() {
            p.notice { "You have not requested anything yet. " a href="/work/start" { "Request something" } }
        } @else {
            ul.cards {
                @for (request, (names, awaited)) in shown {
                    @let open: Vec<&TaskRow> = request.tasks.iter().filter(|t| t.status == "open").collect();
                    li.card {
                        h2 { a href=(format!("/work/requests/{}", request.instance.id)) {
                            (names.title) " (request " (request.instance.id) ")"
                        } }
                        p.meta {
                            span.badge.done[request.instance.status == "completed"].open[request.instance.status == "running"] {
                                (status_words(&request.instance.status))
                            }
                            " · started " (when(request.instance.started_us))
                            @let done = request.tasks.iter().filter(|t| t.status == "completed").count();
                            " · " (done) @if done == 1 { " step done" } @else { " steps done" }
                        }
                        @if !open.is_empty() || !awaited.is_empty() {
                            p.meta { "Now: "
                                @for (n, task) in open.iter().enumerate() {
                                    @if n > 0 { ", " }
                                    (task.name) " (" (with_whom(task, &signed, names)) ")"
                                }
                                @for (n, message) in awaited.iter().enumerate() {
                                    @if n > 0 || !open.is_empty() { ", " }
                                    "waiting for “" (message) "”"
                                }
                            }
                        }
                    }
                }
            }
            (pager)
        }
    };
    page("My requests", Some(&signed), content).into_response()
}

/// Which page of a long list to show.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Paging {
    page: Option<usize>,
}

/// Items on a page of a list.
pub(crate) const PAGE: usize = 20;

/// The items of page `page` (from 1), and the links to the pages around it.
pub(crate) fn paged<'a, T>(items: &'a [T], page: Option<usize>, base: &str) -> (&'a [T], Markup) {
    let pages = items.len().div_ceil(PAGE).max(1);
    let page = page.unwrap_or(1).clamp(1, pages);
    let shown = &items[(page - 1) * PAGE..(page * PAGE).min(items.len())];
    let pager = html! {
        @if pages > 1 {
            nav.pager aria-label="Pages" {
                @if page > 1 { a rel="prev" href=(format!("{base}page={}", page - 1)) { "← Newer" } }
                span { "Page " (page) " of " (pages) " (" (items.len()) " in all)" }
                @if page < pages { a rel="next" href=(format!("{base}page={}", page + 1)) { "Older →" } }
            }
        }
    };
    (shown, pager)
}

/// One request: its steps as a progress view, who has it now, and its history. Administrators
/// see every request, with the whole audit trail.
/// What the page a person lands on after acting says was done.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Confirm {
    /// A task completed (its id).
    done: Option<String>,
    /// The request was just sent.
    started: Option<String>,
    /// A task handed over (its id).
    delegated: Option<String>,
    /// The demo sent the event the request waited for.
    sent: Option<String>,
    /// An administrator cancelled the request, gave a step to someone else, or called a
    /// webhook again.
    cancelled: Option<String>,
    reassigned: Option<String>,
    retried: Option<String>,
}

impl Confirm {
    fn sentence(&self) -> Option<String> {
        if self.started.is_some() {
            return Some("Your request was sent. You can follow it here; we email you when something needs you.".into());
        }
        if self.done.is_some() {
            return Some(
                "Thank you: your answer was recorded and the request has moved on.".into(),
            );
        }
        if self.delegated.is_some() || self.reassigned.is_some() {
            return Some("Handed over: it is in their inbox now.".into());
        }
        if self.cancelled.is_some() {
            return Some("The request was cancelled; the reason is in its history.".into());
        }
        if self.retried.is_some() {
            return Some("The webhook will be called again in a moment.".into());
        }
        self.sent
            .as_ref()
            .map(|message| format!("“{message}” was sent, as the other system would send it."))
    }
}

pub(crate) async fn request(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    Query(confirm): Query<Confirm>,
) -> Response {
    let admin = crate::admin::is_admin(&signed);
    let viewer = crate::admin::viewer(&signed);
    let now = web.app.clock.now_us();
    let manages = crate::admin::may_administer(&signed);
    let found = blocking(&web, move |store| {
        let request = ops::request(store, &viewer, id, now)?;
        let names = Names::of(store, &request)?;
        let awaited = store.awaited_by(id)?;
        let offer = if manages {
            Some(crate::manage::offer(store, &request.tasks)?)
        } else {
            None
        };
        Ok((request, names, awaited, offer))
    })
    .await;
    let (request, names, awaited, offer) = match found {
        Ok(found) => found,
        Err(error) => return refusal(error, &signed),
    };
    let row = &request.instance;
    let finished = row.status != "running";
    // The demo can send what a request waits for, as the other system would (its requester or
    // an administrator).
    let demo_sends = web.demo && (admin || row.requester == signed.user.id);
    let content = html! {
        @if let Some(sentence) = confirm.sentence() {
            p.notice role="status" { (sentence) }
        }
        p.meta {
            span.badge.done[row.status == "completed"].open[row.status == "running"] { (status_words(&row.status)) }
            " · request " (row.id) " · started by " (names.person(&row.requester)) " on " (when(row.started_us))
        }
        h2 { "Where it stands" }
        ol.progress aria-label="Steps so far" {
            @for task in &request.tasks {
                @let open = task.status == "open";
                li.done[task.status == "completed"].current[open] aria-current=[open.then_some("step")] {
                    (task.name) " — "
                    @match task.status.as_str() {
                        "open" => {
                            span.badge.open { "Now" } " with " (with_whom(task, &signed, &names))
                            " · " (due(task, now))
                            @if task.is_for(&signed.user) && task.kind == "user" {
                                " · " a href=(format!("/work/tasks/{}", TaskId::of(task))) { "Open it" }
                            }
                        }
                        "completed" => {
                            span.badge.done { "Done" }
                            @if let Some(by) = &task.completed_by { " by " (names.person(by)) }
                        }
                        other => { (other) }
                    }
                }
            }
            @for message in &awaited {
                li.current aria-current="step" {
                    "Waiting for “" (message) "” — " span.badge.open { "Now" }
                    " · another system sends it when it happens"
                    @if demo_sends {
                        form.inline method="post" action=(format!("/demo/requests/{}/send", row.id)) {
                            input type="hidden" name="csrf" value=(signed.csrf);
                            input type="hidden" name="message" value=(message);
                            button type="submit" { "Demo: send “" (message) "” now" }
                        }
                    }
                }
            }
            @if finished {
                li.done { "Finished — " (status_words(&row.status)) " on " (when(row.updated_us)) }
            }
        }
        h2 { "History" }
        table {
            caption.visually-hidden { "Everything that happened in this request, oldest first" }
            thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } } }
            tbody {
                // People see their own refused attempts, never someone else's.
                @for line in request.trail.iter().filter(|a| admin || (Names::for_people(a) && (a.action != "refused" || a.actor == signed.user.id))) {
                    tr {
                        td { (when(line.at_us)) }
                        td { (names.person(&line.actor)) }
                        td { (names.line(line)) }
                    }
                }
            }
        }
        @if let Some(offer) = &offer {
            (crate::manage::section(&signed, row, &request.tasks, offer))
        }
        @if admin {
            p.meta { "Process " code { (row.process) } " version " (row.version) ". You see this request as an administrator." }
            p { a href="/admin/requests" { "All requests" } }
        }
    };
    page(&names.title, Some(&signed), content).into_response()
}

#[cfg(test)]
mod tests {
    use super::department_name;

    #[test]
    fn departments_read_as_names() {
        assert_eq!(department_name("customer-success"), "Customer Success");
        assert_eq!(department_name("finance"), "Finance");
        assert_eq!(department_name("hr"), "HR");
        assert_eq!(department_name("it_ops"), "IT Ops");
        assert_eq!(department_name(""), "");
    }
}
