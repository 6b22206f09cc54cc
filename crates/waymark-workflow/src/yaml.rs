//! Waymark's own process format: YAML that reads like the journey it automates.
//!
//! A process is a list of steps done in order. Each step does one thing — a form someone fills
//! in, work for a system (`worker`, `webhook`), an `email`, variables it `set`s, a `wait` for a
//! message or a time, `parallel` branches, or the `end` — and says who does it (`actor`), when it
//! is due, what happens when it is late (`escalate`, `timeout`) or fails (`on-error`), and where
//! to go next when that is not the following step (`goto`, `next` with conditions).
//! `docs/process-file.md` describes every field; this module turns a file into the same
//! [`Process`] graph a BPMN file becomes, so both run on one engine.

use std::collections::HashMap;

use indexmap::IndexMap;
use marked_yaml::{Span, Spanned};
use serde::Deserialize;
use waymark_journey::{Diagnostic, Location, YamlKind, did_you_mean, one_of, read_yaml};

use crate::definition::{Imported, Unreadable};
use crate::expr::{Dialect, Expr};
use crate::model::*;

type Text = Spanned<String>;

const KIND: YamlKind = YamlKind {
    name: "process file",
    code: "not-a-process",
    start_hint: "start with `process:` (its id), `name:`, `start:` and `steps:`; see docs/process-file.md",
};

/// What a step can do: exactly one per step.
const DOES: &[&str] = &[
    "form", "worker", "webhook", "email", "set", "wait", "parallel", "end",
];

const ACTORS_HINT: &str = "write `requester`, `manager of requester`, `user:ID`, `role:NAME`, `department:NAME`, `group:NAME`, `${variable}` or `system`";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcess {
    process: Option<Text>,
    name: Option<Text>,
    description: Option<Text>,
    calendar: Option<Spanned<RawCalendar>>,
    start: Option<Spanned<RawStart>>,
    steps: Option<Spanned<Vec<Spanned<RawStep>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    weekend: Option<Vec<Text>>,
    #[serde(default)]
    holidays: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStart {
    id: Option<Text>,
    name: Option<Text>,
    form: Option<Text>,
    message: Option<Text>,
    /// What the message may carry into the variables: `name: text | number | boolean | date`.
    variables: Option<Spanned<IndexMap<Text, Text>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStep {
    id: Option<Text>,
    name: Option<Text>,
    // What it does.
    form: Option<Text>,
    worker: Option<Text>,
    webhook: Option<Text>,
    email: Option<Text>,
    set: Option<Spanned<IndexMap<Text, Text>>>,
    wait: Option<Spanned<RawWait>>,
    parallel: Option<Spanned<Vec<Spanned<RawBranch>>>>,
    end: Option<Text>,
    // Who, and how.
    actor: Option<Spanned<OneOrMany>>,
    to: Option<Text>,
    /// On an email: a survey link about this touchpoint (`TOUCHPOINT`, or `JOURNEY/TOUCHPOINT`).
    survey: Option<Text>,
    method: Option<Text>,
    due: Option<Text>,
    each: Option<Spanned<RawEach>>,
    #[serde(default)]
    escalate: Vec<Spanned<RawEscalation>>,
    timeout: Option<Spanned<RawTimeout>>,
    #[serde(default)]
    on_error: Vec<Spanned<RawCatch>>,
    // Where next.
    goto: Option<Text>,
    #[serde(default)]
    next: Vec<Spanned<RawRule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWait {
    message: Option<Text>,
    after: Option<Text>,
    until: Option<Text>,
    /// What the message may carry into the variables: `name: text | number | boolean | date`.
    variables: Option<Spanned<IndexMap<Text, Text>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBranch {
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEach {
    #[serde(rename = "in")]
    items: Option<Text>,
    #[serde(rename = "as")]
    name: Option<Text>,
    order: Option<Text>,
    done: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEscalation {
    id: Option<Text>,
    name: Option<Text>,
    after: Option<Text>,
    until: Option<Text>,
    every: Option<Text>,
    times: Option<Text>,
    email: Option<Text>,
    to: Option<Text>,
    goto: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeout {
    id: Option<Text>,
    name: Option<Text>,
    after: Option<Text>,
    until: Option<Text>,
    goto: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatch {
    id: Option<Text>,
    name: Option<Text>,
    error: Option<Text>,
    goto: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "if")]
    condition: Option<Text>,
    goto: Option<Text>,
}

/// Reads a process file. A file that is not YAML, or not a block of fields, is unreadable; every
/// other problem is a diagnostic with its line and column.
pub fn import(text: &str) -> Result<Imported, Unreadable> {
    let (raw, node) = match read_yaml::<RawProcess>(text, &KIND) {
        Ok(read) => read,
        Err(d) if d.code == "yaml-syntax" || d.code == KIND.code => {
            return Err(Unreadable {
                location: d.location,
                message: match &d.hint {
                    Some(hint) => format!("{} ({hint})", d.message),
                    None => d.message.clone(),
                },
            });
        }
        Err(d) => {
            // A file of another kind (a journey, say) fails on its first unknown field; it is
            // read again only then, to say what it is.
            if let Ok(node) = marked_yaml::parse_yaml(0, text)
                && let Some(unreadable) = not_a_process(&node)
            {
                return Err(unreadable);
            }
            return Ok(Imported {
                diagnostics: vec![d],
                ..Imported::default()
            });
        }
    };
    if let Some(unreadable) = not_a_process(&node) {
        return Err(unreadable);
    }
    let mut builder = Builder {
        lines: text.lines().collect(),
        diagnostics: Vec::new(),
        process: Process::default(),
        links: Vec::new(),
        reported: Vec::new(),
    };
    let built = builder.process(raw);
    let mut diagnostics = builder.diagnostics;
    diagnostics.sort_by_key(|d| d.location);
    let has_errors = diagnostics
        .iter()
        .any(|d| d.severity == waymark_journey::Severity::Error);
    Ok(Imported {
        processes: built.into_iter().filter(|_| !has_errors).collect(),
        not_executable: Vec::new(),
        diagnostics,
    })
}

/// YAML that is not a process at all (a journey file, say) is not "a process with mistakes":
/// a block of fields with neither `process:` nor `steps:`.
fn not_a_process(node: &marked_yaml::Node) -> Option<Unreadable> {
    let top = node.as_mapping()?;
    if top.get_node("process").is_some() || top.get_node("steps").is_some() {
        return None;
    }
    let journey = top.get_node("stages").is_some();
    Some(Unreadable {
        location: Location::START,
        message: format!(
            "not a process file: it has neither `process:` nor `steps:`{}",
            if journey {
                " (it looks like a journey file: check it with `waymark journey lint`)"
            } else {
                ""
            }
        ),
    })
}

/// Where a step goes: a step named by id (resolved once every step is known), a node already
/// made, or the end of the process.
#[derive(Debug)]
enum Target {
    Step(String),
    Node(NodeIndex),
    End,
}

/// A sequence flow still to be made.
#[derive(Debug)]
struct Link {
    from: NodeIndex,
    to: Target,
    condition: Option<Expr>,
    /// The gateway's flow taken when no condition holds.
    default: bool,
    at: Location,
}

/// A step made: where a token enters it and the node it leaves from (none for an end).
#[derive(Debug, Clone, Copy)]
struct Built {
    entry: NodeIndex,
    out: Option<NodeIndex>,
}

/// Who a step is for.
#[derive(Debug, Clone, PartialEq)]
enum Who {
    /// One person, as the engine reads an assignee: a user id, `${expression}` or
    /// `manager-of:WHOM`.
    Person(String),
    /// A named user: one of several candidates.
    User(String),
    /// A role, department or group from the directory.
    Group(String),
    System,
}

struct Builder<'a> {
    lines: Vec<&'a str>,
    diagnostics: Vec<Diagnostic>,
    process: Process,
    links: Vec<Link>,
    /// Steps whose timer was already named as wrong.
    reported: Vec<String>,
}

impl Builder<'_> {
    fn at(&self, span: &Span) -> Location {
        waymark_journey::span_place(&self.lines, span)
    }

    fn error(&mut self, code: &'static str, span: &Span, message: String, hint: &str) {
        let at = self.at(span);
        self.diagnostics
            .push(Diagnostic::error(code, at, message).with_hint(hint));
    }

    fn add(&mut self, id: String, name: Option<String>, kind: NodeKind, line: usize) -> NodeIndex {
        self.process.nodes.push(Node {
            id,
            name,
            kind,
            parent: None,
            line,
        });
        self.process.nodes.len() - 1
    }

    fn link(&mut self, from: NodeIndex, to: Target, at: Location) {
        self.links.push(Link {
            from,
            to,
            condition: None,
            default: false,
            at,
        });
    }

    /// A field that must be there and not blank.
    fn required(
        &mut self,
        value: &Option<Text>,
        parent: &Span,
        what: &str,
        hint: &str,
    ) -> Option<String> {
        match value {
            Some(text) if !text.trim().is_empty() => Some(text.trim().to_string()),
            Some(text) => {
                self.error(
                    "missing-field",
                    text.span(),
                    format!("{what} is empty"),
                    hint,
                );
                None
            }
            None => {
                self.error("missing-field", parent, format!("{what} is missing"), hint);
                None
            }
        }
    }

    fn process(&mut self, raw: RawProcess) -> Option<Process> {
        let top = Span::new_start(marked_yaml::Marker::new(0, 0, 1, 1));
        let id = self.required(
            &raw.process,
            &top,
            "the process id (`process:`)",
            "name the process: `process: training-request`; each deploy of the same id is a new version",
        );
        if let (Some(id), Some(text)) = (&id, &raw.process)
            && !id
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            self.error(
                "invalid-id",
                text.span(),
                format!("`{id}` is not a valid process id"),
                "use letters, digits, `-`, `_` and `.`, as in `training-request`",
            );
        }
        let _ = raw.description;
        self.process.id = id.clone().unwrap_or_default();
        self.process.name = raw
            .name
            .as_ref()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.process.id.clone());
        if let Some(calendar) = &raw.calendar {
            self.process.calendar = self.calendar(calendar);
        }
        let start = self.start(raw.start.as_ref());
        let Some(steps) = raw.steps else {
            self.error(
                "missing-field",
                &top,
                "the process has no `steps:`".into(),
                "list what happens in order under `steps:`, each with an `id:` and what it does",
            );
            return None;
        };
        if steps.is_empty() {
            self.error(
                "missing-field",
                steps.span(),
                "`steps:` is empty".into(),
                "list what happens in order, each with an `id:` and what it does",
            );
            return None;
        }
        let first = self.steps(&steps, Target::End);
        if let Some(first) = first {
            let at = self.at(steps.span());
            self.link(start, Target::Node(first), at);
        }
        self.resolve();
        self.unique_ids();
        id.as_ref()?;
        // Structure is checked once the steps are right: a step that could not be made would
        // leave the ones after it "unreachable".
        if !self
            .diagnostics
            .iter()
            .any(|d| d.severity == waymark_journey::Severity::Error)
        {
            crate::check::structure(&self.process, &mut self.diagnostics, &self.reported);
        }
        Some(std::mem::take(&mut self.process))
    }

    fn calendar(&mut self, raw: &Spanned<RawCalendar>) -> Calendar {
        let mut calendar = Calendar::default();
        if let Some(weekend) = &raw.weekend {
            calendar.weekend.clear();
            for day in weekend {
                match day.trim().parse::<chrono::Weekday>() {
                    Ok(day) => calendar.weekend.push(day),
                    Err(_) => self.error(
                        "invalid-weekday",
                        day.span(),
                        format!("`{}` is not a day of the week", day.trim()),
                        "write days as `saturday`, `sunday` (or `sat`, `sun`)",
                    ),
                }
            }
            if calendar.weekend.len() >= 7 {
                self.error(
                    "no-working-day",
                    raw.span(),
                    "the calendar's weekend is the whole week, so no day is worked".into(),
                    "list only the days not worked, e.g. `weekend: [saturday, sunday]`",
                );
            }
        }
        for day in &raw.holidays {
            match chrono::NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d") {
                Ok(date) => calendar.holidays.push(date),
                Err(_) => self.error(
                    "invalid-date",
                    day.span(),
                    format!("`{}` is not a date", day.trim()),
                    "write holidays as YYYY-MM-DD, e.g. `2026-12-25`",
                ),
            }
        }
        calendar
    }

    fn start(&mut self, raw: Option<&Spanned<RawStart>>) -> NodeIndex {
        let Some(raw) = raw else {
            return self.add(
                "start".into(),
                None,
                NodeKind::Start {
                    trigger: Trigger::None,
                    form: None,
                },
                1,
            );
        };
        let line = self.at(raw.span()).line;
        let id = raw
            .id
            .as_ref()
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| "start".into());
        let form = raw.form.as_ref().map(|f| form_key(f));
        let trigger = match &raw.message {
            Some(message) if !message.trim().is_empty() => {
                Trigger::Message(message.trim().to_string())
            }
            _ => Trigger::None,
        };
        if form.is_some() && trigger != Trigger::None {
            self.error(
                "conflicting-fields",
                raw.span(),
                "a process starts either from a form someone fills in or from a message, not both"
                    .into(),
                "keep `form:` (a person starts it) or `message:` (an event starts it)",
            );
        }
        let name = raw.name.as_ref().map(|n| n.trim().to_string());
        self.declare(
            raw.message.as_ref().map(|m| m.trim()),
            raw.variables.as_ref(),
        );
        self.add(id, name, NodeKind::Start { trigger, form }, line)
    }

    /// Records what a message may carry into the variables (`variables:` beside `message:`),
    /// each name with its kind; every mistake is a diagnostic at its place.
    fn declare(
        &mut self,
        message: Option<&str>,
        variables: Option<&Spanned<IndexMap<Text, Text>>>,
    ) {
        let Some(variables) = variables else {
            return;
        };
        let Some(message) = message.filter(|m| !m.is_empty()) else {
            self.error(
                "misplaced-field",
                variables.span(),
                "`variables:` says what a message carries, but nothing here waits for one".into(),
                "put `variables:` beside `message:`",
            );
            return;
        };
        for (name, kind) in variables.iter() {
            let variable = name.trim();
            if crate::engine::is_reserved(variable) {
                self.error(
                    "invalid-variable",
                    name.span(),
                    format!("`{variable}` is set by Waymark itself; a message cannot set it"),
                    "choose another name",
                );
                continue;
            }
            let Some(kind) = crate::model::ValueKind::parse(kind) else {
                self.error(
                    "invalid-variable",
                    kind.span(),
                    format!("`{}` is not a kind of value", kind.trim()),
                    "write text, number, boolean or date",
                );
                continue;
            };
            let declared = self
                .process
                .messages
                .entry(message.to_string())
                .or_default();
            match declared.iter().find(|d| d.name == variable) {
                Some(before) if before.kind != kind => {
                    let before = before.kind.as_str();
                    self.error(
                        "invalid-variable",
                        name.span(),
                        format!(
                            "`{variable}` of the message `{message}` is declared a {before} elsewhere"
                        ),
                        "declare it with one kind everywhere",
                    );
                }
                Some(_) => {}
                None => declared.push(crate::model::Declared {
                    name: variable.to_string(),
                    kind,
                }),
            }
        }
    }

    /// Makes the steps of one sequence and links each to the following one; the last goes to
    /// `after`. Gives the entry of the first step.
    fn steps(&mut self, steps: &[Spanned<RawStep>], after: Target) -> Option<NodeIndex> {
        let built: Vec<Option<Built>> = steps.iter().map(|s| self.step(s)).collect();
        let mut after = Some(after);
        for (i, step) in steps.iter().enumerate() {
            let Some(Built { out: Some(out), .. }) = built[i] else {
                continue;
            };
            let at = self.at(step.span());
            // Where it goes when nothing says otherwise: the following step, else what comes
            // after this sequence.
            // (None when the following step could not be made: its problem is already named.)
            let following = match steps.get(i + 1) {
                Some(_) => built[i + 1].map(|b| Target::Node(b.entry)),
                None => Some(after.take().unwrap_or(Target::End)),
            };
            let fallthrough = match (&step.goto, following) {
                (Some(goto), _) => Target::Step(goto.trim().to_string()),
                (None, Some(following)) => following,
                (None, None) => continue,
            };
            if step.next.is_empty() {
                let at = step.goto.as_ref().map(|g| self.at(g.span())).unwrap_or(at);
                self.link(out, fallthrough, at);
                continue;
            }
            let id = format!("{}-next", self.process.nodes[out].id);
            let gateway = self.add(
                id,
                None,
                NodeKind::ExclusiveGateway { default: None },
                at.line,
            );
            self.link(out, Target::Node(gateway), at);
            for rule in &step.next {
                let hint = "write `- if: <condition>` and `goto: <step id>`, e.g. `- if: not approved` / `goto: rejected`";
                let condition =
                    self.required(&rule.condition, rule.span(), "the condition (`if:`)", hint);
                let goto =
                    self.required(&rule.goto, rule.span(), "the step to go to (`goto:`)", hint);
                let condition = condition.and_then(|c| {
                    let span = rule
                        .condition
                        .as_ref()
                        .map(|t| *t.span())
                        .unwrap_or(*rule.span());
                    self.expression(&c, &span)
                });
                if let (Some(condition), Some(goto)) = (condition, goto) {
                    let at = self.at(rule.goto.as_ref().map(|g| g.span()).unwrap_or(rule.span()));
                    self.links.push(Link {
                        from: gateway,
                        to: Target::Step(goto),
                        condition: Some(condition),
                        default: false,
                        at,
                    });
                }
            }
            self.links.push(Link {
                from: gateway,
                to: fallthrough,
                condition: None,
                default: true,
                at,
            });
        }
        built.first().copied().flatten().map(|b| b.entry)
    }

    fn expression(&mut self, text: &str, span: &Span) -> Option<Expr> {
        match Expr::parse_in(text, Dialect::Plain) {
            Ok(expr) => Some(expr),
            Err(error) => {
                self.error(
                    "invalid-expression",
                    span,
                    format!("`{text}` cannot be read: {error}"),
                    "conditions are written like `approved`, `not approved`, `amount > 1000`, `decision == 'yes'`; quote one that starts with `!`",
                );
                None
            }
        }
    }

    /// Makes one step's nodes, with its escalations, timeout and error handlers.
    fn step(&mut self, step: &Spanned<RawStep>) -> Option<Built> {
        let span = *step.span();
        let line = self.at(&span).line;
        let id = self.required(
            &step.id,
            &span,
            "the step's `id:`",
            "give every step an id; journey touchpoints and reports refer to it",
        )?;
        let name = step.name.as_ref().map(|n| n.trim().to_string());
        let does: Vec<&str> = DOES
            .iter()
            .copied()
            .filter(|field| match *field {
                "form" => step.form.is_some(),
                "worker" => step.worker.is_some(),
                "webhook" => step.webhook.is_some(),
                "email" => step.email.is_some(),
                "set" => step.set.is_some(),
                "wait" => step.wait.is_some(),
                "parallel" => step.parallel.is_some(),
                _ => step.end.is_some(),
            })
            .collect();
        let hint = format!("a step does one of {}", one_of(DOES));
        match does.as_slice() {
            [] => {
                self.error(
                    "step-does-nothing",
                    &span,
                    format!("step `{id}` does nothing"),
                    &hint,
                );
                return None;
            }
            [_] => {}
            [first, second, ..] => {
                self.error(
                    "conflicting-fields",
                    &span,
                    format!("step `{id}` has both `{first}` and `{second}`; a step does one thing"),
                    "split it into two steps, one after the other",
                );
                return None;
            }
        }
        let actor = self.actors(step).ok()?;
        if does[0] != "form" {
            if let Some(Some(who)) = actor.as_ref().map(|a| a.first().cloned())
                && (who != Who::System || actor.as_ref().is_some_and(|a| a.len() > 1))
            {
                self.error(
                    "actor-not-a-person-step",
                    step.actor.as_ref().map(|a| a.span()).unwrap_or(&span),
                    format!("step `{id}` is done by the system; only a `form` step is done by people"),
                    "write `actor: system`, or leave `actor:` out; to ask a person, give the step a `form:`",
                );
            }
            if let Some(each) = &step.each {
                self.error(
                    "each-not-a-form",
                    each.span(),
                    format!("step `{id}`: `each:` repeats a form for several people, and this step has no form"),
                    "move `each:` to the approval step that has the `form:`",
                );
            }
        }
        if does[0] != "email"
            && does[0] != "worker"
            && let Some(to) = &step.to
        {
            self.error(
                "misplaced-field",
                to.span(),
                format!("step `{id}`: `to:` says whom an email goes to"),
                "use `to:` on an `email:` step; for who does a form, write `actor:`",
            );
        }
        if does[0] != "email"
            && let Some(survey) = &step.survey
        {
            self.error(
                "misplaced-field",
                survey.span(),
                format!("step `{id}`: `survey:` adds a survey link to an email"),
                "put `survey:` on an `email:` step",
            );
        }
        if does[0] != "webhook"
            && let Some(method) = &step.method
        {
            self.error(
                "misplaced-field",
                method.span(),
                format!("step `{id}`: `method:` belongs to a `webhook:` step"),
                "remove it, or make the step a webhook",
            );
        }
        if does[0] != "form"
            && let Some(due) = &step.due
        {
            self.error(
                "misplaced-field",
                due.span(),
                format!("step `{id}`: only a form has a due date"),
                "for work done by a system, use `timeout:` to act when it takes too long",
            );
        }
        let kind = match does[0] {
            "form" => {
                let task = self.user_task(step, &id, actor.unwrap_or_default())?;
                NodeKind::UserTask(Box::new(task))
            }
            "worker" => NodeKind::ServiceTask(Service::External {
                topic: self.required(
                    &step.worker,
                    &span,
                    "the worker topic",
                    "name the topic external workers fetch, e.g. `worker: budget-check`",
                )?,
                to: match &step.to {
                    Some(to) => Some(self.recipient(to)?),
                    None => None,
                },
            }),
            "webhook" => {
                let url = self.required(
                    &step.webhook,
                    &span,
                    "the webhook URL",
                    "write the URL to call, e.g. `webhook: https://erp.example/po`",
                )?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    let at = step.webhook.as_ref().map(|w| *w.span()).unwrap_or(span);
                    self.error(
                        "invalid-url",
                        &at,
                        format!("`{url}` is not an http:// or https:// URL"),
                        "write the full URL to call",
                    );
                    return None;
                }
                let method = step
                    .method
                    .as_ref()
                    .map(|m| m.trim().to_ascii_uppercase())
                    .unwrap_or_else(|| "POST".into());
                if !matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "GET" | "DELETE") {
                    let at = step.method.as_ref().map(|m| *m.span()).unwrap_or(span);
                    self.error(
                        "invalid-method",
                        &at,
                        format!("`{method}` is not an HTTP method a webhook uses"),
                        "write POST, PUT, PATCH, GET or DELETE",
                    );
                    return None;
                }
                NodeKind::ServiceTask(Service::Webhook { url, method })
            }
            "email" => {
                let template = self.required(
                    &step.email,
                    &span,
                    "the email template",
                    "name the template, e.g. `email: training-approved`",
                )?;
                let to = match &step.to {
                    Some(to) => Some(self.recipient(to)?),
                    None => None,
                };
                let mut topic = format!("email:{template}");
                if let Some(survey) = &step.survey {
                    let text = survey.trim();
                    let (journey, touchpoint) = match text.split_once('/') {
                        Some((journey, touchpoint)) => (journey.to_string(), touchpoint),
                        None => (self.process.id.clone(), text),
                    };
                    let an_id = |s: &str| {
                        !s.is_empty()
                            && s.chars()
                                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                    };
                    if !an_id(&journey) || !an_id(touchpoint) {
                        self.error(
                            "invalid-survey",
                            survey.span(),
                            format!("step `{id}`: `survey: {text}` does not name a touchpoint"),
                            "write the touchpoint's id (`survey: request-training-form`), or the journey's and the touchpoint's (`survey: training-request/request-training-form`)",
                        );
                        return None;
                    }
                    topic.push_str(&format!("?survey={journey}/{touchpoint}"));
                }
                NodeKind::SendTask(Service::External { topic, to })
            }
            "set" => {
                let set = step.set.as_ref()?;
                let mut assignments = Vec::new();
                for (name, value) in set.iter() {
                    let expr = self.expression(value.trim(), value.span())?;
                    assignments.push((name.trim().to_string(), expr));
                }
                NodeKind::ScriptTask { assignments }
            }
            "wait" => {
                let wait = step.wait.as_ref()?;
                self.declare(
                    wait.message.as_ref().map(|m| m.trim()),
                    wait.variables.as_ref(),
                );
                let boundaries = !step.escalate.is_empty()
                    || step.timeout.is_some()
                    || !step.on_error.is_empty();
                match (&wait.message, &wait.after, &wait.until) {
                    (Some(message), None, None) if boundaries => NodeKind::ReceiveTask {
                        message: message.trim().to_string(),
                    },
                    (Some(message), None, None) => NodeKind::CatchEvent {
                        trigger: Trigger::Message(message.trim().to_string()),
                    },
                    (None, _, _) => {
                        let timer =
                            self.timer(&id, wait.span(), &wait.after, &wait.until, &None, &None)?;
                        if boundaries {
                            self.error(
                                "misplaced-field",
                                &span,
                                format!("step `{id}` waits for a time, so it cannot also time out or escalate"),
                                "remove `timeout:`/`escalate:`, or wait for a message instead",
                            );
                        }
                        NodeKind::CatchEvent {
                            trigger: Trigger::Timer(timer),
                        }
                    }
                    _ => {
                        self.error(
                            "conflicting-fields",
                            wait.span(),
                            format!("step `{id}` waits for a message and a time at once"),
                            "wait for `message:` and add `timeout:` to act when it does not come",
                        );
                        return None;
                    }
                }
            }
            "parallel" => return self.parallel(step, id, name, line),
            _ => {
                let end = step.end.as_ref()?;
                let result = match end.trim() {
                    "" | "done" | "true" => EndResult::None,
                    "terminate" => EndResult::Terminate,
                    other => match other.split_once(':') {
                        Some(("error", code)) if !code.trim().is_empty() => {
                            EndResult::Error(code.trim().to_string())
                        }
                        Some(("escalation", code)) if !code.trim().is_empty() => {
                            EndResult::Escalation(code.trim().to_string())
                        }
                        _ => {
                            self.error(
                                "invalid-end",
                                end.span(),
                                format!("`{other}` is not a way to end"),
                                "write `end: done`, `end: terminate` (stops every branch), `end: error:CODE` or `end: escalation:CODE`",
                            );
                            return None;
                        }
                    },
                };
                NodeKind::End { result }
            }
        };
        let waits = matches!(
            kind,
            NodeKind::UserTask(_)
                | NodeKind::ServiceTask(_)
                | NodeKind::SendTask(_)
                | NodeKind::ReceiveTask { .. }
        );
        let ends = matches!(kind, NodeKind::End { .. });
        if ends && (step.goto.is_some() || !step.next.is_empty()) {
            self.error(
                "misplaced-field",
                &span,
                format!("step `{id}` ends the process, so it goes nowhere next"),
                "remove `goto:`/`next:` from it",
            );
        }
        let node = self.add(id.clone(), name, kind, line);
        if waits {
            self.boundaries(step, &id, node);
        } else if !step.escalate.is_empty() || step.timeout.is_some() || !step.on_error.is_empty() {
            self.error(
                "misplaced-field",
                &span,
                format!("step `{id}` does not wait, so it cannot escalate, time out or fail with an error"),
                "put `escalate:`, `timeout:` and `on-error:` on a form, worker, webhook, email or message wait",
            );
        }
        Some(Built {
            entry: node,
            out: (!ends).then_some(node),
        })
    }

    fn parallel(
        &mut self,
        step: &Spanned<RawStep>,
        id: String,
        name: Option<String>,
        line: usize,
    ) -> Option<Built> {
        let branches = step.parallel.as_ref()?;
        if branches.len() < 2 {
            self.error(
                "too-few-branches",
                branches.span(),
                format!(
                    "step `{id}` runs {} branch in parallel; it needs at least two",
                    branches.len()
                ),
                "list two or more branches, each `- steps: [...]`",
            );
        }
        if !step.escalate.is_empty() || step.timeout.is_some() || !step.on_error.is_empty() {
            self.error(
                "misplaced-field",
                step.span(),
                format!("step `{id}` runs branches; put `escalate:`, `timeout:` and `on-error:` on the steps inside them"),
                "move them to the steps that wait",
            );
        }
        let join_id = format!("{id}-join");
        let split = self.add(id, name, NodeKind::ParallelGateway, line);
        let join = self.add(join_id, None, NodeKind::ParallelGateway, line);
        for branch in branches.iter() {
            let at = self.at(branch.span());
            match self.steps(&branch.steps, Target::Node(join)) {
                Some(first) => self.link(split, Target::Node(first), at),
                None if branch.steps.is_empty() => self.link(split, Target::Node(join), at),
                None => {}
            }
        }
        Some(Built {
            entry: split,
            out: Some(join),
        })
    }

    /// The people or groups in `actor:`.
    fn actors(&mut self, step: &RawStep) -> Result<Option<Vec<Who>>, ()> {
        let Some(actor) = step.actor.as_ref() else {
            return Ok(None);
        };
        let texts = match &**actor {
            OneOrMany::One(one) => vec![one.clone()],
            OneOrMany::Many(many) => many.clone(),
        };
        let mut out = Vec::new();
        for text in texts {
            match who(&text) {
                Ok(who) => out.push(who),
                Err(problem) => {
                    self.error("unknown-actor", actor.span(), problem, ACTORS_HINT);
                    return Err(());
                }
            }
        }
        Ok(Some(out))
    }

    fn recipient(&mut self, to: &Text) -> Option<String> {
        match who(to) {
            Ok(Who::Person(spec) | Who::User(spec)) => Some(spec),
            Ok(_) => {
                self.error(
                    "invalid-recipient",
                    to.span(),
                    format!("an email goes to one person, not to `{}`", to.trim()),
                    "write `requester` (the default), `manager of requester`, `manager of assignee`, `user:ID` or `${variable}`",
                );
                None
            }
            Err(problem) => {
                self.error("unknown-actor", to.span(), problem, ACTORS_HINT);
                None
            }
        }
    }

    fn user_task(&mut self, step: &RawStep, id: &str, actors: Vec<Who>) -> Option<UserTask> {
        let form = step.form.as_ref()?;
        if form.trim().is_empty() {
            self.error("missing-field", form.span(), format!("step `{id}`'s form is empty"), "name the form, e.g. `form: approve-training` (kept in forms/approve-training.form)");
            return None;
        }
        let mut task = UserTask {
            form: Some(form_key(form)),
            ..UserTask::default()
        };
        if let Some(each) = &step.each {
            let name = each
                .name
                .as_ref()
                .map(|n| n.trim().to_string())
                .unwrap_or_else(|| "item".into());
            task.multi = Some(self.each(each, id, &name)?);
            if actors.is_empty() {
                task.assignee = Some(format!("${{{name}}}"));
            }
        } else if actors.is_empty() && step.actor.is_none() {
            let span = *step
                .form
                .as_ref()
                .map(|f| f.span())
                .unwrap_or(&Span::new_blank());
            self.error(
                "missing-actor",
                &span,
                format!("step `{id}` is a form, and nobody is said to fill it in"),
                &format!("add `actor:`; {ACTORS_HINT}"),
            );
            return None;
        }
        match actors.as_slice() {
            [Who::Person(one) | Who::User(one)] => task.assignee = Some(one.clone()),
            _ => {
                for who in actors {
                    match who {
                        Who::User(user) => task.candidate_users.push(user),
                        Who::Group(group) => task.candidate_groups.push(group),
                        Who::System | Who::Person(_) => {
                            let span = step
                                .actor
                                .as_ref()
                                .map(|a| *a.span())
                                .unwrap_or(Span::new_blank());
                            self.error(
                                "invalid-actor",
                                &span,
                                format!("step `{id}` is a form for people; when several are listed, each is a `user:`, `role:`, `department:` or `group:`"),
                                "the requester, a manager or the system can only be the one actor of a form",
                            );
                            return None;
                        }
                    }
                }
            }
        }
        if let Some(due) = &step.due {
            let text = due.trim();
            let valid = crate::bpmn::duration(text).is_ok()
                || working_days(text).is_some()
                || waymark_eventlog::time::parse_iso8601(text).is_some()
                || text.starts_with("${");
            if !valid {
                self.error(
                    "invalid-due",
                    due.span(),
                    format!("`{text}` is not a duration or a date"),
                    "write a duration (`2d`, `36h`, `P2D`, `2 working days`), a date (`2026-12-01T17:00:00Z`) or `${variable}`",
                );
                return None;
            }
            task.due = Some(text.to_string());
        }
        Some(task)
    }

    fn each(&mut self, each: &Spanned<RawEach>, id: &str, name: &str) -> Option<MultiInstance> {
        let items = self.required(
            &each.items,
            each.span(),
            "the list to repeat the form for (`in:`)",
            "name the variable holding the list, e.g. `in: approvers`",
        )?;
        let sequential = match each.order.as_ref().map(|o| o.trim().to_string()).as_deref() {
            None | Some("parallel") => false,
            Some("sequential" | "in turn") => true,
            Some(other) => {
                let at = each
                    .order
                    .as_ref()
                    .map(|o| *o.span())
                    .unwrap_or(*each.span());
                self.error("invalid-order", &at, format!("`{other}` is not an order"), "write `order: parallel` (all at once) or `order: sequential` (one after another)");
                return None;
            }
        };
        let completion = match each.done.as_ref().map(|d| d.trim().to_string()).as_deref() {
            None | Some("all") => None,
            Some("any") => Some("nrOfCompletedInstances >= 1".to_string()),
            Some(n) if n.parse::<u32>().is_ok_and(|n| n > 0) => {
                Some(format!("nrOfCompletedInstances >= {n}"))
            }
            Some(other) => Some(other.to_string()),
        };
        let completion = match completion {
            Some(text) => {
                let at = each
                    .done
                    .as_ref()
                    .map(|d| *d.span())
                    .unwrap_or(*each.span());
                match Expr::parse_in(&text, Dialect::Plain) {
                    Ok(expr) => Some(expr),
                    Err(error) => {
                        self.error(
                            "invalid-done",
                            &at,
                            format!("step `{id}`: `done: {text}` cannot be read: {error}"),
                            "write `all`, `any`, a number of people (`2`), or a condition on nrOfCompletedInstances",
                        );
                        return None;
                    }
                }
            }
            None => None,
        };
        Some(MultiInstance {
            sequential,
            collection: Some(items),
            element: Some(name.to_string()),
            cardinality: None,
            completion,
        })
    }

    /// A timer from exactly one of `after`, `until` and `every` (with `times`).
    fn timer(
        &mut self,
        owner: &str,
        span: &Span,
        after: &Option<Text>,
        until: &Option<Text>,
        every: &Option<Text>,
        times: &Option<Text>,
    ) -> Option<Timer> {
        let given: Vec<&Text> = [after, until, every].into_iter().flatten().collect();
        let hint = "write `after: 3d` (a duration, or `3 working days`), `until: 2026-12-01T09:00:00Z` (a date) or `every: 1d` with `times: 3`";
        let [text] = given.as_slice() else {
            let message = if given.is_empty() {
                format!("`{owner}` waits, and no time is given")
            } else {
                format!("`{owner}` gives more than one of `after`, `until` and `every`")
            };
            self.reported.push(owner.to_string());
            self.error("invalid-timer", span, message, hint);
            return None;
        };
        let value = text.trim();
        let not_duration = |e: String| format!("not a duration ({e})");
        let parsed = if let (Some(_), Some(days)) = (after, working_days(value)) {
            Ok(Timer::WorkingDays(days))
        } else if after.is_some() {
            crate::bpmn::duration(value)
                .map(Timer::Duration)
                .map_err(not_duration)
        } else if until.is_some() {
            if value.starts_with("${") {
                Expr::parse(value)
                    .map(Timer::Expression)
                    .map_err(|e| format!("not an expression Waymark reads ({e})"))
            } else {
                waymark_eventlog::time::parse_iso8601(value)
                    .map(Timer::Date)
                    .ok_or_else(|| "not an ISO 8601 date and time".to_string())
            }
        } else {
            let count =
                match times {
                    None => Ok(None),
                    Some(t) => t.trim().parse::<u32>().map(Some).map_err(|_| {
                        format!("repeated `times: {}`, which is not a count", t.trim())
                    }),
                };
            count.and_then(|count| {
                crate::bpmn::duration(value)
                    .map(|every| Timer::Cycle { every, count })
                    .map_err(not_duration)
            })
        };
        match parsed {
            Ok(timer) => Some(timer),
            Err(problem) => {
                self.reported.push(owner.to_string());
                self.error(
                    "invalid-timer",
                    text.span(),
                    format!("`{value}` is {problem}"),
                    hint,
                );
                None
            }
        }
    }

    /// Escalations (timers that do not stop the step), the timeout (a timer that does) and
    /// error handlers on a step that waits.
    fn boundaries(&mut self, step: &RawStep, id: &str, node: NodeIndex) {
        let several = step.escalate.len() > 1;
        for (n, escalation) in step.escalate.iter().enumerate() {
            let span = *escalation.span();
            let line = self.at(&span).line;
            let b_id = escalation
                .id
                .as_ref()
                .map(|i| i.trim().to_string())
                .unwrap_or_else(|| {
                    if several {
                        format!("{id}-escalation-{}", n + 1)
                    } else {
                        format!("{id}-escalation")
                    }
                });
            let Some(timer) = self.timer(
                &b_id,
                &span,
                &escalation.after,
                &escalation.until,
                &escalation.every,
                &escalation.times,
            ) else {
                continue;
            };
            let name = escalation.name.as_ref().map(|n| n.trim().to_string());
            let boundary = self.add(
                b_id.clone(),
                name,
                NodeKind::Boundary(Boundary {
                    attached_to: node,
                    trigger: Trigger::Timer(timer),
                    cancel: false,
                }),
                line,
            );
            let at = self.at(&span);
            match (&escalation.email, &escalation.goto) {
                (Some(template), None) => {
                    let to = match &escalation.to {
                        Some(to) => self.recipient(to),
                        None => Some("manager-of:assignee".to_string()),
                    };
                    let Some(to) = to else { continue };
                    let send = self.add(
                        format!("{b_id}-email"),
                        None,
                        NodeKind::SendTask(Service::External {
                            topic: format!("email:{}", template.trim()),
                            to: Some(to),
                        }),
                        line,
                    );
                    let end = self.add(format!("{b_id}-end"), None, NodeKind::End { result: EndResult::None }, line);
                    self.link(boundary, Target::Node(send), at);
                    self.link(send, Target::Node(end), at);
                }
                (None, Some(goto)) => {
                    if let Some(to) = &escalation.to {
                        self.error("misplaced-field", to.span(), "`to:` says whom an escalation email goes to, and this escalation goes to a step".into(), "remove `to:`, or send an `email:` instead of `goto:`");
                    }
                    let at = self.at(goto.span());
                    self.link(boundary, Target::Step(goto.trim().to_string()), at);
                }
                _ => self.error(
                    "escalation-does-nothing",
                    &span,
                    format!("escalation `{b_id}` needs either `email:` (a template sent, by default to the assignee's manager) or `goto:` (a step started beside the late one)"),
                    "add `email: approval-overdue`, or `goto:` a step",
                ),
            }
        }
        if let Some(timeout) = &step.timeout {
            let span = *timeout.span();
            let line = self.at(&span).line;
            let b_id = timeout
                .id
                .as_ref()
                .map(|i| i.trim().to_string())
                .unwrap_or_else(|| format!("{id}-timeout"));
            let goto = self.required(
                &timeout.goto,
                &span,
                "where a timed-out step goes (`goto:`)",
                "add `goto:` with the id of the step that handles it",
            );
            if let (Some(timer), Some(goto)) = (
                self.timer(&b_id, &span, &timeout.after, &timeout.until, &None, &None),
                goto,
            ) {
                let name = timeout.name.as_ref().map(|n| n.trim().to_string());
                let boundary = self.add(
                    b_id,
                    name,
                    NodeKind::Boundary(Boundary {
                        attached_to: node,
                        trigger: Trigger::Timer(timer),
                        cancel: true,
                    }),
                    line,
                );
                let at = self.at(&span);
                self.link(boundary, Target::Step(goto), at);
            }
        }
        let several = step.on_error.len() > 1;
        for (n, catch) in step.on_error.iter().enumerate() {
            let span = *catch.span();
            let line = self.at(&span).line;
            let b_id = catch
                .id
                .as_ref()
                .map(|i| i.trim().to_string())
                .unwrap_or_else(|| {
                    if several {
                        format!("{id}-error-{}", n + 1)
                    } else {
                        format!("{id}-error")
                    }
                });
            let Some(goto) = self.required(
                &catch.goto,
                &span,
                "where a failed step goes (`goto:`)",
                "add `goto:` with the id of the step that handles the error",
            ) else {
                continue;
            };
            let code = catch
                .error
                .as_ref()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty() && c != "any");
            let name = catch.name.as_ref().map(|n| n.trim().to_string());
            let boundary = self.add(
                b_id,
                name,
                NodeKind::Boundary(Boundary {
                    attached_to: node,
                    trigger: Trigger::Error(code),
                    cancel: true,
                }),
                line,
            );
            let at = self.at(&span);
            self.link(boundary, Target::Step(goto), at);
        }
    }

    /// Turns the links into sequence flows, now that every step is known.
    fn resolve(&mut self) {
        let mut index: HashMap<String, NodeIndex> = HashMap::new();
        for (i, node) in self.process.nodes.iter().enumerate() {
            index.entry(node.id.clone()).or_insert(i);
        }
        let mut end = None;
        for link in std::mem::take(&mut self.links) {
            let target = match link.to {
                Target::Node(n) => n,
                Target::End => *end.get_or_insert_with(|| {
                    let mut id = "end".to_string();
                    while index.contains_key(&id) {
                        id.push('_');
                    }
                    self.process.nodes.push(Node {
                        id,
                        name: None,
                        kind: NodeKind::End {
                            result: EndResult::None,
                        },
                        parent: None,
                        line: link.at.line,
                    });
                    self.process.nodes.len() - 1
                }),
                Target::Step(id) => match index.get(&id) {
                    Some(&n)
                        if !matches!(
                            self.process.nodes[n].kind,
                            NodeKind::Boundary(_) | NodeKind::Start { .. }
                        ) =>
                    {
                        n
                    }
                    _ => {
                        let known: Vec<&str> = self
                            .process
                            .nodes
                            .iter()
                            .filter(|n| {
                                !matches!(n.kind, NodeKind::Boundary(_) | NodeKind::Start { .. })
                            })
                            .map(|n| n.id.as_str())
                            .collect();
                        let hint = match did_you_mean(&id, known.iter().copied()) {
                            Some(close) => format!("did you mean `{close}`?"),
                            None => "point `goto:` at the id of a step".to_string(),
                        };
                        self.diagnostics.push(
                            Diagnostic::error(
                                "unknown-step",
                                link.at,
                                format!("there is no step `{id}` to go to"),
                            )
                            .with_hint(hint),
                        );
                        continue;
                    }
                },
            };
            let flow = self.process.flows.len();
            let source = self.process.nodes[link.from].id.clone();
            let target_id = self.process.nodes[target].id.clone();
            self.process.flows.push(Flow {
                id: format!("{source}->{target_id}"),
                source: link.from,
                target,
                condition: link.condition,
                line: link.at.line,
            });
            if link.default
                && let NodeKind::ExclusiveGateway { default } =
                    &mut self.process.nodes[link.from].kind
            {
                *default = Some(flow);
            }
        }
    }

    /// Every node id once: a step's id must not repeat, nor take the id of a node made for
    /// another step (`X-next`, `X-join`, `X-escalation`…).
    fn unique_ids(&mut self) {
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut problems = Vec::new();
        for node in &self.process.nodes {
            match first.get(node.id.as_str()) {
                Some(&line) => problems.push(
                    Diagnostic::error(
                        "duplicate-id",
                        Location { line: node.line, column: 1 },
                        format!("the id `{}` is used twice (first on line {line})", node.id),
                    )
                    .with_hint("give each step its own id; Waymark also names the nodes it makes for a step `ID-next`, `ID-join`, `ID-escalation`, `ID-timeout` and `ID-error`"),
                ),
                None => {
                    first.insert(&node.id, node.line);
                }
            }
        }
        self.diagnostics.extend(problems);
    }
}

/// `waymark:KEY` for a form named by key; a full `formKey` is kept as it is.
fn form_key(form: &str) -> String {
    let form = form.trim();
    if form.contains(':') {
        form.to_string()
    } else {
        format!("waymark:{form}")
    }
}

/// Reads who does a step or receives an email.
fn who(text: &str) -> Result<Who, String> {
    let text = text.trim();
    let lower = text.to_ascii_lowercase();
    if lower == "system" {
        return Ok(Who::System);
    }
    if lower == "requester" || lower == "the requester" {
        return Ok(Who::Person("${requester}".into()));
    }
    if text.starts_with("${") {
        return match Expr::parse(text) {
            Ok(_) => Ok(Who::Person(text.to_string())),
            Err(error) => Err(format!("`{text}` cannot be read: {error}")),
        };
    }
    if let Some(whose) = lower
        .strip_prefix("manager of ")
        .map(|w| w.trim_start_matches("the ").trim())
    {
        let whose = match whose {
            "requester" | "assignee" => whose.to_string(),
            other => match other.strip_prefix("user:") {
                Some(user) if !user.trim().is_empty() => {
                    // Keep the user id as written (ids can have capitals).
                    text[text.len() - user.len()..].trim().to_string()
                }
                _ => {
                    return Err(format!(
                        "`{text}` names a manager of someone Waymark does not know here"
                    ));
                }
            },
        };
        return Ok(Who::Person(format!("manager-of:{whose}")));
    }
    if let Some((prefix, value)) = text.split_once(':') {
        let value = value.trim();
        if !value.is_empty() {
            match prefix.trim().to_ascii_lowercase().as_str() {
                "user" => return Ok(Who::User(value.to_string())),
                "role" | "department" | "group" => return Ok(Who::Group(value.to_string())),
                _ => {}
            }
        }
    }
    Err(format!("`{text}` is not an actor Waymark knows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_read_as_the_engine_and_directory_expect() {
        assert_eq!(who("requester"), Ok(Who::Person("${requester}".into())));
        assert_eq!(
            who("manager of the requester"),
            Ok(Who::Person("manager-of:requester".into()))
        );
        assert_eq!(
            who("Manager of user:Sam"),
            Ok(Who::Person("manager-of:Sam".into()))
        );
        assert_eq!(who("role:finance"), Ok(Who::Group("finance".into())));
        assert_eq!(who("department: Finance"), Ok(Who::Group("Finance".into())));
        assert_eq!(who("user:jennifer"), Ok(Who::User("jennifer".into())));
        assert_eq!(who("system"), Ok(Who::System));
        assert!(who("finance").is_err());
        assert!(who("manager of finance").is_err());
        assert!(who("${").is_err());
    }
}
