//! Three `waymark serve` nodes on one PostgreSQL database under load, with nodes killed by
//! SIGKILL again and again: collected events and people working requests are spread over all
//! three; afterwards every acknowledged event is stored once, every acknowledged completion is
//! stored, and each request's state agrees with its tasks and its audit trail.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use super::automation::{ADMIN, WRITE, call, start_server};
use super::workspace;

/// The cluster: each node's process and URL, replaced when it is killed.
struct Cluster {
    db: std::ffi::OsString,
    nodes: Mutex<Vec<(super::automation::Killed, String)>>,
}

impl Cluster {
    fn url(&self, n: usize) -> String {
        let nodes = self.nodes.lock().expect("nodes");
        nodes[n % nodes.len()].1.clone()
    }

    /// Kills node `n` with SIGKILL and starts it again (on a new port).
    fn kill_and_restart(&self, n: usize) {
        let mut nodes = self.nodes.lock().expect("nodes");
        let at = n % nodes.len();
        let _ = nodes[at].0.0.kill();
        let _ = nodes[at].0.0.wait();
        nodes[at] = start_server(&self.db);
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Sends a batch to a node; whether it was acknowledged.
fn batch(url: &str, ids: &[String]) -> bool {
    let events: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "track", "userId": format!("visitor-{}", &id[..id.len().min(4)]), "event": "Viewed", "messageId": id}))
        .collect();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{WRITE}:"))
    );
    agent()
        .post(format!("{url}/v1/batch"))
        .header("Authorization", &auth)
        .header("Content-Type", "application/json")
        .send(json!({ "batch": events }).to_string())
        .is_ok_and(|response| response.status() == 200)
}

/// One person working ten-step requests through node `n`, then the next node, and so on: returns
/// the tasks whose completion was acknowledged.
fn work(cluster: &Cluster, person: usize, token: &str, stop: &AtomicBool) -> Vec<String> {
    let mut done = Vec::new();
    let mut n = person;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let url = cluster.url(n);
        let Ok(mut inbox) = agent()
            .get(format!("{url}/v1/tasks"))
            .header("Authorization", &format!("Bearer {token}"))
            .call()
        else {
            continue;
        };
        let inbox: Value =
            serde_json::from_str(&inbox.body_mut().read_to_string().unwrap_or_default())
                .unwrap_or(Value::Null);
        let Some(tasks) = inbox["tasks"].as_array() else {
            continue;
        };
        match tasks.first().and_then(|t| t["id"].as_str()) {
            Some(id) => {
                let id = id.to_string();
                let url = cluster.url(n + 1);
                let answer = agent()
                    .post(format!("{url}/v1/tasks/{id}/complete"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send("{}");
                if answer.is_ok_and(|a| a.status().as_u16() == 200) {
                    done.push(id);
                }
            }
            None => {
                let _ = agent()
                    .post(format!("{url}/v1/processes/ten-steps/instances"))
                    .header("Authorization", &format!("Bearer {token}"))
                    .header("Content-Type", "application/json")
                    .send("{}");
            }
        }
    }
    done
}

#[test]
fn three_nodes_killed_twenty_times_under_load_lose_nothing_and_repeat_nothing() {
    let Some(url) = waymark_store::testing::fresh_postgres() else {
        return;
    };
    let db = std::ffi::OsString::from(&url);
    let cluster = Arc::new(Cluster {
        nodes: Mutex::new((0..3).map(|_| start_server(&db)).collect()),
        db,
    });
    let first = cluster.url(0);
    let people: Vec<Value> = (0..20)
        .map(|i| json!({ "id": format!("p{i}"), "name": format!("P {i}"), "roles": [] }))
        .collect();
    let (status, _) = call(
        "POST",
        &format!("{first}/v1/directory/users"),
        Some(ADMIN),
        Some(("application/json", Value::from(people).to_string())),
    );
    assert_eq!(status, 200);
    let bpmn = std::fs::read_to_string(workspace().join("bench/ten-steps.bpmn")).expect("process");
    let (status, _) = call(
        "POST",
        &format!("{first}/v1/processes"),
        Some(ADMIN),
        Some(("application/xml", bpmn)),
    );
    assert_eq!(status, 200);
    let tokens: Vec<String> = (0..20)
        .map(|i| {
            let (status, body) = call(
                "POST",
                &format!("{first}/v1/directory/users/p{i}/tokens"),
                Some(ADMIN),
                None,
            );
            assert_eq!(status, 200, "{body}");
            body["token"].as_str().expect("token").to_string()
        })
        .collect();

    let stop = AtomicBool::new(false);
    let acknowledged_events = Mutex::new(Vec::<String>::new());
    let sent_events = Mutex::new(Vec::<Vec<String>>::new());
    let (kills, completions) = std::thread::scope(|scope| {
        let workers: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(person, token)| {
                let (cluster, stop) = (&cluster, &stop);
                scope.spawn(move || work(cluster, person, token, stop))
            })
            .collect();
        let loaders: Vec<_> = (0..3)
            .map(|loader| {
                let (cluster, stop, acknowledged, sent) =
                    (&cluster, &stop, &acknowledged_events, &sent_events);
                scope.spawn(move || {
                    let mut round = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let ids: Vec<String> =
                            (0..20).map(|i| format!("l{loader}r{round}e{i}")).collect();
                        round += 1;
                        sent.lock().expect("sent").push(ids.clone());
                        if batch(&cluster.url(loader + round), &ids) {
                            acknowledged.lock().expect("acknowledged").extend(ids);
                        }
                    }
                })
            })
            .collect();
        // Twenty kills, one node at a time, each after the load moved on a little.
        let started = Instant::now();
        let mut kills = 0;
        while kills < 20 && started.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(150));
            cluster.kill_and_restart(kills);
            kills += 1;
        }
        std::thread::sleep(Duration::from_millis(300));
        stop.store(true, Ordering::Relaxed);
        for loader in loaders {
            loader.join().expect("loader");
        }
        let completions: Vec<String> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect();
        (kills, completions)
    });
    assert_eq!(kills, 20, "twenty kills");
    assert!(
        completions.len() > 20,
        "the people worked: {}",
        completions.len()
    );

    // Read the database itself: the clients' retries are what a restarted node takes.
    let location: waymark_store::Location = cluster.db.to_str().expect("url").parse().expect("url");
    let store = waymark_store::open(&location, &Default::default()).expect("store");
    let events = store.events_after(0, 10_000_000).expect("events");
    let stored: Vec<&str> = events
        .iter()
        .map(|e| e.event.message_id.as_str())
        .filter(|id| id.starts_with('l'))
        .collect();
    let unique: HashSet<&str> = stored.iter().copied().collect();
    assert_eq!(
        unique.len(),
        stored.len(),
        "no collected event is stored twice"
    );
    let acknowledged = acknowledged_events.into_inner().expect("acknowledged");
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !unique.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        lost.len(),
        lost.first()
    );
    // Sending everything again, as clients retry, adds nothing twice.
    for ids in sent_events.into_inner().expect("sent") {
        assert!(batch(&cluster.url(0), &ids), "a retry is taken");
    }
    let again = store.events_after(0, 10_000_000).expect("events");
    let ids: Vec<&str> = again.iter().map(|e| e.event.message_id.as_str()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "retries add nothing twice");

    for id in &completions {
        let (instance, task) = id.split_once('-').expect("id");
        let row = store
            .task(
                instance.parse().expect("instance"),
                task.parse().expect("task"),
            )
            .expect("task")
            .expect("the acknowledged task is stored");
        assert_eq!(row.status, "completed", "{id} was acknowledged");
    }
    let mut requests = 0;
    for summary in store
        .instance_list(None, None, None, 10_000)
        .expect("requests")
    {
        requests += 1;
        let row = store.instance(summary.id).expect("read").expect("request");
        let tasks = store.instance_tasks(summary.id).expect("tasks");
        let open: Vec<u64> = tasks
            .iter()
            .filter(|t| t.status == "open")
            .map(|t| t.task)
            .collect();
        let in_state: Vec<u64> = row.state.tasks.keys().copied().collect();
        assert_eq!(
            open, in_state,
            "request {}: its tasks and its state agree",
            summary.id
        );
        let audit = store.audit_trail(summary.id).expect("audit");
        let completed: Vec<&str> = audit
            .iter()
            .filter(|a| a.action == "completed")
            .filter_map(|a| a.node.as_deref())
            .collect();
        let done: HashSet<&str> = completed.iter().copied().collect();
        assert_eq!(
            done.len(),
            completed.len(),
            "request {}: no step completed twice",
            summary.id
        );
        let finished = tasks.iter().filter(|t| t.status == "completed").count();
        assert_eq!(
            finished,
            completed.len(),
            "request {}: its audit trail agrees",
            summary.id
        );
    }
    assert!(requests >= 20, "{requests} requests");
    eprintln!(
        "{kills} kills: {} events acknowledged, {} completions acknowledged, {requests} requests",
        acknowledged.len(),
        completions.len()
    );
}
