//! Feeds arbitrary bytes to the Xes log reader, strict and lenient: it may refuse the input,
//! never panic, and what it accepts must be a consistent log.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark_eventlog::{Format, ReadOptions};

fuzz_target!(|data: &[u8]| {
    for lenient in [false, true] {
        let options = ReadOptions { file: "fuzz".into(), lenient, ..Default::default() };
        if let Ok(outcome) = waymark_eventlog::read(data, Format::Xes, &options) {
            let log = outcome.log;
            let starts = log.case_starts();
            assert_eq!(starts.len(), log.cases() + 1);
            assert_eq!(*starts.last().unwrap_or(&0) as usize, log.events());
            for case in log.iter_cases() {
                assert!(case.times().windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }
});
