//! `waymark journey ...`: thin wrappers over `waymark-journey` and `waymark-map`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use waymark_journey::{Journey, Severity};

use crate::Outcome;
use crate::cli::{
    DiffFormat, DiscoverArgs, JourneyCommand, LintFormat, PeriodArg, RenderFormat, ReportArgs,
    ReportFormat,
};
use crate::output;

pub fn run(command: JourneyCommand) -> anyhow::Result<Outcome> {
    match command {
        JourneyCommand::Lint {
            files,
            format,
            allow_warnings,
        } => lint(&files, format, allow_warnings),
        JourneyCommand::Render {
            file,
            output,
            format,
            db,
            log,
            timeout,
            read,
        } => {
            let source = (db.is_some() || log.is_some()).then_some(crate::cli::LogArgs {
                log,
                db,
                events: None,
                read,
            });
            render(&file, &output, format, source.as_ref(), timeout.as_deref())
        }
        JourneyCommand::Diff {
            before,
            after,
            format,
        } => diff(&before, &after, format),
        JourneyCommand::New { id, title, output } => new(&id, title.as_deref(), output.as_deref()),
        JourneyCommand::Report(args) => report(&args),
        JourneyCommand::Discover(args) => discover(&args),
        JourneyCommand::Deploy { file, db, by } => deploy(&file, &db, by.as_deref()),
    }
}

fn deploy(path: &Path, db: &waymark_store::Location, by: Option<&str>) -> anyhow::Result<Outcome> {
    use waymark_server::changes::{self, ChangeError, Deployment, Proposed};
    let journey = read_journey(path)?;
    let source = read(path)?;
    let store = waymark_store::open(db, &Default::default()).with_context(|| {
        format!(
            "cannot open {} (if a server is running on it, deploy with POST /v1/journeys)",
            db
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    // A proposal is someone's: nobody approves their own, so who proposes it must be known.
    let by = match by {
        Some(by) => {
            if store.user(by)?.is_none() {
                bail!(
                    "--by `{by}` is not in the directory; name the person proposing it by their directory id"
                );
            }
            by.to_string()
        }
        None if changes::gated_in(store.as_ref(), &journey)? => bail!(
            "{}: version `{}` waits for the journey's owner to approve it; say who proposes it with --by PERSON (their directory id)",
            path.display(),
            journey.version
        ),
        None => "the command line".to_string(),
    };
    let diagnostics = waymark_journey::check(&source).diagnostics;
    let deployed = changes::deploy(store.as_ref(), &journey, &diagnostics, &source, &by, now)
        .map_err(|error| match error {
            ChangeError::Unanswered {
                message,
                location,
                hint,
            } => anyhow::anyhow!("{}:{location}: {message}; {hint}", path.display()),
            other => other.into(),
        })?;
    match deployed {
        Deployment::Deployed { version, created } => println!(
            "{}: version {version} ({}){}",
            journey.id,
            journey.version,
            if created { "" } else { ", already the latest" }
        ),
        Deployment::Proposed(Proposed::Current { version }) => println!(
            "{}: version {version} ({}), already the latest",
            journey.id, journey.version
        ),
        Deployment::Proposed(Proposed::Waiting {
            proposal,
            request,
            approver,
            ..
        }) => println!(
            "{}: proposed ({}) as proposal {proposal}; it becomes the current version once {approver} approves its change-impact answers in request {request}",
            journey.id, journey.version
        ),
    }
    Ok(Outcome::Fine)
}

/// Reads a journey file that must be free of errors.
pub(crate) fn read_journey(path: &Path) -> anyhow::Result<Journey> {
    let checked = waymark_journey::check(&read(path)?);
    match checked.journey {
        Some(journey) => Ok(journey),
        None => {
            let first = checked
                .diagnostics
                .iter()
                .find(|d| d.severity == Severity::Error)
                .map(|d| format!("{}:{}: {}", path.display(), d.location, d.message))
                .unwrap_or_default();
            bail!(
                "{first}; `waymark journey lint {}` lists every problem",
                path.display()
            )
        }
    }
}

/// `--timeout` in µs, when given.
fn timeout(text: Option<&str>) -> anyhow::Result<Option<i64>> {
    let Some(text) = text else { return Ok(None) };
    let duration = waymark_journey::duration::parse(text.trim()).map_err(|problem| {
        anyhow::anyhow!("--timeout `{text}` is not a duration ({problem}); e.g. 30d")
    })?;
    Ok(Some(waymark_analytics::journey::timeout_micros(duration)))
}

fn report(args: &ReportArgs) -> anyhow::Result<Outcome> {
    let journey = read_journey(&args.journey)?;
    let milestones = args
        .between
        .iter()
        .map(|pair| {
            waymark_analytics::journey::milestone(pair).ok_or_else(|| {
                anyhow::anyhow!("--between `{pair}` must be written FROM:TO, two touchpoint ids")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = waymark_analytics::journey::Options {
        start: args.start.clone(),
        end: args.end.clone(),
        timeout: timeout(args.timeout.as_deref())?,
        from: args
            .from
            .as_deref()
            .map(|t| crate::analyze::time_bound(t, "from"))
            .transpose()?,
        to: args
            .to
            .as_deref()
            .map(|t| crate::analyze::time_bound(t, "to"))
            .transpose()?,
        contacts: args.contacts.clone(),
        by: args.by.clone(),
        period: match args.period {
            PeriodArg::Day => waymark_analytics::journey::Period::Day,
            PeriodArg::Week => waymark_analytics::journey::Period::Week,
            PeriodArg::Month => waymark_analytics::journey::Period::Month,
        },
        funnel: args.funnel.clone(),
        milestones,
        now: None,
    };
    let keep = waymark_store::Keep::only(waymark_analytics::journey::attributes_read(
        &journey, &options,
    ));
    let started = std::time::Instant::now();
    let report = match &args.log.events {
        // Kept in ClickHouse: cut on the servers' reduced events, measured here.
        Some(location) => {
            let store = waymark_clickhouse::EventStore::open(location)
                .with_context(|| format!("cannot open the events at {location}"))?;
            let (cut, options) = store.journey_cut(&journey, &options)?;
            waymark_analytics::journey::report_of(&journey, &cut, &options)
        }
        None => {
            let log = crate::analyze::load_log_keeping(&args.log, &keep)?;
            waymark_analytics::journey::report(&journey, &log, &options)
        }
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(journey = %journey.id, instances = report.instances.total, elapsed_ms = started.elapsed().as_millis() as u64, "journey report");
    let text = match args.format {
        ReportFormat::Json => {
            serde_json::to_string_pretty(&waymark_server::journeys::report_json(&report))? + "\n"
        }
        ReportFormat::Markdown => output::journey_report_markdown(&journey, &report),
        ReportFormat::Html => {
            output::journey_report_html(&journey, &report, waymark_server::journeys::live(&report))
        }
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(Outcome::Fine)
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn lint(files: &[PathBuf], format: LintFormat, allow_warnings: bool) -> anyhow::Result<Outcome> {
    let mut results = Vec::new();
    for path in files {
        let source = read(path)?;
        let report = waymark_journey::check(&source);
        tracing::debug!(file = %path.display(), problems = report.diagnostics.len(), "checked journey file");
        results.push((path.display().to_string(), source, report.diagnostics));
    }
    let (mut errors, mut warnings) = (0, 0);
    for (_, _, diagnostics) in &results {
        for diagnostic in diagnostics {
            match diagnostic.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
        }
    }
    let mut stdout = std::io::stdout().lock();
    match format {
        LintFormat::Text => {
            for (file, source, diagnostics) in &results {
                for diagnostic in diagnostics {
                    writeln!(stdout, "{}", diagnostic.render(file, source))?;
                }
            }
            let summary = match (errors, warnings) {
                (0, 0) => format!("{} journey file(s) checked: no problems", results.len()),
                _ => format!(
                    "{} journey file(s) checked: {errors} error(s), {warnings} warning(s)",
                    results.len()
                ),
            };
            writeln!(stdout, "{summary}")?;
        }
        LintFormat::Json => {
            let report = output::LintReport::new(&results);
            writeln!(stdout, "{}", serde_json::to_string_pretty(&report)?)?;
        }
    }
    Ok(if errors > 0 || (warnings > 0 && !allow_warnings) {
        Outcome::Problems
    } else {
        Outcome::Fine
    })
}

/// Loads a journey for a command that needs a valid one; prints its problems if it is not.
fn load(path: &Path) -> anyhow::Result<Option<Journey>> {
    let source = read(path)?;
    let report = waymark_journey::check(&source);
    let file = path.display().to_string();
    for diagnostic in &report.diagnostics {
        if diagnostic.severity == Severity::Error {
            eprintln!("{}", diagnostic.render(&file, &source));
        }
    }
    if report.journey.is_none() {
        eprintln!("{file} has errors; run `waymark journey lint {file}` for details");
    }
    Ok(report.journey)
}

fn render(
    file: &Path,
    out: &Path,
    format: Option<RenderFormat>,
    source: Option<&crate::cli::LogArgs>,
    timeout: Option<&str>,
) -> anyhow::Result<Outcome> {
    let format = match format {
        Some(format) => format,
        None => match out
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => RenderFormat::Svg,
            Some("html" | "htm") => RenderFormat::Html,
            _ => bail!(
                "cannot tell the format from `{}`: name it .svg or .html, or pass --format svg|html",
                out.display()
            ),
        },
    };
    let Some(journey) = load(file)? else {
        return Ok(Outcome::Problems);
    };
    let live = match source {
        None => None,
        Some(source) => {
            let options = waymark_analytics::journey::Options {
                timeout: self::timeout(timeout)?,
                ..Default::default()
            };
            let keep = waymark_store::Keep::only(waymark_analytics::journey::attributes_read(
                &journey, &options,
            ));
            let log = crate::analyze::load_log_keeping(source, &keep)?;
            let report = waymark_analytics::journey::report(&journey, &log, &options)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            Some(waymark_server::journeys::live(&report))
        }
    };
    let text = match format {
        RenderFormat::Svg => waymark_map::svg_live(&journey, live.as_ref()),
        RenderFormat::Html => waymark_map::html_live(&journey, live.as_ref()),
    };
    write_output(Some(out), &text)?;
    tracing::info!(journey = %journey.id, output = %out.display(), "rendered journey map");
    Ok(Outcome::Fine)
}

fn diff(before: &Path, after: &Path, format: DiffFormat) -> anyhow::Result<Outcome> {
    let (Some(before), Some(after)) = (load(before)?, load(after)?) else {
        return Ok(Outcome::Problems);
    };
    if before.id != after.id {
        eprintln!(
            "note: comparing two different journeys (`{}` and `{}`)",
            before.id, after.id
        );
    }
    let diff = waymark_journey::diff::diff(&before, &after);
    let text = match format {
        DiffFormat::Json => serde_json::to_string_pretty(&output::DiffReport::from(&diff))? + "\n",
        DiffFormat::Table => output::diff_table(&diff),
        DiffFormat::Markdown => output::diff_markdown(&diff),
    };
    write_output(None, &text)?;
    Ok(Outcome::Fine)
}

/// `waymark journey discover`: a draft journey from the events, checked before it is written.
fn discover(args: &DiscoverArgs) -> anyhow::Result<Outcome> {
    if let Some(path) = args.output.as_deref()
        && path != Path::new("-")
        && path.exists()
    {
        bail!(
            "{} already exists; choose another file name",
            path.display()
        );
    }
    let log = crate::analyze::load_log(&args.log)?;
    let settings = waymark_analytics::discover::Settings {
        id: args.id.clone(),
        title: args
            .title
            .clone()
            .unwrap_or_else(|| args.id.replace(['-', '_'], " ")),
        owner: args.owner.clone(),
        stages: args.stages.map(usize::from),
        only: args.only.clone(),
    };
    let started = std::time::Instant::now();
    let found = waymark_analytics::discover::discover(&log, &settings)
        .map_err(|e| anyhow::anyhow!("nothing to discover: {e}"))?;
    let text = format!(
        "# Discovered by `waymark journey discover` from {} events in {} cases. Review the stage\n\
         # names, departments, actors and the experience, then lint and deploy it.\n{}",
        found.events,
        found.cases,
        waymark_journey::write(&found.journey)
    );
    let report = waymark_journey::check(&text);
    if let Some(problem) = report
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
    {
        bail!(
            "the draft does not read back ({}: {}); please report this",
            problem.location,
            problem.message
        );
    }
    write_output(args.output.as_deref(), &text)?;
    let stages = found.journey.stages.len();
    eprintln!(
        "{} touchpoints in {stages} stages and {} links, binding all {} events of {} cases{}, in {} ms",
        found.figures.len(),
        found.journey.links.len(),
        found.events,
        found.cases,
        if args.only.is_empty() {
            String::new()
        } else {
            format!(
                " ({} left out: not named by --only)",
                log.events() - found.events
            )
        },
        started.elapsed().as_millis()
    );
    Ok(Outcome::Fine)
}

fn new(id: &str, title: Option<&str>, out: Option<&Path>) -> anyhow::Result<Outcome> {
    let title = title
        .map(str::to_string)
        .unwrap_or_else(|| id.replace(['-', '_'], " "));
    let journey = waymark_journey::template::universal(id, &title);
    let text = format!(
        "# A new journey with the universal stages. Replace each placeholder touchpoint with the real\n\
         # ones, then check it with `waymark journey lint`. The fields are described in docs/journey-file.md.\n{}",
        waymark_journey::write(&journey)
    );
    let report = waymark_journey::check(&text);
    if let Some(problem) = report
        .diagnostics
        .iter()
        .find(|d| d.severity == Severity::Error)
    {
        bail!("`{id}` cannot be used: {}", problem.message);
    }
    if let Some(path) = out
        && path.exists()
    {
        bail!(
            "{} already exists; choose another file name",
            path.display()
        );
    }
    write_output(out, &text)?;
    Ok(Outcome::Fine)
}

/// Writes to a file, or to standard output for `None` or `-`.
fn write_output(path: Option<&Path>, text: &str) -> anyhow::Result<()> {
    match path {
        Some(path) if path != Path::new("-") => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        _ => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            Ok(())
        }
    }
}
