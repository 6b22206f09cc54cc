//! Automation in the store: the organisation directory, deployed processes, and running
//! instances. Each step of an instance happens in one transaction on the writer connection: the
//! instance's state, its tasks, timers and message subscriptions, its audit records and the
//! journey events that measure it are written together, or not at all.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Map, Value as Json, json};
use waymark_workflow::Process;
use waymark_workflow::engine::{self, Command, Effect, State, Status, StepKind, TaskKind};

use crate::{Processes as _, SqliteStore, StoreError};

/// A person in the organisation directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub department: Option<String>,
    /// The id of their manager.
    pub manager: Option<String>,
    /// Roles and groups, e.g. `finance`, `hr-admin`.
    pub roles: Vec<String>,
}

impl User {
    /// Whether the directory gives them `role` (case-insensitive). Departments never count.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// Whether a task offered to `group` reaches this person: one of their roles, or their
    /// department, has that name. For routing work only; what a person may see and do comes
    /// from their roles alone ([`User::has_role`]).
    pub fn in_group(&self, group: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(group))
            || self
                .department
                .as_deref()
                .is_some_and(|d| d.eq_ignore_ascii_case(group))
    }
}

/// A process definition deployed to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployedProcess {
    pub id: String,
    pub version: i64,
    pub name: String,
    /// `bpmn` or `yaml`.
    pub format: String,
    pub source: String,
    pub deployed_us: i64,
}

/// An open webhook step whose calls failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingWebhook {
    pub instance: i64,
    pub task: u64,
    /// The step's name.
    pub name: String,
    pub attempts: i64,
    pub last_error: String,
    pub next_try_us: i64,
}

/// The statements behind `failing_webhooks` (both backends; `$n`/`?n` alike).
pub(crate) const FAILING_WEBHOOKS: &str =
    "SELECT w.instance_id, w.task_id, t.name, w.attempts, w.last_error, w.next_try_us
    FROM webhook_attempts w JOIN tasks t ON t.instance_id = w.instance_id AND t.task_id = w.task_id
    WHERE t.status = 'open' ORDER BY w.attempts DESC, w.instance_id, w.task_id LIMIT $1";
pub(crate) const FAILING_WEBHOOKS_COUNTED: &str = "SELECT count(*) FROM webhook_attempts w
    JOIN tasks t ON t.instance_id = w.instance_id AND t.task_id = w.task_id WHERE t.status = 'open'";
pub(crate) const MAIL_WAITING: &str = "SELECT count(*) FROM jobs WHERE kind = 'mail'";

/// A deployed process or form: its latest version, and how many versions it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// `process` or `form`.
    pub kind: &'static str,
    pub id: String,
    /// A process's name; a form's key.
    pub name: String,
    /// `bpmn` or `yaml` for a process, `form` for a form.
    pub format: String,
    pub version: i64,
    pub versions: i64,
    pub deployed_us: i64,
}

/// The statements that list deployments (shared by both backends; `$n`/`?n` alike).
pub(crate) const DEPLOYED_PROCESSES: &str =
    "SELECT p.id, p.name, p.format, p.version, p.deployed_us,
        (SELECT count(*) FROM processes q WHERE q.id = p.id)
    FROM processes p WHERE p.version = (SELECT max(version) FROM processes q WHERE q.id = p.id)
    ORDER BY p.name, p.id";
pub(crate) const DEPLOYED_FORMS: &str = "SELECT f.key, f.key, 'form', f.version, f.deployed_us,
        (SELECT count(*) FROM forms g WHERE g.key = f.key)
    FROM forms f WHERE f.version = (SELECT max(version) FROM forms g WHERE g.key = f.key)
    ORDER BY f.key";

/// An instance in a list: what it is, whose, and how it stands (its state left unread).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSummary {
    pub id: i64,
    pub process: String,
    pub version: i64,
    pub requester: String,
    pub status: String,
    pub started_us: i64,
    pub updated_us: i64,
}

/// An instance as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceRow {
    pub id: i64,
    pub process: String,
    pub version: i64,
    /// The user who started it.
    pub requester: String,
    pub status: String,
    pub state: State,
    pub started_us: i64,
    pub updated_us: i64,
}

/// A task as stored, with who it is for after the directory was asked.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TaskRow {
    pub instance: i64,
    /// The engine's id of the task within its instance.
    pub task: u64,
    pub node: String,
    pub name: String,
    /// `user` or `worker`.
    pub kind: String,
    pub topic: Option<String>,
    pub assignee: Option<String>,
    pub candidate_groups: Vec<String>,
    pub candidate_users: Vec<String>,
    pub due_us: Option<i64>,
    pub form: Option<String>,
    /// `open`, `completed` or `cancelled`.
    pub status: String,
    pub created_us: i64,
    pub completed_by: Option<String>,
    /// Who asked: the requester of the task's request.
    pub requester: String,
    /// Whether the process routed this step to the requester herself (her own form, say);
    /// every other step decides on her request, and she can never work it.
    pub for_requester: bool,
}

/// Where a task stands in an inbox's order (created, instance, task): a page's cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskKey {
    pub created_us: i64,
    pub instance: i64,
    pub task: u64,
}

impl TaskKey {
    pub fn of(task: &TaskRow) -> Self {
        TaskKey {
            created_us: task.created_us,
            instance: task.instance,
            task: task.task,
        }
    }
}

/// The groups a task offered to a group reaches `user` through, lowercased ([`User::in_group`]).
pub(crate) fn groups_of(user: &User) -> Vec<String> {
    user.roles
        .iter()
        .chain(user.department.iter())
        .map(|g| g.to_ascii_lowercase())
        .collect()
}

/// A page of tasks read for `user` (`limit` rows asked for), narrowed to those [`TaskRow::is_for`]
/// them, with the next page's start when the page was full.
pub(crate) fn inbox_page(
    rows: Vec<TaskRow>,
    user: &User,
    limit: usize,
) -> (Vec<TaskRow>, Option<TaskKey>) {
    let next = next_page(&rows, limit);
    let kept = rows.into_iter().filter(|t| t.is_for(user)).collect();
    (kept, next)
}

/// Where the page after `rows` (read with `LIMIT limit`) starts: after its last row when the
/// page was full, none when it was the last.
pub(crate) fn next_page(rows: &[TaskRow], limit: usize) -> Option<TaskKey> {
    (rows.len() >= limit)
        .then(|| rows.last().map(TaskKey::of))
        .flatten()
}

impl TaskRow {
    /// Whether working this task would have `user` decide on their own request.
    pub fn decides_on_own_request(&self, user: &User) -> bool {
        !self.for_requester && self.requester == user.id
    }

    /// Whether `user` may see and work on this task: assigned to them, or (unassigned) offered to
    /// them or to one of their groups; never a step that decides on their own request.
    pub fn is_for(&self, user: &User) -> bool {
        if self.decides_on_own_request(user) {
            return false;
        }
        match &self.assignee {
            Some(assignee) => assignee == &user.id,
            None => {
                self.candidate_users.iter().any(|u| u == &user.id)
                    || self.candidate_groups.iter().any(|g| user.in_group(g))
            }
        }
    }
}

/// One line of an instance's audit trail.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuditRow {
    pub at_us: i64,
    /// Who: a user id, or `system`.
    pub actor: String,
    pub action: String,
    pub node: Option<String>,
    pub data: Json,
}

/// Work a node does by itself, found by its due time and leased to one node at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// A due timer of a request: firing it is a step.
    Timer,
    /// A webhook service task: called, with retries.
    Webhook,
    /// A send task with an `email:` topic: sent through SMTP.
    Mail,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Timer => "timer",
            JobKind::Webhook => "webhook",
            JobKind::Mail => "mail",
        }
    }

    /// The job a new task is, when a node carries it out by itself.
    pub(crate) fn of_task(topic: Option<&str>) -> Option<JobKind> {
        let topic = topic?;
        if topic.starts_with("webhook:") {
            Some(JobKind::Webhook)
        } else if topic.starts_with("email:") {
            Some(JobKind::Mail)
        } else {
            None
        }
    }
}

/// Whether a step's effects add a job (a timer, or a task a node carries out by itself), so the
/// nodes' job loops should look again.
pub(crate) fn schedules_job(effects: &[Effect]) -> bool {
    effects.iter().any(|effect| match effect {
        Effect::TimerSet { .. } => true,
        Effect::TaskCreated {
            kind: TaskKind::Worker { topic, .. },
            ..
        } => JobKind::of_task(Some(topic)).is_some(),
        _ => false,
    })
}

/// Tells the job loops that jobs were added (by this node, or on PostgreSQL by any node): a
/// counter they watch, so a loop sleeps until the next due job or this, never polling.
#[derive(Debug)]
pub(crate) struct JobSignal(tokio::sync::watch::Sender<u64>);

impl Default for JobSignal {
    fn default() -> Self {
        JobSignal(tokio::sync::watch::Sender::new(0))
    }
}

impl JobSignal {
    pub(crate) fn raise(&self) {
        self.0.send_modify(|count| *count = count.wrapping_add(1));
    }

    pub(crate) fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// A claimed job: which request, which timer or task, and how many times it was claimed (this
/// time included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub kind: JobKind,
    pub instance: i64,
    /// The timer's id or the task's id.
    pub item: u64,
    pub attempts: i64,
}

/// The right to hand the message outbox over, held until dropped (see [`crate::Work::outbox_turn`]).
pub struct Turn<'a>(#[allow(dead_code)] Box<dyn Held + 'a>);

/// Anything held while a turn lasts: a lock's guard, say.
pub(crate) trait Held {}
impl<T> Held for T {}

impl<'a> Turn<'a> {
    pub(crate) fn holding(held: impl Held + 'a) -> Self {
        Turn(Box::new(held))
    }

    /// The turn `lock` gives: waiting for it with `wait`, else only if it is free now.
    pub(crate) fn of(lock: &'a std::sync::Mutex<()>, wait: bool) -> Option<Self> {
        if wait {
            return Some(Turn::holding(
                lock.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ));
        }
        match lock.try_lock() {
            Ok(guard) => Some(Turn::holding(guard)),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                Some(Turn::holding(poisoned.into_inner()))
            }
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

impl std::fmt::Debug for Turn<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Turn")
    }
}

/// Why a workflow operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum WorkflowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no process `{0}` is deployed")]
    UnknownProcess(String),
    #[error("no instance {0}")]
    UnknownInstance(i64),
    #[error("the deployed process `{0}` no longer reads: {1}")]
    Unreadable(String, String),
    #[error("{0}")]
    Engine(#[from] engine::EngineError),
    #[error("the stored state of instance {0} is unreadable: {1}")]
    State(i64, String),
}

impl From<rusqlite::Error> for WorkflowError {
    fn from(error: rusqlite::Error) -> Self {
        WorkflowError::Store(StoreError::from(error))
    }
}

/// Runs one step, turning a panic inside it (a bug) into that step's error, so the writer
/// lock is never poisoned and the step is rolled back alone while every other write goes on.
fn unwound<T>(f: impl FnOnce() -> Result<T, WorkflowError>) -> Result<T, WorkflowError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into());
        tracing::error!(panic = %what, "a workflow step stopped on a bug; it was rolled back");
        Err(WorkflowError::Store(StoreError::Bug(what)))
    })
}

/// Parsed process definitions, by (id, version).
#[derive(Debug, Default)]
pub(crate) struct Definitions(std::sync::Mutex<HashMap<(String, i64), Arc<Process>>>);

/// Latest versions → the (event, process) pairs of their message start events.
pub(crate) type MessageStarts = std::sync::Mutex<Option<LatestStarts>>;
pub(crate) type LatestStarts = (Vec<(String, i64)>, Arc<Vec<(String, String)>>);

pub(crate) fn user_row(row: &rusqlite::Row) -> rusqlite::Result<User> {
    let roles: String = row.get(5)?;
    Ok(User {
        id: row.get(0)?,
        name: row.get(1)?,
        email: row.get(2)?,
        department: row.get(3)?,
        manager: row.get(4)?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

pub(crate) const USER_COLUMNS: &str = "id, name, email, department, manager, roles";
pub(crate) const TASK_COLUMNS: &str = "instance_id, task_id, node, name, kind, topic, assignee, candidate_groups, candidate_users, due_us, form, status, created_us, completed_by, requester, for_requester";

pub(crate) fn list(text: String) -> Vec<String> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn task_row(row: &rusqlite::Row) -> rusqlite::Result<TaskRow> {
    Ok(TaskRow {
        instance: row.get(0)?,
        task: row.get::<_, i64>(1)? as u64,
        node: row.get(2)?,
        name: row.get(3)?,
        kind: row.get(4)?,
        topic: row.get(5)?,
        assignee: row.get(6)?,
        candidate_groups: list(row.get(7)?),
        candidate_users: list(row.get(8)?),
        due_us: row.get(9)?,
        form: row.get(10)?,
        status: row.get(11)?,
        created_us: row.get(12)?,
        completed_by: row.get(13)?,
        requester: row.get(14)?,
        for_requester: row.get(15)?,
    })
}

pub(crate) fn status_text(status: &Status) -> &'static str {
    match status {
        Status::NotStarted => "not-started",
        Status::Running => "running",
        Status::Completed => "completed",
        Status::Terminated => "terminated",
        Status::Cancelled => "cancelled",
        Status::Failed { .. } => "failed",
    }
}

/// A deployed version's parsed definition, read and parsed once per store.
pub(crate) fn definition(
    store: &(impl crate::Processes + ?Sized),
    cache: &Definitions,
    id: &str,
    version: i64,
) -> Result<Arc<Process>, WorkflowError> {
    let key = (id.to_string(), version);
    if let Some(found) = cache
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
    {
        return Ok(found.clone());
    }
    let deployed = store
        .process(id, Some(version))?
        .ok_or_else(|| WorkflowError::UnknownProcess(id.to_string()))?;
    let imported = waymark_workflow::import(&deployed.source)
        .map_err(|e| WorkflowError::Unreadable(id.to_string(), e.to_string()))?;
    let process = imported
        .processes
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| {
            WorkflowError::Unreadable(id.to_string(), "the process is missing".into())
        })?;
    let process = Arc::new(process);
    cache
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(key, process.clone());
    Ok(process)
}

/// The form of a process's first start event.
pub(crate) fn start_form(definition: &Process) -> Option<String> {
    definition
        .starts()
        .find_map(|s| definition.nodes[s].form().map(str::to_string))
}

/// Of the latest versions (id, version, name), those started by hand, with their start form.
pub(crate) fn startable(
    store: &(impl crate::Processes + ?Sized),
    cache: &Definitions,
    latest: Vec<(String, i64, String)>,
) -> Result<Vec<(String, String, Option<String>)>, WorkflowError> {
    let mut out = Vec::new();
    for (id, version, name) in latest {
        let definition = definition(store, cache, &id, version)?;
        // Processes started by a collected event are not started by hand.
        let by_hand = definition.starts().find(|&s| {
            matches!(
                definition.nodes[s].kind,
                waymark_workflow::NodeKind::Start {
                    trigger: waymark_workflow::Trigger::None,
                    ..
                }
            )
        });
        if let Some(start) = by_hand {
            let form = definition.nodes[start].form().map(str::to_string);
            out.push((id, name, form));
        }
    }
    Ok(out)
}

/// The (event, process) pairs of the message start events of the latest versions (id, version),
/// kept in `cached` until a deploy changes the versions.
pub(crate) fn message_starts(
    store: &(impl crate::Processes + ?Sized),
    cache: &Definitions,
    cached: &MessageStarts,
    latest: Vec<(String, i64)>,
) -> Result<Arc<Vec<(String, String)>>, WorkflowError> {
    {
        let cached = cached
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((versions, starts)) = &*cached
            && *versions == latest
        {
            return Ok(starts.clone());
        }
    }
    let mut starts = Vec::new();
    for (id, version) in &latest {
        let definition = definition(store, cache, id, *version)?;
        for s in definition.starts() {
            if let waymark_workflow::NodeKind::Start {
                trigger: waymark_workflow::Trigger::Message(name),
                ..
            } = &definition.nodes[s].kind
            {
                starts.push((name.clone(), id.clone()));
            }
        }
    }
    let starts = Arc::new(starts);
    *cached
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((latest, starts.clone()));
    Ok(starts)
}

/// A process's title and the names of its steps by id.
pub(crate) fn step_names(
    store: &(impl crate::Processes + ?Sized),
    cache: &Definitions,
    id: &str,
    version: i64,
) -> Result<(String, HashMap<String, String>), WorkflowError> {
    let definition = definition(store, cache, id, version)?;
    let names = definition
        .nodes
        .iter()
        .filter_map(|n| Some((n.id.clone(), n.name.clone()?)))
        .collect();
    let title = store
        .process(id, Some(version))?
        .map_or_else(|| id.to_string(), |p| p.name);
    Ok((title, names))
}

impl SqliteStore {
    fn definition(&self, id: &str, version: i64) -> Result<Arc<Process>, WorkflowError> {
        definition(self, &self.definitions, id, version)
    }

    /// Runs `f` in a transaction on the writer connection, with group commit: steps queued by
    /// concurrent callers are written in one transaction (each in a savepoint of its own, so a
    /// failing step is undone alone) and made durable by one commit; each caller gets its own
    /// outcome once the commit is done. The journey events the steps write are linked to
    /// profiles and added to the event index right after the commit.
    fn transact<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction, &mut Links) -> Result<T, WorkflowError> + Send + 'static,
    ) -> Result<T, WorkflowError> {
        let (done, outcome) = std::sync::mpsc::sync_channel(1);
        let job: QueuedStep = Box::new(move |transaction, links| {
            let result = transaction
                .execute_batch("SAVEPOINT step")
                .map_err(WorkflowError::from)
                .and_then(|()| match unwound(|| f(transaction, links)) {
                    Ok(value) => {
                        transaction.execute_batch("RELEASE step")?;
                        Ok(value)
                    }
                    Err(error) => {
                        let _ = transaction.execute_batch("ROLLBACK TO step; RELEASE step");
                        Err(error)
                    }
                });
            let failed = result.is_err();
            let deliver: Deliver = Box::new(move |commit: Option<String>| {
                let result = match (commit, result) {
                    (Some(error), Ok(_)) => Err(WorkflowError::Store(StoreError::Commit(error))),
                    (_, result) => result,
                };
                let _ = done.send(result);
            });
            (deliver, failed)
        });
        self.steps
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(job);
        let mut guard = self.writer();
        // While we waited for the writer, its holder may have written our step too.
        if let Ok(result) = outcome.try_recv() {
            return result;
        }
        let jobs = std::mem::take(
            &mut *self
                .steps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let writer = &mut *guard;
        let mut deliveries = Vec::with_capacity(jobs.len());
        let mut any_failed = false;
        let commit = match writer.connection.transaction() {
            Ok(transaction) => {
                let mut links = Links {
                    known: &mut writer.known,
                    traits: &self.identifier_traits,
                };
                for job in jobs {
                    let (deliver, failed) = job(&transaction, &mut links);
                    any_failed |= failed;
                    deliveries.push(deliver);
                }
                transaction.commit().err().map(|e| e.to_string())
            }
            Err(error) => {
                // Nothing ran; the queued steps' callers see their step dropped.
                drop(jobs);
                return Err(WorkflowError::Store(StoreError::from(error)));
            }
        };
        self.note_write(commit.as_ref());
        if any_failed || commit.is_some() {
            // The identity cache may hold links that were rolled back.
            writer.known = Default::default();
        }
        if commit.is_none() {
            match self.index() {
                Ok(index) => {
                    if let Err(error) = crate::catch_up(&writer.connection, index) {
                        tracing::error!(%error, "the event index is behind; catching up on the next commit");
                        writer.index_behind = true;
                    }
                }
                Err(_) => writer.index_behind = true,
            }
        }
        drop(guard);
        for deliver in deliveries {
            deliver(commit.clone());
        }
        outcome
            .recv()
            .map_err(|_| WorkflowError::Store(StoreError::Poisoned))?
    }
}

/// What a command is, for the audit trail: (action, data, node).
pub(crate) fn describe(
    process: &Process,
    state: &State,
    command: &Command,
) -> (&'static str, Json, Option<String>) {
    let node_of_task = |task: &u64| {
        state
            .tasks
            .get(task)
            .map(|t| process.nodes[t.node].id.clone())
    };
    match command {
        Command::Start { variables } | Command::StartOnMessage { variables, .. } => {
            ("started", Json::Object(variables.clone()), None)
        }
        Command::Complete { task, variables } => (
            "completed",
            Json::Object(variables.clone()),
            node_of_task(task),
        ),
        Command::Throw { task, code, .. } => ("threw", json!({ "code": code }), node_of_task(task)),
        Command::Message { name, variables } => (
            "message",
            json!({ "message": name, "data": variables }),
            None,
        ),
        Command::Cancel { reason } => ("cancelled", json!({ "reason": reason }), None),
        Command::FireTimer { timer } => (
            "timer",
            json!({ "timer": timer }),
            state
                .timers
                .get(timer)
                .map(|t| process.nodes[t.node].id.clone()),
        ),
    }
}

/// A step of a request as a collected event of its requester, so the automated journey is
/// measured like any other: `Process Started`, `Task Completed` (with the step's id as `task`),
/// `Process Ended`. The message id comes from the instance, the step and the number of audit
/// lines before it (`sequence`), so a step is recorded once.
pub(crate) fn journey_event(
    process: &str,
    instance: i64,
    requester: &str,
    actor: &str,
    now_us: i64,
    (node, name, what): (&str, &str, StepKind),
    sequence: i64,
) -> crate::NewEvent {
    let event = match what {
        StepKind::Started => "Process Started",
        StepKind::Completed => "Task Completed",
        StepKind::Ended => "Process Ended",
        StepKind::Entered => "Task Started",
        StepKind::Cancelled => "Task Cancelled",
    };
    let message_id = format!(
        "wf-{instance}-{node}-{}-{sequence}",
        event.replace(' ', "-")
    );
    let body = json!({
        "type": "track",
        "event": event,
        "userId": requester,
        "messageId": message_id,
        "timestamp": waymark_eventlog::time::format_micros(now_us),
        "properties": {
            "task": node,
            "name": name,
            "process": process,
            "instance": instance,
            "by": actor,
        },
        "context": { "channel": "automation" },
    });
    crate::NewEvent {
        message_id,
        kind: "track".into(),
        name: Some(event.to_string()),
        user_id: Some(requester.to_string()),
        anonymous_id: None,
        timestamp_us: now_us,
        received_us: now_us,
        body: body.to_string(),
    }
}

/// The audit data of a task given to someone: the task, to whom, and why when an administrator
/// said so.
pub(crate) fn assignment(task: u64, user: &str, reason: Option<&str>) -> Json {
    match reason {
        Some(reason) => json!({ "task": task, "to": user, "reason": reason }),
        None => json!({ "task": task, "to": user }),
    }
}

fn audit(
    connection: &rusqlite::Connection,
    instance: i64,
    at_us: i64,
    actor: &str,
    action: &str,
    node: Option<&str>,
    data: &Json,
) -> Result<(), StoreError> {
    connection.execute(
        "INSERT INTO audit (instance_id, at_us, actor, action, node, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![instance, at_us, actor, action, node, data.to_string()],
    )?;
    Ok(())
}

/// The access-trail line of a person added or changed: (action, data). `before` is their
/// entry before the change, if they had one.
pub(crate) fn person_changed(user: &User, before: Option<&User>) -> (&'static str, Json) {
    match before {
        None => (
            "person added",
            json!({ "user": user.id, "roles": user.roles }),
        ),
        Some(old) => (
            "person changed",
            json!({ "user": user.id, "roles": user.roles, "roles_before": old.roles }),
        ),
    }
}

/// Instance id of the audit lines about keys, tokens and the directory (no request has it).
pub const ACCESS_TRAIL: i64 = 0;

/// A line in the access trail: a key or token issued, rotated or revoked, a person disabled.
pub(crate) fn audit_key(
    connection: &rusqlite::Connection,
    at_us: i64,
    actor: &str,
    action: &str,
    data: &Json,
) -> Result<(), StoreError> {
    audit(connection, ACCESS_TRAIL, at_us, actor, action, None, data)
}

/// Who a task is for, with directory references resolved: `manager-of:requester`,
/// `manager-of:assignee` (of the instance's open task for a person), `manager-of:USER`.
fn resolve(
    transaction: &Transaction,
    spec: &str,
    requester: &str,
    instance: i64,
) -> Result<String, StoreError> {
    let Some(whose) = spec.strip_prefix("manager-of:") else {
        return Ok(spec.to_string());
    };
    let assignee: Option<String> = if whose == "assignee" {
        transaction
            .query_row(
                "SELECT assignee FROM tasks WHERE instance_id = ?1 AND status = 'open' AND kind = 'user' AND assignee IS NOT NULL ORDER BY task_id LIMIT 1",
                params![instance],
                |r| r.get(0),
            )
            .optional()?
    } else {
        None
    };
    let person = match whose {
        "requester" => requester,
        "assignee" => assignee.as_deref().unwrap_or(requester),
        other => other,
    };
    let manager: Option<Option<String>> = transaction
        .query_row(
            "SELECT manager FROM users WHERE id = ?1",
            params![person],
            |r| r.get(0),
        )
        .optional()?;
    // Nobody to give it to: leave it visible as written, so an administrator sees why.
    Ok(manager.flatten().unwrap_or_else(|| spec.to_string()))
}

/// Hands a step's outcome to its caller, told whether the commit failed.
type Deliver = Box<dyn FnOnce(Option<String>) + Send>;

/// A step queued for the next group commit; it runs inside the transaction and says whether it
/// failed (and was undone).
pub(crate) type QueuedStep = Box<dyn FnOnce(&Transaction, &mut Links) -> (Deliver, bool) + Send>;

/// The identity bookkeeping of the writer, for linking journey events to profiles.
pub(crate) struct Links<'w> {
    known: &'w mut crate::identity::Known,
    traits: &'w [String],
}

/// One step being written.
struct Applying<'t, 'l, 'w> {
    transaction: &'t Transaction<'t>,
    links: &'l mut Links<'w>,
    process: &'t Process,
    instance: i64,
    requester: &'t str,
    actor: &'t str,
    now_us: i64,
}

impl Applying<'_, '_, '_> {
    /// Writes a step's effects: tasks, timers, subscriptions, audit records, journey events and the
    /// instance's new state.
    fn apply(mut self, state: &State, effects: &[Effect]) -> Result<(), WorkflowError> {
        let (transaction, instance, requester, actor, now_us) = (
            self.transaction,
            self.instance,
            self.requester,
            self.actor,
            self.now_us,
        );
        for effect in effects {
            match effect {
                Effect::TaskCreated {
                    task,
                    node,
                    name,
                    kind,
                    assignee,
                    candidate_groups,
                    candidate_users,
                    due,
                    form,
                    item: _,
                    for_requester,
                } => {
                    // Her own step only when the process names the requester herself (never
                    // when an id, a variable or a directory reference resolves to her).
                    let for_requester = *for_requester;
                    let assignee = assignee
                        .as_deref()
                        .map(|a| resolve(transaction, a, requester, instance))
                        .transpose()?;
                    let (kind, topic) = match kind {
                        TaskKind::User => ("user", None),
                        TaskKind::Worker { topic, .. } => ("worker", Some(topic.clone())),
                    };
                    transaction.execute(
                    "INSERT INTO tasks (instance_id, task_id, node, name, kind, topic, assignee, candidate_groups, candidate_users, due_us, form, status, created_us, requester, for_requester)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'open', ?12, ?13, ?14)",
                    params![instance, *task as i64, node, name, kind, topic, assignee, candidate_groups.join(","), candidate_users.join(","), due, form, now_us, requester, for_requester],
                )?;
                    if let Some(job) = JobKind::of_task(topic.as_deref()) {
                        transaction.execute(
                            "INSERT INTO jobs (kind, instance_id, item, due_us) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                            params![job.as_str(), instance, *task as i64, now_us],
                        )?;
                    }
                    audit(
                        transaction,
                        instance,
                        now_us,
                        "system",
                        "task created",
                        Some(node),
                        &json!({ "task": task, "assignee": assignee, "candidate_groups": candidate_groups }),
                    )?;
                }
                Effect::TaskCancelled { task } => {
                    transaction.execute(
                    "UPDATE tasks SET status = 'cancelled' WHERE instance_id = ?1 AND task_id = ?2 AND status = 'open'",
                    params![instance, *task as i64],
                )?;
                }
                Effect::TimerSet { timer, due } => {
                    transaction.execute(
                        "INSERT INTO timers (instance_id, timer_id, due_us) VALUES (?1, ?2, ?3)
                     ON CONFLICT (instance_id, timer_id) DO UPDATE SET due_us = ?3",
                        params![instance, *timer as i64, due],
                    )?;
                    transaction.execute(
                        "INSERT INTO jobs (kind, instance_id, item, due_us) VALUES ('timer', ?1, ?2, ?3)
                         ON CONFLICT (kind, instance_id, item) DO UPDATE SET due_us = ?3, attempts = 0",
                        params![instance, *timer as i64, due],
                    )?;
                }
                Effect::TimerCancelled { timer } => {
                    transaction.execute(
                        "DELETE FROM timers WHERE instance_id = ?1 AND timer_id = ?2",
                        params![instance, *timer as i64],
                    )?;
                    transaction.execute(
                        "DELETE FROM jobs WHERE kind = 'timer' AND instance_id = ?1 AND item = ?2",
                        params![instance, *timer as i64],
                    )?;
                }
                Effect::MessageAwaited {
                    subscription,
                    message,
                } => {
                    transaction.execute(
                    "INSERT INTO subscriptions (instance_id, subscription_id, message, correlation) VALUES (?1, ?2, ?3, ?4)",
                    params![instance, *subscription as i64, message, requester],
                )?;
                }
                Effect::MessageNoLongerAwaited { subscription } => {
                    transaction.execute(
                        "DELETE FROM subscriptions WHERE instance_id = ?1 AND subscription_id = ?2",
                        params![instance, *subscription as i64],
                    )?;
                }
                Effect::Step { node, name, what } => {
                    self.journey_event(node, name, *what)?;
                }
                Effect::Ended => {}
            }
        }
        // A completed task is marked with who completed it.
        transaction.execute(
        "UPDATE tasks SET status = 'completed', completed_by = ?2, completed_us = ?3
         WHERE instance_id = ?1 AND status = 'open' AND task_id NOT IN (SELECT value FROM json_each(?4))",
        params![
            instance,
            actor,
            now_us,
            serde_json::to_string(&state.tasks.keys().collect::<Vec<_>>()).unwrap_or_default()
        ],
    )?;
        // Jobs end with their timer (fired or cancelled) or their task (done or cancelled).
        transaction.execute(
            "DELETE FROM jobs WHERE instance_id = ?1 AND (
                 (kind = 'timer' AND item NOT IN (SELECT value FROM json_each(?2)))
                 OR (kind <> 'timer' AND item NOT IN (SELECT value FROM json_each(?3))))",
            params![
                instance,
                serde_json::to_string(&state.timers.keys().collect::<Vec<_>>()).unwrap_or_default(),
                serde_json::to_string(&state.tasks.keys().collect::<Vec<_>>()).unwrap_or_default()
            ],
        )?;
        let stored = serde_json::to_string(state)
            .map_err(|e| WorkflowError::State(instance, e.to_string()))?;
        transaction.execute(
        "UPDATE instances SET state = ?2, status = ?3, updated_us = ?4,
             ended_us = CASE WHEN ?3 IN ('completed', 'terminated', 'cancelled', 'failed') THEN ?4 ELSE ended_us END
         WHERE id = ?1",
        params![instance, stored, status_text(&state.status), now_us],
    )?;
        Ok(())
    }

    /// Each step is a collected event of the requester, so the automated journey is measured like
    /// any other: `Process Started`, `Task Completed` (with the step's id as `task`), `Process
    /// Ended`. Message ids are derived from the instance and step, so a step is recorded once.
    fn journey_event(&mut self, node: &str, name: &str, what: StepKind) -> Result<(), StoreError> {
        let (transaction, process, instance, requester, actor, now_us) = (
            self.transaction,
            self.process,
            self.instance,
            self.requester,
            self.actor,
            self.now_us,
        );
        let sequence: i64 = transaction.query_row(
            "SELECT count(*) FROM audit WHERE instance_id = ?1",
            params![instance],
            |r| r.get(0),
        )?;
        let new = journey_event(
            &process.id,
            instance,
            requester,
            actor,
            now_us,
            (node, name, what),
            sequence,
        );
        let (message_id, event) = (&new.message_id, new.name.as_deref().unwrap_or_default());
        // The id is Waymark's own (the collection API refuses ids starting `wf-`); were it taken
        // all the same, the step goes on without its journey event rather than failing.
        let inserted = transaction.execute(
            "INSERT INTO events (message_id, kind, name, user_id, anonymous_id, timestamp_us, received_us, body)
             VALUES (?1, 'track', ?2, ?3, NULL, ?4, ?4, ?5) ON CONFLICT DO NOTHING",
            params![message_id, event, requester, now_us, new.body],
        )?;
        if inserted == 1 {
            crate::facts::record(transaction, transaction.last_insert_rowid(), &new)?;
            crate::identity::link(transaction, &new, self.links.traits, self.links.known)?;
        } else {
            tracing::warn!(%message_id, "a step's journey event id was taken; the step goes on without it");
        }
        audit(
            transaction,
            instance,
            now_us,
            actor,
            "step",
            Some(node),
            &json!({ "event": event }),
        )?;
        Ok(())
    }
}

impl crate::Processes for SqliteStore {
    fn deploy_process(
        &self,
        id: &str,
        name: &str,
        format: &str,
        source: &str,
        now_us: i64,
    ) -> Result<(i64, bool), StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let outcome = crate::keep_version(
                &transaction,
                "SELECT version, source FROM processes WHERE id = ?1 ORDER BY version DESC LIMIT 1",
                id,
                source,
                |version| {
                    transaction.execute(
                        "INSERT INTO processes (id, version, name, format, source, deployed_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![id, version, name, format, source, now_us],
                    )
                },
            )?;
            transaction.commit()?;
            Ok(outcome)
        })
    }

    fn put_form(&self, key: &str, schema: &str, now_us: i64) -> Result<i64, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let (version, _) = crate::keep_version(
                &transaction,
                "SELECT version, schema FROM forms WHERE key = ?1 ORDER BY version DESC LIMIT 1",
                key,
                schema,
                |version| {
                    transaction.execute(
                        "INSERT INTO forms (key, version, schema, deployed_us) VALUES (?1, ?2, ?3, ?4)",
                        params![key, version, schema, now_us],
                    )
                },
            )?;
            transaction.commit()?;
            Ok(version)
        })
    }

    fn form(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT schema FROM forms WHERE key = ?1 ORDER BY version DESC LIMIT 1",
                )?
                .query_row(params![key], |r| r.get(0))
                .optional()?)
        })
    }

    fn start_form(&self, process: &str) -> Result<Option<String>, WorkflowError> {
        let Some(version) = self.latest_version(process)? else {
            return Err(WorkflowError::UnknownProcess(process.to_string()));
        };
        Ok(start_form(&*self.definition(process, version)?))
    }

    fn latest_version(&self, id: &str) -> Result<Option<i64>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached("SELECT max(version) FROM processes WHERE id = ?1")?
                .query_row(params![id], |r| r.get(0))?)
        })
    }

    fn deployments(&self) -> Result<Vec<Deployment>, StoreError> {
        self.with(|connection| {
            let mut out = Vec::new();
            for (kind, sql) in [("process", DEPLOYED_PROCESSES), ("form", DEPLOYED_FORMS)] {
                let mut query = connection.prepare_cached(sql)?;
                let rows = query.query_map([], |r| {
                    Ok(Deployment {
                        kind,
                        id: r.get(0)?,
                        name: r.get(1)?,
                        format: r.get(2)?,
                        version: r.get(3)?,
                        deployed_us: r.get(4)?,
                        versions: r.get(5)?,
                    })
                })?;
                for row in rows {
                    out.push(row?);
                }
            }
            Ok(out)
        })
    }

    fn process(
        &self,
        id: &str,
        version: Option<i64>,
    ) -> Result<Option<DeployedProcess>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT id, version, name, format, source, deployed_us FROM processes
                     WHERE id = ?1 AND (?2 IS NULL OR version = ?2) ORDER BY version DESC LIMIT 1",
                )?
                .query_row(params![id, version], |r| {
                    Ok(DeployedProcess {
                        id: r.get(0)?,
                        version: r.get(1)?,
                        name: r.get(2)?,
                        format: r.get(3)?,
                        source: r.get(4)?,
                        deployed_us: r.get(5)?,
                    })
                })
                .optional()?)
        })
    }

    fn startable(&self) -> Result<Vec<(String, String, Option<String>)>, WorkflowError> {
        let latest: Vec<(String, i64, String)> = self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT p.id, p.version, p.name FROM processes p
                 WHERE p.version = (SELECT MAX(version) FROM processes q WHERE q.id = p.id)
                 ORDER BY p.name, p.id",
            )?;
            let rows = query.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        startable(self, &self.definitions, latest)
    }

    fn message_starts(&self) -> Result<Arc<Vec<(String, String)>>, WorkflowError> {
        let latest: Vec<(String, i64)> = self.with(|connection| {
            let mut query = connection
                .prepare_cached("SELECT id, MAX(version) FROM processes GROUP BY id ORDER BY id")?;
            let rows = query.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        message_starts(self, &self.definitions, &self.message_starts, latest)
    }

    fn step_names(
        &self,
        id: &str,
        version: i64,
    ) -> Result<(String, HashMap<String, String>), WorkflowError> {
        step_names(self, &self.definitions, id, version)
    }
}

impl crate::Work for SqliteStore {
    fn start_keyed(
        &self,
        process: &str,
        requester: &str,
        message: Option<&str>,
        variables: Map<String, Json>,
        key: Option<&str>,
        now_us: i64,
    ) -> Result<Option<i64>, WorkflowError> {
        let deployed = self
            .latest_version(process)?
            .ok_or_else(|| WorkflowError::UnknownProcess(process.to_string()))?;
        let definition = self.definition(process, deployed)?;
        let deployed = (process.to_string(), deployed);
        let mut variables = variables;
        variables.insert("requester".into(), Json::from(requester));
        let requester = requester.to_string();
        let message = message.map(str::to_string);
        let key = key.map(str::to_string);
        self.transact(move |transaction, links| {
            let requester = requester.as_str();
            let inserted = transaction.execute(
                "INSERT INTO instances (process_id, version, requester, status, state, started_us, updated_us, start_key)
                 VALUES (?1, ?2, ?3, 'running', '{}', ?4, ?4, ?5) ON CONFLICT (start_key) WHERE start_key IS NOT NULL DO NOTHING",
                params![deployed.0, deployed.1, requester, now_us, key],
            )?;
            if inserted == 0 {
                return Ok(None);
            }
            let instance = transaction.last_insert_rowid();
            let mut state = State::default();
            let form = variables.clone();
            let command = match message {
                Some(name) => Command::StartOnMessage { name, variables },
                None => Command::Start { variables },
            };
            let effects = engine::step(&definition, &mut state, command, now_us)
                .map_err(WorkflowError::from)?;
            audit(transaction, instance, now_us, requester, "started", None, &Json::Object(form))?;
            let step = Applying { transaction, links, process: &definition, instance, requester, actor: requester, now_us };
            step.apply(&state, &effects)?;
            Ok(Some((instance, schedules_job(&effects))))
        })
        .map(|started| {
            started.map(|(instance, schedules)| {
                if schedules {
                    self.jobs.raise();
                }
                instance
            })
        })
    }

    fn advance_keyed(
        &self,
        instance: i64,
        command: Command,
        actor: &str,
        now_us: i64,
        message_id: Option<&str>,
    ) -> Result<Option<Vec<Effect>>, WorkflowError> {
        let message_id = message_id.map(str::to_string);
        // Who started it and what it runs never change: read without the state.
        let head: Option<(String, i64, String)> = self.with(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT process_id, version, requester FROM instances WHERE id = ?1",
                )?
                .query_row(params![instance], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?)
        })?;
        let (process, version, requester) = head.ok_or(WorkflowError::UnknownInstance(instance))?;
        let definition = self.definition(&process, version)?;
        let actor = actor.to_string();
        self.transact(move |transaction, links| {
            let actor = actor.as_str();
            if let Some(message_id) = &message_id {
                let first = transaction.execute(
                    "INSERT INTO message_deliveries (message_id, instance_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![message_id, instance],
                )?;
                if first == 0 {
                    return Ok(None);
                }
            }
            // Read again inside the transaction: another step may have committed since.
            let stored: String = transaction.query_row(
                "SELECT state FROM instances WHERE id = ?1",
                params![instance],
                |r| r.get(0),
            )?;
            let mut state: State = serde_json::from_str(&stored)
                .map_err(|e| WorkflowError::State(instance, e.to_string()))?;
            let (action, data, node) = describe(&definition, &state, &command);
            let effects = engine::step(&definition, &mut state, command, now_us)?;
            audit(
                transaction,
                instance,
                now_us,
                actor,
                action,
                node.as_deref(),
                &data,
            )?;
            let step = Applying {
                transaction,
                links,
                process: &definition,
                instance,
                requester: &requester,
                actor,
                now_us,
            };
            step.apply(&state, &effects)?;
            Ok(Some(effects))
        })
        .inspect(|effects| {
            if effects.as_deref().is_some_and(schedules_job) {
                self.jobs.raise();
            }
        })
    }

    fn job_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.jobs.watch()
    }

    fn webhook_due(&self, instance: i64, task: u64, now_us: i64) -> Result<bool, StoreError> {
        self.with(|connection| {
            let next: Option<i64> = connection
                .prepare_cached(
                    "SELECT next_try_us FROM webhook_attempts WHERE instance_id = ?1 AND task_id = ?2",
                )?
                .query_row(params![instance, task as i64], |r| r.get(0))
                .optional()?;
            Ok(next.is_none_or(|next| next <= now_us))
        })
    }

    fn webhook_failed(
        &self,
        instance: i64,
        task: u64,
        error: &str,
        next_try_us: i64,
    ) -> Result<i64, StoreError> {
        self.write(|connection| {
            connection.execute(
                "INSERT INTO webhook_attempts (instance_id, task_id, attempts, next_try_us, last_error) VALUES (?1, ?2, 1, ?3, ?4)
                 ON CONFLICT (instance_id, task_id) DO UPDATE SET attempts = attempts + 1, next_try_us = ?3, last_error = ?4",
                params![instance, task as i64, next_try_us, error],
            )?;
            connection.execute(
                "UPDATE jobs SET due_us = ?3 WHERE kind = 'webhook' AND instance_id = ?1 AND item = ?2",
                params![instance, task as i64, next_try_us],
            )?;
            Ok(connection.query_row(
                "SELECT attempts FROM webhook_attempts WHERE instance_id = ?1 AND task_id = ?2",
                params![instance, task as i64],
                |r| r.get(0),
            )?)
        })
    }

    fn retry_webhook(
        &self,
        instance: i64,
        task: u64,
        by: &str,
        reason: &str,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        let retried = self.write(|connection| {
            let transaction = connection.transaction()?;
            let node: Option<String> = transaction
                .query_row(
                    // Only a call waiting for its next try: a claimed one (its due time is its
                    // claim's end) is being made now, and calling it again would make two.
                    "SELECT t.node FROM jobs j JOIN tasks t ON t.instance_id = j.instance_id AND t.task_id = j.item
                     JOIN webhook_attempts w ON w.instance_id = j.instance_id AND w.task_id = j.item
                     WHERE j.kind = 'webhook' AND j.instance_id = ?1 AND j.item = ?2 AND t.status = 'open'
                       AND j.due_us = w.next_try_us",
                    params![instance, task as i64],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(node) = &node {
                transaction.execute(
                    "UPDATE jobs SET due_us = ?3 WHERE kind = 'webhook' AND instance_id = ?1 AND item = ?2",
                    params![instance, task as i64, now_us],
                )?;
                transaction.execute(
                    "UPDATE webhook_attempts SET next_try_us = ?3 WHERE instance_id = ?1 AND task_id = ?2",
                    params![instance, task as i64, now_us],
                )?;
                audit(&transaction, instance, now_us, by, "retried", Some(node), &json!({ "task": task, "reason": reason }))?;
            }
            transaction.commit()?;
            Ok(node.is_some())
        })?;
        if retried {
            self.jobs.raise();
        }
        Ok(retried)
    }

    fn webhook_attempts(
        &self,
        instance: i64,
        task: u64,
    ) -> Result<Option<(i64, String)>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT attempts, last_error FROM webhook_attempts WHERE instance_id = ?1 AND task_id = ?2",
                )?
                .query_row(params![instance, task as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?)
        })
    }

    fn outbox_turn(&self, wait: bool) -> Option<Turn<'_>> {
        Turn::of(&self.outbox_turn, wait)
    }

    fn claim_jobs(
        &self,
        kind: JobKind,
        now_us: i64,
        lease_us: i64,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        // One writer: a claim is never made twice at once.
        self.write(|connection| {
            let mut claim = connection.prepare_cached(
                "UPDATE jobs SET due_us = ?3, attempts = attempts + 1
                 WHERE rowid IN (SELECT rowid FROM jobs WHERE kind = ?1 AND due_us <= ?2 ORDER BY due_us LIMIT ?4)
                 RETURNING instance_id, item, attempts",
            )?;
            let rows = claim.query_map(
                params![kind.as_str(), now_us, now_us.saturating_add(lease_us), limit as i64],
                |r| {
                    Ok(Job {
                        kind,
                        instance: r.get(0)?,
                        item: r.get::<_, i64>(1)? as u64,
                        attempts: r.get(2)?,
                    })
                },
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn next_job(&self, kind: JobKind) -> Result<Option<i64>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached("SELECT min(due_us) FROM jobs WHERE kind = ?1")?
                .query_row(params![kind.as_str()], |r| r.get(0))?)
        })
    }

    fn outbox(&self, limit: usize) -> Result<Vec<(i64, crate::NewEvent)>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT e.seq, e.message_id, e.kind, e.name, e.user_id, e.anonymous_id, e.timestamp_us, e.received_us, e.body, NULL
                 FROM message_outbox o JOIN events e ON e.seq = o.seq ORDER BY o.seq LIMIT ?1",
            )?;
            let rows = query.query_map(params![limit as i64], crate::row_to_event)?;
            Ok(rows
                .map(|r| r.map(|stored| (stored.seq, stored.event)))
                .collect::<Result<_, _>>()?)
        })
    }

    fn outbox_done(&self, seqs: &[i64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        self.write(|connection| {
            let transaction = connection.transaction()?;
            {
                let mut delete =
                    transaction.prepare_cached("DELETE FROM message_outbox WHERE seq = ?1")?;
                for seq in seqs {
                    delete.execute(params![seq])?;
                }
            }
            transaction.commit()?;
            Ok(())
        })
    }

    fn instance(&self, id: i64) -> Result<Option<InstanceRow>, WorkflowError> {
        let row = self.with(|connection| {
            Ok(connection
                .prepare_cached(
                    "SELECT id, process_id, version, requester, status, state, started_us, updated_us FROM instances WHERE id = ?1",
                )?
                .query_row(params![id], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, i64>(6)?,
                        r.get::<_, i64>(7)?,
                    ))
                })
                .optional()?)
        })?;
        let Some((id, process, version, requester, status, state, started_us, updated_us)) = row
        else {
            return Ok(None);
        };
        let state =
            serde_json::from_str(&state).map_err(|e| WorkflowError::State(id, e.to_string()))?;
        Ok(Some(InstanceRow {
            id,
            process,
            version,
            requester,
            status,
            state,
            started_us,
            updated_us,
        }))
    }

    fn instance_list(
        &self,
        status: Option<&str>,
        process: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<InstanceSummary>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT id, process_id, version, requester, status, started_us, updated_us FROM instances
                 WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR process_id = ?2) AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4",
            )?;
            let rows = query.query_map(params![status, process, before, limit as i64], |r| {
                Ok(InstanceSummary {
                    id: r.get(0)?,
                    process: r.get(1)?,
                    version: r.get(2)?,
                    requester: r.get(3)?,
                    status: r.get(4)?,
                    started_us: r.get(5)?,
                    updated_us: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn instance_counts(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT status, count(*) FROM instances GROUP BY status ORDER BY status",
            )?;
            let rows = query.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as usize)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn failing_webhooks(&self, limit: usize) -> Result<(Vec<FailingWebhook>, usize), StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&FAILING_WEBHOOKS.replace("$1", "?1"))?;
            let rows = query.query_map(params![limit as i64], |r| {
                Ok(FailingWebhook {
                    instance: r.get(0)?,
                    task: r.get::<_, i64>(1)? as u64,
                    name: r.get(2)?,
                    attempts: r.get(3)?,
                    last_error: r.get(4)?,
                    next_try_us: r.get(5)?,
                })
            })?;
            let found = rows.collect::<Result<Vec<_>, _>>()?;
            let all: i64 = connection
                .prepare_cached(FAILING_WEBHOOKS_COUNTED)?
                .query_row([], |r| r.get(0))?;
            Ok((found, all as usize))
        })
    }

    fn mail_waiting(&self) -> Result<usize, StoreError> {
        self.with(|connection| {
            let n: i64 = connection
                .prepare_cached(MAIL_WAITING)?
                .query_row([], |r| r.get(0))?;
            Ok(n as usize)
        })
    }

    fn instances_of(&self, requester: &str) -> Result<Vec<i64>, StoreError> {
        self.with(|connection| {
            let mut query = connection
                .prepare_cached("SELECT id FROM instances WHERE requester = ?1 ORDER BY id DESC")?;
            let rows = query.query_map(params![requester], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn open_tasks(&self) -> Result<Vec<TaskRow>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE status = 'open' ORDER BY created_us, instance_id, task_id"
            ))?;
            let rows = query.query_map([], task_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn worker_tasks(
        &self,
        topic: Option<&str>,
        after: Option<TaskKey>,
        limit: usize,
    ) -> Result<(Vec<TaskRow>, Option<TaskKey>), StoreError> {
        let rows: Vec<TaskRow> = self.with(|connection| {
            let mut query = connection.prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks
                 WHERE status = 'open' AND kind = 'worker'
                   AND (?1 IS NULL OR topic = ?1 OR substr(topic, 1, length(?1) + 1) = ?1 || '?')
                   AND (?2 IS NULL OR (created_us, instance_id, task_id) > (?2, ?3, ?4))
                 ORDER BY created_us, instance_id, task_id LIMIT ?5"
            ))?;
            let rows = query.query_map(
                params![
                    topic,
                    after.map(|a| a.created_us),
                    after.map(|a| a.instance),
                    after.map(|a| a.task as i64),
                    limit as i64
                ],
                task_row,
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        let next = next_page(&rows, limit);
        Ok((rows, next))
    }

    fn tasks_for_page(
        &self,
        user: &User,
        after: Option<TaskKey>,
        limit: usize,
    ) -> Result<(Vec<TaskRow>, Option<TaskKey>), StoreError> {
        let groups = serde_json::to_string(&groups_of(user)).unwrap_or_default();
        let rows: Vec<TaskRow> = self.with(|connection| {
            // The tasks assigned to the person and the unassigned ones offered to them, each
            // read in order through its own index (see `OPEN_WORK_INDEXES`), then merged.
            let mut query = connection.prepare_cached(&format!(
                "SELECT * FROM (SELECT {TASK_COLUMNS} FROM tasks
                     WHERE status = 'open' AND assignee = ?1 AND kind = 'user'
                       AND NOT (requester = ?1 AND NOT for_requester)
                       AND (?3 IS NULL OR (created_us, instance_id, task_id) > (?3, ?4, ?5))
                     ORDER BY created_us, instance_id, task_id LIMIT ?6)
                 UNION ALL
                 SELECT * FROM (SELECT {TASK_COLUMNS} FROM tasks
                     WHERE status = 'open' AND assignee IS NULL AND kind = 'user'
                       AND NOT (requester = ?1 AND NOT for_requester)
                       AND (instr(',' || candidate_users || ',', ',' || ?1 || ',') > 0
                            OR EXISTS (SELECT 1 FROM json_each(?2) g
                                       WHERE instr(',' || lower(candidate_groups) || ',', ',' || g.value || ',') > 0))
                       AND (?3 IS NULL OR (created_us, instance_id, task_id) > (?3, ?4, ?5))
                     ORDER BY created_us, instance_id, task_id LIMIT ?6)
                 ORDER BY created_us, instance_id, task_id LIMIT ?6"
            ))?;
            let rows = query.query_map(
                params![
                    user.id,
                    groups,
                    after.map(|a| a.created_us),
                    after.map(|a| a.instance),
                    after.map(|a| a.task as i64),
                    limit as i64
                ],
                task_row,
            )?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        Ok(inbox_page(rows, user, limit))
    }

    fn task(&self, instance: i64, task: u64) -> Result<Option<TaskRow>, StoreError> {
        self.with(|connection| {
            Ok(connection
                .prepare_cached(&format!(
                    "SELECT {TASK_COLUMNS} FROM tasks WHERE instance_id = ?1 AND task_id = ?2"
                ))?
                .query_row(params![instance, task as i64], task_row)
                .optional()?)
        })
    }

    fn instance_tasks(&self, instance: i64) -> Result<Vec<TaskRow>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE instance_id = ?1 ORDER BY task_id"
            ))?;
            let rows = query.query_map(params![instance], task_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn has_subscriptions(&self) -> Result<bool, StoreError> {
        self.with(|connection| {
            Ok(
                connection.query_row("SELECT EXISTS (SELECT 1 FROM subscriptions)", [], |r| {
                    r.get(0)
                })?,
            )
        })
    }

    fn awaited_messages(&self) -> Result<std::collections::HashSet<String>, WorkflowError> {
        let mut names: std::collections::HashSet<String> = self.with(|connection| {
            let mut query =
                connection.prepare_cached("SELECT DISTINCT message FROM subscriptions")?;
            let rows = query.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })?;
        names.extend(
            self.message_starts()?
                .iter()
                .map(|(message, _)| message.clone()),
        );
        Ok(names)
    }

    fn awaited_by(&self, instance: i64) -> Result<Vec<String>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT message FROM subscriptions WHERE instance_id = ?1 GROUP BY message ORDER BY min(subscription_id)",
            )?;
            let rows = query.query_map(params![instance], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn awaiting(&self, message: &str, person: &str) -> Result<Vec<i64>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT DISTINCT instance_id FROM subscriptions WHERE message = ?1 AND correlation = ?2 ORDER BY instance_id",
            )?;
            let rows = query.query_map(params![message, person], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn audit_trail(&self, instance: i64) -> Result<Vec<AuditRow>, StoreError> {
        self.with(|connection| {
            let mut query = connection.prepare_cached(
                "SELECT at_us, actor, action, node, data FROM audit WHERE instance_id = ?1 ORDER BY id",
            )?;
            let rows = query.query_map(params![instance], |r| {
                let data: String = r.get(4)?;
                Ok(AuditRow {
                    at_us: r.get(0)?,
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    node: r.get(3)?,
                    data: serde_json::from_str(&data).unwrap_or(Json::Null),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn assign_task(
        &self,
        instance: i64,
        task: u64,
        user: &str,
        by: &str,
        action: &str,
        reason: Option<&str>,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        self.write(|connection| {
            let transaction = connection.transaction()?;
            let changed = transaction.execute(
                "UPDATE tasks SET assignee = ?3 WHERE instance_id = ?1 AND task_id = ?2 AND status = 'open'",
                params![instance, task as i64, user],
            )?;
            if changed == 1 {
                let node: String = transaction.query_row(
                    "SELECT node FROM tasks WHERE instance_id = ?1 AND task_id = ?2",
                    params![instance, task as i64],
                    |r| r.get(0),
                )?;
                audit(&transaction, instance, now_us, by, action, Some(&node), &assignment(task, user, reason))?;
            }
            transaction.commit()?;
            Ok(changed == 1)
        })
    }

    fn comment(
        &self,
        instance: i64,
        task: u64,
        by: &str,
        text: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        self.write(|connection| {
            audit(
                connection,
                instance,
                now_us,
                by,
                "comment",
                None,
                &json!({ "task": task, "text": text }),
            )
        })
    }

    fn audit_refusal(
        &self,
        instance: i64,
        actor: &str,
        what: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        self.write(|connection| {
            audit(
                connection,
                instance,
                now_us,
                actor,
                "refused",
                None,
                &json!({ "attempt": what }),
            )
        })
    }
}
