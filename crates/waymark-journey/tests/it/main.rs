//! Tests of the journey model, its file format and the effort figures.

use std::path::{Path, PathBuf};

mod examples;
mod roundtrip;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `../shared/data` beside the repository, or `WAYMARK_SHARED`. It is part of every checkout the
/// project is tested in, so a missing directory fails the test rather than skipping it.
fn shared_data() -> PathBuf {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared"));
    let data = root.join("data");
    assert!(
        data.is_dir(),
        "the shared test data is missing at {}: put the `shared` directory beside the repository or set WAYMARK_SHARED",
        data.display()
    );
    data
}

fn load_example(path: &str) -> waymark_journey::Journey {
    let file = workspace().join("examples").join(path);
    let source = std::fs::read_to_string(&file).expect("example file");
    let report = waymark_journey::check(&source);
    assert!(
        report.diagnostics.is_empty(),
        "{path}: {:?}",
        report.diagnostics
    );
    report.journey.expect("a journey without errors")
}
