//! The check every log-reader fuzz target makes: the reader may refuse the input, strict or
//! lenient, but never panics, and what it accepts is a consistent log.

use waymark_eventlog::{Format, ReadOptions};

pub fn check(data: &[u8], format: Format) {
    for lenient in [false, true] {
        // OCEL needs an object type to flatten on; the other readers ignore it.
        let options = ReadOptions {
            file: "fuzz".into(),
            lenient,
            object_type: Some("order".into()),
            ..Default::default()
        };
        if let Ok(outcome) = waymark_eventlog::read(data, format, &options) {
            let log = outcome.log;
            let starts = log.case_starts();
            assert_eq!(starts.len(), log.cases() + 1);
            assert_eq!(*starts.last().unwrap_or(&0) as usize, log.events());
            for case in log.iter_cases() {
                assert!(case.times().windows(2).all(|w| w[0] <= w[1]));
            }
        }
    }
}
