//! What the commands print: JSON shapes (kept apart from the library types so these can stay
//! stable while the libraries change) and text tables.

use std::fmt::Write as _;

use serde::Serialize;
use waymark_journey::Diagnostic;
use waymark_journey::diff::{Effort, JourneyDiff, TouchpointRef};

#[derive(Serialize)]
pub struct LintReport {
    pub files: Vec<LintFile>,
    pub errors: usize,
    pub warnings: usize,
}

#[derive(Serialize)]
pub struct LintFile {
    pub file: String,
    pub problems: Vec<LintProblem>,
}

#[derive(Serialize)]
pub struct LintProblem {
    pub severity: &'static str,
    pub code: &'static str,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
}

impl LintReport {
    pub fn new(results: &[(String, String, Vec<Diagnostic>)]) -> Self {
        let files: Vec<LintFile> = results
            .iter()
            .map(|(file, _, diagnostics)| LintFile {
                file: file.clone(),
                problems: diagnostics
                    .iter()
                    .map(|d| LintProblem {
                        severity: d.severity.as_str(),
                        code: d.code,
                        line: d.location.line,
                        column: d.location.column,
                        message: d.message.clone(),
                        hint: d.hint.clone(),
                    })
                    .collect(),
            })
            .collect();
        let count = |severity: &str| {
            files
                .iter()
                .flat_map(|f| &f.problems)
                .filter(|p| p.severity == severity)
                .count()
        };
        LintReport {
            errors: count("error"),
            warnings: count("warning"),
            files,
        }
    }
}

#[derive(Serialize)]
pub struct DiffReport {
    pub before_version: String,
    pub after_version: String,
    pub before: EffortJson,
    pub after: EffortJson,
    pub added: Vec<TouchpointJson>,
    pub removed: Vec<TouchpointJson>,
    pub changed: Vec<ChangedJson>,
    pub unchanged: usize,
}

#[derive(Serialize)]
pub struct EffortJson {
    pub customer_forms: usize,
    pub approvals: usize,
    pub handoffs: usize,
    pub internal_handoffs: usize,
    pub departments: usize,
    pub department_names: Vec<String>,
    pub customer_touchpoints: usize,
    pub touchpoints: usize,
    pub target_seconds: u64,
    pub customer_target_seconds: u64,
}

#[derive(Serialize)]
pub struct TouchpointJson {
    pub id: String,
    pub name: String,
    pub stage: String,
}

#[derive(Serialize)]
pub struct ChangedJson {
    pub id: String,
    pub name: String,
    pub stage: String,
    pub changes: Vec<FieldChangeJson>,
}

#[derive(Serialize)]
pub struct FieldChangeJson {
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

impl From<&Effort> for EffortJson {
    fn from(e: &Effort) -> Self {
        EffortJson {
            customer_forms: e.customer_forms,
            approvals: e.approvals,
            handoffs: e.handoffs,
            internal_handoffs: e.internal_handoffs,
            departments: e.departments.len(),
            department_names: e.departments.clone(),
            customer_touchpoints: e.customer_touchpoints,
            touchpoints: e.touchpoints,
            target_seconds: e.target_seconds,
            customer_target_seconds: e.customer_target_seconds,
        }
    }
}

impl From<&TouchpointRef> for TouchpointJson {
    fn from(t: &TouchpointRef) -> Self {
        TouchpointJson {
            id: t.id.clone(),
            name: t.name.clone(),
            stage: t.stage.clone(),
        }
    }
}

impl From<&JourneyDiff> for DiffReport {
    fn from(d: &JourneyDiff) -> Self {
        DiffReport {
            before_version: d.before_version.clone(),
            after_version: d.after_version.clone(),
            before: (&d.before).into(),
            after: (&d.after).into(),
            added: d.added.iter().map(Into::into).collect(),
            removed: d.removed.iter().map(Into::into).collect(),
            changed: d
                .changed
                .iter()
                .map(|c| ChangedJson {
                    id: c.touchpoint.id.clone(),
                    name: c.touchpoint.name.clone(),
                    stage: c.touchpoint.stage.clone(),
                    changes: c
                        .changes
                        .iter()
                        .map(|f| FieldChangeJson {
                            field: f.field,
                            before: f.before.clone(),
                            after: f.after.clone(),
                        })
                        .collect(),
                })
                .collect(),
            unchanged: d.unchanged,
        }
    }
}

/// `3d 4h` style, or `-` for nothing.
fn seconds(value: u64) -> String {
    waymark_journey::duration::format(std::time::Duration::from_secs(value))
}

/// The effort figures as rows: label, before, after, change.
fn effort_rows(d: &JourneyDiff) -> Vec<[String; 4]> {
    let count = |label: &str, before: usize, after: usize| {
        let delta = after as i64 - before as i64;
        [
            label.to_string(),
            before.to_string(),
            after.to_string(),
            format!("{delta:+}"),
        ]
    };
    let time = |label: &str, before: u64, after: u64| {
        let delta = if after >= before {
            format!("+{}", seconds(after - before))
        } else {
            format!("-{}", seconds(before - after))
        };
        [label.to_string(), seconds(before), seconds(after), delta]
    };
    let (b, a) = (&d.before, &d.after);
    vec![
        count(
            "Forms the customer fills in",
            b.customer_forms,
            a.customer_forms,
        ),
        count("Approvals the customer waits on", b.approvals, a.approvals),
        count("Hand-offs the customer deals with", b.handoffs, a.handoffs),
        count(
            "Hand-offs behind the scenes too",
            b.internal_handoffs,
            a.internal_handoffs,
        ),
        count(
            "Departments the customer deals with",
            b.departments.len(),
            a.departments.len(),
        ),
        count(
            "Customer-facing touchpoints",
            b.customer_touchpoints,
            a.customer_touchpoints,
        ),
        count("All touchpoints", b.touchpoints, a.touchpoints),
        time("Total target time", b.target_seconds, a.target_seconds),
        time(
            "Customer's own target time",
            b.customer_target_seconds,
            a.customer_target_seconds,
        ),
    ]
}

fn changes_lines(d: &JourneyDiff) -> Vec<String> {
    let mut lines = Vec::new();
    for t in &d.added {
        lines.push(format!("+ {} ({}), in stage {}", t.name, t.id, t.stage));
    }
    for t in &d.removed {
        lines.push(format!("- {} ({}), was in stage {}", t.name, t.id, t.stage));
    }
    for c in &d.changed {
        let fields: Vec<String> = c
            .changes
            .iter()
            .map(|f| format!("{}: {} -> {}", f.field, f.before, f.after))
            .collect();
        lines.push(format!(
            "~ {} ({}): {}",
            c.touchpoint.name,
            c.touchpoint.id,
            fields.join("; ")
        ));
    }
    lines
}

/// A plain-text table for terminals: a header, a rule, and the rows. Columns whose cells are all
/// numbers (or percentages, signed counts or `-`) are right-aligned.
pub fn text_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let numeric: Vec<bool> = (0..columns)
        .map(|c| {
            rows.iter().all(|row| {
                let cell = row.get(c).map(String::as_str).unwrap_or("");
                cell == "-"
                    || cell
                        .trim_end_matches('%')
                        .trim_start_matches(['+', '-'])
                        .parse::<f64>()
                        .is_ok()
            })
        })
        .collect();
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (c, cell) in cells.enumerate() {
            let pad = widths[c].saturating_sub(cell.chars().count());
            if c > 0 {
                text.push_str("  ");
            }
            if numeric[c] && c > 0 {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if c + 1 < columns {
                    text.push_str(&" ".repeat(pad));
                }
            }
        }
        text.trim_end().to_string() + "\n"
    };
    let mut out = line(&mut header.iter().copied());
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1)));
    out.push('\n');
    for row in rows {
        out.push_str(&line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// A plain-text side-by-side table for terminals.
pub fn diff_table(d: &JourneyDiff) -> String {
    let rows: Vec<Vec<String>> = effort_rows(d).into_iter().map(Vec::from).collect();
    let mut out = text_table(
        &[
            "Customer effort",
            &d.before_version,
            &d.after_version,
            "change",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "\nDepartments: {} -> {}",
        d.before.departments.join(", "),
        d.after.departments.join(", ")
    );
    let _ = writeln!(
        out,
        "\nTouchpoints: {} added, {} removed, {} changed, {} unchanged",
        d.added.len(),
        d.removed.len(),
        d.changed.len(),
        d.unchanged
    );
    for line in changes_lines(d) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A Markdown report for pull requests and wikis.
pub fn diff_markdown(d: &JourneyDiff) -> String {
    let mut out = format!(
        "| Customer effort | {} | {} | change |\n|---|---:|---:|---:|\n",
        markdown_cell(&d.before_version),
        markdown_cell(&d.after_version)
    );
    for row in effort_rows(d) {
        let _ = writeln!(out, "| {} | {} | {} | {} |", row[0], row[1], row[2], row[3]);
    }
    let _ = writeln!(
        out,
        "\n**Departments the customer deals with:** {} → {}\n",
        markdown_cell(&d.before.departments.join(", ")),
        markdown_cell(&d.after.departments.join(", "))
    );
    let section = |out: &mut String, title: &str, items: Vec<String>| {
        let _ = writeln!(out, "### {title} ({})\n", items.len());
        for item in items {
            let _ = writeln!(out, "- {item}");
        }
        out.push('\n');
    };
    section(
        &mut out,
        "Added",
        d.added
            .iter()
            .map(|t| {
                format!(
                    "**{}** (`{}`), stage `{}`",
                    markdown_cell(&t.name),
                    t.id,
                    t.stage
                )
            })
            .collect(),
    );
    section(
        &mut out,
        "Removed",
        d.removed
            .iter()
            .map(|t| {
                format!(
                    "**{}** (`{}`), stage `{}`",
                    markdown_cell(&t.name),
                    t.id,
                    t.stage
                )
            })
            .collect(),
    );
    section(
        &mut out,
        "Changed",
        d.changed
            .iter()
            .map(|c| {
                let fields: Vec<String> = c
                    .changes
                    .iter()
                    .map(|f| {
                        format!(
                            "{}: {} → {}",
                            f.field,
                            markdown_cell(&f.before),
                            markdown_cell(&f.after)
                        )
                    })
                    .collect();
                format!(
                    "**{}** (`{}`): {}",
                    markdown_cell(&c.touchpoint.name),
                    c.touchpoint.id,
                    fields.join("; ")
                )
            })
            .collect(),
    );
    out
}
