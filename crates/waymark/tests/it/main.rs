//! End-to-end tests of the `waymark` command, run as a child process.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod alerting;
mod analyze;
mod automation;
mod browser;
mod clients;
mod journey;
mod nodes;
mod process;
mod readme;
mod serve;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn example(path: &str) -> PathBuf {
    workspace().join("examples").join(path)
}

/// Runs `waymark` with `args` in `dir`.
fn waymark_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_waymark"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("run waymark")
}

fn waymark(args: &[&str]) -> Output {
    waymark_in(&workspace(), args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("waymark-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}
