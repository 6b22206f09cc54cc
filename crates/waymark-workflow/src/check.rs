//! Checks that a process graph can run, whatever file it came from: it starts somewhere, every
//! node can be reached, gateways can choose, events wait for something.

use waymark_journey::{Diagnostic, Location};

use crate::model::*;

fn at(node: &Node) -> Location {
    Location {
        line: node.line,
        column: 1,
    }
}

/// Adds the structural problems of `process` to `out`. Nodes in `reported` already have a problem
/// with their event named (a timer without a time), so "waits for nothing" is not said again.
pub fn structure(process: &Process, out: &mut Vec<Diagnostic>, reported: &[String]) {
    if process.starts().next().is_none() {
        out.push(
            Diagnostic::error(
                "no-start",
                Location::START,
                format!("process `{}` has no start event", process.id),
            )
            .with_hint("add a start event; a process begins there"),
        );
    }
    for (n, node) in process.nodes.iter().enumerate() {
        let outgoing = process.outgoing(n).count();
        match &node.kind {
            NodeKind::SubProcess => {
                let starts: Vec<NodeIndex> = process.starts_in(Some(n)).collect();
                let empty = !process.nodes.iter().any(|c| c.parent == Some(n));
                if empty {
                    out.push(
                        Diagnostic::warning(
                            "empty-sub-process",
                            at(node),
                            format!("sub-process `{}` is empty, so it passes straight on", node.id),
                        )
                        .with_hint("model what happens inside it (a collapsed sub-process drawn elsewhere is not read)"),
                    );
                } else if starts.len() != 1 {
                    out.push(
                        Diagnostic::error(
                            "sub-process-start",
                            at(node),
                            format!(
                                "sub-process `{}` has {} start events; it needs exactly one",
                                node.id,
                                starts.len()
                            ),
                        )
                        .with_hint("give the sub-process one plain start event inside it"),
                    );
                }
            }
            NodeKind::ExclusiveGateway { default } if outgoing > 1 => {
                for f in process.outgoing(n) {
                    let flow = &process.flows[f];
                    if flow.condition.is_none() && *default != Some(f) {
                        out.push(
                            Diagnostic::warning(
                                "missing-condition",
                                Location { line: flow.line, column: 1 },
                                format!(
                                    "the flow `{}` out of the exclusive gateway `{}` has no condition and is not its default, so it is taken whenever no flow before it matches (as Camunda does)",
                                    flow.id, node.id
                                ),
                            )
                            .with_hint("add a condition such as ${approved}, or mark the flow as the gateway's default"),
                        );
                    }
                }
            }
            NodeKind::EventGateway => {
                for f in process.outgoing(n) {
                    let target = &process.nodes[process.flows[f].target];
                    let waits = matches!(
                        target.kind,
                        NodeKind::CatchEvent { .. } | NodeKind::ReceiveTask { .. }
                    );
                    if !waits {
                        out.push(
                            Diagnostic::error(
                                "event-gateway-target",
                                at(target),
                                format!(
                                    "`{}` follows the event-based gateway `{}` but does not wait for an event",
                                    target.id, node.id
                                ),
                            )
                            .with_hint("after an event-based gateway put timer or message catch events, or receive tasks"),
                        );
                    }
                }
            }
            NodeKind::CatchEvent {
                trigger: Trigger::None,
            } if !reported.contains(&node.id) => out.push(
                Diagnostic::error(
                    "catch-nothing",
                    at(node),
                    format!("the intermediate event `{}` waits for nothing", node.id),
                )
                .with_hint("give it a timer or a message"),
            ),
            NodeKind::Boundary(boundary) => {
                let attached = process.nodes.get(boundary.attached_to);
                let activity = attached.is_some_and(|a| {
                    matches!(
                        a.kind,
                        NodeKind::UserTask(_)
                            | NodeKind::ServiceTask(_)
                            | NodeKind::SendTask(_)
                            | NodeKind::ReceiveTask { .. }
                            | NodeKind::ScriptTask { .. }
                            | NodeKind::Pass
                            | NodeKind::SubProcess
                    )
                });
                if attached.is_some() && !activity {
                    out.push(
                        Diagnostic::error(
                            "boundary-target",
                            at(node),
                            format!(
                                "boundary event `{}` is not attached to a task or sub-process",
                                node.id
                            ),
                        )
                        .with_hint("attach boundary events to tasks or sub-processes"),
                    );
                }
                if boundary.trigger == Trigger::None && !reported.contains(&node.id) {
                    out.push(
                        Diagnostic::error(
                            "catch-nothing",
                            at(node),
                            format!("boundary event `{}` waits for nothing", node.id),
                        )
                        .with_hint("give it a timer, a message, an error or an escalation"),
                    );
                }
                if outgoing == 0 {
                    out.push(
                        Diagnostic::warning(
                            "dead-end",
                            at(node),
                            format!("boundary event `{}` leads nowhere", node.id),
                        )
                        .with_hint("connect it to what should happen when it fires"),
                    );
                }
            }
            NodeKind::UserTask(task)
                if task.assignee.is_none()
                    && task.candidate_groups.is_empty()
                    && task.candidate_users.is_empty() =>
            {
                out.push(
                    Diagnostic::warning(
                        "unassigned-task",
                        at(node),
                        format!("user task `{}` names no assignee or candidates, so anyone may claim it", node.id),
                    )
                    .with_hint("set an assignee (a user, ${variable}, or manager-of:requester) or candidate groups"),
                );
            }
            _ => {}
        }
    }
    // Reachability: from the starts, along flows, into sub-processes and out through boundaries.
    let mut reached = vec![false; process.nodes.len()];
    let mut stack: Vec<NodeIndex> = process.starts().collect();
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut reached[n], true) {
            continue;
        }
        stack.extend(process.outgoing(n).map(|f| process.flows[f].target));
        stack.extend(process.boundaries(n));
        if matches!(process.nodes[n].kind, NodeKind::SubProcess) {
            stack.extend(process.starts_in(Some(n)));
        }
    }
    for (n, node) in process.nodes.iter().enumerate() {
        if !reached[n] && !matches!(node.kind, NodeKind::Start { .. }) {
            out.push(
                Diagnostic::warning(
                    "unreachable",
                    at(node),
                    format!("`{}` cannot be reached from a start event", node.id),
                )
                .with_hint("connect it with a sequence flow, or remove it"),
            );
        }
    }
}
