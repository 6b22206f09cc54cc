//! `waymark journey lint | render | diff | new`.

use serde_json::Value;

use super::*;

const EXAMPLES: [&str; 3] = [
    "training-request/as-is.yaml",
    "training-request/to-be.yaml",
    "loan-application/journey.yaml",
];

#[test]
fn lint_accepts_the_examples() {
    let paths: Vec<String> = EXAMPLES
        .iter()
        .map(|e| example(e).display().to_string())
        .collect();
    let mut args = vec!["journey", "lint"];
    args.extend(paths.iter().map(String::as_str));
    let output = waymark(&args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("3 journey file(s) checked: no problems"));
}

/// Every file in `tests/lint` holds one kind of mistake, named after its diagnostic code
/// (`03-unknown-channel.yaml`, or `07-unknown-reference--link.yaml` for a second case of a code). Each must exit 1, report that code, and print what the snapshot
/// holds: `file:line:column`, the message, the source line and the hint.
#[test]
fn lint_reports_each_kind_of_mistake_with_its_place_and_a_hint() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint");
    let mut seen = 0;
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests"),
        "lint/*.yaml",
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
            let output = waymark_in(&dir, &["journey", "lint", name]);
            let text = stdout(&output);
            assert_eq!(
                output.status.code(),
                Some(1),
                "{name} should exit 1:\n{text}"
            );
            assert!(
                text.contains(&format!("[{code}]")),
                "{name} should report {code}:\n{text}"
            );
            let place = text
                .lines()
                .next()
                .and_then(|line| line.split(": ").next())
                .unwrap_or_default();
            assert!(
                place.starts_with(name) && place.split(':').count() == 3,
                "{name}: the first line should start with file:line:column, got {place:?}"
            );
            assert!(
                text.contains("= hint: "),
                "{name} should give a hint:\n{text}"
            );
            insta::assert_snapshot!(text);
        }
    );
    assert!(
        seen >= 12,
        "at least 12 kinds of mistakes are covered, found {seen}"
    );
}

#[test]
fn lint_json_lists_every_problem_with_line_and_column() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint");
    let output = waymark_in(
        &dir,
        &[
            "journey",
            "lint",
            "--format",
            "json",
            "17-invalid-date.yaml",
            "03-unknown-channel.yaml",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_str(&stdout(&output)).expect("json");
    assert_eq!(report["errors"], 2);
    let channel = &report["files"][1]["problems"][0];
    assert_eq!(channel["code"], "unknown-channel");
    assert_eq!(channel["line"], 15);
    assert_eq!(channel["column"], 18);
    assert!(
        channel["hint"]
            .as_str()
            .unwrap_or_default()
            .contains("`in-person`")
    );
}

#[test]
fn warnings_exit_1_unless_allowed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint");
    let strict = waymark_in(&dir, &["journey", "lint", "22-change-impact-missing.yaml"]);
    assert_eq!(strict.status.code(), Some(1));
    let relaxed = waymark_in(
        &dir,
        &[
            "journey",
            "lint",
            "--allow-warnings",
            "22-change-impact-missing.yaml",
        ],
    );
    assert_eq!(relaxed.status.code(), Some(0), "{}", stdout(&relaxed));
    let errors = waymark_in(
        &dir,
        &[
            "journey",
            "lint",
            "--allow-warnings",
            "03-unknown-channel.yaml",
        ],
    );
    assert_eq!(errors.status.code(), Some(1));
}

#[test]
fn usage_mistakes_exit_2() {
    let missing = waymark(&["journey", "lint", "no/such/file.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no/such/file.yaml"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(waymark(&["journey", "lint"]).status.code(), Some(2));
    assert_eq!(
        waymark(&["journey", "lint", "--bogus", "x.yaml"])
            .status
            .code(),
        Some(2)
    );
    let out = temp_dir("usage");
    let bad_extension = out.join("map.png").display().to_string();
    let path = example("training-request/to-be.yaml").display().to_string();
    let render = waymark(&["journey", "render", &path, "-o", &bad_extension]);
    assert_eq!(render.status.code(), Some(2));
    assert!(
        stderr(&render).contains("--format svg|html"),
        "{}",
        stderr(&render)
    );
}

#[test]
fn render_refuses_a_journey_with_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint");
    let out = temp_dir("render-errors").join("map.svg");
    let output = waymark_in(
        &dir,
        &[
            "journey",
            "render",
            "03-unknown-channel.yaml",
            "-o",
            &out.display().to_string(),
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("03-unknown-channel.yaml:15:18"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists(), "nothing is written for a broken journey");
}

#[test]
fn render_writes_well_formed_svg_and_html() {
    let out = temp_dir("render");
    for name in EXAMPLES {
        let source = example(name).display().to_string();
        for extension in ["svg", "html"] {
            let target = out.join(format!("{}.{extension}", name.replace('/', "-")));
            let output = waymark(&[
                "journey",
                "render",
                &source,
                "-o",
                &target.display().to_string(),
            ]);
            assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
            let text = std::fs::read_to_string(&target).expect("rendered file");
            let document = roxmltree::Document::parse_with_options(
                &text,
                roxmltree::ParsingOptions {
                    allow_dtd: true,
                    ..Default::default()
                },
            )
            .unwrap_or_else(|error| panic!("{} is not well-formed: {error}", target.display()));
            let cards = document
                .descendants()
                .filter(|n| n.attribute("class") == Some("touchpoint"))
                .count();
            assert!(
                cards >= 10,
                "{name}.{extension} has {cards} touchpoint cards"
            );
        }
    }
}

#[test]
fn render_to_standard_output() {
    let source = example("training-request/to-be.yaml").display().to_string();
    let output = waymark(&["journey", "render", &source, "-o", "-", "--format", "svg"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout(&output).starts_with("<svg"));
}

fn diff_json() -> Value {
    let before = example("training-request/as-is.yaml").display().to_string();
    let after = example("training-request/to-be.yaml").display().to_string();
    let output = waymark(&["journey", "diff", &before, &after, "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    serde_json::from_str(&stdout(&output)).expect("diff json")
}

#[test]
fn diff_shows_the_customer_effort_of_as_is_and_to_be() {
    let diff = diff_json();
    let (before, after) = (&diff["before"], &diff["after"]);
    for key in [
        "customer_forms",
        "approvals",
        "handoffs",
        "departments",
        "customer_touchpoints",
        "target_seconds",
    ] {
        assert!(
            before[key].is_u64() && after[key].is_u64(),
            "`{key}` is a count in both versions"
        );
    }
    assert!(
        before["customer_forms"].as_u64() >= Some(6),
        "as-is has at least 6 forms: {before}"
    );
    assert_eq!(after["customer_forms"], 2, "to-be has two forms: {after}");
    assert!(after["departments"].as_u64() < before["departments"].as_u64());
    assert!(after["handoffs"].as_u64() < before["handoffs"].as_u64());
    assert!(after["target_seconds"].as_u64() < before["target_seconds"].as_u64());
    let added: Vec<&str> = diff["added"]
        .as_array()
        .expect("added")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(
        added.contains(&"request-training-form") && added.contains(&"assessment-form"),
        "{added:?}"
    );
    let removed: Vec<&str> = diff["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    assert!(
        removed.contains(&"vendor-add-form") && removed.contains(&"goods-received-form"),
        "{removed:?}"
    );
    let manager = diff["changed"]
        .as_array()
        .expect("changed")
        .iter()
        .find(|c| c["id"] == "manager-approval")
        .expect("manager approval changed");
    let channel = manager["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["field"] == "channel");
    assert_eq!(
        channel.map(|c| (&c["before"], &c["after"])),
        Some((&"email".into(), &"app".into()))
    );
}

#[test]
fn diff_target_seconds_add_up_the_touchpoint_targets() {
    // as-is targets: 10m 20m 3d 2d 30m 45m 5d 2d 1d 2d 15m 15m 5d
    let minutes = 10 + 20 + 30 + 45 + 15 + 15;
    let days = 3 + 2 + 5 + 2 + 1 + 2 + 5;
    assert_eq!(
        diff_json()["before"]["target_seconds"],
        minutes * 60 + days * 86_400
    );
}

#[test]
fn diff_as_table_and_markdown() {
    let before = example("training-request/as-is.yaml").display().to_string();
    let after = example("training-request/to-be.yaml").display().to_string();
    let table = stdout(&waymark(&["journey", "diff", &before, &after]));
    let forms = table
        .lines()
        .find(|l| l.starts_with("Forms the customer fills in"))
        .expect("forms row");
    assert_eq!(
        forms.split_whitespace().rev().take(3).collect::<Vec<_>>(),
        ["-4", "2", "6"]
    );
    let markdown = stdout(&waymark(&[
        "journey", "diff", &before, &after, "--format", "markdown",
    ]));
    assert!(
        markdown.contains("| Forms the customer fills in | 6 | 2 | -4 |"),
        "{markdown}"
    );
    assert!(markdown.contains("### Added (8)"), "{markdown}");
}

#[test]
fn new_writes_a_journey_with_the_universal_stages_that_lints_clean() {
    let dir = temp_dir("new");
    let file = dir.join("claims.yaml");
    let output = waymark(&[
        "journey",
        "new",
        "home-claim",
        "--title",
        "Make a home insurance claim",
        "-o",
        &file.display().to_string(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let lint = waymark(&["journey", "lint", &file.display().to_string()]);
    assert_eq!(lint.status.code(), Some(0), "{}", stdout(&lint));
    let text = std::fs::read_to_string(&file).expect("new journey");
    for stage in [
        "Need",
        "Evaluate options",
        "Decide",
        "Deliver / onboard",
        "Use and service",
        "Renew / advocate",
    ] {
        assert!(
            text.contains(&format!("name: {stage}")),
            "missing stage {stage}"
        );
    }
    let again = waymark(&[
        "journey",
        "new",
        "home-claim",
        "-o",
        &file.display().to_string(),
    ]);
    assert_eq!(again.status.code(), Some(2), "never overwrites a file");
    let bad = waymark(&["journey", "new", "not an id"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `waymark journey deploy` keeps each different file as a new version, and refuses a file with
/// errors.
#[test]
fn deploy_versions_journey_files() {
    let dir = temp_dir("deploy");
    let db = dir.join("journeys.db").display().to_string();
    let journey = example("loan-application/journey.yaml")
        .display()
        .to_string();
    let first = waymark(&["journey", "deploy", &journey, "--db", &db]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(stdout(&first), "loan-application: version 1 (as-is)\n");
    let again = waymark(&["journey", "deploy", &journey, "--db", &db]);
    assert!(stdout(&again).contains("version 1 (as-is), already the latest"));
    let changed = dir.join("changed.yaml");
    let text = std::fs::read_to_string(&journey).expect("journey");
    std::fs::write(
        &changed,
        text.replace("owner: Retail Lending", "owner: Lending"),
    )
    .expect("write");
    let second = waymark(&[
        "journey",
        "deploy",
        &changed.display().to_string(),
        "--db",
        &db,
    ]);
    assert_eq!(stdout(&second), "loan-application: version 2 (as-is)\n");
    std::fs::write(&changed, text.replace("channel: web", "channel: pigeon")).expect("write");
    let broken = waymark(&[
        "journey",
        "deploy",
        &changed.display().to_string(),
        "--db",
        &db,
    ]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(stderr(&broken).contains("pigeon"), "{}", stderr(&broken));
}

/// `waymark journey deploy` proposes a to-be version instead: refused without its five answers
/// (at the file's place) or without anyone to approve it, else waiting for the owner's approval.
#[test]
fn a_to_be_version_is_proposed_not_deployed() {
    let dir = temp_dir("deploy-to-be");
    let db = dir.join("journeys.db").display().to_string();
    let as_is = example("training-request/as-is.yaml").display().to_string();
    let to_be = example("training-request/to-be.yaml").display().to_string();
    let first = waymark(&["journey", "deploy", &as_is, "--db", &db]);
    assert_eq!(stdout(&first), "training-request: version 1 (as-is)\n");
    let text = std::fs::read_to_string(&to_be).expect("to-be");
    // A proposal is someone's: --by is needed, and must be in the directory.
    let anonymous = waymark(&["journey", "deploy", &to_be, "--db", &db]);
    assert_ne!(anonymous.status.code(), Some(0));
    assert!(
        stderr(&anonymous).contains("say who proposes it with --by PERSON"),
        "{}",
        stderr(&anonymous)
    );
    let stranger = waymark(&["journey", "deploy", &to_be, "--db", &db, "--by", "olivia"]);
    assert_ne!(stranger.status.code(), Some(0));
    assert!(
        stderr(&stranger).contains("--by `olivia` is not in the directory"),
        "{}",
        stderr(&stranger)
    );
    {
        let store = waymark_store::open(&std::path::PathBuf::from(&db).into(), &Default::default())
            .expect("db");
        store
            .put_users(
                &waymark_server::automation::users_from_csv(
                    "id,name,email,department,manager,roles\nolivia,Olivia Chen,olivia@example.com,leadership,,journey-owner\n",
                )
                .expect("csv"),
            )
            .expect("people");
    }
    let unanswered = dir.join("unanswered.yaml");
    std::fs::write(
        &unanswered,
        &text[..text.find("\nchange:").expect("change") + 1],
    )
    .expect("write");
    let path = unanswered.display().to_string();
    let refused = waymark(&["journey", "deploy", &path, "--db", &db, "--by", "olivia"]);
    assert_ne!(refused.status.code(), Some(0));
    assert!(
        stderr(&refused).contains(&format!(
            "{path}:7:10: version `to-be` becomes current only once the journey's owner approves its five change-impact answers"
        )),
        "{}",
        stderr(&refused)
    );
    // Nobody in the directory answers for the owner.
    let nobody = waymark(&["journey", "deploy", &to_be, "--db", &db, "--by", "olivia"]);
    assert_ne!(nobody.status.code(), Some(0));
    assert!(
        stderr(&nobody).contains(
            "nobody in the directory answers for the journey's owner `HR Learning & Development`"
        ),
        "{}",
        stderr(&nobody)
    );
    {
        let store = waymark_store::open(&std::path::PathBuf::from(&db).into(), &Default::default())
            .expect("db");
        store
            .put_users(
                &waymark_server::automation::users_from_csv(
                    "id,name,email,department,manager,roles\nhana,Hana Weber,hana@example.com,hr,olivia,manager\nolivia,Olivia Chen,olivia@example.com,leadership,,journey-owner\n",
                )
                .expect("csv"),
            )
            .expect("people");
    }
    let proposed = waymark(&["journey", "deploy", &to_be, "--db", &db, "--by", "olivia"]);
    assert_eq!(proposed.status.code(), Some(0), "{}", stderr(&proposed));
    assert_eq!(
        stdout(&proposed),
        "training-request: proposed (to-be) as proposal 1; it becomes the current version once hana approves its change-impact answers in request 1\n"
    );
    let store = waymark_store::open(&std::path::PathBuf::from(&db).into(), &Default::default())
        .expect("db");
    assert_eq!(
        store
            .journey("training-request", None)
            .expect("read")
            .expect("current")
            .version,
        1,
        "still the as-is"
    );
    let hana = store.user("hana").expect("read").expect("hana");
    assert_eq!(store.tasks_for(&hana).expect("tasks").len(), 1);
}
