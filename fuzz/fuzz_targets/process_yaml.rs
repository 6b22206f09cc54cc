//! Feeds arbitrary bytes to the reader of Waymark's YAML process files: it never panics, every
//! problem has a place, and a file it calls executable has a start event and only flows between
//! nodes that exist.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(imported) = waymark_workflow::yaml::import(text) else {
        return;
    };
    for diagnostic in &imported.diagnostics {
        assert!(diagnostic.location.line >= 1 && diagnostic.location.column >= 1);
    }
    if imported.executable() {
        for process in &imported.processes {
            assert!(process.starts().next().is_some());
            for flow in &process.flows {
                assert!(flow.source < process.nodes.len() && flow.target < process.nodes.len());
            }
        }
    }
});
