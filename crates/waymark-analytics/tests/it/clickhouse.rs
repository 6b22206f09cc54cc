//! The ordered funnel against real ClickHouse `windowFunnel`, run in-process through chdb on the
//! same events (timestamps in microseconds on both sides, so ties are the same ties).
//!
//! `scripts/test` installs chdb and sets `WAYMARK_PYTHON`. Without it the test fails in CI and
//! says so locally.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

use waymark_analytics::{FunnelOrder, all_cases};
use waymark_eventlog::EventLog;

use super::load;

fn python() -> Option<PathBuf> {
    match std::env::var_os("WAYMARK_PYTHON") {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!(
                "WAYMARK_PYTHON is not set: CI must compare funnels with ClickHouse (scripts/test installs chdb)"
            )
        }
        None => {
            eprintln!(
                "NOT RUN: set WAYMARK_PYTHON to a Python with chdb (scripts/test does) to compare with ClickHouse"
            );
            None
        }
    }
}

fn events_csv(log: &EventLog, name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "waymark-clickhouse-{}-{name}.csv",
        std::process::id()
    ));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("csv"));
    writeln!(file, "case_id,activity,micros").expect("write");
    for case in log.iter_cases() {
        for event in case.events() {
            let activity = log
                .resolve(log.activity_column()[event])
                .replace('"', "\"\"");
            let case_id = case.name().replace('"', "\"\"");
            writeln!(
                file,
                "\"{case_id}\",\"{activity}\",{}",
                log.time_column()[event]
            )
            .expect("write");
        }
    }
    file.flush().expect("flush");
    path
}

fn clickhouse(python: &PathBuf, csv: &PathBuf, window: i64, steps: &[&str]) -> Vec<usize> {
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clickhouse/window_funnel.py");
    let output = Command::new(python)
        .arg(script)
        .arg(csv)
        .arg(window.to_string())
        .args(steps)
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "chdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json list")
}

fn compare(file: &str, funnels: &[(&[&str], i64)]) {
    let Some(python) = python() else { return };
    let log = load(file);
    let csv = events_csv(&log, file);
    let cases = all_cases(&log);
    for (steps, window_seconds) in funnels {
        let window = window_seconds * 1_000_000;
        let names: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
        let ours: Vec<usize> =
            waymark_analytics::funnel(&log, &cases, &names, window, FunnelOrder::Ordered)
                .steps
                .iter()
                .map(|s| s.reached)
                .collect();
        let theirs = clickhouse(&python, &csv, window, steps);
        assert_eq!(ours, theirs, "{file}: {steps:?} within {window_seconds} s");
    }
    let _ = std::fs::remove_file(csv);
}

#[test]
fn ordered_funnels_equal_clickhouse_on_helpdesk() {
    let steps: &[&str] = &[
        "Assign seriousness",
        "Take in charge ticket",
        "Resolve ticket",
        "Closed",
    ];
    compare(
        "helpdesk.xes.gz",
        &[
            (steps, 3_600),
            (steps, 86_400),
            (steps, 604_800),
            (steps, 60 * 86_400),
        ],
    );
}

#[test]
fn ordered_funnels_equal_clickhouse_on_bpic2012() {
    let application: &[&str] = &[
        "A_SUBMITTED",
        "A_PARTLYSUBMITTED",
        "A_PREACCEPTED",
        "A_ACCEPTED",
        "A_FINALIZED",
        "A_APPROVED",
    ];
    let repeated: &[&str] = &[
        "W_Completeren aanvraag",
        "W_Completeren aanvraag",
        "A_ACCEPTED",
        "W_Completeren aanvraag",
    ];
    let offers: &[&str] = &[
        "O_SELECTED",
        "O_CREATED",
        "O_SENT",
        "O_SENT_BACK",
        "O_ACCEPTED",
    ];
    compare(
        "bpic2012.xes.gz",
        &[
            (application, 2_592_000),
            (application, 3_600),
            (repeated, 604_800),
            (offers, 1_209_600),
        ],
    );
}

#[test]
fn ordered_funnels_equal_clickhouse_on_sepsis() {
    let steps: &[&str] = &[
        "ER Registration",
        "ER Triage",
        "ER Sepsis Triage",
        "IV Antibiotics",
        "Admission NC",
    ];
    compare("sepsis_eventdataR.csv", &[(steps, 1_800), (steps, 86_400)]);
}
