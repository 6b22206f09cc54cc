//! What the commands print: JSON shapes (kept apart from the library types so these can stay
//! stable while the libraries change) and text tables.

use std::fmt::Write as _;

use serde::Serialize;
use waymark_journey::Diagnostic;
use waymark_journey::diff::{Effort, JourneyDiff, TouchpointRef};
use waymark_journey::duration::format_seconds as span;

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
    /// The journey's own KPIs that differ, each as written (null: absent).
    pub kpis: Vec<KpiChangeJson>,
}

#[derive(Serialize)]
pub struct KpiChangeJson {
    pub id: String,
    pub before: Option<String>,
    pub after: Option<String>,
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
            kpis: d
                .kpis
                .iter()
                .map(|k| KpiChangeJson {
                    id: k.id.clone(),
                    before: k.before.clone(),
                    after: k.after.clone(),
                })
                .collect(),
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
    for k in &d.kpis {
        lines.push(kpi_line(k));
    }
    lines
}

/// A journey KPI's change in one line: `+ KPI …`, `- KPI …` or `~ KPI … -> …`.
fn kpi_line(k: &waymark_journey::diff::KpiChange) -> String {
    match (&k.before, &k.after) {
        (None, Some(after)) => format!("+ KPI {after}"),
        (Some(before), None) => format!("- KPI {before}"),
        (Some(before), Some(after)) => format!("~ KPI {before} -> {after}"),
        (None, None) => format!("~ KPI {}", k.id),
    }
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
    if !d.kpis.is_empty() {
        section(
            &mut out,
            "Journey KPIs",
            d.kpis.iter().map(|k| markdown_cell(&kpi_line(k))).collect(),
        );
    }
    out
}

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn markdown_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        header
            .iter()
            .enumerate()
            .map(|(i, _)| if i == 0 { "---" } else { "---:" })
            .collect::<Vec<_>>()
            .join("|")
    );
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| markdown_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
}

/// A deviation in words, e.g. `skipped: apply → sign (skipping review)`.
fn deviation_text(d: &waymark_analytics::journey::Deviation) -> String {
    let mut what = match d.kind.as_str() {
        "start" => format!("started at {}", d.to),
        kind => format!("{kind}: {} → {}", d.from, d.to),
    };
    if !d.skipped.is_empty() {
        what.push_str(&format!(" (skipping {})", d.skipped.join(", ")));
    }
    what
}

/// CSAT, NPS and CES in words, e.g. `CSAT 4.10 (52), NPS +12 (40)`; empty without answers.
fn score_text(s: &waymark_analytics::journey::ScoreFigures) -> String {
    let mut parts = Vec::new();
    if let Some((v, n)) = s.csat {
        parts.push(format!("CSAT {v:.2} ({n})"));
    }
    if let Some((v, n)) = s.nps {
        parts.push(format!("NPS {v:+.0} ({n})"));
    }
    if let Some((v, n)) = s.ces {
        parts.push(format!("CES {v:.2} ({n})"));
    }
    parts.join(", ")
}

/// Per-period or per-segment journey figures as tables (the journey's measures, then each
/// stage's reach and conversion); an empty key is shown as `empty`.
fn group_table(
    out: &mut String,
    key: &str,
    empty: &str,
    groups: &[waymark_analytics::journey::Group],
) {
    let name = |g: &waymark_analytics::journey::Group| {
        if g.key.is_empty() {
            empty.to_string()
        } else {
            g.key.clone()
        }
    };
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let driver = g
                .contacts
                .by_touchpoint
                .iter()
                .filter_map(|c| c.drivers.first().map(|d| (c, d)))
                .max_by(|a, b| a.1.lift.total_cmp(&b.1.lift))
                .map_or("—".to_string(), |(c, d)| {
                    format!("{} before {}", d.touchpoint, c.touchpoint)
                });
            let score = score_text(&g.scores);
            vec![
                name(g),
                g.instances.to_string(),
                g.completed.to_string(),
                g.completed_median_seconds.map_or("—".to_string(), span),
                percent(g.conformance_share),
                g.deviations.first().map_or("—".to_string(), deviation_text),
                format!("{:.2}", g.contacts.per_instance),
                percent(g.contacts.repeat_rate),
                driver,
                if score.is_empty() {
                    "—".to_string()
                } else {
                    score
                },
            ]
        })
        .collect();
    markdown_table(
        out,
        &[
            key,
            "instances",
            "completed",
            "median time",
            "conformance",
            "top deviation",
            "contacts per instance",
            "repeat rate",
            "top contact driver",
            "scores",
        ],
        &rows,
    );
    let Some(first) = groups.first() else {
        return;
    };
    let mut header = vec![key];
    header.extend(first.stages.iter().map(|s| s.name.as_str()));
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let mut row = vec![name(g)];
            row.extend(g.stages.iter().map(|s| match s.conversion_to_next {
                Some(c) if s.reached > 0 => format!("{} ({} on)", s.reached, percent(c)),
                _ => s.reached.to_string(),
            }));
            row
        })
        .collect();
    let _ = writeln!(
        out,
        "Stages reached per {key} (and the share that went on to the next stage):\n"
    );
    markdown_table(out, &header, &rows);
}

/// A journey report as Markdown: the figures of `waymark journey report --format json`, for
/// people.
pub fn journey_report_markdown(
    journey: &waymark_journey::Journey,
    r: &waymark_analytics::journey::Report,
) -> String {
    format!(
        "# {} ({})\n\n{}",
        journey.title,
        r.version,
        journey_report_body(r)
    )
}

/// A journey report as HTML: the map with the measured figures on its cards and the measured
/// emotion curve, then the report's sections as in Markdown.
pub fn journey_report_html(
    journey: &waymark_journey::Journey,
    r: &waymark_analytics::journey::Report,
    mut live: waymark_map::Live,
) -> String {
    live.details = Some(markdown_html(&journey_report_body(r)));
    waymark_map::html_live(journey, Some(&live))
}

/// Markdown as HTML; any HTML inside the text (from names in a journey file or events) is
/// shown as text, and the result is sanitised by ammonia, so a link written in an event name
/// (`[x](javascript:…)`) keeps no script and no URL scheme but http(s) and mailto.
pub fn markdown_html(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(text) | Event::InlineHtml(text) => Event::Text(text),
        other => other,
    });
    let mut out = String::new();
    pulldown_cmark::html::push_html(&mut out, parser);
    ammonia::Builder::default()
        .url_schemes(std::collections::HashSet::from(["http", "https", "mailto"]))
        .link_rel(Some("noopener noreferrer nofollow"))
        // Column alignment, as the Markdown renderer writes it (raw HTML never gets here).
        .add_tag_attributes("td", &["style"])
        .add_tag_attributes("th", &["style"])
        .clean(&out)
        .to_string()
}

/// The sections of a journey report, without its title.
fn journey_report_body(r: &waymark_analytics::journey::Report) -> String {
    let scores = score_text;
    let mut out = String::new();
    let i = &r.instances;
    let _ = writeln!(
        out,
        "**{}** instances: {} completed ({}), {} abandoned, {} open. Completed instances took {} (median; p90 {}).\n",
        i.total,
        i.completed,
        percent(if i.total == 0 {
            0.0
        } else {
            i.completed as f64 / i.total as f64
        }),
        i.abandoned,
        i.open,
        span(r.completed_seconds.median),
        span(r.completed_seconds.p90),
    );
    let _ = writeln!(
        out,
        "**Conformance**: {} of instances followed the designed path ({} of completed ones).\n",
        percent(r.conformance.share),
        r.conformance
            .completed_share
            .map_or("none".to_string(), percent),
    );
    let journey_scores = scores(&r.experience.journey);
    if !journey_scores.is_empty() {
        let _ = writeln!(out, "**Experience**: {journey_scores}.\n");
    }

    let _ = writeln!(out, "## Stages\n");
    let rows: Vec<Vec<String>> = r
        .stages
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.reached.to_string(),
                s.conversion_to_next.map_or("—".to_string(), percent),
                s.drop_off.to_string(),
                if s.seconds.count == 0 {
                    "—".to_string()
                } else {
                    span(s.seconds.median)
                },
                s.target_seconds.map_or("—".to_string(), span),
                s.breach_share.map_or("—".to_string(), percent),
                s.repeat_visits.to_string(),
                scores(&s.scores),
            ]
        })
        .collect();
    markdown_table(
        &mut out,
        &[
            "stage",
            "reached",
            "on to the next stage",
            "dropped off here",
            "median time in stage",
            "target (required touchpoints)",
            "over target",
            "repeat visits",
            "scores",
        ],
        &rows,
    );

    let _ = writeln!(out, "## Funnel\n");
    let rows: Vec<Vec<String>> = r
        .funnel
        .steps
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.reached.to_string(),
                percent(s.conversion_from_previous),
                percent(s.conversion_from_first),
                s.median_seconds_from_previous.map_or("—".to_string(), span),
            ]
        })
        .collect();
    markdown_table(
        &mut out,
        &[
            "step",
            "reached",
            "from previous",
            "from first",
            "median time from previous",
        ],
        &rows,
    );

    if !r.milestones.is_empty() {
        let _ = writeln!(out, "## Time between touchpoints\n");
        let rows: Vec<Vec<String>> = r
            .milestones
            .iter()
            .map(|m| {
                vec![
                    format!("{} → {}", m.from, m.to),
                    format!("{} of {}", m.reached, m.from_reached),
                    span(m.seconds.median),
                    span(m.seconds.p90),
                ]
            })
            .collect();
        markdown_table(
            &mut out,
            &["from → to", "instances", "median", "p90"],
            &rows,
        );
    }

    let _ = writeln!(out, "## Touchpoints\n");
    let rows: Vec<Vec<String>> = r
        .touchpoints
        .iter()
        .map(|t| {
            let mut name = t.id.clone();
            if t.moment_of_truth {
                name.push_str(" ★");
            }
            vec![
                name,
                t.instances.to_string(),
                t.visits.to_string(),
                if t.visits == 0 {
                    "—".to_string()
                } else {
                    span(t.total_seconds.median)
                },
                t.target_seconds.map_or("—".to_string(), span),
                t.breach_share.map_or("—".to_string(), percent),
                t.repeat_visits.to_string(),
                t.drop_off.to_string(),
                scores(&t.scores),
            ]
        })
        .collect();
    markdown_table(
        &mut out,
        &[
            "touchpoint (★ moment of truth)",
            "instances",
            "visits",
            "median time until next",
            "target",
            "over target",
            "repeat visits",
            "dropped off here",
            "scores",
        ],
        &rows,
    );

    let _ = writeln!(
        out,
        "## Designed against actual\n\nMethod: replay on the journey's transition system (touchpoints are states; designed edges, links and paths through optional touchpoints are transitions).\n"
    );
    let rows: Vec<Vec<String>> = r
        .conformance
        .deviations
        .iter()
        .map(|d| vec![deviation_text(d), d.count.to_string()])
        .collect();
    markdown_table(&mut out, &["deviation", "instances × times"], &rows);
    if !r.unmapped.is_empty() {
        let list: Vec<String> = r
            .unmapped
            .iter()
            .take(10)
            .map(|(a, n)| format!("{a} ({n})"))
            .collect();
        let _ = writeln!(
            out,
            "Events on no touchpoint (blind spots): {}.\n",
            list.join(", ")
        );
    }

    let c = &r.contacts;
    let _ = writeln!(
        out,
        "## Repeat contacts\n\n{:.2} contacts per instance; {} of instances had a contact repeated. Contacts: {}.\n",
        c.per_instance,
        percent(c.repeat_rate),
        c.touchpoints.join(", ")
    );
    for contact in &c.by_touchpoint {
        let before: Vec<String> = contact
            .preceded_by
            .iter()
            .map(|(t, n)| format!("{t} ({n})"))
            .collect();
        let driver = |d: &waymark_analytics::journey::Driver| {
            format!(
                "{} ({} vs {}, lift {})",
                d.touchpoint,
                percent(d.share_with),
                percent(d.share_without),
                if d.lift.is_finite() {
                    format!("{:.1}", d.lift)
                } else {
                    "∞".to_string()
                }
            )
        };
        let drivers: Vec<String> = contact.drivers.iter().map(driver).collect();
        let attributes: Vec<String> = contact.attribute_drivers.iter().map(driver).collect();
        let _ = writeln!(
            out,
            "- **{}**: {} visits in {} instances, repeated in {}. Just before: {}.{}{}",
            contact.touchpoint,
            contact.visits,
            contact.instances,
            contact.repeated_instances,
            if before.is_empty() {
                "—".to_string()
            } else {
                before.join(", ")
            },
            if drivers.is_empty() {
                String::new()
            } else {
                format!(" Over-occurring before it: {}.", drivers.join(", "))
            },
            if attributes.is_empty() {
                String::new()
            } else {
                format!(
                    " Over-occurring among those who have it: {}.",
                    attributes.join(", ")
                )
            }
        );
    }
    out.push('\n');

    if r.experience.low_instances > 0 {
        let drivers: Vec<String> = r
            .experience
            .low_drivers
            .iter()
            .map(|d| format!("{} (lift {:.1})", d.touchpoint, d.lift))
            .collect();
        let _ = writeln!(
            out,
            "## What goes with low scores\n\n{} instances gave a low score. Over target somewhere: {} of them, {} of the others. Touchpoints that over-occur: {}.\n",
            r.experience.low_instances,
            r.experience
                .breach_share_low
                .map_or("—".to_string(), percent),
            r.experience
                .breach_share_other
                .map_or("—".to_string(), percent),
            if drivers.is_empty() {
                "none".to_string()
            } else {
                drivers.join(", ")
            }
        );
    }

    let _ = writeln!(
        out,
        "## Moments of truth\n\nEach touchpoint's effect on three outcomes, as a difference of rates: among instances that visited it minus among those that did not (completion: closed instances; low score: scored instances; repeat contact: all instances). A touchpoint with an effect of {:.0} points or more is measured to matter.\n",
        waymark_analytics::journey::MOMENT_THRESHOLD * 100.0
    );
    let points = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:+.1} pts", v * 100.0));
    let rows: Vec<Vec<String>> = r
        .moments
        .iter()
        .take(10)
        .map(|m| {
            vec![
                m.touchpoint.clone(),
                points(Some(m.influence)),
                points(m.low_score),
                points(m.repeat_contact),
                m.visited.to_string(),
                if m.designed { "yes" } else { "" }.to_string(),
            ]
        })
        .collect();
    markdown_table(
        &mut out,
        &[
            "touchpoint",
            "completion",
            "low score",
            "repeat contact",
            "visited",
            "designed as one",
        ],
        &rows,
    );
    let compared = &r.moments_compared;
    let list = |ids: &[String]| {
        if ids.is_empty() {
            "none".to_string()
        } else {
            ids.join(", ")
        }
    };
    let _ = writeln!(
        out,
        "Designed and measured: {}. Designed, but not measured to matter: {}. Not designed, but measured to matter: {}.\n",
        list(&compared.confirmed),
        list(&compared.not_confirmed),
        list(&compared.unmarked)
    );

    let _ = writeln!(out, "## Trend\n");
    group_table(&mut out, "period", "", &r.trend);
    if !r.segments.is_empty() {
        let _ = writeln!(out, "## Segments\n");
        group_table(&mut out, "value", "(none)", &r.segments);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_html_shows_markup_from_journey_files_as_text() {
        let html = markdown_html(
            "## Stages\n\n| stage | reached |\n|---|---:|\n| <script>alert(1)</script> | 3 |\n",
        );
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<h2>Stages</h2>"), "{html}");
        assert!(
            html.contains("<td style=\"text-align: right\">3</td>"),
            "{html}"
        );
    }

    /// Found by trying it: an event named `[Pay now](javascript:…)` became a working link in
    /// `journey report --format html`.
    #[test]
    fn links_written_in_event_names_keep_no_script() {
        let html = markdown_html(
            "| step | n |\n|---|---|\n| [Pay now](javascript:alert(document.cookie)) | 1 |\n| [ok](https://example.com/x) | 2 |\n| [d](data:text/html;base64,PHNjcmlwdD4=) | 3 |\n",
        );
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("data:text"), "{html}");
        assert!(
            html.contains("href=\"https://example.com/x\""),
            "plain links stay: {html}"
        );
        assert!(html.contains("Pay now"), "the text stays: {html}");
    }
}
