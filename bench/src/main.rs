//! `waymark-bench TASK ARGS...` prints one JSON line per measurement: the median of several runs.
//!
//! - `xes-import FILE RUNS`: Waymark's reader against `process_mining::import_xes_path`.
//! - `analyses FILE RUNS`: dfg + variants + durations on a loaded log.
//! - `funnel FILE WINDOW_SECONDS RUNS STEP...`: a funnel on a loaded log.
//! - `scale EVENTS RUNS`: dfg + variants + durations on a seeded synthetic log; also peak memory.

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
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb * 1024)
}

fn report(tool: &str, task: &str, subject: &str, seconds: f64, extra: serde_json::Value) {
    let mut line = serde_json::json!({ "tool": tool, "task": task, "subject": subject, "seconds": seconds });
    if let (Some(map), serde_json::Value::Object(more)) = (line.as_object_mut(), extra) {
        map.extend(more);
    }
    println!("{line}");
}

fn read(path: &str) -> EventLog {
    waymark_eventlog::read_path(Path::new(path), None, &ReadOptions::default()).expect("read log").log
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
    let name = |p: &str| Path::new(p).file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("xes-import") => {
            let file = &args[1];
            let n = runs(2);
            let events = read(file).events();
            report("waymark", "xes-import", &name(file), time(n, || read(file).events()), serde_json::json!({ "events": events }));
            let rust4pm = time(n, || {
                process_mining::core::event_data::case_centric::xes::import_xes_path(
                    file,
                    Default::default(),
                )
                .map(|log| log.traces.len())
                .expect("process_mining reads the log")
            });
            report("process_mining", "xes-import", &name(file), rust4pm, serde_json::json!({ "events": events }));
        }
        Some("analyses") => {
            let file = &args[1];
            let log = read(file);
            report("waymark", "dfg+variants+durations", &name(file), time(runs(2), || analyses(&log)), serde_json::json!({ "events": log.events() }));
        }
        Some("funnel") => {
            let file = &args[1];
            let window: i64 = args[2].parse().expect("window seconds");
            let n = runs(3);
            let steps: Vec<String> = args[4..].to_vec();
            let log = read(file);
            let cases = waymark_analytics::all_cases(&log);
            let seconds = time(n, || waymark_analytics::funnel(&log, &cases, &steps, window * 1_000_000, FunnelOrder::Ordered).steps.len());
            let funnel = waymark_analytics::funnel(&log, &cases, &steps, window * 1_000_000, FunnelOrder::Ordered);
            let reached: Vec<usize> = funnel.steps.iter().map(|s| s.reached).collect();
            report("waymark", "funnel", &name(file), seconds, serde_json::json!({ "reached": reached }));
        }
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
        _ => {
            eprintln!("usage: waymark-bench xes-import FILE [RUNS] | analyses FILE [RUNS] | funnel FILE WINDOW_SECONDS RUNS STEP... | scale EVENTS [RUNS]");
            std::process::exit(2);
        }
    }
}
