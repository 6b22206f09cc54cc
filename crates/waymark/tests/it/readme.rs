//! Every shell block of the README runs as written, in order, in a directory laid out like a
//! clone (the examples beside it, the shared data at `../shared`), with `waymark` being the
//! command under test. Three lines are read for what they mean rather than run: building
//! (`cargo build --release`, the alias) is the binary under test; `cargo run --release -p waymark
//! --` is that binary too; and `./scripts/test` is what runs this test, so it is only checked to
//! be there and to be what CI runs. A server (`serve`, `demo`) is started for real, waited for
//! until it listens, and stopped, so the block goes on.

use std::path::Path;
use std::process::Command;

/// The README's `sh` blocks, in order.
fn blocks(readme: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in readme.lines() {
        match (&mut current, line.trim_start()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => out.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// A block as the test runs it (see the module's comment for the three lines read, not run).
fn runnable(block: &str) -> String {
    let mut script = String::from("set -euo pipefail\n");
    for line in block.lines() {
        let trimmed = line.trim();
        let line = if trimmed == "cargo build --release" || trimmed.starts_with("alias waymark=") {
            format!("# (the binary under test) {trimmed}")
        } else if trimmed == "./scripts/test" {
            "test -x ./scripts/test && grep -q 'exec ./scripts/test' .ci/run".to_string()
        } else if let Some(rest) = trimmed.strip_prefix("cargo run --release -p waymark -- ") {
            format!("waymark {rest}")
        } else {
            line.to_string()
        };
        script.push_str(&line);
        script.push('\n');
    }
    script
}

/// `waymark` for the blocks: the binary under test, except that a server is started on a free
/// port, waited for until it listens, and stopped.
const WRAPPER: &str = r#"#!/usr/bin/env bash
set -u
real="$WAYMARK_UNDER_TEST"
case "${1:-}" in
  serve|demo)
    args=()
    listen=no
    for a in "$@"; do
      case "$a" in
        --listen) listen=yes ;;
        *:8080) a=127.0.0.1:0 ;;
      esac
      args+=("$a")
    done
    [ "$listen" = yes ] || args+=(--listen 127.0.0.1:0)
    out="$(mktemp)"
    "$real" "${args[@]}" >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 1 1200); do
      if grep -q "listening on http" "$out"; then
        head -n 3 "$out"
        kill "$pid"; wait "$pid" 2>/dev/null
        exit 0
      fi
      if ! kill -0 "$pid" 2>/dev/null; then cat "$out" >&2; exit 1; fi
      sleep 0.1
    done
    cat "$out" >&2; kill "$pid"; exit 1
    ;;
esac
exec "$real" "$@"
"#;

#[test]
fn every_readme_command_works_as_written() {
    let root = super::workspace();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let blocks = blocks(&readme);
    assert!(blocks.len() >= 6, "the README's shell blocks: {blocks:?}");
    let shared = std::env::var("WAYMARK_SHARED")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("../shared"));
    if !shared.join("data").is_dir() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI needs the shared data at {}",
            shared.display()
        );
        return;
    }
    // A clone's layout: the repository's files the blocks name, and `../shared` beside it.
    let base = super::temp_dir("readme");
    let clone = base.join("waymark");
    std::fs::create_dir_all(clone.join(".ci")).expect("clone");
    std::fs::create_dir_all(clone.join("scripts")).expect("clone");
    let link = |from: &Path, to: &Path| {
        std::os::unix::fs::symlink(from, to).expect("symlink");
    };
    link(&root.join("examples"), &clone.join("examples"));
    link(&root.join("scripts/test"), &clone.join("scripts/test"));
    link(&root.join(".ci/run"), &clone.join(".ci/run"));
    link(
        &shared.canonicalize().expect("shared"),
        &base.join("shared"),
    );
    let bin = base.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::write(bin.join("waymark"), WRAPPER).expect("wrapper");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(bin.join("waymark"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (n, block) in blocks.iter().enumerate() {
        let script = runnable(block);
        let output = Command::new("bash")
            .arg("-c")
            .arg(&script)
            .current_dir(&clone)
            .env("PATH", &path)
            .env("WAYMARK_UNDER_TEST", env!("CARGO_BIN_EXE_waymark"))
            .output()
            .expect("bash");
        assert!(
            output.status.success(),
            "README block {} failed:\n{block}\n--- stdout\n{}\n--- stderr\n{}",
            n + 1,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // What the blocks made is there.
    for made in [
        "home-claim.yaml",
        "as-is.svg",
        "waymark.db",
        "loan.html",
        "people.csv",
    ] {
        assert!(clone.join(made).exists(), "{made}");
    }
}

#[test]
fn shell_blocks_are_found_whole() {
    let text = "x\n```sh\na \\\n  b\nc\n```\n```toml\nk = 1\n```\n```sh\nd\n```\n";
    assert_eq!(
        blocks(text),
        vec!["a \\\n  b\nc\n".to_string(), "d\n".to_string()]
    );
    let run = runnable(
        "cargo build --release\nalias waymark=target/release/waymark\ncargo run --release -p waymark -- demo\n./scripts/test\n",
    );
    assert!(run.contains("# (the binary under test) cargo build --release"));
    assert!(run.contains("\nwaymark demo\n"));
    assert!(run.contains("test -x ./scripts/test"));
}
