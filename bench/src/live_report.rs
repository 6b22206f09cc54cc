//! `live-report DB JOURNEY RUNS TOUCHED`: a journey report on a live log, from scratch against
//! one that cuts again only the people a new snapshot touched. On a copy of a database with
//! collected events (it appends to it): loads the live log the journey reads, then RUNS times
//! appends one event for each of TOUCHED people already there, catches up, writes a snapshot,
//! and times the report both ways on it (they must be equal).

use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use waymark_analytics::journey::source::{Live, Reuse};
use waymark_analytics::journey::{self, Options};
use waymark_eventlog::{EventLog, Stamps};
use waymark_store::live::LiveLog;
use waymark_store::{Keep, NewEvent};

use crate::{median, report};

pub fn run(args: &[String]) {
    let [db, journey_file, runs, touched] = args else {
        eprintln!("usage: waymark-bench live-report DB JOURNEY RUNS TOUCHED");
        std::process::exit(2);
    };
    let runs: usize = runs.parse().expect("RUNS");
    let touched: usize = touched.parse().expect("TOUCHED");
    let source = std::fs::read_to_string(journey_file).expect("journey file");
    let journey = waymark_journey::check(&source).journey.expect("journey");
    let options = Options::default();
    let store = waymark_store::open(
        &waymark_store::Location::from(Path::new(db)),
        &Default::default(),
    )
    .expect("store");
    let keep = Keep::only(journey::attributes_read(&journey, &options));
    let started = Instant::now();
    let mut live = LiveLog::load(store.as_ref(), keep).expect("load");
    let load = started.elapsed().as_secs_f64();
    let log = live.snapshot();
    let people: Vec<String> = log.iter_cases().map(|c| c.name().to_string()).collect();
    let activities: Vec<String> = {
        let mut names: Vec<String> = log
            .activity_column()
            .iter()
            .take(100_000)
            .map(|&s| log.resolve(s).to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let reuse = Mutex::new(Reuse::default());
    let reusing = |log: &EventLog, stamps: &Stamps| {
        let source = Live {
            log,
            stamps,
            reuse: &reuse,
        };
        journey::report_of(&journey, &source, &options).expect("report")
    };
    let first = Instant::now();
    drop(reusing(&log, &live.stamps()));
    let first = first.elapsed().as_secs_f64();
    let last = log.time_column().iter().copied().max().unwrap_or(0);
    let (mut refresh, mut scratch, mut reused) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let events: Vec<NewEvent> = (0..touched)
            .map(|k| {
                let who = &people[(run * 7919 + k * 104_729) % people.len()];
                let at = last + 1_000_000 * (run * touched + k + 1) as i64;
                NewEvent {
                    message_id: format!("live-report-{run}-{k}-{at}"),
                    kind: "track".into(),
                    name: Some(activities[k % activities.len()].clone()),
                    user_id: Some(who.clone()),
                    anonymous_id: None,
                    timestamp_us: at,
                    received_us: at,
                    body: serde_json::json!({ "properties": {} }).to_string(),
                }
            })
            .collect();
        store.append(events).expect("append");
        let started = Instant::now();
        live.catch_up(store.as_ref()).expect("catch up");
        let log = live.snapshot();
        let stamps = live.stamps();
        refresh.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let fresh = journey::report(&journey, &log, &options).expect("report");
        scratch.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let kept = reusing(&log, &stamps);
        reused.push(started.elapsed().as_secs_f64());
        assert!(
            kept == fresh,
            "the reusing report differs from the one from scratch"
        );
    }
    let (recut, kept) = {
        let reuse = reuse.lock().expect("reuse");
        (reuse.recut, reuse.kept)
    };
    let name = Path::new(db)
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let events = live.events();
    let extra = serde_json::json!({
        "events": events, "people": people.len(), "touched": touched,
        "load_seconds": load, "first_report_seconds": first,
        "refresh_seconds": median(refresh),
        "scratch_seconds": median(scratch.clone()),
        "recut": recut, "kept": kept,
        "live_bytes_per_event": live.bytes() as f64 / events.max(1) as f64,
        "attribute_bytes_per_event": live.attribute_bytes() as f64 / events.max(1) as f64,
    });
    report("waymark", "live-report", &name, median(reused), extra);
}
