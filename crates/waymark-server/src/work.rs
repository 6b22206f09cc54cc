//! What people do with requests and tasks — start one, see their inbox, work a task, follow
//! their requests — with who may do what checked in one place, for the JSON API and the web app
//! alike. Every operation runs on the blocking pool (it reads and writes the store) and says why
//! it cannot be done in a [`WorkError`]; a refusal is written to the request's audit trail here.

use serde_json::{Map, Value};
use waymark_store::prelude::*;
use waymark_store::workflow::{AuditRow, InstanceRow, TaskRow, User, WorkflowError};
use waymark_workflow::engine::{Command, Signal};
use waymark_workflow::forms::{FieldError, Form};

/// Why something cannot be done.
#[derive(Debug, thiserror::Error)]
pub enum WorkError {
    /// Nothing by that id.
    #[error("{0}")]
    NotFound(String),
    /// Not routed to the caller; the attempt is in the request's audit trail.
    #[error("this is not yours: you see only your own requests and the tasks routed to you")]
    Refused,
    /// Against a rule that holds for everyone (nobody decides on their own request), explained;
    /// the attempt is in the request's audit trail.
    #[error("{0}")]
    NotAllowed(String),
    /// The task is no longer open, or the request has moved on.
    #[error("{0}")]
    Conflict(String),
    /// The form's values have problems, each named by its field; nothing was stored.
    #[error("{}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// A mistake in what was asked, naming the field.
    #[error("{message}")]
    Bad {
        code: &'static str,
        message: String,
        field: String,
    },
    #[error(transparent)]
    Workflow(WorkflowError),
    /// The operation's thread stopped before it finished (a bug); nothing is known of its
    /// outcome beyond what the store committed.
    #[error("the work stopped before it finished: {0}")]
    Interrupted(String),
}

impl From<WorkflowError> for WorkError {
    /// What the engine refuses in the values given (an engine variable written, a due date that
    /// cannot be used) is a problem with a field, like a form's.
    fn from(error: WorkflowError) -> Self {
        use waymark_workflow::engine::EngineError;
        match error {
            WorkflowError::Engine(EngineError::Reserved(name)) => {
                let message = format!("`{name}` is set by Waymark itself; nobody can change it");
                WorkError::Invalid(vec![FieldError {
                    field: name,
                    message,
                }])
            }
            WorkflowError::Engine(EngineError::Invalid { variable, message }) => {
                WorkError::Invalid(vec![FieldError {
                    field: variable.unwrap_or_default(),
                    message,
                }])
            }
            other => WorkError::Workflow(other),
        }
    }
}

impl From<waymark_store::StoreError> for WorkError {
    fn from(error: waymark_store::StoreError) -> Self {
        WorkError::Workflow(WorkflowError::Store(error))
    }
}

fn bad(code: &'static str, message: impl Into<String>, field: &str) -> WorkError {
    WorkError::Bad {
        code,
        message: message.into(),
        field: field.to_string(),
    }
}

/// A task as people name it: `12-3` is task 3 of request 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskId {
    pub instance: i64,
    pub task: u64,
}

impl std::str::FromStr for TaskId {
    type Err = WorkError;

    fn from_str(text: &str) -> Result<TaskId, WorkError> {
        text.split_once('-')
            .and_then(|(i, t)| {
                Some(TaskId {
                    instance: i.parse().ok()?,
                    task: t.parse().ok()?,
                })
            })
            .ok_or_else(|| {
                bad(
                    "invalid_task",
                    format!("`{text}` is not a task id; task ids look like 12-3"),
                    "id",
                )
            })
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.instance, self.task)
    }
}

impl TaskId {
    pub fn of(task: &TaskRow) -> TaskId {
        TaskId {
            instance: task.instance,
            task: task.task,
        }
    }
}

/// Who looks at a request.
#[derive(Debug, Clone)]
pub enum Viewer {
    Admin,
    Person(User),
}

/// A request as stored: the instance, its tasks and its audit trail.
#[derive(Debug, Clone)]
pub struct Request {
    pub instance: InstanceRow,
    pub tasks: Vec<TaskRow>,
    pub trail: Vec<AuditRow>,
}

impl Request {
    /// Whether `user` may see it: they started it, or a task in it is or was theirs. A follow-up
    /// is the department's about a customer, not the customer's own request: its requester (the
    /// customer) does not see it.
    pub fn visible_to(&self, user: &User) -> bool {
        (self.instance.requester == user.id && self.instance.process != crate::followups::PROCESS)
            || self
                .tasks
                .iter()
                .any(|t| t.is_for(user) || t.completed_by.as_deref() == Some(&user.id))
    }
}

/// A form to fill in: its key, the schema as deployed, the form read from it, and what Waymark
/// fills in for the person from the directory.
#[derive(Debug, Clone)]
pub struct FormView {
    pub key: String,
    pub schema: Value,
    pub form: Form,
    pub prefill: Map<String, Value>,
}

/// Records a refused attempt in the request's audit trail and gives the refusal.
fn refuse(store: &dyn Store, instance: i64, user: &str, what: &str, now: i64) -> WorkError {
    if let Err(error) = store.audit_refusal(instance, user, what, now) {
        tracing::error!(instance, %error, "a refusal could not be audited");
    }
    tracing::warn!(instance, user, attempt = %what, "refused");
    WorkError::Refused
}

/// The caller's inbox: tasks assigned to them, and unassigned ones offered to them or their
/// groups, oldest first.
pub fn inbox(store: &dyn Store, user: &User) -> Result<Vec<TaskRow>, WorkError> {
    Ok(store.tasks_for(user)?)
}

/// A page of [`inbox`], after `after`, and where the next page starts.
pub fn inbox_page(
    store: &dyn Store,
    user: &User,
    after: Option<waymark_store::workflow::TaskKey>,
    limit: usize,
) -> Result<(Vec<TaskRow>, Option<waymark_store::workflow::TaskKey>), WorkError> {
    Ok(store.tasks_for_page(user, after, limit)?)
}

/// A person's task that is open and routed to them, for `what` they are about to do.
pub fn open_task(
    store: &dyn Store,
    user: &User,
    id: TaskId,
    what: &str,
    now: i64,
) -> Result<TaskRow, WorkError> {
    let task = store
        .task(id.instance, id.task)?
        .filter(|t| t.kind == "user")
        .ok_or_else(|| WorkError::NotFound(format!("there is no task {id}")))?;
    if task.decides_on_own_request(user) {
        refuse(
            store,
            id.instance,
            &user.id,
            &format!("{what} task {id} on their own request"),
            now,
        );
        return Err(WorkError::NotAllowed(OWN_REQUEST.into()));
    }
    if !task.is_for(user) {
        return Err(refuse(
            store,
            id.instance,
            &user.id,
            &format!("{what} task {id}"),
            now,
        ));
    }
    if task.status != "open" {
        return Err(WorkError::Conflict(format!("task {id} is {}", task.status)));
    }
    Ok(task)
}

/// The deployed form a `formKey` names, for `person`.
pub fn form(
    store: &dyn Store,
    form_key: &str,
    person: &User,
) -> Result<Option<FormView>, WorkError> {
    let key = waymark_workflow::forms::key_of(form_key).to_string();
    let Some(schema) = store.form(&key)? else {
        return Ok(None);
    };
    let schema: Value = serde_json::from_str(&schema)
        .map_err(|e| WorkflowError::Unreadable(key.clone(), e.to_string()))?;
    let form = waymark_workflow::forms::from_form_js(&key, &schema)
        .map_err(|errors| WorkflowError::Unreadable(key.clone(), format!("{errors:?}")))?;
    let who = serde_json::to_value(person)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let prefill = form.prefill(&who);
    Ok(Some(FormView {
        key,
        schema,
        form,
        prefill,
    }))
}

/// What values are for: starting a request, or completing a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Start,
    Task,
}

/// Reads the values against a task's or a start event's form (`read` is given the form, when
/// one is deployed) and checks them. Only what the form declares is taken. Without a form, a
/// task takes no values at all, and a start takes them as they are; neither may name a
/// variable Waymark keeps itself (`requester`, …).
fn checked(
    store: &dyn Store,
    form_key: Option<&str>,
    person: &User,
    purpose: Purpose,
    read: impl FnOnce(Option<&Form>) -> Map<String, Value>,
) -> Result<Map<String, Value>, WorkError> {
    let view = form_key
        .map(|k| form(store, k, person))
        .transpose()?
        .flatten();
    let values = read(view.as_ref().map(|v| &v.form));
    let mut errors: Vec<FieldError> = values
        .keys()
        .filter(|k| waymark_workflow::engine::is_reserved(k))
        .map(|k| FieldError {
            field: k.clone(),
            message: format!("`{k}` is set by Waymark itself; nobody can change it"),
        })
        .collect();
    let Some(view) = view else {
        if purpose == Purpose::Task {
            errors.extend(
                values
                    .keys()
                    .filter(|k| !waymark_workflow::engine::is_reserved(k))
                    .map(|k| FieldError {
                        field: k.clone(),
                        message: "this step has no form, so it takes no values; send none".into(),
                    }),
            );
        }
        return if errors.is_empty() {
            Ok(values)
        } else {
            Err(WorkError::Invalid(errors))
        };
    };
    if !errors.is_empty() {
        return Err(WorkError::Invalid(errors));
    }
    view.form
        .validate(&values, &Map::new(), &view.prefill)
        .map_err(WorkError::Invalid)
}

/// The start form of a process, for `person`: the key its start event names (none when it
/// names none), and the form when one is deployed under that key.
pub fn start_form(
    store: &dyn Store,
    process: &str,
    person: &User,
) -> Result<Option<(String, Option<FormView>)>, WorkError> {
    if store.latest_version(process)?.is_none() {
        return Err(WorkError::NotFound(format!(
            "there is no process `{process}`"
        )));
    }
    match store.start_form(process)? {
        Some(key) => {
            let view = form(store, &key, person)?;
            Ok(Some((key, view)))
        }
        None => Ok(None),
    }
}

/// Starts a request of `process`: `person` fills in its start form and becomes the requester.
pub fn start(
    store: &dyn Store,
    person: &User,
    process: &str,
    values: Map<String, Value>,
    now: i64,
) -> Result<i64, WorkError> {
    start_reading(store, person, process, |_| values, now)
}

/// [`start`] with the values read once the start form is known (a browser sends text that the
/// form says how to read), so the form is read once.
pub fn start_reading(
    store: &dyn Store,
    person: &User,
    process: &str,
    read: impl FnOnce(Option<&Form>) -> Map<String, Value>,
    now: i64,
) -> Result<i64, WorkError> {
    // Only what people may start by hand: a process started by a collected event (a follow-up
    // among them) is never started with values someone chose.
    let by_hand = store.startable()?.iter().any(|(id, ..)| id == process);
    if store.latest_version(process)?.is_none() || !by_hand {
        return Err(WorkError::NotFound(format!(
            "there is no process `{process}` people start"
        )));
    }
    let key = store.start_form(process)?;
    let values = checked(store, key.as_deref(), person, Purpose::Start, read)?;
    Ok(store.start_instance(process, &person.id, values, now)?)
}

/// Completes a task with its form's values.
pub fn complete(
    store: &dyn Store,
    person: &User,
    id: TaskId,
    values: Map<String, Value>,
    now: i64,
) -> Result<(), WorkError> {
    complete_reading(store, person, id, |_| values, now).map(|_| ())
}

/// [`complete`] with the values read once the task's form is known, so the task and its form
/// are read once. Gives the task that was completed.
pub fn complete_reading(
    store: &dyn Store,
    person: &User,
    id: TaskId,
    read: impl FnOnce(Option<&Form>) -> Map<String, Value>,
    now: i64,
) -> Result<TaskRow, WorkError> {
    let task = open_task(store, person, id, "complete", now)?;
    let values = checked(store, task.form.as_deref(), person, Purpose::Task, read)?;
    store.advance(
        id.instance,
        Command::Complete {
            task: id.task,
            variables: values,
        },
        &person.id,
        now,
    )?;
    Ok(task)
}

/// Takes a task offered to the person's groups.
pub fn claim(store: &dyn Store, person: &User, id: TaskId, now: i64) -> Result<(), WorkError> {
    let task = open_task(store, person, id, "claim", now)?;
    if task.assignee.is_some() {
        return Err(bad(
            "already_assigned",
            "the task is already assigned",
            "id",
        ));
    }
    assigned(
        store.assign_task(
            id.instance,
            id.task,
            &person.id,
            &person.id,
            "claim",
            None,
            now,
        )?,
        id,
    )
}

/// A task that closed between the check and the assignment (someone else finished it).
fn assigned(changed: bool, id: TaskId) -> Result<(), WorkError> {
    if changed {
        Ok(())
    } else {
        Err(WorkError::Conflict(format!("task {id} is no longer open")))
    }
}

/// Why nobody may work a step of their own request.
const OWN_REQUEST: &str = "this step decides on your own request, so someone else must do it: nobody approves, checks or pays for what they asked for themselves";

/// Hands a task to someone else in the directory who could have been given it: never the
/// requester of a step that decides on her request, and, for a step offered to people or
/// groups, only one of them.
pub fn delegate(
    store: &dyn Store,
    person: &User,
    id: TaskId,
    to: &str,
    now: i64,
) -> Result<(), WorkError> {
    let task = open_task(store, person, id, "delegate", now)?;
    if to.trim().is_empty() {
        return Err(bad("missing_to", "say who takes it over", "to"));
    }
    let Some(target) = store.user(to)? else {
        return Err(bad(
            "unknown_user",
            format!("nobody with the id `{to}` is in the directory"),
            "to",
        ));
    };
    if task.decides_on_own_request(&target) {
        refuse(
            store,
            id.instance,
            &person.id,
            &format!("delegate task {id} to {to}, its requester"),
            now,
        );
        return Err(WorkError::NotAllowed(format!(
            "{} asked for this request, so they cannot decide on it; choose someone else",
            target.name
        )));
    }
    let offered = !task.candidate_users.is_empty() || !task.candidate_groups.is_empty();
    let eligible = task.candidate_users.iter().any(|u| u == &target.id)
        || task.candidate_groups.iter().any(|g| target.in_group(g));
    if offered && !eligible {
        refuse(
            store,
            id.instance,
            &person.id,
            &format!("delegate task {id} to {to}, who could not have been given it"),
            now,
        );
        // Named as it was typed: the answer tells nothing of the directory beyond the step.
        return Err(WorkError::NotAllowed(format!(
            "`{to}` could not have been given this step: it is for {}; choose one of them",
            task.candidate_users
                .iter()
                .chain(&task.candidate_groups)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    assigned(
        store.assign_task(id.instance, id.task, to, &person.id, "delegate", None, now)?,
        id,
    )
}

/// Adds a comment to a task, kept in the request's history.
pub fn comment(
    store: &dyn Store,
    person: &User,
    id: TaskId,
    text: &str,
    now: i64,
) -> Result<(), WorkError> {
    open_task(store, person, id, "comment", now)?;
    let text = text.trim();
    if text.is_empty() {
        return Err(bad("missing_text", "write the comment", "text"));
    }
    Ok(store.comment(id.instance, id.task, &person.id, text, now)?)
}

/// Ends a task with a BPMN error or escalation, taken by its boundary events.
pub fn throw(
    store: &dyn Store,
    person: &User,
    id: TaskId,
    signal: Signal,
    code: &str,
    now: i64,
) -> Result<(), WorkError> {
    let what = match signal {
        Signal::Error => "error",
        Signal::Escalation => "escalate",
    };
    open_task(store, person, id, what, now)?;
    store.advance(
        id.instance,
        Command::Throw {
            task: id.task,
            signal,
            code: code.to_string(),
        },
        &person.id,
        now,
    )?;
    Ok(())
}

pub(crate) fn read(store: &dyn Store, instance: i64) -> Result<Option<Request>, WorkError> {
    let Some(row) = store.instance(instance)? else {
        return Ok(None);
    };
    Ok(Some(Request {
        instance: row,
        tasks: store.instance_tasks(instance)?,
        trail: store.audit_trail(instance)?,
    }))
}

/// One request, for its requester, people with a task in it, and administrators; anyone else
/// is refused (and audited).
pub fn request(
    store: &dyn Store,
    viewer: &Viewer,
    id: i64,
    now: i64,
) -> Result<Request, WorkError> {
    let request =
        read(store, id)?.ok_or_else(|| WorkError::NotFound(format!("there is no request {id}")))?;
    if let Viewer::Person(user) = viewer
        && !request.visible_to(user)
    {
        return Err(refuse(
            store,
            id,
            &user.id,
            &format!("read request {id}"),
            now,
        ));
    }
    Ok(request)
}

/// The request a journey event belongs to, when the workflow wrote it (a step of a request).
pub fn request_of_event(body: &str) -> Option<i64> {
    let body: Value = serde_json::from_str(body).ok()?;
    if body.pointer("/context/channel").and_then(Value::as_str) != Some("automation") {
        return None;
    }
    body.pointer("/properties/instance").and_then(Value::as_i64)
}

/// The events of a timeline `viewer` may see: everything but the steps of requests they may
/// not see (an agent looking a colleague up does not see her internal requests).
pub fn visible_events(
    store: &dyn Store,
    viewer: &Viewer,
    events: Vec<waymark_store::StoredEvent>,
) -> Result<Vec<waymark_store::StoredEvent>, WorkError> {
    let Viewer::Person(user) = viewer else {
        return Ok(events);
    };
    let mut seen: std::collections::HashMap<i64, bool> = std::collections::HashMap::new();
    let mut out = Vec::with_capacity(events.len());
    for event in events {
        let Some(instance) = request_of_event(&event.event.body) else {
            out.push(event);
            continue;
        };
        let visible = match seen.get(&instance) {
            Some(&visible) => visible,
            None => {
                let visible = read(store, instance)?.is_some_and(|r| r.visible_to(user));
                seen.insert(instance, visible);
                visible
            }
        };
        if visible {
            out.push(event);
        }
    }
    Ok(out)
}

/// "My requests": the person's requests, newest first.
pub fn my_requests(store: &dyn Store, person: &User) -> Result<Vec<Request>, WorkError> {
    requests(store, person, &store.instances_of(&person.id)?)
}

/// The person's requests among `ids` (a page of `instances_of`), in that order.
pub fn requests(store: &dyn Store, person: &User, ids: &[i64]) -> Result<Vec<Request>, WorkError> {
    let mut out = Vec::new();
    for id in ids {
        // A follow-up about them is not a request of theirs (see `Request::visible_to`).
        out.extend(
            read(store, *id)?.filter(|r| r.instance.requester == person.id && r.visible_to(person)),
        );
    }
    Ok(out)
}

/// Of `people` (case names: user ids, anonymous ids), those a list naming individuals must
/// leave out for `viewer`: people in the directory who asked for something `viewer` may not
/// see. Journey figures include the steps of requests; a list of who is where would otherwise
/// tell an agent or an analyst where a colleague's internal request stands.
pub fn private_people<'a>(
    store: &dyn Store,
    viewer: &Viewer,
    people: impl IntoIterator<Item = &'a str>,
) -> Result<std::collections::HashSet<String>, WorkError> {
    let mut private = std::collections::HashSet::new();
    let Viewer::Person(user) = viewer else {
        return Ok(private);
    };
    let directory: std::collections::HashSet<String> =
        store.users()?.into_iter().map(|u| u.id).collect();
    let mut checked = std::collections::HashSet::new();
    for person in people {
        if !directory.contains(person) || !checked.insert(person.to_string()) {
            continue;
        }
        for id in store.instances_of(person)? {
            if read(store, id)?.is_some_and(|r| !r.visible_to(user)) {
                private.insert(person.to_string());
                break;
            }
        }
    }
    Ok(private)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_read_and_print_alike() {
        let id: TaskId = "12-3".parse().expect("id");
        assert_eq!(
            id,
            TaskId {
                instance: 12,
                task: 3
            }
        );
        assert_eq!(id.to_string(), "12-3");
        for wrong in ["12", "a-3", "12-", "-3", "12-3-4"] {
            assert!(wrong.parse::<TaskId>().is_err(), "{wrong}");
        }
    }
}
