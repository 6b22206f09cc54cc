//! Durations and due dates as people and models write them (`P3D`, `PT1H30M`, `90m`,
//! `3 working days`, dates), read directly and as a due date a process evaluates from a
//! variable: nothing panics, nothing wraps around, and a duration read is at most a hundred
//! years.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use waymark_workflow::engine::{Command, EngineError, State, step};
use waymark_workflow::model::Process;

/// A process whose one step is due at whatever its `deadline` variable says.
fn process() -> &'static Process {
    static PROCESS: OnceLock<Process> = OnceLock::new();
    PROCESS.get_or_init(|| {
        let text = "process: due\nsteps:\n  - id: a\n    form: a\n    actor: requester\n    due: ${deadline}\n";
        let imported = waymark_workflow::import(text).expect("the fuzz target's process reads");
        imported.processes.into_iter().next().expect("one process")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(duration) = waymark_workflow::bpmn::duration(text) {
        assert!(
            duration <= waymark_workflow::bpmn::MAX_DURATION,
            "{text}: {duration:?}"
        );
    }
    let _ = waymark_workflow::model::working_days(text);
    let mut variables = serde_json::Map::new();
    variables.insert(
        "deadline".into(),
        serde_json::Value::String(text.to_string()),
    );
    variables.insert(
        "requester".into(),
        serde_json::Value::String("jennifer".into()),
    );
    for now in [0, 1_714_557_600_000_000, i64::MAX - 1, i64::MIN + 1] {
        let mut state = State::default();
        match step(
            process(),
            &mut state,
            Command::Start {
                variables: variables.clone(),
            },
            now,
        ) {
            Ok(_) => {}
            Err(EngineError::Invalid { variable, .. }) => {
                assert_eq!(variable.as_deref(), Some("deadline"));
                assert_eq!(state, State::default(), "a refused step changes nothing");
            }
            Err(other) => panic!("{text}: {other}"),
        }
    }
});
