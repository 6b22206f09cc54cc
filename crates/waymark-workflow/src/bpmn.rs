//! BPMN 2.0 XML import.
//!
//! Reads the process elements Waymark executes (see [`SUPPORTED`]) with the Camunda attributes
//! that carry assignment, forms and due dates. Every other BPMN element inside a process is
//! named in an error with its line; elements of other namespaces (vendor extensions) are ignored;
//! diagram interchange and artefacts (lanes, data objects, annotations) carry no behaviour and are
//! skipped.

use std::collections::HashMap;
use std::time::Duration;

use roxmltree::{Document, Node as XmlNode};
use waymark_journey::{Diagnostic, Location};

pub use crate::definition::{Imported, Unreadable};
use crate::expr::{Dialect, Expr};
use crate::model::*;

const BPMN: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";
const CAMUNDA: &str = "http://camunda.org/schema/1.0/bpmn";
const ACTIVITI: &str = "http://activiti.org/bpmn";
/// Waymark's own attributes (`waymark:to` on send tasks).
pub const WAYMARK: &str = "https://waymark.dev/schema/bpmn";

/// The BPMN elements Waymark runs, for messages.
pub const SUPPORTED: &str = "start and end events; user, service, send, receive, script and plain tasks; exclusive, parallel and event-based gateways; timer, message, error and escalation events (intermediate and boundary); embedded sub-processes; multi-instance user tasks";

/// Reads a BPMN 2.0 file.
pub fn import(text: &str) -> Result<Imported, Unreadable> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        ..Default::default()
    };
    let document = Document::parse_with_options(text, options).map_err(|error| {
        let pos = error.pos();
        Unreadable {
            location: Location {
                line: pos.row as usize,
                column: pos.col as usize,
            },
            message: format!("not well-formed XML: {error}"),
        }
    })?;
    let root = document.root_element();
    if root.tag_name().name() != "definitions" || root.tag_name().namespace() != Some(BPMN) {
        return Err(Unreadable {
            location: Location::START,
            message: format!(
                "not a BPMN 2.0 file: the root element is `{}`, not `definitions` in {BPMN}",
                root.tag_name().name()
            ),
        });
    }
    let mut reader = Reader {
        document: &document,
        language: language(root.attribute("expressionLanguage")),
        left_out: Vec::new(),
        reported: Vec::new(),
        diagnostics: Vec::new(),
        messages: HashMap::new(),
        errors: HashMap::new(),
        escalations: HashMap::new(),
    };
    for child in root.children().filter(|n| is_bpmn(n)) {
        let id = child.attribute("id").unwrap_or_default().to_string();
        match child.tag_name().name() {
            "message" => {
                let name = child.attribute("name").unwrap_or(&id).to_string();
                reader.messages.insert(id, name);
            }
            "error" => {
                let code = child
                    .attribute("errorCode")
                    .or(child.attribute("name"))
                    .unwrap_or(&id)
                    .to_string();
                reader.errors.insert(id, code);
            }
            "escalation" => {
                let code = child
                    .attribute("escalationCode")
                    .or(child.attribute("name"))
                    .unwrap_or(&id)
                    .to_string();
                reader.escalations.insert(id, code);
            }
            _ => {}
        }
    }
    let mut imported = Imported::default();
    for process in root
        .children()
        .filter(|n| is_bpmn(n) && n.tag_name().name() == "process")
    {
        let id = process.attribute("id").unwrap_or("process").to_string();
        // A process not marked executable is read too, so that what would stop it is named.
        let read = reader.process(process);
        if process.attribute("isExecutable") != Some("true") {
            imported.not_executable.push(id);
            continue;
        }
        imported.processes.extend(read);
    }
    if imported.processes.is_empty() {
        let message = if imported.not_executable.is_empty() {
            "the file has no process".to_string()
        } else {
            format!(
                "no process is marked executable ({} {} `isExecutable=\"false\"` or unmarked)",
                imported.not_executable.join(", "),
                if imported.not_executable.len() == 1 {
                    "is"
                } else {
                    "are"
                }
            )
        };
        reader.diagnostics.push(
            Diagnostic::error("not-executable", Location::START, message)
                .with_hint("mark the process to run with isExecutable=\"true\""),
        );
    }
    imported.diagnostics = reader.diagnostics;
    imported.diagnostics.sort_by_key(|d| d.location);
    Ok(imported)
}

fn is_bpmn(node: &XmlNode) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(BPMN)
}

/// Camunda 7 reads its attributes under its own namespace and under Activiti's, which older
/// models (and the MIWG suite) use.
fn camunda<'a>(node: &XmlNode<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute((CAMUNDA, name))
        .or_else(|| node.attribute((ACTIVITI, name)))
}

/// The dialect of unwrapped expressions under an `expressionLanguage`.
fn language(uri: Option<&str>) -> Dialect {
    match uri {
        Some(uri) if uri.to_ascii_lowercase().contains("xpath") => Dialect::XPath,
        Some(uri) if uri.to_ascii_lowercase().contains("feel") => Dialect::Feel,
        _ => Dialect::Plain,
    }
}

struct Reader<'d, 'i> {
    document: &'d Document<'i>,
    /// The file's expression language, for expressions without a `${ }` or `=` wrapper.
    language: Dialect,
    /// Elements left out because they cannot run (already named): flows to them are skipped.
    left_out: Vec<String>,
    /// Events whose trigger was already named as wrong.
    reported: Vec<String>,
    diagnostics: Vec<Diagnostic>,
    messages: HashMap<String, String>,
    errors: HashMap<String, String>,
    escalations: HashMap<String, String>,
}

/// A node read, with the references still to resolve once every node is known.
struct Pending {
    attached_to: Option<String>,
    default_flow: Option<String>,
}

impl Reader<'_, '_> {
    fn location(&self, node: &XmlNode) -> Location {
        let pos = self.document.text_pos_at(node.range().start);
        Location {
            line: pos.row as usize,
            column: pos.col as usize,
        }
    }

    fn error(&mut self, code: &'static str, node: &XmlNode, message: String, hint: &str) {
        let location = self.location(node);
        self.diagnostics
            .push(Diagnostic::error(code, location, message).with_hint(hint));
    }

    fn warning(&mut self, code: &'static str, node: &XmlNode, message: String, hint: &str) {
        let location = self.location(node);
        self.diagnostics
            .push(Diagnostic::warning(code, location, message).with_hint(hint));
    }

    fn process(&mut self, element: XmlNode) -> Option<Process> {
        let id = element.attribute("id").unwrap_or("process").to_string();
        let mut process = Process {
            name: element.attribute("name").unwrap_or(&id).to_string(),
            id,
            nodes: Vec::new(),
            flows: Vec::new(),
            calendar: Calendar::default(),
            // BPMN models declare no message variables: their messages set none.
            messages: Default::default(),
        };
        let mut pending = Vec::new();
        let mut flows = Vec::new();
        self.scope(element, None, &mut process, &mut pending, &mut flows);
        let index: HashMap<String, NodeIndex> = process
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.id.clone(), i))
            .collect();
        // Sequence flows.
        let mut flow_ids = HashMap::new();
        for flow in flows {
            let source = flow.attribute("sourceRef").unwrap_or_default();
            let target = flow.attribute("targetRef").unwrap_or_default();
            let id = flow.attribute("id").unwrap_or_default().to_string();
            if self.left_out.iter().any(|r| r == source || r == target) {
                continue;
            }
            let (Some(&source), Some(&target)) = (index.get(source), index.get(target)) else {
                let missing = if index.contains_key(source) {
                    target
                } else {
                    source
                };
                self.error(
                    "unknown-reference",
                    &flow,
                    format!("sequence flow `{id}` refers to `{missing}`, which is not an element of this process"),
                    "point sourceRef and targetRef at ids of flow nodes in the same process",
                );
                continue;
            };
            if process.nodes[source].parent != process.nodes[target].parent {
                self.error(
                    "flow-crosses-scope",
                    &flow,
                    format!("sequence flow `{id}` crosses the border of a sub-process"),
                    "connect to the sub-process itself, and start inside it with a start event",
                );
                continue;
            }
            let condition = flow
                .children()
                .find(|c| is_bpmn(c) && c.tag_name().name() == "conditionExpression")
                .and_then(|c| self.condition(&c));
            flow_ids.insert(id.clone(), process.flows.len());
            process.flows.push(Flow {
                id,
                source,
                target,
                condition,
                line: self.location(&flow).line,
            });
        }
        // Boundary events and default flows.
        for (n, pending) in pending.into_iter().enumerate() {
            if let Some(target) = pending.attached_to {
                let line = process.nodes[n].line;
                match index.get(&target) {
                    Some(&attached) => {
                        if let NodeKind::Boundary(b) = &mut process.nodes[n].kind {
                            b.attached_to = attached;
                        }
                    }
                    None => self.diagnostics.push(
                        Diagnostic::error(
                            "unknown-reference",
                            Location { line, column: 1 },
                            format!(
                                "boundary event `{}` is attached to `{target}`, which is not an activity of this process",
                                process.nodes[n].id
                            ),
                        )
                        .with_hint("set attachedToRef to the id of a task or sub-process"),
                    ),
                }
            }
            if let Some(default) = pending.default_flow {
                let flow = flow_ids.get(&default).copied();
                if let NodeKind::ExclusiveGateway { default: d } = &mut process.nodes[n].kind {
                    *d = flow;
                }
            }
        }
        crate::check::structure(&process, &mut self.diagnostics, &self.reported);
        Some(process)
    }

    /// Reads the flow elements directly inside `element` (a process or a sub-process).
    fn scope<'a, 'i>(
        &mut self,
        element: XmlNode<'a, 'i>,
        parent: Option<NodeIndex>,
        process: &mut Process,
        pending: &mut Vec<Pending>,
        flows: &mut Vec<XmlNode<'a, 'i>>,
    ) {
        for child in element.children().filter(|c| is_bpmn(c)) {
            let tag = child.tag_name().name();
            let kind = match tag {
                "sequenceFlow" => {
                    flows.push(child);
                    continue;
                }
                // No behaviour: artefacts, data, lanes, documentation.
                "laneSet"
                | "lane"
                | "documentation"
                | "extensionElements"
                | "textAnnotation"
                | "association"
                | "group"
                | "dataObject"
                | "dataObjectReference"
                | "dataStoreReference"
                | "ioSpecification"
                | "property"
                | "dataInputAssociation"
                | "dataOutputAssociation"
                | "incoming"
                | "outgoing"
                | "potentialOwner"
                | "performer"
                | "humanPerformer"
                | "category" => continue,
                "startEvent" => NodeKind::Start {
                    trigger: self.trigger(&child),
                    form: camunda(&child, "formKey").map(str::to_string),
                },
                "endEvent" => NodeKind::End {
                    result: match self.trigger(&child) {
                        Trigger::Error(code) => EndResult::Error(code.unwrap_or_default()),
                        Trigger::Escalation(code) => {
                            EndResult::Escalation(code.unwrap_or_default())
                        }
                        _ if has_definition(&child, "terminateEventDefinition") => {
                            EndResult::Terminate
                        }
                        _ => EndResult::None,
                    },
                },
                "userTask" => NodeKind::UserTask(Box::new(self.user_task(&child))),
                "serviceTask" | "sendTask" => {
                    let service = self.service(&child);
                    if tag == "serviceTask" {
                        NodeKind::ServiceTask(service)
                    } else {
                        NodeKind::SendTask(service)
                    }
                }
                "receiveTask" => NodeKind::ReceiveTask {
                    message: child
                        .attribute("messageRef")
                        .map(|m| self.messages.get(m).cloned().unwrap_or(m.to_string()))
                        .unwrap_or_else(|| child.attribute("id").unwrap_or_default().to_string()),
                },
                "scriptTask" => NodeKind::ScriptTask {
                    assignments: self.script(&child),
                },
                "task" | "manualTask" => NodeKind::Pass,
                "exclusiveGateway" => NodeKind::ExclusiveGateway { default: None },
                "parallelGateway" => NodeKind::ParallelGateway,
                "eventBasedGateway" => NodeKind::EventGateway,
                "intermediateCatchEvent" => NodeKind::CatchEvent {
                    trigger: self.trigger(&child),
                },
                "intermediateThrowEvent" => NodeKind::ThrowEvent {
                    message: match self.trigger(&child) {
                        Trigger::Message(m) => Some(m),
                        _ => None,
                    },
                },
                "boundaryEvent" => NodeKind::Boundary(Boundary {
                    attached_to: usize::MAX,
                    trigger: self.trigger(&child),
                    cancel: child.attribute("cancelActivity") != Some("false"),
                }),
                "subProcess" if child.attribute("triggeredByEvent") == Some("true") => {
                    self.unsupported(&child, "an event sub-process");
                    continue;
                }
                "subProcess" => NodeKind::SubProcess,
                other => {
                    let what = match other {
                        "callActivity" => "a call activity (calling another process)",
                        "businessRuleTask" => "a business rule task (DMN decisions)",
                        "inclusiveGateway" => "an inclusive gateway",
                        "complexGateway" => "a complex gateway",
                        "transaction" => "a transaction sub-process",
                        "adHocSubProcess" => "an ad-hoc sub-process",
                        _ => "",
                    };
                    let what = if what.is_empty() {
                        format!("the element `{other}`")
                    } else {
                        format!("{what} (`{other}`)")
                    };
                    self.unsupported(&child, &what);
                    continue;
                }
            };
            let loops = child
                .children()
                .find(|c| is_bpmn(c) && c.tag_name().name().ends_with("LoopCharacteristics"));
            let multi = match loops {
                Some(l) if l.tag_name().name() == "multiInstanceLoopCharacteristics" => {
                    if matches!(kind, NodeKind::UserTask(_)) {
                        Some(self.multi(&l))
                    } else {
                        self.unsupported(&l, "multi-instance on anything but a user task");
                        None
                    }
                }
                Some(l) => {
                    self.unsupported(&l, "a standard loop (`standardLoopCharacteristics`)");
                    None
                }
                None => None,
            };
            let kind = match (kind, multi) {
                (NodeKind::UserTask(mut task), Some(multi)) => {
                    task.multi = Some(multi);
                    NodeKind::UserTask(task)
                }
                (kind, _) => kind,
            };
            let index = process.nodes.len();
            process.nodes.push(Node {
                id: child.attribute("id").unwrap_or_default().to_string(),
                name: child
                    .attribute("name")
                    .map(|n| n.split_whitespace().collect::<Vec<_>>().join(" ")),
                kind,
                parent,
                line: self.location(&child).line,
            });
            pending.push(Pending {
                attached_to: child.attribute("attachedToRef").map(str::to_string),
                default_flow: child.attribute("default").map(str::to_string),
            });
            if tag == "subProcess" {
                self.scope(child, Some(index), process, pending, flows);
            }
        }
    }

    fn unsupported(&mut self, node: &XmlNode, what: &str) {
        let id = node.attribute("id").unwrap_or("?");
        self.left_out.push(id.to_string());
        self.error(
            "unsupported-element",
            node,
            format!("`{id}` is {what}, which Waymark cannot execute"),
            &format!("Waymark runs {SUPPORTED}"),
        );
    }

    /// A sequence flow's condition. One that cannot be read is never true (Camunda deploys it
    /// too, and fails when it is evaluated); the check warns about it.
    fn condition(&mut self, node: &XmlNode) -> Option<Expr> {
        self.read_expression(node, true)
    }

    /// An expression (loop settings, timers); one that cannot be read is an error.
    fn expression(&mut self, node: &XmlNode) -> Option<Expr> {
        self.read_expression(node, false)
    }

    /// The expression in an element's text, in its `language` (else the file's). A problem is a
    /// warning for a `condition` (which then never holds), else an error.
    fn read_expression(&mut self, node: &XmlNode, condition: bool) -> Option<Expr> {
        let text = node.text().unwrap_or_default();
        if text.trim().is_empty() {
            return None;
        }
        let dialect = match node.attribute("language") {
            Some(uri) => language(Some(uri)),
            None => self.language,
        };
        let error = match Expr::parse_in(text, dialect) {
            Ok(expr) => return Some(expr),
            Err(error) => error,
        };
        let mut location = self.location(node);
        location.column += 1;
        let hint = "write ${variable}, ${amount > 1000}, ${decision == 'yes'} or =amount > 1000";
        if condition {
            let message = format!("{error}; this flow is never taken");
            self.diagnostics
                .push(Diagnostic::warning("invalid-expression", location, message).with_hint(hint));
            Expr::parse("false").ok()
        } else {
            self.diagnostics.push(
                Diagnostic::error("invalid-expression", location, error.to_string())
                    .with_hint(hint),
            );
            None
        }
    }

    fn trigger(&mut self, node: &XmlNode) -> Trigger {
        let Some(definition) = node
            .children()
            .find(|c| is_bpmn(c) && c.tag_name().name().ends_with("EventDefinition"))
        else {
            return Trigger::None;
        };
        match definition.tag_name().name() {
            "timerEventDefinition" => match self.timer(&definition) {
                Some(timer) => Trigger::Timer(timer),
                None => Trigger::None,
            },
            "messageEventDefinition" => Trigger::Message(
                definition
                    .attribute("messageRef")
                    .map(|m| self.messages.get(m).cloned().unwrap_or(m.to_string()))
                    .unwrap_or_else(|| node.attribute("id").unwrap_or_default().to_string()),
            ),
            "errorEventDefinition" => Trigger::Error(
                definition
                    .attribute("errorRef")
                    .map(|e| self.errors.get(e).cloned().unwrap_or(e.to_string())),
            ),
            "escalationEventDefinition" => Trigger::Escalation(
                definition
                    .attribute("escalationRef")
                    .map(|e| self.escalations.get(e).cloned().unwrap_or(e.to_string())),
            ),
            "terminateEventDefinition" => Trigger::None,
            other => {
                let what = match other {
                    "signalEventDefinition" => "a signal event",
                    "conditionalEventDefinition" => "a conditional event",
                    "linkEventDefinition" => "a link event",
                    "compensateEventDefinition" => "a compensation event",
                    "cancelEventDefinition" => "a cancel event",
                    _ => "this event definition",
                };
                self.unsupported(node, &format!("{what} (`{other}`)"));
                Trigger::None
            }
        }
    }

    fn timer(&mut self, definition: &XmlNode) -> Option<Timer> {
        let spec = definition.children().find(|c| is_bpmn(c))?;
        let text = spec.text().unwrap_or_default().trim().to_string();
        let kind = spec.tag_name().name();
        // The event whose timer is wrong: its problem is named once, as the timer's.
        let owner = definition
            .parent_element()
            .and_then(|p| p.attribute("id"))
            .unwrap_or_default()
            .to_string();
        if text.is_empty() {
            self.reported.push(owner);
            self.error(
                "timer-without-time",
                &spec,
                format!("this timer's `{kind}` is empty, so it would never fire"),
                "give a duration (PT2H), a date (2026-12-01T09:00:00Z) or a cycle (R3/PT1H)",
            );
            return None;
        }
        if text.contains("${") || text.starts_with('=') || text.contains("#{") {
            return self.expression(&spec).map(Timer::Expression);
        }
        let parsed = match kind {
            "timeDuration" => duration(&text).map(Timer::Duration),
            "timeDate" => waymark_eventlog::time::parse_iso8601(&text)
                .map(Timer::Date)
                .ok_or_else(|| "not an ISO 8601 date and time".to_string()),
            "timeCycle" => cycle(&text),
            _ => Err(format!("`{kind}` is not a timer definition")),
        };
        match parsed {
            Ok(timer) => Some(timer),
            Err(problem) => {
                self.reported.push(owner);
                self.error(
                    "invalid-timer",
                    &spec,
                    format!("`{text}` in `{kind}`: {problem}"),
                    "durations are ISO 8601 (PT15M, P3D) or short (15m, 3d); dates ISO 8601; cycles R<count>/<duration>",
                );
                None
            }
        }
    }

    fn user_task(&mut self, node: &XmlNode) -> UserTask {
        let list = |text: Option<&str>| -> Vec<String> {
            text.map(|t| {
                t.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
        };
        // A potential owner in plain BPMN: the first resource expression names the group.
        let mut candidate_groups = list(camunda(node, "candidateGroups"));
        if candidate_groups.is_empty()
            && let Some(owner) = node
                .descendants()
                .find(|c| is_bpmn(c) && c.tag_name().name() == "formalExpression")
            && let Some(text) = owner.text()
            && !text.trim().is_empty()
        {
            candidate_groups.push(text.trim().to_string());
        }
        UserTask {
            assignee: camunda(node, "assignee").map(str::to_string),
            candidate_groups,
            candidate_users: list(camunda(node, "candidateUsers")),
            due: camunda(node, "dueDate").map(str::to_string),
            form: camunda(node, "formKey").map(str::to_string),
            multi: None,
        }
    }

    fn service(&mut self, node: &XmlNode) -> Service {
        let id = node.attribute("id").unwrap_or_default().to_string();
        if let Some(url) = node.attribute((WAYMARK, "url")) {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                self.error(
                    "invalid-url",
                    node,
                    format!("`{url}` is not an http:// or https:// address"),
                    "give the webhook's full address, e.g. https://budget.example.com/check",
                );
            }
            return Service::Webhook {
                url: url.to_string(),
                method: node
                    .attribute((WAYMARK, "method"))
                    .unwrap_or("POST")
                    .to_ascii_uppercase(),
            };
        }
        if camunda(node, "type") == Some("external") {
            return Service::External {
                topic: camunda(node, "topic").unwrap_or(&id).to_string(),
                to: node.attribute((WAYMARK, "to")).map(str::to_string),
            };
        }
        if let Some(java) = camunda(node, "class")
            .or(camunda(node, "delegateExpression"))
            .or(camunda(node, "expression"))
        {
            self.warning(
                "external-worker",
                node,
                format!("`{id}` calls `{java}` in Camunda; Waymark cannot run Java, so the task waits for an external worker on the topic `{id}`"),
                "complete it through the API from a worker, or make it a webhook in a Waymark process file",
            );
        }
        Service::External {
            topic: id,
            to: node.attribute((WAYMARK, "to")).map(str::to_string),
        }
    }

    fn script(&mut self, node: &XmlNode) -> Vec<(String, Expr)> {
        let format = node
            .attribute("scriptFormat")
            .unwrap_or("")
            .to_ascii_lowercase();
        let Some(script) = node
            .children()
            .find(|c| is_bpmn(c) && c.tag_name().name() == "script")
        else {
            return Vec::new();
        };
        if !matches!(format.as_str(), "" | "juel" | "feel" | "waymark") {
            self.unsupported(
                node,
                &format!(
                    "a script task in `{format}` (Waymark scripts are `name = expression` lines)"
                ),
            );
            return Vec::new();
        }
        let mut assignments = Vec::new();
        for (k, line) in script.text().unwrap_or_default().lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with("//") || line.starts_with('#') {
                continue;
            }
            let parsed = line.split_once('=').and_then(|(name, value)| {
                let name = name.trim();
                (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
                    .then(|| Expr::parse(value).map(|e| (name.to_string(), e)))
            });
            match parsed {
                Some(Ok(assignment)) => assignments.push(assignment),
                Some(Err(error)) => {
                    let mut location = self.location(&script);
                    location.line += k;
                    self.diagnostics.push(Diagnostic::error(
                        "invalid-expression",
                        location,
                        error.to_string(),
                    ));
                }
                None => {
                    let mut location = self.location(&script);
                    location.line += k;
                    self.diagnostics.push(
                        Diagnostic::error(
                            "invalid-script",
                            location,
                            format!("`{line}` is not an assignment"),
                        )
                        .with_hint("write one `name = expression` per line"),
                    );
                }
            }
        }
        assignments
    }

    fn multi(&mut self, node: &XmlNode) -> MultiInstance {
        let child_expr = |reader: &mut Self, name: &str| {
            node.children()
                .find(|c| is_bpmn(c) && c.tag_name().name() == name)
                .and_then(|c| reader.expression(&c))
        };
        MultiInstance {
            sequential: node.attribute("isSequential") == Some("true"),
            collection: camunda(node, "collection").map(|c| {
                c.trim()
                    .trim_start_matches("${")
                    .trim_end_matches('}')
                    .to_string()
            }),
            element: camunda(node, "elementVariable").map(str::to_string),
            cardinality: child_expr(self, "loopCardinality"),
            completion: child_expr(self, "completionCondition"),
        }
    }
}

fn has_definition(node: &XmlNode, name: &str) -> bool {
    node.children()
        .any(|c| is_bpmn(&c) && c.tag_name().name() == name)
}

/// An ISO 8601 duration (`P3D`, `PT1H30M`, `P1W`) or a short one (`90m`, `1h 30m`).
pub fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('P').or_else(|| text.strip_prefix('p')) else {
        return within_limit(Some(
            humantime::parse_duration(text).map_err(|e| e.to_string())?,
        ));
    };
    let mut seconds = 0f64;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            'T' | 't' => in_time = true,
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            unit => {
                let value: f64 = number
                    .parse()
                    .map_err(|_| format!("a number is missing before `{unit}`"))?;
                number.clear();
                any = true;
                seconds += value
                    * match (unit.to_ascii_uppercase(), in_time) {
                        ('Y', false) => 365.0 * 86_400.0,
                        ('M', false) => 30.0 * 86_400.0,
                        ('W', false) => 7.0 * 86_400.0,
                        ('D', false) => 86_400.0,
                        ('H', true) => 3_600.0,
                        ('M', true) => 60.0,
                        ('S', true) => 1.0,
                        _ => return Err(format!("`{unit}` is not a unit here")),
                    };
            }
        }
    }
    if !number.is_empty() || !any {
        return Err("not an ISO 8601 duration".into());
    }
    within_limit(Duration::try_from_secs_f64(seconds).ok())
}

/// The longest wait or due period a process may use: a hundred years.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 366 * 86_400);

/// A duration no longer than [`MAX_DURATION`], or why not.
fn within_limit(duration: Option<Duration>) -> Result<Duration, String> {
    match duration {
        Some(d) if d <= MAX_DURATION => Ok(d),
        _ => Err("the duration is longer than a hundred years; write a shorter one".into()),
    }
}

/// `R3/PT1H` (three times), `R/PT1H` (unbounded), or a bare duration.
fn cycle(text: &str) -> Result<Timer, String> {
    let Some(rest) = text.strip_prefix('R') else {
        return duration(text).map(|every| Timer::Cycle { every, count: None });
    };
    let (count, period) = rest
        .split_once('/')
        .ok_or("a cycle is written R<count>/<duration>")?;
    // R3/2026-01-01T00:00:00Z/PT1H: a start date is allowed; the last part is the period.
    let period = period.rsplit('/').next().unwrap_or(period);
    let count = if count.is_empty() {
        None
    } else {
        Some(
            count
                .parse()
                .map_err(|_| format!("`{count}` is not a count"))?,
        )
    };
    Ok(Timer::Cycle {
        every: duration(period)?,
        count,
    })
}
