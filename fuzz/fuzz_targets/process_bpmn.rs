//! Feeds arbitrary bytes to the BPMN importer: it never panics, every problem has a place, and a
//! file it calls executable has a start event in every process.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(imported) = waymark_workflow::bpmn::import(text) else {
        return;
    };
    for diagnostic in &imported.diagnostics {
        assert!(diagnostic.location.line >= 1 && diagnostic.location.column >= 1);
    }
    if imported.executable() {
        for process in &imported.processes {
            assert!(process.starts().next().is_some());
        }
    }
});
