//! What a process definition *is*, whichever file it came from.
//!
//! A process is a graph of nodes joined by sequence flows. Nodes inside an embedded sub-process
//! name it as their `parent`. Every node keeps the line it was defined on, so that problems found
//! later (at run time too) can point at the file.

use std::time::Duration;

use crate::expr::Expr;

/// One executable process.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Process {
    /// Stable id, shared by all versions.
    pub id: String,
    pub name: String,
    pub nodes: Vec<Node>,
    pub flows: Vec<Flow>,
    /// The days worked, for due dates and timers counted in working days.
    pub calendar: Calendar,
    /// What each message the process waits for (or starts on) may carry into its variables:
    /// only these names are taken from a message's properties, each checked for its kind.
    pub messages: std::collections::BTreeMap<String, Vec<Declared>>,
}

/// A variable a message may set, and the kind of value it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    pub name: String,
    pub kind: ValueKind,
}

/// The kinds of value a declared variable takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Text,
    Number,
    Boolean,
    /// An ISO 8601 date or time, kept as written.
    Date,
}

impl ValueKind {
    /// `text`, `number`, `boolean` (or `yes/no`), `date`.
    pub fn parse(name: &str) -> Option<ValueKind> {
        match name.trim().to_ascii_lowercase().as_str() {
            "text" | "string" => Some(ValueKind::Text),
            "number" => Some(ValueKind::Number),
            "boolean" | "yes/no" => Some(ValueKind::Boolean),
            "date" | "datetime" | "time" => Some(ValueKind::Date),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ValueKind::Text => "text",
            ValueKind::Number => "number",
            ValueKind::Boolean => "boolean",
            ValueKind::Date => "date",
        }
    }

    /// Whether `value` is of this kind (`null` never is).
    pub fn accepts(self, value: &serde_json::Value) -> bool {
        use serde_json::Value;
        match (self, value) {
            (ValueKind::Text, Value::String(s)) => s.chars().count() <= 10_000,
            (ValueKind::Number, Value::Number(_)) | (ValueKind::Boolean, Value::Bool(_)) => true,
            (ValueKind::Date, Value::String(s)) => {
                waymark_eventlog::time::parse_iso8601(s).is_some()
                    || chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
            }
            _ => false,
        }
    }
}

/// Which days are worked: "2 working days" skips the weekend and the holidays.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar {
    /// The days of the week not worked (Saturday and Sunday unless the process says otherwise).
    pub weekend: Vec<chrono::Weekday>,
    pub holidays: Vec<chrono::NaiveDate>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            weekend: vec![chrono::Weekday::Sat, chrono::Weekday::Sun],
            holidays: Vec::new(),
        }
    }
}

impl Calendar {
    pub fn is_working_day(&self, day: chrono::NaiveDate) -> bool {
        use chrono::Datelike as _;
        !self.weekend.contains(&day.weekday()) && !self.holidays.contains(&day)
    }

    /// `days` working days after `now` (µs since the epoch, UTC), at the same time of day: each
    /// day that is not worked is skipped, so 1 working day after a Friday is the Monday.
    pub fn add_working_days(&self, now: i64, days: u32) -> i64 {
        let Some(start) = chrono::DateTime::from_timestamp_micros(now) else {
            return now;
        };
        let mut day = start.date_naive();
        let mut counted = 0;
        // A calendar with no working day at all would never get there: give up after ten years.
        let mut guard = 0;
        while counted < days && guard < 3_660 {
            day = day.succ_opt().unwrap_or(day);
            guard += 1;
            if self.is_working_day(day) {
                counted += 1;
            }
        }
        let elapsed = (day - start.date_naive()).num_microseconds().unwrap_or(0);
        now.saturating_add(elapsed)
    }
}

/// `3 working days` (also `3 business days`, `3wd`): the number of days, else `None`.
pub fn working_days(text: &str) -> Option<u32> {
    let text = text.trim().to_ascii_lowercase();
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let days = number.parse().ok()?;
    matches!(
        unit.trim(),
        "wd" | "working day"
            | "working days"
            | "business day"
            | "business days"
            | "workday"
            | "workdays"
    )
    .then_some(days)
}

/// Index into [`Process::nodes`].
pub type NodeIndex = usize;
/// Index into [`Process::flows`].
pub type FlowIndex = usize;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub name: Option<String>,
    pub kind: NodeKind,
    /// The embedded sub-process this node is inside.
    pub parent: Option<NodeIndex>,
    /// Where it was defined (1-based).
    pub line: usize,
}

impl Node {
    /// The name, else the id: what people are shown.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }

    /// The form a person fills in here (`formKey` of a start event or user task).
    pub fn form(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Start { form, .. } => form.as_deref(),
            NodeKind::UserTask(task) => task.form.as_deref(),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Start {
        trigger: Trigger,
        form: Option<String>,
    },
    End {
        result: EndResult,
    },
    /// Work for a person.
    UserTask(Box<UserTask>),
    /// Work for a system: an HTTP call, or an external worker that completes it through the API.
    ServiceTask(Service),
    /// A message sent: an email to a person, or a webhook.
    SendTask(Service),
    /// Waits for a message.
    ReceiveTask {
        message: String,
    },
    /// Sets variables from expressions (`name = expression` lines).
    ScriptTask {
        assignments: Vec<(String, Expr)>,
    },
    /// A task with no behaviour (a plain BPMN `task`, `manualTask`): passes straight on.
    Pass,
    ExclusiveGateway {
        default: Option<FlowIndex>,
    },
    ParallelGateway,
    /// Waits for the first of the events after it.
    EventGateway,
    /// Waits for a timer or a message.
    CatchEvent {
        trigger: Trigger,
    },
    /// Passes on (a none or message throw event).
    ThrowEvent {
        message: Option<String>,
    },
    Boundary(Boundary),
    SubProcess,
}

/// What a start, catch or boundary event waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    None,
    Timer(Timer),
    Message(String),
    /// An error code, or any error.
    Error(Option<String>),
    /// An escalation code, or any escalation.
    Escalation(Option<String>),
}

/// When a timer fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Timer {
    /// After a duration (ISO 8601 `PT2H`, `P3D`; or `2h`, `3d`).
    Duration(Duration),
    /// At a fixed time (ISO 8601, µs since the epoch).
    Date(i64),
    /// Every period, `count` times (`R3/PT1H`; unbounded without a count).
    Cycle { every: Duration, count: Option<u32> },
    /// Computed when reached, from an expression that gives one of the above as text.
    Expression(Expr),
    /// After a number of working days of the process's calendar.
    WorkingDays(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub enum EndResult {
    None,
    /// Ends with a BPMN error, caught by an error boundary event (by code) above it.
    Error(String),
    Escalation(String),
    /// Ends the whole instance.
    Terminate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    pub attached_to: NodeIndex,
    pub trigger: Trigger,
    /// Cancels the task it is attached to (an interrupting event).
    pub cancel: bool,
}

/// Who a user task is for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserTask {
    /// A named user, an expression giving one (`${approver}`), or a directory role such as
    /// `manager-of:requester`.
    pub assignee: Option<String>,
    pub candidate_groups: Vec<String>,
    pub candidate_users: Vec<String>,
    /// When it is due: a duration from creation, or an expression.
    pub due: Option<String>,
    pub form: Option<String>,
    pub multi: Option<MultiInstance>,
}

/// A task repeated for each item of a collection: approvals by several people.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiInstance {
    pub sequential: bool,
    /// The variable holding the list of items (e.g. approvers).
    pub collection: Option<String>,
    /// Each item's variable name inside its task.
    pub element: Option<String>,
    /// Or a fixed number of instances.
    pub cardinality: Option<Expr>,
    /// Done early when this holds, e.g. `${nrOfCompletedInstances >= 2}` (any: `>= 1`).
    pub completion: Option<Expr>,
}

/// What a service or send task does.
#[derive(Debug, Clone, PartialEq)]
pub enum Service {
    /// An HTTP call, retried with backoff, carrying an idempotency key.
    Webhook { url: String, method: String },
    /// An email from a template to a person.
    Email { to: String, template: String },
    /// Waits for an external worker to fetch and complete it (`topic`); `to` says whom it is
    /// about when it sends a message (a user, `manager-of:assignee`; default: the requester).
    External { topic: String, to: Option<String> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub id: String,
    pub source: NodeIndex,
    pub target: NodeIndex,
    pub condition: Option<Expr>,
    pub line: usize,
}

impl Process {
    /// The flows leaving a node, in file order.
    pub fn outgoing(&self, node: NodeIndex) -> impl Iterator<Item = FlowIndex> + '_ {
        (0..self.flows.len()).filter(move |&f| self.flows[f].source == node)
    }

    /// The flows entering a node.
    pub fn incoming(&self, node: NodeIndex) -> impl Iterator<Item = FlowIndex> + '_ {
        (0..self.flows.len()).filter(move |&f| self.flows[f].target == node)
    }

    /// The start events of the process itself (not of a sub-process).
    pub fn starts(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.starts_in(None)
    }

    /// The start events directly inside `parent` (`None`: the process).
    pub fn starts_in(&self, parent: Option<NodeIndex>) -> impl Iterator<Item = NodeIndex> + '_ {
        (0..self.nodes.len()).filter(move |&n| {
            self.nodes[n].parent == parent && matches!(self.nodes[n].kind, NodeKind::Start { .. })
        })
    }

    /// The boundary events attached to a node.
    pub fn boundaries(&self, node: NodeIndex) -> impl Iterator<Item = NodeIndex> + '_ {
        (0..self.nodes.len()).filter(
            move |&n| matches!(&self.nodes[n].kind, NodeKind::Boundary(b) if b.attached_to == node),
        )
    }

    pub fn find(&self, id: &str) -> Option<NodeIndex> {
        self.nodes.iter().position(|n| n.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> i64 {
        waymark_eventlog::time::parse_iso8601(text).expect("date")
    }

    #[test]
    fn working_days_skip_the_weekend_and_holidays() {
        let calendar = Calendar::default();
        let friday = at("2026-11-27T10:00:00Z");
        assert_eq!(
            calendar.add_working_days(friday, 1),
            at("2026-11-30T10:00:00Z")
        );
        assert_eq!(
            calendar.add_working_days(friday, 5),
            at("2026-12-04T10:00:00Z")
        );
        assert_eq!(calendar.add_working_days(friday, 0), friday);
        let saturday = at("2026-11-28T09:30:00Z");
        assert_eq!(
            calendar.add_working_days(saturday, 1),
            at("2026-11-30T09:30:00Z")
        );
        let with_holiday = Calendar {
            holidays: vec![chrono::NaiveDate::from_ymd_opt(2026, 11, 30).expect("date")],
            ..Calendar::default()
        };
        assert_eq!(
            with_holiday.add_working_days(friday, 1),
            at("2026-12-01T10:00:00Z")
        );
        // A Sunday–Thursday week.
        let gulf = Calendar {
            weekend: vec![chrono::Weekday::Fri, chrono::Weekday::Sat],
            holidays: Vec::new(),
        };
        assert_eq!(
            gulf.add_working_days(at("2026-11-26T08:00:00Z"), 1),
            at("2026-11-29T08:00:00Z")
        );
        // No working day at all: it gives up rather than looping.
        let never = Calendar {
            weekend: vec![
                chrono::Weekday::Mon,
                chrono::Weekday::Tue,
                chrono::Weekday::Wed,
                chrono::Weekday::Thu,
                chrono::Weekday::Fri,
                chrono::Weekday::Sat,
                chrono::Weekday::Sun,
            ],
            holidays: Vec::new(),
        };
        assert!(never.add_working_days(friday, 1) > friday);
    }

    #[test]
    fn working_days_are_read_in_the_forms_people_write() {
        assert_eq!(working_days("3 working days"), Some(3));
        assert_eq!(working_days("1 Business Day"), Some(1));
        assert_eq!(working_days("2wd"), Some(2));
        assert_eq!(working_days("3d"), None);
        assert_eq!(working_days("working days"), None);
        assert_eq!(working_days("P3D"), None);
    }
}
