//! The state machine: Jennifer's request on every path, boundary events, and random drives of
//! every executable model that keep the state consistent.

use std::path::PathBuf;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use waymark_workflow::Process;
use waymark_workflow::engine::{Command, Effect, Signal, State, Status, StepKind, TaskKind, step};

const HOUR: i64 = 3_600_000_000;
const DAY: i64 = 24 * HOUR;

/// The training request from one of its two files (BPMN or Waymark's YAML).
fn training_from(file: &str) -> Process {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/training-request")
        .join(file);
    let text = std::fs::read_to_string(path).expect("process");
    let imported = waymark_workflow::import(&text).expect(file);
    assert!(imported.executable(), "{file}: {:#?}", imported.diagnostics);
    imported.processes.into_iter().next().expect("process")
}

/// Both files of the training request: every test of it runs on each.
fn trainings() -> [Process; 2] {
    [training_from("process.bpmn"), training_from("process.yaml")]
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
    for process in trainings() {
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
            effects.iter().any(
                |e| matches!(e, Effect::TaskCreated { due: Some(d), .. } if *d == now + 2 * DAY)
            )
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
}

#[test]
fn a_cancelled_request_leaves_nothing_open_and_takes_no_more_steps() {
    for process in trainings() {
        let mut state = State::default();
        let now = 1_800_000_000_000_000;
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
        let approval = created(&effects)[0].0;
        let effects = step(
            &process,
            &mut state,
            Command::Cancel {
                reason: "she booked it elsewhere".into(),
            },
            now + HOUR,
        )
        .expect("cancel");
        assert_eq!(state.status, Status::Cancelled);
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::TaskCancelled { task } if *task == approval))
        );
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::TimerCancelled { .. })),
            "the escalation timer stops"
        );
        assert_eq!(effects.last(), Some(&Effect::Ended));
        let before = state.clone();
        for command in [
            Command::Complete {
                task: approval,
                variables: vars(json!({ "approved": true })),
            },
            Command::Cancel {
                reason: "again".into(),
            },
        ] {
            let refused = step(&process, &mut state, command, now + 2 * HOUR);
            assert!(refused.is_err(), "{refused:?}");
            assert_eq!(state, before, "a refused command changes nothing");
        }
    }
}

#[test]
fn a_rejected_request_ends_after_telling_her() {
    for process in trainings() {
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
}

#[test]
fn a_missed_due_date_escalates_without_stopping_the_approval() {
    for process in trainings() {
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
        let effects =
            step(&process, &mut state, Command::FireTimer { timer }, 3 * DAY).expect("fire");
        // Its email step: `approval-escalated` in BPMN, made for the escalation in YAML.
        let boundary = process.find("approval-overdue").expect("boundary");
        let email = process
            .outgoing(boundary)
            .map(|f| process.nodes[process.flows[f].target].id.clone())
            .next()
            .expect("escalation path");
        let escalation = only_task(&effects, &email);
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
        // Now and then an administrator cancels the request, whatever it waits for.
        let command = if pick % 13 == 12 {
            Command::Cancel {
                reason: "duplicate".into(),
            }
        } else if k < tasks.len() {
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
        let cancelling = matches!(command, Command::Cancel { .. });
        match step(process, &mut state, command, now) {
            Ok(effects) if cancelling => {
                // Nothing is left waiting, and every open task was cancelled.
                prop_assert_eq!(&state.status, &Status::Cancelled);
                prop_assert!(state.tasks.is_empty() && state.timers.is_empty());
                prop_assert!(state.subscriptions.is_empty() && state.tokens.is_empty());
                let cancelled = effects
                    .iter()
                    .filter(|e| matches!(e, Effect::TaskCancelled { .. }))
                    .count();
                prop_assert_eq!(cancelled, before.tasks.len());
                prop_assert!(matches!(effects.last(), Some(Effect::Ended)));
            }
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
        for training in trainings() {
            drive(&training, &choices)?;
        }
        drive(&yaml(COMMITTEE), &choices)?;
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

/// A process in Waymark's YAML, read without errors.
fn yaml(text: &str) -> Process {
    let imported = waymark_workflow::import(text).expect("yaml");
    assert!(imported.executable(), "{:#?}", imported.diagnostics);
    imported.processes.into_iter().next().expect("process")
}

fn timers(effects: &[Effect]) -> Vec<u64> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::TimerSet { timer, .. } => Some(*timer),
            _ => None,
        })
        .collect()
}

fn complete(process: &Process, state: &mut State, task: u64, data: Value, now: i64) -> Vec<Effect> {
    step(
        process,
        state,
        Command::Complete {
            task,
            variables: vars(data),
        },
        now,
    )
    .expect("complete")
}

/// Every construct of the YAML format in one request: a committee where any one reviewer is
/// enough, an escalation that starts a reminder beside the late step, parallel branches with a
/// timeout and a caught webhook error, a timer wait, and variables set at the end.
const COMMITTEE: &str = r#"
process: purchase
start:
  form: propose
steps:
  - id: committee
    form: review
    each: { in: reviewers, as: reviewer, done: any }
    escalate:
      - after: 1d
        goto: nudge
  - id: checks
    parallel:
      - steps:
          - id: legal
            form: legal-review
            actor: role:legal
            timeout: { after: 2d, goto: legal-escalated }
            goto: legal-recorded
          - id: legal-escalated
            form: legal-review
            actor: manager of requester
          - id: legal-recorded
            set: { legalDone: "true" }
      - steps:
          - id: erp
            webhook: https://erp.example/orders
            on-error:
              - error: rejected
                goto: erp-failed
            goto: erp-recorded
          - id: erp-failed
            email: order-rejected
          - id: erp-recorded
            set: { erpDone: "true" }
  - id: cooldown
    wait: { after: 1h }
  - id: tally
    set:
      total: amount * 2
  - id: done
    end: done
  - id: nudge
    email: review-reminder
  - id: nudged
    end: done
"#;

#[test]
fn every_yaml_construct_runs() {
    let process = yaml(COMMITTEE);
    let mut state = State::default();
    let start = json!({ "requester": "jennifer", "amount": 50, "reviewers": ["ann", "bob", "cy"] });
    let effects = step(
        &process,
        &mut state,
        Command::Start {
            variables: vars(start),
        },
        0,
    )
    .expect("start");
    // One review each, for the person named in the list; and the escalation timer.
    let reviews = created(&effects);
    let people: Vec<Option<&str>> = reviews.iter().map(|t| t.2.as_deref()).collect();
    assert_eq!(people, [Some("ann"), Some("bob"), Some("cy")]);
    let escalation = timers(&effects);
    assert_eq!(escalation.len(), 1);
    // A day late: the reminder starts beside the reviews, which stay open.
    let effects = step(
        &process,
        &mut state,
        Command::FireTimer {
            timer: escalation[0],
        },
        DAY,
    )
    .expect("escalate");
    let nudge = only_task(&effects, "nudge");
    assert_eq!(state.tasks.len(), 4);
    complete(&process, &mut state, nudge, json!({}), DAY);
    // Any one reviewer is enough: the other two reviews are withdrawn.
    let effects = complete(&process, &mut state, reviews[1].0, json!({}), DAY + HOUR);
    for other in [reviews[0].0, reviews[2].0] {
        assert!(
            effects.contains(&Effect::TaskCancelled { task: other }),
            "{effects:?}"
        );
    }
    // Both branches start: legal for the legal group (with its timeout), the ERP webhook.
    let tasks = created(&effects);
    let legal = tasks.iter().find(|t| t.1 == "legal").expect("legal");
    assert_eq!(legal.3, ["legal"]);
    let erp = tasks.iter().find(|t| t.1 == "erp").expect("erp");
    assert_eq!(erp.4.as_deref(), Some("webhook:https://erp.example/orders"));
    let timeout = timers(&effects);
    assert_eq!(timeout.len(), 1);
    // Legal is late: the timeout withdraws it and gives it to the requester's manager.
    let effects = step(
        &process,
        &mut state,
        Command::FireTimer { timer: timeout[0] },
        3 * DAY,
    )
    .expect("timeout");
    assert!(effects.contains(&Effect::TaskCancelled { task: legal.0 }));
    let escalated = created(&effects);
    assert_eq!(escalated[0].1, "legal-escalated");
    assert_eq!(escalated[0].2.as_deref(), Some("manager-of:requester"));
    complete(&process, &mut state, escalated[0].0, json!({}), 3 * DAY);
    // The ERP refuses the order: the caught error sends the email, then the branch joins.
    let effects = step(
        &process,
        &mut state,
        Command::Throw {
            task: erp.0,
            signal: Signal::Error,
            code: "rejected".into(),
        },
        3 * DAY,
    )
    .expect("error");
    let email = only_task(&effects, "erp-failed");
    let effects = complete(&process, &mut state, email, json!({}), 3 * DAY);
    // Both branches done: the wait of an hour.
    let wait = timers(&effects);
    assert_eq!(wait.len(), 1, "{effects:?}");
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::TimerSet { due, .. } if *due == 3 * DAY + HOUR))
    );
    step(
        &process,
        &mut state,
        Command::FireTimer { timer: wait[0] },
        3 * DAY + HOUR,
    )
    .expect("wait");
    assert_eq!(state.status, Status::Completed);
    assert_eq!(state.variables["total"], json!(100));
    assert_eq!(state.variables["legalDone"], json!(true));
    assert_eq!(state.variables["erpDone"], json!(true));
}

/// Approvals by several people, in turn or at once: all of them, any one, or a count.
#[test]
fn approvals_by_several_people_finish_on_all_any_or_a_count() {
    for (order, done, completions, opened) in [
        ("parallel", "all", 3, 3),
        ("parallel", "any", 1, 3),
        ("parallel", "2", 2, 3),
        ("sequential", "all", 3, 1),
        ("sequential", "2", 2, 1),
    ] {
        let process = yaml(&format!(
            "process: p\nsteps:\n  - id: approve\n    form: approve\n    each: {{ in: approvers, as: approver, order: {order}, done: '{done}' }}\n  - id: after\n    worker: next\n"
        ));
        let mut state = State::default();
        let effects = step(
            &process,
            &mut state,
            Command::Start {
                variables: vars(json!({ "approvers": ["ann", "bob", "cy"] })),
            },
            0,
        )
        .expect("start");
        let mut open: Vec<u64> = created(&effects).iter().map(|t| t.0).collect();
        assert_eq!(open.len(), opened, "{order} {done}");
        let mut finished = 0;
        let mut after = false;
        while !after {
            let task = open.remove(0);
            let effects = complete(&process, &mut state, task, json!({ "ok": true }), 0);
            finished += 1;
            for t in created(&effects) {
                if t.1 == "after" {
                    after = true;
                } else {
                    open.push(t.0);
                }
            }
            assert!(finished <= 3, "{order} {done}: never finishes");
        }
        assert_eq!(finished, completions, "{order} {done}");
    }
}

/// A to-be written in YAML runs exactly as its BPMN drawing: the same tasks, for the same people,
/// in the same order, whatever happens.
fn trace(process: &Process, choices: &[(u8, bool)]) -> Vec<String> {
    let mut state = State::default();
    let mut now = 0;
    let mut out = Vec::new();
    let record = |effects: &[Effect], out: &mut Vec<String>| {
        for e in effects {
            match e {
                Effect::TaskCreated {
                    node,
                    assignee,
                    candidate_groups,
                    ..
                } => {
                    // The escalation's email step is named by the BPMN file, made by the YAML.
                    let node = if node == "approval-overdue-email" {
                        "approval-escalated"
                    } else {
                        node
                    };
                    out.push(format!("task {node} {assignee:?} {candidate_groups:?}"));
                }
                Effect::TaskCancelled { task } => out.push(format!("cancel {task}")),
                Effect::TimerSet { due, .. } => out.push(format!("timer {due}")),
                Effect::MessageAwaited { message, .. } => out.push(format!("await {message}")),
                _ => {}
            }
        }
    };
    let effects = step(
        process,
        &mut state,
        Command::Start {
            variables: vars(json!({ "requester": "jennifer" })),
        },
        now,
    )
    .expect("start");
    record(&effects, &mut out);
    for &(pick, flag) in choices {
        if state.status != Status::Running {
            break;
        }
        now += HOUR;
        let tasks: Vec<u64> = state.tasks.keys().copied().collect();
        let timers: Vec<u64> = state.timers.keys().copied().collect();
        let total = tasks.len() + timers.len() + state.subscriptions.len();
        let k = pick as usize % total.max(1);
        let data = vars(json!({ "approved": flag, "budgetOk": flag, "vendorKnown": !flag }));
        // Now and then an administrator cancels the request, whatever it waits for.
        let command = if pick % 13 == 12 {
            Command::Cancel {
                reason: "duplicate".into(),
            }
        } else if k < tasks.len() {
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
                name: "Training Completed".into(),
                variables: data,
            }
        };
        if let Ok(effects) = step(process, &mut state, command, now) {
            record(&effects, &mut out);
        }
    }
    out.push(format!("{:?}", state.status));
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_yaml_and_bpmn_training_requests_behave_alike(
        choices in prop::collection::vec((any::<u8>(), any::<bool>()), 1..30),
    ) {
        let [bpmn, yaml] = trainings();
        prop_assert_eq!(trace(&bpmn, &choices), trace(&yaml, &choices));
    }
}

/// Due dates and timers in working days follow the process's calendar.
#[test]
fn working_days_follow_the_process_calendar() {
    let process = yaml(
        "process: p\ncalendar:\n  weekend: [saturday, sunday]\n  holidays: [2026-11-30]\nsteps:\n  - id: approve\n    form: approve\n    actor: manager of requester\n    due: 2 working days\n    escalate:\n      - after: 1 working day\n        email: reminder\n",
    );
    let friday = waymark_eventlog::time::parse_iso8601("2026-11-27T10:00:00Z").expect("date");
    let mut state = State::default();
    let effects = step(
        &process,
        &mut state,
        Command::Start {
            variables: Map::new(),
        },
        friday,
    )
    .expect("start");
    // Monday the 30th is a holiday: one working day is Tuesday, two are Wednesday.
    let tuesday = friday + 4 * DAY;
    let wednesday = friday + 5 * DAY;
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::TaskCreated { due: Some(d), .. } if *d == wednesday)),
        "{effects:?}"
    );
    assert!(
        effects
            .iter()
            .any(|e| matches!(e, Effect::TimerSet { due, .. } if *due == tuesday)),
        "{effects:?}"
    );
    // A calendar's mistakes are named where they are.
    let imported = waymark_workflow::import(
        "process: p\ncalendar:\n  weekend: [caturday]\n  holidays: [christmas]\nsteps:\n  - id: a\n    worker: w\n",
    )
    .expect("read");
    let codes: Vec<(&str, usize)> = imported
        .diagnostics
        .iter()
        .map(|d| (d.code, d.location.line))
        .collect();
    assert_eq!(codes, [("invalid-weekday", 3), ("invalid-date", 4)]);
}
