//! The state machine: Jennifer's request on every path, boundary events, and random drives of
//! every executable model that keep the state consistent.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use waymark_workflow::Process;
use waymark_workflow::engine::{Command, Effect, Signal, State, Status, StepKind, TaskKind, step};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

fn training() -> Process {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/training-request/process.bpmn");
    let text = std::fs::read_to_string(path).expect("process");
    let imported = waymark_workflow::bpmn::import(&text).expect("bpmn");
    imported.processes.into_iter().next().expect("process")
}

fn vars(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A task created by a step: (task, node, assignee, groups, worker topic).
type Created = (u64, String, Option<String>, Vec<String>, Option<String>);

fn created(effects: &[Effect]) -> Vec<Created> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::TaskCreated {
                task,
                node,
                assignee,
                candidate_groups,
                kind,
                ..
            } => Some((
                *task,
                node.clone(),
                assignee.clone(),
                candidate_groups.clone(),
                match kind {
                    TaskKind::Worker { topic } => Some(topic.clone()),
                    TaskKind::User => None,
                },
            )),
            _ => None,
        })
        .collect()
}

fn only_task(effects: &[Effect], node: &str) -> u64 {
    let tasks = created(effects);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0].1, node, "{tasks:?}");
    tasks[0].0
}

fn steps(effects: &[Effect]) -> Vec<(String, StepKind)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Step { node, what, .. } => Some((node.clone(), *what)),
            _ => None,
        })
        .collect()
}

#[test]
fn jennifers_request_runs_end_to_end() {
    let process = training();
    let mut state = State::default();
    let mut now = 1_800_000_000_000_000;
    let mut done: Vec<(String, StepKind)> = Vec::new();
    let start = json!({ "requester": "jennifer", "course": "Negotiation", "cost": 1200, "vendorKnown": false });
    let effects = step(
        &process,
        &mut state,
        Command::Start {
            variables: vars(start),
        },
        now,
    )
    .expect("start");
    done.extend(steps(&effects));
    // Her manager has it, due in two days, with a three-day escalation timer.
    let tasks = created(&effects);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].1, "manager-approval");
    assert_eq!(tasks[0].2.as_deref(), Some("manager-of:requester"));
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::TaskCreated { due: Some(d), .. } if *d == now + 2 * DAY))
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::TimerSet { due, .. } if *due == now + 3 * DAY))
    );
    let approval = tasks[0].0;

    now += HOUR;
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: approval,
            variables: vars(json!({ "approved": true })),
        },
        now,
    )
    .expect("approve");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::TimerCancelled { .. })),
        "the escalation timer stops"
    );
    done.extend(steps(&effects));
    let budget = only_task(&effects, "budget-check");
    assert_eq!(created(&effects)[0].4.as_deref(), Some("budget-check"));

    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: budget,
            variables: vars(json!({ "budgetOk": true })),
        },
        now,
    )
    .expect("budget");
    done.extend(steps(&effects));
    let email = only_task(&effects, "approved-notification");
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: email,
            variables: Map::new(),
        },
        now,
    )
    .expect("sent");
    done.extend(steps(&effects));
    // The vendor is unknown: Finance adds it first.
    let vendor = only_task(&effects, "vendor-add");
    assert_eq!(created(&effects)[0].3, ["finance"]);
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: vendor,
            variables: Map::new(),
        },
        now,
    )
    .expect("vendor");
    done.extend(steps(&effects));
    let po = only_task(&effects, "po-issued");
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: po,
            variables: vars(json!({ "po": "PO-1" })),
        },
        now,
    )
    .expect("po");
    done.extend(steps(&effects));
    let payment = only_task(&effects, "payment");
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: payment,
            variables: Map::new(),
        },
        now,
    )
    .expect("paid");
    done.extend(steps(&effects));
    assert!(effects.iter().any(
        |e| matches!(e, Effect::MessageAwaited { message, .. } if message == "Training Completed")
    ));
    // Nothing else moves it on.
    assert!(
        step(
            &process,
            &mut state,
            Command::Message {
                name: "Something Else".into(),
                variables: Map::new()
            },
            now
        )
        .is_err()
    );

    now += 30 * DAY;
    let effects = step(
        &process,
        &mut state,
        Command::Message {
            name: "Training Completed".into(),
            variables: Map::new(),
        },
        now,
    )
    .expect("trained");
    done.extend(steps(&effects));
    let invite = only_task(&effects, "assessment-invite");
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: invite,
            variables: Map::new(),
        },
        now,
    )
    .expect("invited");
    done.extend(steps(&effects));
    let assessment = only_task(&effects, "assessment-form");
    assert_eq!(
        created(&effects)[0].2.as_deref(),
        Some("jennifer"),
        "${{requester}} is evaluated"
    );
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: assessment,
            variables: vars(json!({ "rating": 5 })),
        },
        now,
    )
    .expect("assessed");
    done.extend(steps(&effects));
    assert!(effects.contains(&Effect::Ended));
    assert_eq!(state.status, Status::Completed);
    assert_eq!(
        state.variables["goodsReceived"], true,
        "the goods are received automatically"
    );
    assert!(state.tokens.is_empty() && state.tasks.is_empty() && state.timers.is_empty());
    // Every step of the to-be journey was recorded as completed.
    for id in [
        "manager-approval",
        "budget-check",
        "approved-notification",
        "vendor-add",
        "po-issued",
        "payment",
        "attend-training",
        "assessment-invite",
        "assessment-form",
        "goods-received",
    ] {
        assert!(
            done.contains(&(id.to_string(), StepKind::Completed)),
            "{id}: {done:?}"
        );
    }
    assert!(
        step(
            &process,
            &mut state,
            Command::Complete {
                task: assessment,
                variables: Map::new()
            },
            now
        )
        .is_err()
    );
}

#[test]
fn a_rejected_request_ends_after_telling_her() {
    let process = training();
    let mut state = State::default();
    let effects = step(
        &process,
        &mut state,
        Command::Start {
            variables: vars(json!({ "requester": "jennifer" })),
        },
        0,
    )
    .expect("start");
    let approval = only_task(&effects, "manager-approval");
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: approval,
            variables: vars(json!({ "approved": false })),
        },
        0,
    )
    .expect("reject");
    let email = only_task(&effects, "rejected-notification");
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: email,
            variables: Map::new(),
        },
        0,
    )
    .expect("told");
    assert!(steps(&effects).contains(&("rejected".to_string(), StepKind::Ended)));
    assert_eq!(state.status, Status::Completed);
}

#[test]
fn a_missed_due_date_escalates_without_stopping_the_approval() {
    let process = training();
    let mut state = State::default();
    let effects = step(
        &process,
        &mut state,
        Command::Start {
            variables: vars(json!({ "requester": "jennifer" })),
        },
        0,
    )
    .expect("start");
    let approval = only_task(&effects, "manager-approval");
    let timer = effects
        .iter()
        .find_map(|e| match e {
            Effect::TimerSet { timer, .. } => Some(*timer),
            _ => None,
        })
        .expect("timer");
    let effects = step(&process, &mut state, Command::FireTimer { timer }, 3 * DAY).expect("fire");
    let escalation = only_task(&effects, "approval-escalated");
    assert!(
        state.tasks.contains_key(&approval),
        "the approval stays open"
    );
    step(
        &process,
        &mut state,
        Command::Complete {
            task: escalation,
            variables: Map::new(),
        },
        3 * DAY,
    )
    .expect("escalated");
    assert_eq!(state.status, Status::Running);
    let effects = step(
        &process,
        &mut state,
        Command::Complete {
            task: approval,
            variables: vars(json!({ "approved": true })),
        },
        4 * DAY,
    )
    .expect("approve");
    only_task(&effects, "budget-check");
}

fn shared_model(name: &str) -> Process {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let text = std::fs::read_to_string(root.join("data/bpmn").join(name)).expect("model");
    let imported = waymark_workflow::bpmn::import(&text).expect("bpmn");
    imported.processes.into_iter().next().expect("process")
}

#[test]
fn errors_and_escalations_thrown_at_a_task_take_its_boundary_path() {
    let process = shared_model("c7ex_invoicePayment_boundaryEvents.bpmn");
    for (signal, code, next) in [
        (Signal::Error, "invoice-error", "Task_1a2twqz"),
        (Signal::Escalation, "invoice-escalate", "Task_0q869n2"),
    ] {
        let mut state = State::default();
        let effects = step(
            &process,
            &mut state,
            Command::Start {
                variables: Map::new(),
            },
            0,
        )
        .expect("start");
        let pay = only_task(&effects, "Task_16y91ka");
        let effects = step(
            &process,
            &mut state,
            Command::Throw {
                task: pay,
                signal,
                code: code.into(),
            },
            0,
        )
        .expect("throw");
        assert!(
            effects.contains(&Effect::TaskCancelled { task: pay }),
            "interrupting"
        );
        let follow = only_task(&effects, next);
        step(
            &process,
            &mut state,
            Command::Complete {
                task: follow,
                variables: Map::new(),
            },
            0,
        )
        .expect("done");
        assert_eq!(state.status, Status::Completed);
    }
    // An error nobody catches fails the instance, and says which.
    let mut state = State::default();
    let effects = step(
        &process,
        &mut state,
        Command::Start {
            variables: Map::new(),
        },
        0,
    )
    .expect("start");
    let pay = only_task(&effects, "Task_16y91ka");
    step(
        &process,
        &mut state,
        Command::Throw {
            task: pay,
            signal: Signal::Error,
            code: "other".into(),
        },
        0,
    )
    .expect("throw");
    // The boundary event names its error, so `other` is not caught.
    assert!(
        matches!(&state.status, Status::Failed { message, .. } if message.contains("other")),
        "{:?}",
        state.status
    );
}

/// A random action on what the instance waits for.
fn drive(process: &Process, choices: &[(u8, bool)]) -> Result<(), TestCaseError> {
    let mut state = State::default();
    let mut now = 0;
    step(
        process,
        &mut state,
        Command::Start {
            variables: vars(json!({ "approved": true, "requester": "r" })),
        },
        now,
    )
    .map_err(|e| TestCaseError::fail(e.to_string()))?;
    for &(pick, flag) in choices {
        if state.status != Status::Running {
            break;
        }
        now += HOUR;
        let tasks: Vec<u64> = state.tasks.keys().copied().collect();
        let timers: Vec<u64> = state.timers.keys().copied().collect();
        let messages: Vec<String> = state
            .subscriptions
            .values()
            .map(|s| s.message.clone())
            .collect();
        let total = tasks.len() + timers.len() + messages.len();
        prop_assert!(
            total > 0,
            "a running instance waits for something: {state:?}"
        );
        let k = pick as usize % total;
        let data = vars(
            json!({ "approved": flag, "clarified": flag, "budgetOk": flag, "vendorKnown": flag }),
        );
        let command = if k < tasks.len() {
            Command::Complete {
                task: tasks[k],
                variables: data,
            }
        } else if k < tasks.len() + timers.len() {
            Command::FireTimer {
                timer: timers[k - tasks.len()],
            }
        } else {
            Command::Message {
                name: messages[k - tasks.len() - timers.len()].clone(),
                variables: data,
            }
        };
        let before = state.clone();
        match step(process, &mut state, command, now) {
            Ok(_) => {}
            Err(_) => prop_assert_eq!(&state, &before, "a refused command changes nothing"),
        }
        // Every task, timer and subscription belongs to a live token, at the node it waits at.
        let belongs = |token: u64, node: usize| -> bool {
            let Some(t) = state.tokens.get(&token) else {
                return false;
            };
            node == t.node
                || matches!(&process.nodes[node].kind, waymark_workflow::NodeKind::Boundary(b) if b.attached_to == t.node)
                || process
                    .outgoing(t.node)
                    .any(|f| process.flows[f].target == node)
        };
        for task in state.tasks.values() {
            prop_assert!(belongs(task.token, task.node), "task {task:?} in {state:?}");
        }
        for timer in state.timers.values() {
            prop_assert!(
                belongs(timer.token, timer.node),
                "timer {timer:?} in {state:?}"
            );
        }
        for subscription in state.subscriptions.values() {
            prop_assert!(
                belongs(subscription.token, subscription.node),
                "{subscription:?} in {state:?}"
            );
        }
        if state.status != Status::Running {
            prop_assert!(
                state.tokens.is_empty() && state.tasks.is_empty() && state.timers.is_empty()
            );
        }
        // The state survives being stored.
        let stored = serde_json::to_string(&state).expect("json");
        let back: State = serde_json::from_str(&stored).expect("back");
        prop_assert_eq!(&back, &state);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_drives_keep_every_model_consistent(
        choices in prop::collection::vec((any::<u8>(), any::<bool>()), 1..40),
    ) {
        drive(&training(), &choices)?;
        for name in [
            "c7_reviewInvoice.bpmn",
            "c7ex_invoiceApproval_camundaForms.bpmn",
            "c7ex_invoicePayment_boundaryEvents.bpmn",
            "miwg_C.1.1.bpmn",
            "miwg_C.3.0.bpmn",
        ] {
            drive(&shared_model(name), &choices)?;
        }
    }
}
