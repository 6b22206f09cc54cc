//! `waymark-bench TASK ARGS...` prints one JSON line per measurement: the median of several runs.
//!
//! - `xes-import FILE RUNS`: Waymark's reader against `process_mining::import_xes_path`.
//! - `analyses FILE RUNS`: dfg + variants + durations on a loaded log.
//! - `funnel FILE WINDOW_SECONDS RUNS STEP...`: a funnel on a loaded log.
//! - `scale EVENTS RUNS`: dfg + variants + durations on a seeded synthetic log; also peak memory.
//! - `cli-import WAYMARK FILE RUNS`: `waymark import FILE --db NEW.db`, wall time of the process.
//! - `http-ingest URL WRITE_KEY SECONDS CONNECTIONS BATCH`: a load generator for the collection
//!   API. Each connection sends `/v1/batch` requests of BATCH distinct track events, one after
//!   the other, for SECONDS; only 2xx answers count (they mean committed). Prints events/s and
//!   batch latency percentiles.
//! - `live-report DB JOURNEY RUNS TOUCHED`: a journey report on a live log kept up to date, from
//!   scratch against one that cuts again only the people touched (see `live_report.rs`).

mod live_report;

use std::path::Path;
use std::time::Instant;

use waymark_analytics::FunnelOrder;
use waymark_eventlog::{EventLog, ReadOptions};

fn median(mut seconds: Vec<f64>) -> f64 {
    seconds.sort_by(f64::total_cmp);
    seconds[seconds.len() / 2]
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(f());
                started.elapsed().as_secs_f64()
            })
            .collect(),
    )
}

/// Peak resident memory of this process so far, in bytes (Linux).
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn report(tool: &str, task: &str, subject: &str, seconds: f64, extra: serde_json::Value) {
    let mut line =
        serde_json::json!({ "tool": tool, "task": task, "subject": subject, "seconds": seconds });
    if let (Some(map), serde_json::Value::Object(more)) = (line.as_object_mut(), extra) {
        map.extend(more);
    }
    println!("{line}");
}

fn read(path: &str) -> EventLog {
    waymark_eventlog::read_path(Path::new(path), None, &ReadOptions::default())
        .expect("read log")
        .log
}

fn analyses(log: &EventLog) -> usize {
    let cases = waymark_analytics::all_cases(log);
    let dfg = waymark_analytics::dfg(log, &cases);
    let variants = waymark_analytics::variants(log, &cases);
    let durations = waymark_analytics::case_durations(log, &cases);
    dfg.edges.len() + variants.len() + durations.count
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = |i: usize| args.get(i).and_then(|r| r.parse().ok()).unwrap_or(5);
    let name = |p: &str| {
        Path::new(p)
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default()
    };
    match args.first().map(String::as_str) {
        Some("xes-import") => {
            let file = &args[1];
            let n = runs(2);
            let events = read(file).events();
            report(
                "waymark",
                "xes-import",
                &name(file),
                time(n, || read(file).events()),
                serde_json::json!({ "events": events }),
            );
            let rust4pm = time(n, || {
                process_mining::core::event_data::case_centric::xes::import_xes_path(
                    file,
                    Default::default(),
                )
                .map(|log| log.traces.len())
                .expect("process_mining reads the log")
            });
            report(
                "process_mining",
                "xes-import",
                &name(file),
                rust4pm,
                serde_json::json!({ "events": events }),
            );
        }
        Some("analyses") => {
            let file = &args[1];
            let log = read(file);
            report(
                "waymark",
                "dfg+variants+durations",
                &name(file),
                time(runs(2), || analyses(&log)),
                serde_json::json!({ "events": log.events() }),
            );
        }
        Some("discover") => {
            // The as-is journey proposed from the log (read once), as `waymark journey discover`.
            let file = &args[1];
            let log = read(file);
            let settings = waymark_analytics::discover::Settings {
                id: "discovered".into(),
                title: "Discovered".into(),
                owner: "Customer Experience".into(),
                stages: None,
                only: Vec::new(),
            };
            let found = waymark_analytics::discover::discover(&log, &settings).expect("a draft");
            report(
                "waymark",
                "discover",
                &name(file),
                time(runs(2), || {
                    waymark_analytics::discover::discover(&log, &settings)
                        .map(|d| d.figures.len())
                        .unwrap_or(0)
                }),
                serde_json::json!({ "events": log.events(), "touchpoints": found.figures.len(), "stages": found.journey.stages.len(), "links": found.journey.links.len() }),
            );
        }
        Some("funnel") => {
            let file = &args[1];
            let window: i64 = args[2].parse().expect("window seconds");
            let n = runs(3);
            let steps: Vec<String> = args[4..].to_vec();
            let log = read(file);
            let cases = waymark_analytics::all_cases(&log);
            let seconds = time(n, || {
                waymark_analytics::funnel(
                    &log,
                    &cases,
                    &steps,
                    window * 1_000_000,
                    FunnelOrder::Ordered,
                )
                .steps
                .len()
            });
            let funnel = waymark_analytics::funnel(
                &log,
                &cases,
                &steps,
                window * 1_000_000,
                FunnelOrder::Ordered,
            );
            let reached: Vec<usize> = funnel.steps.iter().map(|s| s.reached).collect();
            report(
                "waymark",
                "funnel",
                &name(file),
                seconds,
                serde_json::json!({ "reached": reached }),
            );
        }
        Some("synthetic-csv") => {
            // The generator's journeys as a CSV file, for the embedded engine beside ClickHouse.
            let events: usize = args[1].parse().expect("events");
            let log = waymark_eventlog::synthetic_journeys(events, 1000);
            let file = std::fs::File::create(&args[2]).expect("create");
            let mut writer = std::io::BufWriter::new(file);
            waymark_eventlog::csv::write(&log, &mut writer).expect("write");
        }
        Some("clickhouse-load") => clickhouse_load(&args[1], args[2].parse().expect("events")),
        Some("scale") => {
            let events: usize = args[1].parse().expect("events");
            let started = Instant::now();
            let log = waymark_eventlog::synthetic_journeys(events, 42);
            let generated = started.elapsed().as_secs_f64();
            let seconds = time(runs(2), || analyses(&log));
            report(
                "waymark",
                "scale dfg+variants+durations",
                &format!("synthetic {events}"),
                seconds,
                serde_json::json!({
                    "events": log.events(),
                    "cases": log.cases(),
                    "generate_seconds": generated,
                    "peak_rss_bytes": peak_rss(),
                    "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
                }),
            );
        }
        Some("cli-import") => {
            let (binary, file) = (&args[1], &args[2]);
            let directory =
                std::env::temp_dir().join(format!("waymark-bench-{}", std::process::id()));
            std::fs::create_dir_all(&directory).expect("temp dir");
            let db = directory.join("import.db");
            let seconds = time(runs(3), || {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
                }
                let _ = std::fs::remove_dir_all(format!("{}.index", db.display()));
                let status = std::process::Command::new(binary)
                    .args(["import", file, "--db"])
                    .arg(&db)
                    .stderr(std::process::Stdio::null())
                    .status()
                    .expect("run waymark import");
                assert!(status.success(), "waymark import failed");
            });
            let events = read(file).events();
            let _ = std::fs::remove_dir_all(&directory);
            report(
                "waymark",
                "cli-import",
                &name(file),
                seconds,
                serde_json::json!({ "events": events, "events_per_second": events as f64 / seconds }),
            );
        }
        Some("http-ingest") => http_ingest(&args[1..]),
        Some("live-report") => live_report::run(&args[1..]),
        Some("http-workflow") => http_workflow(&args[1..]),
        _ => {
            eprintln!(
                "usage: waymark-bench xes-import FILE [RUNS] | analyses FILE [RUNS] | funnel FILE WINDOW_SECONDS RUNS STEP... | scale EVENTS [RUNS] | cli-import WAYMARK FILE [RUNS] | http-ingest URL WRITE_KEY SECONDS CONNECTIONS BATCH | http-workflow URL ADMIN_TOKEN BPMN USERS SECONDS [THINK_MS] | live-report DB JOURNEY RUNS TOUCHED"
            );
            std::process::exit(2);
        }
    }
}

/// A UUID-shaped id that looks random but is unique per (process, connection, n).
fn message_id(connection: usize, n: u64) -> String {
    let seed = (std::process::id() as u64) << 40 ^ (connection as u64) << 32 ^ n;
    // SplitMix64: a bijection, so distinct seeds give distinct ids.
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    let hex = format!("{z:016x}{seed:016x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// A Segment track event of realistic size (about 600 bytes), as analytics.js would send it.
fn track_event(connection: usize, n: u64, user: u64) -> serde_json::Value {
    let names = [
        "Page Viewed",
        "Form Started",
        "Form Submitted",
        "Email Opened",
        "Call Ended",
    ];
    serde_json::json!({
        "type": "track",
        "event": names[(n % 5) as usize],
        "userId": format!("user-{user}"),
        "anonymousId": format!("anon-{connection}-{user}"),
        // Random, like the UUIDs real clients send (no help from sorted ids).
        "messageId": message_id(connection, n),
        "timestamp": "2026-11-22T10:00:00.000Z",
        "properties": { "channel": "web", "form": "request-training", "step": n % 7, "amount": 1250.5, "currency": "EUR" },
        "context": {
            "library": { "name": "analytics.js", "version": "5.2.0" },
            "ip": "203.0.113.7",
            "locale": "en-GB",
            "page": { "path": "/hr/training/request", "url": "https://hr.example.com/hr/training/request", "title": "Request Training" },
            "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
        },
        "integrations": {},
    })
}

fn http_ingest(args: &[String]) {
    use base64::Engine as _;
    // Several nodes (comma-separated URLs): connection i goes to node i mod n.
    let urls: Vec<String> = args[0]
        .split(',')
        .map(|u| format!("{}/v1/batch", u.trim_end_matches('/')))
        .collect();
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:", args[1]))
    );
    let seconds: f64 = args[2].parse().expect("seconds");
    let connections: usize = args[3].parse().expect("connections");
    let batch: u64 = args[4].parse().expect("batch size");
    let deadline = Instant::now() + std::time::Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let results: Vec<(u64, u64, hdrhistogram::Histogram<u64>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|connection| {
                let (url, auth) = (&urls[connection % urls.len()], &auth);
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
                    let mut latencies = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                    let (mut acknowledged, mut failed, mut n) = (0u64, 0u64, 0u64);
                    while Instant::now() < deadline {
                        let events: Vec<_> = (0..batch).map(|_| { n += 1; track_event(connection, n, n % 1000) }).collect();
                        let body = serde_json::json!({ "batch": events, "sentAt": "2026-11-22T10:00:00.000Z" }).to_string();
                        let sent = Instant::now();
                        let answer = agent.post(url).header("Authorization", auth).header("Content-Type", "application/json").send(&body);
                        let micros = sent.elapsed().as_micros() as u64;
                        // Reading the answer hands the connection back for reuse (keep-alive), as
                        // real clients do.
                        let answer = answer.map(|mut response| {
                            let _ = response.body_mut().read_to_vec();
                            response
                        });
                        match answer {
                            Ok(response) if response.status().is_success() => {
                                acknowledged += batch;
                                let _ = latencies.record(micros.max(1));
                            }
                            _ => failed += 1,
                        }
                    }
                    (acknowledged, failed, latencies)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut all =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut acknowledged, mut failed) = (0, 0);
    for (a, f, h) in &results {
        acknowledged += a;
        failed += f;
        all.add(h).expect("merge histograms");
    }
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    report(
        "waymark",
        "http-ingest",
        &format!("{connections} connections x {batch} events"),
        elapsed,
        serde_json::json!({
            "events": acknowledged,
            "events_per_second": acknowledged as f64 / elapsed,
            "batches": all.len(),
            "failed_batches": failed,
            "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "max_ms": all.max() as f64 / 1000.0,
        }),
    );
}

/// Durable workflow throughput and latency through the HTTP API: `users` people, each on their
/// own connection, start requests of a ten-step process and complete their tasks (inbox, then
/// complete) until the time is up. Every completion is one committed SQLite transaction.
/// Transitions are the engine's steps (a node entered, completed, started or ended; each is also
/// recorded as a journey event): 2 per start and 2 per completion for this process, which the
/// stored event count confirms (BENCHMARKS.md).
fn http_workflow(args: &[String]) {
    // Several nodes (comma-separated URLs): set up through the first, person i on node i mod n.
    let bases: Vec<String> = args[0]
        .split(',')
        .map(|u| u.trim_end_matches('/').to_string())
        .collect();
    let base = bases[0].clone();
    let admin = args[1].clone();
    let bpmn = std::fs::read_to_string(&args[2]).expect("the process");
    let users: usize = args[3].parse().expect("users");
    let seconds: f64 = args[4].parse().expect("seconds");
    // Each person pauses this long after each action (0: as fast as the server answers).
    let think =
        std::time::Duration::from_millis(args.get(5).map_or(0, |t| t.parse().expect("think ms")));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |url: &str, token: &str, kind: &str, body: String| -> serde_json::Value {
        let mut response = agent
            .post(url)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", kind)
            .send(body)
            .expect("request");
        let text = response.body_mut().read_to_string().unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    };
    let people: Vec<serde_json::Value> = (0..users)
        .map(|i| serde_json::json!({ "id": format!("bench-{i}"), "name": format!("Bench {i}"), "roles": [] }))
        .collect();
    post(
        &format!("{base}/v1/directory/users"),
        &admin,
        "application/json",
        serde_json::Value::from(people).to_string(),
    );
    post(
        &format!("{base}/v1/processes"),
        &admin,
        "application/xml",
        bpmn,
    );
    let tokens: Vec<String> = (0..users)
        .map(|i| {
            post(
                &format!("{base}/v1/directory/users/bench-{i}/tokens"),
                &admin,
                "application/json",
                "{}".into(),
            )["token"]
                .as_str()
                .expect("token")
                .to_string()
        })
        .collect();
    let deadline = Instant::now() + std::time::Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let results: Vec<(u64, u64, u64, hdrhistogram::Histogram<u64>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = tokens
            .iter()
            .enumerate()
            .map(|(person, token)| {
                let base = &bases[person % bases.len()];
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let mut latencies =
                        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)
                            .expect("histogram");
                    let (mut instances, mut completions, mut failed) = (0u64, 0u64, 0u64);
                    let call = |request: ureq::RequestBuilder<ureq::typestate::WithBody>,
                                body: &str| {
                        request
                            .header("Authorization", &format!("Bearer {token}"))
                            .header("Content-Type", "application/json")
                            .send(body)
                            .map(|mut r| {
                                let ok = r.status().is_success();
                                (ok, r.body_mut().read_to_string().unwrap_or_default())
                            })
                    };
                    'requests: while Instant::now() < deadline {
                        match call(
                            agent.post(format!("{base}/v1/processes/ten-steps/instances")),
                            "{}",
                        ) {
                            Ok((true, _)) => instances += 1,
                            _ => {
                                failed += 1;
                                continue;
                            }
                        }
                        for _ in 0..10 {
                            let inbox = agent
                                .get(format!("{base}/v1/tasks"))
                                .header("Authorization", &format!("Bearer {token}"))
                                .call()
                                .ok()
                                .and_then(|mut r| r.body_mut().read_to_string().ok())
                                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
                            let Some(id) = inbox.as_ref().and_then(|i| {
                                i["tasks"].as_array()?.first()?["id"]
                                    .as_str()
                                    .map(str::to_string)
                            }) else {
                                failed += 1;
                                continue 'requests;
                            };
                            std::thread::sleep(think);
                            let sent = Instant::now();
                            match call(
                                agent.post(format!("{base}/v1/tasks/{id}/complete")),
                                "{}",
                            ) {
                                Ok((true, _)) => {
                                    completions += 1;
                                    let _ = latencies
                                        .record((sent.elapsed().as_micros() as u64).max(1));
                                }
                                _ => failed += 1,
                            }
                        }
                    }
                    (instances, completions, failed, latencies)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut all =
        hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut instances, mut completions, mut failed) = (0, 0, 0);
    for (i, c, f, h) in &results {
        instances += i;
        completions += c;
        failed += f;
        all.add(h).expect("merge");
    }
    // Steps per request of the ten-step process: start (2: started, step 1 entered), each of the
    // ten completions (2: completed, next entered or end), so 2 per start and 2 per completion.
    let transitions = 2 * instances + 2 * completions;
    let ms = |q: f64| all.value_at_quantile(q) as f64 / 1000.0;
    report(
        "waymark",
        "http-workflow",
        &format!(
            "{users} users, ten-step requests, {} ms between actions",
            think.as_millis()
        ),
        elapsed,
        serde_json::json!({
            "instances_started": instances,
            "instances_per_second": instances as f64 / elapsed,
            "task_completions": completions,
            "completions_per_second": completions as f64 / elapsed,
            "transitions": transitions,
            "transitions_per_second": transitions as f64 / elapsed,
            "failed": failed,
            "p50_ms": ms(0.5), "p90_ms": ms(0.9), "p99_ms": ms(0.99), "max_ms": all.max() as f64 / 1000.0,
        }),
    );
}

/// `clickhouse-load URL EVENTS`: the synthetic generator's journeys written into ClickHouse as
/// `waymark import --events` writes a log (rows in batches of 100,000, each acknowledged by
/// every shard), generated in logs of 5M events with a seed each, people named apart. Prints
/// the load time (generation excluded) and the disk the events take on every node.
fn clickhouse_load(url: &str, events: usize) {
    let location = waymark_clickhouse::Location::parse(url).expect("events URL");
    let store = waymark_clickhouse::EventStore::open(&location).expect("open");
    let mut written = 0usize;
    let mut seq = store.next_seq().expect("next seq");
    let (mut generating, mut loading) = (0.0, 0.0);
    let mut chunk = 0u64;
    while written < events {
        let started = Instant::now();
        let log = waymark_eventlog::synthetic_journeys((events - written).min(5_000_000), 1000 + chunk);
        generating += started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut batch = waymark_clickhouse::Batch::new();
        for case in log.iter_cases() {
            let person = format!("g{chunk}-{}", case.name());
            for event in case.events() {
                batch.push(&waymark_clickhouse::Row {
                    person: &person,
                    time_us: log.time_column()[event],
                    seq,
                    message_id: "",
                    kind: "import",
                    activity: log.resolve(log.activity_column()[event]),
                    properties: "{}",
                    user_id: "",
                    anonymous_id: "",
                });
                seq += 1;
                if batch.len() >= waymark_clickhouse::IMPORT_BATCH {
                    store.insert(&batch).expect("insert");
                    batch = waymark_clickhouse::Batch::new();
                }
            }
        }
        store.insert(&batch).expect("insert");
        loading += started.elapsed().as_secs_f64();
        written += log.events();
        chunk += 1;
        eprintln!("{written} events written ({loading:.0} s loading, {generating:.0} s generating)");
    }
    let disk: u64 = store
        .per_node_text(&format!(
            "SELECT sum(bytes) FROM system.parts WHERE active AND database = '{}' FORMAT TabSeparated",
            location.database
        ))
        .expect("disk")
        .iter()
        .map(|t| t.trim().parse::<u64>().unwrap_or(0))
        .sum();
    report(
        "waymark",
        "clickhouse-load",
        &format!("synthetic {written}"),
        loading,
        serde_json::json!({ "events": written, "events_per_second": written as f64 / loading, "disk_bytes": disk, "nodes": location.nodes.len(), "generate_seconds": generating }),
    );
}
