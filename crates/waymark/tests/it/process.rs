//! `waymark process check`: exit codes and messages on the shared BPMN models.

use serde_json::Value;

use super::*;

fn shared_bpmn() -> PathBuf {
    let root = std::env::var_os("WAYMARK_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared"));
    let dir = root.join("data/bpmn");
    assert!(
        dir.is_dir(),
        "the shared BPMN models are missing: {}",
        dir.display()
    );
    dir
}

/// Exit 0 on every executable model, 1 naming what stops the others, 2 for what is not BPMN.
#[test]
fn check_exits_by_whether_a_model_can_run() {
    let dir = shared_bpmn();
    let mut models: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("models")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bpmn"))
        .collect();
    models.sort();
    assert!(models.len() >= 11, "{models:?}");
    let executable = [
        "c7_reviewInvoice.bpmn",
        "c7ex_invoiceApproval_camundaForms.bpmn",
        "c7ex_invoicePayment_boundaryEvents.bpmn",
        "miwg_C.1.1.bpmn",
        "miwg_C.3.0.bpmn",
    ];
    for model in &models {
        let name = model.file_name().and_then(|n| n.to_str()).expect("name");
        let path = model.display().to_string();
        let output = waymark(&["process", "check", &path]);
        let expected = if executable.contains(&name) { 0 } else { 1 };
        assert_eq!(
            output.status.code(),
            Some(expected),
            "{name}:\n{}",
            stdout(&output)
        );
        let text = stdout(&output);
        if expected == 1 {
            assert!(text.contains("not executable"), "{name}: {text}");
            // Every error names its place, file:line:column.
            assert!(text.contains(&format!("{path}:")), "{name}: {text}");
        } else {
            assert!(text.contains(": executable: "), "{name}: {text}");
        }
    }
    // The Camunda invoice names the two elements Waymark cannot run, with their lines.
    let invoice = dir.join("c7_invoice.v2.bpmn").display().to_string();
    let output = waymark(&["process", "check", &invoice, "--format", "json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    let problems: Vec<(String, u64)> = report[0]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter(|p| p["code"] == "unsupported-element")
        .map(|p| {
            (
                p["message"].as_str().unwrap_or_default().to_string(),
                p["line"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].0.contains("businessRuleTask") && problems[0].1 == 66);
    assert!(problems[1].0.contains("callActivity") && problems[1].1 == 83);

    // Unreadable: not XML, not BPMN, or missing.
    let scratch = temp_dir("process-check");
    let broken = scratch.join("broken.bpmn");
    std::fs::write(&broken, "<definitions><process></definitions>").expect("write");
    let journey = example("loan-application/journey.yaml")
        .display()
        .to_string();
    for path in [
        broken.display().to_string(),
        journey,
        scratch.join("none.bpmn").display().to_string(),
    ] {
        let output = waymark(&["process", "check", &path]);
        assert_eq!(output.status.code(), Some(2), "{path}: {}", stdout(&output));
        assert!(stdout(&output).contains("unreadable") || stderr(&output).contains("read"));
    }
}

/// `waymark org import` and `waymark process deploy` fill a database the server then runs.
#[test]
fn org_import_and_process_deploy_prepare_a_database() {
    let dir = temp_dir("process-deploy");
    let db = dir.join("waymark.db").display().to_string();
    let people = dir.join("people.csv");
    std::fs::write(
        &people,
        "id,name,email,department,manager,roles\njennifer,Jennifer Lee,jennifer@example.com,customer-success,maria,\nmaria,Maria Lopez,maria@example.com,customer-success,,manager;approver\n",
    )
    .expect("write");
    let output = waymark(&["org", "import", &people.display().to_string(), "--db", &db]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let model = example("training-request/process.bpmn")
        .display()
        .to_string();
    let output = waymark(&["process", "deploy", &model, "--db", &db]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(stdout(&output).contains("training-request version 1 (new)"));
    let again = waymark(&["process", "deploy", &model, "--db", &db]);
    assert!(stdout(&again).contains("version 1 (unchanged)"));
    let store = waymark_store::open(
        &waymark_store::Location::from(Path::new(&db)),
        &Default::default(),
    )
    .expect("store");
    let maria = store.user("maria").expect("user").expect("maria");
    assert_eq!(maria.roles, ["manager", "approver"]);
    assert!(
        store
            .process("training-request", None)
            .expect("process")
            .is_some()
    );
    for form in [
        "request-training",
        "approve-training",
        "training-assessment",
    ] {
        assert!(store.form(form).expect("form").is_some(), "{form}");
    }
    // A model that cannot run is not deployed.
    let invoice = shared_bpmn()
        .join("c7_invoice.v2.bpmn")
        .display()
        .to_string();
    let refused = waymark(&["process", "deploy", &invoice, "--db", &db]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(store.process("invoice", None).expect("process").is_none());
    // A directory file without ids is named with its line.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "name\nAmy\n").expect("write");
    let refused = waymark(&["org", "import", &bad.display().to_string(), "--db", &db]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("bad.csv:line 1"),
        "{}",
        stderr(&refused)
    );
}

/// Every file in `tests/process-lint` holds one kind of mistake in a Waymark process file, named
/// after its diagnostic code (`07-unknown-step.yaml`, `18-unknown-step--timeout.yaml` for a
/// second case). Each must exit 1, report that code first, at `file:line:column`, with a hint;
/// the snapshot holds the whole report.
#[test]
fn process_files_report_each_kind_of_mistake_with_its_place_and_a_hint() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/process-lint");
    let mut seen = 0;
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests"),
        "process-lint/*.yaml",
        |path| {
            seen += 1;
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .expect("file name");
            let stem = name
                .trim_end_matches(".yaml")
                .split_once('-')
                .expect("NN-code.yaml")
                .1;
            let code = stem.split("--").next().unwrap_or(stem);
            let output = waymark_in(&dir, &["process", "check", name]);
            let text = stdout(&output);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{name} should exit 1:\n{text}"
            );
            let first = text.lines().next().unwrap_or_default();
            assert!(
                first.starts_with(name) && first.contains(&format!("error[{code}]")),
                "{name}: the first problem should be {code} at file:line:column, got {first:?}"
            );
            assert!(
                text.contains("= hint: "),
                "{name} should give a hint:\n{text}"
            );
            insta::assert_snapshot!(text);
        }
    );
    assert!(seen >= 15, "at least 15 kinds of mistakes, found {seen}");
}

/// Not YAML at all, or not a block of fields: unreadable (exit 2), with the place.
#[test]
fn a_process_file_that_is_not_yaml_is_unreadable() {
    let dir = temp_dir("process-not-yaml");
    std::fs::write(dir.join("broken.yaml"), "process: [\n").expect("write");
    std::fs::write(dir.join("text.yaml"), "just some words\n").expect("write");
    for (file, says) in [
        (
            "broken.yaml",
            "broken.yaml: unreadable: 2:1: this is not valid YAML",
        ),
        (
            "text.yaml",
            "text.yaml: unreadable: 1:1: a process file must be a set of `key: value` fields",
        ),
    ] {
        let output = waymark_in(&dir, &["process", "check", file]);
        assert_eq!(output.status.code(), Some(2), "{file}");
        assert!(
            stdout(&output).contains(says),
            "{file}: {}",
            stdout(&output)
        );
    }
}

/// The training request in Waymark's YAML checks, deploys with its forms beside it, and is kept
/// as a YAML version.
#[test]
fn the_yaml_training_process_checks_and_deploys() {
    let example = workspace().join("examples/training-request/process.yaml");
    let output = waymark(&["process", "check", example.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("executable: training-request"));
    let db = temp_dir("process-yaml-deploy").join("w.db");
    let output = waymark(&[
        "process",
        "deploy",
        example.to_str().expect("path"),
        "--db",
        db.to_str().expect("db"),
    ]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("training-request version 1 (new)"), "{text}");
    for form in [
        "request-training",
        "approve-training",
        "add-vendor",
        "issue-po",
        "record-payment",
        "training-assessment",
    ] {
        assert!(
            text.contains(&format!("form {form} version 1")),
            "{form}: {text}"
        );
    }
    let store = waymark_store::open(&waymark_store::Location::from(&db), &Default::default())
        .expect("store");
    let deployed = store
        .process("training-request", None)
        .expect("read")
        .expect("deployed");
    assert_eq!(deployed.format, "yaml");
}

/// Keys and tokens from the command line: a worker key limited to its topic works against the
/// server, is listed without its secret, and stops at once when revoked; disabling a person ends
/// their tokens. (Revocation, rotation and the access trail are tested through the API too.)
#[test]
fn keys_are_issued_listed_and_revoked_from_the_command_line() {
    let dir = temp_dir("cli-keys");
    let db = dir.join("keys.db");
    let db_arg = db.to_str().expect("path");
    let csv = dir.join("people.csv");
    std::fs::write(&csv, "id,name,email,department,manager,roles\nfinn,Finn Berg,finn@example.com,finance,,finance\n")
        .expect("csv");
    let output = waymark_in(&dir, &["org", "import", "people.csv", "--db", db_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = waymark_in(&dir, &["keys", "issue", "worker", "--db", db_arg]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a worker key needs topics (misuse)"
    );
    assert!(stderr(&output).contains("--topic"), "{}", stderr(&output));
    let output = waymark_in(
        &dir,
        &[
            "keys",
            "issue",
            "worker",
            "--topic",
            "budget-check",
            "--label",
            "budget system",
            "--expires-in",
            "30d",
            "--db",
            db_arg,
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let worker = stdout(&output).trim().to_string();
    let id = stderr(&output)
        .split(':')
        .next()
        .expect("the id")
        .trim()
        .to_string();
    assert!(id.starts_with("k_"), "{id}");
    let output = waymark_in(
        &dir,
        &["org", "token", "finn", "--expires-in", "1h", "--db", db_arg],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let finn = stdout(&output).trim().to_string();
    let output = waymark_in(&dir, &["keys", "list", "--db", db_arg]);
    let list = stdout(&output);
    assert!(
        list.contains(&id) && list.contains("budget system / budget-check"),
        "{list}"
    );
    assert!(!list.contains(&worker), "no secret in the list");
    // Against a real server.
    let status = |url: &str, token: &str, path: &str| {
        ureq::get(format!("{url}{path}"))
            .header("Authorization", &format!("Bearer {token}"))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .expect("call")
            .status()
            .as_u16()
    };
    let (child, url) = super::serve::start(&db);
    let server = super::automation::Killed(child);
    assert_eq!(status(&url, &worker, "/v1/work?topic=budget-check"), 200);
    assert_eq!(status(&url, &worker, "/v1/work?topic=payments"), 403);
    assert_eq!(status(&url, &finn, "/v1/tasks"), 200);
    drop(server);
    let output = waymark_in(&dir, &["keys", "revoke", &id, "--db", db_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = waymark_in(&dir, &["org", "disable", "finn", "--db", db_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (child, url) = super::serve::start(&db);
    let _server = super::automation::Killed(child);
    for token in [&worker, &finn] {
        assert_eq!(status(&url, token, "/v1/tasks"), 401);
    }
    let output = waymark_in(&dir, &["keys", "revoke", &id, "--db", db_arg]);
    assert_eq!(output.status.code(), Some(2), "revoked once");
}
