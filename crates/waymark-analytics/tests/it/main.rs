//! The analyses against PM4Py and ClickHouse reference results, and against a naive model.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use waymark_analytics::{FunnelOrder, all_cases};
use waymark_eventlog::{EventLog, ReadOptions};

mod alerts;
mod clickhouse;
mod discover;
mod journey;
mod kpis;
mod model;

/// `../shared/data` beside the repository, or `$WAYMARK_SHARED/data`. Missing data fails the test.
fn shared_data() -> PathBuf {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let data = root.join("data");
    assert!(
        data.is_dir(),
        "the shared test data is missing at {}",
        data.display()
    );
    data
}

fn load(name: &str) -> EventLog {
    let path = shared_data().join("logs").join(name);
    waymark_eventlog::read_path(&path, None, &ReadOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .log
}

fn reference(name: &str) -> Value {
    let path = shared_data().join("expected").join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference")).expect("json")
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= 1e-6 * expected.abs().max(1.0)
}

fn counts(log: &EventLog, list: &[waymark_analytics::ActivityCount]) -> BTreeMap<String, u64> {
    list.iter()
        .map(|a| (log.resolve(a.activity).to_string(), a.count))
        .collect()
}

fn expected_counts(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .expect("object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().expect("count")))
        .collect()
}

/// Everything the PM4Py reference holds, compared: counts exactly, seconds to 1e-6 relative.
fn check_against_pm4py(file: &str) {
    let log = load(file);
    let expected = reference(file);
    let cases = all_cases(&log);
    let dfg = waymark_analytics::dfg(&log, &cases);
    assert_eq!(
        dfg.events,
        expected["events"].as_u64().expect("events"),
        "{file}: events"
    );
    assert_eq!(
        dfg.cases,
        expected["cases"].as_u64().expect("cases"),
        "{file}: cases"
    );
    assert_eq!(
        counts(&log, &dfg.activities),
        expected_counts(&expected["activities"]),
        "{file}: activities"
    );
    assert_eq!(
        counts(&log, &dfg.start_activities),
        expected_counts(&expected["start_activities"]),
        "{file}: starts"
    );
    assert_eq!(
        counts(&log, &dfg.end_activities),
        expected_counts(&expected["end_activities"]),
        "{file}: ends"
    );

    let edges = expected["edges"].as_array().expect("edges");
    assert_eq!(dfg.edges.len(), edges.len(), "{file}: number of edges");
    for want in edges {
        let (from, to) = (
            want["from"].as_str().expect("from"),
            want["to"].as_str().expect("to"),
        );
        let got = dfg
            .edges
            .iter()
            .find(|e| log.resolve(e.from) == from && log.resolve(e.to) == to)
            .unwrap_or_else(|| panic!("{file}: no edge {from} -> {to}"));
        assert_eq!(
            got.count,
            want["count"].as_u64().expect("count"),
            "{file}: {from} -> {to} count"
        );
        let (mean, median) = (
            want["mean_seconds"].as_f64().expect("mean"),
            want["median_seconds"].as_f64().expect("median"),
        );
        assert!(
            close(got.mean_seconds, mean),
            "{file}: {from} -> {to} mean {} != {mean}",
            got.mean_seconds
        );
        assert!(
            close(got.median_seconds, median),
            "{file}: {from} -> {to} median {} != {median}",
            got.median_seconds
        );
    }

    let variants = waymark_analytics::variants(&log, &cases);
    let mut got: Vec<(Vec<String>, u64)> = variants
        .iter()
        .map(|v| {
            (
                v.activities
                    .iter()
                    .map(|a| log.resolve(*a).to_string())
                    .collect(),
                v.count,
            )
        })
        .collect();
    let mut want: Vec<(Vec<String>, u64)> = expected["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| {
            let activities = v["activities"]
                .as_array()
                .expect("activities")
                .iter()
                .map(|a| a.as_str().expect("name").to_string())
                .collect();
            (activities, v["count"].as_u64().expect("count"))
        })
        .collect();
    assert!(
        variants.windows(2).all(|w| w[0].count >= w[1].count),
        "{file}: variants sorted by count"
    );
    got.sort();
    want.sort();
    assert_eq!(got.len(), want.len(), "{file}: number of variants");
    assert!(got == want, "{file}: variants differ");

    let durations = waymark_analytics::case_durations(&log, &cases);
    let want = &expected["case_duration_seconds"];
    for (name, value) in [
        ("mean", durations.mean),
        ("median", durations.median),
        ("min", durations.min),
        ("max", durations.max),
    ] {
        let expected = want[name].as_f64().expect("duration");
        assert!(
            close(value, expected),
            "{file}: case duration {name} {value} != {expected}"
        );
    }
}

#[test]
fn running_example_equals_pm4py() {
    check_against_pm4py("running-example.xes");
}

#[test]
fn roadtraffic_equals_pm4py() {
    check_against_pm4py("roadtraffic100traces.xes");
}

#[test]
fn helpdesk_equals_pm4py() {
    check_against_pm4py("helpdesk.xes.gz");
}

#[test]
fn receipt_equals_pm4py() {
    check_against_pm4py("08_receipt.xes.gz");
}

#[test]
fn sepsis_csv_equals_pm4py() {
    check_against_pm4py("sepsis_eventdataR.csv");
}

#[test]
fn bpic2012_equals_pm4py() {
    check_against_pm4py("bpic2012.xes.gz");
}

/// Every log in the shared folder has a reference and is checked above; a new log shows up here.
#[test]
fn every_shared_log_is_checked() {
    let checked = [
        "running-example.xes",
        "roadtraffic100traces.xes",
        "helpdesk.xes.gz",
        "08_receipt.xes.gz",
        "sepsis_eventdataR.csv",
        "bpic2012.xes.gz",
    ];
    for entry in std::fs::read_dir(shared_data().join("logs")).expect("logs") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .to_string();
        assert!(
            checked.contains(&name.as_str()),
            "{name} has no test against its reference"
        );
    }
}

/// The shared ClickHouse references: `windowFunnel(window)` counts at the window each file
/// states (`window_seconds`), which the engine must equal exactly. (Older files held counts at a
/// coarser timestamp unit and were compared at an unbounded window; they were regenerated.)
fn check_funnel(file: &str) {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(shared_data().join("expected/funnels").join(file))
            .expect("funnel reference"),
    )
    .expect("json");
    let log = load(expected["file"].as_str().expect("file"));
    let steps: Vec<String> = expected["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s.as_str().expect("step").to_string())
        .collect();
    let want: Vec<u64> = expected["reached"]
        .as_array()
        .expect("reached")
        .iter()
        .map(|r| r.as_u64().expect("n"))
        .collect();
    let cases = all_cases(&log);
    let window = expected["window_seconds"].as_i64().expect("window") * 1_000_000;
    let funnel = waymark_analytics::funnel(&log, &cases, &steps, window, FunnelOrder::Ordered);
    assert_eq!(
        funnel.cases as u64,
        expected["cases"].as_u64().expect("cases")
    );
    let reached: Vec<u64> = funnel.steps.iter().map(|s| s.reached as u64).collect();
    assert_eq!(reached, want, "{file}: at the stated window");
    // The window matters: unbounded, the later steps reach at least as many.
    let unbounded =
        waymark_analytics::funnel(&log, &cases, &steps, i64::MAX / 4, FunnelOrder::Ordered);
    assert!(
        unbounded
            .steps
            .iter()
            .zip(&want)
            .all(|(u, w)| u.reached as u64 >= *w),
        "{file}: a wider window reaches no fewer"
    );
}

#[test]
fn funnel_equals_clickhouse_window_funnel_on_bpic2012() {
    check_funnel("bpic2012.json");
}

#[test]
fn funnel_equals_clickhouse_window_funnel_on_helpdesk() {
    check_funnel("helpdesk.json");
}
