//! The reference case: the to-be training request as a process.

use std::path::PathBuf;

use waymark_workflow::NodeKind;

fn example(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/training-request")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_training_process_runs_the_to_be_journey() {
    for file in ["process.bpmn", "process.yaml"] {
        the_process_in(file);
    }
}

fn the_process_in(file: &str) {
    let imported = waymark_workflow::import(&example(file)).expect(file);
    assert!(imported.executable(), "{file}: {:#?}", imported.diagnostics);
    assert!(
        imported.diagnostics.is_empty(),
        "{:#?}",
        imported.diagnostics
    );
    let process = &imported.processes[0];
    // Every touchpoint of the to-be journey is a step of the process, by id.
    let journey = waymark_journey::check(&example("to-be.yaml"))
        .journey
        .expect("journey");
    for (_, touchpoint) in journey.touchpoints() {
        assert!(
            process.find(&touchpoint.id).is_some(),
            "`{}` has no step in the process",
            touchpoint.id
        );
    }
    // Jennifer fills in two forms: the start form and the assessment assigned to her.
    let hers: Vec<&str> = process
        .nodes
        .iter()
        .filter(|n| match &n.kind {
            NodeKind::Start { form, .. } => form.is_some(),
            NodeKind::UserTask(task) => task.assignee.as_deref() == Some("${requester}"),
            _ => false,
        })
        .map(|n| n.id.as_str())
        .collect();
    assert_eq!(hers, ["request-training-form", "assessment-form"]);
}
