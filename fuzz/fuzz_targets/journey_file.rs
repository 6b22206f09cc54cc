//! Feeds arbitrary bytes to the journey-file reader. Whatever it accepts must render and must
//! read back equal after writing.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = waymark_journey::check(text);
    for diagnostic in &report.diagnostics {
        assert!(diagnostic.location.line >= 1 && diagnostic.location.column >= 1);
    }
    if let Some(journey) = report.journey {
        let _ = waymark_map::svg(&journey);
        let again = waymark_journey::check(&waymark_journey::write(&journey));
        assert_eq!(again.journey.as_ref(), Some(&journey));
    }
});
