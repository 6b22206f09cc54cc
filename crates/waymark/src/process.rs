//! `waymark process`: process definitions behind journeys.

use std::io::Write as _;
use std::path::Path;

use waymark_journey::{Diagnostic, Severity};

use crate::Outcome;
use crate::cli::{LintFormat, ProcessCommand};

pub fn run(command: ProcessCommand) -> anyhow::Result<Outcome> {
    match command {
        ProcessCommand::Check { files, format } => check(&files, format),
    }
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
    match waymark_workflow::bpmn::import(&source) {
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
fn forms(path: &Path, imported: &waymark_workflow::bpmn::Imported, out: &mut Vec<Diagnostic>) {
    let dir = path.parent().unwrap_or(Path::new("."));
    for process in &imported.processes {
        for node in &process.nodes {
            let key = match &node.kind {
                waymark_workflow::NodeKind::Start { form, .. } => form.as_deref(),
                waymark_workflow::NodeKind::UserTask(task) => task.form.as_deref(),
                _ => None,
            };
            // Camunda Forms beside the model, or Waymark forms in `forms/` beside it.
            let Some(name) = key.and_then(|k| {
                k.strip_prefix("camunda-forms:app:")
                    .or_else(|| k.strip_prefix("camunda-forms:deployment:"))
                    .map(str::to_string)
                    .or_else(|| {
                        k.strip_prefix("waymark:")
                            .map(|key| format!("forms/{key}.form"))
                    })
            }) else {
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
