//! The journey editor's form reader: any form fields (name, value) as a draft, written as a
//! journey file and checked. Reading never panics; the file names a field for every line; the
//! checker's problems fall on lines of the file; merging a draft that checks clean with itself
//! changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use waymark_journey::draft::{Draft, merge};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // One field per line: `name=value` (value with `\n` for line breaks).
    let pairs: Vec<(String, String)> = text
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.replace("\\n", "\n")))
        .collect();
    let draft = Draft::from_fields(&pairs);
    let (file, fields) = draft.file();
    assert_eq!(fields.len(), file.lines().count());
    let report = waymark_journey::check(&file);
    for problem in &report.diagnostics {
        assert!(
            problem.location.line >= 1 && problem.location.line <= fields.len().max(1) + 1,
            "{problem:?}"
        );
    }
    if report.journey.is_some() && report.diagnostics.is_empty() {
        assert_eq!(merge(&draft, &draft, &draft).as_ref(), Ok(&draft));
    }
});
