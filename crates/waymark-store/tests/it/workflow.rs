//! Automation in the store: Jennifer's request from her form to "goods received", with the
//! directory routing it, every step audited and recorded as a journey event, and a restart in
//! the middle.

use serde_json::{Map, Value, json};
use waymark_store::SqliteStore;
use waymark_store::prelude::*;
use waymark_store::workflow::{JobKind, TaskRow, User};
use waymark_workflow::engine::Command;

const DAY: i64 = 86_400_000_000;

fn example(name: &str) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/training-request")
        .join(name);
    std::fs::read_to_string(path).expect("example")
}

fn vars(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn person(id: &str, department: &str, manager: Option<&str>, roles: &[&str]) -> User {
    User {
        id: id.into(),
        name: id.into(),
        email: Some(format!("{id}@example.com")),
        department: Some(department.into()),
        manager: manager.map(str::to_string),
        roles: roles.iter().map(|r| r.to_string()).collect(),
    }
}

fn worker_task(store: &dyn Store, node: &str) -> TaskRow {
    let open = store.open_tasks().expect("tasks");
    open.into_iter()
        .find(|t| t.kind == "worker" && t.node == node)
        .unwrap_or_else(|| panic!("no open worker task {node}"))
}

fn only(tasks: Vec<TaskRow>) -> TaskRow {
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    tasks.into_iter().next().expect("task")
}

#[test]
fn jennifers_request_runs_in_the_store_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("waymark-workflow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("waymark.db");
    let mut now = 1_800_000_000_000_000;
    let jennifer = person("jennifer", "customer-success", Some("maria"), &[]);
    let maria = person("maria", "customer-success", Some("olivia"), &["manager"]);
    let finn = person("finn", "finance", Some("olivia"), &["finance"]);
    let instance = {
        let store = SqliteStore::open(&path).expect("open");
        store
            .put_users(&[jennifer.clone(), maria.clone(), finn.clone()])
            .expect("users");
        let (version, created) = store
            .deploy_process(
                "training-request",
                "Request professional training",
                "bpmn",
                &example("process.bpmn"),
                now,
            )
            .expect("deploy");
        assert_eq!((version, created), (1, true));
        let instance = store
            .start_instance(
                "training-request",
                "jennifer",
                vars(json!({ "course": "Negotiation", "cost": 1200, "vendorKnown": false })),
                now,
            )
            .expect("start");
        // Her manager, from the directory, has it; nobody else sees it.
        let approval = only(store.tasks_for(&maria).expect("tasks"));
        assert_eq!(
            (approval.node.as_str(), approval.assignee.as_deref()),
            ("manager-approval", Some("maria"))
        );
        assert_eq!(approval.due_us, Some(now + 2 * DAY));
        assert!(store.tasks_for(&finn).expect("tasks").is_empty());
        assert!(store.tasks_for(&jennifer).expect("tasks").is_empty());
        now += DAY;
        store
            .advance(
                instance,
                Command::Complete {
                    task: approval.task,
                    variables: vars(json!({ "approved": true })),
                },
                "maria",
                now,
            )
            .expect("approve");
        assert_eq!(
            store.next_job(JobKind::Timer).expect("timers"),
            None,
            "the escalation timer is gone"
        );
        instance
    };
    // A restart: the instance goes on where it was.
    let store = SqliteStore::open(&path).expect("reopen");
    let budget = worker_task(&store, "budget-check");
    assert_eq!(budget.topic.as_deref(), Some("budget-check"));
    store
        .advance(
            instance,
            Command::Complete {
                task: budget.task,
                variables: vars(json!({ "budgetOk": true })),
            },
            "system",
            now,
        )
        .expect("budget");
    let email = worker_task(&store, "approved-notification");
    store
        .advance(
            instance,
            Command::Complete {
                task: email.task,
                variables: Map::new(),
            },
            "system",
            now,
        )
        .expect("email");
    for node in ["vendor-add", "po-issued", "payment"] {
        let task = only(store.tasks_for(&finn).expect("tasks"));
        assert_eq!(task.node, node);
        assert_eq!(task.candidate_groups, ["finance"]);
        store
            .advance(
                instance,
                Command::Complete {
                    task: task.task,
                    variables: Map::new(),
                },
                "finn",
                now,
            )
            .expect("finance");
    }
    // The learning system says she attended.
    assert_eq!(
        store
            .awaiting("Training Completed", "jennifer")
            .expect("awaiting"),
        [instance]
    );
    now += 30 * DAY;
    store
        .advance(
            instance,
            Command::Message {
                name: "Training Completed".into(),
                variables: Map::new(),
            },
            "system",
            now,
        )
        .expect("message");
    let invite = worker_task(&store, "assessment-invite");
    store
        .advance(
            instance,
            Command::Complete {
                task: invite.task,
                variables: Map::new(),
            },
            "system",
            now,
        )
        .expect("invite");
    let assessment = only(store.tasks_for(&jennifer).expect("tasks"));
    assert_eq!(assessment.node, "assessment-form");
    store
        .advance(
            instance,
            Command::Complete {
                task: assessment.task,
                variables: vars(json!({ "rating": 5 })),
            },
            "jennifer",
            now,
        )
        .expect("assessment");

    let row = store.instance(instance).expect("instance").expect("row");
    assert_eq!(row.status, "completed");
    assert_eq!(row.state.variables["goodsReceived"], true);
    assert!(store.open_tasks().expect("open").is_empty());
    // Who completed what.
    let done: Vec<(String, Option<String>)> = store
        .instance_tasks(instance)
        .expect("tasks")
        .into_iter()
        .map(|t| (t.node, t.completed_by))
        .collect();
    assert!(
        done.contains(&("manager-approval".into(), Some("maria".into()))),
        "{done:?}"
    );
    assert!(
        done.contains(&("payment".into(), Some("finn".into()))),
        "{done:?}"
    );
    assert!(
        done.contains(&("assessment-form".into(), Some("jennifer".into()))),
        "{done:?}"
    );
    // The audit trail shows every step, with the form data.
    let trail = store.audit_trail(instance).expect("audit");
    let started = &trail[0];
    assert_eq!(
        (started.actor.as_str(), started.action.as_str()),
        ("jennifer", "started")
    );
    assert_eq!(started.data["course"], "Negotiation");
    for node in [
        "manager-approval",
        "budget-check",
        "vendor-add",
        "po-issued",
        "payment",
        "attend-training",
        "assessment-form",
        "goods-received",
    ] {
        assert!(
            trail
                .iter()
                .any(|a| a.action == "step" && a.node.as_deref() == Some(node)),
            "{node} in the audit trail"
        );
    }
    // Every step is a journey event of Jennifer's: the to-be journey is measured on them.
    let (log, _) = waymark_store::stored_log(&store).expect("log");
    let journey = waymark_journey::check(&example("to-be.yaml"))
        .journey
        .expect("journey");
    let report =
        waymark_analytics::journey::report(&journey, &log, &Default::default()).expect("report");
    assert_eq!((report.instances.total, report.instances.completed), (1, 1));
    let unvisited: Vec<&str> = report
        .touchpoints
        .iter()
        .filter(|t| t.visits == 0 && !t.optional)
        .map(|t| t.id.as_str())
        .collect();
    assert_eq!(
        unvisited,
        Vec::<&str>::new(),
        "every required touchpoint was measured"
    );
    assert_eq!(
        report.conformance.fitting, 1,
        "{:?}",
        report.conformance.deviations
    );
    // And her profile's timeline has them.
    let timeline = store
        .timeline("jennifer", None, 100)
        .expect("timeline")
        .expect("profile");
    assert!(
        timeline
            .iter()
            .any(|e| e.event.name.as_deref() == Some("Process Ended"))
    );
}

#[test]
fn a_rejected_request_and_an_escalation_after_a_missed_due_date() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let now = 1_800_000_000_000_000;
        jennifer_maria_and_the_process(store, now);
        let instance = store
            .start_instance("training-request", "jennifer", Map::new(), now)
            .expect("start");
        // Three days pass: the escalation timer is due; a node claims it (found by its due
        // time, leased), dies before firing it, and once the lease ends another node claims it
        // again and fires it; the approval stays with Maria.
        let lease = 60_000_000;
        assert!(
            store
                .claim_jobs(JobKind::Timer, now + 3 * DAY - 1, lease, 10)
                .expect("claim")
                .is_empty(),
            "not due yet"
        );
        assert_eq!(
            store.next_job(JobKind::Timer).expect("next"),
            Some(now + 3 * DAY)
        );
        let claimed = store
            .claim_jobs(JobKind::Timer, now + 3 * DAY, lease, 10)
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!((claimed[0].instance, claimed[0].attempts), (instance, 1));
        assert!(
            store
                .claim_jobs(JobKind::Timer, now + 3 * DAY + lease - 1, lease, 10)
                .expect("claim")
                .is_empty(),
            "leased to the first node"
        );
        let due = store
            .claim_jobs(JobKind::Timer, now + 3 * DAY + lease, lease, 10)
            .expect("claim");
        assert_eq!(
            due.iter().map(|j| (j.item, j.attempts)).collect::<Vec<_>>(),
            [(claimed[0].item, 2)],
            "due again when the lease ended, the attempt counted"
        );
        store
            .advance(
                due[0].instance,
                Command::FireTimer { timer: due[0].item },
                "system",
                now + 3 * DAY,
            )
            .expect("fire");
        assert_eq!(
            store.next_job(JobKind::Timer).expect("next"),
            None,
            "a fired timer's job ends with its step"
        );
        let mail = store
            .claim_jobs(JobKind::Mail, now + 3 * DAY, lease, 10)
            .expect("claim");
        assert_eq!(mail.len(), 1, "the escalation email is a job");
        assert_eq!(store.mail_waiting().expect("mail"), 1, "one email waits");
        let escalation = worker_task(store, "approval-escalated");
        assert_eq!(escalation.topic.as_deref(), Some("email:approval-overdue"));
        assert_eq!(
            escalation.assignee.as_deref(),
            Some("olivia"),
            "the approver's manager is told"
        );
        store
            .advance(
                instance,
                Command::Complete {
                    task: escalation.task,
                    variables: Map::new(),
                },
                "system",
                now + 3 * DAY,
            )
            .expect("sent");
        assert_eq!(
            store.mail_waiting().expect("mail"),
            0,
            "sent, its job ended"
        );
        let maria = store.user("maria").expect("user").expect("maria");
        let approval = only(store.tasks_for(&maria).expect("tasks"));
        store
            .advance(
                instance,
                Command::Complete {
                    task: approval.task,
                    variables: vars(json!({ "approved": false })),
                },
                "maria",
                now + 4 * DAY,
            )
            .expect("reject");
        let declined = worker_task(store, "rejected-notification");
        store
            .advance(
                instance,
                Command::Complete {
                    task: declined.task,
                    variables: Map::new(),
                },
                "system",
                now + 4 * DAY,
            )
            .expect("told");
        assert_eq!(
            store.instance(instance).expect("row").expect("row").status,
            "completed"
        );
        // A refused command leaves no trace but its refusal.
        let before = store.audit_trail(instance).expect("audit").len();
        assert!(
            store
                .advance(
                    instance,
                    Command::Complete {
                        task: approval.task,
                        variables: Map::new()
                    },
                    "maria",
                    now
                )
                .is_err()
        );
        assert_eq!(store.audit_trail(instance).expect("audit").len(), before);
    }
}

/// Two nodes claiming due jobs at once never get the same one, and between them get all; on
/// PostgreSQL each node is a store of its own on one database (`FOR UPDATE SKIP LOCKED`), on
/// SQLite two threads share the one writer.
#[test]
fn two_nodes_claiming_at_once_split_the_due_jobs() {
    let now = 1_800_000_000_000_000;
    let mut setups: Vec<(&str, Vec<std::sync::Arc<dyn Store>>)> = vec![(
        "sqlite",
        vec![waymark_store::open_in_memory().expect("sqlite")],
    )];
    if let Some(url) = waymark_store::testing::fresh_postgres() {
        let location = waymark_store::Location::Postgres(url);
        let node = || waymark_store::open(&location, &Default::default()).expect("a node");
        setups.push(("postgres", vec![node(), node()]));
    }
    for (backend, nodes) in setups {
        eprintln!("on {backend}");
        let first = nodes[0].as_ref();
        jennifer_maria_and_the_process(first, now);
        for _ in 0..60 {
            first
                .start_instance("training-request", "jennifer", Map::new(), now)
                .expect("start");
        }
        let due = now + 3 * DAY;
        let claims: Vec<Vec<(i64, u64)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..2)
                .map(|n| {
                    let node = nodes[n % nodes.len()].clone();
                    scope.spawn(move || {
                        let mut mine = Vec::new();
                        loop {
                            let jobs = node
                                .claim_jobs(JobKind::Timer, due, 60_000_000, 7)
                                .expect("claim");
                            if jobs.is_empty() {
                                break mine;
                            }
                            mine.extend(jobs.iter().map(|j| (j.instance, j.item)));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().expect("worker"))
                .collect()
        });
        let mut all: Vec<(i64, u64)> = claims.concat();
        let claimed = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), claimed, "no job claimed twice");
        assert_eq!(all.len(), 60, "every due job claimed");
    }
}

/// An inbox is read a page at a time, oldest first, each task once, ending with no next page;
/// tasks of someone else, and the steps of her own request, are never on it.
#[test]
fn an_inbox_pages_through_its_tasks_once_each() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let now = 1_800_000_000_000_000;
        let mut people = vec![
            person("maria", "customer-success", Some("olivia"), &[]),
            person("olivia", "customer-success", None, &[]),
        ];
        people.extend((0..7).map(|i| person(&format!("e{i}"), "support", Some("maria"), &[])));
        store.put_users(&people).expect("users");
        store
            .deploy_process(
                "training-request",
                "Training",
                "bpmn",
                &example("process.bpmn"),
                now,
            )
            .expect("deploy");
        for i in 0..7 {
            store
                .start_instance("training-request", &format!("e{i}"), Map::new(), now + i)
                .expect("start");
        }
        // Her own request goes to her manager, never to her.
        store
            .start_instance("training-request", "maria", Map::new(), now + 100)
            .expect("start");
        let maria = store.user("maria").expect("read").expect("maria");
        let mut seen = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let (page, next) = store.tasks_for_page(&maria, after, 3).expect("page");
            pages += 1;
            seen.extend(
                page.iter()
                    .map(|t| (t.created_us, t.instance, t.requester.clone())),
            );
            match next {
                Some(next) => after = Some(next),
                None => break,
            }
            assert!(pages < 10, "pages end");
        }
        assert_eq!(pages, 3, "3 + 3 + 1");
        assert_eq!(seen.len(), 7);
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(seen, sorted, "oldest first");
        assert!(seen.iter().all(|(_, _, requester)| requester != "maria"));
        assert_eq!(store.tasks_for(&maria).expect("all").len(), 7);
        let olivia = store.user("olivia").expect("read").expect("olivia");
        assert_eq!(
            store.tasks_for(&olivia).expect("hers").len(),
            1,
            "Maria's request"
        );
    }
}

/// Worker tasks are found by topic (its name before any `?`), a page at a time.
#[test]
fn worker_tasks_are_found_by_topic_a_page_at_a_time() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let now = 1_800_000_000_000_000;
        jennifer_maria_and_the_process(store, now);
        let maria = store.user("maria").expect("read").expect("maria");
        for i in 0..3 {
            store
                .start_instance("training-request", "jennifer", Map::new(), now + i)
                .expect("start");
        }
        for approval in store.tasks_for(&maria).expect("approvals") {
            store
                .advance(
                    approval.instance,
                    Command::Complete {
                        task: approval.task,
                        variables: vars(json!({ "approved": true })),
                    },
                    "maria",
                    now + 10,
                )
                .expect("approve");
        }
        let (first, next) = store
            .worker_tasks(Some("budget-check"), None, 2)
            .expect("page");
        assert_eq!(first.len(), 2);
        let (rest, end) = store
            .worker_tasks(Some("budget-check"), next, 2)
            .expect("page");
        assert_eq!((rest.len(), end), (1, None));
        let all: Vec<_> = first
            .iter()
            .chain(&rest)
            .map(|t| (t.instance, t.task))
            .collect();
        let mut unique = all.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 3, "each once");
        assert!(
            first
                .iter()
                .chain(&rest)
                .all(|t| t.kind == "worker" && t.topic.as_deref() == Some("budget-check"))
        );
        assert!(
            store
                .worker_tasks(Some("budget"), None, 10)
                .expect("page")
                .0
                .is_empty(),
            "a topic is matched whole"
        );
        let (any, _) = store.worker_tasks(None, None, 100).expect("page");
        assert!(any.len() >= 3 && any.iter().all(|t| t.kind == "worker"));
    }
}

/// Waits up to ten seconds for `changes` to move.
fn changes_within(changes: &mut tokio::sync::watch::Receiver<u64>) -> bool {
    for _ in 0..1000 {
        if changes.has_changed().expect("the store is open") {
            changes.borrow_and_update();
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    false
}

/// The store's job changes once it listens (a PostgreSQL node opens its listening connection in
/// the background, and looks once when it starts listening), with nothing unseen.
fn listening(store: &dyn Store) -> tokio::sync::watch::Receiver<u64> {
    let mut changes = store.job_changes();
    std::thread::sleep(std::time::Duration::from_secs(1));
    changes.borrow_and_update();
    changes
}

/// Jennifer and her manager Maria in the directory, and the training process deployed.
fn jennifer_maria_and_the_process(store: &dyn Store, now: i64) {
    store
        .put_users(&[
            person("jennifer", "customer-success", Some("maria"), &[]),
            person("maria", "customer-success", Some("olivia"), &[]),
        ])
        .expect("users");
    store
        .deploy_process(
            "training-request",
            "Training",
            "bpmn",
            &example("process.bpmn"),
            now,
        )
        .expect("deploy");
}

/// Adds the directory and the training process, and starts one request (which sets the
/// approval's escalation timer).
fn start_a_request(store: &dyn Store, now: i64) -> i64 {
    jennifer_maria_and_the_process(store, now);
    store
        .start_instance("training-request", "jennifer", Map::new(), now)
        .expect("start")
}

#[test]
fn a_step_that_adds_a_job_wakes_the_job_loops_and_one_that_adds_none_does_not() {
    for (backend, store) in waymark_store::testing::backends() {
        eprintln!("on {backend}");
        let store = store.as_ref();
        let now = 1_800_000_000_000_000;
        let mut changes = listening(store);
        start_a_request(store, now);
        assert!(
            changes_within(&mut changes),
            "the escalation timer is a job"
        );
        // On PostgreSQL the node hears its own notification too, a moment later.
        settle(&mut changes);
        // Maria approves: the escalation timer ends and the budget check (a worker task, not a
        // job) comes next. Nothing is added, so nothing wakes.
        let maria = store.user("maria").expect("user").expect("maria");
        let approval = only(store.tasks_for(&maria).expect("tasks"));
        store
            .advance(
                approval.instance,
                Command::Complete {
                    task: approval.task,
                    variables: vars(json!({ "approved": true })),
                },
                "maria",
                now,
            )
            .expect("approve");
        settle_for_a_moment();
        assert!(
            !changes.has_changed().expect("open"),
            "a step that adds no job wakes nobody"
        );
    }
}

/// Long enough for a notification to arrive.
fn settle_for_a_moment() {
    std::thread::sleep(std::time::Duration::from_millis(300));
}

/// Takes in whatever arrives within a moment.
fn settle(changes: &mut tokio::sync::watch::Receiver<u64>) {
    settle_for_a_moment();
    changes.borrow_and_update();
}

#[test]
fn a_job_added_on_one_node_wakes_the_others() {
    let Some(url) = waymark_store::testing::fresh_postgres() else {
        return;
    };
    let location: waymark_store::Location = url.parse().expect("a location");
    let options = waymark_store::Options::default();
    let first = waymark_store::open(&location, &options).expect("first node");
    let second = waymark_store::open(&location, &options).expect("second node");
    let mut woken = listening(second.as_ref());
    let now = 1_800_000_000_000_000;
    start_a_request(first.as_ref(), now);
    assert!(
        changes_within(&mut woken),
        "the timer added on the first node wakes the second (LISTEN/NOTIFY)"
    );
    // Again: the second node's one wake when it began listening cannot answer for this one.
    settle(&mut woken);
    first
        .start_instance("training-request", "jennifer", Map::new(), now)
        .expect("another request");
    assert!(
        changes_within(&mut woken),
        "every timer added on the first node wakes the second"
    );
}
