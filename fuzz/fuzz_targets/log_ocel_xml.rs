//! Feeds arbitrary bytes to the OCEL 2.0 reader (OcelXml), flattened on `order`: it may refuse
//! the input, never panic, and what it accepts must be a consistent log.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark_eventlog::{Format, ReadOptions};

fuzz_target!(|data: &[u8]| {
    let options = ReadOptions { file: "fuzz".into(), object_type: Some("order".into()), ..Default::default() };
    if let Ok(outcome) = waymark_eventlog::read(data, Format::OcelXml, &options) {
        let log = outcome.log;
        assert_eq!(*log.case_starts().last().unwrap_or(&0) as usize, log.events());
        for case in log.iter_cases() {
            assert!(case.times().windows(2).all(|w| w[0] <= w[1]));
        }
    }
});
