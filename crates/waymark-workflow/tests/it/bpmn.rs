//! BPMN import on real models: the MIWG test suite and Camunda's examples in `../shared`.

use std::path::PathBuf;

use waymark_journey::Severity;

fn shared(name: &str) -> PathBuf {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"));
    let path = root.join("data/bpmn").join(name);
    assert!(
        path.is_file(),
        "the shared test data is missing at {}",
        path.display()
    );
    path
}

fn import(name: &str) -> waymark_workflow::bpmn::Imported {
    let text = std::fs::read_to_string(shared(name)).expect("read");
    waymark_workflow::bpmn::import(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn errors(imported: &waymark_workflow::bpmn::Imported) -> Vec<String> {
    imported
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}: {}: {}", d.location, d.code, d.message))
        .collect()
}

#[test]
fn the_executable_models_import_without_errors() {
    for name in [
        "c7_reviewInvoice.bpmn",
        "c7ex_invoiceApproval_camundaForms.bpmn",
        "c7ex_invoicePayment_boundaryEvents.bpmn",
        "miwg_C.1.1.bpmn",
        "miwg_C.3.0.bpmn",
    ] {
        let imported = import(name);
        assert!(imported.executable(), "{name}: {:#?}", errors(&imported));
    }
}

#[test]
fn the_others_name_what_stops_them() {
    let invoice = import("c7_invoice.v2.bpmn");
    let found = errors(&invoice);
    assert!(
        found.iter().any(|e| e.contains("business rule task")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|e| e.contains("call activity")),
        "{found:#?}"
    );
    for name in [
        "miwg_A.1.0.bpmn",
        "miwg_A.2.0.bpmn",
        "miwg_A.3.0.bpmn",
        "miwg_B.1.0.bpmn",
        "bjs_pizza-collaboration.bpmn",
    ] {
        let imported = import(name);
        assert!(!imported.executable(), "{name}");
        let found = errors(&imported);
        assert!(
            found.iter().any(|e| e.contains("not-executable")),
            "{name}: {found:#?}"
        );
    }
}

/// Nothing of an executable model is dropped: every sequence flow is read, and timers, messages,
/// errors and escalations keep their values.
#[test]
fn executable_models_are_read_whole() {
    use waymark_workflow::{NodeKind, Timer, Trigger};
    for name in [
        "c7_reviewInvoice.bpmn",
        "c7ex_invoiceApproval_camundaForms.bpmn",
        "c7ex_invoicePayment_boundaryEvents.bpmn",
        "miwg_C.1.1.bpmn",
        "miwg_C.3.0.bpmn",
    ] {
        let text = std::fs::read_to_string(shared(name)).expect("read");
        let flows = text.matches("<sequenceFlow ").count()
            + text.matches("<bpmn:sequenceFlow ").count()
            + text.matches("<bpmn2:sequenceFlow ").count();
        let imported = import(name);
        let read: usize = imported.processes.iter().map(|p| p.flows.len()).sum();
        assert_eq!(read, flows, "{name}");
    }
    let repair = import("miwg_C.3.0.bpmn");
    let triggers: Vec<&Trigger> = repair.processes[0]
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Boundary(b) => Some(&b.trigger),
            _ => None,
        })
        .collect();
    assert!(triggers.contains(&&Trigger::Timer(Timer::Duration(
        std::time::Duration::from_secs(2 * 3600)
    ))));
    assert!(triggers.contains(&&Trigger::Message("Service Level".to_string())));
    let payment = import("c7ex_invoicePayment_boundaryEvents.bpmn");
    let triggers: Vec<&Trigger> = payment.processes[0]
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Boundary(b) => Some(&b.trigger),
            _ => None,
        })
        .collect();
    assert!(triggers.contains(&&Trigger::Error(Some("invoice-error".to_string()))));
    assert!(triggers.contains(&&Trigger::Escalation(Some("invoice-escalate".to_string()))));
    // Camunda's assignment attributes.
    let invoice = import("miwg_C.1.1.bpmn");
    let tasks: Vec<(&str, Option<&str>, Vec<&str>)> = invoice.processes[0]
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::UserTask(t) => Some((
                n.id.as_str(),
                t.assignee.as_deref(),
                t.candidate_groups.iter().map(String::as_str).collect(),
            )),
            _ => None,
        })
        .collect();
    assert!(
        tasks.contains(&("approveInvoice", Some("${approver}"), vec![])),
        "{tasks:?}"
    );
    assert!(
        tasks.contains(&("prepareBankTransfer", None, vec!["accounting"])),
        "{tasks:?}"
    );
}
