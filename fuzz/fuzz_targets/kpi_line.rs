//! A KPI line as people type it (`Approval lead time: median-time <= 2d owner Finance`): reading
//! never panics, a problem's place is inside the line, and a KPI read is written back as a line
//! that reads to the same KPI.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    if line.contains('\n') {
        return;
    }
    match waymark_journey::kpi::parse(line) {
        Err(problem) => assert!(problem.at <= line.len(), "{line:?}: {problem:?}"),
        Ok(kpi) => {
            let written = kpi.to_string();
            let again = waymark_journey::kpi::parse(&written)
                .unwrap_or_else(|p| panic!("{line:?} written as {written:?}: {p:?}"));
            // Targets are written to four decimals: one more round changes nothing.
            assert_eq!(again.to_string(), written, "{line:?}");
            assert_eq!(again.measure, kpi.measure, "{line:?}");
        }
    }
});
