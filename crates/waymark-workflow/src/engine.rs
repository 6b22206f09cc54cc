//! The state machine that runs a process instance.
//!
//! [`step`] applies one command (start, a task completed, a message, a timer) to an instance's
//! [`State`] and runs every token until each waits for something outside: a person, a worker, a
//! message or a timer. It does no IO and reads no clock: the caller passes `now`, stores the new
//! state and carries out the returned [`Effect`]s (create tasks, set timers, send emails, record
//! the step as a journey event) in the same transaction. A failed step leaves the state as it was.
//!
//! Tokens follow BPMN's semantics for the elements in [`crate::bpmn::SUPPORTED`]: an exclusive
//! gateway takes the first flow whose condition holds (a flow without one counts as holding,
//! as in Camunda), else its default; a parallel gateway joins all its incoming flows; an
//! event-based gateway waits for the first of the events after it; boundary events interrupt the
//! activity (or not) when their timer, message, error or escalation comes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::model::*;

/// One instance's state; stored as JSON between steps.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    pub variables: Map<String, Json>,
    pub tokens: BTreeMap<u64, Token>,
    pub tasks: BTreeMap<u64, Task>,
    pub timers: BTreeMap<u64, TimerState>,
    pub subscriptions: BTreeMap<u64, Subscription>,
    /// Arrivals at parallel joins: (join node, scope) → tokens waiting there.
    pub joins: Vec<(JoinKey, Vec<u64>)>,
    next_id: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    #[default]
    NotStarted,
    Running,
    Completed,
    /// Ended by a terminate end event.
    Terminated,
    /// Stopped by an administrator (`Command::Cancel`): its open steps are cancelled.
    Cancelled,
    /// Stopped: an error nobody catches, or a step that cannot go on (a condition that fails).
    Failed {
        node: String,
        message: String,
    },
}

/// A parallel join in one scope: the gateway, and the sub-process token it runs in.
pub type JoinKey = (NodeIndex, Option<u64>);

/// A place in the process where the instance is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub node: NodeIndex,
    /// The token of the sub-process it runs inside.
    pub scope: Option<u64>,
}

/// Work for a person or a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub token: u64,
    pub node: NodeIndex,
    /// For multi-instance tasks, the item this one is for, and its place.
    pub item: Option<(usize, Json)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimerState {
    pub token: u64,
    /// The boundary or catch event it belongs to.
    pub node: NodeIndex,
    pub due: i64,
    /// Cycles still to come after this one (`None`: unbounded).
    pub repeat: Option<Option<u32>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    pub token: u64,
    pub node: NodeIndex,
    pub message: String,
}

/// What a caller asks of an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Start {
        variables: Map<String, Json>,
    },
    /// Starts at the message start event waiting for `name` (a collected event).
    StartOnMessage {
        name: String,
        variables: Map<String, Json>,
    },
    /// A user task, or a service/send task's worker, is done; its data becomes variables.
    Complete {
        task: u64,
        variables: Map<String, Json>,
    },
    /// A task ends with a BPMN error or escalation (caught by a boundary event on it).
    Throw {
        task: u64,
        signal: Signal,
        code: String,
    },
    /// A message for the instance (already correlated to it by the caller).
    Message {
        name: String,
        variables: Map<String, Json>,
    },
    FireTimer {
        timer: u64,
    },
    /// An administrator stops the request: every open task, timer and wait is cancelled. The
    /// reason goes to the audit trail.
    Cancel {
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    Error,
    Escalation,
}

/// What the caller must do after a step, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// A step was taken: record it (audit trail and journey event).
    Step {
        node: String,
        name: String,
        what: StepKind,
    },
    /// Create a task. `assignee` and `candidate_groups` are as written, with `${…}` already
    /// evaluated; directory references such as `manager-of:requester` are for the caller.
    TaskCreated {
        task: u64,
        node: String,
        name: String,
        kind: TaskKind,
        assignee: Option<String>,
        candidate_groups: Vec<String>,
        candidate_users: Vec<String>,
        due: Option<i64>,
        form: Option<String>,
        item: Option<Json>,
        /// The process routes this step to the requester herself: its assignee is written
        /// `${requester}` (YAML `actor: requester`). Every other step of her request, whoever it
        /// resolves to, decides on it, and she may never work it.
        for_requester: bool,
    },
    TaskCancelled {
        task: u64,
    },
    TimerSet {
        timer: u64,
        due: i64,
    },
    TimerCancelled {
        timer: u64,
    },
    MessageAwaited {
        subscription: u64,
        message: String,
    },
    MessageNoLongerAwaited {
        subscription: u64,
    },
    /// The instance ended (completed, terminated or failed): see [`State::status`].
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Started,
    Entered,
    Completed,
    Cancelled,
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKind {
    /// For a person.
    User,
    /// For a worker: a webhook, an email, an external system (`topic`).
    Worker { topic: String },
}

/// A command the instance cannot take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("the instance has already started")]
    AlreadyStarted,
    #[error("the instance is not running")]
    NotRunning,
    #[error("there is no open task {0}")]
    NoSuchTask(u64),
    #[error("there is no timer {0}")]
    NoSuchTimer(u64),
    #[error("the instance is not waiting for the message `{0}`")]
    NotAwaited(String),
    #[error("the process has no plain start event")]
    NoStart,
    /// A step tried to set a variable the engine keeps itself (see [`RESERVED`]).
    #[error("`{0}` is set by Waymark itself; a step cannot change it")]
    Reserved(String),
    /// A value the process reads (a due date from a variable, say) cannot be used.
    #[error("{message}")]
    Invalid {
        /// The variable the value came from, when the process read it from one.
        variable: Option<String>,
        message: String,
    },
}

/// The variables the engine and the store set themselves: who asked, and the counters of
/// multi-instance steps. People, workers and messages never write them.
pub const RESERVED: &[&str] = &[
    "requester",
    "nrOfInstances",
    "nrOfActiveInstances",
    "nrOfCompletedInstances",
    "loopCounter",
];

/// Whether `name` is one of the [`RESERVED`] variables.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}

/// What a message named `name` carries into the variables: only what the process declares
/// for it, each checked for its kind; its other properties are left out.
pub fn message_values(
    process: &Process,
    name: &str,
    properties: &Map<String, Json>,
) -> Result<Map<String, Json>, EngineError> {
    let mut out = Map::new();
    for declared in process.messages.get(name).into_iter().flatten() {
        match properties.get(&declared.name) {
            None | Some(Json::Null) => {}
            Some(value) if declared.kind.accepts(value) && !is_reserved(&declared.name) => {
                out.insert(declared.name.clone(), value.clone());
            }
            Some(value) => {
                let shown: String = value.to_string().chars().take(60).collect();
                return Err(EngineError::Invalid {
                    variable: Some(declared.name.clone()),
                    message: format!(
                        "the message `{name}` carries `{}` = {shown}, which is not a {}",
                        declared.name,
                        declared.kind.as_str()
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// Whether an assignee as written names the requester herself: `${requester}` (or `#{…}`),
/// never a value that merely evaluates to her id.
fn names_the_requester(spec: &str) -> bool {
    let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
    spec == "${requester}" || spec == "#{requester}"
}

/// Refuses values that would overwrite a reserved variable.
fn unreserved(variables: &Map<String, Json>) -> Result<(), EngineError> {
    match variables.keys().find(|k| is_reserved(k)) {
        Some(name) => Err(EngineError::Reserved(name.clone())),
        None => Ok(()),
    }
}

/// Applies `command` at time `now` (µs). On error the state is unchanged.
pub fn step(
    process: &Process,
    state: &mut State,
    command: Command,
    now: i64,
) -> Result<Vec<Effect>, EngineError> {
    let mut run = Run {
        process,
        state: state.clone(),
        effects: Vec::new(),
        now,
        agenda: Vec::new(),
        refused: None,
    };
    run.apply(command)?;
    run.drain();
    if let Some(refusal) = run.refused {
        return Err(refusal);
    }
    if run.state.status == Status::Running && run.state.tokens.is_empty() {
        run.state.status = Status::Completed;
    }
    if !matches!(run.state.status, Status::Running | Status::NotStarted) {
        run.clear_waits();
        run.effects.push(Effect::Ended);
    }
    *state = run.state;
    Ok(run.effects)
}

struct Run<'p> {
    process: &'p Process,
    state: State,
    effects: Vec<Effect>,
    now: i64,
    /// Tokens that arrived at a node and must enter it.
    agenda: Vec<u64>,
    /// Why the command cannot be taken after all, found on the way (a due date that cannot be
    /// read): the step is refused and the state left as it was.
    refused: Option<EngineError>,
}

impl Run<'_> {
    fn id(&mut self) -> u64 {
        self.state.next_id += 1;
        self.state.next_id
    }

    fn node(&self, n: NodeIndex) -> &Node {
        &self.process.nodes[n]
    }

    fn record(&mut self, n: NodeIndex, what: StepKind) {
        let node = self.node(n);
        let (node, name) = (node.id.clone(), node.label().to_string());
        self.effects.push(Effect::Step { node, name, what });
    }

    fn fail(&mut self, n: NodeIndex, message: String) {
        if self.state.status == Status::Running {
            self.state.status = Status::Failed {
                node: self.node(n).id.clone(),
                message,
            };
        }
    }

    fn apply(&mut self, command: Command) -> Result<(), EngineError> {
        let (start, variables) = match command {
            Command::Start { variables } => {
                let plain = self.process.starts().find(|&s| {
                    matches!(
                        self.node(s).kind,
                        NodeKind::Start {
                            trigger: Trigger::None,
                            ..
                        }
                    )
                });
                (plain.or_else(|| self.process.starts().next()), variables)
            }
            Command::StartOnMessage { name, variables } => {
                let on_message = self.process.starts().find(|&s| {
                    matches!(&self.node(s).kind, NodeKind::Start { trigger: Trigger::Message(m), .. } if *m == name)
                });
                // What the store set (the requester), then what the message may carry.
                let mut given: Map<String, Json> = variables
                    .iter()
                    .filter(|(k, _)| *k == "requester")
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                given.extend(message_values(self.process, &name, &variables)?);
                (on_message, given)
            }
            other => return self.continue_with(other),
        };
        if self.state.status != Status::NotStarted {
            return Err(EngineError::AlreadyStarted);
        }
        let start = start.ok_or(EngineError::NoStart)?;
        self.state.status = Status::Running;
        self.state.variables = variables;
        let token = self.spawn(start, None);
        self.record(start, StepKind::Started);
        self.leave(token);
        Ok(())
    }

    fn continue_with(&mut self, command: Command) -> Result<(), EngineError> {
        if self.state.status != Status::Running {
            return Err(EngineError::NotRunning);
        }
        match command {
            Command::Start { .. } | Command::StartOnMessage { .. } => {
                Err(EngineError::AlreadyStarted)
            }
            Command::Complete { task, variables } => {
                unreserved(&variables)?;
                let open = self
                    .state
                    .tasks
                    .remove(&task)
                    .ok_or(EngineError::NoSuchTask(task))?;
                self.state.variables.extend(variables);
                self.task_done(open);
                Ok(())
            }
            Command::Throw { task, signal, code } => {
                let open = self
                    .state
                    .tasks
                    .get(&task)
                    .cloned()
                    .ok_or(EngineError::NoSuchTask(task))?;
                let caught = self.catching(open.node, signal, &code);
                match caught {
                    Some(boundary) => self.boundary_fires(open.token, boundary),
                    None if signal == Signal::Escalation => {}
                    None => {
                        self.fail(open.node, format!("the error `{code}` is not caught"));
                    }
                }
                Ok(())
            }
            Command::Message { name, variables } => {
                let found = self
                    .state
                    .subscriptions
                    .iter()
                    .find(|(_, s)| s.message == name)
                    .map(|(&id, s)| (id, s.clone()))
                    .ok_or(EngineError::NotAwaited(name.clone()))?;
                let variables = message_values(self.process, &name, &variables)?;
                self.state.variables.extend(variables);
                self.event_fires(found.1.token, found.1.node);
                Ok(())
            }
            Command::Cancel { .. } => {
                self.state.status = Status::Cancelled;
                Ok(())
            }
            Command::FireTimer { timer } => {
                let fired = self
                    .state
                    .timers
                    .get(&timer)
                    .cloned()
                    .ok_or(EngineError::NoSuchTimer(timer))?;
                // A cycle sets its next round before the event is handled.
                match (fired.repeat, self.timer_of(fired.node)) {
                    (Some(remaining), Some(Timer::Cycle { every, .. }))
                        if remaining != Some(0)
                            && matches!(
                                self.node(fired.node).kind,
                                NodeKind::Boundary(Boundary { cancel: false, .. })
                            ) =>
                    {
                        let due = after(fired.due, *every);
                        let next = TimerState {
                            due,
                            repeat: Some(remaining.map(|r| r - 1)),
                            ..fired.clone()
                        };
                        self.state.timers.insert(timer, next);
                        self.effects.push(Effect::TimerSet { timer, due });
                    }
                    _ => {
                        self.state.timers.remove(&timer);
                    }
                }
                self.event_fires(fired.token, fired.node);
                Ok(())
            }
        }
    }

    fn timer_of(&self, node: NodeIndex) -> Option<&Timer> {
        match &self.node(node).kind {
            NodeKind::Boundary(Boundary {
                trigger: Trigger::Timer(t),
                ..
            })
            | NodeKind::CatchEvent {
                trigger: Trigger::Timer(t),
            } => Some(t),
            _ => None,
        }
    }

    /// A timer or message for `node` (a boundary or catch event) has come, for `token`.
    fn event_fires(&mut self, token: u64, node: NodeIndex) {
        match &self.node(node).kind {
            NodeKind::Boundary(_) => self.boundary_fires(token, node),
            _ => {
                // A catch event (maybe after an event-based gateway): the token moves there.
                self.clear_token_waits(token);
                if let Some(t) = self.state.tokens.get_mut(&token) {
                    t.node = node;
                }
                self.record(node, StepKind::Completed);
                self.leave(token);
            }
        }
    }

    fn catching(&self, activity: NodeIndex, signal: Signal, code: &str) -> Option<NodeIndex> {
        self.process.boundaries(activity).find(|&b| {
            let NodeKind::Boundary(boundary) = &self.node(b).kind else {
                return false;
            };
            match (&boundary.trigger, signal) {
                (Trigger::Error(c), Signal::Error)
                | (Trigger::Escalation(c), Signal::Escalation) => {
                    c.as_deref().is_none_or(|c| c.is_empty() || c == code)
                }
                _ => false,
            }
        })
    }

    /// A boundary event of the activity `token` is at fires.
    fn boundary_fires(&mut self, token: u64, boundary: NodeIndex) {
        let NodeKind::Boundary(b) = &self.node(boundary).kind else {
            return;
        };
        let scope = self.state.tokens.get(&token).and_then(|t| t.scope);
        if b.cancel {
            self.cancel(token);
            if let Some(t) = self.state.tokens.get_mut(&token) {
                t.node = boundary;
            }
            self.record(boundary, StepKind::Completed);
            self.leave(token);
        } else {
            let new = self.spawn(boundary, scope);
            self.record(boundary, StepKind::Completed);
            self.leave(new);
        }
    }

    fn spawn(&mut self, node: NodeIndex, scope: Option<u64>) -> u64 {
        let id = self.id();
        self.state.tokens.insert(id, Token { node, scope });
        id
    }

    /// Stops everything `token` waits for (tasks, timers, subscriptions, and its sub-process).
    fn cancel(&mut self, token: u64) {
        self.cancel_tasks(token);
        self.clear_token_waits(token);
        let children: Vec<u64> = self
            .state
            .tokens
            .iter()
            .filter(|(_, t)| t.scope == Some(token))
            .map(|(&id, _)| id)
            .collect();
        for child in children {
            self.cancel(child);
            self.state.tokens.remove(&child);
        }
        self.state
            .joins
            .retain(|((_, scope), _)| *scope != Some(token));
        if let Some(node) = self.state.tokens.get(&token).map(|t| t.node) {
            self.record(node, StepKind::Cancelled);
        }
    }

    /// Cancels the open tasks of `token`.
    fn cancel_tasks(&mut self, token: u64) {
        for task in owned_by(&self.state.tasks, token, |t| t.token) {
            self.state.tasks.remove(&task);
            self.effects.push(Effect::TaskCancelled { task });
        }
    }

    /// Stops the timers and message subscriptions of `token`.
    fn clear_token_waits(&mut self, token: u64) {
        for timer in owned_by(&self.state.timers, token, |t| t.token) {
            self.state.timers.remove(&timer);
            self.effects.push(Effect::TimerCancelled { timer });
        }
        for subscription in owned_by(&self.state.subscriptions, token, |s| s.token) {
            self.state.subscriptions.remove(&subscription);
            self.effects
                .push(Effect::MessageNoLongerAwaited { subscription });
        }
    }

    /// Clears every wait of an instance that has ended.
    fn clear_waits(&mut self) {
        let tokens: Vec<u64> = self.state.tokens.keys().copied().collect();
        for token in tokens {
            self.cancel_tasks(token);
            self.clear_token_waits(token);
        }
        self.state.tokens.clear();
        self.state.joins.clear();
    }

    /// A task of a token is done; the token goes on when all its tasks are (multi-instance).
    fn task_done(&mut self, task: Task) {
        let token = task.token;
        let node = task.node;
        let NodeKind::UserTask(user) = &self.node(node).kind else {
            self.clear_token_waits(token);
            self.record(node, StepKind::Completed);
            self.leave(token);
            return;
        };
        let Some(multi) = user.multi.clone() else {
            self.clear_token_waits(token);
            self.record(node, StepKind::Completed);
            self.leave(token);
            return;
        };
        // Multi-instance bookkeeping in variables Camunda users know.
        let items = self.items(&multi);
        let completed = self
            .state
            .variables
            .get("nrOfCompletedInstances")
            .and_then(Json::as_u64)
            .unwrap_or(0)
            + 1;
        let active = self
            .state
            .tasks
            .values()
            .filter(|t| t.token == token)
            .count();
        self.state
            .variables
            .insert("nrOfCompletedInstances".into(), Json::from(completed));
        self.state
            .variables
            .insert("nrOfActiveInstances".into(), Json::from(active));
        self.state
            .variables
            .insert("nrOfInstances".into(), Json::from(items.len()));
        let done_early = multi
            .completion
            .as_ref()
            .is_some_and(|c| c.test(&self.state.variables).unwrap_or(false));
        let next = task.item.as_ref().map_or(items.len(), |(i, _)| i + 1);
        if !done_early && multi.sequential && next < items.len() {
            self.create_task(token, node, Some((next, items[next].clone())));
            return;
        }
        if !done_early && active > 0 {
            return;
        }
        // Done: the rest are cancelled.
        self.cancel_tasks(token);
        for key in [
            "nrOfCompletedInstances",
            "nrOfActiveInstances",
            "nrOfInstances",
        ] {
            self.state.variables.remove(key);
        }
        self.clear_token_waits(token);
        self.record(node, StepKind::Completed);
        self.leave(token);
    }

    fn items(&self, multi: &MultiInstance) -> Vec<Json> {
        if let Some(collection) = &multi.collection
            && let Some(Json::Array(items)) = self.state.variables.get(collection.trim())
        {
            return items.clone();
        }
        let count = multi
            .cardinality
            .as_ref()
            .and_then(|c| c.eval(&self.state.variables).ok())
            .and_then(|v| v.as_f64())
            .unwrap_or(1.0)
            .max(0.0) as usize;
        (0..count).map(Json::from).collect()
    }

    /// Moves `token` out of its node along every outgoing flow that may be taken.
    fn leave(&mut self, token: u64) {
        let Some(node) = self.state.tokens.get(&token).map(|t| t.node) else {
            return;
        };
        let mut targets = Vec::new();
        match &self.node(node).kind {
            NodeKind::ExclusiveGateway { default } => {
                let mut chosen = None;
                for f in self.process.outgoing(node) {
                    if Some(f) == *default {
                        continue;
                    }
                    let flow = &self.process.flows[f];
                    let holds = match &flow.condition {
                        None => Ok(true),
                        Some(c) => c.test(&self.state.variables),
                    };
                    match holds {
                        Ok(true) => {
                            chosen = Some(f);
                            break;
                        }
                        Ok(false) => {}
                        Err(error) => {
                            self.fail(node, error.to_string());
                            return;
                        }
                    }
                }
                match chosen.or(*default) {
                    Some(f) => targets.push(self.process.flows[f].target),
                    None => {
                        self.fail(
                            node,
                            "no outgoing flow's condition holds, and there is no default".into(),
                        );
                        return;
                    }
                }
            }
            _ => {
                for f in self.process.outgoing(node) {
                    let flow = &self.process.flows[f];
                    let holds = match &flow.condition {
                        None => true,
                        Some(c) => c.test(&self.state.variables).unwrap_or(false),
                    };
                    if holds {
                        targets.push(flow.target);
                    }
                }
            }
        }
        if targets.is_empty() {
            self.finish(token);
            return;
        }
        let scope = self.state.tokens.get(&token).and_then(|t| t.scope);
        for (k, target) in targets.into_iter().enumerate() {
            let moving = if k == 0 {
                token
            } else {
                self.spawn(target, scope)
            };
            if let Some(t) = self.state.tokens.get_mut(&moving) {
                t.node = target;
            }
            self.agenda.push(moving);
        }
    }

    fn drain(&mut self) {
        while let Some(token) = self.agenda.pop() {
            if self.state.status != Status::Running {
                break;
            }
            self.enter(token);
        }
    }

    /// A token arrives at its node.
    fn enter(&mut self, token: u64) {
        let Some(node) = self.state.tokens.get(&token).map(|t| t.node) else {
            return;
        };
        let scope = self.state.tokens.get(&token).and_then(|t| t.scope);
        match self.node(node).kind.clone() {
            NodeKind::Start { .. } | NodeKind::Pass | NodeKind::ThrowEvent { .. } => {
                self.record(node, StepKind::Completed);
                self.leave(token);
            }
            NodeKind::End { result } => {
                self.record(node, StepKind::Ended);
                match result {
                    EndResult::None => self.finish(token),
                    EndResult::Terminate => match scope {
                        None => {
                            self.state.status = Status::Terminated;
                        }
                        Some(parent) => {
                            self.cancel(parent);
                            self.leave(parent);
                        }
                    },
                    EndResult::Error(code) => self.throw_up(token, node, Signal::Error, &code),
                    EndResult::Escalation(code) => {
                        self.throw_up(token, node, Signal::Escalation, &code);
                    }
                }
            }
            NodeKind::UserTask(task) => {
                self.record(node, StepKind::Entered);
                self.arm_boundaries(token, node);
                match &task.multi {
                    None => self.create_task(token, node, None),
                    Some(multi) => {
                        let items = self.items(multi);
                        if items.is_empty() {
                            self.clear_token_waits(token);
                            self.record(node, StepKind::Completed);
                            self.leave(token);
                        } else if multi.sequential {
                            self.create_task(token, node, Some((0, items[0].clone())));
                        } else {
                            for (i, item) in items.into_iter().enumerate() {
                                self.create_task(token, node, Some((i, item)));
                            }
                        }
                    }
                }
            }
            NodeKind::ServiceTask(_) | NodeKind::SendTask(_) => {
                self.record(node, StepKind::Entered);
                self.arm_boundaries(token, node);
                self.create_task(token, node, None);
            }
            NodeKind::ReceiveTask { message } => {
                self.record(node, StepKind::Entered);
                self.arm_boundaries(token, node);
                self.subscribe(token, node, message);
            }
            NodeKind::ScriptTask { assignments } => {
                for (name, expr) in &assignments {
                    match expr.eval(&self.state.variables) {
                        Ok(value) => {
                            self.state.variables.insert(name.clone(), value);
                        }
                        Err(error) => {
                            self.fail(node, error.to_string());
                            return;
                        }
                    }
                }
                self.record(node, StepKind::Completed);
                self.leave(token);
            }
            NodeKind::ExclusiveGateway { .. } => self.leave(token),
            NodeKind::ParallelGateway => {
                let incoming = self.process.incoming(node).count();
                if incoming <= 1 {
                    self.leave(token);
                    return;
                }
                let key = (node, scope);
                let arrived = match self.state.joins.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, list)) => {
                        list.push(token);
                        list.len()
                    }
                    None => {
                        self.state.joins.push((key, vec![token]));
                        1
                    }
                };
                if arrived < incoming {
                    return;
                }
                let waiting = self
                    .state
                    .joins
                    .iter()
                    .position(|(k, _)| *k == key)
                    .map(|i| self.state.joins.remove(i).1)
                    .unwrap_or_default();
                for other in waiting.into_iter().filter(|&t| t != token) {
                    self.state.tokens.remove(&other);
                }
                self.leave(token);
            }
            NodeKind::EventGateway => {
                let targets: Vec<NodeIndex> = self
                    .process
                    .outgoing(node)
                    .map(|f| self.process.flows[f].target)
                    .collect();
                for target in targets {
                    self.arm_event(token, target);
                }
            }
            NodeKind::CatchEvent { .. } => {
                self.arm_event(token, node);
            }
            NodeKind::Boundary(_) => {
                // Reached by a flow: not valid BPMN, pass on.
                self.leave(token);
            }
            NodeKind::SubProcess => {
                self.record(node, StepKind::Entered);
                self.arm_boundaries(token, node);
                let start = self.process.starts_in(Some(node)).next();
                match start {
                    None => {
                        // An empty sub-process passes straight on.
                        self.clear_token_waits(token);
                        self.record(node, StepKind::Completed);
                        self.leave(token);
                    }
                    Some(start) => {
                        let child = self.spawn(start, Some(token));
                        self.agenda.push(child);
                    }
                }
            }
        }
    }

    /// A token ends where it is; its sub-process or the instance completes when it was the last.
    fn finish(&mut self, token: u64) {
        let scope = self.state.tokens.remove(&token).and_then(|t| t.scope);
        if let Some(parent) = scope {
            let left = self.state.tokens.values().any(|t| t.scope == Some(parent));
            if !left {
                let node = self.state.tokens.get(&parent).map(|t| t.node);
                self.clear_token_waits(parent);
                if let Some(node) = node {
                    self.record(node, StepKind::Completed);
                }
                self.leave(parent);
            }
        }
    }

    /// An error or escalation end event inside a sub-process: the nearest boundary event that
    /// catches it on an enclosing sub-process fires; an uncaught error fails the instance.
    fn throw_up(&mut self, token: u64, node: NodeIndex, signal: Signal, code: &str) {
        let mut scope = self.state.tokens.get(&token).and_then(|t| t.scope);
        while let Some(parent) = scope {
            let Some(activity) = self.state.tokens.get(&parent).map(|t| t.node) else {
                break;
            };
            if let Some(boundary) = self.catching(activity, signal, code) {
                if signal == Signal::Escalation {
                    self.finish(token);
                }
                self.boundary_fires(parent, boundary);
                return;
            }
            scope = self.state.tokens.get(&parent).and_then(|t| t.scope);
        }
        match signal {
            Signal::Error => self.fail(node, format!("the error `{code}` is not caught")),
            Signal::Escalation => self.finish(token),
        }
    }

    fn create_task(&mut self, token: u64, node: NodeIndex, item: Option<(usize, Json)>) {
        let task = self.id();
        let mut scope = self.state.variables.clone();
        if let (Some((_, value)), NodeKind::UserTask(user)) = (&item, &self.node(node).kind) {
            let name = user
                .multi
                .as_ref()
                .and_then(|m| m.element.clone())
                .unwrap_or_else(|| "item".into());
            scope.insert(name, value.clone());
        }
        let text = |spec: &str| -> String {
            match crate::expr::Expr::parse(spec) {
                Ok(expr) if spec.contains("${") || spec.contains("#{") => match expr.eval(&scope) {
                    Ok(Json::String(s)) => s,
                    Ok(Json::Null) | Err(_) => spec.to_string(),
                    Ok(other) => other.to_string(),
                },
                _ => spec.to_string(),
            }
        };
        let node_ref = self.node(node);
        let for_requester = match &node_ref.kind {
            NodeKind::UserTask(user) => user.assignee.as_deref().is_some_and(names_the_requester),
            _ => false,
        };
        let mut refusal = None;
        let (kind, assignee, groups, users, due, form) = match &node_ref.kind {
            NodeKind::UserTask(user) => (
                TaskKind::User,
                user.assignee.as_deref().map(text),
                user.candidate_groups.iter().map(|g| text(g)).collect(),
                user.candidate_users.iter().map(|u| text(u)).collect(),
                user.due.as_deref().and_then(|spec| {
                    let written = text(spec);
                    let due = due_at(&written, self.now, &self.process.calendar);
                    // An expression that evaluated to a value nobody can wait for: refuse it
                    // (an unset variable leaves the task without a due date, as before).
                    if due.is_none() && written != spec {
                        refusal = Some(invalid_due(spec, &written, &node_ref.id));
                    }
                    due
                }),
                user.form.clone(),
            ),
            NodeKind::ServiceTask(service) | NodeKind::SendTask(service) => (
                TaskKind::Worker {
                    topic: match service {
                        Service::External { topic, .. } => topic.clone(),
                        Service::Webhook { url, .. } => format!("webhook:{url}"),
                        Service::Email { template, .. } => format!("email:{template}"),
                    },
                },
                // Whom a message goes to.
                match service {
                    Service::External { to, .. } => to.as_deref().map(text),
                    Service::Email { to, .. } => Some(text(to)),
                    Service::Webhook { .. } => None,
                },
                Vec::new(),
                Vec::new(),
                None,
                None,
            ),
            _ => (TaskKind::User, None, Vec::new(), Vec::new(), None, None),
        };
        let effect = Effect::TaskCreated {
            task,
            node: node_ref.id.clone(),
            name: node_ref.label().to_string(),
            kind,
            assignee,
            candidate_groups: groups,
            candidate_users: users,
            due,
            form,
            item: item.as_ref().map(|(_, v)| v.clone()),
            for_requester,
        };
        if let Some(refusal) = refusal {
            self.refused.get_or_insert(refusal);
        }
        self.state.tasks.insert(task, Task { token, node, item });
        self.effects.push(effect);
    }

    fn subscribe(&mut self, token: u64, node: NodeIndex, message: String) {
        let subscription = self.id();
        self.state.subscriptions.insert(
            subscription,
            Subscription {
                token,
                node,
                message: message.clone(),
            },
        );
        self.effects.push(Effect::MessageAwaited {
            subscription,
            message,
        });
    }

    fn set_timer(&mut self, token: u64, node: NodeIndex, timer: &Timer) {
        let (due, repeat) = match timer {
            Timer::Duration(d) => (after(self.now, *d), None),
            Timer::Date(at) => (*at, None),
            Timer::WorkingDays(days) => (
                self.process.calendar.add_working_days(self.now, *days),
                None,
            ),
            Timer::Cycle { every, count } => (
                after(self.now, *every),
                Some(count.map(|c| c.saturating_sub(1))),
            ),
            Timer::Expression(expr) => {
                let text = match expr.eval(&self.state.variables) {
                    Ok(Json::String(s)) => s,
                    Ok(other) => other.to_string(),
                    Err(error) => {
                        self.fail(node, error.to_string());
                        return;
                    }
                };
                match due_at(&text, self.now, &self.process.calendar) {
                    Some(due) => (due, None),
                    None => {
                        self.fail(node, format!("`{text}` is not a duration or a date"));
                        return;
                    }
                }
            }
        };
        let id = self.id();
        self.state.timers.insert(
            id,
            TimerState {
                token,
                node,
                due,
                repeat,
            },
        );
        self.effects.push(Effect::TimerSet { timer: id, due });
    }

    /// Sets up the timer or message a catch event (or a receive task) waits for.
    fn arm_event(&mut self, token: u64, node: NodeIndex) {
        match self.node(node).kind.clone() {
            NodeKind::CatchEvent {
                trigger: Trigger::Timer(timer),
            } => self.set_timer(token, node, &timer),
            NodeKind::CatchEvent {
                trigger: Trigger::Message(message),
            }
            | NodeKind::ReceiveTask { message } => self.subscribe(token, node, message),
            _ => {}
        }
    }

    /// Timers and messages of the boundary events on the activity a token entered.
    fn arm_boundaries(&mut self, token: u64, activity: NodeIndex) {
        let boundaries: Vec<NodeIndex> = self.process.boundaries(activity).collect();
        for b in boundaries {
            let NodeKind::Boundary(boundary) = self.node(b).kind.clone() else {
                continue;
            };
            match boundary.trigger {
                Trigger::Timer(timer) => self.set_timer(token, b, &timer),
                Trigger::Message(message) => self.subscribe(token, b, message),
                _ => {}
            }
        }
    }
}

/// The ids of the entries of `map` that belong to `token`.
fn owned_by<T>(map: &BTreeMap<u64, T>, token: u64, owner: impl Fn(&T) -> u64) -> Vec<u64> {
    map.iter()
        .filter(|(_, v)| owner(v) == token)
        .map(|(&id, _)| id)
        .collect()
}

/// Why a step's due date, as evaluated, cannot be used; names the variable it came from.
fn invalid_due(spec: &str, written: &str, step: &str) -> EngineError {
    let variable = crate::expr::Expr::parse(spec)
        .ok()
        .filter(|_| spec.contains("${") || spec.contains("#{"))
        .and_then(|expr| expr.variables().into_iter().next());
    let shown: String = written.chars().take(60).collect();
    let reason = match crate::bpmn::duration(written) {
        Err(reason) if written.trim_start().starts_with(['P', 'p']) => reason,
        _ => "it is not a duration (P3D, 2d, 3 working days) or a date".to_string(),
    };
    EngineError::Invalid {
        variable,
        message: format!("the due date of step `{step}` cannot be `{shown}`: {reason}"),
    }
}

/// `duration` after `at`, saturating at the end of time rather than wrapping.
fn after(at: i64, duration: std::time::Duration) -> i64 {
    at.saturating_add(i64::try_from(duration.as_micros()).unwrap_or(i64::MAX))
}

/// A due time from a duration (`P2D`, `2d`) or working days (`2 working days`) after `now`, or an
/// ISO 8601 date.
fn due_at(text: &str, now: i64, calendar: &crate::model::Calendar) -> Option<i64> {
    if let Some(days) = crate::model::working_days(text) {
        return Some(calendar.add_working_days(now, days));
    }
    if let Ok(d) = crate::bpmn::duration(text) {
        return Some(after(now, d));
    }
    waymark_eventlog::time::parse_iso8601(text.trim())
}
