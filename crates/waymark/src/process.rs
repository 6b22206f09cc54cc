//! `waymark process`: process definitions behind journeys.

use std::io::Write as _;
use std::path::Path;

use waymark_journey::{Diagnostic, Severity};

use crate::Outcome;
use crate::cli::{LintFormat, OrgCommand, ProcessCommand};

pub fn run(command: ProcessCommand) -> anyhow::Result<Outcome> {
    match command {
        ProcessCommand::Check { files, format } => check(&files, format),
        ProcessCommand::Deploy { files, db } => deploy(&files, &db),
    }
}

pub fn org(command: OrgCommand) -> anyhow::Result<Outcome> {
    use anyhow::Context as _;
    match command {
        OrgCommand::Import { file, db } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let users = waymark_server::automation::users_from_csv(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}:{}: {}",
                    file.display(),
                    e.field.unwrap_or_default(),
                    e.message
                )
            })?;
            let store = waymark_store::open(&db, &Default::default())
                .with_context(|| format!("cannot open {}", db))?;
            let stored = store.put_users(&users)?;
            println!("{stored} people stored in {}", db);
            Ok(Outcome::Fine)
        }
        OrgCommand::Token {
            user,
            expires_in,
            db,
        } => {
            let expires = crate::keys::expiry(expires_in.as_deref())?;
            let store = waymark_store::open(&db, &Default::default())
                .with_context(|| format!("cannot open {}", db))?;
            if store.user(&user)?.is_none() {
                anyhow::bail!("nobody with the id `{user}` is in the directory of {}", db);
            }
            let now = crate::keys::now_us();
            let (_, token) =
                store.issue_person_token(&user, "access token", expires, "cli", now)?;
            println!("{token}");
            Ok(Outcome::Fine)
        }
        OrgCommand::Enable { user, db } => {
            let store = waymark_store::open(&db, &Default::default())
                .with_context(|| format!("cannot open {}", db))?;
            let now = crate::keys::now_us();
            if !store.enable_user(&user, "cli", now)? {
                anyhow::bail!("nobody disabled has the id `{user}` in {}", db);
            }
            println!("{user} enabled (issue them a new token: waymark org token {user})");
            Ok(Outcome::Fine)
        }
        OrgCommand::Disable { user, db } => {
            let store = waymark_store::open(&db, &Default::default())
                .with_context(|| format!("cannot open {}", db))?;
            let now = crate::keys::now_us();
            if !store.disable_user(&user, "cli", now)? {
                anyhow::bail!(
                    "nobody active with the id `{user}` is in the directory of {}",
                    db
                );
            }
            println!("{user} disabled: their tokens are revoked and their sessions ended");
            Ok(Outcome::Fine)
        }
    }
}

/// Checks each model and deploys the executable ones, with the forms found beside them.
fn deploy(files: &[std::path::PathBuf], db: &waymark_store::Location) -> anyhow::Result<Outcome> {
    use anyhow::Context as _;
    let checked: Vec<Checked> = files.iter().map(|f| check_file(f)).collect();
    let mut stdout = std::io::stdout().lock();
    let mut fine = true;
    for r in &checked {
        if let Some(problem) = &r.unreadable {
            anyhow::bail!("{}: unreadable: {problem}", r.file);
        }
        if r.processes.is_empty() {
            for d in &r.diagnostics {
                writeln!(stdout, "{}", d.render(&r.file, &r.source))?;
            }
            writeln!(stdout, "{}: not executable, not deployed", r.file)?;
            fine = false;
        }
    }
    if !fine {
        return Ok(Outcome::Problems);
    }
    let store = waymark_store::open(db, &Default::default())
        .with_context(|| format!("cannot open {}", db))?;
    let now = waymark_server::Clock::now_us(&waymark_server::SystemClock);
    for (r, path) in checked.iter().zip(files) {
        let imported =
            waymark_workflow::import(&r.source).map_err(|e| anyhow::anyhow!("{}: {e}", r.file))?;
        for process in &imported.processes {
            let (version, created) = store.deploy_process(
                &process.id,
                &process.name,
                waymark_workflow::Format::of(&r.source).as_str(),
                &r.source,
                now,
            )?;
            writeln!(
                stdout,
                "{}: {} version {version}{}",
                r.file,
                process.id,
                if created { " (new)" } else { " (unchanged)" }
            )?;
            for (key, form) in forms_of(path, process) {
                let version = store.put_form(&key, &form, now)?;
                writeln!(stdout, "  form {key} version {version}")?;
            }
        }
    }
    Ok(Outcome::Fine)
}

/// Where the form a `formKey` names is kept, relative to the model: Camunda Forms
/// (`camunda-forms:app:NAME.form`) beside it, Waymark forms (`waymark:KEY`) in `forms/` beside it.
fn form_file(key: &str) -> Option<String> {
    key.strip_prefix("camunda-forms:app:")
        .or_else(|| key.strip_prefix("camunda-forms:deployment:"))
        .map(str::to_string)
        .or_else(|| {
            key.strip_prefix("waymark:")
                .map(|key| format!("forms/{key}.form"))
        })
}

/// The forms a process names that are found beside its file: (key, schema).
fn forms_of(path: &Path, process: &waymark_workflow::Process) -> Vec<(String, String)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found = Vec::new();
    for node in &process.nodes {
        let Some(key) = node.form() else { continue };
        let Some(file) = form_file(key) else { continue };
        let file = dir.join(file);
        if let Ok(schema) = std::fs::read_to_string(&file) {
            let key = waymark_workflow::forms::key_of(key).to_string();
            if !found.iter().any(|(k, _)| k == &key) {
                found.push((key, schema));
            }
        }
    }
    found
}

/// One file's check.
struct Checked {
    file: String,
    source: String,
    /// The processes that would be deployed, when the file is executable.
    processes: Vec<String>,
    diagnostics: Vec<Diagnostic>,
    /// Set when the file cannot be read at all.
    unreadable: Option<String>,
}

fn check_file(path: &Path) -> Checked {
    let file = path.display().to_string();
    let source = match std::fs::read_to_string(path) {
        Ok(source) => source,
        Err(error) => {
            return Checked {
                file,
                source: String::new(),
                processes: Vec::new(),
                diagnostics: Vec::new(),
                unreadable: Some(format!("cannot read it: {error}")),
            };
        }
    };
    match waymark_workflow::import(&source) {
        Err(error) => Checked {
            file,
            source,
            processes: Vec::new(),
            diagnostics: Vec::new(),
            unreadable: Some(error.to_string()),
        },
        Ok(imported) => {
            let mut diagnostics = imported.diagnostics.clone();
            forms(path, &imported, &mut diagnostics);
            diagnostics.sort_by_key(|d| d.location);
            let executable =
                imported.executable() && !diagnostics.iter().any(|d| d.severity == Severity::Error);
            Checked {
                file,
                source,
                processes: if executable {
                    imported.processes.iter().map(|p| p.id.clone()).collect()
                } else {
                    Vec::new()
                },
                diagnostics,
                unreadable: None,
            }
        }
    }
}

/// Camunda Forms named by `camunda-forms:app:NAME.form` (or `camunda-forms:deployment:`) are read
/// from beside the model; a missing one is a warning (it can be deployed with the model later).
fn forms(path: &Path, imported: &waymark_workflow::Imported, out: &mut Vec<Diagnostic>) {
    let dir = path.parent().unwrap_or(Path::new("."));
    for process in &imported.processes {
        for node in &process.nodes {
            let Some(name) = node.form().and_then(form_file) else {
                continue;
            };
            let name = name.as_str();
            let at = waymark_journey::Location {
                line: node.line,
                column: 1,
            };
            if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
                let problems = match serde_json::from_str(&text) {
                    Ok(json) => waymark_workflow::forms::from_form_js(name, &json)
                        .err()
                        .unwrap_or_default()
                        .into_iter()
                        .map(|e| e.to_string())
                        .collect(),
                    Err(error) => vec![format!("not JSON: {error}")],
                };
                for problem in problems {
                    out.push(
                        Diagnostic::error(
                            "invalid-form",
                            at,
                            format!("the form `{name}` of `{}`: {problem}", node.id),
                        )
                        .with_hint("fix the .form file (Camunda Forms JSON)"),
                    );
                }
                continue;
            }
            if !dir.join(name).is_file() {
                out.push(
                    Diagnostic::warning(
                        "missing-form",
                        waymark_journey::Location {
                            line: node.line,
                            column: 1,
                        },
                        format!(
                            "`{}` uses the form `{name}`, which is not beside the model",
                            node.id
                        ),
                    )
                    .with_hint("put the .form file (Camunda Forms JSON) there: beside the .bpmn file, or in forms/ beside it for waymark:KEY"),
                );
            }
        }
    }
}

fn check(files: &[std::path::PathBuf], format: LintFormat) -> anyhow::Result<Outcome> {
    let results: Vec<Checked> = files.iter().map(|f| check_file(f)).collect();
    let mut stdout = std::io::stdout().lock();
    match format {
        LintFormat::Text => {
            for r in &results {
                if let Some(problem) = &r.unreadable {
                    writeln!(stdout, "{}: unreadable: {problem}", r.file)?;
                    continue;
                }
                for d in &r.diagnostics {
                    writeln!(stdout, "{}", d.render(&r.file, &r.source))?;
                }
                if r.processes.is_empty() {
                    let errors = r
                        .diagnostics
                        .iter()
                        .filter(|d| d.severity == Severity::Error)
                        .count();
                    writeln!(stdout, "{}: not executable ({errors} error(s))", r.file)?;
                } else {
                    writeln!(stdout, "{}: executable: {}", r.file, r.processes.join(", "))?;
                }
            }
        }
        LintFormat::Json => {
            let list: Vec<serde_json::Value> = results
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "file": r.file,
                        "readable": r.unreadable.is_none(),
                        "unreadable": r.unreadable,
                        "executable": !r.processes.is_empty(),
                        "processes": r.processes,
                        "problems": r.diagnostics.iter().map(|d| serde_json::json!({
                            "severity": d.severity.as_str(),
                            "code": d.code,
                            "line": d.location.line,
                            "column": d.location.column,
                            "message": d.message,
                            "hint": d.hint,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            writeln!(stdout, "{}", serde_json::to_string_pretty(&list)?)?;
        }
    }
    if results.iter().any(|r| r.unreadable.is_some()) {
        return Err(anyhow::anyhow!(
            "{} file(s) could not be read",
            results.iter().filter(|r| r.unreadable.is_some()).count()
        ));
    }
    Ok(if results.iter().all(|r| !r.processes.is_empty()) {
        Outcome::Fine
    } else {
        Outcome::Problems
    })
}
